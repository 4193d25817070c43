//! The cron trigger of spin-trigger-cron: `[[trigger.cron]]` with `component` and a six-field
//! `cron_expression` (seconds first, parsed by [`crate::cron`]), evaluated in UTC; each tick is a
//! fresh instance whose `handle-cron-event` gets the tick's time in seconds since the Unix epoch.

use crate::app::App;
use crate::bindings::cron::fermyon::spin_cron::cron_types::{Error, Metadata};
use crate::bindings::cron::SpinCronPre;
use crate::cron::parse_schedule;
use crate::metrics::{metrics, ComponentLabels, InFlight, OutcomeLabels};
use crate::state::Ctx;
use crate::telemetry::Span;
use anyhow::{anyhow, bail, Result};
use opentelemetry::KeyValue;
use std::sync::Arc;

/// Runs one cron event in a fresh instance of `component`, with `timestamp` as its time in
/// seconds: a schedule's tick, or 0 for a run on demand (`fieldline trigger cron`), which the
/// components never skip.
pub async fn handle_event(app: &App, component: &str, timestamp: u64) -> Result<()> {
    let c = app.component(component)?;
    let pre = SpinCronPre::new(app.pre(c).clone()).map_err(|e| {
        anyhow!(
            "component `{component}` does not export the cron trigger's handle-cron-event: {e:#}"
        )
    })?;
    let mut store = app.store(c);
    let mut span = Span::trigger("cron", component);
    if let Some(span) = &mut span {
        span.watch(store.data_mut());
        span.attribute(KeyValue::new(
            "fieldline.cron.timestamp",
            i64::try_from(timestamp).unwrap_or(i64::MAX),
        ));
    }
    let result = run_instance(app, component, &pre, &mut store, timestamp).await;
    if let Some(span) = span {
        span.end_result(result.as_ref().err().map(|e| format!("{e:#}")).as_deref());
    }
    result
}

async fn run_instance(
    app: &App,
    component: &str,
    pre: &SpinCronPre<Ctx>,
    store: &mut wasmtime::Store<Ctx>,
    timestamp: u64,
) -> Result<()> {
    let _running = InFlight::start("cron");
    let run = async {
        let started = std::time::Instant::now();
        let instance = pre.instantiate_async(&mut *store).await?;
        metrics()
            .instantiation
            .get_or_create(&ComponentLabels {
                component: component.to_string(),
            })
            .observe(started.elapsed().as_secs_f64());
        instance
            .call_handle_cron_event(&mut *store, Metadata { timestamp })
            .await
    };
    match tokio::time::timeout(app.options.request_timeout, run).await {
        Err(_) => bail!("timed out after {:?}", app.options.request_timeout),
        Ok(Err(trap)) => Err(anyhow!("{trap:#}")),
        Ok(Ok(Err(Error::Other(m)))) => bail!("{m}"),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}

/// Schedules every `[[trigger.cron]]` until the process stops.
pub fn spawn_all(app: Arc<App>) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for trigger in &app.manifest.cron_triggers {
        let schedule = parse_schedule(&trigger.cron_expression).map_err(|e| anyhow!(e))?;
        let component = trigger.component.clone();
        let app = app.clone();
        let m = metrics();
        let runs = |outcome| {
            m.cron_runs
                .get_or_create(&OutcomeLabels {
                    component: component.clone(),
                    outcome,
                })
                .clone()
        };
        let (ok, failed) = (runs("ok"), runs("failed"));
        let duration = m
            .cron_duration
            .get_or_create(&ComponentLabels {
                component: component.clone(),
            })
            .clone();
        tasks.push(tokio::spawn(async move {
            for next in schedule.upcoming(chrono::Utc) {
                let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let timestamp = u64::try_from(next.timestamp()).unwrap_or(0);
                let started = std::time::Instant::now();
                let result = handle_event(&app, &component, timestamp).await;
                duration.observe(started.elapsed().as_secs_f64());
                match result {
                    Ok(()) => {
                        ok.inc();
                        tracing::info!("cron {component} ok in {:?}", started.elapsed());
                    }
                    Err(e) => {
                        failed.inc();
                        tracing::error!("Component {component} failed: {e:#}");
                    }
                }
            }
        }));
    }
    Ok(tasks)
}
