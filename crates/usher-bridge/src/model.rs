//! What the login service takes and answers: the legacy fallbacks it is built with, a login's
//! outcome and its errors, and a registration.

use std::sync::Arc;

use usher_core::{AuthSource, Mapper, Profile, Source, User};
use usher_hash::Password;
use usher_store::StoreError;

use crate::pool::PoolError;
use crate::write_back::HttpWriteBack;

/// A legacy source the bridge verifies hashes from: a source that can look records up, its
/// mapping, and the fields a login identifier is looked up by.
pub struct HashSource {
    /// The source (its name is the ledger's source).
    pub source: Arc<dyn Source>,
    /// How its records become users (and where their password hash is).
    pub mapper: Arc<Mapper>,
    /// The source fields an email-shaped identifier is looked up in (e.g. `["email"]`).
    pub email_fields: Vec<String>,
    /// The source fields any other identifier is looked up in (e.g. `["username"]`).
    pub username_fields: Vec<String>,
    /// Tell legacy over HTTP, too, when a user migrated (besides the source's own
    /// [`Source::mark_migrated`]).
    pub http_write_back: Option<Arc<HttpWriteBack>>,
}

/// A legacy system that checks passwords itself, and how its records map to users.
pub struct AuthSourceEntry {
    /// The source (its name is the ledger's source).
    pub source: Arc<dyn AuthSource>,
    /// How the records it answers with become users.
    pub mapper: Arc<Mapper>,
    /// Tell legacy over HTTP, too, when a user migrated (besides the source's own
    /// [`AuthSource::mark_migrated`]).
    pub http_write_back: Option<Arc<HttpWriteBack>>,
}

impl std::fmt::Debug for AuthSourceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSourceEntry")
            .field("source", &self.source.name())
            .finish_non_exhaustive()
    }
}

/// A legacy fallback, tried in the order configured.
#[derive(Debug)]
pub enum Legacy {
    /// Hashes read from a source and verified here.
    Hash(HashSource),
    /// The legacy system checks the password.
    Auth(AuthSourceEntry),
}

impl Legacy {
    /// The source's configured name.
    pub fn name(&self) -> &str {
        match self {
            Legacy::Hash(h) => h.source.name(),
            Legacy::Auth(a) => a.source.name(),
        }
    }
}

/// How a login succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPath {
    /// The user was in the new store and verified there.
    Store,
    /// As [`LoginPath::Store`], and the hash was re-hashed to the current policy.
    StoreUpgraded,
    /// The user was verified by legacy and migrated by this login.
    Migrated,
    /// Verified by legacy while a concurrent login (or a backfill) migrated the same user.
    AlreadyMigrated,
    /// The user was in the new store, and proved the password of a legacy record of another
    /// source with the same verified address, which this login linked to the user.
    Linked,
}

impl LoginPath {
    /// The label metrics and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginPath::Store => "store",
            LoginPath::StoreUpgraded => "store_upgraded",
            LoginPath::Migrated => "lazy_migrated",
            LoginPath::AlreadyMigrated => "already_migrated",
            LoginPath::Linked => "linked",
        }
    }
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOk {
    /// The user, as stored.
    pub user: User,
    /// How.
    pub path: LoginPath,
}

/// Why a login did not succeed. None of these carries the password or a hash.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown identifier or wrong password: deliberately the same answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password is longer than [`MAX_PASSWORD_BYTES`]: refused before any hashing.
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    /// The hashing pool is full: try again shortly.
    #[error("busy")]
    Busy,
    /// A legacy source could not answer for a user not yet migrated; nothing was written.
    #[error("legacy source {0} is unavailable")]
    LegacyUnavailable(String),
    /// Legacy accepted the password but its record cannot become a user (it does not map, or
    /// its address or username is another record's or user's). No user was written; the
    /// record is in the quarantine with the reason.
    #[error("legacy record {key} of source {source_name} cannot be migrated: {reason}")]
    Unmigratable {
        /// The source.
        source_name: String,
        /// The record's key in its source.
        key: String,
        /// The field at fault, if one.
        field: Option<String>,
        /// Why (names the field; never a secret).
        reason: String,
    },
    /// A legacy source refused usher's own credentials (its token or bind account) or is
    /// otherwise misconfigured: an outage for the user, and an operator's problem.
    #[error("legacy source {source_name} is misconfigured: {reason}")]
    LegacyMisconfigured {
        /// The source.
        source_name: String,
        /// What the source said (never a secret).
        reason: String,
    },
    /// The password verified but the account is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<PoolError> for LoginError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => LoginError::Busy,
            PoolError::Failed(m) => LoginError::Internal(m),
        }
    }
}

impl std::fmt::Debug for HashSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashSource")
            .field("source", &self.source.name())
            .field("email_fields", &self.email_fields)
            .field("username_fields", &self.username_fields)
            .finish_non_exhaustive()
    }
}

/// A registration: a user new to both systems.
#[derive(Debug)]
pub struct Registration {
    /// The email, if any (an email or a username is required).
    pub email: Option<String>,
    /// The username, if any.
    pub username: Option<String>,
    /// The password.
    pub password: Password,
    /// Profile fields.
    pub profile: Profile,
}

/// Why a registration did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A field is invalid (named).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The email or username belongs to a user, in the store or in legacy (not yet migrated).
    #[error("the {0} is taken")]
    Taken(&'static str),
    /// A legacy source could not say whether the identifier is taken.
    #[error("legacy source {0} is unavailable")]
    LegacyUnavailable(String),
    /// The hashing pool is full.
    #[error("busy")]
    Busy,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<PoolError> for RegisterError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => RegisterError::Busy,
            PoolError::Failed(m) => RegisterError::Internal(m),
        }
    }
}

/// The shortest password registration accepts (NIST SP 800-63B's floor).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest (bytes), at registration and at login alike: hashing cost must not be the
/// client's to choose (a 16 KB wrong password costs seconds of sha512-crypt).
pub const MAX_PASSWORD_BYTES: usize = 1024;
