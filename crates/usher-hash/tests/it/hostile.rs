//! Hostile and malformed input: refused with a typed error naming the field, never computed,
//! never a panic.

use proptest::prelude::*;
use usher_hash::{HashError, Limits, ParseOptions, Password, PasswordHash, Scheme};

fn refused(s: &str) -> HashError {
    match PasswordHash::parse(s) {
        Ok(h) => panic!("{s:?} parsed as {h:?}"),
        Err(e) => e,
    }
}

#[test]
fn hostile_cost_parameters_are_refused_as_out_of_range() {
    for s in [
        "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2i$v=19$m=65536,t=999999999,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2d$v=19$m=65536,t=2,p=16777215$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$5$rounds=999999999999$saltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
        "$6$rounds=999999999$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
        "$pbkdf2-sha256$999999999999$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "$pbkdf2-sha512$i=4294967295$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "pbkdf2_sha256$2000000000$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "$scrypt$ln=63,r=8,p=1$c2FsdA$aGFzaA",
        "$scrypt$ln=16,r=4294967295,p=1$c2FsdA$aGFzaA",
        "scrypt:4611686018427387904:8:1$salt$abcd",
        "$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
        "$P$zabcdefgh0123456789012345678901",
        "$firescrypt$ln=60,r=8,p=1$c2FsdA==$aGFzaA==$Bw==$aGFzaA==",
    ] {
        let err = refused(s);
        assert!(
            matches!(err, HashError::ParamOutOfRange { .. }),
            "{s}: {err}"
        );
    }
}

/// yescrypt's time parameter `t` multiplies the work (`j15/zzzzzz` asks for t ≈ 2^30, hours
/// of compute at N = 16) and was not bounded at all: a libFuzzer timeout in `fuzz/`'s `verify`
/// target, even under its tight limits.
#[test]
fn yescrypt_time_parameter_is_bounded() {
    let hash = "Kw3KvWEuy7l5Wc3j0V8HsP2MrxO6tNFvB.1Sq0WB/V7";
    // The reproducer minimised by libFuzzer (fuzz/regressions/verify/yescrypt-unbounded-t).
    let minimised = "$y$j15/yzzzz$$YwdyYTFN/n3N/nF3oTVsVafN/nF3N/nF3F3N/nF3nF3";
    assert!(matches!(
        refused(minimised),
        HashError::ParamOutOfRange {
            scheme: Scheme::Yescrypt,
            ..
        }
    ));
    for params in ["j15/zzzzzz", "j../zzzzzz", "j150.zzzzzz"] {
        let s = format!("$y${params}$29Oo59Mg7lwox/c41yQUA/${hash}");
        let err = refused(&s);
        assert!(
            matches!(
                err,
                HashError::ParamOutOfRange {
                    scheme: Scheme::Yescrypt,
                    param: "memory × p × (t + 1) (KiB)",
                    ..
                }
            ),
            "{s}: {err}"
        );
    }
    // Under the fuzzer's tight limits even a modest t is refused before any work...
    let tight = ParseOptions {
        limits: Limits {
            max_memory_kib: 64,
            scrypt_max_work_kib: 256,
            ..Limits::default()
        },
        ..ParseOptions::default()
    };
    let s = format!("$y$j15/K$29Oo59Mg7lwox/c41yQUA/${hash}");
    assert!(PasswordHash::parse_with(&s, &tight).is_err());
    // ...while a small t is a bounded, computable hash.
    let s = format!("$y$j15/1$29Oo59Mg7lwox/c41yQUA/${hash}");
    let h = PasswordHash::parse_with(&s, &tight).unwrap();
    assert!(!h.verify(&Password::from("password")).unwrap());
}

/// PBKDF2 repeats its iterations for every digest-sized block of the hash: a 1024-byte
/// PBKDF2-SHA1 hash (52 blocks) at the 10,000,000-iteration limit took about a minute.
#[test]
fn pbkdf2_work_is_bounded_per_output_block() {
    let salt = "c2FsdHNhbHRzYWx0c2FsdA";
    let long = "A".repeat(1366); // 1024 bytes
    for s in [
        format!("$pbkdf2-sha1$i=1000000,l=1024${salt}${long}"),
        format!("$pbkdf2-sha512$i=9000000${salt}${}", "A".repeat(171)), // 128 bytes, 2 blocks
    ] {
        let err = refused(&s);
        assert!(
            matches!(
                err,
                HashError::ParamOutOfRange {
                    param: "iterations × blocks",
                    ..
                }
            ),
            "{s}: {err}"
        );
    }
    // One block at the limit is still accepted.
    let s = format!("$pbkdf2-sha512$i=10000000${salt}${}", "A".repeat(86));
    assert_eq!(
        PasswordHash::parse(&s).unwrap().scheme(),
        Scheme::Pbkdf2Sha512
    );
}

/// A configured bcrypt limit above 31 must not admit costs bcrypt does not define: `1 << 64`
/// rounds overflowed (a panic with overflow checks, a single round without).
#[test]
fn bcrypt_cost_stays_within_31_whatever_the_limit() {
    let lax = ParseOptions {
        limits: Limits {
            bcrypt_max_cost: u32::MAX,
            ..Limits::default()
        },
        ..ParseOptions::default()
    };
    for cost in ["32", "64", "99"] {
        let s = format!("$2b${cost}$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234");
        let err = PasswordHash::parse_with(&s, &lax).unwrap_err();
        assert!(
            matches!(
                err,
                HashError::ParamOutOfRange {
                    param: "cost",
                    max: 31,
                    ..
                }
            ),
            "{s}: {err}"
        );
    }
}

#[test]
fn malformed_fields_are_named_in_the_error() {
    let err = refused("$2b$10$tooshort");
    assert!(err.to_string().contains("bcrypt"), "{err}");
    let err = refused("$argon2id$v=19$m=abc,t=2,p=1$c29tZXNhbHQ$aGFzaA");
    assert_eq!(
        err.to_string(),
        "malformed argon2id hash: m: not a decimal number"
    );
    let err = refused("$pbkdf2-sha256$29000$c2Fs!dA$aGFzaA");
    assert!(err.to_string().contains("salt"), "{err}");
}

#[test]
fn errors_never_echo_the_hash() {
    let secretish = "$2b$10$SECRETSECRETSECRETSECRETSECRETSECRETSECRETSECRETSECRETSEC";
    let err = refused(secretish);
    assert!(!err.to_string().contains("SECRET"), "{err}");
}

#[test]
fn multi_byte_characters_where_hex_belongs_are_refused_not_split() {
    // Found by fuzzing (fuzz/regressions/verify/mssql-split-inside-a-character): a SQL
    // Server body of the right length in bytes whose 8th byte is inside a character.
    let s = format!("0x0200900\u{37d}\u{2fd}\u{33d}\u{3ff}{}", "D".repeat(125));
    assert_eq!(s.len(), 6 + 136);
    let err = refused(&s);
    assert!(err.to_string().contains("salt"), "{err}");
    // The forced `<hash>:<salt>` schemes and MySQL 8's raw salt slice by bytes too.
    for (forced, s) in [
        (Scheme::Oracle10, "0123456789abcd\u{e9}:user"),
        (
            Scheme::Smf,
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}:x",
        ),
        (Scheme::Mysql323, "0123456789abcd\u{e9}"),
    ] {
        assert!(PasswordHash::parse_with(s, &ParseOptions::forcing(forced)).is_err());
    }
    assert!(
        PasswordHash::parse("$A$005$\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}x")
            .is_err()
    );
}

#[test]
fn unrecognized_input_is_unrecognized() {
    for s in [
        "",
        "   ",
        "hello world",
        "$unknown$abc",
        "{UNKNOWN}abc",
        "*nothex",
    ] {
        assert_eq!(refused(s), HashError::Unrecognized, "{s:?}");
    }
}

#[test]
fn a_forced_scheme_that_does_not_fit_is_a_mismatch() {
    let md5 = "5f4dcc3b5aa765d61d8327deb882cf99";
    let err = PasswordHash::parse_with(md5, &ParseOptions::forcing(Scheme::Bcrypt)).unwrap_err();
    assert_eq!(err, HashError::SchemeMismatch(Scheme::Bcrypt));
    let nt = PasswordHash::parse_with(md5, &ParseOptions::forcing(Scheme::Nthash)).unwrap();
    assert_eq!(nt.scheme(), Scheme::Nthash);
}

#[test]
fn surrounding_whitespace_from_char_columns_is_ignored() {
    // python: hashlib.md5(b"password").hexdigest()
    let padded = "  5f4dcc3b5aa765d61d8327deb882cf99   \r\n";
    let h = PasswordHash::parse(padded).unwrap();
    assert!(h.verify(&Password::from("password")).unwrap());
}

/// The limits of the `verify` fuzz target (fuzz/fuzz_targets/verify.rs): one verify in the
/// millisecond range.
fn tight_options() -> ParseOptions {
    ParseOptions {
        limits: Limits {
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
        },
        ..ParseOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,200}") {
        let _ = PasswordHash::parse(&s);
    }

    #[test]
    fn prefixed_garbage_never_panics(
        prefix in prop::sample::select(vec![
            "$2b$", "$2x$", "$argon2id$", "$argon2i$v=19$", "$scrypt$", "$7$", "$firescrypt$",
            "$fbscrypt$", "$f_scrypt$", "$pbkdf2$", "$pbkdf2-sha256$", "$1$", "$apr1$", "$5$",
            "$6$rounds=", "$y$", "$P$", "$S$", "$md5$", "$sha1$pf=", "$hmac-sha256$", "$wp$",
            "$bcrypt-sha256$", "{SSHA}", "{CRYPT}", "{PBKDF2-SHA256}", "{PKCS5S2}", "{SHA-256}",
            "{scrypt}", "{pbkdf2}", "pbkdf2_sha256$", "pbkdf2:sha256:", "scrypt:", "scrypt$",
            "bcrypt_sha256$", "argon2$", "sha1$", "md5$", "*", "{\"algorithm\":",
            "{\"encryptionScheme\":", "{\"secretData\":", "$sha1$1$", "$md5,rounds=", "$md5$",
            "$gy$", "_", "_J9..", "crypt$$", "{CRYPT}_", "$A$005$",
            "$mysql$A$005*", "SCRAM-SHA-256$4096:", "$8$", "$9$", "$p5k2$",
            "$p5k2$$", "$pbkdf2-whirlpool$",
        ]),
        tail in "[A-Za-z0-9./+=$,:{}\"-]{0,120}",
    ) {
        let s = format!("{prefix}{tail}");
        let _ = PasswordHash::parse(&s);
        // Under the fuzzer's tight limits, whatever parses is bounded cheaply enough to
        // verify here, thousands of times, without a panic.
        if let Ok(h) = PasswordHash::parse_with(&s, &tight_options()) {
            let _ = h.verify(&Password::from("password"));
            let _ = h.verify(&Password::from(""));
        }
    }
}
