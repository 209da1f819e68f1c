//! What every backend's tests share: the fixture keys, full reads in chunks, partitions, and
//! the checks on connection errors. The servers, their databases and URLs come from
//! `usher_testkit`.

use std::collections::HashSet;

use usher_connect::SourceConfig;
use usher_core::{KeyRange, LegacyKey, LegacyRecord, Source, SourceError, Written};

/// Asserts that `err` is a `SourceError::$kind` whose reason contains `needle`; `context`, if
/// given, leads the failure message.
macro_rules! assert_reason {
    ($err:expr, $kind:ident, $needle:expr) => {{
        let err = &$err;
        assert!(
            matches!(err, usher_core::SourceError::$kind { reason, .. } if reason.contains($needle)),
            "{err:?}"
        );
    }};
    ($err:expr, $kind:ident, $needle:expr, $context:expr) => {{
        let err = &$err;
        assert!(
            matches!(err, usher_core::SourceError::$kind { reason, .. } if reason.contains($needle)),
            "{}: {err:?}",
            $context
        );
    }};
}
pub(crate) use assert_reason;

/// A config from TOML, with `type` and `url` set here (URLs hold characters TOML would need
/// escaped).
pub fn config(kind: &str, url: &str, rest: &str) -> SourceConfig {
    let mut table: toml::Table = toml::from_str(rest).unwrap();
    table.insert("type".into(), kind.into());
    if kind == "sqlite" {
        table.insert("path".into(), url.into());
    } else {
        table.insert("url".into(), url.into());
    }
    toml::Value::Table(table).try_into().unwrap()
}

pub async fn build(config: &SourceConfig) -> Box<dyn Source> {
    assert_eq!(config.validate(), []);
    config.build("legacy").await.unwrap()
}

/// Reads `range` to the end in chunks of `chunk`, checking each chunk's size and that no
/// key comes twice.
pub async fn read_all(source: &dyn Source, range: &KeyRange, chunk: usize) -> Vec<LegacyRecord> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = range.clone();
    loop {
        let records = source.read(&cursor, chunk).await.unwrap();
        assert!(
            records.len() <= chunk,
            "a read returned more than its limit"
        );
        let Some(last) = records.last() else { break };
        cursor.after = Some(last.key.clone());
        for record in records {
            assert!(seen.insert(record.key.clone()), "{} read twice", record.key);
            out.push(record);
        }
    }
    out
}

pub fn keys(records: &[LegacyRecord]) -> Vec<LegacyKey> {
    records.iter().map(|r| r.key.clone()).collect()
}

/// Every row exactly once, in the database's key order, whatever the chunk size.
pub async fn assert_pages_in_key_order(source: &dyn Source, expected: &[LegacyKey]) {
    for chunk in [1, 7, 1000] {
        let got = keys(&read_all(source, &KeyRange::default(), chunk).await);
        assert_eq!(got, expected, "chunks of {chunk}");
    }
}

/// Partitions `(None, c1], (c1, c2], ..., (cn, None)` read back the whole table, each key
/// once, in order.
pub async fn assert_partitions_cover(
    source: &dyn Source,
    expected: &[LegacyKey],
    cuts: &[LegacyKey],
) {
    let mut bounds: Vec<Option<LegacyKey>> = vec![None];
    bounds.extend(cuts.iter().cloned().map(Some));
    bounds.push(None);
    let mut all = Vec::new();
    for pair in bounds.windows(2) {
        let range = KeyRange {
            after: pair[0].clone(),
            until: pair[1].clone(),
        };
        let part = keys(&read_all(source, &range, 7).await);
        assert!(!part.is_empty(), "partition {range:?} is empty");
        if let Some(until) = &range.until {
            assert_eq!(part.last(), Some(until), "partition ends at its bound");
        }
        all.extend(part);
    }
    assert_eq!(all, expected);
}

/// The error for a refused login or a dead server: `Unavailable`, naming the host, without
/// the password.
pub fn assert_unavailable_without_secret(result: Result<(), SourceError>, secret: &str) {
    match result {
        Err(SourceError::Unavailable {
            source_name,
            reason,
        }) => {
            assert_eq!(source_name, "legacy");
            assert!(!reason.contains(secret), "password leaked: {reason}");
            assert!(
                reason.contains("127.0.0.1"),
                "reason names the host: {reason}"
            );
            assert!(
                reason.contains("***"),
                "reason shows the redacted URL: {reason}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Text keys chosen to sort differently by bytes than by a case-insensitive collation, with
/// accents and non-Latin script, all distinct under case- and accent-insensitive collations.
pub fn text_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "alice",
        "Bob",
        "carol",
        "DAVE",
        "Émile",
        "eve",
        "Zoë",
        "ångström",
        "Øystein",
        "日本語",
        "mallory",
        "Trent",
        "victor",
        "Walter",
        "xavier",
        "_sys",
        "0042",
        "peggy",
        "Quentin",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for i in 0..40 {
        let prefix = ["a", "B", "c", "D", "é"][i % 5];
        keys.push(format!("{prefix}{i:03}"));
    }
    keys
}

/// Fails unless the database's order differs from byte order, so the paging test proves the
/// database's collation is followed.
pub fn assert_not_byte_order(db_order: &[LegacyKey]) {
    let mut bytes = db_order.to_vec();
    bytes.sort_by_key(ToString::to_string);
    assert_ne!(
        bytes, db_order,
        "the collation orders like bytes; the test proves nothing"
    );
}

/// Integer keys of the fixture tables, in order: a negative one, 1 and 2 (the typed rows),
/// 3..=100, and one past 2^40.
pub fn int_keys() -> Vec<i64> {
    let mut keys = vec![-5, 1, 2];
    keys.extend(3..=100);
    keys.push(1_099_511_627_776);
    keys
}

/// Asserts that looking `value` up by `field` finds only the record `key`, the very record a
/// read of that key gives; returns it.
pub async fn assert_lookup_is_the_read(
    source: &dyn Source,
    field: &str,
    value: &str,
    key: i64,
) -> LegacyRecord {
    let found = source.lookup(field, value, 2).await.unwrap();
    assert_eq!(keys(&found), vec![LegacyKey::Int(key)]);
    let range = KeyRange {
        after: Some(LegacyKey::Int(key - 1)),
        until: Some(LegacyKey::Int(key)),
    };
    let read = source.read(&range, 1).await.unwrap();
    assert_eq!(keys(&read), vec![LegacyKey::Int(key)]);
    assert_eq!(found[0].key, read[0].key);
    assert_eq!(found[0].checksum(), read[0].checksum());
    assert_eq!(found[0].to_json(), read[0].to_json());
    found.into_iter().next().unwrap()
}

/// Asserts that looking each of `values` up by `field` finds nothing.
pub async fn assert_lookups_find_nothing(source: &dyn Source, field: &str, values: &[&str]) {
    for value in values {
        let none = source.lookup(field, value, 5).await.unwrap();
        assert!(none.is_empty(), "{value:?} found {:?}", keys(&none));
    }
}

/// Rows every lookup test adds to the fixture's `users` table: two emails that differ only in
/// case, inserted in descending key order so that only `ORDER BY key` returns them ascending.
pub const TWINS_SQL: &str =
    "INSERT INTO users (id, email) VALUES (200, 'Twin@Example.com'), (150, 'twin@example.COM')";

/// The lookup contract on the fixture's `users` table (keyed by `id`, every column, row 1
/// `ann@example.com`) with [`TWINS_SQL`] applied.
pub async fn assert_lookups_on_users(source: &dyn Source) {
    // Differs only in case, and is the very record a backfill reads.
    let found = assert_lookup_is_the_read(source, "email", "ANN@Example.COM", 1).await;
    assert_eq!(found.to_json()["email"], "ann@example.com");

    // Both case twins, in key order, however the value is written.
    for value in ["twin@example.com", "TWIN@EXAMPLE.COM", "Twin@Example.com"] {
        let twins = source.lookup("email", value, 2).await.unwrap();
        assert_eq!(
            keys(&twins),
            vec![LegacyKey::Int(150), LegacyKey::Int(200)],
            "{value}"
        );
        assert_eq!(twins[0].to_json()["email"], "twin@example.COM");
        assert_eq!(twins[1].to_json()["email"], "Twin@Example.com");
    }
    let first = source.lookup("email", "twin@example.com", 1).await.unwrap();
    assert_eq!(keys(&first), vec![LegacyKey::Int(150)]);
    assert!(
        source
            .lookup("email", "twin@example.com", 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Equality, not a pattern or a prefix; nothing for an unknown address.
    let strangers = [
        "nobody@example.com",
        "ann@example",
        "%",
        "_nn@example.com",
        "' OR '1'='1",
        "x' OR '1'='1' --",
        "') OR ('1'='1",
    ];
    assert_lookups_find_nothing(source, "email", &strangers).await;

    // Surrounding spaces are trimmed on both sides, as the mapping's `trim` does (issue 11
    // item 6), in every dialect.
    for padded in ["ANN@example.com ", " ann@example.com"] {
        let found = keys(&source.lookup("email", padded, 2).await.unwrap());
        assert_eq!(found, vec![LegacyKey::Int(1)], "{padded:?}");
    }

    // A field that is not a plain column name is refused before any SQL is written.
    let hostile = [
        "email; DROP TABLE users",
        "\"email\"",
        "`email`",
        "users.email",
        "email'--",
        "",
    ];
    assert_lookup_fields_refused(source, "legacy", &hostile, "ann@example.com").await;
    // A name that is merely odd is quoted as one column, which does not exist.
    for field in ["email) OR (1=1", "nope"] {
        let err = source
            .lookup(field, "ann@example.com", 2)
            .await
            .unwrap_err();
        assert_reason!(err, Query, "looking up", format!("{field:?}"));
    }
    // The table is still there, every row in it.
    let all = read_all(source, &KeyRange::default(), 1000).await;
    assert_eq!(all.len(), int_keys().len() + 2);
}

/// Asserts that `source` (named `name`) refuses to look `value` up by each of `fields` as a
/// config error about the lookup field, asking nothing.
pub async fn assert_lookup_fields_refused(
    source: &dyn Source,
    name: &str,
    fields: &[&str],
    value: &str,
) {
    for field in fields {
        let err = source.lookup(field, value, 2).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Config { source_name, reason }
                if source_name == name && reason.contains("lookup field")),
            "{field:?}: {err:?}"
        );
    }
}

/// A `query` source over the fixture's `users`: `SELECT id, email AS login ... WHERE id > 0`.
pub async fn assert_lookups_through_a_query(source: &dyn Source) {
    let found = assert_lookup_is_the_read(source, "login", "USER7@example.COM", 7).await;
    assert_eq!(found.to_json()["login"], "user7@example.com");
    let twins = source.lookup("login", "twin@EXAMPLE.com", 5).await.unwrap();
    assert_eq!(keys(&twins), vec![LegacyKey::Int(150), LegacyKey::Int(200)]);
    // The query's own filter still applies: -5 is left out by `id > 0`.
    assert!(
        source
            .lookup("login", "neg@example.com", 2)
            .await
            .unwrap()
            .is_empty()
    );
    // Only the query's columns exist.
    let err = source
        .lookup("email", "ann@example.com", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
}

/// A source over the fixture's `accounts` with `key = 'username'` and `columns = ['email']`:
/// the key and the listed column can be looked up by, nothing else.
pub async fn assert_lookups_limited_to_columns(source: &dyn Source) {
    let by_key = source.lookup("username", "ALICE", 2).await.unwrap();
    assert_eq!(keys(&by_key), vec![LegacyKey::Text("alice".to_owned())]);
    assert_eq!(
        by_key[0].to_json(),
        serde_json::json!({"email": "alice@example.com"})
    );
    let by_email = source.lookup("email", "bob@EXAMPLE.com", 2).await.unwrap();
    assert_eq!(keys(&by_email), vec![LegacyKey::Text("Bob".to_owned())]);
    for field in ["password", "Email", "note"] {
        let err = source.lookup(field, "alice", 2).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Config { reason, .. }
                if reason.contains(&format!("{field:?}")) && reason.contains("columns")),
            "{field:?}: {err:?}"
        );
    }
}

/// The new store's id of a migrated user.
pub const MIGRATED_TO: &str = "0199a7c2-5e1f-7cc3-9b7a-3f2d8e6a1b04";

/// The write-back of record `key`: the mark that it became [`MIGRATED_TO`].
pub fn mark(key: &LegacyKey) -> usher_core::LegacyWrite {
    usher_core::LegacyWrite::MarkMigrated {
        key: key.clone(),
        user_id: MIGRATED_TO.parse().unwrap(),
    }
}

/// A source of `kind` at `url` over the fixture's `users` and `accounts` tables with
/// `write_back` set.
async fn write_back_source(kind: &str, url: &str, table: &str, statement: &str) -> Box<dyn Source> {
    let key = if table == "users" { "id" } else { "username" };
    let rest = format!("table = '{table}'\nkey = '{key}'\nwrite_back = \"{statement}\"");
    build(&config(kind, url, &rest)).await
}

/// The write-back on every backend: without one nothing is written; with one it prepares
/// in the healthcheck, marks exactly the record it is given (integer and text keys, the key
/// and user id bound, never spliced), and a statement the database refuses is an error
/// naming write_back and the record.
pub async fn assert_write_back_marks_exactly_the_record(kind: &str, url: &str) {
    let plain = build(&config(kind, url, "table = 'users'\nkey = 'id'")).await;
    assert!(!plain.writes("mark_migrated"));
    assert_eq!(
        plain.write(&mark(&LegacyKey::Int(7)), "k7").await,
        Ok(Written::NotConfigured),
        "no write_back configured"
    );
    let source = write_back_source(
        kind,
        url,
        "users",
        "UPDATE users SET note = :user_id WHERE id = :key",
    )
    .await;
    source.healthcheck().await.unwrap();
    assert!(source.writes("mark_migrated"));
    assert!(!source.writes("delete"));
    for _ in 0..2 {
        // Twice: a write-back delivered again is harmless.
        assert_eq!(
            source.write(&mark(&LegacyKey::Int(7)), "k7").await,
            Ok(Written::Applied)
        );
    }
    let users = read_all(source.as_ref(), &KeyRange::default(), 1000).await;
    let marked: Vec<&LegacyKey> = users
        .iter()
        .filter(|r| r.fields["note"] == serde_json::json!(MIGRATED_TO))
        .map(|r| &r.key)
        .collect();
    assert_eq!(marked, vec![&LegacyKey::Int(7)]);
    let first = users.iter().find(|r| r.key == LegacyKey::Int(1)).unwrap();
    assert_eq!(
        first.fields["note"],
        serde_json::json!("héllo"),
        "others untouched"
    );

    let accounts = write_back_source(
        kind,
        url,
        "accounts",
        "UPDATE accounts SET email = :user_id WHERE username = :key",
    )
    .await;
    accounts.healthcheck().await.unwrap();
    for key in ["Émile", "x' OR '1'='1", "'; DELETE FROM accounts; --"] {
        let key = LegacyKey::Text(key.to_owned());
        assert_eq!(accounts.write(&mark(&key), "k").await, Ok(Written::Applied));
    }
    let marked = accounts.lookup("email", MIGRATED_TO, 10).await.unwrap();
    assert_eq!(keys(&marked), vec![LegacyKey::Text("Émile".to_owned())]);
    let all = read_all(accounts.as_ref(), &KeyRange::default(), 1000).await;
    assert_eq!(all.len(), text_keys().len(), "no account was deleted");

    let bad = write_back_source(
        kind,
        url,
        "users",
        "UPDATE users SET no_such_column = :user_id WHERE id = :key",
    )
    .await;
    match bad.healthcheck().await {
        Err(SourceError::Query { reason, .. }) => {
            assert!(reason.contains("preparing mark_migrated"), "{reason}");
        }
        other => panic!("expected the healthcheck to refuse the write_back, got {other:?}"),
    }
    match bad.write(&mark(&LegacyKey::Int(7)), "k7").await {
        Err(SourceError::Query { reason, .. }) => {
            assert!(reason.contains("mark_migrated for record 7"), "{reason}");
        }
        other => panic!("expected a query error, got {other:?}"),
    }
}

/// A write-back to a server nobody answers at is `Unavailable` (counted by the bridge, never
/// fatal to the login).
pub async fn assert_write_back_to_a_down_server_is_unavailable(kind: &str, url: &str) {
    let statement = "UPDATE users SET note = :user_id WHERE id = :key";
    let rest = format!(
        "table = 'users'\nkey = 'id'\nconnect_timeout_seconds = 2\nwrite_back = \"{statement}\""
    );
    let source = build(&config(kind, url, &rest)).await;
    let result = source.write(&mark(&LegacyKey::Int(7)), "k7").await;
    assert!(
        matches!(result, Err(SourceError::Unavailable { .. })),
        "{result:?}"
    );
}

/// The test servers speak no TLS: `tls = "require"` and `"verify-full"` refuse to connect,
/// naming TLS, rather than falling back to plaintext; `"prefer"` and `"disable"` connect.
pub async fn assert_tls_required_is_refused_by_a_plain_server(kind: &str, url: &str) {
    for mode in ["require", "verify-full"] {
        let rest =
            format!("table = 'users'\nkey = 'id'\nconnect_timeout_seconds = 5\ntls = '{mode}'");
        let result = config(kind, url, &rest).healthcheck("legacy").await;
        match result {
            Err(SourceError::Unavailable { reason, .. }) => {
                let lower = reason.to_lowercase();
                assert!(
                    lower.contains("tls") || lower.contains("ssl"),
                    "tls = {mode}: the reason names TLS: {reason}"
                );
                assert!(
                    reason.contains("***"),
                    "tls = {mode}: redacted URL: {reason}"
                );
            }
            other => {
                panic!("tls = {mode} against a plain server: expected Unavailable, got {other:?}")
            }
        }
    }
    for mode in ["prefer", "disable"] {
        let rest = format!("table = 'users'\nkey = 'id'\ntls = '{mode}'");
        config(kind, url, &rest)
            .healthcheck("legacy")
            .await
            .unwrap_or_else(|e| panic!("tls = {mode}: {e}"));
    }
}
