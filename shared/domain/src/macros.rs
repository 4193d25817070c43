//! Plumbing shared by the string-like newtypes.

/// `Display`, `FromStr`, `TryFrom<&str>`/`TryFrom<String>`, and serde as a validated string, for a
/// type with `fn parse(&str) -> Result<Self, ParseError>` and `fn as_str(&self) -> &str`.
macro_rules! string_type {
    ($ty:ty) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::error::ParseError;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $crate::error::ParseError;
            fn try_from(s: &str) -> ::std::result::Result<Self, Self::Error> {
                <$ty>::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::error::ParseError;
            fn try_from(s: String) -> ::std::result::Result<Self, Self::Error> {
                <$ty>::parse(&s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$ty>::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}
