//! Arbitrary bytes as a stored hash: detection, forced-scheme parsing and error formatting
//! must never panic, and must agree with each other. Nothing is verified here (default limits
//! admit multi-second costs); the `verify` target does that under tight limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_hash::{ParseOptions, PasswordHash, Policy, Scheme, identify};
use zeroize::Zeroizing;

/// A 64-byte Firebase signer key, so encodings that need one out of band get past that check.
const SIGNER_KEY: [u8; 64] = [0x5a; 64];

fn check(stored: &str, options: &ParseOptions) {
    match PasswordHash::parse_with(stored, options) {
        Ok(hash) => {
            if let Some(forced) = options.scheme {
                assert_eq!(
                    hash.scheme(),
                    forced,
                    "a forced parse returned another scheme"
                );
            }
            let _ = format!("{hash:?}");
            let _ = hash.needs_upgrade(&Policy::default());
        }
        // Error messages are built from the input: format them too.
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(stored) = std::str::from_utf8(data) else {
        return;
    };

    // Detection.
    let parsed = PasswordHash::parse(stored);
    let identified = identify(stored);
    match (&parsed, &identified) {
        (Ok(hash), Ok(scheme)) => assert_eq!(hash.scheme(), *scheme),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("parse and identify disagree"),
    }
    if let Err(e) = &parsed {
        let _ = e.to_string();
    }
    check(stored, &ParseOptions::default());
    let _ = stored.parse::<Scheme>();

    // A scheme forced by the first byte, over the whole string and over the rest of it, with
    // and without an out-of-band signer key and pepper.
    let Some((&selector, _)) = data.split_first() else {
        return;
    };
    let forced = Scheme::ALL[usize::from(selector) % Scheme::ALL.len()];
    let mut options = ParseOptions::forcing(forced);
    check(stored, &options);
    if let Some(rest) = stored.get(1..) {
        check(rest, &options);
    }
    options.firebase_signer_key = Some(Zeroizing::new(SIGNER_KEY.to_vec()));
    options.pepper = Some(Zeroizing::new(b"pepper".to_vec()));
    check(stored, &options);
    // Whatever a forced parse accepts, detection with the same key must accept as the same
    // scheme, unless the forced scheme is one detection cannot tell apart (md4/nthash from md5,
    // hmac-* from Django's salted digests, bigcrypt from DES crypt, a peppered bcrypt from
    // bcrypt, and the `<hash>:<salt>` schemes salted with another field from the PHP
    // applications' `<hex>:<salt>`).
    if let Ok(hash) = PasswordHash::parse_with(stored, &options) {
        let mut detect = options.clone();
        detect.scheme = None;
        if let Ok(detected) = PasswordHash::parse_with(stored, &detect) {
            let ambiguous = matches!(
                forced,
                Scheme::Md4
                    | Scheme::Nthash
                    | Scheme::HmacMd5
                    | Scheme::HmacSha1
                    | Scheme::HmacSha256
                    | Scheme::HmacSha384
                    | Scheme::HmacSha512
                    | Scheme::Bigcrypt
                    | Scheme::BcryptPepper
                    | Scheme::Mysql323
                    | Scheme::PostgresMd5
                    | Scheme::Oracle10
                    | Scheme::Vbulletin
                    | Scheme::Ipb
                    | Scheme::Smf
                    | Scheme::SymfonySha512
            );
            if !ambiguous {
                assert_eq!(detected.scheme(), hash.scheme());
            }
        }
    }
});
