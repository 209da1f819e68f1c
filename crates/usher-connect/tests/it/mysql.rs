//! MariaDB, started by scripts/test-services.

use serde_json::json;
use sqlx::{Connection as _, Executor as _, MySqlConnection};
use usher_core::{KeyRange, LegacyKey, SourceError};

use crate::common::*;

const VAR: &str = "USHER_TEST_MYSQL_URL";

/// A fresh database holding the fixture tables; returns its URL.
async fn fixture() -> String {
    let admin = service_url(VAR);
    let db = unique_db_name("usher_my");
    let mut conn = MySqlConnection::connect(&admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let url = with_database(&admin, &db);
    let mut conn = MySqlConnection::connect(&url).await.unwrap();
    let statements = [
        r#"CREATE TABLE users (
            id BIGINT PRIMARY KEY,
            email VARCHAR(255) NOT NULL,
            code CHAR(8),
            age INT,
            visits BIGINT UNSIGNED,
            small TINYINT,
            active TINYINT(1),
            born DATE,
            created_at DATETIME(6),
            seen_at TIMESTAMP NULL,
            balance DECIMAL(14,4),
            score DOUBLE,
            ratio FLOAT,
            prefs JSON,
            avatar BLOB,
            hash_bin VARBINARY(16),
            uid CHAR(36),
            login_time TIME,
            status ENUM('active', 'banned'),
            legacy_date DATE,
            `phone num` VARCHAR(32),
            note TEXT
        ) DEFAULT CHARSET = utf8mb4"#,
        r#"INSERT INTO users VALUES (
            1, 'ann@example.com', 'AB', 42, 18446744073709551615, -3, 1, '1980-02-29',
            '2001-02-03 04:05:06.250000', '2001-02-03 04:05:06', 1234.5000, 1.5, 0.1,
            '{"theme": "dark", "n": [1, 2]}', X'00FF10', X'DEADBEEF',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '-100:00:01', 'banned', '0000-00-00',
            '+1 555 0100', 'héllo'
        )"#,
        "INSERT INTO users (id, email) VALUES (2, 'nulls@example.com'), (-5, 'neg@example.com'),
            (1099511627776, 'big@example.com')",
        "CREATE TABLE accounts (username VARCHAR(64) PRIMARY KEY, email TEXT)
            DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
    ];
    for statement in statements {
        conn.execute(statement).await.unwrap();
    }
    let rows: Vec<String> = (3..=100)
        .map(|i| format!("({i}, 'user{i}@example.com', '555-{i}')"))
        .collect();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, email, `phone num`) VALUES {}",
        rows.join(", ")
    )))
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
    url
}

async fn db_order(url: &str, sql: &'static str) -> Vec<LegacyKey> {
    let mut conn = MySqlConnection::connect(url).await.unwrap();
    let keys: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
    keys.into_iter().map(LegacyKey::Text).collect()
}

fn int(keys: &[i64]) -> Vec<LegacyKey> {
    keys.iter().copied().map(LegacyKey::Int).collect()
}

#[tokio::test]
async fn integer_keys_page_in_chunks_of_1_7_and_1000_each_row_once_in_order() {
    let url = fixture().await;
    let source = build(&config("mysql", &url, "table = 'users'\nkey = 'id'")).await;
    assert_pages_in_key_order(source.as_ref(), &int(&int_keys())).await;
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
}

#[tokio::test]
async fn text_keys_page_in_the_column_collation_not_byte_order() {
    let url = fixture().await;
    let expected = db_order(&url, "SELECT username FROM accounts ORDER BY username").await;
    assert_eq!(expected.len(), text_keys().len());
    assert_not_byte_order(&expected);
    let source = build(&config(
        "mariadb",
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
    let (low, high) = source.key_bounds().await.unwrap().unwrap();
    assert_eq!(&low, expected.first().unwrap());
    assert_eq!(&high, expected.last().unwrap());
}

#[tokio::test]
async fn until_partitions_cover_the_table_without_overlap() {
    let url = fixture().await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let source = build(&config(
        "mysql",
        &url,
        &format!("schema = '{db}'\ntable = 'users'\nkey = 'id'"),
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
    let source = build(&config("mysql", &url, "table = 'users'\nkey = 'id'")).await;
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
            // MySQL strips CHAR padding on the way out; usher keeps what the server sends.
            "code": "AB",
            "age": 42,
            "visits": 18_446_744_073_709_551_615_u64,
            "small": -3,
            "active": true,
            "born": "1980-02-29",
            "created_at": "2001-02-03T04:05:06.250",
            "seen_at": "2001-02-03T04:05:06Z",
            "balance": "1234.5000",
            "score": 1.5,
            "ratio": 0.1,
            // MariaDB's JSON is LONGTEXT with a json_valid check, found and parsed.
            "prefs": {"theme": "dark", "n": [1, 2]},
            "avatar": "AP8Q",
            "hash_bin": "3q2+7w==",
            "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "login_time": "-100:00:01",
            "status": "banned",
            "legacy_date": null,
            "phone num": "+1 555 0100",
            "note": "héllo",
        })
    );
    let nulls = records[1].to_json();
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
        "mysql",
        &url,
        "query = \"SELECT id, UPPER(email) AS shout, prefs FROM users WHERE id % 2 = 0\"\nkey = 'id'\njson_columns = ['prefs']\nstatement_timeout_seconds = 30",
    ))
    .await;
    let records = read_all(source.as_ref(), &KeyRange::default(), 7).await;
    let expected: Vec<i64> = int_keys().into_iter().filter(|k| k % 2 == 0).collect();
    assert_eq!(keys(&records), int(&expected));
    assert_eq!(
        records[0].to_json(),
        json!({"id": 2, "shout": "NULLS@EXAMPLE.COM", "prefs": null})
    );
    assert_eq!(source.count().await.unwrap(), Some(expected.len() as u64));
}

#[tokio::test]
async fn columns_limit_the_fields() {
    let url = fixture().await;
    let source = build(&config(
        "mysql",
        &url,
        "table = 'users'\nkey = 'id'\ncolumns = ['email', 'phone num']",
    ))
    .await;
    let first = source.read(&KeyRange::default(), 1).await.unwrap();
    assert_eq!(
        first[0].to_json(),
        json!({"email": "neg@example.com", "phone num": null})
    );
}

#[tokio::test]
async fn a_wrong_password_is_unavailable_and_the_password_never_shows() {
    let url = with_password(&fixture().await, "wrong-secret-481");
    let config = config("mysql", &url, "table = 'users'\nkey = 'id'");
    assert_unavailable_without_secret(config.healthcheck("legacy").await, "wrong-secret-481");
}

#[tokio::test]
async fn a_down_server_is_unavailable_and_the_password_never_shows() {
    let url = with_password(&with_dead_port(&service_url(VAR)), "down-secret-733");
    let config = config(
        "mysql",
        &url,
        "table = 'users'\nkey = 'id'\nconnect_timeout_seconds = 1",
    );
    assert_unavailable_without_secret(config.healthcheck("legacy").await, "down-secret-733");
}

#[tokio::test]
async fn invalid_json_in_a_json_column_names_the_record_and_the_column() {
    let url = fixture().await;
    let source = build(&config(
        "mysql",
        &url,
        "query = 'SELECT id, email FROM users'\nkey = 'id'\njson_columns = ['email']",
    ))
    .await;
    let err = source.read(&KeyRange::default(), 5).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Query { reason, .. }
            if reason.contains("record -5") && reason.contains("\"email\"")),
        "{err:?}"
    );
}

async fn add_twins(url: &str) {
    let mut conn = MySqlConnection::connect(url).await.unwrap();
    conn.execute(TWINS_SQL).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn lookup_finds_rows_ignoring_case_in_key_order_and_refuses_hostile_fields() {
    let url = fixture().await;
    add_twins(&url).await;
    let source = build(&config("mysql", &url, "table = 'users'\nkey = 'id'")).await;
    assert_lookups_on_users(source.as_ref()).await;
    let mut conn = MySqlConnection::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
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
        "mariadb",
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
        "mysql",
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
        "mysql",
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
async fn write_back_marks_exactly_the_migrated_record() {
    let url = fixture().await;
    assert_write_back_marks_exactly_the_record("mysql", &url).await;
}

#[tokio::test]
async fn write_back_against_a_down_server_is_unavailable() {
    let url = with_dead_port(&fixture().await);
    assert_write_back_to_a_down_server_is_unavailable("mysql", &url).await;
}

#[tokio::test]
async fn tls_that_a_plain_server_cannot_give_is_refused_not_skipped() {
    assert_tls_required_is_refused_by_a_plain_server("mysql", &fixture().await).await;
}
