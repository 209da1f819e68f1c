//! New hashes and the upgrade decision: Argon2id under a policy, checked per parameter.

use usher_hash::{HashError, Password, PasswordHash, Policy, Scheme};

fn parse(s: &str) -> PasswordHash {
    PasswordHash::parse(s).unwrap()
}

#[test]
fn new_hashes_follow_the_owasp_default_and_verify() {
    let pw = Password::from("pässwörd 🔑");
    let stored = usher_hash::hash(&pw, &Policy::default()).unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    let parsed = parse(&stored);
    assert_eq!(parsed.scheme(), Scheme::Argon2id);
    assert!(parsed.verify(&pw).unwrap());
    assert!(!parsed.verify(&Password::from("pässwörd 🔐")).unwrap());
    assert!(!parsed.needs_upgrade(&Policy::default()));
}

#[test]
fn two_hashes_of_one_password_use_different_salts() {
    let pw = Password::from("same");
    let a = usher_hash::hash(&pw, &Policy::default()).unwrap();
    let b = usher_hash::hash(&pw, &Policy::default()).unwrap();
    assert_ne!(a, b);
}

#[test]
fn every_other_scheme_needs_an_upgrade() {
    // libxcrypt crypt("password", "$1$5pZSV9va$")
    assert!(parse("$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0").needs_upgrade(&Policy::default()));
    // Laravel's published bcrypt of "password".
    assert!(
        parse("$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi")
            .needs_upgrade(&Policy::default())
    );
}

#[test]
fn argon2_below_the_policy_in_any_parameter_needs_an_upgrade() {
    let pw = Password::from("pw");
    let weak = |policy: Policy| parse(&usher_hash::hash(&pw, &policy).unwrap());
    let target = Policy::default();
    let cases = [
        (
            "memory",
            Policy {
                memory_kib: 8192,
                ..Policy::default()
            },
        ),
        (
            "passes",
            Policy {
                iterations: 1,
                ..Policy::default()
            },
        ),
        (
            "output",
            Policy {
                output_len: 16,
                ..Policy::default()
            },
        ),
        ("nothing", Policy::default()),
    ];
    for (what, policy) in cases {
        let below = policy != target;
        assert_eq!(weak(policy).needs_upgrade(&target), below, "{what}");
    }
    // Stronger than the policy in every parameter: keep it.
    let stronger = Policy {
        memory_kib: 32768,
        iterations: 3,
        parallelism: 2,
        salt_len: 32,
        output_len: 64,
    };
    assert!(!weak(stronger).needs_upgrade(&target));
    // A stricter policy turns the default into an upgrade.
    let stricter = Policy {
        memory_kib: 47104,
        ..Policy::default()
    };
    assert!(parse(&usher_hash::hash(&pw, &Policy::default()).unwrap()).needs_upgrade(&stricter));
}

#[test]
fn argon2i_and_version_1_0_need_an_upgrade() {
    // argon2-cffi 25.1: argon2.low_level.hash_secret(b"password", b"somesaltsomesalt", 2, 19456, 1, 32, Type.I)
    let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8pDKuQWnVyn1WubqZygCiwFvgGZldOecJANYh9ZnKbA";
    let parsed = parse(argon2i);
    assert_eq!(parsed.scheme(), Scheme::Argon2i);
    assert!(parsed.verify(&Password::from("password")).unwrap());
    assert!(parsed.needs_upgrade(&Policy::default()));
    let v10 = argon2i.replace("v=19$", "");
    assert!(parse(&v10).needs_upgrade(&Policy::default()));
}

#[test]
fn invalid_policies_are_refused() {
    let pw = Password::from("pw");
    let breaks: [fn(&mut Policy); 5] = [
        |p| p.memory_kib = 4,
        |p| p.iterations = 0,
        |p| p.parallelism = 0,
        |p| p.salt_len = 4,
        |p| p.output_len = 8,
    ];
    for break_it in breaks {
        let mut bad = Policy::default();
        break_it(&mut bad);
        assert!(
            matches!(
                usher_hash::hash(&pw, &bad),
                Err(HashError::InvalidPolicy(_))
            ),
            "{bad:?}"
        );
    }
}

/// Argon2id as strong as the policy, but stored in another system's wrapping (Django's
/// `argon2$`, LDAP's `{ARGON2}`, Magento's `<hex>:<salt>:2`, whose vector argon2-cffi made):
/// rewritten at the next login, so the store ends with the one bare PHC form.
#[test]
fn a_strong_argon2id_in_another_wrapping_is_rewritten() {
    let pw = Password::from("password");
    let bare = usher_hash::hash(&pw, &Policy::default()).unwrap();
    assert!(!parse(&bare).needs_upgrade(&Policy::default()));
    for wrapped in [format!("argon2{bare}"), format!("{{ARGON2}}{bare}")] {
        let parsed = parse(&wrapped);
        assert!(parsed.verify(&pw).unwrap(), "{wrapped}");
        assert!(parsed.needs_upgrade(&Policy::default()), "{wrapped}");
    }
    // The corpus's argon2id-magento2-v2-ascii (libsodium's interactive limits: 64 MiB, t=2).
    let magento = parse(
        "89dfe23957293e2e5f684aa8e27e4537cbd6a3fbb6389e526ca0ac7ba030f1e3:G8rsbT41rletMgwLgjQzcctkiQcRSsyS:2",
    );
    assert_eq!(magento.scheme(), Scheme::Argon2id);
    assert!(magento.verify(&pw).unwrap());
    assert!(magento.needs_upgrade(&Policy::default()));
}
