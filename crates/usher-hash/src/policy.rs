//! The hashing policy for new hashes: Argon2id, with OWASP's parameters by default.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::{HashError, Password, encoding};

/// Parameters for new Argon2id hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Memory in KiB. Default 19456 (19 MiB).
    pub memory_kib: u32,
    /// Passes over memory. Default 2.
    pub iterations: u32,
    /// Lanes. Default 1.
    pub parallelism: u32,
    /// Salt length in bytes. Default 16.
    pub salt_len: usize,
    /// Output length in bytes. Default 32.
    pub output_len: usize,
}

impl Default for Policy {
    /// OWASP's Password Storage Cheat Sheet: Argon2id, m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            salt_len: 16,
            output_len: 32,
        }
    }
}

impl Policy {
    /// Checks the policy before it is used.
    pub fn validate(&self) -> Result<(), HashError> {
        self.params().map(|_| ())?;
        if !(16..=64).contains(&self.salt_len) {
            return Err(HashError::InvalidPolicy(format!(
                "salt_len {} is outside 16..=64",
                self.salt_len
            )));
        }
        if !(16..=64).contains(&self.output_len) {
            return Err(HashError::InvalidPolicy(format!(
                "output_len {} is outside 16..=64",
                self.output_len
            )));
        }
        Ok(())
    }

    fn params(&self) -> Result<Params, HashError> {
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(self.output_len),
        )
        .map_err(|e| HashError::InvalidPolicy(e.to_string()))
    }
}

/// Hashes `password` with Argon2id under `policy` and a fresh random salt, returning the PHC
/// string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash(password: &Password, policy: &Policy) -> Result<String, HashError> {
    policy.validate()?;
    let mut salt = vec![0u8; policy.salt_len];
    getrandom::fill(&mut salt).map_err(|e| HashError::Randomness(e.to_string()))?;
    hash_with_salt(password, policy, &salt)
}

/// [`hash`] with a given salt: the one place the Argon2id PHC string is computed, split out so
/// a test can pin its output against an independent implementation.
fn hash_with_salt(password: &Password, policy: &Policy, salt: &[u8]) -> Result<String, HashError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, policy.params()?);
    let mut out = Zeroizing::new(vec![0u8; policy.output_len]);
    let blocks = argon.params().block_count();
    crate::formats::argon2::with_memory(blocks, |memory| {
        argon.hash_password_into_with_memory(password.expose(), salt, &mut out, memory)
    })
    .map_err(|e| HashError::InvalidPolicy(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        policy.memory_kib,
        policy.iterations,
        policy.parallelism,
        encoding::b64_encode_unpadded(salt),
        encoding::b64_encode_unpadded(&out),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers computed by argon2-cffi 25.1.0 (the reference C implementation), not by
    /// usher: `argon2.low_level.hash_secret(pw, b"usher-pinned-sal", time_cost=2,
    /// memory_cost=19456, parallelism=1, hash_len=32, type=Type.ID)`.
    #[test]
    fn new_hashes_match_argon2_cffi_under_the_default_policy() {
        let salt = b"usher-pinned-sal";
        let cases = [
            (
                "correct horse battery staple",
                "$argon2id$v=19$m=19456,t=2,p=1$dXNoZXItcGlubmVkLXNhbA$1nsbirDS7V097fxGqdl6cIczLyF9fANyHQWkQlonFwk",
            ),
            (
                "pässwörd-密码-🔑",
                "$argon2id$v=19$m=19456,t=2,p=1$dXNoZXItcGlubmVkLXNhbA$+GfeCSByh+oFARQ5umpLxqWr7+/3usGhIqNwqkejnYc",
            ),
        ];
        for (password, expected) in cases {
            let got = hash_with_salt(&Password::from(password), &Policy::default(), salt)
                .expect("the default policy hashes");
            assert_eq!(got, expected, "password {password:?}");
        }
    }

    #[test]
    fn hash_draws_a_fresh_salt_of_the_policy_length() {
        let policy = Policy::default();
        let password = Password::from("correct horse battery staple");
        let a = hash(&password, &policy).expect("hashes");
        let b = hash(&password, &policy).expect("hashes");
        assert_ne!(a, b, "two hashes of one password share a salt");
        let salt = a.split('$').nth(4).expect("PHC string has a salt field");
        assert_eq!(
            salt.len(),
            22,
            "16 bytes of salt are 22 unpadded base64 characters: {a}"
        );
    }
}
