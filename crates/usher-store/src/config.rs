//! Which store to open: `[store]` in usher's config.
//!
//! ```toml
//! [store]
//! type = "sqlite"
//! path = "usher.db"
//! ```
//!
//! ```toml
//! [store]
//! type = "postgres"
//! url_file = "/run/secrets/usher-db-url"   # or url = "postgres://usher@db/usher"
//! max_connections = 8
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
pub use usher_core::redact_url;

use crate::error::{Result, StoreError};

/// Connections a PostgreSQL store opens when the config does not say.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// Where the store lives.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    /// One SQLite file (created when missing). The default for one machine.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database, for scale and for several usher processes.
    Postgres {
        /// `postgres://user:password@host:port/database?options`. Prefer `url_file`, which
        /// keeps the password out of the config file.
        #[serde(default)]
        url: Option<String>,
        /// A file holding the URL (surrounding whitespace ignored), such as a mounted secret.
        #[serde(default)]
        url_file: Option<PathBuf>,
        /// The pool's size; [`DEFAULT_MAX_CONNECTIONS`] when absent.
        #[serde(default)]
        max_connections: Option<u32>,
    },
}

impl StoreConfig {
    /// Checks the config without touching the file system or the network.
    pub fn validate(&self) -> Result<()> {
        match self {
            StoreConfig::Sqlite { path } => {
                if path.as_os_str().is_empty() {
                    return Err(StoreError::Config("sqlite: `path` is empty".into()));
                }
                Ok(())
            }
            StoreConfig::Postgres {
                url,
                url_file,
                max_connections,
            } => {
                match (url, url_file) {
                    (Some(_), Some(_)) => {
                        return Err(StoreError::Config(
                            "postgres: set one of `url` and `url_file`, not both".into(),
                        ));
                    }
                    (None, None) => {
                        return Err(StoreError::Config(
                            "postgres: set `url` or `url_file`".into(),
                        ));
                    }
                    (Some(url), None) => check_url(url)?,
                    (None, Some(file)) => {
                        if file.as_os_str().is_empty() {
                            return Err(StoreError::Config("postgres: `url_file` is empty".into()));
                        }
                    }
                }
                if *max_connections == Some(0) {
                    return Err(StoreError::Config(
                        "postgres: `max_connections` must be at least 1".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The backend's name: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            StoreConfig::Sqlite { .. } => "sqlite",
            StoreConfig::Postgres { .. } => "postgres",
        }
    }
}

/// The config with the URL's password replaced by `***`.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            StoreConfig::Postgres {
                url,
                url_file,
                max_connections,
            } => f
                .debug_struct("Postgres")
                .field("url", &url.as_deref().map(redact_url))
                .field("url_file", url_file)
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}

/// Checks a PostgreSQL URL's shape. The error never repeats the URL.
pub(crate) fn check_url(url: &str) -> Result<()> {
    let url = url.trim();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Config(
            "postgres: the URL must start with postgres:// or postgresql://".into(),
        ));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(StoreError::Config(
            "postgres: the URL contains whitespace".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_never_shows_the_password() {
        let c = StoreConfig::Postgres {
            url: Some("postgres://u:hunter2@db/x".into()),
            url_file: None,
            max_connections: None,
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("u:***@db"), "{shown}");
    }

    #[test]
    fn configs_parse_with_a_type_tag_and_refuse_unknown_fields() {
        let c: StoreConfig =
            serde_json::from_str(r#"{"type":"sqlite","path":"usher.db"}"#).unwrap();
        assert_eq!(
            c,
            StoreConfig::Sqlite {
                path: "usher.db".into()
            }
        );
        c.validate().unwrap();
        let p: StoreConfig = serde_json::from_str(
            r#"{"type":"postgres","url":"postgres://u@db/x","max_connections":4}"#,
        )
        .unwrap();
        p.validate().unwrap();
        assert_eq!(p.backend(), "postgres");
        let unknown =
            serde_json::from_str::<StoreConfig>(r#"{"type":"sqlite","path":"a","pth":"b"}"#);
        assert!(unknown.is_err());
        let kind = serde_json::from_str::<StoreConfig>(r#"{"type":"mysql","url":"x"}"#);
        assert!(kind.is_err());
    }

    #[test]
    fn validation_names_what_is_wrong_without_echoing_the_url() {
        let both = StoreConfig::Postgres {
            url: Some("postgres://db/x".into()),
            url_file: Some("/run/url".into()),
            max_connections: None,
        };
        assert!(
            both.validate()
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        let neither = StoreConfig::Postgres {
            url: None,
            url_file: None,
            max_connections: None,
        };
        assert!(neither.validate().is_err());
        let scheme = StoreConfig::Postgres {
            url: Some("mysql://u:hunter2@db/x".into()),
            url_file: None,
            max_connections: None,
        };
        let err = scheme.validate().unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let zero = StoreConfig::Postgres {
            url: Some("postgres://db/x".into()),
            url_file: None,
            max_connections: Some(0),
        };
        assert!(zero.validate().is_err());
        let empty = StoreConfig::Sqlite { path: "".into() };
        assert!(empty.validate().is_err());
    }
}
