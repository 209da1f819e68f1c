//! The backfill's chunk write ([`crate::MigrationStore::write_chunk`]), its displacements and
//! its preview, once for both backends. How the rows themselves go in is the backend's
//! ([`BulkWrites::write_rows`]): prepared multi-row `INSERT`s on SQLite, binary `COPY` into a
//! staging table then `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` on PostgreSQL.
//!
//! Concurrent writers (two partitions) are safe under PostgreSQL's READ COMMITTED: an insert
//! that meets a concurrent writer's uncommitted address waits for it, then either inserts (it
//! rolled back) or is refused and quarantined, naming the winner's record, which the next
//! statement sees — unless the winner migrated that very record (a first login through the
//! bridge): then the chunk rolls back and retries, and the retry skips the record. SQLite's
//! writers take turns (the write lock and `BEGIN IMMEDIATE`), so none of that happens there.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::link::{self, LinkPlan};
use super::write::insert_event;
use super::{begin_write, rollback, writer};
use crate::backend::{Backend, BulkWrites, Conn, QuarantineWrite, RowsWrite, Stmt, Tx};
use crate::decode;
use crate::error::{Result, StoreError, db};
use crate::model::{ChunkOutcome, ChunkPreview, ChunkWrite, Claims};
use crate::plan::{self, LedgerHit, Owner, Prepared, QuarantineRow, Row};

const OWNERS_OP: &str = "write_chunk: finding who holds an email or username";
const BACK: &str = "write_chunk: rolling back";

/// The ledger rows of these records, with their users' `updated_at`.
async fn ledger_hits<B: Backend>(
    conn: &mut Conn<B>,
    source: &str,
    rows: &[Row<'_>],
    indexes: impl Iterator<Item = usize> + Send,
) -> Result<HashMap<String, LedgerHit>> {
    let ids: Vec<String> = indexes
        .filter_map(|i| rows.get(i).map(|r| r.legacy_id.clone()))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT l.legacy_id, l.user_id, l.record_checksum, u.updated_at \
         FROM ledger l JOIN users u ON u.id = l.user_id \
         WHERE l.source = $1 AND {}",
        B::in_list("l.legacy_id", "$2")
    );
    Stmt::<B>::new(sql, "write_chunk: reading the ledger")
        .text(source)
        .list(&ids)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|g| {
            let legacy_id = g.text(0, ("ledger", "legacy_id", source))?;
            let user_id = g.uuid(1, ("ledger", "user_id", &legacy_id))?;
            let key = user_id.to_string();
            let hit = LedgerHit {
                user_id,
                record_checksum: g.text(2, ("ledger", "record_checksum", &legacy_id))?,
                user_updated_at: g.instant(3, ("users", "updated_at", &key))?,
            };
            Ok((legacy_id, hit))
        })
        .collect()
}

/// One arm of [`owners`]: the users whose `column` is in list `$N`, joined to each ledger link,
/// with whether neither the profile nor the credential changed after that link's migration.
fn owners_arm<B: Backend>(column: &str, param: &str) -> String {
    format!(
        "SELECT u.id, u.email_normalized, u.username_normalized, l.source, l.legacy_id, \
         l.method, u.updated_at <= l.migrated_at \
             AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at) \
         FROM users u LEFT JOIN ledger l ON l.user_id = u.id \
         LEFT JOIN credentials c ON c.user_id = u.id \
         WHERE {}",
        B::in_list(column, param)
    )
}

/// The users holding any of these emails or usernames, each with its first ledger link. One
/// arm per identifier, so each probes its own unique index; a user matching both comes back
/// twice and is folded once.
pub(crate) async fn owners<B: Backend>(
    conn: &mut Conn<B>,
    emails: &[String],
    usernames: &[String],
    op: &'static str,
) -> Result<Vec<Owner>> {
    let sql = format!(
        "{} UNION ALL {}",
        owners_arm::<B>("u.email_normalized", "$1"),
        owners_arm::<B>("u.username_normalized", "$2")
    );
    let found = Stmt::<B>::new(sql, op)
        .list(emails)
        .list(usernames)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|g| {
            let id = g.uuid(0, ("users", "id", "?"))?;
            let key = id.to_string();
            let at = |table, column| (table, column, key.as_str());
            Ok((
                id,
                g.opt_text(1, at("users", "email_normalized"))?,
                g.opt_text(2, at("users", "username_normalized"))?,
                g.opt_text(3, at("ledger", "source"))?,
                g.opt_text(4, at("ledger", "legacy_id"))?,
                g.opt_text(5, at("ledger", "method"))?,
                g.opt_bool(6, at("users", "updated_at"))?,
            ))
        })
        .collect::<Result<Vec<decode::OwnerRow<Uuid>>>>()?;
    Ok(decode::owners(found))
}

/// Puts `rows` of `source` in the quarantine (or refreshes them), if there are any.
async fn upsert_quarantine<B: BulkWrites>(
    tx: &mut Tx<B>,
    source: &str,
    rows: &[QuarantineRow],
    now: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    B::upsert_quarantine(tx, QuarantineWrite { source, rows, now }).await
}

/// [`crate::MigrationStore::write_chunk`].
pub(super) async fn write_chunk<B: BulkWrites>(
    store: &B,
    chunk: &ChunkWrite,
) -> Result<ChunkOutcome> {
    let now = plan::now();
    let prepared = plan::prepare(chunk, now)?;
    let _writer = writer(store).await;
    plan::with_retries(chunk, || try_write_chunk(store, chunk, &prepared, now)).await
}

/// One attempt at a chunk; `Ok(None)` when it rolled back to retry.
async fn try_write_chunk<B: BulkWrites>(
    store: &B,
    chunk: &ChunkWrite,
    prepared: &Prepared<'_>,
    now: DateTime<Utc>,
) -> Result<Option<ChunkOutcome>> {
    let rows = &prepared.rows;
    let mut tx = begin_write(store, "write_chunk: beginning the transaction").await?;

    let hits = ledger_hits::<B>(&mut tx, &chunk.source, rows, 0..rows.len()).await?;
    let mut classified = plan::classify(rows, &hits, chunk.policy);
    let mut quarantine: Vec<QuarantineRow> = prepared.quarantine.clone();

    // Updates first: an existing user keeps its claim on its new address over new records.
    let updates = if classified.updates.is_empty() {
        Vec::new()
    } else {
        let indexes: Vec<usize> = classified.updates.iter().map(|(i, _)| *i).collect();
        let (emails, usernames) = plan::identifiers(rows, &indexes);
        let owners = owners::<B>(&mut tx, &emails, &usernames, OWNERS_OP).await?;
        let (kept, refused) = plan::check_updates(rows, classified.updates, &owners, &chunk.source);
        quarantine.extend(refused);
        kept
    };

    // New records whose address a user of another source holds: linked to that user, or
    // refused by the rules; read (and locked) before anything is written.
    let links = match &chunk.link {
        Some(config) => link::plan::<B>(&mut tx, chunk, rows, &classified.inserts, config).await?,
        None => LinkPlan::default(),
    };
    classified.inserts.retain(|i| !links.decided.contains(i));
    quarantine.extend(links.refused.iter().cloned());

    // Inserts in key order; the unique indexes refuse later duplicates.
    let Some(inserted) = B::write_rows(
        &mut tx,
        RowsWrite {
            chunk,
            rows,
            inserts: &classified.inserts,
            updates: &updates,
        },
    )
    .await?
    else {
        return rollback::<B, _>(tx, BACK, None).await;
    };
    let Some((linked, taken)) = link::write::<B>(&mut tx, rows, &links, now).await? else {
        return rollback::<B, _>(tx, BACK, None).await;
    };
    quarantine.extend(taken);
    let (ok, refused): (Vec<usize>, Vec<usize>) = classified
        .inserts
        .iter()
        .partition(|&&i| rows.get(i).is_some_and(|r| inserted.contains(&r.id)));

    if !refused.is_empty() {
        // A record refused because a concurrent writer (the login bridge) migrated that very
        // record first is no duplicate: the retry's ledger read skips it.
        let meanwhile = ledger_hits::<B>(&mut tx, &chunk.source, rows, refused.iter().copied());
        if !meanwhile.await?.is_empty() {
            return rollback::<B, _>(tx, BACK, None).await;
        }
        let (emails, usernames) = plan::identifiers(rows, &refused);
        let owners = owners::<B>(&mut tx, &emails, &usernames, OWNERS_OP).await?;
        let gone = plan::displacements(rows, &refused, &owners, &chunk.source);
        if !gone.is_empty() {
            tx.rollback().await.map_err(db(BACK))?;
            displace(store, chunk, &gone, now).await?;
            return Ok(None);
        }
        let Some(explained) = plan::explain_refusals(rows, &refused, &owners) else {
            return rollback::<B, _>(tx, BACK, None).await;
        };
        quarantine.extend(explained);
    }
    upsert_quarantine::<B>(&mut tx, &chunk.source, &quarantine, now).await?;
    let migrated = plan::migrated_keys(rows, &ok, &updates, &classified.skipped);
    if !migrated.is_empty() {
        let sql = format!(
            "DELETE FROM quarantine WHERE source = $1 AND {}",
            B::in_list("legacy_id", "$2")
        );
        Stmt::<B>::new(
            sql,
            "write_chunk: clearing quarantine rows of migrated keys",
        )
        .text(chunk.source.as_str())
        .list(&migrated)
        .execute(&mut tx)
        .await?;
    }

    let outcome = ChunkOutcome {
        migrated: plan::count(ok.len()),
        skipped: plan::count(classified.skipped.len()),
        updated: plan::count(updates.len()),
        quarantined: plan::count(quarantine.len()),
        linked: chunk.linked.saturating_add(linked),
        retries: 0,
    };
    save_checkpoint::<B>(&mut tx, chunk, &outcome, now).await?;
    tx.commit().await.map_err(db("write_chunk: committing"))?;
    Ok(Some(outcome))
}

/// Adds a chunk's counts to its partition's checkpoint and moves the cursor.
async fn save_checkpoint<B: Backend>(
    tx: &mut Tx<B>,
    chunk: &ChunkWrite,
    outcome: &ChunkOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let c = outcome.counters(chunk.read);
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    if chunk.partition > B::MAX_PARTITION {
        return Err(StoreError::Invalid {
            what: format!("chunk for source {}", chunk.source),
            reason: format!("partition {} is out of range", chunk.partition),
        });
    }
    let cursor = decode::cursor_json(chunk.cursor.as_ref()).map(|v| v.to_string());
    Stmt::<B>::new(
        "INSERT INTO checkpoints (job, source, partition, cursor, done, read, migrated, skipped, \
         updated, quarantined, updated_at, linked) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (job, source, partition) DO UPDATE SET \
         cursor = COALESCE(excluded.cursor, checkpoints.cursor), done = excluded.done, \
         read = checkpoints.read + excluded.read, \
         migrated = checkpoints.migrated + excluded.migrated, \
         skipped = checkpoints.skipped + excluded.skipped, \
         updated = checkpoints.updated + excluded.updated, \
         quarantined = checkpoints.quarantined + excluded.quarantined, \
         linked = checkpoints.linked + excluded.linked, updated_at = excluded.updated_at",
        "write_chunk: saving the checkpoint",
    )
    .text(chunk.job.as_str())
    .text(chunk.source.as_str())
    .int(i64::from(chunk.partition))
    .json(cursor.as_deref())
    .bool(chunk.done)
    .int(n(c.read))
    .int(n(c.migrated))
    .int(n(c.skipped))
    .int(n(c.updated))
    .int(n(c.quarantined))
    .instant(now)
    .int(n(c.linked))
    .execute(tx)
    .await?;
    Ok(())
}

/// The record of a user that may still give way to a record with a lower key, if it may: its
/// only link is the bulk migration of this legacy id, and it has not changed since. Locked
/// (`FOR UPDATE OF u, l`) where the backend locks rows.
fn displaceable<B: Backend>() -> String {
    let lock = if B::LOCKING.row_locks() {
        " FOR UPDATE OF u, l"
    } else {
        ""
    };
    format!(
        "SELECT CAST(u.legacy_record AS TEXT) FROM users u \
         JOIN ledger l ON l.user_id = u.id LEFT JOIN credentials c ON c.user_id = u.id \
         WHERE u.id = $1 AND l.source = $2 AND l.legacy_id = $3 AND l.method = 'bulk' \
             AND u.updated_at <= l.migrated_at \
             AND (c.updated_at IS NULL OR c.updated_at <= l.migrated_at) \
             AND NOT EXISTS (SELECT 1 FROM ledger o WHERE o.user_id = u.id \
                 AND (o.source <> l.source OR o.legacy_id <> l.legacy_id)){lock}"
    )
}

/// Removes the users of `gone` that are still unchanged, each with its credential and
/// ledger row, and quarantines their records with the reason: they took an identifier
/// that a record with a lower key, refused in this chunk, should have had
/// ([`plan::displacements`]). The chunk's checkpoint counts them. A user changed
/// meanwhile is left alone (the retry quarantines the refused record instead).
async fn displace<B: BulkWrites>(
    store: &B,
    chunk: &ChunkWrite,
    gone: &[plan::Displacement],
    now: DateTime<Utc>,
) -> Result<()> {
    const OP: &str = "write_chunk: removing a user for a record with a lower key";
    let mut tx = begin_write(store, OP).await?;
    let mut quarantine = Vec::with_capacity(gone.len());
    for d in gone {
        if B::LOCKING.row_locks() {
            // The credential first: a login's re-hash writes it without the user row.
            let sql = format!(
                "SELECT 1 FROM credentials WHERE user_id = $1{}",
                B::LOCKING.for_update()
            );
            Stmt::<B>::new(sql, OP)
                .uuid(&d.user_id)
                .fetch_optional(&mut tx)
                .await?;
        }
        let record = Stmt::<B>::new(displaceable::<B>(), OP)
            .uuid(&d.user_id)
            .text(chunk.source.as_str())
            .text(d.legacy_id.as_str())
            .fetch_optional(&mut tx)
            .await?;
        let Some(record) = record else { continue };
        let record = record.opt_text(0, ("users", "legacy_record", &d.legacy_id))?;
        Stmt::<B>::new(
            "DELETE FROM ledger WHERE source = $1 AND legacy_id = $2",
            OP,
        )
        .text(chunk.source.as_str())
        .text(d.legacy_id.as_str())
        .execute(&mut tx)
        .await?;
        Stmt::<B>::new("DELETE FROM users WHERE id = $1", OP)
            .uuid(&d.user_id)
            .execute(&mut tx)
            .await?;
        let subject = format!("{}/{}", chunk.source, d.legacy_id);
        let detail = plan::displaced_detail(d);
        insert_event::<B>(&mut tx, ("user.displaced", &subject), &detail, now, OP).await?;
        quarantine.push(plan::displaced_row(d, record));
    }
    if !quarantine.is_empty() {
        upsert_quarantine::<B>(&mut tx, &chunk.source, &quarantine, now).await?;
        Stmt::<B>::new(
            "INSERT INTO checkpoints (job, source, partition, displaced, quarantined, \
             updated_at) VALUES ($1, $2, $3, $4, $4, $5) \
             ON CONFLICT (job, source, partition) DO UPDATE SET \
             displaced = checkpoints.displaced + excluded.displaced, \
             quarantined = checkpoints.quarantined + excluded.quarantined",
            OP,
        )
        .text(chunk.job.as_str())
        .text(chunk.source.as_str())
        .int(i64::from(chunk.partition.min(B::MAX_PARTITION)))
        .int(i64::try_from(quarantine.len()).unwrap_or(i64::MAX))
        .instant(now)
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await.map_err(db(OP))
}

/// [`crate::MigrationStore::preview_chunk`]: the chunk's reads in one transaction that
/// writes nothing, then the plan's decisions.
pub(super) async fn preview_chunk<B: Backend>(
    store: &B,
    chunk: &ChunkWrite,
    claims: &Claims,
) -> Result<ChunkPreview> {
    let prepared = plan::prepare(chunk, plan::now())?;
    let rows = &prepared.rows;
    let (emails, usernames) = plan::all_identifiers(rows);
    let mut tx = store.pool().begin().await.map_err(db(plan::PREVIEW_OP))?;
    if let Some(read_only) = B::LOCKING.read_only() {
        Stmt::<B>::new(read_only, plan::PREVIEW_OP)
            .execute(&mut tx)
            .await?;
    }
    let hits = ledger_hits::<B>(&mut tx, &chunk.source, rows, 0..rows.len()).await?;
    let owners = owners::<B>(&mut tx, &emails, &usernames, plan::PREVIEW_OP).await?;
    tx.rollback().await.map_err(db(plan::PREVIEW_OP))?;
    Ok(plan::preview(chunk, &prepared, &hits, &owners, claims))
}
