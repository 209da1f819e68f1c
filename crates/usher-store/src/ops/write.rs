//! The login bridge's single-user writes and the partition plan, each one transaction.
//!
//! On SQLite every writer holds the in-process write lock and begins `BEGIN IMMEDIATE`, so
//! nothing changes between a transaction's checks and its writes. On PostgreSQL they are plain
//! statements in one READ COMMITTED transaction, every insert `ON CONFLICT DO NOTHING` so a
//! unique violation never aborts it: an insert that meets a concurrent writer's uncommitted
//! user (the same record's first login elsewhere, or a backfill) waits for it, and when it is
//! refused the next statement sees the winner's committed ledger row or user. Rows that must
//! not change between a check and a write are locked (`FOR UPDATE`).

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use usher_core::{Credential, KeyRange, User, UserId};
use uuid::Uuid;

use super::chunk::owners;
use super::link::write_links;
use super::read::ledger_user;
use super::{USER_INSERT, begin_write, bind_user, insert_ledger_rows, rollback, writer};
use crate::backend::{Backend, BulkWrites, Conn, QuarantineWrite, Stmt, Tx};
use crate::decode;
use crate::error::{Result, StoreError, db};
use crate::model::{
    LazyMigration, LinkOutcome, LinkWrite, MigrateOutcome, RegisterOutcome, Rejected,
    SystemOfRecord,
};
use crate::plan::{self, Refusal, Row};

/// Appends to the audit log inside a write. `detail` must hold no secret.
pub(crate) async fn insert_event<B: Backend>(
    conn: &mut Conn<B>,
    (kind, subject): (&str, &str),
    detail: &Value,
    now: DateTime<Utc>,
    op: &'static str,
) -> Result<()> {
    Stmt::<B>::new(
        "INSERT INTO events (at, kind, subject, detail) VALUES ($1, $2, $3, $4)",
        op,
    )
    .instant(now)
    .text(kind)
    .text(subject)
    .json(detail.to_string().as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts one user; `false` when a unique index (id, email, username) refused it.
async fn insert_user<B: Backend>(
    conn: &mut Conn<B>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<bool> {
    let sql = format!(
        "{USER_INSERT}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
         $17, $18, $19, $20, $21, $22, $23, $24, $25) ON CONFLICT DO NOTHING RETURNING id"
    );
    let inserted = bind_user(Stmt::<B>::new(sql, op), row)
        .fetch_optional(conn)
        .await?;
    Ok(inserted.is_some())
}

/// Inserts the credential of a user just inserted, if it has one.
async fn insert_credential<B: Backend>(
    conn: &mut Conn<B>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<()> {
    let Some(c) = &row.user.credential else {
        return Ok(());
    };
    Stmt::<B>::new(
        "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES ($1, $2, $3, $4)",
        op,
    )
    .uuid(&row.id)
    .text(c.hash.as_str())
    .text(c.scheme.id())
    .instant(row.credential_updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts one ledger row; `false` when the key was taken meanwhile (by a concurrent writer of
/// the same record).
async fn insert_ledger<B: Backend>(
    conn: &mut Conn<B>,
    (source, system_of_record): (&str, SystemOfRecord),
    row: &Row<'_>,
    op: &'static str,
) -> Result<bool> {
    Ok(insert_ledger_rows::<B>(conn, &[(source, system_of_record, row)], op).await? == 1)
}

/// Removes a record's quarantine row (it is migrated or linked now).
async fn clear_quarantine<B: Backend>(
    conn: &mut Conn<B>,
    source: &str,
    legacy_id: &str,
    op: &'static str,
) -> Result<()> {
    Stmt::<B>::new(
        "DELETE FROM quarantine WHERE source = $1 AND legacy_id = $2",
        op,
    )
    .text(source)
    .text(legacy_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why the unique indexes refused a single user's row.
async fn refusal<B: Backend>(
    conn: &mut Conn<B>,
    row: &Row<'_>,
    op: &'static str,
) -> Result<Refusal> {
    let (emails, usernames) = plan::identifiers(std::slice::from_ref(row), &[0]);
    let owners = owners::<B>(conn, &emails, &usernames, op).await?;
    let id_in_use = Stmt::<B>::new("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", op)
        .uuid(&row.id)
        .fetch_one(conn)
        .await?
        .bool(0, ("users", "id", &row.id.to_string()))?;
    Ok(plan::refusal(row, &owners, id_in_use))
}

/// Runs a single-user write (`op` on `subject`) until it commits ([`plan::retry_write`]),
/// holding the backend's writer lock, where it has one, throughout: retries included.
async fn retried<B, T, F, Fut>(store: &B, op: &'static str, subject: &str, attempt: F) -> Result<T>
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let _writer = writer(store).await;
    plan::retry_write(op, subject, attempt).await
}

/// [`crate::MigrationStore::migrate_user`].
pub(super) async fn migrate_user<B: Backend>(
    store: &B,
    m: &LazyMigration,
) -> Result<MigrateOutcome> {
    let subject = plan::lazy_subject(m);
    let now = plan::now();
    let row = plan::prepare_lazy(m, now)?;
    retried(store, "migrate_user", &subject, || {
        try_migrate_user(store, m, &row, &subject, now)
    })
    .await
}

/// One attempt at a lazy migration; `Ok(None)` when it rolled back to retry.
///
/// The ledger is read first. A concurrent first login (or backfill) of the same record that
/// has not committed yet is met by the user insert, which waits for it: when it commits, its
/// address refuses ours and the ledger, read again, names its user. A concurrent writer of
/// the record whose user took other identifiers is met by the ledger insert instead, which
/// then writes nothing, and the retry finds the winner's ledger row. (On SQLite the write lock
/// and `BEGIN IMMEDIATE` leave no such writer: a concurrent first login of the same record
/// waits for this one and then finds its ledger row.)
async fn try_migrate_user<B: Backend>(
    store: &B,
    m: &LazyMigration,
    row: &Row<'_>,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Option<MigrateOutcome>> {
    const BACK: &str = "migrate_user: rolling back";
    let mut tx = begin_write(store, "migrate_user: beginning the transaction").await?;
    if let Some(id) = ledger_user::<B>(&mut tx, &m.source, &row.legacy_id).await? {
        let outcome = MigrateOutcome::AlreadyMigrated(UserId::from_uuid(id));
        return rollback::<B, _>(tx, BACK, Some(outcome)).await;
    }
    if !insert_user::<B>(&mut tx, row, "migrate_user: inserting the user").await? {
        // A new statement, a new snapshot: the refusing writer's rows are visible now.
        let outcome = match ledger_user::<B>(&mut tx, &m.source, &row.legacy_id).await? {
            Some(id) => Some(MigrateOutcome::AlreadyMigrated(UserId::from_uuid(id))),
            None => {
                match refusal::<B>(
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
        return rollback::<B, _>(tx, BACK, outcome).await;
    }
    insert_credential::<B>(&mut tx, row, "migrate_user: inserting the credential").await?;
    let key = (m.source.as_str(), m.system_of_record);
    if !insert_ledger::<B>(&mut tx, key, row, "migrate_user: inserting the ledger row").await? {
        return rollback::<B, _>(tx, BACK, None).await;
    }
    let op = "migrate_user: clearing the quarantine row";
    clear_quarantine::<B>(&mut tx, &m.source, &row.legacy_id, op).await?;
    let user_id = UserId::from_uuid(row.id);
    insert_event::<B>(
        &mut tx,
        ("user.migrated", subject),
        &json!({"user_id": user_id, "method": "lazy", "source": m.source}),
        now,
        "migrate_user: recording the event",
    )
    .await?;
    super::outbox::insert::<B>(
        &mut tx,
        &m.outbox,
        now,
        "migrate_user: writing to the outbox",
    )
    .await?;
    tx.commit().await.map_err(db("migrate_user: committing"))?;
    Ok(Some(MigrateOutcome::Migrated(user_id)))
}

/// [`crate::MigrationStore::quarantine_record`].
pub(super) async fn quarantine_record<B: BulkWrites>(
    store: &B,
    source: &str,
    rejected: &Rejected,
) -> Result<bool> {
    const OP: &str = "quarantine_record";
    let now = plan::now();
    let (row, subject, detail) = plan::prepare_rejected(source, rejected)?;
    let _writer = writer(store).await;
    let mut tx = begin_write(store, OP).await?;
    if ledger_user::<B>(&mut tx, source, &row.legacy_id)
        .await?
        .is_some()
    {
        return rollback::<B, _>(tx, OP, false).await;
    }
    let rows = std::slice::from_ref(&row);
    B::upsert_quarantine(&mut tx, QuarantineWrite { source, rows, now }).await?;
    insert_event::<B>(&mut tx, ("record.quarantined", &subject), &detail, now, OP).await?;
    tx.commit().await.map_err(db(OP))?;
    Ok(true)
}

/// [`crate::MigrationStore::link_user`].
pub(super) async fn link_user<B: Backend>(store: &B, l: &LinkWrite) -> Result<LinkOutcome> {
    let now = plan::now();
    let l = &plan::bump(l);
    let row = plan::prepare_link(l, now)?;
    let subject = plan::link_subject(l);
    retried(store, "link_user", &subject, || {
        try_link_user(store, l, &row, now)
    })
    .await
}

/// One attempt at a link; `Ok(None)` when it rolled back to retry. The user row is locked
/// (`FOR UPDATE`, where the backend locks rows) from the `updated_at` check to the commit,
/// and a concurrent link of the same record is met by the ledger insert, after which the
/// retry finds its row.
async fn try_link_user<B: Backend>(
    store: &B,
    l: &LinkWrite,
    row: &Row<'_>,
    now: DateTime<Utc>,
) -> Result<Option<LinkOutcome>> {
    const BACK: &str = "link_user: rolling back";
    let mut tx = begin_write(store, "link_user: beginning the transaction").await?;
    if let Some(id) = ledger_user::<B>(&mut tx, &l.source, &row.legacy_id).await? {
        let outcome = LinkOutcome::AlreadyLinked(UserId::from_uuid(id));
        return rollback::<B, _>(tx, BACK, Some(outcome)).await;
    }
    if !link_still_fresh::<B>(&mut tx, l, row).await? {
        return rollback::<B, _>(tx, BACK, Some(LinkOutcome::Stale)).await;
    }
    match write_links::<B>(&mut tx, &[(l, row)], now).await? {
        None => return rollback::<B, _>(tx, BACK, None).await,
        Some(taken) => {
            if let Some(&(_, holder)) = taken.first() {
                let outcome = LinkOutcome::IdentifierTaken {
                    field: "username",
                    holder: UserId::from_uuid(holder),
                };
                return rollback::<B, _>(tx, BACK, Some(outcome)).await;
            }
        }
    }
    tx.commit().await.map_err(db("link_user: committing"))?;
    Ok(Some(LinkOutcome::Linked(UserId::from_uuid(row.id))))
}

/// Whether the user and its credential are still as the link saw them (locking the user row
/// until the commit, where the backend locks rows).
async fn link_still_fresh<B: Backend>(
    conn: &mut Conn<B>,
    l: &LinkWrite,
    row: &Row<'_>,
) -> Result<bool> {
    let key = row.id.to_string();
    let sql = format!(
        "SELECT updated_at FROM users WHERE id = $1{}",
        B::LOCKING.for_update()
    );
    let stored = match Stmt::<B>::new(sql, "link_user: reading the user")
        .uuid(&row.id)
        .fetch_optional(conn)
        .await?
    {
        Some(g) => Some(g.instant(0, ("users", "updated_at", &key))?),
        None => None,
    };
    let credential = match Stmt::<B>::new(
        "SELECT hash FROM credentials WHERE user_id = $1",
        "link_user: reading the credential",
    )
    .uuid(&row.id)
    .fetch_optional(conn)
    .await?
    {
        Some(g) => Some(g.text(0, ("credentials", "hash", &key))?),
        None => None,
    };
    Ok(stored == Some(plan::micros(l.expected_updated_at)) && credential == l.expected_credential)
}

/// [`crate::MigrationStore::register_user`].
pub(super) async fn register_user<B: Backend>(store: &B, user: &User) -> Result<RegisterOutcome> {
    let now = plan::now();
    let row = plan::prepare_registered(user, now)?;
    let subject = user.id.to_string();
    retried(store, "register_user", &subject, || {
        try_register_user(store, &row, now)
    })
    .await
}

/// One attempt at a registration; `Ok(None)` when it rolled back to retry.
async fn try_register_user<B: Backend>(
    store: &B,
    row: &Row<'_>,
    now: DateTime<Utc>,
) -> Result<Option<RegisterOutcome>> {
    let mut tx = begin_write(store, "register_user: beginning the transaction").await?;
    if !insert_user::<B>(&mut tx, row, "register_user: inserting the user").await? {
        let op = "register_user: finding who holds an identifier";
        let refusal = refusal::<B>(&mut tx, row, op).await?;
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
    insert_credential::<B>(&mut tx, row, "register_user: inserting the credential").await?;
    let user_id = UserId::from_uuid(row.id);
    insert_event::<B>(
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

/// [`crate::MigrationStore::replace_credential`].
pub(super) async fn replace_credential<B: Backend>(
    store: &B,
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
    retried(store, "replace_credential", &subject, || {
        try_replace_credential(store, user, expected_hash, new, now)
    })
    .await
}

/// One attempt at a credential compare-and-set. The credential is read with the backend's row
/// lock (`FOR UPDATE`), so a concurrent replacement waits, then re-checks the hash it changed.
async fn try_replace_credential<B: Backend>(
    store: &B,
    user: UserId,
    expected_hash: &str,
    new: &Credential,
    now: DateTime<Utc>,
) -> Result<Option<bool>> {
    let mut tx = begin_write(store, "replace_credential: beginning the transaction").await?;
    let id: &Uuid = user.as_uuid();
    let sql = format!(
        "SELECT scheme FROM credentials WHERE user_id = $1 AND hash = $2{}",
        B::LOCKING.for_update()
    );
    let old = Stmt::<B>::new(sql, "replace_credential: reading the credential")
        .uuid(id)
        .text(expected_hash)
        .fetch_optional(&mut tx)
        .await?;
    let Some(old) = old else {
        return rollback::<B, _>(tx, "replace_credential: rolling back", Some(false)).await;
    };
    let old = old.text(0, ("credentials", "scheme", &user.to_string()))?;
    Stmt::<B>::new(
        "UPDATE credentials SET hash = $1, scheme = $2, updated_at = $3 \
         WHERE user_id = $4 AND hash = $5",
        "replace_credential: replacing the credential",
    )
    .text(new.hash.as_str())
    .text(new.scheme.id())
    .instant(now)
    .uuid(id)
    .text(expected_hash)
    .execute(&mut tx)
    .await?;
    insert_event::<B>(
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

/// Stores the partition plan of [`crate::CheckpointStore::plan_partitions`], once.
pub(super) async fn plan_partitions<B: Backend>(
    store: &B,
    job: &str,
    source: &str,
    ranges: &[(u32, KeyRange)],
) -> Result<()> {
    for (partition, _) in ranges {
        if *partition > B::MAX_PARTITION {
            return Err(StoreError::Invalid {
                what: format!("partition plan for source {source}"),
                reason: format!("partition {partition} is out of range"),
            });
        }
    }
    let _writer = writer(store).await;
    let mut tx: Tx<B> = begin_write(store, "plan_partitions: beginning the transaction").await?;
    // Planners of the same job and source take turns, so a plan is never a mix of two.
    B::lock_plan(&mut tx, job, source).await?;
    let planned = Stmt::<B>::new(
        "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE job = $1 AND source = $2)",
        "plan_partitions: reading the plan",
    )
    .text(job)
    .text(source)
    .fetch_one(&mut tx)
    .await?
    .bool(0, ("checkpoints", "job", job))?;
    if !planned {
        let now = plan::now();
        for (partition, range) in ranges {
            let after = decode::cursor_json(range.after.as_ref()).map(|v| v.to_string());
            let until = decode::cursor_json(range.until.as_ref()).map(|v| v.to_string());
            Stmt::<B>::new(
                "INSERT INTO checkpoints (job, source, partition, cursor, until_key, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                "plan_partitions: storing the plan",
            )
            .text(job)
            .text(source)
            .int(i64::from(*partition))
            .json(after.as_deref())
            .json(until.as_deref())
            .instant(now)
            .execute(&mut tx)
            .await?;
        }
    }
    tx.commit()
        .await
        .map_err(db("plan_partitions: committing"))?;
    Ok(())
}
