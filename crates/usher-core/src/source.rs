//! The trait every legacy source implements, whatever it is: a SQL table, an export file, an
//! LDAP directory. A new kind of legacy system is one module in `usher-connect` implementing
//! [`Source`].

use async_trait::async_trait;

use crate::record::{LegacyKey, LegacyRecord};

/// A half-open range of keys: `after < key <= until`. `None` bounds are open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// Exclusive lower bound (the cursor to resume after).
    pub after: Option<LegacyKey>,
    /// Inclusive upper bound (the end of a partition).
    pub until: Option<LegacyKey>,
}

/// Why a source could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source is unreachable or refused the connection: retry later, write nothing.
    #[error("source {source_name} is unavailable: {reason}")]
    Unavailable {
        /// The source's configured name.
        source_name: String,
        /// What failed (never a password; connection strings are redacted).
        reason: String,
    },
    /// The source answered with an error for this request (bad query, missing column).
    #[error("source {source_name}: {reason}")]
    Query {
        /// The source's configured name.
        source_name: String,
        /// What failed.
        reason: String,
    },
    /// The source is misconfigured (found without connecting, or at connect time).
    #[error("source {source_name} is misconfigured: {reason}")]
    Config {
        /// The source's configured name.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A legacy system usher reads users from, in key order.
#[async_trait]
pub trait Source: Send + Sync {
    /// The configured name, recorded in the ledger and in every user's legacy links.
    fn name(&self) -> &str;

    /// Up to `limit` records in `range`, in ascending key order. An empty result means the
    /// range is exhausted. Implementations read with a keyset query (`key > after ORDER BY
    /// key LIMIT n`), never an offset, so each read costs the same however far along it is.
    async fn read(&self, range: &KeyRange, limit: usize) -> Result<Vec<LegacyRecord>, SourceError>;

    /// How many records there are (an estimate is fine), for progress and ETA; `None` if the
    /// source cannot tell cheaply.
    async fn count(&self) -> Result<Option<u64>, SourceError>;

    /// The smallest and largest key, to split integer-keyed sources into partitions that run
    /// concurrently. `None` when empty.
    async fn key_bounds(&self) -> Result<Option<(LegacyKey, LegacyKey)>, SourceError>;

    /// The records a login identifier names: those whose `field` equals `value` ignoring
    /// case, at most `limit`, in key order. The login bridge asks with the field the mapping
    /// reads the email or username from; more than one record means the identifier is
    /// ambiguous in legacy. A source that cannot look records up answers with
    /// [`SourceError::Config`].
    async fn lookup(
        &self,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
        let _ = (value, limit);
        Err(SourceError::Config {
            source_name: self.name().to_owned(),
            reason: format!("this kind of source cannot look records up by {field:?}"),
        })
    }

    /// Does what the source really does, once: connect and read one record.
    async fn healthcheck(&self) -> Result<(), SourceError> {
        self.read(&KeyRange::default(), 1).await.map(|_| ())
    }
}
