//! The threshold notifier: every minute on Spin's cron trigger (`[[trigger.cron]]`), and on
//! demand through `POST /notifier/run` with the operator's credential (the secret variable
//! `operator_token`) for platforms without a cron trigger. A run:
//! 1. evaluates the points stored since the last run and writes the e-mails they cause to the
//!    outbox (`fieldline_service::notifier::run`);
//! 2. drains the outbox's e-mails through the transport the variables choose
//!    (`fieldline_service::notifier::deliver`): SMTP to a relay (`mail_transport = "smtp"`, over
//!    wasi:sockets) or Postmark's HTTP API (`"postmark"`), or none (`"none"`: they wait);
//! 3. publishes the elproMONITOR deviation messages of the outbox to each organization's
//!    RabbitMQ over MQTT (`fieldline_service::deviations::publish`, docs/deviations.md);
//! 4. deletes the e-mails and deviation messages delivered more than a week ago.
//!
//! `GET /notifier/verify?token=...` is the one-time link of the verification e-mail that
//! confirms a device's notification address.

use std::time::{Duration, Instant};

use fieldline_component::json_answer;
use fieldline_domain::Timestamp;
use fieldline_service::deviations::Published;
use fieldline_service::notifier::{self, Delivery, Mailer, Report, Settings};
use serde_json::json;
use spin_sdk::http::{Request, Response};

mod broker;
mod postmark;
mod smtp;

wit_bindgen::generate!({
    world: "spin-cron",
    path: "../../wit/deps/spin-cron",
});

fn variable(name: &str) -> Option<String> {
    fieldline_component::variable(name)
}

fn settings() -> Settings {
    Settings {
        console_url: variable("console_url").unwrap_or_else(|| "http://127.0.0.1:3000".into()),
        // The cron run has no request to learn the address from: the installation's public base
        // URL (the one the Sensorbis API gives devices), else the address scripts/up serves.
        public_url: variable("public_base_url").unwrap_or_else(|| "http://127.0.0.1:3000".into()),
    }
}

/// The transport the variables choose; `None` for `mail_transport = "none"`.
fn mailer() -> Result<Option<Box<dyn Mailer>>, String> {
    let from =
        variable("mail_from").unwrap_or_else(|| "Fieldline <alerts@fieldline.invalid>".into());
    match variable("mail_transport").as_deref().unwrap_or("smtp") {
        "smtp" => Ok(Some(Box::new(smtp::Smtp {
            address: variable("smtp_address").unwrap_or_else(|| "127.0.0.1:25".into()),
            from,
            login: variable("smtp_username")
                .map(|u| (u, variable("smtp_password").unwrap_or_default())),
            helo: variable("smtp_helo").unwrap_or_else(|| "fieldline.localhost".into()),
        }))),
        "postmark" => Ok(Some(Box::new(postmark::Postmark {
            url: variable("postmark_url")
                .unwrap_or_else(|| "https://api.postmarkapp.com/email".into()),
            token: variable("postmark_token").ok_or(
                "mail_transport is \"postmark\" but the variable postmark_token is not set",
            )?,
            from,
            stream: variable("postmark_stream").unwrap_or_else(|| "outbound".into()),
        }))),
        "none" => Ok(None),
        other => Err(format!(
            "mail_transport is {other:?}: use \"smtp\", \"postmark\" or \"none\""
        )),
    }
}

/// How long a run may work: evaluation stops taking new batches after half of it, delivery
/// after all of it (the host stops an instance after its request timeout, 30 s by default).
fn budget() -> Duration {
    let secs = variable("notifier_budget_secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// The key the organizations' broker passwords are sealed with (the secret variable
/// `broker_secret`); `None` while it is not set (deviation messages then wait).
fn broker_key() -> Option<fieldline_domain::SealKey> {
    let secret = variable("broker_secret")?;
    match fieldline_domain::SealKey::from_secret(secret.as_bytes()) {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("notifier: the variable broker_secret: {e}");
            None
        }
    }
}

/// One run: evaluate, then deliver.
fn work(store: &fieldline_component::Store) -> Result<(Report, Delivery, Published), String> {
    let started = Instant::now();
    let budget = budget();
    let report = notifier::run(store, &settings(), Timestamp::now(), &mut || {
        started.elapsed() < budget / 2
    })
    .map_err(|e| format!("evaluating: {e}"))?;
    let delivery = match mailer()? {
        Some(mut mailer) => notifier::deliver(store, mailer.as_mut(), &Timestamp::now, &mut || {
            started.elapsed() < budget
        })
        .map_err(|e| format!("delivering: {e}"))?,
        None => Delivery::default(),
    };
    let published = fieldline_service::deviations::publish(
        store,
        broker_key().as_ref(),
        &mut broker::Mqtt::default(),
        &Timestamp::now,
        &mut || started.elapsed() < budget,
    )
    .map_err(|e| format!("publishing deviation messages: {e}"))?;
    notifier::purge_sent(store, Timestamp::now(), &mut || started.elapsed() < budget)
        .map_err(|e| format!("purging delivered e-mails: {e}"))?;
    Ok((report, delivery, published))
}

fn summary(r: &Report, d: &Delivery, p: &Published) -> String {
    format!(
        "evaluated {} points of {} channels in {} batches{}: {} alarm changes, {} e-mails queued \
         ({} verification), withheld {} (unconfirmed address) and {} (daily limit); sent {}, \
         failed {}{}; incidents opened {}, ended {}; deviation messages queued {}, published {}, \
         failed {}{}",
        r.points,
        r.channels,
        r.batches,
        if r.drained { "" } else { " (more wait)" },
        r.transitions,
        r.mails,
        r.verification_mails,
        r.withheld_unverified,
        r.withheld_over_cap,
        d.sent,
        d.failed,
        d.last_error
            .as_ref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default(),
        r.incidents_opened,
        r.incidents_ended,
        r.deviation_messages,
        p.sent,
        p.failed,
        p.last_error
            .as_ref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default()
    )
}

struct Notifier;

impl Guest for Notifier {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        // Of several replicas on one database, one does each tick (docs/deploy.md).
        let Some(store) = fieldline_component::store_for_tick("notifier", metadata.timestamp)
            .map_err(Error::Other)?
        else {
            return Ok(());
        };
        let (report, delivery, published) = work(&store).map_err(Error::Other)?;
        println!("notifier: {}", summary(&report, &delivery, &published));
        Ok(())
    }
}

export!(Notifier);

fn html_answer(status: u16, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>",
        t = fieldline_domain::notify::escape_html(title),
        x = fieldline_domain::notify::escape_html(text)
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(body)
        .build()
}

fn run_route(req: &Request) -> Response {
    if let Err(refused) =
        fieldline_component::operator_gate(req, "/notifier/run", "fieldline-notifier")
    {
        return refused;
    }
    match fieldline_component::open_job_store().and_then(|store| work(&store)) {
        Ok((r, d, p)) => json_answer(
            200,
            &json!({
                "points": r.points,
                "channels": r.channels,
                "batches": r.batches,
                "drained": r.drained,
                "alarmChanges": r.transitions,
                "mailsQueued": r.mails,
                "verificationMails": r.verification_mails,
                "withheldUnverified": r.withheld_unverified,
                "withheldOverDailyLimit": r.withheld_over_cap,
                "noAddress": r.no_address,
                "outsideWindow": r.outside_window,
                "stale": r.stale,
                "memberMails": r.member_mails,
                "heldDoNotDisturb": r.held_quiet,
                "digests": r.digests,
                "sent": d.sent,
                "failed": d.failed,
                "lastError": d.last_error,
                "incidentsOpened": r.incidents_opened,
                "incidentsEnded": r.incidents_ended,
                "deviationMessagesQueued": r.deviation_messages,
                "deviationMessagesPublished": p.sent,
                "deviationPublishFailures": p.failed,
                "deviationLastError": p.last_error,
            }),
        ),
        Err(e) => {
            eprintln!("notifier: {e}");
            json_answer(500, &json!({"code": "internal", "message": e}))
        }
    }
}

fn verify_route(req: &Request) -> Response {
    let query = req.query();
    let token = form_token(query);
    let Some(token) = token else {
        return html_answer(
            400,
            "Link incomplete",
            "This link has no token; open the whole link from the e-mail.",
        );
    };
    let store = match fieldline_component::open_store() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("notifier: opening the database: {e}");
            return html_answer(
                500,
                "Try again later",
                "The server could not open its database.",
            );
        }
    };
    match notifier::verify_address(&store, &token, Timestamp::now()) {
        Ok((device, email)) => html_answer(
            200,
            "Address confirmed",
            &format!(
                "{} now receives the threshold notifications of device {}.",
                email.as_str(),
                device.as_str()
            ),
        ),
        Err(fieldline_service::Error::NotFound(_)) => html_answer(
            404,
            "Link not valid",
            "This link was used already, or the device's notification address changed since it was sent.",
        ),
        Err(e) => {
            eprintln!("notifier: verifying an address: {e}");
            html_answer(500, "Try again later", "The server could not confirm the address.")
        }
    }
}

/// `token` of a query string.
fn form_token(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

#[spin_sdk::http_component]
fn handle(req: Request) -> Response {
    let path = req.path().to_owned();
    match path.as_str() {
        "/notifier/run" => run_route(&req),
        "/notifier/verify" => verify_route(&req),
        _ => json_answer(
            404,
            &json!({"code": "not_found", "message": "the notifier has POST /notifier/run and GET /notifier/verify"}),
        ),
    }
}
