//! SQLite files in a temporary directory: the shared SQL cases, then what only SQLite has
//! (values typed by what they hold, a file that must exist, ASCII-only `lower()`).

use serde_json::json;
use sqlx::{Connection as _, Row as _, SqliteConnection};
use usher_core::LegacyKey;

use crate::common::*;
use crate::sql::{self, Db, sql_cases};

/// A fresh database file holding the fixture tables.
async fn fixture() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    usher_testkit::databases::sqlite(&path)
        .await
        .close()
        .await
        .unwrap();
    let db = Db {
        kind: "sqlite",
        url: path.to_str().unwrap().to_owned(),
        schema: None,
        dir: Some(dir),
    };
    db.execute(
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
    .await;
    db.insert_accounts().await;
    db
}

sql_cases!(fixture: every backend);
sql_cases!(fixture: query source with "");

#[tokio::test]
async fn values_map_to_json_by_what_they_hold() {
    let first = json!({
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
    });
    sql::assert_typed_rows(&fixture().await, first).await;
}

#[tokio::test]
async fn an_undecodable_value_names_the_record_and_the_column() {
    let rest = "table = 'users'\nkey = 'id'\ncolumns = ['id', 'email']\njson_columns = ['email']";
    sql::assert_undecodable_json_names_the_record_and_the_column(&fixture().await, rest).await;
}

#[tokio::test]
async fn a_missing_file_or_table_is_an_error_not_an_empty_source() {
    let db = fixture().await;
    let missing_table = db.source("table = 'nope'\nkey = 'id'").await;
    assert!(missing_table.healthcheck().await.is_err());
    let other = db.dir.as_ref().unwrap().path().join("absent.db");
    let missing_file = build(&config(
        "sqlite",
        other.to_str().unwrap(),
        "table = 'users'\nkey = 'id'",
    ))
    .await;
    assert!(missing_file.healthcheck().await.is_err());
    assert!(!other.exists(), "a source never creates the file");
}

#[tokio::test]
async fn lookup_folds_ascii_case_only_and_uses_an_index_on_the_lowered_column() {
    let db = fixture().await;
    db.execute(
        "INSERT INTO users (id, email) VALUES (300, 'émile@example.com');
         INSERT INTO users (id, email) VALUES (301, '  Stray.Spaces@Example.com ');
         CREATE INDEX users_email_lower ON users (lower(trim(email)));",
    )
    .await;
    let source = db.source("table = 'users'\nkey = 'id'").await;
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
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.url))
        .await
        .unwrap();
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
