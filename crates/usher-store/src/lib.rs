//! # usher-store
//!
//! usher's built-in user store and migration ledger, in one SQLite file (the default) or in
//! PostgreSQL (for scale), behind one async trait. The users, their credentials, the ledger of
//! which legacy record became which user, the backfill checkpoints, the quarantine and the audit
//! log live side by side, so one transaction covers a chunk of users *and* the proof that they
//! moved.
//!
//! * [`Store`] — the trait both backends implement, with the same test suite run against both.
//!   Its centre is [`Store::write_chunk`], the backfill write: users, credentials, ledger rows,
//!   quarantine rows and the new checkpoint in one transaction, idempotent under replay.
//! * [`ChunkWrite`] / [`ChunkOutcome`] — what a chunk writes and what became of it.
//! * The login bridge's writes, each one transaction: [`Store::migrate_user`] (a legacy user's
//!   first login, [`LazyMigration`] → [`MigrateOutcome`]), [`Store::register_user`] (a user new
//!   to both systems → [`RegisterOutcome`]) and [`Store::replace_credential`] (a re-hash at
//!   login, compare-and-set).
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
//! config.validate()?;
//! let store = open(&config).await?;
//! store.migrate().await?;
//! let mut chunk = ChunkWrite::new("backfill", "legacy", 0);
//! chunk.done = true;
//! let outcome = store.write_chunk(&chunk).await?;
//! assert_eq!(outcome.migrated, 0);
//! # Ok(())
//! # }
//! ```

pub mod config;
mod decode;
pub mod error;
pub mod model;
mod pgcopy;
mod plan;
pub mod postgres;
pub mod sqlite;

use std::fmt;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use serde_json::Value;
use usher_core::{Credential, KeyRange, User, UserId};

pub use config::{StoreConfig, redact_url};
pub use error::{Result, StoreError};
pub use model::{
    Checkpoint, ChunkOutcome, ChunkPreview, ChunkUser, ChunkWrite, Claims, ConflictPolicy,
    Counters, Counts, Event, FieldWarnings, LazyMigration, LedgerEntry, LinkOutcome, LinkWrite,
    MigrateOutcome, PreviewRefusal, QuarantineEntry, QuarantineFilter, RegisterOutcome, Rejected,
    SystemOfRecord, WarnedUser, WarningFilter, WarningReport,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Where a keyset read of the quarantine resumes: the last entry's (source, legacy id).
pub type QuarantineCursor = (String, String);

/// The user store and migration ledger. Both backends implement it; see the crate docs.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Creates or upgrades the schema. Idempotent: applied versions are recorded and skipped,
    /// and concurrent callers on PostgreSQL serialise on an advisory lock.
    async fn migrate(&self) -> Result<()>;

    /// The latest applied schema version, `None` before [`Store::migrate`].
    async fn schema_version(&self) -> Result<Option<i64>>;

    /// Writes one backfill chunk in one transaction: the new users with their credentials and
    /// ledger rows, updated users (under [`ConflictPolicy::LegacyNewer`]), quarantine rows for
    /// rejected records and for records whose email or username another record already holds,
    /// removal of quarantine rows for keys now migrated, and the partition's checkpoint.
    ///
    /// A record whose (source, legacy id) is in the ledger is skipped, so a replayed chunk
    /// writes nothing twice. A transaction that loses a race with a concurrent writer is
    /// rolled back and retried, and the retry sees the winner's rows.
    async fn write_chunk(&self, chunk: &ChunkWrite) -> Result<ChunkOutcome>;

    /// What [`Store::write_chunk`] would do with `chunk`, read in one read-only transaction and
    /// written nowhere: the dry run's prediction. Records whose address or username `claims`
    /// holds (taken by an earlier chunk of the same dry run, which wrote nothing) count as
    /// duplicates; [`ChunkPreview::claims`] holds what the records that would be written take.
    /// The chunk's checkpoint fields (`job`, `partition`, `cursor`, `done`) are ignored.
    async fn preview_chunk(&self, chunk: &ChunkWrite, claims: &Claims) -> Result<ChunkPreview>;

    /// Writes a legacy user's first successful login (the bridge's lazy migration) in one
    /// transaction: the user with its credential (already re-hashed by the caller), the ledger
    /// row (source, legacy id → user, method `lazy`, the record's checksum, the given system of
    /// record), removal of the record's quarantine row, and a `user.migrated` event (subject
    /// `source/legacy id`, detail `{user_id, method, source}`).
    ///
    /// When the ledger already has the record (a concurrent first login of the same user won,
    /// or a backfill moved it meanwhile) nothing is written and the existing user's id comes
    /// back as [`MigrateOutcome::AlreadyMigrated`]: however many callers race on one record,
    /// exactly one user is created and every caller learns its id. When another user holds the
    /// email or username, nothing is written ([`MigrateOutcome::IdentifierTaken`]). A value no
    /// backend can hold (a NUL character, an instant out of range) is a
    /// [`StoreError::Invalid`] naming the field, and nothing is written.
    async fn migrate_user(&self, m: &LazyMigration) -> Result<MigrateOutcome>;

    /// Puts one record of `source` in the quarantine (or refreshes its row), with a
    /// `record.quarantined` event (subject `source/legacy id`, detail `{reason, field}`): a
    /// record the login bridge met that cannot become a user. Nothing is written, and `false`
    /// returned, when the ledger already has the record.
    async fn quarantine_record(&self, source: &str, rejected: &Rejected) -> Result<bool>;

    /// Links a legacy record to an existing user (the same person, brought by another source)
    /// in one transaction: the merged user's fields (identifiers, profile, attributes, status,
    /// times; the stored migration record stays), its credential when asked, the ledger row
    /// (source, legacy id → the user), removal of the record's quarantine row, and a
    /// `user.linked` event (subject `source/legacy id`, detail `{user_id, source, legacy_id,
    /// method, original}`). Nothing is written when the ledger already has the record
    /// ([`LinkOutcome::AlreadyLinked`] names its user), when the user's `updated_at` is no
    /// longer [`LinkWrite::expected_updated_at`] ([`LinkOutcome::Stale`]) or when the merged
    /// username belongs to another user ([`LinkOutcome::IdentifierTaken`]).
    async fn link_user(&self, link: &LinkWrite) -> Result<LinkOutcome>;

    /// The users holding these addresses (given as [`usher_core::Email::normalized`]): one
    /// (address, user) pair per address held, in no particular order. One query however many
    /// addresses, so a backfill asks once per chunk.
    async fn email_holders(&self, normalized: &[String]) -> Result<Vec<(String, UserId)>>;

    /// Writes a user created in the new system (no legacy record, so no ledger row) with its
    /// credential, migration method `registered` at the time of writing, and a
    /// `user.registered` event (subject and detail the user id). The user's own `migration` and
    /// `legacy_links` are ignored. When another user holds the email or username, nothing is
    /// written ([`RegisterOutcome::IdentifierTaken`]).
    async fn register_user(&self, user: &User) -> Result<RegisterOutcome>;

    /// Replaces a user's credential only if its stored hash still equals `expected_hash`
    /// (compare-and-set: of two concurrent upgrades, or an upgrade racing a password change,
    /// one wins and the other changes nothing). Returns whether it replaced; `false` for a user
    /// without a credential or unknown. A replacement records a `credential.upgraded` event
    /// (subject the user id, detail `{user_id, old_scheme, new_scheme}`; never a hash).
    async fn replace_credential(
        &self,
        user: UserId,
        expected_hash: &str,
        new: &Credential,
    ) -> Result<bool>;

    /// Stores a job's partition plan for a source, once: when the job has no checkpoint for the
    /// source yet, one per range (cursor at the range's `after`, `until` its end, nothing done);
    /// otherwise the stored plan stands. Returns the stored checkpoints by partition. Callers
    /// racing to plan serialise, so a plan is never a mix of two.
    async fn plan_partitions(
        &self,
        job: &str,
        source: &str,
        ranges: &[(u32, KeyRange)],
    ) -> Result<Vec<Checkpoint>>;

    /// One partition's checkpoint, `None` before its first chunk.
    async fn checkpoint(
        &self,
        job: &str,
        source: &str,
        partition: u32,
    ) -> Result<Option<Checkpoint>>;

    /// Every partition's checkpoint of a job and source, by partition.
    async fn checkpoints(&self, job: &str, source: &str) -> Result<Vec<Checkpoint>>;

    /// Quarantine entries ordered by (source, legacy id), `limit` from `offset`, for screens.
    async fn quarantine_list(
        &self,
        filter: &QuarantineFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<QuarantineEntry>>;

    /// Up to `limit` quarantine entries after `after` in (source, legacy id) order: a keyset
    /// page, which costs the same however far along an export is.
    async fn quarantine_page(
        &self,
        filter: &QuarantineFilter,
        after: Option<&QuarantineCursor>,
        limit: u32,
    ) -> Result<Vec<QuarantineEntry>>;

    /// How many entries the quarantine holds.
    async fn quarantine_count(&self, filter: &QuarantineFilter) -> Result<u64>;

    /// Users in total, by migration method (`lazy`, `bulk`, `sync`, `registered`, and `none` for
    /// users without a migration record; methods with no user are absent), ledger rows by
    /// source, and quarantined records.
    async fn counts(&self) -> Result<Counts>;

    /// The warnings of migrated users (optional fields they lost or kept only as written),
    /// tallied by source and field, with the first `filter.limit` users in full.
    async fn warnings(&self, filter: &WarningFilter) -> Result<WarningReport>;

    /// Up to `limit` ledger entries of `source` with a legacy id after `after`, in legacy id
    /// order (bytewise: `"10"` sorts before `"9"`).
    async fn ledger_page(
        &self,
        source: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>>;

    /// The user with this id.
    async fn user(&self, id: UserId) -> Result<Option<User>>;

    /// The user a legacy record became.
    async fn user_by_legacy(&self, source: &str, legacy_id: &str) -> Result<Option<User>>;

    /// The id of the user a legacy record became, from the ledger alone: whether the record
    /// is migrated (or linked), without reading the user.
    async fn ledger_user(&self, source: &str, legacy_id: &str) -> Result<Option<UserId>>;

    /// The user holding this address, given as [`usher_core::Email::normalized`].
    async fn user_by_email(&self, normalized: &str) -> Result<Option<User>>;

    /// The user holding this username, given as [`usher_core::Username::normalized`].
    async fn user_by_username(&self, normalized: &str) -> Result<Option<User>>;

    /// Appends to the audit log and returns the event's id. `detail` must hold no secret.
    async fn record_event(&self, kind: &str, subject: &str, detail: &Value) -> Result<i64>;

    /// Up to `limit` events with an id above `after_id`, oldest first.
    async fn events(&self, after_id: i64, limit: u32) -> Result<Vec<Event>>;

    /// Closes the connections (waiting for those in use to come back).
    async fn close(&self);

    /// Every ledger entry of `source` in legacy id order, read in keyset pages of `page_size`.
    fn ledger_entries<'a>(
        &'a self,
        source: &'a str,
        page_size: u32,
    ) -> BoxStream<'a, Result<LedgerEntry>> {
        let page_size = page_size.max(1);
        stream::try_unfold(Some(None::<String>), move |state| async move {
            let Some(after) = state else {
                return Ok(None);
            };
            let page = self
                .ledger_page(source, after.as_deref(), page_size)
                .await?;
            let next = if page.len() < page_size as usize {
                None
            } else {
                page.last().map(|e| Some(e.legacy_id.as_str().to_owned()))
            };
            Ok(Some((page, next)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// Every quarantine entry matching `filter`, in (source, legacy id) order, read in keyset
    /// pages of `page_size`: the export path.
    fn quarantine_entries<'a>(
        &'a self,
        filter: &'a QuarantineFilter,
        page_size: u32,
    ) -> BoxStream<'a, Result<QuarantineEntry>> {
        let page_size = page_size.max(1);
        stream::try_unfold(Some(None::<QuarantineCursor>), move |state| async move {
            let Some(after) = state else {
                return Ok(None);
            };
            let page = self
                .quarantine_page(filter, after.as_ref(), page_size)
                .await?;
            let next = if page.len() < page_size as usize {
                None
            } else {
                page.last()
                    .map(|e| Some((e.source.clone(), e.legacy_id.clone())))
            };
            Ok(Some((page, next)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

/// What [`Store::write_chunk`] would do with `chunk` in a store that holds nothing yet: a dry
/// run's prediction before the store exists. The same decisions as [`Store::preview_chunk`].
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

/// Opens the store a config names. Does not migrate: call [`Store::migrate`] first.
pub async fn open(config: &StoreConfig) -> Result<Box<dyn Store>> {
    config.validate()?;
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
                    config::check_url(&url)?;
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
