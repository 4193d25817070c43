//! The alarm engine: one pure state machine per (channel or device, condition), the single source
//! of both Sensorbis threshold e-mails ("Threshold notifications") and elproMONITOR deviation
//! messages, so that the two never disagree about the same values. No I/O and no clock: a cron
//! run feeds it the points it read and its own `now`, and stores the resulting state in the same
//! transaction as the messages it writes.
//!
//! - A [`Condition`] is what is checked: one [`Threshold`] on a channel's values (a Sensorbis
//!   threshold, an elpro alarm or warning limit, an enumerated channel's alarm state, an error
//!   code, a battery voltage, a radio strength) or on a device's silence (no connection). Its
//!   [`ConditionKey`] names the alarm; a subject has at most one condition, and so at most one
//!   open alarm, per key.
//! - An [`AlarmState`] is that alarm's stored row: how far it has evaluated and the open
//!   [`Alarm`], if any. [`AlarmState::advance`] takes one [`Observation`] and returns the next
//!   state with at most one [`Transition`] (opened, updated, closed), or says why the
//!   observation was ignored; [`AlarmState::run`] does the same for a batch.
//!
//! The rules, each tested below:
//! - A value counts only if its time `t` is at most [`VALUE_WINDOW_MS`] (2 days) before or after
//!   the moment it was stored (Sensorbis); others are [`Ignored::OutsideWindow`].
//! - Normal → exceeded opens an alarm, which keeps the value, time and threshold that opened it;
//!   further exceeding values update it (latest and worst value) and never open a second one;
//!   the first normal value closes it. Each flap opens and closes once: holding back e-mails
//!   within the device's minimum interval is the notifier's job, and [`Transition::Closed`]
//!   carries both the opening and the closing time for it.
//! - Late data: the state remembers only the newest value time it evaluated
//!   ([`AlarmState::evaluated_to`]), not the history before it, so a value at or before that time
//!   cannot be placed and is [`Ignored::Stale`] (counted, never evaluated). The caller feeds each
//!   channel's new points in time order, so a device's buffered upload is evaluated in order;
//!   only a point older than one already evaluated is lost to alarms. A point at the same time
//!   as the last one (a replacement, or the same point read again) is stale too.
//! - Idempotency follows: advancing is a function of (state, condition, observation), and once a
//!   batch has been applied, applying it again to the resulting state changes nothing and
//!   produces no transition. The caller commits the states, its cursor and the messages of the
//!   transitions in one transaction: a run that dies before the commit leaves the old states and
//!   cursor, and its retry produces the same transitions. Two overlapping runs that read the
//!   same states and batch compute the same transitions, identified by (subject, key, change,
//!   `opened_at`, time of the change): an outbox idempotency key made of those keeps one.
//! - Two thresholds bounding a range of normality are two conditions (lower, upper), as elpro
//!   reports `AlarmLower` and `AlarmUpper` separately: a value jumping from below the range to
//!   above it closes one and opens the other on the same observation. A notifier that mails
//!   "back to normal" checks that no condition of the channel opened on that observation.
//! - No connection is measured on Fieldline's clock: every stored value is contact (its
//!   `stored_at`, whatever its `t`), and an [`Observation::Tick`] opens the alarm when the
//!   silence exceeds the period; the next contact closes it. Contacts may come in any order (an
//!   older one is stale and changes nothing), so a device's channels need not be interleaved.

use serde::{Deserialize, Serialize};

use crate::channel::{Threshold, ThresholdOp, Thresholds};
use crate::error::ParseError;
use crate::incident::{DeviationType, IncidentKind};
use crate::point::Point;
use crate::time::Timestamp;

/// How far a value's time `t` may be from the moment it was stored, either way, for it to count:
/// 2 days (Sensorbis, "Threshold notifications"). Exactly 2 days still counts.
pub const VALUE_WINDOW_MS: i64 = 48 * Timestamp::HOUR_MS;

/// The shortest no-connection period: the cron looks once a minute, so a shorter one would open
/// between two ordinary values.
pub const NO_CONNECTION_MIN_SECS: u32 = 60;

/// Which alarm of a channel or device a condition drives; its state is stored under (subject,
/// key). Upper and lower are separate alarms, as elpro's deviation types are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionKey {
    /// A Sensorbis threshold or elpro alarm limit with `>`, `>=`, `=` or `<>`.
    AlarmUpper,
    /// A Sensorbis threshold or elpro alarm limit with `<` or `<=`.
    AlarmLower,
    WarningUpper,
    WarningLower,
    /// A non-zero error code.
    Failure,
    BatteryLow,
    RadioStrength,
    NoConnection,
}

/// What one alarm checks: `measured <op> limit`, where the measured quantity is a channel's value,
/// or for [`ConditionKey::NoConnection`] the device's silence in seconds. Built by the
/// constructors, which keep the key, the incident kind and the threshold consistent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    key: ConditionKey,
    kind: IncidentKind,
    threshold: Threshold,
}

impl Condition {
    /// An alarm limit of a channel: one Sensorbis threshold, or an elpro limit profile's alarm
    /// limit. `<` and `<=` are lower limits, the other operators upper ones (as
    /// [`Threshold::deviation`]). On an enumerated channel the values are codes, compared exactly
    /// like any value (no tolerance), and the alarm is a `DigitalInputDeviation`.
    pub fn alarm(threshold: Threshold, enumerated: bool) -> Condition {
        let key = match threshold.deviation() {
            DeviationType::AlarmLower => ConditionKey::AlarmLower,
            _ => ConditionKey::AlarmUpper,
        };
        let kind = if enumerated {
            IncidentKind::DigitalInput
        } else {
            IncidentKind::Limit
        };
        Condition {
            key,
            kind,
            threshold,
        }
    }

    /// A channel's Sensorbis thresholds as alarm conditions: none, one, or two (a range of
    /// normality, which [`Thresholds`] guarantees is one lower and one upper limit).
    pub fn thresholds(thresholds: &Thresholds, enumerated: bool) -> Vec<Condition> {
        [thresholds.first(), thresholds.second()]
            .into_iter()
            .flatten()
            .map(|t| Condition::alarm(t, enumerated))
            .collect()
    }

    /// An elpro warning limit of a quantity channel (`WarningUpper`, `WarningLower`).
    pub fn warning(threshold: Threshold) -> Condition {
        let key = if matches!(threshold.op(), ThresholdOp::Lt | ThresholdOp::Le) {
            ConditionKey::WarningLower
        } else {
            ConditionKey::WarningUpper
        };
        Condition {
            key,
            kind: IncidentKind::Limit,
            threshold,
        }
    }

    /// A non-zero value of an error-code channel (AlphaX channel 252): `InputFailureDeviation`.
    pub fn failure() -> Condition {
        Condition {
            key: ConditionKey::Failure,
            kind: IncidentKind::Failure,
            threshold: Threshold::NON_ZERO,
        }
    }

    /// A device voltage (channel 255) below `volts`: `InputBatteryLowLevelDeviation`.
    pub fn battery_below(volts: f64) -> Result<Condition, ParseError> {
        Ok(Condition {
            key: ConditionKey::BatteryLow,
            kind: IncidentKind::BatteryLowLevel,
            threshold: Threshold::new(ThresholdOp::Lt, volts)?,
        })
    }

    /// A signal strength (channel 254) below `limit`: `InputRadioStrengthDeviation`.
    pub fn radio_below(limit: f64) -> Result<Condition, ParseError> {
        Ok(Condition {
            key: ConditionKey::RadioStrength,
            kind: IncidentKind::RadioStrength,
            threshold: Threshold::new(ThresholdOp::Lt, limit)?,
        })
    }

    /// No data from a device for more than `secs` seconds: `InputNoConnectionDeviation`.
    pub fn no_connection(secs: u32) -> Result<Condition, ParseError> {
        if secs < NO_CONNECTION_MIN_SECS {
            return Err(ParseError::new(
                "no-connection period",
                format!("{secs} seconds is below the minimum of {NO_CONNECTION_MIN_SECS}"),
            ));
        }
        Ok(Condition {
            key: ConditionKey::NoConnection,
            kind: IncidentKind::NoConnection,
            threshold: Threshold::new(ThresholdOp::Gt, f64::from(secs))?,
        })
    }

    pub fn key(&self) -> ConditionKey {
        self.key
    }

    /// The elpro message type of this alarm's incident.
    pub fn kind(&self) -> IncidentKind {
        self.kind
    }

    /// The elpro `InputLimitDeviationType`, for limits of quantity channels only.
    pub fn deviation(&self) -> Option<DeviationType> {
        if self.kind != IncidentKind::Limit {
            return None;
        }
        Some(match self.key {
            ConditionKey::AlarmLower => DeviationType::AlarmLower,
            ConditionKey::WarningUpper => DeviationType::WarningUpper,
            ConditionKey::WarningLower => DeviationType::WarningLower,
            _ => DeviationType::AlarmUpper,
        })
    }

    /// The threshold or limit checked (for no connection, `> period` in seconds).
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    /// Whether `measured` is abnormal by this condition.
    pub fn is_exceeded_by(&self, measured: f64) -> bool {
        self.threshold.is_exceeded_by(measured)
    }
}

/// What the engine is told: a stored value, or that time has passed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observation {
    /// A value with its own time `t` (in `point`) and the moment Fieldline stored it.
    Value { point: Point, stored_at: Timestamp },
    /// The cron's clock, once per run after the run's values (so no earlier than their
    /// `stored_at`): only no connection depends on it; other conditions ignore it.
    Tick { now: Timestamp },
}

/// An open alarm: what opened it, and what it has seen since.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    /// When the condition became true: the opening value's `t`; for no connection, the last
    /// contact plus the period.
    pub opened_at: Timestamp,
    /// The value that opened it (for no connection, the silence in seconds when it was seen).
    pub opened_value: f64,
    /// The threshold that opened it, kept if the channel's thresholds change later.
    pub threshold: Threshold,
    /// The latest exceeding value and its time (the opening one until another comes).
    pub last_at: Timestamp,
    pub last_value: f64,
    /// The exceeding value furthest from the threshold, and its time (the earliest on a tie).
    pub worst_at: Timestamp,
    pub worst_value: f64,
    /// How many exceeding observations it has seen, the opening one included.
    pub count: u32,
}

impl Alarm {
    fn open(opened_at: Timestamp, at: Timestamp, value: f64, threshold: Threshold) -> Alarm {
        Alarm {
            opened_at,
            opened_value: value,
            threshold,
            last_at: at,
            last_value: value,
            worst_at: at,
            worst_value: value,
            count: 1,
        }
    }

    fn update(&mut self, at: Timestamp, value: f64) {
        self.last_at = at;
        self.last_value = value;
        self.count = self.count.saturating_add(1);
        let limit = self.threshold.value();
        if (value - limit).abs() > (self.worst_value - limit).abs() {
            self.worst_at = at;
            self.worst_value = value;
        }
    }
}

/// One alarm's stored row: a plain struct, serialized as is. The default is a normal alarm that
/// has evaluated nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmState {
    /// The newest time evaluated: a value's `t`, or for no connection the last contact's
    /// `stored_at`. Observations at or before it are stale. To let a device that never sends
    /// raise no connection, start its state with this set to the device's creation time.
    pub evaluated_to: Option<Timestamp>,
    /// The open alarm; `None` while normal.
    pub open: Option<Alarm>,
}

/// A change of an alarm, for the outputs (e-mails, in-app notifications, deviation messages).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum Transition {
    /// Normal → exceeded: the new alarm.
    Opened(Alarm),
    /// Another exceeding observation while open: the alarm after it.
    Updated(Alarm),
    /// Exceeded → normal at `at` (the closing value's `t`, or the contact's `stored_at`), by
    /// `value` (for no connection, the silence it ended, in seconds); `alarm` as it was.
    Closed {
        alarm: Alarm,
        at: Timestamp,
        value: f64,
    },
}

/// Why an observation was not evaluated; the state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// Its `t` is more than [`VALUE_WINDOW_MS`] from when it was stored.
    OutsideWindow,
    /// At or before [`AlarmState::evaluated_to`]: late, or already evaluated.
    Stale,
}

/// The result of [`AlarmState::advance`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use]
pub struct Step {
    pub state: AlarmState,
    pub transition: Option<Transition>,
    pub ignored: Option<Ignored>,
}

/// The result of [`AlarmState::run`]: the state after the batch, its transitions in order, and
/// how many observations were ignored, by reason.
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct Run {
    pub state: AlarmState,
    pub transitions: Vec<Transition>,
    pub outside_window: u64,
    pub stale: u64,
}

impl AlarmState {
    /// The state after `observation` under `condition`, and the transition it causes.
    pub fn advance(&self, condition: &Condition, observation: &Observation) -> Step {
        let mut next = *self;
        let result = if condition.key == ConditionKey::NoConnection {
            next.silence(condition, observation)
        } else {
            next.value(condition, observation)
        };
        match result {
            Ok(transition) => Step {
                state: next,
                transition,
                ignored: None,
            },
            Err(why) => Step {
                state: *self,
                transition: None,
                ignored: Some(why),
            },
        }
    }

    /// [`advance`](Self::advance) over a batch, in the order given: a channel's values in time
    /// order, then the run's [`Observation::Tick`].
    pub fn run<'a>(
        &self,
        condition: &Condition,
        observations: impl IntoIterator<Item = &'a Observation>,
    ) -> Run {
        let mut run = Run {
            state: *self,
            ..Run::default()
        };
        for observation in observations {
            let step = run.state.advance(condition, observation);
            run.state = step.state;
            run.transitions.extend(step.transition);
            match step.ignored {
                Some(Ignored::OutsideWindow) => run.outside_window += 1,
                Some(Ignored::Stale) => run.stale += 1,
                None => {}
            }
        }
        run
    }

    fn value(
        &mut self,
        condition: &Condition,
        observation: &Observation,
    ) -> Result<Option<Transition>, Ignored> {
        let Observation::Value { point, stored_at } = *observation else {
            return Ok(None);
        };
        let t = point.ts();
        if (t.as_millis() - stored_at.as_millis()).abs() > VALUE_WINDOW_MS {
            return Err(Ignored::OutsideWindow);
        }
        self.take_newer(t)?;
        let value = point.value();
        let exceeded = condition.is_exceeded_by(value);
        Ok(match (&mut self.open, exceeded) {
            (None, true) => {
                let alarm = Alarm::open(t, t, value, condition.threshold);
                self.open = Some(alarm);
                Some(Transition::Opened(alarm))
            }
            (Some(alarm), true) => {
                alarm.update(t, value);
                Some(Transition::Updated(*alarm))
            }
            (Some(_), false) => self.close(t, value),
            (None, false) => None,
        })
    }

    fn silence(
        &mut self,
        condition: &Condition,
        observation: &Observation,
    ) -> Result<Option<Transition>, Ignored> {
        match *observation {
            Observation::Value { stored_at, .. } => {
                let previous = self.evaluated_to;
                self.take_newer(stored_at)?;
                let gap = previous.map_or(0.0, |last| secs_between(last, stored_at));
                Ok(self.close(stored_at, gap))
            }
            Observation::Tick { now } => {
                let Some(last) = self.evaluated_to else {
                    return Ok(None);
                };
                let silent = secs_between(last, now);
                if let Some(alarm) = &mut self.open {
                    if now <= alarm.last_at {
                        return Err(Ignored::Stale);
                    }
                    alarm.update(now, silent);
                    return Ok(Some(Transition::Updated(*alarm)));
                }
                if !condition.is_exceeded_by(silent) {
                    return Ok(None);
                }
                let period_ms = (condition.threshold.value() * 1000.0) as i64;
                let alarm =
                    Alarm::open(last.add_millis(period_ms), now, silent, condition.threshold);
                self.open = Some(alarm);
                Ok(Some(Transition::Opened(alarm)))
            }
        }
    }

    /// Moves [`evaluated_to`](Self::evaluated_to) to `t`, or refuses a `t` not after it.
    fn take_newer(&mut self, t: Timestamp) -> Result<(), Ignored> {
        if self.evaluated_to.is_some_and(|last| t <= last) {
            return Err(Ignored::Stale);
        }
        self.evaluated_to = Some(t);
        Ok(())
    }

    fn close(&mut self, at: Timestamp, value: f64) -> Option<Transition> {
        self.open
            .take()
            .map(|alarm| Transition::Closed { alarm, at, value })
    }
}

fn secs_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.as_millis() - from.as_millis()) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(T0 + ms).unwrap()
    }

    fn th(op: &str, v: f64) -> Threshold {
        Threshold::new(ThresholdOp::parse(op).unwrap(), v).unwrap()
    }

    /// A value at `t`, stored at `stored` (both offsets from T0).
    fn stored(t: i64, stored: i64, v: f64) -> Observation {
        Observation::Value {
            point: Point::new(at(t), v).unwrap(),
            stored_at: at(stored),
        }
    }

    /// A value stored the moment it was measured.
    fn val(t: i64, v: f64) -> Observation {
        stored(t, t, v)
    }

    /// Values a minute apart from T0, each stored when measured.
    fn minutely(values: &[f64]) -> Vec<Observation> {
        (0..).zip(values).map(|(i, &v)| val(i * MIN, v)).collect()
    }

    fn tick(now: i64) -> Observation {
        Observation::Tick { now: at(now) }
    }

    /// The transitions as short labels with their value: `O12` opened by 12, `U15`, `C9`.
    fn labels(transitions: &[Transition]) -> Vec<String> {
        transitions
            .iter()
            .map(|t| match t {
                Transition::Opened(a) => format!("O{}", a.opened_value),
                Transition::Updated(a) => format!("U{}", a.last_value),
                Transition::Closed { value, .. } => format!("C{value}"),
            })
            .collect()
    }

    fn feed(condition: &Condition, observations: &[Observation]) -> Run {
        AlarmState::default().run(condition, observations)
    }

    #[test]
    fn single_threshold_truth_table() {
        // Each operator against the limit 5, for a value below, at and above it.
        let table = [
            ("=", [false, true, false], ConditionKey::AlarmUpper),
            ("<>", [true, false, true], ConditionKey::AlarmUpper),
            ("<", [true, false, false], ConditionKey::AlarmLower),
            ("<=", [true, true, false], ConditionKey::AlarmLower),
            (">", [false, false, true], ConditionKey::AlarmUpper),
            (">=", [false, true, true], ConditionKey::AlarmUpper),
        ];
        for (op, expected, key) in table {
            let c = Condition::alarm(th(op, 5.0), false);
            let got = [4.9, 5.0, 5.1].map(|v| c.is_exceeded_by(v));
            assert_eq!(got, expected, "{op} 5");
            assert_eq!(c.key(), key, "{op}");
            assert_eq!(c.kind(), IncidentKind::Limit);
            // the engine agrees with the table: the value alone opens or not
            for (v, exceeded) in [4.9, 5.0, 5.1].into_iter().zip(expected) {
                let step = AlarmState::default().advance(&c, &val(0, v));
                assert_eq!(step.transition.is_some(), exceeded, "{op} 5 by {v}");
            }
        }
    }

    #[test]
    fn range_of_normality_truth_table() {
        // Values below, at the lower bound, inside, at the upper bound and above 0..10.
        let values = [-0.1, 0.0, 5.0, 10.0, 10.1];
        let table = [
            ("<", ">", [true, false, false, false, true]),
            ("<=", ">=", [true, true, false, true, true]),
            ("<", ">=", [true, false, false, true, true]),
            ("<=", ">", [true, true, false, false, true]),
        ];
        for (lo, hi, expected) in table {
            for (a, b) in [(th(lo, 0.0), th(hi, 10.0)), (th(hi, 10.0), th(lo, 0.0))] {
                let thresholds = Thresholds::new(Some(a), Some(b)).unwrap();
                let conditions = Condition::thresholds(&thresholds, false);
                let mut keys: Vec<_> = conditions.iter().map(Condition::key).collect();
                keys.sort();
                assert_eq!(keys, [ConditionKey::AlarmUpper, ConditionKey::AlarmLower]);
                let got = values.map(|v| conditions.iter().any(|c| c.is_exceeded_by(v)));
                assert_eq!(got, expected, "{lo} 0 or {hi} 10");
                // and the same as the channel's own check
                assert_eq!(got, values.map(|v| thresholds.check(v).is_some()));
            }
        }
        assert!(Condition::thresholds(&Thresholds::NONE, false).is_empty());
    }

    #[test]
    fn enumerated_channels_compare_exactly() {
        let door_open = Condition::alarm(th("=", 2.0), true);
        assert_eq!(door_open.kind(), IncidentKind::DigitalInput);
        assert_eq!(door_open.deviation(), None);
        assert!(door_open.is_exceeded_by(2.0));
        for other in [1.0, 3.0, 2.000_000_001, 1.999_999_999] {
            assert!(!door_open.is_exceeded_by(other), "{other}");
        }
        let any_fault = Condition::alarm(th("<>", 0.0), true);
        assert!(any_fault.is_exceeded_by(1.0));
        assert!(any_fault.is_exceeded_by(-1.0));
        assert!(any_fault.is_exceeded_by(0.000_001));
        assert!(!any_fault.is_exceeded_by(0.0));
        assert!(!any_fault.is_exceeded_by(-0.0));
        // A quantity channel's limit is an InputLimitDeviation with its type.
        let hot = Condition::alarm(th(">", 8.0), false);
        assert_eq!(hot.deviation(), Some(DeviationType::AlarmUpper));
        let cold = Condition::alarm(th("<=", 2.0), false);
        assert_eq!(cold.deviation(), Some(DeviationType::AlarmLower));
    }

    #[test]
    fn values_count_within_two_days_of_storage() {
        let c = Condition::alarm(th(">", 10.0), false);
        let s = 10 * VALUE_WINDOW_MS;
        for (t, counts) in [
            (s - VALUE_WINDOW_MS, true),
            (s + VALUE_WINDOW_MS, true),
            (s - VALUE_WINDOW_MS - 1, false),
            (s + VALUE_WINDOW_MS + 1, false),
        ] {
            let step = AlarmState::default().advance(&c, &stored(t, s, 12.0));
            if counts {
                assert!(matches!(step.transition, Some(Transition::Opened(_))));
                assert_eq!(step.ignored, None);
            } else {
                assert_eq!(step.transition, None);
                assert_eq!(step.ignored, Some(Ignored::OutsideWindow));
                assert_eq!(step.state, AlarmState::default());
            }
        }
        // An ignored value closes nothing either, and is counted.
        let run = feed(
            &c,
            &[val(0, 12.0), stored(MIN, MIN + VALUE_WINDOW_MS + 1, 5.0)],
        );
        assert_eq!(labels(&run.transitions), ["O12"]);
        assert_eq!((run.outside_window, run.stale), (1, 0));
        assert!(run.state.open.is_some());
    }

    #[test]
    fn open_update_close_keeps_the_opening() {
        let threshold = th(">", 10.0);
        let c = Condition::alarm(threshold, false);
        let run = feed(&c, &minutely(&[5.0, 12.0, 15.0, 11.0, 9.0]));
        assert_eq!(labels(&run.transitions), ["O12", "U15", "U11", "C9"]);
        let opened = Alarm {
            opened_at: at(MIN),
            opened_value: 12.0,
            threshold,
            last_at: at(MIN),
            last_value: 12.0,
            worst_at: at(MIN),
            worst_value: 12.0,
            count: 1,
        };
        assert_eq!(run.transitions[0], Transition::Opened(opened));
        assert_eq!(
            run.transitions[3],
            Transition::Closed {
                alarm: Alarm {
                    last_at: at(3 * MIN),
                    last_value: 11.0,
                    worst_at: at(2 * MIN),
                    worst_value: 15.0,
                    count: 3,
                    ..opened
                },
                at: at(4 * MIN),
                value: 9.0,
            }
        );
        assert_eq!(run.state.open, None);
        assert_eq!(run.state.evaluated_to, Some(at(4 * MIN)));
    }

    #[test]
    fn the_opening_threshold_is_kept_when_thresholds_change() {
        let before = Condition::alarm(th(">", 10.0), false);
        let after = Condition::alarm(th(">=", 20.0), false);
        let open = feed(&before, &[val(0, 12.0)]).state;
        let step = open.advance(&after, &val(MIN, 25.0));
        let Some(Transition::Updated(alarm)) = step.transition else {
            panic!("{step:?}")
        };
        assert_eq!(alarm.threshold, th(">", 10.0));
        assert_eq!((alarm.opened_value, alarm.worst_value), (12.0, 25.0));
        // and the new threshold decides when it closes
        let run = step.state.run(&after, &[val(2 * MIN, 15.0)]);
        assert_eq!(labels(&run.transitions), ["C15"]);
    }

    #[test]
    fn no_second_alarm_while_one_is_open() {
        let c = Condition::alarm(th("<", 0.0), false);
        let values: Vec<_> = (0..50).map(|i| -1.0 - f64::from(i % 7)).collect();
        let run = feed(&c, &minutely(&values));
        let opened = run
            .transitions
            .iter()
            .filter(|t| matches!(t, Transition::Opened(_)))
            .count();
        assert_eq!(opened, 1);
        assert_eq!(run.transitions.len(), 50);
        let alarm = run.state.open.unwrap();
        assert_eq!((alarm.opened_at, alarm.opened_value), (at(0), -1.0));
        assert_eq!((alarm.worst_at, alarm.worst_value), (at(6 * MIN), -7.0));
        assert_eq!((alarm.last_at, alarm.count), (at(49 * MIN), 50));
    }

    #[test]
    fn flapping_opens_and_closes_once_per_flap() {
        let c = Condition::alarm(th(">", 10.0), false);
        let run = feed(&c, &minutely(&[12.0, 9.0, 12.0, 9.0, 12.0]));
        assert_eq!(labels(&run.transitions), ["O12", "C9", "O12", "C9", "O12"]);
        // Each close says when its alarm opened: the notifier's min interval needs both.
        let Transition::Closed {
            alarm, at: closed, ..
        } = run.transitions[3]
        else {
            panic!()
        };
        assert_eq!((alarm.opened_at, closed), (at(2 * MIN), at(3 * MIN)));
    }

    #[test]
    fn a_value_crossing_the_range_closes_one_side_and_opens_the_other() {
        let thresholds = Thresholds::new(Some(th("<", 0.0)), Some(th(">", 10.0))).unwrap();
        let conditions = Condition::thresholds(&thresholds, false);
        let observations = minutely(&[-5.0, 15.0, 5.0]);
        let by_key = |key| {
            let c = conditions.iter().find(|c| c.key() == key).unwrap();
            labels(&feed(c, &observations).transitions)
        };
        assert_eq!(by_key(ConditionKey::AlarmLower), ["O-5", "C15"]);
        assert_eq!(by_key(ConditionKey::AlarmUpper), ["O15", "C5"]);
    }

    #[test]
    fn late_values_are_stale_and_counted() {
        let c = Condition::alarm(th(">", 10.0), false);
        let run = feed(
            &c,
            &[
                val(10 * MIN, 12.0),
                // stored after the value above, measured before it: late
                stored(5 * MIN, 11 * MIN, 30.0),
                // the same time again: a replacement or a repeat
                stored(10 * MIN, 12 * MIN, 9.0),
                val(13 * MIN, 9.0),
                // a late exceeding value does not reopen a closed alarm
                stored(12 * MIN, 14 * MIN, 50.0),
            ],
        );
        assert_eq!(labels(&run.transitions), ["O12", "C9"]);
        assert_eq!((run.outside_window, run.stale), (0, 3));
        let Transition::Closed { alarm, .. } = run.transitions[1] else {
            panic!()
        };
        assert_eq!((alarm.worst_value, alarm.count), (12.0, 1));
        assert_eq!(run.state.evaluated_to, Some(at(13 * MIN)));
    }

    #[test]
    fn a_batch_is_deterministic_and_idempotent() {
        let c = Condition::alarm(th(">=", 10.0), false);
        let batch = minutely(&[3.0, 10.0, 11.0, 9.0, 14.0, 2.0, 10.0]);
        let start = feed(&c, &[val(-MIN, 1.0)]).state;
        let first = start.run(&c, &batch);
        assert_eq!(
            labels(&first.transitions),
            ["O10", "U11", "C9", "O14", "C2", "O10"]
        );
        // The same batch from the same state: the same result.
        assert_eq!(start.run(&c, &batch), first);
        // From a state stored and read back: the same result.
        let row = serde_json::to_string(&start).unwrap();
        let read: AlarmState = serde_json::from_str(&row).unwrap();
        assert_eq!(read.run(&c, &batch), first);
        // The same batch again after it was applied: nothing changes, nothing is sent twice.
        let again = first.state.run(&c, &batch);
        assert_eq!(again.state, first.state);
        assert!(again.transitions.is_empty());
        assert_eq!(again.stale, batch.len() as u64);
        // Split in two runs, the batch gives what it gave in one.
        let (a, b) = batch.split_at(3);
        let part = start.run(&c, a);
        let rest = part.state.run(&c, b);
        assert_eq!(rest.state, first.state);
        assert_eq!(
            [part.transitions, rest.transitions].concat(),
            first.transitions
        );
    }

    #[test]
    fn device_conditions() {
        let battery = Condition::battery_below(3.0).unwrap();
        assert_eq!(battery.kind(), IncidentKind::BatteryLowLevel);
        assert_eq!(
            (battery.key(), battery.deviation()),
            (ConditionKey::BatteryLow, None)
        );
        assert_eq!(battery.threshold(), th("<", 3.0));
        let run = feed(&battery, &minutely(&[3.1, 3.0, 2.9, 3.2]));
        assert_eq!(labels(&run.transitions), ["O2.9", "C3.2"]);

        let radio = Condition::radio_below(-100.0).unwrap();
        assert_eq!(radio.kind(), IncidentKind::RadioStrength);
        let run = feed(&radio, &minutely(&[-90.0, -101.0, -110.0]));
        assert_eq!(labels(&run.transitions), ["O-101", "U-110"]);

        let failure = Condition::failure();
        assert_eq!(failure.kind(), IncidentKind::Failure);
        let run = feed(&failure, &minutely(&[0.0, 7.0, 7.0, 0.0]));
        assert_eq!(labels(&run.transitions), ["O7", "U7", "C0"]);

        let warm = Condition::warning(th(">", 6.0));
        assert_eq!(warm.deviation(), Some(DeviationType::WarningUpper));
        let chilly = Condition::warning(th("<=", 1.0));
        assert_eq!(chilly.deviation(), Some(DeviationType::WarningLower));

        assert!(Condition::battery_below(f64::NAN).is_err());
        assert!(Condition::radio_below(f64::INFINITY).is_err());
        assert!(Condition::no_connection(NO_CONNECTION_MIN_SECS - 1).is_err());
    }

    #[test]
    fn no_connection_from_elapsed_time() {
        let hour = 60 * MIN;
        let c = Condition::no_connection(3600).unwrap();
        assert_eq!(c.kind(), IncidentKind::NoConnection);
        assert_eq!(c.threshold(), th(">", 3600.0));
        // Never seen: nothing to measure the silence from.
        let step = AlarmState::default().advance(&c, &tick(10 * hour));
        assert_eq!((step.transition, step.ignored), (None, None));

        let run = feed(
            &c,
            &[
                val(0, 21.5),
                tick(hour),
                tick(hour + 1000),
                tick(hour + 1000),
                tick(2 * hour),
                // contact: its value and time do not matter, only when it was stored
                stored(-3 * VALUE_WINDOW_MS, 2 * hour + 5 * MIN, 1.0),
                tick(2 * hour + 6 * MIN),
                // an older contact (another channel of the device, read later)
                val(hour, 1.0),
            ],
        );
        assert_eq!(labels(&run.transitions), ["O3601", "U7200", "C7500"]);
        assert_eq!((run.outside_window, run.stale), (0, 2));
        let Transition::Opened(opened) = run.transitions[0] else {
            panic!()
        };
        // It opened when the period ran out, not when the cron noticed.
        assert_eq!(opened.opened_at, at(hour));
        assert_eq!(opened.last_at, at(hour + 1000));
        let Transition::Closed {
            alarm, at: closed, ..
        } = run.transitions[2]
        else {
            panic!()
        };
        assert_eq!(closed, at(2 * hour + 5 * MIN));
        assert_eq!((alarm.worst_value, alarm.count), (7200.0, 2));
        assert_eq!(run.state.open, None);
        assert_eq!(run.state.evaluated_to, Some(at(2 * hour + 5 * MIN)));

        // A device that never sends: seeded with its creation time, it raises the alarm.
        let created = AlarmState {
            evaluated_to: Some(at(0)),
            open: None,
        };
        let run = created.run(&c, &[tick(hour + MIN)]);
        assert_eq!(labels(&run.transitions), ["O3660"]);
    }

    #[test]
    fn ticks_do_not_touch_value_conditions() {
        let c = Condition::alarm(th(">", 10.0), false);
        let open = feed(&c, &[val(0, 12.0)]).state;
        let step = open.advance(&c, &tick(100 * VALUE_WINDOW_MS));
        assert_eq!(
            (step.state, step.transition, step.ignored),
            (open, None, None)
        );
    }

    #[test]
    fn the_stored_row() {
        let c = Condition::alarm(th(">", 10.0), false);
        let state = feed(&c, &[val(0, 12.0)]).state;
        let json = serde_json::to_value(state).unwrap();
        assert_eq!(json["evaluatedTo"], T0);
        assert_eq!(json["open"]["openedValue"], 12.0);
        assert_eq!(json["open"]["threshold"]["op"], ">");
        assert_eq!(serde_json::from_value::<AlarmState>(json).unwrap(), state);
        let normal = serde_json::to_string(&AlarmState::default()).unwrap();
        assert_eq!(normal, r#"{"evaluatedTo":null,"open":null}"#);
        let t = Transition::Opened(state.open.unwrap());
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json["change"], "opened");
        assert_eq!(serde_json::from_value::<Transition>(json).unwrap(), t);
    }
}
