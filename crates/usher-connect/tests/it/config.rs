//! The configuration surface, as a user writes it in usher.toml: no database needed.

use std::path::{Path, PathBuf};

use usher_connect::{SourceConfig, redact_url};
use usher_core::ConfigProblem;

fn parse(text: &str) -> Result<SourceConfig, toml::de::Error> {
    toml::from_str(text)
}

/// The first problem `validate` reports (it reports every one, in the order of the checks).
trait FirstProblem {
    fn first_problem(&self) -> ConfigProblem;
}

impl FirstProblem for SourceConfig {
    fn first_problem(&self) -> ConfigProblem {
        self.validate()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no problem in {self:?}"))
    }
}

#[test]
fn each_backend_parses_from_its_toml_table() {
    let pg = parse(
        r#"
        type = "postgres"
        url_file = "/run/secrets/legacy-url"
        schema = "public"
        table = "users"
        key = "id"
        columns = ["id", "email", "phone num"]
        json_columns = ["email"]
        max_connections = 2
        connect_timeout_seconds = 5
        statement_timeout_seconds = 30
        tls = "verify-full"
        tls_ca_file = "/etc/ssl/ca.pem"
        "#,
    )
    .unwrap();
    assert_eq!(pg.validate(), []);
    let my = parse(
        r#"
        type = "mariadb"
        url = "mysql://reader:pw@db/shop"
        query = "SELECT u.id, u.email FROM users u JOIN profiles p ON p.user_id = u.id"
        key = "id"
        tls = "require"
        "#,
    )
    .unwrap();
    assert!(matches!(my, SourceConfig::Mysql(_)));
    assert_eq!(my.validate(), []);
    let lite =
        parse("type = 'sqlite'\npath = 'app.db'\ntable = 'users'\nkey = 'username'").unwrap();
    assert_eq!(lite.validate(), []);
}

#[test]
fn unknown_options_and_types_are_refused_when_parsed() {
    assert!(
        parse("type = 'postgres'\nurl = 'postgres://h/d'\ntable = 't'\nkey = 'id'\ntabel = 'x'")
            .is_err()
    );
    assert!(parse("type = 'oracle'\nurl = 'x'\ntable = 't'\nkey = 'id'").is_err());
    // TLS is a network option; an SQLite file has none.
    assert!(
        parse("type = 'sqlite'\npath = 'a.db'\ntable = 't'\nkey = 'id'\ntls = 'require'").is_err()
    );
    assert!(
        parse(
            "type = 'postgres'\nurl = 'postgres://h/d'\ntable = 't'\nkey = 'id'\ntls = 'sometimes'"
        )
        .is_err()
    );
}

#[test]
fn an_unknown_option_is_named_in_the_error() {
    for (text, key) in [
        (
            "type = 'postgres'\nurl = 'postgres://h/d'\ntable = 't'\nkey = 'id'\ntabel = 'x'",
            "tabel",
        ),
        (
            "type = 'mysql'\nurl = 'mysql://h/d'\ntable = 't'\nkey = 'id'\npath = 'a.db'",
            "path",
        ),
        (
            "type = 'sqlite'\npath = 'a.db'\ntable = 't'\nkey = 'id'\ntls = 'require'",
            "tls",
        ),
        (
            "type = 'sqlite'\npath = 'a.db'\nschema = 's'\ntable = 't'\nkey = 'id'",
            "schema",
        ),
    ] {
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("unknown field `{key}`")),
            "{text}: {err}"
        );
    }
    let err = parse("type = 'sqlite'\ntable = 't'\nkey = 'id'")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `path`"), "{err}");
}

#[test]
fn an_invalid_table_identifier_is_refused_by_validate() {
    for table in ["users; DROP TABLE users", "public.users", "us\"ers", ""] {
        let config = parse(&format!(
            "type = 'postgres'\nurl = 'postgres://h/d'\ntable = '{table}'\nkey = 'id'"
        ))
        .unwrap();
        let err = config.first_problem();
        assert_eq!(err.key, "table", "{table:?}: {err}");
    }
    let config =
        parse("type = 'mysql'\nurl = 'mysql://h/d'\ntable = 'users'\nkey = 'id`x'").unwrap();
    assert_eq!(config.first_problem().key, "key");
    let config = parse(
        "type = 'sqlite'\npath = 'a.db'\ntable = 'users'\nkey = 'id'\ncolumns = ['a', 'b;c']",
    )
    .unwrap();
    assert_eq!(config.first_problem().key, "columns");
}

#[test]
fn options_that_belong_together_are_checked() {
    let cases = [
        ("table = 't'\nkey = 'id'", "url"),
        (
            "url = 'postgres://h/d'\nurl_file = 'f'\ntable = 't'\nkey = 'id'",
            "url",
        ),
        ("url = 'postgres://h/d'\nkey = 'id'", "table"),
        (
            "url = 'postgres://h/d'\ntable = 't'\nquery = 'SELECT 1'\nkey = 'id'",
            "table",
        ),
        (
            "url = 'postgres://h/d'\nschema = 's'\nquery = 'SELECT 1'\nkey = 'id'",
            "schema",
        ),
        (
            "url = 'postgres://h/d'\nquery = 'SELECT 1;'\nkey = 'id'",
            "query",
        ),
        (
            "url = 'postgres://h/d'\ntable = 't'\nkey = 'id'\nmax_connections = 0",
            "max_connections",
        ),
        (
            "url = 'postgres://h/d'\ntable = 't'\nkey = 'id'\ncolumns = []",
            "columns",
        ),
        (
            "url = 'postgres://h/d'\ntable = 't'\nkey = 'id'\ntls = 'disable'\ntls_ca_file = 'ca.pem'",
            "tls_ca_file",
        ),
        ("url = 'http://h/d'\ntable = 't'\nkey = 'id'", "url"),
    ];
    for (body, field) in cases {
        let config = parse(&format!("type = 'postgres'\n{body}")).unwrap();
        assert_eq!(config.first_problem().key, field, "{body}");
    }
}

#[test]
fn debug_output_never_shows_the_password() {
    let config =
        parse("type = 'postgres'\nurl = 'postgres://u:hunter2@h/d'\ntable = 't'\nkey = 'id'")
            .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("postgres://u:***@h/d"), "{shown}");
    assert_eq!(
        redact_url("mysql://u:hunter2@h:3306/d"),
        "mysql://u:***@h:3306/d"
    );
}

#[tokio::test]
async fn a_url_file_holds_the_secret_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("legacy.db");
    let file = dir.path().join("url");
    std::fs::write(&file, "postgres://u:pw@127.0.0.1:1/d\n").unwrap();
    let config = parse(&format!(
        "type = 'postgres'\nurl_file = {:?}\ntable = 't'\nkey = 'id'",
        file.display().to_string()
    ))
    .unwrap();
    // Built without connecting: the pool connects on first use.
    assert!(config.build("legacy").await.is_ok());
    let missing = parse(&format!(
        "type = 'postgres'\nurl_file = {:?}\ntable = 't'\nkey = 'id'",
        db.display().to_string()
    ))
    .unwrap();
    let err = missing.build("legacy").await.err().unwrap();
    assert!(err.to_string().contains("url_file"), "{err}");
}

/// The LDAP example of docs/ldap.md.
const LDAP_EXAMPLE: &str = r#"
type = "ldap"
url = "ldap://ldap.internal:389"
starttls = true
tls_ca_file = "secrets/ldap-ca.pem"
bind_dn = "cn=usher,ou=services,dc=example,dc=org"
bind_password_file = "secrets/ldap-bind-password"
base_dn = "ou=people,dc=example,dc=org"
filter = "(objectClass=inetOrgPerson)"
key = "uid"
attributes = ["uid", "mail", "cn", "sn", "givenName", "userPassword"]
user_filter = "(|(uid={identifier})(mail={identifier}))"
page_size = 500
timeout_seconds = 10
"#;

#[test]
fn ldap_parses_from_its_toml_table_with_defaults() {
    let config = parse(LDAP_EXAMPLE).unwrap();
    assert_eq!(config.validate(), []);
    let SourceConfig::Ldap(ldap) = config else {
        panic!("an ldap config")
    };
    assert_eq!(ldap.key, "uid");
    let minimal = parse(
        "type = 'ldap'\nurl = 'ldaps://ldap.internal'\nbase_dn = 'ou=people,dc=example,dc=org'",
    )
    .unwrap();
    assert_eq!(minimal.validate(), []);
    let SourceConfig::Ldap(minimal) = minimal else {
        panic!("an ldap config")
    };
    assert_eq!(minimal.filter, "(objectClass=inetOrgPerson)");
    assert_eq!(minimal.key, "uid");
    assert_eq!(
        minimal.user_filter,
        "(|(uid={identifier})(mail={identifier}))"
    );
    assert_eq!(minimal.page_size, 500);
    assert_eq!(minimal.timeout_seconds, 10);
    assert_eq!(minimal.attributes, None);
    assert!(!minimal.starttls);
    // An inline password is not an option: secrets come from files.
    assert!(parse(&format!("{LDAP_EXAMPLE}bind_password = 'x'")).is_err());
}

#[test]
fn ldap_mistakes_are_refused_by_validate_naming_the_option() {
    let base = "type = 'ldap'\nbase_dn = 'dc=example,dc=org'\n";
    for (extra, field) in [
        ("url = 'http://ldap.internal'", "url"),
        ("url = 'ldap://cn=admin:pw@ldap.internal'", "url"),
        ("url = 'ldaps://ldap.internal'\nstarttls = true", "starttls"),
        (
            "url = 'ldap://ldap.internal'\ntls_ca_file = 'ca.pem'",
            "tls_ca_file",
        ),
        (
            "url = 'ldap://h'\nbind_dn = 'cn=usher,dc=example,dc=org'",
            "bind_password_file",
        ),
        ("url = 'ldap://h'\nbind_password_file = 'pw'", "bind_dn"),
        ("url = 'ldap://h'\nfilter = 'objectClass=person'", "filter"),
        (
            "url = 'ldap://h'\nfilter = '(&(objectClass=person)'",
            "filter",
        ),
        ("url = 'ldap://h'\nkey = 'uid)(x'", "key"),
        ("url = 'ldap://h'\nkey = ''", "key"),
        ("url = 'ldap://h'\nattributes = []", "attributes"),
        (
            "url = 'ldap://h'\nattributes = ['mail', 'cn;x)']",
            "attributes",
        ),
        ("url = 'ldap://h'\nuser_filter = '(uid=x)'", "user_filter"),
        (
            "url = 'ldap://h'\nuser_filter = '(uid={identifier}'",
            "user_filter",
        ),
        ("url = 'ldap://h'\npage_size = 0", "page_size"),
        ("url = 'ldap://h'\ntimeout_seconds = 0", "timeout_seconds"),
    ] {
        let config = parse(&format!("{base}{extra}")).unwrap();
        let err = config.first_problem();
        assert_eq!(err.key, field, "{extra}: {err}");
    }
    let config = parse("type = 'ldap'\nurl = 'ldap://h'\nbase_dn = ''").unwrap();
    assert_eq!(config.first_problem().key, "base_dn");
}

/// A simple bind on plain `ldap://` sends the user's password in clear: to a host that is not
/// loopback it needs StartTLS (or ldaps://), or the explicit `allow_plaintext = true`.
#[test]
fn ldap_plaintext_to_another_host_needs_starttls_or_allow_plaintext() {
    let base = "type = 'ldap'\nbase_dn = 'dc=example,dc=org'\n";
    for url in [
        "ldap://ldap.internal",
        "ldap://ldap.internal:389",
        "LDAP://10.0.0.5",
        "ldap://[2001:db8::1]:389",
    ] {
        let err = parse(&format!("{base}url = '{url}'"))
            .unwrap()
            .first_problem();
        assert_eq!(err.key, "url", "{url}: {err}");
        assert!(err.to_string().contains("allow_plaintext"), "{err}");
        for ok in ["starttls = true", "allow_plaintext = true"] {
            let config = parse(&format!("{base}url = '{url}'\n{ok}")).unwrap();
            assert_eq!(config.validate(), [], "{url} with {ok}");
        }
    }
    for url in [
        "ldap://127.0.0.1:389",
        "ldap://localhost",
        "ldap://[::1]:389",
        "ldaps://ldap.internal",
    ] {
        let config = parse(&format!("{base}url = '{url}'")).unwrap();
        assert_eq!(config.validate(), [], "{url}");
    }
}

/// `type = "auth-api"`, in the shape docs/legacy-auth-api.md tells operators to write.
fn auth_api(extra: &str) -> Result<SourceConfig, toml::de::Error> {
    parse(&format!(
        "type = 'auth-api'\nurl = 'https://legacy.internal/usher/authenticate'\nkey = 'id'\n{extra}"
    ))
}

#[test]
fn an_auth_api_parses_with_every_option_and_alone() {
    let full = auth_api(
        r#"
        authorization_file = "secrets/legacy-api-token"
        header = "Authorization"
        timeout_seconds = 5
        tls_ca_file = "secrets/legacy-ca.pem"
        encrypt_public_key_file = "secrets/legacy-rsa.pub.pem"
        health_url = "https://legacy.internal/healthz"
        "#,
    )
    .unwrap();
    assert_eq!(full.validate(), []);
    let SourceConfig::AuthApi(c) = &full else {
        panic!("{full:?}")
    };
    assert_eq!(c.timeout_seconds, 5);
    assert_eq!(c.key, "id");
    let bare = auth_api("").unwrap();
    assert_eq!(bare.validate(), []);
    let SourceConfig::AuthApi(c) = &bare else {
        panic!("{bare:?}")
    };
    assert_eq!(c.timeout_seconds, 5, "the default");
    assert_eq!(c.header, None);
    // Plain http to a loopback host is fine.
    let loopback =
        parse("type = 'auth-api'\nurl = 'http://127.0.0.1:8080/auth'\nkey = 'id'").unwrap();
    assert_eq!(loopback.validate(), []);
}

#[test]
fn auth_api_mistakes_are_refused_naming_the_option() {
    // Unknown options and inline secrets are refused when parsed.
    assert!(auth_api("authorization = 'Bearer abc'").is_err());
    assert!(auth_api("password_field = 'pw'").is_err());
    let cases = [
        ("url = 'ftp://legacy.internal/auth'", "url"),
        ("url = 'https://user:pw@legacy.internal/auth'", "url"),
        ("url = 'not a url'", "url"),
        // The password would cross the network in clear.
        ("url = 'http://legacy.internal/auth'", "url"),
        ("header = 'X-Api-Key'", "header"),
        ("authorization_file = 't'\nheader = 'Bad Header'", "header"),
        (
            "authorization_file = 't'\nheader = 'Content-Type'",
            "header",
        ),
        ("timeout_seconds = 0", "timeout_seconds"),
        ("timeout_seconds = 301", "timeout_seconds"),
        ("health_url = 'legacy/healthz'", "health_url"),
    ];
    for (extra, field) in cases {
        // A `url` line given here replaces the default one.
        let text = if extra.starts_with("url") {
            format!("type = 'auth-api'\n{extra}\nkey = 'id'")
        } else {
            format!("type = 'auth-api'\nurl = 'https://legacy.internal/auth'\nkey = 'id'\n{extra}")
        };
        let err = parse(&text).unwrap().first_problem();
        assert_eq!(err.key, field, "{extra}: {err}");
    }
    let err = parse("type = 'auth-api'\nurl = 'https://l/a'\nkey = ''")
        .unwrap()
        .first_problem();
    assert_eq!(err.key, "key");
    // Plain http to another host is refused even when the password travels as a JWE: the JWE
    // does not stop an on-path attacker forging legacy's 200 answer.
    for url in ["http://legacy.internal/auth", "http://10.0.0.7:8080/auth"] {
        let err = parse(&format!(
            "type = 'auth-api'\nurl = '{url}'\nkey = 'id'\nencrypt_public_key_file = 'k.pem'"
        ))
        .unwrap()
        .first_problem();
        assert_eq!(err.key, "url", "{url}: {err}");
        assert!(err.to_string().contains("https"), "{err}");
    }
    // Loopback stays allowed with encryption too.
    let loopback = parse(
        "type = 'auth-api'\nurl = 'http://[::1]:8080/auth'\nkey = 'id'\nencrypt_public_key_file = 'k.pem'",
    )
    .unwrap();
    assert_eq!(loopback.validate(), []);
}

#[tokio::test]
async fn an_auth_api_is_an_auth_source_and_never_a_backfill_source() {
    let config = auth_api("").unwrap();
    let err = config.build("old_app").await.err().unwrap();
    assert_eq!(
        err,
        usher_core::SourceError::Config {
            source_name: "old_app".into(),
            reason: "an auth API checks passwords; it cannot be read by a backfill".into(),
        }
    );
    let auth = config.build_auth("old_app").await.unwrap().unwrap();
    assert_eq!(auth.name(), "old_app");
    // A hash source is not an auth source.
    let lite = parse("type = 'sqlite'\npath = 'app.db'\ntable = 'users'\nkey = 'id'").unwrap();
    assert!(lite.build_auth("legacy").await.unwrap().is_none());
    // A missing authorization_file is reported when built, naming the option.
    let err = auth_api("authorization_file = '/nonexistent/usher-token'")
        .unwrap()
        .build_auth("old_app")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("authorization_file"), "{err}");
}

#[test]
fn each_file_source_parses_and_validates_without_reading_its_files() {
    let ok = [
        "type = 'auth0'\npath = 'users.ndjson'\nhashes_path = 'hashes.ndjson'",
        "type = 'auth0'\npath = 'users.ndjson'",
        "type = 'firebase'\npath = 'users.json'\nhash = { signer_key_file = '/run/secrets/fb-key', salt_separator = 'Bw==', rounds = 8, mem_cost = 14 }",
        "type = 'firebase'\npath = 'users.json'",
        "type = 'cognito'\npath = 'pool.csv'",
        "type = 'keycloak'\npath = 'acme-realm.json'",
        "type = 'keycloak'\npath = ['acme-users-0.json', 'acme-users-1.json']",
        "type = 'csv'\npath = 'users.csv'\nkey = 'id'\nkey_type = 'int'\ndelimiter = ';'",
        "type = 'csv'\npath = 'users.csv'\nkey = 'login'",
        "type = 'jsonl'\npath = 'users.jsonl'\nkey = 'id'",
    ];
    for text in ok {
        let config = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(config.validate(), [], "{text}");
    }
    let kinds: Vec<String> = ok
        .iter()
        .map(|t| {
            format!("{:?}", parse(t).unwrap())
                .split('(')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Auth0", "Auth0", "Firebase", "Firebase", "Cognito", "Keycloak", "Keycloak", "Csv",
            "Csv", "Jsonl"
        ]
    );
}

#[test]
fn file_source_mistakes_are_found_without_io() {
    // Refused by the parser: unknown options, an inline signer key, a bad key type.
    for text in [
        "type = 'jsonl'\npath = 'u.jsonl'\nkey = 'id'\ndelimiter = ','",
        "type = 'cognito'\npath = 'pool.csv'\nkey = 'sub'",
        "type = 'firebase'\npath = 'u.json'\nhash = { signer_key = 'abc=', salt_separator = 'Bw==', rounds = 8, mem_cost = 14 }",
        "type = 'csv'\npath = 'u.csv'\nkey = 'id'\nkey_type = 'float'",
        "type = 'auth0'\npath = 'u.ndjson'\nhashes = 'h.ndjson'",
    ] {
        assert!(parse(text).is_err(), "{text}");
    }
    // Refused by validate(), naming the option.
    for (text, field) in [
        (
            "type = 'csv'\npath = 'u.csv'\nkey = 'id'\ndelimiter = ';;'",
            "delimiter",
        ),
        (
            "type = 'csv'\npath = 'u.csv'\nkey = 'id'\ndelimiter = '\"'",
            "delimiter",
        ),
        ("type = 'csv'\npath = 'u.csv'\nkey = ''", "key"),
        ("type = 'jsonl'\npath = ''\nkey = 'id'", "path"),
        ("type = 'keycloak'\npath = []", "path"),
        (
            "type = 'firebase'\npath = 'u.json'\nhash = { signer_key_file = 'k', salt_separator = 'B w!', rounds = 8, mem_cost = 14 }",
            "hash.salt_separator",
        ),
        (
            "type = 'firebase'\npath = 'u.json'\nhash = { signer_key_file = 'k', salt_separator = 'Bw==', rounds = 0, mem_cost = 14 }",
            "hash.rounds",
        ),
        (
            "type = 'firebase'\npath = 'u.json'\nhash = { signer_key_file = 'k', salt_separator = 'Bw==', rounds = 8, mem_cost = 15 }",
            "hash.mem_cost",
        ),
    ] {
        let err = parse(text).unwrap().first_problem();
        assert_eq!(err.key, field, "{text}: {err}");
    }
}

/// Each kind of source resolves its own relative paths against the config's directory, and
/// leaves absolute ones alone.
#[test]
fn each_source_kind_resolves_its_own_relative_paths() {
    let base = Path::new("/etc/usher");
    let resolved = |text: &str| {
        let mut config = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        config.resolve_paths(base);
        config
    };
    let at = |p: &str| PathBuf::from("/etc/usher").join(p);

    let SourceConfig::Firebase(c) = resolved(
        "type = 'firebase'\npath = 'users.json'\nhash = { signer_key_file = 'key', salt_separator = 'Bw==', rounds = 8, mem_cost = 14 }",
    ) else {
        panic!("firebase")
    };
    assert_eq!(c.path, at("users.json"));
    assert_eq!(c.hash.unwrap().signer_key_file, at("key"));

    let SourceConfig::Keycloak(c) = resolved("type = 'keycloak'\npath = ['a.json', '/abs/b.json']")
    else {
        panic!("keycloak")
    };
    assert_eq!(
        c.path.as_slice(),
        [at("a.json"), PathBuf::from("/abs/b.json")]
    );

    let SourceConfig::Auth0(c) =
        resolved("type = 'auth0'\npath = 'u.ndjson'\nhashes_path = 'h.ndjson'")
    else {
        panic!("auth0")
    };
    assert_eq!(
        (c.path, c.hashes_path),
        (at("u.ndjson"), Some(at("h.ndjson")))
    );

    let SourceConfig::Cognito(c) = resolved("type = 'cognito'\npath = 'pool.csv'") else {
        panic!("cognito")
    };
    assert_eq!(c.path, at("pool.csv"));
    let SourceConfig::Csv(c) = resolved("type = 'csv'\npath = 'u.csv'\nkey = 'id'") else {
        panic!("csv")
    };
    assert_eq!(c.path, at("u.csv"));
    let SourceConfig::Jsonl(c) = resolved("type = 'jsonl'\npath = 'u.jsonl'\nkey = 'id'") else {
        panic!("jsonl")
    };
    assert_eq!(c.path, at("u.jsonl"));

    let SourceConfig::Sqlite(c) =
        resolved("type = 'sqlite'\npath = 'app.db'\ntable = 'users'\nkey = 'id'")
    else {
        panic!("sqlite")
    };
    assert_eq!(c.path, at("app.db"));
    let SourceConfig::Postgres(c) = resolved(
        "type = 'postgres'\nurl_file = 'secrets/url'\ntable = 't'\nkey = 'id'\ntls = 'verify-ca'\ntls_ca_file = 'ca.pem'",
    ) else {
        panic!("postgres")
    };
    assert_eq!(c.connection.url_file, Some(at("secrets/url")));
    assert_eq!(c.connection.tls_ca_file, Some(at("ca.pem")));
    let SourceConfig::Mysql(c) = resolved(
        "type = 'mysql'\nurl_file = '/run/secrets/url'\ntable = 't'\nkey = 'id'\ntls_ca_file = 'ca.pem'",
    ) else {
        panic!("mysql")
    };
    assert_eq!(
        c.connection.url_file,
        Some(PathBuf::from("/run/secrets/url"))
    );
    assert_eq!(c.connection.tls_ca_file, Some(at("ca.pem")));

    let SourceConfig::Ldap(c) = resolved(LDAP_EXAMPLE) else {
        panic!("ldap")
    };
    assert_eq!(c.tls_ca_file, Some(at("secrets/ldap-ca.pem")));
    assert_eq!(c.bind_password_file, Some(at("secrets/ldap-bind-password")));

    let SourceConfig::AuthApi(c) = resolved(
        "type = 'auth-api'\nurl = 'https://l/a'\nkey = 'id'\nauthorization_file = 'token'\ntls_ca_file = 'ca.pem'\nencrypt_public_key_file = 'rsa.pem'",
    ) else {
        panic!("auth-api")
    };
    assert_eq!(
        (
            c.authorization_file,
            c.tls_ca_file,
            c.encrypt_public_key_file
        ),
        (Some(at("token")), Some(at("ca.pem")), Some(at("rsa.pem")))
    );
}

/// Every problem of a source is reported at once, each naming its key within the table.
#[test]
fn every_problem_of_a_source_is_reported_at_once() {
    let keys = |text: &str| -> Vec<String> {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .validate()
            .into_iter()
            .map(|p| p.key)
            .collect()
    };
    assert_eq!(
        keys(
            "type = 'postgres'\nurl = 'http://h/d'\ntable = 'a.b'\nkey = 'id;'\nmax_connections = 0\ntls = 'disable'\ntls_ca_file = 'ca.pem'\nwrite_back = 'UPDATE t SET m = 1'"
        ),
        [
            "url",
            "max_connections",
            "tls_ca_file",
            "table",
            "key",
            "write_back"
        ]
    );
    assert_eq!(
        keys(
            "type = 'ldap'\nurl = 'ldaps://h'\nstarttls = true\nbase_dn = ''\npage_size = 0\ntimeout_seconds = 0"
        ),
        ["starttls", "base_dn", "page_size", "timeout_seconds"]
    );
    assert_eq!(
        keys("type = 'auth-api'\nurl = 'ftp://l/a'\nkey = ''\ntimeout_seconds = 0\nheader = 'X'"),
        ["url", "header", "timeout_seconds", "key"]
    );
    assert_eq!(
        keys(
            "type = 'firebase'\npath = ''\nhash = { signer_key_file = '', salt_separator = '!', rounds = 9, mem_cost = 15 }"
        ),
        [
            "path",
            "hash.signer_key_file",
            "hash.salt_separator",
            "hash.rounds",
            "hash.mem_cost"
        ]
    );
    assert_eq!(
        keys("type = 'keycloak'\npath = ['a.json', '', '']"),
        ["path[1]", "path[2]"]
    );
    assert_eq!(
        keys("type = 'csv'\npath = ''\nkey = ''\ndelimiter = ';;'"),
        ["path", "key", "delimiter"]
    );
}
