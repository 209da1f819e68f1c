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

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use usher_core::{LegacyKey, Method, User};
use uuid::Uuid;

use crate::error::{Result, StoreError};

mod preview;
mod retry;
mod single;
use crate::model::{ChunkWrite, ConflictPolicy, LazyMigration, LinkWrite, Rejected};
pub(crate) use preview::{PREVIEW_OP, all_identifiers, preview};
pub(crate) use retry::{retry_write, with_retries};
pub(crate) use single::*;

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

/// [`MigrationStore::quarantine_record`](crate::MigrationStore::quarantine_record)'s row, subject
/// and event detail (the reason and field; never the record).
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

/// Skips what the ledger already has, unless the policy asks for the legacy record (a newer
/// one, or any) to update the user; everything else is to be inserted.
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
                let newer = match policy {
                    ConflictPolicy::Skip => false,
                    ConflictPolicy::LegacyNewer => {
                        row.legacy_updated_at
                            .is_some_and(|t| t > hit.user_updated_at)
                            && hit.record_checksum != row.checksum
                    }
                    ConflictPolicy::Legacy => true,
                };
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

pub(crate) fn quarantine_row(
    row: &Row<'_>,
    (reason, field): (String, Option<String>),
) -> QuarantineRow {
    QuarantineRow {
        legacy_id: row.legacy_id.clone(),
        reason,
        field,
        record: json_text(row.quarantine_record),
    }
}

/// The owners by normalized email and by normalized username.
fn by_identifier(owners: &[Owner]) -> (HashMap<&str, &Owner>, HashMap<&str, &Owner>) {
    let by_email = owners
        .iter()
        .filter_map(|o| o.email_normalized.as_deref().map(|e| (e, o)))
        .collect();
    let by_username = owners
        .iter()
        .filter_map(|o| o.username_normalized.as_deref().map(|u| (u, o)))
        .collect();
    (by_email, by_username)
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
    let (by_email, by_username) = by_identifier(owners);
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
    let (by_email, by_username) = by_identifier(owners);
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

#[cfg(test)]
mod tests;
