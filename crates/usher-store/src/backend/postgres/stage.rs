//! PostgreSQL's chunk write: the chunk's rows are streamed with binary `COPY … FROM STDIN`
//! into a per-session temporary staging table (`ON COMMIT DELETE ROWS`, so it is empty again
//! when the transaction ends either way), then moved by `INSERT … SELECT … ORDER BY ord ON
//! CONFLICT DO NOTHING RETURNING id` into users, with credentials and ledger rows in the same
//! statement. Accepted updates go through the same table.

use std::collections::HashSet;

use uuid::Uuid;

use super::PostgresStore;
use super::pgcopy::{CopyBuf, EncodeError};
use async_trait::async_trait;

use crate::backend::{BulkWrites, QUARANTINE_UPSERT, QuarantineWrite, RowsWrite, Tx};
use crate::decode;
use crate::error::{Result, StoreError, db};
use crate::plan::{self, Row};

/// Run on every new connection: the staging table lives in the session's temporary schema
/// (never WAL-logged), and enough temporary buffers keep a 10k-user chunk in memory.
pub(super) const SESSION_SETUP: &str = "SET temp_buffers = '64MB';
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

#[async_trait]
impl BulkWrites for PostgresStore {
    /// [`BulkWrites::write_rows`] for PostgreSQL: the accepted updates and the
    /// inserts staged with one `COPY`, then applied set-based.
    async fn write_rows(tx: &mut Tx<Self>, w: RowsWrite<'_, '_>) -> Result<Option<HashSet<Uuid>>> {
        let (chunk, rows, inserts, updates) = (w.chunk, w.rows, w.inserts, w.updates);
        if updates.is_empty() && inserts.is_empty() {
            return Ok(Some(HashSet::new()));
        }
        let data = encode_stage(rows, inserts, updates).map_err(|e| StoreError::Invalid {
            what: format!("chunk for source {}", chunk.source),
            reason: e.to_string(),
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

        if !updates.is_empty() {
            sqlx::query(UPDATE_STAGED_USERS)
                .execute(&mut **tx)
                .await
                .map_err(db("write_chunk: updating users"))?;
            sqlx::query(UPDATE_STAGED_CREDENTIALS)
                .execute(&mut **tx)
                .await
                .map_err(db("write_chunk: updating credentials"))?;
            sqlx::query(UPDATE_STAGED_LEDGER)
                .bind(&chunk.source)
                .execute(&mut **tx)
                .await
                .map_err(db("write_chunk: updating ledger rows"))?;
        }
        if inserts.is_empty() {
            return Ok(Some(HashSet::new()));
        }
        // The staging table has no statistics, so the planner guesses a handful of rows and may
        // join it to the inserted ids with a nested loop: quadratic at 5000 rows. Only hash (or
        // merge) joins make sense for this statement.
        sqlx::query("SET LOCAL enable_nestloop = off")
            .execute(&mut **tx)
            .await
            .map_err(db("write_chunk: planning the insert"))?;
        let (ids, ledgered): (Option<Vec<Uuid>>, Option<i64>) = sqlx::query_as(INSERT_STAGED)
            .bind(&chunk.source)
            .bind(chunk.system_of_record.as_str())
            .fetch_one(&mut **tx)
            .await
            .map_err(db(
                "write_chunk: inserting users, credentials and ledger rows",
            ))?;
        sqlx::query("SET LOCAL enable_nestloop TO DEFAULT")
            .execute(&mut **tx)
            .await
            .map_err(db("write_chunk: planning the insert"))?;
        let inserted: HashSet<Uuid> = ids.unwrap_or_default().into_iter().collect();
        if decode::non_negative("write_chunk", ledgered.unwrap_or(0))?
            != plan::count(inserted.len())
        {
            return Ok(None);
        }
        Ok(Some(inserted))
    }

    /// Inserts or refreshes quarantine rows, all in one statement.
    async fn upsert_quarantine(tx: &mut Tx<Self>, q: QuarantineWrite<'_>) -> Result<()> {
        let QuarantineWrite { source, rows, now } = q;
        let ids: Vec<&str> = rows.iter().map(|r| r.legacy_id.as_str()).collect();
        let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
        let fields: Vec<Option<&str>> = rows.iter().map(|r| r.field.as_deref()).collect();
        let records: Vec<&str> = rows.iter().map(|r| r.record.as_str()).collect();
        let sql = format!(
            "INSERT INTO quarantine (source, legacy_id, reason, field, record, first_seen, last_seen) \
             SELECT $1, q.legacy_id, q.reason, q.field, q.record::jsonb, $6, $6 \
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) \
                 AS q(legacy_id, reason, field, record) {QUARANTINE_UPSERT}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
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
