//! The DES-based crypt(3) family:
//!
//! | encoding | computation |
//! |---|---|
//! | traditional `ssHHHHHHHHHHH` (13 characters; also `{CRYPT}…`, Django `crypt$$…`) | 25 DES encryptions of zero, keyed by the first 8 password bytes (7 bits each), 12-bit salt |
//! | BSDi `_CCCCSSSSHHHHHHHHHHH` (20 characters) | 24-bit count and salt; every password byte folds into the key |
//! | bigcrypt `ssHHHHHHHHHHH…` (13 + 11·k, forced) | one traditional crypt per 8 bytes of the password, each salted by the previous block's first two characters |
//!
//! As C strings, the password ends at its first NUL, so a password with a NUL never matches.

use zeroize::Zeroizing;

use super::{Parsed, des, ok};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

/// Which of the three.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Variant {
    Traditional,
    Bsdi,
    Bigcrypt,
}

#[derive(Clone)]
pub(crate) struct DesCrypt {
    variant: Variant,
    /// The whole hash as written, compared in constant time with the recomputed one.
    stored: String,
    /// For BSDi, the setting (`_` + count + salt); else the two salt characters.
    setting: String,
    salt: u32,
    rounds: u64,
}

/// The 64-bit key of up to 8 password bytes, each shifted left one bit.
fn key_of(chunk: &[u8]) -> u64 {
    let mut key = [0u8; 8];
    for (k, c) in key.iter_mut().zip(chunk) {
        *k = c << 1;
    }
    u64::from_be_bytes(key)
}

/// `chars` read as little-endian 6-bit digits of the crypt alphabet.
fn h64_number(chars: &str) -> Option<u32> {
    chars
        .bytes()
        .rev()
        .try_fold(0u32, |n, c| encoding::itoa64_index(c).map(|d| (n << 6) | d))
}

/// 64 bits as 11 characters of the crypt alphabet, most significant first (two zero bits
/// pad the last).
fn encode_block(block: u64) -> String {
    let padded = u128::from(block) << 2;
    (0..11u32)
        .rev()
        .map(|i| {
            let digit = usize::try_from((padded >> i.wrapping_mul(6)) & 0x3f).unwrap_or(0);
            char::from(encoding::ITOA64.get(digit).copied().unwrap_or(b'.'))
        })
        .collect()
}

/// Traditional crypt of one block of up to 8 bytes with a two-character salt.
fn traditional(chunk: &[u8], salt: u32) -> String {
    let keys = Zeroizing::new(des::key_schedule(key_of(chunk)));
    encode_block(des::encrypt(&keys, des::salt_mask(salt), 0, 25))
}

impl DesCrypt {
    fn compute(&self, pw: &[u8]) -> Zeroizing<String> {
        let mut out = Zeroizing::new(self.setting.clone());
        match self.variant {
            Variant::Traditional => {
                out.push_str(&traditional(pw.get(..8).unwrap_or(pw), self.salt));
            }
            Variant::Bigcrypt => {
                let mut salt = self.salt;
                let mut chunks = pw.chunks(8).peekable();
                if chunks.peek().is_none() {
                    out.push_str(&traditional(&[], salt));
                }
                for chunk in chunks {
                    let block = Zeroizing::new(traditional(chunk, salt));
                    salt = h64_number(block.get(..2).unwrap_or_default()).unwrap_or(0);
                    out.push_str(&block);
                }
            }
            Variant::Bsdi => {
                let mut chunks = pw.chunks(8);
                let mut key = Zeroizing::new(key_of(chunks.next().unwrap_or_default()));
                for chunk in chunks {
                    // Encrypt the key with itself, then fold in the next 8 bytes.
                    let keys = Zeroizing::new(des::key_schedule(*key));
                    *key = des::encrypt(&keys, 0, *key, 1) ^ key_of(chunk);
                }
                let keys = Zeroizing::new(des::key_schedule(*key));
                let mask = des::salt_mask(self.salt);
                out.push_str(&encode_block(des::encrypt(&keys, mask, 0, self.rounds)));
            }
        }
        out
    }
}

impl Verify for DesCrypt {
    fn scheme(&self) -> Scheme {
        match self.variant {
            Variant::Traditional => Scheme::DesCrypt,
            Variant::Bsdi => Scheme::BsdiCrypt,
            Variant::Bigcrypt => Scheme::Bigcrypt,
        }
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let pw = password.expose();
        if pw.contains(&0) {
            return Ok(false);
        }
        let computed = self.compute(pw);
        Ok(encoding::ct_eq(computed.as_bytes(), self.stored.as_bytes()))
    }
}

/// Traditional (13 characters) and, when forced, bigcrypt (13 + 11·k); `None` if `s` is
/// not made of crypt-alphabet characters of such a length.
pub(crate) fn parse_bare(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let forced_big = o.scheme == Some(Scheme::Bigcrypt);
    let len_ok = if forced_big {
        s.len() >= 13 && s.len().saturating_sub(13).is_multiple_of(11)
    } else {
        s.len() == 13
    };
    if !len_ok || !encoding::is_h64(s) {
        return None;
    }
    Some(parse_traditional(
        s,
        if forced_big {
            Variant::Bigcrypt
        } else {
            Variant::Traditional
        },
    ))
}

/// A traditional DES crypt string (from `{CRYPT}` or Django's `crypt$$`).
pub(crate) fn parse_traditional(s: &str, variant: Variant) -> Parsed {
    let scheme = if variant == Variant::Bigcrypt {
        Scheme::Bigcrypt
    } else {
        Scheme::DesCrypt
    };
    if !encoding::is_h64(s) || s.len() < 13 || (variant == Variant::Traditional && s.len() != 13) {
        return Err(HashError::structure(
            scheme,
            "expected 2 salt and 11 checksum characters of ./0-9A-Za-z",
        ));
    }
    // Checked above: at least 13 ASCII characters.
    let salt_chars = s.get(..2).unwrap_or_default();
    let salt = h64_number(salt_chars)
        .ok_or_else(|| HashError::malformed(scheme, "salt", "not in ./0-9A-Za-z"))?;
    ok(Kind::DesCrypt(DesCrypt {
        variant,
        stored: s.to_owned(),
        setting: salt_chars.to_owned(),
        salt,
        rounds: 25,
    }))
}

/// Django's `CryptPasswordHasher` (the caller strips `crypt$`): `<salt>$<DES crypt>`, where
/// Django 1.4 and later leave the salt field empty and Django 1.0 wrote a 5-character salt
/// whose first two characters the DES crypt repeats.
pub(crate) fn parse_django(rest: &str) -> Parsed {
    let scheme = Scheme::DesCrypt;
    let Some((salt, hash)) = rest.split_once('$') else {
        return Err(HashError::structure(
            scheme,
            "expected crypt$<salt>$<DES crypt>",
        ));
    };
    if !salt.is_empty() && salt.get(..2) != hash.get(..2) {
        return Err(HashError::malformed(
            scheme,
            "salt",
            "its first two characters differ from the DES crypt's",
        ));
    }
    parse_traditional(hash, Variant::Traditional)
}

/// BSDi extended DES: `_` + 4 characters of rounds + 4 of salt + 11 of checksum.
pub(crate) fn parse_bsdi(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix('_')?;
    if rest.len() != 19 || !encoding::is_h64(rest) {
        return None;
    }
    let scheme = Scheme::BsdiCrypt;
    Some((|| {
        let rounds = h64_number(rest.get(..4).unwrap_or_default())
            .ok_or_else(|| HashError::malformed(scheme, "rounds", "not in ./0-9A-Za-z"))?;
        let salt = h64_number(rest.get(4..8).unwrap_or_default())
            .ok_or_else(|| HashError::malformed(scheme, "salt", "not in ./0-9A-Za-z"))?;
        check_range(
            scheme,
            "rounds",
            u64::from(rounds),
            1,
            o.limits.crypt_max_rounds,
        )?;
        ok(Kind::DesCrypt(DesCrypt {
            variant: Variant::Bsdi,
            stored: s.to_owned(),
            setting: s.get(..9).unwrap_or_default().to_owned(),
            salt,
            rounds: u64::from(rounds),
        }))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_encoding_is_big_endian_with_two_pad_bits() {
        assert_eq!(encode_block(0), "...........");
        assert_eq!(encode_block(u64::MAX), "zzzzzzzzzzw");
        assert_eq!(h64_number("/."), Some(1));
        assert_eq!(h64_number("./"), Some(64));
    }
}
