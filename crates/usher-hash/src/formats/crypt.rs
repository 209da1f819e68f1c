//! The crypt(3) family: MD5-crypt `$1$` and Apache's `$apr1$`, SHA-crypt `$5$`/`$6$`, and
//! yescrypt `$y$`. Kratos spells the first three `$md5-crypt$`, `$sha256-crypt$` and
//! `$sha512-crypt$`. Checksums are compared as encoded strings, in constant time.

use md5::{Digest as _, Md5};
use zeroize::Zeroizing;

use super::{Parsed, number, ok, to_u32};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

#[derive(Clone)]
pub(crate) struct Md5Crypt {
    pub(crate) apr: bool,
    pub(crate) salt: String,
    pub(crate) checksum: String,
}

impl Verify for Md5Crypt {
    fn scheme(&self) -> Scheme {
        if self.apr {
            Scheme::AprMd5Crypt
        } else {
            Scheme::Md5Crypt
        }
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let magic: &[u8] = if self.apr { b"$apr1$" } else { b"$1$" };
        let computed = md5_crypt(password.expose(), self.salt.as_bytes(), magic);
        Ok(encoding::ct_eq(
            computed.as_bytes(),
            self.checksum.as_bytes(),
        ))
    }
}

/// Poul-Henning Kamp's MD5-crypt, returning the 22-character checksum.
fn md5_crypt(pw: &[u8], salt: &[u8], magic: &[u8]) -> Zeroizing<String> {
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(pw)
        .chain_update(magic)
        .chain_update(salt);
    let mut remaining = pw.len();
    while remaining > 0 {
        let take = remaining.min(16);
        ctx.update(alt.get(..take).unwrap_or_default());
        remaining = remaining.saturating_sub(take);
    }
    let mut bits = pw.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(pw.get(..1).unwrap_or_default());
        }
        bits >>= 1;
    }
    let mut fin = ctx.finalize();
    for i in 0..1000u32 {
        let mut c = Md5::new();
        if i & 1 == 1 {
            c.update(pw)
        } else {
            c.update(fin)
        }
        if i % 3 != 0 {
            c.update(salt);
        }
        if i % 7 != 0 {
            c.update(pw);
        }
        if i & 1 == 1 {
            c.update(fin)
        } else {
            c.update(pw)
        }
        fin = c.finalize();
    }
    // The output groups bytes (0,6,12) (1,7,13) (2,8,14) (3,9,15) (4,10,5) (11), each written
    // high byte last by the little-endian encoder.
    const ORDER: [usize; 16] = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];
    let permuted: Zeroizing<Vec<u8>> = Zeroizing::new(
        ORDER
            .iter()
            .map(|&i| fin.get(i).copied().unwrap_or(0))
            .collect(),
    );
    Zeroizing::new(encoding::h64_encode(&permuted))
}

/// `$1$<salt>$<checksum>`, `$apr1$…`, and Kratos `$md5-crypt$<salt>$<checksum>`.
pub(crate) fn parse_md5_crypt(s: &str, _o: &ParseOptions, apr: bool) -> Parsed {
    let scheme = if apr {
        Scheme::AprMd5Crypt
    } else {
        Scheme::Md5Crypt
    };
    let fields: Vec<&str> = s.split('$').collect();
    let ["", _, salt, checksum] = fields.as_slice() else {
        return Err(HashError::structure(
            scheme,
            "expected $1$<salt>$<checksum>",
        ));
    };
    if salt.len() > 8 || !salt.is_ascii() {
        return Err(HashError::malformed(
            scheme,
            "salt",
            "longer than 8 characters",
        ));
    }
    if checksum.len() != 22 || !encoding::is_h64(checksum) {
        return Err(HashError::malformed(
            scheme,
            "checksum",
            "expected 22 h64 characters",
        ));
    }
    ok(Kind::Md5Crypt(Md5Crypt {
        apr,
        salt: (*salt).to_owned(),
        checksum: (*checksum).to_owned(),
    }))
}

#[derive(Clone)]
pub(crate) struct ShaCrypt {
    pub(crate) sha512: bool,
    pub(crate) rounds: u32,
    pub(crate) salt: String,
    pub(crate) checksum: String,
}

/// Whether SHA-crypt's final digest `raw`, its bytes permuted by `order` and h64-encoded, is
/// `checksum` (compared in constant time): SHA-crypt's and MySQL 8's `$A$` last step.
pub(crate) fn sha_crypt_matches(raw: &[u8], order: &[usize], checksum: &str) -> bool {
    let permuted = Zeroizing::new(
        order
            .iter()
            .map(|&i| raw.get(i).copied().unwrap_or(0))
            .collect::<Vec<u8>>(),
    );
    let computed = Zeroizing::new(encoding::h64_encode(&permuted));
    encoding::ct_eq(computed.as_bytes(), checksum.as_bytes())
}

pub(crate) const SHA256_ORDER: [usize; 32] = [
    20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28,
    18, 29, 19, 9, 30, 31,
];
const SHA512_ORDER: [usize; 64] = [
    42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28, 29, 8,
    50, 51, 30, 9, 10, 52, 31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57, 36, 15, 16, 58,
    37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
];

impl Verify for ShaCrypt {
    fn scheme(&self) -> Scheme {
        if self.sha512 {
            Scheme::Sha512Crypt
        } else {
            Scheme::Sha256Crypt
        }
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let params = sha_crypt::Params::new(self.rounds)
            .map_err(|_| HashError::malformed(self.scheme(), "rounds", "rejected by sha-crypt"))?;
        let (pw, salt) = (password.expose(), self.salt.as_bytes());
        let raw: Zeroizing<Vec<u8>> = Zeroizing::new(if self.sha512 {
            sha_crypt::sha512_crypt(pw, salt, params).to_vec()
        } else {
            sha_crypt::sha256_crypt(pw, salt, params).to_vec()
        });
        let order: &[usize] = if self.sha512 {
            &SHA512_ORDER
        } else {
            &SHA256_ORDER
        };
        Ok(sha_crypt_matches(&raw, order, &self.checksum))
    }
}

/// `$5$[rounds=N$]<salt>$<checksum>`, `$6$…`, and Kratos `$sha256-crypt$` / `$sha512-crypt$`.
pub(crate) fn parse_sha_crypt(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let (ident, rest) = match fields.as_slice() {
        ["", ident, rest @ ..] => (*ident, rest),
        _ => return Err(HashError::Unrecognized),
    };
    let sha512 = matches!(ident, "6" | "sha512-crypt");
    let scheme = if sha512 {
        Scheme::Sha512Crypt
    } else {
        Scheme::Sha256Crypt
    };
    let (rounds, salt, checksum) = match rest {
        [rounds, salt, checksum] if rounds.starts_with("rounds=") => {
            (Some(rounds.trim_start_matches("rounds=")), *salt, *checksum)
        }
        [salt, checksum] => (None, *salt, *checksum),
        _ => {
            return Err(HashError::structure(
                scheme,
                "expected $<id>$[rounds=N$]<salt>$<checksum>",
            ));
        }
    };
    let rounds = match rounds {
        // glibc clamps rounds below 1000 up to 1000.
        Some(r) => number(scheme, "rounds", r)?.max(1000),
        None => 5000,
    };
    check_range(
        scheme,
        "rounds",
        rounds,
        1000,
        o.limits.sha_crypt_max_rounds,
    )?;
    // The salt is at most 16 characters; longer salts are truncated by every implementation.
    let salt: String = salt.chars().take(16).collect();
    let expected_len = if sha512 { 86 } else { 43 };
    if checksum.len() != expected_len || !encoding::is_h64(checksum) {
        return Err(HashError::malformed(
            scheme,
            "checksum",
            format!("expected {expected_len} h64 characters"),
        ));
    }
    ok(Kind::ShaCrypt(ShaCrypt {
        sha512,
        rounds: to_u32(scheme, "rounds", rounds)?,
        salt,
        checksum: (*checksum).to_owned(),
    }))
}

#[derive(Clone)]
pub(crate) struct Yescrypt {
    params: yescrypt::Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
    /// For gost-yescrypt, `$gy$<params>$<salt>`, which its final HMAC covers.
    gost_setting: Option<String>,
}

impl Verify for Yescrypt {
    fn scheme(&self) -> Scheme {
        if self.gost_setting.is_some() {
            Scheme::GostYescrypt
        } else {
            Scheme::Yescrypt
        }
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let mut out = Zeroizing::new(vec![0u8; self.hash.len()]);
        yescrypt::yescrypt(password.expose(), &self.salt, &self.params, &mut out)
            .map_err(|_| HashError::malformed(self.scheme(), "params", "rejected by yescrypt"))?;
        if let Some(setting) = &self.gost_setting {
            return Ok(
                super::unix::gost_finish(password.expose(), setting.as_bytes(), &out)
                    .is_some_and(|g| encoding::ct_eq(g.as_slice(), &self.hash)),
            );
        }
        Ok(encoding::ct_eq(&out, &self.hash))
    }
}

/// `$y$<params>$<salt>$<hash>`, as libxcrypt writes it, and its gost-yescrypt variant
/// `$gy$…`.
pub(crate) fn parse_yescrypt(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let gost = fields.get(1) == Some(&"gy");
    let scheme = if gost {
        Scheme::GostYescrypt
    } else {
        Scheme::Yescrypt
    };
    let ["", "y" | "gy", params, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            scheme,
            "expected $y$<params>$<salt>$<hash>",
        ));
    };
    let gost_setting = gost.then(|| format!("$gy${params}${salt}"));
    if params.len() > 48 {
        return Err(HashError::malformed(scheme, "params", "too long"));
    }
    let invalid = || HashError::malformed(scheme, "params", "not valid yescrypt parameters");
    // `yescrypt::Params` parses `t` but does not expose it, so it is read here as well.
    let t = yescrypt_time(params).ok_or_else(invalid)?;
    let params: yescrypt::Params = params.parse().map_err(|_| invalid())?;
    let n = params.n();
    let log_n = if n.is_power_of_two() {
        u64::from(n.trailing_zeros())
    } else {
        64
    };
    o.limits.check_yescrypt(
        scheme,
        log_n,
        u64::from(params.r()),
        u64::from(params.p()),
        t,
    )?;
    let salt = super::scrypt::h64_decode(salt)
        .ok_or_else(|| HashError::malformed(scheme, "salt", "not h64"))?;
    let hash = super::scrypt::h64_decode(hash)
        .ok_or_else(|| HashError::malformed(scheme, "hash", "not h64"))?;
    if hash.len() != 32 {
        return Err(HashError::malformed(
            scheme,
            "hash",
            "expected 43 characters",
        ));
    }
    ok(Kind::Yescrypt(Yescrypt {
        params,
        salt,
        hash,
        gost_setting,
    }))
}

/// yescrypt's time parameter `t` from its parameter field: flavor, log2 N and r, then, if
/// anything follows, a bit mask of the optional fields present, then p (bit 0) and t (bit 1).
/// `t` is 0 when absent.
fn yescrypt_time(params: &str) -> Option<u64> {
    let mut rest = params.as_bytes();
    // flavor, log2 N, r
    for min in [0, 1, 1] {
        (_, rest) = yescrypt_uint(rest, min)?;
    }
    if rest.is_empty() {
        return Some(0);
    }
    let (have, mut rest) = yescrypt_uint(rest, 1)?;
    if have & 1 != 0 {
        (_, rest) = yescrypt_uint(rest, 2)?;
    }
    if have & 2 == 0 {
        return Some(0);
    }
    yescrypt_uint(rest, 1).map(|(t, _)| t)
}

/// One integer in yescrypt's variable-width encoding over the crypt(3) alphabet (the
/// reference implementation's `decode64_uint32`): the first character says how many follow.
/// Returns the value and the rest of the input.
fn yescrypt_uint(s: &[u8], min: u64) -> Option<(u64, &[u8])> {
    let (&first, mut rest) = s.split_first()?;
    let n = u64::from(encoding::itoa64_index(first)?);
    let (mut start, mut end, mut bits, mut extra) = (0u64, 47u64, 0u32, 0u32);
    let mut value = min;
    while n > end {
        let span = end.checked_add(1)?.checked_sub(start)?;
        value = value.checked_add(span.checked_shl(bits)?)?;
        start = end.checked_add(1)?;
        end = start.checked_add(62u64.checked_sub(end)?.checked_div(2)?)?;
        extra = extra.checked_add(1)?;
        bits = bits.checked_add(6)?;
    }
    value = value.checked_add(n.checked_sub(start)?.checked_shl(bits)?)?;
    for _ in 0..extra {
        let (&c, tail) = rest.split_first()?;
        rest = tail;
        bits = bits.checked_sub(6)?;
        let digit = u64::from(encoding::itoa64_index(c)?);
        value = value.checked_add(digit.checked_shl(bits)?)?;
    }
    Some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yescrypt_time_is_read_from_the_optional_fields() {
        // libxcrypt's defaults carry no optional fields.
        assert_eq!(yescrypt_time("j9T"), Some(0));
        // have = 2 (t only), t = 1 + 3.
        assert_eq!(yescrypt_time("j15/1"), Some(4));
        // have = 3 (p and t): p = 2 + 0, then t = 1 + 0.
        assert_eq!(yescrypt_time("j150.."), Some(1));
        // Six-character t: the widest the encoding has.
        assert!(yescrypt_time("j15/zzzzzz").is_some_and(|t| t > 1 << 30));
        // A truncated multi-character value is refused.
        assert_eq!(yescrypt_time("j15/z"), None);
    }
}
