//! Validated identifiers. Each is built only by `parse`, so a value of the type is valid.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::InvalidValue;

/// A user's id in the new store: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    /// A fresh time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps a UUID read back from a store.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl std::str::FromStr for UserId {
    type Err = InvalidValue;

    /// A user id as `Display` writes it (a UUID's hyphenated text).
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| InvalidValue::new("is not a UUID"))
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Implements `Display`, `AsRef<str>`, and serde as the string for a string newtype whose
/// only constructor is `parse`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Refuses an empty value, or one whose length `len` (in `unit`) is over `max`.
fn check_length(s: &str, len: usize, max: usize, unit: &str) -> Result<(), InvalidValue> {
    if s.is_empty() {
        return Err(InvalidValue::new("is empty"));
    }
    if len > max {
        return Err(InvalidValue::new(format!("is longer than {max} {unit}")));
    }
    Ok(())
}

/// The id a legacy system gave a user, as text (integer keys are written in decimal).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegacyId(String);

impl LegacyId {
    /// Longest legacy id accepted, in bytes.
    pub const MAX_LEN: usize = 255;

    /// A non-empty id of at most 255 bytes without control characters.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        check_length(s, s.len(), Self::MAX_LEN, "bytes")?;
        if has_control(s) {
            return Err(InvalidValue::new("contains a control character"));
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(LegacyId);

/// An email address, trimmed. Equality and uniqueness use [`Email::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    /// Trims surrounding whitespace and checks the shape `local@domain`: one `@`, a local part
    /// of at most 64 bytes, a domain of dot-separated labels of letters, digits and hyphens
    /// (internationalised labels as Unicode letters), and no whitespace or control characters.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        check_length(s, s.len(), Self::MAX_LEN, "bytes")?;
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidValue::new(
                "contains whitespace or a control character",
            ));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(InvalidValue::new("has no @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') && !local.starts_with('"') {
            return Err(InvalidValue::new("has an invalid local part"));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if domain.is_empty() || !domain.split('.').all(label_ok) {
            return Err(InvalidValue::new("has an invalid domain"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The address lower-cased: the key for uniqueness and lookup. Legacy systems that compared
    /// case-sensitively left `Ann@x.com` and `ann@x.com` as two accounts; usher never merges
    /// or drops such a pair silently (see the backfill's duplicate handling).
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

string_newtype!(Email);

/// A username: trimmed, 1 to 128 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Longest username accepted, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Validates a username.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        check_length(s, s.chars().count(), Self::MAX_CHARS, "characters")?;
        if has_control(s) {
            return Err(InvalidValue::new("contains a control character"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The username lower-cased, for uniqueness and lookup.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

string_newtype!(Username);

/// A phone number in E.164: `+`, a country code, and 7 to 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Accepts only the canonical form `+<digits>`; messy input is normalised by the
    /// mapping's phone transform (which knows the default region) before it gets here.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let Some(digits) = s.strip_prefix('+') else {
            return Err(InvalidValue::new(
                "is not in E.164 form (+<country code><number>)",
            ));
        };
        if !(7..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(InvalidValue::new(
                "is not in E.164 form (+<country code><number>)",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(PhoneE164);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_normalised_for_uniqueness() {
        let e = Email::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee@Example.COM");
        assert_eq!(e.normalized(), "ann.lee@example.com");
        assert_eq!(e.domain(), "Example.COM");
        assert!(Email::parse("ünï@bücher.de").is_ok());
    }

    #[test]
    fn malformed_emails_say_what_is_wrong() {
        for (bad, why) in [
            ("", "is empty"),
            ("no-at.example.com", "has no @"),
            ("@example.com", "has an invalid local part"),
            ("a@", "has an invalid domain"),
            ("a@-x.com", "has an invalid domain"),
            ("a b@x.com", "contains whitespace or a control character"),
            ("a@x..com", "has an invalid domain"),
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().to_string(), why, "{bad:?}");
        }
    }

    #[test]
    fn e164_needs_the_canonical_form() {
        assert!(PhoneE164::parse("+14155550123").is_ok());
        for bad in [
            "4155550123",
            "+1 415 555 0123",
            "+0123456789",
            "+123",
            "+1234567890123456",
        ] {
            assert!(PhoneE164::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_ids_are_non_empty_printable_and_bounded() {
        assert!(LegacyId::parse("42").is_ok());
        assert!(LegacyId::parse("").is_err());
        assert!(LegacyId::parse("a\nb").is_err());
        assert!(LegacyId::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn user_ids_sort_by_creation() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }
}
