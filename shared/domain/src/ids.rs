//! Identifiers. Objects are named by 13-character ids as in Sensorbis (`string (13)`), generated
//! here from 67 random bits so that they are neither guessable nor ordered; devices also carry an
//! RFC 4122 UUID (Proficloud) and organizations one for elproMONITOR's `OrganizationId`.

use std::fmt;

use crate::error::{ParseError, Result};
use crate::random;

/// Length of every short id.
pub const ID_LEN: usize = 13;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Fills `out` with characters of [`ALPHABET`], uniformly (rejection sampling).
fn random_id() -> Result<[u8; ID_LEN]> {
    let mut out = [0u8; ID_LEN];
    let mut filled = 0;
    while filled < ID_LEN {
        for b in random::bytes::<32>()? {
            // 252 = 7 × 36: dropping the 4 values above it keeps every character equally likely.
            if b < 252 && filled < ID_LEN {
                out[filled] = ALPHABET[usize::from(b % 36)];
                filled += 1;
            }
        }
    }
    Ok(out)
}

fn parse_id(what: &'static str, s: &str) -> Result<[u8; ID_LEN], ParseError> {
    if let Some((i, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_alphanumeric()) {
        return Err(ParseError::at(
            what,
            i,
            format!("{c:?} is not allowed; an id has 13 letters or digits"),
        ));
    }
    let bytes: [u8; ID_LEN] = s.as_bytes().try_into().map_err(|_| {
        ParseError::new(
            what,
            format!("an id has 13 characters, {:?} has {}", s, s.len()),
        )
    })?;
    Ok(bytes)
}

macro_rules! short_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Exactly 13 ASCII letters or digits; `Copy`, so it is passed by value.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// A new random id.
            pub fn generate() -> Result<Self> {
                random_id().map($name)
            }

            pub fn parse(s: &str) -> Result<Self, ParseError> {
                parse_id($what, s).map($name)
            }

            pub fn as_str(&self) -> &str {
                // Only ASCII is ever stored.
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.as_str())
            }
        }

        string_type!($name);
    };
}

short_id!(
    /// An organization (Sensorbis federation, Hexastate organization).
    OrgId,
    "organization id"
);
short_id!(
    /// A user account.
    UserId,
    "user id"
);
short_id!(
    /// A device (Sensorbis device, elpro IoModule).
    DeviceId,
    "device id"
);
short_id!(
    /// A sensor of a device (Sensorbis sensor, elpro input).
    SensorId,
    "sensor id"
);
short_id!(
    /// A data channel of a sensor.
    ChannelId,
    "channel id"
);
short_id!(
    /// A stored credential, as listed and revoked in the admin API (never the secret itself).
    TokenId,
    "token id"
);
short_id!(
    /// A saved view of an organization.
    ViewId,
    "view id"
);
short_id!(
    /// An invitation to join an organization.
    InvitationId,
    "invitation id"
);

/// An RFC 4122 UUID (variant 1, version 1–8, not nil), shown hyphenated in lower case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(uuid::Uuid);

impl Uuid {
    /// A new random (version 4) UUID.
    pub fn generate() -> Result<Self> {
        let bytes = random::bytes::<16>()?;
        Ok(Uuid(uuid::Builder::from_random_bytes(bytes).into_uuid()))
    }

    /// Accepts the hyphenated form (`355f6856-e9a4-469f-8f22-3f8b037d064a`), any case.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "uuid";
        if s.len() != 36 {
            return Err(ParseError::new(
                WHAT,
                format!(
                    "expected 36 characters like 355f6856-e9a4-469f-8f22-3f8b037d064a, got {}",
                    s.len()
                ),
            ));
        }
        let u = uuid::Uuid::try_parse(s).map_err(|e| ParseError::new(WHAT, e.to_string()))?;
        if u.get_variant() != uuid::Variant::RFC4122 || !(1..=8).contains(&u.get_version_num()) {
            return Err(ParseError::new(
                WHAT,
                format!("{s} is not an RFC 4122 UUID (wrong variant or version)"),
            ));
        }
        Ok(Uuid(u))
    }

    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }

    fn as_str_buf(&self) -> String {
        self.0.hyphenated().to_string()
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({})", self.0.hyphenated())
    }
}

impl std::str::FromStr for Uuid {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Uuid::parse(s)
    }
}

impl serde::Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str_buf())
    }
}

impl<'de> serde::Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Uuid::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_13_lowercase_alphanumerics_and_distinct() {
        let a = DeviceId::generate().unwrap();
        let b = DeviceId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 13);
        assert!(a
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    }

    #[test]
    fn id_round_trip() {
        for s in ["21eea42dd37bx", "ABCdef0123456"] {
            let id: ChannelId = s.parse().unwrap();
            assert_eq!(id.to_string(), s);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<ChannelId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn bad_ids_are_refused_with_offset() {
        let e = DeviceId::parse("abc-defghijkl").unwrap_err();
        assert_eq!(e.offset, Some(3));
        assert!(DeviceId::parse("short").unwrap_err().message.contains("13"));
        assert!(DeviceId::parse("").is_err());
        assert!(DeviceId::parse("abcdefghijklmn").is_err());
        assert!(serde_json::from_str::<DeviceId>("\"nope\"").is_err());
    }

    #[test]
    fn uuid_rfc4122() {
        let s = "355f6856-e9a4-469f-8f22-3f8b037d064a";
        let u = Uuid::parse(s).unwrap();
        assert_eq!(u.to_string(), s);
        assert_eq!(Uuid::parse(&s.to_uppercase()).unwrap(), u);
        let g = Uuid::generate().unwrap();
        assert_eq!(g.as_uuid().get_version_num(), 4);
        assert_eq!(Uuid::parse(&g.to_string()).unwrap(), g);
        // nil, wrong variant, simple form
        assert!(Uuid::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(Uuid::parse("355f6856-e9a4-469f-cf22-3f8b037d064a").is_err());
        assert!(Uuid::parse("355f6856e9a4469f8f223f8b037d064a").is_err());
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(json, format!("\"{s}\""));
    }
}
