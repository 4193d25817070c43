//! elproMONITOR deviations (docs/deviations.md): the alarm engine's transitions become
//! incidents, and each incident's start, confirmations and end become messages in the outbox,
//! written in the transaction that advanced the alarm; [`publish`] sends them to the
//! organization's RabbitMQ (MQTT plugin) in order, with their original `MessageId`.
//!
//! Conditions of a channel (organizations with a broker set only):
//! - its thresholds (Sensorbis): evaluated by the threshold notifier's own pass
//!   ([`crate::notifier::evaluate`]); its transitions are handed here, so e-mails and deviation
//!   messages come from the same engine states (`InputLimitDeviation` AlarmUpper/AlarmLower,
//!   or `DigitalInputDeviation` on an enumerated channel);
//! - its warning limits (`WarningUpper`, `WarningLower`; channel settings);
//! - on the AlphaX error-code channel (252) a non-zero code (`InputFailureDeviation`), on the
//!   voltage channel (255) a value below the device's battery limit
//!   (`InputBatteryLowLevelDeviation`), on the signal channel (254) a value below its radio limit
//!   (`InputRadioStrengthDeviation`): device settings.
//!
//! Per device: no data for longer than its period (`InputNoConnectionDeviation`), opened by the
//! cron run's tick ([`tick`]), also for a device that never sent anything (silence counts from its
//! creation, or from when deviations were turned on); an incident on each of its channels but the
//! reserved ones, as elpro names inputs, closed by the next contact.

use std::collections::HashMap;

use fieldline_domain::alarm::{AlarmState, Condition, ConditionKey, Observation, Transition};
use fieldline_domain::deviation::{Message, Outgoing};
use fieldline_domain::{Incident, NewIncident, SealKey, Timestamp, Unit, Uuid};

use crate::error::{Error, Result};
use crate::ports::{Atomic, DeviationState, DeviationSubject, QueuedPoint, Store, StoredBroker};

/// The outbox topic of deviation messages.
pub const TOPIC: &str = "elpro";
/// Messages taken per claim.
const CLAIM: usize = 50;
/// A claim's lease: a publisher that dies leaves its messages to the next run after this.
const LEASE_SECS: i64 = 120;

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub opened: u64,
    pub ended: u64,
    /// Messages written to the outbox.
    pub messages: u64,
}

/// The threshold transitions of one channel's conditions, as the notifier's pass computed them.
pub type ThresholdTransitions = Vec<(i64, Condition, Vec<Transition>)>;

fn subject_key_channel(key: i64) -> String {
    format!("c:{key}")
}

fn subject_key_device(key: i64) -> String {
    format!("d:{key}")
}

/// The deviation-only conditions of a channel (its thresholds are the notifier's).
pub fn channel_conditions(subject: &DeviationSubject) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    if !subject.enumerated {
        for t in subject.channel_settings.warnings()? {
            out.push(Condition::warning(t));
        }
    }
    let d = &subject.device_settings;
    match subject.communication_id.as_str() {
        "252" if d.failure => out.push(Condition::failure()),
        "255" => {
            if let Some(v) = d.battery_low_below {
                out.push(Condition::battery_below(v)?);
            }
        }
        "254" => {
            if let Some(v) = d.radio_strength_below {
                out.push(Condition::radio_below(v)?);
            }
        }
        _ => {}
    }
    Ok(out)
}

/// One batch of queued points (in the notifier's transaction): the threshold transitions the
/// notifier computed, the deviation-only conditions of the points' channels, and each device's
/// contacts (which end a no-connection incident).
pub fn evaluate(
    s: &dyn Store,
    now: Timestamp,
    points: &[QueuedPoint],
    thresholds: &ThresholdTransitions,
    report: &mut Report,
) -> Result<()> {
    let mut keys: Vec<i64> = points.iter().map(|p| p.channel_key).collect();
    keys.extend(thresholds.iter().map(|(k, _, _)| *k));
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    let subjects: HashMap<i64, DeviationSubject> = s
        .deviation_subjects(&keys)?
        .into_iter()
        .map(|d| (d.channel.key, d))
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    for (key, condition, transitions) in thresholds {
        if let Some(subject) = subjects.get(key) {
            apply(s, subject, condition, transitions, now, report)?;
        }
    }
    let mut by_channel: HashMap<i64, Vec<Observation>> = HashMap::new();
    let mut by_device: HashMap<i64, Vec<Observation>> = HashMap::new();
    for p in points {
        let Some(subject) = subjects.get(&p.channel_key) else {
            continue;
        };
        let o = Observation::Value {
            point: p.point,
            stored_at: p.stored_at,
        };
        by_channel.entry(p.channel_key).or_default().push(o);
        by_device.entry(subject.device_key).or_default().push(o);
    }
    let channel_subjects: Vec<String> =
        by_channel.keys().map(|k| subject_key_channel(*k)).collect();
    let mut states: HashMap<String, DeviationState> =
        s.deviation_states(&channel_subjects)?.into_iter().collect();
    let mut channel_keys: Vec<i64> = by_channel.keys().copied().collect();
    channel_keys.sort_unstable();
    for key in channel_keys {
        let subject = &subjects[&key];
        let mut observations = by_channel.remove(&key).unwrap_or_default();
        observations.sort_by_key(|o| match o {
            Observation::Value { point, .. } => point.ts(),
            Observation::Tick { now } => *now,
        });
        let name = subject_key_channel(key);
        let mut state = states.remove(&name).unwrap_or_default();
        let conditions = channel_conditions(subject)?;
        // A condition turned off is gone with its state; its open incident stays open until
        // someone looks (it is not ended by a value it no longer checks).
        state.retain(|k, _| conditions.iter().any(|c| c.key() == *k));
        for condition in &conditions {
            let st = state.entry(condition.key()).or_default();
            let run = st.run(condition, &observations);
            *st = run.state;
            apply(s, subject, condition, &run.transitions, now, report)?;
        }
        s.save_deviation_state(subject.tenant.key, &name, &state)?;
    }
    // Contacts: every point of a device is one, whatever its channel.
    let device_subjects: Vec<String> = by_device.keys().map(|k| subject_key_device(*k)).collect();
    let mut states: HashMap<String, DeviationState> =
        s.deviation_states(&device_subjects)?.into_iter().collect();
    let mut device_keys: Vec<i64> = by_device.keys().copied().collect();
    device_keys.sort_unstable();
    for device in device_keys {
        let contacts = by_device.remove(&device).unwrap_or_default();
        let Some(any) = subjects.values().find(|d| d.device_key == device) else {
            continue;
        };
        let name = subject_key_device(device);
        let mut state = states.remove(&name).unwrap_or_default();
        let Some(secs) = any.device_settings.no_connection_secs else {
            state.remove(&ConditionKey::NoConnection);
            s.save_deviation_state(any.tenant.key, &name, &state)?;
            continue;
        };
        let condition = Condition::no_connection(secs)?;
        let st = state.entry(ConditionKey::NoConnection).or_default();
        let run = st.run(&condition, &contacts);
        *st = run.state;
        if !run.transitions.is_empty() {
            for input in s.deviation_inputs(device)? {
                apply(s, &input, &condition, &run.transitions, now, report)?;
            }
        }
        s.save_deviation_state(any.tenant.key, &name, &state)?;
    }
    Ok(())
}

/// The cron run's clock, after the queued points: opens no-connection incidents of devices
/// silent for longer than their period. One transaction.
pub fn tick<S: Store + Atomic>(store: &S, now: Timestamp) -> Result<Report> {
    let mut report = Report::default();
    store.atomically(&mut |s| {
        report = Report::default();
        let devices = s.deviation_devices()?;
        let names: Vec<String> = devices
            .iter()
            .map(|d| subject_key_device(d.device_key))
            .collect();
        let mut states: HashMap<String, DeviationState> =
            s.deviation_states(&names)?.into_iter().collect();
        for (device, name) in devices.iter().zip(names) {
            let Some(secs) = device.settings.no_connection_secs else {
                continue;
            };
            let condition = Condition::no_connection(secs)?;
            let mut state = states.remove(&name).unwrap_or_default();
            let st = state
                .entry(ConditionKey::NoConnection)
                .or_insert(AlarmState {
                    // Never heard from: silent since it was created or deviations were turned on.
                    evaluated_to: Some(device.since),
                    open: None,
                });
            let run = st.run(&condition, &[Observation::Tick { now }]);
            if run.state == *st {
                continue;
            }
            *st = run.state;
            if !run.transitions.is_empty() {
                for input in s.deviation_inputs(device.device_key)? {
                    apply(s, &input, &condition, &run.transitions, now, &mut report)?;
                }
            }
            s.save_deviation_state(device.tenant.key, &name, &state)?;
        }
        Ok(())
    })?;
    Ok(report)
}

/// Opens or ends the incident of `condition` on the subject's channel for each transition, and
/// writes each one's message.
fn apply(
    s: &dyn Store,
    subject: &DeviationSubject,
    condition: &Condition,
    transitions: &[Transition],
    now: Timestamp,
    report: &mut Report,
) -> Result<()> {
    for t in transitions {
        match *t {
            // An alarm that goes on without an incident (it opened before deviations were
            // turned on, or the input was added while it was open) gets one now, with the
            // alarm's own start.
            Transition::Opened(alarm) | Transition::Updated(alarm) => {
                if s.active_incident(&subject.tenant, subject.channel, condition.key())?
                    .is_some()
                {
                    continue;
                }
                let unit = if condition.key() == ConditionKey::NoConnection {
                    "s"
                } else {
                    subject.unit.as_str()
                };
                let incident = s.open_incident(
                    &subject.tenant,
                    subject.channel,
                    condition.key(),
                    &NewIncident {
                        kind: condition.kind(),
                        deviation: condition.deviation(),
                        limit: Some(alarm.threshold.value()),
                        measurement: Some(alarm.opened_value),
                        unit: Unit::parse(unit).map_err(|e| Error::Corrupt(e.to_string()))?,
                        start: alarm.opened_at,
                    },
                )?;
                report.opened += 1;
                enqueue(s, subject, &incident, "start", now, report)?;
            }
            Transition::Closed { at, .. } => {
                let Some(open) =
                    s.active_incident(&subject.tenant, subject.channel, condition.key())?
                else {
                    continue;
                };
                let incident = s.end_incident(&subject.tenant, open.id, at)?;
                report.ended += 1;
                enqueue(s, subject, &incident, "end", now, report)?;
            }
        }
    }
    Ok(())
}

/// Writes the message about `incident` (after `event`: start, confirm1, confirm2, end) to the
/// outbox, with a new `MessageId` kept by every retry; the idempotency key makes one per event.
fn enqueue(
    s: &dyn Store,
    subject: &DeviationSubject,
    incident: &Incident,
    event: &str,
    now: Timestamp,
    report: &mut Report,
) -> Result<()> {
    let id = Uuid::generate()?;
    let message = Message::about(
        incident,
        &subject.input,
        &subject.org_uuid,
        &id.to_string(),
        now,
    )?;
    let payload = Outgoing::new(&message, incident.id)?.to_json()?;
    let key = format!("elpro:{}:{event}", incident.id);
    if s.enqueue(&subject.tenant, TOPIC, &key, &payload, now)? {
        report.messages += 1;
    }
    Ok(())
}

/// A person with Modify confirms an incident: the first confirmation, then the second; each
/// writes its message (when the organization's deviations are on) in the same transaction.
pub fn confirm<S: Store + Atomic>(
    store: &S,
    tenant: &crate::ports::Tenant,
    id: i64,
    now: Timestamp,
) -> Result<Incident> {
    let mut out = None;
    store.atomically(&mut |s| {
        let incident = s.confirm_incident(tenant, id, now)?;
        let event = if incident.confirm2.is_some() {
            "confirm2"
        } else {
            "confirm1"
        };
        if s.deviation_broker(tenant.id())?.is_some() {
            let subject = s.incident_subject(tenant, id)?;
            enqueue(s, &subject, &incident, event, now, &mut Report::default())?;
        }
        out = Some(incident);
        Ok(())
    })?;
    out.ok_or_else(|| Error::Corrupt("confirmation gave no incident".into()))
}

/// The broker connection settings of an organization, the password opened.
pub struct BrokerLogin {
    pub address: String,
    /// `vhost:user`: RabbitMQ's MQTT plugin selects the vhost by it.
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BrokerLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLogin")
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &"<secret>")
            .finish()
    }
}

/// What the sealed password is bound to.
pub fn seal_context(org: fieldline_domain::OrgId) -> String {
    format!("deviation-broker:{}", org.as_str())
}

impl BrokerLogin {
    pub fn open(
        broker: &StoredBroker,
        key: &SealKey,
        org: fieldline_domain::OrgId,
    ) -> Result<Self> {
        Ok(BrokerLogin {
            address: broker.address.clone(),
            username: format!("{}:{}", broker.vhost, broker.username),
            password: key.open(&broker.password_sealed, &seal_context(org))?,
        })
    }
}

/// Publishes one message at QoS 1: `Ok` once the broker acknowledged it.
pub trait Publisher {
    fn publish(
        &mut self,
        login: &BrokerLogin,
        topic: &str,
        payload: &[u8],
    ) -> std::result::Result<(), String>;
}

/// What [`publish`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

/// When an organization's messages are tried again after its broker failed for the
/// `attempts`-th time: 5 s doubling up to 5 minutes.
pub fn retry_delay_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(6);
    (5_i64 << exp).min(300)
}

/// Sends the outbox's deviation messages while `more_time()` says so, in order per organization:
/// a broker that fails stops its organization's messages until the retry, and the others go on.
pub fn publish(
    store: &dyn Store,
    key: Option<&SealKey>,
    publisher: &mut dyn Publisher,
    clock: &dyn Fn() -> Timestamp,
    more_time: &mut dyn FnMut() -> bool,
) -> Result<Published> {
    let mut done = Published::default();
    while more_time() {
        let now = clock();
        let batch = store.claim_in_order(TOPIC, now, now.add_secs(LEASE_SECS), CLAIM)?;
        if batch.is_empty() {
            break;
        }
        let mut stopped: HashMap<String, ()> = HashMap::new();
        let mut logins: HashMap<String, BrokerLogin> = HashMap::new();
        let mut progress = false;
        for m in &batch {
            let org = m.org.as_str().to_owned();
            if stopped.contains_key(&org) {
                continue;
            }
            let fail = |why: String, done: &mut Published| -> Result<()> {
                let at = clock().add_secs(retry_delay_secs(m.attempts));
                store.retry_org_later(TOPIC, m.org, at, &why)?;
                done.failed += 1;
                done.last_error = Some(why);
                Ok(())
            };
            if !logins.contains_key(&org) {
                let login = match (store.deviation_broker(m.org)?, key) {
                    (None, _) => Err("the organization has no deviation broker".to_owned()),
                    (Some(_), None) => Err("the variable broker_secret is not set".to_owned()),
                    (Some(b), Some(k)) => {
                        BrokerLogin::open(&b, k, m.org).map_err(|e| e.to_string())
                    }
                };
                match login {
                    Ok(l) => {
                        logins.insert(org.clone(), l);
                    }
                    Err(why) => {
                        fail(why, &mut done)?;
                        stopped.insert(org, ());
                        continue;
                    }
                }
            }
            let outgoing =
                Outgoing::from_json(&m.payload).map_err(|e| Error::Corrupt(e.to_string()))?;
            match publisher.publish(&logins[&org], &outgoing.topic, outgoing.body.as_bytes()) {
                Ok(()) => {
                    store.mark_sent(m.id, clock())?;
                    done.sent += 1;
                    progress = true;
                }
                Err(why) => {
                    fail(why, &mut done)?;
                    stopped.insert(org, ());
                }
            }
        }
        if !progress {
            break;
        }
    }
    Ok(done)
}
