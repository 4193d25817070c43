//! Bounded strings, with the lengths of the Sensorbis field tables (counted in characters).

use crate::error::ParseError;

/// Checks length (in characters) and characters; `multiline` allows tab, CR and LF.
fn check_text(
    what: &'static str,
    s: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<(), ParseError> {
    if let Some((i, c)) = s
        .char_indices()
        .find(|&(_, c)| c.is_control() && !(multiline && matches!(c, '\t' | '\r' | '\n')))
    {
        return Err(ParseError::at(
            what,
            i,
            format!("control character {c:?} is not allowed"),
        ));
    }
    let len = s.chars().count();
    if len < min || len > max {
        let range = if min == 0 {
            format!("at most {max}")
        } else {
            format!("{min} to {max}")
        };
        return Err(ParseError::new(
            what,
            format!("must have {range} characters, has {len}"),
        ));
    }
    if min > 0 && s.trim().is_empty() {
        return Err(ParseError::new(what, "must not be blank"));
    }
    Ok(())
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:literal, $max:literal, $multiline:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MIN_CHARS: usize = $min;
            pub const MAX_CHARS: usize = $max;

            pub fn parse(s: &str) -> Result<Self, ParseError> {
                check_text($what, s, $min, $max, $multiline)?;
                Ok($name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        string_type!($name);
    };
}

bounded_text!(
    /// A device, sensor or channel name: 1–30 characters.
    Name, "name", 1, 30, false
);
bounded_text!(
    /// An organization (federation) name: 1–50 characters.
    OrgName, "organization name", 1, 50, false
);
bounded_text!(
    /// A saved view's name: 1–50 characters.
    ViewName, "view name", 1, 50, false
);
bounded_text!(
    /// A description (`descr`): up to 1000 characters, line breaks allowed.
    Description, "description", 0, 1000, true
);
bounded_text!(
    /// A unit of measurement (`°C`, `%RH`, `kWh`): up to 1000 characters.
    Unit, "unit", 0, 1000, false
);
bounded_text!(
    /// A channel's special purpose (`lat`, `lon`): up to 10 characters.
    Purpose, "purpose", 0, 10, false
);
bounded_text!(
    /// A short free text of up to 100 characters: `vendorId`, `customerId`, a token's label,
    /// device metadata (site, model, firmware, ...).
    ShortText, "text", 0, 100, false
);

macro_rules! empty_default {
    ($($name:ident),*) => {$(
        impl Default for $name {
            fn default() -> Self {
                $name(String::new())
            }
        }
    )*};
}
empty_default!(Description, Unit, Purpose, ShortText);

/// An IANA time zone name (`UTC`, `Europe/Rome`, `America/Argentina/Buenos_Aires`): 1–64 of
/// letters, digits and `/ _ + -`. The name is kept for display; no zone database is consulted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "time zone";
        if let Some((i, c)) = s
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-')))
        {
            return Err(ParseError::at(
                WHAT,
                i,
                format!("{c:?} is not allowed in an IANA time zone name such as Europe/Rome"),
            ));
        }
        if s.is_empty() || s.len() > 64 {
            return Err(ParseError::new(WHAT, "must have 1 to 64 characters"));
        }
        Ok(TimeZoneName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TimeZoneName {
    fn default() -> Self {
        TimeZoneName("UTC".into())
    }
}

string_type!(TimeZoneName);

/// An e-mail address, in lower case so that one mailbox is one account however it is typed.
///
/// The check is deliberately simple (one `@`, a non-empty local part, a dotted domain of letters,
/// digits and hyphens, no spaces); whether the mailbox exists is proven by the invitation or
/// verification e-mail, not by syntax.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "e-mail address";
        if s.len() > 254 {
            return Err(ParseError::new(WHAT, "must have at most 254 characters"));
        }
        if let Some((i, c)) = s
            .char_indices()
            .find(|&(_, c)| c.is_whitespace() || c.is_control())
        {
            return Err(ParseError::at(WHAT, i, format!("{c:?} is not allowed")));
        }
        let Some(at) = s.rfind('@') else {
            return Err(ParseError::new(WHAT, format!("{s:?} has no '@'")));
        };
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.is_empty() || local.len() > 64 {
            return Err(ParseError::new(
                WHAT,
                "the part before '@' must have 1 to 64 characters",
            ));
        }
        if local.contains('@') {
            return Err(ParseError::at(
                WHAT,
                s.find('@').unwrap_or(0),
                "more than one '@'",
            ));
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(ParseError::at(
                WHAT,
                at + 1,
                format!("{domain:?} is not a domain name like example.com"),
            ));
        }
        Ok(Email(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_type!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_bounds_count_characters() {
        assert!(Name::parse("").is_err());
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(30)).is_ok());
        assert!(Name::parse(&"x".repeat(31)).is_err());
        // 30 two-byte characters are 60 bytes but still 30 characters.
        assert!(Name::parse(&"é".repeat(30)).is_ok());
        let e = Name::parse("a\u{7}b").unwrap_err();
        assert_eq!(e.offset, Some(1));
    }

    #[test]
    fn description_allows_newlines_and_up_to_1000() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse("line 1\nline 2\ttab").is_ok());
        assert!(Description::parse(&"d".repeat(1000)).is_ok());
        let e = Description::parse(&"d".repeat(1001)).unwrap_err();
        assert_eq!(e.message, "must have at most 1000 characters, has 1001");
        assert!(Purpose::parse("12345678901").is_err());
        assert!(OrgName::parse(&"o".repeat(50)).is_ok());
        assert!(OrgName::parse(&"o".repeat(51)).is_err());
    }

    #[test]
    fn text_round_trip() {
        let n = Name::parse("Boiler room").unwrap();
        assert_eq!(n.to_string().parse::<Name>().unwrap(), n);
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"Boiler room\"");
        assert_eq!(serde_json::from_str::<Name>(&json).unwrap(), n);
        assert!(serde_json::from_str::<Name>("\"\"").is_err());
    }

    #[test]
    fn email() {
        let e = Email::parse("Ada.Lovelace+iot@Example.COM").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace+iot@example.com");
        assert_eq!(e.to_string().parse::<Email>().unwrap(), e);
        for bad in [
            "",
            "no-at.example.com",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@-b.com",
            "a@b..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn time_zone_names() {
        assert!(TimeZoneName::parse("Europe/Rome").is_ok());
        assert!(TimeZoneName::parse("Etc/GMT+1").is_ok());
        assert_eq!(
            TimeZoneName::parse("Europe Rome").unwrap_err().offset,
            Some(6)
        );
        assert_eq!(TimeZoneName::default().as_str(), "UTC");
    }
}
