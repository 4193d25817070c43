//! E-mail through Postmark's HTTP API (`POST https://api.postmarkapp.com/email`, JSON, the
//! server token in `X-Postmark-Server-Token`), for platforms where a component has outbound
//! HTTP but no sockets. The URL is a variable, so that a compatible relay can stand in.

use fieldline_domain::notify::Mail;
use fieldline_service::notifier::{Mailer, SendError};
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

pub struct Postmark {
    pub url: String,
    pub token: String,
    pub from: String,
    /// Postmark's message stream (`outbound` unless the server has another).
    pub stream: String,
}

/// The JSON body of one e-mail.
pub fn body(mail: &Mail, from: &str, stream: &str) -> serde_json::Value {
    json!({
        "From": from,
        "To": mail.to,
        "Subject": mail.subject,
        "TextBody": mail.text,
        "HtmlBody": mail.html,
        "MessageStream": stream,
        "Headers": [
            {"Name": "Message-ID", "Value": format!("<{}>", mail.message_id)},
            {"Name": "Auto-Submitted", "Value": "auto-generated"}
        ]
    })
}

impl Mailer for Postmark {
    fn send(&mut self, mail: &Mail) -> Result<(), SendError> {
        let request = Request::builder()
            .method(Method::Post)
            .uri(self.url.as_str())
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .header("x-postmark-server-token", self.token.as_str())
            .body(body(mail, &self.from, &self.stream).to_string())
            .build();
        let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
            .map_err(|e| SendError::Transient(format!("POST {}: {e}", self.url)))?;
        let status = *response.status();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let why = format!(
            "POST {}: {status} {}",
            self.url,
            String::from_utf8_lossy(response.body())
        );
        // 422 is Postmark's refusal of this message; 401, 429 and 5xx pass.
        if status == 422 {
            Err(SendError::Permanent(why))
        } else {
            Err(SendError::Transient(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_postmarks_email_object() {
        let mail = Mail {
            to: "ops@example.com".into(),
            subject: "S".into(),
            text: "T".into(),
            html: "<p>H</p>".into(),
            message_id: "alarm.x.1@fieldline.invalid".into(),
        };
        let b = body(&mail, "Fieldline <a@example.com>", "outbound");
        assert_eq!(b["From"], "Fieldline <a@example.com>");
        assert_eq!(b["To"], "ops@example.com");
        assert_eq!(
            (&b["Subject"], &b["TextBody"], &b["HtmlBody"]),
            (&"S".into(), &"T".into(), &"<p>H</p>".into())
        );
        assert_eq!(b["MessageStream"], "outbound");
        assert_eq!(b["Headers"][0]["Name"], "Message-ID");
        assert_eq!(b["Headers"][0]["Value"], "<alarm.x.1@fieldline.invalid>");
    }
}
