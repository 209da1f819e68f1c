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

use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use serde_json::{Map, Value};

pub use config::{
    BytesEncoding, Epoch, FieldRule, HashEncoding, InvalidHash, MappingConfig, MissingHash,
    NameOrder, OnInvalid, PasswordConfig, PasswordEncoding, SaltPosition, SourcePaths, Transform,
    UnmappedConfig, Unmatched, ValueType,
};

use crate::error::{FieldError, FieldWarning, RecordErrors};
use crate::ids::{Email, PhoneE164, Username};
use crate::record::{INVALID_FIELD, LegacyRecord};
use crate::user::{Credential, LegacyLink, Method, Migration, Profile, Status, User};
use dates::{DEFAULT_DATE_FORMATS, DEFAULT_TIMESTAMP_FORMATS, DateSpec};
use jq::Jq;
use names::{NamePart, NameParts};
use password::{Outcome, PasswordRule};
use path::{Fields, SourcePath, is_blank};
use phone::{Phone, PhonePart};
use target::{Field, Target, set_attribute};
use value::{Kind, Out};

/// One problem in a mapping table: the key that holds it and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, relative to the mapping table (`fields.birthdate.formats[0]`), or absolute
    /// after [`MappingConfigError::in_source`].
    pub key: String,
    /// What is wrong, phrased to follow the key.
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.key, self.reason)
    }
}

/// Every problem [`Mapper::new`] found in a mapping table (all of them, not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct MappingConfigError {
    problems: Vec<ConfigProblem>,
}

impl MappingConfigError {
    /// The problems, in the order of the table.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// Prefixes every key with `mappings.<source>.`, as the key appears in `usher.toml`.
    pub fn in_source(mut self, source: &str) -> Self {
        for p in &mut self.problems {
            p.key = format!("mappings.{}.{}", toml_key(source), p.key);
        }
        self
    }
}

/// Collects problems while a table is checked.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(crate) fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.into(),
            reason: reason.into(),
        });
    }
}

/// A TOML key as written in a dotted key path: bare when it can be, else quoted.
pub(crate) fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

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

/// Whether one source path may read what another names (one is the other or inside it).
fn paths_touch(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| x.strip_prefix(y).is_some_and(|r| r.starts_with('.'));
    a == b || inside(a, b) || inside(b, a)
}

impl Mapper {
    /// Parses this source's Firebase hashes with the project's signer key: the export gives
    /// hashes without it (it is the project's pepper, kept out of every record and out of the
    /// new store), and the key comes from a secret file.
    #[must_use]
    pub fn with_firebase_signer_key(mut self, key: Option<zeroize::Zeroizing<Vec<u8>>>) -> Self {
        self.password.firebase_signer_key = key;
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

    /// Checks and compiles a mapping table. Every problem is reported, each with its key.
    pub fn new(config: &MappingConfig) -> Result<Self, MappingConfigError> {
        let mut problems = Problems::default();

        let pre = config
            .pre
            .as_deref()
            .and_then(|code| Jq::compile(code).map_err(|e| problems.push("pre", e)).ok());
        let paths = |key: &str, list: &[String], problems: &mut Problems| {
            list.iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    SourcePath::parse(p)
                        .map_err(|e| problems.push(format!("{key}[{i}]"), e))
                        .ok()
                })
                .collect::<Vec<_>>()
        };
        let drop = paths("drop", &config.drop, &mut problems);
        let redact = paths("redact", &config.redact, &mut problems);

        let region = config.phone_region.as_deref().and_then(|r| {
            phone::parse_region(r)
                .map_err(|e| problems.push("phone_region", e))
                .ok()
        });
        let offset = match config.timezone.as_deref() {
            Some(tz) => dates::parse_offset(tz)
                .map_err(|e| problems.push("timezone", e))
                .unwrap_or(Utc.fix()),
            None => Utc.fix(),
        };

        let password = PasswordRule::new(&config.password, &mut problems);
        if config.password.missing == MissingHash::Error && config.password.hash.is_none() {
            problems.push(
                "password.missing",
                "is `error`, but the table sets no `hash`, so every record would fail",
            );
        }
        // Without a pre-transform, rules read the same record as the password table: refuse
        // rules that would copy the hash or the salt into a profile field or an attribute.
        // Nor may they read what `drop` removed: they would never find it.
        let mut unreadable: Vec<(String, &str)> = Vec::new();
        if pre.is_none() {
            unreadable.extend(password.paths().into_iter().map(|p| {
                (
                    p.as_str().to_owned(),
                    "a password field: the hash, salt and scheme go only into the credential",
                )
            }));
            unreadable.extend(
                config
                    .drop
                    .iter()
                    .map(|p| (p.clone(), "which `drop` removes before any rule runs")),
            );
        }

        let mut rules = Vec::with_capacity(config.fields.len());
        for (name, rule) in &config.fields {
            if let Some(r) = compile_rule(name, rule, region, offset, &unreadable, &mut problems) {
                rules.push(r);
            }
        }
        check_overlaps(&rules, &mut problems);

        let u = &config.unmapped;
        let unmapped = if u.keep {
            let into = match u.into.as_deref() {
                None | Some("") => Vec::new(),
                Some(into) => {
                    let segs: Vec<String> = into.split('.').map(str::to_owned).collect();
                    if segs.iter().any(String::is_empty) {
                        problems.push("unmapped.into", "has an empty segment");
                    }
                    segs
                }
            };
            Some(Unmapped {
                into,
                exclude: u.exclude.iter().cloned().collect(),
            })
        } else {
            if u.into.is_some() {
                problems.push("unmapped.into", "has no effect unless `keep = true`");
            }
            if !u.exclude.is_empty() {
                problems.push("unmapped.exclude", "has no effect unless `keep = true`");
            }
            None
        };

        if !problems.0.is_empty() {
            return Err(MappingConfigError {
                problems: problems.0,
            });
        }

        let nested_raw = nested_columns(password.paths());
        let nested_working = nested_columns(rules.iter().flat_map(|r| match &r.source {
            RuleSource::Paths(ps) => ps.as_slice(),
            _ => &[],
        }));
        let uses_jq = rules.iter().any(|r| matches!(r.source, RuleSource::Jq(_)));
        Ok(Self {
            pre,
            drop,
            redact,
            rules,
            password,
            unmapped,
            nested_raw,
            nested_working,
            uses_jq,
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

/// Compiles one `fields.<target>` rule, adding every problem it has.
fn compile_rule(
    name: &str,
    r: &FieldRule,
    region: Option<phonenumber::country::Id>,
    offset: FixedOffset,
    unreadable: &[(String, &str)],
    problems: &mut Problems,
) -> Option<Rule> {
    let key = format!("fields.{}", toml_key(name));
    let before = problems.0.len();
    let target = match Target::parse(name) {
        Ok(t) => t,
        Err(e) => {
            problems.push(key, e);
            return None;
        }
    };

    let kind = match (r.parse_as, &target) {
        (None, t) => t.kind(),
        (Some(a), Target::Attributes(p)) if !p.is_empty() => Kind::from(a),
        (Some(_), Target::Attributes(_)) => {
            problems.push(
                format!("{key}.as"),
                "has no effect on the whole `attributes` object",
            );
            Kind::Json
        }
        (Some(_), t) => {
            problems.push(
                format!("{key}.as"),
                format!(
                    "only applies to attributes.* targets; `{name}` always holds {}",
                    kind_name(t.kind())
                ),
            );
            t.kind()
        }
    };

    // Where the value comes from.
    let set = [r.from.is_some(), r.jq.is_some(), r.constant.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        problems.push(
            key.clone(),
            "sets more than one of `from`, `jq` and `const`",
        );
    }
    if set == 0 && r.default.is_none() {
        problems.push(key.clone(), "needs `from`, `jq`, `const` or `default`");
    }
    let source = if let Some(from) = &r.from {
        let list = from.as_slice();
        if list.is_empty() {
            problems.push(format!("{key}.from"), "is an empty list");
        }
        let mut paths = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            let pkey = match from {
                SourcePaths::One(_) => format!("{key}.from"),
                SourcePaths::FirstOf(_) => format!("{key}.from[{i}]"),
            };
            match SourcePath::parse(text) {
                Ok(p) => {
                    if let Some((s, why)) = unreadable.iter().find(|(s, _)| paths_touch(text, s)) {
                        problems.push(pkey, format!("reads `{s}`, {why}"));
                    }
                    paths.push(p);
                }
                Err(e) => problems.push(pkey, e),
            }
        }
        RuleSource::Paths(paths)
    } else if let Some(code) = &r.jq {
        match Jq::compile(code) {
            Ok(j) => RuleSource::Jq(j),
            Err(e) => {
                problems.push(format!("{key}.jq"), e);
                RuleSource::Nothing
            }
        }
    } else if let Some(c) = &r.constant {
        if !r.transform.is_empty() || r.map.is_some() {
            problems.push(
                key.clone(),
                "has `transform` or `map` with `const`, where they do nothing",
            );
        }
        RuleSource::Const(c.clone())
    } else {
        RuleSource::Nothing
    };

    // Dates and timestamps.
    let is_date = matches!(kind, Kind::Date | Kind::Timestamp);
    for (set, sub) in [
        (r.formats.is_some(), "formats"),
        (r.epoch.is_some(), "epoch"),
        (r.timezone.is_some(), "timezone"),
    ] {
        if set && !is_date {
            problems.push(
                format!("{key}.{sub}"),
                "only applies to dates and timestamps",
            );
        }
    }
    let dates = if is_date {
        let rule_offset = match r.timezone.as_deref() {
            Some(tz) => dates::parse_offset(tz)
                .map_err(|e| problems.push(format!("{key}.timezone"), e))
                .unwrap_or(offset),
            None => offset,
        };
        let defaults = if kind == Kind::Date {
            DEFAULT_DATE_FORMATS
        } else {
            DEFAULT_TIMESTAMP_FORMATS
        };
        let formats: Vec<String> = match &r.formats {
            Some(f) if f.is_empty() && r.epoch.is_none() => {
                problems.push(format!("{key}.formats"), "is empty (and no `epoch` is set)");
                Vec::new()
            }
            Some(f) => f.clone(),
            None => defaults.iter().map(|s| (*s).to_owned()).collect(),
        };
        match DateSpec::new(&formats, r.epoch, rule_offset) {
            Ok(d) => Some(d),
            Err((i, e)) => {
                problems.push(format!("{key}.formats[{i}]"), e);
                None
            }
        }
    } else {
        None
    };

    // Phones.
    let rule_region = match &r.region {
        Some(_) if kind != Kind::Phone => {
            problems.push(format!("{key}.region"), "only applies to phone numbers");
            None
        }
        Some(reg) => phone::parse_region(reg)
            .map_err(|e| problems.push(format!("{key}.region"), e))
            .ok(),
        None => region,
    };

    // Splits.
    let split = if r.split.is_empty() {
        if r.name_order.is_some() {
            problems.push(format!("{key}.name_order"), "has no effect without `split`");
        }
        Split::None
    } else {
        match kind {
            Kind::Phone => {
                let mut parts = Vec::new();
                for (part, to) in &r.split {
                    match PhonePart::parse(part) {
                        Some(p) => {
                            if let Some(t) = part_target(&key, part, to, problems) {
                                parts.push((p, t));
                            }
                        }
                        None => problems.push(
                            format!("{key}.split.{}", toml_key(part)),
                            format!("is not a part of a phone number ({})", PhonePart::NAMES),
                        ),
                    }
                }
                if r.name_order.is_some() {
                    problems.push(format!("{key}.name_order"), "only applies to names");
                }
                Split::Phone(parts)
            }
            Kind::Text | Kind::Json => {
                let mut parts = Vec::new();
                for (part, to) in &r.split {
                    match NamePart::parse(part) {
                        Some(p) => {
                            if let Some(t) = part_target(&key, part, to, problems) {
                                parts.push((p, t));
                            }
                        }
                        None => problems.push(
                            format!("{key}.split.{}", toml_key(part)),
                            format!("is not a part of a name ({})", NamePart::NAMES),
                        ),
                    }
                }
                Split::Name {
                    order: r.name_order.unwrap_or_default(),
                    parts,
                }
            }
            _ => {
                problems.push(
                    format!("{key}.split"),
                    "applies to phone numbers and names only",
                );
                Split::None
            }
        }
    };

    let conv = Converter {
        kind,
        dates,
        region: rule_region,
        birthdate: target == Target::Field(Field::Birthdate),
    };

    // Values written in the config are checked now, not on the first record.
    let check = |v: &Value, k: String, problems: &mut Problems| {
        if is_blank(v) {
            return;
        }
        if let Err(e) = conv.convert(Cow::Borrowed(v), None) {
            problems.push(k, e);
        }
    };
    if let Some(c) = &r.constant {
        check(c, format!("{key}.const"), problems);
    }
    if let Some(d) = &r.default {
        check(d, format!("{key}.default"), problems);
    }
    if let Some(map) = &r.map {
        for (k, v) in map {
            check(v, format!("{key}.map.{}", toml_key(k)), problems);
        }
    }
    if r.unmatched.is_some() && r.map.is_none() {
        problems.push(format!("{key}.unmatched"), "has no effect without `map`");
    }
    let on_invalid = match (r.on_invalid, r.required) {
        (Some(OnInvalid::Quarantine), _) => OnInvalid::Quarantine,
        (Some(other), true) => {
            problems.push(
                format!("{key}.on_invalid"),
                format!(
                    "is `{}` on a required rule, which would leave it empty; an invalid \
                     value of a required field always quarantines the record",
                    other.as_str()
                ),
            );
            other
        }
        (Some(other), false) => other,
        (None, true) => OnInvalid::Quarantine,
        // The address or name the user logs in with is not an optional field.
        (None, false) if matches!(target, Target::Field(Field::Email | Field::Username)) => {
            OnInvalid::Quarantine
        }
        (None, false) if kind == Kind::Phone => OnInvalid::KeepRaw,
        (None, false) => OnInvalid::Drop,
    };
    let raw_target = match &target {
        Target::Attributes(p) if !p.is_empty() => target.clone(),
        Target::Attributes(_) => Target::Attributes(vec!["attributes".to_owned()]),
        Target::Field(f) => Target::Attributes(vec![format!("{}_raw", f.name())]),
    };

    if problems.0.len() > before {
        return None;
    }
    Some(Rule {
        name: name.to_owned(),
        target,
        source,
        transforms: r.transform.clone(),
        map: r
            .map
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        unmatched: r.unmatched.unwrap_or_default(),
        default: r.default.clone(),
        required: r.required,
        on_invalid,
        raw_target,
        conv,
        split,
    })
}

/// The target a split part writes, if it can hold text.
fn part_target(key: &str, part: &str, to: &str, problems: &mut Problems) -> Option<Target> {
    let pkey = format!("{key}.split.{}", toml_key(part));
    match Target::parse(to) {
        Ok(Target::Attributes(p)) if !p.is_empty() => Some(Target::Attributes(p)),
        Ok(Target::Field(f)) if f.kind() == Kind::Text => Some(Target::Field(f)),
        Ok(_) => {
            problems.push(pkey, format!("writes `{to}`, which cannot hold a {part}"));
            None
        }
        Err(e) => {
            problems.push(pkey, format!("`{to}` {e}"));
            None
        }
    }
}

/// The text columns some path reads into, sorted and unique.
fn nested_columns<'p>(paths: impl IntoIterator<Item = &'p SourcePath>) -> Vec<String> {
    let mut cols: Vec<String> = paths
        .into_iter()
        .flat_map(|p| p.nested_columns().map(str::to_owned))
        .collect();
    cols.sort();
    cols.dedup();
    cols
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Text => "text",
        Kind::Email => "an email address",
        Kind::Username => "a username",
        Kind::Phone => "a phone number",
        Kind::Bool => "a boolean",
        Kind::Status => "a status",
        Kind::Date => "a date",
        Kind::Timestamp => "a timestamp",
        Kind::Integer => "an integer",
        Kind::Number => "a number",
        Kind::Json => "JSON",
    }
}

/// Refuses two rules (or split parts) that write the same place.
fn check_overlaps(rules: &[Rule], problems: &mut Problems) {
    let mut written: Vec<(&Target, String)> = Vec::new();
    for r in rules {
        let key = format!("fields.{}", toml_key(&r.name));
        let mut mine: Vec<(&Target, String)> = vec![(&r.target, key.clone())];
        let parts: Vec<&Target> = match &r.split {
            Split::None => Vec::new(),
            Split::Name { parts, .. } => parts.iter().map(|(_, t)| t).collect(),
            Split::Phone(parts) => parts.iter().map(|(_, t)| t).collect(),
        };
        mine.extend(parts.into_iter().map(|t| (t, format!("{key}.split"))));
        if r.on_invalid == OnInvalid::KeepRaw && r.raw_target != r.target {
            mine.push((&r.raw_target, format!("{key}.on_invalid")));
        }
        for (t, k) in mine {
            if let Some((_, other)) = written.iter().find(|(w, _)| w.overlaps(t)) {
                problems.push(
                    k.clone(),
                    format!("writes `{}`, which `{other}` also writes", target_name(t)),
                );
            }
            written.push((t, k));
        }
    }
}
