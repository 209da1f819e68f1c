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

use std::str::FromStr as _;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgQueryResult, PgRow, PgSslMode};
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::{
    Column as _, Executor as _, PgPool, Postgres, Row as _, SqlSafeStr as _, Statement as _,
    TypeInfo as _,
};
use usher_core::{LegacyKey, SourceError};

use super::source::{
    Dialect, Endpoint, FieldsBuilder, KeyType, Planned, Pools, Target, sql_config,
};
use super::value::{
    bytes_value, date_value, float_value, float32_value, json_text_value, naive_datetime_value,
    time_value, utc_datetime_value,
};
use super::{ALIAS, Relation, Selection, SqlConnection, SqlSelection, TlsMode};

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "super::connection::SqlTable")]
pub struct PostgresConfig {
    /// Where and how to connect (`url` or `url_file`, pool, timeouts, TLS).
    pub connection: SqlConnection,
    /// What to read (`schema`, `table` or `query`, `key`, `columns`, `json_columns`).
    pub selection: SqlSelection,
    /// A statement the login bridge runs after migrating a user, with `:key` and `:user_id`
    /// bound ([`super::write_back`]).
    pub write_back: Option<String>,
    /// The other writes to legacy, `[sources.<name>.writes]` ([`super::write_back`]).
    pub writes: Option<super::write_back::SqlWrites>,
}

sql_config!(PostgresConfig, Pg, server);

/// PostgreSQL's ways.
#[derive(Debug)]
pub(crate) struct Pg;

/// The key's type: integers are read as `int8`, text-like keys as `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Int,
    Text,
}

/// The fields after the key, in select-list order.
#[derive(Debug)]
pub(crate) struct Columns {
    key: KeyKind,
    fields: Vec<PlannedColumn>,
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

#[async_trait]
impl Dialect for Pg {
    type Db = Postgres;
    type Columns = Columns;
    const SCHEMES: &'static [&'static str] = &["postgres", "postgresql"];
    const QUOTE: char = Q;
    const INSERT_IGNORE: super::write_back::InsertIgnore =
        ("INSERT INTO", " ON CONFLICT DO NOTHING");
    const LOWER: &'static str = "lower";

    fn placeholder(i: usize) -> String {
        format!("${i}")
    }

    fn check_url(url: &str) -> Result<(), sqlx::Error> {
        PgConnectOptions::from_str(url).map(drop)
    }

    fn connect(
        target: Target<'_>,
        connection: &SqlConnection,
        pool: PoolOptions<Postgres>,
        _write_back: bool,
    ) -> Result<Pools<Postgres>, sqlx::Error> {
        let Target::Url(url) = target else {
            return Err(sqlx::Error::Configuration("PostgreSQL needs a URL".into()));
        };
        let mut options = PgConnectOptions::from_str(url)?.application_name("usher");
        if let Some(tls) = connection.tls {
            options = options.ssl_mode(match tls {
                TlsMode::Disable => PgSslMode::Disable,
                TlsMode::Prefer => PgSslMode::Prefer,
                TlsMode::Require => PgSslMode::Require,
                TlsMode::VerifyCa => PgSslMode::VerifyCa,
                TlsMode::VerifyFull => PgSslMode::VerifyFull,
            });
        }
        if let Some(ca) = &connection.tls_ca_file {
            options = options.ssl_root_cert(ca);
        }
        if let Some(seconds) = connection.statement_timeout_seconds {
            options = options.options([("statement_timeout", format!("{seconds}s"))]);
        }
        Ok((pool.connect_lazy_with(options), None))
    }

    /// Prepares the selection once to learn its column types.
    async fn plan(
        pool: &PgPool,
        endpoint: &Endpoint,
        sel: &Selection,
    ) -> Result<Planned<Columns>, SourceError> {
        let from = sel.relation_sql(Q);
        let key = sel.key_expr(Q);
        let probe = format!("SELECT {key}, {} {from}", sel.column_list(Q));
        let statement = pool
            .prepare(sqlx::AssertSqlSafe(probe).into_sql_str())
            .await
            .map_err(|e| endpoint.error("preparing the read", e))?;
        let Some((key_column, field_columns)) = statement.columns().split_first() else {
            return Err(endpoint.query_error("the selection has no columns"));
        };
        let key_type = key_column.type_info().name().to_owned();
        let (key_kind, key_cast) = match key_type.as_str() {
            "INT2" | "INT4" | "INT8" => (KeyKind::Int, None),
            "TEXT" => (KeyKind::Text, Some("text")),
            "VARCHAR" => (KeyKind::Text, Some("varchar")),
            "CHAR" => (KeyKind::Text, Some("bpchar")),
            "NAME" => (KeyKind::Text, Some("name")),
            "UUID" => (KeyKind::Text, Some("uuid")),
            other => {
                return Err(endpoint.config_error(format!(
                    "key column {:?} is {other}; a key must be an integer, text or uuid column (cast it in a `query`)",
                    sel.key.as_str()
                )));
            }
        };
        let mut projections = Vec::with_capacity(field_columns.len());
        let mut fields = Vec::with_capacity(field_columns.len());
        for column in field_columns {
            let name = column.name().to_owned();
            let sql_type = column.type_info().name().to_owned();
            let kind = Kind::of(&sql_type);
            let expr = format!("{ALIAS}.{}", quote(&name));
            projections.push(match kind {
                Kind::AsText => format!("({expr})::text AS {}", quote(&name)),
                Kind::AsJson => format!("to_jsonb({expr}) AS {}", quote(&name)),
                _ => expr,
            });
            let json_text = sel.is_json_column(&name);
            fields.push(PlannedColumn {
                name,
                sql_type,
                kind,
                json_text,
            });
        }
        // The bound keeps its own type (int8, or text cast to the key's type) so the key's
        // index and collation apply.
        let (key, key_type) = match key_kind {
            KeyKind::Int => (format!("({key})::int8"), KeyType::Int),
            KeyKind::Text => (format!("({key})::text"), KeyType::Text),
        };
        Ok(Planned {
            key,
            fields: projections.join(", "),
            key_type: Some(key_type),
            key_cast,
            columns: Columns {
                key: key_kind,
                fields,
            },
        })
    }

    fn key(columns: &Columns, row: &PgRow, index: usize) -> Result<Option<LegacyKey>, String> {
        match columns.key {
            KeyKind::Int => row
                .try_get::<Option<i64>, _>(index)
                .map(|k| k.map(LegacyKey::Int)),
            KeyKind::Text => row
                .try_get::<Option<String>, _>(index)
                .map(|k| k.map(LegacyKey::Text)),
        }
        .map_err(|e| e.to_string())
    }

    fn fields(
        columns: &Columns,
        row: &PgRow,
        fields: &mut FieldsBuilder<'_>,
    ) -> Result<(), SourceError> {
        for (index, column) in (1..).zip(&columns.fields) {
            let value = decode(row, index, column.kind)
                .map_err(|e| fields.undecodable(&column.name, &column.sql_type, e))?;
            let value = match value {
                Value::String(text) if column.json_text => json_text_value(&text)
                    .map_err(|e| fields.undecodable(&column.name, &column.sql_type, e))?,
                other => other,
            };
            fields.insert(&column.name, value)?;
        }
        Ok(())
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// For a table, the planner's estimate, kept fresh by autovacuum; -1 (never analyzed)
    /// or 0 (maybe stale) fall through to an exact count.
    async fn estimate(
        pool: &PgPool,
        endpoint: &Endpoint,
        sel: &Selection,
    ) -> Result<Option<u64>, SourceError> {
        let Relation::Table { schema, table } = &sel.relation else {
            return Ok(None);
        };
        let relation = match schema {
            Some(schema) => format!("{}.{}", schema.quoted(Q), table.quoted(Q)),
            None => table.quoted(Q),
        };
        let estimate: Option<f32> = sqlx::query_scalar(
            "SELECT c.reltuples FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
        )
        .bind(relation)
        .fetch_optional(pool)
        .await
        .map_err(|e| endpoint.error("estimating the row count", e))?
        .flatten();
        Ok(estimate
            .filter(|e| *e >= 1.0)
            .and_then(|e| format!("{e:.0}").parse::<u64>().ok()))
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
