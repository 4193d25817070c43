//! The installation's operator: the one credential above organizations. Subscriptions are
//! the operator's to set (Sensorbis sells them; an organization's own administrators may not
//! raise their limits). The operator token is a secret variable of the installation
//! (`operator_token`), compared in constant time.
//!
//! The scheduled jobs' private run routes (`/maintenance/run`, `/notifier/run`) are for the
//! platform's own scheduler where there is no cron trigger; [`RunGate`] says who may call them.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ParseError;

/// The configured operator token.
pub struct OperatorToken(String);

impl OperatorToken {
    /// Shorter secrets are refused: they could be guessed.
    pub const MIN_LEN: usize = 16;

    pub fn parse(configured: &str) -> Result<Self, ParseError> {
        let t = configured.trim();
        if t.chars().count() < Self::MIN_LEN {
            return Err(ParseError::new(
                "operator_token",
                format!("must be at least {} characters", Self::MIN_LEN),
            ));
        }
        Ok(OperatorToken(t.to_owned()))
    }

    /// Whether `presented` is the token. Both are hashed first, so the comparison takes the
    /// same time whatever their lengths and wherever they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(presented.trim().as_bytes());
        a.as_slice().ct_eq(b.as_slice()).into()
    }
}

/// The method of a request to a run route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMethod {
    Post,
    Get,
    Other,
}

/// Why a run route refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRefusal {
    /// Neither POST, nor GET with `?token=`.
    MethodNotAllowed,
    /// No credential is configured: the route is off.
    NotEnabled,
    /// A credential is configured but not presented.
    Unauthorized,
}

/// Who may run a scheduled job through its private run route (`/<component>/run`).
///
/// `POST` with `Authorization: Bearer` and the operator token (`operator_token`) or the
/// scheduler's token (`cron_token`); or `GET`/`POST` with `?token=` and the scheduler's token,
/// for schedulers that can set neither a method nor a header (Akamai Functions' `spin aka cron`
/// sends a bare GET to a path and query). The operator token is never taken from a URL: URLs
/// end up in logs, and the operator token also sets subscriptions; the scheduler's token can
/// only make a job run now, which every job tolerates.
#[derive(Default)]
pub struct RunGate {
    pub operator: Option<OperatorToken>,
    pub cron: Option<OperatorToken>,
}

impl RunGate {
    /// The gate for the configured values of `operator_token` and `cron_token`; an empty or
    /// short one is not configured.
    pub fn new(operator: Option<&str>, cron: Option<&str>) -> Self {
        RunGate {
            operator: operator.and_then(|t| OperatorToken::parse(t).ok()),
            cron: cron.and_then(|t| OperatorToken::parse(t).ok()),
        }
    }

    /// Whether a request with this method, `Authorization: Bearer` value and `token` query
    /// parameter may run the job.
    pub fn admits(
        &self,
        method: RunMethod,
        bearer: Option<&str>,
        query_token: Option<&str>,
    ) -> Result<(), RunRefusal> {
        if method == RunMethod::Other || (method == RunMethod::Get && query_token.is_none()) {
            return Err(RunRefusal::MethodNotAllowed);
        }
        if self.operator.is_none() && self.cron.is_none() {
            return Err(RunRefusal::NotEnabled);
        }
        let cron = |t: &str| self.cron.as_ref().is_some_and(|c| c.matches(t));
        if query_token.is_some_and(cron) {
            return Ok(());
        }
        let by_header =
            bearer.is_some_and(|b| cron(b) || self.operator.as_ref().is_some_and(|o| o.matches(b)));
        if method == RunMethod::Post && query_token.is_none() && by_header {
            return Ok(());
        }
        Err(RunRefusal::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OP: &str = "the operator token, long enough";
    const CRON: &str = "the scheduler token, long enough";

    #[test]
    fn run_gate_takes_either_token_as_bearer_and_only_the_scheduler_token_in_the_query() {
        use RunMethod::*;
        let gate = RunGate::new(Some(OP), Some(CRON));
        assert_eq!(gate.admits(Post, Some(OP), None), Ok(()));
        assert_eq!(gate.admits(Post, Some(CRON), None), Ok(()));
        assert_eq!(gate.admits(Get, None, Some(CRON)), Ok(()));
        assert_eq!(gate.admits(Post, None, Some(CRON)), Ok(()));
        // The operator token is never taken from a URL.
        assert_eq!(
            gate.admits(Get, None, Some(OP)),
            Err(RunRefusal::Unauthorized)
        );
        assert_eq!(
            gate.admits(Post, None, Some(OP)),
            Err(RunRefusal::Unauthorized)
        );
        // A wrong query token is not rescued by a right header.
        assert_eq!(
            gate.admits(Post, Some(OP), Some("wrong")),
            Err(RunRefusal::Unauthorized)
        );
        assert_eq!(gate.admits(Post, None, None), Err(RunRefusal::Unauthorized));
        assert_eq!(
            gate.admits(Post, Some("wrong"), None),
            Err(RunRefusal::Unauthorized)
        );
        // GET only in the header-less form; other methods never.
        assert_eq!(
            gate.admits(Get, Some(OP), None),
            Err(RunRefusal::MethodNotAllowed)
        );
        assert_eq!(
            gate.admits(Other, Some(OP), None),
            Err(RunRefusal::MethodNotAllowed)
        );
    }

    #[test]
    fn run_gate_is_off_without_a_configured_token_and_each_token_works_alone() {
        use RunMethod::*;
        let off = RunGate::new(Some(""), Some("short"));
        assert_eq!(
            off.admits(Post, Some(OP), None),
            Err(RunRefusal::NotEnabled)
        );
        let op_only = RunGate::new(Some(OP), None);
        assert_eq!(op_only.admits(Post, Some(OP), None), Ok(()));
        assert_eq!(
            op_only.admits(Get, None, Some(OP)),
            Err(RunRefusal::Unauthorized)
        );
        let cron_only = RunGate::new(None, Some(CRON));
        assert_eq!(cron_only.admits(Get, None, Some(CRON)), Ok(()));
        assert_eq!(
            cron_only.admits(Post, Some(OP), None),
            Err(RunRefusal::Unauthorized)
        );
    }

    #[test]
    fn matches_only_the_token() {
        assert!(OperatorToken::parse("short").is_err());
        let t = OperatorToken::parse("an operator token of some length").unwrap();
        assert!(t.matches("an operator token of some length"));
        assert!(!t.matches("an operator token of some lengtH"));
        assert!(!t.matches(""));
    }
}
