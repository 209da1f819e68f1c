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
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{
    Column as _, Executor as _, Row as _, SqlSafeStr as _, SqlStr, Sqlite, SqlitePool,
    Statement as _, TypeInfo as _, ValueRef as _,
};
use tokio::sync::OnceCell;
use usher_core::{KeyRange, LegacyKey, LegacyRecord, Source, SourceError};

use super::postgres::{default_connect_timeout_seconds, default_max_connections};
use super::{
    ConfigError, Endpoint, FieldsBuilder, LookupCache, ReadSql, Relation, Selection, SelectionSpec,
    bad_key, bytes_value, check_positive, float_value, json_text_value, limit_param, range_bounds,
    write_back,
};

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
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// The database file. It is opened read-only and never created.
    pub path: PathBuf,
    /// The table to read. Give this or `query`.
    pub table: Option<String>,
    /// A full SELECT, read as a subquery so the keyset filter still applies.
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
    /// How long to wait for a connection (or a writer's lock) before giving up.
    #[serde(default = "default_connect_timeout_seconds")]
    pub connect_timeout_seconds: u64,
    /// A statement the login bridge runs after migrating a user, with `:key` and `:user_id`
    /// bound ([`super::write_back`]). It runs on a connection of its own that may write;
    /// reads stay read-only.
    pub write_back: Option<String>,
}

impl SqliteConfig {
    fn selection(&self) -> Result<Selection, ConfigError> {
        Selection::parse(&SelectionSpec {
            schema: None,
            table: self.table.as_deref(),
            query: self.query.as_deref(),
            key: &self.key,
            columns: self.columns.as_deref(),
            json_columns: &self.json_columns,
        })
    }

    /// Checks the configuration without opening the file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::new("path", "is empty"));
        }
        self.selection()?;
        check_positive("max_connections", u64::from(self.max_connections))?;
        check_positive("connect_timeout_seconds", self.connect_timeout_seconds)?;
        self.write_back_statement().map(drop)
    }

    fn write_back_statement(&self) -> Result<Option<write_back::Statement>, ConfigError> {
        write_back::Statement::new(self.write_back.as_deref(), |i| format!("?{i}"))
    }

    /// The source, with a pool that opens the file on first use.
    pub async fn build(&self, name: &str) -> Result<SqliteSource, SourceError> {
        self.validate().map_err(|e| e.into_source_error(name))?;
        let timeout = Duration::from_secs(self.connect_timeout_seconds);
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(timeout)
            .connect_lazy_with(options.clone());
        // One writer is all SQLite allows at a time anyway.
        let write_back = self
            .write_back_statement()
            .map_err(|e| e.into_source_error(name))?
            .map(|statement| write_back::On {
                statement,
                pool: SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(options.read_only(false)),
            });
        Ok(SqliteSource {
            endpoint: Endpoint::new(name, &format!("sqlite://{}", self.path.display())),
            pool,
            selection: self.selection().map_err(|e| e.into_source_error(name))?,
            plan: OnceCell::new(),
            write_back,
        })
    }
}

/// An SQLite table or query read as a [`Source`].
#[derive(Debug)]
pub struct SqliteSource {
    endpoint: Endpoint,
    pool: SqlitePool,
    selection: Selection,
    plan: OnceCell<Plan>,
    /// On a read-write connection of its own.
    write_back: Option<write_back::On<Sqlite>>,
}

#[derive(Debug)]
struct Plan {
    reads: ReadSql,
    json_columns: Vec<String>,
    bool_columns: Vec<String>,
    count: SqlStr,
    bounds: SqlStr,
    /// Lookup statements by field, built from `reads` on first use.
    lookups: LookupCache,
}

fn sql(text: String) -> SqlStr {
    sqlx::AssertSqlSafe(text).into_sql_str()
}

impl SqliteSource {
    async fn plan(&self) -> Result<&Plan, SourceError> {
        self.plan.get_or_try_init(|| self.make_plan()).await
    }

    async fn make_plan(&self) -> Result<Plan, SourceError> {
        let sel = &self.selection;
        let from = sel.relation_sql(Q);
        let key = sel.key_expr(Q);
        let select = format!("SELECT {key}, {} {from}", sel.column_list(Q));
        let mut json_columns: Vec<String> = sel
            .json_columns
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let mut bool_columns = Vec::new();
        if let Relation::Table { table, .. } = &sel.relation {
            // Declared types, which sqlx does not report for JSON.
            let declared: Vec<(String, String)> =
                sqlx::query_as("SELECT name, type FROM pragma_table_info(?1)")
                    .bind(table.as_str().to_owned())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| self.endpoint.error("reading the table's columns", e))?;
            if declared.is_empty() {
                return Err(self
                    .endpoint
                    .query_error(format!("no such table: {:?}", table.as_str())));
            }
            for (name, declared_type) in declared {
                let upper = declared_type.to_ascii_uppercase();
                if upper.contains("JSON") {
                    json_columns.push(name);
                } else if upper.contains("BOOL") {
                    bool_columns.push(name);
                }
            }
        } else {
            // Checks the query now, and finds the BOOLEAN columns it passes through.
            let statement = self
                .pool
                .prepare(sql(select.clone()))
                .await
                .map_err(|e| self.endpoint.error("preparing the read", e))?;
            bool_columns.extend(
                statement
                    .columns()
                    .iter()
                    .skip(1)
                    .filter(|c| c.type_info().name() == "BOOLEAN")
                    .map(|c| c.name().to_owned()),
            );
        }
        let bounds = format!(
            "SELECT (SELECT {key} {from} WHERE {key} IS NOT NULL ORDER BY {key} LIMIT 1), \
                    (SELECT {key} {from} WHERE {key} IS NOT NULL ORDER BY {key} DESC LIMIT 1)"
        );
        tracing::debug!(source = %self.endpoint.source_name, json_columns = ?json_columns, "Planned reads");
        Ok(Plan {
            reads: ReadSql::build(
                &select,
                &from,
                &key,
                |i| format!("?{i}"),
                |i| format!("?{i}"),
            ),
            json_columns,
            bool_columns,
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
        query: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
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
        row: &SqliteRow,
        range: &KeyRange,
    ) -> Result<LegacyRecord, SourceError> {
        let key = key_at(row, 0)
            .map_err(|e| bad_key(&self.endpoint, range, &self.selection.key, e))?
            .ok_or_else(|| bad_key(&self.endpoint, range, &self.selection.key, "is NULL"))?;
        let mut fields = FieldsBuilder::new(&self.endpoint, &key);
        for (index, column) in row.columns().iter().enumerate().skip(1) {
            let name = column.name();
            let json = plan.json_columns.iter().any(|c| c == name);
            let boolean = plan.bool_columns.iter().any(|c| c == name);
            let value = decode(row, index, json, boolean)
                .map_err(|(ty, e)| fields.undecodable(name, &ty, e))?;
            fields.insert(name, value)?;
        }
        Ok(LegacyRecord {
            fields: fields.finish(),
            key,
        })
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

fn bind_key<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    bound: &LegacyKey,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    match bound {
        LegacyKey::Int(i) => query.bind(*i),
        LegacyKey::Text(s) => query.bind(s.clone()),
    }
}

#[async_trait]
impl Source for SqliteSource {
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
            query = bind_key(query, bound);
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
        let rows = sqlx::sqlite::SqliteQueryResult::rows_affected;
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
        let low = key_at(&row, 0).map_err(|e| self.endpoint.query_error(e))?;
        let high = key_at(&row, 1).map_err(|e| self.endpoint.query_error(e))?;
        Ok(low.zip(high))
    }
}

/// The statement a lookup by `column` runs (built once per column).
fn lookup_sql(plan: &Plan, column: &super::Ident) -> SqlStr {
    plan.lookups.get_or_build(column, || {
        let column = Selection::column_expr(column, Q);
        plan.reads.lookup(&column, "lower", "?1", "?2")
    })
}
