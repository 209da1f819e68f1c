//! The canonical user: what every source maps to and every store and target holds.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use usher_hash::Scheme;

use crate::ids::{Email, LegacyId, PhoneE164, UserId, Username};

/// A user in the new store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// UUIDv7, assigned by usher.
    pub id: UserId,
    /// The email as the user wrote it (trimmed); unique by [`Email::normalized`].
    pub email: Option<Email>,
    /// Whether the legacy system had verified the email. Account linking across sources
    /// requires it (or an explicit setting).
    pub email_verified: bool,
    /// Unique by [`Username::normalized`].
    pub username: Option<Username>,
    /// E.164.
    pub phone: Option<PhoneE164>,
    /// Standard profile fields.
    pub profile: Profile,
    /// Everything else the mapping keeps, as a JSON object.
    pub attributes: Map<String, Value>,
    /// The password hash, in whatever scheme the legacy system used until the user's next
    /// login upgrades it. `None` for users who never had a password here.
    pub credential: Option<Credential>,
    /// Whether the user may log in.
    pub status: Status,
    /// When the user was created in the legacy system (or, if unknown, in usher).
    pub created_at: DateTime<Utc>,
    /// Last change to the user's data, in either system.
    pub updated_at: DateTime<Utc>,
    /// Every (source, legacy id) that is this person.
    pub legacy_links: Vec<LegacyLink>,
    /// How the user arrived; `None` for users registered directly in the new system.
    pub migration: Option<Migration>,
}

/// Profile fields, named as OpenID Connect's standard claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// First name.
    pub given_name: Option<String>,
    /// Last name.
    pub family_name: Option<String>,
    /// The full name as displayed.
    pub name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Short name.
    pub nickname: Option<String>,
    /// Date of birth.
    pub birthdate: Option<NaiveDate>,
    /// BCP 47 tag, such as `en-GB`.
    pub locale: Option<String>,
    /// IANA time zone, such as `Europe/Paris`.
    pub zoneinfo: Option<String>,
    /// Avatar URL.
    pub picture: Option<String>,
}

/// A stored password hash and its scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The stored string, exactly as usher-hash parses it (a JSON descriptor for formats
    /// whose parameters sit beside the hash).
    pub hash: String,
    /// The scheme id.
    #[serde(with = "scheme_id")]
    pub scheme: Scheme,
}

mod scheme_id {
    use serde::{Deserialize, Deserializer, Serializer};
    use usher_hash::Scheme;

    pub(super) fn serialize<S: Serializer>(scheme: &Scheme, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(scheme.id())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scheme, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Whether a user may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// May log in.
    Active,
    /// Blocked.
    Disabled,
    /// Must set a new password first (imported without a usable hash, e.g. from Cognito).
    PasswordResetRequired,
}

impl User {
    /// The id an identity provider keeps for this user: `<source>:<legacy id>` of the user's
    /// first legacy record (by source, then id), which is the same before the user migrates
    /// (a lookup answered from legacy, an export) and after; usher's own id for a user with no
    /// legacy record (registered in usher).
    pub fn external_id(&self) -> String {
        match self.legacy_links.first() {
            Some(link) => format!("{}:{}", link.source, link.legacy_id),
            None => self.id.to_string(),
        }
    }
}

impl Status {
    /// The stable name stores and reports use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::PasswordResetRequired => "password-reset-required",
        }
    }
}

/// One identity a user had in a legacy system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LegacyLink {
    /// The source's configured name.
    pub source: String,
    /// The id the source gave the user.
    pub legacy_id: LegacyId,
}

/// How and when a user moved across.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    /// Which path moved the user.
    pub method: Method,
    /// When.
    pub at: DateTime<Utc>,
    /// From which source.
    pub source: String,
    /// The legacy record as read, so a mistranslated field can be recovered later.
    pub original: Value,
    /// Optional fields the record lost, or kept only as written, on the way (an unassigned
    /// phone number, an impossible birthdate): the user migrated without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::error::FieldWarning>,
}

/// The path that moved a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// At login, through the bridge.
    Lazy,
    /// By `usher backfill`.
    Bulk,
    /// By the delta sync.
    Sync,
    /// Created directly in the new system.
    Registered,
}

impl Method {
    /// The stable name stores and reports use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Lazy => "lazy",
            Method::Bulk => "bulk",
            Method::Sync => "sync",
            Method::Registered => "registered",
        }
    }
}
