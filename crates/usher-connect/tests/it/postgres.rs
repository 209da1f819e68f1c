//! PostgreSQL 15, started by scripts/test-services: the shared SQL cases, then what only
//! PostgreSQL has (its types, its count estimate, its statement timeout, its planner).

use serde_json::json;
use sqlx::{Connection as _, Executor as _, PgConnection};
use usher_core::{KeyRange, Source};

use usher_testkit::databases::Database;

use crate::common::*;
use crate::sql::{self, Db, sql_cases};

/// A fresh database holding the fixture tables.
async fn fixture() -> Db {
    let db = Db {
        kind: "postgres",
        url: Database::postgres("usher_pg").await.url,
        schema: Some("public".to_owned()),
        dir: None,
    };
    db.execute(
        r#"
        CREATE TABLE users (
            id bigint PRIMARY KEY,
            email varchar(255) NOT NULL,
            code char(8),
            age int,
            visits bigint,
            small smallint,
            active boolean,
            born date,
            created_at timestamp,
            seen_at timestamptz,
            balance numeric(14,4),
            score double precision,
            ratio real,
            prefs jsonb,
            doc json,
            avatar bytea,
            uid uuid,
            login_time time,
            roles text[],
            mood_note interval,
            "phone num" varchar(32),
            note text
        );
        INSERT INTO users VALUES (
            1, 'ann@example.com', 'AB', 42, 9007199254740993, -3, true, '1980-02-29',
            '2001-02-03 04:05:06', '2001-02-03 05:05:06.25+01', 1234.5000, 1.5, 0.1,
            '{"theme": "dark", "n": [1, 2]}', '{"a": null}', '\x00ff10',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '13:14:15.5', ARRAY['admin', 'dev'],
            '1 day 02:00:00', '+1 555 0100', 'héllo'
        );
        INSERT INTO users (id, email) VALUES (2, 'nulls@example.com'), (-5, 'neg@example.com'),
            (1099511627776, 'big@example.com');
        INSERT INTO users (id, email, "phone num")
            SELECT g, 'user' || g || '@example.com', '555-' || g FROM generate_series(3, 100) g;
        CREATE TABLE accounts (
            username varchar(64) COLLATE "und-x-icu" PRIMARY KEY,
            email text
        );
        "#,
    )
    .await;
    db.insert_accounts().await;
    db
}

/// A source with the options `rest` over a fresh fixture.
async fn fixture_source(rest: &str) -> Box<dyn Source> {
    fixture().await.source(rest).await
}

sql_cases!(fixture: every backend);
sql_cases!(fixture: query source with "\nmax_connections = 1");
sql_cases!(fixture: servers);

#[tokio::test]
async fn column_types_map_to_the_documented_json() {
    let first = json!({
        "id": 1,
        "email": "ann@example.com",
        "code": "AB      ",
        "age": 42,
        "visits": 9_007_199_254_740_993_i64,
        "small": -3,
        "active": true,
        "born": "1980-02-29",
        "created_at": "2001-02-03T04:05:06",
        "seen_at": "2001-02-03T04:05:06.250Z",
        "balance": "1234.5000",
        "score": 1.5,
        "ratio": 0.1,
        "prefs": {"theme": "dark", "n": [1, 2]},
        "doc": {"a": null},
        "avatar": "AP8Q",
        "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "login_time": "13:14:15.500",
        "roles": ["admin", "dev"],
        "mood_note": "1 day 02:00:00",
        "phone num": "+1 555 0100",
        "note": "héllo",
    });
    sql::assert_typed_rows(&fixture().await, first).await;
}

#[tokio::test]
async fn count_is_exact_then_the_planners_estimate() {
    let db = fixture().await;
    let source = db
        .source("table = 'users'\nkey = 'id'\ncolumns = ['email', 'phone num']")
        .await;
    // Never analyzed: the exact count. After ANALYZE: the planner's estimate.
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
    db.execute("ANALYZE users").await;
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
}

#[tokio::test]
async fn a_statement_over_its_timeout_is_unavailable() {
    let source = fixture_source("query = 'SELECT id, pg_sleep(3) AS slept FROM users'\nkey = 'id'\nstatement_timeout_seconds = 1").await;
    let err = source.read(&KeyRange::default(), 1).await.unwrap_err();
    assert_reason!(err, Unavailable, "statement timeout");
}

#[tokio::test]
async fn a_missing_table_and_an_unsupported_key_are_clear_errors() {
    let db = fixture().await;
    let missing = db.source("table = 'nope'\nkey = 'id'").await;
    let err = missing.healthcheck().await.unwrap_err();
    assert_reason!(err, Query, "nope");
    let float_key = db.source("table = 'users'\nkey = 'score'").await;
    let err = float_key.healthcheck().await.unwrap_err();
    assert_reason!(err, Config, "score");
}

#[tokio::test]
async fn rows_with_a_null_key_fail_the_healthcheck_naming_the_key_column() {
    let source =
        fixture_source("query = 'SELECT NULLIF(id, 50) AS uid, email FROM users'\nkey = 'uid'")
            .await;
    let err = source.healthcheck().await.unwrap_err();
    assert_reason!(err, Query, "NULL key column \"uid\"");
    // Reads by key cannot reach such a row, from the start or after a cursor alike.
    let read = read_all(source.as_ref(), &KeyRange::default(), 7).await;
    assert_eq!(read.len(), int_keys().len() - 1);
}

#[tokio::test]
async fn lookup_uses_an_index_on_the_lowered_column() {
    let db = fixture().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute("CREATE INDEX users_email_lower ON users (lower(trim(email))); ANALYZE users")
        .await
        .unwrap();
    // The very statement the source's lookup runs, with the planner pushed away from a
    // sequential scan of the small fixture.
    let source = db.source("table = 'users'\nkey = 'id'").await;
    let statement = source.lookup_statement("email").await.unwrap().unwrap();
    assert!(statement.contains("lower(TRIM("), "{statement}");
    conn.execute("SET enable_seqscan = off").await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {statement}")))
        .bind("ANN@example.com")
        .bind(2_i64)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(
        plan.iter().any(|line| line.contains("users_email_lower")),
        "{plan:#?}"
    );
}
