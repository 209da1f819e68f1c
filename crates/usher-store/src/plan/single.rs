//! The single-user writes' rows: a legacy user's first login, a link, a registration, a
//! record the bridge quarantines; and why the unique indexes refused a single user.

use super::*;

/// How a single-user write records the user's arrival.
pub(super) struct Arrival<'a> {
    method: Method,
    at: DateTime<Utc>,
    source: Option<&'a str>,
    original: Option<&'a Value>,
    warnings: Option<&'a [usher_core::FieldWarning]>,
}

/// Warnings as the JSON text the `migration_warnings` column holds; `None` for none.
pub(super) fn warnings_text(w: &[usher_core::FieldWarning]) -> Option<String> {
    (!w.is_empty()).then(|| serde_json::to_string(w).unwrap_or_else(|_| "[]".into()))
}

/// The row of a single-user write (position 0), refusing values no backend can hold with an
/// error that names `what` and the field.
pub(super) fn single_row<'a>(
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
pub(super) fn subject(source: &str, key: &LegacyKey) -> String {
    match legacy_id(key) {
        Ok(id) => format!("{source}/{id}"),
        Err(_) => format!("{source}/{key:?}"),
    }
}

/// The source name and legacy id of a single-record write (a lazy migration, a link), or the
/// error naming `what` was being written.
pub(super) fn source_and_id(
    source: &str,
    key: &LegacyKey,
    what: &dyn Fn() -> String,
) -> Result<String> {
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
