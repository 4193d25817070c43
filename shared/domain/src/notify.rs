//! When a channel's alarms turn into e-mails: the rules of Sensorbis's threshold notifications
//! over the [`alarm`](crate::alarm) engine's transitions, pure and tested here.
//!
//! A channel's stored row is a [`ChannelAlarms`]: the engine's [`AlarmState`] of each of its
//! conditions, and the [`MailBook`] of what was mailed about it. After each run the notifier
//! tells it how many alarm changes (openings and closings) the run's points caused, and
//! [`ChannelAlarms::decide`] answers whether one e-mail goes now:
//! - at most one e-mail per channel within the device's minimum interval: changes within it are
//!   held, and when it has passed one e-mail reports the channel as it is then (so an alarm that
//!   flaps twenty times in ten minutes gives one e-mail, and the flapping that was held is
//!   reported, never dropped);
//! - an alarm e-mail when an alarm is open, a "back to normal" e-mail when none is and the last
//!   e-mail said there was one (an alarm that opened and closed between two e-mails is mailed
//!   as an alarm that is over);
//! - optionally a reminder every `reminder_secs` while an alarm stays open (off by default).
//!
//! The per-organization daily cap and the address verification are the notifier's, since they
//! span channels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alarm::{Alarm, AlarmState, ConditionKey, Transition};
use crate::time::Timestamp;

/// An alarm that closed, as the notifier keeps it for the next e-mail.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClosedAlarm {
    pub alarm: Alarm,
    pub closed_at: Timestamp,
    pub closing_value: f64,
}

/// What was mailed about one channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailBook {
    /// When the last e-mail about the channel was written to the outbox.
    pub last_mail_at: Option<Timestamp>,
    /// Whether that e-mail said an alarm was open (a "back to normal" e-mail follows it).
    pub mailed_open: bool,
    /// Alarm changes (openings, closings) since the last e-mail, held by the minimum interval.
    pub held: u32,
    /// The latest alarm that closed, for an e-mail about an alarm that is over.
    pub last_closed: Option<ClosedAlarm>,
    /// When the last reminder went.
    pub reminded_at: Option<Timestamp>,
}

/// One channel's stored row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAlarms {
    pub conditions: BTreeMap<ConditionKey, AlarmState>,
    pub mail: MailBook,
}

/// Which e-mail goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MailKind {
    /// An alarm is open, or one opened and closed since the last e-mail.
    Alarm,
    /// The alarm the last e-mail reported has closed, and none is open.
    BackToNormal,
    /// An alarm is still open, `reminder_secs` after the last e-mail.
    Reminder,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Alarm => "alarm",
            MailKind::BackToNormal => "normal",
            MailKind::Reminder => "reminder",
        }
    }
}

/// A device's e-mail settings as the rules use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailSettings {
    /// `notificationsMinInterval`: seconds between two e-mails about one channel (≥ 600).
    pub min_interval_secs: u32,
    /// Seconds between reminders while an alarm stays open; `None`: no reminders.
    pub reminder_secs: Option<u32>,
}

impl ChannelAlarms {
    /// The open alarms, by condition.
    pub fn open(&self) -> impl Iterator<Item = (ConditionKey, &Alarm)> {
        self.conditions
            .iter()
            .filter_map(|(k, s)| s.open.as_ref().map(|a| (*k, a)))
    }

    pub fn is_open(&self) -> bool {
        self.open().next().is_some()
    }

    /// Records a run's transitions (of any condition, in order); returns how many were alarm
    /// changes (openings and closings).
    pub fn record(&mut self, transitions: &[Transition]) -> u32 {
        let mut changes = 0;
        for t in transitions {
            match *t {
                Transition::Opened(_) => changes += 1,
                Transition::Closed { alarm, at, value } => {
                    changes += 1;
                    // Of two conditions closing in one run, the later closing is reported.
                    if self.mail.last_closed.is_none_or(|c| c.closed_at <= at) {
                        self.mail.last_closed = Some(ClosedAlarm {
                            alarm,
                            closed_at: at,
                            closing_value: value,
                        });
                    }
                }
                Transition::Updated(_) => {}
            }
        }
        self.mail.held = self.mail.held.saturating_add(changes);
        changes
    }

    /// Whether an e-mail goes at `now`, by the held changes and the settings. The caller then
    /// sends it (or counts it as withheld) and calls [`mailed`](Self::mailed) either way, so
    /// that a withheld e-mail is not offered again every minute.
    pub fn decide(&self, now: Timestamp, settings: MailSettings) -> Option<MailKind> {
        let last = self.mail.last_mail_at;
        let interval_over =
            last.is_none_or(|t| now >= t.add_secs(i64::from(settings.min_interval_secs)));
        if self.mail.held > 0 {
            if !interval_over {
                return None;
            }
            return Some(if self.is_open() {
                MailKind::Alarm
            } else if self.mail.mailed_open {
                MailKind::BackToNormal
            } else if self.mail.last_closed.is_some() {
                // It opened and closed between two e-mails: it is reported, as over.
                MailKind::Alarm
            } else {
                return None;
            });
        }
        let every = settings.reminder_secs?;
        if !self.is_open() || !interval_over {
            return None;
        }
        let since = self.mail.reminded_at.max(last)?;
        (now >= since.add_secs(i64::from(every))).then_some(MailKind::Reminder)
    }

    /// The e-mail of `kind` went (or was withheld) at `now`.
    pub fn mailed(&mut self, kind: MailKind, now: Timestamp) {
        match kind {
            MailKind::Reminder => self.mail.reminded_at = Some(now),
            MailKind::Alarm | MailKind::BackToNormal => {
                self.mail.last_mail_at = Some(now);
                self.mail.reminded_at = None;
                self.mail.held = 0;
                self.mail.mailed_open = self.is_open();
            }
        }
    }

    /// When the channel next needs a run even without new points: a held e-mail's interval
    /// ends, or a reminder is due. `None`: only new points can change anything.
    pub fn due_at(&self, settings: MailSettings) -> Option<Timestamp> {
        let interval_end = self
            .mail
            .last_mail_at
            .map(|t| t.add_secs(i64::from(settings.min_interval_secs)));
        if self.mail.held > 0 {
            return Some(interval_end.unwrap_or(Timestamp::MIN));
        }
        let every = settings.reminder_secs?;
        if !self.is_open() {
            return None;
        }
        let since = self.mail.reminded_at.max(self.mail.last_mail_at)?;
        Some(
            since
                .add_secs(i64::from(every))
                .max(interval_end.unwrap_or(Timestamp::MIN)),
        )
    }
}

/// One e-mail as the notifier writes it to the outbox and the sender reads it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The `Message-ID` (without angle brackets), derived from the outbox idempotency key: a
    /// second delivery of the same e-mail carries the same one.
    pub message_id: String,
}

impl Mail {
    /// The `Message-ID` for an outbox idempotency key: its letters, digits, `.` and `-`, the
    /// rest as `.`, at `fieldline.invalid` (a domain that never resolves).
    pub fn message_id_for(idempotency_key: &str) -> String {
        let local: String = idempotency_key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        format!("{local}@fieldline.invalid")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Mail, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// `text` with `& < > " '` escaped, for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{Condition, Observation};
    use crate::channel::{Threshold, ThresholdOp};
    use crate::point::Point;

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(T0 + secs * 1000).unwrap()
    }

    const TEN_MINUTES: MailSettings = MailSettings {
        min_interval_secs: 600,
        reminder_secs: None,
    };

    /// Feeds `values` (one a minute from `start` seconds) to a `> 10` channel.
    fn feed(ch: &mut ChannelAlarms, start: i64, values: &[f64]) -> u32 {
        let c = Condition::alarm(Threshold::new(ThresholdOp::Gt, 10.0).unwrap(), false);
        let state = ch.conditions.entry(c.key()).or_default();
        let obs: Vec<_> = (0..)
            .zip(values)
            .map(|(i, &v)| Observation::Value {
                point: Point::new(at(start + i * MIN), v).unwrap(),
                stored_at: at(start + i * MIN),
            })
            .collect();
        let run = state.run(&c, &obs);
        *state = run.state;
        ch.record(&run.transitions)
    }

    /// One cron run at `now`: the decision, and the e-mail marked as gone.
    fn run(ch: &mut ChannelAlarms, now: i64, s: MailSettings) -> Option<MailKind> {
        let kind = ch.decide(at(now), s);
        if let Some(k) = kind {
            ch.mailed(k, at(now));
        }
        kind
    }

    #[test]
    fn an_alarm_then_back_to_normal() {
        let mut ch = ChannelAlarms::default();
        assert_eq!(feed(&mut ch, 0, &[5.0, 12.0]), 1);
        assert_eq!(run(&mut ch, 2 * MIN, TEN_MINUTES), Some(MailKind::Alarm));
        // more exceeding values: an update, no e-mail
        assert_eq!(feed(&mut ch, 3 * MIN, &[15.0]), 0);
        assert_eq!(run(&mut ch, 4 * MIN, TEN_MINUTES), None);
        assert_eq!(ch.due_at(TEN_MINUTES), None);
        // normal again after the interval: back to normal at once
        feed(&mut ch, 20 * MIN, &[9.0]);
        assert_eq!(
            run(&mut ch, 21 * MIN, TEN_MINUTES),
            Some(MailKind::BackToNormal)
        );
        assert!(!ch.mail.mailed_open);
        assert_eq!(run(&mut ch, 40 * MIN, TEN_MINUTES), None);
    }

    #[test]
    fn flapping_within_the_interval_gives_one_email_then_the_held_state() {
        let mut ch = ChannelAlarms::default();
        feed(&mut ch, 0, &[12.0]);
        assert_eq!(run(&mut ch, MIN, TEN_MINUTES), Some(MailKind::Alarm));
        // Flapping every minute for eight minutes, a run each minute: no e-mail.
        for i in 0..8 {
            let v = if i % 2 == 0 { 9.0 } else { 12.0 };
            feed(&mut ch, (2 + i) * MIN, &[v]);
            assert_eq!(run(&mut ch, (2 + i) * MIN + 30, TEN_MINUTES), None, "{i}");
        }
        assert_eq!(ch.mail.held, 8);
        // The interval ends at 11 min: the run that sees it mails the channel as it is.
        assert_eq!(ch.due_at(TEN_MINUTES), Some(at(11 * MIN)));
        assert_eq!(run(&mut ch, 10 * MIN + 59, TEN_MINUTES), None);
        assert_eq!(run(&mut ch, 11 * MIN, TEN_MINUTES), Some(MailKind::Alarm));
        assert_eq!(ch.mail.held, 0);
        assert_eq!(ch.due_at(TEN_MINUTES), None);
    }

    #[test]
    fn an_alarm_over_before_its_email_is_still_reported() {
        let mut ch = ChannelAlarms::default();
        feed(&mut ch, 0, &[12.0]);
        run(&mut ch, MIN, TEN_MINUTES);
        feed(&mut ch, 2 * MIN, &[5.0]);
        assert_eq!(run(&mut ch, 3 * MIN, TEN_MINUTES), None);
        feed(&mut ch, 4 * MIN, &[30.0, 4.0]);
        // at 11 min: normal, and the last e-mail said alarm -> back to normal
        assert_eq!(
            run(&mut ch, 11 * MIN, TEN_MINUTES),
            Some(MailKind::BackToNormal)
        );
        // an alarm that opened and closed in one batch, never mailed: an alarm e-mail
        feed(&mut ch, 30 * MIN, &[12.0, 3.0]);
        assert_eq!(run(&mut ch, 32 * MIN, TEN_MINUTES), Some(MailKind::Alarm));
        let closed = ch.mail.last_closed.unwrap();
        assert_eq!(
            (closed.alarm.opened_value, closed.closing_value),
            (12.0, 3.0)
        );
    }

    #[test]
    fn reminders_only_when_set_and_open() {
        let hourly = MailSettings {
            min_interval_secs: 600,
            reminder_secs: Some(3600),
        };
        let mut ch = ChannelAlarms::default();
        feed(&mut ch, 0, &[12.0]);
        assert_eq!(run(&mut ch, 0, hourly), Some(MailKind::Alarm));
        assert_eq!(ch.due_at(hourly), Some(at(3600)));
        assert_eq!(ch.due_at(TEN_MINUTES), None, "off by default");
        assert_eq!(run(&mut ch, 3599, hourly), None);
        assert_eq!(run(&mut ch, 3600, hourly), Some(MailKind::Reminder));
        assert_eq!(ch.due_at(hourly), Some(at(7200)));
        assert_eq!(run(&mut ch, 5000, hourly), None);
        // closed: no more reminders, a back-to-normal e-mail
        feed(&mut ch, 5000, &[1.0]);
        assert_eq!(run(&mut ch, 5001, hourly), Some(MailKind::BackToNormal));
        assert_eq!(ch.due_at(hourly), None);
        assert_eq!(run(&mut ch, 9000, hourly), None);
    }

    #[test]
    fn message_ids_and_escaping() {
        assert_eq!(
            Mail::message_id_for("alarm:AbC-12:alarm:1700000000000"),
            "alarm.AbC-12.alarm.1700000000000@fieldline.invalid"
        );
        assert_eq!(
            escape_html("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn the_stored_row_round_trips() {
        let mut ch = ChannelAlarms::default();
        feed(&mut ch, 0, &[12.0]);
        run(&mut ch, 0, TEN_MINUTES);
        let json = serde_json::to_string(&ch).unwrap();
        assert!(json.contains("\"AlarmUpper\""), "{json}");
        assert_eq!(serde_json::from_str::<ChannelAlarms>(&json).unwrap(), ch);
    }
}
