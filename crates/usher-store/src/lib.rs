//! # usher-store
//!
//! usher's built-in user store and migration ledger, in one SQLite file (the default) or in
//! PostgreSQL (for scale), behind one async trait. The users, their credentials, the ledger of
//! which legacy record became which user, the backfill checkpoints, the quarantine and the audit
//! log live side by side, so one transaction covers a chunk of users *and* the proof that they
//! moved.
//!
//! * [`Store`] — the umbrella trait every store implements, joining one trait per capability
//!   (in the shape of lldap's backend handlers): [`UserStore`] (reads of users),
//!   [`MigrationStore`] (the writes that move users), [`CheckpointStore`], [`QuarantineStore`],
//!   [`EventStore`] (the audit log), [`ReportStore`] (counts, warnings, the ledger) and
//!   [`AdminStore`] (schema and connections). The same test suite runs against both backends.
//!   Its centre is [`MigrationStore::write_chunk`], the backfill write: users, credentials,
//!   ledger rows, quarantine rows and the new checkpoint in one transaction, idempotent under
//!   replay.
//! * Each operation is written once (`src/ops/`), as one SQL text with `$N` placeholders,
//!   against a small backend trait; each backend sits in a folder of its own
//!   (`src/backend/sqlite/`, `src/backend/postgres/`) and says only what differs: how values
//!   are stored (UUID text, integer microseconds, JSON text and date text on SQLite; `uuid`,
//!   `timestamptz`, `jsonb` and `date` on PostgreSQL), how writers are kept apart (`BEGIN
//!   IMMEDIATE` and an in-process lock on SQLite; READ COMMITTED with `FOR UPDATE` on
//!   PostgreSQL), and how a chunk's rows go in (multi-row `INSERT`s on SQLite; binary `COPY`
//!   into a staging table, then `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`, on
//!   PostgreSQL).
//! * [`ChunkWrite`] / [`ChunkOutcome`] — what a chunk writes and what became of it.
//! * The login bridge's writes, each one transaction: [`MigrationStore::migrate_user`] (a
//!   legacy user's first login, [`LazyMigration`] → [`MigrateOutcome`]),
//!   [`MigrationStore::register_user`] (a user new to both systems → [`RegisterOutcome`]) and
//!   [`MigrationStore::replace_credential`] (a re-hash at login, compare-and-set).
//! * [`StoreConfig`] and [`open`] — `sqlite { path }` or `postgres { url | url_file }`, checked
//!   without I/O by [`StoreConfig::validate`]; URLs are redacted in every log line and error.
//!
//! Instants are stored to the microsecond (what PostgreSQL keeps); a user read back has its
//! timestamps cut to the microsecond and is otherwise equal to the one written.
//!
//! ```no_run
//! use usher_store::{open, ChunkWrite, StoreConfig};
//!
//! # async fn demo() -> Result<(), usher_store::StoreError> {
//! let config = StoreConfig::Sqlite { path: "usher.db".into() };
//! assert!(config.validate().is_empty());
//! let store = open(&config).await?;
//! store.migrate().await?;
//! let mut chunk = ChunkWrite::new("backfill", "legacy", 0);
//! chunk.done = true;
//! let outcome = store.write_chunk(&chunk).await?;
//! assert_eq!(outcome.migrated, 0);
//! # Ok(())
//! # }
//! ```

mod backend;
pub mod config;
mod decode;
pub mod error;
pub mod model;
mod ops;
mod plan;
mod store;

pub use backend::{postgres, sqlite};

pub use config::{StoreConfig, redact_url};
pub use error::{Result, StoreError};
pub use model::{
    Checkpoint, ChunkOutcome, ChunkPreview, ChunkUser, ChunkWrite, Claims, ConflictPolicy,
    Counters, Counts, Event, FieldWarnings, LazyMigration, LedgerEntry, LinkOutcome, LinkWrite,
    MigrateOutcome, NewOutbox, OutboxRow, OutboxState, OutboxStats, PreviewRefusal,
    QuarantineEntry, QuarantineFilter, ReconcileRun, RegisterOutcome, Rejected, SystemOfRecord,
    WarnedUser, WarningFilter, WarningReport,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::{
    AdminStore, CheckpointStore, EventStore, LeaseStore, MigrationStore, OutboxStore,
    QuarantineCursor, QuarantineStore, ReconcileStore, ReportStore, Store, StoreLeases,
    TargetStore, UserStore,
};

/// What [`MigrationStore::write_chunk`] would do with `chunk` in a store that holds nothing yet: a
/// dry run's prediction before the store exists. The same decisions as
/// [`MigrationStore::preview_chunk`].
pub fn preview_first_run(chunk: &ChunkWrite, claims: &Claims) -> Result<ChunkPreview> {
    let prepared = plan::prepare(chunk, plan::now())?;
    Ok(plan::preview(
        chunk,
        &prepared,
        &std::collections::HashMap::new(),
        &[],
        claims,
    ))
}

/// Opens the store a config names. Does not migrate: call [`AdminStore::migrate`] first.
pub async fn open(config: &StoreConfig) -> Result<Box<dyn Store>> {
    config.checked()?;
    match config {
        StoreConfig::Sqlite { path } => Ok(Box::new(SqliteStore::open(path).await?)),
        StoreConfig::Postgres {
            url,
            url_file,
            max_connections,
        } => {
            let url = match (url, url_file) {
                (Some(url), _) => url.trim().to_owned(),
                (None, Some(file)) => {
                    let text = tokio::fs::read_to_string(file).await.map_err(|e| {
                        StoreError::Config(format!(
                            "postgres: cannot read url_file {}: {e}",
                            file.display()
                        ))
                    })?;
                    let url = text.trim().to_owned();
                    config::check_url("url_file", &url)
                        .map_err(|p| StoreError::Config(p.to_string()))?;
                    url
                }
                (None, None) => {
                    return Err(StoreError::Config(
                        "postgres: set `url` or `url_file`".into(),
                    ));
                }
            };
            let max = max_connections.unwrap_or(config::DEFAULT_MAX_CONNECTIONS);
            Ok(Box::new(PostgresStore::open(&url, max).await?))
        }
    }
}
