//! A Keycloak realm export: `kc.sh export --dir <dir> --realm <realm>` writes the realm file
//! `<realm>-realm.json` (with a `users` array when users are exported in the realm file) and,
//! by default, `<realm>-users-<n>.json` files (`{"realm": "...", "users": [...]}`). Each user:
//! `id`, `username`, `email`, `emailVerified`, `enabled`, `firstName`, `lastName`,
//! `createdTimestamp`, `attributes` (a map of string lists) and `credentials`
//! (`[{"type": "password", "secretData": "<JSON string>", "credentialData": "<JSON string>"}]`).
//!
//! ```toml
//! [sources.keycloak]
//! type = "keycloak"
//! path = ["export/acme-users-0.json", "export/acme-users-1.json"]   # or one file
//! ```
//!
//! The key is the user's `id` (text). Every user keeps its fields as exported, except that
//! every credential loses its `secretData` (the legacy hash stays only in the synthesized
//! field, which the mapping consumes); a user with a
//! `password` credential also gets `usher_password_hash`: `{"secretData": ...,
//! "credentialData": ...}` of that credential, the JSON usher-hash reads as a Keycloak
//! credential (PBKDF2-SHA1/256/512 or Argon2 per `credentialData.algorithm`), so the mapping
//! says `password.hash = "usher_password_hash"`.
//!
//! A user without `id`, an `id` seen before (in any of the files: the first wins), or a
//! password credential whose `secretData` or `credentialData` is not a JSON object, or whose
//! `salt`/`value` is not base64, becomes an invalid record naming the file, `users[<i>]` and
//! the field. Memory: every file is parsed and its users held, about 1–2 KB per user.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use usher_core::{ConfigProblem, Source, SourceError, config::resolve_path};

use super::{Entry, Format, Paths, b64_any, check_path, document_users, read_all};

/// The field holding the synthesized credential.
pub const HASH_FIELD: &str = "usher_password_hash";

/// `type = "keycloak"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeycloakConfig {
    /// The realm file or users files: one path or a list.
    pub path: Paths,
}

impl KeycloakConfig {
    /// Checks the options without reading the files.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        if self.path.as_slice().is_empty() {
            return vec![ConfigProblem::new("path", "lists no file")];
        }
        self.path
            .as_slice()
            .iter()
            .enumerate()
            .filter_map(|(i, p)| check_path(&self.path.key("path", i), p))
            .collect()
    }

    /// Makes each of the files relative to `base` (the config file's directory) if it is
    /// relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in self.path.as_mut_slice() {
            resolve_path(path, base);
        }
    }

    /// The source named `name`; the files are read on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        super::build(name, self.validate(), |source| Keycloak {
            source,
            paths: self.path.clone(),
        })
    }
}

struct Keycloak {
    source: String,
    paths: Paths,
}

/// A credential part: a JSON object, or a string holding one (as exports write them).
fn object(v: Option<&Value>) -> Option<Map<String, Value>> {
    match v? {
        Value::Object(m) => Some(m.clone()),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        },
        _ => None,
    }
}

/// `usher_password_hash` for a user with a password credential.
fn credential(label: &str, user: &Map<String, Value>) -> Result<Option<String>, (String, String)> {
    let Some(Value::Array(creds)) = user.get("credentials") else {
        return Ok(None);
    };
    let Some((k, cred)) = creds
        .iter()
        .enumerate()
        .find(|(_, c)| c.get("type").and_then(Value::as_str) == Some("password"))
    else {
        return Ok(None);
    };
    let field = |part: &str| format!("credentials[{k}].{part}");
    let bad = |part: &str, why: &str| (field(part), format!("{label}: {} {why}", field(part)));
    let secret =
        object(cred.get("secretData")).ok_or_else(|| bad("secretData", "is not a JSON object"))?;
    let data = object(cred.get("credentialData"))
        .ok_or_else(|| bad("credentialData", "is not a JSON object"))?;
    for part in ["salt", "value"] {
        match secret.get(part).and_then(Value::as_str) {
            Some(s) if b64_any(s).is_some() => {}
            _ => return Err(bad(&format!("secretData.{part}"), "is not base64")),
        }
    }
    let mut out = Map::new();
    out.insert("secretData".into(), Value::Object(secret));
    out.insert("credentialData".into(), Value::Object(data));
    Ok(Some(Value::Object(out).to_string()))
}

/// Drops `secretData` (salts, hashes, OTP secrets) from every credential of a user: the
/// password's lives on only in [`HASH_FIELD`], never in the record kept as the original.
fn strip_secrets(user: &mut Map<String, Value>) {
    if let Some(Value::Array(creds)) = user.get_mut("credentials") {
        for cred in creds {
            if let Value::Object(c) = cred {
                c.remove("secretData");
            }
        }
    }
}

impl Format for Keycloak {
    fn index(&self) -> Result<Vec<Entry>, SourceError> {
        let mut entries = Vec::new();
        for (f, path) in self.paths.as_slice().iter().enumerate() {
            let bytes = read_all(&self.source, path)?;
            let doc = path.display().to_string();
            let tag = if f == 0 {
                String::new()
            } else {
                format!("file-{f}-")
            };
            let users = document_users(&doc, &tag, &bytes, "id", |label, m| {
                if let Some(hash) = credential(label, m)? {
                    m.insert(HASH_FIELD.to_owned(), Value::String(hash));
                }
                strip_secrets(m);
                Ok(())
            })
            .map_err(|reason| SourceError::Unavailable {
                source_name: self.source.clone(),
                reason,
            })?;
            entries.extend(users);
        }
        Ok(entries)
    }

    fn load(&self, _: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError> {
        // Every record is held; nothing is re-read.
        Ok(Vec::new())
    }
}
