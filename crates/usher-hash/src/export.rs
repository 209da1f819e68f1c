//! Hashes in the encodings identity providers' imports accept, so a user keeps their
//! password when they are exported into one.
//!
//! [`PasswordHash::to_auth0`] writes Auth0's `custom_password_hash` object, as Auth0's bulk
//! import schema and its "bulk user import database schema and examples" page define it:
//!
//! | usher scheme | Auth0 `algorithm` | form |
//! |---|---|---|
//! | bcrypt `$2a$`, `$2b$`, `$2y$` | `bcrypt` | the hash string, `utf8` |
//! | argon2id, argon2i, argon2d | `argon2` | PHC string, `utf8` |
//! | pbkdf2-sha1, -sha256, -sha384, -sha512 | `pbkdf2` | PHC `$pbkdf2-<digest>$i=<n>,l=<bytes>$<salt>$<hash>`, unpadded base64, `utf8` |
//! | scrypt | `scrypt` | hash and salt `base64`, with `keylen`, `cost` (N), `blockSize`, `parallelization` |
//! | md4, md5, sha1, sha256, sha512 | the same | `hex`; NT hashes with the password encoded `utf16le` |
//! | salted-md5, -sha1, -sha256, -sha512 | the digest's | `hex`, salt `base64`, `prefix` or `suffix`, one iteration |
//! | hmac-md5, -sha1, -sha256, -sha512 | `hmac` | `hex`, its `digest`, its key `base64` |
//!
//! [`PasswordHash::to_okta`] writes Okta's `credentials.password.hash` object
//! (`PasswordCredentialHash` in Okta's management API):
//!
//! | usher scheme | Okta `algorithm` | form |
//! |---|---|---|
//! | bcrypt `$2a$`, `$2b$`, `$2y$`, cost at most 20 | `BCRYPT` | `workFactor`, the 22-character `salt`, the 31-character `value` |
//! | md5, sha1, sha256, sha512 | `MD5`, `SHA-1`, `SHA-256`, `SHA-512` | `value` base64 |
//! | salted-md5, -sha1, -sha256, -sha512, once | the same | with `salt` base64 and `saltOrder` `PREFIX` or `POSTFIX` |
//! | pbkdf2-sha256, -sha512, at least 4096 iterations | `PBKDF2` | `iterationCount`, `keySize`, `digestAlgorithm` `SHA256_HMAC` or `SHA512_HMAC`, `salt` and `value` base64 |
//!
//! [`PasswordHash::to_kratos`] writes Ory Kratos's `hashed_password`, in the forms Kratos's
//! hash comparator detects:
//!
//! | usher scheme | Kratos |
//! |---|---|
//! | bcrypt `$2a$`, `$2b$`, `$2y$` | the hash string |
//! | argon2id, argon2i | PHC, unpadded base64 |
//! | pbkdf2-sha1, -sha256, -sha512 | `$pbkdf2-<digest>$i=<n>,l=<bytes>$<salt>$<hash>`, unpadded base64 |
//! | scrypt | `$scrypt$ln=<N>,r=<r>,p=<p>$<salt>$<hash>` (`ln` is N itself), base64 |
//! | firebase-scrypt | `$firescrypt$ln=<log2 N>,r=<rounds>,p=<p>$<salt>$<hash>$<separator>$<signer key>`, base64 |
//! | md5, sha1, sha256, sha512, plain or with a salt template, once | `$md5$pf=<template>$<salt>$<hash>` (and `$sha1$`, ...), base64, the template in Kratos's `{SALT}` and `{PASSWORD}` |
//! | hmac-md5 ... hmac-sha512 | `$hmac-<digest>$<base64 of the HMAC's hex text>$<base64 key>` |
//!
//! [`PasswordHash::to_fusionauth`] writes FusionAuth's `encryptionScheme`, `factor`, `salt` and
//! `password`, for FusionAuth's built-in password encryptors:
//!
//! | usher scheme | FusionAuth `encryptionScheme` | form |
//! |---|---|---|
//! | bcrypt `$2a$`, `$2b$`, `$2y$` | `bcrypt` | `factor` the cost, `salt` the 22 characters, `password` the 31 |
//! | md5, salted-md5 (password then salt), iterated | `salted-md5` | `factor` the iterations, `salt` and `password` base64 |
//! | sha256, salted-sha256 (password then salt), iterated | `salted-sha256` | the same |
//! | hmac-sha256 | `salted-hmac-sha256` | the key as `salt` |
//! | pbkdf2-sha256 (32 or 64 bytes), pbkdf2-sha512 (64 bytes) | `salted-pbkdf2-hmac-sha256`, `-sha256-512`, `-sha512-512` | `factor` the iterations |
//!
//! [`PasswordHash::to_supabase`] writes Supabase Auth's `password_hash` (GoTrue's
//! `NewUserWithPasswordHash`): bcrypt (`$2a$`, `$2b$`, `$2y$`), Argon2i and Argon2id version
//! 19 as PHC (m at most 1 GiB, t at most 20, p at most 16), and Firebase scrypt as
//! `$fbscrypt$v=1,n=<log2 N>,r=<rounds>,p=<p>,ss=<separator>,sk=<signer key>$<salt>$<hash>`.
//!
//! [`PasswordHash::to_clerk`] writes Clerk's `password_digest` with its `password_hasher`, for
//! the hashers Clerk's create-user documents a digest form for: `bcrypt`, `argon2i`,
//! `argon2id` (PHC, version 19), `md5` and `sha256` (unsalted hex), `pbkdf2_sha1`
//! (`pbkdf2_sha1$<iterations>$<hex salt>$<hex hash>$<key length>`), `pbkdf2_sha256`
//! (`pbkdf2_sha256$<iterations>$<base64 salt>$<base64 hash>`) and `scrypt_firebase`
//! (`<hash>$<salt>$<signer key>$<separator>$<rounds>$<memory cost>`, base64).
//!
//! [`PasswordHash::to_supertokens`] writes SuperTokens' `passwordHash` with its
//! `hashingAlgorithm` for bulk import: `bcrypt` (the string), `argon2` (PHC, version 19) and
//! `firebase_scrypt` (`$f_scrypt$<hash>$<salt>$m=<memory cost>$r=<rounds>$s=<separator>`,
//! base64; the project's signer key goes in the core's `firebase_password_hashing_signer_key`).
//!
//! [`PasswordHash::to_keycloak`] writes a Keycloak password credential (`secretData` and
//! `credentialData`, JSON in strings) for Keycloak's built-in hash providers: `pbkdf2`,
//! `pbkdf2-sha256` and `pbkdf2-sha512` (the derived key and the salt standard base64, the
//! iterations as `hashIterations`) and `argon2` (the raw output, with `type`, `version`,
//! `hashLength`, `memory` and `parallelism`, and `hashIterations` the passes). The parameters go
//! under both `algorithmData`, which Keycloak's JSON creator reads, and `additionalParameters`,
//! which its exports write.
//!
//! [`PasswordHash::to_firebase`] writes a Firebase `accounts:batchCreate` request's hash
//! options and the user's `passwordHash` and `salt` (web-safe base64): `BCRYPT` (the string),
//! `SCRYPT` (Firebase's scrypt: `signerKey`, `saltSeparator`, `rounds` 1–8, `memoryCost`
//! 1–14) and `STANDARD_SCRYPT` (`cpuMemCost` N, `blockSize`, `parallelization`, `dkLen`).
//! Firebase's PBKDF2, digest and HMAC imports do not say how they apply the salt or how long a
//! key they derive, so such hashes are not sent where they could not be checked.
//!
//! [`PasswordHash::to_zitadel`] writes ZITADEL's `hashedPassword.hash`, the Modular Crypt
//! Format strings its passwap verifiers read: bcrypt, argon2i and argon2id (version 19), `$1$`
//! MD5-crypt, `$5$`/`$6$` SHA-crypt with `rounds=` always written, `$scrypt$ln=<log2 N>`,
//! passlib's `$pbkdf2[-sha256|-sha512]$<rounds>$<ab64 salt>$<ab64 hash>` at passlib's key
//! lengths, phpass `$P$`, Drupal 7 `$S$` and bare-hex MD5; at most 200 characters.
//!
//! For every target, everything else (crypt(3) families, phpass, Firebase scrypt, MySQL, SHA-384 digests,
//! iterated or templated salts, Django's prehashed bcrypt, plaintext) has no Auth0 form:
//! [`NotExportable`] names the scheme, and the user goes to the provider's hook instead.

use serde_json::{Value, json};

use crate::encoding::{b64_encode, b64_encode_unpadded};
use crate::formats::bcrypt::{Minor, Prehash};
use crate::formats::digest::{Alg, Construction, Input, Output, Part};
use crate::formats::pbkdf2::Prf;
use crate::hash::Kind;
use crate::{PasswordHash, Scheme};

/// A hash the target cannot take, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target} cannot take {scheme} hashes{detail}", scheme = scheme.id())]
pub struct NotExportable {
    /// The target.
    pub target: &'static str,
    /// The hash's scheme.
    pub scheme: Scheme,
    /// What about it, when the scheme alone does not say (`: iterated salt`).
    pub detail: String,
}

/// Where a salt goes around the password, for a salted digest computed once: `Some(true)`
/// before it, `Some(false)` after; `None` for any other template.
fn salt_before(parts: &[Part]) -> Option<bool> {
    match parts {
        [Part::Salt, Part::Password] => Some(true),
        [Part::Password, Part::Salt] => Some(false),
        _ => None,
    }
}

/// The standard bcrypt string of a hash every target's bcrypt reads (`$2a$`, `$2b$`, `$2y$`,
/// with no pre-hash), or why not.
fn bcrypt_string(b: &crate::formats::bcrypt::Bcrypt) -> Result<String, &'static str> {
    if b.prehash != Prehash::None {
        return Err("the password is prehashed");
    }
    let minor = match b.minor {
        Minor::A => "2a",
        Minor::B => "2b",
        Minor::Y => "2y",
        Minor::X => return Err("`$2x$`"),
    };
    Ok(format!("${minor}${:02}${}", b.cost, b.tail))
}

/// The PHC string of an Argon2 hash (unpadded base64), or why not.
fn argon2_phc(a: &crate::formats::argon2::Argon2) -> Result<String, &'static str> {
    if !a.data.is_empty() {
        return Err("associated data");
    }
    let algorithm = match a.algorithm {
        argon2::Algorithm::Argon2d => "argon2d",
        argon2::Algorithm::Argon2i => "argon2i",
        argon2::Algorithm::Argon2id => "argon2id",
    };
    Ok(format!(
        "${algorithm}$v={}$m={},t={},p={}${}${}",
        u32::from(a.version),
        a.m_kib,
        a.t,
        a.p,
        b64_encode_unpadded(&a.salt),
        b64_encode_unpadded(&a.hash)
    ))
}

/// The PHC string of a PBKDF2 hash (`$pbkdf2-<digest>$i=<n>,l=<bytes>$<salt>$<hash>`, unpadded
/// base64), as Auth0 and Kratos read it.
fn pbkdf2_phc(p: &crate::formats::pbkdf2::Pbkdf2) -> String {
    let digest = match p.prf {
        Prf::Sha1 => "sha1",
        Prf::Sha256 => "sha256",
        Prf::Sha384 => "sha384",
        Prf::Sha512 => "sha512",
        Prf::Whirlpool => "whirlpool",
    };
    format!(
        "$pbkdf2-{digest}$i={},l={}${}${}",
        p.iterations,
        p.hash.len(),
        b64_encode_unpadded(&p.salt),
        b64_encode_unpadded(&p.hash)
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PasswordHash {
    fn not_for(&self, target: &'static str, detail: &str) -> NotExportable {
        NotExportable {
            target,
            scheme: self.scheme(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            },
        }
    }

    /// Auth0's `custom_password_hash` for this hash: see the module docs.
    pub fn to_auth0(&self) -> Result<Value, NotExportable> {
        const AUTH0: &str = "auth0";
        let utf8 = |algorithm: &str, value: String| json!({ "algorithm": algorithm, "hash": { "value": value, "encoding": "utf8" } });
        match &self.0 {
            Kind::Bcrypt(b) => bcrypt_string(b)
                .map(|s| utf8("bcrypt", s))
                .map_err(|why| self.not_for(AUTH0, why)),
            Kind::Argon2(a) => argon2_phc(a)
                .map(|s| utf8("argon2", s))
                .map_err(|why| self.not_for(AUTH0, why)),
            Kind::Pbkdf2(p) if p.prf == Prf::Whirlpool => Err(self.not_for(AUTH0, "")),
            Kind::Pbkdf2(p) => Ok(utf8("pbkdf2", pbkdf2_phc(p))),
            Kind::Scrypt(s) => Ok(json!({
                "algorithm": "scrypt",
                "hash": { "value": b64_encode(&s.hash), "encoding": "base64" },
                "salt": { "value": b64_encode(&s.salt), "encoding": "base64" },
                "keylen": s.hash.len(),
                "cost": 1u64 << s.log_n,
                "blockSize": s.r,
                "parallelization": s.p,
            })),
            Kind::Digest(d) => {
                let algorithm = match d.alg {
                    Alg::Md4 => "md4",
                    Alg::Md5 => "md5",
                    Alg::Sha1 => "sha1",
                    Alg::Sha256 => "sha256",
                    Alg::Sha512 => "sha512",
                    Alg::Sha384 => return Err(self.not_for(AUTH0, "")),
                };
                if d.output != Output::Raw {
                    return Err(self.not_for(AUTH0, "the digest's hex text is hashed"));
                }
                let password = match d.input {
                    Input::Bytes => None,
                    Input::Utf16Le => Some("utf16le"),
                    Input::Latin1 => Some("latin1"),
                };
                let mut out = match &d.construction {
                    Construction::Plain => json!({
                        "algorithm": algorithm,
                        "hash": { "value": hex(&d.expected), "encoding": "hex" },
                    }),
                    Construction::Template {
                        parts,
                        salt,
                        iterations: 1,
                    } => {
                        let position = match salt_before(parts) {
                            Some(true) => "prefix",
                            Some(false) => "suffix",
                            None => return Err(self.not_for(AUTH0, "a salt template")),
                        };
                        json!({
                            "algorithm": algorithm,
                            "hash": { "value": hex(&d.expected), "encoding": "hex" },
                            "salt": { "value": b64_encode(salt), "encoding": "base64",
                                      "position": position },
                        })
                    }
                    Construction::Template { .. } => {
                        return Err(self.not_for(AUTH0, "an iterated salt"));
                    }
                    Construction::Hmac { key } => json!({
                        "algorithm": "hmac",
                        "hash": {
                            "value": hex(&d.expected),
                            "encoding": "hex",
                            "digest": algorithm,
                            "key": { "value": b64_encode(key), "encoding": "base64" },
                        },
                    }),
                    Construction::Mysql41 => return Err(self.not_for(AUTH0, "")),
                };
                if let (Some(encoding), Some(object)) = (password, out.as_object_mut()) {
                    object.insert("password".into(), json!({ "encoding": encoding }));
                }
                Ok(out)
            }
            Kind::Md5Crypt(_)
            | Kind::ShaCrypt(_)
            | Kind::Yescrypt(_)
            | Kind::DesCrypt(_)
            | Kind::Sha1Crypt(_)
            | Kind::SunMd5(_)
            | Kind::Mysql323(_)
            | Kind::MysqlSha2(_)
            | Kind::Scram(_)
            | Kind::FieldSalted(_)
            | Kind::Phpass(_)
            | Kind::Firebase(_)
            | Kind::Plaintext(_) => Err(self.not_for(AUTH0, "")),
        }
    }
    /// Okta's `credentials.password.hash` for this hash: see the module docs.
    pub fn to_okta(&self) -> Result<Value, NotExportable> {
        const OKTA: &str = "okta";
        match &self.0 {
            Kind::Bcrypt(b) => {
                bcrypt_string(b).map_err(|why| self.not_for(OKTA, why))?;
                if b.cost > 20 {
                    return Err(self.not_for(OKTA, "a cost above 20"));
                }
                let (salt, value) = b.tail.split_at(22);
                Ok(json!({
                    "algorithm": "BCRYPT",
                    "workFactor": b.cost,
                    "salt": salt,
                    "value": value,
                }))
            }
            Kind::Pbkdf2(p) => {
                let digest = match p.prf {
                    Prf::Sha256 => "SHA256_HMAC",
                    Prf::Sha512 => "SHA512_HMAC",
                    Prf::Sha1 | Prf::Sha384 | Prf::Whirlpool => {
                        return Err(self.not_for(OKTA, ""));
                    }
                };
                if p.iterations < 4096 {
                    return Err(self.not_for(OKTA, "fewer than 4096 iterations"));
                }
                Ok(json!({
                    "algorithm": "PBKDF2",
                    "iterationCount": p.iterations,
                    "keySize": p.hash.len(),
                    "digestAlgorithm": digest,
                    "salt": b64_encode(&p.salt),
                    "value": b64_encode(&p.hash),
                }))
            }
            Kind::Digest(d) => {
                let algorithm = match d.alg {
                    Alg::Md5 => "MD5",
                    Alg::Sha1 => "SHA-1",
                    Alg::Sha256 => "SHA-256",
                    Alg::Sha512 => "SHA-512",
                    Alg::Md4 | Alg::Sha384 => return Err(self.not_for(OKTA, "")),
                };
                if d.output != Output::Raw || d.input != Input::Bytes {
                    return Err(self.not_for(OKTA, "an encoded password or digest"));
                }
                match &d.construction {
                    Construction::Plain => Ok(json!({
                        "algorithm": algorithm,
                        "value": b64_encode(&d.expected),
                    })),
                    Construction::Template {
                        parts,
                        salt,
                        iterations: 1,
                    } => {
                        let order = match salt_before(parts) {
                            Some(true) => "PREFIX",
                            Some(false) => "POSTFIX",
                            None => return Err(self.not_for(OKTA, "a salt template")),
                        };
                        Ok(json!({
                            "algorithm": algorithm,
                            "salt": b64_encode(salt),
                            "saltOrder": order,
                            "value": b64_encode(&d.expected),
                        }))
                    }
                    _ => Err(self.not_for(OKTA, "")),
                }
            }
            _ => Err(self.not_for(OKTA, "")),
        }
    }
    /// Kratos's `hashed_password` for this hash: see the module docs.
    pub fn to_kratos(&self) -> Result<String, NotExportable> {
        const KRATOS: &str = "kratos";
        match &self.0 {
            Kind::Bcrypt(b) => bcrypt_string(b).map_err(|why| self.not_for(KRATOS, why)),
            Kind::Argon2(a) if a.algorithm == argon2::Algorithm::Argon2d => {
                Err(self.not_for(KRATOS, ""))
            }
            Kind::Argon2(a) => argon2_phc(a).map_err(|why| self.not_for(KRATOS, why)),
            // Kratos reads `pbkdf2-sha384` as SHA3-384.
            Kind::Pbkdf2(p) if matches!(p.prf, Prf::Sha384 | Prf::Whirlpool) => {
                Err(self.not_for(KRATOS, ""))
            }
            Kind::Pbkdf2(p) => Ok(pbkdf2_phc(p)),
            Kind::Scrypt(s) => Ok(format!(
                "$scrypt$ln={},r={},p={}${}${}",
                1u64 << s.log_n,
                s.r,
                s.p,
                b64_encode(&s.salt),
                b64_encode(&s.hash)
            )),
            Kind::Firebase(f) => Ok(format!(
                "$firescrypt$ln={},r={},p={}${}${}${}${}",
                f.mem_cost,
                f.rounds,
                f.p,
                b64_encode(&f.salt),
                b64_encode(&f.hash),
                b64_encode(&f.separator),
                b64_encode(&f.signer_key)
            )),
            Kind::Digest(d) => {
                let algorithm = match d.alg {
                    Alg::Md5 => "md5",
                    Alg::Sha1 => "sha1",
                    Alg::Sha256 => "sha256",
                    Alg::Sha512 => "sha512",
                    Alg::Md4 | Alg::Sha384 => return Err(self.not_for(KRATOS, "")),
                };
                if d.input != Input::Bytes {
                    return Err(self.not_for(KRATOS, "an encoded password"));
                }
                match &d.construction {
                    Construction::Hmac { key } => {
                        let text = match d.output {
                            Output::Raw => hex(&d.expected).into_bytes(),
                            Output::HexText => d.expected.clone(),
                        };
                        Ok(format!(
                            "$hmac-{algorithm}${}${}",
                            b64_encode(&text),
                            b64_encode(key)
                        ))
                    }
                    _ if d.output != Output::Raw => {
                        Err(self.not_for(KRATOS, "the digest's hex text is hashed"))
                    }
                    // Kratos's own form for a plain MD5; the others have only the template's.
                    Construction::Plain if d.alg == Alg::Md5 => {
                        Ok(format!("$md5${}", b64_encode(&d.expected)))
                    }
                    Construction::Plain => Ok(format!(
                        "${algorithm}$pf={}$${}",
                        b64_encode(b"{PASSWORD}"),
                        b64_encode(&d.expected)
                    )),
                    Construction::Template {
                        parts,
                        salt,
                        iterations: 1,
                    } => {
                        let mut template = Vec::new();
                        for part in parts {
                            match part {
                                Part::Password => template.extend_from_slice(b"{PASSWORD}"),
                                Part::Salt => template.extend_from_slice(b"{SALT}"),
                                Part::Literal(text) if !text.contains(&b'{') => {
                                    template.extend_from_slice(text);
                                }
                                Part::Literal(_) => {
                                    return Err(self.not_for(KRATOS, "a brace in the template"));
                                }
                            }
                        }
                        Ok(format!(
                            "${algorithm}$pf={}${}${}",
                            b64_encode(&template),
                            b64_encode(salt),
                            b64_encode(&d.expected)
                        ))
                    }
                    Construction::Template { .. } | Construction::Mysql41 => {
                        Err(self.not_for(KRATOS, ""))
                    }
                }
            }
            Kind::Md5Crypt(_)
            | Kind::ShaCrypt(_)
            | Kind::Yescrypt(_)
            | Kind::DesCrypt(_)
            | Kind::Sha1Crypt(_)
            | Kind::SunMd5(_)
            | Kind::Mysql323(_)
            | Kind::MysqlSha2(_)
            | Kind::Scram(_)
            | Kind::FieldSalted(_)
            | Kind::Phpass(_)
            | Kind::Plaintext(_) => Err(self.not_for(KRATOS, "")),
        }
    }
    /// FusionAuth's `encryptionScheme`, `factor`, `salt` and `password` for this hash, as one
    /// JSON object: see the module docs.
    pub fn to_fusionauth(&self) -> Result<Value, NotExportable> {
        const FUSIONAUTH: &str = "fusionauth";
        let fields = |scheme: &str, factor: u64, salt: String, password: String| {
            json!({ "encryptionScheme": scheme, "factor": factor, "salt": salt,
                    "password": password })
        };
        match &self.0 {
            Kind::Bcrypt(b) => {
                bcrypt_string(b).map_err(|why| self.not_for(FUSIONAUTH, why))?;
                let (salt, password) = b.tail.split_at(22);
                Ok(fields(
                    "bcrypt",
                    u64::from(b.cost),
                    salt.to_owned(),
                    password.to_owned(),
                ))
            }
            Kind::Pbkdf2(p) => {
                let scheme = match (p.prf, p.hash.len()) {
                    (Prf::Sha256, 32) => "salted-pbkdf2-hmac-sha256",
                    (Prf::Sha256, 64) => "salted-pbkdf2-hmac-sha256-512",
                    (Prf::Sha512, 64) => "salted-pbkdf2-hmac-sha512-512",
                    _ => return Err(self.not_for(FUSIONAUTH, "this digest and key length")),
                };
                Ok(fields(
                    scheme,
                    u64::from(p.iterations),
                    b64_encode(&p.salt),
                    b64_encode(&p.hash),
                ))
            }
            Kind::Digest(d) => {
                if d.output != Output::Raw || d.input != Input::Bytes {
                    return Err(self.not_for(FUSIONAUTH, "an encoded password or digest"));
                }
                let scheme = match d.alg {
                    Alg::Md5 => "salted-md5",
                    Alg::Sha256 => "salted-sha256",
                    _ => return Err(self.not_for(FUSIONAUTH, "")),
                };
                match &d.construction {
                    Construction::Plain => {
                        Ok(fields(scheme, 1, String::new(), b64_encode(&d.expected)))
                    }
                    // FusionAuth digests the password, then the salt, `factor` times.
                    Construction::Template {
                        parts,
                        salt,
                        iterations,
                    } if salt_before(parts) == Some(false) => Ok(fields(
                        scheme,
                        u64::from(*iterations),
                        b64_encode(salt),
                        b64_encode(&d.expected),
                    )),
                    Construction::Hmac { key } if d.alg == Alg::Sha256 && !key.is_empty() => {
                        Ok(fields(
                            "salted-hmac-sha256",
                            1,
                            b64_encode(key),
                            b64_encode(&d.expected),
                        ))
                    }
                    _ => Err(self.not_for(FUSIONAUTH, "")),
                }
            }
            _ => Err(self.not_for(FUSIONAUTH, "")),
        }
    }
    /// Supabase Auth's `password_hash` for this hash: see the module docs.
    pub fn to_supabase(&self) -> Result<String, NotExportable> {
        const SUPABASE: &str = "supabase";
        match &self.0 {
            Kind::Bcrypt(b) => bcrypt_string(b).map_err(|why| self.not_for(SUPABASE, why)),
            Kind::Argon2(a) => {
                if a.algorithm == argon2::Algorithm::Argon2d || a.version != argon2::Version::V0x13
                {
                    return Err(self.not_for(SUPABASE, "only argon2i and argon2id, version 19"));
                }
                if a.m_kib > 1_048_576 || a.t > 20 || a.p > 16 {
                    return Err(self.not_for(SUPABASE, "parameters above its limits"));
                }
                argon2_phc(a).map_err(|why| self.not_for(SUPABASE, why))
            }
            Kind::Firebase(f) => Ok(format!(
                "$fbscrypt$v=1,n={},r={},p={},ss={},sk={}${}${}",
                f.mem_cost,
                f.rounds,
                f.p,
                b64_encode(&f.separator),
                b64_encode(&f.signer_key),
                b64_encode(&f.salt),
                b64_encode(&f.hash)
            )),
            _ => Err(self.not_for(SUPABASE, "")),
        }
    }
    /// Clerk's `(password_hasher, password_digest)` for this hash: see the module docs.
    pub fn to_clerk(&self) -> Result<(&'static str, String), NotExportable> {
        const CLERK: &str = "clerk";
        match &self.0 {
            Kind::Bcrypt(b) => bcrypt_string(b)
                .map(|s| ("bcrypt", s))
                .map_err(|why| self.not_for(CLERK, why)),
            Kind::Argon2(a) => {
                let hasher = match a.algorithm {
                    argon2::Algorithm::Argon2i => "argon2i",
                    argon2::Algorithm::Argon2id => "argon2id",
                    argon2::Algorithm::Argon2d => return Err(self.not_for(CLERK, "")),
                };
                if a.version != argon2::Version::V0x13 {
                    return Err(self.not_for(CLERK, "only version 19"));
                }
                argon2_phc(a)
                    .map(|s| (hasher, s))
                    .map_err(|why| self.not_for(CLERK, why))
            }
            Kind::Pbkdf2(p) => match p.prf {
                Prf::Sha1 => Ok((
                    "pbkdf2_sha1",
                    format!(
                        "pbkdf2_sha1${}${}${}${}",
                        p.iterations,
                        hex(&p.salt),
                        hex(&p.hash),
                        p.hash.len()
                    ),
                )),
                Prf::Sha256 if p.hash.len() == 32 => Ok((
                    "pbkdf2_sha256",
                    format!(
                        "pbkdf2_sha256${}${}${}",
                        p.iterations,
                        b64_encode(&p.salt),
                        b64_encode(&p.hash)
                    ),
                )),
                _ => Err(self.not_for(CLERK, "this digest or key length")),
            },
            Kind::Firebase(f) if f.p != 1 => Err(self.not_for(CLERK, "parallelism other than 1")),
            Kind::Firebase(f) => Ok((
                "scrypt_firebase",
                format!(
                    "{}${}${}${}${}${}",
                    b64_encode(&f.hash),
                    b64_encode(&f.salt),
                    b64_encode(&f.signer_key),
                    b64_encode(&f.separator),
                    f.rounds,
                    f.mem_cost
                ),
            )),
            Kind::Digest(d)
                if matches!(d.construction, Construction::Plain)
                    && d.output == Output::Raw
                    && d.input == Input::Bytes =>
            {
                match d.alg {
                    Alg::Md5 => Ok(("md5", hex(&d.expected))),
                    Alg::Sha256 => Ok(("sha256", hex(&d.expected))),
                    _ => Err(self.not_for(CLERK, "")),
                }
            }
            _ => Err(self.not_for(CLERK, "")),
        }
    }
    /// SuperTokens' `(hashingAlgorithm, passwordHash)` for this hash: see the module docs.
    pub fn to_supertokens(&self) -> Result<(&'static str, String), NotExportable> {
        const SUPERTOKENS: &str = "supertokens";
        match &self.0 {
            Kind::Bcrypt(b) => bcrypt_string(b)
                .map(|s| ("bcrypt", s))
                .map_err(|why| self.not_for(SUPERTOKENS, why)),
            Kind::Argon2(a) if a.version != argon2::Version::V0x13 => {
                Err(self.not_for(SUPERTOKENS, "only version 19"))
            }
            Kind::Argon2(a) => argon2_phc(a)
                .map(|s| ("argon2", s))
                .map_err(|why| self.not_for(SUPERTOKENS, why)),
            Kind::Firebase(f) if f.p != 1 => Err(self.not_for(SUPERTOKENS, "p other than 1")),
            Kind::Firebase(f) => Ok((
                "firebase_scrypt",
                format!(
                    "$f_scrypt${}${}$m={}$r={}$s={}",
                    b64_encode(&f.hash),
                    b64_encode(&f.salt),
                    f.mem_cost,
                    f.rounds,
                    b64_encode(&f.separator)
                ),
            )),
            _ => Err(self.not_for(SUPERTOKENS, "")),
        }
    }
}

impl PasswordHash {
    /// A Keycloak password credential for this hash: see the module docs.
    pub fn to_keycloak(&self) -> Result<Value, NotExportable> {
        const KEYCLOAK: &str = "keycloak";
        let (value, salt, iterations, algorithm, parameters) = match &self.0 {
            Kind::Pbkdf2(p) => {
                let algorithm = match p.prf {
                    Prf::Sha1 => "pbkdf2",
                    Prf::Sha256 => "pbkdf2-sha256",
                    Prf::Sha512 => "pbkdf2-sha512",
                    Prf::Sha384 => {
                        return Err(self.not_for(KEYCLOAK, "only recent releases have it"));
                    }
                    Prf::Whirlpool => return Err(self.not_for(KEYCLOAK, "")),
                };
                (&p.hash, &p.salt, p.iterations, algorithm, json!({}))
            }
            Kind::Argon2(a) => {
                if !a.data.is_empty() {
                    return Err(self.not_for(KEYCLOAK, "associated data"));
                }
                let kind = match a.algorithm {
                    argon2::Algorithm::Argon2d => "d",
                    argon2::Algorithm::Argon2i => "i",
                    argon2::Algorithm::Argon2id => "id",
                };
                let version = match a.version {
                    argon2::Version::V0x10 => "1.0",
                    argon2::Version::V0x13 => "1.3",
                };
                let parameters = json!({
                    "type": [kind],
                    "version": [version],
                    "hashLength": [a.hash.len().to_string()],
                    "memory": [a.m_kib.to_string()],
                    "parallelism": [a.p.to_string()],
                });
                (&a.hash, &a.salt, a.t, "argon2", parameters)
            }
            _ => return Err(self.not_for(KEYCLOAK, "")),
        };
        let secret = json!({
            "value": b64_encode(value),
            "salt": b64_encode(salt),
            "additionalParameters": {},
        });
        let credential = json!({
            "hashIterations": iterations,
            "algorithm": algorithm,
            "algorithmData": parameters,
            "additionalParameters": parameters,
        });
        Ok(json!({
            "type": "password",
            "secretData": secret.to_string(),
            "credentialData": credential.to_string(),
        }))
    }

    /// Firebase's hash options (the `accounts:batchCreate` request's) and the user's
    /// `passwordHash` and `salt` for this hash: see the module docs. Users go to Firebase in
    /// requests of one set of options each.
    pub fn to_firebase(&self) -> Result<(Value, Value), NotExportable> {
        const FIREBASE: &str = "firebase";
        let web = crate::encoding::b64_url_encode;
        match &self.0 {
            Kind::Bcrypt(b) => {
                let string = bcrypt_string(b).map_err(|why| self.not_for(FIREBASE, why))?;
                Ok((
                    json!({ "hashAlgorithm": "BCRYPT" }),
                    json!({ "passwordHash": web(string.as_bytes()) }),
                ))
            }
            Kind::Firebase(f) => {
                if f.p != 1 || !(1..=8).contains(&f.rounds) || !(1..=14).contains(&f.mem_cost) {
                    return Err(self.not_for(
                        FIREBASE,
                        "parameters outside its range (rounds 1-8, memory cost 1-14, p 1)",
                    ));
                }
                Ok((
                    json!({
                        "hashAlgorithm": "SCRYPT",
                        "signerKey": web(&f.signer_key),
                        "saltSeparator": web(&f.separator),
                        "rounds": f.rounds,
                        "memoryCost": f.mem_cost,
                    }),
                    json!({ "passwordHash": web(&f.hash), "salt": web(&f.salt) }),
                ))
            }
            Kind::Scrypt(s) => Ok((
                json!({
                    "hashAlgorithm": "STANDARD_SCRYPT",
                    "cpuMemCost": 1u64 << s.log_n,
                    "blockSize": s.r,
                    "parallelization": s.p,
                    "dkLen": s.hash.len(),
                }),
                json!({ "passwordHash": web(&s.hash), "salt": web(&s.salt) }),
            )),
            Kind::Pbkdf2(_) | Kind::Digest(_) => Err(self.not_for(
                FIREBASE,
                "its import does not document how the salt is applied or the key's length",
            )),
            _ => Err(self.not_for(FIREBASE, "")),
        }
    }

    /// ZITADEL's `hashedPassword.hash` for this hash: see the module docs.
    pub fn to_zitadel(&self) -> Result<String, NotExportable> {
        const ZITADEL: &str = "zitadel";
        let hash = self.zitadel_string()?;
        if hash.len() > 200 {
            return Err(self.not_for(ZITADEL, "longer than the 200 characters it takes"));
        }
        Ok(hash)
    }

    fn zitadel_string(&self) -> Result<String, NotExportable> {
        const ZITADEL: &str = "zitadel";
        match &self.0 {
            Kind::Bcrypt(b) => bcrypt_string(b).map_err(|why| self.not_for(ZITADEL, why)),
            Kind::Argon2(a) => {
                if a.algorithm == argon2::Algorithm::Argon2d || a.version != argon2::Version::V0x13
                {
                    return Err(self.not_for(ZITADEL, "only argon2i and argon2id, version 19"));
                }
                argon2_phc(a).map_err(|why| self.not_for(ZITADEL, why))
            }
            Kind::Md5Crypt(m) if !m.apr => Ok(format!("$1${}${}", m.salt, m.checksum)),
            Kind::ShaCrypt(c) => Ok(format!(
                "${}$rounds={}${}${}",
                if c.sha512 { 6 } else { 5 },
                c.rounds,
                c.salt,
                c.checksum
            )),
            Kind::Scrypt(s) => Ok(format!(
                "$scrypt$ln={},r={},p={}${}${}",
                s.log_n,
                s.r,
                s.p,
                b64_encode_unpadded(&s.salt),
                b64_encode_unpadded(&s.hash)
            )),
            Kind::Pbkdf2(p) => {
                let (ident, length) = match p.prf {
                    Prf::Sha1 => ("pbkdf2", 20),
                    Prf::Sha256 => ("pbkdf2-sha256", 32),
                    Prf::Sha384 => ("pbkdf2-sha384", 48),
                    Prf::Sha512 => ("pbkdf2-sha512", 64),
                    Prf::Whirlpool => return Err(self.not_for(ZITADEL, "")),
                };
                if p.hash.len() != length {
                    return Err(self.not_for(ZITADEL, "a key length other than the digest's"));
                }
                Ok(format!(
                    "${ident}${}${}${}",
                    p.iterations,
                    crate::encoding::ab64_encode(&p.salt),
                    crate::encoding::ab64_encode(&p.hash)
                ))
            }
            Kind::Phpass(p) if !p.md5_prehash => {
                let count = crate::encoding::ITOA64
                    .get(usize::try_from(p.log2).unwrap_or(usize::MAX))
                    .map(|&c| char::from(c))
                    .ok_or_else(|| self.not_for(ZITADEL, "its count"))?;
                let ident = if p.sha512 { 'S' } else { 'P' };
                Ok(format!("${ident}${count}{}{}", p.salt, p.checksum))
            }
            Kind::Digest(d)
                if d.alg == Alg::Md5
                    && d.input == Input::Bytes
                    && d.output == Output::Raw
                    && matches!(d.construction, Construction::Plain) =>
            {
                Ok(hex(&d.expected))
            }
            _ => Err(self.not_for(ZITADEL, "")),
        }
    }
}
