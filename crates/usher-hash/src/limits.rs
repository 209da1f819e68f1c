//! Bounds on the cost parameters embedded in a hash.
//!
//! A stored hash chooses its own cost. Without a bound, one hostile row (`m=4294967295`,
//! `rounds=999999999`) makes a verify allocate gigabytes or run for hours. Every parser checks
//! its parameters against these limits before any hashing is done. The defaults admit every
//! cost that real systems ship (libsodium's "sensitive" Argon2 at 1 GiB, Django's 1,000,000
//! PBKDF2 rounds, bcrypt cost 16) and refuse the rest.

use crate::{HashError, Scheme};

/// The largest costs usher will compute. See the module docs for the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest bcrypt cost (log2 of the rounds). Default 16 (about 4 s per verify).
    pub bcrypt_max_cost: u32,
    /// Largest memory any memory-hard scheme may use, in KiB. Default 1 GiB.
    pub max_memory_kib: u64,
    /// Largest Argon2 memory × passes, in KiB. Default 4 GiB (1 GiB × 4 passes).
    pub argon2_max_work_kib: u64,
    /// Largest Argon2 lanes and scrypt/yescrypt `p`. Default 64.
    pub max_parallelism: u32,
    /// Largest scrypt memory × `p`, in KiB; for yescrypt, memory × `p` × (`t` + 1).
    /// Default 4 GiB.
    pub scrypt_max_work_kib: u64,
    /// Largest PBKDF2 iteration count, also counted once per digest-sized block of the hash
    /// (PBKDF2 repeats every iteration per block, so iterations × blocks is held to it).
    /// Default 10,000,000.
    pub pbkdf2_max_iterations: u64,
    /// Largest SHA-crypt rounds. Default 10,000,000.
    pub sha_crypt_max_rounds: u64,
    /// Largest rounds of the other crypt(3) schemes: BSDi DES crypt (one DES encryption a
    /// round), NetBSD sha1-crypt (one HMAC-SHA1) and SunMD5 (beyond its fixed 4096 MD5
    /// rounds). Default 1,000,000 (about a second of DES); the systems' defaults are 7250,
    /// 480,000 and 5000.
    pub crypt_max_rounds: u64,
    /// Largest log2 of the phpass / Drupal iteration count. Default 24.
    pub phpass_max_log2: u32,
    /// Largest iteration count of iterated digests (FusionAuth `factor`). Default 10,000,000.
    pub digest_max_iterations: u64,
    /// Largest salt, key or hash field accepted, in bytes. Default 1024.
    pub max_field_bytes: usize,
    /// Longest stored hash string accepted, in bytes. Default 16 KiB (descriptors are JSON).
    pub max_input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            bcrypt_max_cost: 16,
            max_memory_kib: 1 << 20,
            argon2_max_work_kib: 4 << 20,
            max_parallelism: 64,
            scrypt_max_work_kib: 4 << 20,
            pbkdf2_max_iterations: 10_000_000,
            sha_crypt_max_rounds: 10_000_000,
            crypt_max_rounds: 1_000_000,
            phpass_max_log2: 24,
            digest_max_iterations: 10_000_000,
            max_field_bytes: 1024,
            max_input_bytes: 16 * 1024,
        }
    }
}

/// Checks `value` against `min..=max`, naming the parameter in the error.
pub(crate) fn check_range(
    scheme: Scheme,
    param: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), HashError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(HashError::ParamOutOfRange {
            scheme,
            param,
            value,
            min,
            max,
        })
    }
}

impl Limits {
    /// Checks the size of a decoded salt, key or hash field.
    pub(crate) fn check_field(
        &self,
        scheme: Scheme,
        field: &'static str,
        bytes: &[u8],
    ) -> Result<(), HashError> {
        if bytes.len() > self.max_field_bytes {
            return Err(HashError::malformed(
                scheme,
                field,
                format!(
                    "{} bytes is longer than the {} accepted",
                    bytes.len(),
                    self.max_field_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Checks scrypt-style memory (128 · N · r bytes) and work (memory · p).
    pub(crate) fn check_scrypt(
        &self,
        scheme: Scheme,
        log_n: u64,
        r: u64,
        p: u64,
    ) -> Result<(), HashError> {
        check_range(scheme, "log2(N)", log_n, 1, 40)?;
        check_range(scheme, "r", r, 1, 1 << 20)?;
        check_range(scheme, "p", p, 1, u64::from(self.max_parallelism))?;
        // 128 · N · r bytes = N · r / 8 KiB; log_n ≤ 40 and r ≤ 2^20 keep this within u64.
        let mem_kib = (1u64 << log_n).saturating_mul(r) / 8;
        check_range(scheme, "memory (KiB)", mem_kib, 0, self.max_memory_kib)?;
        check_range(
            scheme,
            "memory × p (KiB)",
            mem_kib.saturating_mul(p),
            0,
            self.scrypt_max_work_kib,
        )
    }

    /// Checks yescrypt: memory and `p` as for scrypt, and its time parameter `t`, which adds
    /// up to one more pass over memory per step, so memory × `p` × (`t` + 1) must fit the
    /// scrypt work bound. Memory is rounded up to whole KiB here, so that a tiny N · r cannot
    /// round to zero and let any `t` through.
    pub(crate) fn check_yescrypt(
        &self,
        scheme: Scheme,
        log_n: u64,
        r: u64,
        p: u64,
        t: u64,
    ) -> Result<(), HashError> {
        self.check_scrypt(scheme, log_n, r, p)?;
        // check_scrypt bounded log_n ≤ 40 and r ≤ 2^20.
        let mem_kib = (1u64 << log_n).saturating_mul(r).div_ceil(8);
        check_range(
            scheme,
            "memory × p × (t + 1) (KiB)",
            mem_kib
                .saturating_mul(p)
                .saturating_mul(t.saturating_add(1)),
            0,
            self.scrypt_max_work_kib,
        )
    }
}
