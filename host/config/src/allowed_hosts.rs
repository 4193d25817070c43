//! `allowed_outbound_hosts` entries (`https://example.com`, `*://127.0.0.1:*`, `mqtt://*.local:1883`,
//! `http://localhost:8000..8010`) and the check every outbound connection goes through.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    /// `*.example.com`: any subdomain (not the bare domain).
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// The default port of the schemes Spin knows.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "mqtt" => Some(1883),
        "mqtts" => Some(8883),
        "redis" => Some(6379),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        _ => None,
    }
}

impl AllowedHost {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "self" || text == "http://self" {
            return Err(
                "`self` (requests to the application itself) is not supported by this host yet"
                    .into(),
            );
        }
        if text.contains("{{") {
            return Err(
                "a `{{ variable }}` template must be expanded before the entry is parsed".into(),
            );
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            "must have a scheme, such as `https://example.com` or `*://example.com:443`".to_string()
        })?;
        if scheme.is_empty() || !(scheme == "*" || scheme.chars().all(|c| c.is_ascii_lowercase())) {
            return Err(format!("`{scheme}` is not a valid scheme"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err("must not contain a path".into());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::Subdomains(domain.to_ascii_lowercase())
        } else if host.contains('*') {
            return Err("`*` may stand only for the whole host or a leading `*.`".into());
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            // Spin's ranges are Rust ranges: `8000..8010` stops before 8010.
            Some(p) => match p.split_once("..") {
                Some((a, b)) => {
                    let a: u16 = a.parse().map_err(|_| format!("`{p}` is not a port range"))?;
                    let b: u16 = b.parse().map_err(|_| format!("`{p}` is not a port range"))?;
                    if a >= b {
                        return Err(format!("port range `{p}` is empty"));
                    }
                    PortPattern::Range(a, b - 1)
                }
                None => {
                    let n: u16 = p.parse().map_err(|_| format!("`{p}` is not a port"))?;
                    PortPattern::Range(n, n)
                }
            },
            None => match default_port(scheme) {
                Some(n) => PortPattern::Range(n, n),
                None => {
                    return Err(format!(
                        "needs a port: `{scheme}` has no default port (write e.g. `{text}:443` or `{text}:*`)"
                    ))
                }
            },
        };
        Ok(AllowedHost {
            scheme: (scheme != "*").then(|| scheme.to_string()),
            host,
            port,
        })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
            HostPattern::Subdomains(d) => {
                host.len() > d.len() + 1 && host.ends_with(&format!(".{d}"))
            }
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(a, b) => (a..=b).contains(&port),
        };
        scheme_ok && host_ok && port_ok
    }
}

/// A component's whole allow-list.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<AllowedHost>);

impl AllowList {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| AllowedHost::parse(e).map_err(|m| format!("`{e}`: {m}")))
            .collect::<Result<_, _>>()
            .map(AllowList)
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.0.iter().any(|h| h.allows(scheme, host, port))
    }

    /// Whether any entry admits `scheme` (names it, or `*://`).
    pub fn admits_scheme(&self, scheme: &str) -> bool {
        self.0
            .iter()
            .any(|h| h.scheme.as_deref().is_none_or(|s| s == scheme))
    }

    /// Spin's check of a `wasi:sockets` address (spin-factor-outbound-networking): a TCP
    /// connection to `ip:port` is allowed when an entry admits `tcp://ip:port`, a UDP use when
    /// one admits `udp://ip:port`; binding a TCP socket to listen never is. Entries match the
    /// address the guest connects to, so a relay is named by its IP (`tcp://127.0.0.1:25`).
    pub fn allows_socket(&self, addr: std::net::SocketAddr, tcp: bool) -> bool {
        let scheme = if tcp { "tcp" } else { "udp" };
        self.allows(scheme, &addr.ip().to_string(), addr.port())
    }

    /// Checks a URL such as `mqtt://127.0.0.1:1883` or `https://example.com/path`.
    pub fn allows_url(&self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => match p.parse() {
                Ok(p) => (h, Some(p)),
                Err(_) => return false,
            },
            _ => (authority, None),
        };
        match port.or_else(|| default_port(scheme)) {
            Some(port) => self.allows(scheme, host, port),
            None => false,
        }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            HostPattern::Any => "*".to_string(),
            HostPattern::Subdomains(d) => format!("*.{d}"),
            HostPattern::Exact(h) => h.clone(),
        };
        let port = match self.port {
            PortPattern::Any => "*".to_string(),
            PortPattern::Range(a, b) if a == b => a.to_string(),
            PortPattern::Range(a, b) => format!("{a}..{}", u32::from(b) + 1),
        };
        write!(
            f,
            "{}://{host}:{port}",
            self.scheme.as_deref().unwrap_or("*")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    #[test]
    fn default_ports_apply() {
        let l = list(&["https://example.com"]);
        assert!(l.allows_url("https://example.com/a?b"));
        assert!(!l.allows_url("https://example.com:8443/"));
        assert!(!l.allows_url("http://example.com/"));
        assert!(!l.allows_url("https://other.com/"));
    }

    #[test]
    fn wildcards() {
        let l = list(&[
            "*://127.0.0.1:*",
            "https://*.example.com",
            "http://localhost:8000..8011",
        ]);
        assert!(l.allows_url("http://127.0.0.1:1234/"));
        assert!(l.allows_url("mqtt://127.0.0.1:1883"));
        assert!(l.allows_url("https://api.example.com"));
        assert!(!l.allows_url("https://example.com"));
        assert!(l.allows_url("http://localhost:8005/x"));
        assert!(!l.allows_url("http://localhost:8011/x"));
    }

    #[test]
    fn sockets_are_checked_as_spin_checks_them() {
        let l = list(&[
            "tcp://127.0.0.1:1025",
            "udp://[::1]:53",
            "https://example.com",
        ]);
        let v4: std::net::SocketAddr = "127.0.0.1:1025".parse().unwrap();
        let v6: std::net::SocketAddr = "[::1]:53".parse().unwrap();
        assert!(l.allows_socket(v4, true));
        assert!(!l.allows_socket(v4, false), "tcp only");
        assert!(!l.allows_socket("127.0.0.1:1026".parse().unwrap(), true));
        assert!(!l.allows_socket("10.0.0.1:1025".parse().unwrap(), true));
        assert!(l.allows_socket(v6, false));
        assert!(
            !l.allows_socket("93.184.215.14:443".parse().unwrap(), true),
            "https is not tcp"
        );
        assert!(l.admits_scheme("tcp") && l.admits_scheme("udp") && !l.admits_scheme("mqtt"));
        assert!(list(&["*://127.0.0.1:*"]).allows_socket(v4, true));
        assert!(!AllowList::default().allows_socket(v4, true));
        assert!(!AllowList::default().admits_scheme("tcp"));
    }

    #[test]
    fn empty_list_denies_everything() {
        assert!(!AllowList::default().allows_url("http://127.0.0.1:80/"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "example.com",
            "https://ex*ample.com",
            "https://example.com/path",
            "*://example.com",
            "https://example.com:99999",
            "http://self",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "https://example.com:443",
            "*://*:*",
            "http://localhost:8000..8011",
            "mqtt://*.local:1883",
        ] {
            let parsed = AllowedHost::parse(text).expect("valid");
            assert_eq!(parsed.to_string(), text);
            assert_eq!(
                AllowedHost::parse(&parsed.to_string()).expect("valid"),
                parsed
            );
        }
    }
}
