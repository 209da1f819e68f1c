//! The SQLite store: one file, WAL journal, `synchronous=NORMAL`, foreign keys on.
//!
//! Writers are serialised in process (an async mutex) and in the file (`BEGIN IMMEDIATE`, with
//! a busy timeout for other processes), so a chunk's reads and writes see no concurrent change.
//! Chunks are written with prepared multi-row `INSERT`s, [`INSERT_BATCH`] rows per statement.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row as _, Sqlite, Transaction};
use usher_core::{Credential, KeyRange, User, UserId};
use uuid::Uuid;

use crate::decode::{self, USER_COLUMNS, UserRow};
use crate::error::{Result, StoreError, corrupt, db};
use crate::model::{
    Checkpoint, ChunkOutcome, ChunkPreview, ChunkWrite, Claims, Counts, Event, LazyMigration,
    LedgerEntry, LinkOutcome, LinkWrite, MigrateOutcome, QuarantineEntry, QuarantineFilter,
    RegisterOutcome, SystemOfRecord, WarningFilter, WarningReport,
};
use crate::plan::{self, LedgerHit, Owner, Prepared, QuarantineRow, Refusal, Row};
use crate::{QuarantineCursor, Store};

/// Rows per multi-row `INSERT` (24 columns × 512 rows stays below SQLite's 32766
/// variables, and the statement is prepared once and cached).
pub const INSERT_BATCH: usize = 512;

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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

    async fn begin_write(&self, op: &'static str) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(op))
    }

    /// Removes the users of `gone` that are still unchanged, each with its credential and
    /// ledger row, and quarantines their records with the reason: they took an identifier
    /// that a record with a lower key, refused in this chunk, should have had
    /// ([`plan::displacements`]). The chunk's checkpoint counts them. A user changed
    /// meanwhile is left alone (the retry quarantines the refused record instead).
    async fn displace(
        &self,
        chunk: &ChunkWrite,
        gone: &[plan::Displacement],
        now: DateTime<Utc>,
    ) -> Result<()> {
        const OP: &str = "write_chunk: removing a user for a record with a lower key";
        let mut tx = self.begin_write(OP).await?;
        let mut quarantine = Vec::with_capacity(gone.len());
        for d in gone {
            let id = d.user_id.to_string();
            let record: Option<Option<String>> = sqlx::query_scalar(DISPLACEABLE)
                .bind(&id)
                .bind(&chunk.source)
                .bind(&d.legacy_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(OP))?;
            let Some(record) = record else { continue };
            sqlx::query("DELETE FROM ledger WHERE source = ?1 AND legacy_id = ?2")
                .bind(&chunk.source)
                .bind(&d.legacy_id)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
            sqlx::query("DELETE FROM users WHERE id = ?1")
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
            let subject = format!("{}/{}", chunk.source, d.legacy_id);
            insert_event(
                &mut tx,
                ("user.displaced", &subject),
                &plan::displaced_detail(d),
                now,
                OP,
            )
            .await?;
            quarantine.push(plan::displaced_row(d, record));
        }
        if !quarantine.is_empty() {
            upsert_quarantine(&mut tx, &chunk.source, &quarantine, now).await?;
            sqlx::query(
                "INSERT INTO checkpoints (job, source, partition, displaced, quarantined, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5) \
                 ON CONFLICT (job, source, partition) DO UPDATE SET \
                 displaced = checkpoints.displaced + excluded.displaced, \
                 quarantined = checkpoints.quarantined + excluded.quarantined",
            )
            .bind(&chunk.job)
            .bind(&chunk.source)
            .bind(i64::from(chunk.partition))
            .bind(i64::try_from(quarantine.len()).unwrap_or(i64::MAX))
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        }
        tx.commit().await.map_err(db(OP))
    }

    /// A preview's reads, in one transaction that writes nothing.
    async fn preview_reads(&self, source: &str, rows: &[Row<'_>]) -> Result<plan::PreviewReads> {
        let (emails, usernames) = plan::all_identifiers(rows);
        let mut tx = self.pool.begin().await.map_err(db(plan::PREVIEW_OP))?;
        let hits = ledger_hits(&mut tx, source, rows).await?;
        let owners = owners(&mut tx, &emails, &usernames, plan::PREVIEW_OP).await?;
        tx.rollback().await.map_err(db(plan::PREVIEW_OP))?;
        Ok((hits, owners))
    }

    /// One attempt at a chunk; `Ok(None)` when it rolled back to retry.
    async fn try_write_chunk(
        &self,
        chunk: &ChunkWrite,
        prepared: &Prepared<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<ChunkOutcome>> {
        let rows = &prepared.rows;
        let mut tx = self
            .begin_write("write_chunk: beginning the transaction")
            .await?;

        let hits = ledger_hits(&mut tx, &chunk.source, rows).await?;
        let classified = plan::classify(rows, &hits, chunk.policy);
        let mut quarantine: Vec<QuarantineRow> = prepared.quarantine.clone();

        // Updates first: an existing user keeps its claim on its new address over new records.
        let updates = if classified.updates.is_empty() {
            Vec::new()
        } else {
            let indexes: Vec<usize> = classified.updates.iter().map(|(i, _)| *i).collect();
            let (emails, usernames) = plan::identifiers(rows, &indexes);
            let owners = owners(&mut tx, &emails, &usernames, OWNERS_OP).await?;
            let (kept, refused) =
                plan::check_updates(rows, classified.updates, &owners, &chunk.source);
            quarantine.extend(refused);
            for (i, user_id) in &kept {
                if let Some(row) = rows.get(*i) {
                    update_user(&mut tx, &chunk.source, row, *user_id).await?;
                }
            }
            kept
        };

        // Inserts in key order; the unique indexes refuse later duplicates.
        let mut inserted: HashSet<Uuid> = HashSet::with_capacity(classified.inserts.len());
        for batch in classified.inserts.chunks(INSERT_BATCH) {
            let batch_rows: Vec<&Row<'_>> = batch.iter().filter_map(|&i| rows.get(i)).collect();
            inserted
                .extend(insert_users(&mut tx, &batch_rows, "write_chunk: inserting users").await?);
        }
        let (ok, refused): (Vec<usize>, Vec<usize>) = classified
            .inserts
            .iter()
            .partition(|&&i| rows.get(i).is_some_and(|r| inserted.contains(&r.id)));
        // Ledger rows first, so a refusal's holder from this chunk is named by its key.
        let ok_rows: Vec<&Row<'_>> = ok.iter().filter_map(|&i| rows.get(i)).collect();
        for batch in ok_rows.chunks(INSERT_BATCH) {
            insert_credentials(&mut tx, batch, "write_chunk: inserting credentials").await?;
            let n = insert_ledger(
                &mut tx,
                (&chunk.source, chunk.system_of_record),
                batch,
                "write_chunk: inserting ledger rows",
            )
            .await?;
            if n != plan::count(batch.len()) {
                tx.rollback()
                    .await
                    .map_err(db("write_chunk: rolling back"))?;
                return Ok(None);
            }
        }

        if !refused.is_empty() {
            let (emails, usernames) = plan::identifiers(rows, &refused);
            let owners = owners(&mut tx, &emails, &usernames, OWNERS_OP).await?;
            let gone = plan::displacements(rows, &refused, &owners, &chunk.source);
            if !gone.is_empty() {
                tx.rollback()
                    .await
                    .map_err(db("write_chunk: rolling back"))?;
                self.displace(chunk, &gone, now).await?;
                return Ok(None);
            }
            let Some(explained) = plan::explain_refusals(rows, &refused, &owners) else {
                tx.rollback()
                    .await
                    .map_err(db("write_chunk: rolling back"))?;
                return Ok(None);
            };
            quarantine.extend(explained);
        }
        for batch in quarantine.chunks(INSERT_BATCH) {
            upsert_quarantine(&mut tx, &chunk.source, batch, now).await?;
        }
        let migrated = plan::migrated_keys(rows, &ok, &updates, &classified.skipped);
        if !migrated.is_empty() {
            sqlx::query(
                "DELETE FROM quarantine WHERE source = ?1 \
                 AND legacy_id IN (SELECT value FROM json_each(?2))",
            )
            .bind(&chunk.source)
            .bind(json_array(&migrated))
            .execute(&mut *tx)
            .await
            .map_err(db("write_chunk: clearing quarantine rows of migrated keys"))?;
        }

        let outcome = ChunkOutcome {
            migrated: plan::count(ok.len()),
            skipped: plan::count(classified.skipped.len()),
            updated: plan::count(updates.len()),
            quarantined: plan::count(quarantine.len()),
            linked: chunk.linked,
            retries: 0,
        };
        save_checkpoint(&mut tx, chunk, &outcome, now).await?;
        tx.commit().await.map_err(db("write_chunk: committing"))?;
        Ok(Some(outcome))
    }

    /// One attempt at a lazy migration; `Ok(None)` when it rolled back to retry. The caller
    /// holds the write lock and the transaction is `BEGIN IMMEDIATE`, so nothing changes
    /// between the ledger check and the insert: a concurrent first login of the same record
    /// waits for this one and then finds its ledger row.
    async fn try_migrate_user(
        &self,
        m: &LazyMigration,
        row: &Row<'_>,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<MigrateOutcome>> {
        let mut tx = self
            .begin_write("migrate_user: beginning the transaction")
            .await?;
        if let Some(id) = ledger_user(&mut tx, &m.source, &row.legacy_id).await? {
            tx.rollback()
                .await
                .map_err(db("migrate_user: rolling back"))?;
            return Ok(Some(MigrateOutcome::AlreadyMigrated(UserId::from_uuid(id))));
        }
        let inserted = insert_users(&mut tx, &[row], "migrate_user: inserting the user").await?;
        if inserted.is_empty() {
            let refusal = refusal(
                &mut tx,
                row,
                "migrate_user: finding who holds an identifier",
            )
            .await?;
            tx.rollback()
                .await
                .map_err(db("migrate_user: rolling back"))?;
            return match refusal {
                Refusal::Taken(field, holder) => Ok(Some(MigrateOutcome::IdentifierTaken {
                    field,
                    holder: UserId::from_uuid(holder),
                })),
                Refusal::IdInUse => Err(plan::id_in_use(
                    &format!("lazy migration of {subject}"),
                    row.id,
                )),
                Refusal::Vanished => Ok(None),
            };
        }
        insert_credentials(&mut tx, &[row], "migrate_user: inserting the credential").await?;
        let ledgered = insert_ledger(
            &mut tx,
            (&m.source, m.system_of_record),
            &[row],
            "migrate_user: inserting the ledger row",
        )
        .await?;
        if ledgered != 1 {
            tx.rollback()
                .await
                .map_err(db("migrate_user: rolling back"))?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM quarantine WHERE source = ?1 AND legacy_id = ?2")
            .bind(&m.source)
            .bind(&row.legacy_id)
            .execute(&mut *tx)
            .await
            .map_err(db("migrate_user: clearing the quarantine row"))?;
        let user_id = UserId::from_uuid(row.id);
        insert_event(
            &mut tx,
            ("user.migrated", subject),
            &json!({"user_id": user_id, "method": "lazy", "source": m.source}),
            now,
            "migrate_user: recording the event",
        )
        .await?;
        tx.commit().await.map_err(db("migrate_user: committing"))?;
        Ok(Some(MigrateOutcome::Migrated(user_id)))
    }

    /// One attempt at a link; `Ok(None)` when it rolled back to retry. Under the write lock
    /// and `BEGIN IMMEDIATE`, nothing changes between the checks and the writes.
    async fn try_link_user(
        &self,
        l: &LinkWrite,
        row: &Row<'_>,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkOutcome>> {
        const OP: &str = "link_user";
        let mut tx = self
            .begin_write("link_user: beginning the transaction")
            .await?;
        if let Some(id) = ledger_user(&mut tx, &l.source, &row.legacy_id).await? {
            tx.rollback().await.map_err(db("link_user: rolling back"))?;
            return Ok(Some(LinkOutcome::AlreadyLinked(UserId::from_uuid(id))));
        }
        let id = uuid_text(&row.id);
        let stored: Option<i64> = sqlx::query_scalar("SELECT updated_at FROM users WHERE id = ?1")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("link_user: reading the user"))?;
        let credential: Option<String> =
            sqlx::query_scalar("SELECT hash FROM credentials WHERE user_id = ?1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("link_user: reading the credential"))?;
        if stored != Some(micros(l.expected_updated_at)) || credential != l.expected_credential {
            tx.rollback().await.map_err(db("link_user: rolling back"))?;
            return Ok(Some(LinkOutcome::Stale));
        }
        if let Some(username) = &row.username_normalized {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT id FROM users WHERE username_normalized = ?1 AND id <> ?2",
            )
            .bind(username)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("link_user: finding who holds the username"))?;
            if let Some(holder) = holder {
                tx.rollback().await.map_err(db("link_user: rolling back"))?;
                return Ok(Some(LinkOutcome::IdentifierTaken {
                    field: "username",
                    holder: UserId::from_uuid(parse_uuid("users", "id", &holder)?),
                }));
            }
        }
        update_user_row(&mut tx, row, row.id, "link_user: updating the user").await?;
        if let (true, Some(c)) = (l.replace_credential, &l.user.credential) {
            sqlx::query(
                "INSERT INTO credentials (user_id, hash, scheme, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO UPDATE SET \
                 hash = excluded.hash, scheme = excluded.scheme, updated_at = excluded.updated_at",
            )
            .bind(&id)
            .bind(c.hash.clone())
            .bind(c.scheme.id())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db("link_user: writing the credential"))?;
        }
        let ledgered = insert_ledger(
            &mut tx,
            (&l.source, l.system_of_record),
            &[row],
            "link_user: inserting the ledger row",
        )
        .await?;
        if ledgered != 1 {
            tx.rollback().await.map_err(db("link_user: rolling back"))?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM quarantine WHERE source = ?1 AND legacy_id = ?2")
            .bind(&l.source)
            .bind(&row.legacy_id)
            .execute(&mut *tx)
            .await
            .map_err(db("link_user: clearing the quarantine row"))?;
        let user_id = UserId::from_uuid(row.id);
        insert_event(
            &mut tx,
            ("user.linked", subject),
            &plan::link_detail(l, &row.legacy_id),
            now,
            "link_user: recording the event",
        )
        .await?;
        tx.commit().await.map_err(db(OP))?;
        Ok(Some(LinkOutcome::Linked(user_id)))
    }

    /// One attempt at a registration; `Ok(None)` when it rolled back to retry.
    async fn try_register_user(
        &self,
        row: &Row<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<RegisterOutcome>> {
        let mut tx = self
            .begin_write("register_user: beginning the transaction")
            .await?;
        let inserted = insert_users(&mut tx, &[row], "register_user: inserting the user").await?;
        if inserted.is_empty() {
            let refusal = refusal(
                &mut tx,
                row,
                "register_user: finding who holds an identifier",
            )
            .await?;
            tx.rollback()
                .await
                .map_err(db("register_user: rolling back"))?;
            return match refusal {
                Refusal::Taken(field, holder) => Ok(Some(RegisterOutcome::IdentifierTaken {
                    field,
                    holder: UserId::from_uuid(holder),
                })),
                Refusal::IdInUse => Err(plan::id_in_use(
                    &format!("registration of user {}", row.id),
                    row.id,
                )),
                Refusal::Vanished => Ok(None),
            };
        }
        insert_credentials(&mut tx, &[row], "register_user: inserting the credential").await?;
        let user_id = UserId::from_uuid(row.id);
        insert_event(
            &mut tx,
            ("user.registered", &user_id.to_string()),
            &json!({"user_id": user_id, "method": "registered"}),
            now,
            "register_user: recording the event",
        )
        .await?;
        tx.commit().await.map_err(db("register_user: committing"))?;
        Ok(Some(RegisterOutcome::Registered(user_id)))
    }

    /// One attempt at a credential compare-and-set, under the write lock.
    async fn try_replace_credential(
        &self,
        user: UserId,
        expected_hash: &str,
        new: &Credential,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>> {
        let mut tx = self
            .begin_write("replace_credential: beginning the transaction")
            .await?;
        let id = uuid_text(user.as_uuid());
        let old: Option<String> =
            sqlx::query_scalar("SELECT scheme FROM credentials WHERE user_id = ?1 AND hash = ?2")
                .bind(&id)
                .bind(expected_hash)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("replace_credential: reading the credential"))?;
        let Some(old) = old else {
            tx.rollback()
                .await
                .map_err(db("replace_credential: rolling back"))?;
            return Ok(Some(false));
        };
        sqlx::query(
            "UPDATE credentials SET hash = ?1, scheme = ?2, updated_at = ?3 \
             WHERE user_id = ?4 AND hash = ?5",
        )
        .bind(&new.hash)
        .bind(new.scheme.id())
        .bind(micros(now))
        .bind(&id)
        .bind(expected_hash)
        .execute(&mut *tx)
        .await
        .map_err(db("replace_credential: replacing the credential"))?;
        insert_event(
            &mut tx,
            ("credential.upgraded", &id),
            &json!({"user_id": user, "old_scheme": old, "new_scheme": new.scheme.id()}),
            now,
            "replace_credential: recording the event",
        )
        .await?;
        tx.commit()
            .await
            .map_err(db("replace_credential: committing"))?;
        Ok(Some(true))
    }

    async fn user_where(&self, clause: &'static str, binds: &[&str]) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u LEFT JOIN credentials c ON c.user_id = u.id \
             WHERE {clause}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(*b);
        }
        let Some(row) = q
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a user"))?
        else {
            return Ok(None);
        };
        let user_row = user_row(&row)?;
        let links: Vec<(String, String)> = sqlx::query_as(
            "SELECT source, legacy_id FROM ledger WHERE user_id = ?1 ORDER BY source, legacy_id",
        )
        .bind(user_row.id.hyphenated().to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a user's legacy links"))?;
        user_row.into_user(links).map(Some)
    }
}

fn json_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn date_text(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

fn uuid_text(id: &Uuid) -> String {
    id.hyphenated().to_string()
}

fn parse_uuid(table: &'static str, column: &'static str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| corrupt(table, column, text, e))
}

async fn ledger_hits(
    tx: &mut Transaction<'static, Sqlite>,
    source: &str,
    rows: &[Row<'_>],
) -> Result<HashMap<String, LedgerHit>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.legacy_id.clone()).collect();
    let found: Vec<(String, String, String, i64)> = sqlx::query_as(
        // `IN (SELECT … json_each)` makes SQLite probe the primary key once per id; a join
        // with json_each would scan the source's whole ledger instead.
        "SELECT l.legacy_id, l.user_id, l.record_checksum, u.updated_at \
         FROM ledger l JOIN users u ON u.id = l.user_id \
         WHERE l.source = ?2 AND l.legacy_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(json_array(&ids))
    .bind(source)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("write_chunk: reading the ledger"))?;
    found
        .into_iter()
        .map(|(legacy_id, user_id, record_checksum, updated_at)| {
            let hit = LedgerHit {
                user_id: parse_uuid("ledger", "user_id", &user_id)?,
                record_checksum,
                user_updated_at: decode::instant("users", "updated_at", &user_id, updated_at)?,
            };
            Ok((legacy_id, hit))
        })
        .collect()
}

/// The record of a user that may still give way to a record with a lower key, if it may: its
/// only link is the bulk migration of this legacy id, and it has not changed since.
const DISPLACEABLE: &str = "SELECT u.legacy_record FROM users u
JOIN ledger l ON l.user_id = u.id LEFT JOIN credentials c ON c.user_id = u.id
WHERE u.id = ?1 AND l.source = ?2 AND l.legacy_id = ?3 AND l.method = 'bulk'
    AND u.updated_at <= l.migrated_at AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at)
    AND NOT EXISTS (SELECT 1 FROM ledger o WHERE o.user_id = u.id
        AND (o.source <> l.source OR o.legacy_id <> l.legacy_id))";

const OWNERS_OP: &str = "write_chunk: finding who holds an email or username";

/// The users holding any of these emails or usernames, each with its first ledger link.
async fn owners(
    tx: &mut Transaction<'static, Sqlite>,
    emails: &[String],
    usernames: &[String],
    op: &'static str,
) -> Result<Vec<Owner>> {
    let found: Vec<decode::OwnerRow<String>> = sqlx::query_as(
        "SELECT u.id, u.email_normalized, u.username_normalized, l.source, l.legacy_id, \
             l.method, u.updated_at <= l.migrated_at \
                 AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at) \
             FROM users u LEFT JOIN ledger l ON l.user_id = u.id \
             LEFT JOIN credentials c ON c.user_id = u.id \
             WHERE u.email_normalized IN (SELECT value FROM json_each(?1)) \
             UNION ALL \
             SELECT u.id, u.email_normalized, u.username_normalized, l.source, l.legacy_id, \
             l.method, u.updated_at <= l.migrated_at \
                 AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at) \
             FROM users u LEFT JOIN ledger l ON l.user_id = u.id \
             LEFT JOIN credentials c ON c.user_id = u.id \
             WHERE u.username_normalized IN (SELECT value FROM json_each(?2))",
    )
    .bind(json_array(emails))
    .bind(json_array(usernames))
    .fetch_all(&mut **tx)
    .await
    .map_err(db(op))?;
    let found = found
        .into_iter()
        .map(
            |(id, email, username, source, legacy_id, method, untouched)| {
                Ok((
                    parse_uuid("users", "id", &id)?,
                    email,
                    username,
                    source,
                    legacy_id,
                    method,
                    untouched,
                ))
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(decode::owners(found))
}

/// The user a legacy record became, by the ledger.
async fn ledger_user(
    tx: &mut Transaction<'static, Sqlite>,
    source: &str,
    legacy_id: &str,
) -> Result<Option<Uuid>> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT user_id FROM ledger WHERE source = ?1 AND legacy_id = ?2")
            .bind(source)
            .bind(legacy_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db("migrate_user: reading the ledger"))?;
    found
        .map(|id| parse_uuid("ledger", "user_id", &id))
        .transpose()
}

/// Why the unique indexes refused a single user's row.
async fn refusal(
    tx: &mut Transaction<'static, Sqlite>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<Refusal> {
    let (emails, usernames) = plan::identifiers(std::slice::from_ref(row), &[0]);
    let owners = owners(tx, &emails, &usernames, op).await?;
    let id_in_use: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
        .bind(uuid_text(&row.id))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db(op))?;
    Ok(plan::refusal(row, &owners, id_in_use.is_some()))
}

/// Appends to the audit log inside a write. `detail` must hold no secret.
async fn insert_event(
    tx: &mut Transaction<'static, Sqlite>,
    (kind, subject): (&str, &str),
    detail: &Value,
    now: DateTime<Utc>,
    op: &'static str,
) -> Result<()> {
    sqlx::query("INSERT INTO events (at, kind, subject, detail) VALUES (?1, ?2, ?3, ?4)")
        .bind(micros(now))
        .bind(kind)
        .bind(subject)
        .bind(detail.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db(op))?;
    Ok(())
}

const USERS_INSERT: &str = "INSERT INTO users (id, email, email_normalized, email_verified, \
     username, username_normalized, phone, given_name, family_name, name, middle_name, nickname, \
     birthdate, locale, zoneinfo, picture, attributes, status, created_at, updated_at, \
     migration_method, migrated_at, migration_source, legacy_record, migration_warnings) VALUES ";
const USERS_COLUMNS: usize = 25;

/// `(?, ?, …), (…)` for `rows` rows of `columns` columns.
fn placeholders(rows: usize, columns: usize) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    vec![one; rows].join(", ")
}

/// Inserts users in the given order, skipping any a unique index refuses; returns the ids
/// inserted.
async fn insert_users(
    tx: &mut Transaction<'static, Sqlite>,
    rows: &[&Row<'_>],
    op: &'static str,
) -> Result<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{USERS_INSERT}{} ON CONFLICT DO NOTHING RETURNING id",
        placeholders(rows.len(), USERS_COLUMNS)
    );
    let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
    for row in rows {
        let u = row.user;
        let p = &u.profile;
        q = q
            .bind(uuid_text(&row.id))
            .bind(u.email.as_ref().map(|e| e.as_str().to_owned()))
            .bind(row.email_normalized.clone())
            .bind(u.email_verified)
            .bind(u.username.as_ref().map(|n| n.as_str().to_owned()))
            .bind(row.username_normalized.clone())
            .bind(u.phone.as_ref().map(|n| n.as_str().to_owned()))
            .bind(p.given_name.clone())
            .bind(p.family_name.clone())
            .bind(p.name.clone())
            .bind(p.middle_name.clone())
            .bind(p.nickname.clone())
            .bind(date_text(p.birthdate))
            .bind(p.locale.clone())
            .bind(p.zoneinfo.clone())
            .bind(p.picture.clone())
            .bind(row.attributes.clone())
            .bind(u.status.as_str())
            .bind(micros(row.created_at))
            .bind(micros(row.updated_at))
            .bind(row.migration_method.map(|m| m.as_str()))
            .bind(row.migrated_at.map(micros))
            .bind(row.migration_source.map(str::to_owned))
            .bind(row.legacy_record.clone())
            .bind(row.migration_warnings.clone());
    }
    let ids = q.fetch_all(&mut **tx).await.map_err(db(op))?;
    ids.iter().map(|id| parse_uuid("users", "id", id)).collect()
}

async fn insert_credentials(
    tx: &mut Transaction<'static, Sqlite>,
    rows: &[&Row<'_>],
    op: &'static str,
) -> Result<()> {
    let with: Vec<&&Row<'_>> = rows
        .iter()
        .filter(|r| r.user.credential.is_some())
        .collect();
    if with.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES {}",
        placeholders(with.len(), 4)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for row in with {
        if let Some(c) = &row.user.credential {
            q = q
                .bind(uuid_text(&row.id))
                .bind(c.hash.clone())
                .bind(c.scheme.id())
                .bind(micros(row.credential_updated_at));
        }
    }
    q.execute(&mut **tx).await.map_err(db(op))?;
    Ok(())
}

/// Inserts ledger rows; returns how many were new (fewer means a concurrent writer migrated
/// one of these keys first).
async fn insert_ledger(
    tx: &mut Transaction<'static, Sqlite>,
    (source, system_of_record): (&str, SystemOfRecord),
    rows: &[&Row<'_>],
    op: &'static str,
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO ledger (source, legacy_id, user_id, system_of_record, method, migrated_at, \
         record_checksum, legacy_updated_at) VALUES {} ON CONFLICT DO NOTHING",
        placeholders(rows.len(), 8)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for row in rows {
        q = q
            .bind(source.to_owned())
            .bind(row.legacy_id.clone())
            .bind(uuid_text(&row.id))
            .bind(system_of_record.as_str())
            .bind(row.ledger_method.as_str())
            .bind(micros(row.ledger_migrated_at))
            .bind(row.checksum.to_owned())
            .bind(row.legacy_updated_at.map(micros));
    }
    let done = q.execute(&mut **tx).await.map_err(db(op))?;
    Ok(done.rows_affected())
}

/// Updates a migrated user in place from a newer legacy record: the user's fields, the
/// credential when legacy changed after it was last written, and the ledger's checksum.
async fn update_user(
    tx: &mut Transaction<'static, Sqlite>,
    source: &str,
    row: &Row<'_>,
    user_id: Uuid,
) -> Result<()> {
    let u = row.user;
    let id = uuid_text(&user_id);
    update_user_row(tx, row, user_id, "write_chunk: updating a user").await?;
    if let (Some(c), Some(legacy_updated_at)) = (&u.credential, row.legacy_updated_at) {
        sqlx::query(
            "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, scheme = excluded.scheme, \
             updated_at = excluded.updated_at \
             WHERE credentials.updated_at < excluded.updated_at \
             AND (credentials.hash IS NOT excluded.hash OR credentials.scheme IS NOT excluded.scheme)",
        )
        .bind(&id)
        .bind(c.hash.clone())
        .bind(c.scheme.id())
        .bind(micros(legacy_updated_at))
        .execute(&mut **tx)
        .await
        .map_err(db("write_chunk: updating a credential"))?;
    }
    sqlx::query(
        "UPDATE ledger SET record_checksum = ?1, legacy_updated_at = ?2 \
         WHERE source = ?3 AND legacy_id = ?4",
    )
    .bind(row.checksum.to_owned())
    .bind(row.legacy_updated_at.map(micros))
    .bind(source)
    .bind(row.legacy_id.clone())
    .execute(&mut **tx)
    .await
    .map_err(db("write_chunk: updating a ledger row"))?;
    Ok(())
}

/// Writes a user row's fields (not its migration record) over the stored user `user_id`.
async fn update_user_row(
    tx: &mut Transaction<'static, Sqlite>,
    row: &Row<'_>,
    user_id: Uuid,
    op: &'static str,
) -> Result<()> {
    let u = row.user;
    let p = &u.profile;
    let id = uuid_text(&user_id);
    sqlx::query(
        "UPDATE users SET email = ?1, email_normalized = ?2, email_verified = ?3, username = ?4, \
         username_normalized = ?5, phone = ?6, given_name = ?7, family_name = ?8, name = ?9, \
         middle_name = ?10, nickname = ?11, birthdate = ?12, locale = ?13, zoneinfo = ?14, \
         picture = ?15, attributes = ?16, status = ?17, created_at = ?18, updated_at = ?19, \
         legacy_record = COALESCE(?20, legacy_record), \
         migration_warnings = CASE WHEN ?20 IS NULL THEN migration_warnings ELSE ?22 END \
         WHERE id = ?21",
    )
    .bind(u.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(row.email_normalized.clone())
    .bind(u.email_verified)
    .bind(u.username.as_ref().map(|n| n.as_str().to_owned()))
    .bind(row.username_normalized.clone())
    .bind(u.phone.as_ref().map(|n| n.as_str().to_owned()))
    .bind(p.given_name.clone())
    .bind(p.family_name.clone())
    .bind(p.name.clone())
    .bind(p.middle_name.clone())
    .bind(p.nickname.clone())
    .bind(date_text(p.birthdate))
    .bind(p.locale.clone())
    .bind(p.zoneinfo.clone())
    .bind(p.picture.clone())
    .bind(row.attributes.clone())
    .bind(u.status.as_str())
    .bind(micros(row.created_at))
    .bind(micros(row.updated_at))
    .bind(row.legacy_record.clone())
    .bind(&id)
    .bind(row.migration_warnings.clone())
    .execute(&mut **tx)
    .await
    .map_err(db(op))?;
    Ok(())
}

async fn upsert_quarantine(
    tx: &mut Transaction<'static, Sqlite>,
    source: &str,
    rows: &[QuarantineRow],
    now: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO quarantine (source, legacy_id, reason, field, record, first_seen, last_seen) \
         VALUES {} ON CONFLICT (source, legacy_id) DO UPDATE SET reason = excluded.reason, \
         field = excluded.field, record = excluded.record, last_seen = excluded.last_seen, \
         attempts = quarantine.attempts + 1",
        placeholders(rows.len(), 7)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(source.to_owned())
            .bind(r.legacy_id.clone())
            .bind(r.reason.clone())
            .bind(r.field.clone())
            .bind(r.record.clone())
            .bind(micros(now))
            .bind(micros(now));
    }
    q.execute(&mut **tx)
        .await
        .map_err(db("write_chunk: writing quarantine rows"))?;
    Ok(())
}

async fn save_checkpoint(
    tx: &mut Transaction<'static, Sqlite>,
    chunk: &ChunkWrite,
    outcome: &ChunkOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let c = plan::counters(chunk.read, outcome);
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO checkpoints (job, source, partition, cursor, done, read, migrated, skipped, \
         updated, quarantined, updated_at, linked) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (job, source, partition) DO UPDATE SET \
         cursor = COALESCE(excluded.cursor, checkpoints.cursor), done = excluded.done, \
         read = checkpoints.read + excluded.read, \
         migrated = checkpoints.migrated + excluded.migrated, \
         skipped = checkpoints.skipped + excluded.skipped, \
         updated = checkpoints.updated + excluded.updated, \
         quarantined = checkpoints.quarantined + excluded.quarantined, \
         linked = checkpoints.linked + excluded.linked, updated_at = excluded.updated_at",
    )
    .bind(&chunk.job)
    .bind(&chunk.source)
    .bind(i64::from(chunk.partition))
    .bind(decode::cursor_json(chunk.cursor.as_ref()).map(|v| v.to_string()))
    .bind(chunk.done)
    .bind(n(c.read))
    .bind(n(c.migrated))
    .bind(n(c.skipped))
    .bind(n(c.updated))
    .bind(n(c.quarantined))
    .bind(micros(now))
    .bind(n(c.linked))
    .execute(&mut **tx)
    .await
    .map_err(db("write_chunk: saving the checkpoint"))?;
    Ok(())
}

fn user_row(row: &SqliteRow) -> Result<UserRow> {
    let get = |e: sqlx::Error| StoreError::Database {
        op: "reading a user row",
        source: e,
    };
    let id: String = row.try_get(0).map_err(get)?;
    let uuid = parse_uuid("users", "id", &id)?;
    let birthdate: Option<String> = row.try_get(10).map_err(get)?;
    let birthdate = birthdate
        .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
        .transpose()
        .map_err(|e| corrupt("users", "birthdate", &id, e))?;
    let attributes: String = row.try_get(14).map_err(get)?;
    let legacy_record: Option<String> = row.try_get(21).map_err(get)?;
    let warnings: Option<String> = row.try_get(24).map_err(get)?;
    let migrated_at: Option<i64> = row.try_get(19).map_err(get)?;
    Ok(UserRow {
        id: uuid,
        email: row.try_get(1).map_err(get)?,
        email_verified: row.try_get(2).map_err(get)?,
        username: row.try_get(3).map_err(get)?,
        phone: row.try_get(4).map_err(get)?,
        given_name: row.try_get(5).map_err(get)?,
        family_name: row.try_get(6).map_err(get)?,
        name: row.try_get(7).map_err(get)?,
        middle_name: row.try_get(8).map_err(get)?,
        nickname: row.try_get(9).map_err(get)?,
        birthdate,
        locale: row.try_get(11).map_err(get)?,
        zoneinfo: row.try_get(12).map_err(get)?,
        picture: row.try_get(13).map_err(get)?,
        attributes: decode::json("users", "attributes", &id, &attributes)?,
        status: row.try_get(15).map_err(get)?,
        created_at: decode::instant("users", "created_at", &id, row.try_get(16).map_err(get)?)?,
        updated_at: decode::instant("users", "updated_at", &id, row.try_get(17).map_err(get)?)?,
        migration_method: row.try_get(18).map_err(get)?,
        migrated_at: migrated_at
            .map(|m| decode::instant("users", "migrated_at", &id, m))
            .transpose()?,
        migration_source: row.try_get(20).map_err(get)?,
        legacy_record: legacy_record
            .map(|r| decode::json("users", "legacy_record", &id, &r))
            .transpose()?,
        cred_hash: row.try_get(22).map_err(get)?,
        cred_scheme: row.try_get(23).map_err(get)?,
        migration_warnings: warnings
            .map(|w| decode::json("users", "migration_warnings", &id, &w))
            .transpose()?,
    })
}

type CheckpointRow = (
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    bool,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

const CHECKPOINT_COLUMNS: &str = "job, source, partition, cursor, until_key, done, read, \
     migrated, skipped, updated, quarantined, updated_at, linked, displaced";

fn checkpoint(r: CheckpointRow) -> Result<Checkpoint> {
    let (
        job,
        source,
        partition,
        cursor,
        until,
        done,
        read,
        migrated,
        skipped,
        updated,
        quarantined,
        at,
        linked,
        displaced,
    ) = r;
    let key = format!("{job}/{source}/{partition}");
    let json = |column: &'static str, text: Option<String>| {
        text.map(|c| decode::json("checkpoints", column, &key, &c))
            .transpose()
    };
    Ok(Checkpoint {
        partition: u32::try_from(partition)
            .map_err(|_| corrupt("checkpoints", "partition", &key, "is out of range"))?,
        cursor: decode::cursor(&key, json("cursor", cursor)?)?,
        until: decode::cursor(&key, json("until_key", until)?)?,
        done,
        counters: decode::counters(
            &key,
            [
                read,
                migrated,
                skipped,
                updated,
                quarantined,
                linked,
                displaced,
            ],
        )?,
        updated_at: decode::instant("checkpoints", "updated_at", &key, at)?,
        job,
        source,
    })
}

type QuarantineSqlRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    i64,
);

const QUARANTINE_COLUMNS: &str =
    "source, legacy_id, reason, field, record, first_seen, last_seen, attempts";

fn quarantine_entry(r: QuarantineSqlRow) -> Result<QuarantineEntry> {
    let (source, legacy_id, reason, field, record, first_seen, last_seen, attempts) = r;
    let key = format!("{source}/{legacy_id}");
    Ok(QuarantineEntry {
        record: decode::json("quarantine", "record", &key, &record)?,
        first_seen: decode::instant("quarantine", "first_seen", &key, first_seen)?,
        last_seen: decode::instant("quarantine", "last_seen", &key, last_seen)?,
        attempts: decode::attempts(&key, attempts)?,
        source,
        legacy_id,
        reason,
        field,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: "sqlite",
                source,
            })
    }

    async fn schema_version(&self) -> Result<Option<i64>> {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading the schema version"))?;
        if exists.is_none() {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the schema version"))
    }

    async fn write_chunk(&self, chunk: &ChunkWrite) -> Result<ChunkOutcome> {
        let now = plan::now();
        let prepared = plan::prepare(chunk, now)?;
        let _writer = self.write_lock.lock().await;
        plan::with_retries(chunk, || self.try_write_chunk(chunk, &prepared, now)).await
    }

    async fn preview_chunk(&self, chunk: &ChunkWrite, claims: &Claims) -> Result<ChunkPreview> {
        let prepared = plan::prepare(chunk, plan::now())?;
        let (hits, owners) = self.preview_reads(&chunk.source, &prepared.rows).await?;
        Ok(plan::preview(chunk, &prepared, &hits, &owners, claims))
    }

    async fn migrate_user(&self, m: &LazyMigration) -> Result<MigrateOutcome> {
        let now = plan::now();
        let row = plan::prepare_lazy(m, now)?;
        let subject = plan::lazy_subject(m);
        let _writer = self.write_lock.lock().await;
        plan::retry_write("migrate_user", &subject, || {
            self.try_migrate_user(m, &row, &subject, now)
        })
        .await
    }

    async fn quarantine_record(&self, source: &str, rejected: &crate::Rejected) -> Result<bool> {
        const OP: &str = "quarantine_record";
        let now = plan::now();
        let (row, subject, detail) = plan::prepare_rejected(source, rejected)?;
        let _writer = self.write_lock.lock().await;
        let mut tx = self.begin_write(OP).await?;
        if ledger_user(&mut tx, source, &row.legacy_id)
            .await?
            .is_some()
        {
            tx.rollback().await.map_err(db(OP))?;
            return Ok(false);
        }
        upsert_quarantine(&mut tx, source, std::slice::from_ref(&row), now).await?;
        insert_event(&mut tx, ("record.quarantined", &subject), &detail, now, OP).await?;
        tx.commit().await.map_err(db(OP))?;
        Ok(true)
    }

    async fn link_user(&self, l: &LinkWrite) -> Result<LinkOutcome> {
        let now = plan::now();
        let l = &plan::bump(l);
        let mut row = plan::prepare_link(l, now)?;
        row.legacy_record = None;
        let subject = plan::link_subject(l);
        let _writer = self.write_lock.lock().await;
        plan::retry_write("link_user", &subject, || {
            self.try_link_user(l, &row, &subject, now)
        })
        .await
    }

    async fn email_holders(&self, normalized: &[String]) -> Result<Vec<(String, UserId)>> {
        if normalized.is_empty() {
            return Ok(Vec::new());
        }
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT email_normalized, id FROM users \
             WHERE email_normalized IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_array(normalized))
        .fetch_all(&self.pool)
        .await
        .map_err(db("finding who holds these addresses"))?;
        found
            .into_iter()
            .map(|(email, id)| Ok((email, UserId::from_uuid(parse_uuid("users", "id", &id)?))))
            .collect()
    }

    async fn register_user(&self, user: &User) -> Result<RegisterOutcome> {
        let now = plan::now();
        let row = plan::prepare_registered(user, now)?;
        let subject = user.id.to_string();
        let _writer = self.write_lock.lock().await;
        plan::retry_write("register_user", &subject, || {
            self.try_register_user(&row, now)
        })
        .await
    }

    async fn replace_credential(
        &self,
        user: UserId,
        expected_hash: &str,
        new: &Credential,
    ) -> Result<bool> {
        plan::check_credential(*user.as_uuid(), &new.hash)?;
        if expected_hash.contains('\0') {
            // No stored hash holds a NUL, so this one cannot match.
            return Ok(false);
        }
        let now = plan::now();
        let subject = user.to_string();
        let _writer = self.write_lock.lock().await;
        plan::retry_write("replace_credential", &subject, || {
            self.try_replace_credential(user, expected_hash, new, now)
        })
        .await
    }

    async fn plan_partitions(
        &self,
        job: &str,
        source: &str,
        ranges: &[(u32, KeyRange)],
    ) -> Result<Vec<Checkpoint>> {
        {
            let _writer = self.write_lock.lock().await;
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("plan_partitions: beginning the transaction"))?;
            let planned: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM checkpoints WHERE job = ?1 AND source = ?2",
            )
            .bind(job)
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("plan_partitions: reading the plan"))?;
            if planned == 0 {
                let now = micros(plan::now());
                for (partition, range) in ranges {
                    sqlx::query(
                        "INSERT INTO checkpoints (job, source, partition, cursor, until_key, \
                         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .bind(job)
                    .bind(source)
                    .bind(i64::from(*partition))
                    .bind(decode::cursor_json(range.after.as_ref()).map(|v| v.to_string()))
                    .bind(decode::cursor_json(range.until.as_ref()).map(|v| v.to_string()))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("plan_partitions: storing the plan"))?;
                }
            }
            tx.commit()
                .await
                .map_err(db("plan_partitions: committing"))?;
        }
        self.checkpoints(job, source).await
    }

    async fn checkpoint(
        &self,
        job: &str,
        source: &str,
        partition: u32,
    ) -> Result<Option<Checkpoint>> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints \
             WHERE job = ?1 AND source = ?2 AND partition = ?3"
        );
        let row: Option<CheckpointRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(job)
            .bind(source)
            .bind(i64::from(partition))
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a checkpoint"))?;
        row.map(checkpoint).transpose()
    }

    async fn checkpoints(&self, job: &str, source: &str) -> Result<Vec<Checkpoint>> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE job = ?1 AND source = ?2 \
             ORDER BY partition"
        );
        let rows: Vec<CheckpointRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(job)
            .bind(source)
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing checkpoints"))?;
        rows.into_iter().map(checkpoint).collect()
    }

    async fn quarantine_list(
        &self,
        filter: &QuarantineFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<QuarantineEntry>> {
        let sql = format!(
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE (?1 IS NULL OR source = ?1) \
             ORDER BY source, legacy_id LIMIT ?2 OFFSET ?3"
        );
        let rows: Vec<QuarantineSqlRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(filter.source.as_deref())
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing the quarantine"))?;
        rows.into_iter().map(quarantine_entry).collect()
    }

    async fn quarantine_page(
        &self,
        filter: &QuarantineFilter,
        after: Option<&QuarantineCursor>,
        limit: u32,
    ) -> Result<Vec<QuarantineEntry>> {
        let sql = format!(
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE (?1 IS NULL OR source = ?1) \
             AND (?2 IS NULL OR (source, legacy_id) > (?2, ?3)) \
             ORDER BY source, legacy_id LIMIT ?4"
        );
        let rows: Vec<QuarantineSqlRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(filter.source.as_deref())
            .bind(after.map(|a| a.0.as_str()))
            .bind(after.map(|a| a.1.as_str()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading a quarantine page"))?;
        rows.into_iter().map(quarantine_entry).collect()
    }

    async fn quarantine_count(&self, filter: &QuarantineFilter) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM quarantine WHERE (?1 IS NULL OR source = ?1)")
                .bind(filter.source.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(db("counting the quarantine"))?;
        decode::non_negative("quarantine_count", n)
    }

    async fn counts(&self) -> Result<Counts> {
        plan::counts(&self.pool).await
    }

    async fn warnings(&self, filter: &WarningFilter) -> Result<WarningReport> {
        plan::warnings(&self.pool, filter).await
    }

    async fn ledger_page(
        &self,
        source: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT legacy_id, user_id, record_checksum FROM ledger \
             WHERE source = ?1 AND (?2 IS NULL OR legacy_id > ?2) ORDER BY legacy_id LIMIT ?3",
        )
        .bind(source)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a ledger page"))?;
        rows.into_iter()
            .map(|(legacy_id, user_id, sum)| {
                decode::ledger_entry(&legacy_id, parse_uuid("ledger", "user_id", &user_id)?, sum)
            })
            .collect()
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.user_where("u.id = ?1", &[&uuid_text(id.as_uuid())])
            .await
    }

    async fn ledger_user(&self, source: &str, legacy_id: &str) -> Result<Option<UserId>> {
        const OP: &str = "ledger_user: reading the ledger";
        let mut tx = self.pool.begin().await.map_err(db(OP))?;
        let id = ledger_user(&mut tx, source, legacy_id).await?;
        tx.rollback().await.map_err(db(OP))?;
        Ok(id.map(UserId::from_uuid))
    }

    async fn user_by_legacy(&self, source: &str, legacy_id: &str) -> Result<Option<User>> {
        self.user_where(
            "u.id = (SELECT user_id FROM ledger WHERE source = ?1 AND legacy_id = ?2)",
            &[source, legacy_id],
        )
        .await
    }

    async fn user_by_email(&self, normalized: &str) -> Result<Option<User>> {
        self.user_where("u.email_normalized = ?1", &[normalized])
            .await
    }

    async fn user_by_username(&self, normalized: &str) -> Result<Option<User>> {
        self.user_where("u.username_normalized = ?1", &[normalized])
            .await
    }

    async fn record_event(&self, kind: &str, subject: &str, detail: &Value) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO events (at, kind, subject, detail) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .bind(micros(plan::now()))
        .bind(kind)
        .bind(subject)
        .bind(detail.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(db("recording an event"))
    }

    async fn events(&self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT id, at, kind, subject, detail FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading events"))?;
        rows.into_iter()
            .map(|(id, at, kind, subject, detail)| {
                let key = id.to_string();
                Ok(Event {
                    id,
                    at: decode::instant("events", "at", &key, at)?,
                    detail: decode::json("events", "detail", &key, &detail)?,
                    kind,
                    subject,
                })
            })
            .collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
