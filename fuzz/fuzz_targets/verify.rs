//! Parse under deliberately tight limits, then verify: whatever parses must be computable
//! within those limits in milliseconds. A returned `Err` is fine; a panic, an abort, an OOM or
//! a libFuzzer timeout is a bug (a cost the limits failed to bound).
//!
//! Input: `<stored hash>[\0<password bytes>]`. Without a NUL the password is `password`, which
//! is the password of most vectors in the seed corpus, so seeds exercise the matching path.

#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_hash::{Limits, ParseOptions, Password, PasswordHash, Policy, Scheme};
use zeroize::Zeroizing;

/// A 64-byte Firebase signer key, so encodings that need one out of band can be verified.
const SIGNER_KEY: [u8; 64] = [0x5a; 64];

/// Limits that keep one verify in the millisecond range.
fn tight() -> Limits {
    Limits {
        bcrypt_max_cost: 5,
        max_memory_kib: 64,
        argon2_max_work_kib: 256,
        max_parallelism: 4,
        scrypt_max_work_kib: 256,
        pbkdf2_max_iterations: 2_000,
        sha_crypt_max_rounds: 2_000,
        crypt_max_rounds: 2_000,
        phpass_max_log2: 8,
        digest_max_iterations: 2_000,
        max_field_bytes: 256,
        max_input_bytes: 4_096,
    }
}

fn run(stored: &str, password: &Password, options: &ParseOptions) {
    let Ok(hash) = PasswordHash::parse_with(stored, options) else {
        return;
    };
    let _ = hash.verify(password);
    let _ = hash.needs_upgrade(&Policy::default());
}

fuzz_target!(|data: &[u8]| {
    let (stored, password) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"password"[..]),
    };
    let Ok(stored) = std::str::from_utf8(stored) else {
        return;
    };
    let password = Password::from(password);
    // The key and the pepper only matter to encodings that do not carry their own.
    let mut options = ParseOptions {
        limits: tight(),
        firebase_signer_key: Some(Zeroizing::new(SIGNER_KEY.to_vec())),
        pepper: Some(Zeroizing::new(b"pepper".to_vec())),
        ..ParseOptions::default()
    };
    run(stored, &password, &options);
    // The forced readings of ambiguous encodings (32 hex digits, Django/Werkzeug digests,
    // bigcrypt, MySQL 3.23) and of `<hash>:<salt>` for the schemes salted with another field.
    for forced in [
        Scheme::Nthash,
        Scheme::Md4,
        Scheme::HmacSha1,
        Scheme::HmacMd5,
        Scheme::Bigcrypt,
        Scheme::Mysql323,
        Scheme::PostgresMd5,
        Scheme::Oracle10,
        Scheme::Vbulletin,
        Scheme::Ipb,
        Scheme::Smf,
        Scheme::SymfonySha512,
        Scheme::BcryptPepper,
    ] {
        options.scheme = Some(forced);
        run(stored, &password, &options);
    }
});
