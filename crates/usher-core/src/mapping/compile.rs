//! Checking and compiling a mapping table: [`Mapper::new`] reads the whole table, reports
//! every problem with its key, and compiles the rules once.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{FixedOffset, Offset as _, Utc};
use serde_json::Value;

use super::config::{FieldRule, MappingConfig, MissingHash, OnInvalid, SourcePaths};
use super::dates::{self, DEFAULT_DATE_FORMATS, DEFAULT_TIMESTAMP_FORMATS, DateSpec};
use super::jq::Jq;
use super::names::NamePart;
use super::password::PasswordRule;
use super::path::{SourcePath, is_blank};
use super::phone::{self, PhonePart};
use super::target::{Field, Target};
use super::value::Kind;
use super::{Converter, Mapper, Rule, RuleSource, Split, Unmapped, target_name};
use crate::config::{self as problem, ConfigProblem, Problems, toml_key};

/// Every problem [`Mapper::new`] found in a mapping table (all of them, not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problem::one_line(&self.problems))]
pub struct MappingConfigError {
    problems: Vec<ConfigProblem>,
}

impl MappingConfigError {
    /// The problems, in the order of the table.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// The problems, in the order of the table.
    pub fn into_problems(self) -> Vec<ConfigProblem> {
        self.problems
    }

    /// Prefixes every key with `mappings.<source>.`, as the key appears in `usher.toml`.
    pub fn in_source(mut self, source: &str) -> Self {
        let at = problem::entry("mappings", source);
        self.problems = problem::under(&at, self.problems).collect();
        self
    }
}

impl MappingConfig {
    /// Checks the table as [`Mapper::new`] does, without seeing any data: every problem, each
    /// naming its key relative to the table (`fields.birthdate.formats[0]`).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        Mapper::new(self)
            .err()
            .map(MappingConfigError::into_problems)
            .unwrap_or_default()
    }
}

impl Mapper {
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
}

/// Whether one source path may read what another names (one is the other or inside it).
fn paths_touch(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| x.strip_prefix(y).is_some_and(|r| r.starts_with('.'));
    a == b || inside(a, b) || inside(b, a)
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
                let parts: Vec<(PhonePart, Target)> = split_parts(&key, &r.split, problems);
                if r.name_order.is_some() {
                    problems.push(format!("{key}.name_order"), "only applies to names");
                }
                Split::Phone(parts)
            }
            Kind::Text | Kind::Json => {
                let parts: Vec<(NamePart, Target)> = split_parts(&key, &r.split, problems);
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

/// A part of a value that a `split` table can write elsewhere: of a phone number or a name.
pub(super) trait SplitPart: Sized {
    /// What it is a part of, for a problem's reason.
    const WHOLE: &'static str;
    /// The parts' names, as a problem lists them.
    const NAMES: &'static str;

    /// The part named `s`, if there is one.
    fn parse(s: &str) -> Option<Self>;
}

/// The parts a `split` table names, each with the target it writes; a part `P` does not know,
/// or a bad target (as `part_target` says), is a problem.
fn split_parts<P: SplitPart>(
    key: &str,
    split: &BTreeMap<String, String>,
    problems: &mut Problems,
) -> Vec<(P, Target)> {
    let mut parts = Vec::new();
    for (part, to) in split {
        match P::parse(part) {
            Some(p) => {
                if let Some(t) = part_target(key, part, to, problems) {
                    parts.push((p, t));
                }
            }
            None => problems.push(
                format!("{key}.split.{}", toml_key(part)),
                format!("is not a part of {} ({})", P::WHOLE, P::NAMES),
            ),
        }
    }
    parts
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
