//! The backend-independent half of `write_chunk`: turn a [`ChunkWrite`] into rows the database
//! can hold, decide per record (insert, update, skip, quarantine) from what the ledger says,
//! and explain every record a unique index refused.
//!
//! Both backends run the same steps, so they make the same decisions:
//!
//! 1. [`prepare`]: validate the chunk, compute normalized identifiers, serialize JSON, truncate
//!    instants to microseconds, and quarantine values no backend can hold (a NUL character).
//! 2. The backend reads the ledger rows of the chunk's keys ([`LedgerHit`]).
//! 3. [`classify`]: skip what is migrated, pick the updates, the rest are inserts.
//! 4. [`check_updates`]: updates may not take an address or username another user holds.
//! 5. The backend inserts the inserts *in key order* with `ON CONFLICT DO NOTHING`: the unique
//!    indexes themselves decide which record of a case-only pair wins, against existing users,
//!    within the chunk, and against concurrent writers (whose committed rows the loser waits
//!    for and then sees).
//! 6. [`explain_refusals`]: every record the indexes refused is quarantined with a reason
//!    naming the record that holds the address or username.
//!
//! The login bridge's single-user writes ([`prepare_lazy`], [`prepare_registered`]) derive the
//! same [`Row`], refuse what no backend can hold, and say why an insert was refused with
//! [`refusal`].

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use usher_core::{LegacyKey, Method, User};
use uuid::Uuid;

use usher_runtime::{GaveUp, Retry, RetryPolicy};

use crate::error::{Result, StoreError};

mod preview;
use crate::model::{
    ChunkOutcome, ChunkWrite, ConflictPolicy, Counters, LazyMigration, LinkWrite, Rejected,
};
pub(crate) use preview::{PREVIEW_OP, PreviewReads, all_identifiers, preview};

/// The earliest instant both backends hold: PostgreSQL's `timestamptz` starts at 4713 BC.
const MIN_MICROS: i64 = -210_866_803_200_000_000;
/// The latest: PostgreSQL's `timestamptz` ends in 294276 AD.
const MAX_MICROS: i64 = 9_224_318_015_999_999;

/// An instant cut to the microsecond (what PostgreSQL keeps; SQLite stores the same integer).
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// "now", to the microsecond.
pub(crate) fn now() -> DateTime<Utc> {
    micros(Utc::now())
}

/// A user row ready for either backend, with everything derived once.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    /// Position in the chunk (key order).
    pub ord: usize,
    /// The text form of the record's key.
    pub legacy_id: String,
    /// The user as given.
    pub user: &'a User,
    /// The id written: the user's for an insert, the stored one for an update.
    pub id: Uuid,
    pub email_normalized: Option<String>,
    pub username_normalized: Option<String>,
    /// `attributes` as JSON text.
    pub attributes: String,
    /// `migration.original` as JSON text.
    pub legacy_record: Option<String>,
    /// `migration.warnings` as JSON text; `None` when there are none.
    pub migration_warnings: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `migration` columns of the user row (all `None` for a user without one).
    pub migration_method: Option<Method>,
    pub migrated_at: Option<DateTime<Utc>>,
    pub migration_source: Option<&'a str>,
    /// The ledger's method and time (from `migration`, else the chunk's method and now).
    pub ledger_method: Method,
    pub ledger_migrated_at: DateTime<Utc>,
    pub legacy_updated_at: Option<DateTime<Utc>>,
    pub checksum: &'a str,
    /// The credential's `updated_at` (the ledger time for a fresh import).
    pub credential_updated_at: DateTime<Utc>,
    /// The record for the quarantine, should this row end up there.
    pub quarantine_record: &'a Value,
}

/// A quarantine row ready to upsert.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuarantineRow {
    pub legacy_id: String,
    pub reason: String,
    pub field: Option<String>,
    /// JSON text, with NUL characters made visible (`␀`) so every backend can hold it.
    pub record: String,
}

/// The chunk, validated and derived.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub rows: Vec<Row<'a>>,
    /// Mapping rejects and values the store cannot hold.
    pub quarantine: Vec<QuarantineRow>,
}

static NULL_RECORD: Value = Value::Null;

/// Validates and derives a chunk. Fails (writing nothing) when the chunk itself is malformed:
/// a legacy key twice, two records with the same user id, a key that is no legacy id.
pub(crate) fn prepare(chunk: &ChunkWrite, now: DateTime<Utc>) -> Result<Prepared<'_>> {
    let invalid = |reason: String| StoreError::Invalid {
        what: format!("chunk for source {}", chunk.source),
        reason,
    };
    if chunk.source.is_empty() || chunk.source.contains('\0') {
        return Err(invalid("the source name is empty or contains NUL".into()));
    }
    if chunk.job.is_empty() || chunk.job.contains('\0') {
        return Err(invalid("the job name is empty or contains NUL".into()));
    }
    if i32::try_from(chunk.partition).is_err() {
        return Err(invalid(format!(
            "partition {} is larger than {}",
            chunk.partition,
            i32::MAX
        )));
    }
    let mut keys = HashSet::with_capacity(chunk.users.len().saturating_add(chunk.rejected.len()));
    let mut ids = HashSet::with_capacity(chunk.users.len());
    let mut rows = Vec::with_capacity(chunk.users.len());
    let mut quarantine = Vec::new();

    for rejected in &chunk.rejected {
        let row = rejected_row(rejected).map_err(&invalid)?;
        if !keys.insert(row.legacy_id.clone()) {
            return Err(invalid(format!(
                "legacy id {} appears twice",
                row.legacy_id
            )));
        }
        quarantine.push(row);
    }

    for (ord, cu) in chunk.users.iter().enumerate() {
        let legacy_id = legacy_id(&cu.key).map_err(&invalid)?;
        if !keys.insert(legacy_id.clone()) {
            return Err(invalid(format!("legacy id {legacy_id} appears twice")));
        }
        let user = &cu.user;
        if !ids.insert(*user.id.as_uuid()) {
            return Err(invalid(format!(
                "user id {} is given to two records (legacy id {legacy_id})",
                user.id
            )));
        }
        let quarantine_record = user
            .migration
            .as_ref()
            .map_or(&NULL_RECORD, |m| &m.original);
        if let Some((field, why)) = unstorable(user, &cu.checksum, cu.legacy_updated_at) {
            quarantine.push(QuarantineRow {
                legacy_id,
                reason: format!("field `{field}` {why}"),
                field: Some(field.to_owned()),
                record: json_text(quarantine_record),
            });
            continue;
        }
        let migration = user.migration.as_ref();
        let ledger_migrated_at = migration.map_or(now, |m| micros(m.at));
        rows.push(Row {
            ord,
            legacy_id,
            user,
            id: *user.id.as_uuid(),
            email_normalized: user.email.as_ref().map(|e| e.normalized()),
            username_normalized: user.username.as_ref().map(|u| u.normalized()),
            attributes: serde_json::to_string(&user.attributes).unwrap_or_else(|_| "{}".into()),
            legacy_record: migration.map(|m| json_text(&m.original)),
            migration_warnings: migration.and_then(|m| warnings_text(&m.warnings)),
            created_at: micros(user.created_at),
            updated_at: micros(user.updated_at),
            migration_method: migration.map(|m| m.method),
            migrated_at: migration.map(|m| micros(m.at)),
            migration_source: migration.map(|m| m.source.as_str()),
            ledger_method: migration.map_or(chunk.method, |m| m.method),
            ledger_migrated_at,
            legacy_updated_at: cu.legacy_updated_at.map(micros),
            checksum: &cu.checksum,
            credential_updated_at: ledger_migrated_at,
            quarantine_record,
        });
    }
    Ok(Prepared { rows, quarantine })
}

/// A record refused before it reached the store, as its quarantine row.
pub(crate) fn rejected_row(rejected: &Rejected) -> Result<QuarantineRow, String> {
    Ok(QuarantineRow {
        legacy_id: legacy_id(&rejected.key)?,
        reason: visible_nul(&rejected.reason),
        field: rejected.field.as_deref().map(visible_nul),
        record: json_text(&rejected.record),
    })
}

/// [`Store::quarantine_record`](crate::Store::quarantine_record)'s row, subject and event
/// detail (the reason and field; never the record).
pub(crate) fn prepare_rejected(
    source: &str,
    rejected: &Rejected,
) -> Result<(QuarantineRow, String, Value)> {
    let row = rejected_row(rejected).map_err(|reason| StoreError::Invalid {
        what: format!("quarantined record of source {source}"),
        reason,
    })?;
    let subject = format!("{source}/{}", row.legacy_id);
    let detail = serde_json::json!({ "reason": row.reason, "field": row.field });
    Ok((row, subject, detail))
}

fn legacy_id(key: &LegacyKey) -> Result<String, String> {
    key.to_legacy_id()
        .map(|id| id.as_str().to_owned())
        .map_err(|e| format!("key {key:?} is not a legacy id: {e}"))
}

/// JSON text of a value, with NUL characters made visible.
fn json_text(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    if text.contains("\\u0000") {
        text.replace("\\u0000", "\u{2400}")
    } else {
        text
    }
}

fn visible_nul(s: &str) -> String {
    s.replace('\0', "\u{2400}")
}

/// The first field of the record that no backend can hold, and why. PostgreSQL refuses NUL
/// in text and JSON, and instants and dates outside its range; SQLite is held to the same rules
/// so both stores quarantine the same records.
fn unstorable(
    u: &User,
    checksum: &str,
    legacy_updated_at: Option<DateTime<Utc>>,
) -> Option<(&'static str, &'static str)> {
    const NUL: &str = "contains a NUL character, which the store cannot hold";
    const RANGE: &str = "is outside the range the store can hold";
    let p = &u.profile;
    let texts = [
        ("given_name", &p.given_name),
        ("family_name", &p.family_name),
        ("name", &p.name),
        ("middle_name", &p.middle_name),
        ("nickname", &p.nickname),
        ("locale", &p.locale),
        ("zoneinfo", &p.zoneinfo),
        ("picture", &p.picture),
    ];
    for (field, value) in texts {
        if value.as_deref().is_some_and(|s| s.contains('\0')) {
            return Some((field, NUL));
        }
    }
    if json_has_nul_map(&u.attributes) {
        return Some(("attributes", NUL));
    }
    if let Some(c) = &u.credential
        && c.hash.contains('\0')
    {
        return Some(("credential", NUL));
    }
    if checksum.contains('\0') {
        return Some(("checksum", NUL));
    }
    if let Some(m) = &u.migration {
        if m.source.contains('\0') {
            return Some(("migration.source", NUL));
        }
        if json_has_nul(&m.original) {
            return Some(("migration.original", NUL));
        }
        if !in_range(m.at) {
            return Some(("migration.at", RANGE));
        }
    }
    if !in_range(u.created_at) {
        return Some(("created_at", RANGE));
    }
    if !in_range(u.updated_at) {
        return Some(("updated_at", RANGE));
    }
    if legacy_updated_at.is_some_and(|t| !in_range(t)) {
        return Some(("legacy_updated_at", RANGE));
    }
    if p.birthdate.is_some_and(|d| !date_in_range(d)) {
        return Some(("birthdate", RANGE));
    }
    None
}

/// How a single-user write records the user's arrival.
struct Arrival<'a> {
    method: Method,
    at: DateTime<Utc>,
    source: Option<&'a str>,
    original: Option<&'a Value>,
    warnings: Option<&'a [usher_core::FieldWarning]>,
}

/// Warnings as the JSON text the `migration_warnings` column holds; `None` for none.
fn warnings_text(w: &[usher_core::FieldWarning]) -> Option<String> {
    (!w.is_empty()).then(|| serde_json::to_string(w).unwrap_or_else(|_| "[]".into()))
}

/// The row of a single-user write (position 0), refusing values no backend can hold with an
/// error that names `what` and the field.
fn single_row<'a>(
    what: impl Fn() -> String,
    legacy_id: String,
    user: &'a User,
    checksum: &'a str,
    legacy_updated_at: Option<DateTime<Utc>>,
    arrival: Arrival<'a>,
    now: DateTime<Utc>,
) -> Result<Row<'a>> {
    if let Some((field, why)) = unstorable(user, checksum, legacy_updated_at) {
        return Err(StoreError::Invalid {
            what: what(),
            reason: format!("field `{field}` {why}"),
        });
    }
    Ok(Row {
        ord: 0,
        legacy_id,
        user,
        id: *user.id.as_uuid(),
        email_normalized: user.email.as_ref().map(|e| e.normalized()),
        username_normalized: user.username.as_ref().map(|u| u.normalized()),
        attributes: serde_json::to_string(&user.attributes).unwrap_or_else(|_| "{}".into()),
        legacy_record: arrival.original.map(json_text),
        migration_warnings: arrival.warnings.and_then(warnings_text),
        created_at: micros(user.created_at),
        updated_at: micros(user.updated_at),
        migration_method: Some(arrival.method),
        migrated_at: Some(arrival.at),
        migration_source: arrival.source,
        ledger_method: arrival.method,
        ledger_migrated_at: arrival.at,
        legacy_updated_at: legacy_updated_at.map(micros),
        checksum,
        // The credential was just verified and (re-)hashed: it is as new as the write.
        credential_updated_at: now,
        quarantine_record: &NULL_RECORD,
    })
}

/// The `source/legacy id` a single-record write is about, for events and errors.
fn subject(source: &str, key: &LegacyKey) -> String {
    match legacy_id(key) {
        Ok(id) => format!("{source}/{id}"),
        Err(_) => format!("{source}/{key:?}"),
    }
}

/// The source name and legacy id of a single-record write (a lazy migration, a link), or the
/// error naming `what` was being written.
fn source_and_id(source: &str, key: &LegacyKey, what: &dyn Fn() -> String) -> Result<String> {
    if source.is_empty() || source.contains('\0') {
        return Err(StoreError::Invalid {
            what: what(),
            reason: "the source name is empty or contains NUL".into(),
        });
    }
    legacy_id(key).map_err(|reason| StoreError::Invalid {
        what: what(),
        reason,
    })
}

/// The `source/legacy id` a lazy migration is about, for events and errors.
pub(crate) fn lazy_subject(m: &LazyMigration) -> String {
    subject(&m.source, &m.key)
}

/// Validates and derives a lazy migration: method [`Method::Lazy`] from `m.source`, at the
/// user's `migration.at` (now without one), keeping its `migration.original`. Fails, writing
/// nothing, on an empty source, a key that is no legacy id or a value no backend can hold.
pub(crate) fn prepare_lazy(m: &LazyMigration, now: DateTime<Utc>) -> Result<Row<'_>> {
    let what = || format!("lazy migration of {}", lazy_subject(m));
    let legacy_id = source_and_id(&m.source, &m.key, &what)?;
    let migration = m.user.migration.as_ref();
    let arrival = Arrival {
        method: Method::Lazy,
        at: migration.map_or(now, |g| micros(g.at)),
        source: Some(&m.source),
        original: migration.map(|g| &g.original),
        warnings: migration.map(|g| g.warnings.as_slice()),
    };
    single_row(
        what,
        legacy_id,
        &m.user,
        &m.checksum,
        m.legacy_updated_at,
        arrival,
        now,
    )
}

/// The `source/legacy id` a link is about, for events and errors.
pub(crate) fn link_subject(l: &LinkWrite) -> String {
    subject(&l.source, &l.key)
}

/// Every user with warnings, with the ledger key of the record they migrated from; the
/// casts make the columns text in either dialect.
const WARNED_USERS: &str = "SELECT CAST(u.id AS TEXT), u.migration_source, l.legacy_id, \
     CAST(u.migration_warnings AS TEXT) FROM users u \
     LEFT JOIN ledger l ON l.user_id = u.id AND l.source = u.migration_source \
     WHERE u.migration_warnings IS NOT NULL";

/// [`Store::warnings`](crate::Store::warnings), streamed with the same statement from either
/// backend.
pub(crate) async fn warnings<DB>(
    pool: &sqlx::Pool<DB>,
    filter: &crate::model::WarningFilter,
) -> Result<crate::model::WarningReport>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'r> (String, Option<String>, Option<String>, String): sqlx::FromRow<'r, DB::Row>,
{
    use futures::TryStreamExt as _;
    let op = "reading migration warnings";
    let mut report = crate::model::WarningReport::default();
    let mut rows =
        sqlx::query_as::<_, (String, Option<String>, Option<String>, String)>(WARNED_USERS)
            .fetch(pool);
    while let Some((id, source, legacy_id, text)) =
        rows.try_next().await.map_err(crate::error::db(op))?
    {
        let warnings = serde_json::from_str(&text)
            .map_err(|e| crate::error::corrupt("users", "migration_warnings", &id, e))?;
        report.add(
            filter,
            crate::model::WarnedUser {
                user_id: id,
                source: source.unwrap_or_default(),
                legacy_id: legacy_id.unwrap_or_default(),
                warnings,
            },
        );
    }
    Ok(report.finish())
}

/// The totals of [`Store::counts`](crate::Store::counts), read with the same statements from
/// either backend.
pub(crate) async fn counts<DB>(pool: &sqlx::Pool<DB>) -> Result<crate::model::Counts>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'r> (String, i64): sqlx::FromRow<'r, DB::Row>,
    for<'r> (Option<String>, i64): sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
{
    use crate::decode::non_negative;
    use crate::error::db;
    async fn by_key<DB, K>(
        pool: &sqlx::Pool<DB>,
        sql: &'static str,
        op: &'static str,
    ) -> Result<Vec<(K, u64)>>
    where
        DB: sqlx::Database,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        DB::Arguments: sqlx::IntoArguments<DB>,
        for<'r> (K, i64): sqlx::FromRow<'r, DB::Row>,
        K: Send + Unpin,
    {
        let rows: Vec<(K, i64)> = sqlx::query_as(sql).fetch_all(pool).await.map_err(db(op))?;
        rows.into_iter()
            .map(|(k, n)| Ok((k, non_negative("counts", n)?)))
            .collect()
    }
    let by_method: Vec<(Option<String>, u64)> = by_key(
        pool,
        "SELECT migration_method, COUNT(*) FROM users GROUP BY migration_method",
        "counting users by method",
    )
    .await?;
    let mut counts = crate::model::Counts {
        by_source: by_key(
            pool,
            "SELECT source, COUNT(*) FROM ledger GROUP BY source",
            "counting the ledger by source",
        )
        .await?
        .into_iter()
        .collect(),
        linked_by_source: by_key(pool, LINKED_BY_SOURCE, "counting linked records")
            .await?
            .into_iter()
            .collect(),
        quarantined_by_source: by_key(pool, QUARANTINED_BY_SOURCE, "counting the quarantine")
            .await?
            .into_iter()
            .collect(),
        ..crate::model::Counts::default()
    };
    counts.quarantined = counts.quarantined_by_source.values().sum();
    let (linked_users,): (i64,) = sqlx::query_as(LINKED_USERS)
        .fetch_one(pool)
        .await
        .map_err(db("counting linked users"))?;
    counts.linked_users = non_negative("counts", linked_users)?;
    for (method, n) in by_method {
        counts.users = counts.users.saturating_add(n);
        counts
            .by_method
            .insert(method.unwrap_or_else(|| "none".into()), n);
    }
    Ok(counts)
}

/// Per source, the ledger rows whose user came from elsewhere: records linked, not migrated.
pub(crate) const LINKED_BY_SOURCE: &str = "SELECT l.source, COUNT(*) FROM ledger l \
     JOIN users u ON u.id = l.user_id \
     WHERE u.migration_source IS NULL OR u.migration_source <> l.source GROUP BY l.source";

/// Per source, the records held in the quarantine.
pub(crate) const QUARANTINED_BY_SOURCE: &str =
    "SELECT source, COUNT(*) FROM quarantine GROUP BY source";

pub(crate) const LINKED_USERS: &str = "SELECT COUNT(*) FROM (SELECT user_id FROM ledger \
     GROUP BY user_id HAVING COUNT(DISTINCT source) > 1) AS linked";

/// The `user.linked` event's detail: never a secret (the original has no password fields).
pub(crate) fn link_detail(l: &LinkWrite, legacy_id: &str) -> Value {
    serde_json::json!({
        "user_id": l.user.id,
        "source": l.source,
        "legacy_id": legacy_id,
        "method": l.method.as_str(),
        "original": l.original,
    })
}

/// The link with the user's `updated_at` moved past the one it was merged from, so that a
/// second link merged from the same read is stale even when neither record is newer.
pub(crate) fn bump(l: &LinkWrite) -> LinkWrite {
    let mut l = l.clone();
    let read = micros(l.expected_updated_at);
    let floor = read
        .checked_add_signed(chrono::Duration::microseconds(1))
        .unwrap_or(read);
    l.user.updated_at = micros(l.user.updated_at).max(floor);
    l
}

/// Validates and derives a link: the merged user's row (its migration columns unused: the
/// stored user keeps its own) and the ledger row's method, time and checksum.
pub(crate) fn prepare_link(l: &LinkWrite, now: DateTime<Utc>) -> Result<Row<'_>> {
    let what = || format!("link of {}", link_subject(l));
    let legacy_id = source_and_id(&l.source, &l.key, &what)?;
    let arrival = Arrival {
        method: l.method,
        at: now,
        source: Some(&l.source),
        original: None,
        warnings: None,
    };
    single_row(
        what,
        legacy_id,
        &l.user,
        &l.checksum,
        l.legacy_updated_at,
        arrival,
        now,
    )
}

/// Validates and derives a registration: method [`Method::Registered`] at `now`, no source and
/// no original record (the user's own `migration` and `legacy_links` are ignored).
pub(crate) fn prepare_registered(user: &User, now: DateTime<Utc>) -> Result<Row<'_>> {
    let arrival = Arrival {
        method: Method::Registered,
        at: now,
        source: None,
        original: None,
        warnings: None,
    };
    single_row(
        || format!("registration of user {}", user.id),
        String::new(),
        user,
        "",
        None,
        arrival,
        now,
    )
}

/// Why a single-user insert was refused by a unique index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A stored user holds the email or username (`"email"` or `"username"`).
    Taken(&'static str, Uuid),
    /// No one holds the identifiers but a user has the row's id.
    IdInUse,
    /// Nothing visible refused it: the refusing writer rolled back meanwhile; retry.
    Vanished,
}

/// Why the indexes refused `row`, from the holders of its identifiers (`owners`) and whether
/// its id is taken. The email is named first when both identifiers are held.
pub(crate) fn refusal(row: &Row<'_>, owners: &[Owner], id_in_use: bool) -> Refusal {
    let held = |field: &'static str, mine: Option<&str>, theirs: fn(&Owner) -> Option<&str>| {
        let mine = mine?;
        owners
            .iter()
            .find(|o| theirs(o) == Some(mine))
            .map(|o| Refusal::Taken(field, o.user_id))
    };
    held("email", row.email_normalized.as_deref(), |o| {
        o.email_normalized.as_deref()
    })
    .or_else(|| {
        held("username", row.username_normalized.as_deref(), |o| {
            o.username_normalized.as_deref()
        })
    })
    .unwrap_or(if id_in_use {
        Refusal::IdInUse
    } else {
        Refusal::Vanished
    })
}

/// The error for a single-user write whose user id another user already has.
pub(crate) fn id_in_use(what: &str, id: Uuid) -> StoreError {
    StoreError::Invalid {
        what: what.to_owned(),
        reason: format!("user id {id} is already taken by another user"),
    }
}

/// Refuses a credential no backend can hold.
pub(crate) fn check_credential(user: Uuid, hash: &str) -> Result<()> {
    if hash.contains('\0') {
        return Err(StoreError::Invalid {
            what: format!("credential of user {user}"),
            reason: "the hash contains a NUL character, which the store cannot hold".into(),
        });
    }
    Ok(())
}

fn in_range(t: DateTime<Utc>) -> bool {
    (MIN_MICROS..=MAX_MICROS).contains(&t.timestamp_micros())
}

fn date_in_range(d: NaiveDate) -> bool {
    // PostgreSQL's date starts at 4713 BC (year -4712) and outlasts chrono's range.
    NaiveDate::from_ymd_opt(-4712, 1, 1).is_some_and(|min| d >= min)
}

fn json_has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => json_has_nul_map(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn json_has_nul_map(map: &serde_json::Map<String, Value>) -> bool {
    map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v))
}

/// What the ledger holds for one of the chunk's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerHit {
    pub user_id: Uuid,
    pub record_checksum: String,
    /// The stored user's `updated_at`.
    pub user_updated_at: DateTime<Utc>,
}

/// The decision for each prepared row, as indexes into `Prepared::rows`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Classified {
    pub inserts: Vec<usize>,
    /// (row, the stored user's id)
    pub updates: Vec<(usize, Uuid)>,
    pub skipped: Vec<usize>,
}

/// Skips what the ledger already has, unless the policy asks for a newer legacy record to
/// update the user; everything else is to be inserted.
pub(crate) fn classify(
    rows: &[Row<'_>],
    hits: &HashMap<String, LedgerHit>,
    policy: ConflictPolicy,
) -> Classified {
    let mut out = Classified::default();
    for (i, row) in rows.iter().enumerate() {
        match hits.get(&row.legacy_id) {
            None => out.inserts.push(i),
            Some(hit) => {
                let newer = policy == ConflictPolicy::LegacyNewer
                    && row
                        .legacy_updated_at
                        .is_some_and(|t| t > hit.user_updated_at)
                    && hit.record_checksum != row.checksum;
                if newer {
                    out.updates.push((i, hit.user_id));
                } else {
                    out.skipped.push(i);
                }
            }
        }
    }
    out
}

/// A user holding an email or username, as the owner lookup returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub user_id: Uuid,
    pub email_normalized: Option<String>,
    pub username_normalized: Option<String>,
    /// The user's first ledger link (source, legacy id), if it came from a legacy system.
    pub link: Option<(String, String)>,
    /// The user's only link is a bulk migration, and neither its profile nor its credential
    /// changed since: a record with a lower key may still take its identifiers
    /// ([`displacements`]).
    pub displaceable: bool,
}

impl Owner {
    fn describe(&self) -> String {
        match &self.link {
            Some((source, legacy_id)) => format!("legacy id {legacy_id} (source {source})"),
            None => format!("user {}", self.user_id),
        }
    }
}

fn email_reason(holder: &str) -> (String, Option<String>) {
    (
        format!("duplicate email: same address as {holder}"),
        Some("email".into()),
    )
}

fn username_reason(holder: &str) -> (String, Option<String>) {
    (
        format!("duplicate username: same username as {holder}"),
        Some("username".into()),
    )
}

fn quarantine_row(row: &Row<'_>, (reason, field): (String, Option<String>)) -> QuarantineRow {
    QuarantineRow {
        legacy_id: row.legacy_id.clone(),
        reason,
        field,
        record: json_text(row.quarantine_record),
    }
}

/// Keeps the updates that take no address or username held by another user (or by an earlier
/// update of this chunk); the others are quarantined and their users left as they are.
/// `owners` are the current holders of the updates' emails and usernames.
pub(crate) fn check_updates(
    rows: &[Row<'_>],
    updates: Vec<(usize, Uuid)>,
    owners: &[Owner],
    source: &str,
) -> (Vec<(usize, Uuid)>, Vec<QuarantineRow>) {
    let by_email: HashMap<&str, &Owner> = owners
        .iter()
        .filter_map(|o| o.email_normalized.as_deref().map(|e| (e, o)))
        .collect();
    let by_username: HashMap<&str, &Owner> = owners
        .iter()
        .filter_map(|o| o.username_normalized.as_deref().map(|u| (u, o)))
        .collect();
    let mut claimed_email: HashMap<&str, &str> = HashMap::new();
    let mut claimed_username: HashMap<&str, &str> = HashMap::new();
    let mut kept = Vec::with_capacity(updates.len());
    let mut refused = Vec::new();
    for (i, user_id) in updates {
        let Some(row) = rows.get(i) else { continue };
        let in_chunk = |id: &str| format!("legacy id {id} (source {source})");
        let email = row.email_normalized.as_deref();
        let username = row.username_normalized.as_deref();
        let reason = if let Some(o) = email
            .and_then(|e| by_email.get(e))
            .filter(|o| o.user_id != user_id)
        {
            Some(email_reason(&o.describe()))
        } else if let Some(other) = email.and_then(|e| claimed_email.get(e)) {
            Some(email_reason(&in_chunk(other)))
        } else if let Some(o) = username
            .and_then(|u| by_username.get(u))
            .filter(|o| o.user_id != user_id)
        {
            Some(username_reason(&o.describe()))
        } else {
            username
                .and_then(|u| claimed_username.get(u))
                .map(|other| username_reason(&in_chunk(other)))
        };
        match reason {
            Some(reason) => refused.push(quarantine_row(row, reason)),
            None => {
                if let Some(e) = email {
                    claimed_email.insert(e, &row.legacy_id);
                }
                if let Some(u) = username {
                    claimed_username.insert(u, &row.legacy_id);
                }
                kept.push((i, user_id));
            }
        }
    }
    (kept, refused)
}

/// Why the unique indexes refused each of `refused` (rows that were to be inserted and were
/// not), from the current holders of their emails and usernames. `None` when a refusal has no
/// visible holder: the holder's transaction was rolled back meanwhile, and the caller retries.
pub(crate) fn explain_refusals(
    rows: &[Row<'_>],
    refused: &[usize],
    owners: &[Owner],
) -> Option<Vec<QuarantineRow>> {
    let by_email: HashMap<&str, &Owner> = owners
        .iter()
        .filter_map(|o| o.email_normalized.as_deref().map(|e| (e, o)))
        .collect();
    let by_username: HashMap<&str, &Owner> = owners
        .iter()
        .filter_map(|o| o.username_normalized.as_deref().map(|u| (u, o)))
        .collect();
    let mut out = Vec::with_capacity(refused.len());
    for &i in refused {
        let row = rows.get(i)?;
        let reason = if let Some(o) = row
            .email_normalized
            .as_deref()
            .and_then(|e| by_email.get(e))
        {
            email_reason(&o.describe())
        } else {
            let o = row
                .username_normalized
                .as_deref()
                .and_then(|u| by_username.get(u))?;
            username_reason(&o.describe())
        };
        out.push(quarantine_row(row, reason));
    }
    Some(out)
}

/// A user a record with a lower key takes the identifiers of: the user goes (with its credential
/// and ledger row), and its own record is quarantined as the duplicate instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Displacement {
    pub user_id: Uuid,
    /// The displaced user's legacy id (of the chunk's source).
    pub legacy_id: String,
    /// Its quarantine row's reason and field.
    pub reason: String,
    pub field: String,
}

/// Which of the `refused` rows should have won their identifier: "the first row wins" means the
/// lowest key, whatever the order partitions happen to write in. A row is refused because a
/// user of the same source with a higher (integer) key took the identifier first; when that user
/// is still exactly as the bulk migration wrote it (`Owner::displaceable`), it gives way. Users
/// that were changed since (a login re-hashed the password, a profile edit), lazily migrated, or
/// linked keep the identifier, and the row is quarantined as usual.
pub(crate) fn displacements(
    rows: &[Row<'_>],
    refused: &[usize],
    owners: &[Owner],
    source: &str,
) -> Vec<Displacement> {
    let mut out: Vec<Displacement> = Vec::new();
    for row in refused.iter().filter_map(|&i| rows.get(i)) {
        let Ok(mine) = row.legacy_id.parse::<i64>() else {
            continue;
        };
        // Every user holding one of the row's identifiers. The row takes its place only if
        // all of them give way: one that keeps its claim (a lower key, a changed user, another
        // source) refuses the row whatever the others do, and displacing those would undo
        // their migration for nothing.
        let mine_too = |field: &'static str, ours: Option<&str>, theirs: Option<&str>| {
            (ours.is_some() && ours == theirs).then_some(field)
        };
        let holders: Vec<(&'static str, &Owner)> = owners
            .iter()
            .filter(|o| o.user_id != row.id)
            .filter_map(|o| {
                mine_too(
                    "email",
                    row.email_normalized.as_deref(),
                    o.email_normalized.as_deref(),
                )
                .or_else(|| {
                    mine_too(
                        "username",
                        row.username_normalized.as_deref(),
                        o.username_normalized.as_deref(),
                    )
                })
                .map(|field| (field, o))
            })
            .collect();
        let gives_way = |owner: &Owner| {
            owner.displaceable
                && owner.link.as_ref().is_some_and(|(their_source, theirs)| {
                    their_source == source && theirs.parse::<i64>().is_ok_and(|t| t > mine)
                })
        };
        if holders.is_empty() || !holders.iter().all(|(_, o)| gives_way(o)) {
            continue;
        }
        for (field, owner) in holders {
            let Some((_, theirs)) = &owner.link else {
                continue;
            };
            if out.iter().any(|d| d.user_id == owner.user_id) {
                continue;
            }
            let what = if field == "email" {
                "duplicate email: same address as"
            } else {
                "duplicate username: same username as"
            };
            out.push(Displacement {
                user_id: owner.user_id,
                legacy_id: theirs.clone(),
                reason: format!(
                    "{what} legacy id {} (source {source}), which has the lower key and so \
                     keeps it (this record had migrated first, and gave way)",
                    row.legacy_id
                ),
                field: field.to_owned(),
            });
        }
    }
    out
}

/// The `user.displaced` event's detail.
pub(crate) fn displaced_detail(d: &Displacement) -> Value {
    serde_json::json!({ "user_id": d.user_id, "legacy_id": d.legacy_id, "reason": d.reason })
}

/// The quarantine row of a displaced user's record (its stored original: no password fields).
pub(crate) fn displaced_row(d: &Displacement, record: Option<String>) -> QuarantineRow {
    QuarantineRow {
        legacy_id: d.legacy_id.clone(),
        reason: d.reason.clone(),
        field: Some(d.field.clone()),
        record: record.unwrap_or_else(|| "null".into()),
    }
}

/// The emails and usernames of `rows[indexes]`, for an owner lookup.
pub(crate) fn identifiers(rows: &[Row<'_>], indexes: &[usize]) -> (Vec<String>, Vec<String>) {
    let mut emails = Vec::with_capacity(indexes.len());
    let mut usernames = Vec::with_capacity(indexes.len());
    for row in indexes.iter().filter_map(|&i| rows.get(i)) {
        if let Some(e) = &row.email_normalized {
            emails.push(e.clone());
        }
        if let Some(u) = &row.username_normalized {
            usernames.push(u.clone());
        }
    }
    (emails, usernames)
}

/// This chunk's share of the partition's counters (users it displaced are counted when they
/// go, by the displacement's own transaction).
pub(crate) fn counters(read: u64, outcome: &ChunkOutcome) -> Counters {
    Counters {
        read,
        migrated: outcome.migrated,
        skipped: outcome.skipped,
        updated: outcome.updated,
        quarantined: outcome.quarantined,
        linked: outcome.linked,
        displaced: 0,
    }
}

/// `n` as a counter.
pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The keys now migrated (inserted, updated or skipped), whose quarantine rows go away.
pub(crate) fn migrated_keys(
    rows: &[Row<'_>],
    inserted: &[usize],
    updated: &[(usize, Uuid)],
    skipped: &[usize],
) -> Vec<String> {
    inserted
        .iter()
        .chain(updated.iter().map(|(i, _)| i))
        .chain(skipped.iter())
        .filter_map(|&i| rows.get(i).map(|r| r.legacy_id.clone()))
        .collect()
}

/// How many transactions `write_chunk` tries before giving up on a contended chunk.
pub(crate) const MAX_ATTEMPTS: u32 = 12;

/// Runs one `write_chunk` transaction until it commits. `attempt` returns `Ok(None)` when it
/// rolled back because a concurrent writer won a race; transient database errors (deadlock,
/// serialization failure, unique violation on PostgreSQL, busy on SQLite) also retry, after a
/// short jittered pause so two colliding writers do not collide again in step.
pub(crate) async fn with_retries<F, Fut>(chunk: &ChunkWrite, attempt: F) -> Result<ChunkOutcome>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<ChunkOutcome>>>,
{
    let mut retries = 0u32;
    let result = contended(attempt, |e, _, _| {
        retries = retries.saturating_add(1);
        match e {
            Attempt::LostRace => {
                tracing::debug!(source = %chunk.source, partition = chunk.partition, retries, "Chunk lost a race, retrying");
            }
            Attempt::Failed(e) => {
                tracing::debug!(source = %chunk.source, partition = chunk.partition, retries, error = %e, "Chunk hit a transient error, retrying");
            }
        }
    })
    .await;
    match result {
        Ok(mut outcome) => {
            outcome.retries = retries;
            Ok(outcome)
        }
        Err(GaveUp::Final(Attempt::Failed(e))) => Err(e),
        Err(GaveUp::Final(Attempt::LostRace) | GaveUp::Exhausted { .. }) => {
            Err(StoreError::Contention {
                source_name: chunk.source.clone(),
                partition: chunk.partition,
                attempts: MAX_ATTEMPTS,
            })
        }
    }
}

/// Runs one single-user write transaction (`op` on `subject`) until it commits, like
/// [`with_retries`]: `attempt` returns `Ok(None)` when it rolled back because a concurrent
/// writer won a race (its retry sees the winner's rows), and transient errors retry too.
pub(crate) async fn retry_write<T, F, Fut>(op: &'static str, subject: &str, attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let result = contended(attempt, |e, retries, _| match e {
        Attempt::LostRace => {
            tracing::debug!(op, subject, retries, "Write lost a race, retrying");
        }
        Attempt::Failed(e) => {
            tracing::debug!(op, subject, retries, error = %e, "Write hit a transient error, retrying");
        }
    })
    .await;
    match result {
        Ok(done) => Ok(done),
        Err(GaveUp::Final(Attempt::Failed(e))) => Err(e),
        Err(GaveUp::Final(Attempt::LostRace) | GaveUp::Exhausted { .. }) => Err(StoreError::Busy {
            op,
            subject: subject.to_owned(),
            attempts: MAX_ATTEMPTS,
        }),
    }
}

/// Why one attempt at a contended write did not commit.
enum Attempt {
    /// It rolled back because a concurrent writer won a race.
    LostRace,
    /// It failed.
    Failed(StoreError),
}

/// The store's retries: up to [`MAX_ATTEMPTS`] transactions, after short jittered pauses (2 ms
/// doubling to 128 ms, plus up to 16 ms) so two colliding writers do not collide again in
/// step. Lost races and transient errors retry; other errors are final.
async fn contended<T, F, Fut>(
    mut attempt: F,
    on_retry: impl FnMut(&Attempt, u32, std::time::Duration),
) -> std::result::Result<T, GaveUp<Attempt>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    const POLICY: RetryPolicy = RetryPolicy {
        attempts: MAX_ATTEMPTS,
        first: std::time::Duration::from_millis(2),
        max: std::time::Duration::from_millis(128),
        jitter: std::time::Duration::from_millis(16),
    };
    POLICY
        .run(
            || {
                let fut = attempt();
                async move {
                    match fut.await {
                        Ok(Some(done)) => Ok(done),
                        Ok(None) => Err(Attempt::LostRace),
                        Err(e) => Err(Attempt::Failed(e)),
                    }
                }
            },
            |e| match e {
                Attempt::LostRace => Retry::Again,
                Attempt::Failed(e) if e.is_transient() => Retry::Again,
                Attempt::Failed(_) => Retry::Stop,
            },
            on_retry,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChunkUser;
    use serde_json::json;
    use usher_core::{Email, Profile, Status, UserId, Username};

    fn user(email: &str, username: &str) -> User {
        User {
            id: UserId::new(),
            email: Some(Email::parse(email).unwrap()),
            email_verified: true,
            username: Some(Username::parse(username).unwrap()),
            phone: None,
            profile: Profile::default(),
            attributes: serde_json::Map::new(),
            credential: None,
            status: Status::Active,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            legacy_links: vec![],
            migration: None,
        }
    }

    fn chunk(users: Vec<(i64, User)>) -> ChunkWrite {
        let mut c = ChunkWrite::new("backfill", "legacy", 0);
        c.users = users
            .into_iter()
            .map(|(k, user)| ChunkUser {
                key: LegacyKey::Int(k),
                user,
                checksum: format!("sum-{k}"),
                legacy_updated_at: None,
            })
            .collect();
        c
    }

    #[test]
    fn a_key_given_twice_is_refused_before_anything_is_written() {
        let c = chunk(vec![(1, user("a@x.io", "a")), (1, user("b@x.io", "b"))]);
        let err = prepare(&c, now()).unwrap_err();
        assert!(
            err.to_string().contains("legacy id 1 appears twice"),
            "{err}"
        );
    }

    #[test]
    fn a_nul_in_a_profile_field_quarantines_the_record_on_every_backend() {
        let mut u = user("a@x.io", "a");
        u.profile.name = Some("A\0B".into());
        let c = chunk(vec![(1, u), (2, user("b@x.io", "b"))]);
        let p = prepare(&c, now()).unwrap();
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.quarantine.len(), 1);
        assert_eq!(p.quarantine[0].legacy_id, "1");
        assert_eq!(p.quarantine[0].field.as_deref(), Some("name"));
        assert!(p.quarantine[0].reason.contains("NUL"));
    }

    #[test]
    fn nul_characters_in_a_quarantined_record_are_made_visible() {
        assert_eq!(
            json_text(&json!({"a": "x\u{0}y"})),
            "{\"a\":\"x\u{2400}y\"}"
        );
    }

    #[test]
    fn instants_are_cut_to_the_microsecond() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(micros(t).timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn only_a_newer_and_different_legacy_record_updates_under_legacy_newer() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t1 = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let mut c = chunk(vec![
            (1, user("a@x.io", "a")),
            (2, user("b@x.io", "b")),
            (3, user("c@x.io", "c")),
            (4, user("d@x.io", "d")),
        ]);
        for cu in &mut c.users {
            cu.legacy_updated_at = Some(t1);
        }
        c.users[2].legacy_updated_at = Some(t0);
        let p = prepare(&c, now()).unwrap();
        let hit = |sum: &str| LedgerHit {
            user_id: Uuid::nil(),
            record_checksum: sum.into(),
            user_updated_at: t0,
        };
        let hits = HashMap::from([
            ("1".to_string(), hit("old")),   // newer, different: update
            ("2".to_string(), hit("sum-2")), // same checksum: skip
            ("3".to_string(), hit("old")),   // not newer: skip
        ]);
        let skip = classify(&p.rows, &hits, ConflictPolicy::Skip);
        assert_eq!(skip.inserts, vec![3]);
        assert_eq!(skip.skipped, vec![0, 1, 2]);
        let newer = classify(&p.rows, &hits, ConflictPolicy::LegacyNewer);
        assert_eq!(newer.updates, vec![(0, Uuid::nil())]);
        assert_eq!(newer.skipped, vec![1, 2]);
        assert_eq!(newer.inserts, vec![3]);
    }

    #[test]
    fn a_refused_insert_is_explained_by_the_holder_of_its_address() {
        let c = chunk(vec![
            (17, user("Ann@x.io", "ann")),
            (18, user("ann@X.io", "ann2")),
        ]);
        let p = prepare(&c, now()).unwrap();
        let owner = Owner {
            user_id: p.rows[0].id,
            email_normalized: Some("ann@x.io".into()),
            username_normalized: Some("ann".into()),
            link: Some(("legacy".into(), "17".into())),
            displaceable: false,
        };
        let q = explain_refusals(&p.rows, &[1], &[owner]).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].legacy_id, "18");
        assert_eq!(
            q[0].reason,
            "duplicate email: same address as legacy id 17 (source legacy)"
        );
        assert_eq!(q[0].field.as_deref(), Some("email"));
    }

    #[test]
    fn a_refusal_without_a_visible_holder_asks_for_a_retry() {
        let c = chunk(vec![(1, user("a@x.io", "a"))]);
        let p = prepare(&c, now()).unwrap();
        assert!(explain_refusals(&p.rows, &[0], &[]).is_none());
    }

    #[test]
    fn an_update_may_not_take_another_users_username() {
        let c = chunk(vec![
            (1, user("a@x.io", "bob")),
            (2, user("c@x.io", "carl")),
        ]);
        let p = prepare(&c, now()).unwrap();
        let me = Uuid::now_v7();
        let bob = Owner {
            user_id: Uuid::now_v7(),
            email_normalized: Some("b@x.io".into()),
            username_normalized: Some("bob".into()),
            link: None,
            displaceable: false,
        };
        let (kept, refused) = check_updates(
            &p.rows,
            vec![(0, me), (1, me)],
            std::slice::from_ref(&bob),
            "legacy",
        );
        assert_eq!(kept, vec![(1, me)]);
        assert_eq!(refused.len(), 1);
        assert_eq!(
            refused[0].reason,
            format!("duplicate username: same username as user {}", bob.user_id)
        );
    }

    fn owner(email: &str, username: &str) -> Owner {
        Owner {
            user_id: Uuid::now_v7(),
            email_normalized: Some(email.into()),
            username_normalized: Some(username.into()),
            link: None,
            displaceable: false,
        }
    }

    #[test]
    fn a_lazy_migration_is_recorded_as_lazy_from_its_source() {
        let mut u = user("Ann@X.io", "Ann");
        u.migration = Some(usher_core::Migration {
            method: Method::Bulk,
            at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            source: "mapper".into(),
            original: json!({"id": 7}),
            warnings: Vec::new(),
        });
        let m = LazyMigration {
            source: "legacy".into(),
            key: LegacyKey::Int(7),
            user: u,
            checksum: "sum".into(),
            legacy_updated_at: None,
            system_of_record: crate::model::SystemOfRecord::New,
        };
        let t = now();
        let row = prepare_lazy(&m, t).unwrap();
        assert_eq!(row.legacy_id, "7");
        assert_eq!(row.migration_method, Some(Method::Lazy));
        assert_eq!(row.ledger_method, Method::Lazy);
        assert_eq!(row.migration_source, Some("legacy"));
        assert_eq!(
            row.migrated_at.unwrap().timestamp_subsec_nanos(),
            123_456_000
        );
        assert_eq!(row.legacy_record.as_deref(), Some("{\"id\":7}"));
        assert_eq!(row.credential_updated_at, t);
        assert_eq!(row.email_normalized.as_deref(), Some("ann@x.io"));
        assert_eq!(lazy_subject(&m), "legacy/7");
    }

    #[test]
    fn a_registration_has_no_source_and_no_original() {
        let u = user("a@x.io", "a");
        let t = now();
        let row = prepare_registered(&u, t).unwrap();
        assert_eq!(row.migration_method, Some(Method::Registered));
        assert_eq!(row.migrated_at, Some(t));
        assert_eq!(row.migration_source, None);
        assert_eq!(row.legacy_record, None);
        let mut bad = user("b@x.io", "b");
        bad.profile.nickname = Some("x\0y".into());
        let err = prepare_registered(&bad, t).unwrap_err();
        assert!(err.to_string().contains("`nickname`"), "{err}");
    }

    #[test]
    fn a_refused_single_insert_names_the_email_holder_first() {
        let u = user("Ann@X.io", "Ann");
        let row = prepare_registered(&u, now()).unwrap();
        let by_email = owner("ann@x.io", "other");
        let by_name = owner("other@x.io", "ann");
        let both = [by_name.clone(), by_email.clone()];
        assert_eq!(
            refusal(&row, &both, false),
            Refusal::Taken("email", by_email.user_id)
        );
        assert_eq!(
            refusal(&row, std::slice::from_ref(&by_name), false),
            Refusal::Taken("username", by_name.user_id)
        );
        assert_eq!(refusal(&row, &[], true), Refusal::IdInUse);
        assert_eq!(refusal(&row, &[], false), Refusal::Vanished);
    }
}
