//! Field mapping: how a legacy record becomes a [`User`].
//!
//! Each source has a `[mappings.<source>]` table in `usher.toml` ([`MappingConfig`]): one
//! rule per target field (`given_name = "fname"`, or a table with transforms, formats, value
//! maps, defaults, a jq program), the password's hash, scheme and salt, and what to do with
//! the columns no rule reads. [`Mapper::new`] checks the whole table without seeing any data
//! and compiles it once (jq programs, date formats, regions, scheme ids); [`Mapper::map`] then
//! maps records, on any number of threads, reporting every field error of a record at once.
//! See `docs/mapping.md` for the full surface and the reasons behind it.
//!
//! ```
//! use chrono::Utc;
//! use serde_json::json;
//! use usher_core::{LegacyKey, LegacyRecord, Mapper, MappingConfig};
//!
//! let config: MappingConfig = toml::from_str(r#"
//!     phone_region = "US"
//!     [fields]
//!     given_name = "fname"
//!     family_name = "lname"
//!     birthdate = { from = "birthdate", formats = ["%m/%d/%Y"] }
//!     phone = { from = "phone num", split = { area_code = "attributes.area_code", number = "attributes.phone_number" } }
//! "#)?;
//! let mapper = Mapper::new(&config)?;
//!
//! let record = LegacyRecord {
//!     key: LegacyKey::Int(42),
//!     fields: serde_json::from_value(json!({
//!         "fname": "Ann", "lname": "Lee", "birthdate": "03/14/1987", "phone num": "(415) 555-0123"
//!     }))?,
//! };
//! let user = mapper.map("legacy_db", &record, Utc::now())?;
//! assert_eq!(user.profile.given_name.as_deref(), Some("Ann"));
//! assert_eq!(user.profile.birthdate.map(|d| d.to_string()).as_deref(), Some("1987-03-14"));
//! assert_eq!(user.phone.as_ref().map(|p| p.as_str()), Some("+14155550123"));
//! assert_eq!(user.attributes["area_code"], "415");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compile;
mod config;
mod dates;
mod jq;
mod names;
mod password;
mod path;
mod phone;
mod target;
mod value;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use compile::MappingConfigError;
pub use config::{
    BytesEncoding, Epoch, FieldRule, HashEncoding, InvalidHash, MappingConfig, MissingHash,
    NameOrder, OnInvalid, PasswordConfig, PasswordEncoding, SaltPosition, SourcePaths, Transform,
    UnmappedConfig, Unmatched, ValueType,
};

use crate::error::{FieldError, FieldWarning, RecordErrors};
use crate::ids::{Email, PhoneE164, Username};
use crate::record::{INVALID_FIELD, LegacyRecord};
use crate::user::{Credential, LegacyLink, Method, Migration, Profile, Status, User};
use dates::DateSpec;
use jq::Jq;
use names::{NamePart, NameParts};
use password::{Outcome, PasswordRule};
use path::{Fields, SourcePath, is_blank};
use phone::{Phone, PhonePart};
use target::{Field, Target, set_attribute};
use value::{Kind, Out};

/// How a rule's value is parsed for its target.
#[derive(Debug)]
struct Converter {
    kind: Kind,
    dates: Option<DateSpec>,
    region: Option<phonenumber::country::Id>,
    /// A birthdate: two-digit years in the past, no date after `now`.
    birthdate: bool,
}

impl Converter {
    fn convert(
        &self,
        v: Cow<'_, Value>,
        now: Option<DateTime<Utc>>,
    ) -> Result<(Out, Option<Phone>), String> {
        if self.kind == Kind::Json {
            return Ok((Out::Json(v.into_owned()), None));
        }
        let v = v.as_ref();
        let out = match self.kind {
            Kind::Text => Out::Text(value::text(v)?),
            Kind::Email => Out::Email(value::email(v)?),
            Kind::Username => Out::Username(value::username(v)?),
            Kind::Phone => {
                let s = value::text_of(v)?;
                let p = phone::parse(&s, self.region)?;
                return Ok((Out::Phone(p.e164.clone()), Some(p)));
            }
            Kind::Bool => Out::Bool(value::boolean(v)?),
            Kind::Status => Out::Status(value::status(v)?),
            Kind::Date => {
                let d = self.dates.as_ref().ok_or("has no date formats")?;
                Out::Date(d.date(v, now.filter(|_| self.birthdate))?)
            }
            Kind::Timestamp => {
                let d = self.dates.as_ref().ok_or("has no timestamp formats")?;
                Out::Timestamp(d.timestamp(v)?)
            }
            Kind::Integer => Out::Json(value::integer(v)?),
            Kind::Number => Out::Json(value::number(v)?),
            Kind::Json => Out::Json(v.clone()),
        };
        Ok((out, None))
    }
}

#[derive(Debug)]
enum RuleSource {
    Paths(Vec<SourcePath>),
    Jq(Jq),
    Const(Value),
    /// Only a `default`.
    Nothing,
}

#[derive(Debug)]
enum Split {
    None,
    Name {
        order: NameOrder,
        parts: Vec<(NamePart, Target)>,
    },
    Phone(Vec<(PhonePart, Target)>),
}

/// A compiled field rule.
#[derive(Debug)]
struct Rule {
    /// The target as written, for errors.
    name: String,
    target: Target,
    source: RuleSource,
    transforms: Vec<Transform>,
    map: Option<HashMap<String, Value>>,
    unmatched: Unmatched,
    default: Option<Value>,
    required: bool,
    on_invalid: OnInvalid,
    /// Where `keep-raw` puts a value as written: the rule's own target for `attributes.*`,
    /// else `attributes.<target>_raw`.
    raw_target: Target,
    conv: Converter,
    split: Split,
}

/// Why a rule produced no value for a record. `raw` is the value as read when it was there
/// but did not validate (so `on_invalid` decides), `None` when the rule itself failed.
struct RuleError {
    reason: String,
    raw: Option<Value>,
}

impl From<String> for RuleError {
    fn from(reason: String) -> Self {
        Self { reason, raw: None }
    }
}

/// `[unmapped]`, compiled.
#[derive(Debug)]
struct Unmapped {
    into: Vec<String>,
    exclude: HashSet<String>,
}

/// Maps legacy records of one source to users. Built once from a [`MappingConfig`]; cheap to
/// share between threads (`Send + Sync`, no interior mutability).
#[derive(Debug)]
pub struct Mapper {
    pre: Option<Jq>,
    drop: Vec<SourcePath>,
    redact: Vec<SourcePath>,
    rules: Vec<Rule>,
    password: PasswordRule,
    unmapped: Option<Unmapped>,
    /// Text columns that paths read into as JSON, parsed once per record.
    nested_raw: Vec<String>,
    nested_working: Vec<String>,
    uses_jq: bool,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Mapper>();
};

/// Column-name words that mark a secret: such columns are never copied as unmapped
/// attributes nor kept in `migration.original`. Long stems match anywhere in the name, short ones only as a whole word.
const SECRET_STEMS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "salt",
    "token",
    "hash",
    "recovery",
    "private",
    "apikey",
    "api_key",
    "credential",
];
const SECRET_WORDS: &[&str] = &[
    "pw", "pwd", "pass", "pin", "otp", "totp", "mfa", "ssn", "cvv", "answer",
];

fn looks_secret(column: &str) -> bool {
    let lower = column.to_lowercase();
    SECRET_STEMS.iter().any(|s| lower.contains(s))
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| SECRET_WORDS.contains(&w))
}

impl Mapper {
    /// Parses this source's hashes in `context`: with the Firebase project's signer key, for
    /// one (an export gives hashes without it: it is the project's pepper, kept out of every
    /// record and out of the new store, and comes from a secret file). Build the context once
    /// and give every mapper and the bridge the same one.
    #[must_use]
    pub fn with_hash_context(mut self, context: usher_hash::HashContext) -> Self {
        self.password.hash_context = context;
        self
    }

    /// Whether a rule maps the legacy record's own `updated_at`. Only then can the backfill
    /// tell that a legacy record changed after it was migrated (otherwise `updated_at` is the
    /// mapping time, which says nothing about the record).
    pub fn maps_updated_at(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.target, Target::Field(Field::UpdatedAt)))
    }

    /// Whether the mapping fills an identifier a user signs in with: email, username or phone.
    fn maps_an_identifier(&self) -> bool {
        self.rules.iter().any(|r| {
            matches!(
                r.target,
                Target::Field(Field::Email | Field::Username | Field::Phone)
            )
        })
    }

    /// Maps one record of `source` to a new user, or reports every field error it has.
    ///
    /// The user gets a fresh id, a legacy link to `(source, record.key)`, and a bulk
    /// [`Migration`] at `now` whose `original` is the record without its password fields
    /// (nor dropped or redacted ones). `created_at` and `updated_at` default to `now`.
    pub fn map(
        &self,
        source: &str,
        record: &LegacyRecord,
        now: DateTime<Utc>,
    ) -> Result<User, RecordErrors> {
        let key = record.key.to_string();
        let mut errors = Vec::new();
        let fail = |errors: &mut Vec<FieldError>, field: &str, reason: String| {
            errors.push(FieldError::new(key.as_str(), field, reason));
        };

        // A record the source could not read carries only the reason; it maps to nothing.
        if let Some(invalid) = record.fields.get(INVALID_FIELD) {
            let text = |k: &str| invalid.get(k).and_then(Value::as_str).map(str::to_owned);
            fail(
                &mut errors,
                text("field").as_deref().unwrap_or("record"),
                text("reason").unwrap_or_else(|| "the source could not read this record".into()),
            );
            return Err(RecordErrors(errors));
        }

        let legacy_id = match record.key.to_legacy_id() {
            Ok(id) => Some(id),
            Err(e) => {
                fail(&mut errors, "key", e.to_string());
                None
            }
        };

        // Dropped fields go first: nothing below sees them.
        let raw = self.without_dropped(record);
        let outcome = self.password.read(&Fields::new(&raw, &self.nested_raw));

        // jq sees the record without its password fields.
        let mut jq_input: Option<jaq_json::Val> = None;
        let working: Cow<'_, Map<String, Value>> = match &self.pre {
            None => Cow::Borrowed(raw.as_ref()),
            Some(pre) => match self.pre_transform(pre, &raw) {
                Ok((val, map)) => {
                    jq_input = Some(val);
                    Cow::Owned(map)
                }
                Err(reason) => {
                    fail(&mut errors, "pre", reason);
                    return Err(RecordErrors(errors));
                }
            },
        };
        if jq_input.is_none() && self.uses_jq {
            match self.jq_record(&working) {
                Ok(v) => jq_input = Some(v),
                Err(reason) => {
                    fail(&mut errors, "record", reason);
                    return Err(RecordErrors(errors));
                }
            }
        }
        let fields = Fields::new(&working, &self.nested_working);

        let mut consumed: Vec<&str> = Vec::new();
        let mut writes: Vec<(&Target, Out)> = Vec::with_capacity(self.rules.len());
        let mut warnings = Vec::new();
        for rule in &self.rules {
            let result = self.eval(
                rule,
                &fields,
                jq_input.as_ref(),
                now,
                &mut consumed,
                &mut writes,
            );
            let Err(RuleError { reason, raw }) = result else {
                continue;
            };
            match (rule.on_invalid, raw) {
                (OnInvalid::Quarantine, _) | (_, None) => fail(&mut errors, &rule.name, reason),
                (OnInvalid::Drop, Some(_)) => warnings.push(FieldWarning {
                    field: rule.name.clone(),
                    reason: format!("{reason}; the user migrated without it"),
                }),
                (OnInvalid::KeepRaw, Some(raw)) => {
                    warnings.push(FieldWarning {
                        field: rule.name.clone(),
                        reason: format!(
                            "{reason}; kept as written in `{}`",
                            target_name(&rule.raw_target)
                        ),
                    });
                    writes.push((&rule.raw_target, Out::Json(raw)));
                }
            }
        }

        let mut draft = Draft::default();
        if let Some(u) = &self.unmapped {
            self.copy_unmapped(u, &working, &consumed, &mut draft.attributes);
        }
        // Whole-object merges first, so that explicit `attributes.<path>` rules win.
        writes.sort_by_key(|(t, _)| !matches!(t, Target::Attributes(p) if p.is_empty()));
        for (target, out) in writes {
            if let Err(reason) = draft.set(target, out) {
                fail(&mut errors, &target_name(target), reason);
            }
        }

        // A user with no identifier could never sign in, whatever else the record holds: held
        // back for a person to give it one, rather than migrated out of reach. (A mapping that
        // names no identifier at all, such as the empty one, leaves that to its caller.)
        if errors.is_empty()
            && self.maps_an_identifier()
            && draft.email.is_none()
            && draft.username.is_none()
            && draft.phone.is_none()
        {
            let phone = if warnings.iter().any(|w| w.field == "phone") {
                "the phone did not validate"
            } else {
                "so is the phone"
            };
            fail(
                &mut errors,
                "email",
                format!(
                    "is empty, and so is the username, and {phone}: the user would have \
                     nothing to sign in with"
                ),
            );
        }

        let mut status = draft.status.unwrap_or(Status::Active);
        let needs_reset = |status: &mut Status| {
            if *status == Status::Active {
                *status = Status::PasswordResetRequired;
            }
        };
        let credential = match outcome {
            Outcome::Credential(c) => Some(c),
            Outcome::Missing => {
                match self.password.missing {
                    MissingHash::Reset => needs_reset(&mut status),
                    MissingHash::Keep => {}
                    MissingHash::Error => fail(&mut errors, "password", "is missing".into()),
                }
                None
            }
            Outcome::Invalid(reason) => {
                match self.password.invalid {
                    InvalidHash::Error => fail(&mut errors, "password", reason),
                    InvalidHash::Reset => needs_reset(&mut status),
                }
                None
            }
        };

        let (Some(legacy_id), true) = (legacy_id, errors.is_empty()) else {
            return Err(RecordErrors(errors));
        };

        let original = self.scrub(record);
        Ok(User {
            id: crate::ids::UserId::new(),
            email: draft.email,
            email_verified: draft.email_verified.unwrap_or(false),
            username: draft.username,
            phone: draft.phone,
            profile: draft.profile,
            attributes: draft.attributes,
            credential,
            status,
            created_at: draft.created_at.unwrap_or(now),
            updated_at: draft.updated_at.unwrap_or(now),
            legacy_links: vec![LegacyLink {
                source: source.to_owned(),
                legacy_id,
            }],
            migration: Some(Migration {
                method: Method::Bulk,
                at: now,
                source: source.to_owned(),
                original,
                warnings,
            }),
        })
    }

    /// The record's fields less the dropped ones.
    fn without_dropped<'r>(&self, record: &'r LegacyRecord) -> Cow<'r, Map<String, Value>> {
        if self.drop.is_empty() {
            return Cow::Borrowed(&record.fields);
        }
        let mut m = record.fields.clone();
        for p in &self.drop {
            p.remove(&mut m);
        }
        Cow::Owned(m)
    }

    /// The credential of a record, read as [`Mapper::map`] reads it, whether or not the rest
    /// of the record maps: the login bridge checks a password against a record that cannot
    /// become a user, so that the user hears "your account needs attention" rather than
    /// "wrong password". `None` when the record has no usable hash.
    pub fn credential(&self, record: &LegacyRecord) -> Option<Credential> {
        let raw = self.without_dropped(record);
        match self.password.read(&Fields::new(&raw, &self.nested_raw)) {
            Outcome::Credential(c) => Some(c),
            Outcome::Missing | Outcome::Invalid(_) => None,
        }
    }

    /// The record as it may be kept and shown (in `migration.original`, the quarantine and
    /// its export): without its password fields, dropped and redacted fields, nor any field
    /// whose name says it is a secret (an export's raw `passwordHash` and `salt` beside the
    /// credential the source built, an LDAP `userPassword` the mapping does not read).
    pub fn scrub(&self, record: &LegacyRecord) -> Value {
        let mut kept = record.fields.clone();
        for p in self
            .drop
            .iter()
            .chain(self.password.paths())
            .chain(self.redact.iter())
        {
            p.remove(&mut kept);
        }
        kept.retain(|name, _| !looks_secret(name));
        Value::Object(kept)
    }

    /// The record as jq sees it: without its password fields. Whole password columns are
    /// skipped while converting; a password value nested inside a column costs a copy.
    fn jq_record(&self, map: &Map<String, Value>) -> Result<jaq_json::Val, String> {
        let mut skip = Vec::new();
        for p in self.password.paths() {
            match p.locate(map) {
                None => {}
                Some((column, true)) => skip.push(column),
                Some((_, false)) => {
                    let mut m = map.clone();
                    for p in self.password.paths() {
                        p.remove(&mut m);
                    }
                    return jq::map_to_val(&m, &[]);
                }
            }
        }
        jq::map_to_val(map, &skip)
    }

    fn pre_transform(
        &self,
        pre: &Jq,
        raw: &Map<String, Value>,
    ) -> Result<(jaq_json::Val, Map<String, Value>), String> {
        let input = self.jq_record(raw)?;
        let Some(out) = pre.run(input)? else {
            return Err("the pre-transform yielded nothing".into());
        };
        match jq::from_val(&out)? {
            Value::Object(m) => Ok((out, m)),
            _ => Err("the pre-transform must yield an object".into()),
        }
    }

    /// Evaluates one rule, adding the value for its target and for each split part to
    /// `writes`.
    fn eval<'a>(
        &self,
        rule: &'a Rule,
        fields: &'a Fields<'a>,
        jq_input: Option<&jaq_json::Val>,
        now: DateTime<Utc>,
        consumed: &mut Vec<&'a str>,
        writes: &mut Vec<(&'a Target, Out)>,
    ) -> Result<(), RuleError> {
        let (found, origin): (Option<Cow<'a, Value>>, Origin<'a>) = match &rule.source {
            RuleSource::Paths(paths) => {
                let mut found = (None, Origin::Plain);
                for p in paths {
                    if let Some((column, v)) = p.resolve(fields) {
                        consumed.push(column);
                        if found.0.is_none() && !is_blank(v) {
                            found = (Some(Cow::Borrowed(v)), Origin::Path(p.as_str()));
                        }
                    }
                }
                found
            }
            RuleSource::Jq(program) => {
                let input = jq_input.cloned().unwrap_or_default();
                let out = program
                    .run(input)
                    .map_err(|e| format!("{}{e}", Origin::Jq))?;
                let v = out
                    .map(|v| jq::from_val(&v))
                    .transpose()
                    .map_err(|e| format!("{}{e}", Origin::Jq))?;
                (v.map(Cow::Owned), Origin::Jq)
            }
            RuleSource::Const(v) => (Some(Cow::Borrowed(v)), Origin::Plain),
            RuleSource::Nothing => (None, Origin::Plain),
        };

        // A value that was there but does not validate carries what was read, for
        // `on_invalid`; copied only then.
        let invalid = |reason: String| RuleError {
            reason,
            raw: found.as_deref().cloned(),
        };
        let mut value = found.as_deref().map(Cow::Borrowed);
        if !matches!(rule.source, RuleSource::Const(_)) {
            value = value
                .map(|v| value::transform(v, &rule.transforms))
                .filter(|v| !is_blank(v));
            if let Some((map, v)) = rule.map.as_ref().zip(value.as_ref()) {
                let Some(k) = value::map_key(v) else {
                    return Err(invalid(format!(
                        "{origin}is not text, so it cannot be looked up in `map`"
                    )));
                };
                value = match map.get(k.as_ref()) {
                    Some(mapped) if is_blank(mapped) => None,
                    Some(mapped) => Some(Cow::Borrowed(mapped)),
                    None => match rule.unmatched {
                        Unmatched::Error => {
                            return Err(invalid(format!(
                                "{origin}{} is not in `map`",
                                value::quote(&k)
                            )));
                        }
                        Unmatched::Keep => value,
                        Unmatched::Default => None,
                    },
                };
            }
        }
        let (value, origin) = match (value, &rule.default) {
            (Some(v), _) => (v, origin),
            (None, Some(d)) => (Cow::Borrowed(d), Origin::Default),
            (None, None) if rule.required => return Err(missing(&rule.source).into()),
            (None, None) => return Ok(()),
        };

        let (out, phone) = rule
            .conv
            .convert(value, Some(now))
            .map_err(|e| invalid(format!("{origin}{e}")))?;
        match &rule.split {
            Split::None => {}
            Split::Phone(parts) => {
                if let Some(p) = &phone {
                    for (part, target) in parts {
                        if let Some(text) = p.part(*part) {
                            writes.push((target, Out::Text(text)));
                        }
                    }
                }
            }
            Split::Name { order, parts } => {
                let full = match &out {
                    Out::Text(s) | Out::Json(Value::String(s)) => Some(s.as_str()),
                    _ => None,
                };
                let split: NameParts = full.map(|f| names::split(f, *order)).unwrap_or_default();
                for (part, target) in parts {
                    if let Some(text) = split.get(*part) {
                        writes.push((target, Out::Text(text.to_owned())));
                    }
                }
            }
        }
        writes.push((&rule.target, out));
        Ok(())
    }

    fn copy_unmapped(
        &self,
        u: &Unmapped,
        working: &Map<String, Value>,
        consumed: &[&str],
        attributes: &mut Map<String, Value>,
    ) {
        let mut copy: Map<String, Value> = working
            .iter()
            .filter(|(k, _)| {
                !consumed.contains(&k.as_str())
                    && !u.exclude.contains(k.as_str())
                    && !looks_secret(k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for p in self.password.paths().into_iter().chain(self.redact.iter()) {
            p.remove(&mut copy);
        }
        if u.into.is_empty() {
            attributes.extend(copy);
        } else if !copy.is_empty() {
            set_attribute(attributes, &u.into, Value::Object(copy));
        }
    }
}

/// Where a rule's value came from; written in front of an error's reason, and formatted only
/// when there is an error.
#[derive(Debug, Clone, Copy)]
enum Origin<'a> {
    Path(&'a str),
    Jq,
    Default,
    Plain,
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Path(p) => write!(f, "(from `{p}`) "),
            Origin::Jq => f.write_str("(from jq) "),
            Origin::Default => f.write_str("(default) "),
            Origin::Plain => Ok(()),
        }
    }
}

/// Why a required rule has no value.
fn missing(source: &RuleSource) -> String {
    match source {
        RuleSource::Paths(ps) => match ps.as_slice() {
            [one] => format!("is required, but `{}` is missing or blank", one.as_str()),
            many => format!(
                "is required, but none of {} has a value",
                many.iter()
                    .map(|p| format!("`{}`", p.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        RuleSource::Jq(_) => "is required, but its jq program yielded nothing".into(),
        RuleSource::Const(_) | RuleSource::Nothing => "is required, but has no value".into(),
    }
}

fn target_name(t: &Target) -> String {
    match t {
        Target::Field(f) => f.name().to_owned(),
        Target::Attributes(p) if p.is_empty() => "attributes".to_owned(),
        Target::Attributes(p) => format!("attributes.{}", p.join(".")),
    }
}

/// The user's fields while the rules fill them.
#[derive(Debug, Default)]
struct Draft {
    email: Option<Email>,
    email_verified: Option<bool>,
    username: Option<Username>,
    phone: Option<PhoneE164>,
    profile: Profile,
    attributes: Map<String, Value>,
    status: Option<Status>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Draft {
    fn set(&mut self, target: &Target, out: Out) -> Result<(), String> {
        let path = match target {
            Target::Attributes(path) => path,
            Target::Field(f) => return self.set_field(*f, out),
        };
        if path.is_empty() {
            return match out.into_json() {
                Value::Object(m) => {
                    self.attributes.extend(m);
                    Ok(())
                }
                _ => Err("is not an object (the `attributes` target merges an object)".into()),
            };
        }
        set_attribute(&mut self.attributes, path, out.into_json());
        Ok(())
    }

    fn set_field(&mut self, f: Field, out: Out) -> Result<(), String> {
        let p = &mut self.profile;
        match (f, out) {
            (Field::Email, Out::Email(e)) => self.email = Some(e),
            (Field::EmailVerified, Out::Bool(b)) => self.email_verified = Some(b),
            (Field::Username, Out::Username(u)) => self.username = Some(u),
            (Field::Phone, Out::Phone(ph)) => self.phone = Some(ph),
            (Field::Status, Out::Status(s)) => self.status = Some(s),
            (Field::CreatedAt, Out::Timestamp(t)) => self.created_at = Some(t),
            (Field::UpdatedAt, Out::Timestamp(t)) => self.updated_at = Some(t),
            (Field::Birthdate, Out::Date(d)) => p.birthdate = Some(d),
            (Field::GivenName, Out::Text(s)) => p.given_name = Some(s),
            (Field::FamilyName, Out::Text(s)) => p.family_name = Some(s),
            (Field::Name, Out::Text(s)) => p.name = Some(s),
            (Field::MiddleName, Out::Text(s)) => p.middle_name = Some(s),
            (Field::Nickname, Out::Text(s)) => p.nickname = Some(s),
            (Field::Locale, Out::Text(s)) => p.locale = Some(s),
            (Field::Zoneinfo, Out::Text(s)) => p.zoneinfo = Some(s),
            (Field::Picture, Out::Text(s)) => p.picture = Some(s),
            // The converter is chosen from the target, so this is unreachable; an error
            // rather than a panic all the same.
            (f, _) => return Err(format!("cannot hold this value ({} expected)", f.name())),
        }
        Ok(())
    }
}
