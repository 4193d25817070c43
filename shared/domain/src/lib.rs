//! Fieldline's domain model, shared by every component: validated identifiers and bounded strings,
//! the entities behind all five APIs (organization, user, membership, device, sensor, channel,
//! point, hourly rollup, incident, token, subscription), and the security core (Argon2id
//! passwords, opaque tokens stored as SHA-256 hashes, HS256 JWT access tokens, permissions checked
//! in [`authorize`], fixed-window rate limits), and the [`alarm`] engine behind threshold e-mails
//! and deviation messages. Pure Rust: no Spin types, no I/O beyond the clock and the random
//! source, so it is tested natively and runs unchanged in `wasm32-wasip2`.
//!
//! Functions that depend on the time take `now: Timestamp` instead of reading the clock, so that
//! every rule (expiry, rate-limit windows, rollup hours) is testable; components call
//! [`Timestamp::now`] once per request.

#![cfg_attr(test, allow(clippy::unwrap_used))]

#[macro_use]
mod macros;

pub mod alarm;
mod authz;
mod channel;
pub mod conduit;
pub mod deviation;
mod device;
pub mod epts;
mod error;
pub mod export;
pub mod hash;
mod ids;
mod incident;
pub mod influxql;
mod jwt;
pub mod line_protocol;
pub mod notify;
mod operator;
mod org;
mod password;
mod point;
pub mod query;
mod random;
mod ratelimit;
pub mod schedule;
mod sealed;
pub mod sensorbis;
mod subscription;
mod text;
mod time;
mod token;
pub mod topics;
mod user;
pub mod view;

pub use authz::{authorize, Action, Principal};
pub use channel::{
    Calibration, Channel, ChannelFields, CommunicationId, Grouping, Threshold, ThresholdOp,
    Thresholds, ValueRange,
};
pub use device::{
    Device, DeviceFields, DeviceMeta, Health, Location, NetworkId, NotificationInterval, Sensor,
    SensorFields, UtcOffset,
};
pub use error::{AuthFailure, Denied, Error, ParseError, Result};
pub use ids::{ChannelId, DeviceId, InvitationId, OrgId, SensorId, TokenId, UserId, Uuid, ViewId};
pub use incident::{routing_key, DeviationType, Incident, IncidentKind, NewIncident};
pub use jwt::{AccessClaims, JwtKey, ACCESS_TOKEN_TTL_SECS, JWT_ISSUER};
pub use operator::{OperatorToken, RunGate, RunMethod, RunRefusal};
pub use org::{OrgFields, Organization, SignupPolicy};
pub use password::{Password, PasswordHash, PasswordHasher};
pub use point::{rollup_points, HourlyRollup, Point, MAX_POINTS_PER_BATCH};
pub use ratelimit::{RateLimitPolicy, RateLimited, Window};
pub use sealed::SealKey;
pub use subscription::{points_per_hour_for, ConduitTier, Subscription};
pub use text::{
    Description, Email, Name, OrgName, Purpose, ShortText, TimeZoneName, Unit, ViewName,
};
pub use time::Timestamp;
pub use token::{
    ConduitServices, Token, TokenHash, TokenKind, TokenSecret, REFRESH_TOKEN_TTL_SECS,
};
pub use user::{Invitation, Membership, Permission, Permissions, User, INVITATION_TTL_SECS};
pub use view::{View, ViewFields, ViewKind};
