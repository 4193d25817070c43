//! The cron trigger of spin-trigger-cron: `[[trigger.cron]]` with `component` and a six-field
//! `cron_expression` (seconds first), evaluated in UTC; each tick is a fresh instance whose
//! `handle-cron-event` gets the tick's time in seconds since the Unix epoch.

use crate::app::App;
use anyhow::{anyhow, Result};
use std::str::FromStr;
use std::sync::Arc;

/// Parses an expression as the plugin does: `sec min hour day-of-month month day-of-week [year]`.
pub fn parse_schedule(expression: &str) -> Result<cron::Schedule, String> {
    let fields = expression.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(format!(
            "expected 6 fields (seconds first, e.g. \"1/2 * * * * *\") or 7 with a year, found {fields}"
        ));
    }
    cron::Schedule::from_str(expression).map_err(|e| e.to_string())
}

/// Runs one tick of `component` now.
pub async fn run_once(app: &App, component: &str) -> Result<()> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    app.handle_cron_event(component, timestamp).await
}

/// Schedules every `[[trigger.cron]]` until the process stops.
pub fn spawn_all(app: Arc<App>) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for trigger in &app.manifest.cron_triggers {
        let schedule = parse_schedule(&trigger.cron_expression).map_err(|e| anyhow!(e))?;
        let component = trigger.component.clone();
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for next in schedule.upcoming(chrono::Utc) {
                let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let timestamp = u64::try_from(next.timestamp()).unwrap_or(0);
                let started = std::time::Instant::now();
                match app.handle_cron_event(&component, timestamp).await {
                    Ok(()) => tracing::info!("cron {component} ok in {:?}", started.elapsed()),
                    Err(e) => tracing::error!("Component {component} failed: {e:#}"),
                }
            }
        }));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_and_seven_fields() {
        assert!(parse_schedule("1/2 * * * * *").is_ok());
        assert!(parse_schedule("0 0 * * * * 2030").is_ok());
        assert!(parse_schedule("* * * * *").is_err());
        assert!(parse_schedule("0 0 25 * * *").is_err());
    }

    #[test]
    fn ticks_are_where_the_expression_says() {
        let s = parse_schedule("0 30 * * * *").expect("valid");
        let next: Vec<_> = s.upcoming(chrono::Utc).take(2).collect();
        assert_eq!((next[1] - next[0]).num_minutes(), 60);
        assert_eq!(next[0].format("%M:%S").to_string(), "30:00");
    }
}
