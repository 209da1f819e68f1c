//! The trait every legacy source implements, whatever it is: a SQL table, an export file, an
//! LDAP directory. A new kind of legacy system is one module in `usher-connect` implementing
//! [`Source`].

use async_trait::async_trait;

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::record::{LegacyKey, LegacyRecord};

/// A write owed to a legacy source, as an outbox row carries it: the row's `kind` is the
/// operation's name ([`LegacyWrite::op`]) and its payload this, as JSON. Never a plaintext
/// password: a password travels as a hash in a scheme legacy verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum LegacyWrite {
    /// Record `key` became user `user_id` in the new store (the write-back).
    MarkMigrated {
        /// The record.
        key: LegacyKey,
        /// The new store's user.
        user_id: UserId,
    },
    /// The user's password changed: legacy's copy, hashed in a scheme legacy verifies.
    SetPassword {
        /// The record.
        key: LegacyKey,
        /// The hash, in legacy's own encoding.
        password_hash: String,
    },
    /// The user's address changed.
    SetEmail {
        /// The record.
        key: LegacyKey,
        /// The new address.
        email: String,
        /// Whether the new address is verified.
        email_verified: bool,
    },
    /// The account was disabled.
    Disable {
        /// The record.
        key: LegacyKey,
    },
    /// The account was enabled again.
    Enable {
        /// The record.
        key: LegacyKey,
    },
    /// The account was deleted.
    Delete {
        /// The record.
        key: LegacyKey,
    },
}

impl LegacyWrite {
    /// The operation's name: `mark_migrated`, `set_password`, `set_email`, `disable`,
    /// `enable`, `delete` (the outbox row's `kind`, and the SQL writer's statement name).
    pub fn op(&self) -> &'static str {
        match self {
            LegacyWrite::MarkMigrated { .. } => "mark_migrated",
            LegacyWrite::SetPassword { .. } => "set_password",
            LegacyWrite::SetEmail { .. } => "set_email",
            LegacyWrite::Disable { .. } => "disable",
            LegacyWrite::Enable { .. } => "enable",
            LegacyWrite::Delete { .. } => "delete",
        }
    }

    /// The record it is about.
    pub fn key(&self) -> &LegacyKey {
        match self {
            LegacyWrite::MarkMigrated { key, .. }
            | LegacyWrite::SetPassword { key, .. }
            | LegacyWrite::SetEmail { key, .. }
            | LegacyWrite::Disable { key }
            | LegacyWrite::Enable { key }
            | LegacyWrite::Delete { key } => key,
        }
    }

    /// The record it is about, to change (a key known only as text, from the ledger, becomes
    /// the integer the source's key column holds).
    pub fn key_mut(&mut self) -> &mut LegacyKey {
        match self {
            LegacyWrite::MarkMigrated { key, .. }
            | LegacyWrite::SetPassword { key, .. }
            | LegacyWrite::SetEmail { key, .. }
            | LegacyWrite::Disable { key }
            | LegacyWrite::Enable { key }
            | LegacyWrite::Delete { key } => key,
        }
    }
}

/// What a legacy writer did with a [`LegacyWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// It applied it.
    Applied,
    /// It had applied this idempotency key before, and did nothing.
    Again,
    /// It has no writer for this operation.
    NotConfigured,
}

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

    /// The statement [`Source::lookup`] runs for `field`, for `EXPLAIN` (an operator checking
    /// that an index serves it, and the tests); `None` for a source without one.
    async fn lookup_statement(&self, field: &str) -> Result<Option<String>, SourceError> {
        let _ = field;
        Ok(None)
    }

    /// Whether the source has a writer for operation `op` ([`LegacyWrite::op`]): the outbox
    /// holds a write for legacy only if someone will apply it.
    fn writes(&self, op: &str) -> bool {
        let _ = op;
        false
    }

    /// Applies a write owed to legacy (an outbox row's), if the source was configured to
    /// (a SQL source's `write_back` statement, for [`LegacyWrite::MarkMigrated`]). A source
    /// that remembers keys applies each `idempotency_key` once ([`Written::Again`] for a
    /// repeat). Delivery is at least once, so a write without such memory must be idempotent.
    async fn write(
        &self,
        write: &LegacyWrite,
        idempotency_key: &str,
    ) -> Result<Written, SourceError> {
        let one = [(write.clone(), idempotency_key.to_owned())];
        let written = self.write_many(&one).await?;
        Ok(written.first().copied().unwrap_or(Written::NotConfigured))
    }

    /// Applies several writes (each with its idempotency key) at once, where the source can:
    /// a SQL source runs them in one legacy transaction, all applied or none. One outcome per
    /// write, in order.
    async fn write_many(
        &self,
        writes: &[(LegacyWrite, String)],
    ) -> Result<Vec<Written>, SourceError> {
        Ok(vec![Written::NotConfigured; writes.len()])
    }

    /// Does what the source really does, once: connect and read one record.
    async fn healthcheck(&self) -> Result<(), SourceError> {
        self.read(&KeyRange::default(), 1).await.map(|_| ())
    }
}

/// A legacy system that checks passwords itself: its own auth API, or an LDAP bind. The bridge
/// asks it when no hash source knows the user, and migrates the record it answers with,
/// hashing the password it just proved to Argon2id. Users imported without a hash (a
/// Cognito export) move their password across this way.
#[async_trait]
pub trait AuthSource: Send + Sync {
    /// The configured name, recorded in the ledger and in every user's legacy links.
    fn name(&self) -> &str;

    /// Asks the legacy system whether `password` is right for `identifier`.
    ///
    /// * `Ok(Some(record))`: it is; `record` is the user's legacy record (its key and the
    ///   fields the source's mapping reads), which the bridge migrates.
    /// * `Ok(None)`: it is not, or legacy does not know the identifier (it need not say which).
    /// * `Err(SourceError::Unavailable)`: legacy could not answer; the bridge writes nothing
    ///   and answers 503.
    ///
    /// Implementations must keep the password out of every log line and error.
    async fn authenticate(
        &self,
        identifier: &str,
        password: &usher_hash::Password,
    ) -> Result<Option<LegacyRecord>, SourceError>;
}
