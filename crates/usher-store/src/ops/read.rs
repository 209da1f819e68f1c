//! The reads: users, checkpoints, the quarantine, the ledger and the audit log, each one
//! statement (a user, two) through the pool; and what the store holds, for reports
//! ([`crate::ReportStore::counts`], [`crate::ReportStore::warnings`]).

use futures::TryStreamExt as _;
use serde_json::Value;
use usher_core::{User, UserId};
use uuid::Uuid;

use crate::QuarantineCursor;
use crate::backend::{Backend, Conn, Got, Stmt};
use crate::decode::{self, USER_COLUMNS, UserRow, non_negative};
use crate::error::{Result, StoreError, corrupt, db};
use crate::model::{
    Checkpoint, Counts, Event, LedgerEntry, QuarantineEntry, QuarantineFilter, WarnedUser,
    WarningFilter, WarningReport,
};

/// A connection from the pool for one read.
async fn conn<B: Backend>(
    store: &B,
    op: &'static str,
) -> Result<sqlx::pool::PoolConnection<B::DB>> {
    store.pool().acquire().await.map_err(db(op))
}

/// [`crate::AdminStore::schema_version`].
pub(super) async fn schema_version<B: Backend>(store: &B) -> Result<Option<i64>> {
    const OP: &str = "reading the schema version";
    let mut c = conn(store, OP).await?;
    let exists = Stmt::<B>::new(B::MIGRATIONS_TABLE_EXISTS, OP)
        .fetch_one(&mut c)
        .await?
        .bool(0, ("_sqlx_migrations", "version", ""))?;
    if !exists {
        return Ok(None);
    }
    Stmt::<B>::new(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
        OP,
    )
    .fetch_one(&mut c)
    .await?
    .opt_int(0, ("_sqlx_migrations", "version", ""))
}

/// The user matching `clause` (over `users u`), with its legacy links.
pub(super) async fn user_where<B: Backend>(
    store: &B,
    clause: &'static str,
    bind: impl FnOnce(Stmt<B>) -> Stmt<B> + Send,
) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u LEFT JOIN credentials c ON c.user_id = u.id \
         WHERE {clause}"
    );
    let mut c = conn(store, "reading a user").await?;
    let Some(got) = bind(Stmt::new(sql, "reading a user"))
        .fetch_optional(&mut c)
        .await?
    else {
        return Ok(None);
    };
    let user_row = user_row(&got)?;
    let key = user_row.id.to_string();
    let links = Stmt::<B>::new(
        "SELECT source, legacy_id FROM ledger WHERE user_id = $1 ORDER BY source, legacy_id",
        "reading a user's legacy links",
    )
    .uuid(&user_row.id)
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(|g| {
        Ok((
            g.text(0, ("ledger", "source", &key))?,
            g.text(1, ("ledger", "legacy_id", &key))?,
        ))
    })
    .collect::<Result<Vec<_>>>()?;
    user_row.into_user(links).map(Some)
}

/// [`crate::UserStore::users_page`]: users in id order, with their legacy links, read in two
/// statements: the users, then every link of the page's id range.
pub(super) async fn users_page<B: Backend>(
    store: &B,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<User>> {
    const OP: &str = "reading a page of users";
    let mut c = conn(store, OP).await?;
    let after = after.map_or_else(Uuid::nil, |id| *id.as_uuid());
    let rows = Stmt::<B>::new(
        format!(
            "SELECT {USER_COLUMNS} FROM users u LEFT JOIN credentials c ON c.user_id = u.id \
             WHERE u.id > $1 ORDER BY u.id LIMIT $2"
        ),
        OP,
    )
    .uuid(&after)
    .int(i64::from(limit))
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(user_row)
    .collect::<Result<Vec<_>>>()?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let links = Stmt::<B>::new(
        "SELECT user_id, source, legacy_id FROM ledger WHERE user_id >= $1 AND user_id <= $2 \
         ORDER BY user_id, source, legacy_id",
        OP,
    )
    .uuid(&first.id)
    .uuid(&last.id);
    let mut links = links_by_user(links, &mut c).await?;
    rows.into_iter()
        .map(|row| {
            let own = links.remove(&row.id).unwrap_or_default();
            row.into_user(own)
        })
        .collect()
}

/// The (source, legacy id) links `query` reads as (user id, source, legacy id) rows, by user.
async fn links_by_user<B: Backend>(
    query: Stmt<B>,
    c: &mut Conn<B>,
) -> Result<std::collections::HashMap<Uuid, Vec<(String, String)>>> {
    let mut links: std::collections::HashMap<Uuid, Vec<(String, String)>> = Default::default();
    for g in query.fetch_all(c).await?.iter() {
        let user = g.uuid(0, ("ledger", "user_id", "links"))?;
        let key = user.to_string();
        links.entry(user).or_default().push((
            g.text(1, ("ledger", "source", &key))?,
            g.text(2, ("ledger", "legacy_id", &key))?,
        ));
    }
    Ok(links)
}

/// [`crate::UserStore::users_of_records`]: the users and the ledger's record ids, then every
/// link of those users, in two statements.
pub(super) async fn users_of_records<B: Backend>(
    store: &B,
    source: &str,
    legacy_ids: &[String],
) -> Result<Vec<(String, User)>> {
    const OP: &str = "reading the users of legacy records";
    if legacy_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut c = conn(store, OP).await?;
    let records = B::in_list("l.legacy_id", "$2");
    let rows = Stmt::<B>::new(
        format!(
            "SELECT {USER_COLUMNS}, l.legacy_id FROM ledger l JOIN users u ON u.id = l.user_id \
             LEFT JOIN credentials c ON c.user_id = u.id WHERE l.source = $1 AND {records}"
        ),
        OP,
    )
    .text(source)
    .list(legacy_ids)
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(|g| {
        let row = user_row(g)?;
        let key = row.id.to_string();
        Ok((g.text(25, ("ledger", "legacy_id", &key))?, row))
    })
    .collect::<Result<Vec<_>>>()?;
    let of_users = B::in_list("legacy_id", "$2");
    let links = Stmt::<B>::new(
        format!(
            "SELECT user_id, source, legacy_id FROM ledger WHERE user_id IN \
             (SELECT user_id FROM ledger WHERE source = $1 AND {of_users}) \
             ORDER BY user_id, source, legacy_id"
        ),
        OP,
    )
    .text(source)
    .list(legacy_ids);
    let links = links_by_user(links, &mut c).await?;
    rows.into_iter()
        .map(|(legacy_id, row)| {
            let own = links.get(&row.id).cloned().unwrap_or_default();
            Ok((legacy_id, row.into_user(own)?))
        })
        .collect()
}

/// A row of [`USER_COLUMNS`] in neutral types.
pub(super) fn user_row<B: Backend>(g: &Got<B>) -> Result<UserRow> {
    let id = g.uuid(0, ("users", "id", "?"))?;
    let key = id.to_string();
    let at = |column| ("users", column, key.as_str());
    Ok(UserRow {
        id,
        email: g.opt_text(1, at("email"))?,
        email_verified: g.bool(2, at("email_verified"))?,
        username: g.opt_text(3, at("username"))?,
        phone: g.opt_text(4, at("phone"))?,
        given_name: g.opt_text(5, at("given_name"))?,
        family_name: g.opt_text(6, at("family_name"))?,
        name: g.opt_text(7, at("name"))?,
        middle_name: g.opt_text(8, at("middle_name"))?,
        nickname: g.opt_text(9, at("nickname"))?,
        birthdate: g.opt_date(10, at("birthdate"))?,
        locale: g.opt_text(11, at("locale"))?,
        zoneinfo: g.opt_text(12, at("zoneinfo"))?,
        picture: g.opt_text(13, at("picture"))?,
        attributes: g.json(14, at("attributes"))?,
        status: g.text(15, at("status"))?,
        created_at: g.instant(16, at("created_at"))?,
        updated_at: g.instant(17, at("updated_at"))?,
        migration_method: g.opt_text(18, at("migration_method"))?,
        migrated_at: g.opt_instant(19, at("migrated_at"))?,
        migration_source: g.opt_text(20, at("migration_source"))?,
        legacy_record: g.opt_json(21, at("legacy_record"))?,
        cred_hash: g.opt_text(22, ("credentials", "hash", &key))?,
        cred_scheme: g.opt_text(23, ("credentials", "scheme", &key))?,
        migration_warnings: g.opt_json(24, at("migration_warnings"))?,
    })
}

/// The user a legacy record became, by the ledger.
pub(crate) async fn ledger_user<B: Backend>(
    conn: &mut Conn<B>,
    source: &str,
    legacy_id: &str,
) -> Result<Option<Uuid>> {
    let key = format!("{source}/{legacy_id}");
    Stmt::<B>::new(
        "SELECT user_id FROM ledger WHERE source = $1 AND legacy_id = $2",
        "migrate_user: reading the ledger",
    )
    .text(source)
    .text(legacy_id)
    .fetch_optional(conn)
    .await?
    .map(|g| g.uuid(0, ("ledger", "user_id", &key)))
    .transpose()
}

/// [`crate::UserStore::email_holders`].
pub(super) async fn email_holders<B: Backend>(
    store: &B,
    normalized: &[String],
) -> Result<Vec<(String, UserId)>> {
    const OP: &str = "finding who holds these addresses";
    if normalized.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT email_normalized, id FROM users WHERE {}",
        B::in_list("email_normalized", "$1")
    );
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(sql, OP)
        .list(normalized)
        .fetch_all(&mut c)
        .await?
        .iter()
        .map(|g| {
            let email = g.text(0, ("users", "email_normalized", "?"))?;
            let id = g.uuid(1, ("users", "id", &email))?;
            Ok((email, UserId::from_uuid(id)))
        })
        .collect()
}

const CHECKPOINT_COLUMNS: &str = "job, source, CAST(partition AS BIGINT), cursor, until_key, \
     done, read, migrated, skipped, updated, quarantined, updated_at, linked, displaced";

fn checkpoint<B: Backend>(g: &Got<B>) -> Result<Checkpoint> {
    let job = g.text(0, ("checkpoints", "job", "?"))?;
    let source = g.text(1, ("checkpoints", "source", &job))?;
    let partition = g.int(2, ("checkpoints", "partition", &job))?;
    let key = format!("{job}/{source}/{partition}");
    let at = |column| ("checkpoints", column, key.as_str());
    let counter = |i, column| g.int(i, at(column));
    Ok(Checkpoint {
        partition: u32::try_from(partition)
            .map_err(|_| decode_corrupt("partition", &key, "is out of range"))?,
        cursor: decode::cursor(&key, g.opt_json(3, at("cursor"))?)?,
        until: decode::cursor(&key, g.opt_json(4, at("until_key"))?)?,
        done: g.bool(5, at("done"))?,
        counters: decode::counters(
            &key,
            [
                counter(6, "read")?,
                counter(7, "migrated")?,
                counter(8, "skipped")?,
                counter(9, "updated")?,
                counter(10, "quarantined")?,
                counter(12, "linked")?,
                counter(13, "displaced")?,
            ],
        )?,
        updated_at: g.instant(11, at("updated_at"))?,
        job,
        source,
    })
}

fn decode_corrupt(column: &'static str, key: &str, reason: &str) -> StoreError {
    corrupt("checkpoints", column, key, reason)
}

/// [`crate::CheckpointStore::checkpoint`].
pub(super) async fn checkpoint_of<B: Backend>(
    store: &B,
    job: &str,
    source: &str,
    partition: u32,
) -> Result<Option<Checkpoint>> {
    const OP: &str = "reading a checkpoint";
    if partition > B::MAX_PARTITION {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints \
         WHERE job = $1 AND source = $2 AND partition = $3"
    );
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(sql, OP)
        .text(job)
        .text(source)
        .int(i64::from(partition))
        .fetch_optional(&mut c)
        .await?
        .map(|g| checkpoint(&g))
        .transpose()
}

/// [`crate::CheckpointStore::checkpoints`].
pub(super) async fn checkpoints<B: Backend>(
    store: &B,
    job: &str,
    source: &str,
) -> Result<Vec<Checkpoint>> {
    const OP: &str = "listing checkpoints";
    let sql = format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE job = $1 AND source = $2 \
         ORDER BY partition"
    );
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(sql, OP)
        .text(job)
        .text(source)
        .fetch_all(&mut c)
        .await?
        .iter()
        .map(checkpoint)
        .collect()
}

const QUARANTINE_COLUMNS: &str = "source, legacy_id, reason, field, record, first_seen, \
     last_seen, CAST(attempts AS BIGINT)";

/// Entries of the quarantine, filtered by source (`$1`).
const QUARANTINE_WHERE: &str = "FROM quarantine WHERE (CAST($1 AS TEXT) IS NULL OR source = $1)";

fn quarantine_entry<B: Backend>(g: &Got<B>) -> Result<QuarantineEntry> {
    let source = g.text(0, ("quarantine", "source", "?"))?;
    let legacy_id = g.text(1, ("quarantine", "legacy_id", &source))?;
    let key = format!("{source}/{legacy_id}");
    let at = |column| ("quarantine", column, key.as_str());
    Ok(QuarantineEntry {
        reason: g.text(2, at("reason"))?,
        field: g.opt_text(3, at("field"))?,
        record: g.json(4, at("record"))?,
        first_seen: g.instant(5, at("first_seen"))?,
        last_seen: g.instant(6, at("last_seen"))?,
        attempts: decode::attempts(&key, g.int(7, at("attempts"))?)?,
        source,
        legacy_id,
    })
}

/// [`crate::QuarantineStore::quarantine_list`].
pub(super) async fn quarantine_list<B: Backend>(
    store: &B,
    filter: &QuarantineFilter,
    limit: u32,
    offset: u64,
) -> Result<Vec<QuarantineEntry>> {
    const OP: &str = "listing the quarantine";
    let sql = format!(
        "SELECT {QUARANTINE_COLUMNS} {QUARANTINE_WHERE} \
         ORDER BY source, legacy_id LIMIT $2 OFFSET $3"
    );
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(sql, OP)
        .text(filter.source.as_deref())
        .int(i64::from(limit))
        .int(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut c)
        .await?
        .iter()
        .map(quarantine_entry)
        .collect()
}

/// [`crate::QuarantineStore::quarantine_page`].
pub(super) async fn quarantine_page<B: Backend>(
    store: &B,
    filter: &QuarantineFilter,
    after: Option<&QuarantineCursor>,
    limit: u32,
) -> Result<Vec<QuarantineEntry>> {
    const OP: &str = "reading a quarantine page";
    let sql = format!(
        "SELECT {QUARANTINE_COLUMNS} {QUARANTINE_WHERE} \
         AND (CAST($2 AS TEXT) IS NULL OR (source, legacy_id) > ({}, {})) \
         ORDER BY source, legacy_id LIMIT $4",
        B::bytewise("$2"),
        B::bytewise("$3"),
    );
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(sql, OP)
        .text(filter.source.as_deref())
        .text(after.map(|a| a.0.as_str()))
        .text(after.map(|a| a.1.as_str()))
        .int(i64::from(limit))
        .fetch_all(&mut c)
        .await?
        .iter()
        .map(quarantine_entry)
        .collect()
}

/// [`crate::QuarantineStore::quarantine_count`].
pub(super) async fn quarantine_count<B: Backend>(
    store: &B,
    filter: &QuarantineFilter,
) -> Result<u64> {
    const OP: &str = "counting the quarantine";
    let mut c = conn(store, OP).await?;
    let n = Stmt::<B>::new(format!("SELECT COUNT(*) {QUARANTINE_WHERE}"), OP)
        .text(filter.source.as_deref())
        .fetch_one(&mut c)
        .await?
        .int(0, ("quarantine", "count", ""))?;
    non_negative("quarantine_count", n)
}

/// [`crate::ReportStore::ledger_page`].
pub(super) async fn ledger_page<B: Backend>(
    store: &B,
    source: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<LedgerEntry>> {
    const OP: &str = "reading a ledger page";
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(
        "SELECT legacy_id, user_id, record_checksum FROM ledger \
         WHERE source = $1 AND (CAST($2 AS TEXT) IS NULL OR legacy_id > $2) \
         ORDER BY legacy_id LIMIT $3",
        OP,
    )
    .text(source)
    .text(after)
    .int(i64::from(limit))
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(|g| {
        let legacy_id = g.text(0, ("ledger", "legacy_id", source))?;
        let user_id = g.uuid(1, ("ledger", "user_id", &legacy_id))?;
        let sum = g.text(2, ("ledger", "record_checksum", &legacy_id))?;
        decode::ledger_entry(&legacy_id, user_id, sum)
    })
    .collect()
}

/// [`crate::EventStore::record_event`].
pub(super) async fn record_event<B: Backend>(
    store: &B,
    kind: &str,
    subject: &str,
    detail: &Value,
) -> Result<i64> {
    const OP: &str = "recording an event";
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(
        "INSERT INTO events (at, kind, subject, detail) VALUES ($1, $2, $3, $4) RETURNING id",
        OP,
    )
    .instant(crate::plan::now())
    .text(kind)
    .text(subject)
    .json(detail.to_string().as_str())
    .fetch_one(&mut c)
    .await?
    .int(0, ("events", "id", ""))
}

/// [`crate::EventStore::events`].
pub(super) async fn events<B: Backend>(store: &B, after_id: i64, limit: u32) -> Result<Vec<Event>> {
    const OP: &str = "reading events";
    let mut c = conn(store, OP).await?;
    Stmt::<B>::new(
        "SELECT id, at, kind, subject, detail FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        OP,
    )
    .int(after_id)
    .int(i64::from(limit))
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(|g| {
        let id = g.int(0, ("events", "id", ""))?;
        let key = id.to_string();
        let at = |column| ("events", column, key.as_str());
        Ok(Event {
            id,
            at: g.instant(1, at("at"))?,
            kind: g.text(2, at("kind"))?,
            subject: g.text(3, at("subject"))?,
            detail: g.json(4, at("detail"))?,
        })
    })
    .collect()
}

/// Every user with warnings, with the ledger key of the record they migrated from; the
/// casts make the columns text in either dialect.
const WARNED_USERS: &str = "SELECT CAST(u.id AS TEXT), u.migration_source, l.legacy_id, \
     CAST(u.migration_warnings AS TEXT) FROM users u \
     LEFT JOIN ledger l ON l.user_id = u.id AND l.source = u.migration_source \
     WHERE u.migration_warnings IS NOT NULL";

/// Per source, the ledger rows whose user came from elsewhere: records linked, not migrated.
const LINKED_BY_SOURCE: &str = "SELECT l.source, COUNT(*) FROM ledger l \
     JOIN users u ON u.id = l.user_id \
     WHERE u.migration_source IS NULL OR u.migration_source <> l.source GROUP BY l.source";

/// Per source, the records held in the quarantine.
const QUARANTINED_BY_SOURCE: &str = "SELECT source, COUNT(*) FROM quarantine GROUP BY source";

const LINKED_USERS: &str = "SELECT COUNT(*) FROM (SELECT user_id FROM ledger \
     GROUP BY user_id HAVING COUNT(DISTINCT source) > 1) AS linked";

/// [`crate::ReportStore::warnings`], streamed: a report over a million users holds only the
/// tallies and the first `filter.limit` users.
pub(super) async fn warnings<B: Backend>(
    store: &B,
    filter: &WarningFilter,
) -> Result<WarningReport> {
    const OP: &str = "reading migration warnings";
    let mut c = conn(store, OP).await?;
    let mut report = WarningReport::default();
    let mut rows = Stmt::<B>::new(WARNED_USERS, OP).fetch(&mut c);
    while let Some(g) = rows.try_next().await? {
        let id = g.text(0, ("users", "id", "?"))?;
        let text = g.text(3, ("users", "migration_warnings", &id))?;
        let warnings = serde_json::from_str(&text)
            .map_err(|e| corrupt("users", "migration_warnings", &id, e))?;
        report.add(
            filter,
            WarnedUser {
                source: g
                    .opt_text(1, ("users", "migration_source", &id))?
                    .unwrap_or_default(),
                legacy_id: g
                    .opt_text(2, ("ledger", "legacy_id", &id))?
                    .unwrap_or_default(),
                user_id: id,
                warnings,
            },
        );
    }
    Ok(report.finish())
}

/// (key, count) rows of a `GROUP BY` query.
async fn by_key<B: Backend>(
    c: &mut B::Conn,
    sql: &'static str,
    op: &'static str,
) -> Result<Vec<(Option<String>, u64)>> {
    Stmt::<B>::new(sql, op)
        .fetch_all(c)
        .await?
        .iter()
        .map(|g| {
            let key = g.opt_text(0, ("counts", "key", op))?;
            let n = g.int(1, ("counts", "count", op))?;
            Ok((key, non_negative("counts", n)?))
        })
        .collect()
}

/// (key, count) rows of a `GROUP BY` over a column that is never NULL.
pub(super) async fn by_source<B: Backend>(
    c: &mut B::Conn,
    sql: &'static str,
    op: &'static str,
) -> Result<Vec<(String, u64)>> {
    Ok(by_key::<B>(c, sql, op)
        .await?
        .into_iter()
        .map(|(k, n)| (k.unwrap_or_default(), n))
        .collect())
}

/// [`crate::ReportStore::counts`].
pub(super) async fn counts<B: Backend>(store: &B) -> Result<Counts> {
    let mut c = conn(store, "counting users by method").await?;
    let by_method = by_key::<B>(
        &mut c,
        "SELECT migration_method, COUNT(*) FROM users GROUP BY migration_method",
        "counting users by method",
    )
    .await?;
    let mut counts = Counts {
        by_source: by_source::<B>(
            &mut c,
            "SELECT source, COUNT(*) FROM ledger GROUP BY source",
            "counting the ledger by source",
        )
        .await?
        .into_iter()
        .collect(),
        linked_by_source: by_source::<B>(&mut c, LINKED_BY_SOURCE, "counting linked records")
            .await?
            .into_iter()
            .collect(),
        quarantined_by_source: by_source::<B>(
            &mut c,
            QUARANTINED_BY_SOURCE,
            "counting the quarantine",
        )
        .await?
        .into_iter()
        .collect(),
        ..Counts::default()
    };
    counts.quarantined = counts.quarantined_by_source.values().sum();
    let linked_users = Stmt::<B>::new(LINKED_USERS, "counting linked users")
        .fetch_one(&mut c)
        .await?
        .int(0, ("ledger", "user_id", "count"))?;
    counts.linked_users = non_negative("counts", linked_users)?;
    for (method, n) in by_method {
        counts.users = counts.users.saturating_add(n);
        counts
            .by_method
            .insert(method.unwrap_or_else(|| "none".into()), n);
    }
    Ok(counts)
}
