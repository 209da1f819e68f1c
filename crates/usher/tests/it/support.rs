//! Shared helpers: the binary, configs, SQLite legacy tables. The test services and their
//! databases come from `usher_testkit`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sqlx::AssertSqlSafe;

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
    let mut conn = usher_testkit::databases::sqlite(path).await;
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

/// A small deterministic RNG for kill points, seeded from the clock and printed, so a
/// failing run can be replayed with USHER_KILL_SEED.
pub fn kill_points(n: usize) -> (u64, Vec<Duration>) {
    let seed = std::env::var("USHER_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut x = seed | 1;
    let points = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(100 + x % 900)
        })
        .collect();
    (seed, points)
}
