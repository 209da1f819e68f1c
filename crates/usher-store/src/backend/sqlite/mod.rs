//! The SQLite store: one file, WAL journal, `synchronous=NORMAL`, foreign keys on.
//!
//! Writers are serialised in process (an async mutex) and in the file (`BEGIN IMMEDIATE`, with
//! a busy timeout for other processes), so a chunk's reads and writes see no concurrent change:
//! no row locks are needed. Chunks are written with prepared multi-row `INSERT`s,
//! [`INSERT_BATCH`] rows per statement ([`rows`]).
//!
//! Values are stored in SQLite's own types: UUIDs as hyphenated text, instants as integer
//! microseconds since the Unix epoch, JSON as text, dates as `%Y-%m-%d` text; lists are bound as
//! a JSON array and read with `json_each`.

mod rows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::error::BoxDynError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments as _, Pool, Sqlite};
use uuid::Uuid;

use super::{Arg, Backend, Bad, Locking, Tx, column, native_columns};
use crate::error::{Result, StoreError};

pub use rows::INSERT_BATCH;

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The user store in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// One writer at a time in this process; `BEGIN IMMEDIATE` covers other processes.
    write_lock: tokio::sync::Mutex<()>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // 32 MiB of page cache per connection (the OS caches the rest of the file): a
            // larger cache bought no speed at 1M users and cost RSS (64 MiB: 233 MiB peak).
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory")
            // Checkpoint the WAL every 64 MiB rather than 4 MiB: a chunk writes several MiB,
            // and index pages touched by many chunks are then copied back once, not each time.
            .pragma("wal_autocheckpoint", "16384");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                backend: "sqlite",
                target: path.display().to_string(),
                reason: e.to_string(),
            })?;
        tracing::info!(path = %path.display(), "Opened the SQLite store");
        Ok(Self {
            pool,
            path: path.to_owned(),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A list as the JSON array `json_each` reads.
fn json_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type DB = Sqlite;

    const NAME: &'static str = "sqlite";
    const MAX_PARTITION: u32 = u32::MAX;
    const LOCKING: Locking = Locking::Serialised {
        begin: "BEGIN IMMEDIATE",
    };
    const MIGRATIONS_TABLE_EXISTS: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = '_sqlx_migrations')";

    fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    fn write_lock(&self) -> Option<&tokio::sync::Mutex<()>> {
        Some(&self.write_lock)
    }

    fn push(args: &mut SqliteArguments, arg: Arg<'_>) -> Result<(), BoxDynError> {
        match arg {
            Arg::Text(v) | Arg::Json(v) => args.add(v),
            Arg::Int(v) => args.add(v),
            Arg::Bool(v) => args.add(v),
            Arg::Uuid(v) => args.add(v.hyphenated().to_string()),
            Arg::Instant(v) => args.add(v.map(|t| t.timestamp_micros())),
            Arg::Date(v) => args.add(v.map(|d| d.format("%Y-%m-%d").to_string())),
            Arg::List(v) => args.add(json_array(v)),
        }
    }

    fn in_list(column: &str, param: &str) -> String {
        // `IN (SELECT … json_each)` makes SQLite probe an index once per item; a join with
        // json_each would scan the whole table instead.
        format!("{column} IN (SELECT value FROM json_each({param}))")
    }

    /// Anonymous `?` placeholders: SQLite finds a numbered one's index by a linear search of
    /// the statement's parameter names, which makes binding thousands of them quadratic.
    fn values(rows: usize, columns: usize) -> String {
        let one = format!("({})", vec!["?"; columns].join(", "));
        vec![one; rows].join(", ")
    }

    fn bytewise(param: &str) -> String {
        // Text compares by bytes (BINARY) already.
        param.to_owned()
    }

    native_columns!(SqliteRow; text: String, int: i64, bool: bool);

    fn uuid(row: &SqliteRow, i: usize) -> Result<Option<Uuid>, Bad> {
        column::<String, _>(row, i)?
            .map(|t| Uuid::parse_str(&t).map_err(|e| Bad::Value(e.to_string())))
            .transpose()
    }

    fn instant(row: &SqliteRow, i: usize) -> Result<Option<DateTime<Utc>>, Bad> {
        column::<i64, _>(row, i)?
            .map(|m| {
                DateTime::from_timestamp_micros(m)
                    .ok_or_else(|| Bad::Value(format!("{m} is out of range")))
            })
            .transpose()
    }

    fn json(row: &SqliteRow, i: usize) -> Result<Option<Value>, Bad> {
        column::<String, _>(row, i)?
            .map(|t| serde_json::from_str(&t).map_err(|e| Bad::Value(e.to_string())))
            .transpose()
    }

    fn date(row: &SqliteRow, i: usize) -> Result<Option<NaiveDate>, Bad> {
        column::<String, _>(row, i)?
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|e| Bad::Value(e.to_string()))
            })
            .transpose()
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn lock_plan(_tx: &mut Tx<Self>, _job: &str, _source: &str) -> Result<()> {
        // The write lock and `BEGIN IMMEDIATE` already make planners take turns.
        Ok(())
    }
}
