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

use std::str::FromStr as _;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlQueryResult, MySqlRow, MySqlSslMode, MySqlTypeInfo};
use sqlx::pool::PoolOptions;
use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::{
    Column as _, Executor as _, MySql, MySqlPool, Row as _, SqlSafeStr as _, Statement as _,
    TypeInfo as _, ValueRef as _,
};
use usher_core::{LegacyKey, SourceError};

use super::source::{
    Dialect, Endpoint, FieldsBuilder, KeyType, Planned, Pools, Target, sql_config,
};
use super::value::{
    bytes_value, date_value, float_value, float32_value, json_text_value, naive_datetime_value,
    utc_datetime_value,
};
use super::{Relation, Selection, SqlConnection, SqlSelection, TlsMode};

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "super::connection::SqlTable")]
pub struct MysqlConfig {
    /// Where and how to connect (`url` or `url_file`, pool, timeouts, TLS).
    pub connection: SqlConnection,
    /// What to read (`schema` (the database), `table` or `query`, `key`, `columns`,
    /// `json_columns`).
    pub selection: SqlSelection,
    /// A statement the login bridge runs after migrating a user, with `:key` and `:user_id`
    /// bound ([`super::write_back`]).
    pub write_back: Option<String>,
    /// The other writes to legacy, `[sources.<name>.writes]` ([`super::write_back`]).
    pub writes: Option<super::write_back::SqlWrites>,
}

sql_config!(MysqlConfig, My, server);

/// MySQL's and MariaDB's ways.
#[derive(Debug)]
pub(crate) struct My;

/// What the first read learns: the key's type, and which text columns hold JSON.
#[derive(Debug)]
pub(crate) struct Columns {
    key: KeyKind,
    json: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Int { unsigned: bool },
    Text,
}

fn is_text(ty: &MySqlTypeInfo) -> bool {
    <String as sqlx::Type<MySql>>::compatible(ty)
}

#[async_trait]
impl Dialect for My {
    type Db = MySql;
    type Columns = Columns;
    const SCHEMES: &'static [&'static str] = &["mysql", "mariadb"];
    const QUOTE: char = Q;
    const INSERT_IGNORE: super::write_back::InsertIgnore = ("INSERT IGNORE INTO", "");
    const LOWER: &'static str = "LOWER";

    fn placeholder(_: usize) -> String {
        "?".to_owned()
    }

    fn check_url(url: &str) -> Result<(), sqlx::Error> {
        MySqlConnectOptions::from_str(url).map(drop)
    }

    fn connect(
        target: Target<'_>,
        connection: &SqlConnection,
        mut pool: PoolOptions<MySql>,
        _write_back: bool,
    ) -> Result<Pools<MySql>, sqlx::Error> {
        let Target::Url(url) = target else {
            return Err(sqlx::Error::Configuration("MySQL needs a URL".into()));
        };
        let mut options = MySqlConnectOptions::from_str(url)?;
        if let Some(tls) = connection.tls {
            options = options.ssl_mode(match tls {
                TlsMode::Disable => MySqlSslMode::Disabled,
                TlsMode::Prefer => MySqlSslMode::Preferred,
                TlsMode::Require => MySqlSslMode::Required,
                TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
                TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
            });
        }
        if let Some(ca) = &connection.tls_ca_file {
            options = options.ssl_ca(ca);
        }
        if let Some(seconds) = connection.statement_timeout_seconds {
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
        Ok((pool.connect_lazy_with(options), None))
    }

    async fn plan(
        pool: &MySqlPool,
        endpoint: &Endpoint,
        sel: &Selection,
    ) -> Result<Planned<Columns>, SourceError> {
        let from = sel.relation_sql(Q);
        let key = sel.key_expr(Q);
        let probe = format!("SELECT {key} {from}");
        let statement = pool
            .prepare(sqlx::AssertSqlSafe(probe).into_sql_str())
            .await
            .map_err(|e| endpoint.error("preparing the read", e))?;
        let Some(key_type) = statement.columns().first().map(|c| c.type_info().clone()) else {
            return Err(endpoint.query_error("the key column is missing"));
        };
        let key_kind = match key_type.name() {
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
                KeyKind::Int { unsigned: false }
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" => KeyKind::Int { unsigned: true },
            _ if is_text(&key_type) => KeyKind::Text,
            other => {
                return Err(endpoint.config_error(format!(
                    "key column {:?} is {other}; a key must be an integer or text column (convert it in a `query`, e.g. HEX(id))",
                    sel.key.as_str()
                )));
            }
        };
        let mut json: Vec<String> = sel
            .json_columns
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        json.extend(mariadb_json_columns(pool, endpoint, sel).await?);
        Ok(Planned {
            key,
            fields: sel.column_list(Q),
            key_type: Some(match key_kind {
                KeyKind::Int { .. } => KeyType::Int,
                KeyKind::Text => KeyType::Text,
            }),
            key_cast: None,
            columns: Columns {
                key: key_kind,
                json,
            },
        })
    }

    fn key(columns: &Columns, row: &MySqlRow, index: usize) -> Result<Option<LegacyKey>, String> {
        match columns.key {
            KeyKind::Int { unsigned: false } => row
                .try_get::<Option<i64>, _>(index)
                .map_err(|e| e.to_string())
                .map(|k| k.map(LegacyKey::Int)),
            KeyKind::Int { unsigned: true } => row
                .try_get::<Option<u64>, _>(index)
                .map_err(|e| e.to_string())?
                .map(|k| i64::try_from(k).map(LegacyKey::Int))
                .transpose()
                .map_err(|_| "is larger than 2^63-1".to_owned()),
            KeyKind::Text => row
                .try_get::<Option<String>, _>(index)
                .map_err(|e| e.to_string())
                .map(|k| k.map(LegacyKey::Text)),
        }
    }

    fn fields(
        columns: &Columns,
        row: &MySqlRow,
        fields: &mut FieldsBuilder<'_>,
    ) -> Result<(), SourceError> {
        for (index, column) in row.columns().iter().enumerate().skip(1) {
            let name = column.name();
            let ty = column.type_info();
            let json_text = columns.json.iter().any(|j| j == name);
            let value = decode(row, index, ty, json_text)
                .map_err(|e| fields.undecodable(name, ty.name(), e))?;
            fields.insert(name, value)?;
        }
        Ok(())
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// MariaDB's `JSON` is LONGTEXT plus a `json_valid(col)` check constraint, which
/// `information_schema.CHECK_CONSTRAINTS` lists (with a TABLE_NAME column MySQL lacks).
async fn mariadb_json_columns(
    pool: &MySqlPool,
    endpoint: &Endpoint,
    selection: &Selection,
) -> Result<Vec<String>, SourceError> {
    let Relation::Table { schema, table } = &selection.relation else {
        return Ok(Vec::new());
    };
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(pool)
        .await
        .map_err(|e| endpoint.error("asking the server version", e))?;
    if !version.contains("MariaDB") {
        return Ok(Vec::new());
    }
    let clauses: Vec<String> = sqlx::query_scalar(
        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
    )
    .bind(schema.as_ref().map(|s| s.as_str().to_owned()))
    .bind(table.as_str().to_owned())
    .fetch_all(pool)
    .await
    .map_err(|e| endpoint.error("looking up JSON columns", e))?;
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
