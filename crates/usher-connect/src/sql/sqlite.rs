//! A legacy users table (or query) in an SQLite file, read through read-only connections (a
//! `write_back`, if configured, runs on a read-write connection of its own).
//!
//! SQLite types values, not columns, so each value maps by what it holds: INTEGER → number
//! (boolean for 0/1 in a column declared BOOL/BOOLEAN), REAL → number, TEXT → string as
//! stored (dates stay in whatever text form the application wrote), BLOB → base64. Text in a
//! column declared JSON (table sources) or listed in `json_columns` is parsed into JSON.
//!
//! [`lookup`](Source::lookup) filters with `lower(usher_src."<field>") = lower(?1)` over the
//! same statement (see [the SQL module](super#lookups-by-login-identifier)); it scans unless
//! the table has an expression index, `CREATE INDEX users_email_lower ON users
//! (lower(email));`. SQLite's built-in `lower()` folds ASCII letters only (unless the ICU
//! extension is loaded): `ÉMILE@example.com` does not find `émile@example.com`, while
//! `EMILE@example.com` finds `emile@example.com`.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteQueryResult, SqliteRow};
use sqlx::{
    Column as _, Executor as _, Row as _, SqlSafeStr as _, Sqlite, SqlitePool, Statement as _,
    TypeInfo as _, ValueRef as _,
};
use usher_core::{LegacyKey, SourceError};

use super::source::{Dialect, Endpoint, FieldsBuilder, Planned, Pools, Target, sql_config};
use super::value::{bytes_value, float_value, json_text_value};
use super::{Relation, Selection, SqlConnection, SqlSelection};

const Q: char = '"';

/// `[sources.<name>]` with `type = "sqlite"`.
///
/// ```toml
/// [sources.legacy]
/// type = "sqlite"
/// path = "/var/lib/app/app.db"
/// table = "users"                  # or query = "SELECT ... FROM ..."
/// key = "id"
/// columns = ["id", "email", "pw"] # optional, default every column
/// json_columns = ["prefs"]         # optional; columns declared JSON are found by themselves
/// max_connections = 2
/// # after a login migrated a user (optional; opens the file read-write for this alone):
/// write_back = "UPDATE users SET migrated_at = datetime('now') WHERE id = :key"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "super::connection::SqlTable")]
pub struct SqliteConfig {
    /// The database file. It is opened read-only and never created.
    pub path: PathBuf,
    /// The pool (`max_connections`, `connect_timeout_seconds`: also how long to wait for a
    /// writer's lock); a file has no URL, statement timeout or TLS.
    pub connection: SqlConnection,
    /// What to read (`table` or `query`, `key`, `columns`, `json_columns`; no `schema`).
    pub selection: SqlSelection,
    /// A statement the login bridge runs after migrating a user, with `:key` and `:user_id`
    /// bound ([`super::write_back`]). It runs on a connection of its own that may write;
    /// reads stay read-only.
    pub write_back: Option<String>,
    /// The other writes to legacy, `[sources.<name>.writes]` ([`super::write_back`]).
    pub writes: Option<super::write_back::SqlWrites>,
}

sql_config!(SqliteConfig, Lite, file, path);

/// SQLite's ways.
#[derive(Debug)]
pub(crate) struct Lite;

/// What the first read learns: the text columns holding JSON, the integer columns holding
/// booleans.
#[derive(Debug)]
pub(crate) struct Columns {
    json: Vec<String>,
    boolean: Vec<String>,
}

#[async_trait]
impl Dialect for Lite {
    type Db = Sqlite;
    type Columns = Columns;
    const SCHEMES: &'static [&'static str] = &[];
    const QUOTE: char = Q;
    const INSERT_IGNORE: super::write_back::InsertIgnore =
        ("INSERT INTO", " ON CONFLICT DO NOTHING");
    const LOWER: &'static str = "lower";

    fn placeholder(i: usize) -> String {
        format!("?{i}")
    }

    fn check_url(_: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Read-only connections; a write-back gets a read-write one of its own.
    fn connect(
        target: Target<'_>,
        connection: &SqlConnection,
        pool: PoolOptions<Sqlite>,
        write_back: bool,
    ) -> Result<Pools<Sqlite>, sqlx::Error> {
        let Target::File(path) = target else {
            return Err(sqlx::Error::Configuration("SQLite needs a file".into()));
        };
        let timeout = std::time::Duration::from_secs(connection.connect_timeout_seconds);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(timeout);
        let read = pool.connect_lazy_with(options.clone());
        // One writer is all SQLite allows at a time anyway.
        let write = write_back.then(|| {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(timeout)
                .connect_lazy_with(options.read_only(false))
        });
        Ok((read, write))
    }

    async fn plan(
        pool: &SqlitePool,
        endpoint: &Endpoint,
        sel: &Selection,
    ) -> Result<Planned<Columns>, SourceError> {
        let mut json: Vec<String> = sel
            .json_columns
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let mut boolean = Vec::new();
        if let Relation::Table { table, .. } = &sel.relation {
            // Declared types, which sqlx does not report for JSON.
            let declared: Vec<(String, String)> =
                sqlx::query_as("SELECT name, type FROM pragma_table_info(?1)")
                    .bind(table.as_str().to_owned())
                    .fetch_all(pool)
                    .await
                    .map_err(|e| endpoint.error("reading the table's columns", e))?;
            if declared.is_empty() {
                return Err(endpoint.query_error(format!("no such table: {:?}", table.as_str())));
            }
            for (name, declared_type) in declared {
                let upper = declared_type.to_ascii_uppercase();
                if upper.contains("JSON") {
                    json.push(name);
                } else if upper.contains("BOOL") {
                    boolean.push(name);
                }
            }
        } else {
            // Checks the query now, and finds the BOOLEAN columns it passes through.
            let select = format!(
                "SELECT {}, {} {}",
                sel.key_expr(Q),
                sel.column_list(Q),
                sel.relation_sql(Q)
            );
            let statement = pool
                .prepare(sqlx::AssertSqlSafe(select).into_sql_str())
                .await
                .map_err(|e| endpoint.error("preparing the read", e))?;
            boolean.extend(
                statement
                    .columns()
                    .iter()
                    .skip(1)
                    .filter(|c| c.type_info().name() == "BOOLEAN")
                    .map(|c| c.name().to_owned()),
            );
        }
        Ok(Planned {
            key: sel.key_expr(Q),
            fields: sel.column_list(Q),
            key_type: None,
            key_cast: None,
            columns: Columns { json, boolean },
        })
    }

    fn key(_: &Columns, row: &SqliteRow, index: usize) -> Result<Option<LegacyKey>, String> {
        key_at(row, index)
    }

    fn fields(
        columns: &Columns,
        row: &SqliteRow,
        fields: &mut FieldsBuilder<'_>,
    ) -> Result<(), SourceError> {
        for (index, column) in row.columns().iter().enumerate().skip(1) {
            let name = column.name();
            let json = columns.json.iter().any(|c| c == name);
            let boolean = columns.boolean.iter().any(|c| c == name);
            let value = decode(row, index, json, boolean)
                .map_err(|(ty, e)| fields.undecodable(name, &ty, e))?;
            fields.insert(name, value)?;
        }
        Ok(())
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The key of a row: SQLite's keys are typed by value, so an INTEGER is an integer key and a
/// TEXT a text key, whatever the column says.
fn key_at(row: &SqliteRow, index: usize) -> Result<Option<LegacyKey>, String> {
    let raw = row.try_get_raw(index).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(None);
    }
    let storage = raw.type_info().name().to_owned();
    match storage.as_str() {
        "INTEGER" => row
            .try_get_unchecked::<i64, _>(index)
            .map(|k| Some(LegacyKey::Int(k)))
            .map_err(|e| e.to_string()),
        "TEXT" => row
            .try_get_unchecked::<String, _>(index)
            .map(|k| Some(LegacyKey::Text(k)))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "holds a {other} value; a key must be INTEGER or TEXT"
        )),
    }
}

fn decode(
    row: &SqliteRow,
    index: usize,
    json: bool,
    boolean: bool,
) -> Result<Value, (String, String)> {
    let raw = row
        .try_get_raw(index)
        .map_err(|e| ("?".to_owned(), e.to_string()))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_owned();
    let fail = |e: &dyn std::fmt::Display| (storage.clone(), e.to_string());
    // Unchecked: the storage class was read off the value itself.
    Ok(match storage.as_str() {
        "INTEGER" | "BOOLEAN" => {
            let n = row
                .try_get_unchecked::<i64, _>(index)
                .map_err(|e| fail(&e))?;
            match n {
                0 if boolean => Value::Bool(false),
                1 if boolean => Value::Bool(true),
                n => Value::from(n),
            }
        }
        "REAL" => float_value(
            row.try_get_unchecked::<f64, _>(index)
                .map_err(|e| fail(&e))?,
        ),
        "BLOB" => bytes_value(
            &row.try_get_unchecked::<Vec<u8>, _>(index)
                .map_err(|e| fail(&e))?,
        ),
        _ => {
            let text = row
                .try_get_unchecked::<String, _>(index)
                .map_err(|e| fail(&e))?;
            if json {
                json_text_value(&text).map_err(|e| fail(&e))?
            } else {
                Value::String(text)
            }
        }
    })
}
