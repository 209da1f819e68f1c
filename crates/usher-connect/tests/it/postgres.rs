//! PostgreSQL 15, started by scripts/test-services.

use serde_json::json;
use sqlx::{Connection as _, Executor as _, PgConnection};
use usher_core::{KeyRange, LegacyKey, SourceError};

use crate::common::*;

const VAR: &str = "USHER_TEST_POSTGRES_URL";

/// A fresh database holding the fixture tables; returns its URL.
async fn fixture() -> String {
    let admin = service_url(VAR);
    let db = unique_db_name("usher_pg");
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let url = with_database(&admin, &db);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute(
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
    .await
    .unwrap();
    for key in text_keys() {
        sqlx::query("INSERT INTO accounts VALUES ($1, $2)")
            .bind(&key)
            .bind(format!("{key}@example.com"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    url
}

async fn db_order(url: &str, sql: &'static str) -> Vec<LegacyKey> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let keys: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
    keys.into_iter().map(LegacyKey::Text).collect()
}

fn int(keys: &[i64]) -> Vec<LegacyKey> {
    keys.iter().copied().map(LegacyKey::Int).collect()
}

#[tokio::test]
async fn integer_keys_page_in_chunks_of_1_7_and_1000_each_row_once_in_order() {
    let url = fixture().await;
    let source = build(&config("postgres", &url, "table = 'users'\nkey = 'id'")).await;
    assert_pages_in_key_order(source.as_ref(), &int(&int_keys())).await;
}

#[tokio::test]
async fn text_keys_page_in_the_column_collation_not_byte_order() {
    let url = fixture().await;
    let expected = db_order(&url, "SELECT username FROM accounts ORDER BY username").await;
    assert_eq!(expected.len(), text_keys().len());
    assert_not_byte_order(&expected);
    let source = build(&config(
        "postgres",
        &url,
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
    let url = fixture().await;
    let source = build(&config(
        "postgres",
        &url,
        "schema = 'public'\ntable = 'users'\nkey = 'id'",
    ))
    .await;
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
async fn column_types_map_to_the_documented_json() {
    let url = fixture().await;
    let source = build(&config("postgres", &url, "table = 'users'\nkey = 'id'")).await;
    let range = KeyRange {
        after: Some(LegacyKey::Int(0)),
        until: Some(LegacyKey::Int(2)),
    };
    let records = source.read(&range, 10).await.unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].to_json(),
        json!({
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
        })
    );
    let nulls = records[1].to_json();
    assert_eq!(nulls["email"], json!("nulls@example.com"));
    for (column, value) in nulls.as_object().unwrap() {
        if column != "id" && column != "email" {
            assert_eq!(value, &json!(null), "{column}");
        }
    }
}

#[tokio::test]
async fn a_query_source_is_filtered_by_key_and_keeps_its_own_columns() {
    let url = fixture().await;
    let source = build(&config(
        "postgres",
        &url,
        "query = \"SELECT id, upper(email) AS shout FROM users WHERE id % 2 = 0\"\nkey = 'id'\nmax_connections = 1",
    ))
    .await;
    let records = read_all(source.as_ref(), &KeyRange::default(), 7).await;
    let expected: Vec<i64> = int_keys().into_iter().filter(|k| k % 2 == 0).collect();
    assert_eq!(keys(&records), int(&expected));
    assert_eq!(
        records[0].to_json(),
        json!({"id": 2, "shout": "NULLS@EXAMPLE.COM"})
    );
    // A query is counted exactly.
    assert_eq!(source.count().await.unwrap(), Some(expected.len() as u64));
}

#[tokio::test]
async fn columns_limit_the_fields_and_count_is_close() {
    let url = fixture().await;
    let source = build(&config(
        "postgres",
        &url,
        "table = 'users'\nkey = 'id'\ncolumns = ['email', 'phone num']",
    ))
    .await;
    let first = source.read(&KeyRange::default(), 1).await.unwrap();
    assert_eq!(
        first[0].to_json(),
        json!({"email": "neg@example.com", "phone num": null})
    );
    // Never analyzed: the exact count. After ANALYZE: the planner's estimate.
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute("ANALYZE users").await.unwrap();
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
}

#[tokio::test]
async fn a_wrong_password_is_unavailable_and_the_password_never_shows() {
    let url = with_password(&fixture().await, "wrong-secret-481");
    let config = config("postgres", &url, "table = 'users'\nkey = 'id'");
    assert_unavailable_without_secret(config.healthcheck("legacy").await, "wrong-secret-481");
}

#[tokio::test]
async fn a_down_server_is_unavailable_and_the_password_never_shows() {
    let url = with_password(&with_dead_port(&service_url(VAR)), "down-secret-733");
    let config = config(
        "postgres",
        &url,
        "table = 'users'\nkey = 'id'\nconnect_timeout_seconds = 1",
    );
    assert_unavailable_without_secret(config.healthcheck("legacy").await, "down-secret-733");
}

#[tokio::test]
async fn a_statement_over_its_timeout_is_unavailable() {
    let url = fixture().await;
    let source = build(&config(
        "postgres",
        &url,
        "query = 'SELECT id, pg_sleep(3) AS slept FROM users'\nkey = 'id'\nstatement_timeout_seconds = 1",
    ))
    .await;
    let err = source.read(&KeyRange::default(), 1).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Unavailable { reason, .. } if reason.contains("statement timeout")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_table_and_an_unsupported_key_are_clear_errors() {
    let url = fixture().await;
    let missing = build(&config("postgres", &url, "table = 'nope'\nkey = 'id'")).await;
    let err = missing.healthcheck().await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Query { reason, .. } if reason.contains("nope")),
        "{err:?}"
    );
    let float_key = build(&config("postgres", &url, "table = 'users'\nkey = 'score'")).await;
    let err = float_key.healthcheck().await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Config { reason, .. } if reason.contains("score")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rows_with_a_null_key_fail_the_healthcheck_naming_the_key_column() {
    let url = fixture().await;
    let source = build(&config(
        "postgres",
        &url,
        "query = 'SELECT NULLIF(id, 50) AS uid, email FROM users'\nkey = 'uid'",
    ))
    .await;
    let err = source.healthcheck().await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Query { reason, .. } if reason.contains("NULL key column \"uid\"")),
        "{err:?}"
    );
    // Reads by key cannot reach such a row, from the start or after a cursor alike.
    let read = read_all(source.as_ref(), &KeyRange::default(), 7).await;
    assert_eq!(read.len(), int_keys().len() - 1);
}

async fn add_twins(url: &str) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    conn.execute(TWINS_SQL).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn lookup_finds_rows_ignoring_case_in_key_order_and_refuses_hostile_fields() {
    let url = fixture().await;
    add_twins(&url).await;
    let source = build(&config("postgres", &url, "table = 'users'\nkey = 'id'")).await;
    assert_lookups_on_users(source.as_ref()).await;
    // The hostile field names left the table alone, as the server sees it too.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, int_keys().len() as i64 + 2);
}

#[tokio::test]
async fn lookup_through_a_query_source_sees_only_the_query() {
    let url = fixture().await;
    add_twins(&url).await;
    let source = build(&config(
        "postgres",
        &url,
        "query = \"SELECT id, email AS login, note FROM users WHERE id > 0\"\nkey = 'id'",
    ))
    .await;
    assert_lookups_through_a_query(source.as_ref()).await;
}

#[tokio::test]
async fn lookup_by_a_field_outside_the_configured_columns_is_refused() {
    let url = fixture().await;
    let source = build(&config(
        "postgres",
        &url,
        "table = 'accounts'\nkey = 'username'\ncolumns = ['email']",
    ))
    .await;
    assert_lookups_limited_to_columns(source.as_ref()).await;
}

#[tokio::test]
async fn lookup_against_a_down_server_is_unavailable_but_limit_0_asks_nothing() {
    let url = with_password(&with_dead_port(&service_url(VAR)), "down-secret-733");
    let source = build(&config(
        "postgres",
        &url,
        "table = 'users'\nkey = 'id'\nconnect_timeout_seconds = 1",
    ))
    .await;
    assert!(
        source
            .lookup("email", "ann@example.com", 0)
            .await
            .unwrap()
            .is_empty()
    );
    let result = source.lookup("email", "ann@example.com", 2).await;
    assert_unavailable_without_secret(result.map(|_| ()), "down-secret-733");
}

#[tokio::test]
async fn lookup_uses_an_index_on_the_lowered_column() {
    let url = fixture().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute("CREATE INDEX users_email_lower ON users (lower(trim(email))); ANALYZE users")
        .await
        .unwrap();
    // The very statement the source's lookup runs, with the planner pushed away from a
    // sequential scan of the small fixture.
    let source = build(&config("postgres", &url, "table = 'users'\nkey = 'id'")).await;
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

#[tokio::test]
async fn write_back_marks_exactly_the_migrated_record() {
    let url = fixture().await;
    assert_write_back_marks_exactly_the_record("postgres", &url).await;
}

#[tokio::test]
async fn write_back_against_a_down_server_is_unavailable() {
    let url = with_dead_port(&fixture().await);
    assert_write_back_to_a_down_server_is_unavailable("postgres", &url).await;
}

#[tokio::test]
async fn tls_that_a_plain_server_cannot_give_is_refused_not_skipped() {
    assert_tls_required_is_refused_by_a_plain_server("postgres", &fixture().await).await;
}
