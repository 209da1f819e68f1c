//! Errors that name the record and the field.

use std::fmt;

/// Why a value was refused by a newtype's `parse`. The caller adds the record and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    /// A reason, phrased to follow the field's name: "is empty", "has no @".
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// A problem with one field of one legacy record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// The record's legacy key.
    pub key: String,
    /// The field: the canonical field being produced (`email`), or the source column.
    pub field: String,
    /// What is wrong, phrased to follow the field: "has no @".
    pub reason: String,
}

impl FieldError {
    /// Builds an error for `key`/`field`.
    pub fn new(
        key: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record {}: field `{}` {}",
            self.key, self.field, self.reason
        )
    }
}

impl std::error::Error for FieldError {}

/// A field a record lost, or kept only as written, while the record still became a user:
/// kept in the user's migration record and reported by the dry run and the backfill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldWarning {
    /// The rule's target as written in the mapping (`phone`, `attributes.plan`).
    pub field: String,
    /// What was wrong with the value and what became of it, phrased to follow the field.
    pub reason: String,
}

impl fmt::Display for FieldWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}` {}", self.field, self.reason)
    }
}

/// Every problem found in one record (mapping reports them all, not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct RecordErrors(pub Vec<FieldError>);

impl RecordErrors {
    /// Every problem, as a quarantine reason: "field `email` has no @; field `status` …".
    pub fn reason(&self) -> String {
        self.0
            .iter()
            .map(|e| format!("field `{}` {}", e.field, e.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The field of the first problem.
    pub fn first_field(&self) -> Option<&str> {
        self.0.first().map(|e| e.field.as_str())
    }
}
