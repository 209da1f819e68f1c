//! An Auth0 user export: the NDJSON file the Management API's "export users" job writes
//! (`POST /api/v2/jobs/users-exports` with `"format": "json"`: one user object per line, with
//! the fields the job asked for, such as `user_id`, `email`, `email_verified`, `name`,
//! `given_name`, `family_name`, `created_at`, `last_login`), and optionally the password-hash
//! export Auth0 support sends on request (also NDJSON, one line per database user:
//! `{"_id":{"$oid":"5dea..."},"email":"...","email_verified":false,"passwordHash":"$2b$10$...",
//! "password_set_date":{"$date":"..."},"tenant":"...","connection":"...","alt_id":"..."}`).
//!
//! ```toml
//! [sources.auth0]
//! type = "auth0"
//! path = "auth0-users.ndjson"
//! hashes_path = "auth0-password-hashes.ndjson"   # optional
//! ```
//!
//! The key is the user's `user_id` (`auth0|5dea9f9c82dd7c0e76e4ec93`), as text. Only users of
//! a database connection (`user_id` starting `auth0|`) have passwords, so only they are joined:
//! a social or enterprise identity (`github|12345`, `google-oauth2|...`) never gets a hash, even
//! when its id or email is a hash line's. A hash line
//! belongs to the database user whose `user_id`, after `auth0|`, is the line's `alt_id`
//! (users created with their own id or from a custom database) or else its `_id.$oid`, as
//! Auth0 describes the file. A user whose id matches no hash line is joined by email (compared
//! ignoring case) to the one hash line with that email, if exactly one has it and no user's id
//! claimed it (a social user sharing a database user's email never gets that user's hash). A joined user gets two fields:
//!
//! * `usher_password_hash`: the `passwordHash` as exported (bcrypt `$2b$10$...`), which
//!   usher-hash reads as it is: map it with `password.hash = "usher_password_hash"`;
//! * `usher_password_set_date`: the `password_set_date.$date`, when present.
//!
//! A hash line that is not JSON, has no id, or no string `passwordHash` becomes an invalid
//! record keyed `hashes-line-<n>`, and so does a hash line no user matches: none is dropped
//! silently. Memory: the user file's index (about 80 bytes plus the `user_id` per user) and
//! the hash file's by id and email (about 150 bytes plus both per hash line); lines are re-read
//! on each read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};
use usher_core::{ConfigProblem, LegacyKey, Source, SourceError, config::resolve_path};

use super::{
    Entry, Format, Slot, changed, check_path, invalid_fields, json_key, json_object, load_lines,
    scan_lines, too_long,
};

/// The field holding the joined password hash.
pub const HASH_FIELD: &str = "usher_password_hash";
/// The field holding the joined `password_set_date`.
pub const SET_DATE_FIELD: &str = "usher_password_set_date";

/// `type = "auth0"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth0Config {
    /// The user export (NDJSON).
    pub path: PathBuf,
    /// The password-hash export from Auth0 support (NDJSON), if there is one.
    #[serde(default)]
    pub hashes_path: Option<PathBuf>,
}

impl Auth0Config {
    /// Checks the options without reading the files.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let hashes = self.hashes_path.as_deref();
        check_path("path", &self.path)
            .into_iter()
            .chain(hashes.and_then(|p| check_path("hashes_path", p)))
            .collect()
    }

    /// Makes the user export and `hashes_path` relative to `base` (the config file's
    /// directory) if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_path(&mut self.path, base);
        if let Some(p) = &mut self.hashes_path {
            resolve_path(p, base);
        }
    }

    /// The source named `name`; the files are read on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        super::build(name, self.validate(), |source| Auth0 {
            source,
            path: self.path.clone(),
            hashes_path: self.hashes_path.clone(),
            join: OnceLock::new(),
        })
    }
}

/// Where each hash line is, by id and by lowercased email.
#[derive(Default)]
struct Join {
    by_id: HashMap<String, usize>,
    /// `None` when more than one hash line has the email.
    by_email: HashMap<String, Option<usize>>,
    /// (offset, line) of each good hash line.
    lines: Vec<(u64, u64)>,
    /// Whether a user's id matched each hash line (those are not joined by email).
    id_matched: Vec<bool>,
}

/// The `user_id` prefix of a database connection's users, the only ones with a password hash.
const DATABASE_PREFIX: &str = "auth0|";

/// A database user's id after its `auth0|` prefix; `None` for social and enterprise identities
/// (`github|...`, `google-oauth2|...`, `samlp|...`), which never get a hash.
fn database_id(user: &Map<String, Value>) -> Option<&str> {
    user.get("user_id")
        .and_then(Value::as_str)?
        .strip_prefix(DATABASE_PREFIX)
}

impl Join {
    /// The hash line whose id is the database user's (`user_id` after `auth0|`).
    fn by_user_id(&self, user: &Map<String, Value>) -> Option<usize> {
        self.by_id.get(database_id(user)?).copied()
    }

    /// The hash line with the database user's email, if exactly one has it.
    fn by_user_email(&self, user: &Map<String, Value>) -> Option<usize> {
        database_id(user)?;
        let email = user.get("email").and_then(Value::as_str)?;
        self.by_email.get(&email.to_lowercase()).copied().flatten()
    }

    /// The hash line of a user: by id, else by email when no user's id claimed that line.
    fn find(&self, user: &Map<String, Value>) -> Option<usize> {
        self.by_user_id(user).or_else(|| {
            self.by_user_email(user)
                .filter(|&i| !self.id_matched.get(i).copied().unwrap_or(true))
        })
    }
}

struct Auth0 {
    source: String,
    path: PathBuf,
    hashes_path: Option<PathBuf>,
    join: OnceLock<Join>,
}

/// The id of a hash line: `alt_id`, else `_id.$oid` (or a plain `_id` string).
fn hash_id(m: &Map<String, Value>) -> Option<String> {
    if let Some(alt) = m.get("alt_id").and_then(Value::as_str) {
        return Some(alt.to_owned());
    }
    match m.get("_id")? {
        Value::Object(o) => o.get("$oid").and_then(Value::as_str).map(str::to_owned),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Checks one hash line; the `passwordHash` is the one field usher needs.
fn check_hash(n: u64, bytes: &[u8]) -> Result<(String, Map<String, Value>), (String, String)> {
    let m = json_object(n, bytes).map_err(|r| ("record".to_owned(), format!("hashes {r}")))?;
    let id = hash_id(&m).ok_or_else(|| {
        (
            "_id".to_owned(),
            format!("hashes line {n}: no `_id.$oid` nor `alt_id`"),
        )
    })?;
    match m.get("passwordHash") {
        Some(Value::String(s)) if !s.is_empty() => Ok((id, m)),
        Some(other) => Err((
            "passwordHash".to_owned(),
            format!(
                "hashes line {n}: passwordHash is {}, not a hash string",
                super::json_kind(other)
            ),
        )),
        None => Err((
            "passwordHash".to_owned(),
            format!("hashes line {n}: no passwordHash"),
        )),
    }
}

impl Auth0 {
    fn index_hashes(&self, path: &Path, entries: &mut Vec<Entry>) -> Result<Join, SourceError> {
        let mut join = Join::default();
        scan_lines(&self.source, path, |line| {
            let n = line.number;
            let checked = if line.too_long {
                Err(("record".to_owned(), format!("hashes {}", too_long(n))))
            } else {
                check_hash(n, &line.bytes)
            };
            match checked {
                Err((field, reason)) => entries.push(hash_invalid(n, &field, reason)),
                Ok((id, m)) => {
                    let i = join.lines.len();
                    join.lines.push((line.offset, n));
                    join.by_id.entry(id).or_insert(i);
                    if let Some(email) = m.get("email").and_then(Value::as_str) {
                        join.by_email
                            .entry(email.to_lowercase())
                            .and_modify(|e| *e = None)
                            .or_insert(Some(i));
                    }
                }
            }
        })?;
        Ok(join)
    }
}

fn hash_invalid(n: u64, field: &str, reason: String) -> Entry {
    Entry {
        key: LegacyKey::Text(format!("hashes-line-{n}")),
        slot: Slot::Held(std::sync::Arc::new(invalid_fields(field, reason))),
        origin: super::Origin::HashLine(n),
    }
}

impl Format for Auth0 {
    fn index(&self) -> Result<Vec<Entry>, SourceError> {
        let mut entries = Vec::new();
        let join = match &self.hashes_path {
            Some(p) => self.index_hashes(p, &mut entries)?,
            None => Join::default(),
        };
        let mut join = join;
        join.id_matched = vec![false; join.lines.len()];
        // Email candidates are settled after every user id is known.
        let mut by_email: Vec<usize> = Vec::new();
        scan_lines(&self.source, &self.path, |line| {
            let n = line.number;
            let entry = match line.json() {
                Err(reason) => Entry::invalid(None, n, "record", reason),
                Ok(obj) => match json_key(obj.get("user_id")) {
                    Err(why) => {
                        Entry::invalid(None, n, "user_id", format!("line {n}: the user_id {why}"))
                    }
                    Ok(key) => {
                        match join.by_user_id(&obj) {
                            Some(i) => {
                                if let Some(m) = join.id_matched.get_mut(i) {
                                    *m = true;
                                }
                            }
                            None => by_email.extend(join.by_user_email(&obj)),
                        }
                        Entry::at_line(key, line.offset, n)
                    }
                },
            };
            entries.push(entry);
        })?;
        let mut used = join.id_matched.clone();
        for i in by_email {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
        for (&(_, n), used) in join.lines.iter().zip(&used) {
            if !used {
                entries.push(hash_invalid(
                    n,
                    "_id",
                    format!(
                        "hashes line {n}: no database user (`auth0|…`) in the user export has \
                         this id or email (social and enterprise users are never joined; an \
                         email several hash lines share joins none)"
                    ),
                ));
            }
        }
        // A second index() (there is none: the source builds its index once) keeps the first.
        let _ = self.join.set(join);
        Ok(entries)
    }

    fn load(&self, slots: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError> {
        let mut users = load_lines(&self.source, &self.path, slots, |n, bytes| {
            json_object(n, bytes).unwrap_or_else(|_| changed(n))
        })?;
        let (Some(join), Some(hashes_path)) = (self.join.get(), &self.hashes_path) else {
            return Ok(users);
        };
        let wanted: Vec<(usize, (u64, u64))> = users
            .iter()
            .enumerate()
            .filter_map(|(u, m)| {
                let i = join.find(m)?;
                Some((u, *join.lines.get(i)?))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(users);
        }
        let at: Vec<(u64, u64)> = wanted.iter().map(|(_, at)| *at).collect();
        let hashes = load_lines(&self.source, hashes_path, &at, |n, bytes| {
            check_hash(n, bytes).map(|(_, m)| m).unwrap_or_default()
        })?;
        for ((u, (_, n)), h) in wanted.into_iter().zip(hashes) {
            let Some(user) = users.get_mut(u) else {
                continue;
            };
            match h.get("passwordHash").and_then(Value::as_str) {
                Some(hash) => {
                    user.insert(HASH_FIELD.to_owned(), Value::String(hash.to_owned()));
                    if let Some(date) = h
                        .get("password_set_date")
                        .and_then(|d| d.get("$date").or(Some(d)))
                        .filter(|d| d.is_string())
                    {
                        user.insert(SET_DATE_FIELD.to_owned(), date.clone());
                    }
                }
                None => *user = changed(n),
            }
        }
        Ok(users)
    }
}
