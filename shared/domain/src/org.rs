//! Organizations: the tenant (Sensorbis federation, Hexastate and elpro organization).

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::ids::{OrgId, Uuid};
use crate::subscription::Subscription;
use crate::text::{Description, OrgName, TimeZoneName};
use crate::time::Timestamp;

/// What an administrator sets on an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgFields {
    pub name: OrgName,
    #[serde(default)]
    pub descr: Description,
    /// Used to show times; stored times are always UTC.
    #[serde(default)]
    pub time_zone: TimeZoneName,
}

impl OrgFields {
    pub fn named(name: OrgName) -> Self {
        OrgFields {
            name,
            descr: Description::default(),
            time_zone: TimeZoneName::default(),
        }
    }
}

/// A stored organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: OrgId,
    /// elproMONITOR's `OrganizationId` (a GUID).
    pub uuid: Uuid,
    #[serde(flatten)]
    pub fields: OrgFields,
    pub subscription: Subscription,
    pub created_at: Timestamp,
}

/// Who may sign up a new organization with its administrator (the admin API's `allow_signup`
/// variable). Everyone else joins an organization by invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignupPolicy {
    /// `first`: only while the server has no organization, so that whoever sets it up can
    /// create the first one, and nobody can after that.
    First,
    /// `true`: anyone, any number of organizations.
    Open,
    /// `false`: nobody.
    Closed,
}

impl SignupPolicy {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.trim() {
            "first" => Ok(SignupPolicy::First),
            "true" => Ok(SignupPolicy::Open),
            "false" => Ok(SignupPolicy::Closed),
            other => Err(ParseError::new(
                "allow_signup",
                format!("{other:?} is not one of first, true, false"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignupPolicy::First => "first",
            SignupPolicy::Open => "true",
            SignupPolicy::Closed => "false",
        }
    }

    /// Whether a sign-up may create an organization, given whether any exists already.
    pub fn allows(self, organizations_exist: bool) -> bool {
        match self {
            SignupPolicy::First => !organizations_exist,
            SignupPolicy::Open => true,
            SignupPolicy::Closed => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signup_policies() {
        for (text, policy) in [
            ("first", SignupPolicy::First),
            ("true", SignupPolicy::Open),
            (" false ", SignupPolicy::Closed),
        ] {
            let p = SignupPolicy::parse(text).unwrap();
            assert_eq!(p, policy);
            assert_eq!(SignupPolicy::parse(p.as_str()).unwrap(), p);
        }
        for bad in ["", "yes", "TRUE", "1"] {
            let e = SignupPolicy::parse(bad).unwrap_err();
            assert!(e.message.contains("first, true, false"), "{e}");
        }
        assert!(SignupPolicy::First.allows(false));
        assert!(!SignupPolicy::First.allows(true));
        assert!(SignupPolicy::Open.allows(true));
        assert!(!SignupPolicy::Closed.allows(false));
    }
}
