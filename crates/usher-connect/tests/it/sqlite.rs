//! SQLite files in a temporary directory.

use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, Executor as _, Row as _, SqliteConnection};
use usher_core::{KeyRange, LegacyKey, SourceError};

use crate::common::*;

/// A fresh database file holding the fixture tables.
async fn fixture() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    conn.execute(
        r#"
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            code CHAR(8),
            age INT,
            active BOOLEAN,
            born DATE,
            created_at DATETIME,
            balance NUMERIC,
            score REAL,
            prefs JSON,
            avatar BLOB,
            "phone num" VARCHAR(32),
            note TEXT
        );
        INSERT INTO users VALUES (
            1, 'ann@example.com', 'AB      ', 42, 1, '1980-02-29', '2001-02-03 04:05:06',
            '1234.50', 1.5, '{"theme": "dark"}', X'00FF10', '+1 555 0100', 'héllo'
        );
        INSERT INTO users (id, email) VALUES (2, 'nulls@example.com'), (-5, 'neg@example.com'),
            (1099511627776, 'big@example.com');
        WITH RECURSIVE g(n) AS (SELECT 3 UNION ALL SELECT n + 1 FROM g WHERE n < 100)
            INSERT INTO users (id, email, "phone num")
            SELECT n, 'user' || n || '@example.com', '555-' || n FROM g;
        CREATE TABLE accounts (username TEXT COLLATE NOCASE PRIMARY KEY, email TEXT);
        "#,
    )
    .await
    .unwrap();
    for key in text_keys() {
        sqlx::query("INSERT INTO accounts VALUES (?, ?)")
            .bind(&key)
            .bind(format!("{key}@example.com"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

fn int(keys: &[i64]) -> Vec<LegacyKey> {
    keys.iter().copied().map(LegacyKey::Int).collect()
}

#[tokio::test]
async fn integer_keys_page_in_chunks_of_1_7_and_1000_each_row_once_in_order() {
    let (_dir, path) = fixture().await;
    let source = build(&config("sqlite", &path, "table = 'users'\nkey = 'id'")).await;
    assert_pages_in_key_order(source.as_ref(), &int(&int_keys())).await;
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
    source.healthcheck().await.unwrap();
}

#[tokio::test]
async fn text_keys_page_in_the_column_collation_not_byte_order() {
    let (_dir, path) = fixture().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let expected: Vec<LegacyKey> =
        sqlx::query_scalar::<_, String>("SELECT username FROM accounts ORDER BY username")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(LegacyKey::Text)
            .collect();
    assert_not_byte_order(&expected);
    let source = build(&config(
        "sqlite",
        &path,
        "table = 'accounts'\nkey = 'username'",
    ))
    .await;
    assert_pages_in_key_order(source.as_ref(), &expected).await;
    assert_partitions_cover(
        source.as_ref(),
        &expected,
        &[expected[10].clone(), expected[30].clone()],
    )
    .await;
}

#[tokio::test]
async fn until_partitions_cover_the_table_without_overlap() {
    let (_dir, path) = fixture().await;
    let source = build(&config("sqlite", &path, "table = 'users'\nkey = 'id'")).await;
    let (low, high) = source.key_bounds().await.unwrap().unwrap();
    assert_eq!(
        (low, high),
        (LegacyKey::Int(-5), LegacyKey::Int(1_099_511_627_776))
    );
    assert_partitions_cover(
        source.as_ref(),
        &int(&int_keys()),
        &[LegacyKey::Int(2), LegacyKey::Int(50), LegacyKey::Int(100)],
    )
    .await;
}

#[tokio::test]
async fn values_map_to_json_by_what_they_hold() {
    let (_dir, path) = fixture().await;
    let source = build(&config("sqlite", &path, "table = 'users'\nkey = 'id'")).await;
    let range = KeyRange {
        after: Some(LegacyKey::Int(0)),
        until: Some(LegacyKey::Int(2)),
    };
    let records = source.read(&range, 10).await.unwrap();
    assert_eq!(
        records[0].to_json(),
        json!({
            "id": 1,
            "email": "ann@example.com",
            "code": "AB      ",
            "age": 42,
            "active": true,
            "born": "1980-02-29",
            "created_at": "2001-02-03 04:05:06",
            // NUMERIC affinity stored '1234.50' as the REAL 1234.5.
            "balance": 1234.5,
            "score": 1.5,
            "prefs": {"theme": "dark"},
            "avatar": "AP8Q",
            "phone num": "+1 555 0100",
            "note": "héllo",
        })
    );
    for (column, value) in records[1].to_json().as_object().unwrap() {
        if column != "id" && column != "email" {
            assert_eq!(value, &json!(null), "{column}");
        }
    }
}

#[tokio::test]
async fn a_query_source_is_filtered_by_key_and_keeps_its_own_columns() {
    let (_dir, path) = fixture().await;
    let source = build(&config(
        "sqlite",
        &path,
        "query = \"SELECT id, upper(email) AS shout FROM users WHERE id % 2 = 0\"\nkey = 'id'",
    ))
    .await;
    let records = read_all(source.as_ref(), &KeyRange::default(), 7).await;
    let expected: Vec<i64> = int_keys().into_iter().filter(|k| k % 2 == 0).collect();
    assert_eq!(keys(&records), int(&expected));
    assert_eq!(
        records[0].to_json(),
        json!({"id": 2, "shout": "NULLS@EXAMPLE.COM"})
    );
}

#[tokio::test]
async fn an_undecodable_value_names_the_record_and_the_column() {
    let (_dir, path) = fixture().await;
    let source = build(&config(
        "sqlite",
        &path,
        "table = 'users'\nkey = 'id'\ncolumns = ['id', 'email']\njson_columns = ['email']",
    ))
    .await;
    let err = source.read(&KeyRange::default(), 5).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Query { reason, .. }
            if reason.contains("record -5") && reason.contains("\"email\"")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_file_or_table_is_an_error_not_an_empty_source() {
    let (dir, path) = fixture().await;
    let missing_table = build(&config("sqlite", &path, "table = 'nope'\nkey = 'id'")).await;
    assert!(missing_table.healthcheck().await.is_err());
    let other = dir.path().join("absent.db");
    let missing_file = build(&config(
        "sqlite",
        other.to_str().unwrap(),
        "table = 'users'\nkey = 'id'",
    ))
    .await;
    assert!(missing_file.healthcheck().await.is_err());
    assert!(!other.exists(), "a source never creates the file");
}

async fn add_twins(path: &str) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    conn.execute(TWINS_SQL).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn lookup_finds_rows_ignoring_case_in_key_order_and_refuses_hostile_fields() {
    let (_dir, path) = fixture().await;
    add_twins(&path).await;
    let source = build(&config("sqlite", &path, "table = 'users'\nkey = 'id'")).await;
    assert_lookups_on_users(source.as_ref()).await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, int_keys().len() as i64 + 2);
}

#[tokio::test]
async fn lookup_through_a_query_source_sees_only_the_query() {
    let (_dir, path) = fixture().await;
    add_twins(&path).await;
    let source = build(&config(
        "sqlite",
        &path,
        "query = \"SELECT id, email AS login, note FROM users WHERE id > 0\"\nkey = 'id'",
    ))
    .await;
    assert_lookups_through_a_query(source.as_ref()).await;
}

#[tokio::test]
async fn lookup_by_a_field_outside_the_configured_columns_is_refused() {
    let (_dir, path) = fixture().await;
    let source = build(&config(
        "sqlite",
        &path,
        "table = 'accounts'\nkey = 'username'\ncolumns = ['email']",
    ))
    .await;
    assert_lookups_limited_to_columns(source.as_ref()).await;
}

#[tokio::test]
async fn lookup_folds_ascii_case_only_and_uses_an_index_on_the_lowered_column() {
    let (_dir, path) = fixture().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    conn.execute(
        "INSERT INTO users (id, email) VALUES (300, 'émile@example.com');
         INSERT INTO users (id, email) VALUES (301, '  Stray.Spaces@Example.com ');
         CREATE INDEX users_email_lower ON users (lower(trim(email)));",
    )
    .await
    .unwrap();
    let source = build(&config("sqlite", &path, "table = 'users'\nkey = 'id'")).await;
    // As documented: SQLite's lower() leaves non-ASCII letters alone.
    let ascii = source
        .lookup("email", "éMILE@EXAMPLE.COM", 2)
        .await
        .unwrap();
    assert_eq!(keys(&ascii), vec![LegacyKey::Int(300)]);
    let accented = source
        .lookup("email", "ÉMILE@example.com", 2)
        .await
        .unwrap();
    assert!(accented.is_empty(), "{:?}", keys(&accented));
    // Stray spaces in legacy (which the mapping's `trim` removes at backfill) do not lock the
    // user out: the lookup trims both sides (issue 11 item 6).
    for typed in ["stray.spaces@example.com", " STRAY.SPACES@example.com"] {
        let found = source.lookup("email", typed, 2).await.unwrap();
        assert_eq!(keys(&found), vec![LegacyKey::Int(301)], "{typed:?}");
    }
    // The very statement the source's lookup runs is answered from the expression index the
    // module docs recommend.
    let statement = source.lookup_statement("email").await.unwrap().unwrap();
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {statement}"
    )))
    .bind("x")
    .bind(2_i64)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>("detail"))
    .collect();
    assert!(
        plan.iter().any(|line| line.contains("users_email_lower")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn write_back_marks_exactly_the_migrated_record_through_its_own_writable_connection() {
    let (_dir, path) = fixture().await;
    assert_write_back_marks_exactly_the_record("sqlite", &path).await;
}
