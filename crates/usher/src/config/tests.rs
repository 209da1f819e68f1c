#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

const BASE: &str = r#"
[store]
type = "sqlite"
path = "usher.db"

[sources.app]
type = "sqlite"
path = "legacy.db"
table = "users"
key = "id"

[mappings.app.fields]
email = "email"
"#;

fn problems(extra: &str) -> String {
    let config: Config = toml::from_str(&format!("{BASE}{extra}")).unwrap();
    config
        .check()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn write_backs_are_checked_without_connecting() {
    assert_eq!(problems(""), "");
    let ok = "[bridge.app.write_back]\nurl = \"https://legacy.internal/migrated\"\n";
    assert_eq!(problems(ok), "");
    let bad = "[bridge.app.write_back]\nurl = \"ftp://legacy\"\ntimeout_seconds = 0\n";
    let found = problems(bad);
    assert!(
        found.contains("[bridge.app.write_back.url] ftp is not http or https"),
        "{found}"
    );
    assert!(
        found.contains("[bridge.app.write_back.timeout_seconds]"),
        "{found}"
    );
    let no_key = "key = \"id\"\nwrite_back = \"UPDATE users SET m = 1\"\n";
    let config: Config = toml::from_str(&BASE.replace("key = \"id\"\n", no_key)).unwrap();
    let found = config.check().unwrap_err().to_string();
    assert!(
        found.contains("[sources.app.write_back] must name the record with :key"),
        "{found}"
    );
}

/// Mistakes in every section at once: each is reported, one a line, naming its full key.
#[test]
fn every_problem_in_every_section_is_reported_at_once_with_its_key() {
    let text = r#"
[store]
type = "postgres"
url = "mysql://u:hunter2@db/x"
max_connections = 0

[sources.app]
type = "postgres"
url = "postgres://h/d"
table = "users"
key = "id"
tls = "disable"
tls_ca_file = "ca.pem"

[sources."old db"]
type = "firebase"
path = "users.json"
hash = { signer_key_file = "key", salt_separator = "Bw==", rounds = 9, mem_cost = 14 }

[mappings.app.fields]
email = "email"
birthdate = { from = "dob", formats = ["%Q"] }

[mappings.ghost.fields]
email = "email"

[backfill]
batch_size = 0
concurrency = 65
rate = 0

[link]
allow_unverified = ["app", "nobody"]
fields = { emial = "keep" }

[serve]
listen = "localhost"
legacy = ["app", "gone"]
hash_workers = 0
session = { ttl_seconds = 0 }
connections = { max = 0 }
outage = { failures_to_open = 0 }
argon2 = { memory_kib = 1 }

[bridge.nowhere]
write_back = { url = "ftp://legacy" }
"#;
    let config: Config = toml::from_str(text).unwrap();
    let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "store.url",
            "store.max_connections",
            "sources.app.tls_ca_file",
            "sources.\"old db\".hash.rounds",
            "sources.\"old db\"",
            "mappings.app.fields.birthdate.formats[0]",
            "mappings.ghost",
            "backfill.batch_size",
            "backfill.concurrency",
            "backfill.rate",
            "link.fields.emial",
            "link.allow_unverified[1]",
            "serve.listen",
            "serve.legacy[1]",
            "serve.hash_workers",
            "serve.session.ttl_seconds",
            "serve.connections.max",
            "serve.outage.failures_to_open",
            "serve.argon2",
            "bridge.nowhere",
            "bridge.nowhere.write_back.url",
        ]
    );
    let text = config.check().unwrap_err().to_string();
    assert!(
        text.starts_with("21 problems in the config:\n  [store.url] "),
        "{text}"
    );
    for line in [
        "[sources.app.tls_ca_file] is set but `tls` is \"disable\"",
        "[sources.\"old db\"] has no [mappings.\"old db\"] saying how its records map to users",
        "[mappings.ghost] names no source: there is no [sources.ghost]",
        "[backfill.batch_size] 0 is outside 1..=100000",
        "[backfill.rate] must be at least 1 record per second",
        "[serve.legacy[1]] names \"gone\", which is not a source",
        "[serve.session.ttl_seconds] must be positive",
        "[bridge.nowhere] names no source",
    ] {
        assert!(
            text.contains(&format!("\n  {line}")),
            "{line:?} not in {text}"
        );
    }
    assert!(!text.contains("hunter2"), "{text}");
}

/// Each section resolves its own relative paths against the config file's directory; an
/// absolute path stays as it is.
#[test]
fn each_section_resolves_its_relative_paths_against_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("usher.toml");
    std::fs::write(
        &file,
        r#"
[store]
type = "sqlite"
path = "data/usher.db"

[sources.app]
type = "postgres"
url_file = "secrets/url"
table = "users"
key = "id"
tls = "verify-ca"
tls_ca_file = "/etc/ssl/ca.pem"

[sources.export]
type = "jsonl"
path = "users.jsonl"
key = "id"

[mappings.app.fields]
email = "email"

[mappings.export.fields]
email = "email"

[serve]
admin_token_file = "secrets/admin"

[bridge.app.write_back]
url = "https://legacy.internal/migrated"
authorization_file = "secrets/legacy-auth"
"#,
    )
    .unwrap();
    let config = Config::load(&file).unwrap();
    let at = |p: &str| dir.path().join(p);
    let StoreConfig::Sqlite { path } = &config.store else {
        panic!("{:?}", config.store)
    };
    assert_eq!(path, &at("data/usher.db"));
    let SourceConfig::Postgres(app) = &config.sources["app"] else {
        panic!("postgres")
    };
    assert_eq!(app.connection.url_file, Some(at("secrets/url")));
    assert_eq!(
        app.connection.tls_ca_file,
        Some(PathBuf::from("/etc/ssl/ca.pem"))
    );
    let SourceConfig::Jsonl(export) = &config.sources["export"] else {
        panic!("jsonl")
    };
    assert_eq!(export.path, at("users.jsonl"));
    assert_eq!(config.serve.admin_token_file, Some(at("secrets/admin")));
    assert_eq!(config.serve.session.key_file, at("session-ed25519.pem"));
    let write_back = config.bridge["app"].write_back.as_ref().unwrap();
    assert_eq!(
        write_back.authorization_file,
        Some(at("secrets/legacy-auth"))
    );
}

#[test]
fn hooks_are_checked_without_connecting_and_every_problem_is_named() {
    let ok = "[serve.hooks.okta]\nbudget_ms = 2000\n\
              auth = { type = \"header\", name = \"Authorization\", secret_file = \"okta.secret\" }\n\
              [serve.hooks.fusionauth]\n\
              auth = { type = \"basic\", username = \"fusionauth\", secret_file = \"fa.secret\" }\n";
    assert_eq!(problems(ok), "");
    let bad = "[serve.hooks.okta]\nbudget_ms = 5000\n\
               auth = { type = \"header\", name = \"not a header\", secret_file = \"okta.secret\" }\n\
               [serve.hooks.cognito]\n\
               auth = { type = \"hmac\", secret_file = \"\", max_skew_secs = 0 }\n";
    let found = problems(bad);
    for expected in [
        "[serve.hooks.okta.budget_ms] 5000 is outside 50..=3000 (okta waits 3000 ms at most)",
        "[serve.hooks.okta.auth.name] \"not a header\" is not a header name",
        "[serve.hooks.cognito.auth.max_skew_secs] must be 1 to 3600",
        "[serve.hooks.cognito.auth.secret_file] must name a file",
    ] {
        assert!(
            found.contains(expected),
            "missing {expected:?} in:\n{found}"
        );
    }
    // An unknown provider or auth type is refused when the file is read.
    let unknown: Result<Config, _> = toml::from_str(&format!(
        "{BASE}[serve.hooks.clerk]\nauth = {{ type = \"bearer\", secret_file = \"x\" }}\n"
    ));
    assert!(unknown.unwrap_err().to_string().contains("clerk"));
    let unknown: Result<Config, _> = toml::from_str(&format!(
        "{BASE}[serve.hooks.okta]\nauth = {{ type = \"mtls\", secret_file = \"x\" }}\n"
    ));
    assert!(unknown.unwrap_err().to_string().contains("mtls"));
}

/// `[hashes] bcrypt_pepper_file`: Devise's pepper, read from its file into the hash context,
/// verifies a peppered bcrypt hash (a pyca bcrypt vector from usher-hash's corpus) that
/// nothing verifies without it.
#[test]
fn the_bcrypt_pepper_comes_from_its_file() {
    use usher_hash::{Password, PasswordHash, Scheme};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pepper"),
        "0f2a8c5e1b9d4f7a6c3e0b8d2f5a9c1e\n",
    )
    .unwrap();
    let path = dir.path().join("usher.toml");
    std::fs::write(
        &path,
        format!("{BASE}\n[hashes]\nbcrypt_pepper_file = \"pepper\"\n"),
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let hash = "$2a$04$R5PaRsdRTP4duhtFG5g7n.xcW9D8eWXMbtz2mle5NABy.pKu5suzW";
    let options = config
        .hash_context()
        .unwrap()
        .options(Some(Scheme::BcryptPepper));
    let parsed = PasswordHash::parse_with(hash, &options).unwrap();
    assert!(parsed.verify(&Password::from("password")).unwrap());
    assert!(!parsed.verify(&Password::from("Password")).unwrap());
    let without = HashContext::default().options(Some(Scheme::BcryptPepper));
    let unpeppered = PasswordHash::parse_with(hash, &without);
    assert!(
        unpeppered.is_err()
            || !unpeppered
                .unwrap()
                .verify(&Password::from("password"))
                .unwrap()
    );
}

/// `[push.<target>]`: only the targets usher pushes to; https, or http to this machine only;
/// Auth0 needs its connection; the token comes from a file.
#[test]
fn push_tables_are_checked_without_connecting() {
    let ok = "[push.okta]\nurl = \"https://example.okta.com\"\ntoken_file = \"okta-token\"\n\
              [push.kratos]\nurl = \"http://127.0.0.1:4434\"\ntoken_file = \"t\"\n\
              [push.clerk]\nurl = \"http://[::1]:8080/\"\ntoken_file = \"t\"\n";
    assert_eq!(problems(ok), "");
    let bad = problems(
        "[push.okta]\nurl = \"http://example.okta.com\"\ntoken_file = \"t\"\n\
         [push.supabase]\nurl = \"http://127.0.0.1.evil.example\"\ntoken_file = \"t\"\n\
         [push.auth0]\nurl = \"https://x.auth0.com\"\ntoken_file = \"t\"\nrate = 0\n\
         [push.keycloak]\nurl = \"https://kc\"\ntoken_file = \"t\"\n",
    );
    for expected in [
        "[push.okta.url] must be https://",
        "[push.supabase.url] must be https://",
        "[push.auth0.connection_id] Auth0 imports into a database connection",
        "[push.auth0.rate] must be at least 1",
        "[push.keycloak] usher pushes only to",
    ] {
        assert!(bad.contains(expected), "{expected} not in:\n{bad}");
    }
}
