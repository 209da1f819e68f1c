//! The PostgreSQL store, for scale and for several usher processes sharing one database.
//!
//! A chunk is written set-based: its rows are streamed with binary `COPY … FROM STDIN` into a
//! per-session temporary staging table (`ON COMMIT DELETE ROWS`, so it is empty again when the
//! transaction ends either way), then moved by `INSERT … SELECT … ORDER BY ord ON CONFLICT DO
//! NOTHING RETURNING id` into users, with credentials and ledger rows in the same statement.
//! Concurrent writers (two partitions) are safe under READ COMMITTED: an insert that meets a
//! concurrent writer's uncommitted address waits for it, then either inserts (it rolled back)
//! or is refused and quarantined, naming the winner's record, which the next statement sees —
//! unless the winner migrated that very record (a first login through the bridge): then the
//! chunk rolls back and retries, and the retry skips the record.
//!
//! The login bridge's single-user writes are plain statements in one READ COMMITTED
//! transaction, every insert `ON CONFLICT DO NOTHING` so a unique violation never aborts it:
//! an insert that meets a concurrent writer's uncommitted user (the same record's first login
//! elsewhere, or a backfill) waits for it, and when it is refused the next statement sees the
//! winner's committed ledger row or user.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection as _, Postgres, Row as _, Transaction};
use usher_core::{Credential, KeyRange, User, UserId};
use uuid::Uuid;

use crate::decode::{self, USER_COLUMNS, UserRow};
use crate::error::{Result, StoreError, db};
use crate::model::{
    Checkpoint, ChunkOutcome, ChunkPreview, ChunkWrite, Claims, Counts, Event, LazyMigration,
    LedgerEntry, LinkOutcome, LinkWrite, MigrateOutcome, QuarantineEntry, QuarantineFilter,
    RegisterOutcome, WarningFilter, WarningReport,
};
use crate::pgcopy::{CopyBuf, EncodeError};
use crate::plan::{self, LedgerHit, Owner, Prepared, QuarantineRow, Refusal, Row};
use crate::{QuarantineCursor, Store};
use usher_core::redact::{redact_url, scrub, url_password};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Run on every new connection: the staging table lives in the session's temporary schema
/// (never WAL-logged), and enough temporary buffers keep a 10k-user chunk in memory.
const SESSION_SETUP: &str = "SET temp_buffers = '64MB';
CREATE TEMP TABLE IF NOT EXISTS usher_stage (
    ord                 integer NOT NULL,
    op                  text NOT NULL,
    id                  uuid NOT NULL,
    email               text,
    email_normalized    text COLLATE \"C\",
    email_verified      boolean NOT NULL,
    username            text,
    username_normalized text COLLATE \"C\",
    phone               text,
    given_name          text,
    family_name         text,
    name                text,
    middle_name         text,
    nickname            text,
    birthdate           date,
    locale              text,
    zoneinfo            text,
    picture             text,
    attributes          jsonb NOT NULL,
    status              text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    migration_method    text,
    migrated_at         timestamptz,
    migration_source    text,
    legacy_record       jsonb,
    migration_warnings  jsonb,
    cred_hash           text,
    cred_scheme         text,
    cred_updated_at     timestamptz,
    legacy_id           text COLLATE \"C\" NOT NULL,
    record_checksum     text NOT NULL,
    legacy_updated_at   timestamptz,
    ledger_method       text NOT NULL,
    ledger_migrated_at  timestamptz NOT NULL
) ON COMMIT DELETE ROWS;";

/// Fields per staging row (the columns above, in order).
const STAGE_FIELDS: i16 = 35;

const COPY_STAGE: &str = "COPY pg_temp.usher_stage FROM STDIN (FORMAT binary)";

/// Inserts the staged users in key order; the unique indexes refuse later duplicates, and only
/// the users inserted get a credential and a ledger row. Returns the ids inserted and the
/// ledger rows written. A ledger key a concurrent writer migrated meanwhile is a unique
/// violation (a plain insert is cheaper than a second speculative one), and the chunk retries.
const INSERT_STAGED: &str = "WITH ins AS (
    INSERT INTO users (id, email, email_normalized, email_verified, username,
        username_normalized, phone, given_name, family_name, name, middle_name, nickname,
        birthdate, locale, zoneinfo, picture, attributes, status, created_at, updated_at,
        migration_method, migrated_at, migration_source, legacy_record, migration_warnings)
    SELECT id, email, email_normalized, email_verified, username, username_normalized, phone,
        given_name, family_name, name, middle_name, nickname, birthdate, locale, zoneinfo,
        picture, attributes, status, created_at, updated_at, migration_method, migrated_at,
        migration_source, legacy_record, migration_warnings
    FROM pg_temp.usher_stage WHERE op = 'i' ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id
), cred AS (
    INSERT INTO credentials (user_id, hash, scheme, updated_at)
    SELECT s.id, s.cred_hash, s.cred_scheme, s.cred_updated_at
    FROM pg_temp.usher_stage s JOIN ins ON ins.id = s.id
    WHERE s.op = 'i' AND s.cred_hash IS NOT NULL
), led AS (
    INSERT INTO ledger (source, legacy_id, user_id, system_of_record, method, migrated_at,
        record_checksum, legacy_updated_at)
    SELECT $1, s.legacy_id, s.id, $2, s.ledger_method, s.ledger_migrated_at,
        s.record_checksum, s.legacy_updated_at
    FROM pg_temp.usher_stage s JOIN ins ON ins.id = s.id
    WHERE s.op = 'i'
    RETURNING 1
)
SELECT (SELECT array_agg(id) FROM ins), (SELECT count(*) FROM led)";

const UPDATE_STAGED_USERS: &str = "UPDATE users u SET email = s.email,
    email_normalized = s.email_normalized, email_verified = s.email_verified,
    username = s.username, username_normalized = s.username_normalized, phone = s.phone,
    given_name = s.given_name, family_name = s.family_name, name = s.name,
    middle_name = s.middle_name, nickname = s.nickname, birthdate = s.birthdate,
    locale = s.locale, zoneinfo = s.zoneinfo, picture = s.picture, attributes = s.attributes,
    status = s.status, created_at = s.created_at, updated_at = s.updated_at,
    legacy_record = COALESCE(s.legacy_record, u.legacy_record),
    migration_warnings = CASE WHEN s.legacy_record IS NULL THEN u.migration_warnings
        ELSE s.migration_warnings END
FROM pg_temp.usher_stage s WHERE s.op = 'u' AND u.id = s.id";

/// A newer legacy credential replaces the stored one only if legacy changed after the stored
/// one was last written (a re-hash at login is newer than an older legacy change).
const UPDATE_STAGED_CREDENTIALS: &str =
    "INSERT INTO credentials (user_id, hash, scheme, updated_at)
SELECT s.id, s.cred_hash, s.cred_scheme, s.cred_updated_at FROM pg_temp.usher_stage s
WHERE s.op = 'u' AND s.cred_hash IS NOT NULL
ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, scheme = excluded.scheme,
    updated_at = excluded.updated_at
WHERE credentials.updated_at < excluded.updated_at
    AND (credentials.hash, credentials.scheme) IS DISTINCT FROM (excluded.hash, excluded.scheme)";

const UPDATE_STAGED_LEDGER: &str = "UPDATE ledger l SET record_checksum = s.record_checksum,
    legacy_updated_at = s.legacy_updated_at
FROM pg_temp.usher_stage s
WHERE s.op = 'u' AND l.source = $1 AND l.legacy_id = s.legacy_id";

/// One user of a single-user write; refused (no row back) by any unique index.
const INSERT_USER: &str = "INSERT INTO users (id, email, email_normalized, email_verified,
    username, username_normalized, phone, given_name, family_name, name, middle_name, nickname,
    birthdate, locale, zoneinfo, picture, attributes, status, created_at, updated_at,
    migration_method, migrated_at, migration_source, legacy_record, migration_warnings)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18,
    $19, $20, $21, $22, $23, $24::jsonb, $25::jsonb)
ON CONFLICT DO NOTHING
RETURNING id";

/// A link's merged user over the stored one; its migration record stays.
const UPDATE_LINKED_USER: &str = "UPDATE users SET email = $2, email_normalized = $3,
    email_verified = $4, username = $5, username_normalized = $6, phone = $7, given_name = $8,
    family_name = $9, name = $10, middle_name = $11, nickname = $12, birthdate = $13,
    locale = $14, zoneinfo = $15, picture = $16, attributes = $17::jsonb, status = $18,
    created_at = $19, updated_at = $20
WHERE id = $1";

/// Replaces a credential only while it still holds the expected hash; returns the old scheme.
/// `FOR UPDATE` makes a concurrent replacement wait, then re-check the hash it changed.
const REPLACE_CREDENTIAL: &str = "WITH old AS (
    SELECT user_id, scheme FROM credentials WHERE user_id = $1 AND hash = $2 FOR UPDATE
)
UPDATE credentials c SET hash = $3, scheme = $4, updated_at = $5
FROM old WHERE c.user_id = old.user_id
RETURNING old.scheme";

/// The user store in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL without its password, for logs.
    target: String,
}

impl PostgresStore {
    /// Connects a pool of up to `max_connections` to `url` (one connection is made now, so an
    /// unreachable server fails here). Errors carry the URL redacted.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let target = redact_url(url);
        let fail = |e: sqlx::Error| StoreError::Open {
            backend: "postgres",
            target: target.clone(),
            reason: scrub(&e.to_string(), url_password(url)),
        };
        let options = PgConnectOptions::from_str(url).map_err(fail)?;
        // One direct attempt first: a pool retries a refused connection until its acquire
        // timeout, and an unreachable server should fail `open` at once, saying why.
        PgConnection::connect_with(&options)
            .await
            .map_err(fail)?
            .close()
            .await
            .map_err(fail)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(SESSION_SETUP).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        tracing::info!(url = %target, max_connections, "Opened the PostgreSQL store");
        Ok(Self { pool, target })
    }

    /// The URL the store was opened with, password redacted.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The connection pool, for callers that need PostgreSQL itself (tests, benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A preview's reads, in one transaction that writes nothing.
    async fn preview_reads(&self, source: &str, rows: &[Row<'_>]) -> Result<plan::PreviewReads> {
        let (emails, usernames) = plan::all_identifiers(rows);
        let mut tx = self.pool.begin().await.map_err(db(plan::PREVIEW_OP))?;
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db(plan::PREVIEW_OP))?;
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
            .pool
            .begin()
            .await
            .map_err(db("write_chunk: beginning the transaction"))?;

        let hits = ledger_hits(&mut tx, &chunk.source, rows).await?;
        let classified = plan::classify(rows, &hits, chunk.policy);
        let mut quarantine: Vec<QuarantineRow> = prepared.quarantine.clone();

        let updates = if classified.updates.is_empty() {
            Vec::new()
        } else {
            let indexes: Vec<usize> = classified.updates.iter().map(|(i, _)| *i).collect();
            let (emails, usernames) = plan::identifiers(rows, &indexes);
            let owners = owners(&mut tx, &emails, &usernames, OWNERS_OP).await?;
            let (kept, refused) =
                plan::check_updates(rows, classified.updates, &owners, &chunk.source);
            quarantine.extend(refused);
            kept
        };

        if !(updates.is_empty() && classified.inserts.is_empty()) {
            let data = encode_stage(rows, &classified.inserts, &updates).map_err(|e| {
                StoreError::Invalid {
                    what: format!("chunk for source {}", chunk.source),
                    reason: e.to_string(),
                }
            })?;
            let mut copy = tx
                .copy_in_raw(COPY_STAGE)
                .await
                .map_err(db("write_chunk: starting COPY into the staging table"))?;
            copy.send(data)
                .await
                .map_err(db("write_chunk: sending COPY data"))?;
            copy.finish()
                .await
                .map_err(db("write_chunk: finishing COPY into the staging table"))?;
        }

        if !updates.is_empty() {
            sqlx::query(UPDATE_STAGED_USERS)
                .execute(&mut *tx)
                .await
                .map_err(db("write_chunk: updating users"))?;
            sqlx::query(UPDATE_STAGED_CREDENTIALS)
                .execute(&mut *tx)
                .await
                .map_err(db("write_chunk: updating credentials"))?;
            sqlx::query(UPDATE_STAGED_LEDGER)
                .bind(&chunk.source)
                .execute(&mut *tx)
                .await
                .map_err(db("write_chunk: updating ledger rows"))?;
        }

        let mut ok = Vec::with_capacity(classified.inserts.len());
        if !classified.inserts.is_empty() {
            // The staging table has no statistics, so the planner guesses a handful of rows and
            // may join it to the inserted ids with a nested loop: quadratic at 5000 rows. Only
            // hash (or merge) joins make sense for this statement.
            sqlx::query("SET LOCAL enable_nestloop = off")
                .execute(&mut *tx)
                .await
                .map_err(db("write_chunk: planning the insert"))?;
            let (ids, ledgered): (Option<Vec<Uuid>>, Option<i64>) = sqlx::query_as(INSERT_STAGED)
                .bind(&chunk.source)
                .bind(chunk.system_of_record.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db(
                    "write_chunk: inserting users, credentials and ledger rows",
                ))?;
            sqlx::query("SET LOCAL enable_nestloop TO DEFAULT")
                .execute(&mut *tx)
                .await
                .map_err(db("write_chunk: planning the insert"))?;
            let inserted: HashSet<Uuid> = ids.unwrap_or_default().into_iter().collect();
            if decode::non_negative("write_chunk", ledgered.unwrap_or(0))?
                != plan::count(inserted.len())
            {
                tx.rollback()
                    .await
                    .map_err(db("write_chunk: rolling back"))?;
                return Ok(None);
            }
            let mut refused = Vec::new();
            for &i in &classified.inserts {
                if rows.get(i).is_some_and(|r| inserted.contains(&r.id)) {
                    ok.push(i);
                } else {
                    refused.push(i);
                }
            }
            if !refused.is_empty() {
                // A record refused because a concurrent writer (the login bridge) migrated that
                // very record first is no duplicate: the retry's ledger read skips it.
                if migrated_meanwhile(&mut tx, &chunk.source, rows, &refused).await? {
                    tx.rollback()
                        .await
                        .map_err(db("write_chunk: rolling back"))?;
                    return Ok(None);
                }
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
        }

        if !quarantine.is_empty() {
            upsert_quarantine(&mut tx, &chunk.source, &quarantine, now).await?;
        }
        let migrated = plan::migrated_keys(rows, &ok, &updates, &classified.skipped);
        if !migrated.is_empty() {
            sqlx::query("DELETE FROM quarantine WHERE source = $1 AND legacy_id = ANY($2)")
                .bind(&chunk.source)
                .bind(&migrated)
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
        let mut tx = self.begin(OP).await?;
        let mut quarantine = Vec::with_capacity(gone.len());
        for d in gone {
            // The credential first: a login's re-hash writes it without the user row.
            sqlx::query("SELECT 1 FROM credentials WHERE user_id = $1 FOR UPDATE")
                .bind(d.user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(OP))?;
            let record: Option<Option<String>> = sqlx::query_scalar(DISPLACEABLE)
                .bind(d.user_id)
                .bind(&chunk.source)
                .bind(&d.legacy_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(OP))?;
            let Some(record) = record else { continue };
            sqlx::query("DELETE FROM ledger WHERE source = $1 AND legacy_id = $2")
                .bind(&chunk.source)
                .bind(&d.legacy_id)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(d.user_id)
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
                 updated_at) VALUES ($1, $2, $3, $4, $4, $5) \
                 ON CONFLICT (job, source, partition) DO UPDATE SET \
                 displaced = checkpoints.displaced + excluded.displaced, \
                 quarantined = checkpoints.quarantined + excluded.quarantined",
            )
            .bind(&chunk.job)
            .bind(&chunk.source)
            .bind(i32::try_from(chunk.partition).unwrap_or(i32::MAX))
            .bind(i64::try_from(quarantine.len()).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        }
        tx.commit().await.map_err(db(OP))
    }

    async fn begin(&self, op: &'static str) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db(op))
    }

    /// One attempt at a lazy migration; `Ok(None)` when it rolled back to retry.
    ///
    /// The ledger is read first; a concurrent first login (or backfill) of the same record that
    /// has not committed yet is met by the user insert, which waits for it: when it commits,
    /// its address refuses ours and the ledger, read again, names its user. A concurrent writer
    /// of the record whose user took other identifiers is met by the ledger insert instead,
    /// which then writes nothing, and the retry finds the winner's ledger row.
    async fn try_migrate_user(
        &self,
        m: &LazyMigration,
        row: &Row<'_>,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<MigrateOutcome>> {
        let mut tx = self
            .begin("migrate_user: beginning the transaction")
            .await?;
        if let Some(id) = ledger_user(&mut tx, &m.source, &row.legacy_id).await? {
            tx.rollback()
                .await
                .map_err(db("migrate_user: rolling back"))?;
            return Ok(Some(MigrateOutcome::AlreadyMigrated(UserId::from_uuid(id))));
        }
        if !insert_user(&mut tx, row, "migrate_user: inserting the user").await? {
            // A new statement, a new snapshot: the refusing writer's rows are visible now.
            let outcome = match ledger_user(&mut tx, &m.source, &row.legacy_id).await? {
                Some(id) => Some(MigrateOutcome::AlreadyMigrated(UserId::from_uuid(id))),
                None => {
                    match refusal(
                        &mut tx,
                        row,
                        "migrate_user: finding who holds an identifier",
                    )
                    .await?
                    {
                        Refusal::Taken(field, holder) => Some(MigrateOutcome::IdentifierTaken {
                            field,
                            holder: UserId::from_uuid(holder),
                        }),
                        Refusal::IdInUse => {
                            return Err(plan::id_in_use(
                                &format!("lazy migration of {subject}"),
                                row.id,
                            ));
                        }
                        Refusal::Vanished => None,
                    }
                }
            };
            tx.rollback()
                .await
                .map_err(db("migrate_user: rolling back"))?;
            return Ok(outcome);
        }
        insert_credential(&mut tx, row, "migrate_user: inserting the credential").await?;
        let ledgered = sqlx::query(
            "INSERT INTO ledger (source, legacy_id, user_id, system_of_record, method, \
             migrated_at, record_checksum, legacy_updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&m.source)
        .bind(&row.legacy_id)
        .bind(row.id)
        .bind(m.system_of_record.as_str())
        .bind(row.ledger_method.as_str())
        .bind(row.ledger_migrated_at)
        .bind(row.checksum)
        .bind(row.legacy_updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db("migrate_user: inserting the ledger row"))?;
        if ledgered.rows_affected() != 1 {
            tx.rollback()
                .await
                .map_err(db("migrate_user: rolling back"))?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM quarantine WHERE source = $1 AND legacy_id = $2")
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

    /// One attempt at a link; `Ok(None)` when it rolled back to retry. The user row is locked
    /// (`FOR UPDATE`) from the `updated_at` check to the commit, and a concurrent link of the
    /// same record is met by the ledger insert, after which the retry finds its row.
    async fn try_link_user(
        &self,
        l: &LinkWrite,
        row: &Row<'_>,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkOutcome>> {
        let mut tx = self.begin("link_user: beginning the transaction").await?;
        if let Some(id) = ledger_user(&mut tx, &l.source, &row.legacy_id).await? {
            tx.rollback().await.map_err(db("link_user: rolling back"))?;
            return Ok(Some(LinkOutcome::AlreadyLinked(UserId::from_uuid(id))));
        }
        let stored: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT updated_at FROM users WHERE id = $1 FOR UPDATE")
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("link_user: reading the user"))?;
        let credential: Option<String> =
            sqlx::query_scalar("SELECT hash FROM credentials WHERE user_id = $1")
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("link_user: reading the credential"))?;
        if stored != Some(plan::micros(l.expected_updated_at))
            || credential != l.expected_credential
        {
            tx.rollback().await.map_err(db("link_user: rolling back"))?;
            return Ok(Some(LinkOutcome::Stale));
        }
        if let Some(username) = &row.username_normalized {
            let holder: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM users WHERE username_normalized = $1 AND id <> $2",
            )
            .bind(username)
            .bind(row.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("link_user: finding who holds the username"))?;
            if let Some(holder) = holder {
                tx.rollback().await.map_err(db("link_user: rolling back"))?;
                return Ok(Some(LinkOutcome::IdentifierTaken {
                    field: "username",
                    holder: UserId::from_uuid(holder),
                }));
            }
        }
        let u = row.user;
        let p = &u.profile;
        sqlx::query(UPDATE_LINKED_USER)
            .bind(row.id)
            .bind(u.email.as_ref().map(|e| e.as_str()))
            .bind(row.email_normalized.as_deref())
            .bind(u.email_verified)
            .bind(u.username.as_ref().map(|n| n.as_str()))
            .bind(row.username_normalized.as_deref())
            .bind(u.phone.as_ref().map(|n| n.as_str()))
            .bind(p.given_name.as_deref())
            .bind(p.family_name.as_deref())
            .bind(p.name.as_deref())
            .bind(p.middle_name.as_deref())
            .bind(p.nickname.as_deref())
            .bind(p.birthdate)
            .bind(p.locale.as_deref())
            .bind(p.zoneinfo.as_deref())
            .bind(p.picture.as_deref())
            .bind(&row.attributes)
            .bind(u.status.as_str())
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(db("link_user: updating the user"))?;
        if let (true, Some(c)) = (l.replace_credential, &u.credential) {
            sqlx::query(
                "INSERT INTO credentials (user_id, hash, scheme, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
                 hash = excluded.hash, scheme = excluded.scheme, updated_at = excluded.updated_at",
            )
            .bind(row.id)
            .bind(&c.hash)
            .bind(c.scheme.id())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db("link_user: writing the credential"))?;
        }
        let ledgered = sqlx::query(
            "INSERT INTO ledger (source, legacy_id, user_id, system_of_record, method, \
             migrated_at, record_checksum, legacy_updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&l.source)
        .bind(&row.legacy_id)
        .bind(row.id)
        .bind(l.system_of_record.as_str())
        .bind(row.ledger_method.as_str())
        .bind(row.ledger_migrated_at)
        .bind(row.checksum)
        .bind(row.legacy_updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db("link_user: inserting the ledger row"))?;
        if ledgered.rows_affected() != 1 {
            tx.rollback().await.map_err(db("link_user: rolling back"))?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM quarantine WHERE source = $1 AND legacy_id = $2")
            .bind(&l.source)
            .bind(&row.legacy_id)
            .execute(&mut *tx)
            .await
            .map_err(db("link_user: clearing the quarantine row"))?;
        insert_event(
            &mut tx,
            ("user.linked", subject),
            &plan::link_detail(l, &row.legacy_id),
            now,
            "link_user: recording the event",
        )
        .await?;
        tx.commit().await.map_err(db("link_user: committing"))?;
        Ok(Some(LinkOutcome::Linked(UserId::from_uuid(row.id))))
    }

    /// One attempt at a registration; `Ok(None)` when it rolled back to retry.
    async fn try_register_user(
        &self,
        row: &Row<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<RegisterOutcome>> {
        let mut tx = self
            .begin("register_user: beginning the transaction")
            .await?;
        if !insert_user(&mut tx, row, "register_user: inserting the user").await? {
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
        insert_credential(&mut tx, row, "register_user: inserting the credential").await?;
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

    /// One attempt at a credential compare-and-set.
    async fn try_replace_credential(
        &self,
        user: UserId,
        expected_hash: &str,
        new: &Credential,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>> {
        let mut tx = self
            .begin("replace_credential: beginning the transaction")
            .await?;
        let old: Option<String> = sqlx::query_scalar(REPLACE_CREDENTIAL)
            .bind(user.as_uuid())
            .bind(expected_hash)
            .bind(&new.hash)
            .bind(new.scheme.id())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("replace_credential: replacing the credential"))?;
        let Some(old) = old else {
            tx.rollback()
                .await
                .map_err(db("replace_credential: rolling back"))?;
            return Ok(Some(false));
        };
        insert_event(
            &mut tx,
            ("credential.upgraded", &user.to_string()),
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

    async fn user_where(
        &self,
        clause: &'static str,
        bind: impl FnOnce(
            sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>,
        ) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u LEFT JOIN credentials c ON c.user_id = u.id \
             WHERE {clause}"
        );
        let Some(row) = bind(sqlx::query(AssertSqlSafe(sql)))
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a user"))?
        else {
            return Ok(None);
        };
        let user_row = user_row(&row)?;
        let links: Vec<(String, String)> = sqlx::query_as(
            "SELECT source, legacy_id FROM ledger WHERE user_id = $1 ORDER BY source, legacy_id",
        )
        .bind(user_row.id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a user's legacy links"))?;
        user_row.into_user(links).map(Some)
    }
}

/// The staging rows: accepted updates (`u`, with the stored user's id) and inserts (`i`).
fn encode_stage(
    rows: &[Row<'_>],
    inserts: &[usize],
    updates: &[(usize, Uuid)],
) -> Result<Vec<u8>, EncodeError> {
    let mut buf = CopyBuf::new(
        inserts
            .len()
            .saturating_add(updates.len())
            .saturating_mul(768),
    );
    for &(i, user_id) in updates {
        if let Some(row) = rows.get(i) {
            encode_row(&mut buf, row, "u", &user_id)?;
        }
    }
    for &i in inserts {
        if let Some(row) = rows.get(i) {
            encode_row(&mut buf, row, "i", &row.id)?;
        }
    }
    Ok(buf.finish())
}

fn encode_row(buf: &mut CopyBuf, row: &Row<'_>, op: &str, id: &Uuid) -> Result<(), EncodeError> {
    let u = row.user;
    let p = &u.profile;
    buf.row(STAGE_FIELDS);
    buf.int4(i32::try_from(row.ord).map_err(|_| EncodeError::new("a chunk over 2^31 rows"))?);
    buf.text(op)?;
    buf.uuid(id);
    buf.opt_text(u.email.as_ref().map(|e| e.as_str()))?;
    buf.opt_text(row.email_normalized.as_deref())?;
    buf.bool(u.email_verified);
    buf.opt_text(u.username.as_ref().map(|n| n.as_str()))?;
    buf.opt_text(row.username_normalized.as_deref())?;
    buf.opt_text(u.phone.as_ref().map(|n| n.as_str()))?;
    buf.opt_text(p.given_name.as_deref())?;
    buf.opt_text(p.family_name.as_deref())?;
    buf.opt_text(p.name.as_deref())?;
    buf.opt_text(p.middle_name.as_deref())?;
    buf.opt_text(p.nickname.as_deref())?;
    buf.opt_date(p.birthdate)?;
    buf.opt_text(p.locale.as_deref())?;
    buf.opt_text(p.zoneinfo.as_deref())?;
    buf.opt_text(p.picture.as_deref())?;
    buf.jsonb(&row.attributes)?;
    buf.text(u.status.as_str())?;
    buf.timestamptz(row.created_at)?;
    buf.timestamptz(row.updated_at)?;
    buf.opt_text(row.migration_method.map(|m| m.as_str()))?;
    buf.opt_timestamptz(row.migrated_at)?;
    buf.opt_text(row.migration_source)?;
    buf.opt_jsonb(row.legacy_record.as_deref())?;
    buf.opt_jsonb(row.migration_warnings.as_deref())?;
    match &u.credential {
        Some(c) => {
            buf.text(&c.hash)?;
            buf.text(c.scheme.id())?;
            // An update's credential is as new as the legacy change that carries it.
            let at = if op == "u" {
                row.legacy_updated_at.unwrap_or(row.credential_updated_at)
            } else {
                row.credential_updated_at
            };
            buf.timestamptz(at)?;
        }
        None => {
            buf.null();
            buf.null();
            buf.null();
        }
    }
    buf.text(&row.legacy_id)?;
    buf.text(row.checksum)?;
    buf.opt_timestamptz(row.legacy_updated_at)?;
    buf.text(row.ledger_method.as_str())?;
    buf.timestamptz(row.ledger_migrated_at)?;
    Ok(())
}

async fn ledger_hits(
    tx: &mut Transaction<'static, Postgres>,
    source: &str,
    rows: &[Row<'_>],
) -> Result<HashMap<String, LedgerHit>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.legacy_id.as_str()).collect();
    let found: Vec<(String, Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT l.legacy_id, l.user_id, l.record_checksum, u.updated_at \
         FROM ledger l JOIN users u ON u.id = l.user_id \
         WHERE l.source = $1 AND l.legacy_id = ANY($2)",
    )
    .bind(source)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("write_chunk: reading the ledger"))?;
    Ok(found
        .into_iter()
        .map(|(legacy_id, user_id, record_checksum, user_updated_at)| {
            (
                legacy_id,
                LedgerHit {
                    user_id,
                    record_checksum,
                    user_updated_at,
                },
            )
        })
        .collect())
}

/// Whether the ledger now has any of the `refused` rows' keys (committed by a concurrent writer
/// after this chunk read the ledger).
async fn migrated_meanwhile(
    tx: &mut Transaction<'static, Postgres>,
    source: &str,
    rows: &[Row<'_>],
    refused: &[usize],
) -> Result<bool> {
    let ids: Vec<&str> = refused
        .iter()
        .filter_map(|&i| rows.get(i).map(|r| r.legacy_id.as_str()))
        .collect();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ledger WHERE source = $1 AND legacy_id = ANY($2))",
    )
    .bind(source)
    .bind(&ids)
    .fetch_one(&mut **tx)
    .await
    .map_err(db("write_chunk: reading the ledger again"))
}

/// The user a legacy record became, by the ledger.
async fn ledger_user(
    tx: &mut Transaction<'static, Postgres>,
    source: &str,
    legacy_id: &str,
) -> Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT user_id FROM ledger WHERE source = $1 AND legacy_id = $2")
        .bind(source)
        .bind(legacy_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("migrate_user: reading the ledger"))
}

/// Inserts one user; `false` when a unique index (id, email, username) refused it.
async fn insert_user(
    tx: &mut Transaction<'static, Postgres>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<bool> {
    let u = row.user;
    let p = &u.profile;
    let id: Option<Uuid> = sqlx::query_scalar(INSERT_USER)
        .bind(row.id)
        .bind(u.email.as_ref().map(|e| e.as_str()))
        .bind(row.email_normalized.as_deref())
        .bind(u.email_verified)
        .bind(u.username.as_ref().map(|n| n.as_str()))
        .bind(row.username_normalized.as_deref())
        .bind(u.phone.as_ref().map(|n| n.as_str()))
        .bind(p.given_name.as_deref())
        .bind(p.family_name.as_deref())
        .bind(p.name.as_deref())
        .bind(p.middle_name.as_deref())
        .bind(p.nickname.as_deref())
        .bind(p.birthdate)
        .bind(p.locale.as_deref())
        .bind(p.zoneinfo.as_deref())
        .bind(p.picture.as_deref())
        .bind(&row.attributes)
        .bind(u.status.as_str())
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.migration_method.map(|m| m.as_str()))
        .bind(row.migrated_at)
        .bind(row.migration_source)
        .bind(row.legacy_record.as_deref())
        .bind(row.migration_warnings.as_deref())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db(op))?;
    Ok(id.is_some())
}

/// Inserts the credential of a user just inserted, if it has one.
async fn insert_credential(
    tx: &mut Transaction<'static, Postgres>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<()> {
    let Some(c) = &row.user.credential else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(row.id)
    .bind(&c.hash)
    .bind(c.scheme.id())
    .bind(row.credential_updated_at)
    .execute(&mut **tx)
    .await
    .map_err(db(op))?;
    Ok(())
}

/// Why the unique indexes refused a single user's row.
async fn refusal(
    tx: &mut Transaction<'static, Postgres>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<Refusal> {
    let (emails, usernames) = plan::identifiers(std::slice::from_ref(row), &[0]);
    let owners = owners(tx, &emails, &usernames, op).await?;
    let id_in_use: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
        .bind(row.id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db(op))?;
    Ok(plan::refusal(row, &owners, id_in_use))
}

/// Appends to the audit log inside a write. `detail` must hold no secret.
async fn insert_event(
    tx: &mut Transaction<'static, Postgres>,
    (kind, subject): (&str, &str),
    detail: &Value,
    now: DateTime<Utc>,
    op: &'static str,
) -> Result<()> {
    sqlx::query("INSERT INTO events (at, kind, subject, detail) VALUES ($1, $2, $3, $4)")
        .bind(now)
        .bind(kind)
        .bind(subject)
        .bind(detail)
        .execute(&mut **tx)
        .await
        .map_err(db(op))?;
    Ok(())
}

/// The record of a user that may still give way to a record with a lower key (locked), if it
/// may: its only link is the bulk migration of this legacy id, and it has not changed since.
const DISPLACEABLE: &str = "SELECT u.legacy_record::text FROM users u
JOIN ledger l ON l.user_id = u.id LEFT JOIN credentials c ON c.user_id = u.id
WHERE u.id = $1 AND l.source = $2 AND l.legacy_id = $3 AND l.method = 'bulk'
    AND u.updated_at <= l.migrated_at AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at)
    AND NOT EXISTS (SELECT 1 FROM ledger o WHERE o.user_id = u.id
        AND (o.source, o.legacy_id) <> (l.source, l.legacy_id))
FOR UPDATE OF u, l";

const OWNERS_OP: &str = "write_chunk: finding who holds an email or username";

/// The users holding any of these emails or usernames, each with its first ledger link.
async fn owners(
    tx: &mut Transaction<'static, Postgres>,
    emails: &[String],
    usernames: &[String],
    op: &'static str,
) -> Result<Vec<Owner>> {
    let found: Vec<decode::OwnerRow<Uuid>> = sqlx::query_as(
        "SELECT u.id, u.email_normalized, u.username_normalized, l.source, l.legacy_id, \
             l.method, u.updated_at <= l.migrated_at \
                 AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at) \
             FROM users u LEFT JOIN ledger l ON l.user_id = u.id \
             LEFT JOIN credentials c ON c.user_id = u.id \
             WHERE u.email_normalized = ANY($1) OR u.username_normalized = ANY($2)",
    )
    .bind(emails)
    .bind(usernames)
    .fetch_all(&mut **tx)
    .await
    .map_err(db(op))?;
    Ok(decode::owners(found))
}

async fn upsert_quarantine(
    tx: &mut Transaction<'static, Postgres>,
    source: &str,
    rows: &[QuarantineRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<&str> = rows.iter().map(|r| r.legacy_id.as_str()).collect();
    let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
    let fields: Vec<Option<&str>> = rows.iter().map(|r| r.field.as_deref()).collect();
    let records: Vec<&str> = rows.iter().map(|r| r.record.as_str()).collect();
    sqlx::query(
        "INSERT INTO quarantine (source, legacy_id, reason, field, record, first_seen, last_seen)
         SELECT $1, q.legacy_id, q.reason, q.field, q.record::jsonb, $6, $6
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
             AS q(legacy_id, reason, field, record)
         ON CONFLICT (source, legacy_id) DO UPDATE SET reason = excluded.reason,
             field = excluded.field, record = excluded.record, last_seen = excluded.last_seen,
             attempts = quarantine.attempts + 1",
    )
    .bind(source)
    .bind(&ids)
    .bind(&reasons)
    .bind(&fields)
    .bind(&records)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db("write_chunk: writing quarantine rows"))?;
    Ok(())
}

async fn save_checkpoint(
    tx: &mut Transaction<'static, Postgres>,
    chunk: &ChunkWrite,
    outcome: &ChunkOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let c = plan::counters(chunk.read, outcome);
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let partition = i32::try_from(chunk.partition).map_err(|_| StoreError::Invalid {
        what: format!("chunk for source {}", chunk.source),
        reason: format!("partition {} is out of range", chunk.partition),
    })?;
    sqlx::query(
        "INSERT INTO checkpoints (job, source, partition, cursor, done, read, migrated, skipped,
            updated, quarantined, updated_at, linked)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (job, source, partition) DO UPDATE SET
            cursor = COALESCE(excluded.cursor, checkpoints.cursor), done = excluded.done,
            read = checkpoints.read + excluded.read,
            migrated = checkpoints.migrated + excluded.migrated,
            skipped = checkpoints.skipped + excluded.skipped,
            updated = checkpoints.updated + excluded.updated,
            quarantined = checkpoints.quarantined + excluded.quarantined,
            linked = checkpoints.linked + excluded.linked,
            updated_at = excluded.updated_at",
    )
    .bind(&chunk.job)
    .bind(&chunk.source)
    .bind(partition)
    .bind(decode::cursor_json(chunk.cursor.as_ref()))
    .bind(chunk.done)
    .bind(n(c.read))
    .bind(n(c.migrated))
    .bind(n(c.skipped))
    .bind(n(c.updated))
    .bind(n(c.quarantined))
    .bind(now)
    .bind(n(c.linked))
    .execute(&mut **tx)
    .await
    .map_err(db("write_chunk: saving the checkpoint"))?;
    Ok(())
}

fn user_row(row: &PgRow) -> Result<UserRow> {
    let get = |e: sqlx::Error| StoreError::Database {
        op: "reading a user row",
        source: e,
    };
    Ok(UserRow {
        id: row.try_get(0).map_err(get)?,
        email: row.try_get(1).map_err(get)?,
        email_verified: row.try_get(2).map_err(get)?,
        username: row.try_get(3).map_err(get)?,
        phone: row.try_get(4).map_err(get)?,
        given_name: row.try_get(5).map_err(get)?,
        family_name: row.try_get(6).map_err(get)?,
        name: row.try_get(7).map_err(get)?,
        middle_name: row.try_get(8).map_err(get)?,
        nickname: row.try_get(9).map_err(get)?,
        birthdate: row.try_get::<Option<NaiveDate>, _>(10).map_err(get)?,
        locale: row.try_get(11).map_err(get)?,
        zoneinfo: row.try_get(12).map_err(get)?,
        picture: row.try_get(13).map_err(get)?,
        attributes: row.try_get(14).map_err(get)?,
        status: row.try_get(15).map_err(get)?,
        created_at: row.try_get(16).map_err(get)?,
        updated_at: row.try_get(17).map_err(get)?,
        migration_method: row.try_get(18).map_err(get)?,
        migrated_at: row.try_get(19).map_err(get)?,
        migration_source: row.try_get(20).map_err(get)?,
        legacy_record: row.try_get(21).map_err(get)?,
        cred_hash: row.try_get(22).map_err(get)?,
        cred_scheme: row.try_get(23).map_err(get)?,
        migration_warnings: row.try_get(24).map_err(get)?,
    })
}

type CheckpointRow = (
    String,
    String,
    i32,
    Option<Value>,
    Option<Value>,
    bool,
    i64,
    i64,
    i64,
    i64,
    i64,
    DateTime<Utc>,
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
    Ok(Checkpoint {
        partition: decode::partition(&key, partition)?,
        cursor: decode::cursor(&key, cursor)?,
        until: decode::cursor(&key, until)?,
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
        updated_at: at,
        job,
        source,
    })
}

type QuarantineSqlRow = (
    String,
    String,
    String,
    Option<String>,
    Value,
    DateTime<Utc>,
    DateTime<Utc>,
    i32,
);

const QUARANTINE_COLUMNS: &str =
    "source, legacy_id, reason, field, record, first_seen, last_seen, attempts";

fn quarantine_entry(r: QuarantineSqlRow) -> Result<QuarantineEntry> {
    let (source, legacy_id, reason, field, record, first_seen, last_seen, attempts) = r;
    let key = format!("{source}/{legacy_id}");
    Ok(QuarantineEntry {
        attempts: decode::attempts(&key, i64::from(attempts))?,
        source,
        legacy_id,
        reason,
        field,
        record,
        first_seen,
        last_seen,
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: "postgres",
                source,
            })
    }

    async fn schema_version(&self) -> Result<Option<i64>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the schema version"))?;
        if !exists {
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
        plan::retry_write("migrate_user", &subject, || {
            self.try_migrate_user(m, &row, &subject, now)
        })
        .await
    }

    async fn quarantine_record(&self, source: &str, rejected: &crate::Rejected) -> Result<bool> {
        const OP: &str = "quarantine_record";
        let now = plan::now();
        let (row, subject, detail) = plan::prepare_rejected(source, rejected)?;
        let mut tx = self.begin(OP).await?;
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
        let row = plan::prepare_link(l, now)?;
        let subject = plan::link_subject(l);
        plan::retry_write("link_user", &subject, || {
            self.try_link_user(l, &row, &subject, now)
        })
        .await
    }

    async fn email_holders(&self, normalized: &[String]) -> Result<Vec<(String, UserId)>> {
        if normalized.is_empty() {
            return Ok(Vec::new());
        }
        let found: Vec<(String, Uuid)> = sqlx::query_as(
            "SELECT email_normalized, id FROM users WHERE email_normalized = ANY($1)",
        )
        .bind(normalized)
        .fetch_all(&self.pool)
        .await
        .map_err(db("finding who holds these addresses"))?;
        Ok(found
            .into_iter()
            .map(|(email, id)| (email, UserId::from_uuid(id)))
            .collect())
    }

    async fn register_user(&self, user: &User) -> Result<RegisterOutcome> {
        let now = plan::now();
        let row = plan::prepare_registered(user, now)?;
        let subject = user.id.to_string();
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
        let mut partitions = Vec::with_capacity(ranges.len());
        let mut afters = Vec::with_capacity(ranges.len());
        let mut untils = Vec::with_capacity(ranges.len());
        for (partition, range) in ranges {
            partitions.push(i32::try_from(*partition).map_err(|_| StoreError::Invalid {
                what: format!("partition plan for source {source}"),
                reason: format!("partition {partition} is out of range"),
            })?);
            afters.push(decode::cursor_json(range.after.as_ref()));
            untils.push(decode::cursor_json(range.until.as_ref()));
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("plan_partitions: beginning the transaction"))?;
        // Planners of the same job and source take turns, so a plan is never a mix of two.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))")
            .bind(job)
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(db("plan_partitions: locking the plan"))?;
        let planned: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE job = $1 AND source = $2)",
        )
        .bind(job)
        .bind(source)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("plan_partitions: reading the plan"))?;
        if !planned {
            sqlx::query(
                "INSERT INTO checkpoints (job, source, partition, cursor, until_key, updated_at)
                 SELECT $1, $2, p.partition, p.after, p.until, $6
                 FROM unnest($3::integer[], $4::jsonb[], $5::jsonb[]) AS p(partition, after, until)",
            )
            .bind(job)
            .bind(source)
            .bind(&partitions)
            .bind(&afters)
            .bind(&untils)
            .bind(plan::now())
            .execute(&mut *tx)
            .await
            .map_err(db("plan_partitions: storing the plan"))?;
        }
        tx.commit()
            .await
            .map_err(db("plan_partitions: committing"))?;
        self.checkpoints(job, source).await
    }

    async fn checkpoint(
        &self,
        job: &str,
        source: &str,
        partition: u32,
    ) -> Result<Option<Checkpoint>> {
        let Ok(partition) = i32::try_from(partition) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints \
             WHERE job = $1 AND source = $2 AND partition = $3"
        );
        let row: Option<CheckpointRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(job)
            .bind(source)
            .bind(partition)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a checkpoint"))?;
        row.map(checkpoint).transpose()
    }

    async fn checkpoints(&self, job: &str, source: &str) -> Result<Vec<Checkpoint>> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE job = $1 AND source = $2 \
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
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine \
             WHERE ($1::text IS NULL OR source = $1) \
             ORDER BY source, legacy_id LIMIT $2 OFFSET $3"
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
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine \
             WHERE ($1::text IS NULL OR source = $1) \
             AND ($2::text IS NULL OR (source, legacy_id) > ($2::text COLLATE \"C\", $3::text COLLATE \"C\")) \
             ORDER BY source, legacy_id LIMIT $4"
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
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM quarantine WHERE ($1::text IS NULL OR source = $1)",
        )
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
        let rows: Vec<(String, Uuid, String)> = sqlx::query_as(
            "SELECT legacy_id, user_id, record_checksum FROM ledger \
             WHERE source = $1 AND ($2::text IS NULL OR legacy_id > $2) \
             ORDER BY legacy_id LIMIT $3",
        )
        .bind(source)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a ledger page"))?;
        rows.into_iter()
            .map(|(legacy_id, user_id, sum)| decode::ledger_entry(&legacy_id, user_id, sum))
            .collect()
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        let id = *id.as_uuid();
        self.user_where("u.id = $1", |q| q.bind(id)).await
    }

    async fn ledger_user(&self, source: &str, legacy_id: &str) -> Result<Option<UserId>> {
        const OP: &str = "ledger_user: reading the ledger";
        let mut tx = self.pool.begin().await.map_err(db(OP))?;
        let id = ledger_user(&mut tx, source, legacy_id).await?;
        tx.rollback().await.map_err(db(OP))?;
        Ok(id.map(UserId::from_uuid))
    }

    async fn user_by_legacy(&self, source: &str, legacy_id: &str) -> Result<Option<User>> {
        let (source, legacy_id) = (source.to_owned(), legacy_id.to_owned());
        self.user_where(
            "u.id = (SELECT user_id FROM ledger WHERE source = $1 AND legacy_id = $2)",
            |q| q.bind(source).bind(legacy_id),
        )
        .await
    }

    async fn user_by_email(&self, normalized: &str) -> Result<Option<User>> {
        let normalized = normalized.to_owned();
        self.user_where("u.email_normalized = $1", |q| q.bind(normalized))
            .await
    }

    async fn user_by_username(&self, normalized: &str) -> Result<Option<User>> {
        let normalized = normalized.to_owned();
        self.user_where("u.username_normalized = $1", |q| q.bind(normalized))
            .await
    }

    async fn record_event(&self, kind: &str, subject: &str, detail: &Value) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO events (at, kind, subject, detail) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(plan::now())
        .bind(kind)
        .bind(subject)
        .bind(detail)
        .fetch_one(&self.pool)
        .await
        .map_err(db("recording an event"))
    }

    async fn events(&self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        let rows: Vec<(i64, DateTime<Utc>, String, String, Value)> = sqlx::query_as(
            "SELECT id, at, kind, subject, detail FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading events"))?;
        Ok(rows
            .into_iter()
            .map(|(id, at, kind, subject, detail)| Event {
                id,
                at,
                kind,
                subject,
                detail,
            })
            .collect())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
