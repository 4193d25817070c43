//! Every rate limit and quota of every API, and the counter key each one counts under, in one
//! module. The window arithmetic and the verdict are the domain's ([`RateLimitPolicy`]); the
//! counters are a port ([`Counters`]), incremented atomically by the backend.

use fieldline_domain::{
    ConduitTier, Email, OrgId, Principal, RateLimitPolicy, Subscription, Timestamp,
};

use crate::error::Result;
use crate::ports::{Counters, Reservation, Tenant};

/// Hexastate's public API: 100 requests per minute per user (the admin API's default; the
/// variables `admin_rate_limit` and `admin_rate_limit_window_secs` override it).
pub const ADMIN_API: RateLimitPolicy = RateLimitPolicy {
    name: "admin-api",
    limit: 100,
    window_secs: 60,
};

/// Admin API requests without an access token (sign-up, login, refresh, accepting an
/// invitation), per client address.
pub const ADMIN_ANONYMOUS: RateLimitPolicy = RateLimitPolicy {
    name: "admin-api-anonymous",
    limit: 100,
    window_secs: 60,
};

/// Proficloud's `/epts/token` password logins and refreshes, per client address.
pub const EPTS_TOKEN_CLIENT: RateLimitPolicy = RateLimitPolicy {
    name: "epts-token-client",
    limit: 100,
    window_secs: 60,
};

/// Failed password logins, per e-mail address: slows down guessing.
pub const LOGIN: RateLimitPolicy = RateLimitPolicy {
    name: "login",
    limit: 10,
    window_secs: 60,
};

/// Failed password logins, per client address, whatever the e-mail addresses: slows down
/// guessing across many accounts from one client (each account also has [`LOGIN`]).
pub const LOGIN_CLIENT: RateLimitPolicy = RateLimitPolicy {
    name: "login-client",
    limit: 30,
    window_secs: 60,
};

/// The admin API's per-user limit, with the installation's overrides where given (and
/// positive).
pub fn admin_api(limit: Option<u64>, window_secs: Option<u32>) -> RateLimitPolicy {
    RateLimitPolicy {
        limit: limit.filter(|&n| n > 0).unwrap_or(ADMIN_API.limit),
        window_secs: window_secs
            .filter(|&n| n > 0)
            .unwrap_or(ADMIN_API.window_secs),
        ..ADMIN_API
    }
}

/// Conduit reads: Basic 1 call per 15 s, Premium 1 per 5 s, Enterprise unlimited.
pub fn conduit_read(tier: ConduitTier) -> Option<RateLimitPolicy> {
    match tier {
        ConduitTier::Basic => Some(RateLimitPolicy {
            name: "conduit-read-basic",
            limit: 1,
            window_secs: 15,
        }),
        ConduitTier::Premium => Some(RateLimitPolicy {
            name: "conduit-read-premium",
            limit: 1,
            window_secs: 5,
        }),
        ConduitTier::Enterprise => None,
    }
}

/// Conduit writes: Basic and Premium 100 per second, Enterprise unlimited.
pub fn conduit_write(tier: ConduitTier) -> Option<RateLimitPolicy> {
    match tier {
        ConduitTier::Basic | ConduitTier::Premium => Some(RateLimitPolicy {
            name: "conduit-write",
            limit: 100,
            window_secs: 1,
        }),
        ConduitTier::Enterprise => None,
    }
}

/// The organization's points-per-hour quota (its subscription), counted in points by every
/// ingestion API together (Conduit HTTP and MQTT, `/write`, the Sensorbis push), per UTC hour,
/// with [`reserve`]: exact, a refused batch counts nothing.
pub fn points_per_hour(subscription: &Subscription) -> RateLimitPolicy {
    RateLimitPolicy {
        name: "points-per-hour",
        limit: subscription.points_per_hour,
        window_secs: 3600,
    }
}

/// The organization's notification e-mails, per UTC day.
pub fn notification_emails(subscription: &Subscription) -> RateLimitPolicy {
    RateLimitPolicy {
        name: "notification-emails-per-day",
        limit: u64::from(subscription.notification_emails_per_day),
        window_secs: 86_400,
    }
}

/// What an organization has used of its subscription now: the points accepted this UTC hour
/// and the notification e-mails counted today (UTC), read from the counters the limits keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub points_this_hour: u64,
    pub emails_today: u64,
}

pub fn usage(
    counters: &(impl Counters + ?Sized),
    tenant: &Tenant,
    subscription: &Subscription,
    now: Timestamp,
) -> Result<Usage> {
    let hour = points_per_hour(subscription).window(&Subject::Org(tenant.id()).key(), now);
    Ok(Usage {
        points_this_hour: counters.current(&hour.key, now)?,
        emails_today: counters.current(&crate::notifier::mails_today_key(tenant.key, now), now)?,
    })
}

/// Who a limit counts for: the one place counter keys are spelled.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// A member (per user) or an API token (per token).
    Principal(&'a Principal),
    /// An organization (its quotas).
    Org(OrgId),
    /// An e-mail address (failed logins).
    Email(&'a Email),
    /// A client address (requests without credentials).
    Client(&'a str),
}

impl Subject<'_> {
    pub fn key(&self) -> String {
        match self {
            Subject::Principal(Principal::Member { user, .. }) => format!("user:{user}"),
            Subject::Principal(
                Principal::Conduit { token, .. }
                | Principal::Federation { token, .. }
                | Principal::Device { token, .. },
            ) => format!("token:{token}"),
            Subject::Org(org) => format!("org:{org}"),
            Subject::Email(email) => format!("email:{email}"),
            Subject::Client(ip) => format!("addr:{ip}"),
        }
    }
}

/// Counts `units` against `policy` for `subject`; refused with [`fieldline_domain::RateLimited`]
/// (the units stay counted) once the window's count passes the limit.
pub fn check(
    counters: &(impl Counters + ?Sized),
    policy: &RateLimitPolicy,
    subject: Subject<'_>,
    units: u64,
    now: Timestamp,
) -> Result<()> {
    let window = policy.window(&subject.key(), now);
    let count = counters.increment(&window.key, units, window.end)?;
    policy.check(&window, count, now)?;
    Ok(())
}

/// Counts `units` against `policy` for `subject` only if all of them fit in the window's
/// limit; otherwise refused with [`fieldline_domain::RateLimited`] (`Retry-After`: the window's
/// end) and nothing is counted, so the count is exactly what was accepted and concurrent
/// requests never pass the limit together (one atomic statement, [`Counters::increment_within`]).
pub fn reserve(
    counters: &(impl Counters + ?Sized),
    policy: &RateLimitPolicy,
    subject: Subject<'_>,
    units: u64,
    now: Timestamp,
) -> Result<()> {
    let window = policy.window(&subject.key(), now);
    if counters
        .increment_within(&window.key, units, policy.limit, window.end)?
        .is_none()
    {
        return Err(over_limit(policy, subject, units, now));
    }
    Ok(())
}

/// What [`reserve`] counts, for a backend to count in the same write as what it limits
/// ([`crate::ports::Points::write_points_within`]).
pub fn reservation(
    policy: &RateLimitPolicy,
    subject: Subject<'_>,
    units: u64,
    now: Timestamp,
) -> Reservation {
    let window = policy.window(&subject.key(), now);
    Reservation {
        key: window.key,
        units,
        limit: policy.limit,
        expires_at: window.end,
    }
}

/// The refusal of `units` that did not fit in `policy`'s window for `subject`
/// ([`fieldline_domain::RateLimited`], `Retry-After`: the window's end).
pub fn over_limit(
    policy: &RateLimitPolicy,
    subject: Subject<'_>,
    units: u64,
    now: Timestamp,
) -> crate::Error {
    let window = policy.window(&subject.key(), now);
    // Over the limit by construction: the verdict builds the refusal.
    match policy.check(&window, policy.limit.saturating_add(units.max(1)), now) {
        Err(refused) => fieldline_domain::Error::from(refused).into(),
        Ok(()) => crate::Error::backend(
            crate::BackendFailure::Other,
            format!(
                "the backend refused {units} units of {:?} within its limit",
                policy.name
            ),
        ),
    }
}

/// Counts one call against an optional policy (`None`: unlimited).
pub fn check_optional(
    counters: &(impl Counters + ?Sized),
    policy: Option<RateLimitPolicy>,
    subject: Subject<'_>,
    now: Timestamp,
) -> Result<()> {
    match policy {
        Some(p) => check(counters, &p, subject, 1, now),
        None => Ok(()),
    }
}

/// Refuses when the failures already counted for `subject` reach the limit, without counting
/// this attempt (successes are never counted). Failures are counted in two windows half a
/// window apart ([`RateLimitPolicy::staggered_windows`]), and either one full refuses: a burst
/// of guesses is stopped at the limit wherever a window boundary falls in it. `Retry-After`
/// is the end of the later full window.
pub fn check_failures(
    counters: &(impl Counters + ?Sized),
    policy: &RateLimitPolicy,
    subject: Subject<'_>,
    now: Timestamp,
) -> Result<()> {
    let mut refused: Option<fieldline_domain::RateLimited> = None;
    for window in policy.staggered_windows(&subject.key(), now) {
        let used = counters.current(&window.key, now)?;
        if let Err(r) = policy.check(&window, used + 1, now) {
            if refused
                .as_ref()
                .is_none_or(|e| e.retry_after_secs < r.retry_after_secs)
            {
                refused = Some(r);
            }
        }
    }
    match refused {
        Some(r) => Err(r.into()),
        None => Ok(()),
    }
}

/// Counts one failure for `subject`, in both windows [`check_failures`] reads.
pub fn count_failure(
    counters: &(impl Counters + ?Sized),
    policy: &RateLimitPolicy,
    subject: Subject<'_>,
    now: Timestamp,
) -> Result<()> {
    for window in policy.staggered_windows(&subject.key(), now) {
        counters.increment(&window.key, 1, window.end)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conduit_tiers() {
        assert_eq!(
            conduit_read(ConduitTier::Basic).map(|p| p.window_secs),
            Some(15)
        );
        assert_eq!(
            conduit_read(ConduitTier::Premium).map(|p| p.window_secs),
            Some(5)
        );
        assert!(conduit_read(ConduitTier::Enterprise).is_none());
        assert_eq!(
            conduit_write(ConduitTier::Premium).map(|p| p.limit),
            Some(100)
        );
        assert!(conduit_write(ConduitTier::Enterprise).is_none());
    }

    #[test]
    fn admin_overrides_only_when_positive() {
        assert_eq!(admin_api(None, None), ADMIN_API);
        let p = admin_api(Some(5), Some(0));
        assert_eq!((p.limit, p.window_secs), (5, 60));
    }

    #[test]
    fn counter_keys() {
        let org = OrgId::parse("kyaaw44196vfu").expect("an org id");
        assert_eq!(Subject::Org(org).key(), "org:kyaaw44196vfu");
        assert_eq!(Subject::Client("127.0.0.1").key(), "addr:127.0.0.1");
        let email = Email::parse("a@example.com").expect("an address");
        assert_eq!(Subject::Email(&email).key(), "email:a@example.com");
    }
}
