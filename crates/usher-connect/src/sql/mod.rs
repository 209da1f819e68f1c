//! Legacy users in SQL databases: one module per backend, each a [`Source`](usher_core::Source)
//! over a table or a query, read by a stable key in the database's own order.
//!
//! Every read is one keyset query over the configured relation:
//!
//! ```sql
//! SELECT <key>, <columns> FROM <table or (query)> AS usher_src
//!  WHERE <key> > $after AND <key> <= $until ORDER BY <key> LIMIT $n
//! ```
//!
//! Identifiers come from the configuration, are validated by [`Ident::parse`] and always quoted;
//! values (the cursor, the limit) are always bound parameters. Text keys are compared and
//! ordered by the database with the key column's collation; the cursor goes back to the
//! database as it came out, never compared in Rust.
//!
//! # Lookups by login identifier
//!
//! [`Source::lookup`](usher_core::Source::lookup) (the login bridge, on a user's first login)
//! is the same SELECT list over the same relation, so a looked-up record is the record a
//! backfill reads (same fields, same checksum), filtered by one column compared ignoring
//! case, the value always a bound parameter:
//!
//! ```sql
//! SELECT <key>, <columns> FROM <table or (query)> AS usher_src
//!  WHERE <key> IS NOT NULL AND lower(<field>) = lower($value) ORDER BY <key> LIMIT $n
//! ```
//!
//! The field must be a plain column name (checked by [`Ident::parse`], then quoted); with a
//! `columns` list it must be one of them or the key. Each field's statement is built once per
//! source and kept.
//!
//! **Indexes.** `lower(<field>)` cannot use a plain index on the column, so every lookup scans
//! the legacy table unless it has an index on the lowered column, and the bridge does one per
//! first login. Add one before opening the bridge:
//!
//! * PostgreSQL: `CREATE INDEX ON users (lower(email));` (also used through a `query`
//!   source, whose filter PostgreSQL pushes into the subquery).
//! * MySQL 8.0.13+: a functional index, `CREATE INDEX users_email_lower ON users
//!   ((LOWER(email)));`. MariaDB has no functional indexes; an indexed virtual column
//!   `AS (LOWER(email))` is only used where its optimizer substitutes such columns for the
//!   expression (recent releases; check with `EXPLAIN`), else lookups scan. A
//!   case-insensitive collation (`utf8mb4_*_ci`) already compares ignoring case, but the
//!   lookup still wraps the column in `LOWER()`, so an index on the bare column is not used.
//! * SQLite: `CREATE INDEX users_email_lower ON users (lower(email));`. SQLite's `lower()`
//!   folds ASCII letters only (unless the ICU extension is loaded): `ÉMILE@…` does not find
//!   `émile@…`.

pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod write_back;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;
use serde_json::{Map, Number, Value};
use usher_core::{KeyRange, LegacyKey, SourceError};

use crate::ConfigError;

use usher_core::redact::{redact_url, scrub, url_password};

/// The longest identifier usher accepts, in bytes: PostgreSQL's limit (MySQL allows 64 chars).
const MAX_IDENT_BYTES: usize = 63;

/// A table, schema or column name from the configuration, checked so that quoting it is always
/// safe and always means what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    /// Accepts 1 to 63 bytes of printable text (spaces and non-ASCII letters included) without
    /// quotes, backslashes, semicolons, dots or surrounding whitespace. A dot is refused rather
    /// than read as `schema.table`: the schema has its own option.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| Err(ConfigError::new(field, format!("{name:?} {why}")));
        if name.is_empty() {
            return Err(ConfigError::new(field, "is empty"));
        }
        if name.len() > MAX_IDENT_BYTES {
            return bad("is longer than 63 bytes");
        }
        if name.trim() != name {
            return bad("starts or ends with whitespace");
        }
        if let Some(c) = name
            .chars()
            .find(|c| c.is_control() || matches!(c, '"' | '`' | '\'' | '\\' | ';'))
        {
            return bad(&format!("contains {c:?}, which no legacy identifier needs"));
        }
        if name.contains('.') {
            return bad("contains '.'; give the schema in `schema` and the table alone in `table`");
        }
        Ok(Ident(name.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted with `quote` (`"` for PostgreSQL and SQLite, `` ` `` for MySQL). `parse`
    /// refuses quote characters, so there is nothing to escape; doubling them anyway keeps this
    /// safe on its own.
    pub(crate) fn quoted(&self, quote: char) -> String {
        let doubled: String = [quote, quote].iter().collect();
        let inner = self.0.replace(quote, &doubled);
        format!("{quote}{inner}{quote}")
    }
}

/// What rows a source reads: a table or the user's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Relation {
    Table { schema: Option<Ident>, table: Ident },
    Query(String),
}

/// The validated selection every SQL source shares: the relation, the key and the columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) relation: Relation,
    pub(crate) key: Ident,
    /// `None`: every column of the relation.
    pub(crate) columns: Option<Vec<Ident>>,
    /// Text columns whose values are JSON documents, parsed into JSON.
    pub(crate) json_columns: Vec<Ident>,
}

/// The selection options as written, before validation.
pub(crate) struct SelectionSpec<'a> {
    pub(crate) schema: Option<&'a str>,
    pub(crate) table: Option<&'a str>,
    pub(crate) query: Option<&'a str>,
    pub(crate) key: &'a str,
    pub(crate) columns: Option<&'a [String]>,
    pub(crate) json_columns: &'a [String],
}

/// The alias every relation gets, so `query` and `table` sources share one SQL shape.
pub(crate) const ALIAS: &str = "usher_src";

impl Selection {
    pub(crate) fn parse(spec: &SelectionSpec<'_>) -> Result<Self, ConfigError> {
        let relation = match (spec.table, spec.query) {
            (Some(table), None) => Relation::Table {
                schema: spec.schema.map(|s| Ident::parse("schema", s)).transpose()?,
                table: Ident::parse("table", table)?,
            },
            (None, Some(query)) => {
                if spec.schema.is_some() {
                    return Err(ConfigError::new(
                        "schema",
                        "goes with `table`; qualify the names inside `query` instead",
                    ));
                }
                let query = query.trim();
                if query.is_empty() {
                    return Err(ConfigError::new("query", "is empty"));
                }
                if query.ends_with(';') {
                    return Err(ConfigError::new(
                        "query",
                        "ends with ';'; give one SELECT without it (usher wraps it as a subquery)",
                    ));
                }
                Relation::Query(query.to_owned())
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "table",
                    "give `table` or `query`, not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "table",
                    "missing: give `table` (and optionally `schema`) or `query`",
                ));
            }
        };
        let key = Ident::parse("key", spec.key)?;
        let columns = match spec.columns {
            None => None,
            Some([]) => {
                return Err(ConfigError::new(
                    "columns",
                    "is empty; leave it out to read every column",
                ));
            }
            Some(names) => Some(unique_idents("columns", names)?),
        };
        let json_columns = unique_idents("json_columns", spec.json_columns)?;
        let unselected = columns
            .as_ref()
            .and_then(|columns| json_columns.iter().find(|j| !columns.contains(j)));
        if let Some(missing) = unselected {
            return Err(ConfigError::new(
                "json_columns",
                format!("{:?} is not in `columns`", missing.as_str()),
            ));
        }
        Ok(Selection {
            relation,
            key,
            columns,
            json_columns,
        })
    }

    /// `FROM <relation> AS usher_src`.
    pub(crate) fn relation_sql(&self, quote: char) -> String {
        match &self.relation {
            Relation::Table { schema, table } => match schema {
                Some(schema) => format!(
                    "FROM {}.{} AS {ALIAS}",
                    schema.quoted(quote),
                    table.quoted(quote)
                ),
                None => format!("FROM {} AS {ALIAS}", table.quoted(quote)),
            },
            Relation::Query(query) => format!("FROM ({query}) AS {ALIAS}"),
        }
    }

    /// `usher_src.<key>`.
    pub(crate) fn key_expr(&self, quote: char) -> String {
        format!("{ALIAS}.{}", self.key.quoted(quote))
    }

    /// The configured columns as `usher_src.<c>, ...`, or `usher_src.*`.
    pub(crate) fn column_list(&self, quote: char) -> String {
        match &self.columns {
            None => format!("{ALIAS}.*"),
            Some(columns) => columns
                .iter()
                .map(|c| format!("{ALIAS}.{}", c.quoted(quote)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    pub(crate) fn is_json_column(&self, name: &str) -> bool {
        self.json_columns.iter().any(|j| j.as_str() == name)
    }

    /// The column a lookup filters on: a plain column name, and with a `columns` list one of
    /// them or the key. Checked without connecting; the database reports a column that does
    /// not exist.
    pub(crate) fn lookup_column(&self, field: &str) -> Result<Ident, ConfigError> {
        let column = Ident::parse("lookup field", field)?;
        match &self.columns {
            Some(columns) if column != self.key && !columns.contains(&column) => {
                Err(ConfigError::new(
                    "lookup field",
                    format!("{field:?} is neither the key nor one of the configured `columns`"),
                ))
            }
            _ => Ok(column),
        }
    }

    /// `usher_src.<column>`.
    pub(crate) fn column_expr(column: &Ident, quote: char) -> String {
        format!("{ALIAS}.{}", column.quoted(quote))
    }
}

fn unique_idents(field: &'static str, names: &[String]) -> Result<Vec<Ident>, ConfigError> {
    let mut out: Vec<Ident> = Vec::with_capacity(names.len());
    for name in names {
        let ident = Ident::parse(field, name)?;
        if out.contains(&ident) {
            return Err(ConfigError::new(field, format!("{name:?} is listed twice")));
        }
        out.push(ident);
    }
    Ok(out)
}

/// The four shapes of a keyset read, built once per source: which bounds the range has decides
/// which one runs, so no SQL is assembled per call.
#[derive(Debug, Clone)]
pub(crate) struct ReadSql {
    /// No lower bound: the start of the relation. Rows whose key is NULL are left out here as
    /// every bounded read leaves them out (`NULL > x` is never true); `null_key` finds them.
    pub(crate) open: sqlx::SqlStr,
    pub(crate) after: sqlx::SqlStr,
    pub(crate) until: sqlx::SqlStr,
    pub(crate) between: sqlx::SqlStr,
    /// One row whose key is NULL, if any: such rows cannot be read by key.
    pub(crate) null_key: sqlx::SqlStr,
    /// The SELECT (list and FROM) every read shares, for lookups.
    select: String,
    /// The key expression, for lookups.
    key: String,
}

impl ReadSql {
    /// `param(i)` writes the i-th placeholder (1-based) for a key bound (already wrapped in
    /// any cast the key needs); `limit(i)` the LIMIT placeholder.
    pub(crate) fn build(
        select: &str,
        from: &str,
        key: &str,
        param: impl Fn(usize) -> String,
        limit: impl Fn(usize) -> String,
    ) -> Self {
        use sqlx::SqlSafeStr as _;
        let sql = |filter: String, limit_at: usize| {
            sqlx::AssertSqlSafe(format!(
                "{select}{filter} ORDER BY {key} LIMIT {}",
                limit(limit_at)
            ))
            .into_sql_str()
        };
        ReadSql {
            open: sql(format!(" WHERE {key} IS NOT NULL"), 1),
            after: sql(format!(" WHERE {key} > {}", param(1)), 2),
            until: sql(format!(" WHERE {key} <= {}", param(1)), 2),
            between: sql(
                format!(" WHERE {key} > {} AND {key} <= {}", param(1), param(2)),
                3,
            ),
            null_key: sqlx::AssertSqlSafe(format!("SELECT 1 {from} WHERE {key} IS NULL LIMIT 1"))
                .into_sql_str(),
            select: select.to_owned(),
            key: key.to_owned(),
        }
    }

    /// A lookup: the reads' SELECT, rows whose `column` equals the value ignoring case and
    /// surrounding spaces (as the mapping's `trim` + `lowercase` would read it), in key order. `lower` is the backend's spelling of the function; `value` and `limit` are the
    /// placeholders. Rows with a NULL key are left out as every read leaves them out.
    pub(crate) fn lookup(
        &self,
        column: &str,
        lower: &str,
        value: &str,
        limit: &str,
    ) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr as _;
        let (select, key) = (&self.select, &self.key);
        sqlx::AssertSqlSafe(format!(
            "{select} WHERE {key} IS NOT NULL AND {lower}(TRIM({column})) = {lower}(TRIM({value})) \
             ORDER BY {key} LIMIT {limit}"
        ))
        .into_sql_str()
    }

    pub(crate) fn pick(&self, range: &KeyRange) -> &sqlx::SqlStr {
        match (&range.after, &range.until) {
            (None, None) => &self.open,
            (Some(_), None) => &self.after,
            (None, Some(_)) => &self.until,
            (Some(_), Some(_)) => &self.between,
        }
    }
}

/// The most lookup statements a source keeps (one per field; the bridge uses one or two).
/// Past it, a statement is built per call rather than growing the cache without bound.
const MAX_CACHED_LOOKUPS: usize = 32;

/// Lookup statements by field, each built on first use and kept for the source's life.
#[derive(Debug, Default)]
pub(crate) struct LookupCache {
    by_field: Mutex<HashMap<String, sqlx::SqlStr>>,
}

impl LookupCache {
    /// The statement for `column`, built by `build` the first time.
    pub(crate) fn get_or_build(
        &self,
        column: &Ident,
        build: impl FnOnce() -> sqlx::SqlStr,
    ) -> sqlx::SqlStr {
        // The lock is never held across an await or a panic point; a poisoned map is still a
        // valid map of finished statements.
        let mut by_field = self.by_field.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sql) = by_field.get(column.as_str()) {
            return sql.clone();
        }
        let sql = build();
        if by_field.len() < MAX_CACHED_LOOKUPS {
            by_field.insert(column.as_str().to_owned(), sql.clone());
        }
        sql
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_field
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The bounds of a range in bind order.
pub(crate) fn range_bounds(range: &KeyRange) -> impl Iterator<Item = &LegacyKey> {
    range.after.iter().chain(range.until.iter())
}

/// The LIMIT as a bindable integer.
pub(crate) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
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
pub(crate) fn resolve_url(
    url: Option<&str>,
    url_file: Option<&Path>,
) -> Result<String, ConfigError> {
    match (url, url_file) {
        (Some(url), None) => Ok(url.to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new("url_file", format!("cannot read {}: {e}", path.display()))
            })?;
            let url = text.trim();
            if url.is_empty() {
                return Err(ConfigError::new(
                    "url_file",
                    format!("{} is empty", path.display()),
                ));
            }
            Ok(url.to_owned())
        }
        _ => Err(url_choice_error()),
    }
}

pub(crate) fn check_url_choice(
    url: Option<&str>,
    url_file: Option<&Path>,
) -> Result<(), ConfigError> {
    match (url, url_file) {
        (Some(url), None) if url.trim().is_empty() => Err(ConfigError::new("url", "is empty")),
        (Some(_), None) | (None, Some(_)) => Ok(()),
        _ => Err(url_choice_error()),
    }
}

/// Refuses a URL for another database (`http://`, a MySQL URL in a postgres source...).
pub(crate) fn check_scheme(
    field: &'static str,
    url: &str,
    schemes: &[&str],
) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| schemes.iter().any(|want| s.eq_ignore_ascii_case(want))) {
        return Ok(());
    }
    Err(ConfigError::new(
        field,
        format!("must start with {}://", schemes.join(":// or ")),
    ))
}

fn url_choice_error() -> ConfigError {
    ConfigError::new(
        "url",
        "give exactly one of `url` and `url_file` (a file holding the URL, to keep the password out of the config)",
    )
}

pub(crate) fn check_positive(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be at least 1"));
    }
    Ok(())
}

pub(crate) fn check_tls_ca(
    tls: Option<TlsMode>,
    tls_ca_file: Option<&PathBuf>,
) -> Result<(), ConfigError> {
    if tls_ca_file.is_some() && matches!(tls, Some(TlsMode::Disable)) {
        return Err(ConfigError::new(
            "tls_ca_file",
            "is set but `tls` is \"disable\"",
        ));
    }
    Ok(())
}

/// A source's connection identity for errors: the redacted URL and the secret to scrub.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) source_name: String,
    pub(crate) redacted: String,
    secret: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("source_name", &self.source_name)
            .field("url", &self.redacted)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub(crate) fn new(source_name: &str, url: &str) -> Self {
        Endpoint {
            source_name: source_name.to_owned(),
            redacted: redact_url(url),
            secret: url_password(url).map(str::to_owned),
        }
    }

    pub(crate) fn config_error(&self, reason: impl std::fmt::Display) -> SourceError {
        SourceError::Config {
            source_name: self.source_name.clone(),
            reason: self.scrub(&reason.to_string()),
        }
    }

    pub(crate) fn query_error(&self, reason: impl std::fmt::Display) -> SourceError {
        SourceError::Query {
            source_name: self.source_name.clone(),
            reason: self.scrub(&reason.to_string()),
        }
    }

    fn scrub(&self, message: &str) -> String {
        scrub(message, self.secret.as_deref())
    }

    /// Sorts a driver error: can't reach or log in (retry later) → `Unavailable`; the
    /// database does not exist or the URL is malformed → `Config`; anything else the server
    /// said about the query → `Query`. The message never holds the password.
    pub(crate) fn error(&self, context: &str, err: sqlx::Error) -> SourceError {
        let unavailable = |reason: String| SourceError::Unavailable {
            source_name: self.source_name.clone(),
            reason: self.scrub(&format!("{context} at {}: {reason}", self.redacted)),
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => unavailable(err.to_string()),
            sqlx::Error::PoolTimedOut => unavailable(
                "timed out waiting for a connection (server down, unreachable, or every connection busy)"
                    .to_owned(),
            ),
            sqlx::Error::Configuration(_) => {
                self.config_error(format!("{context} at {}: {err}", self.redacted))
            }
            // SQLite's primary result codes for a file that cannot be opened or read: 5 busy,
            // 6 locked, 10 I/O error, 11 corrupt, 14 cannot open, 26 not a database. The
            // extended code's low byte is the primary one.
            sqlx::Error::Database(ref db)
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                    && db
                        .code()
                        .and_then(|c| c.parse::<i64>().ok())
                        .is_some_and(|c| [5, 6, 10, 11, 14, 26].contains(&(c & 0xff))) =>
            {
                unavailable(err.to_string())
            }
            sqlx::Error::Database(ref db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // SQLSTATE classes: 08 connection exception, 28 invalid authorization,
                // 53 insufficient resources, 57 operator intervention (incl. statement
                // timeout 57014); 70100 is MariaDB's max_statement_time.
                if ["08", "28", "53", "57"].iter().any(|c| code.starts_with(c))
                    || code == "70100"
                {
                    unavailable(err.to_string())
                } else if code == "3D000" {
                    self.config_error(format!("{context} at {}: {err}", self.redacted))
                } else {
                    self.query_error(format!("{context}: {err}"))
                }
            }
            other => self.query_error(format!("{context}: {other}")),
        }
    }
}

/// Builds one record's fields, refusing a column name seen twice (a join without aliases).
pub(crate) struct FieldsBuilder<'a> {
    endpoint: &'a Endpoint,
    key: &'a LegacyKey,
    fields: Map<String, Value>,
}

impl<'a> FieldsBuilder<'a> {
    pub(crate) fn new(endpoint: &'a Endpoint, key: &'a LegacyKey) -> Self {
        FieldsBuilder {
            endpoint,
            key,
            fields: Map::new(),
        }
    }

    pub(crate) fn insert(&mut self, column: &str, value: Value) -> Result<(), SourceError> {
        if self.fields.insert(column.to_owned(), value).is_some() {
            return Err(self.endpoint.query_error(format!(
                "record {}: column {column:?} appears twice; alias it in the query",
                self.key
            )));
        }
        Ok(())
    }

    /// The error for a value that could not be turned into JSON, naming record and column.
    pub(crate) fn undecodable(
        &self,
        column: &str,
        sql_type: &str,
        err: impl std::fmt::Display,
    ) -> SourceError {
        self.endpoint.query_error(format!(
            "record {}: column {column:?} ({sql_type}) cannot be read: {err}",
            self.key
        ))
    }

    pub(crate) fn finish(self) -> Map<String, Value> {
        self.fields
    }
}

/// The error for a row whose key column is NULL or of a type that cannot be a key.
pub(crate) fn bad_key(
    endpoint: &Endpoint,
    range: &KeyRange,
    key: &Ident,
    what: impl std::fmt::Display,
) -> SourceError {
    let after = range
        .after
        .as_ref()
        .map_or_else(|| "the start".to_owned(), |k| format!("key {k}"));
    endpoint.query_error(format!(
        "a record after {after}: key column {:?} {what}; every record needs a unique, non-NULL key (filter or fix it with a `query`)",
        key.as_str()
    ))
}

/// The healthcheck's error for rows whose key is NULL.
pub(crate) fn null_keys_error(endpoint: &Endpoint, key: &Ident) -> SourceError {
    endpoint.query_error(format!(
        "some records have a NULL key column {:?} and cannot be read by key; every record needs a unique, non-NULL key (filter or fix them with a `query`)",
        key.as_str()
    ))
}

/// JSON for a float: a number when finite, else the string `NaN`, `Infinity` or `-Infinity`
/// (JSON has no such numbers; dropping them would lose the value).
pub(crate) fn float_value(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".to_owned()),
        None if f.is_sign_positive() => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// JSON for a single-precision float, by its shortest decimal form (0.1f32 stays 0.1, not
/// 0.10000000149011612).
pub(crate) fn float32_value(f: f32) -> Value {
    match f.to_string().parse::<f64>() {
        Ok(wide) => float_value(wide),
        Err(_) => float_value(f64::from(f)),
    }
}

/// JSON for binary data: standard base64 with padding.
pub(crate) fn bytes_value(bytes: &[u8]) -> Value {
    use base64::Engine as _;
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// ISO 8601 without offset: `2024-01-02T03:04:05` plus a fraction only when there is one.
pub(crate) fn naive_datetime_value(dt: chrono::NaiveDateTime) -> Value {
    Value::String(dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// ISO 8601 in UTC: `2024-01-02T03:04:05Z`.
pub(crate) fn utc_datetime_value(dt: chrono::DateTime<chrono::Utc>) -> Value {
    Value::String(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

pub(crate) fn date_value(d: chrono::NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}

pub(crate) fn time_value(t: chrono::NaiveTime) -> Value {
    Value::String(t.format("%H:%M:%S%.f").to_string())
}

/// Parses a text value of a configured JSON column.
pub(crate) fn json_text_value(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _, Utc};

    fn spec<'a>(table: Option<&'a str>, query: Option<&'a str>) -> SelectionSpec<'a> {
        SelectionSpec {
            schema: None,
            table,
            query,
            key: "id",
            columns: None,
            json_columns: &[],
        }
    }

    #[test]
    fn identifiers_with_spaces_and_accents_are_quoted() {
        let id = Ident::parse("columns", "phone num").unwrap();
        assert_eq!(id.quoted('"'), "\"phone num\"");
        assert_eq!(id.quoted('`'), "`phone num`");
        assert!(Ident::parse("table", "utilisateurs_été").is_ok());
    }

    #[test]
    fn identifiers_that_could_break_out_of_quotes_are_refused() {
        for bad in [
            "",
            "users\"; DROP TABLE x; --",
            "a`b",
            "it's",
            "back\\slash",
            "semi;colon",
            "public.users",
            " users",
            "tab\there",
            "nul\0",
            &"x".repeat(64),
        ] {
            assert!(Ident::parse("table", bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_selection_needs_exactly_one_of_table_and_query() {
        assert!(Selection::parse(&spec(Some("users"), None)).is_ok());
        assert!(Selection::parse(&spec(None, Some("SELECT * FROM users"))).is_ok());
        assert!(Selection::parse(&spec(None, None)).is_err());
        assert!(Selection::parse(&spec(Some("users"), Some("SELECT 1"))).is_err());
        assert!(Selection::parse(&spec(None, Some("SELECT 1;"))).is_err());
    }

    #[test]
    fn json_columns_must_be_selected_and_columns_must_be_unique() {
        let columns = vec!["id".to_owned(), "email".to_owned()];
        let json = vec!["prefs".to_owned()];
        let mut s = spec(Some("users"), None);
        s.columns = Some(&columns);
        s.json_columns = &json;
        assert_eq!(Selection::parse(&s).unwrap_err().field, "json_columns");
        let twice = vec!["id".to_owned(), "id".to_owned()];
        let mut s = spec(Some("users"), None);
        s.columns = Some(&twice);
        assert_eq!(Selection::parse(&s).unwrap_err().field, "columns");
    }

    #[test]
    fn reads_are_keyset_queries_over_the_aliased_relation() {
        let mut s = spec(Some("users"), None);
        s.schema = Some("legacy");
        let sel = Selection::parse(&s).unwrap();
        let from = sel.relation_sql('"');
        let select = format!("SELECT {} {from}", sel.column_list('"'));
        let key = sel.key_expr('"');
        let sql = ReadSql::build(
            &select,
            &from,
            &key,
            |i| format!("${i}"),
            |i| format!("${i}"),
        );
        assert_eq!(
            sql.between.as_str(),
            "SELECT usher_src.* FROM \"legacy\".\"users\" AS usher_src WHERE usher_src.\"id\" > $1 AND usher_src.\"id\" <= $2 ORDER BY usher_src.\"id\" LIMIT $3"
        );
        assert_eq!(
            sql.open.as_str(),
            "SELECT usher_src.* FROM \"legacy\".\"users\" AS usher_src WHERE usher_src.\"id\" IS NOT NULL ORDER BY usher_src.\"id\" LIMIT $1"
        );
    }

    #[test]
    fn lookups_filter_one_quoted_column_ignoring_case_with_bound_values() {
        let sel = Selection::parse(&spec(Some("users"), None)).unwrap();
        let from = sel.relation_sql('"');
        let select = format!("SELECT {} {from}", sel.column_list('"'));
        let key = sel.key_expr('"');
        let reads = ReadSql::build(
            &select,
            &from,
            &key,
            |i| format!("${i}"),
            |i| format!("${i}"),
        );
        let column = sel.lookup_column("e mail").unwrap();
        let sql = reads.lookup(&Selection::column_expr(&column, '"'), "lower", "$1", "$2");
        assert_eq!(
            sql.as_str(),
            "SELECT usher_src.* FROM \"users\" AS usher_src WHERE usher_src.\"id\" IS NOT NULL AND lower(TRIM(usher_src.\"e mail\")) = lower(TRIM($1)) ORDER BY usher_src.\"id\" LIMIT $2"
        );
    }

    #[test]
    fn lookup_fields_must_be_plain_configured_columns() {
        let sel = Selection::parse(&spec(Some("users"), None)).unwrap();
        for bad in ["email; DROP TABLE users", "\"email\"", "a.email", "", "x'y"] {
            let err = sel.lookup_column(bad).unwrap_err();
            assert_eq!(err.field, "lookup field", "{bad:?}");
        }
        assert!(sel.lookup_column("anything").is_ok());
        let columns = vec!["email".to_owned()];
        let mut s = spec(Some("users"), None);
        s.columns = Some(&columns);
        let sel = Selection::parse(&s).unwrap();
        assert!(sel.lookup_column("email").is_ok());
        assert!(
            sel.lookup_column("id").is_ok(),
            "the key is always selected"
        );
        let err = sel.lookup_column("password").unwrap_err();
        assert!(err.reason.contains("\"password\""), "{err}");
    }

    #[test]
    fn lookup_statements_are_built_once_per_field_and_the_cache_is_bounded() {
        use sqlx::SqlSafeStr as _;
        let cache = LookupCache::default();
        let email = Ident::parse("f", "email").unwrap();
        let mut builds = 0;
        for _ in 0..3 {
            let sql = cache.get_or_build(&email, || {
                builds += 1;
                sqlx::AssertSqlSafe("SELECT 1".to_owned()).into_sql_str()
            });
            assert_eq!(sql.as_str(), "SELECT 1");
        }
        assert_eq!(builds, 1);
        for i in 0..100 {
            let field = Ident::parse("f", &format!("c{i}")).unwrap();
            cache.get_or_build(&field, || {
                sqlx::AssertSqlSafe("SELECT 2".to_owned()).into_sql_str()
            });
        }
        assert_eq!(cache.len(), MAX_CACHED_LOOKUPS);
    }

    #[test]
    fn floats_keep_their_shortest_form_and_non_finite_values_survive() {
        assert_eq!(float32_value(0.1), serde_json::json!(0.1));
        assert_eq!(float_value(f64::NAN), serde_json::json!("NaN"));
        assert_eq!(
            float_value(f64::NEG_INFINITY),
            serde_json::json!("-Infinity")
        );
    }

    #[test]
    fn dates_and_times_print_as_iso_8601() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let dt = d.and_hms_opt(3, 4, 5).unwrap();
        assert_eq!(
            naive_datetime_value(dt),
            serde_json::json!("2024-02-29T03:04:05")
        );
        let dt_micro = d.and_hms_micro_opt(3, 4, 5, 120_000).unwrap();
        assert_eq!(
            naive_datetime_value(dt_micro),
            serde_json::json!("2024-02-29T03:04:05.120")
        );
        let utc = Utc.from_utc_datetime(&dt);
        assert_eq!(
            utc_datetime_value(utc),
            serde_json::json!("2024-02-29T03:04:05Z")
        );
        assert_eq!(date_value(d), serde_json::json!("2024-02-29"));
        assert_eq!(bytes_value(&[0, 255]), serde_json::json!("AP8="));
    }
}
