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
use std::path::{Path, PathBuf};

use serde::Deserialize;
use usher_core::ConfigProblem;
use usher_core::config;
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
    /// Checks the config without touching the file system or the network: every problem,
    /// each naming its key relative to `[store]` (`url`, `max_connections`).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match self {
            StoreConfig::Sqlite { path } => {
                if path.as_os_str().is_empty() {
                    problems.push(ConfigProblem::new("path", "is empty"));
                }
            }
            StoreConfig::Postgres {
                url,
                url_file,
                max_connections,
            } => {
                match (url, url_file) {
                    (Some(_), Some(_)) => problems.push(ConfigProblem::new(
                        "url",
                        "set one of `url` and `url_file`, not both",
                    )),
                    (None, None) => {
                        problems.push(ConfigProblem::new("url", "set `url` or `url_file`"));
                    }
                    (Some(url), None) => problems.extend(check_url("url", url).err()),
                    (None, Some(file)) => {
                        if file.as_os_str().is_empty() {
                            problems.push(ConfigProblem::new("url_file", "is empty"));
                        }
                    }
                }
                if *max_connections == Some(0) {
                    problems.push(ConfigProblem::new("max_connections", "must be at least 1"));
                }
            }
        }
        problems
    }

    /// [`validate`](Self::validate), as the crate's error: `Ok` when there is no problem.
    pub(crate) fn checked(&self) -> Result<()> {
        let problems = self.validate();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Config(config::one_line(&problems)))
        }
    }

    /// Makes the file paths it names (the SQLite file, `url_file`) relative to `base` (the
    /// config file's directory) when they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        let path = match self {
            StoreConfig::Sqlite { path } => Some(path),
            StoreConfig::Postgres { url_file, .. } => url_file.as_mut(),
        };
        if let Some(path) = path {
            config::resolve_path(path, base);
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

/// Checks a PostgreSQL URL's shape, the one in `key`. The problem never repeats the URL.
pub(crate) fn check_url(key: &str, url: &str) -> std::result::Result<(), ConfigProblem> {
    let url = url.trim();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(ConfigProblem::new(
            key,
            "the URL must start with postgres:// or postgresql://",
        ));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(ConfigProblem::new(key, "the URL contains whitespace"));
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
        assert_eq!(c.validate(), Vec::new());
        let p: StoreConfig = serde_json::from_str(
            r#"{"type":"postgres","url":"postgres://u@db/x","max_connections":4}"#,
        )
        .unwrap();
        assert_eq!(p.validate(), Vec::new());
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
        assert!(both.checked().unwrap_err().to_string().contains("not both"));
        assert_eq!(both.validate()[0].key, "url");
        let neither = StoreConfig::Postgres {
            url: None,
            url_file: None,
            max_connections: None,
        };
        assert!(neither.checked().is_err());
        let scheme = StoreConfig::Postgres {
            url: Some("mysql://u:hunter2@db/x".into()),
            url_file: None,
            max_connections: None,
        };
        let err = scheme.checked().unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let zero = StoreConfig::Postgres {
            url: Some("postgres://db/x".into()),
            url_file: None,
            max_connections: Some(0),
        };
        assert!(zero.checked().is_err());
        assert_eq!(zero.validate()[0].key, "max_connections");
        let empty = StoreConfig::Sqlite { path: "".into() };
        assert!(empty.checked().is_err());
        assert_eq!(empty.validate()[0].key, "path");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let c = StoreConfig::Postgres {
            url: Some("mysql://u:hunter2@db/x".into()),
            url_file: None,
            max_connections: Some(0),
        };
        let problems = c.validate();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["url", "max_connections"], "{problems:?}");
        let text = c.checked().unwrap_err().to_string();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn relative_paths_are_resolved_against_the_base() {
        let base = Path::new("/etc/usher");
        let mut lite = StoreConfig::Sqlite {
            path: "usher.db".into(),
        };
        lite.resolve_paths(base);
        assert_eq!(
            lite,
            StoreConfig::Sqlite {
                path: "/etc/usher/usher.db".into()
            }
        );
        let mut absolute = StoreConfig::Sqlite {
            path: "/var/lib/usher.db".into(),
        };
        absolute.resolve_paths(base);
        assert_eq!(
            absolute,
            StoreConfig::Sqlite {
                path: "/var/lib/usher.db".into()
            }
        );
        let mut pg = StoreConfig::Postgres {
            url: None,
            url_file: Some("secrets/url".into()),
            max_connections: None,
        };
        pg.resolve_paths(base);
        let StoreConfig::Postgres { url_file, .. } = pg else {
            panic!("{pg:?}")
        };
        assert_eq!(url_file, Some("/etc/usher/secrets/url".into()));
    }
}
