//! Argon2 d / i / id in the PHC string format, as argon2-cffi, passlib, libsodium, Django
//! (behind `argon2$`), Kratos, Supabase and Spring write it. Version 1.0 hashes omit `v=`.

use argon2::{Algorithm, AssociatedData, Block, ParamsBuilder, Version};
use zeroize::Zeroizing;

use super::{Parsed, decode, number, ok, param, params_of, required, to_u32};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Policy, Scheme, encoding};

#[derive(Clone)]
pub(crate) struct Argon2 {
    pub(crate) algorithm: Algorithm,
    pub(crate) version: Version,
    pub(crate) m_kib: u32,
    pub(crate) t: u32,
    pub(crate) p: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) salt: Vec<u8>,
    pub(crate) hash: Vec<u8>,
    /// Whether the stored string is a bare PHC string, the form usher writes. Any other
    /// (Django's `argon2$`, `{ARGON2}`, Spring's, Keycloak's JSON, Magento's `<hex>:<salt>:2`)
    /// is rewritten at the next login, however strong, so the store ends with one form.
    pub(crate) phc: bool,
}

impl Argon2 {
    /// Builds from parts (Keycloak's credential JSON carries them separately), bounding them.
    #[allow(clippy::too_many_arguments)] // one argument per Argon2 parameter
    pub(crate) fn from_parts(
        o: &ParseOptions,
        algorithm: Algorithm,
        version: Version,
        m_kib: u64,
        t: u64,
        p: u64,
        salt: Vec<u8>,
        hash: Vec<u8>,
    ) -> Result<Self, HashError> {
        let scheme = scheme_of(algorithm);
        let limits = &o.limits;
        check_range(scheme, "p", p, 1, u64::from(limits.max_parallelism))?;
        check_range(scheme, "t", t, 1, u64::from(u32::MAX))?;
        check_range(
            scheme,
            "m",
            m_kib,
            p.saturating_mul(8),
            limits.max_memory_kib,
        )?;
        check_range(
            scheme,
            "m × t",
            m_kib.saturating_mul(t),
            0,
            limits.argon2_max_work_kib,
        )?;
        if salt.len() < 8 {
            return Err(HashError::malformed(
                scheme,
                "salt",
                "shorter than Argon2's minimum of 8 bytes",
            ));
        }
        if hash.len() < 4 {
            return Err(HashError::malformed(
                scheme,
                "hash",
                "shorter than Argon2's minimum of 4 bytes",
            ));
        }
        Ok(Self {
            algorithm,
            version,
            m_kib: to_u32(scheme, "m", m_kib)?,
            t: to_u32(scheme, "t", t)?,
            p: to_u32(scheme, "p", p)?,
            data: Vec::new(),
            salt,
            hash,
            phc: false,
        })
    }

    /// Whether this hash is weaker than `policy` asks for new hashes.
    pub(crate) fn below(&self, policy: &Policy) -> bool {
        !self.phc
            || self.algorithm != Algorithm::Argon2id
            || self.version != Version::V0x13
            || self.m_kib < policy.memory_kib
            || self.t < policy.iterations
            || self.p < policy.parallelism
            || self.salt.len() < policy.salt_len
            || self.hash.len() < policy.output_len
    }
}

fn scheme_of(algorithm: Algorithm) -> Scheme {
    match algorithm {
        Algorithm::Argon2d => Scheme::Argon2d,
        Algorithm::Argon2i => Scheme::Argon2i,
        Algorithm::Argon2id => Scheme::Argon2id,
    }
}

impl Verify for Argon2 {
    fn scheme(&self) -> Scheme {
        scheme_of(self.algorithm)
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let scheme = self.scheme();
        let invalid = |e: argon2::Error| HashError::malformed(scheme, "params", e.to_string());
        let mut builder = ParamsBuilder::new();
        builder
            .m_cost(self.m_kib)
            .t_cost(self.t)
            .p_cost(self.p)
            .output_len(self.hash.len());
        if !self.data.is_empty() {
            builder.data(AssociatedData::new(&self.data).map_err(invalid)?);
        }
        let params = builder.build().map_err(invalid)?;
        let mut out = Zeroizing::new(vec![0u8; self.hash.len()]);
        let argon = argon2::Argon2::new(self.algorithm, self.version, params);
        let blocks = argon.params().block_count();
        with_memory(blocks, |memory| {
            argon.hash_password_into_with_memory(password.expose(), &self.salt, &mut out, memory)
        })
        .map_err(invalid)?;
        Ok(encoding::ct_eq(&out, &self.hash))
    }
}

/// Largest Argon2 memory kept per thread between verifies, in 1 KiB blocks (64 MiB).
const REUSED_BLOCKS_MAX: usize = 64 * 1024;

thread_local! {
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` over `blocks` blocks of Argon2 memory (verifying or hashing). Memory up to [`REUSED_BLOCKS_MAX`] is kept
/// per thread and reused: a fresh allocation costs a page fault per 4 KiB (about 5,000 for
/// OWASP's 19 MiB) plus the kernel zeroing them, which is a sixth of a verify. Argon2 writes
/// every block before reading it, so stale contents never matter.
pub(crate) fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > REUSED_BLOCKS_MAX {
        let mut memory = vec![Block::default(); blocks];
        return f(&mut memory);
    }
    MEMORY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut memory) => {
            if memory.len() < blocks {
                memory.resize(blocks, Block::default());
            }
            f(memory.get_mut(..blocks).unwrap_or_default())
        }
        // Re-entered on this thread (cannot happen today); fall back to a fresh buffer.
        Err(_) => f(&mut vec![Block::default(); blocks]),
    })
}

/// `$argon2id$v=19$m=19456,t=2,p=1[,data=…]$<salt>$<hash>`; `v=` may be absent (version 1.0).
/// Magento 2's Argon2id (`Encryptor::getArgonHash`): `<hex hash>:<salt>:2` with libsodium's
/// interactive limits (32-byte output, 2 passes, 64 MiB), and `<hex>:<salt>:3_<output
/// bytes>_<passes>_<memory bytes>`. The salt string is cut or cyclically padded to
/// libsodium's 16 bytes; libsodium runs one lane.
pub(crate) fn parse_magento(hex: &str, salt: &str, version: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::Argon2id;
    let (seed, ops, mem) = if version == "2" {
        (32, 2, 67_108_864)
    } else {
        let [three, seed, ops, mem] = version.split('_').collect::<Vec<_>>()[..] else {
            return Err(HashError::structure(
                scheme,
                "expected <hash>:<salt>:3_<bytes>_<ops>_<memory>",
            ));
        };
        if three != "3" {
            return Err(HashError::Unrecognized);
        }
        (
            number(scheme, "output bytes", seed)?,
            number(scheme, "ops", ops)?,
            number(scheme, "memory", mem)?,
        )
    };
    let hash = decode(o, scheme, "hash", hex, encoding::hex, "hex")?;
    if u64::try_from(hash.len()).ok() != Some(seed) {
        return Err(HashError::malformed(
            scheme,
            "hash",
            "its length differs from the version's output bytes",
        ));
    }
    if salt.is_empty() {
        return Err(HashError::malformed(scheme, "salt", "empty"));
    }
    let salt: Vec<u8> = salt.bytes().cycle().take(16).collect();
    let argon = Argon2::from_parts(
        o,
        Algorithm::Argon2id,
        Version::V0x13,
        mem / 1024,
        ops,
        1,
        salt,
        hash,
    )?;
    ok(Kind::Argon2(argon))
}

pub(crate) fn parse_phc(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let (alg, rest) = match fields.as_slice() {
        ["", alg, rest @ ..] => (*alg, rest),
        _ => return Err(HashError::Unrecognized),
    };
    let algorithm = match alg {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return Err(HashError::Unrecognized),
    };
    let scheme = scheme_of(algorithm);
    let (version, params, salt, hash) = match rest {
        [v, params, salt, hash] if v.starts_with("v=") => (Some(*v), *params, *salt, *hash),
        [params, salt, hash] => (None, *params, *salt, *hash),
        _ => {
            return Err(HashError::structure(
                scheme,
                "expected $v=19$m=…,t=…,p=…$<salt>$<hash>",
            ));
        }
    };
    let version = match version.map(|v| v.trim_start_matches("v=")) {
        None | Some("16") => Version::V0x10,
        Some("19") => Version::V0x13,
        Some(_) => return Err(HashError::malformed(scheme, "v", "expected 16 or 19")),
    };
    let kv = params_of(scheme, params)?;
    let get = |name| number(scheme, name, required(scheme, &kv, name)?);
    let (m, t, p) = (get("m")?, get("t")?, get("p")?);
    if param(&kv, "keyid").is_some() {
        return Err(HashError::MissingParameter {
            scheme,
            what: "the secret key named by keyid",
        });
    }
    let data = match param(&kv, "data") {
        Some(d) => decode(o, scheme, "data", d, encoding::b64, "base64")?,
        None => Vec::new(),
    };
    if let Some((unknown, _)) = kv
        .iter()
        .find(|(k, _)| !matches!(*k, "m" | "t" | "p" | "data"))
    {
        return Err(HashError::malformed(
            scheme,
            "params",
            format!(
                "unknown parameter `{}`",
                unknown.chars().take(16).collect::<String>()
            ),
        ));
    }
    let salt = decode(o, scheme, "salt", salt, encoding::b64, "base64")?;
    let hash = decode(o, scheme, "hash", hash, encoding::b64, "base64")?;
    let mut parsed = Argon2::from_parts(o, algorithm, version, m, t, p, salt, hash)?;
    parsed.data = data;
    ok(Kind::Argon2(parsed))
}

#[cfg(test)]
mod tests {
    use super::super::out_of_range;
    use super::*;

    /// The parameter parsing `s` refuses as out of range.
    fn refused_param(s: &str) -> &'static str {
        let err = parse_phc(s, &ParseOptions::default()).unwrap_err();
        out_of_range(&err).unwrap_or_else(|| panic!("{err}")).0
    }

    #[test]
    fn hostile_memory_cost_is_refused_before_any_allocation() {
        let s = "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo";
        assert_eq!(refused_param(s), "m");
    }

    #[test]
    fn hostile_time_cost_is_refused_through_the_work_bound() {
        let s = "$argon2id$v=19$m=65536,t=4294967295,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo";
        assert_eq!(refused_param(s), "m × t");
    }
}
