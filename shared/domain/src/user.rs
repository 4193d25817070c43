//! People: users, their memberships of organizations with Sensorbis permissions, and invitations.

use serde::{Deserialize, Serialize};

use crate::ids::{InvitationId, OrgId, UserId};
use crate::text::Email;
use crate::time::Timestamp;

/// How long an invitation can be accepted.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// One permission. A member with none may view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Full control, including members, tokens and the organization itself.
    Administrator,
    /// Create, change and delete devices, sensors and channels; write data.
    Modify,
    /// Download (export) telemetry.
    Download,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Administrator => "administrator",
            Permission::Modify => "modify",
            Permission::Download => "download",
        }
    }
}

/// A member's permissions (Sensorbis: Administrator, Modify, Download). Administrator implies the
/// other two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Permissions {
    pub administrator: bool,
    pub modify: bool,
    pub download: bool,
}

impl Permissions {
    pub const VIEW: Permissions = Permissions {
        administrator: false,
        modify: false,
        download: false,
    };
    pub const ADMINISTRATOR: Permissions = Permissions {
        administrator: true,
        modify: true,
        download: true,
    };

    pub fn has(self, p: Permission) -> bool {
        self.administrator
            || match p {
                Permission::Administrator => false,
                Permission::Modify => self.modify,
                Permission::Download => self.download,
            }
    }

    /// Stored as a small bit set: administrator 1, modify 2, download 4.
    pub fn bits(self) -> i64 {
        i64::from(self.administrator) | i64::from(self.modify) << 1 | i64::from(self.download) << 2
    }

    pub fn from_bits(bits: i64) -> Self {
        Permissions {
            administrator: bits & 1 != 0,
            modify: bits & 2 != 0,
            download: bits & 4 != 0,
        }
    }
}

/// A user account. The password hash is kept apart so that it is never serialized by accident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub created_at: Timestamp,
}

/// A user's place in an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub org: OrgId,
    pub user: UserId,
    pub email: Email,
    pub permissions: Permissions,
    pub created_at: Timestamp,
}

/// An invitation to join an organization with given permissions, accepted with a token sent by
/// e-mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: InvitationId,
    pub org: OrgId,
    pub email: Email,
    pub permissions: Permissions,
    pub invited_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
}

impl Invitation {
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.accepted_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrator_implies_everything() {
        let admin = Permissions::ADMINISTRATOR;
        let viewer = Permissions::VIEW;
        let modifier = Permissions {
            modify: true,
            ..Permissions::VIEW
        };
        for p in [
            Permission::Administrator,
            Permission::Modify,
            Permission::Download,
        ] {
            assert!(admin.has(p));
            assert!(!viewer.has(p));
        }
        let only_admin_flag = Permissions {
            administrator: true,
            ..Permissions::VIEW
        };
        assert!(only_admin_flag.has(Permission::Download));
        assert!(modifier.has(Permission::Modify));
        assert!(!modifier.has(Permission::Download));
    }

    #[test]
    fn bits_round_trip() {
        for bits in 0..8 {
            assert_eq!(Permissions::from_bits(bits).bits(), bits);
        }
        assert_eq!(Permissions::ADMINISTRATOR.bits(), 7);
        let p: Permissions = serde_json::from_str(r#"{"download":true}"#).unwrap();
        assert_eq!(p.bits(), 4);
    }
}
