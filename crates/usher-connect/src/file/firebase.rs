//! A Firebase Authentication export: `firebase auth:export users.json --format=json`, a JSON
//! document `{"users": [{"localId", "email", "emailVerified", "passwordHash", "salt",
//! "displayName", "photoUrl", "phoneNumber", "createdAt", "lastSignedInAt", "disabled",
//! "customAttributes", "providerUserInfo": [...]}, ...]}`.
//!
//! ```toml
//! [sources.firebase]
//! type = "firebase"
//! path = "users.json"
//! # The project's password hash parameters, as the Firebase console shows them
//! # (Authentication > Users > ⋮ > Password hash parameters).
//! hash = { signer_key_file = "/run/secrets/firebase-signer-key", salt_separator = "Bw==", rounds = 8, mem_cost = 14 }
//! ```
//!
//! The key is `localId` (text). Every user keeps its fields as exported; a user with a
//! `passwordHash` also gets `usher_password_hash`, the hash with the project's public
//! parameters inline in the form usher-hash reads as `firebase-scrypt` (Supabase's
//! `$fbscrypt$v=1,n=<mem_cost>,r=<rounds>,p=1,ss=<salt separator>$<salt>$<hash>`), so the
//! mapping says `password.hash = "usher_password_hash"`. Users without one (federated or
//! phone-only users) get no such field.
//!
//! The signer key is **not** in that field: it is the project's pepper (without it the hashes
//! are useless to whoever steals them), so it must not be copied next to every imported hash
//! in the new store. usher reads it from `signer_key_file` ([`FirebaseConfig::signer_key`]) and
//! gives it to the mapping and to the login bridge, which verify with it
//! (`usher_hash::ParseOptions::firebase_signer_key`); it lives only in usher's memory and in
//! the file, and leaves the store as each user's first login re-hashes to Argon2id.
//!
//! A user without `localId`, or whose `passwordHash` or `salt` is not base64, becomes an
//! invalid record naming `users[<i>]` and the field. Memory: the whole document is parsed and
//! held, about 1–2 KB per user.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use usher_core::{ConfigProblem, Source, SourceError, config::resolve_path};
use zeroize::Zeroizing;

use super::{Entry, FileSource, Format, b64_any, b64_encode, check_path, document_users, read_all};

/// The field holding the synthesized hash.
pub const HASH_FIELD: &str = "usher_password_hash";

/// `type = "firebase"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirebaseConfig {
    /// The `auth:export --format=json` file.
    pub path: PathBuf,
    /// The project's scrypt parameters; without them no user gets `usher_password_hash`.
    #[serde(default)]
    pub hash: Option<FirebaseHashConfig>,
}

/// A Firebase project's password hash parameters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirebaseHashConfig {
    /// A file holding `base64_signer_key` (a secret, so never inline).
    pub signer_key_file: PathBuf,
    /// `base64_salt_separator`.
    pub salt_separator: String,
    /// `rounds` (1 to 8).
    pub rounds: u32,
    /// `mem_cost` (1 to 14).
    pub mem_cost: u32,
}

/// The problem at `key` when `value` is outside the `range` Firebase allows.
fn outside_firebase(key: &str, value: u32, range: RangeInclusive<u32>) -> Option<ConfigProblem> {
    let (low, high) = (range.start(), range.end());
    (!range.contains(&value)).then(|| {
        ConfigProblem::new(
            key,
            format!("{value} is outside Firebase's {low} to {high}"),
        )
    })
}

impl FirebaseConfig {
    /// Checks the options without reading any file.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = check_path("path", &self.path).into_iter().collect();
        if let Some(h) = &self.hash {
            problems.extend(check_path("hash.signer_key_file", &h.signer_key_file));
            if b64_any(&h.salt_separator).is_none() {
                problems.push(ConfigProblem::new(
                    "hash.salt_separator",
                    "is not base64 (copy base64_salt_separator from the Firebase console)",
                ));
            }
            problems.extend(outside_firebase("hash.rounds", h.rounds, 1..=8));
            problems.extend(outside_firebase("hash.mem_cost", h.mem_cost, 1..=14));
        }
        problems
    }

    /// Makes the export file and `hash.signer_key_file` relative to `base` (the config
    /// file's directory) if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_path(&mut self.path, base);
        if let Some(h) = &mut self.hash {
            resolve_path(&mut h.signer_key_file, base);
        }
    }

    /// The project's signer key, read from `hash.signer_key_file` and decoded; `None` without
    /// `hash`. The mapping and the login bridge verify this source's hashes with it.
    pub fn signer_key(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, SourceError> {
        let Some(h) = &self.hash else {
            return Ok(None);
        };
        let text = Zeroizing::new(
            std::fs::read_to_string(&h.signer_key_file)
                .map_err(|e| super::unavailable(name, &h.signer_key_file, &e))?,
        );
        let key = Zeroizing::new(b64_any(text.trim()).ok_or_else(|| SourceError::Config {
            source_name: name.to_owned(),
            reason: format!(
                "hash.signer_key_file: {} does not hold a base64 key",
                h.signer_key_file.display()
            ),
        })?);
        Ok(Some(key))
    }

    /// The source named `name`. Checks the signer key file now; reads the export on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        crate::refuse(name, self.validate())?;
        // A missing or unreadable key is reported now, not at the first login.
        self.signer_key(name)?;
        let params = self.hash.as_ref().map(|h| {
            let separator = b64_any(&h.salt_separator).unwrap_or_default();
            Params {
                prefix: format!(
                    "$fbscrypt$v=1,n={},r={},p=1,ss={}$",
                    h.mem_cost,
                    h.rounds,
                    b64_encode(&separator)
                ),
            }
        });
        Ok(Box::new(FileSource::new(
            name,
            Firebase {
                source: name.to_owned(),
                path: self.path.clone(),
                params,
            },
        )))
    }
}

/// The project's public parameters, pre-encoded: `prefix<salt>$<hash>`.
struct Params {
    prefix: String,
}

struct Firebase {
    source: String,
    path: PathBuf,
    params: Option<Params>,
}

impl std::fmt::Debug for Firebase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firebase")
            .field("path", &self.path)
            .field("hashes", &self.params.as_ref().map(|p| p.prefix.as_str()))
            .finish()
    }
}

/// A base64 field of a user, decoded, or why not.
fn bytes_field(
    label: &str,
    m: &Map<String, Value>,
    field: &str,
) -> Result<Vec<u8>, (String, String)> {
    let bad = |why: &str| (field.to_owned(), format!("{label}: {field} {why}"));
    match m.get(field) {
        Some(Value::String(s)) => b64_any(s).ok_or_else(|| bad("is not base64")),
        Some(_) => Err(bad("is not a string")),
        None => Err(bad("is missing")),
    }
}

impl Format for Firebase {
    fn index(&self) -> Result<Vec<Entry>, SourceError> {
        let bytes = read_all(&self.source, &self.path)?;
        let doc = self.path.display().to_string();
        document_users(&doc, "", &bytes, "localId", |label, m| {
            if !m.contains_key("passwordHash") {
                return Ok(());
            }
            let hash = bytes_field(label, m, "passwordHash")?;
            let salt = bytes_field(label, m, "salt")?;
            if let Some(p) = &self.params {
                let full = format!("{}{}${}", p.prefix, b64_encode(&salt), b64_encode(&hash));
                m.insert(HASH_FIELD.to_owned(), Value::String(full));
            }
            Ok(())
        })
        .map_err(|reason| SourceError::Unavailable {
            source_name: self.source.clone(),
            reason,
        })
    }

    fn load(&self, _: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError> {
        // Every record is held; nothing is re-read.
        Ok(Vec::new())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::file::Slot;

    #[test]
    fn records_never_carry_the_signer_key() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "c2VjcmV0LXNpZ25lci1rZXk=\n").unwrap();
        let users = dir.path().join("users.json");
        std::fs::write(
            &users,
            r#"{"users": [{"localId": "u1", "passwordHash": "aGFzaA==", "salt": "c2FsdA=="}]}"#,
        )
        .unwrap();
        let config: FirebaseConfig = toml::from_str(&format!(
            "path = '{}'\nhash = {{ signer_key_file = '{}', salt_separator = 'Bw==', \
             rounds = 8, mem_cost = 14 }}",
            users.display(),
            key_file.display()
        ))
        .unwrap();
        let key = config.signer_key("fb").unwrap().unwrap();
        assert_eq!(key.as_slice(), b"secret-signer-key");
        let format = Firebase {
            source: "fb".into(),
            path: users,
            params: Some(Params {
                prefix: "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==$".into(),
            }),
        };
        let entries = format.index().unwrap();
        let Slot::Held(record) = &entries[0].slot else {
            panic!("a whole-document record is held")
        };
        assert_eq!(
            record[HASH_FIELD],
            "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==$c2FsdA==$aGFzaA=="
        );
        let everything = serde_json::to_string(&**record).unwrap();
        assert!(!everything.contains("c2VjcmV0"), "{everything}");
    }
}
