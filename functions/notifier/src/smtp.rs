//! E-mail over SMTP (RFC 5321) to a relay, through `wasi:sockets` (`std::net::TcpStream` on
//! wasm32-wasip2); the host lets the component connect only to what its
//! `allowed_outbound_hosts` lists as `tcp://host:port`, as Spin does.
//!
//! Hand-written, and small: EHLO, optional AUTH PLAIN, MAIL FROM, RCPT TO, DATA, QUIT. The
//! SMTP clients of the Rust registry (lettre's transport, mail-send, async-smtp) are built on
//! tokio or async-std sockets or on socket2, none of which exists on wasm32-wasip2; the message
//! itself is formatted by the `mail-builder` crate. No TLS: the relay is expected on the same
//! host or a private network (a local Postfix that relays onwards with TLS), as is usual for a
//! self-hosted installation.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::Engine as _;
use fieldline_domain::notify::Mail;
use fieldline_service::notifier::{Mailer, SendError};

/// An SMTP relay.
pub struct Smtp {
    /// `host:port`.
    pub address: String,
    pub from: String,
    /// AUTH PLAIN credentials, when the relay wants them.
    pub login: Option<(String, String)>,
    /// The name this client gives in EHLO.
    pub helo: String,
}

/// One connection; reads and writes go through `&TcpStream` (wasm32-wasip2 cannot clone a
/// socket).
struct Session<'a> {
    reader: BufReader<&'a TcpStream>,
    writer: &'a TcpStream,
}

/// A reply: its code and its text lines.
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn error(&self, what: &str) -> SendError {
        let why = format!("{what}: {} {}", self.code, self.text.trim());
        if self.code >= 500 {
            SendError::Permanent(why)
        } else {
            SendError::Transient(why)
        }
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> SendError + '_ {
    move |e| SendError::Transient(format!("{what}: {e}"))
}

impl Session<'_> {
    fn read_reply(&mut self) -> Result<Reply, SendError> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(io("reading the server's reply"))?;
            if n == 0 {
                return Err(SendError::Transient(
                    "the server closed the connection".into(),
                ));
            }
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| SendError::Transient(format!("not an SMTP reply: {line:?}")))?;
            text.push_str(line.get(4..).unwrap_or("").trim_end());
            text.push('\n');
            // `250-` continues, `250 ` ends.
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, text });
            }
        }
    }

    /// Sends one command; a reply with another code than `expect` (or 251, "will forward",
    /// where 250 is expected) is the error.
    fn command(&mut self, line: &str, what: &str, expect: u16) -> Result<Reply, SendError> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(io(what))?;
        let reply = self.read_reply()?;
        if reply.code != expect && !(expect == 250 && reply.code == 251) {
            return Err(reply.error(what));
        }
        Ok(reply)
    }
}

/// The message with every line ending in CRLF and leading dots doubled (RFC 5321 4.5.2),
/// ended by `.`.
fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // `split` gives an empty last piece after a final newline; the CRLF it added ends the
    // message's last line.
    if text.ends_with('\n') {
        out.truncate(out.len() - 2);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The RFC 5322 message: multipart/alternative with the plain text and the HTML.
pub fn format(mail: &Mail, from: &str) -> Result<Vec<u8>, SendError> {
    mail_builder::MessageBuilder::new()
        .from(from)
        .to(mail.to.as_str())
        .subject(mail.subject.as_str())
        .message_id(mail.message_id.as_str())
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .text_body(mail.text.as_str())
        .html_body(mail.html.as_str())
        .write_to_vec()
        .map_err(|e| SendError::Permanent(format!("formatting the message: {e}")))
}

impl Mailer for Smtp {
    fn send(&mut self, mail: &Mail) -> Result<(), SendError> {
        let message = format(mail, &self.from)?;
        let addr = self
            .address
            .to_socket_addrs()
            .map_err(io("resolving the SMTP relay"))?
            .next()
            .ok_or_else(|| SendError::Transient(format!("{} has no address", self.address)))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .or_else(|_| TcpStream::connect(addr))
            .map_err(|e| {
                SendError::Transient(format!(
                    "connecting to the SMTP relay {addr}: {e} (is it running, and is \
                     tcp://{addr} in the notifier's allowed_outbound_hosts?)"
                ))
            })?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
        let mut s = Session {
            reader: BufReader::new(&stream),
            writer: &stream,
        };
        // On wasm32-wasip2 a refused connection may show only here, at the first read.
        let greeting = s.read_reply().map_err(|e| match e {
            SendError::Transient(w) => SendError::Transient(format!(
                "no greeting from the SMTP relay {addr}: {w} (is it running?)"
            )),
            other => other,
        })?;
        if greeting.code != 220 {
            return Err(greeting.error("greeting"));
        }
        s.command(&format!("EHLO {}", self.helo), "EHLO", 250)?;
        if let Some((user, password)) = &self.login {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
            s.command(&format!("AUTH PLAIN {token}"), "AUTH", 235)?;
        }
        let sender = bare_address(&self.from);
        s.command(&format!("MAIL FROM:<{sender}>"), "MAIL FROM", 250)?;
        s.command(&format!("RCPT TO:<{}>", mail.to), "RCPT TO", 250)?;
        s.command("DATA", "DATA", 354)?;
        s.writer
            .write_all(&dot_stuffed(&message))
            .map_err(io("sending the message"))?;
        let accepted = s.read_reply()?;
        if accepted.code != 250 {
            return Err(accepted.error("end of DATA"));
        }
        // Accepted: a failing QUIT changes nothing.
        let _ = s.command("QUIT", "QUIT", 221);
        Ok(())
    }
}

/// `alerts@example.com` from `Fieldline <alerts@example.com>` or from itself.
fn bare_address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_crlf_and_dots_are_doubled() {
        assert_eq!(dot_stuffed(b"a\n.b\r\nc\n"), b"a\r\n..b\r\nc\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a"), b"a\r\n.\r\n");
    }

    #[test]
    fn addresses() {
        assert_eq!(bare_address("Fieldline <a@b.c>"), "a@b.c");
        assert_eq!(bare_address(" a@b.c "), "a@b.c");
    }

    #[test]
    fn the_message_has_both_parts_and_the_message_id() {
        let mail = Mail {
            to: "ops@example.com".into(),
            subject: "Threshold exceeded: Kühlraum".into(),
            text: "Value 12 °C".into(),
            html: "<p>Value 12 °C</p>".into(),
            message_id: "alarm.x.1@fieldline.invalid".into(),
        };
        let m = String::from_utf8(format(&mail, "alerts@example.com").unwrap()).unwrap();
        assert!(
            m.contains("Message-ID: <alarm.x.1@fieldline.invalid>"),
            "{m}"
        );
        assert!(m.contains("multipart/alternative"), "{m}");
        assert!(m.contains("text/html"), "{m}");
        assert!(m.contains("Auto-Submitted: auto-generated"), "{m}");
        assert!(
            m.contains("To: <ops@example.com>") || m.contains("To: ops@example.com"),
            "{m}"
        );
    }
}
