//! HTTP plumbing Fieldline's components share, on plain values so that it is tested natively:
//! request bodies inflated from gzip up to a bound, gzip answers for clients that accept them,
//! the client's address, and the credentials of an `Authorization` header. Each API words its
//! own errors; this crate only says what went wrong.

use std::borrow::Cow;
use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The client's address without its port (the port changes per connection), from Spin's
/// `spin-client-addr` header: what per-client limits are keyed by.
pub fn client_ip(spin_client_addr: Option<&str>) -> String {
    let addr = spin_client_addr.map_or("unknown", str::trim);
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).to_owned()
}

/// What an `Authorization` header holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// `Bearer <token>`.
    Bearer(String),
    /// `Basic <base64 of user:password>`.
    Basic { user: String, password: String },
    /// Another scheme, or a value that cannot be read as its scheme.
    Unreadable,
}

/// The credentials of an `Authorization` header value (`None`: absent or empty). Schemes are
/// case-insensitive (RFC 9110).
pub fn authorization(value: Option<&str>) -> Option<Authorization> {
    use base64::Engine as _;
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Some(Authorization::Bearer(rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            return Some(Authorization::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            });
        }
    }
    Some(Authorization::Unreadable)
}

/// Why a request body cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the bound, as sent or once inflated.
    TooLarge,
    /// Not valid for its `Content-Encoding`; the message says why.
    Bad(String),
}

/// A request body as its `Content-Encoding` says, inflated when gzip, refused above `max`
/// bytes (as sent and once inflated, so that a small gzip bomb stops early).
pub fn inflate<'a>(
    raw: &'a [u8],
    content_encoding: Option<&str>,
    max: u64,
) -> Result<Cow<'a, [u8]>, BodyError> {
    if raw.len() as u64 > max {
        return Err(BodyError::TooLarge);
    }
    match content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "identity") => Ok(Cow::Borrowed(raw)),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            GzDecoder::new(raw)
                .take(max + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    BodyError::Bad(format!(
                        "Content-Encoding is gzip but the body is not valid gzip: {e}"
                    ))
                })?;
            if out.len() as u64 > max {
                return Err(BodyError::TooLarge);
            }
            Ok(Cow::Owned(out))
        }
        Some(other) => Err(BodyError::Bad(format!(
            "Content-Encoding {other:?} is not supported; send gzip or no encoding"
        ))),
    }
}

/// Whether an `Accept-Encoding` value takes gzip (or `*`), and not with `q=0`.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|value| {
        value.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

/// `data` gzip-compressed (the fast level: answers are compressed per request).
pub fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding() {
        for yes in ["gzip", "deflate, gzip", "GZIP;q=0.5", "*", "br, gzip;q=1"] {
            assert!(accepts_gzip(Some(yes)), "{yes}");
        }
        for no in ["", "identity", "deflate", "gzip;q=0", "gzip; q=0.0, br"] {
            assert!(!accepts_gzip(Some(no)), "{no}");
        }
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn bodies() {
        let data = b"x".repeat(1000);
        let z = gzip(&data).unwrap_or_default();
        assert_eq!(inflate(&z, Some("gzip"), 1000).as_deref(), Ok(&data[..]));
        assert_eq!(inflate(&z, Some(" GZIP "), 999), Err(BodyError::TooLarge));
        assert_eq!(inflate(&data, None, 999), Err(BodyError::TooLarge));
        assert_eq!(
            inflate(&data, Some("identity"), 1000).as_deref(),
            Ok(&data[..])
        );
        assert!(matches!(
            inflate(b"not gzip", Some("gzip"), 1000),
            Err(BodyError::Bad(_))
        ));
        assert!(
            matches!(inflate(b"x", Some("br"), 1000), Err(BodyError::Bad(m)) if m.contains("br"))
        );
        assert_eq!(client_ip(Some("127.0.0.1:5555")), "127.0.0.1");
        assert_eq!(client_ip(Some("[::1]:5555")), "[::1]");
        assert_eq!(client_ip(None), "unknown");
    }

    #[test]
    fn authorization_headers() {
        assert_eq!(authorization(None), None);
        assert_eq!(authorization(Some("  ")), None);
        assert_eq!(
            authorization(Some("bearer abc.def")),
            Some(Authorization::Bearer("abc.def".into()))
        );
        // "alice@example.com:pw:with:colons"
        assert_eq!(
            authorization(Some("Basic YWxpY2VAZXhhbXBsZS5jb206cHc6d2l0aDpjb2xvbnM=")),
            Some(Authorization::Basic {
                user: "alice@example.com".into(),
                password: "pw:with:colons".into()
            })
        );
        for bad in [
            "Bearer",
            "Bearer  ",
            "Basic !!!",
            "Basic bm9jb2xvbg==",
            "Digest x",
        ] {
            assert_eq!(
                authorization(Some(bad)),
                Some(Authorization::Unreadable),
                "{bad}"
            );
        }
    }

    #[test]
    fn gzip_round_trip() {
        let data = b"auto~watt,uuid=x value=1 1\n".repeat(100);
        let z = gzip(&data).unwrap_or_default();
        assert!(z.len() < data.len());
        let mut out = Vec::new();
        GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap_or_default();
        assert_eq!(out, data);
    }
}
