//! Shared helpers: real databases from the test services, the binary, configs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::{AssertSqlSafe, Connection as _};

/// The superuser URL of the throwaway PostgreSQL cluster `scripts/test-services` starts.
/// Missing means the services are not running: fail loudly, never skip.
pub fn postgres_admin_url() -> String {
    std::env::var("USHER_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("USHER_TEST_POSTGRES_URL is not set: run the tests with scripts/test, or start the databases with `eval \"$(scripts/test-services start)\"`")
    })
}

/// A fresh, uniquely named PostgreSQL database; returns its URL. Dropped by [`drop_database`].
pub async fn create_database(prefix: &str) -> (String, String) {
    let admin = postgres_admin_url();
    let name = format!("{prefix}_{}", uuid_suffix());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connecting to the test cluster");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    (with_database(&admin, &name), name)
}

/// A fresh MariaDB database from the test services; returns its URL. Missing services fail.
pub async fn create_mysql_database(prefix: &str) -> String {
    let admin = std::env::var("USHER_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!("USHER_TEST_MYSQL_URL is not set: run the tests with scripts/test, or start the databases with `eval \"$(scripts/test-services start)\"`")
    });
    let name = format!("{prefix}_{}", uuid_suffix());
    let mut conn = sqlx::MySqlConnection::connect(&admin)
        .await
        .expect("connecting to the test MariaDB");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    with_database(&admin, &name)
}

pub async fn drop_database(name: &str) {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connecting to the test cluster");
    let _ = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}

/// `admin` with its database path replaced by `db`.
fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Runs the usher binary to completion.
pub fn usher(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("usher runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a usher.toml into `dir` and returns its path.
/// `mapping` is what `usher fake` printed on stdout.
pub fn write_config(dir: &Path, store: &str, source: &str, mapping: &str, extra: &str) -> PathBuf {
    let path = dir.join("usher.toml");
    std::fs::write(&path, format!("{store}\n{source}\n{mapping}\n{extra}\n")).unwrap();
    path
}

/// An SQLite legacy database at `path`: `ddl`, then each statement of `rows`.
pub async fn sqlite_legacy(path: &Path, ddl: &str, rows: &[&str]) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .unwrap();
    sqlx::query(AssertSqlSafe(ddl.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    for row in rows {
        sqlx::query(AssertSqlSafe((*row).to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();
}

/// The numbers after `key` in `text`: `"migrated 3"` → 3.
pub fn figure(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {text}"));
    text[at + key.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure after {key:?} in {text}"))
}
