//! [`crate::LeaseStore`]: a lease is taken by one upsert that only overwrites a row that has
//! expired or is already the holder's, so two processes racing for a free lease cannot both
//! get it (the second's insert meets the first's row and its condition fails).

use chrono::{DateTime, Utc};

use super::writer;
use crate::backend::{Backend, Stmt};
use crate::error::{Result, db};

/// Runs one write to the leases (`op`, for errors) on a connection of its own, holding the
/// writer; the rows it changed.
async fn write<B: Backend>(store: &B, op: &'static str, stmt: Stmt<B>) -> Result<u64> {
    let _writer = writer(store).await;
    let mut c = store.pool().acquire().await.map_err(db(op))?;
    stmt.execute(&mut c).await
}

/// [`crate::LeaseStore::acquire_lease`].
pub(super) async fn acquire<B: Backend>(
    store: &B,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    const OP: &str = "taking a lease";
    let upsert = Stmt::<B>::new(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
         WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder",
        OP,
    )
    .text(name)
    .text(holder)
    .instant(until)
    .instant(now);
    Ok(write(store, OP, upsert).await? == 1)
}

/// [`crate::LeaseStore::renew_lease`].
pub(super) async fn renew<B: Backend>(
    store: &B,
    name: &str,
    holder: &str,
    until: DateTime<Utc>,
) -> Result<bool> {
    const OP: &str = "renewing a lease";
    let update = Stmt::<B>::new(
        "UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2",
        OP,
    )
    .text(name)
    .text(holder)
    .instant(until);
    Ok(write(store, OP, update).await? == 1)
}

/// [`crate::LeaseStore::release_lease`].
pub(super) async fn release<B: Backend>(store: &B, name: &str, holder: &str) -> Result<()> {
    const OP: &str = "giving a lease back";
    let delete = Stmt::<B>::new("DELETE FROM leases WHERE name = $1 AND holder = $2", OP)
        .text(name)
        .text(holder);
    write(store, OP, delete).await?;
    Ok(())
}
