//! The [`Store`] trait, split by capability in the shape of lldap's backend handlers: one trait
//! per part of the store ([`UserStore`], [`MigrationStore`], [`CheckpointStore`],
//! [`QuarantineStore`], [`EventStore`], [`ReportStore`], [`AdminStore`]), joined by the
//! umbrella [`Store`], which every type implementing them all implements. Callers hold a
//! `Box<dyn Store>` (or `Arc<dyn Store>`) and call any method on it; code that needs only one
//! capability can ask for that trait alone.
//!
//! Room is left for the parts still to come (the dual write's outbox, the rollout's phases and
//! targets): each becomes one more capability trait and one more bound of [`Store`], as the
//! workers' [`LeaseStore`] did.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use serde_json::Value;
use usher_core::{Credential, KeyRange, User, UserId};

use crate::error::Result;
use crate::model::{
    Checkpoint, ChunkOutcome, ChunkPreview, ChunkWrite, Claims, Counts, Event, LazyMigration,
    LedgerEntry, LinkOutcome, LinkWrite, MigrateOutcome, QuarantineEntry, QuarantineFilter,
    RegisterOutcome, Rejected, WarningFilter, WarningReport,
};

/// Where a keyset read of the quarantine resumes: the last entry's (source, legacy id).
pub type QuarantineCursor = (String, String);

/// Every item of a keyset-paged read, in order: `page(after)` reads up to `page_size` items
/// after the cursor (`None`: from the start), and `cursor(item)` is where the next page starts.
fn keyset<'a, T, C, F, Fut>(
    page_size: u32,
    mut page: F,
    cursor: fn(&T) -> C,
) -> BoxStream<'a, Result<T>>
where
    T: Send + 'a,
    C: Send + 'a,
    F: FnMut(Option<C>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Vec<T>>> + Send + 'a,
{
    stream::try_unfold(Some(None::<C>), move |state| {
        let read = state.map(&mut page);
        async move {
            let Some(read) = read else {
                return Ok(None);
            };
            let items = read.await?;
            let next = if items.len() < page_size as usize {
                None
            } else {
                items.last().map(|e| Some(cursor(e)))
            };
            Ok(Some((items, next)))
        }
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

/// The user store and migration ledger: every capability at once. Both backends implement it
/// (through the blanket impl below); see the crate docs.
pub trait Store:
    AdminStore
    + UserStore
    + MigrationStore
    + CheckpointStore
    + QuarantineStore
    + EventStore
    + ReportStore
    + LeaseStore
    + TargetStore
    + OutboxStore
    + ReconcileStore
    + Send
    + Sync
    + fmt::Debug
{
}

impl<T> Store for T where
    T: AdminStore
        + UserStore
        + MigrationStore
        + CheckpointStore
        + QuarantineStore
        + EventStore
        + ReportStore
        + LeaseStore
        + TargetStore
        + OutboxStore
        + ReconcileStore
        + Send
        + Sync
        + fmt::Debug
{
}

/// The schema and the connections: which backend, its migrations, closing.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Creates or upgrades the schema. Idempotent: applied versions are recorded and skipped,
    /// and concurrent callers on PostgreSQL serialise on an advisory lock.
    async fn migrate(&self) -> Result<()>;

    /// The latest applied schema version, `None` before [`AdminStore::migrate`].
    async fn schema_version(&self) -> Result<Option<i64>>;

    /// Closes the connections (waiting for those in use to come back).
    async fn close(&self);
}

/// Reads of users: by id, address, username or legacy record, and the ledger's answer to "which
/// user did this record become".
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user with this id.
    async fn user(&self, id: UserId) -> Result<Option<User>>;

    /// Up to `limit` users with an id above `after`, in id order (a keyset page: an export
    /// resumes after the last id it wrote).
    async fn users_page(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>>;

    /// Every user after `after`, in id order, read in pages of `page_size`.
    fn users<'a>(&'a self, after: Option<UserId>, page_size: u32) -> BoxStream<'a, Result<User>> {
        let page_size = page_size.max(1);
        stream::try_unfold(Some(after), move |state| async move {
            let Some(after) = state else {
                return Ok(None);
            };
            let page = self.users_page(after, page_size).await?;
            let next = match page.last() {
                Some(last) if page.len() == page_size as usize => Some(Some(last.id)),
                _ => None,
            };
            Ok(Some((stream::iter(page.into_iter().map(Ok)), next)))
        })
        .try_flatten()
        .boxed()
    }

    /// The user a legacy record became.
    async fn user_by_legacy(&self, source: &str, legacy_id: &str) -> Result<Option<User>>;

    /// The id of the user a legacy record became, from the ledger alone: whether the record
    /// is migrated (or linked), without reading the user.
    async fn ledger_user(&self, source: &str, legacy_id: &str) -> Result<Option<UserId>>;

    /// The user holding this address, given as [`usher_core::Email::normalized`].
    async fn user_by_email(&self, normalized: &str) -> Result<Option<User>>;

    /// The user holding this username, given as [`usher_core::Username::normalized`].
    async fn user_by_username(&self, normalized: &str) -> Result<Option<User>>;

    /// The users holding these addresses (given as [`usher_core::Email::normalized`]): one
    /// (address, user) pair per address held, in no particular order. One query however many
    /// addresses, so a backfill asks once per chunk.
    async fn email_holders(&self, normalized: &[String]) -> Result<Vec<(String, UserId)>>;

    /// The users these legacy records of `source` became, by the ledger: one (legacy id,
    /// user) pair per record in the ledger, in no particular order; each user with all its
    /// legacy links. One read however many records, so a reconciliation asks once per chunk.
    async fn users_of_records(
        &self,
        source: &str,
        legacy_ids: &[String],
    ) -> Result<Vec<(String, User)>>;
}

/// The writes that move users: the backfill's chunk (and its dry-run preview) and the login
/// bridge's single-user writes, each one transaction.
#[async_trait]
pub trait MigrationStore: Send + Sync {
    /// Writes one backfill chunk in one transaction: the new users with their credentials and
    /// ledger rows, updated users (under [`ConflictPolicy::LegacyNewer`]), quarantine rows for
    /// rejected records and for records whose email or username another record already holds,
    /// removal of quarantine rows for keys now migrated, and the partition's checkpoint.
    ///
    /// A record whose (source, legacy id) is in the ledger is skipped, so a replayed chunk
    /// writes nothing twice. A transaction that loses a race with a concurrent writer is
    /// rolled back and retried, and the retry sees the winner's rows.
    async fn write_chunk(&self, chunk: &ChunkWrite) -> Result<ChunkOutcome>;

    /// What [`MigrationStore::write_chunk`] would do with `chunk`, read in one read-only
    /// transaction and written nowhere: the dry run's prediction. Records whose address or username
    /// `claims` holds (taken by an earlier chunk of the same dry run, which wrote nothing) count as
    /// duplicates; [`ChunkPreview::claims`] holds what the records that would be written take. The
    /// chunk's checkpoint fields (`job`, `partition`, `cursor`, `done`) are ignored.
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

    /// Puts one record of `source` in the quarantine (or refreshes its row), with a
    /// `record.quarantined` event (subject `source/legacy id`, detail `{reason, field}`): a
    /// record the login bridge met that cannot become a user. Nothing is written, and `false`
    /// returned, when the ledger already has the record.
    async fn quarantine_record(&self, source: &str, rejected: &Rejected) -> Result<bool>;
}

/// The backfill's partition plan and checkpoints.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
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
}

/// Reads of the quarantine: records that could not become users.
#[async_trait]
pub trait QuarantineStore: Send + Sync {
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

    /// Every quarantine entry matching `filter`, in (source, legacy id) order, read in keyset
    /// pages of `page_size`: the export path.
    fn quarantine_entries<'a>(
        &'a self,
        filter: &'a QuarantineFilter,
        page_size: u32,
    ) -> BoxStream<'a, Result<QuarantineEntry>> {
        let page_size = page_size.max(1);
        keyset(
            page_size,
            move |after: Option<QuarantineCursor>| async move {
                self.quarantine_page(filter, after.as_ref(), page_size)
                    .await
            },
            |e: &QuarantineEntry| (e.source.clone(), e.legacy_id.clone()),
        )
    }
}

/// The audit log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends to the audit log and returns the event's id. `detail` must hold no secret.
    async fn record_event(&self, kind: &str, subject: &str, detail: &Value) -> Result<i64>;

    /// Up to `limit` events with an id above `after_id`, oldest first.
    async fn events(&self, after_id: i64, limit: u32) -> Result<Vec<Event>>;
}

/// What the store holds, for reports: totals, migration warnings, the ledger.
/// Leases ([`usher_runtime::Leases`]): of the processes that may run a job, the one holding
/// the job's lease works. Instants are this process's clock, to the microsecond.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes lease `name` for `holder` until `until`, if it is free, expired at `now` or
    /// already `holder`'s; whether `holder` has it now.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Moves the expiry of `holder`'s lease `name` to `until`; `false` when `holder` no longer
    /// has it.
    async fn renew_lease(&self, name: &str, holder: &str, until: DateTime<Utc>) -> Result<bool>;

    /// Gives lease `name` back, if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
}

/// Targets: the identity providers that took a user (their lazy-migration hook verified the
/// user through usher), so that reports cover users who moved on into a provider.
#[async_trait]
pub trait TargetStore: Send + Sync {
    /// Records that `target` took `user` at `at`; whether this is the first time (a repeat,
    /// such as a provider's retry, changes nothing).
    async fn record_target(&self, user: UserId, target: &str, at: DateTime<Utc>) -> Result<bool>;

    /// Users each target has taken.
    async fn target_counts(&self) -> Result<std::collections::BTreeMap<String, u64>>;

    /// The targets that took `user`, by name.
    async fn targets_of(&self, user: UserId) -> Result<Vec<String>>;
}

/// The outbox: writes owed to the other side, delivered at least once and in order per user,
/// by workers that claim due rows for a while. Instants are this process's clock.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Appends `rows` at `at`; a row whose idempotency key is there already is ignored. How
    /// many were added.
    async fn enqueue(&self, rows: &[crate::model::NewOutbox], at: DateTime<Utc>) -> Result<u64>;

    /// Claims for `worker`, until `until`, up to `limit` rows due at `now`: pending, not
    /// claimed by another worker whose claim still runs, and the earliest undelivered row of
    /// their user. In outbox order.
    async fn claim(
        &self,
        worker: &str,
        limit: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<crate::model::OutboxRow>>;

    /// Marks rows `ids`, claimed by `worker`, delivered at `at`, in one transaction; how many
    /// (a row `worker` no longer holds is not marked).
    async fn delivered(&self, ids: &[i64], worker: &str, at: DateTime<Utc>) -> Result<u64>;

    /// Records a failed delivery of row `id` by `worker`: one more attempt, the reason, due
    /// again at `retry_at`, or dead once `max_attempts` are spent; `false` if `worker` no
    /// longer holds it.
    async fn failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<bool>;

    /// Up to `limit` rows, in outbox order, of `state` (all states if `None`).
    async fn outbox(
        &self,
        state: Option<crate::model::OutboxState>,
        limit: u32,
    ) -> Result<Vec<crate::model::OutboxRow>>;

    /// Makes dead row `id` (every dead row, if `None`) pending again, due at `now`, its
    /// attempts reset: how many.
    async fn retry_outbox(&self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64>;

    /// Deletes undelivered row `id`, releasing the user's later rows; whether it was there.
    async fn drop_outbox(&self, id: i64) -> Result<bool>;

    /// Counts by state, and the oldest pending row's age.
    async fn outbox_stats(&self) -> Result<crate::model::OutboxStats>;

    /// Deletes up to `limit` rows delivered before `before` (oldest first): a delivered row
    /// is kept a while for operators, then goes. How many were deleted.
    async fn purge_delivered(&self, before: DateTime<Utc>, limit: u32) -> Result<u64>;
}

/// The store's leases as the runtime's worker loop takes them ([`usher_runtime::Worker::run_leased`]).
#[derive(Debug, Clone)]
pub struct StoreLeases(pub std::sync::Arc<dyn Store>);

#[async_trait]
impl usher_runtime::Leases for StoreLeases {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> std::result::Result<bool, usher_runtime::LeaseError> {
        let now = crate::plan::now();
        let until = now
            .checked_add_signed(chrono::Duration::from_std(ttl)?)
            .ok_or("the lease's expiry is out of range")?;
        Ok(self.0.acquire_lease(name, holder, now, until).await?)
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> std::result::Result<bool, usher_runtime::LeaseError> {
        let until = crate::plan::now()
            .checked_add_signed(chrono::Duration::from_std(ttl)?)
            .ok_or("the lease's expiry is out of range")?;
        Ok(self.0.renew_lease(name, holder, until).await?)
    }

    async fn release(
        &self,
        name: &str,
        holder: &str,
    ) -> std::result::Result<(), usher_runtime::LeaseError> {
        Ok(self.0.release_lease(name, holder).await?)
    }
}

#[async_trait]
pub trait ReportStore: Send + Sync {
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

    /// Every ledger entry of `source` in legacy id order, read in keyset pages of `page_size`.
    fn ledger_entries<'a>(
        &'a self,
        source: &'a str,
        page_size: u32,
    ) -> BoxStream<'a, Result<LedgerEntry>> {
        let page_size = page_size.max(1);
        keyset(
            page_size,
            move |after: Option<String>| async move {
                self.ledger_page(source, after.as_deref(), page_size).await
            },
            |e: &LedgerEntry| e.legacy_id.as_str().to_owned(),
        )
    }
}

/// The history of reconciliation runs (`usher reconcile`), for the dashboard, the cut-over
/// gate and `usher_parity_ratio`.
#[async_trait]
pub trait ReconcileStore: Send + Sync {
    /// Stores a run of `source` that compared `compared` records, `identical` of them the same
    /// on both sides, with its `report` (which must hold no secret); its id.
    async fn record_reconciliation(
        &self,
        source: &str,
        finished_at: DateTime<Utc>,
        counts: (u64, u64),
        report: &Value,
    ) -> Result<i64>;

    /// The latest `limit` runs, newest first, of `source` (of every source if `None`).
    async fn reconciliations(
        &self,
        source: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::model::ReconcileRun>>;

    /// The latest run of each source, by source name.
    async fn latest_reconciliations(&self) -> Result<Vec<crate::model::ReconcileRun>>;
}
