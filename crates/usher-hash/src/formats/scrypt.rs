//! scrypt in every encoding real systems wrote.
//!
//! | encoding | N | salt | checksum |
//! |---|---|---|---|
//! | passlib / PHC `$scrypt$ln=<log2 N>,r=,p=$<salt>$<hash>` | log2 | base64 bytes | base64 |
//! | Kratos `$scrypt$ln=<N>,r=,p=$<salt>$<hash>` | N itself | base64 bytes | base64 |
//! | Werkzeug `scrypt:<N>:<r>:<p>$<salt>$<hex>` | N | the salt string | hex, 64 bytes |
//! | Django `scrypt$<N>$<salt>$<r>$<p>$<hash>` | N | the salt string | base64, 64 bytes |
//! | libxcrypt `$7$<N><r><p><salt>$<hash>` | log2, one h64 char | the salt string | h64, 32 bytes |
//! | Spring `{scrypt}$<hex(log2 N << 16 \| r << 8 \| p)>$<salt>$<hash>` | log2 | base64 bytes | base64 |
//!
//! The two `$scrypt$` dialects share a prefix: `ln` above 63 can only be N itself (Kratos),
//! since no machine computes scrypt with N = 2^64.

use zeroize::Zeroizing;

use super::{Parsed, decode, number, ok, params_of, required, to_u32, werkzeug_fields};
use crate::encoding::{self, itoa64_index};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::{HashError, Password, Scheme};

const SCHEME: Scheme = Scheme::Scrypt;

#[derive(Clone)]
pub(crate) struct Scrypt {
    pub(crate) log_n: u8,
    pub(crate) r: u32,
    pub(crate) p: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

impl Scrypt {
    /// Builds from parts, bounding memory and work before anything is computed.
    pub(crate) fn from_parts(
        o: &ParseOptions,
        log_n: u64,
        r: u64,
        p: u64,
        salt: Vec<u8>,
        hash: Vec<u8>,
    ) -> Result<Self, HashError> {
        o.limits.check_scrypt(SCHEME, log_n, r, p)?;
        if hash.is_empty() {
            return Err(HashError::malformed(SCHEME, "hash", "empty"));
        }
        let log_n =
            u8::try_from(log_n).map_err(|_| HashError::malformed(SCHEME, "N", "too large"))?;
        Ok(Self {
            log_n,
            r: to_u32(SCHEME, "r", r)?,
            p: to_u32(SCHEME, "p", p)?,
            salt,
            hash,
        })
    }
}

impl Verify for Scrypt {
    fn scheme(&self) -> Scheme {
        SCHEME
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let out = derive(
            password.expose(),
            &self.salt,
            self.log_n,
            self.r,
            self.p,
            self.hash.len(),
        )?;
        Ok(encoding::ct_eq(&out, &self.hash))
    }
}

/// Raw scrypt with already-bounded parameters.
pub(crate) fn derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, HashError> {
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|_| HashError::malformed(SCHEME, "params", "rejected by scrypt"))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|_| HashError::malformed(SCHEME, "hash", "unsupported length"))?;
    Ok(out)
}

/// log2 of `n`, which must be a power of two greater than 1.
pub(crate) fn log2_exact(scheme: Scheme, field: &'static str, n: u64) -> Result<u64, HashError> {
    if n < 2 || !n.is_power_of_two() {
        return Err(HashError::malformed(
            scheme,
            field,
            "N must be a power of two greater than 1",
        ));
    }
    Ok(u64::from(n.trailing_zeros()))
}

/// `$scrypt$ln=…,r=…,p=…$<salt>$<hash>`, passlib (log2) or Kratos (N).
pub(crate) fn parse_dollar_scrypt(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "scrypt", params, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            SCHEME,
            "expected $scrypt$ln=…,r=…,p=…$<salt>$<hash>",
        ));
    };
    let kv = params_of(SCHEME, params)?;
    let get = |name| number(SCHEME, name, required(SCHEME, &kv, name)?);
    let ln = get("ln")?;
    let log_n = if ln > 63 {
        log2_exact(SCHEME, "ln", ln)?
    } else {
        ln
    };
    let salt = decode(o, SCHEME, "salt", salt, encoding::b64, "base64")?;
    let hash = decode(o, SCHEME, "hash", hash, encoding::b64, "base64")?;
    ok(Kind::Scrypt(Scrypt::from_parts(
        o,
        log_n,
        get("r")?,
        get("p")?,
        salt,
        hash,
    )?))
}

/// Werkzeug 3: `scrypt:32768:8:1$<salt>$<hex>`.
pub(crate) fn parse_werkzeug(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("scrypt:")?;
    Some((|| {
        let [params, salt, hash] =
            werkzeug_fields(rest, SCHEME, "expected scrypt:N:r:p$<salt>$<hex>")?;
        let nums: Vec<&str> = params.split(':').collect();
        let [n, r, p] = nums.as_slice() else {
            return Err(HashError::malformed(SCHEME, "params", "expected N:r:p"));
        };
        let hash = decode(o, SCHEME, "hash", hash, encoding::hex, "hex")?;
        from_text(o, [n, r, p], salt, hash)
    })())
}

/// Django: `scrypt$<N>$<salt>$<r>$<p>$<base64>`.
pub(crate) fn parse_django(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["scrypt", n, salt, r, p, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            SCHEME,
            "expected scrypt$N$<salt>$r$p$<hash>",
        ));
    };
    let hash = decode(o, SCHEME, "hash", hash, encoding::b64, "base64")?;
    from_text(o, [n, r, p], salt, hash)
}

/// Werkzeug and Django write N (not log2 N), r and p in decimal, and use the salt string's
/// bytes as the salt.
fn from_text(o: &ParseOptions, [n, r, p]: [&str; 3], salt: &str, hash: Vec<u8>) -> Parsed {
    let log_n = log2_exact(SCHEME, "N", number(SCHEME, "N", n)?)?;
    let (r, p) = (number(SCHEME, "r", r)?, number(SCHEME, "p", p)?);
    ok(Kind::Scrypt(Scrypt::from_parts(
        o,
        log_n,
        r,
        p,
        salt.as_bytes().to_vec(),
        hash,
    )?))
}

/// libxcrypt / libsodium: `$7$` + N (1 char) + r (5 chars) + p (5 chars) + salt + `$` + hash.
pub(crate) fn parse_libxcrypt(s: &str, o: &ParseOptions) -> Parsed {
    let setting = s.get(3..).unwrap_or_default();
    let (head, hash) = setting
        .rsplit_once('$')
        .ok_or_else(|| HashError::structure(SCHEME, "missing checksum"))?;
    if head.len() < 11 || !head.is_ascii() || !encoding::is_h64(hash) {
        return Err(HashError::malformed(
            SCHEME,
            "params",
            "expected N, r and p as 11 h64 characters",
        ));
    }
    let (params, salt) = head.split_at(11);
    let bytes = params.as_bytes();
    let log_n = bytes
        .first()
        .and_then(|&c| itoa64_index(c))
        .ok_or_else(|| HashError::malformed(SCHEME, "N", "not h64"))?;
    let r = h64_u30(bytes.get(1..6)).ok_or_else(|| HashError::malformed(SCHEME, "r", "not h64"))?;
    let p =
        h64_u30(bytes.get(6..11)).ok_or_else(|| HashError::malformed(SCHEME, "p", "not h64"))?;
    if hash.len() != 43 {
        return Err(HashError::malformed(
            SCHEME,
            "checksum",
            "expected 43 characters",
        ));
    }
    let checksum =
        h64_decode(hash).ok_or_else(|| HashError::malformed(SCHEME, "checksum", "not h64"))?;
    let checksum = checksum.get(..32).map(<[u8]>::to_vec).unwrap_or_default();
    let (r, p) = (u64::from(r), u64::from(p));
    ok(Kind::Scrypt(Scrypt::from_parts(
        o,
        u64::from(log_n),
        r,
        p,
        salt.as_bytes().to_vec(),
        checksum,
    )?))
}

/// Decodes crypt(3)'s little-endian base64.
pub(crate) fn h64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len().saturating_mul(3) / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        acc |= itoa64_index(c)? << bits;
        bits = bits.saturating_add(6);
        while bits >= 8 {
            out.push((acc & 0xff) as u8);
            acc >>= 8;
            bits = bits.saturating_sub(8);
        }
    }
    Some(out)
}

/// A 30-bit little-endian h64 integer from five characters.
fn h64_u30(chars: Option<&[u8]>) -> Option<u32> {
    let chars = chars?;
    chars.iter().enumerate().try_fold(0u32, |acc, (i, &c)| {
        let shift = u32::try_from(i).ok()?.checked_mul(6)?;
        Some(acc | (itoa64_index(c)? << shift))
    })
}

/// Cisco IOS type 9: `$9$<14-character salt>$<43 characters>`, scrypt with N = 16384,
/// r = 1, p = 1 over the salt as written, in Cisco's base64.
pub(crate) fn parse_cisco9(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "9", salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(SCHEME, "expected $9$<salt>$<hash>"));
    };
    let hash = decode(o, SCHEME, "hash", hash, encoding::cisco64, "Cisco base64")?;
    if hash.len() != 32 {
        return Err(HashError::malformed(SCHEME, "hash", "expected 32 bytes"));
    }
    ok(Kind::Scrypt(Scrypt::from_parts(
        o,
        14,
        1,
        1,
        salt.as_bytes().to_vec(),
        hash,
    )?))
}

/// Spring Security `{scrypt}$<hex params>$<salt>$<hash>` (the caller strips `{scrypt}`).
pub(crate) fn parse_spring(rest: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = rest.split('$').collect();
    let ["", params, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            SCHEME,
            "expected $<params>$<salt>$<hash>",
        ));
    };
    if params.is_empty() || params.len() > 8 || !encoding::is_hex(params) {
        return Err(HashError::malformed(SCHEME, "params", "expected hex"));
    }
    let packed = u64::from_str_radix(params, 16)
        .map_err(|_| HashError::malformed(SCHEME, "params", "expected hex"))?;
    let (log_n, r, p) = (packed >> 16, (packed >> 8) & 0xff, packed & 0xff);
    let salt = decode(o, SCHEME, "salt", salt, encoding::b64, "base64")?;
    let hash = decode(o, SCHEME, "hash", hash, encoding::b64, "base64")?;
    ok(Kind::Scrypt(Scrypt::from_parts(
        o, log_n, r, p, salt, hash,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h64_decode_inverts_the_encoder() {
        let bytes: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37)).collect();
        let encoded = encoding::h64_encode(&bytes);
        assert_eq!(
            h64_decode(&encoded).unwrap().get(..32).unwrap(),
            bytes.as_slice()
        );
    }

    #[test]
    fn kratos_n_and_passlib_log2_are_told_apart() {
        let o = ParseOptions::default();
        let kratos = parse_dollar_scrypt("$scrypt$ln=16384,r=8,p=1$c2FsdA==$aGFzaA==", &o).unwrap();
        let passlib = parse_dollar_scrypt("$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA", &o).unwrap();
        let (Kind::Scrypt(k), Kind::Scrypt(p)) = (&kratos.0, &passlib.0) else {
            panic!()
        };
        assert_eq!((k.log_n, p.log_n), (14, 14));
    }

    #[test]
    fn hostile_n_is_refused_before_allocation() {
        let err = parse_dollar_scrypt(
            "$scrypt$ln=40,r=8,p=1$c2FsdA$aGFzaA",
            &ParseOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, HashError::ParamOutOfRange { .. }), "{err}");
    }
}
