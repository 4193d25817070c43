//! Who may do what: every permission rule of every API, in [`authorize`].

use crate::error::{Denied, Result};
use crate::ids::{DeviceId, OrgId, TokenId, UserId};
use crate::subscription::ConduitTier;
use crate::token::ConduitServices;
use crate::user::{Permission, Permissions};

/// An authenticated caller, as a component builds it from a verified credential and the
/// membership storage returns for it (permissions are read per request, so a change applies at
/// once, not when the access token expires).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A person with an access JWT.
    Member {
        user: UserId,
        org: OrgId,
        permissions: Permissions,
    },
    /// A Conduit token: its user's permissions, for data only.
    Conduit {
        token: TokenId,
        user: UserId,
        org: OrgId,
        permissions: Permissions,
        tier: ConduitTier,
        services: ConduitServices,
    },
    /// A Sensorbis federation token (a federation manager or gateway).
    Federation { token: TokenId, org: OrgId },
    /// A Sensorbis device token: one device only.
    Device {
        token: TokenId,
        org: OrgId,
        device: DeviceId,
    },
}

impl Principal {
    /// The organization the credential belongs to.
    pub fn org(&self) -> OrgId {
        match self {
            Principal::Member { org, .. }
            | Principal::Conduit { org, .. }
            | Principal::Federation { org, .. }
            | Principal::Device { org, .. } => *org,
        }
    }
}

/// Something a principal wants to do in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the organization's structure and telemetry (any member: "none = view").
    ReadOrg,
    /// Read one device's structure and telemetry.
    ReadDevice(DeviceId),
    /// Export telemetry (CSV, bulk download).
    Download,
    /// Write measurements of a device.
    WritePoints(DeviceId),
    /// Add devices.
    CreateDevices,
    /// Register a device, or a device's channel, on first sight of its data (automatic
    /// registration by an ingestion API): what the writer of the data may do with Modify.
    RegisterFromData,
    /// Change or delete a device, or add, change or delete its sensors and channels.
    ModifyDevice(DeviceId),
    /// Create or replace a device's token.
    IssueDeviceToken(DeviceId),
    /// Create or replace the federation token.
    IssueFederationToken,
    /// Create, list and revoke this member's Conduit tokens (a token acts with its member's own
    /// permissions): any member their own, an Administrator anyone's.
    ConduitTokensOf(UserId),
    /// Invite, list and remove members, and change their permissions.
    ManageMembers,
    /// Change the organization's settings and subscription.
    ManageOrganization,
    /// Create and drop the organization's InfluxDB databases and their retention policies: an
    /// Administrator's, also through their API token (databases hold data, as InfluxDB's
    /// clients manage them with the credentials they write with).
    ManageDatabases,
    /// List and revoke any token of the organization.
    ManageTokens,
    /// Create, change and delete the organization's saved views and plans (Sensorbis: views
    /// belong to the federation, so changing them is modifying it; any member reads them).
    ManageViews,
}

impl Action {
    fn describe(self) -> String {
        match self {
            Action::ReadOrg => "reading the organization".into(),
            Action::ReadDevice(d) => format!("reading device {d}"),
            Action::Download => "downloading data".into(),
            Action::WritePoints(d) => format!("writing data of device {d}"),
            Action::CreateDevices => "creating devices".into(),
            Action::RegisterFromData => "registering devices and channels from data".into(),
            Action::ModifyDevice(d) => format!("changing device {d}"),
            Action::IssueDeviceToken(d) => format!("issuing a token for device {d}"),
            Action::IssueFederationToken => "issuing the federation token".into(),
            Action::ConduitTokensOf(u) => format!("managing the Conduit tokens of user {u}"),
            Action::ManageMembers => "managing members".into(),
            Action::ManageOrganization => "changing the organization".into(),
            Action::ManageDatabases => "creating or dropping databases".into(),
            Action::ManageTokens => "managing tokens".into(),
            Action::ManageViews => "changing the organization's views".into(),
        }
    }

    /// The permission a member needs; `None`: any member may.
    fn member_needs(self) -> Option<Permission> {
        match self {
            Action::ReadOrg | Action::ReadDevice(_) => None,
            Action::Download => Some(Permission::Download),
            Action::WritePoints(_)
            | Action::CreateDevices
            | Action::RegisterFromData
            | Action::ModifyDevice(_)
            | Action::IssueDeviceToken(_)
            | Action::ManageViews => Some(Permission::Modify),
            Action::IssueFederationToken
            | Action::ConduitTokensOf(_)
            | Action::ManageMembers
            | Action::ManageOrganization
            | Action::ManageDatabases
            | Action::ManageTokens => Some(Permission::Administrator),
        }
    }
}

fn deny(action: Action, reason: &'static str) -> Denied {
    Denied {
        action: action.describe(),
        reason,
        other_tenant: false,
    }
}

fn needs(permissions: Permissions, action: Action) -> Result<(), Denied> {
    match action.member_needs() {
        Some(p) if !permissions.has(p) => Err(deny(
            action,
            match p {
                Permission::Administrator => "needs the Administrator permission",
                Permission::Modify => "needs the Modify permission",
                Permission::Download => "needs the Download permission",
            },
        )),
        _ => Ok(()),
    }
}

/// Whether `principal` may do `action` in organization `org`. The one place permissions are
/// decided; every component calls it before acting.
pub fn authorize(principal: &Principal, action: Action, org: OrgId) -> Result<()> {
    if principal.org() != org {
        return Err(Denied {
            action: action.describe(),
            reason: "the object belongs to another organization",
            other_tenant: true,
        }
        .into());
    }
    let verdict = match principal {
        Principal::Member {
            permissions, user, ..
        } => match action {
            // A member's own Conduit token gives them nothing they do not have.
            Action::ConduitTokensOf(for_user) if for_user == *user => Ok(()),
            _ => needs(*permissions, action),
        },
        Principal::Conduit { permissions, .. } => match action {
            Action::ReadOrg
            | Action::ReadDevice(_)
            | Action::Download
            | Action::WritePoints(_)
            | Action::RegisterFromData
            | Action::ManageDatabases => needs(*permissions, action),
            _ => Err(deny(
                action,
                "a Conduit token is for data, not for administration",
            )),
        },
        Principal::Federation { .. } => match action {
            Action::ReadOrg
            | Action::ReadDevice(_)
            | Action::WritePoints(_)
            | Action::CreateDevices
            | Action::RegisterFromData
            | Action::ModifyDevice(_)
            | Action::IssueDeviceToken(_)
            | Action::IssueFederationToken => Ok(()),
            _ => Err(deny(action, "needs a member with the right permission")),
        },
        // Sensorbis: a device's token "can later be changed by the device itself".
        Principal::Device { device, .. } => match action {
            Action::ReadDevice(d)
            | Action::WritePoints(d)
            | Action::ModifyDevice(d)
            | Action::IssueDeviceToken(d)
                if d == *device =>
            {
                Ok(())
            }
            _ => Err(deny(action, "a device token only acts on its own device")),
        },
    };
    Ok(verdict?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn ids() -> (OrgId, OrgId, UserId, DeviceId, DeviceId, TokenId) {
        (
            OrgId::parse("org0000000001").unwrap(),
            OrgId::parse("org0000000002").unwrap(),
            UserId::parse("user000000001").unwrap(),
            DeviceId::parse("dev0000000001").unwrap(),
            DeviceId::parse("dev0000000002").unwrap(),
            TokenId::parse("tok0000000001").unwrap(),
        )
    }

    fn all_actions(d: DeviceId) -> Vec<Action> {
        vec![
            Action::ReadOrg,
            Action::ReadDevice(d),
            Action::Download,
            Action::WritePoints(d),
            Action::CreateDevices,
            Action::RegisterFromData,
            Action::ModifyDevice(d),
            Action::IssueDeviceToken(d),
            Action::IssueFederationToken,
            Action::ManageMembers,
            Action::ManageOrganization,
            Action::ManageDatabases,
            Action::ManageTokens,
            Action::ConduitTokensOf(ids().2),
            Action::ConduitTokensOf(UserId::parse("user000000002").unwrap()),
        ]
    }

    fn allowed(p: &Principal, org: OrgId, d: DeviceId) -> Vec<Action> {
        all_actions(d)
            .into_iter()
            .filter(|a| authorize(p, *a, org).is_ok())
            .collect()
    }

    fn member(permissions: Permissions) -> Principal {
        let (org, _, user, ..) = ids();
        Principal::Member {
            user,
            org,
            permissions,
        }
    }

    #[test]
    fn members_by_permission() {
        let (org, _, _, d, ..) = ids();
        assert_eq!(
            allowed(&member(Permissions::ADMINISTRATOR), org, d),
            all_actions(d)
        );
        // Every member may have a Conduit token for themselves; only an Administrator may give
        // one to someone else.
        let own = Action::ConduitTokensOf(ids().2);
        assert_eq!(
            allowed(&member(Permissions::VIEW), org, d),
            vec![Action::ReadOrg, Action::ReadDevice(d), own]
        );
        let download = Permissions {
            download: true,
            ..Permissions::VIEW
        };
        assert_eq!(
            allowed(&member(download), org, d),
            vec![
                Action::ReadOrg,
                Action::ReadDevice(d),
                Action::Download,
                own
            ]
        );
        let modify = Permissions {
            modify: true,
            ..Permissions::VIEW
        };
        assert_eq!(
            allowed(&member(modify), org, d),
            vec![
                Action::ReadOrg,
                Action::ReadDevice(d),
                Action::WritePoints(d),
                Action::CreateDevices,
                Action::RegisterFromData,
                Action::ModifyDevice(d),
                Action::IssueDeviceToken(d),
                own,
            ]
        );
        let e = authorize(&member(modify), Action::ManageMembers, org).unwrap_err();
        assert!(
            matches!(&e, crate::Error::Forbidden(d) if !d.other_tenant),
            "{e}"
        );
        assert!(e.to_string().contains("Administrator"), "{e}");
    }

    #[test]
    fn nobody_acts_in_another_organization() {
        let (org, other, user, d, _, token) = ids();
        let principals = [
            member(Permissions::ADMINISTRATOR),
            Principal::Conduit {
                token,
                user,
                org,
                permissions: Permissions::ADMINISTRATOR,
                tier: ConduitTier::Enterprise,
                services: ConduitServices::default(),
            },
            Principal::Federation { token, org },
            Principal::Device {
                token,
                org,
                device: d,
            },
        ];
        for p in &principals {
            assert!(allowed(p, other, d).is_empty(), "{p:?}");
            match authorize(p, Action::ReadOrg, other) {
                Err(Error::Forbidden(denied)) => assert!(denied.other_tenant),
                r => panic!("{r:?}"),
            }
        }
    }

    #[test]
    fn tokens() {
        let (org, _, user, d, d2, token) = ids();
        let conduit = Principal::Conduit {
            token,
            user,
            org,
            permissions: Permissions::ADMINISTRATOR,
            tier: ConduitTier::Basic,
            services: ConduitServices::default(),
        };
        // An Administrator's API token also manages InfluxDB databases, as InfluxDB's clients
        // do with the credentials they write with; nothing else of administration.
        assert_eq!(
            allowed(&conduit, org, d),
            vec![
                Action::ReadOrg,
                Action::ReadDevice(d),
                Action::Download,
                Action::WritePoints(d),
                Action::RegisterFromData,
                Action::ManageDatabases,
            ]
        );
        let viewer_conduit = Principal::Conduit {
            token,
            user,
            org,
            permissions: Permissions::VIEW,
            tier: ConduitTier::Basic,
            services: ConduitServices::default(),
        };
        assert!(authorize(&viewer_conduit, Action::WritePoints(d), org).is_err());
        assert!(authorize(&viewer_conduit, Action::ManageDatabases, org).is_err());

        let federation = Principal::Federation { token, org };
        let fed = allowed(&federation, org, d);
        assert!(fed.contains(&Action::CreateDevices));
        assert!(fed.contains(&Action::IssueDeviceToken(d)));
        assert!(!fed.contains(&Action::ManageMembers));
        assert!(!fed.contains(&Action::Download));

        let device = Principal::Device {
            token,
            org,
            device: d,
        };
        assert_eq!(
            allowed(&device, org, d),
            vec![
                Action::ReadDevice(d),
                Action::WritePoints(d),
                Action::ModifyDevice(d),
                Action::IssueDeviceToken(d)
            ]
        );
        assert!(allowed(&device, org, d2).is_empty());
    }
}
