//! The `[sources.<name>]` tables of usher.toml: one closed, tagged enum, each variant its own
//! factory (validate without I/O, resolve its relative paths, build, healthcheck).

use std::path::Path;

use crate::auth_api::AuthApiConfig;
use crate::file::auth0::Auth0Config;
use crate::file::cognito::CognitoConfig;
use crate::file::csv::CsvConfig;
use crate::file::firebase::FirebaseConfig;
use crate::file::jsonl::JsonlConfig;
use crate::file::keycloak::KeycloakConfig;
use crate::ldap::LdapConfig;
use crate::sql::mysql::MysqlConfig;
use crate::sql::postgres::PostgresConfig;
use crate::sql::sqlite::SqliteConfig;
use serde::Deserialize;
use usher_core::{AuthSource, ConfigProblem, Source, SourceError};

/// One legacy source as configured, tagged by `type`.
///
/// ```
/// use usher_connect::SourceConfig;
///
/// let config: SourceConfig = toml::from_str(r#"
///     type = "postgres"
///     url = "postgres://reader:secret@db.internal/app"
///     table = "users"
///     key = "id"
/// "#)?;
/// assert!(config.validate().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// PostgreSQL.
    Postgres(PostgresConfig),
    /// MySQL or MariaDB.
    #[serde(alias = "mariadb")]
    Mysql(MysqlConfig),
    /// An SQLite file.
    Sqlite(SqliteConfig),
    /// An LDAP directory: a source and an auth source (the bridge binds as the user).
    Ldap(LdapConfig),
    /// A legacy system's own HTTP API that checks passwords (`type = "auth-api"`): an auth
    /// source for the login bridge, never read by a backfill. See [`crate::auth_api`].
    #[serde(rename = "auth-api")]
    AuthApi(AuthApiConfig),
    /// An Auth0 user export (NDJSON) and, optionally, Auth0's password-hash export.
    Auth0(Auth0Config),
    /// A Firebase `auth:export --format=json` file.
    Firebase(FirebaseConfig),
    /// A Cognito user pool CSV.
    Cognito(CognitoConfig),
    /// A Keycloak realm export (realm and users files).
    Keycloak(KeycloakConfig),
    /// Any CSV file with a header row.
    Csv(CsvConfig),
    /// Any NDJSON file.
    Jsonl(JsonlConfig),
}

impl SourceConfig {
    /// Checks the configuration without connecting or reading any file: options that belong
    /// together, identifiers, limits. Every problem, each keyed within the source's table
    /// (`url`, `hash.rounds`); the caller puts `sources.<name>` in front
    /// ([`ConfigProblem::under`]).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        match self {
            SourceConfig::Postgres(c) => c.validate(),
            SourceConfig::Mysql(c) => c.validate(),
            SourceConfig::Sqlite(c) => c.validate(),
            SourceConfig::Ldap(c) => c.validate(),
            SourceConfig::AuthApi(c) => c.validate(),
            SourceConfig::Auth0(c) => c.validate(),
            SourceConfig::Firebase(c) => c.validate(),
            SourceConfig::Cognito(c) => c.validate(),
            SourceConfig::Keycloak(c) => c.validate(),
            SourceConfig::Csv(c) => c.validate(),
            SourceConfig::Jsonl(c) => c.validate(),
        }
    }

    /// The source named `name`. Reads `url_file` (an LDAP source: `bind_password_file` and
    /// `tls_ca_file`), but connects only on first use.
    pub async fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        Ok(match self {
            SourceConfig::Postgres(c) => c.build(name).await?,
            SourceConfig::Mysql(c) => c.build(name).await?,
            SourceConfig::Sqlite(c) => c.build(name).await?,
            SourceConfig::Ldap(c) => Box::new(c.build(name).await?),
            SourceConfig::AuthApi(_) => {
                return Err(SourceError::Config {
                    source_name: name.to_owned(),
                    reason: "an auth API checks passwords; it cannot be read by a backfill"
                        .to_owned(),
                });
            }
            SourceConfig::Auth0(c) => c.build(name)?,
            SourceConfig::Firebase(c) => c.build(name)?,
            SourceConfig::Cognito(c) => c.build(name)?,
            SourceConfig::Keycloak(c) => c.build(name)?,
            SourceConfig::Csv(c) => c.build(name)?,
            SourceConfig::Jsonl(c) => c.build(name)?,
        })
    }

    /// The source as the login bridge's *auth source*, for kinds whose legacy system checks
    /// passwords itself (a legacy auth API, an LDAP bind); `None` for kinds the bridge can only
    /// read hashes from.
    pub async fn build_auth(&self, name: &str) -> Result<Option<Box<dyn AuthSource>>, SourceError> {
        Ok(match self {
            SourceConfig::Postgres(_)
            | SourceConfig::Mysql(_)
            | SourceConfig::Sqlite(_)
            | SourceConfig::Auth0(_)
            | SourceConfig::Firebase(_)
            | SourceConfig::Cognito(_)
            | SourceConfig::Keycloak(_)
            | SourceConfig::Csv(_)
            | SourceConfig::Jsonl(_) => None,
            SourceConfig::Ldap(c) => Some(Box::new(c.build(name).await?)),
            SourceConfig::AuthApi(c) => Some(Box::new(c.build(name)?)),
        })
    }

    /// The Firebase project's signer key of a `type = "firebase"` source with `hash`, read
    /// from its file: the mapping and the login bridge verify its hashes with it (the records
    /// never carry it). `None` for every other source.
    pub fn firebase_signer_key(
        &self,
        name: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, SourceError> {
        match self {
            SourceConfig::Firebase(c) => c.signer_key(name),
            _ => Ok(None),
        }
    }

    /// Whether a backfill (and `usher status`) can read the source; `false` for kinds that
    /// only check passwords (an auth API).
    pub fn readable(&self) -> bool {
        !matches!(self, SourceConfig::AuthApi(_))
    }

    /// Makes every file path the source names (its database file or exports, `url_file`,
    /// `tls_ca_file`, secret files) relative to `base`, the config file's directory, if it is
    /// relative: a config means the same files wherever usher is started.
    pub fn resolve_paths(&mut self, base: &Path) {
        match self {
            SourceConfig::Postgres(c) => c.resolve_paths(base),
            SourceConfig::Mysql(c) => c.resolve_paths(base),
            SourceConfig::Sqlite(c) => c.resolve_paths(base),
            SourceConfig::Ldap(c) => c.resolve_paths(base),
            SourceConfig::AuthApi(c) => c.resolve_paths(base),
            SourceConfig::Auth0(c) => c.resolve_paths(base),
            SourceConfig::Firebase(c) => c.resolve_paths(base),
            SourceConfig::Cognito(c) => c.resolve_paths(base),
            SourceConfig::Keycloak(c) => c.resolve_paths(base),
            SourceConfig::Csv(c) => c.resolve_paths(base),
            SourceConfig::Jsonl(c) => c.resolve_paths(base),
        }
    }

    /// Builds the source and does what it really does once: connect and read one record (an
    /// LDAP source binds as its service account and reads its base entry; a file source reads
    /// the file and builds its index; an auth API: GET its `health_url`, or only connect; see
    /// [`AuthApiSource::healthcheck`](crate::auth_api::AuthApiSource::healthcheck)).
    pub async fn healthcheck(&self, name: &str) -> Result<(), SourceError> {
        match self {
            SourceConfig::AuthApi(c) => c.build(name)?.healthcheck().await,
            _ => self.build(name).await?.healthcheck().await,
        }
    }
}
