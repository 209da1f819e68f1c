//! The corpus in `tests/vectors/vectors.json`, made by passlib, Django, Werkzeug, libxcrypt,
//! argon2-cffi, python-bcrypt and hashlib (see `generate.py`), plus published vectors. None
//! of it comes from usher. Each vector must be identified as its scheme, accept its password
//! (and anything the original implementation also accepts), and reject the wrong ones.

use std::collections::BTreeMap;

use serde::Deserialize;
use usher_hash::{ParseOptions, Password, PasswordHash, Scheme};
use zeroize::Zeroizing;

#[derive(Deserialize)]
struct Corpus {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    scheme: String,
    hash: String,
    password: Option<String>,
    password_hex: Option<String>,
    #[serde(default)]
    wrong: Vec<String>,
    #[serde(default)]
    also_accepts: Vec<String>,
    force: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    source: String,
}

fn corpus() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/vectors.json");
    let text = std::fs::read_to_string(path).expect("vectors.json is readable");
    serde_json::from_str::<Corpus>(&text)
        .expect("vectors.json parses")
        .vectors
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn options(v: &Vector) -> ParseOptions {
    let mut o = ParseOptions::default();
    if let Some(forced) = &v.force {
        o.scheme = Some(forced.parse().expect("forced scheme id is valid"));
    }
    if let Some(key) = v.options.get("firebase_signer_key") {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("signer key is base64");
        o.firebase_signer_key = Some(Zeroizing::new(key));
    }
    if let Some(pepper) = v.options.get("pepper") {
        o.pepper = Some(Zeroizing::new(pepper.as_bytes().to_vec()));
    }
    o
}

/// Checks one vector, returning what went wrong.
fn check(v: &Vector) -> Vec<String> {
    let mut problems = Vec::new();
    let parsed = match PasswordHash::parse_with(&v.hash, &options(v)) {
        Ok(p) => p,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    if parsed.scheme().id() != v.scheme {
        problems.push(format!(
            "identified as {}, expected {}",
            parsed.scheme(),
            v.scheme
        ));
    }
    let right = match (&v.password, &v.password_hex) {
        (Some(pw), None) => Password::from(pw.as_str()),
        (None, Some(hex)) => Password::new(unhex(hex)),
        _ => return vec!["vector needs exactly one of password / password_hex".into()],
    };
    let mut expect = |pw: &Password, want: bool, label: &str| match parsed.verify(pw) {
        Ok(got) if got == want => {}
        Ok(got) => problems.push(format!("{label}: verify returned {got}")),
        Err(e) => problems.push(format!("{label}: verify failed: {e}")),
    };
    expect(&right, true, "the right password");
    for (i, also) in v.also_accepts.iter().enumerate() {
        expect(
            &Password::from(also.as_str()),
            true,
            &format!("also_accepts[{i}]"),
        );
    }
    for (i, wrong) in v.wrong.iter().enumerate() {
        expect(
            &Password::from(wrong.as_str()),
            false,
            &format!("wrong[{i}]"),
        );
    }
    if v.wrong.is_empty() {
        problems.push("vector has no wrong password".into());
    }
    problems
}

#[test]
fn every_independent_vector_verifies_and_rejects_wrong_passwords() {
    let corpus = corpus();
    let failures: Vec<String> = corpus
        .iter()
        .flat_map(|v| {
            check(v)
                .into_iter()
                .map(move |p| format!("{} ({}): {p}", v.id, v.source))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} problems in {} vectors:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_covers_every_scheme() {
    let corpus = corpus();
    let missing: Vec<&str> = Scheme::ALL
        .iter()
        .map(|s| s.id())
        .filter(|id| !corpus.iter().any(|v| v.scheme == *id))
        .collect();
    assert!(
        missing.is_empty(),
        "schemes without an independent vector: {missing:?}"
    );
}

/// Whether `id` matches `pattern`, where each `*` stands for any run of characters.
fn glob(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return id == pattern;
    }
    if !id.starts_with(first) || !id[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The `code` spans of a Markdown table cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// docs/hash-formats.md lists each family with its scheme ids and the vectors that exercise
/// it: every pattern there must match vectors of those schemes, the rows are numbered in
/// order, and the header states the corpus's size.
#[test]
fn the_documented_families_have_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/hash-formats.md");
    let doc = std::fs::read_to_string(path).expect("docs/hash-formats.md is readable");
    let corpus = corpus();
    let stated = doc
        .split_once("vectors.json`: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .expect("the header states the vector count");
    assert_eq!(
        stated,
        corpus.len().to_string(),
        "the header's vector count"
    );
    let mut rows = 0;
    for line in doc.lines() {
        let Some(row) = line.strip_prefix("| ") else {
            continue;
        };
        let Some((number, _)) = row.split_once(' ') else {
            continue;
        };
        let Ok(number) = number.parse::<usize>() else {
            continue;
        };
        rows += 1;
        assert_eq!(number, rows, "families are numbered in order: {line}");
        // The last two cells: escaped `\|` only occur in the encoding column before them.
        let cells: Vec<&str> = line
            .trim_end()
            .trim_end_matches('|')
            .rsplitn(3, '|')
            .collect();
        let (vectors, schemes) = (cells[0], cells[1]);
        let schemes = code_spans(schemes);
        assert!(!schemes.is_empty(), "no scheme id: {line}");
        for pattern in code_spans(vectors) {
            let matched: Vec<&Vector> = corpus.iter().filter(|v| glob(pattern, &v.id)).collect();
            assert!(
                !matched.is_empty(),
                "family {number}: no vector matches `{pattern}`"
            );
            for v in matched {
                assert!(
                    schemes.contains(&v.scheme.as_str()),
                    "family {number}: `{}` is {}, not one of {schemes:?}",
                    v.id,
                    v.scheme
                );
            }
        }
    }
    assert!(rows >= 80, "only {rows} families documented");
}

#[test]
fn identify_without_forcing_agrees_for_unambiguous_vectors() {
    for v in corpus()
        .iter()
        .filter(|v| v.force.is_none() && v.options.is_empty())
    {
        match usher_hash::identify(&v.hash) {
            Ok(s) => assert_eq!(s.id(), v.scheme, "{}", v.id),
            Err(e) => panic!("{}: {e}", v.id),
        }
    }
}

/// Every vector exported through `export`: the schemes in `must` go out, those in
/// `must_not` are refused with their scheme named. What goes out is written, with the
/// vector's passwords, to `target/roundtrip-samples/<target>.json`, where
/// `scripts/check-roundtrip` verifies each with Python's own hashlib, hmac, bcrypt and
/// argon2-cffi as the target documents its form; and, where the vendor publishes a schema,
/// wrapped by `wrap` as the target's import record, to
/// `target/contract-samples/<target>-password-hash.json` for `scripts/check-contracts` to check
/// against that schema (`contract`).
fn export_all(
    target: &str,
    export: impl Fn(&PasswordHash) -> Result<serde_json::Value, usher_hash::NotExportable>,
    must: &[&str],
    must_not: &[&str],
    contract: Option<(&str, &dyn Fn(serde_json::Value) -> serde_json::Value)>,
) {
    let mut exported: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut samples = Vec::new();
    for v in corpus() {
        let parsed = PasswordHash::parse_with(&v.hash, &options(&v)).unwrap();
        match export(&parsed) {
            Ok(object) => {
                *exported.entry(v.scheme.clone()).or_default() += 1;
                samples.push(serde_json::json!({
                    "id": v.id,
                    "hash": object,
                    "password": v.password,
                    "password_hex": v.password_hex,
                    "wrong": v.wrong,
                }));
            }
            Err(e) => {
                assert_eq!(e.scheme.id(), v.scheme, "{}", v.id);
                assert_eq!(e.target, target);
                assert!(e.to_string().contains(&v.scheme), "{e}");
                *refused.entry(v.scheme.clone()).or_default() += 1;
            }
        }
    }
    for scheme in must {
        assert!(
            exported.contains_key(*scheme),
            "{scheme} not exported to {target}: refused {refused:?}"
        );
    }
    for scheme in must_not {
        assert!(
            !exported.contains_key(*scheme),
            "{scheme} has no {target} form, yet went out"
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let roundtrip = dir.join("roundtrip-samples");
    std::fs::create_dir_all(&roundtrip).unwrap();
    std::fs::write(
        roundtrip.join(format!("{target}.json")),
        serde_json::to_string_pretty(&samples).unwrap(),
    )
    .unwrap();
    let Some((contract, wrap)) = contract else {
        return;
    };
    let records: Vec<serde_json::Value> = samples.iter().map(|s| wrap(s["hash"].clone())).collect();
    let contracts = dir.join("contract-samples");
    std::fs::create_dir_all(&contracts).unwrap();
    std::fs::write(
        contracts.join(format!("{target}-password-hash.json")),
        serde_json::to_string_pretty(&serde_json::json!({
            "contract": contract,
            "instances": records,
        }))
        .unwrap(),
    )
    .unwrap();
}

/// The crypt(3) families, phpass, Firebase scrypt, MySQL and plaintext: no target's import
/// takes them.
const NOWHERE: [&str; 8] = [
    "md5-crypt",
    "sha256-crypt",
    "sha512-crypt",
    "yescrypt",
    "phpass",
    "firebase-scrypt",
    "mysql41",
    "plaintext",
];

/// [`NOWHERE`] but `except` (which the target takes), and `more`: what a target must refuse.
fn nowhere_but(except: &[&str], more: &[&'static str]) -> Vec<&'static str> {
    NOWHERE
        .iter()
        .copied()
        .filter(|s| !except.contains(s))
        .chain(more.iter().copied())
        .collect()
}

#[test]
fn auth0_takes_the_families_it_documents_and_names_the_rest() {
    let must_not = nowhere_but(&[], &["sha384", "wordpress-bcrypt"]);
    export_all(
        "auth0",
        PasswordHash::to_auth0,
        &[
            "bcrypt",
            "argon2id",
            "argon2i",
            "argon2d",
            "pbkdf2-sha1",
            "pbkdf2-sha256",
            "pbkdf2-sha512",
            "scrypt",
            "md4",
            "md5",
            "sha1",
            "sha256",
            "sha512",
            "nthash",
            "salted-md5",
            "salted-sha1",
            "salted-sha256",
            "salted-sha512",
            // The corpus's HMAC-MD5 vectors are all Kratos's (the HMAC's hex text, hashed again).
            "hmac-sha1",
            "hmac-sha256",
            "hmac-sha512",
        ],
        &must_not,
        Some((
            "auth0/bulk-user-import-schema.user.schema.json#",
            &|hash| serde_json::json!({ "email": "user@example.com", "custom_password_hash": hash }),
        )),
    );
}

#[test]
fn okta_takes_the_families_it_documents_and_names_the_rest() {
    let must_not = nowhere_but(
        &[],
        &[
            "argon2id",
            "scrypt",
            "pbkdf2-sha1",
            "md4",
            "nthash",
            "sha384",
            "hmac-sha256",
        ],
    );
    export_all(
        "okta",
        PasswordHash::to_okta,
        &[
            "bcrypt",
            "pbkdf2-sha256",
            "pbkdf2-sha512",
            "md5",
            "sha1",
            "sha256",
            "sha512",
            "salted-md5",
            "salted-sha1",
            "salted-sha256",
            "salted-sha512",
        ],
        &must_not,
        Some((
            "okta/management-minimal.excerpt.yaml#/components/schemas/CreateUserRequest",
            &|hash| {
                serde_json::json!({
                    "profile": { "login": "user@example.com", "email": "user@example.com",
                                 "firstName": "Ann", "lastName": "Lee" },
                    "credentials": { "password": { "hash": hash } },
                })
            },
        )),
    );
}

#[test]
fn kratos_takes_the_families_it_documents_and_names_the_rest() {
    let must_not = nowhere_but(
        &["firebase-scrypt"],
        &["argon2d", "pbkdf2-sha384", "md4", "nthash", "sha384"],
    );
    export_all(
        "kratos",
        |hash| hash.to_kratos().map(serde_json::Value::String),
        &[
            "bcrypt",
            "argon2id",
            "argon2i",
            "pbkdf2-sha1",
            "pbkdf2-sha256",
            "pbkdf2-sha512",
            "scrypt",
            "firebase-scrypt",
            "md5",
            "sha1",
            "sha256",
            "sha512",
            "salted-md5",
            "salted-sha1",
            "salted-sha256",
            "salted-sha512",
            "hmac-md5",
            "hmac-sha1",
            "hmac-sha256",
            "hmac-sha512",
        ],
        &must_not,
        Some((
            "kratos/api.json#/components/schemas/createIdentityBody",
            &|hash| {
                serde_json::json!({
                    "schema_id": "preset://email",
                    "traits": { "email": "user@example.com" },
                    "credentials": { "password": { "config": { "hashed_password": hash } } },
                })
            },
        )),
    );
}

#[test]
fn fusionauth_takes_its_built_in_schemes_and_names_the_rest() {
    let must_not = nowhere_but(
        &[],
        &[
            "argon2id",
            "scrypt",
            "sha1",
            "salted-sha1",
            "pbkdf2-sha1",
            "hmac-sha1",
        ],
    );
    export_all(
        "fusionauth",
        PasswordHash::to_fusionauth,
        &[
            "bcrypt",
            "md5",
            "sha256",
            "salted-md5",
            "salted-sha256",
            "pbkdf2-sha256",
            "pbkdf2-sha512",
        ],
        &must_not,
        Some((
            "fusionauth/openapi.yaml#/components/schemas/ImportRequest",
            &|fields| {
                let mut user = fields;
                user["email"] = serde_json::json!("user@example.com");
                serde_json::json!({ "users": [user], "validateDbConstraints": true })
            },
        )),
    );
}

#[test]
fn supabase_takes_bcrypt_argon2_and_firebase_scrypt_and_names_the_rest() {
    let must_not = nowhere_but(
        &["firebase-scrypt"],
        &["argon2d", "scrypt", "pbkdf2-sha256", "md5", "salted-sha1"],
    );
    // Supabase publishes no schema for its admin API: the round trip alone checks the form.
    export_all(
        "supabase",
        |hash| hash.to_supabase().map(serde_json::Value::String),
        &["bcrypt", "argon2id", "argon2i", "firebase-scrypt"],
        &must_not,
        None,
    );
}

#[test]
fn clerk_takes_the_digests_it_documents_and_names_the_rest() {
    let must_not = nowhere_but(
        &["firebase-scrypt"],
        &["argon2d", "scrypt", "sha1", "salted-md5", "hmac-sha256"],
    );
    export_all(
        "clerk",
        |hash| {
            hash.to_clerk().map(|(hasher, digest)| {
                serde_json::json!({ "password_hasher": hasher, "password_digest": digest })
            })
        },
        &[
            "bcrypt",
            "argon2id",
            "argon2i",
            "pbkdf2-sha1",
            "pbkdf2-sha256",
            "firebase-scrypt",
            "md5",
            "sha256",
        ],
        &must_not,
        Some((
            "clerk/2026-05-12.yml#/paths/~1users/post/requestBody/content/application~1json/schema",
            &|fields| {
                let mut user = fields;
                user["email_address"] = serde_json::json!(["user@example.com"]);
                user
            },
        )),
    );
}

#[test]
fn supertokens_takes_bcrypt_argon2_and_firebase_scrypt_and_names_the_rest() {
    let must_not = nowhere_but(
        &["firebase-scrypt"],
        &[
            "scrypt",
            "pbkdf2-sha256",
            "md5",
            "salted-sha1",
            "wordpress-bcrypt",
        ],
    );
    export_all(
        "supertokens",
        |hash| {
            hash.to_supertokens().map(|(algorithm, string)| {
                let mut out =
                    serde_json::json!({ "hashingAlgorithm": algorithm, "passwordHash": string });
                // The signer key is the core's configuration, not the hash's: the round trip
                // takes it from Kratos's form of the same hash, which carries it last.
                if algorithm == "firebase_scrypt" {
                    let kratos = hash.to_kratos().unwrap();
                    out["signerKey"] = serde_json::json!(kratos.rsplit('$').next().unwrap());
                }
                out
            })
        },
        &[
            "bcrypt",
            "argon2id",
            "argon2i",
            "argon2d",
            "firebase-scrypt",
        ],
        &must_not,
        Some((
            "supertokens/api_spec.yaml#/components/schemas/bulkImportUserEmailPasswordLoginMethod",
            &|fields| {
                let mut method = fields;
                if let Some(object) = method.as_object_mut() {
                    object.remove("signerKey");
                }
                method["recipeId"] = serde_json::json!("emailpassword");
                method["email"] = serde_json::json!("user@example.com");
                method
            },
        )),
    );
}

#[test]
fn keycloak_takes_pbkdf2_and_argon2_and_names_the_rest() {
    let must_not = nowhere_but(
        &[],
        &["bcrypt", "scrypt", "md5", "salted-sha1", "pbkdf2-sha384"],
    );
    // Keycloak publishes no schema for its credential, only its Java classes: the round trip
    // checks the form, and the export test checks the user around it.
    export_all(
        "keycloak",
        PasswordHash::to_keycloak,
        &[
            "pbkdf2-sha1",
            "pbkdf2-sha256",
            "pbkdf2-sha512",
            "argon2id",
            "argon2i",
            "argon2d",
        ],
        &must_not,
        None,
    );
}

#[test]
fn firebase_takes_bcrypt_and_both_scrypts_and_names_the_rest() {
    let must_not = nowhere_but(
        &["firebase-scrypt"],
        &[
            "argon2id",
            "pbkdf2-sha256",
            "md5",
            "salted-sha1",
            "hmac-sha256",
        ],
    );
    export_all(
        "firebase",
        |hash| {
            hash.to_firebase()
                .map(|(options, user)| serde_json::json!({ "options": options, "user": user }))
        },
        &["bcrypt", "firebase-scrypt", "scrypt"],
        &must_not,
        None,
    );
}

#[test]
fn zitadel_takes_the_crypt_strings_passwap_reads_and_names_the_rest() {
    let must_not: Vec<&str> = [
        "yescrypt",
        "firebase-scrypt",
        "mysql41",
        "plaintext",
        "argon2d",
        "apr-md5-crypt",
        "salted-md5",
        "sha1",
        "hmac-sha256",
        "wordpress-bcrypt",
    ]
    .into();
    export_all(
        "zitadel",
        |hash| hash.to_zitadel().map(serde_json::Value::String),
        &[
            "bcrypt",
            "argon2id",
            "argon2i",
            "md5-crypt",
            "sha256-crypt",
            "sha512-crypt",
            "scrypt",
            "pbkdf2-sha1",
            "pbkdf2-sha256",
            "pbkdf2-sha512",
            "phpass",
            "drupal-sha512",
            "md5",
        ],
        &must_not,
        None,
    );
}
