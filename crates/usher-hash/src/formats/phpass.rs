//! phpass portable hashes (`$P$`, phpBB's `$H$`) and Drupal 7's SHA-512 variant (`$S$`).
//!
//! ```text
//! h = H(salt ‖ password); repeat 2^count times: h = H(h ‖ password)
//! stored = "$P$" ‖ itoa64[count] ‖ salt(8) ‖ h64(h)          (MD5, 22 characters)
//! stored = ("$S$" ‖ itoa64[count] ‖ salt(8) ‖ h64(h))[..55]  (SHA-512, truncated)
//! ```

use md5::Md5;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::{Parsed, ok};
use crate::encoding::{self, itoa64_index};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme};

#[derive(Clone)]
pub(crate) struct Phpass {
    pub(crate) sha512: bool,
    /// Drupal 7 re-hashed Drupal 6's unsalted MD5 hashes as `U$S$…` = `$S$` over hex(md5(pw)).
    pub(crate) md5_prehash: bool,
    pub(crate) log2: u32,
    pub(crate) salt: String,
    pub(crate) checksum: String,
}

fn chain<D: Digest>(pw: &[u8], salt: &[u8], log2: u32) -> Zeroizing<Vec<u8>> {
    let mut h = Zeroizing::new(
        D::new()
            .chain_update(salt)
            .chain_update(pw)
            .finalize()
            .to_vec(),
    );
    for _ in 0..(1u64 << log2) {
        h = Zeroizing::new(
            D::new()
                .chain_update(&*h)
                .chain_update(pw)
                .finalize()
                .to_vec(),
        );
    }
    h
}

impl Verify for Phpass {
    fn scheme(&self) -> Scheme {
        if self.sha512 {
            Scheme::DrupalSha512
        } else {
            Scheme::Phpass
        }
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let prehashed;
        let pw = if self.md5_prehash {
            prehashed = Zeroizing::new(encoding::hex_encode(&Md5::digest(password.expose())));
            prehashed.as_bytes()
        } else {
            password.expose()
        };
        let salt = self.salt.as_bytes();
        let raw = if self.sha512 {
            chain::<Sha512>(pw, salt, self.log2)
        } else {
            chain::<Md5>(pw, salt, self.log2)
        };
        let encoded = Zeroizing::new(encoding::h64_encode(&raw));
        let computed = encoded.get(..self.checksum.len()).unwrap_or_default();
        Ok(encoding::ct_eq(
            computed.as_bytes(),
            self.checksum.as_bytes(),
        ))
    }
}

/// `$P$`/`$H$` (MD5) or `$S$` (SHA-512).
pub(crate) fn parse(s: &str, o: &ParseOptions, sha512: bool) -> Parsed {
    let scheme = if sha512 {
        Scheme::DrupalSha512
    } else {
        Scheme::Phpass
    };
    let (expected_len, min_log2) = if sha512 { (55, 7) } else { (34, 7) };
    if s.len() != expected_len || !s.is_ascii() {
        return Err(HashError::malformed(
            scheme,
            "length",
            format!("expected {expected_len} characters"),
        ));
    }
    let (setting, checksum) = s.split_at(12);
    let log2 = setting
        .as_bytes()
        .get(3)
        .and_then(|&c| itoa64_index(c))
        .ok_or_else(|| HashError::malformed(scheme, "count", "not an h64 character"))?;
    check_range(
        scheme,
        "count (log2)",
        u64::from(log2),
        min_log2,
        u64::from(o.limits.phpass_max_log2).min(30),
    )?;
    let salt = setting.get(4..).unwrap_or_default();
    if !encoding::is_h64(checksum) {
        return Err(HashError::malformed(scheme, "checksum", "not h64"));
    }
    ok(Kind::Phpass(Phpass {
        sha512,
        md5_prehash: false,
        log2,
        salt: salt.to_owned(),
        checksum: checksum.to_owned(),
    }))
}

/// Drupal 7's `U$S$…` (the caller strips `U`).
pub(crate) fn parse_drupal_upgraded(rest: &str, o: &ParseOptions) -> Parsed {
    if !rest.starts_with("$S$") {
        return Err(HashError::Unrecognized);
    }
    let mut parsed = parse(rest, o, true)?;
    if let Kind::Phpass(p) = &mut parsed.0 {
        p.md5_prehash = true;
    }
    Ok(parsed)
}

/// FusionAuth's split fields: the iteration count (a power of two, as FusionAuth's example
/// phpass plugin stores it), the 8-character salt and the checksum.
pub(crate) fn from_parts(
    o: &ParseOptions,
    sha512: bool,
    count: u64,
    salt: &str,
    checksum: &str,
) -> Parsed {
    let scheme = if sha512 {
        Scheme::DrupalSha512
    } else {
        Scheme::Phpass
    };
    if !count.is_power_of_two() {
        return Err(HashError::malformed(
            scheme,
            "factor",
            "the iteration count must be a power of two",
        ));
    }
    let log2 = u64::from(count.trailing_zeros());
    let prefix = if sha512 { "$S$" } else { "$P$" };
    let count = usize::try_from(log2)
        .ok()
        .and_then(|i| encoding::ITOA64.get(i))
        .copied()
        .unwrap_or(b'.');
    let count = char::from(count);
    parse(&format!("{prefix}{count}{salt}{checksum}"), o, sha512)
}
