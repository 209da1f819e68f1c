//! The connection options every SQL source shares ([`SqlConnection`]), and the flat table a
//! user writes under `[sources.<name>]`, turned into the nested form.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use usher_core::ConfigProblem;
use usher_core::config::resolve_path;
use usher_core::redact::{redact_url, scrub, url_password};

use super::SqlSelection;

/// How a SQL source connects: the URL (or the file holding it), the pool, the timeouts and
/// TLS. Written flat under `[sources.<name>]` (`url`, `max_connections`, `tls`...), as every
/// other option; an SQLite file has `path` instead and none of the network options.
#[derive(Clone, PartialEq)]
pub struct SqlConnection {
    /// `postgres://user:password@host:port/database?...` or `mysql://...`.
    pub url: Option<String>,
    /// A file holding the URL (a secret), read when the source is built.
    pub url_file: Option<PathBuf>,
    /// Connections the source may hold open at once.
    pub max_connections: u32,
    /// How long to wait for a connection (SQLite: or a writer's lock) before calling the
    /// source unavailable.
    pub connect_timeout_seconds: u64,
    /// Longest a statement may run (PostgreSQL's `statement_timeout`, MariaDB's
    /// `max_statement_time`, MySQL's `max_execution_time`); default the server's.
    pub statement_timeout_seconds: Option<u64>,
    /// TLS mode (`verify-full` is MySQL's VERIFY_IDENTITY); default what the URL says
    /// (`sslmode`, `ssl-mode`), else `prefer`.
    pub tls: Option<TlsMode>,
    /// CA certificate (PEM) to verify the server with.
    pub tls_ca_file: Option<PathBuf>,
}

impl fmt::Debug for SqlConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConnection")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("url_file", &self.url_file)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_seconds", &self.connect_timeout_seconds)
            .field("statement_timeout_seconds", &self.statement_timeout_seconds)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

impl SqlConnection {
    /// Checks the options without connecting or reading any file. `schemes` are the URL
    /// schemes of the source's database; none for a database file (SQLite), which takes no
    /// URL, TLS or statement timeout.
    pub fn validate(&self, schemes: &[&str]) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if schemes.is_empty() {
            if let Some(field) = self.network_option() {
                problems.push(ConfigProblem::new(
                    field,
                    "is not an option of a database file",
                ));
            }
        } else {
            match check_url_choice(self.url.as_deref(), self.url_file.as_deref()) {
                Err(p) => problems.push(p),
                Ok(()) => {
                    if let Some(url) = &self.url {
                        problems.extend(check_scheme("url", url, schemes).err());
                    }
                }
            }
        }
        problems.extend(check_positive(
            "max_connections",
            u64::from(self.max_connections),
        ));
        problems.extend(check_positive(
            "connect_timeout_seconds",
            self.connect_timeout_seconds,
        ));
        if let Some(t) = self.statement_timeout_seconds {
            problems.extend(check_positive("statement_timeout_seconds", t));
        }
        problems.extend(check_tls_ca(self.tls, self.tls_ca_file.as_ref()));
        problems
    }

    /// Makes `url_file` and `tls_ca_file` relative to `base` (the config file's directory)
    /// if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.url_file, &mut self.tls_ca_file]
            .into_iter()
            .flatten()
        {
            resolve_path(path, base);
        }
    }

    /// The first network option set (URL, statement timeout, TLS), which a file has none of.
    fn network_option(&self) -> Option<&'static str> {
        [
            ("url", self.url.is_some()),
            ("url_file", self.url_file.is_some()),
            (
                "statement_timeout_seconds",
                self.statement_timeout_seconds.is_some(),
            ),
            ("tls", self.tls.is_some()),
            ("tls_ca_file", self.tls_ca_file.is_some()),
        ]
        .into_iter()
        .find_map(|(field, set)| set.then_some(field))
    }

    /// The URL, read from `url_file` if need be, for a database of `schemes`.
    pub(crate) fn resolve_url(&self, schemes: &[&str]) -> Result<String, ConfigProblem> {
        let url = resolve_url(self.url.as_deref(), self.url_file.as_deref())?;
        check_scheme("url_file", &url, schemes)?;
        Ok(url)
    }

    /// A driver's complaint about `url`, as a configuration error without the password.
    pub(crate) fn url_error(url: &str, err: impl fmt::Display) -> ConfigProblem {
        ConfigProblem::new("url", scrub(&err.to_string(), url_password(url)))
    }
}

fn default_max_connections() -> u32 {
    4
}

fn default_connect_timeout_seconds() -> u64 {
    10
}

/// A SQL source's table as written: every option of the three kinds, flat. Each kind's config
/// is built from it (`#[serde(try_from)]`), refusing as unknown the options it does not have,
/// so that every unknown key is still named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlTable {
    path: Option<PathBuf>,
    url: Option<String>,
    url_file: Option<PathBuf>,
    schema: Option<String>,
    table: Option<String>,
    query: Option<String>,
    key: String,
    columns: Option<Vec<String>>,
    #[serde(default)]
    json_columns: Vec<String>,
    #[serde(default = "default_max_connections")]
    max_connections: u32,
    #[serde(default = "default_connect_timeout_seconds")]
    connect_timeout_seconds: u64,
    statement_timeout_seconds: Option<u64>,
    tls: Option<TlsMode>,
    tls_ca_file: Option<PathBuf>,
    write_back: Option<String>,
    writes: Option<super::write_back::SqlWrites>,
}

/// The options of a SQL source, nested.
pub(crate) struct SqlParts {
    pub(crate) path: Option<PathBuf>,
    pub(crate) connection: SqlConnection,
    pub(crate) selection: SqlSelection,
    pub(crate) write_back: Option<String>,
    pub(crate) writes: Option<super::write_back::SqlWrites>,
}

/// The options of a database server's source (PostgreSQL, MySQL).
const SERVER_OPTIONS: &[&str] = &[
    "url",
    "url_file",
    "schema",
    "table",
    "query",
    "key",
    "columns",
    "json_columns",
    "max_connections",
    "connect_timeout_seconds",
    "statement_timeout_seconds",
    "tls",
    "tls_ca_file",
    "write_back",
    "writes",
];

/// The options of a database file's source (SQLite).
const FILE_OPTIONS: &[&str] = &[
    "path",
    "table",
    "query",
    "key",
    "columns",
    "json_columns",
    "max_connections",
    "connect_timeout_seconds",
    "write_back",
    "writes",
];

/// `serde`'s own words for an option a kind does not have.
fn unknown(field: &str, expected: &'static [&'static str]) -> String {
    let expected: Vec<String> = expected.iter().map(|f| format!("`{f}`")).collect();
    format!(
        "unknown field `{field}`, expected one of {}",
        expected.join(", ")
    )
}

impl SqlTable {
    /// The options of a server's source: `path` is not one.
    pub(crate) fn server(self) -> Result<SqlParts, String> {
        if self.path.is_some() {
            return Err(unknown("path", SERVER_OPTIONS));
        }
        Ok(self.parts())
    }

    /// The options of a file's source: `path` is required, the network options are not
    /// options.
    pub(crate) fn file(self) -> Result<SqlParts, String> {
        let parts = self.parts();
        let schema = parts.selection.schema.is_some().then_some("schema");
        if let Some(field) = parts.connection.network_option().or(schema) {
            return Err(unknown(field, FILE_OPTIONS));
        }
        if parts.path.is_none() {
            return Err("missing field `path`".to_owned());
        }
        Ok(parts)
    }

    fn parts(self) -> SqlParts {
        SqlParts {
            path: self.path,
            connection: SqlConnection {
                url: self.url,
                url_file: self.url_file,
                max_connections: self.max_connections,
                connect_timeout_seconds: self.connect_timeout_seconds,
                statement_timeout_seconds: self.statement_timeout_seconds,
                tls: self.tls,
                tls_ca_file: self.tls_ca_file,
            },
            selection: SqlSelection {
                schema: self.schema,
                table: self.table,
                query: self.query,
                key: self.key,
                columns: self.columns,
                json_columns: self.json_columns,
            },
            write_back: self.write_back,
            writes: self.writes,
        }
    }
}

/// How a TLS connection is required, in libpq's words; MySQL's modes are mapped to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, without checking the certificate.
    Prefer,
    /// TLS always, without checking the certificate.
    Require,
    /// TLS always, certificate signed by a trusted CA (`tls_ca_file`).
    VerifyCa,
    /// TLS always, trusted certificate for the host connected to.
    VerifyFull,
}

/// Where the connection URL comes from: inline, or a file holding only the secret URL.
fn resolve_url(url: Option<&str>, url_file: Option<&Path>) -> Result<String, ConfigProblem> {
    match (url, url_file) {
        (Some(url), None) => Ok(url.to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigProblem::new("url_file", format!("cannot read {}: {e}", path.display()))
            })?;
            let url = text.trim();
            if url.is_empty() {
                return Err(ConfigProblem::new(
                    "url_file",
                    format!("{} is empty", path.display()),
                ));
            }
            Ok(url.to_owned())
        }
        _ => Err(url_choice_error()),
    }
}

fn check_url_choice(url: Option<&str>, url_file: Option<&Path>) -> Result<(), ConfigProblem> {
    match (url, url_file) {
        (Some(url), None) if url.trim().is_empty() => Err(ConfigProblem::new("url", "is empty")),
        (Some(_), None) | (None, Some(_)) => Ok(()),
        _ => Err(url_choice_error()),
    }
}

/// Refuses a URL for another database (`http://`, a MySQL URL in a postgres source...).
fn check_scheme(field: &'static str, url: &str, schemes: &[&str]) -> Result<(), ConfigProblem> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| schemes.iter().any(|want| s.eq_ignore_ascii_case(want))) {
        return Ok(());
    }
    Err(ConfigProblem::new(
        field,
        format!("must start with {}://", schemes.join(":// or ")),
    ))
}

fn url_choice_error() -> ConfigProblem {
    ConfigProblem::new(
        "url",
        "give exactly one of `url` and `url_file` (a file holding the URL, to keep the password out of the config)",
    )
}

fn check_positive(field: &str, value: u64) -> Option<ConfigProblem> {
    (value == 0).then(|| ConfigProblem::new(field, "must be at least 1"))
}

fn check_tls_ca(tls: Option<TlsMode>, tls_ca_file: Option<&PathBuf>) -> Option<ConfigProblem> {
    (tls_ca_file.is_some() && matches!(tls, Some(TlsMode::Disable)))
        .then(|| ConfigProblem::new("tls_ca_file", "is set but `tls` is \"disable\""))
}
