//! The one error type of the crate. Every variant says what failed; none carries a password
//! or a full connection string (URLs are redacted before they reach an error).

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration is invalid (found without I/O by [`crate::StoreConfig::validate`]).
    #[error("store config: {0}")]
    Config(String),

    /// The database could not be opened or reached.
    #[error("cannot open the {backend} store at {target}: {reason}")]
    Open {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The file, or the redacted URL.
        target: String,
        /// What went wrong (scrubbed of the password).
        reason: String,
    },

    /// Applying the schema migrations failed.
    #[error("migrating the {backend} store schema failed: {source}")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed. `op` names the operation and the step.
    #[error("{op} failed: {source}")]
    Database {
        /// The operation and step, such as `write_chunk: inserting users`.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// A stored value could not be read back into the model (the row was written by something
    /// else, or by a newer usher).
    #[error("{table}.{column} of {row} holds an invalid value: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The row's key.
        row: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// The caller passed something the store cannot write (a chunk that names one legacy key
    /// twice, a partition number out of range).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was refused, such as `chunk for source legacy`.
        what: String,
        /// Why.
        reason: String,
    },

    /// A chunk kept colliding with concurrent writers and was given up after several attempts.
    /// Nothing of it was written; the caller may retry the chunk.
    #[error(
        "write_chunk for source {source_name} partition {partition} collided with concurrent writers {attempts} times; nothing was written"
    )]
    Contention {
        /// The chunk's source.
        source_name: String,
        /// The chunk's partition.
        partition: u32,
        /// How many transactions were tried.
        attempts: u32,
    },

    /// A single-user write (a lazy migration, a registration, a credential upgrade) kept
    /// colliding with concurrent writers and was given up after several attempts. Nothing of it
    /// was written; the caller may retry.
    #[error(
        "{op} of {subject} collided with concurrent writers {attempts} times; nothing was written"
    )]
    Busy {
        /// The operation, such as `migrate_user`.
        op: &'static str,
        /// What it was about: `source/legacy id` or a user id.
        subject: String,
        /// How many transactions were tried.
        attempts: u32,
    },
}

/// The crate's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Wraps a driver error with the operation that failed: `.map_err(db("user: reading"))`.
pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

/// Builds a [`StoreError::Corrupt`].
pub(crate) fn corrupt(
    table: &'static str,
    column: &'static str,
    row: impl Into<String>,
    reason: impl ToString,
) -> StoreError {
    StoreError::Corrupt {
        table,
        column,
        row: row.into(),
        reason: reason.to_string(),
    }
}

impl StoreError {
    /// Whether retrying may succeed: the database was unreachable or timed out, a deadlock, a
    /// serialization failure, a busy SQLite file, a unique violation caused by a concurrent
    /// writer that committed first, or a write that kept losing such races.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Contention { .. } | StoreError::Busy { .. } => true,
            StoreError::Database {
                source: sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut,
                ..
            } => true,
            StoreError::Database {
                source: sqlx::Error::Database(e),
                ..
            } => matches!(
                e.code().as_deref(),
                // PostgreSQL: unique_violation, serialization_failure, deadlock_detected,
                // admin_shutdown / cannot_connect_now (a restart).
                // SQLite: SQLITE_BUSY (5) and its RECOVERY, SNAPSHOT and TIMEOUT forms,
                // SQLITE_LOCKED (6).
                Some(
                    "23505"
                        | "40001"
                        | "40P01"
                        | "57P01"
                        | "57P03"
                        | "5"
                        | "261"
                        | "517"
                        | "773"
                        | "6"
                )
            ),
            _ => false,
        }
    }
}
