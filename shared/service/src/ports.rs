//! The storage ports: what the use cases need from a backend, as traits, and the handles that
//! cross them. Today's SQLite storage (`fieldline-storage`) implements every trait; a second
//! backend implements the same traits and plugs in where a component opens its store, without
//! touching a use case or a component.

use std::collections::HashMap;

use fieldline_domain::alarm::{AlarmState, ConditionKey};
use fieldline_domain::deviation::{ChannelSettings, DeviceSettings, Input};
use fieldline_domain::hash::{keyed_map, KeyedMap};
use fieldline_domain::notify::ChannelAlarms;
use fieldline_domain::topics::{Kinds, QuietHours, TopicSubscription};
use fieldline_domain::view::PlanImageInfo;
use fieldline_domain::{
    query, Channel, ChannelFields, ChannelId, CommunicationId, ConduitServices, ConduitTier,
    Device, DeviceFields, DeviceId, Email, Invitation, InvitationId, Membership, NetworkId,
    OrgFields, OrgId, Organization, PasswordHash, Permissions, Point, Principal, Sensor,
    SensorFields, SensorId, ShortText, SignupPolicy, Subscription, Thresholds, Timestamp, Token,
    TokenHash, TokenId, TokenKind, TokenSecret, User, UserId, Uuid, View, ViewFields, ViewId,
};
use fieldline_domain::{Incident, IncidentKind, NewIncident};

use crate::error::{Error, Result};

/// An organization a caller was authenticated into; every port method that takes one reads and
/// writes inside that organization only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tenant {
    /// The backend's row key of the organization; only backends read it.
    pub key: i64,
    id: OrgId,
}

impl Tenant {
    /// Made by backends, from their row key and the organization's id.
    pub fn new(key: i64, id: OrgId) -> Tenant {
        Tenant { key, id }
    }

    pub fn id(&self) -> OrgId {
        self.id
    }
}

/// A handle on one channel of one organization, for writing and reading its points without
/// looking the channel up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelRef {
    /// The backend's row keys of the channel's organization and of the channel.
    pub org_key: i64,
    pub key: i64,
}

impl ChannelRef {
    /// The channel's numeric id (elpro `InputId`).
    pub fn key(&self) -> i64 {
        self.key
    }

    /// Refuses a handle of another organization (a bug in the caller, never a client's doing).
    pub fn check(&self, tenant: &Tenant) -> Result<()> {
        if self.org_key == tenant.key {
            Ok(())
        } else {
            Err(Error::CrossTenant)
        }
    }
}

/// A verified API token: whose it is and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub tenant: Tenant,
    pub principal: Principal,
    pub token: Token,
    /// The organization's subscription, read with the token (not yet checked to be in force:
    /// [`crate::auth::active`]).
    pub subscription: Subscription,
}

/// Which end of a range to return first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// A page of points across an organization's channels (or one device's), as Conduit reads
/// them: `from <= ts < to`, optionally one communicationId, after a cursor, oldest first and
/// then by channel.
#[derive(Clone, Copy, Debug)]
pub struct PointPage<'a> {
    pub device: Option<&'a Device>,
    pub channel: Option<&'a CommunicationId>,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Continue after this (time, channel key).
    pub after: Option<(Timestamp, i64)>,
    pub limit: usize,
}

/// What a new token is for; build with [`NewToken::conduit`], [`NewToken::federation`] or
/// [`NewToken::device`]. Refresh tokens come from [`Tokens::issue_refresh_token`] only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    kind: TokenKind,
    pub name: ShortText,
    user: Option<UserId>,
    device: Option<DeviceId>,
    tier: Option<ConduitTier>,
    services: ConduitServices,
    pub expires_at: Option<Timestamp>,
}

impl NewToken {
    /// A member's Conduit token: their data access, limited by `tier` and `services`.
    pub fn conduit(user: UserId, tier: ConduitTier, services: ConduitServices) -> Self {
        NewToken {
            kind: TokenKind::Conduit,
            name: ShortText::default(),
            user: Some(user),
            device: None,
            tier: Some(tier),
            services,
            expires_at: None,
        }
    }

    /// The federation token; replaces the previous one.
    pub fn federation() -> Self {
        NewToken {
            kind: TokenKind::Federation,
            name: ShortText::default(),
            user: None,
            device: None,
            tier: None,
            services: ConduitServices::NONE,
            expires_at: None,
        }
    }

    /// A device's token; replaces the device's previous one.
    pub fn device(device: DeviceId) -> Self {
        NewToken {
            kind: TokenKind::Device,
            name: ShortText::default(),
            user: None,
            device: Some(device),
            tier: None,
            services: ConduitServices::NONE,
            expires_at: None,
        }
    }

    /// A refresh token (issued by [`Tokens::issue_refresh_token`] only).
    pub fn refresh(expires_at: Timestamp) -> Self {
        NewToken {
            kind: TokenKind::Refresh,
            name: ShortText::default(),
            user: None,
            device: None,
            tier: None,
            services: ConduitServices::NONE,
            expires_at: Some(expires_at),
        }
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    pub fn user(&self) -> Option<UserId> {
        self.user
    }

    /// The device of a device token.
    pub fn device_id(&self) -> Option<DeviceId> {
        self.device
    }

    pub fn tier(&self) -> Option<ConduitTier> {
        self.tier
    }

    pub fn services(&self) -> ConduitServices {
        self.services
    }
}

/// The result of a refresh: the new refresh token (replacing the presented one) and the
/// membership to issue the new access token for.
#[derive(Debug)]
pub struct Rotated {
    pub tenant: Tenant,
    pub membership: Membership,
    pub refresh: TokenSecret,
}

/// Who accepts an invitation.
#[derive(Clone, Copy, Debug)]
pub enum Accept<'a> {
    /// A signed-in user, whose e-mail address must be the invited one.
    Existing(UserId),
    /// A new account for the invited address, with this password.
    NewUser(&'a PasswordHash),
}

/// One channel of the organization with what its series is named and tagged by.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesInfo {
    pub channel: ChannelRef,
    /// The channel's communicationId: InfluxDB's measurement, Proficloud's `timeSeriesName`.
    pub measurement: String,
    pub uuid: Uuid,
    pub device: String,
    pub network_id: Option<String>,
    pub sensor: String,
    pub unit: String,
    /// The tag set of the `/write` line that registered the channel, sorted by key: InfluxQL's
    /// tags of the series. `None` for a channel made otherwise, whose tags are the model's.
    pub written_tags: Option<Vec<(String, String)>>,
    /// The measurement and field InfluxQL reads the channel as, when a `/write` line registered
    /// it from a field other than `value` (`plant temp=1` makes the channel `plant.temp`, read
    /// as field `temp` of `plant`). `None`: the communicationId and `value`.
    pub written_field: Option<(String, String)>,
}

impl SeriesInfo {
    /// The measurement and field InfluxQL reads the channel as.
    pub fn influx_name(&self) -> (&str, &str) {
        match &self.written_field {
            Some((m, f)) => (m, f),
            None => (&self.measurement, fieldline_domain::query::FIELD),
        }
    }
}

/// Which series to list; `None` means no restriction on that part.
#[derive(Clone, Copy, Debug, Default)]
pub struct SeriesFilter<'a> {
    pub uuids: Option<&'a [Uuid]>,
    /// communicationIds, or InfluxQL's measurements when `influx_names` is set (a channel's
    /// written measurement where it has one, [`SeriesInfo::influx_name`]).
    pub measurements: Option<&'a [String]>,
    pub influx_names: bool,
}

/// Organizations, as the use cases read them.
pub trait Orgs {
    fn tenant(&self, id: OrgId) -> Result<Tenant>;
    /// Every organization with its subscription (the scheduled jobs' work list).
    fn all_tenants(&self) -> Result<Vec<(Tenant, Subscription)>>;
    fn organizations_exist(&self) -> Result<bool>;
    /// A new user, a new organization and the user as its administrator, atomically, if
    /// `policy` lets anyone sign up now.
    fn sign_up(
        &self,
        policy: SignupPolicy,
        org: &OrgFields,
        subscription: &Subscription,
        email: &Email,
        password: &PasswordHash,
        now: Timestamp,
    ) -> Result<(Tenant, Organization, User)>;
    fn organization(&self, tenant: &Tenant) -> Result<Organization>;
    /// Changes the organization's fields and, when given, its automatic registration,
    /// atomically.
    fn update_organization(
        &self,
        tenant: &Tenant,
        fields: &OrgFields,
        auto_register: Option<bool>,
    ) -> Result<Organization>;
    fn update_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<Organization>;
    /// Whether devices and channels are registered on first sight by the ingestion APIs.
    fn auto_registration(&self, tenant: &Tenant) -> Result<bool>;
}

/// Users, memberships and invitations.
pub trait Users {
    fn find_user_by_email(&self, email: &Email) -> Result<Option<(User, PasswordHash)>>;
    fn user(&self, id: UserId) -> Result<User>;
    fn memberships_of_user(&self, user: UserId) -> Result<Vec<(Tenant, Membership)>>;
    fn member(&self, org: OrgId, user: UserId) -> Result<(Tenant, Membership)>;
    fn list_members(&self, tenant: &Tenant) -> Result<Vec<Membership>>;
    fn set_permissions(
        &self,
        tenant: &Tenant,
        user: UserId,
        permissions: Permissions,
    ) -> Result<Membership>;
    fn remove_member(&self, tenant: &Tenant, user: UserId, now: Timestamp) -> Result<()>;
    fn create_invitation(
        &self,
        tenant: &Tenant,
        email: &Email,
        permissions: Permissions,
        invited_by: Option<UserId>,
        now: Timestamp,
    ) -> Result<(Invitation, TokenSecret)>;
    fn list_invitations(&self, tenant: &Tenant) -> Result<Vec<Invitation>>;
    fn revoke_invitation(&self, tenant: &Tenant, id: InvitationId) -> Result<()>;
    fn invitation_by_secret(&self, secret: &TokenSecret) -> Result<(Tenant, Invitation)>;
    fn accept_invitation(
        &self,
        secret: &TokenSecret,
        who: Accept<'_>,
        now: Timestamp,
    ) -> Result<(Tenant, Membership)>;
}

/// A device's channel handles by communicationId (looked up once a point).
pub type ChannelRefs = KeyedMap<String, ChannelRef>;

/// A device with its channels by communicationId (what an upload resolves).
pub type DeviceChannels = (Device, ChannelRefs);

/// Devices, their sensors and channels.
pub trait Devices {
    fn device(&self, tenant: &Tenant, id: DeviceId) -> Result<Device>;
    fn device_by_network_id(&self, tenant: &Tenant, network_id: &NetworkId) -> Result<Device>;
    /// The devices with these UUIDs (the ones that exist), in one lookup.
    fn devices_by_uuid(&self, tenant: &Tenant, uuids: &[Uuid]) -> Result<Vec<Device>>;
    /// The devices with these UUIDs or network ids (the ones that exist), each with its
    /// channels by communicationId, in one lookup: what an upload resolves before it writes.
    fn devices_with_channels(
        &self,
        tenant: &Tenant,
        uuids: &[Uuid],
        network_ids: &[NetworkId],
    ) -> Result<Vec<DeviceChannels>>;
    fn list_devices(&self, tenant: &Tenant) -> Result<Vec<Device>>;
    fn update_device(
        &self,
        tenant: &Tenant,
        id: DeviceId,
        fields: &DeviceFields,
        now: Timestamp,
    ) -> Result<Device>;
    /// Deletes the device with its sensors, channels, points and tokens.
    fn delete_device(&self, tenant: &Tenant, id: DeviceId) -> Result<()>;
    fn sensor(&self, tenant: &Tenant, id: SensorId) -> Result<Sensor>;
    fn update_sensor(&self, tenant: &Tenant, id: SensorId, fields: &SensorFields)
        -> Result<Sensor>;
    fn delete_sensor(&self, tenant: &Tenant, id: SensorId) -> Result<()>;
    fn channel(&self, tenant: &Tenant, id: ChannelId) -> Result<Channel>;
    fn list_channels(&self, tenant: &Tenant, sensor: SensorId) -> Result<Vec<Channel>>;
    fn update_channel(
        &self,
        tenant: &Tenant,
        id: ChannelId,
        communication_id: Option<CommunicationId>,
        fields: &ChannelFields,
    ) -> Result<Channel>;
    fn delete_channel(&self, tenant: &Tenant, id: ChannelId) -> Result<()>;
    /// Creates a device; a taken network id or UUID is a typed [`crate::Conflict`].
    fn create_device(
        &self,
        tenant: &Tenant,
        fields: &DeviceFields,
        uuid: Option<Uuid>,
        now: Timestamp,
    ) -> Result<Device>;
    fn list_sensors(&self, tenant: &Tenant, device: DeviceId) -> Result<Vec<Sensor>>;
    fn create_sensor(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        fields: &SensorFields,
        now: Timestamp,
    ) -> Result<Sensor>;
    /// Creates a channel; a communicationId the device already has is a typed
    /// [`crate::Conflict::CommunicationIdTaken`].
    fn create_channel(
        &self,
        tenant: &Tenant,
        sensor: SensorId,
        communication_id: Option<CommunicationId>,
        fields: &ChannelFields,
        now: Timestamp,
    ) -> Result<Channel>;
    /// A device's channels by communicationId.
    fn channel_refs(&self, tenant: &Tenant, device: &Device) -> Result<ChannelRefs>;
    /// The organization's channels with these keys.
    fn channels_by_key(&self, tenant: &Tenant, keys: &[i64]) -> Result<Vec<Channel>>;
}

/// API tokens (Conduit, federation, device): who a presented secret belongs to.
pub trait Tokens {
    fn authenticate_token(&self, secret: &TokenSecret, now: Timestamp) -> Result<Authenticated>;
    /// Creates a token and returns it with its secret, which is shown once and never stored.
    fn create_token(
        &self,
        tenant: &Tenant,
        new: &NewToken,
        now: Timestamp,
    ) -> Result<(Token, TokenSecret)>;
    fn token(&self, tenant: &Tenant, id: TokenId) -> Result<Token>;
    fn list_tokens(&self, tenant: &Tenant, kind: Option<TokenKind>) -> Result<Vec<Token>>;
    fn revoke_token(&self, tenant: &Tenant, id: TokenId, now: Timestamp) -> Result<()>;
    fn issue_refresh_token(
        &self,
        tenant: &Tenant,
        user: UserId,
        now: Timestamp,
    ) -> Result<TokenSecret>;
    /// Spends a refresh token for a new one; a spent one presented again revokes its family.
    fn rotate_refresh_token(&self, secret: &TokenSecret, now: Timestamp) -> Result<Rotated>;
    fn revoke_refresh_token(&self, secret: &TokenSecret, now: Timestamp) -> Result<()>;
}

/// Atomic counters for rate limits and quotas: one per (policy, principal, window).
pub trait Counters {
    /// Adds `by` to the counter `key` (created expiring at `expires_at`) and returns its new
    /// value, atomically under concurrent callers.
    fn increment(&self, key: &str, by: u64, expires_at: Timestamp) -> Result<u64>;
    /// The counter's value, 0 when absent or expired, without changing it.
    fn current(&self, key: &str, now: Timestamp) -> Result<u64>;
    /// Deletes counters whose window has ended, in bounded batches; returns how many. Also
    /// forgets the scheduled ticks claimed more than a day before `now`.
    fn purge_expired_counters(&self, now: Timestamp) -> Result<usize>;
    /// Claims the scheduled tick `tick` (a cron trigger's time, in seconds) of `job` for the
    /// caller: `true` for exactly one of any number of replicas that claim the same tick, at
    /// once or later; `false` for the others, which skip the tick's work.
    fn claim_tick(&self, job: &str, tick: u64, now: Timestamp) -> Result<bool>;
    /// Adds `by` to the counter `key` only if its value stays at most `limit`, atomically under
    /// concurrent callers: the new value, or `None` (nothing added) when it would pass it.
    fn increment_within(
        &self,
        key: &str,
        by: u64,
        limit: u64,
        expires_at: Timestamp,
    ) -> Result<Option<u64>>;
    /// Counts `points` discarded in the UTC hour `hour` for `device` (`None`: points of devices
    /// not registered yet) because the organization's points-per-hour limit was reached.
    fn count_discarded(
        &self,
        tenant: &Tenant,
        device: Option<DeviceId>,
        hour: Timestamp,
        points: u64,
    ) -> Result<()>;
    /// The discarded points counted for hours in `[from, to)`, per device and hour, oldest
    /// first.
    fn discarded(&self, tenant: &Tenant, from: Timestamp, to: Timestamp) -> Result<Vec<Discarded>>;
}

/// Points discarded in one hour for one device (the points-per-hour limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discarded {
    /// `None`: points naming devices that were not registered yet.
    pub device: Option<DeviceId>,
    pub hour: Timestamp,
    pub points: u64,
}

/// A counter that a write of points adds to in the points' own statement (a rate limit, the
/// points-per-hour quota): `units` are added to `key` (created expiring at `expires_at`) only
/// if its value stays at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub key: String,
    pub units: u64,
    pub limit: u64,
    pub expires_at: Timestamp,
}

/// What [`Points::write_points_within`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Every point was written and every reservation counted: how many points.
    Written(usize),
    /// The reservation at this index would pass its limit: nothing was written or counted.
    OverLimit(usize),
}

/// Points.
pub trait Points {
    /// Writes the points durably (all or none); a point at a time its channel already has
    /// replaces the value. Returns how many were written.
    fn write_points(&self, tenant: &Tenant, points: &[(ChannelRef, Point)]) -> Result<usize>;
    /// Writes the points and counts the reservations (at most two) as one atomic, durable write
    /// (one commit): all of it, or, when a reservation would pass its limit, nothing.
    fn write_points_within(
        &self,
        tenant: &Tenant,
        points: &[(ChannelRef, Point)],
        reservations: &[Reservation],
    ) -> Result<Reserved>;
    /// A page of points (channel key, point) across channels.
    fn point_page(&self, tenant: &Tenant, page: &PointPage<'_>) -> Result<Vec<(i64, Point)>>;
    /// Each channel's newest point (channels without points are absent).
    fn latest_points(
        &self,
        tenant: &Tenant,
        channels: &[ChannelRef],
    ) -> Result<Vec<(ChannelRef, Point)>>;
    /// One channel's points with `from <= ts <= last`, in `order`, at most `limit`.
    fn points_between(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        from: Timestamp,
        last: Timestamp,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<Point>>;
    /// Recomputes up to `max_hours` hourly rollups that writes marked, of hours that ended by
    /// `ended_by`; returns how many. An hour still being written stays pending (reads sum its
    /// points) until it ends, and is then rolled up once, instead of again on every tick.
    fn roll_up_pending(&self, max_hours: usize, ended_by: Timestamp) -> Result<usize>;
    /// One channel's exact hourly count, sum, min and max for the hours starting in
    /// `[from, to)` (both whole hours), hours without points absent: from the rollups, with the
    /// points of hours written since their roll-up (pending) summed afresh, so a value of any
    /// lateness is in its hour's aggregate as soon as it is written.
    fn hourly_aggregates(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<fieldline_domain::HourlyRollup>>;
    /// Retention, one bounded batch: deletes up to `batch` raw points of the organization older
    /// than `points_before` (whole hours, never of an hour whose rollup is pending), up to
    /// `batch` minute rollups older than `points_before` (they summarize the points) and up to
    /// `batch` hourly rollups older than `rollups_before`. Returns (points, rollups) deleted,
    /// rollups counting both kinds.
    fn delete_expired(
        &self,
        tenant: &Tenant,
        points_before: Timestamp,
        rollups_before: Timestamp,
        batch: usize,
    ) -> Result<(usize, usize)>;
    /// Retention of whole time partitions, where the backend partitions points (PostgreSQL;
    /// nothing elsewhere): makes the partitions of `now` and the month after it, and drops those
    /// that end before `points_before`, the earliest raw-data cut-off of every organization,
    /// and hold no hour whose rollup is pending. Returns how many points they held.
    fn maintain_partitions(&self, now: Timestamp, points_before: Timestamp) -> Result<usize>;
}

/// Channels as the time-series APIs see them: series named by communicationId, tagged by
/// device and sensor.
pub trait Series {
    fn list_series(&self, tenant: &Tenant, filter: SeriesFilter<'_>) -> Result<Vec<SeriesInfo>>;
    /// Keeps the tag set of the `/write` line that registered a channel
    /// ([`SeriesInfo::written_tags`]) and, for a field other than `value`, the measurement and
    /// field it was written as ([`SeriesInfo::written_field`]).
    fn set_written(
        &self,
        tenant: &Tenant,
        channel: &ChannelId,
        tags: &[(String, String)],
        field: Option<&(String, String)>,
    ) -> Result<()>;
    /// The organization's series as the InfluxQL engine reads them: its channels are the series
    /// of `model_database`, beside the series written there through `/write` when
    /// `model_general` says there are any ([`InfluxScope::model_general`]).
    fn query_source<'a>(
        &'a self,
        tenant: &'a Tenant,
        model_database: &'a str,
        model_general: bool,
    ) -> Box<dyn query::Source + 'a>;
}

/// A series of an organization's InfluxDB data (not a channel): its measurement, the tag set
/// its writer sent (sorted by key), and its fields as (name, type, key), sorted by name.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneralSeries {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, query::FieldType, i64)>,
}

/// The type stored for a field of a measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFieldType {
    pub measurement: String,
    pub field: String,
    pub ty: query::FieldType,
}

/// Stored field types by measurement, then field, looked up by `&str` (a body's every value is
/// checked against them: no key to allocate).
#[derive(Clone, Debug)]
pub struct FieldTypes(KeyedMap<String, KeyedMap<String, query::FieldType>>);

impl Default for FieldTypes {
    fn default() -> Self {
        FieldTypes(keyed_map())
    }
}

impl FieldTypes {
    /// The types of a measurement's fields, if it has any.
    pub fn of(&self, measurement: &str) -> Option<&KeyedMap<String, query::FieldType>> {
        self.0.get(measurement)
    }

    pub fn get(&self, measurement: &str, field: &str) -> Option<query::FieldType> {
        self.of(measurement)?.get(field).copied()
    }

    pub fn insert(&mut self, t: StoredFieldType) {
        self.0
            .entry(t.measurement)
            .or_insert_with(keyed_map)
            .insert(t.field, t.ty);
    }
}

impl FromIterator<StoredFieldType> for FieldTypes {
    fn from_iter<I: IntoIterator<Item = StoredFieldType>>(types: I) -> Self {
        let mut out = FieldTypes::default();
        types.into_iter().for_each(|t| out.insert(t));
        out
    }
}

/// What [`Databases::write_lines`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinesWritten {
    /// Every value was written: how many.
    Written(usize),
    /// The reservation would pass its limit: nothing written or counted.
    OverLimit,
    /// A field's stored type is not the one a line carries (another write stored it since the
    /// body was checked): nothing written or counted; check the body again.
    TypesChanged,
}

/// What every InfluxDB request of an organization reads first, in one statement
/// ([`Databases::influx_scope`]).
#[derive(Clone, Debug, PartialEq)]
pub struct InfluxScope {
    pub subscription: Subscription,
    /// The organization's databases besides the model's own, oldest first, with their
    /// retention policies.
    pub databases: Vec<query::ddl::Database>,
    /// Whether the model's database holds general series beside the channels (lines written
    /// there that are not of the model's shape): its query source lists them only then.
    pub model_general: bool,
}

/// InfluxDB's databases of an organization besides the model's own, and their series: any
/// measurement, the tags as written, typed fields.
pub trait Databases {
    /// The organization's subscription and databases, and whether `model_database` holds
    /// general series ([`InfluxScope`]).
    fn influx_scope(&self, tenant: &Tenant, model_database: &str) -> Result<InfluxScope>;
    /// Creates a database, or stores its changed retention policies.
    fn store_database(
        &self,
        tenant: &Tenant,
        database: &query::ddl::Database,
        now: Timestamp,
    ) -> Result<()>;
    /// Deletes one with all its data, at once; `false` when there was none.
    fn drop_database(&self, tenant: &Tenant, name: &str) -> Result<bool>;
    /// `DROP MEASUREMENT`: the measurement's general series in `database`, their values and
    /// its field types, at once.
    fn drop_measurement(&self, tenant: &Tenant, database: &str, measurement: &str) -> Result<()>;
    /// `DROP SERIES` and `DELETE`: the values of these fields of general series (their keys)
    /// in `range`, then every series of them left without a value, in one transaction. Field
    /// types stay.
    fn delete_values(
        &self,
        tenant: &Tenant,
        fields: &[i64],
        range: fieldline_domain::query::TimeRange,
    ) -> Result<()>;
    /// The stored types of the fields of these measurements of `database`.
    fn field_types(
        &self,
        tenant: &Tenant,
        database: &str,
        measurements: &[&str],
    ) -> Result<Vec<StoredFieldType>>;
    /// Writes the lines' values, records the fields the body creates (`new_fields`) and counts
    /// the reservation, in one transaction: all of it, or nothing when a stored type is not the
    /// one the body was planned with ([`LinesWritten::TypesChanged`]) or the reservation would
    /// pass its limit.
    fn write_lines(
        &self,
        tenant: &Tenant,
        database: &str,
        lines: &[&fieldline_domain::line_protocol::Line],
        new_fields: &[StoredFieldType],
        reservation: Option<&Reservation>,
    ) -> Result<LinesWritten>;
    /// Retention, one bounded batch: up to `batch` values older than `before` deleted.
    fn delete_expired_values(
        &self,
        tenant: &Tenant,
        before: Timestamp,
        batch: usize,
    ) -> Result<usize>;
}

/// A message in the outbox, waiting for its sender (e-mail, a broker). Written in the same
/// transaction as the change that caused it, so an outage of the mail server or the broker
/// delays it but never loses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The backend's row key.
    pub id: i64,
    pub org: OrgId,
    /// Which sender takes it (`"email"`, `"amqp"`).
    pub topic: String,
    /// Unique per message: enqueueing the same key again adds nothing, and a receiver can
    /// drop a second delivery by it.
    pub idempotency_key: String,
    pub payload: String,
    /// Deliveries tried so far, this one included.
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// The outbox: at-least-once delivery for messages that must not be lost.
pub trait Outbox {
    /// Adds a message for `topic` unless one with `idempotency_key` exists; `true` when added.
    fn enqueue(
        &self,
        tenant: &Tenant,
        topic: &str,
        idempotency_key: &str,
        payload: &str,
        now: Timestamp,
    ) -> Result<bool>;
    /// Takes up to `limit` unsent messages of `topic` that are due at `now`, oldest first, and
    /// leases them until `lease_until`: a sender that dies leaves them to be taken again then,
    /// and two senders never take the same message within a lease.
    fn claim(
        &self,
        topic: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>>;
    /// Delivered: never handed out again.
    fn mark_sent(&self, id: i64, now: Timestamp) -> Result<()>;
    /// Not delivered: handed out again from `retry_at`, with the reason kept.
    fn retry_later(&self, id: i64, retry_at: Timestamp, error: &str) -> Result<()>;
    /// How many messages of `topic` wait, and since when the oldest has.
    fn backlog(&self, topic: &str) -> Result<(u64, Option<Timestamp>)>;
    /// Deletes up to `limit` messages of `topic` delivered before `sent_before`; returns how
    /// many.
    fn purge_sent(&self, topic: &str, sent_before: Timestamp, limit: usize) -> Result<usize>;
}

/// A point written to a channel that has thresholds, waiting for the notifier; `seq` is the
/// order in which points were stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueuedPoint {
    pub seq: i64,
    pub channel_key: i64,
    pub point: Point,
    /// When Fieldline stored it (the ±2 days rule measures `t` from this).
    pub stored_at: Timestamp,
}

/// What the notifier knows of a channel: its thresholds, and what its e-mails name.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmSubject {
    pub tenant: Tenant,
    pub channel: ChannelRef,
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub communication_id: String,
    pub unit: String,
    pub enumerated: bool,
    pub thresholds: Thresholds,
    pub sensor_name: String,
    pub device_key: i64,
    pub device_id: DeviceId,
    pub device_name: String,
    /// The device's notification address (Sensorbis `notificationUri`) and whether its owner
    /// has confirmed it.
    pub email: Option<Email>,
    pub verified: bool,
    pub min_interval_secs: u32,
    /// Reminders while an alarm stays open, every this many seconds; `None`: none.
    pub reminder_secs: Option<u32>,
    pub org_name: String,
    /// The organization's IANA time zone.
    pub time_zone: String,
    /// The subscription's notification e-mails per UTC day.
    pub emails_per_day: u32,
}

/// A device's notification address that has not been sent its verification e-mail.
#[derive(Clone, Debug, PartialEq)]
pub struct AddressToVerify {
    pub tenant: Tenant,
    pub device_key: i64,
    pub device_id: DeviceId,
    pub device_name: String,
    pub org_name: String,
    pub email: Email,
}

/// An in-app notification (Hexastate): an alert the notifier decided on, for the members of
/// the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    /// The channel it is about.
    pub channel: ChannelId,
    /// `alarm`, `normal` or `reminder`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

/// The threshold notifier's storage: the queue of new points (its durable cursor), the alarm
/// state of each channel, and the verification of notification addresses.
pub trait Alarms {
    /// The oldest `limit` queued points, in the order they were stored.
    fn queued_points(&self, limit: usize) -> Result<Vec<QueuedPoint>>;
    /// Removes the queued points up to `seq` (evaluated); returns how many.
    fn dequeue_points(&self, through_seq: i64) -> Result<usize>;
    /// The channels with these keys that still exist, with their device and organization.
    fn alarm_subjects(&self, channel_keys: &[i64]) -> Result<Vec<AlarmSubject>>;
    /// The stored alarm rows of these channels (absent: nothing evaluated yet).
    fn channel_alarms(&self, channel_keys: &[i64]) -> Result<Vec<(i64, ChannelAlarms)>>;
    fn save_channel_alarms(
        &self,
        channel: ChannelRef,
        alarms: &ChannelAlarms,
        due_at: Option<Timestamp>,
    ) -> Result<()>;
    /// Up to `limit` channels whose row is due at `now` (a held e-mail, a reminder).
    fn channels_due(&self, now: Timestamp, limit: usize) -> Result<Vec<i64>>;
    /// Up to `limit` unconfirmed notification addresses without a verification link yet.
    fn addresses_to_verify(&self, limit: usize) -> Result<Vec<AddressToVerify>>;
    /// Records the one-time link (by its secret's hash) for the device's address; `false` when
    /// that address has one already.
    fn add_verification(
        &self,
        address: &AddressToVerify,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<bool>;
    /// Follows a link: the device's address is confirmed if it is still the one the link was
    /// sent to. A used or unknown link is [`Error::NotFound`].
    fn verify_address(&self, hash: &TokenHash, now: Timestamp) -> Result<(DeviceId, Email)>;
    /// Adds an in-app notification about a channel for the members `recipients` (user keys),
    /// each with their own read and dismissed state.
    fn add_notification(
        &self,
        channel: ChannelRef,
        kind: &str,
        title: &str,
        body: &str,
        now: Timestamp,
        recipients: &[i64],
    ) -> Result<()>;
    /// The member's notifications in the organization not dismissed (only the unread ones
    /// when `unread_only`), newest first, at most `limit`.
    fn notifications(
        &self,
        tenant: &Tenant,
        user: UserId,
        unread_only: bool,
        limit: usize,
    ) -> Result<Vec<Notification>>;
    /// Marks a notification read for the member; [`Error::NotFound`] when it is not theirs
    /// (or dismissed).
    fn read_notification(
        &self,
        tenant: &Tenant,
        user: UserId,
        id: i64,
        now: Timestamp,
    ) -> Result<Notification>;
    /// Dismisses a notification for the member: it is not listed to them any more.
    fn dismiss_notification(
        &self,
        tenant: &Tenant,
        user: UserId,
        id: i64,
        now: Timestamp,
    ) -> Result<()>;
    /// The subscriptions of the organization's members (members only), with their address
    /// and do-not-disturb periods: what the notifier matches alerts against.
    fn subscribers(&self, org_key: i64) -> Result<Vec<Subscriber>>;
    /// The member's topic subscriptions, oldest first.
    fn topic_subscriptions(
        &self,
        tenant: &Tenant,
        user: UserId,
    ) -> Result<Vec<TopicSubscriptionView>>;
    /// Subscribes the member to a topic; the device or channel must be the organization's
    /// ([`Error::NotFound`]).
    fn add_topic_subscription(
        &self,
        tenant: &Tenant,
        user: UserId,
        topic: &NewTopicSubscription,
        now: Timestamp,
    ) -> Result<TopicSubscriptionView>;
    /// Removes one of the member's subscriptions ([`Error::NotFound`] when not theirs).
    fn delete_topic_subscription(&self, tenant: &Tenant, user: UserId, id: i64) -> Result<()>;
    /// The member's do-not-disturb periods (empty when never set).
    fn quiet_hours(&self, tenant: &Tenant, user: UserId) -> Result<QuietHours>;
    fn set_quiet_hours(&self, tenant: &Tenant, user: UserId, quiet: &QuietHours) -> Result<()>;
    /// A device's reminder period while an alarm stays open (`None`: off).
    fn notification_reminder(&self, tenant: &Tenant, device: DeviceId) -> Result<Option<u32>>;
    fn set_notification_reminder(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        secs: Option<u32>,
    ) -> Result<()>;
    /// Holds an e-mail (JSON) to a member until `release_at` (the end of their do-not-disturb
    /// period).
    fn hold_mail(
        &self,
        org_key: i64,
        user_key: i64,
        release_at: Timestamp,
        mail: &str,
        now: Timestamp,
    ) -> Result<()>;
    /// Up to `limit` members (organization, user key) with a held e-mail released by `now`.
    fn members_with_released_mail(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Tenant, i64)>>;
    /// Takes (deletes and returns, oldest first) the member's held e-mails released by `now`:
    /// (key, e-mail JSON).
    fn take_released_mail(
        &self,
        org_key: i64,
        user_key: i64,
        now: Timestamp,
    ) -> Result<Vec<(i64, String)>>;
}

/// A topic as the admin API names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicTarget {
    Organization,
    Device(DeviceId),
    Channel(ChannelId),
}

/// What a member subscribes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTopicSubscription {
    pub target: TopicTarget,
    pub kinds: Kinds,
    pub email: bool,
}

/// A member's topic subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSubscriptionView {
    pub id: i64,
    pub target: TopicTarget,
    pub kinds: Kinds,
    pub email: bool,
    pub created_at: Timestamp,
}

/// A subscription as the notifier matches it, with its member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriber {
    pub subscription: TopicSubscription,
    pub user_id: UserId,
    /// The member's account address (the one they sign in with).
    pub email: Email,
    pub quiet: QuietHours,
}

/// The device a Sensorbis push credential belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushDevice {
    /// The credential's id (what a [`Principal::Device`] names as its token).
    pub credential: TokenId,
    pub tenant: Tenant,
    pub device: DeviceId,
    pub uuid: Uuid,
}

/// What the Sensorbis API keeps beyond the shared model: each device's push credential, and
/// sealed (encrypted) copies of the secrets it shows again. Sealing is the caller's; a backend
/// stores only hashes and sealed bytes.
pub trait Sensorbis {
    /// Sets a device's push credential (the hash packets are authenticated by, and its sealed
    /// plaintext), replacing the one it has when `replace`; `false` when it had one, kept.
    fn set_push_credential(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        hash: &TokenHash,
        sealed: &[u8],
        replace: bool,
        now: Timestamp,
    ) -> Result<bool>;
    /// The device a push credential belongs to (`AuthFailure::InvalidToken` when none).
    fn push_device(&self, secret: &TokenSecret) -> Result<PushDevice>;
    /// The sealed push credentials of the organization's devices, or of one.
    fn sealed_push_credentials(
        &self,
        tenant: &Tenant,
        device: Option<DeviceId>,
    ) -> Result<HashMap<DeviceId, Vec<u8>>>;
    /// [`Tokens::create_token`], also keeping `seal(secret)` in the same transaction.
    fn create_sealed_token(
        &self,
        tenant: &Tenant,
        new: &NewToken,
        seal: &dyn Fn(&TokenSecret) -> Result<Vec<u8>>,
        now: Timestamp,
    ) -> Result<(Token, TokenSecret)>;
    /// The sealed copies of the current device tokens of the organization's devices, or of one.
    fn sealed_device_tokens(
        &self,
        tenant: &Tenant,
        device: Option<DeviceId>,
        now: Timestamp,
    ) -> Result<HashMap<DeviceId, Vec<u8>>>;
    /// The sum of the magnitudes of a channel's values in the hour from `hour`, without the
    /// one at `except`.
    fn hourly_magnitude(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        hour: Timestamp,
        except: Timestamp,
    ) -> Result<f64>;
}

/// An organization's saved views and plan images.
pub trait Views {
    /// The organization's views, oldest first.
    fn list_views(&self, tenant: &Tenant) -> Result<Vec<View>>;
    fn view(&self, tenant: &Tenant, id: ViewId) -> Result<View>;
    fn create_view(&self, tenant: &Tenant, fields: &ViewFields, now: Timestamp) -> Result<View>;
    /// Replaces a view's fields (its image stays).
    fn update_view(
        &self,
        tenant: &Tenant,
        id: ViewId,
        fields: &ViewFields,
        now: Timestamp,
    ) -> Result<View>;
    /// Deletes a view with its image.
    fn delete_view(&self, tenant: &Tenant, id: ViewId) -> Result<()>;
    /// Sets (replaces) a view's image: `info` describes `bytes` (checked by the caller).
    fn set_view_image(
        &self,
        tenant: &Tenant,
        id: ViewId,
        info: &PlanImageInfo,
        bytes: &[u8],
    ) -> Result<View>;
    /// A view's image and its bytes ([`Error::NotFound`] of the view when it has none).
    fn view_image(&self, tenant: &Tenant, id: ViewId) -> Result<(PlanImageInfo, Vec<u8>)>;
}

/// Everything the use cases take: one backend implements all ports (the repository
/// collection).
/// An organization's deviation broker as stored: the password sealed (XChaCha20-Poly1305 under
/// the `broker_secret` variable, bound to the organization), never in plain text.
#[derive(Clone, PartialEq)]
pub struct StoredBroker {
    /// `mqtt://host:port`; also an `allowed_outbound_hosts` entry of the notifier.
    pub address: String,
    pub vhost: String,
    pub username: String,
    pub password_sealed: Vec<u8>,
    /// Deviations are on from here: a device silent since before counts from here.
    pub enabled_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for StoredBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredBroker")
            .field("address", &self.address)
            .field("vhost", &self.vhost)
            .field("username", &self.username)
            .field("password_sealed", &"<sealed>")
            .finish()
    }
}

/// A channel of an organization whose deviations are on, as its conditions see it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviationSubject {
    pub tenant: Tenant,
    /// The organization's GUID (`OrganizationId`).
    pub org_uuid: String,
    pub channel: ChannelRef,
    pub communication_id: String,
    pub unit: String,
    pub enumerated: bool,
    pub thresholds: Thresholds,
    pub device_key: i64,
    pub input: Input,
    pub channel_settings: ChannelSettings,
    pub device_settings: DeviceSettings,
}

/// A device of an organization whose deviations are on, for the no-connection check.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviationDevice {
    pub tenant: Tenant,
    pub device_key: i64,
    /// The later of the device's creation and the moment deviations were turned on: silence
    /// is measured from here until the first contact.
    pub since: Timestamp,
    pub settings: DeviceSettings,
}

/// Which incidents a listing returns (all conditions together), newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFilter {
    /// `Some(true)`: only open ones; `Some(false)`: only ended ones.
    pub active: Option<bool>,
    pub kind: Option<IncidentKind>,
    pub device: Option<DeviceId>,
    pub channel: Option<ChannelId>,
    pub limit: usize,
}

/// Incidents, their engine states, settings and broker (docs/deviations.md).
pub trait Deviations {
    /// The channels with these keys whose organization has deviations on.
    fn deviation_subjects(&self, channel_keys: &[i64]) -> Result<Vec<DeviationSubject>>;
    /// Every device of the organizations with deviations on.
    fn deviation_devices(&self) -> Result<Vec<DeviationDevice>>;
    /// The channels of a device that take its device-wide incidents (no connection): all but
    /// the reserved AlphaX channels 252..255.
    fn deviation_inputs(&self, device_key: i64) -> Result<Vec<DeviationSubject>>;
    /// The stored states of these subjects (`c:<channel key>`, `d:<device key>`).
    fn deviation_states(&self, subjects: &[String]) -> Result<Vec<(String, DeviationState)>>;
    fn save_deviation_state(
        &self,
        org_key: i64,
        subject: &str,
        state: &DeviationState,
    ) -> Result<()>;
    fn open_incident(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        condition: ConditionKey,
        new: &NewIncident,
    ) -> Result<Incident>;
    /// The open incident of `condition` on a channel, if any.
    fn active_incident(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        condition: ConditionKey,
    ) -> Result<Option<Incident>>;
    fn end_incident(&self, tenant: &Tenant, id: i64, end: Timestamp) -> Result<Incident>;
    /// The first confirmation fills `confirm1`, the second `confirm2`; a third changes nothing
    /// and is [`Error::Conflict`].
    fn confirm_incident(&self, tenant: &Tenant, id: i64, at: Timestamp) -> Result<Incident>;
    fn incident(&self, tenant: &Tenant, id: i64) -> Result<Incident>;
    fn incidents(&self, tenant: &Tenant, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// The channel of an incident as its messages name it.
    fn incident_subject(&self, tenant: &Tenant, id: i64) -> Result<DeviationSubject>;
    fn deviation_broker(&self, org: OrgId) -> Result<Option<StoredBroker>>;
    /// Sets (or with `None` removes: deviations off) the organization's broker.
    fn set_deviation_broker(&self, tenant: &Tenant, broker: Option<&StoredBroker>) -> Result<()>;
    fn device_deviation_settings(
        &self,
        tenant: &Tenant,
        device: DeviceId,
    ) -> Result<DeviceSettings>;
    fn set_device_deviation_settings(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        settings: &DeviceSettings,
    ) -> Result<()>;
    fn channel_deviation_settings(
        &self,
        tenant: &Tenant,
        channel: ChannelId,
    ) -> Result<ChannelSettings>;
    fn set_channel_deviation_settings(
        &self,
        tenant: &Tenant,
        channel: ChannelId,
        settings: &ChannelSettings,
    ) -> Result<()>;
    /// Like [`Outbox::claim`], in order per organization: a message is taken only when no
    /// older unsent message of its organization waits for a later attempt or is leased, so a
    /// broker outage delays an organization's messages without reordering them.
    fn claim_in_order(
        &self,
        topic: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>>;
    /// Schedules every unsent message of `topic` and `org` for `retry_at` (a broker outage).
    fn retry_org_later(
        &self,
        topic: &str,
        org: OrgId,
        retry_at: Timestamp,
        error: &str,
    ) -> Result<usize>;
}

/// The engine states of one subject's deviation conditions.
pub type DeviationState = std::collections::BTreeMap<ConditionKey, AlarmState>;

pub trait Store:
    Orgs
    + Users
    + Devices
    + Tokens
    + Counters
    + Points
    + Series
    + Outbox
    + Sensorbis
    + Alarms
    + Deviations
    + Views
    + Databases
{
}

impl<
        T: Orgs
            + Users
            + Devices
            + Tokens
            + Counters
            + Points
            + Series
            + Outbox
            + Sensorbis
            + Alarms
            + Deviations
            + Views
            + Databases,
    > Store for T
{
}

/// Several port calls as one transaction: all their writes or none (a state change and the
/// outbox messages it causes). Port methods that are transactions of their own (sign-up,
/// token creation, rollups) cannot be called inside.
pub trait Atomic {
    fn atomically(&self, f: &mut dyn FnMut(&dyn Store) -> Result<()>) -> Result<()>;
}
