//! One SQL source over a dialect: [`SqlSource`] reads, looks up, counts, bounds and checks
//! every SQL database the same way, with one pool and one set of timeouts; a [`Dialect`]
//! says what differs (quoting, placeholders, how connection options reach the driver, what
//! the first read learns about the columns, how values become JSON).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use futures::stream::BoxStream;
use serde_json::{Map, Value};
use sqlx::pool::PoolOptions;
use sqlx::{Database, Pool, SqlSafeStr as _, SqlStr};
use tokio::sync::OnceCell;
use usher_core::redact::{redact_url, scrub, url_password};
use usher_core::{
    ConfigProblem, KeyRange, LegacyKey, LegacyRecord, LegacyWrite, Source, SourceError, Written,
};

use super::{Ident, LookupCache, ReadSql, Selection, SqlConnection, SqlSelection, write_back};

/// Where a source's database is: a server's URL, or a file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Url(&'a str),
    File(&'a Path),
}

/// The type of the key column, as range bounds must be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Int,
    Text,
}

/// What a dialect learns about the selection on the first read.
#[derive(Debug)]
pub(crate) struct Planned<C> {
    /// The key as selected (PostgreSQL casts it to `int8` or `text`).
    pub(crate) key: String,
    /// The fields after it, as selected: `usher_src.*`, or columns with their conversions.
    pub(crate) fields: String,
    /// How range bounds are bound; `None`: each as it is (SQLite types values, not columns).
    pub(crate) key_type: Option<KeyType>,
    /// The type a bound is cast to in the SQL, so the key's index and collation apply
    /// (PostgreSQL's text-like keys).
    pub(crate) key_cast: Option<&'static str>,
    /// The dialect's own knowledge of the columns, for decoding.
    pub(crate) columns: C,
}

/// A source's pool, and a write-back's own pool if it has one.
pub(crate) type Pools<DB> = (Pool<DB>, Option<Pool<DB>>);

type Row<D> = <<D as Dialect>::Db as Database>::Row;

/// What one SQL database does its own way. Every function is the dialect's; the source
/// holds no dialect value.
#[async_trait]
pub(crate) trait Dialect: fmt::Debug + Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database;
    /// What the first read learns about the columns, for [`Dialect::fields`].
    type Columns: fmt::Debug + Send + Sync;
    /// The URL schemes of the database; none for a file.
    const SCHEMES: &'static [&'static str];
    /// The identifier quote.
    const QUOTE: char;
    /// The spelling of the lowercase function.
    const LOWER: &'static str;

    /// How the dialect inserts a row unless its key is there (for `idempotency_table`).
    const INSERT_IGNORE: write_back::InsertIgnore;

    /// The `i`-th (1-based) parameter placeholder.
    fn placeholder(i: usize) -> String;

    /// The driver's own check of a URL, without I/O.
    fn check_url(url: &str) -> Result<(), sqlx::Error>;

    /// The source's pool (connecting on first use) with the connection options applied, and
    /// with `write_back` a pool of its own for it, if the dialect needs one.
    fn connect(
        target: Target<'_>,
        connection: &SqlConnection,
        pool: PoolOptions<Self::Db>,
        write_back: bool,
    ) -> Result<Pools<Self::Db>, sqlx::Error>;

    /// Learns the selection's key and columns (run once, on first use).
    async fn plan(
        pool: &Pool<Self::Db>,
        endpoint: &Endpoint,
        selection: &Selection,
    ) -> Result<Planned<Self::Columns>, SourceError>;

    /// The key at `index` of a row: `Ok(None)` for NULL, `Err` for a value that is no key.
    fn key(
        columns: &Self::Columns,
        row: &<Self::Db as Database>::Row,
        index: usize,
    ) -> Result<Option<LegacyKey>, String>;

    /// The fields of a row (every column after the key) as JSON.
    fn fields(
        columns: &Self::Columns,
        row: &<Self::Db as Database>::Row,
        fields: &mut FieldsBuilder<'_>,
    ) -> Result<(), SourceError>;

    /// How many rows a write-back changed.
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// A cheap estimate of the row count, where the database keeps one; `None`: count.
    async fn estimate(
        pool: &Pool<Self::Db>,
        endpoint: &Endpoint,
        selection: &Selection,
    ) -> Result<Option<u64>, SourceError> {
        let _ = (pool, endpoint, selection);
        Ok(None)
    }
}

/// A SQL source's options, as its config holds them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options<'a> {
    /// A database file (SQLite); `None`: a server, at the connection's URL.
    pub(crate) path: Option<&'a Path>,
    pub(crate) connection: &'a SqlConnection,
    pub(crate) selection: &'a SqlSelection,
    pub(crate) write_back: Option<&'a str>,
    pub(crate) writes: Option<&'a write_back::SqlWrites>,
}

impl Options<'_> {
    /// Checks the options of a `D` source without connecting or reading any file.
    /// Every problem of a `D` source's options, found without connecting or reading any
    /// file, each keyed within the source's table.
    pub(crate) fn validate<D: Dialect>(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.path.is_some_and(|p| p.as_os_str().is_empty()) {
            problems.push(ConfigProblem::new("path", "is empty"));
        }
        problems.extend(self.connection.validate(D::SCHEMES));
        if let Some(url) = &self.connection.url {
            // The driver's own check, unless the URL is already refused.
            if !problems.iter().any(|p| p.key == "url") {
                let driver = D::check_url(url).map_err(|e| SqlConnection::url_error(url, e));
                problems.extend(driver.err());
            }
        }
        problems.extend(Selection::parse(self.selection).err().into_iter().flatten());
        problems.extend(self.statements::<D>().err().into_iter().flatten());
        problems
    }

    fn statements<D: Dialect>(&self) -> Result<write_back::Statements, Vec<ConfigProblem>> {
        let render = (
            D::placeholder as fn(usize) -> String,
            D::QUOTE,
            D::INSERT_IGNORE,
        );
        write_back::Statements::new(self.write_back, self.writes, render)
    }

    /// The `D` source named `name`, with a pool that connects on first use (so building
    /// needs no server). Reads `url_file`.
    pub(crate) fn build<D: Dialect>(&self, name: &str) -> Result<Box<dyn Source>, SourceError>
    where
        SqlSource<D>: Source,
    {
        let config_error = |p: ConfigProblem| crate::config_error(name, p);
        crate::refuse(name, self.validate::<D>())?;
        let url;
        let target = match self.path {
            Some(path) => Target::File(path),
            None => {
                url = (self.connection)
                    .resolve_url(D::SCHEMES)
                    .map_err(config_error)?;
                Target::Url(&url)
            }
        };
        let endpoint = match target {
            Target::Url(url) => Endpoint::new(name, url),
            Target::File(path) => Endpoint::new(name, &format!("sqlite://{}", path.display())),
        };
        let statements = self
            .statements::<D>()
            .map_err(|problems| crate::misconfigured(name, &problems))?;
        let writes = !statements.statements.is_empty();
        let options = PoolOptions::new()
            .max_connections(self.connection.max_connections)
            .acquire_timeout(Duration::from_secs(self.connection.connect_timeout_seconds));
        let (pool, write_pool) = D::connect(target, self.connection, options, writes)
            .map_err(|e| endpoint.config_error(e))?;
        let writer = writes.then(|| write_back::Writer {
            statements,
            pool: write_pool.unwrap_or_else(|| pool.clone()),
        });
        Ok(Box::new(SqlSource::<D> {
            endpoint,
            pool,
            selection: Selection::parse(self.selection)
                .map_err(|problems| crate::misconfigured(name, &problems))?,
            plan: OnceCell::new(),
            writer,
        }))
    }
}

/// What every SQL config does the same way: `$config` is built from the flat
/// [`SqlTable`](super::connection::SqlTable) (its `server` or `file` options, with `$path`
/// for a file), and checked and built as [`Options`] of `$dialect`.
macro_rules! sql_config {
    (@path $self:ident) => {
        None
    };
    (@path $self:ident, $path:ident) => {
        Some($self.$path.as_path())
    };
    (@resolve $self:ident, $base:ident) => {};
    (@resolve $self:ident, $base:ident, $path:ident) => {
        ::usher_core::config::resolve_path(&mut $self.$path, $base);
    };
    ($config:ident, $dialect:ty, $kind:ident $(, $path:ident)?) => {
        impl TryFrom<$crate::sql::connection::SqlTable> for $config {
            type Error = String;

            fn try_from(table: $crate::sql::connection::SqlTable) -> Result<Self, String> {
                let parts = table.$kind()?;
                Ok($config {
                    $($path: parts.path.unwrap_or_default(),)?
                    connection: parts.connection,
                    selection: parts.selection,
                    write_back: parts.write_back,
                    writes: parts.writes,
                })
            }
        }

        impl $config {
            fn options(&self) -> $crate::sql::source::Options<'_> {
                $crate::sql::source::Options {
                    path: $crate::sql::source::sql_config!(@path self $(, $path)?),
                    connection: &self.connection,
                    selection: &self.selection,
                    write_back: self.write_back.as_deref(),
                    writes: self.writes.as_ref(),
                }
            }

            /// Checks the configuration without connecting or reading any file: every
            /// problem, each keyed within the source's table (`url`, `table`, `key`...).
            pub fn validate(&self) -> Vec<::usher_core::ConfigProblem> {
                self.options().validate::<$dialect>()
            }

            /// Makes the file paths it names (the database file, `url_file`, `tls_ca_file`)
            /// relative to `base` (the config file's directory) if they are relative.
            pub fn resolve_paths(&mut self, base: &::std::path::Path) {
                $crate::sql::source::sql_config!(@resolve self, base $(, $path)?);
                self.connection.resolve_paths(base);
            }

            /// The source, with a pool that connects (or opens the file) on first use, so
            /// building needs no server. Reads `url_file`.
            pub async fn build(
                &self,
                name: &str,
            ) -> Result<Box<dyn ::usher_core::Source>, ::usher_core::SourceError> {
                self.options().build::<$dialect>(name)
            }
        }
    };
}
pub(crate) use sql_config;

/// A SQL table or query read as a [`Source`], the database's differences in `D`.
#[derive(Debug)]
pub(crate) struct SqlSource<D: Dialect> {
    endpoint: Endpoint,
    pool: Pool<D::Db>,
    selection: Selection,
    plan: OnceCell<Plan<D>>,
    /// On the source's pool, or (SQLite) a read-write one of its own.
    writer: Option<write_back::Writer<D::Db>>,
}

/// The statements of a source, built on first use.
#[derive(Debug)]
struct Plan<D: Dialect> {
    reads: ReadSql,
    count: SqlStr,
    bounds: SqlStr,
    key_type: Option<KeyType>,
    columns: D::Columns,
    /// Lookup statements by field, built from `reads` on first use.
    lookups: LookupCache,
}

fn sql(text: String) -> SqlStr {
    sqlx::AssertSqlSafe(text).into_sql_str()
}

impl<D: Dialect> SqlSource<D> {
    async fn plan(&self) -> Result<&Plan<D>, SourceError> {
        self.plan.get_or_try_init(|| self.make_plan()).await
    }

    async fn make_plan(&self) -> Result<Plan<D>, SourceError> {
        let planned = D::plan(&self.pool, &self.endpoint, &self.selection).await?;
        let sel = &self.selection;
        let from = sel.relation_sql(D::QUOTE);
        let key = sel.key_expr(D::QUOTE);
        let select = match planned.fields.as_str() {
            "" => format!("SELECT {} {from}", planned.key),
            fields => format!("SELECT {}, {fields} {from}", planned.key),
        };
        let cast = planned.key_cast;
        let param = |i| match cast {
            Some(cast) => format!("CAST({} AS {cast})", D::placeholder(i)),
            None => D::placeholder(i),
        };
        let reads = ReadSql::build(&select, &from, &key, param, D::placeholder);
        let projected = &planned.key;
        let bounds = format!(
            "SELECT (SELECT {projected} {from} WHERE {key} IS NOT NULL ORDER BY {key} LIMIT 1), \
                    (SELECT {projected} {from} WHERE {key} IS NOT NULL ORDER BY {key} DESC LIMIT 1)"
        );
        tracing::debug!(source = %self.endpoint.source_name, key = ?planned.key_type, columns = ?planned.columns, "Planned reads");
        Ok(Plan {
            reads,
            count: sql(format!("SELECT COUNT(*) {from}")),
            bounds: sql(bounds),
            key_type: planned.key_type,
            columns: planned.columns,
            lookups: LookupCache::default(),
        })
    }

    /// The statement a lookup by `column` runs (built once per column).
    fn lookup_sql(plan: &Plan<D>, column: &Ident) -> SqlStr {
        plan.lookups.get_or_build(column, || {
            let column = Selection::column_expr(column, D::QUOTE);
            let (value, limit) = (D::placeholder(1), D::placeholder(2));
            plan.reads.lookup(&column, D::LOWER, &value, &limit)
        })
    }

    /// A range bound, checked against the key column's type.
    fn check_bound<'k>(
        &self,
        key_type: Option<KeyType>,
        bound: &'k LegacyKey,
    ) -> Result<&'k LegacyKey, SourceError> {
        match (key_type, bound) {
            (Some(KeyType::Int), LegacyKey::Text(s)) => Err(self.endpoint.query_error(format!(
                "range bound {s:?} is text but the key column is an integer"
            ))),
            (Some(KeyType::Text), LegacyKey::Int(i)) => Err(self.endpoint.query_error(format!(
                "range bound {i} is an integer but the key column is text"
            ))),
            _ => Ok(bound),
        }
    }

    /// Runs a read or a lookup and turns its rows into records as they arrive; LIMIT bounds
    /// the rest. `range` only names where a bad key was met.
    async fn records(
        &self,
        plan: &Plan<D>,
        mut rows: BoxStream<'_, Result<Row<D>, sqlx::Error>>,
        limit: usize,
        range: &KeyRange,
        context: &str,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
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
        plan: &Plan<D>,
        row: &Row<D>,
        range: &KeyRange,
    ) -> Result<LegacyRecord, SourceError> {
        let bad = |what: String| bad_key(&self.endpoint, range, &self.selection.key, what);
        let key = D::key(&plan.columns, row, 0)
            .map_err(bad)?
            .ok_or_else(|| bad("is NULL".to_owned()))?;
        let mut fields = FieldsBuilder::new(&self.endpoint, &key);
        D::fields(&plan.columns, row, &mut fields)?;
        Ok(LegacyRecord {
            fields: fields.finish(),
            key,
        })
    }
}

#[async_trait]
impl<D: Dialect> Source for SqlSource<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: sqlx::Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: sqlx::IntoArguments<D::Db>,
    for<'q> i64: sqlx::Encode<'q, D::Db> + sqlx::Type<D::Db>,
    for<'q> String: sqlx::Encode<'q, D::Db> + sqlx::Type<D::Db>,
    for<'q> bool: sqlx::Encode<'q, D::Db> + sqlx::Type<D::Db>,
    for<'r> (i64,): sqlx::FromRow<'r, Row<D>>,
{
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
            query = match self.check_bound(plan.key_type, bound)? {
                LegacyKey::Int(i) => query.bind(*i),
                LegacyKey::Text(s) => query.bind(s.clone()),
            };
        }
        let rows = query.bind(limit_param(limit)).fetch(&self.pool);
        self.records(plan, rows, limit, range, "reading").await
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
            .map_err(|p| crate::config_error(self.name(), p))?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let plan = self.plan().await?;
        let query = sqlx::query(Self::lookup_sql(plan, &column))
            .bind(value.to_owned())
            .bind(limit_param(limit));
        let context = format!("looking up records by {field:?}");
        let rows = query.fetch(&self.pool);
        self.records(plan, rows, limit, &KeyRange::default(), &context)
            .await
    }

    async fn lookup_statement(&self, field: &str) -> Result<Option<String>, SourceError> {
        let column = self
            .selection
            .lookup_column(field)
            .map_err(|p| crate::config_error(self.name(), p))?;
        let plan = self.plan().await?;
        Ok(Some(Self::lookup_sql(plan, &column).as_str().to_owned()))
    }

    async fn healthcheck(&self) -> Result<(), SourceError> {
        self.read(&KeyRange::default(), 1).await?;
        let plan = self.plan().await?;
        let keys = (&plan.reads.null_key, &self.selection.key);
        let writer = self.writer.as_ref();
        write_back::check_keys_and_writes(&self.pool, &self.endpoint, keys, writer).await
    }

    fn writes(&self, op: &str) -> bool {
        self.writer
            .as_ref()
            .is_some_and(|w| w.statements.statement(op).is_some())
    }

    async fn write_many(
        &self,
        writes: &[(LegacyWrite, String)],
    ) -> Result<Vec<Written>, SourceError> {
        let writer = self.writer.as_ref();
        // Keys the ledger gave as text, for a source whose key column is an integer.
        let text_keys = writes
            .iter()
            .any(|(w, _)| matches!(w.key(), LegacyKey::Text(_)));
        let typed: Vec<(LegacyWrite, String)>;
        let writes =
            if text_keys && writer.is_some() && self.plan().await?.key_type == Some(KeyType::Int) {
                typed = writes
                    .iter()
                    .map(|(w, k)| {
                        let mut w = w.clone();
                        if let LegacyKey::Text(text) = w.key()
                            && let Ok(int) = text.parse::<i64>()
                        {
                            *w.key_mut() = LegacyKey::Int(int);
                        }
                        (w, k.clone())
                    })
                    .collect();
                &typed
            } else {
                writes
            };
        write_back::write_many(writer, &self.endpoint, writes, D::rows_affected).await
    }

    async fn count(&self) -> Result<Option<u64>, SourceError> {
        let plan = self.plan().await?;
        if let Some(estimate) = D::estimate(&self.pool, &self.endpoint, &self.selection).await? {
            return Ok(Some(estimate));
        }
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
        let bound = |index| {
            D::key(&plan.columns, &row, index)
                .map_err(|e| (self.endpoint).query_error(format!("reading the key bounds: {e}")))
        };
        Ok(bound(0)?.zip(bound(1)?))
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

/// A source's connection identity for errors: the redacted URL and the secret to scrub.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) source_name: String,
    pub(crate) redacted: String,
    secret: Option<String>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

    pub(crate) fn config_error(&self, reason: impl fmt::Display) -> SourceError {
        SourceError::Config {
            source_name: self.source_name.clone(),
            reason: self.scrub(&reason.to_string()),
        }
    }

    pub(crate) fn query_error(&self, reason: impl fmt::Display) -> SourceError {
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
        err: impl fmt::Display,
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
    what: impl fmt::Display,
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
