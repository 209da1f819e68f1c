//! MariaDB, started by scripts/test-services: the shared SQL cases, then what only MySQL and
//! MariaDB have (their types, JSON as checked LONGTEXT).

use serde_json::json;
use usher_testkit::databases::Database;

use crate::sql::{self, Db, sql_cases};

/// A fresh database holding the fixture tables.
async fn fixture() -> Db {
    let url = Database::mysql("usher_my").await.url;
    // The schema option names the database.
    let name = url.rsplit('/').next().unwrap().to_owned();
    let db = Db {
        kind: "mysql",
        url,
        schema: Some(name),
        dir: None,
    };
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
        db.execute(statement).await;
    }
    let rows: Vec<String> = (3..=100)
        .map(|i| format!("({i}, 'user{i}@example.com', '555-{i}')"))
        .collect();
    db.execute(&format!(
        "INSERT INTO users (id, email, `phone num`) VALUES {}",
        rows.join(", ")
    ))
    .await;
    db.insert_accounts().await;
    db
}

sql_cases!(fixture: every backend);
sql_cases!(fixture: servers);

#[tokio::test]
async fn column_types_map_to_the_documented_json() {
    let first = json!({
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
    });
    sql::assert_typed_rows(&fixture().await, first).await;
}

#[tokio::test]
async fn a_query_source_is_filtered_by_key_and_keeps_its_own_columns() {
    let query = "SELECT id, UPPER(email) AS shout, prefs FROM users WHERE id % 2 = 0";
    let rest = format!(
        "query = \"{query}\"\nkey = 'id'\njson_columns = ['prefs']\nstatement_timeout_seconds = 30"
    );
    let first = json!({"id": 2, "shout": "NULLS@EXAMPLE.COM", "prefs": null});
    sql::assert_query_source_of_even_ids(&fixture().await, &rest, first).await;
}

#[tokio::test]
async fn the_mariadb_alias_reads_the_same_source() {
    let db = fixture().await;
    let mariadb = Db {
        kind: "mariadb",
        ..db
    };
    sql::lookup_through_a_query_source_sees_only_the_query(mariadb).await;
}
