//! The export-file sources (`usher_connect::file`) over fixtures in each provider's documented
//! shape (tests/fixtures/<provider>/): keyset reads in key order, counts, bounds, lookups
//! ignoring case, bad lines as invalid records the mapper quarantines, and the synthesized
//! credentials verified through usher-hash with passwords known from outside usher.

use std::fmt::Display;
use std::path::PathBuf;

use chrono::Utc;
use serde_json::Value;
use usher_connect::SourceConfig;
use usher_core::{
    INVALID_FIELD, KeyRange, LegacyKey, LegacyRecord, Mapper, MappingConfig, Source, SourceError,
    Status,
};
use usher_hash::{Password, PasswordHash};

use crate::common::assert_reason;

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

async fn source(toml_text: &str) -> Box<dyn Source> {
    let config: SourceConfig = toml::from_str(toml_text).expect("config parses");
    assert_eq!(config.validate(), [], "config validates");
    config.build("files").await.expect("source builds")
}

/// The config of a `kind` source reading the file at `path`, with the options `rest`.
fn file_config(kind: &str, path: impl Display, rest: &str) -> String {
    format!("type = '{kind}'\npath = '{path}'\n{rest}")
}

/// The Auth0 fixtures: the user export joined with the password-hash export.
fn auth0_config() -> String {
    let hashes = fixture("auth0/password-hashes.ndjson");
    file_config(
        "auth0",
        fixture("auth0/users.ndjson"),
        &format!("hashes_path = '{hashes}'"),
    )
}

/// The Keycloak fixtures: the realm file and a users file.
fn keycloak_config() -> String {
    format!(
        "type = 'keycloak'\npath = ['{}', '{}']",
        fixture("keycloak/acme-realm.json"),
        fixture("keycloak/acme-users-0.json")
    )
}

/// The Firebase fixture with the hash parameters of Firebase's published example, the signer
/// key in `signer_key_file`.
fn firebase_config(signer_key_file: impl Display) -> String {
    let hash = format!(
        "hash = {{ signer_key_file = '{signer_key_file}', salt_separator = 'Bw==', rounds = 8, mem_cost = 14 }}"
    );
    file_config("firebase", fixture("firebase/users.json"), &hash)
}

fn text(s: &str) -> LegacyKey {
    LegacyKey::Text(s.to_owned())
}

/// Every record, read in chunks of `chunk` by keyset.
async fn read_all(s: &dyn Source, chunk: usize) -> Vec<LegacyRecord> {
    let mut range = KeyRange::default();
    let mut out = Vec::new();
    loop {
        let got = s.read(&range, chunk).await.unwrap();
        assert!(got.len() <= chunk);
        let Some(last) = got.last() else { break };
        range.after = Some(last.key.clone());
        out.extend(got);
    }
    out
}

fn keys(records: &[LegacyRecord]) -> Vec<LegacyKey> {
    records.iter().map(|r| r.key.clone()).collect()
}

/// Key order, chunked reads, keyset resume, `until`, count and bounds, against `expected`.
async fn check_order(s: &dyn Source, expected: &[LegacyKey]) -> Vec<LegacyRecord> {
    let all = read_all(s, 2).await;
    assert_eq!(keys(&all), expected);
    assert_eq!(keys(&read_all(s, 1000).await), expected);
    assert_eq!(s.count().await.unwrap(), Some(expected.len() as u64));
    // Resume after the third key, three at a time.
    let resumed = s
        .read(
            &KeyRange {
                after: Some(expected[2].clone()),
                until: None,
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(keys(&resumed), expected[3..expected.len().min(6)]);
    // `after < key <= until`.
    let window = s
        .read(
            &KeyRange {
                after: Some(expected[0].clone()),
                until: Some(expected[2].clone()),
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(keys(&window), expected[1..=2]);
    // Past the end: nothing.
    let end = s
        .read(
            &KeyRange {
                after: expected.last().cloned(),
                until: None,
            },
            10,
        )
        .await
        .unwrap();
    assert!(end.is_empty());
    all
}

fn find<'a>(records: &'a [LegacyRecord], key: &LegacyKey) -> &'a LegacyRecord {
    records
        .iter()
        .find(|r| &r.key == key)
        .unwrap_or_else(|| panic!("no record {key}"))
}

/// The `(field, reason)` of an invalid record.
fn invalid(r: &LegacyRecord) -> (String, String) {
    assert_eq!(
        r.fields.len(),
        1,
        "an invalid record holds one field: {r:?}"
    );
    let v = &r.fields[INVALID_FIELD];
    (
        v["field"].as_str().unwrap().to_owned(),
        v["reason"].as_str().unwrap().to_owned(),
    )
}

fn mapper(toml_text: &str) -> Mapper {
    let config: MappingConfig = toml::from_str(toml_text).expect("mapping parses");
    Mapper::new(&config).expect("mapping compiles")
}

/// The mapper quarantines an invalid record with the field and reason the source gave.
fn assert_quarantined(m: &Mapper, r: &LegacyRecord, field: &str, reason_has: &str) {
    let errors = m
        .map("files", r, Utc::now())
        .expect_err("an invalid record must not map")
        .0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, r.key.to_string());
    assert_eq!(errors[0].field, field);
    assert!(
        errors[0].reason.contains(reason_has),
        "{:?} lacks {reason_has:?}",
        errors[0].reason
    );
}

fn verifies(user: &usher_core::User, password: &str) -> bool {
    let c = user.credential.as_ref().expect("a credential");
    let parsed = PasswordHash::parse(&c.hash).expect("the credential parses");
    assert_eq!(parsed.scheme(), c.scheme);
    parsed.verify(&Password::from(password)).unwrap()
}

// ---------------------------------------------------------------------------------- Auth0

/// Users: the NDJSON a users-exports job writes with `"format": "json"`
/// (https://auth0.com/docs/manage-users/user-migration/bulk-user-exports). Hashes: the
/// password-hash export from Auth0 support, NDJSON with `_id.$oid`, `alt_id`, `passwordHash`,
/// `password_set_date.$date` (https://community.auth0.com/t/how-to-use-the-password-hashes-export-from-auth0/58730,
/// whose sample line and bcrypt hash the first fixture line copies).
#[tokio::test]
async fn auth0_export_joins_the_hash_export_by_id_alt_id_and_email() {
    let s = source(&auth0_config()).await;
    let nico = text("auth0|5dea9f9c82dd7c0e76e4ec93");
    let expected = [
        nico.clone(),
        text("auth0|5dea9f9c82dd7c0e76e4ec93#line-7"),
        text("auth0|60f1a2b3c4d5e6f708192a3b"),
        text("auth0|7777777777777777777777aa"),
        text("auth0|euclid"),
        text("google-oauth2|110169484474386276334"),
        text("hashes-line-4"),
        text("hashes-line-5"),
        text("line-5"),
        text("line-6"),
    ];
    let all = check_order(s.as_ref(), &expected).await;
    assert_eq!(
        s.key_bounds().await.unwrap(),
        Some((nico.clone(), text("line-6")))
    );

    // Joined by `_id.$oid`, by `alt_id`, by email; a social user has no hash.
    let r = find(&all, &nico);
    assert_eq!(
        r.fields["usher_password_hash"],
        "$2b$10$.qHPp/srqo1NAAAAAvlkmOdqAbH2Rg0qPv2Txj3ZwXfjJnewSjc4m"
    );
    assert_eq!(
        r.fields["usher_password_set_date"],
        "2019-12-06T18:36:12.412Z"
    );
    assert_eq!(r.fields["name"], "Nico");
    assert!(
        find(&all, &text("auth0|euclid")).fields["usher_password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$2b$10$C6Uz")
    );
    assert!(
        find(&all, &text("auth0|60f1a2b3c4d5e6f708192a3b")).fields["usher_password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$2b$10$N9qo")
    );
    assert!(
        !find(&all, &text("google-oauth2|110169484474386276334"))
            .fields
            .contains_key("usher_password_hash")
    );
    // Euclid's hash line is claimed by his id: another user with his email does not get it.
    assert!(
        !find(&all, &text("auth0|7777777777777777777777aa"))
            .fields
            .contains_key("usher_password_hash")
    );

    // Bad lines of both files are records, not silence.
    assert_eq!(invalid(find(&all, &text("line-5"))).0, "record", "not JSON");
    assert!(
        invalid(find(&all, &text("line-5")))
            .1
            .starts_with("line 5: not JSON")
    );
    assert_eq!(invalid(find(&all, &text("line-6"))).0, "user_id");
    let (field, reason) = invalid(find(&all, &expected[1]));
    assert_eq!(field, "key");
    assert!(
        reason.contains("line 7") && reason.contains("line 1"),
        "{reason}"
    );
    let (field, reason) = invalid(find(&all, &text("hashes-line-4")));
    assert_eq!(field, "_id");
    assert!(reason.contains("no database user"), "{reason}");
    let (field, reason) = invalid(find(&all, &text("hashes-line-5")));
    assert_eq!(field, "passwordHash");
    assert!(reason.starts_with("hashes line 5"), "{reason}");

    // Lookups ignore case; the duplicate line is no longer an `email` match.
    let found = s.lookup("email", "NICO@example.COM", 2).await.unwrap();
    assert_eq!(keys(&found), std::slice::from_ref(&nico));
    assert!(
        s.lookup("email", "second@example.com", 2)
            .await
            .unwrap()
            .is_empty()
    );
    // Two users with one email (ignoring case): both, in key order, up to the limit.
    assert_eq!(
        keys(&s.lookup("email", "Euclid@Example.com", 5).await.unwrap()),
        [text("auth0|7777777777777777777777aa"), text("auth0|euclid")]
    );
    assert_eq!(
        keys(&s.lookup("email", "euclid@example.com", 1).await.unwrap()),
        [text("auth0|7777777777777777777777aa")]
    );
    assert_eq!(
        keys(&s.lookup("email", "bymail@EXAMPLE.com", 2).await.unwrap()),
        [expected[2].clone()]
    );

    let m = mapper("[fields]\nemail = \"email\"\n[password]\nhash = \"usher_password_hash\"");
    let user = m.map("files", find(&all, &nico), Utc::now()).unwrap();
    assert_eq!(user.email.unwrap().normalized(), "nico@example.com");
    assert_eq!(
        user.credential.unwrap().hash,
        "$2b$10$.qHPp/srqo1NAAAAAvlkmOdqAbH2Rg0qPv2Txj3ZwXfjJnewSjc4m"
    );
    assert_quarantined(
        &m,
        find(&all, &text("line-5")),
        "record",
        "line 5: not JSON",
    );
    assert_quarantined(
        &m,
        find(&all, &text("hashes-line-5")),
        "passwordHash",
        "hashes line 5",
    );
}

/// Only database-connection users (`auth0|...`) have passwords; a social identity whose id
/// after its provider prefix is a hash line's `alt_id` (Auth0 documents user ids as
/// `<provider>|<id>`, https://auth0.com/docs/manage-users/user-accounts/identify-users), or
/// whose email is a hash line's, must never receive that hash.
#[tokio::test]
async fn auth0_social_users_never_get_a_hash_even_sharing_an_id_or_email() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.ndjson");
    let hashes = dir.path().join("hashes.ndjson");
    std::fs::write(
        &users,
        concat!(
            r#"{"user_id":"github|12345","email":"gh@example.com","name":"Social"}"#,
            "\n",
            r#"{"user_id":"samlp|corp|ann","email":"ann@example.com","name":"Enterprise"}"#,
            "\n",
            r#"{"user_id":"auth0|67890","email":"db@example.com","name":"Database"}"#,
            "\n",
        ),
    )
    .unwrap();
    // Lines in the shape of the first fixture (the Auth0 community post cited above).
    std::fs::write(
        &hashes,
        concat!(
            r#"{"_id":{"$oid":"5dea9f9c82dd7c0e76e4ec93"},"email":"other@example.com","passwordHash":"$2b$10$.qHPp/srqo1NAAAAAvlkmOdqAbH2Rg0qPv2Txj3ZwXfjJnewSjc4m","connection":"Username-Password-Authentication","alt_id":"12345"}"#,
            "\n",
            r#"{"_id":{"$oid":"5e0b2c1d9a8b7c6d5e4f3a2b"},"email":"ann@example.com","passwordHash":"$2b$10$C6UzMDM.H6dfI/f/IKxGhuTY/3XSdDsgyrCc4rLyKBmG8sMdV3xhm","connection":"Username-Password-Authentication"}"#,
            "\n",
            r#"{"_id":{"$oid":"60f1a2b3c4d5e6f7081900ff"},"email":"nobody@example.com","passwordHash":"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy","connection":"Username-Password-Authentication","alt_id":"67890"}"#,
            "\n",
        ),
    )
    .unwrap();
    let s = source(&format!(
        "type = 'auth0'\npath = '{}'\nhashes_path = '{}'",
        users.display(),
        hashes.display()
    ))
    .await;
    let all = read_all(s.as_ref(), 100).await;
    let social = find(&all, &text("github|12345"));
    assert_eq!(social.fields["name"], "Social");
    assert!(
        !social.fields.contains_key("usher_password_hash"),
        "{social:?}"
    );
    let enterprise = find(&all, &text("samlp|corp|ann"));
    assert!(
        !enterprise.fields.contains_key("usher_password_hash"),
        "{enterprise:?}"
    );
    let db = find(&all, &text("auth0|67890"));
    assert_eq!(
        db.fields["usher_password_hash"],
        "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
    );
    // The two hash lines no database user claims are listed, not dropped.
    for n in [1, 2] {
        let (field, reason) = invalid(find(&all, &text(&format!("hashes-line-{n}"))));
        assert_eq!(field, "_id");
        assert!(
            reason.contains("no database user (`auth0|…`) in the user export")
                && reason.contains("social and enterprise users are never joined"),
            "{reason}"
        );
    }
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn auth0_without_a_hash_export_reads_users_alone() {
    let s = source(&file_config("auth0", fixture("auth0/users.ndjson"), "")).await;
    let all = read_all(s.as_ref(), 3).await;
    assert_eq!(all.len(), 8);
    assert!(
        all.iter()
            .all(|r| !r.fields.contains_key("usher_password_hash"))
    );
}

// ---------------------------------------------------------------------------------- Firebase

const FIREBASE_SIGNER_KEY: &str =
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";

/// The shape of `firebase auth:export users.json --format=json`
/// (https://firebase.google.com/docs/cli/auth#file_format); the first user's passwordHash,
/// salt, and the signer key, separator "Bw==", rounds 8 and mem_cost 14 are the published
/// example of https://github.com/firebase/scrypt (README), password "user1password".
#[tokio::test]
async fn firebase_export_synthesizes_a_firebase_scrypt_hash_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signer-key");
    std::fs::write(&key_file, format!("{FIREBASE_SIGNER_KEY}\n")).unwrap();
    let config = firebase_config(key_file.display());
    let s = source(&config).await;
    let user1 = text("Vz4Ow2aTmZXv0vhwAbcJ1lXQ9EF2");
    let expected = [
        text("AgoogleOnly00000000000000002"),
        text("BbadHash000000000000000000003"),
        user1.clone(),
        text("Vz4Ow2aTmZXv0vhwAbcJ1lXQ9EF2#users-4"),
        text("users-3"),
    ];
    let all = check_order(s.as_ref(), &expected[..]).await;
    assert_eq!(
        s.key_bounds().await.unwrap(),
        Some((expected[0].clone(), text("users-3")))
    );

    let r = find(&all, &user1);
    let hash = r.fields["usher_password_hash"].as_str().unwrap();
    // The project's public parameters inline; the signer key (its pepper) is not in the
    // record, nor anywhere else in it.
    assert!(
        hash.starts_with("$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==$42xEC+ixf3L2lw==$"),
        "{hash}"
    );
    let record = serde_json::to_string(&r.fields).unwrap();
    assert!(!record.contains(&FIREBASE_SIGNER_KEY[..20]), "{record}");
    assert!(
        !find(&all, &expected[0])
            .fields
            .contains_key("usher_password_hash")
    );
    let (field, reason) = invalid(find(&all, &expected[1]));
    assert_eq!(field, "passwordHash");
    assert!(
        reason.contains("users[2]") && reason.contains("not base64"),
        "{reason}"
    );
    assert_eq!(invalid(find(&all, &text("users-3"))).0, "localId");
    assert_eq!(invalid(find(&all, &expected[3])).0, "key");

    let found = s.lookup("email", "user1@EXAMPLE.com", 2).await.unwrap();
    assert_eq!(keys(&found), std::slice::from_ref(&user1));

    // Without the project's key the mapping cannot accept the hash; with it, it verifies.
    let mapping = "[fields]\nemail = \"email\"\nemail_verified = \"emailVerified\"\n\
                   [password]\nhash = \"usher_password_hash\"";
    let keyless = mapper(mapping);
    assert_quarantined(&keyless, r, "password", "signer key");
    let key = toml::from_str::<SourceConfig>(&config)
        .unwrap()
        .firebase_signer_key("files")
        .unwrap()
        .unwrap();
    let context = usher_hash::HashContext::default().with_firebase_signer_key(key.clone());
    let m = mapper(mapping).with_hash_context(context);
    let user = m.map("files", r, Utc::now()).unwrap();
    assert_eq!(
        user.credential.as_ref().unwrap().scheme.id(),
        "firebase-scrypt"
    );
    let options = usher_hash::ParseOptions {
        firebase_signer_key: Some(key),
        ..Default::default()
    };
    let stored = &user.credential.as_ref().unwrap().hash;
    let parsed = PasswordHash::parse_with(stored, &options).unwrap();
    assert!(parsed.verify(&Password::from("user1password")).unwrap());
    assert!(!parsed.verify(&Password::from("user1Password")).unwrap());
    // A user without a password hash becomes password-reset-required by default.
    let google = m
        .map("files", find(&all, &expected[0]), Utc::now())
        .unwrap();
    assert!(google.credential.is_none());
    assert_eq!(google.status, Status::PasswordResetRequired);
    assert_quarantined(&m, find(&all, &expected[1]), "passwordHash", "not base64");
}

#[tokio::test]
async fn firebase_signer_key_problems_never_show_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signer-key");
    std::fs::write(&key_file, "not base64 at all: s3cr3t-value!").unwrap();
    let config: SourceConfig = toml::from_str(&firebase_config(key_file.display())).unwrap();
    let err = config
        .build("fb")
        .await
        .err()
        .expect("a bad key is refused");
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    // A missing key file is unavailable, naming the path.
    let config: SourceConfig = toml::from_str(&firebase_config("/nonexistent/signer-key")).unwrap();
    let err = config
        .build("fb")
        .await
        .err()
        .expect("a missing key file is refused");
    assert_reason!(err, Unavailable, "/nonexistent/signer-key");
}

// ---------------------------------------------------------------------------------- Cognito

/// The header is the one `aws cognito-idp get-csv-header` returns for a pool with the standard
/// attributes (https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-using-import-tool-csv-header.html).
#[tokio::test]
async fn cognito_csv_is_keyed_by_username_and_has_no_hashes() {
    let s = source(&file_config("cognito", fixture("cognito/users.csv"), "")).await;
    let expected = [
        text("alsmith"),
        text("janeroe"),
        text("johndoe"),
        text("johndoe#line-8"),
        text("line-6"),
        text("line-7"),
    ];
    let all = check_order(s.as_ref(), &expected).await;
    let john = find(&all, &text("johndoe"));
    assert_eq!(john.fields["email"], "John.Doe@Example.com");
    assert_eq!(john.fields["cognito:mfa_enabled"], "false");
    assert_eq!(john.fields["middle_name"], Value::Null);
    // A quoted cell may span lines.
    assert_eq!(
        find(&all, &text("alsmith")).fields["address"],
        "1 Main St\nSpringfield"
    );
    let (field, reason) = invalid(find(&all, &text("line-6")));
    assert_eq!(field, "record");
    // Line numbers are the file's: the quoted address above spans two lines.
    assert_eq!(reason, "line 6: 5 cells, the header has 21");
    assert_eq!(invalid(find(&all, &text("line-7"))).0, "cognito:username");
    let (field, reason) = invalid(find(&all, &text("johndoe#line-8")));
    assert_eq!(field, "key");
    assert!(
        reason.contains("line 8") && reason.contains("line 2"),
        "{reason}"
    );

    assert_eq!(
        keys(&s.lookup("email", "john.doe@example.com", 2).await.unwrap()),
        [text("johndoe")]
    );

    let m = mapper("[fields]\nemail = \"email\"\nusername = \"cognito:username\"");
    let user = m.map("files", john, Utc::now()).unwrap();
    assert!(user.credential.is_none());
    assert_eq!(user.status, Status::PasswordResetRequired);
    assert_quarantined(&m, find(&all, &text("line-6")), "record", "5 cells");
}

// ---------------------------------------------------------------------------------- Keycloak

/// `kc.sh export --dir <dir> --realm acme` files: the realm file with users (`--users
/// realm_file`) and a `acme-users-0.json` file (`different_files`), per
/// https://www.keycloak.org/server/importExport; users and credentials in the
/// UserRepresentation / CredentialRepresentation shape (secretData and credentialData as JSON
/// strings). Kate's credential was computed with Python's standard library, independently of
/// usher:
///
/// ```text
/// python3 -c 'import hashlib,base64; s=b"usher-kc-salt-16"; \
///   print(base64.b64encode(s).decode(), base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"kc-Secret-1", s, 27500, 64)).decode())'
/// ```
#[tokio::test]
async fn keycloak_export_synthesizes_a_credential_that_verifies() {
    let s = source(&keycloak_config()).await;
    let kate = text("0b1c5e0a-8f0e-4c55-a3d2-6f2c1a7e9b01");
    let expected = [
        kate.clone(),
        text("0b1c5e0a-8f0e-4c55-a3d2-6f2c1a7e9b01#file-1-users-2"),
        text("1c2d6f1b-9a1f-4d66-b4e3-7a3d2b8f0c02"),
        text("2d3e7a2c-0b2a-4e77-85f4-8b4e3c9a1d03"),
        text("3e4f8b3d-1c3b-4f88-96a5-9c5f4d0b2e04"),
        text("file-1-users-1"),
    ];
    let all = check_order(s.as_ref(), &expected).await;
    assert_eq!(
        s.key_bounds().await.unwrap(),
        Some((kate.clone(), text("file-1-users-1")))
    );
    let r = find(&all, &kate);
    assert_eq!(r.fields["attributes"]["department"][0], "eng");
    let hash: Value =
        serde_json::from_str(r.fields["usher_password_hash"].as_str().unwrap()).unwrap();
    assert_eq!(hash["credentialData"]["algorithm"], "pbkdf2-sha256");
    // The legacy salt and hash live only in the synthesized field: no credential of any record
    // keeps its secretData, while credentialData and the rest stay.
    let creds = r.fields["credentials"].as_array().unwrap();
    assert_eq!(creds[0]["type"], "password");
    assert!(creds[0].get("credentialData").is_some());
    for rec in &all {
        for c in rec
            .fields
            .get("credentials")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(
                c.get("secretData").is_none(),
                "{:?} keeps secretData",
                rec.key
            );
        }
    }
    assert!(
        !find(&all, &expected[2])
            .fields
            .contains_key("usher_password_hash")
    );
    let (field, reason) = invalid(find(&all, &expected[3]));
    assert_eq!(field, "credentials[0].secretData.salt");
    assert!(reason.contains("acme-users-0.json users[0]"), "{reason}");
    assert_eq!(invalid(find(&all, &text("file-1-users-1"))).0, "id");
    let (field, reason) = invalid(find(&all, &expected[1]));
    assert_eq!(field, "key");
    assert!(reason.contains("acme-realm.json users[0]"), "{reason}");

    assert_eq!(
        keys(&s.lookup("email", "KATE@example.com", 5).await.unwrap()),
        std::slice::from_ref(&kate)
    );
    assert_eq!(
        keys(&s.lookup("username", "LENA", 5).await.unwrap()),
        [expected[4].clone()]
    );

    let m = mapper(
        "[fields]\nemail = \"email\"\nusername = \"username\"\ngiven_name = \"firstName\"\n[password]\nhash = \"usher_password_hash\"",
    );
    let user = m.map("files", r, Utc::now()).unwrap();
    assert_eq!(
        user.credential.as_ref().unwrap().scheme.id(),
        "pbkdf2-sha256"
    );
    assert!(verifies(&user, "kc-Secret-1"));
    assert!(!verifies(&user, "kc-secret-1"));
    assert_quarantined(
        &m,
        find(&all, &expected[3]),
        "credentials[0].secretData.salt",
        "not base64",
    );
}

// ---------------------------------------------------------------------------------- generic CSV

/// A CSV file with a header row (RFC 4180, https://www.rfc-editor.org/rfc/rfc4180), `;`-separated.
#[tokio::test]
async fn csv_with_integer_keys_reads_in_numeric_order() {
    let s = source(&file_config(
        "csv",
        fixture("csv/users.csv"),
        "key = 'id'\ndelimiter = ';'",
    ))
    .await;
    let expected = [
        LegacyKey::Int(1),
        LegacyKey::Int(2),
        LegacyKey::Int(10),
        LegacyKey::Int(25),
        text("2#line-6"),
        text("line-5"),
        text("line-7"),
    ];
    let all = check_order(s.as_ref(), &expected).await;
    // Integer bounds: the text-keyed bad rows sort after them, in the open last partition.
    assert_eq!(
        s.key_bounds().await.unwrap(),
        Some((LegacyKey::Int(1), LegacyKey::Int(25)))
    );
    let two = find(&all, &LegacyKey::Int(2));
    assert_eq!(two.fields["email"], "Two@Example.com");
    assert_eq!(two.fields["created"], Value::Null);
    assert_eq!(
        invalid(find(&all, &text("line-5"))).1,
        "line 5: 3 cells, the header has 5"
    );
    assert_eq!(invalid(find(&all, &text("line-7"))).0, "id");
    assert_eq!(
        keys(&s.lookup("email", "two@example.com", 5).await.unwrap()),
        [LegacyKey::Int(2)]
    );
    assert!(
        s.lookup("email", "nobody@example.com", 5)
            .await
            .unwrap()
            .is_empty()
    );

    let m = mapper("[fields]\nemail = \"email\"\ngiven_name = \"first_name\"");
    let user = m.map("files", two, Utc::now()).unwrap();
    assert_eq!(user.profile.given_name.as_deref(), Some("Two"));
    assert_quarantined(&m, find(&all, &text("2#line-6")), "key", "duplicate key");

    // The same file as text keys orders by bytes.
    let s = source(&file_config(
        "csv",
        fixture("csv/users.csv"),
        "key = 'id'\ndelimiter = ';'\nkey_type = 'text'",
    ))
    .await;
    let got = keys(&read_all(s.as_ref(), 2).await);
    assert_eq!(
        &got[..4],
        [text("1"), text("10"), text("2"), text("2#line-6")]
    );
}

// ---------------------------------------------------------------------------------- generic NDJSON

/// JSON Lines (https://jsonlines.org/): one JSON object per line.
#[tokio::test]
async fn jsonl_reads_integer_then_text_keys() {
    let s = source(&file_config(
        "jsonl",
        fixture("jsonl/users.jsonl"),
        "key = 'id'",
    ))
    .await;
    let expected = [
        LegacyKey::Int(17),
        text("line-4"),
        text("line-5"),
        text("line-7"),
        text("u-a"),
        text("u-a#line-6"),
        text("u-b"),
    ];
    let all = check_order(s.as_ref(), &expected).await;
    assert_eq!(
        s.key_bounds().await.unwrap(),
        Some((LegacyKey::Int(17), LegacyKey::Int(17)))
    );
    assert_eq!(find(&all, &text("u-b")).fields["roles"][0], "admin");
    assert!(
        invalid(find(&all, &text("line-4")))
            .1
            .starts_with("line 4: not JSON")
    );
    assert_eq!(
        invalid(find(&all, &text("line-5"))).1,
        "line 5: expected a JSON object, found an array"
    );
    assert_eq!(invalid(find(&all, &text("line-7"))).0, "id");
    assert_eq!(
        keys(&s.lookup("email", "bea@example.com", 5).await.unwrap()),
        [text("u-b")]
    );
    let m = mapper("[fields]\nemail = \"email\"");
    assert_quarantined(&m, find(&all, &text("line-5")), "record", "line 5");
}

/// Auto-detected integer keys only when every key is canonical decimal: "007", "7" and "+7"
/// are three users, never one `Int(7)` (CSV per RFC 4180).
#[tokio::test]
async fn csv_keys_in_non_canonical_decimal_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.csv");
    std::fs::write(
        &path,
        "id,email\n007,a@example.com\n7,b@example.com\n+7,c@example.com\n",
    )
    .unwrap();
    let s = source(&file_config("csv", path.display(), "key = 'id'")).await;
    let all = read_all(s.as_ref(), 10).await;
    assert_eq!(keys(&all), [text("+7"), text("007"), text("7")]);
    assert_eq!(find(&all, &text("007")).fields["email"], "a@example.com");
    for bad in ["-0", "07", "1e3", " 7"] {
        std::fs::write(
            &path,
            format!("id,email\n{bad},a@example.com\n12,b@example.com\n"),
        )
        .unwrap();
        let s = source(&file_config("csv", path.display(), "key = 'id'")).await;
        let got = keys(&read_all(s.as_ref(), 10).await);
        // Text keys, in byte order.
        let mut expected = ["12", bad];
        expected.sort();
        assert_eq!(got, expected.map(text), "{bad:?}");
    }
    // Canonical keys (zero and negatives included) still read as integers.
    std::fs::write(
        &path,
        "id,email\n0,a@example.com\n-5,b@example.com\n12,c@example.com\n",
    )
    .unwrap();
    let s = source(&file_config("csv", path.display(), "key = 'id'")).await;
    assert_eq!(
        keys(&read_all(s.as_ref(), 10).await),
        [LegacyKey::Int(-5), LegacyKey::Int(0), LegacyKey::Int(12)]
    );
}

/// One hostile 2 MiB line is an invalid record naming its line; the lines around it read.
#[tokio::test]
async fn a_line_over_one_mib_is_an_invalid_record_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(2 << 20);
    // NDJSON (https://jsonlines.org/): the long line is a JSON object, just too big.
    let jsonl = dir.path().join("users.jsonl");
    std::fs::write(
        &jsonl,
        format!("{{\"id\":1}}\n{{\"id\":2,\"pad\":\"{huge}\"}}\n{{\"id\":3}}\n"),
    )
    .unwrap();
    let s = source(&file_config("jsonl", jsonl.display(), "key = 'id'")).await;
    let all = read_all(s.as_ref(), 10).await;
    assert_eq!(
        keys(&all),
        [LegacyKey::Int(1), LegacyKey::Int(3), text("line-2")]
    );
    let (field, reason) = invalid(&all[2]);
    assert_eq!(field, "record");
    assert!(
        reason.starts_with("line 2: longer than 1048576 bytes"),
        "{reason}"
    );
    assert_eq!(all[1].fields["id"], 3);

    // Auth0's user export is NDJSON too.
    let s = source(&format!("type = 'auth0'\npath = '{}'", {
        let p = dir.path().join("auth0.ndjson");
        std::fs::write(
            &p,
            format!(
                "{{\"user_id\":\"auth0|1\",\"pad\":\"{huge}\"}}\n{{\"user_id\":\"auth0|2\"}}\n"
            ),
        )
        .unwrap();
        p.display().to_string()
    }))
    .await;
    let all = read_all(s.as_ref(), 10).await;
    assert_eq!(keys(&all), [text("auth0|2"), text("line-1")]);
    assert!(invalid(&all[1]).1.starts_with("line 1: longer than"));

    // CSV: the row is read whole by the csv crate but made invalid.
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, format!("id,pad\n1,a\n2,{huge}\n3,c\n")).unwrap();
    let s = source(&file_config("csv", csv.display(), "key = 'id'")).await;
    let all = read_all(s.as_ref(), 10).await;
    assert_eq!(
        keys(&all),
        [LegacyKey::Int(1), LegacyKey::Int(3), text("line-3")]
    );
    let (field, reason) = invalid(&all[2]);
    assert_eq!(field, "record");
    assert!(
        reason.starts_with("line 3: longer than 1048576 bytes"),
        "{reason}"
    );
}

// ---------------------------------------------------------------------------------- errors

#[tokio::test]
async fn a_missing_file_is_unavailable_and_names_the_path() {
    for config in [
        "type = 'jsonl'\npath = '/nonexistent/users.jsonl'\nkey = 'id'",
        "type = 'csv'\npath = '/nonexistent/users.jsonl'\nkey = 'id'",
        "type = 'auth0'\npath = '/nonexistent/users.jsonl'",
        "type = 'cognito'\npath = '/nonexistent/users.jsonl'",
        "type = 'keycloak'\npath = '/nonexistent/users.jsonl'",
        "type = 'firebase'\npath = '/nonexistent/users.jsonl'",
    ] {
        let s = source(config).await;
        let err = s.read(&KeyRange::default(), 10).await.unwrap_err();
        assert_reason!(err, Unavailable, "/nonexistent/users.jsonl", config);
        assert!(s.healthcheck().await.is_err());
    }
}

#[tokio::test]
async fn a_csv_without_the_key_column_is_a_config_error() {
    let s = source(&file_config(
        "csv",
        fixture("csv/users.csv"),
        "key = 'user_id'\ndelimiter = ';'",
    ))
    .await;
    let err = s.count().await.unwrap_err();
    assert_reason!(err, Config, "user_id");
}

// ---------------------------------------------------------------------------------- the docs

const SOURCES_DOC: &str = include_str!("../../../../docs/sources.md");

/// The `[mappings.<name>]` block that follows `<!-- mapping: name -->` in docs/sources.md.
fn doc_mapping(name: &str) -> Mapper {
    #[derive(serde::Deserialize)]
    struct Doc {
        mappings: std::collections::BTreeMap<String, MappingConfig>,
    }
    let marker = format!("<!-- mapping: {name} -->");
    let after = SOURCES_DOC.split_once(&marker).expect("marker").1;
    let block = after.split_once("```toml\n").expect("block").1;
    let block = block.split_once("```").expect("end").0;
    let doc: Doc = toml::from_str(block).unwrap_or_else(|e| panic!("{name}: {e}"));
    Mapper::new(&doc.mappings[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Each mapping docs/sources.md shows maps that source's fixture records.
#[tokio::test]
async fn the_mappings_in_the_docs_map_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signer-key");
    std::fs::write(&key_file, FIREBASE_SIGNER_KEY).unwrap();
    let cases = [
        (
            "auth0",
            auth0_config(),
            text("auth0|5dea9f9c82dd7c0e76e4ec93"),
        ),
        (
            "firebase",
            firebase_config(key_file.display()),
            text("Vz4Ow2aTmZXv0vhwAbcJ1lXQ9EF2"),
        ),
        (
            "cognito",
            file_config("cognito", fixture("cognito/users.csv"), ""),
            text("johndoe"),
        ),
        (
            "keycloak",
            keycloak_config(),
            text("0b1c5e0a-8f0e-4c55-a3d2-6f2c1a7e9b01"),
        ),
        (
            "legacy_csv",
            file_config(
                "csv",
                fixture("csv/users.csv"),
                "key = 'id'\ndelimiter = ';'",
            ),
            LegacyKey::Int(2),
        ),
        (
            "legacy_jsonl",
            file_config("jsonl", fixture("jsonl/users.jsonl"), "key = 'id'"),
            text("u-b"),
        ),
    ];
    for (name, config, key) in cases {
        // A Firebase mapping verifies with the project's signer key, which usher gives it from
        // the source's `signer_key_file` (the records never carry it).
        let signer_key = toml::from_str::<SourceConfig>(&config)
            .unwrap()
            .firebase_signer_key(name)
            .unwrap();
        let context = signer_key
            .map(|key| usher_hash::HashContext::default().with_firebase_signer_key(key))
            .unwrap_or_default();
        let m = doc_mapping(name).with_hash_context(context);
        let s = source(&config).await;
        let all = read_all(s.as_ref(), 100).await;
        let user = m
            .map(name, find(&all, &key), Utc::now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(user.email.is_some(), "{name}");
        // Every valid record of the fixture maps, or fails on a field of its own, never on
        // the mapping itself.
        for r in &all {
            if let Err(e) = m.map(name, r, Utc::now()) {
                assert!(!e.0.is_empty(), "{name} {}", r.key);
            }
        }
    }
    // Keycloak's `enabled = false` maps to a disabled user.
    let s = source(&file_config(
        "keycloak",
        fixture("keycloak/acme-users-0.json"),
        "",
    ))
    .await;
    let all = read_all(s.as_ref(), 100).await;
    let lena = find(&all, &text("3e4f8b3d-1c3b-4f88-96a5-9c5f4d0b2e04"));
    let user = doc_mapping("keycloak")
        .map("keycloak", lena, Utc::now())
        .unwrap();
    assert_eq!(user.status, Status::Disabled);
}

/// 100,000 lines in no key order: every key once, in order, across chunked keyset reads.
#[tokio::test]
async fn a_large_unsorted_file_reads_in_key_order() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let n: i64 = 100_000;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        // 7919 is prime to n, so this visits every key once, scrambled.
        let id = (i * 7919) % n;
        writeln!(f, r#"{{"id": {id}, "email": "user{id}@example.com"}}"#).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let s = source(&file_config("jsonl", path.display(), "key = 'id'")).await;
    assert_eq!(s.count().await.unwrap(), Some(n as u64));
    assert_eq!(
        s.key_bounds().await.unwrap(),
        Some((LegacyKey::Int(0), LegacyKey::Int(n - 1)))
    );
    let all = read_all(s.as_ref(), 5000).await;
    assert_eq!(all.len(), n as usize);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.key, LegacyKey::Int(i as i64));
        assert_eq!(r.fields["email"], format!("user{i}@example.com"));
    }
    let found = s.lookup("email", "USER4242@example.com", 2).await.unwrap();
    assert_eq!(keys(&found), [LegacyKey::Int(4242)]);
}
