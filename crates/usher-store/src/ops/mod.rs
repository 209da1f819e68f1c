//! Every store operation, written once against [`Backend`]: the capability traits are
//! implemented here for every backend. What differs between SQLite and PostgreSQL (value
//! encodings, dialect clauses, how a write transaction begins, how a chunk's rows go in) is
//! asked of the backend; the transactions' steps, their SQL and their decisions are not.
//!
//! * [`read`]: users, checkpoints, the quarantine, the ledger, the audit log, and reports.
//! * [`write`]: the login bridge's single-user writes and the partition plan.
//! * [`chunk`]: the backfill's chunk write, its displacements and its preview.

mod chunk;
mod lease;
mod link;
pub(crate) mod outbox;
mod read;
mod reconcile;
mod target;
mod write;

use async_trait::async_trait;
use serde_json::Value;
use usher_core::{Credential, KeyRange, User, UserId};

use crate::backend::{Backend, BulkWrites, Conn, Stmt, Tx};
use crate::error::{Result, StoreError, db};
use crate::model::{
    Checkpoint, ChunkOutcome, ChunkPreview, ChunkWrite, Claims, Counts, Event, LazyMigration,
    LedgerEntry, LinkOutcome, LinkWrite, MigrateOutcome, QuarantineEntry, QuarantineFilter,
    RegisterOutcome, Rejected, WarningFilter, WarningReport,
};
use crate::plan::Row;
use crate::{
    AdminStore, CheckpointStore, EventStore, LeaseStore, MigrationStore, QuarantineCursor,
    QuarantineStore, ReportStore, TargetStore, UserStore,
};

/// The columns of a user row as [`bind_user`] binds them.
pub(crate) const USER_INSERT: &str = "INSERT INTO users (id, email, email_normalized, \
     email_verified, username, username_normalized, phone, given_name, family_name, name, \
     middle_name, nickname, birthdate, locale, zoneinfo, picture, attributes, status, \
     created_at, updated_at, migration_method, migrated_at, migration_source, legacy_record, \
     migration_warnings) VALUES ";

/// How many values [`bind_user`] binds.
pub(crate) const USER_FIELDS: usize = 25;

/// The fields of a user that a link or an update writes over the stored user, as
/// `column = $N` from `$2` (`$1` is the id) to `$20`, in [`bind_fields`] order.
pub(crate) const USER_FIELDS_SET: &str = "email = $2, email_normalized = $3, \
     email_verified = $4, username = $5, username_normalized = $6, phone = $7, given_name = $8, \
     family_name = $9, name = $10, middle_name = $11, nickname = $12, birthdate = $13, \
     locale = $14, zoneinfo = $15, picture = $16, attributes = $17, status = $18, \
     created_at = $19, updated_at = $20";

/// Binds a user row's fields (not its id nor its migration record), 19 values.
pub(crate) fn bind_fields<B: Backend>(s: Stmt<B>, row: &Row<'_>) -> Stmt<B> {
    let u = row.user;
    let p = &u.profile;
    s.text(u.email.as_ref().map(|e| e.as_str()))
        .text(row.email_normalized.as_deref())
        .bool(u.email_verified)
        .text(u.username.as_ref().map(|n| n.as_str()))
        .text(row.username_normalized.as_deref())
        .text(u.phone.as_ref().map(|n| n.as_str()))
        .text(p.given_name.as_deref())
        .text(p.family_name.as_deref())
        .text(p.name.as_deref())
        .text(p.middle_name.as_deref())
        .text(p.nickname.as_deref())
        .date(p.birthdate)
        .text(p.locale.as_deref())
        .text(p.zoneinfo.as_deref())
        .text(p.picture.as_deref())
        .json(row.attributes.as_str())
        .text(u.status.as_str())
        .instant(row.created_at)
        .instant(row.updated_at)
}

/// Binds a whole user row for [`USER_INSERT`], [`USER_FIELDS`] values.
pub(crate) fn bind_user<B: Backend>(s: Stmt<B>, row: &Row<'_>) -> Stmt<B> {
    bind_fields(s.uuid(&row.id), row)
        .text(row.migration_method.map(|m| m.as_str()))
        .instant(row.migrated_at)
        .text(row.migration_source)
        .json(row.legacy_record.as_deref())
        .json(row.migration_warnings.as_deref())
}

/// Inserts ledger rows, each `(source, system of record, row)`, in one statement, leaving
/// any whose key is already in the ledger (`ON CONFLICT DO NOTHING`); how many were new. The
/// single-user writes, SQLite's chunk writer and the links all write the ledger this way.
pub(crate) async fn insert_ledger_rows<B: Backend>(
    conn: &mut Conn<B>,
    rows: &[(&str, crate::model::SystemOfRecord, &Row<'_>)],
    op: &'static str,
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO ledger (source, legacy_id, user_id, system_of_record, method, migrated_at, \
         record_checksum, legacy_updated_at) VALUES {} ON CONFLICT DO NOTHING",
        B::values(rows.len(), 8)
    );
    let mut s = Stmt::<B>::new(sql, op);
    for (source, system_of_record, row) in rows {
        s = s
            .text(*source)
            .text(row.legacy_id.as_str())
            .uuid(&row.id)
            .text(system_of_record.as_str())
            .text(row.ledger_method.as_str())
            .instant(row.ledger_migrated_at)
            .text(row.checksum)
            .instant(row.legacy_updated_at);
    }
    s.execute(conn).await
}

/// A write transaction, begun the backend's way.
pub(crate) async fn begin_write<B: Backend>(store: &B, op: &'static str) -> Result<Tx<B>> {
    match B::LOCKING.begin() {
        Some(begin) => store.pool().begin_with(begin).await,
        None => store.pool().begin().await,
    }
    .map_err(db(op))
}

/// Rolls `tx` back and returns `v`.
pub(crate) async fn rollback<B: Backend, T>(tx: Tx<B>, op: &'static str, v: T) -> Result<T> {
    tx.rollback().await.map_err(db(op))?;
    Ok(v)
}

/// The in-process writer lock, where the backend has one; held for the whole write, retries
/// included.
pub(crate) async fn writer<B: Backend>(store: &B) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    match store.write_lock() {
        Some(lock) => Some(lock.lock().await),
        None => None,
    }
}

#[async_trait]
impl<B: Backend> AdminStore for B {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn migrate(&self) -> Result<()> {
        B::migrator()
            .run(self.pool())
            .await
            .map_err(|source| StoreError::Migrate {
                backend: B::NAME,
                source,
            })
    }

    async fn schema_version(&self) -> Result<Option<i64>> {
        read::schema_version(self).await
    }

    async fn close(&self) {
        self.pool().close().await;
    }
}

#[async_trait]
impl<B: Backend> UserStore for B {
    async fn user(&self, id: UserId) -> Result<Option<User>> {
        read::user_where(self, "u.id = $1", |s| s.uuid(id.as_uuid())).await
    }

    async fn users_page(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        read::users_page(self, after, limit).await
    }

    async fn user_by_legacy(&self, source: &str, legacy_id: &str) -> Result<Option<User>> {
        read::user_where(
            self,
            "u.id = (SELECT user_id FROM ledger WHERE source = $1 AND legacy_id = $2)",
            |s| s.text(source).text(legacy_id),
        )
        .await
    }

    async fn ledger_user(&self, source: &str, legacy_id: &str) -> Result<Option<UserId>> {
        const OP: &str = "ledger_user: reading the ledger";
        let mut tx = self.pool().begin().await.map_err(db(OP))?;
        let id = read::ledger_user::<B>(&mut tx, source, legacy_id).await?;
        rollback::<B, _>(tx, OP, id.map(UserId::from_uuid)).await
    }

    async fn user_by_email(&self, normalized: &str) -> Result<Option<User>> {
        read::user_where(self, "u.email_normalized = $1", |s| s.text(normalized)).await
    }

    async fn user_by_username(&self, normalized: &str) -> Result<Option<User>> {
        read::user_where(self, "u.username_normalized = $1", |s| s.text(normalized)).await
    }

    async fn email_holders(&self, normalized: &[String]) -> Result<Vec<(String, UserId)>> {
        read::email_holders(self, normalized).await
    }

    async fn users_of_records(
        &self,
        source: &str,
        legacy_ids: &[String],
    ) -> Result<Vec<(String, User)>> {
        read::users_of_records(self, source, legacy_ids).await
    }
}

#[async_trait]
impl<B: BulkWrites> MigrationStore for B {
    async fn write_chunk(&self, chunk: &ChunkWrite) -> Result<ChunkOutcome> {
        chunk::write_chunk(self, chunk).await
    }

    async fn preview_chunk(&self, chunk: &ChunkWrite, claims: &Claims) -> Result<ChunkPreview> {
        chunk::preview_chunk(self, chunk, claims).await
    }

    async fn migrate_user(&self, m: &LazyMigration) -> Result<MigrateOutcome> {
        write::migrate_user(self, m).await
    }

    async fn link_user(&self, link: &LinkWrite) -> Result<LinkOutcome> {
        write::link_user(self, link).await
    }

    async fn register_user(&self, user: &User) -> Result<RegisterOutcome> {
        write::register_user(self, user).await
    }

    async fn replace_credential(
        &self,
        user: UserId,
        expected_hash: &str,
        new: &Credential,
    ) -> Result<bool> {
        write::replace_credential(self, user, expected_hash, new).await
    }

    async fn quarantine_record(&self, source: &str, rejected: &Rejected) -> Result<bool> {
        write::quarantine_record(self, source, rejected).await
    }
}

#[async_trait]
impl<B: Backend> CheckpointStore for B {
    async fn plan_partitions(
        &self,
        job: &str,
        source: &str,
        ranges: &[(u32, KeyRange)],
    ) -> Result<Vec<Checkpoint>> {
        write::plan_partitions(self, job, source, ranges).await?;
        self.checkpoints(job, source).await
    }

    async fn checkpoint(
        &self,
        job: &str,
        source: &str,
        partition: u32,
    ) -> Result<Option<Checkpoint>> {
        read::checkpoint_of(self, job, source, partition).await
    }

    async fn checkpoints(&self, job: &str, source: &str) -> Result<Vec<Checkpoint>> {
        read::checkpoints(self, job, source).await
    }
}

#[async_trait]
impl<B: Backend> QuarantineStore for B {
    async fn quarantine_list(
        &self,
        filter: &QuarantineFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<QuarantineEntry>> {
        read::quarantine_list(self, filter, limit, offset).await
    }

    async fn quarantine_page(
        &self,
        filter: &QuarantineFilter,
        after: Option<&QuarantineCursor>,
        limit: u32,
    ) -> Result<Vec<QuarantineEntry>> {
        read::quarantine_page(self, filter, after, limit).await
    }

    async fn quarantine_count(&self, filter: &QuarantineFilter) -> Result<u64> {
        read::quarantine_count(self, filter).await
    }
}

#[async_trait]
impl<B: Backend> EventStore for B {
    async fn record_event(&self, kind: &str, subject: &str, detail: &Value) -> Result<i64> {
        read::record_event(self, kind, subject, detail).await
    }

    async fn events(&self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        read::events(self, after_id, limit).await
    }
}

#[async_trait]
impl<B: Backend> ReportStore for B {
    async fn counts(&self) -> Result<Counts> {
        read::counts(self).await
    }

    async fn warnings(&self, filter: &WarningFilter) -> Result<WarningReport> {
        read::warnings(self, filter).await
    }

    async fn ledger_page(
        &self,
        source: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>> {
        read::ledger_page(self, source, after, limit).await
    }
}

#[async_trait]
impl<B: Backend> LeaseStore for B {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        lease::acquire(self, name, holder, now, until).await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        lease::renew(self, name, holder, until).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        lease::release(self, name, holder).await
    }
}

#[async_trait]
impl<B: Backend> TargetStore for B {
    async fn record_target(
        &self,
        user: UserId,
        target: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        target::record(self, user, target, at).await
    }

    async fn target_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        target::counts(self).await
    }

    async fn targets_of(&self, user: UserId) -> Result<Vec<String>> {
        target::of(self, user).await
    }
}

#[async_trait]
impl<B: Backend> crate::store::OutboxStore for B {
    async fn enqueue(
        &self,
        rows: &[crate::model::NewOutbox],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        outbox::enqueue(self, rows, at).await
    }

    async fn claim(
        &self,
        worker: &str,
        limit: u32,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::model::OutboxRow>> {
        outbox::claim(self, worker, limit, now, until).await
    }

    async fn delivered(
        &self,
        ids: &[i64],
        worker: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        outbox::delivered(self, ids, worker, at).await
    }

    async fn failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: chrono::DateTime<chrono::Utc>,
        max_attempts: u32,
    ) -> Result<bool> {
        outbox::failed(self, id, worker, error, retry_at, max_attempts).await
    }

    async fn outbox(
        &self,
        state: Option<crate::model::OutboxState>,
        limit: u32,
    ) -> Result<Vec<crate::model::OutboxRow>> {
        outbox::list(self, state, limit).await
    }

    async fn retry_outbox(
        &self,
        id: Option<i64>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        outbox::retry(self, id, now).await
    }

    async fn drop_outbox(&self, id: i64) -> Result<bool> {
        outbox::drop_row(self, id).await
    }

    async fn outbox_stats(&self) -> Result<crate::model::OutboxStats> {
        outbox::stats(self).await
    }

    async fn purge_delivered(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64> {
        outbox::purge(self, before, limit).await
    }
}

#[async_trait]
impl<B: Backend> crate::ReconcileStore for B {
    async fn record_reconciliation(
        &self,
        source: &str,
        finished_at: chrono::DateTime<chrono::Utc>,
        counts: (u64, u64),
        report: &Value,
    ) -> Result<i64> {
        reconcile::record(self, source, finished_at, counts, report).await
    }

    async fn reconciliations(
        &self,
        source: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::model::ReconcileRun>> {
        reconcile::list(self, source, limit).await
    }

    async fn latest_reconciliations(&self) -> Result<Vec<crate::model::ReconcileRun>> {
        reconcile::latest(self).await
    }
}
