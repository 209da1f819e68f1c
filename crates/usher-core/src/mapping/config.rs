//! The `[mappings.<source>]` table of `usher.toml`, as serde reads it.
//!
//! These types only describe the shape of the table; every typo is already an error here
//! (`deny_unknown_fields` everywhere). What the values mean — target names, jq programs, date
//! formats, regions, scheme ids — is checked by [`Mapper::new`](super::Mapper::new), which
//! reports every problem with the key that holds it.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// How one legacy source's records become users: `[mappings.<source>]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// A jq program run over the whole record (as a JSON object, password fields removed)
    /// before any field rule; it must yield one object, which the rules then read.
    #[serde(default)]
    pub pre: Option<String>,
    /// Source fields removed before anything else: no rule, jq program, attribute or
    /// `migration.original` ever sees them.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Source fields rules may read but that are never stored: kept out of unmapped
    /// attributes and out of `migration.original`. Password fields always are, and so are
    /// top-level fields whose names look like secrets (`*password*`, `salt`, `*token*`, …).
    #[serde(default)]
    pub redact: Vec<String>,
    /// The region (ISO 3166 alpha-2, such as `US`) for phone numbers written without a
    /// country code, unless a rule sets its own `region`.
    #[serde(default)]
    pub phone_region: Option<String>,
    /// The UTC offset (`UTC`, `+02:00`, `-0530`) of timestamps written without one, unless a
    /// rule sets its own `timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// One rule per target: `given_name = "fname"` or a table.
    #[serde(default, deserialize_with = "rules_or_paths")]
    pub fields: BTreeMap<String, FieldRule>,
    /// Where the password hash, its scheme and its salt are.
    #[serde(default)]
    pub password: PasswordConfig,
    /// What happens to source fields no rule reads.
    #[serde(default)]
    pub unmapped: UnmappedConfig,
}

/// How one target is produced. In TOML either a source path (`given_name = "fname"`) or a
/// table (`birthdate = { from = "dob", formats = ["%m/%d/%Y"] }`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// The source path, or a list of paths of which the first present one is used.
    #[serde(default)]
    pub from: Option<SourcePaths>,
    /// A jq program evaluated against the whole record; its one output is the value.
    #[serde(default)]
    pub jq: Option<String>,
    /// A constant value, for every record.
    #[serde(default, rename = "const")]
    pub constant: Option<Value>,
    /// The value when the source is missing, null or blank (in the target's vocabulary).
    #[serde(default)]
    pub default: Option<Value>,
    /// Whether a record without a value is an error.
    #[serde(default)]
    pub required: bool,
    /// What a value that does not validate costs the record. Default: `quarantine` for a
    /// `required` rule (and the only choice there) and for `email` and `username`; otherwise
    /// `keep-raw` for a phone number and `drop` for anything else, with a warning either way.
    #[serde(default)]
    pub on_invalid: Option<OnInvalid>,
    /// String transforms, applied in order before `map` and before parsing.
    #[serde(default)]
    pub transform: Vec<Transform>,
    /// Legacy value → value, looked up by the value's text (`A = "active"`, `Y = true`).
    #[serde(default)]
    pub map: Option<BTreeMap<String, Value>>,
    /// What a value missing from `map` becomes.
    #[serde(default)]
    pub unmatched: Option<Unmatched>,
    /// For `attributes.*` targets: what to parse the value as (default: keep the JSON).
    #[serde(default, rename = "as")]
    pub parse_as: Option<ValueType>,
    /// Date and timestamp formats, tried in order: chrono strftime patterns, or `rfc3339`
    /// and `rfc2822`.
    #[serde(default)]
    pub formats: Option<Vec<String>>,
    /// Also read dates and timestamps as a Unix epoch in this unit.
    #[serde(default)]
    pub epoch: Option<Epoch>,
    /// The UTC offset of timestamps written without one (overrides the source's `timezone`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The phone region for numbers without a country code (overrides `phone_region`).
    #[serde(default)]
    pub region: Option<String>,
    /// Parts of a phone number or a full name, each written to another target:
    /// `split = { area_code = "attributes.area_code", number = "attributes.phone_number" }`.
    #[serde(default)]
    pub split: BTreeMap<String, String>,
    /// How a full name is ordered when split.
    #[serde(default)]
    pub name_order: Option<NameOrder>,
}

/// One source path or several, of which the first present one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePaths {
    /// `from = "profile.address.city"`.
    One(String),
    /// `from = ["email", "contact.email"]`.
    FirstOf(Vec<String>),
}

impl SourcePaths {
    /// The paths, in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            SourcePaths::One(p) => std::slice::from_ref(p),
            SourcePaths::FirstOf(ps) => ps,
        }
    }
}

impl<'de> Deserialize<'de> for SourcePaths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SourcePaths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a source path or a list of source paths")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SourcePaths, E> {
                Ok(SourcePaths::One(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SourcePaths, A::Error> {
                let mut paths = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    paths.push(p);
                }
                Ok(SourcePaths::FirstOf(paths))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// Remove surrounding whitespace.
    Trim,
    /// Unicode lower case.
    Lowercase,
    /// Unicode upper case.
    Uppercase,
    /// Trim, and turn every run of inner whitespace into one space.
    CollapseWhitespace,
}

/// What a rule's invalid value costs the record (`on_invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnInvalid {
    /// The whole record goes to the quarantine with the field's error.
    Quarantine,
    /// The user migrates without the field, with a warning.
    Drop,
    /// The user migrates with the value as written under `attributes.<target>_raw` (or in the
    /// `attributes.*` target itself), with a warning.
    KeepRaw,
}

impl OnInvalid {
    /// The name as written in `usher.toml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnInvalid::Quarantine => "quarantine",
            OnInvalid::Drop => "drop",
            OnInvalid::KeepRaw => "keep-raw",
        }
    }
}

/// What a value that `map` does not list becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unmatched {
    /// A field error naming the value (the default: an unlisted status code is a question).
    #[default]
    Error,
    /// The value itself, unmapped.
    Keep,
    /// The rule's `default` (or nothing, if it has none).
    Default,
}

/// What an `attributes.*` value is parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueType {
    /// Any JSON, unchanged (the default).
    Json,
    /// Text (numbers and booleans are written out).
    Text,
    /// A validated email address.
    Email,
    /// A phone number, normalised to E.164.
    Phone,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `y`/`n`, `t`/`f`, `on`/`off`.
    Boolean,
    /// An integer.
    Integer,
    /// A number.
    Number,
    /// A date, stored as `YYYY-MM-DD`.
    Date,
    /// A timestamp, stored as RFC 3339 in UTC.
    Timestamp,
}

/// The unit of a Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Epoch {
    /// Seconds since 1970-01-01T00:00:00Z (a fraction is allowed).
    Seconds,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    #[serde(alias = "millis")]
    Milliseconds,
}

/// The order of the words of a full name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameOrder {
    /// "Ann Marie Lee" (also "Lee, Ann Marie").
    #[default]
    GivenFirst,
    /// "山田 太郎", "Nagy Péter".
    FamilyFirst,
}

/// `[mappings.<source>.password]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    /// The source path of the stored hash.
    #[serde(default)]
    pub hash: Option<String>,
    /// The usher scheme id every hash is parsed as (`bcrypt`, `md5`, `hmac-sha256`, …).
    #[serde(default)]
    pub scheme: Option<String>,
    /// The source path of a per-record scheme name.
    #[serde(default)]
    pub scheme_field: Option<String>,
    /// Legacy scheme names → usher scheme ids, for `scheme_field`.
    #[serde(default)]
    pub scheme_map: BTreeMap<String, String>,
    /// The source path of a salt kept beside the hash (the key, for HMAC schemes).
    #[serde(default)]
    pub salt: Option<String>,
    /// Where the salt goes for plain digests: `prefix` is digest(salt ‖ password).
    #[serde(default)]
    pub salt_position: Option<SaltPosition>,
    /// How the salt column is written (default `utf8`: its bytes are the salt).
    #[serde(default)]
    pub salt_encoding: Option<BytesEncoding>,
    /// How digest and HMAC hashes are written (default `hex`).
    #[serde(default)]
    pub hash_encoding: Option<HashEncoding>,
    /// How the legacy system turned the password into bytes before hashing (default `utf8`).
    #[serde(default)]
    pub password_encoding: Option<PasswordEncoding>,
    /// What a record without a hash becomes.
    #[serde(default)]
    pub missing: MissingHash,
    /// What a record with an unparseable hash becomes.
    #[serde(default)]
    pub invalid: InvalidHash,
}

/// Where a separate salt goes around the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaltPosition {
    /// digest(salt ‖ password).
    Prefix,
    /// digest(password ‖ salt).
    Suffix,
}

/// How a salt column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BytesEncoding {
    /// The text's UTF-8 bytes are the salt.
    Utf8,
    /// Hex digits.
    Hex,
    /// Base64 (standard or URL-safe, padded or not).
    Base64,
}

/// How a digest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashEncoding {
    /// Hex digits.
    Hex,
    /// Base64.
    Base64,
}

/// How a legacy system encoded the password before hashing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordEncoding {
    /// UTF-8.
    Utf8,
    /// UTF-16 little-endian (.NET, Windows).
    Utf16le,
    /// ISO 8859-1.
    Latin1,
}

/// What a record without a password hash becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingHash {
    /// No credential; an active user becomes `password-reset-required`.
    #[default]
    Reset,
    /// No credential; the status stays as mapped (users who sign in another way).
    Keep,
    /// A field error: every user of this source must have a hash.
    Error,
}

/// What a record whose hash does not parse becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidHash {
    /// A field error naming the record and `password` (never the hash).
    #[default]
    Error,
    /// No credential, and the user must reset the password (for legacy markers such as
    /// `!` or `*` that mean "no password").
    Reset,
}

/// `[mappings.<source>.unmapped]`: source fields no rule reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnmappedConfig {
    /// Copy them into `attributes`.
    #[serde(default)]
    pub keep: bool,
    /// Under this attributes path (`legacy` puts them in `attributes.legacy`); default the
    /// attributes object itself.
    #[serde(default)]
    pub into: Option<String>,
    /// Column names never copied. Password fields, redacted and dropped fields are never
    /// copied either, nor are columns whose names look like secrets (`*password*`, `salt`,
    /// `*token*`, …): map those explicitly if you really want them.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Lets a rule be written as just its source path.
impl<'de> Deserialize<'de> for FieldRuleOrPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldRuleOrPath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a source path or a rule table")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FieldRuleOrPath, E> {
                Ok(FieldRuleOrPath(FieldRule {
                    from: Some(SourcePaths::One(s.to_owned())),
                    ..FieldRule::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldRuleOrPath, A::Error> {
                FieldRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(FieldRuleOrPath)
            }
        }
        d.deserialize_any(V)
    }
}

/// A [`FieldRule`] that may be written as a bare path.
struct FieldRuleOrPath(FieldRule);

fn rules_or_paths<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, FieldRule>, D::Error> {
    let rules = BTreeMap::<String, FieldRuleOrPath>::deserialize(d)?;
    Ok(rules
        .into_iter()
        .map(|(k, FieldRuleOrPath(r))| (k, r))
        .collect())
}
