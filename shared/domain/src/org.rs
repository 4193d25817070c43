//! Organizations: the tenant (Sensorbis federation, Hexastate and elpro organization).

use serde::{Deserialize, Serialize};

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
