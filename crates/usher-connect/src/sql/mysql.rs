//! A legacy users table (or query) in MySQL or MariaDB.
//!
//! Values are decoded by the type the server reports for each column: integers (unsigned up to
//! 2^64-1), floats, DECIMAL as a string, TINYINT(1) as a boolean, dates and times as ISO 8601
//! (a zero date `0000-00-00` is NULL: it has no calendar value), JSON as JSON, text as text and
//! binary strings as base64. MariaDB stores JSON as LONGTEXT with a `json_valid` check: for a
//! table source those columns are found in `information_schema` and parsed into JSON; for a
//! query source, list them in `json_columns`.
//!
//! [`lookup`](Source::lookup) filters with ``LOWER(usher_src.`<field>`) = LOWER(?)`` over
//! the same statement (see [the SQL module](super#lookups-by-login-identifier)); it scans
//! unless MySQL 8.0.13+ has a functional index, ``CREATE INDEX users_email_lower ON users
//! ((LOWER(email)))``. The comparison follows the column's collation, as the legacy
//! application's own `WHERE email = ?` did: under the usual `utf8mb4_*_ci` collations accents
//! are ignored too (`emile` finds `émile`), and PAD SPACE collations ignore trailing spaces
//! (`ann@example.com ` finds `ann@example.com`). On a binary string column (`VARBINARY`,
//! `BLOB`) `LOWER()` changes nothing, so the comparison there is exact.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow, MySqlSslMode, MySqlTypeInfo};
use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::{
    Column as _, Executor as _, MySql, MySqlPool, Row as _, SqlSafeStr as _, SqlStr,
    Statement as _, TypeInfo as _, ValueRef as _,
};
use tokio::sync::OnceCell;
use usher_core::{KeyRange, LegacyKey, LegacyRecord, Source, SourceError};

use super::postgres::{default_connect_timeout_seconds, default_max_connections};
use super::{
    ConfigError, Endpoint, FieldsBuilder, LookupCache, ReadSql, Relation, Selection, SelectionSpec,
    TlsMode, bad_key, bytes_value, check_positive, check_scheme, check_tls_ca, check_url_choice,
    date_value, float_value, float32_value, json_text_value, limit_param, naive_datetime_value,
    range_bounds, resolve_url, utc_datetime_value, write_back,
};

const Q: char = '`';

/// `[sources.<name>]` with `type = "mysql"` (or `"mariadb"`).
///
/// ```toml
/// [sources.legacy]
/// type = "mysql"
/// url_file = "/run/secrets/legacy-db-url"   # or url = "mysql://..."
/// schema = "shop"                            # optional: the database, default the URL's
/// table = "users"                            # or query = "SELECT ... FROM ..."
/// key = "id"
/// columns = ["id", "email", "password"]     # optional, default every column
/// json_columns = ["settings"]                # text columns holding JSON (optional)
/// max_connections = 4
/// statement_timeout_seconds = 60
/// tls = "require"                            # disable | prefer | require | verify-ca | verify-full
/// # after a login migrated a user (optional; see the write_back module):
/// write_back = "UPDATE users SET migrated_at = NOW() WHERE id = :key"
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database?...`.
    pub url: Option<String>,
    /// A file holding the URL (a secret), read when the source is built.
    pub url_file: Option<PathBuf>,
    /// The table's database; default the URL's.
    pub schema: Option<String>,
    /// The table to read. Give this or `query`.
    pub table: Option<String>,
    /// A full SELECT, read as a derived table so the keyset filter still applies.
    pub query: Option<String>,
    /// The stable, unique, non-NULL key column records are read in order of.
    pub key: String,
    /// The columns to read; default every column.
    pub columns: Option<Vec<String>>,
    /// Text columns holding JSON documents, parsed into JSON.
    #[serde(default)]
    pub json_columns: Vec<String>,
    /// Connections the source may hold open at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection before calling the source unavailable.
    #[serde(default = "default_connect_timeout_seconds")]
    pub connect_timeout_seconds: u64,
    /// Longest a statement may run (`max_statement_time` on MariaDB, `max_execution_time` on
    /// MySQL); default the server's.
    pub statement_timeout_seconds: Option<u64>,
    /// TLS mode (`verify-full` is MySQL's VERIFY_IDENTITY); default the URL's `ssl-mode`,
    /// else `prefer`.
    pub tls: Option<TlsMode>,
    /// CA certificate (PEM) to verify the server with.
    pub tls_ca_file: Option<PathBuf>,
    /// A statement the login bridge runs after migrating a user, with `:key` and `:user_id`
    /// bound ([`super::write_back`]).
    pub write_back: Option<String>,
}

impl fmt::Debug for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConfig")
            .field("url", &self.url.as_deref().map(crate::redact_url))
            .field("url_file", &self.url_file)
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("query", &self.query)
            .field("key", &self.key)
            .field("columns", &self.columns)
            .field("json_columns", &self.json_columns)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_seconds", &self.connect_timeout_seconds)
            .field("statement_timeout_seconds", &self.statement_timeout_seconds)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("write_back", &self.write_back)
            .finish()
    }
}

impl MysqlConfig {
    fn selection(&self) -> Result<Selection, ConfigError> {
        Selection::parse(&SelectionSpec {
            schema: self.schema.as_deref(),
            table: self.table.as_deref(),
            query: self.query.as_deref(),
            key: &self.key,
            columns: self.columns.as_deref(),
            json_columns: &self.json_columns,
        })
    }

    /// Checks the configuration without connecting or reading any file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url_choice(self.url.as_deref(), self.url_file.as_deref())?;
        if let Some(url) = &self.url {
            check_scheme("url", url, &["mysql", "mariadb"])?;
            MySqlConnectOptions::from_str(url).map_err(|e| {
                ConfigError::new(
                    "url",
                    usher_core::redact::scrub(
                        &e.to_string(),
                        usher_core::redact::url_password(url),
                    ),
                )
            })?;
        }
        self.selection()?;
        check_positive("max_connections", u64::from(self.max_connections))?;
        check_positive("connect_timeout_seconds", self.connect_timeout_seconds)?;
        if let Some(t) = self.statement_timeout_seconds {
            check_positive("statement_timeout_seconds", t)?;
        }
        check_tls_ca(self.tls, self.tls_ca_file.as_ref())?;
        self.write_back_statement().map(drop)
    }

    fn write_back_statement(&self) -> Result<Option<write_back::Statement>, ConfigError> {
        write_back::Statement::new(self.write_back.as_deref(), |_| "?".to_owned())
    }

    /// The source, with a pool that connects on first use (so building needs no server).
    pub async fn build(&self, name: &str) -> Result<MysqlSource, SourceError> {
        self.validate().map_err(|e| e.into_source_error(name))?;
        let url = resolve_url(self.url.as_deref(), self.url_file.as_deref())
            .map_err(|e| e.into_source_error(name))?;
        check_scheme("url_file", &url, &["mysql", "mariadb"])
            .map_err(|e| e.into_source_error(name))?;
        let endpoint = Endpoint::new(name, &url);
        let mut options =
            MySqlConnectOptions::from_str(&url).map_err(|e| endpoint.config_error(e))?;
        if let Some(tls) = self.tls {
            options = options.ssl_mode(match tls {
                TlsMode::Disable => MySqlSslMode::Disabled,
                TlsMode::Prefer => MySqlSslMode::Preferred,
                TlsMode::Require => MySqlSslMode::Required,
                TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
                TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
            });
        }
        if let Some(ca) = &self.tls_ca_file {
            options = options.ssl_ca(ca);
        }
        let mut pool = MySqlPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(self.connect_timeout_seconds));
        if let Some(seconds) = self.statement_timeout_seconds {
            pool = pool.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // The two servers name the limit differently; setting the other's variable
                    // is an error, so ask which one this is. `seconds` is a number we own.
                    let version: String = sqlx::query_scalar("SELECT VERSION()")
                        .fetch_one(&mut *conn)
                        .await?;
                    let set = if version.contains("MariaDB") {
                        format!("SET SESSION max_statement_time = {seconds}")
                    } else {
                        let millis = seconds.saturating_mul(1000);
                        format!("SET SESSION max_execution_time = {millis}")
                    };
                    conn.execute(sqlx::AssertSqlSafe(set)).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_lazy_with(options);
        Ok(MysqlSource {
            endpoint,
            selection: self.selection().map_err(|e| e.into_source_error(name))?,
            plan: OnceCell::new(),
            write_back: self
                .write_back_statement()
                .map_err(|e| e.into_source_error(name))?
                .map(|statement| write_back::On {
                    statement,
                    pool: pool.clone(),
                }),
            pool,
        })
    }
}

/// A MySQL or MariaDB table or query read as a [`Source`].
#[derive(Debug)]
pub struct MysqlSource {
    endpoint: Endpoint,
    pool: MySqlPool,
    selection: Selection,
    plan: OnceCell<Plan>,
    write_back: Option<write_back::On<MySql>>,
}

#[derive(Debug)]
struct Plan {
    key: KeyKind,
    reads: ReadSql,
    json_columns: Vec<String>,
    count: SqlStr,
    bounds: SqlStr,
    /// Lookup statements by field, built from `reads` on first use.
    lookups: LookupCache,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Int { unsigned: bool },
    Text,
}

fn sql(text: String) -> SqlStr {
    sqlx::AssertSqlSafe(text).into_sql_str()
}

fn is_text(ty: &MySqlTypeInfo) -> bool {
    <String as sqlx::Type<MySql>>::compatible(ty)
}

impl MysqlSource {
    async fn plan(&self) -> Result<&Plan, SourceError> {
        self.plan.get_or_try_init(|| self.make_plan()).await
    }

    async fn make_plan(&self) -> Result<Plan, SourceError> {
        let sel = &self.selection;
        let from = sel.relation_sql(Q);
        let key = sel.key_expr(Q);
        let statement = self
            .pool
            .prepare(sql(format!("SELECT {key} {from}")))
            .await
            .map_err(|e| self.endpoint.error("preparing the read", e))?;
        let Some(key_type) = statement.columns().first().map(|c| c.type_info().clone()) else {
            return Err(self.endpoint.query_error("the key column is missing"));
        };
        let key_kind = match key_type.name() {
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
                KeyKind::Int { unsigned: false }
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" => KeyKind::Int { unsigned: true },
            _ if is_text(&key_type) => KeyKind::Text,
            other => {
                return Err(self.endpoint.config_error(format!(
                    "key column {:?} is {other}; a key must be an integer or text column (convert it in a `query`, e.g. HEX(id))",
                    sel.key.as_str()
                )));
            }
        };
        let mut json_columns: Vec<String> = sel
            .json_columns
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        json_columns.extend(self.mariadb_json_columns().await?);
        let select = format!("SELECT {key}, {} {from}", sel.column_list(Q));
        let reads = ReadSql::build(&select, &from, &key, |_| "?".to_owned(), |_| "?".to_owned());
        let bounds = format!(
            "SELECT (SELECT {key} {from} WHERE {key} IS NOT NULL ORDER BY {key} LIMIT 1), \
                    (SELECT {key} {from} WHERE {key} IS NOT NULL ORDER BY {key} DESC LIMIT 1)"
        );
        tracing::debug!(source = %self.endpoint.source_name, key = ?key_kind, json_columns = ?json_columns, "Planned reads");
        Ok(Plan {
            key: key_kind,
            reads,
            json_columns,
            count: sql(format!("SELECT COUNT(*) {from}")),
            bounds: sql(bounds),
            lookups: LookupCache::default(),
        })
    }

    /// Runs a read or a lookup and turns its rows into records as they arrive. `range` only
    /// names where a bad key was met.
    async fn records(
        &self,
        plan: &Plan,
        query: sqlx::query::Query<'_, MySql, sqlx::mysql::MySqlArguments>,
        limit: usize,
        range: &KeyRange,
        context: &str,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
        let mut rows = query.fetch(&self.pool);
        let mut records = Vec::with_capacity(limit.min(1024));
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| self.endpoint.error(context, e))?
        {
            records.push(self.record(plan, &row, range)?);
        }
        Ok(records)
    }

    /// MariaDB's `JSON` is LONGTEXT plus a `json_valid(col)` check constraint, which
    /// `information_schema.CHECK_CONSTRAINTS` lists (with a TABLE_NAME column MySQL lacks).
    async fn mariadb_json_columns(&self) -> Result<Vec<String>, SourceError> {
        let Relation::Table { schema, table } = &self.selection.relation else {
            return Ok(Vec::new());
        };
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.endpoint.error("asking the server version", e))?;
        if !version.contains("MariaDB") {
            return Ok(Vec::new());
        }
        let clauses: Vec<String> = sqlx::query_scalar(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(schema.as_ref().map(|s| s.as_str().to_owned()))
        .bind(table.as_str().to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.endpoint.error("looking up JSON columns", e))?;
        Ok(clauses
            .iter()
            .filter_map(|clause| {
                clause
                    .strip_prefix("json_valid(`")
                    .and_then(|rest| rest.strip_suffix("`)"))
                    .map(|name| name.replace("``", "`"))
            })
            .collect())
    }

    fn record(
        &self,
        plan: &Plan,
        row: &MySqlRow,
        range: &KeyRange,
    ) -> Result<LegacyRecord, SourceError> {
        let bad = |what: String| bad_key(&self.endpoint, range, &self.selection.key, what);
        let key = match plan.key {
            KeyKind::Int { unsigned: false } => row
                .try_get::<Option<i64>, _>(0)
                .map_err(|e| bad(e.to_string()))?
                .map(LegacyKey::Int),
            KeyKind::Int { unsigned: true } => row
                .try_get::<Option<u64>, _>(0)
                .map_err(|e| bad(e.to_string()))?
                .map(|k| i64::try_from(k).map(LegacyKey::Int))
                .transpose()
                .map_err(|_| bad("is larger than 2^63-1".to_owned()))?,
            KeyKind::Text => row
                .try_get::<Option<String>, _>(0)
                .map_err(|e| bad(e.to_string()))?
                .map(LegacyKey::Text),
        }
        .ok_or_else(|| bad("is NULL".to_owned()))?;
        let mut fields = FieldsBuilder::new(&self.endpoint, &key);
        for (index, column) in row.columns().iter().enumerate().skip(1) {
            let name = column.name();
            let ty = column.type_info();
            let json_text = plan.json_columns.iter().any(|j| j == name);
            let value = decode(row, index, ty, json_text)
                .map_err(|e| fields.undecodable(name, ty.name(), e))?;
            fields.insert(name, value)?;
        }
        Ok(LegacyRecord {
            fields: fields.finish(),
            key,
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum DecodeError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A zero date (`0000-00-00`) decodes as "unexpected NULL": it has no calendar value.
fn is_zero_date(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::ColumnDecode { source, .. } => source.is::<sqlx::error::UnexpectedNullError>(),
        _ => false,
    }
}

fn zero_date_is_null<T>(result: Result<Option<T>, sqlx::Error>) -> Result<Option<T>, sqlx::Error> {
    match result {
        Err(e) if is_zero_date(&e) => Ok(None),
        other => other,
    }
}

fn decode(
    row: &MySqlRow,
    index: usize,
    ty: &MySqlTypeInfo,
    json_text: bool,
) -> Result<Value, DecodeError> {
    if row.try_get_raw(index)?.is_null() {
        return Ok(Value::Null);
    }
    // Unchecked: the type was matched here, by the server's column type.
    let value = match ty.name() {
        "NULL" => Value::Null,
        "BOOLEAN" => match row.try_get_unchecked::<i64, _>(index)? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            // TINYINT(1) holds -128..=127; a value other than 0/1 stays a number, not lost.
            other => Value::from(other),
        },
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            Value::from(row.try_get_unchecked::<i64, _>(index)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "YEAR" | "BIT" => {
            Value::from(row.try_get_unchecked::<u64, _>(index)?)
        }
        "FLOAT" => float32_value(row.try_get_unchecked::<f32, _>(index)?),
        "DOUBLE" => float_value(row.try_get_unchecked::<f64, _>(index)?),
        // DECIMAL travels as its exact decimal text.
        "DECIMAL" => Value::String(row.try_get_unchecked::<String, _>(index)?),
        "DATE" => zero_date_is_null(row.try_get::<Option<NaiveDate>, _>(index))?
            .map_or(Value::Null, date_value),
        "DATETIME" => zero_date_is_null(row.try_get::<Option<NaiveDateTime>, _>(index))?
            .map_or(Value::Null, naive_datetime_value),
        // sqlx sets the session time zone to UTC, so TIMESTAMP values are UTC instants.
        "TIMESTAMP" => zero_date_is_null(row.try_get::<Option<DateTime<Utc>>, _>(index))?
            .map_or(Value::Null, utc_datetime_value),
        // TIME is a duration (-838:59:59 to 838:59:59), not a time of day.
        "TIME" => Value::String(row.try_get::<MySqlTime, _>(index)?.to_string()),
        "JSON" => row.try_get_unchecked::<Value, _>(index)?,
        _ if is_text(ty) => {
            let text = row.try_get_unchecked::<String, _>(index)?;
            if json_text {
                json_text_value(&text)?
            } else {
                Value::String(text)
            }
        }
        _ => bytes_value(&row.try_get_unchecked::<Vec<u8>, _>(index)?),
    };
    Ok(value)
}

fn bind_key<'q>(
    endpoint: &Endpoint,
    query: sqlx::query::Query<'q, MySql, sqlx::mysql::MySqlArguments>,
    kind: KeyKind,
    bound: &LegacyKey,
) -> Result<sqlx::query::Query<'q, MySql, sqlx::mysql::MySqlArguments>, SourceError> {
    match (kind, bound) {
        (KeyKind::Int { .. }, LegacyKey::Int(i)) => Ok(query.bind(*i)),
        (KeyKind::Text, LegacyKey::Text(s)) => Ok(query.bind(s.clone())),
        (KeyKind::Int { .. }, LegacyKey::Text(s)) => Err(endpoint.query_error(format!(
            "range bound {s:?} is text but the key column is an integer"
        ))),
        (KeyKind::Text, LegacyKey::Int(i)) => Err(endpoint.query_error(format!(
            "range bound {i} is an integer but the key column is text"
        ))),
    }
}

#[async_trait]
impl Source for MysqlSource {
    fn name(&self) -> &str {
        &self.endpoint.source_name
    }

    async fn read(&self, range: &KeyRange, limit: usize) -> Result<Vec<LegacyRecord>, SourceError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let plan = self.plan().await?;
        let mut query = sqlx::query(plan.reads.pick(range).clone());
        for bound in range_bounds(range) {
            query = bind_key(&self.endpoint, query, plan.key, bound)?;
        }
        query = query.bind(limit_param(limit));
        self.records(plan, query, limit, range, "reading").await
    }

    async fn lookup(
        &self,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
        let column = self
            .selection
            .lookup_column(field)
            .map_err(|e| e.into_source_error(self.name()))?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let plan = self.plan().await?;
        let statement = plan.lookups.get_or_build(&column, || {
            let column = Selection::column_expr(&column, Q);
            plan.reads.lookup(&column, "LOWER", "?", "?")
        });
        let query = sqlx::query(statement)
            .bind(value.to_owned())
            .bind(limit_param(limit));
        let context = format!("looking up records by {field:?}");
        self.records(plan, query, limit, &KeyRange::default(), &context)
            .await
    }

    async fn healthcheck(&self) -> Result<(), SourceError> {
        self.read(&KeyRange::default(), 1).await?;
        let plan = self.plan().await?;
        let keys = (&plan.reads.null_key, &self.selection.key);
        let write_back = self.write_back.as_ref();
        write_back::check_keys_and_write_back(&self.pool, &self.endpoint, keys, write_back).await
    }

    async fn mark_migrated(&self, key: &LegacyKey, user: &str) -> Result<bool, SourceError> {
        let rows = sqlx::mysql::MySqlQueryResult::rows_affected;
        write_back::mark(self.write_back.as_ref(), &self.endpoint, (key, user), rows).await
    }

    async fn count(&self) -> Result<Option<u64>, SourceError> {
        let plan = self.plan().await?;
        let count: i64 = sqlx::query_scalar(plan.count.clone())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.endpoint.error("counting", e))?;
        Ok(u64::try_from(count).ok())
    }

    async fn key_bounds(&self) -> Result<Option<(LegacyKey, LegacyKey)>, SourceError> {
        let plan = self.plan().await?;
        let row = sqlx::query(plan.bounds.clone())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.endpoint.error("reading the key bounds", e))?;
        let get = |i: usize| -> Result<Option<LegacyKey>, SourceError> {
            let err = |e: sqlx::Error| self.endpoint.error("reading the key bounds", e);
            Ok(match plan.key {
                KeyKind::Int { unsigned: false } => row
                    .try_get::<Option<i64>, _>(i)
                    .map_err(err)?
                    .map(LegacyKey::Int),
                KeyKind::Int { unsigned: true } => row
                    .try_get::<Option<u64>, _>(i)
                    .map_err(err)?
                    .and_then(|k| i64::try_from(k).ok())
                    .map(LegacyKey::Int),
                KeyKind::Text => row
                    .try_get::<Option<String>, _>(i)
                    .map_err(err)?
                    .map(LegacyKey::Text),
            })
        };
        match (get(0)?, get(1)?) {
            (Some(low), Some(high)) => Ok(Some((low, high))),
            _ => Ok(None),
        }
    }
}
