//! JSON descriptors: hashes whose parameters sit beside the hash rather than inside it.
//!
//! * Auth0's `custom_password_hash` object (bulk import schema): `algorithm`, `hash`
//!   {`value`, `encoding`, `digest`, `key`}, `salt` {`value`, `encoding`, `position`},
//!   `password` {`encoding`}, and scrypt's `keylen`/`cost`/`blockSize`/`parallelization`.
//! * FusionAuth's import fields: `encryptionScheme`, `factor`, `salt`, `password`.
//! * A Keycloak credential from a realm export: `secretData` and `credentialData`, each a
//!   JSON object or (as exports write them) a string holding one.

use argon2::{Algorithm, Version};
use serde::Deserialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::digest::{self, Alg, Construction, Digest, Input, Output, Part, Shape};
use super::pbkdf2::{Pbkdf2, Prf};
use super::scrypt::{Scrypt, log2_exact};
use super::{Parsed, ok};
use crate::hash::{Kind, ParseOptions};
use crate::{HashError, Scheme, encoding};

/// Whether `s` opens like a JSON object rather than an LDAP `{TAG}`.
pub(crate) fn looks_like_json(s: &str) -> bool {
    s.strip_prefix('{').is_some_and(|r| {
        let r = r.trim_start();
        r.starts_with('"') || r.starts_with('}')
    })
}

/// Which descriptor a JSON object is, by its keys.
pub(crate) fn parse(s: &str, o: &ParseOptions) -> Parsed {
    let value: Value = serde_json::from_str(s)
        .map_err(|e| HashError::malformed(Scheme::Md5, "json", short(&e.to_string())))?;
    let Value::Object(map) = value else {
        return Err(HashError::Unrecognized);
    };
    if map.contains_key("algorithm") && map.contains_key("hash") {
        let desc: Auth0 = serde_json::from_value(Value::Object(map)).map_err(|e| {
            HashError::malformed(Scheme::Md5, "custom_password_hash", short(&e.to_string()))
        })?;
        return auth0(desc, o);
    }
    if map.contains_key("encryptionScheme") {
        return fusionauth(&map, o);
    }
    if map.contains_key("secretData") && map.contains_key("credentialData") {
        return keycloak(&map, o);
    }
    Err(HashError::Unrecognized)
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth0 {
    algorithm: String,
    hash: Auth0Hash,
    salt: Option<Auth0Salt>,
    password: Option<Auth0Password>,
    keylen: Option<u64>,
    cost: Option<u64>,
    #[serde(rename = "blockSize")]
    block_size: Option<u64>,
    parallelization: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth0Hash {
    value: String,
    encoding: Option<String>,
    digest: Option<String>,
    key: Option<Auth0Key>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth0Key {
    value: String,
    encoding: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth0Salt {
    value: String,
    encoding: Option<String>,
    position: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth0Password {
    encoding: Option<String>,
}

/// Decodes an Auth0 `value` under its `encoding` (hex, base64 or utf8).
fn auth0_bytes(
    o: &ParseOptions,
    scheme: Scheme,
    field: &'static str,
    value: &str,
    enc: Option<&str>,
    default: &str,
) -> Result<Vec<u8>, HashError> {
    match enc.unwrap_or(default) {
        "hex" => super::decode(o, scheme, field, value, encoding::hex, "hex"),
        "base64" => super::decode(o, scheme, field, value, encoding::b64_any, "base64"),
        "utf8" => Ok(value.as_bytes().to_vec()),
        _ => Err(HashError::malformed(
            scheme,
            field,
            "encoding must be hex, base64 or utf8",
        )),
    }
}

fn auth0(d: Auth0, o: &ParseOptions) -> Parsed {
    let input = match d
        .password
        .as_ref()
        .and_then(|p| p.encoding.as_deref())
        .unwrap_or("utf8")
    {
        "utf8" | "ascii" => Input::Bytes,
        "utf16le" | "ucs2" => Input::Utf16Le,
        "latin1" | "binary" => Input::Latin1,
        _ => {
            return Err(HashError::malformed(
                Scheme::Md5,
                "password.encoding",
                "unknown encoding",
            ));
        }
    };
    let value = d.hash.value.as_str();
    let enc = d.hash.encoding.as_deref();
    let salt_position = |scheme: Scheme| -> Result<Option<(Vec<u8>, bool)>, HashError> {
        let Some(salt) = &d.salt else { return Ok(None) };
        let bytes = auth0_bytes(
            o,
            scheme,
            "salt",
            &salt.value,
            salt.encoding.as_deref(),
            "utf8",
        )?;
        let prefix = match salt.position.as_deref().unwrap_or("prefix") {
            "prefix" => true,
            "suffix" => false,
            _ => {
                return Err(HashError::malformed(
                    scheme,
                    "salt.position",
                    "must be prefix or suffix",
                ));
            }
        };
        Ok(Some((bytes, prefix)))
    };
    match d.algorithm.as_str() {
        "argon2" => super::argon2::parse_phc(value, o),
        "bcrypt" if d.salt.is_none() => super::bcrypt::parse_mcf(value, o),
        "bcrypt" => Err(HashError::Unsupported("Auth0 bcrypt with a separate salt")),
        "ldap" => super::ldap::parse_tagged(value, o),
        "pbkdf2" => super::pbkdf2::parse_dollar(value, o),
        "hmac" => {
            let alg = d
                .hash
                .digest
                .as_deref()
                .and_then(Alg::from_name)
                .ok_or(HashError::Unsupported("Auth0 HMAC with this digest"))?;
            let scheme = digest::scheme_for(Shape::Hmac, alg, input)?;
            let key = d.hash.key.as_ref().ok_or(HashError::MissingParameter {
                scheme,
                what: "hash.key",
            })?;
            let key = Zeroizing::new(auth0_bytes(
                o,
                scheme,
                "hash.key",
                &key.value,
                key.encoding.as_deref(),
                "utf8",
            )?);
            let hash = auth0_bytes(o, scheme, "hash.value", value, enc, "hex")?;
            Digest::new(alg, input, Construction::Hmac { key }, Output::Raw, hash)?.into_parsed()
        }
        "md4" | "md5" | "sha1" | "sha256" | "sha512" => {
            let alg = Alg::from_name(&d.algorithm).ok_or(HashError::Unrecognized)?;
            let shape = if d.salt.is_some() {
                Shape::Salted
            } else {
                Shape::Plain
            };
            let scheme = digest::scheme_for(shape, alg, input)?;
            let hash = auth0_bytes(o, scheme, "hash.value", value, enc, "hex")?;
            let construction = match salt_position(scheme)? {
                None => Construction::Plain,
                Some((salt, true)) => Construction::Template {
                    parts: vec![Part::Salt, Part::Password],
                    salt,
                    iterations: 1,
                },
                Some((salt, false)) => Construction::Template {
                    parts: vec![Part::Password, Part::Salt],
                    salt,
                    iterations: 1,
                },
            };
            Digest::new(alg, input, construction, Output::Raw, hash)?.into_parsed()
        }
        "scrypt" => {
            let scheme = Scheme::Scrypt;
            let hash = auth0_bytes(o, scheme, "hash.value", value, enc, "hex")?;
            let salt = match salt_position(scheme)? {
                Some((salt, _)) => salt,
                None => {
                    return Err(HashError::MissingParameter {
                        scheme,
                        what: "salt",
                    });
                }
            };
            let keylen = d.keylen.ok_or(HashError::MissingParameter {
                scheme,
                what: "keylen",
            })?;
            if usize::try_from(keylen).ok() != Some(hash.len()) {
                return Err(HashError::malformed(
                    scheme,
                    "keylen",
                    "differs from the hash length",
                ));
            }
            let log_n = log2_exact(scheme, "cost", d.cost.unwrap_or(16_384))?;
            let (r, p) = (d.block_size.unwrap_or(8), d.parallelization.unwrap_or(1));
            ok(Kind::Scrypt(Scrypt::from_parts(
                o, log_n, r, p, salt, hash,
            )?))
        }
        _ => Err(HashError::Unsupported(
            "Auth0 custom_password_hash with this algorithm",
        )),
    }
}

fn str_field<'a>(
    map: &'a Map<String, Value>,
    scheme: Scheme,
    key: &'static str,
) -> Result<&'a str, HashError> {
    map.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| HashError::malformed(scheme, key, "missing or not a string"))
}

fn num_field(
    map: &Map<String, Value>,
    scheme: Scheme,
    key: &'static str,
) -> Result<u64, HashError> {
    match map.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| HashError::malformed(scheme, key, "not a non-negative integer")),
        Some(Value::String(s)) => digest::decimal(scheme, key, s),
        _ => Err(HashError::malformed(scheme, key, "missing")),
    }
}

fn fusionauth(map: &Map<String, Value>, o: &ParseOptions) -> Parsed {
    let name = map
        .get("encryptionScheme")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let b64 = |scheme: Scheme, key: &'static str| -> Result<Vec<u8>, HashError> {
        super::decode(
            o,
            scheme,
            key,
            str_field(map, scheme, key)?,
            encoding::b64,
            "base64",
        )
    };
    let pbkdf2 = |prf: Prf, scheme: Scheme| -> Parsed {
        let (salt, hash) = (b64(scheme, "salt")?, b64(scheme, "password")?);
        ok(Kind::Pbkdf2(Pbkdf2::from_parts(
            o,
            prf,
            num_field(map, scheme, "factor")?,
            salt,
            hash,
        )?))
    };
    match name {
        "salted-md5" | "salted-sha256" => {
            let (alg, scheme) = if name == "salted-md5" {
                (Alg::Md5, Scheme::SaltedMd5)
            } else {
                (Alg::Sha256, Scheme::SaltedSha256)
            };
            let (salt, hash) = (b64(scheme, "salt")?, b64(scheme, "password")?);
            digest::iterated(o, alg, salt, num_field(map, scheme, "factor")?, hash)
        }
        "salted-hmac-sha256" => {
            let scheme = Scheme::HmacSha256;
            let key = Zeroizing::new(b64(scheme, "salt")?);
            Digest::new(
                Alg::Sha256,
                Input::Bytes,
                Construction::Hmac { key },
                Output::Raw,
                b64(scheme, "password")?,
            )?
            .into_parsed()
        }
        "salted-pbkdf2-hmac-sha256" | "salted-pbkdf2-hmac-sha256-512" => {
            pbkdf2(Prf::Sha256, Scheme::Pbkdf2Sha256)
        }
        "salted-pbkdf2-hmac-sha512-512" => pbkdf2(Prf::Sha512, Scheme::Pbkdf2Sha512),
        "bcrypt" => {
            let scheme = Scheme::Bcrypt;
            let cost = num_field(map, scheme, "factor")?;
            let (salt, hash) = (
                str_field(map, scheme, "salt")?,
                str_field(map, scheme, "password")?,
            );
            super::bcrypt::parse_mcf(&format!("$2a${cost:02}${salt}{hash}"), o)
        }
        "phpass-md5" | "phpass-sha512" => {
            let sha512 = name == "phpass-sha512";
            let scheme = if sha512 {
                Scheme::DrupalSha512
            } else {
                Scheme::Phpass
            };
            let (salt, hash) = (
                str_field(map, scheme, "salt")?,
                str_field(map, scheme, "password")?,
            );
            super::phpass::from_parts(o, sha512, num_field(map, scheme, "factor")?, salt, hash)
        }
        _ => Err(HashError::Unsupported("FusionAuth encryptionScheme")),
    }
}

/// `secretData` / `credentialData`: an object, or a string holding one.
fn nested(map: &Map<String, Value>, key: &'static str) -> Result<Map<String, Value>, HashError> {
    let scheme = Scheme::Pbkdf2Sha256;
    match map.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(HashError::malformed(scheme, key, "not a JSON object")),
        },
        _ => Err(HashError::malformed(scheme, key, "missing")),
    }
}

/// Keycloak's `additionalParameters` values are lists of strings (`{"memory": ["7168"]}`).
fn additional(map: &Map<String, Value>, key: &str) -> Option<String> {
    let v = map.get("additionalParameters")?.get(key)?;
    match v {
        Value::Array(items) => items.first()?.as_str().map(str::to_owned),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn keycloak(map: &Map<String, Value>, o: &ParseOptions) -> Parsed {
    let secret = nested(map, "secretData")?;
    let data = nested(map, "credentialData")?;
    let algorithm = data
        .get("algorithm")
        .and_then(Value::as_str)
        .unwrap_or("pbkdf2-sha256");
    let prf = match algorithm {
        "pbkdf2" => Some(Prf::Sha1),
        "pbkdf2-sha256" => Some(Prf::Sha256),
        "pbkdf2-sha512" => Some(Prf::Sha512),
        _ => None,
    };
    let scheme = match (prf, algorithm) {
        (Some(Prf::Sha1), _) => Scheme::Pbkdf2Sha1,
        (Some(Prf::Sha512), _) => Scheme::Pbkdf2Sha512,
        (_, "argon2") => Scheme::Argon2id,
        _ => Scheme::Pbkdf2Sha256,
    };
    // Both are base64 strings in `secretData`.
    let b64_field = |field: &'static str| {
        let value = str_field(&secret, scheme, field)?;
        super::decode(o, scheme, field, value, encoding::b64, "base64")
    };
    let salt = b64_field("salt")?;
    let hash = b64_field("value")?;
    let iterations = num_field(&data, scheme, "hashIterations")?;
    if let Some(prf) = prf {
        return ok(Kind::Pbkdf2(Pbkdf2::from_parts(
            o, prf, iterations, salt, hash,
        )?));
    }
    if algorithm != "argon2" {
        return Err(HashError::Unsupported("Keycloak credential algorithm"));
    }
    let algorithm = match additional(&data, "type").as_deref().unwrap_or("id") {
        "id" => Algorithm::Argon2id,
        "i" => Algorithm::Argon2i,
        "d" => Algorithm::Argon2d,
        _ => return Err(HashError::malformed(scheme, "type", "expected id, i or d")),
    };
    let version = match additional(&data, "version").as_deref().unwrap_or("1.3") {
        "1.3" => Version::V0x13,
        "1.0" => Version::V0x10,
        _ => {
            return Err(HashError::malformed(
                scheme,
                "version",
                "expected 1.3 or 1.0",
            ));
        }
    };
    let get = |key: &'static str, default: u64| -> Result<u64, HashError> {
        additional(&data, key).map_or(Ok(default), |v| digest::decimal(scheme, key, &v))
    };
    let (m, p) = (get("memory", 7168)?, get("parallelism", 1)?);
    let parsed =
        super::argon2::Argon2::from_parts(o, algorithm, version, m, iterations, p, salt, hash)?;
    ok(Kind::Argon2(parsed))
}
