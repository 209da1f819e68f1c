//! The password: the stored hash, its scheme and a salt kept beside it, made into a
//! [`Credential`] that usher-hash parses.
//!
//! A hash whose salt sits in its own column is composed into the JSON descriptor usher-hash
//! reads (Auth0's `custom_password_hash` shape): for a plain digest the salt goes before or
//! after the password as `salt_position` says; for an HMAC scheme the salt is the key; for
//! the schemes salted with another field of the record (PostgreSQL `md5` and Oracle 10g with
//! the user name, vBulletin, IPB/MyBB, SMF, Symfony) it is joined as `<hash>:<salt>`, the form
//! usher-hash reads when the scheme is forced. Every
//! credential is parsed with [`PasswordHash::parse_with`] before it is accepted, so a hash
//! that would never verify is reported now, against the record, and not at the user's login.
//! No error message carries the hash or the salt.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};
use usher_hash::{HashContext, PasswordHash, Scheme};

use super::config::{
    BytesEncoding, HashEncoding, InvalidHash, MissingHash, PasswordConfig, PasswordEncoding,
    SaltPosition,
};
use super::path::{Fields, SourcePath, is_blank};
use super::value::{quote, text_of};
use crate::config::{Problems, toml_key};
use crate::user::Credential;

/// How the scheme of each record's hash is known.
#[derive(Debug)]
enum SchemeSource {
    /// From the hash's own encoding.
    Detect,
    /// The same for every record.
    Fixed(Scheme),
    /// Named per record by a field, through an optional map of legacy names.
    Field {
        path: SourcePath,
        map: HashMap<String, Scheme>,
    },
}

/// How a scheme treats a separate salt.
enum Family {
    /// A plain digest that the descriptor can salt; the salted scheme it then becomes.
    Digest { alg: &'static str, salted: Scheme },
    /// A digest the descriptor cannot salt.
    Unsaltable,
    /// An HMAC: the salt is the key.
    Hmac { digest: &'static str },
    /// A scheme salted with another field of the record (often the user name), read as
    /// `<hash>:<salt>` when forced.
    Joined,
    /// A format that carries its own salt (bcrypt, argon2, crypt, …).
    SelfContained,
}

fn family(s: Scheme) -> Family {
    match s {
        Scheme::Md5 | Scheme::SaltedMd5 => Family::Digest {
            alg: "md5",
            salted: Scheme::SaltedMd5,
        },
        Scheme::Sha1 | Scheme::SaltedSha1 => Family::Digest {
            alg: "sha1",
            salted: Scheme::SaltedSha1,
        },
        Scheme::Sha256 | Scheme::SaltedSha256 => Family::Digest {
            alg: "sha256",
            salted: Scheme::SaltedSha256,
        },
        Scheme::Sha512 | Scheme::SaltedSha512 => Family::Digest {
            alg: "sha512",
            salted: Scheme::SaltedSha512,
        },
        Scheme::Md4 | Scheme::Nthash | Scheme::Sha384 | Scheme::SaltedSha384 => Family::Unsaltable,
        Scheme::HmacMd5 => Family::Hmac { digest: "md5" },
        Scheme::HmacSha1 => Family::Hmac { digest: "sha1" },
        Scheme::HmacSha256 => Family::Hmac { digest: "sha256" },
        Scheme::HmacSha384 => Family::Hmac { digest: "sha384" },
        Scheme::HmacSha512 => Family::Hmac { digest: "sha512" },
        Scheme::PostgresMd5
        | Scheme::Oracle10
        | Scheme::Vbulletin
        | Scheme::Ipb
        | Scheme::Smf
        | Scheme::SymfonySha512 => Family::Joined,
        _ => Family::SelfContained,
    }
}

/// What a record's password fields amount to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A hash usher-hash parsed.
    Credential(Credential),
    /// No hash.
    Missing,
    /// A hash that does not parse; the reason names the field, never the hash.
    Invalid(String),
}

/// The compiled `[password]` table.
#[derive(Debug)]
pub(crate) struct PasswordRule {
    hash: Option<SourcePath>,
    scheme: SchemeSource,
    salt: Option<SourcePath>,
    position: Option<SaltPosition>,
    salt_encoding: BytesEncoding,
    hash_encoding: Option<HashEncoding>,
    password_encoding: PasswordEncoding,
    /// The salt is another field of the record that the scheme joins to the hash (the user
    /// name, for PostgreSQL `md5`): other rules may still read it.
    salt_is_a_field: bool,
    pub(crate) missing: MissingHash,
    pub(crate) invalid: InvalidHash,
    /// What the hashes do not carry (a Firebase project's signer key).
    pub(crate) hash_context: HashContext,
}

impl PasswordRule {
    /// Checks the table, adding every problem to `problems`.
    pub(crate) fn new(c: &PasswordConfig, problems: &mut Problems) -> Self {
        let mut path = |key: &str, text: &Option<String>| {
            text.as_deref().and_then(|t| {
                SourcePath::parse(t)
                    .map_err(|e| problems.push(format!("password.{key}"), e))
                    .ok()
            })
        };
        let hash = path("hash", &c.hash);
        let salt = path("salt", &c.salt);
        let scheme_field = path("scheme_field", &c.scheme_field);

        let fixed = c.scheme.as_deref().and_then(|s| {
            s.parse::<Scheme>()
                .map_err(|_| problems.push("password.scheme", unknown_scheme(s)))
                .ok()
        });
        let mut map = HashMap::new();
        for (legacy, id) in &c.scheme_map {
            match id.parse::<Scheme>() {
                Ok(s) => {
                    map.insert(legacy.clone(), s);
                }
                Err(_) => problems.push(
                    format!("password.scheme_map.{}", toml_key(legacy)),
                    unknown_scheme(id),
                ),
            }
        }
        if c.scheme.is_some() && c.scheme_field.is_some() {
            problems.push(
                "password.scheme_field",
                "cannot be used with `scheme`: choose a fixed scheme or a field that names it",
            );
        }
        if !c.scheme_map.is_empty() && c.scheme_field.is_none() {
            problems.push(
                "password.scheme_map",
                "has no effect without `scheme_field`",
            );
        }
        let has_scheme = c.scheme.is_some() || c.scheme_field.is_some();
        if c.hash.is_none() && (has_scheme || c.salt.is_some()) {
            problems.push(
                "password.hash",
                "is required: the table names a scheme or a salt but not where the hash is",
            );
        }
        let fixed_family = fixed.map(|s| (s, family(s)));
        if c.salt.is_some() {
            if !has_scheme {
                problems.push(
                    "password.salt",
                    "needs `scheme` or `scheme_field`: how a separate salt was used cannot be \
                     read from the hash alone",
                );
            }
            match &fixed_family {
                Some((s, Family::SelfContained)) => problems.push(
                    "password.salt",
                    format!("has no effect with `{s}`, which carries its salt inside the hash"),
                ),
                Some((s, Family::Unsaltable)) => problems.push(
                    "password.salt",
                    format!(
                        "cannot be combined with `{s}`: usher verifies that scheme only unsalted"
                    ),
                ),
                Some((_, Family::Hmac { .. })) => {
                    if c.salt_position.is_some() {
                        problems.push(
                            "password.salt_position",
                            "has no effect with an HMAC scheme: the salt is the key",
                        );
                    }
                }
                Some((s, Family::Joined)) => {
                    if c.salt_position.is_some() {
                        problems.push(
                            "password.salt_position",
                            format!("has no effect with `{s}`, which fixes where its salt goes"),
                        );
                    }
                }
                _ => {
                    if c.salt_position.is_none() {
                        problems.push(
                            "password.salt_position",
                            "is required with `salt`: `prefix` for digest(salt ‖ password), \
                             `suffix` for digest(password ‖ salt)",
                        );
                    }
                }
            }
        } else {
            if c.salt_position.is_some() {
                problems.push("password.salt_position", "has no effect without `salt`");
            }
            if c.salt_encoding.is_some() {
                problems.push("password.salt_encoding", "has no effect without `salt`");
            }
        }
        if let (Some((s, Family::SelfContained | Family::Unsaltable | Family::Joined)), Some(_)) =
            (&fixed_family, c.hash_encoding)
        {
            problems.push(
                "password.hash_encoding",
                format!("has no effect with `{s}`, whose encoding is part of its format"),
            );
        }

        let salt_is_a_field = matches!(fixed_family, Some((_, Family::Joined)));
        let scheme = match (fixed, scheme_field) {
            (Some(s), _) => SchemeSource::Fixed(s),
            (None, Some(path)) => SchemeSource::Field { path, map },
            (None, None) => SchemeSource::Detect,
        };
        Self {
            hash,
            scheme,
            salt,
            position: c.salt_position,
            salt_encoding: c.salt_encoding.unwrap_or(BytesEncoding::Utf8),
            hash_encoding: c.hash_encoding,
            password_encoding: c.password_encoding.unwrap_or(PasswordEncoding::Utf8),
            salt_is_a_field,
            missing: c.missing,
            invalid: c.invalid,
            hash_context: HashContext::default(),
        }
    }

    /// The source fields that hold the password: never stored outside the credential. The
    /// salt of a scheme salted with another field (the user name, for PostgreSQL `md5`) is
    /// not one: that field is the record's own, which other rules may read (a column whose
    /// name says it is a salt is still kept out of the record's copies by its name).
    pub(crate) fn paths(&self) -> Vec<&SourcePath> {
        let scheme = match &self.scheme {
            SchemeSource::Field { path, .. } => Some(path),
            _ => None,
        };
        let salt = self.salt.iter().filter(|_| !self.salt_is_a_field);
        self.hash.iter().chain(salt).chain(scheme).collect()
    }

    /// Reads one record's password.
    pub(crate) fn read(&self, fields: &Fields<'_>) -> Outcome {
        match self.read_inner(fields) {
            Ok(Some(c)) => Outcome::Credential(c),
            Ok(None) => Outcome::Missing,
            Err(reason) => Outcome::Invalid(reason),
        }
    }

    fn read_inner(&self, fields: &Fields<'_>) -> Result<Option<Credential>, String> {
        let Some(hash_path) = &self.hash else {
            return Ok(None);
        };
        let from = || format!("(from `{}`)", hash_path.as_str());
        let stored: Cow<'_, str> = match hash_path.resolve(fields) {
            None => return Ok(None),
            Some((_, v)) if is_blank(v) => return Ok(None),
            Some((_, Value::String(s))) => Cow::Borrowed(s),
            // A JSON column holding a descriptor (an Auth0 or Keycloak export).
            Some((_, v @ Value::Object(_))) => Cow::Owned(v.to_string()),
            Some(_) => return Err(format!("{} is not text", from())),
        };
        let salt = match &self.salt {
            None => None,
            Some(p) => match p.resolve(fields) {
                Some((_, v)) if !is_blank(v) => Some(
                    text_of(v)
                        .map_err(|e| format!("(from `{}`) {e}", p.as_str()))?
                        .into_owned(),
                ),
                _ => None,
            },
        };
        let scheme = self.scheme(fields)?;
        let (stored, force) = match scheme {
            None if salt.is_some() => {
                return Err(format!(
                    "{} has a salt but no scheme (the scheme field is empty)",
                    from()
                ));
            }
            None => (stored.into_owned(), None),
            Some(s) => self.compose(s, &stored, salt.as_deref())?,
        };
        match PasswordHash::parse_with(&stored, &self.hash_context.options(force)) {
            Ok(parsed) => Ok(Some(Credential {
                hash: stored,
                scheme: parsed.scheme(),
            })),
            Err(e) => Err(format!("{} is not a usable password hash: {e}", from())),
        }
    }

    fn scheme(&self, fields: &Fields<'_>) -> Result<Option<Scheme>, String> {
        match &self.scheme {
            SchemeSource::Detect => Ok(None),
            SchemeSource::Fixed(s) => Ok(Some(*s)),
            SchemeSource::Field { path, map } => {
                let name = match path.resolve(fields) {
                    Some((_, v)) if !is_blank(v) => {
                        text_of(v).map_err(|e| format!("(from `{}`) {e}", path.as_str()))?
                    }
                    _ => return Ok(None),
                };
                map.get(name.as_ref())
                    .copied()
                    .or_else(|| name.parse().ok())
                    .or_else(|| name.to_ascii_lowercase().parse().ok())
                    .map(Some)
                    .ok_or_else(|| {
                        format!(
                            "(from `{}`) {} is not a scheme usher knows; map it to one in \
                             `password.scheme_map`",
                            path.as_str(),
                            quote(&name)
                        )
                    })
            }
        }
    }

    /// The string usher-hash should parse for `hash` under `scheme`, and the scheme to force
    /// (none for composed descriptors, whose shape fixes it).
    fn compose(
        &self,
        scheme: Scheme,
        hash: &str,
        salt: Option<&str>,
    ) -> Result<(String, Option<Scheme>), String> {
        let raw = || Ok((hash.to_owned(), Some(scheme)));
        // An `{SSHA}…` or `sha1$salt$…` row names `salted-sha1` but carries its own salt: it
        // is read as it is, and the salt column (empty on such rows) is not its salt.
        if self.salt.is_some() && carries_own_salt(hash, scheme) {
            return Ok((hash.to_owned(), None));
        }
        match family(scheme) {
            Family::Digest { alg, salted } => match salt {
                Some(salt) => Ok((self.digest_descriptor(alg, hash, Some(salt)), Some(salted))),
                None if self.salt.is_some() && scheme == salted => Err(format!(
                    "(from `{}`) is empty, but `{scheme}` needs a salt",
                    self.salt.as_ref().map_or("", |p| p.as_str())
                )),
                None if scheme != salted
                    && (self.hash_encoding.is_some()
                        || self.password_encoding != PasswordEncoding::Utf8) =>
                {
                    Ok((self.digest_descriptor(alg, hash, None), None))
                }
                None => raw(),
            },
            Family::Hmac { digest } => match salt {
                Some(salt) => Ok((self.hmac_descriptor(digest, hash, salt), Some(scheme))),
                None => raw(),
            },
            Family::Joined => match salt {
                Some(salt) => Ok((format!("{}:{salt}", hash.trim()), Some(scheme))),
                None if self.salt.is_some() => Err(format!(
                    "(from `{}`) is empty, but `{scheme}` needs it",
                    self.salt.as_ref().map_or("", |p| p.as_str())
                )),
                // The column already holds `<hash>:<salt>`.
                None => raw(),
            },
            Family::Unsaltable if salt.is_some() => Err(format!(
                "has a salt, but usher verifies `{scheme}` only unsalted"
            )),
            Family::Unsaltable | Family::SelfContained => raw(),
        }
    }

    fn hash_object(&self, hash: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("value".into(), Value::from(hash.trim()));
        let enc = match self.hash_encoding.unwrap_or(HashEncoding::Hex) {
            HashEncoding::Hex => "hex",
            HashEncoding::Base64 => "base64",
        };
        m.insert("encoding".into(), Value::from(enc));
        m
    }

    fn salt_object(&self, salt: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("value".into(), Value::from(salt));
        let enc = match self.salt_encoding {
            BytesEncoding::Utf8 => "utf8",
            BytesEncoding::Hex => "hex",
            BytesEncoding::Base64 => "base64",
        };
        m.insert("encoding".into(), Value::from(enc));
        m
    }

    fn with_password_encoding(&self, d: &mut Map<String, Value>) {
        let enc = match self.password_encoding {
            PasswordEncoding::Utf8 => return,
            PasswordEncoding::Utf16le => "utf16le",
            PasswordEncoding::Latin1 => "latin1",
        };
        let mut p = Map::new();
        p.insert("encoding".into(), Value::from(enc));
        d.insert("password".into(), Value::Object(p));
    }

    /// `{"algorithm":"md5","hash":{…},"salt":{…,"position":"prefix"}}`.
    fn digest_descriptor(&self, alg: &str, hash: &str, salt: Option<&str>) -> String {
        let mut d = Map::new();
        d.insert("algorithm".into(), Value::from(alg));
        d.insert("hash".into(), Value::Object(self.hash_object(hash)));
        if let Some(salt) = salt {
            let mut s = self.salt_object(salt);
            let position = match self.position.unwrap_or(SaltPosition::Prefix) {
                SaltPosition::Prefix => "prefix",
                SaltPosition::Suffix => "suffix",
            };
            s.insert("position".into(), Value::from(position));
            d.insert("salt".into(), Value::Object(s));
        }
        self.with_password_encoding(&mut d);
        Value::Object(d).to_string()
    }

    /// `{"algorithm":"hmac","hash":{…,"digest":"sha256","key":{…}}}`.
    fn hmac_descriptor(&self, digest: &str, hash: &str, key: &str) -> String {
        let mut h = self.hash_object(hash);
        h.insert("digest".into(), Value::from(digest));
        h.insert("key".into(), Value::Object(self.salt_object(key)));
        let mut d = Map::new();
        d.insert("algorithm".into(), Value::from("hmac"));
        d.insert("hash".into(), Value::Object(h));
        self.with_password_encoding(&mut d);
        Value::Object(d).to_string()
    }
}

/// Whether `hash`, read on its own, is a salted form of `scheme` that holds its salt inside
/// (LDAP's `{SSHA}`, Django's `sha1$salt$hex`, a crypt or PHC string): such a row ignores the
/// salt column. A bare digest never is: 32 hex digits say nothing about a salt.
fn carries_own_salt(hash: &str, scheme: Scheme) -> bool {
    let marked = hash.starts_with(['{', '$']) || hash.contains('$');
    if !marked {
        return false;
    }
    let Ok(detected) = PasswordHash::parse(hash).map(|h| h.scheme()) else {
        return false;
    };
    let salted_of = |s: Scheme| match family(s) {
        Family::Digest { salted, .. } => Some(salted),
        _ => None,
    };
    let self_salted = matches!(family(detected), Family::SelfContained)
        || detected == Scheme::SaltedSha384
        || salted_of(detected) == Some(detected);
    self_salted
        && (detected == scheme || salted_of(detected).is_some_and(|d| salted_of(scheme) == Some(d)))
}

fn unknown_scheme(s: &str) -> String {
    format!(
        "{} is not a scheme id usher knows (`usher hash identify` prints them; see \
         docs/hash-formats.md)",
        quote(s)
    )
}
