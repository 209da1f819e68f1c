//! Login bridges over a fresh SQLite store and a legacy SQLite table `legacy.db` whose hashes
//! come from independent implementations: libxcrypt's md5-crypt and PHP's `password_hash`
//! bcrypt; and the table as a plain source with its mapper, for a backfill.

use std::path::Path;
use std::sync::Arc;

use sqlx::Connection as _;
use usher_bridge::{Bridge, HashPool, HashSource, HttpWriteBack};
use usher_core::{Mapper, Source};
use usher_hash::Policy;

use crate::{policy, store};

/// libxcrypt's md5-crypt of "password".
pub const MD5_CRYPT: &str = "$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0";
/// PHP `password_hash("password", PASSWORD_BCRYPT)` as Laravel's docs print it.
pub const BCRYPT: &str = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi";

pub const MAPPING: &str = r#"
[fields]
email = "email"
username = "username"

[password]
hash = "pw"
"#;

/// A bridge over a fresh store and the two-row legacy table (ann: md5-crypt, bo: bcrypt), with
/// a cheap Argon2id policy, so the tests spend their time on the flow, not on hashing.
pub async fn bridge(dir: &Path) -> Bridge {
    bridge_with(dir, HashPool::new(2, 64), policy()).await
}

/// A bridge over a fresh SQLite store and legacy table, hashing on `pool` under `policy`.
pub async fn bridge_with(dir: &Path, pool: HashPool, policy: Policy) -> Bridge {
    bridge_writing_back(dir, pool, policy, None).await
}

/// As [`bridge_with`], telling legacy of each migration over HTTP with `http_write_back`.
pub async fn bridge_writing_back(
    dir: &Path,
    pool: HashPool,
    policy: Policy,
    http_write_back: Option<Arc<HttpWriteBack>>,
) -> Bridge {
    legacy_table(
        dir,
        &[
            (1, "Ann.Lee@Example.com", "ann", MD5_CRYPT),
            (2, "bo@example.com", "bo", BCRYPT),
        ],
    )
    .await;
    open_bridge(dir, pool, policy, http_write_back).await
}

/// The legacy table `legacy.db` in `dir`: (id, email, username, pw) rows.
pub async fn legacy_table(dir: &Path, rows: &[(i64, &str, &str, &str)]) {
    let mut conn = crate::databases::sqlite(&dir.join("legacy.db")).await;
    sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, pw TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    for &(id, email, username, pw) in rows {
        sqlx::query("INSERT INTO users VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(email)
            .bind(username)
            .bind(pw)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

/// Runs `sql` on the legacy table's database in `dir`.
pub async fn run_legacy_sql(dir: &Path, sql: &str) {
    let mut conn = crate::databases::sqlite(&dir.join("legacy.db")).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The text column `column` of every legacy row in `dir`, in id order.
pub async fn legacy_column(dir: &Path, column: &str) -> Vec<String> {
    let mut conn = crate::databases::sqlite(&dir.join("legacy.db")).await;
    let sql = format!("SELECT {column} FROM users ORDER BY id");
    let values = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    values
}

/// A second bridge over the store and legacy table [`bridge`] made in `dir`.
pub async fn bridge_reopened(dir: &Path) -> Bridge {
    open_bridge(dir, HashPool::new(2, 64), policy(), None).await
}

/// A bridge over `dir`'s store and legacy table, mapped by [`MAPPING`].
pub async fn open_bridge(
    dir: &Path,
    pool: HashPool,
    policy: Policy,
    http_write_back: Option<Arc<HttpWriteBack>>,
) -> Bridge {
    open_bridge_mapped(dir, MAPPING, pool, policy, http_write_back).await
}

/// As [`open_bridge`], mapping legacy's rows with `mapping`.
pub async fn open_bridge_mapped(
    dir: &Path,
    mapping: &str,
    pool: HashPool,
    policy: Policy,
    http_write_back: Option<Arc<HttpWriteBack>>,
) -> Bridge {
    let source = hash_source(&legacy_toml(dir), mapping, &["username"], http_write_back).await;
    Bridge::new(Arc::from(store(dir).await), vec![source], pool, policy).unwrap()
}

/// The source table that reads [`legacy_table`]'s `users` in `dir`, keyed by `id`.
pub fn legacy_toml(dir: &Path) -> String {
    format!(
        "type = \"sqlite\"\npath = {:?}\ntable = \"users\"\nkey = \"id\"\n",
        dir.join("legacy.db").to_str().unwrap()
    )
}

/// The source `source_toml` describes (a `[sources.<name>]` table), named `legacy`.
pub async fn source(source_toml: &str) -> Box<dyn Source> {
    let source: usher_connect::SourceConfig = toml::from_str(source_toml).unwrap();
    source.build("legacy").await.unwrap()
}

/// The mapper of the `[mappings.<name>]` table `mapping`, such as [`MAPPING`].
pub fn mapper(mapping: &str) -> Mapper {
    let mapping: usher_core::MappingConfig = toml::from_str(mapping).unwrap();
    Mapper::new(&mapping).unwrap()
}

/// The legacy source `source_toml` describes, named `legacy`, mapped with `mapping`; login
/// identifiers are looked up in its `email` field, or in `username_fields`.
pub async fn hash_source(
    source_toml: &str,
    mapping: &str,
    username_fields: &[&str],
    http_write_back: Option<Arc<HttpWriteBack>>,
) -> HashSource {
    HashSource {
        source: Arc::from(source(source_toml).await),
        mapper: Arc::new(mapper(mapping)),
        email_fields: vec!["email".into()],
        username_fields: username_fields.iter().map(|f| (*f).to_owned()).collect(),
        http_write_back,
    }
}
