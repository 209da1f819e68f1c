//! bcrypt and the schemes that pre-hash the password before bcrypt.
//!
//! | encoding | bcrypt input |
//! |---|---|
//! | `$2a$ $2b$ $2y$ $2x$` (and `{CRYPT}`, Django `bcrypt$`, Spring `{bcrypt}`) | the password |
//! | passlib `$bcrypt-sha256$2b,12$…` (v1) | base64(SHA-256(password)) |
//! | passlib `$bcrypt-sha256$v=2,t=2b,r=12$…` | base64(HMAC-SHA256(key = salt string, password)) |
//! | Django `bcrypt_sha256$$2b$…` | hex(SHA-256(password)) |
//! | WordPress 6.8 `$wp$2y$…` | base64(HMAC-SHA384(key = "wp-sha384", password)) |
//! | `$2a$…` forced as `bcrypt-pepper`, the pepper given out of band (Devise's `config.pepper`) | password ‖ pepper |
//!
//! bcrypt reads the password as a C string: it stops at the first NUL and uses at most 72
//! bytes. `$2x$` reproduces crypt_blowfish's sign-extension bug for bytes ≥ 0x80, which is
//! what systems that wrote `$2x$` hashes computed.

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256, Sha384};
use zeroize::Zeroizing;

use super::{Parsed, decode, eksblowfish, number, ok, to_u32};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Minor {
    A,
    B,
    X,
    Y,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Prehash {
    None,
    PasslibV1,
    /// HMAC key: the salt as written in the hash.
    PasslibV2(String),
    Django,
    Wordpress,
    /// A site-wide secret appended to the password (Devise's `config.pepper`).
    Pepper(Zeroizing<Vec<u8>>),
}

#[derive(Clone)]
pub(crate) struct Bcrypt {
    pub(crate) minor: Minor,
    pub(crate) cost: u32,
    salt: [u8; 16],
    checksum: [u8; 23],
    pub(crate) prehash: Prehash,
    /// The salt and checksum as written (53 characters): what an export carries, exactly.
    pub(crate) tail: String,
}

impl Bcrypt {
    fn scheme_of(prehash: &Prehash) -> Scheme {
        match prehash {
            Prehash::None => Scheme::Bcrypt,
            Prehash::PasslibV1 | Prehash::PasslibV2(_) => Scheme::BcryptSha256,
            Prehash::Django => Scheme::DjangoBcryptSha256,
            Prehash::Wordpress => Scheme::WordpressBcrypt,
            Prehash::Pepper(_) => Scheme::BcryptPepper,
        }
    }

    fn check(&self, input: &[u8]) -> bool {
        let matches = |raw: Zeroizing<[u8; 24]>| {
            encoding::ct_eq(raw.get(..23).unwrap_or_default(), &self.checksum)
        };
        let key = c_string_key(input);
        let words = KeyWords::new(&key);
        if self.minor == Minor::A && words.safety_applies() {
            // `$2a$` was written both by crypt_blowfish (PHP, libxcrypt), which applies its
            // safety tweak here, and by OpenBSD-derived code (Java, Node, pyca), which does
            // not. Only passwords with 0xFF-style bytes (never valid UTF-8) reach this branch.
            let mut tweaked = words.correct;
            tweaked[0] ^= 0x1_0000;
            let cost = self.cost;
            return matches(eksblowfish::bcrypt(
                cost,
                &self.salt,
                &tweaked,
                &words.correct,
            )) | matches(eksblowfish::bcrypt(
                cost,
                &self.salt,
                &words.correct,
                &words.correct,
            ));
        }
        let expanded = if self.minor == Minor::X {
            &words.buggy
        } else {
            &words.correct
        };
        matches(eksblowfish::bcrypt(
            self.cost, &self.salt, expanded, expanded,
        ))
    }
}

impl Verify for Bcrypt {
    fn scheme(&self) -> Scheme {
        Self::scheme_of(&self.prehash)
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let pw = password.expose();
        Ok(match &self.prehash {
            Prehash::None => self.check(pw),
            Prehash::PasslibV1 => {
                let digest = Zeroizing::new(Sha256::digest(pw).to_vec());
                self.check(encoding::b64_encode(&digest).as_bytes())
            }
            Prehash::PasslibV2(salt) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).map_err(|_| {
                    HashError::malformed(Scheme::BcryptSha256, "salt", "unusable HMAC key")
                })?;
                mac.update(pw);
                let digest = Zeroizing::new(mac.finalize().into_bytes().to_vec());
                self.check(encoding::b64_encode(&digest).as_bytes())
            }
            Prehash::Django => {
                let digest = Zeroizing::new(Sha256::digest(pw).to_vec());
                self.check(encoding::hex_encode(&digest).as_bytes())
            }
            Prehash::Pepper(pepper) => {
                let mut input =
                    Zeroizing::new(Vec::with_capacity(pw.len().saturating_add(pepper.len())));
                input.extend_from_slice(pw);
                input.extend_from_slice(pepper);
                self.check(&input)
            }
            Prehash::Wordpress => {
                // wp_hash_password() trims; the check path does not. Accept either, as
                // WordPress users could log in with either.
                wordpress_input(pw).is_some_and(|input| self.check(input.as_bytes()))
                    || wordpress_input(password.php_trimmed().expose())
                        .is_some_and(|input| self.check(input.as_bytes()))
            }
        })
    }
}

fn wordpress_input(pw: &[u8]) -> Option<Zeroizing<String>> {
    let mut mac = Hmac::<Sha384>::new_from_slice(b"wp-sha384").ok()?;
    mac.update(pw);
    let digest = Zeroizing::new(mac.finalize().into_bytes().to_vec());
    Some(Zeroizing::new(encoding::b64_encode(&digest)))
}

/// The password as bcrypt reads it: a C string (up to the first NUL) with its terminator,
/// at most 72 bytes.
fn c_string_key(password: &[u8]) -> Zeroizing<Vec<u8>> {
    let end = password
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(password.len());
    let mut key = Zeroizing::new(Vec::with_capacity(73));
    key.extend_from_slice(password.get(..end).unwrap_or_default());
    key.push(0);
    key.truncate(72);
    key
}

/// The 18 key words as crypt_blowfish's `BF_set_key` computes them, both ways:
/// * `$2x$` builds them from sign-extended bytes (the 2011 bug);
/// * `$2a$` applies a "safety" tweak when a byte ≥ 0x80 was seen but sign extension changed
///   nothing, so that such `$2a$` hashes differ from `$2x$` ones.
struct KeyWords {
    correct: [u32; 18],
    buggy: [u32; 18],
    /// A byte ≥ 0x80 was seen in a non-leading position of a word.
    sign: bool,
}

impl KeyWords {
    fn new(key: &[u8]) -> Self {
        let mut words = Self {
            correct: [0; 18],
            buggy: [0; 18],
            sign: false,
        };
        let mut bytes = key.iter().copied().cycle();
        for (correct, buggy) in words.correct.iter_mut().zip(words.buggy.iter_mut()) {
            for j in 0..4 {
                let b = bytes.next().unwrap_or(0);
                *correct = (*correct << 8) | u32::from(b);
                // The bug: `(BF_word_signed)(signed char)b`, i.e. sign extension.
                #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // the wrap is the bug
                let extended = i32::from(b as i8) as u32;
                *buggy = (*buggy << 8) | extended;
                if j > 0 && *buggy & 0x80 != 0 {
                    words.sign = true;
                }
            }
        }
        words
    }

    fn safety_applies(&self) -> bool {
        self.sign && self.correct == self.buggy
    }
}

/// Parses `$2?$<cost>$<salt22><checksum31>` with any pre-hash.
fn parse_core(s: &str, o: &ParseOptions, prehash: Prehash) -> Parsed {
    let scheme = Bcrypt::scheme_of(&prehash);
    let mut parts = s.strip_prefix('$').unwrap_or(s).split('$');
    let minor = match parts.next() {
        Some("2a") => Minor::A,
        Some("2b") => Minor::B,
        Some("2x") => Minor::X,
        Some("2y") => Minor::Y,
        Some("2") => return Err(HashError::Unsupported("bcrypt `$2$` (the 1997 original)")),
        _ => {
            return Err(HashError::malformed(
                scheme,
                "version",
                "expected 2a, 2b, 2x or 2y",
            ));
        }
    };
    let (Some(cost), Some(tail), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(HashError::structure(
            scheme,
            "expected $2b$<cost>$<53 characters>",
        ));
    };
    if cost.len() != 2 {
        return Err(HashError::malformed(scheme, "cost", "expected two digits"));
    }
    let cost = number(scheme, "cost", cost)?;
    // bcrypt defines costs 4..=31; a larger configured limit must not admit 2^64 rounds.
    check_range(
        scheme,
        "cost",
        cost,
        4,
        u64::from(o.limits.bcrypt_max_cost).min(31),
    )?;
    let cost = to_u32(scheme, "cost", cost)?;
    if tail.len() != 53 || !tail.is_ascii() {
        return Err(HashError::malformed(
            scheme,
            "salt and checksum",
            "expected 53 characters",
        ));
    }
    let (salt_str, checksum_str) = tail.split_at(22);
    let salt = decode(
        o,
        scheme,
        "salt",
        salt_str,
        encoding::bcrypt64,
        "bcrypt base64",
    )?;
    let checksum = decode(
        o,
        scheme,
        "checksum",
        checksum_str,
        encoding::bcrypt64,
        "bcrypt base64",
    )?;
    let (Ok(salt), Ok(checksum)) = (<[u8; 16]>::try_from(salt), <[u8; 23]>::try_from(checksum))
    else {
        return Err(HashError::malformed(
            scheme,
            "salt and checksum",
            "wrong decoded length",
        ));
    };
    let prehash = match prehash {
        Prehash::PasslibV2(_) => Prehash::PasslibV2(salt_str.to_owned()),
        other => other,
    };
    ok(Kind::Bcrypt(Bcrypt {
        minor,
        cost,
        salt,
        checksum,
        prehash,
        tail: tail.to_owned(),
    }))
}

/// `$2b$12$…` (also reached through `{CRYPT}`, Django `bcrypt$` and Spring `{bcrypt}`);
/// forced as `bcrypt-pepper`, over the password and the pepper the options carry.
pub(crate) fn parse_mcf(s: &str, o: &ParseOptions) -> Parsed {
    if o.scheme == Some(Scheme::BcryptPepper) {
        let pepper = o.pepper.clone().ok_or(HashError::MissingParameter {
            scheme: Scheme::BcryptPepper,
            what: "the pepper (Devise's config.pepper)",
        })?;
        return parse_core(s, o, Prehash::Pepper(pepper));
    }
    parse_core(s, o, Prehash::None)
}

/// Django `bcrypt_sha256$$2b$12$…` (the caller strips `bcrypt_sha256$`).
pub(crate) fn parse_django_sha256(rest: &str, o: &ParseOptions) -> Parsed {
    parse_core(rest, o, Prehash::Django)
}

/// WordPress 6.8 `$wp$2y$10$…`.
pub(crate) fn parse_wordpress(s: &str, o: &ParseOptions) -> Parsed {
    parse_core(s.get(3..).unwrap_or_default(), o, Prehash::Wordpress)
}

/// passlib `$bcrypt-sha256$2b,12$<salt>$<checksum>` (v1) and
/// `$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<checksum>` (v2).
pub(crate) fn parse_passlib_sha256(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::BcryptSha256;
    let fields: Vec<&str> = s.split('$').collect();
    let [_, _, params, salt, checksum] = fields.as_slice() else {
        return Err(HashError::structure(
            scheme,
            "expected $bcrypt-sha256$<params>$<salt>$<checksum>",
        ));
    };
    let (ident, rounds, prehash) = if let Some(kv) = super::phc_params(params) {
        let version = super::param(&kv, "v");
        if version != Some("2") {
            return Err(HashError::malformed(
                scheme,
                "v",
                "only version 2 uses key=value parameters",
            ));
        }
        let (Some(t), Some(r)) = (super::param(&kv, "t"), super::param(&kv, "r")) else {
            return Err(HashError::malformed(
                scheme,
                "params",
                "expected t=<ident>,r=<rounds>",
            ));
        };
        (t, r, Prehash::PasslibV2(String::new()))
    } else {
        let Some((t, r)) = params.split_once(',') else {
            return Err(HashError::malformed(
                scheme,
                "params",
                "expected <ident>,<rounds>",
            ));
        };
        (t, r, Prehash::PasslibV1)
    };
    if !matches!(ident, "2a" | "2b") {
        return Err(HashError::malformed(scheme, "ident", "expected 2a or 2b"));
    }
    let inner = format!("${ident}${rounds:0>2}${salt}{checksum}");
    parse_core(&inner, o, prehash)
}

#[cfg(test)]
mod tests {
    use super::super::out_of_range;
    use super::*;

    #[test]
    fn sign_extension_only_changes_words_with_high_bytes() {
        let words = KeyWords::new(b"ab\0");
        assert_eq!(words.correct[0], u32::from_be_bytes(*b"ab\0a"));
        assert_eq!(words.correct, words.buggy);
        assert!(!words.sign);
        // 0x80 sign-extends to 0xffffff80, wiping the preceding "a" with ones.
        let words = KeyWords::new(b"a\x80\0");
        assert_eq!(words.buggy[0], 0xff80_0061);
        assert_eq!(words.correct[0], 0x6180_0061);
        assert!(words.sign);
    }

    #[test]
    fn cost_outside_the_limit_is_refused_before_hashing() {
        let s = "$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234";
        let err = parse_mcf(s, &ParseOptions::default()).unwrap_err();
        assert_eq!(out_of_range(&err), Some(("cost", 31)), "{err}");
    }
}
