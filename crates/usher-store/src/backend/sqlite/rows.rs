//! How SQLite writes a chunk's rows: prepared multi-row `INSERT`s of [`INSERT_BATCH`] rows
//! (the statement is prepared once and cached), and updates one user at a time.

use std::collections::HashSet;

use uuid::Uuid;

use super::SqliteStore;
use async_trait::async_trait;

use crate::backend::{
    Backend, BulkWrites, QUARANTINE_UPSERT, QuarantineWrite, RowsWrite, Stmt, Tx,
};
use crate::error::Result;
use crate::ops::{
    USER_FIELDS, USER_FIELDS_SET, USER_INSERT, bind_fields, bind_user, insert_ledger_rows,
};
use crate::plan::{self, Row};

/// Rows per multi-row `INSERT` (25 columns × 512 rows stays below SQLite's 32766
/// variables, and the statement is prepared once and cached).
pub const INSERT_BATCH: usize = 512;

type S = Stmt<SqliteStore>;

#[async_trait]
impl BulkWrites for SqliteStore {
    /// [`BulkWrites::write_rows`] for SQLite: the updates, then the inserts in key
    /// order with the inserted users' credentials and ledger rows.
    async fn write_rows(tx: &mut Tx<Self>, w: RowsWrite<'_, '_>) -> Result<Option<HashSet<Uuid>>> {
        let (chunk, rows, inserts, updates) = (w.chunk, w.rows, w.inserts, w.updates);
        for (i, user_id) in updates {
            if let Some(row) = rows.get(*i) {
                update_user(tx, &chunk.source, row, *user_id).await?;
            }
        }
        let mut inserted: HashSet<Uuid> = HashSet::with_capacity(inserts.len());
        for batch in inserts.chunks(INSERT_BATCH) {
            let batch_rows: Vec<&Row<'_>> = batch.iter().filter_map(|&i| rows.get(i)).collect();
            inserted.extend(insert_users(tx, &batch_rows).await?);
        }
        // Ledger rows next, so a refusal's holder from this chunk is named by its key.
        let ok_rows: Vec<&Row<'_>> = inserts
            .iter()
            .filter_map(|&i| rows.get(i))
            .filter(|r| inserted.contains(&r.id))
            .collect();
        for batch in ok_rows.chunks(INSERT_BATCH) {
            insert_credentials(tx, batch).await?;
            let ledger: Vec<_> = batch
                .iter()
                .map(|r| (chunk.source.as_str(), chunk.system_of_record, *r))
                .collect();
            let n = insert_ledger_rows::<Self>(tx, &ledger, "write_chunk: inserting ledger rows")
                .await?;
            if n != plan::count(batch.len()) {
                return Ok(None);
            }
        }
        Ok(Some(inserted))
    }

    /// Inserts or refreshes quarantine rows, [`INSERT_BATCH`] per statement.
    async fn upsert_quarantine(tx: &mut Tx<Self>, q: QuarantineWrite<'_>) -> Result<()> {
        let QuarantineWrite { source, rows, now } = q;
        for batch in rows.chunks(INSERT_BATCH) {
            let sql = format!(
                "INSERT INTO quarantine (source, legacy_id, reason, field, record, first_seen, \
                 last_seen) VALUES {} {QUARANTINE_UPSERT}",
                <SqliteStore as Backend>::values(batch.len(), 7)
            );
            let mut s = S::new(sql, "write_chunk: writing quarantine rows");
            for r in batch {
                s = s
                    .text(source)
                    .text(r.legacy_id.as_str())
                    .text(r.reason.as_str())
                    .text(r.field.as_deref())
                    .json(r.record.as_str())
                    .instant(now)
                    .instant(now);
            }
            s.execute(tx).await?;
        }
        Ok(())
    }
}

/// Inserts users in the given order, skipping any a unique index refuses; returns the ids
/// inserted.
async fn insert_users(tx: &mut Tx<SqliteStore>, rows: &[&Row<'_>]) -> Result<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{USER_INSERT}{} ON CONFLICT DO NOTHING RETURNING id",
        <SqliteStore as Backend>::values(rows.len(), USER_FIELDS)
    );
    let mut s = S::new(sql, "write_chunk: inserting users");
    for row in rows {
        s = bind_user(s, row);
    }
    s.fetch_all(tx)
        .await?
        .iter()
        .map(|g| g.uuid(0, ("users", "id", "?")))
        .collect()
}

async fn insert_credentials(tx: &mut Tx<SqliteStore>, rows: &[&Row<'_>]) -> Result<()> {
    let with: Vec<(&Row<'_>, &usher_core::Credential)> = rows
        .iter()
        .filter_map(|r| r.user.credential.as_ref().map(|c| (*r, c)))
        .collect();
    if with.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES {}",
        <SqliteStore as Backend>::values(with.len(), 4)
    );
    let mut s = S::new(sql, "write_chunk: inserting credentials");
    for (row, c) in with {
        s = s
            .uuid(&row.id)
            .text(c.hash.as_str())
            .text(c.scheme.id())
            .instant(row.credential_updated_at);
    }
    s.execute(tx).await?;
    Ok(())
}

/// Updates a migrated user in place from a newer legacy record: the user's fields, the
/// credential when legacy changed after it was last written, and the ledger's checksum.
async fn update_user(
    tx: &mut Tx<SqliteStore>,
    source: &str,
    row: &Row<'_>,
    user_id: Uuid,
) -> Result<()> {
    let sql = format!(
        "UPDATE users SET {USER_FIELDS_SET}, legacy_record = COALESCE($21, legacy_record), \
         migration_warnings = CASE WHEN $21 IS NULL THEN migration_warnings ELSE $22 END \
         WHERE id = $1"
    );
    bind_fields(
        S::new(sql, "write_chunk: updating a user").uuid(&user_id),
        row,
    )
    .json(row.legacy_record.as_deref())
    .json(row.migration_warnings.as_deref())
    .execute(tx)
    .await?;
    if let (Some(c), Some(legacy_updated_at)) = (&row.user.credential, row.legacy_updated_at) {
        S::new(
            "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, scheme = excluded.scheme, \
             updated_at = excluded.updated_at \
             WHERE credentials.updated_at < excluded.updated_at \
             AND (credentials.hash IS NOT excluded.hash OR credentials.scheme IS NOT excluded.scheme)",
            "write_chunk: updating a credential",
        )
        .uuid(&user_id)
        .text(c.hash.as_str())
        .text(c.scheme.id())
        .instant(legacy_updated_at)
        .execute(tx)
        .await?;
    }
    S::new(
        "UPDATE ledger SET record_checksum = $1, legacy_updated_at = $2 \
         WHERE source = $3 AND legacy_id = $4",
        "write_chunk: updating a ledger row",
    )
    .text(row.checksum)
    .instant(row.legacy_updated_at)
    .text(source)
    .text(row.legacy_id.as_str())
    .execute(tx)
    .await?;
    Ok(())
}
