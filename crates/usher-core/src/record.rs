//! Legacy records, as a source reads them: a key and the row's fields as JSON.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::InvalidValue;
use crate::ids::LegacyId;

/// The one field of a record a source could not read: `{"field": "...", "reason": "..."}`.
///
/// File sources turn a bad line (not JSON, wrong column count, no key, a duplicate key, a
/// malformed hash) into a record holding only this field, keyed by the record's id if known,
/// else `line-<n>`. [`Mapper::map`](crate::Mapper::map) fails such a record with that field and
/// reason, so the job quarantines it instead of stopping or silently dropping it.
pub const INVALID_FIELD: &str = "_usher_invalid";

/// A record's key in its source, in the source's own order. Keyset reads resume from one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum LegacyKey {
    /// An integer key (the common `id bigint` primary key).
    Int(i64),
    /// A text key (UUIDs, usernames), ordered by the source database's collation.
    Text(String),
}

impl LegacyKey {
    /// The key as a legacy id.
    pub fn to_legacy_id(&self) -> Result<LegacyId, InvalidValue> {
        LegacyId::parse(&self.to_string())
    }

    /// Compares keys of the same kind. Text keys compare by bytes here, which matches the
    /// source only under a binary collation; sources order and filter text keys themselves.
    pub fn cmp_same_kind(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (LegacyKey::Int(a), LegacyKey::Int(b)) => Some(a.cmp(b)),
            (LegacyKey::Text(a), LegacyKey::Text(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl fmt::Display for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyKey::Int(i) => write!(f, "{i}"),
            LegacyKey::Text(s) => f.write_str(s),
        }
    }
}

/// One row or document of a legacy source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyRecord {
    /// Its key.
    pub key: LegacyKey,
    /// Every field, by source column or JSON path name. Keys are sorted (serde_json's map), so
    /// the JSON form and the checksum are canonical.
    pub fields: Map<String, Value>,
}

impl LegacyRecord {
    /// SHA-256 of the canonical JSON of the fields, hex. Used to tell whether a legacy record
    /// changed since it was migrated, and by tests to compare both sides.
    pub fn checksum(&self) -> String {
        let json = serde_json::to_vec(&self.fields).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The fields as one JSON object, as kept in the user's migration record.
    pub fn to_json(&self) -> Value {
        Value::Object(self.fields.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checksums_do_not_depend_on_field_order() {
        let a: Map<String, Value> = serde_json::from_value(json!({"a": 1, "b": "x"})).unwrap();
        let b: Map<String, Value> = serde_json::from_value(json!({"b": "x", "a": 1})).unwrap();
        let ra = LegacyRecord {
            key: LegacyKey::Int(1),
            fields: a,
        };
        let rb = LegacyRecord {
            key: LegacyKey::Int(1),
            fields: b,
        };
        assert_eq!(ra.checksum(), rb.checksum());
        assert_eq!(ra.checksum().len(), 64);
    }

    #[test]
    fn keys_print_as_legacy_ids() {
        assert_eq!(LegacyKey::Int(42).to_legacy_id().unwrap().as_str(), "42");
        assert_eq!(LegacyKey::Text("u-7".into()).to_string(), "u-7");
    }
}
