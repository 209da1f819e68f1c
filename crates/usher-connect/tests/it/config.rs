//! The configuration surface, as a user writes it in usher.toml: no database needed.

use usher_connect::{SourceConfig, redact_url};

fn parse(text: &str) -> Result<SourceConfig, toml::de::Error> {
    toml::from_str(text)
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
    pg.validate().unwrap();
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
    my.validate().unwrap();
    let lite =
        parse("type = 'sqlite'\npath = 'app.db'\ntable = 'users'\nkey = 'username'").unwrap();
    lite.validate().unwrap();
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
fn an_invalid_table_identifier_is_refused_by_validate() {
    for table in ["users; DROP TABLE users", "public.users", "us\"ers", ""] {
        let config = parse(&format!(
            "type = 'postgres'\nurl = 'postgres://h/d'\ntable = '{table}'\nkey = 'id'"
        ))
        .unwrap();
        let err = config.validate().unwrap_err();
        assert_eq!(err.field, "table", "{table:?}: {err}");
    }
    let config =
        parse("type = 'mysql'\nurl = 'mysql://h/d'\ntable = 'users'\nkey = 'id`x'").unwrap();
    assert_eq!(config.validate().unwrap_err().field, "key");
    let config = parse(
        "type = 'sqlite'\npath = 'a.db'\ntable = 'users'\nkey = 'id'\ncolumns = ['a', 'b;c']",
    )
    .unwrap();
    assert_eq!(config.validate().unwrap_err().field, "columns");
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
        assert_eq!(config.validate().unwrap_err().field, field, "{body}");
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
        config.validate().unwrap_or_else(|e| panic!("{text}: {e}"));
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
        let err = parse(text).unwrap().validate().expect_err(text);
        assert_eq!(err.field, field, "{text}: {err}");
    }
}

#[test]
fn file_sources_list_their_files_for_path_resolution() {
    let mut fb = parse(
        "type = 'firebase'\npath = 'users.json'\nhash = { signer_key_file = 'key', salt_separator = 'Bw==', rounds = 8, mem_cost = 14 }",
    )
    .unwrap();
    for p in fb.file_paths_mut() {
        *p = std::path::Path::new("/etc/usher").join(&*p);
    }
    let SourceConfig::Firebase(c) = &fb else {
        panic!("{fb:?}")
    };
    assert_eq!(c.path, std::path::Path::new("/etc/usher/users.json"));
    assert_eq!(
        c.hash.as_ref().unwrap().signer_key_file,
        std::path::Path::new("/etc/usher/key")
    );
    let mut kc = parse("type = 'keycloak'\npath = ['a.json', 'b.json']").unwrap();
    assert_eq!(kc.file_paths_mut().len(), 2);
    let mut auth0 = parse("type = 'auth0'\npath = 'u.ndjson'\nhashes_path = 'h.ndjson'").unwrap();
    assert_eq!(auth0.file_paths_mut().len(), 2);
    let mut lite = parse("type = 'sqlite'\npath = 'app.db'\ntable = 'users'\nkey = 'id'").unwrap();
    assert!(lite.file_paths_mut().is_empty());
}
