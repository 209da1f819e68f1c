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
//!   `"cognito"`, `"keycloak"`, `"csv"`, `"jsonl"`): [`validate`](SourceConfig::validate) without I/O
//!   (every problem at once, as [`ConfigProblem`]s keyed within the table), resolve its
//!   relative file paths ([`resolve_paths`](SourceConfig::resolve_paths)), then
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
pub mod push;
pub mod sql;
pub mod target;

pub use auth_api::{AuthApiConfig, AuthApiSource};
pub use config::SourceConfig;
pub use sql::{Ident, TlsMode};
pub use usher_core::redact_url;

use usher_core::{ConfigProblem, SourceError};

/// The error building the source named `source_name` fails with when its configuration has
/// `problems` (each shown as `[key] reason`, the key within `[sources.<name>]`).
pub(crate) fn misconfigured(source_name: &str, problems: &[ConfigProblem]) -> SourceError {
    SourceError::Config {
        source_name: source_name.to_owned(),
        reason: usher_core::config::one_line(problems),
    }
}

/// [`misconfigured`] with one problem.
pub(crate) fn config_error(source_name: &str, problem: ConfigProblem) -> SourceError {
    misconfigured(source_name, std::slice::from_ref(&problem))
}

/// `Err` with every problem, or `Ok` when there is none: how a source's `build` refuses a
/// configuration `validate` finds problems in.
pub(crate) fn refuse(source_name: &str, problems: Vec<ConfigProblem>) -> Result<(), SourceError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(misconfigured(source_name, &problems))
    }
}
