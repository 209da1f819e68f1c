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
//! `passwordHash` also gets `usher_password_hash`, the hash with the project's parameters
//! inline in the form usher-hash reads as `firebase-scrypt` (Kratos'
//! `$firescrypt$ln=<mem_cost>,r=<rounds>,p=1$<salt>$<hash>$<salt separator>$<signer key>`),
//! so the mapping says `password.hash = "usher_password_hash"`. Users without one (federated
//! or phone-only users) get no such field. That field holds the project's signer key, which is
//! why the key comes from a file and the source's `Debug` never shows it.
//!
//! A user without `localId`, or whose `passwordHash` or `salt` is not base64, becomes an
//! invalid record naming `users[<i>]` and the field. Memory: the whole document is parsed and
//! held, about 1–2 KB per user.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};
use usher_core::{Source, SourceError};
use zeroize::Zeroizing;

use super::{Entry, FileSource, Format, b64_any, b64_encode, check_path, document_users, read_all};
use crate::sql::ConfigError;

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

impl FirebaseConfig {
    /// Checks the options without reading any file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_path("path", &self.path)?;
        if let Some(h) = &self.hash {
            check_path("hash.signer_key_file", &h.signer_key_file)?;
            if b64_any(&h.salt_separator).is_none() {
                return Err(ConfigError::new(
                    "hash.salt_separator",
                    "is not base64 (copy base64_salt_separator from the Firebase console)",
                ));
            }
            if !(1..=8).contains(&h.rounds) {
                return Err(ConfigError::new(
                    "hash.rounds",
                    format!("{} is outside Firebase's 1 to 8", h.rounds),
                ));
            }
            if !(1..=14).contains(&h.mem_cost) {
                return Err(ConfigError::new(
                    "hash.mem_cost",
                    format!("{} is outside Firebase's 1 to 14", h.mem_cost),
                ));
            }
        }
        Ok(())
    }

    /// The source named `name`. Reads the signer key file now; the export on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        self.validate().map_err(|e| e.into_source_error(name))?;
        let params = match &self.hash {
            None => None,
            Some(h) => {
                let text = Zeroizing::new(
                    std::fs::read_to_string(&h.signer_key_file)
                        .map_err(|e| super::unavailable(name, &h.signer_key_file, &e))?,
                );
                let key =
                    Zeroizing::new(b64_any(text.trim()).ok_or_else(|| SourceError::Config {
                        source_name: name.to_owned(),
                        reason: format!(
                            "hash.signer_key_file: {} does not hold a base64 key",
                            h.signer_key_file.display()
                        ),
                    })?);
                let separator = b64_any(&h.salt_separator).unwrap_or_default();
                Some(Params {
                    prefix: format!("$firescrypt$ln={},r={},p=1$", h.mem_cost, h.rounds),
                    tail: Zeroizing::new(format!(
                        "${}${}",
                        b64_encode(&separator),
                        b64_encode(&key)
                    )),
                })
            }
        };
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

/// The project's parameters, pre-encoded: `prefix<salt>$<hash>tail`.
struct Params {
    prefix: String,
    /// `$<separator>$<signer key>`: secret.
    tail: Zeroizing<String>,
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
            .field("signer_key", &self.params.as_ref().map(|_| "<redacted>"))
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
                let full = format!(
                    "{}{}${}{}",
                    p.prefix,
                    b64_encode(&salt),
                    b64_encode(&hash),
                    p.tail.as_str()
                );
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
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_signer_key() {
        let f = Firebase {
            source: "fb".into(),
            path: "users.json".into(),
            params: Some(Params {
                prefix: "$firescrypt$ln=14,r=8,p=1$".into(),
                tail: Zeroizing::new("$Bw==$c2VjcmV0LXNpZ25lci1rZXk=".into()),
            }),
        };
        let shown = format!("{f:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
