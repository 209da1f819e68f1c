//! # usher-connect
//!
//! Where legacy users come from. Each kind of legacy system is a module implementing
//! [`usher_core::Source`]: keyset reads in the source's own key order, a count for progress,
//! key bounds for partitioning, a healthcheck, and (for the login bridge) lookups of the records
//! a login identifier names, compared ignoring case. Lookups scan the legacy table unless it has
//! an index on the lowered column (`CREATE INDEX ON users (lower(email))`); see
//! [`sql`](sql#lookups-by-login-identifier) for each database.
//!
//! * [`SourceConfig`] — a `[sources.<name>]` table of usher.toml (`type = "postgres"`,
//!   `"mysql"`, `"sqlite"`, `"ldap"`, `"auth-api"`, or an export file: `"auth0"`, `"firebase"`,
//!   `"cognito"`, `"keycloak"`, `"csv"`, `"jsonl"`): [`validate`](SourceConfig::validate) without I/O, then
//!   [`build`](SourceConfig::build) a boxed [`Source`](usher_core::Source).
//! * [`ldap`] — an LDAP directory (`type = "ldap"`): a source read from a sorted snapshot of a
//!   paged search, and an auth source that binds as the user.
//! * [`auth_api`] — a legacy system's own HTTP API that checks passwords (`type = "auth-api"`),
//!   an [`AuthSource`](usher_core::AuthSource) for the login bridge:
//!   [`build_auth`](SourceConfig::build_auth) builds it.
//! * [`sql`] — the SQL backends: [`sql::postgres`], [`sql::mysql`] (MySQL and MariaDB),
//!   [`sql::sqlite`]. Rows become JSON objects by column type; see each module for its table.
//! * [`file`](mod@file) — export files: [`file::auth0`] (user export plus Auth0's password-hash export),
//!   [`file::firebase`] (`auth:export`, with the project's scrypt parameters),
//!   [`file::cognito`] (user pool CSV, no hashes), [`file::keycloak`] (realm and users files),
//!   and any [`file::csv`] or [`file::jsonl`] file. Each is indexed by key on first use; bad
//!   lines become records carrying [`usher_core::INVALID_FIELD`], which the mapper
//!   quarantines. See `docs/sources.md`.
//! * [`redact_url`] — a connection URL fit for a log line.
//!
//! ```no_run
//! use usher_connect::SourceConfig;
//! use usher_core::KeyRange;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: SourceConfig = toml::from_str(r#"
//!     type = "sqlite"
//!     path = "legacy.db"
//!     table = "users"
//!     key = "id"
//! "#)?;
//! let source = config.build("legacy").await?;
//! let mut range = KeyRange::default();
//! loop {
//!     let chunk = source.read(&range, 1000).await?;
//!     let Some(last) = chunk.last() else { break };
//!     range.after = Some(last.key.clone());
//!     // ... map and store the chunk ...
//! }
//! # Ok(())
//! # }
//! ```

pub mod auth_api;
pub mod config;
pub mod file;
pub mod ldap;
pub mod sql;

pub use auth_api::{AuthApiConfig, AuthApiSource};
pub use config::SourceConfig;
pub use sql::{Ident, TlsMode};
pub use usher_core::redact_url;

use usher_core::SourceError;

/// A configuration mistake found without connecting: which option, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The option, as written in the configuration (`table`, `columns`, `url`...).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn into_source_error(self, source_name: &str) -> SourceError {
        SourceError::Config {
            source_name: source_name.to_owned(),
            reason: self.to_string(),
        }
    }
}
