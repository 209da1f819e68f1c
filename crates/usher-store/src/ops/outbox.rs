//! [`crate::OutboxStore`]: writes owed to the other side, delivered at least once and in order
//! per user. A worker claims due rows for a while (a lease on each row: PostgreSQL also skips
//! rows another worker's transaction holds, `FOR UPDATE SKIP LOCKED`; SQLite has one writer).
//! A user's row is due only when no earlier row of theirs is undelivered (pending, or dead
//! until an operator retries or drops it), so one user's copies never overtake each other.

use chrono::{DateTime, Utc};
use usher_core::UserId;

use super::{begin_write, writer};
use crate::backend::{Backend, Conn, Got, Stmt};
use crate::error::{Result, db};
use crate::model::{NewOutbox, OutboxRow, OutboxState, OutboxStats};

const COLUMNS: &str = "id, user_id, kind, destination, payload, idempotency_key, state, \
                       attempts, last_error, created_at, available_at, delivered_at";

fn row<B: Backend>(g: &Got<B>, op: &'static str) -> Result<OutboxRow> {
    let id = g.int(0, ("outbox", "id", "?"))?;
    let key = id.to_string();
    let at = |column| ("outbox", column, key.as_str());
    let state = g.text(6, at("state"))?;
    Ok(OutboxRow {
        id,
        user: UserId::from_uuid(g.uuid(1, at("user_id"))?),
        kind: g.text(2, at("kind"))?,
        destination: g.text(3, at("destination"))?,
        payload: g.json(4, at("payload"))?,
        idempotency_key: g.text(5, at("idempotency_key"))?,
        state: OutboxState::parse(&state)
            .ok_or_else(|| crate::error::corrupt("outbox", "state", key.as_str(), op))?,
        attempts: u32::try_from(g.int(7, at("attempts"))?).unwrap_or(u32::MAX),
        last_error: g.opt_text(8, at("last_error"))?,
        created_at: g.instant(9, at("created_at"))?,
        available_at: g.instant(10, at("available_at"))?,
        delivered_at: g.opt_instant(11, at("delivered_at"))?,
    })
}

/// Appends `rows` inside a write (the change they copy commits with them, or neither does): a
/// row whose idempotency key is there already is ignored. How many were added.
pub(crate) async fn insert<B: Backend>(
    conn: &mut Conn<B>,
    rows: &[NewOutbox],
    at: DateTime<Utc>,
    op: &'static str,
) -> Result<u64> {
    let mut added = 0u64;
    for r in rows {
        let payload = r.payload.to_string();
        added = added.saturating_add(
            Stmt::<B>::new(
                "INSERT INTO outbox (user_id, kind, destination, payload, idempotency_key, \
                 created_at, available_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
                op,
            )
            .uuid(r.user.as_uuid())
            .text(r.kind.as_str())
            .text(r.destination.as_str())
            .json(payload.as_str())
            .text(r.idempotency_key.as_str())
            .instant(at)
            .execute(&mut *conn)
            .await?,
        );
    }
    Ok(added)
}

/// [`crate::OutboxStore::enqueue`].
pub(super) async fn enqueue<B: Backend>(
    store: &B,
    rows: &[NewOutbox],
    at: DateTime<Utc>,
) -> Result<u64> {
    const OP: &str = "writing to the outbox";
    let _writer = writer(store).await;
    let mut tx = begin_write(store, OP).await?;
    let added = insert::<B>(&mut tx, rows, at, OP).await?;
    tx.commit().await.map_err(db(OP))?;
    Ok(added)
}

/// [`crate::OutboxStore::claim`].
pub(super) async fn claim<B: Backend>(
    store: &B,
    worker: &str,
    limit: u32,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<OutboxRow>> {
    const OP: &str = "claiming outbox rows";
    let _writer = writer(store).await;
    let mut tx = begin_write(store, OP).await?;
    let skip_locked = if B::LOCKING.row_locks() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let due = Stmt::<B>::new(
        format!(
            "SELECT o.id FROM outbox o \
             WHERE o.state = 'pending' AND o.available_at <= $1 \
               AND (o.claimed_until IS NULL OR o.claimed_until <= $1) \
               AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.user_id = o.user_id \
                   AND e.id < o.id AND e.state <> 'delivered') \
             ORDER BY o.id LIMIT $2{skip_locked}"
        ),
        OP,
    )
    .instant(now)
    .int(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    let ids = due
        .iter()
        .map(|g| g.int(0, ("outbox", "id", "?")))
        .collect::<Result<Vec<_>>>()?;
    let mut claimed = Vec::with_capacity(ids.len());
    if !ids.is_empty() {
        let list = id_list(ids.len());
        let mut update = Stmt::<B>::new(
            format!(
                "UPDATE outbox SET claimed_by = $1, claimed_until = $2 WHERE id IN ({list}) \
                 RETURNING {COLUMNS}"
            ),
            OP,
        )
        .text(worker)
        .instant(until);
        for id in &ids {
            update = update.int(*id);
        }
        for g in &update.fetch_all(&mut *tx).await? {
            claimed.push(row(g, OP)?);
        }
        claimed.sort_by_key(|r| r.id);
    }
    tx.commit().await.map_err(db(OP))?;
    Ok(claimed)
}

/// The placeholders of `n` ids bound after two other parameters: `$3, $4, …`.
fn id_list(n: usize) -> String {
    (3..)
        .take(n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one write to the outbox on a connection of its own, holding the writer: rows changed.
async fn write<B: Backend>(store: &B, op: &'static str, stmt: Stmt<B>) -> Result<u64> {
    let _writer = writer(store).await;
    let mut c = store.pool().acquire().await.map_err(db(op))?;
    stmt.execute(&mut c).await
}

/// [`crate::OutboxStore::delivered`].
pub(super) async fn delivered<B: Backend>(
    store: &B,
    ids: &[i64],
    worker: &str,
    at: DateTime<Utc>,
) -> Result<u64> {
    const OP: &str = "marking outbox rows delivered";
    if ids.is_empty() {
        return Ok(0);
    }
    let _writer = writer(store).await;
    let mut tx = begin_write(store, OP).await?;
    let mut marked = 0u64;
    // Within SQLite's bound on parameters, whatever the batch.
    for ids in ids.chunks(500) {
        let list = id_list(ids.len());
        let mut update = Stmt::<B>::new(
            format!(
                "UPDATE outbox SET state = 'delivered', delivered_at = $2, claimed_by = NULL, \
                 claimed_until = NULL WHERE claimed_by = $1 AND state = 'pending' \
                 AND id IN ({list})"
            ),
            OP,
        )
        .text(worker)
        .instant(at);
        for id in ids {
            update = update.int(*id);
        }
        marked = marked.saturating_add(update.execute(&mut *tx).await?);
    }
    tx.commit().await.map_err(db(OP))?;
    Ok(marked)
}

/// [`crate::OutboxStore::failed`].
pub(super) async fn failed<B: Backend>(
    store: &B,
    id: i64,
    worker: &str,
    error: &str,
    retry_at: DateTime<Utc>,
    max_attempts: u32,
) -> Result<bool> {
    const OP: &str = "recording a failed outbox delivery";
    let error: String = error.chars().take(1000).collect();
    let update = Stmt::<B>::new(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $3, available_at = $4, \
         claimed_by = NULL, claimed_until = NULL, \
         state = CASE WHEN attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END \
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
        OP,
    )
    .int(id)
    .text(worker)
    .text(error.as_str())
    .instant(retry_at)
    .int(i64::from(max_attempts));
    Ok(write(store, OP, update).await? == 1)
}

/// [`crate::OutboxStore::outbox`].
pub(super) async fn list<B: Backend>(
    store: &B,
    state: Option<OutboxState>,
    limit: u32,
) -> Result<Vec<OutboxRow>> {
    const OP: &str = "listing the outbox";
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    let (filter, state) = match state {
        Some(s) => ("WHERE state = $2", s.as_str()),
        None => ("WHERE $2 = $2", ""),
    };
    Stmt::<B>::new(
        format!("SELECT {COLUMNS} FROM outbox {filter} ORDER BY id LIMIT $1"),
        OP,
    )
    .int(i64::from(limit))
    .text(state)
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(|g| row(g, OP))
    .collect()
}

/// [`crate::OutboxStore::retry_outbox`].
pub(super) async fn retry<B: Backend>(
    store: &B,
    id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u64> {
    const OP: &str = "retrying dead outbox rows";
    let update = Stmt::<B>::new(
        "UPDATE outbox SET state = 'pending', attempts = 0, available_at = $2 \
         WHERE state = 'dead' AND ($1 < 0 OR id = $1)",
        OP,
    )
    .int(id.unwrap_or(-1))
    .instant(now);
    write(store, OP, update).await
}

/// [`crate::OutboxStore::drop_outbox`].
pub(super) async fn drop_row<B: Backend>(store: &B, id: i64) -> Result<bool> {
    const OP: &str = "dropping an outbox row";
    let delete = Stmt::<B>::new(
        "DELETE FROM outbox WHERE id = $1 AND state <> 'delivered'",
        OP,
    )
    .int(id);
    Ok(write(store, OP, delete).await? == 1)
}

/// [`crate::OutboxStore::outbox_stats`].
pub(super) async fn stats<B: Backend>(store: &B) -> Result<OutboxStats> {
    const OP: &str = "counting the outbox";
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    let g = Stmt::<B>::new(
        "SELECT \
           COUNT(CASE WHEN state = 'pending' THEN 1 END), \
           COUNT(CASE WHEN state = 'dead' THEN 1 END), \
           COUNT(CASE WHEN state = 'delivered' THEN 1 END), \
           MIN(CASE WHEN state = 'pending' THEN created_at END) \
         FROM outbox",
        OP,
    )
    .fetch_one(&mut c)
    .await?;
    let at = |column| ("outbox", column, "stats");
    let count = |i, column| g.int(i, at(column)).map(|n| u64::try_from(n).unwrap_or(0));
    Ok(OutboxStats {
        pending: count(0, "pending")?,
        dead: count(1, "dead")?,
        delivered: count(2, "delivered")?,
        oldest_pending: g.opt_instant(3, at("created_at"))?,
    })
}

/// [`crate::OutboxStore::purge_delivered`].
pub(super) async fn purge<B: Backend>(store: &B, before: DateTime<Utc>, limit: u32) -> Result<u64> {
    const OP: &str = "purging delivered outbox rows";
    let delete = Stmt::<B>::new(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
         WHERE state = 'delivered' AND delivered_at < $1 ORDER BY id LIMIT $2)",
        OP,
    )
    .instant(before)
    .int(i64::from(limit));
    write(store, OP, delete).await
}
