//! A legacy users table (or query) in PostgreSQL.
//!
//! The first read prepares the selection once to learn its column types, then reads with one
//! fixed statement per range shape. Types with a JSON meaning of their own are decoded
//! natively; every other type (numeric, money, interval, inet, enums, domains...) is cast to
//! `text` by PostgreSQL itself, so numeric keeps every digit and nothing is undecodable;
//! arrays become JSON arrays through `to_jsonb`.
//!
//! [`lookup`](Source::lookup) filters with `lower(usher_src.<field>) = lower($1)` over the
//! same statement (see [the SQL module](super#lookups-by-login-identifier)); it scans unless
//! the table has an expression index: `CREATE INDEX ON users (lower(email));`. `lower()` folds
//! case by the database's locale (`ctype`), Unicode letters included under a UTF-8 locale.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgSslMode};
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::{
    Column as _, Executor as _, PgPool, Postgres, Row as _, SqlSafeStr as _, SqlStr,
    Statement as _, TypeInfo as _,
};
use tokio::sync::OnceCell;
use usher_core::{KeyRange, LegacyKey, LegacyRecord, Source, SourceError};

use super::{
    ConfigError, Endpoint, FieldsBuilder, LookupCache, ReadSql, Selection, SelectionSpec, TlsMode,
    bad_key, bytes_value, check_positive, check_scheme, check_tls_ca, check_url_choice, date_value,
    float_value, float32_value, json_text_value, limit_param, naive_datetime_value, range_bounds,
    resolve_url, time_value, utc_datetime_value, write_back,
};

const Q: char = '"';

/// `[sources.<name>]` with `type = "postgres"`.
///
/// ```toml
/// [sources.legacy]
/// type = "postgres"
/// url_file = "/run/secrets/legacy-db-url"   # or url = "postgres://..."
/// schema = "public"                          # optional
/// table = "users"                            # or query = "SELECT ... FROM ..."
/// key = "id"                                 # unique, non-NULL; integer, text or uuid
/// columns = ["id", "email", "password_hash"] # optional, default every column
/// max_connections = 4
/// statement_timeout_seconds = 60
/// tls = "verify-full"                        # disable | prefer | require | verify-ca | verify-full
/// tls_ca_file = "/etc/ssl/legacy-ca.pem"
/// # after a login migrated a user (optional; see the write_back module):
/// write_back = "UPDATE users SET migrated_at = now() WHERE id = :key"
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database?...`.
    pub url: Option<String>,
    /// A file holding the URL (a secret), read when the source is built.
    pub url_file: Option<PathBuf>,
    /// The table's schema; default: the connection's search path.
    pub schema: Option<String>,
    /// The table to read. Give this or `query`.
    pub table: Option<String>,
    /// A full SELECT, read as a subquery so the keyset filter still applies.
    pub query: Option<String>,
    /// The stable, unique, non-NULL key column records are read in order of.
    pub key: String,
    /// The columns to read; default every column.
    pub columns: Option<Vec<String>>,
    /// Text columns holding JSON documents, parsed into JSON (json/jsonb columns already are).
    #[serde(default)]
    pub json_columns: Vec<String>,
    /// Connections the source may hold open at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection before calling the source unavailable.
    #[serde(default = "default_connect_timeout_seconds")]
    pub connect_timeout_seconds: u64,
    /// PostgreSQL's `statement_timeout` for this source's sessions; default the server's.
    pub statement_timeout_seconds: Option<u64>,
    /// TLS mode; default what the URL says (`sslmode`), else `prefer`.
    pub tls: Option<TlsMode>,
    /// CA certificate (PEM) to verify the server with.
    pub tls_ca_file: Option<PathBuf>,
    /// A statement the login bridge runs after migrating a user, with `:key` and `:user_id`
    /// bound ([`super::write_back`]).
    pub write_back: Option<String>,
}

pub(crate) fn default_max_connections() -> u32 {
    4
}

pub(crate) fn default_connect_timeout_seconds() -> u64 {
    10
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
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

impl PostgresConfig {
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
            check_scheme("url", url, &["postgres", "postgresql"])?;
            PgConnectOptions::from_str(url).map_err(|e| {
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
        write_back::Statement::new(self.write_back.as_deref(), |i| format!("${i}"))
    }

    /// The source, with a pool that connects on first use (so building needs no server).
    pub async fn build(&self, name: &str) -> Result<PostgresSource, SourceError> {
        self.validate().map_err(|e| e.into_source_error(name))?;
        let url = resolve_url(self.url.as_deref(), self.url_file.as_deref())
            .map_err(|e| e.into_source_error(name))?;
        check_scheme("url_file", &url, &["postgres", "postgresql"])
            .map_err(|e| e.into_source_error(name))?;
        let endpoint = Endpoint::new(name, &url);
        let mut options = PgConnectOptions::from_str(&url).map_err(|e| endpoint.config_error(e))?;
        options = options.application_name("usher");
        if let Some(tls) = self.tls {
            options = options.ssl_mode(match tls {
                TlsMode::Disable => PgSslMode::Disable,
                TlsMode::Prefer => PgSslMode::Prefer,
                TlsMode::Require => PgSslMode::Require,
                TlsMode::VerifyCa => PgSslMode::VerifyCa,
                TlsMode::VerifyFull => PgSslMode::VerifyFull,
            });
        }
        if let Some(ca) = &self.tls_ca_file {
            options = options.ssl_root_cert(ca);
        }
        if let Some(seconds) = self.statement_timeout_seconds {
            options = options.options([("statement_timeout", format!("{seconds}s"))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(self.connect_timeout_seconds))
            .connect_lazy_with(options);
        Ok(PostgresSource {
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

/// A PostgreSQL table or query read as a [`Source`].
#[derive(Debug)]
pub struct PostgresSource {
    endpoint: Endpoint,
    pool: PgPool,
    selection: Selection,
    plan: OnceCell<Plan>,
    write_back: Option<write_back::On<Postgres>>,
}

#[derive(Debug)]
struct Plan {
    key: KeyKind,
    reads: ReadSql,
    /// The fields after the key, in select-list order.
    columns: Vec<PlannedColumn>,
    count: SqlStr,
    /// `Some` for a table: `pg_class.reltuples` for this relation name.
    estimate: Option<String>,
    bounds: SqlStr,
    /// Lookup statements by field, built from `reads` on first use.
    lookups: LookupCache,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Int,
    Text,
}

#[derive(Debug)]
struct PlannedColumn {
    name: String,
    sql_type: String,
    kind: Kind,
    json_text: bool,
}

/// How a column's value reaches JSON; `AsText` and `AsJson` columns are converted by the
/// server (`::text`, `to_jsonb`), so their rows carry TEXT and JSONB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    Json,
    Uuid,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    AsText,
    AsJson,
}

impl Kind {
    fn of(type_name: &str) -> Kind {
        match type_name {
            "BOOL" => Kind::Bool,
            "INT2" => Kind::Int2,
            "INT4" => Kind::Int4,
            "INT8" => Kind::Int8,
            "FLOAT4" => Kind::Float4,
            "FLOAT8" => Kind::Float8,
            "TEXT" | "VARCHAR" | "CHAR" | "NAME" => Kind::Text,
            "JSON" | "JSONB" => Kind::Json,
            "UUID" => Kind::Uuid,
            "BYTEA" => Kind::Bytea,
            "DATE" => Kind::Date,
            "TIME" => Kind::Time,
            "TIMESTAMP" => Kind::Timestamp,
            "TIMESTAMPTZ" => Kind::Timestamptz,
            name if name.ends_with("[]") => Kind::AsJson,
            _ => Kind::AsText,
        }
    }
}

/// Quotes a name the server reported (not from the config, so not an [`super::Ident`]).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql(text: String) -> SqlStr {
    sqlx::AssertSqlSafe(text).into_sql_str()
}

impl PostgresSource {
    async fn plan(&self) -> Result<&Plan, SourceError> {
        self.plan.get_or_try_init(|| self.make_plan()).await
    }

    async fn make_plan(&self) -> Result<Plan, SourceError> {
        let sel = &self.selection;
        let from = sel.relation_sql(Q);
        let key = sel.key_expr(Q);
        let probe = format!("SELECT {key}, {} {from}", sel.column_list(Q));
        let statement = self
            .pool
            .prepare(sql(probe))
            .await
            .map_err(|e| self.endpoint.error("preparing the read", e))?;
        let Some((key_column, field_columns)) = statement.columns().split_first() else {
            return Err(self.endpoint.query_error("the selection has no columns"));
        };
        let key_type = key_column.type_info().name().to_owned();
        let (key_kind, key_cast) = match key_type.as_str() {
            "INT2" | "INT4" | "INT8" => (KeyKind::Int, "int8"),
            "TEXT" => (KeyKind::Text, "text"),
            "VARCHAR" => (KeyKind::Text, "varchar"),
            "CHAR" => (KeyKind::Text, "bpchar"),
            "NAME" => (KeyKind::Text, "name"),
            "UUID" => (KeyKind::Text, "uuid"),
            other => {
                return Err(self.endpoint.config_error(format!(
                    "key column {:?} is {other}; a key must be an integer, text or uuid column (cast it in a `query`)",
                    sel.key.as_str()
                )));
            }
        };
        let mut select = match key_kind {
            KeyKind::Int => format!("SELECT ({key})::int8"),
            KeyKind::Text => format!("SELECT ({key})::text"),
        };
        let mut columns = Vec::with_capacity(field_columns.len());
        for column in field_columns {
            let name = column.name().to_owned();
            let sql_type = column.type_info().name().to_owned();
            let kind = Kind::of(&sql_type);
            let expr = format!("{}.{}", super::ALIAS, quote(&name));
            let projected = match kind {
                Kind::AsText => format!("({expr})::text AS {}", quote(&name)),
                Kind::AsJson => format!("to_jsonb({expr}) AS {}", quote(&name)),
                _ => expr,
            };
            select.push_str(", ");
            select.push_str(&projected);
            let json_text = sel.is_json_column(&name);
            columns.push(PlannedColumn {
                name,
                sql_type,
                kind,
                json_text,
            });
        }
        select.push(' ');
        select.push_str(&from);
        // The bound keeps its own type (int8, or text cast to the key's type) so the key's
        // index and collation apply.
        let reads = ReadSql::build(
            &select,
            &from,
            &key,
            |i| match key_kind {
                KeyKind::Int => format!("${i}"),
                KeyKind::Text => format!("CAST(${i} AS {key_cast})"),
            },
            |i| format!("${i}"),
        );
        let projected_key = match key_kind {
            KeyKind::Int => format!("({key})::int8"),
            KeyKind::Text => format!("({key})::text"),
        };
        let bounds = format!(
            "SELECT (SELECT {projected_key} {from} WHERE {key} IS NOT NULL ORDER BY {key} LIMIT 1), \
                    (SELECT {projected_key} {from} WHERE {key} IS NOT NULL ORDER BY {key} DESC LIMIT 1)"
        );
        let estimate = match &sel.relation {
            super::Relation::Table { schema, table } => Some(match schema {
                Some(schema) => format!("{}.{}", schema.quoted(Q), table.quoted(Q)),
                None => table.quoted(Q),
            }),
            super::Relation::Query(_) => None,
        };
        tracing::debug!(source = %self.endpoint.source_name, key = ?key_kind, columns = columns.len(), "Planned reads");
        Ok(Plan {
            key: key_kind,
            reads,
            columns,
            count: sql(format!("SELECT COUNT(*) {from}")),
            estimate,
            bounds: sql(bounds),
            lookups: LookupCache::default(),
        })
    }

    /// Runs a read or a lookup and turns its rows into records as they arrive; LIMIT bounds
    /// the rest. `range` only names where a bad key was met.
    async fn records(
        &self,
        plan: &Plan,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
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

    fn record(
        &self,
        plan: &Plan,
        row: &PgRow,
        range: &KeyRange,
    ) -> Result<LegacyRecord, SourceError> {
        let key = match plan.key {
            KeyKind::Int => row
                .try_get::<Option<i64>, _>(0)
                .map(|k| k.map(LegacyKey::Int)),
            KeyKind::Text => row
                .try_get::<Option<String>, _>(0)
                .map(|k| k.map(LegacyKey::Text)),
        }
        .map_err(|e| bad_key(&self.endpoint, range, &self.selection.key, e))?
        .ok_or_else(|| bad_key(&self.endpoint, range, &self.selection.key, "is NULL"))?;
        let mut fields = FieldsBuilder::new(&self.endpoint, &key);
        for (index, column) in (1..).zip(&plan.columns) {
            let value = decode(row, index, column.kind)
                .map_err(|e| fields.undecodable(&column.name, &column.sql_type, e))?;
            let value = match value {
                Value::String(text) if column.json_text => json_text_value(&text)
                    .map_err(|e| fields.undecodable(&column.name, &column.sql_type, e))?,
                other => other,
            };
            fields.insert(&column.name, value)?;
        }
        Ok(LegacyRecord {
            fields: fields.finish(),
            key,
        })
    }
}

fn decode(row: &PgRow, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    fn get<'r, T>(row: &'r PgRow, index: usize) -> Result<Option<T>, sqlx::Error>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        row.try_get::<Option<T>, _>(index)
    }
    let value = match kind {
        Kind::Bool => get::<bool>(row, index)?.map(Value::Bool),
        Kind::Int2 => get::<i16>(row, index)?.map(Value::from),
        Kind::Int4 => get::<i32>(row, index)?.map(Value::from),
        Kind::Int8 => get::<i64>(row, index)?.map(Value::from),
        Kind::Float4 => get::<f32>(row, index)?.map(float32_value),
        Kind::Float8 => get::<f64>(row, index)?.map(float_value),
        Kind::Text | Kind::AsText => get::<String>(row, index)?.map(Value::String),
        Kind::Json | Kind::AsJson => get::<Value>(row, index)?,
        Kind::Uuid => get::<Uuid>(row, index)?.map(|u| Value::String(u.to_string())),
        Kind::Bytea => get::<Vec<u8>>(row, index)?.map(|b| bytes_value(&b)),
        Kind::Date => get::<NaiveDate>(row, index)?.map(date_value),
        Kind::Time => get::<NaiveTime>(row, index)?.map(time_value),
        Kind::Timestamp => get::<NaiveDateTime>(row, index)?.map(naive_datetime_value),
        Kind::Timestamptz => get::<DateTime<Utc>>(row, index)?.map(utc_datetime_value),
    };
    Ok(value.unwrap_or(Value::Null))
}

fn bind_key<'q>(
    endpoint: &Endpoint,
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    kind: KeyKind,
    bound: &LegacyKey,
) -> Result<sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>, SourceError> {
    match (kind, bound) {
        (KeyKind::Int, LegacyKey::Int(i)) => Ok(query.bind(*i)),
        (KeyKind::Text, LegacyKey::Text(s)) => Ok(query.bind(s.clone())),
        (KeyKind::Int, LegacyKey::Text(s)) => Err(endpoint.query_error(format!(
            "range bound {s:?} is text but the key column is an integer"
        ))),
        (KeyKind::Text, LegacyKey::Int(i)) => Err(endpoint.query_error(format!(
            "range bound {i} is an integer but the key column is text"
        ))),
    }
}

#[async_trait]
impl Source for PostgresSource {
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
        let statement = lookup_sql(plan, &column);
        let query = sqlx::query(statement)
            .bind(value.to_owned())
            .bind(limit_param(limit));
        let context = format!("looking up records by {field:?}");
        self.records(plan, query, limit, &KeyRange::default(), &context)
            .await
    }

    async fn lookup_statement(&self, field: &str) -> Result<Option<String>, SourceError> {
        let column = self
            .selection
            .lookup_column(field)
            .map_err(|e| e.into_source_error(self.name()))?;
        let plan = self.plan().await?;
        Ok(Some(lookup_sql(plan, &column).as_str().to_owned()))
    }

    async fn healthcheck(&self) -> Result<(), SourceError> {
        self.read(&KeyRange::default(), 1).await?;
        let plan = self.plan().await?;
        let keys = (&plan.reads.null_key, &self.selection.key);
        let write_back = self.write_back.as_ref();
        write_back::check_keys_and_write_back(&self.pool, &self.endpoint, keys, write_back).await
    }

    async fn mark_migrated(&self, key: &LegacyKey, user: &str) -> Result<bool, SourceError> {
        let rows = sqlx::postgres::PgQueryResult::rows_affected;
        write_back::mark(self.write_back.as_ref(), &self.endpoint, (key, user), rows).await
    }

    async fn count(&self) -> Result<Option<u64>, SourceError> {
        let plan = self.plan().await?;
        if let Some(relation) = &plan.estimate {
            // The planner's estimate, kept fresh by autovacuum; -1 (never analyzed) or 0
            // (maybe stale) fall through to an exact count.
            let estimate: Option<f32> = sqlx::query_scalar(
                "SELECT c.reltuples FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
            )
            .bind(relation.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.endpoint.error("estimating the row count", e))?
            .flatten();
            if let Some(estimate) = estimate.filter(|e| *e >= 1.0) {
                let rounded = format!("{estimate:.0}").parse::<u64>().ok();
                if rounded.is_some() {
                    return Ok(rounded);
                }
            }
        }
        let count: i64 = sqlx::query_scalar(plan.count.clone())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.endpoint.error("counting", e))?;
        Ok(u64::try_from(count).ok())
    }

    async fn key_bounds(&self) -> Result<Option<(LegacyKey, LegacyKey)>, SourceError> {
        let plan = self.plan().await?;
        let query = sqlx::query(plan.bounds.clone());
        let row = query
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.endpoint.error("reading the key bounds", e))?;
        let bounds = match plan.key {
            KeyKind::Int => (
                row.try_get::<Option<i64>, _>(0)
                    .map(|k| k.map(LegacyKey::Int)),
                row.try_get::<Option<i64>, _>(1)
                    .map(|k| k.map(LegacyKey::Int)),
            ),
            KeyKind::Text => (
                row.try_get::<Option<String>, _>(0)
                    .map(|k| k.map(LegacyKey::Text)),
                row.try_get::<Option<String>, _>(1)
                    .map(|k| k.map(LegacyKey::Text)),
            ),
        };
        match bounds {
            (Ok(Some(low)), Ok(Some(high))) => Ok(Some((low, high))),
            (Ok(_), Ok(_)) => Ok(None),
            (Err(e), _) | (_, Err(e)) => Err(self.endpoint.error("reading the key bounds", e)),
        }
    }
}

/// The statement a lookup by `column` runs (built once per column).
fn lookup_sql(plan: &Plan, column: &super::Ident) -> SqlStr {
    plan.lookups.get_or_build(column, || {
        let column = Selection::column_expr(column, Q);
        plan.reads.lookup(&column, "lower", "$1", "$2")
    })
}
