//! Firebase Authentication's modified scrypt.
//!
//! ```text
//! key  = scrypt(password, salt ‖ salt_separator, N = 2^mem_cost, r = rounds, p, 32 bytes)
//! hash = AES-256-CTR(key, counter starting at zero).encrypt(signer_key)
//! ```
//!
//! The signer key, salt separator, rounds and mem_cost belong to the Firebase project, not to
//! the user, so each importer encodes them differently:
//!
//! | encoding | project parameters |
//! |---|---|
//! | Kratos `$firescrypt$ln=<mem_cost>,r=<rounds>,p=<p>$<salt>$<hash>$<separator>$<signer key>` | inline |
//! | Supabase `$fbscrypt$v=1,n=<mem_cost>,r=<rounds>,p=<p>[,ss=<sep>][,sk=<key>]$<salt>$<hash>` | inline, or the signer key from [`ParseOptions`] |
//! | SuperTokens `$f_scrypt$<hash>$<salt>$m=<mem_cost>$r=<rounds>$s=<separator>` | signer key from [`ParseOptions`] |
//! | Clerk `<hash>$<salt>$<signer key>$<separator>$<rounds>$<mem_cost>` | inline |

use aes::Aes256;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit as _, StreamCipher as _};
use zeroize::Zeroizing;

use super::{Parsed, decode, number, ok, param, params_of, required, scrypt::derive, to_u32};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::{HashError, Password, Scheme, encoding};

const SCHEME: Scheme = Scheme::FirebaseScrypt;

#[derive(Clone)]
pub(crate) struct FirebaseScrypt {
    pub(crate) mem_cost: u8,
    pub(crate) rounds: u32,
    pub(crate) p: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) separator: Vec<u8>,
    pub(crate) signer_key: Zeroizing<Vec<u8>>,
    pub(crate) hash: Vec<u8>,
}

/// The textual fields common to every encoding, before decoding.
struct Fields<'a> {
    mem_cost: &'a str,
    rounds: &'a str,
    p: Option<&'a str>,
    salt: &'a str,
    hash: &'a str,
    separator: Option<&'a str>,
    signer_key: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// The fields of the PHC-style forms (Kratos, Supabase): `params` hold the memory cost
    /// under `mem_cost`, the rounds under `r` and perhaps `p`; no separator or signer key yet.
    fn phc(
        params: &[(&str, &'a str)],
        mem_cost: &'static str,
        salt: &'a str,
        hash: &'a str,
    ) -> Result<Self, HashError> {
        Ok(Fields {
            mem_cost: required(SCHEME, params, mem_cost)?,
            rounds: required(SCHEME, params, "r")?,
            p: param(params, "p"),
            salt,
            hash,
            separator: None,
            signer_key: None,
        })
    }

    fn build(self, o: &ParseOptions) -> Parsed {
        let mem_cost = number(SCHEME, "mem_cost", self.mem_cost)?;
        let rounds = number(SCHEME, "rounds", self.rounds)?;
        let p = self.p.map_or(Ok(1), |p| number(SCHEME, "p", p))?;
        o.limits.check_scrypt(SCHEME, mem_cost, rounds, p)?;
        let salt = decode(o, SCHEME, "salt", self.salt, encoding::b64, "base64")?;
        let hash = decode(o, SCHEME, "hash", self.hash, encoding::b64, "base64")?;
        let separator = match self.separator {
            Some(sep) => decode(o, SCHEME, "salt separator", sep, encoding::b64, "base64")?,
            None => Vec::new(),
        };
        let signer_key = match (self.signer_key, &o.firebase_signer_key) {
            (Some(key), _) => Zeroizing::new(decode(
                o,
                SCHEME,
                "signer key",
                key,
                encoding::b64,
                "base64",
            )?),
            (None, Some(key)) => key.clone(),
            (None, None) => {
                return Err(HashError::MissingParameter {
                    scheme: SCHEME,
                    what: "the project's signer key",
                });
            }
        };
        if signer_key.is_empty() || signer_key.len() != hash.len() {
            return Err(HashError::malformed(
                SCHEME,
                "hash",
                "its length differs from the signer key's",
            ));
        }
        ok(Kind::Firebase(FirebaseScrypt {
            mem_cost: u8::try_from(mem_cost)
                .map_err(|_| HashError::malformed(SCHEME, "mem_cost", "too large"))?,
            rounds: to_u32(SCHEME, "rounds", rounds)?,
            p: to_u32(SCHEME, "p", p)?,
            salt,
            separator,
            signer_key,
            hash,
        }))
    }
}

impl Verify for FirebaseScrypt {
    fn scheme(&self) -> Scheme {
        SCHEME
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let mut salt = self.salt.clone();
        salt.extend_from_slice(&self.separator);
        let key = derive(
            password.expose(),
            &salt,
            self.mem_cost,
            self.rounds,
            self.p,
            32,
        )?;
        let mut cipher = Ctr128BE::<Aes256>::new_from_slices(&key, &[0u8; 16])
            .map_err(|_| HashError::malformed(SCHEME, "key", "bad AES key length"))?;
        let mut out = Zeroizing::new(self.signer_key.to_vec());
        cipher.apply_keystream(&mut out);
        Ok(encoding::ct_eq(&out, &self.hash))
    }
}

/// Kratos: `$firescrypt$ln=14,r=8,p=1$<salt>$<hash>$<separator>$<signer key>`.
pub(crate) fn parse_kratos(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "firescrypt", params, salt, hash, separator, signer_key] = fields.as_slice() else {
        return Err(HashError::structure(
            SCHEME,
            "expected $firescrypt$ln=…,r=…,p=…$<salt>$<hash>$<separator>$<signer key>",
        ));
    };
    let kv = params_of(SCHEME, params)?;
    Fields {
        separator: Some(separator),
        signer_key: Some(signer_key),
        ..Fields::phc(&kv, "ln", salt, hash)?
    }
    .build(o)
}

/// Supabase: `$fbscrypt$v=1,n=14,r=8,p=1[,ss=<sep>][,sk=<key>]$<salt>$<hash>`.
pub(crate) fn parse_supabase(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "fbscrypt", params, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            SCHEME,
            "expected $fbscrypt$v=1,n=…,r=…,p=…$<salt>$<hash>",
        ));
    };
    let kv = params_of(SCHEME, params)?;
    if param(&kv, "v") != Some("1") {
        return Err(HashError::malformed(SCHEME, "v", "only version 1 exists"));
    }
    Fields {
        separator: param(&kv, "ss"),
        signer_key: param(&kv, "sk"),
        ..Fields::phc(&kv, "n", salt, hash)?
    }
    .build(o)
}

/// SuperTokens: `$f_scrypt$<hash>$<salt>$m=<mem_cost>$r=<rounds>$s=<separator>`.
pub(crate) fn parse_supertokens(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "f_scrypt", hash, salt, rest @ ..] = fields.as_slice() else {
        return Err(HashError::structure(
            SCHEME,
            "expected $f_scrypt$<hash>$<salt>$m=…$r=…$s=…",
        ));
    };
    let kv: Vec<(&str, &str)> = rest.iter().filter_map(|f| f.split_once('=')).collect();
    if kv.len() != rest.len() {
        return Err(HashError::malformed(
            SCHEME,
            "params",
            "expected m=, r= and s= fields",
        ));
    }
    let need = |name| required(SCHEME, &kv, name);
    Fields {
        mem_cost: need("m")?,
        rounds: need("r")?,
        p: None,
        salt,
        hash,
        separator: Some(need("s")?),
        signer_key: None,
    }
    .build(o)
}

/// Clerk: `<hash>$<salt>$<signer key>$<separator>$<rounds>$<mem_cost>`, recognised by its
/// six fields, the last two decimal.
pub(crate) fn parse_clerk(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let fields: Vec<&str> = s.split('$').collect();
    let [hash, salt, signer_key, separator, rounds, mem_cost] = fields.as_slice() else {
        return None;
    };
    if !encoding::is_digits(rounds)
        || !encoding::is_digits(mem_cost)
        || hash.is_empty()
        || signer_key.is_empty()
    {
        return None;
    }
    Some(
        Fields {
            mem_cost,
            rounds,
            p: None,
            salt,
            hash,
            separator: Some(separator),
            signer_key: Some(signer_key),
        }
        .build(o),
    )
}
