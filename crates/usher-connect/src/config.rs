//! The `[sources.<name>]` tables of usher.toml: one closed, tagged enum, each variant its own
//! factory (validate without I/O, build, healthcheck).

use serde::Deserialize;
use usher_core::{AuthSource, Source, SourceError};

use crate::auth_api::AuthApiConfig;
use crate::ldap::LdapConfig;
use crate::sql::ConfigError;
use crate::sql::mysql::MysqlConfig;
use crate::sql::postgres::PostgresConfig;
use crate::sql::sqlite::SqliteConfig;

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
/// config.validate()?;
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
}

impl SourceConfig {
    /// Checks the configuration without connecting or reading any file: options that belong
    /// together, identifiers, limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            SourceConfig::Postgres(c) => c.validate(),
            SourceConfig::Mysql(c) => c.validate(),
            SourceConfig::Sqlite(c) => c.validate(),
            SourceConfig::Ldap(c) => c.validate(),
            SourceConfig::AuthApi(c) => c.validate(),
        }
    }

    /// The source named `name`. Reads `url_file` (an LDAP source: `bind_password_file` and
    /// `tls_ca_file`), but connects only on first use.
    pub async fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        Ok(match self {
            SourceConfig::Postgres(c) => Box::new(c.build(name).await?),
            SourceConfig::Mysql(c) => Box::new(c.build(name).await?),
            SourceConfig::Sqlite(c) => Box::new(c.build(name).await?),
            SourceConfig::Ldap(c) => Box::new(c.build(name).await?),
            SourceConfig::AuthApi(_) => {
                return Err(SourceError::Config {
                    source_name: name.to_owned(),
                    reason: "an auth API checks passwords; it cannot be read by a backfill"
                        .to_owned(),
                });
            }
        })
    }

    /// The source as the login bridge's *auth source*, for kinds whose legacy system checks
    /// passwords itself (a legacy auth API, an LDAP bind); `None` for kinds the bridge can only
    /// read hashes from.
    pub async fn build_auth(&self, name: &str) -> Result<Option<Box<dyn AuthSource>>, SourceError> {
        Ok(match self {
            SourceConfig::Postgres(_) | SourceConfig::Mysql(_) | SourceConfig::Sqlite(_) => None,
            SourceConfig::Ldap(c) => Some(Box::new(c.build(name).await?)),
            SourceConfig::AuthApi(c) => Some(Box::new(c.build(name)?)),
        })
    }

    /// Whether a backfill (and `usher status`) can read the source; `false` for kinds that
    /// only check passwords (an auth API).
    pub fn readable(&self) -> bool {
        !matches!(self, SourceConfig::AuthApi(_))
    }

    /// Builds the source and does what it really does once: connect and read one record (an
    /// LDAP source binds as its service account and reads its base entry; an
    /// auth API: GET its `health_url`, or only connect; see
    /// [`AuthApiSource::healthcheck`](crate::auth_api::AuthApiSource::healthcheck)).
    pub async fn healthcheck(&self, name: &str) -> Result<(), SourceError> {
        match self {
            SourceConfig::AuthApi(c) => c.build(name)?.healthcheck().await,
            _ => self.build(name).await?.healthcheck().await,
        }
    }
}
