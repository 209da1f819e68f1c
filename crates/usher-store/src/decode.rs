//! Reading rows back into the model, the same way for both backends: each backend decodes its
//! native column types into a [`UserRow`], and [`UserRow::into_user`] re-validates every
//! identifier through its `parse`, so a value that is not what usher wrote is an error that
//! names the table, column and row.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use usher_core::{
    Credential, Email, LegacyId, LegacyKey, LegacyLink, Method, Migration, PhoneE164, Profile,
    Status, User, UserId, Username,
};
use uuid::Uuid;

use crate::error::{Result, StoreError, corrupt};
use crate::model::Counters;

/// The columns every user query selects, in this order, from `users u LEFT JOIN credentials c`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.email, u.email_verified, u.username, u.phone, \
     u.given_name, u.family_name, u.name, u.middle_name, u.nickname, u.birthdate, u.locale, \
     u.zoneinfo, u.picture, u.attributes, u.status, u.created_at, u.updated_at, \
     u.migration_method, u.migrated_at, u.migration_source, u.legacy_record, c.hash, c.scheme, u.migration_warnings";

/// A user row in neutral types.
#[derive(Debug)]
pub(crate) struct UserRow {
    pub id: Uuid,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub picture: Option<String>,
    pub attributes: Value,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub migration_method: Option<String>,
    pub migrated_at: Option<DateTime<Utc>>,
    pub migration_source: Option<String>,
    pub legacy_record: Option<Value>,
    pub cred_hash: Option<String>,
    pub cred_scheme: Option<String>,
    pub migration_warnings: Option<Value>,
}

impl UserRow {
    /// The user, with `links` (source, legacy id) from the ledger.
    pub(crate) fn into_user(self, links: Vec<(String, String)>) -> Result<User> {
        let row = self.id.to_string();
        let bad = |column: &'static str, reason: &dyn std::fmt::Display| {
            corrupt("users", column, &row, reason.to_string())
        };
        // An optional column parsed into its type, or the error naming the column.
        fn parsed<T, E: std::fmt::Display>(
            value: Option<&str>,
            parse: impl FnOnce(&str) -> std::result::Result<T, E>,
            column: &'static str,
            bad: &impl Fn(&'static str, &dyn std::fmt::Display) -> StoreError,
        ) -> Result<Option<T>> {
            value.map(parse).transpose().map_err(|e| bad(column, &e))
        }
        let email = parsed(self.email.as_deref(), Email::parse, "email", &bad)?;
        let username = parsed(self.username.as_deref(), Username::parse, "username", &bad)?;
        let phone = parsed(self.phone.as_deref(), PhoneE164::parse, "phone", &bad)?;
        let attributes: Map<String, Value> = match self.attributes {
            Value::Object(map) => map,
            other => return Err(bad("attributes", &format!("is not an object: {other}"))),
        };
        let status = parse_status(&self.status).ok_or_else(|| bad("status", &self.status))?;
        let credential = match (self.cred_hash, self.cred_scheme) {
            (Some(hash), Some(scheme)) => Some(Credential {
                hash,
                scheme: scheme
                    .parse()
                    .map_err(|e| corrupt("credentials", "scheme", &row, e))?,
            }),
            _ => None,
        };
        let migration = match (self.migration_method, self.migrated_at) {
            (Some(method), Some(at)) => Some(Migration {
                method: parse_method(&method).ok_or_else(|| bad("migration_method", &method))?,
                at,
                source: self.migration_source.unwrap_or_default(),
                original: self.legacy_record.unwrap_or(Value::Null),
                warnings: match self.migration_warnings {
                    None => Vec::new(),
                    Some(w) => {
                        serde_json::from_value(w).map_err(|e| bad("migration_warnings", &e))?
                    }
                },
            }),
            _ => None,
        };
        let legacy_links = links
            .into_iter()
            .map(|(source, legacy_id)| {
                LegacyId::parse(&legacy_id)
                    .map(|legacy_id| LegacyLink { source, legacy_id })
                    .map_err(|e| corrupt("ledger", "legacy_id", &row, e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(User {
            id: UserId::from_uuid(self.id),
            email,
            email_verified: self.email_verified,
            username,
            phone,
            profile: Profile {
                given_name: self.given_name,
                family_name: self.family_name,
                name: self.name,
                middle_name: self.middle_name,
                nickname: self.nickname,
                birthdate: self.birthdate,
                locale: self.locale,
                zoneinfo: self.zoneinfo,
                picture: self.picture,
            },
            attributes,
            credential,
            status,
            created_at: self.created_at,
            updated_at: self.updated_at,
            legacy_links,
            migration,
        })
    }
}

pub(crate) fn parse_status(s: &str) -> Option<Status> {
    [
        Status::Active,
        Status::Disabled,
        Status::PasswordResetRequired,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
}

pub(crate) fn parse_method(s: &str) -> Option<Method> {
    [Method::Lazy, Method::Bulk, Method::Sync, Method::Registered]
        .into_iter()
        .find(|m| m.as_str() == s)
}

/// A stored counter (never negative) as `u64`.
pub(crate) fn counter(table: &'static str, column: &'static str, row: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(table, column, row, format!("is negative ({v})")))
}

/// The counters of a checkpoint row.
pub(crate) fn counters(row: &str, values: [i64; 7]) -> Result<Counters> {
    let [
        read,
        migrated,
        skipped,
        updated,
        quarantined,
        linked,
        displaced,
    ] = values;
    Ok(Counters {
        read: counter("checkpoints", "read", row, read)?,
        migrated: counter("checkpoints", "migrated", row, migrated)?,
        skipped: counter("checkpoints", "skipped", row, skipped)?,
        updated: counter("checkpoints", "updated", row, updated)?,
        quarantined: counter("checkpoints", "quarantined", row, quarantined)?,
        linked: counter("checkpoints", "linked", row, linked)?,
        displaced: counter("checkpoints", "displaced", row, displaced)?,
    })
}

/// A checkpoint's cursor from its JSON form.
pub(crate) fn cursor(row: &str, v: Option<Value>) -> Result<Option<LegacyKey>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| corrupt("checkpoints", "cursor", row, e)),
    }
}

/// A cursor's JSON form.
pub(crate) fn cursor_json(key: Option<&LegacyKey>) -> Option<Value> {
    key.and_then(|k| serde_json::to_value(k).ok())
}

/// A ledger entry read back.
pub(crate) fn ledger_entry(
    legacy_id: &str,
    user_id: Uuid,
    record_checksum: String,
) -> Result<crate::model::LedgerEntry> {
    Ok(crate::model::LedgerEntry {
        legacy_id: LegacyId::parse(legacy_id)
            .map_err(|e| corrupt("ledger", "legacy_id", legacy_id, e))?,
        user_id: UserId::from_uuid(user_id),
        record_checksum,
    })
}

/// Picks each user's first link (by source, then legacy id) from (user, source, legacy id) rows.
pub(crate) fn first_links(
    rows: impl IntoIterator<Item = (Uuid, Option<String>, Option<String>)>,
) -> std::collections::HashMap<Uuid, Option<(String, String)>> {
    let mut out: std::collections::HashMap<Uuid, Option<(String, String)>> =
        std::collections::HashMap::new();
    for (id, source, legacy_id) in rows {
        let link = source.zip(legacy_id);
        let slot = out.entry(id).or_insert(None);
        if let Some(link) = link
            && slot.as_ref().is_none_or(|cur| link < *cur)
        {
            *slot = Some(link);
        }
    }
    out
}

/// An attempts column read back.
pub(crate) fn attempts(row: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt("quarantine", "attempts", row, format!("is {v}")))
}

/// Guards against a result that should not be negative.
pub(crate) fn non_negative(op: &'static str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Invalid {
        what: op.into(),
        reason: format!("the database returned a negative count ({v})"),
    })
}

/// (user id, email_normalized, username_normalized, ledger source, ledger legacy id, ledger
/// method, untouched): one row of an owner lookup, a user joined to each of its ledger links.
/// `untouched` says that neither the profile nor the credential changed after that link's
/// migration.
pub(crate) type OwnerRow<Id> = (
    Id,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

/// Folds owner lookup rows into one [`Owner`](crate::plan::Owner) per user, with its first link.
/// A user is `displaceable` when its only link is a bulk migration it has not changed since.
pub(crate) fn owners(found: Vec<OwnerRow<Uuid>>) -> Vec<crate::plan::Owner> {
    use std::collections::{HashMap, HashSet};
    // (email, username, distinct links, whether every link is an unchanged bulk migration);
    // a user can come back once per identifier it matched.
    type Idents = (
        Option<String>,
        Option<String>,
        HashSet<(String, String)>,
        bool,
    );
    let mut idents: HashMap<Uuid, Idents> = HashMap::new();
    let mut links = Vec::with_capacity(found.len());
    for (id, email, username, source, legacy_id, method, untouched) in found {
        let fresh_bulk = method.as_deref() == Some("bulk") && untouched == Some(true);
        let entry = idents
            .entry(id)
            .or_insert((email, username, HashSet::new(), true));
        if let Some(link) = source.clone().zip(legacy_id.clone()) {
            entry.2.insert(link);
        }
        entry.3 &= fresh_bulk;
        links.push((id, source, legacy_id));
    }
    let firsts = first_links(links);
    idents
        .into_iter()
        .map(
            |(user_id, (email_normalized, username_normalized, user_links, fresh))| {
                crate::plan::Owner {
                    user_id,
                    email_normalized,
                    username_normalized,
                    link: firsts.get(&user_id).cloned().flatten(),
                    displaceable: user_links.len() == 1 && fresh,
                }
            },
        )
        .collect()
}
