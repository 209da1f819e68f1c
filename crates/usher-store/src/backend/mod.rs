//! What differs between the two stores, behind one small trait: [`Backend`]. Every operation is
//! written once, in [`crate::ops`], against it; each backend sits in a folder of its own and
//! says only how it opens, how it binds and reads values (UUIDs, instants, JSON, dates, lists),
//! which clauses its dialect needs (row locks, list membership, collation), how a write
//! transaction begins, and how a chunk's rows go in (multi-row `INSERT`s on SQLite, binary
//! `COPY` into a staging table on PostgreSQL).
//!
//! SQL is written once with `$N` placeholders, which both drivers accept.

pub mod postgres;
pub mod sqlite;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use serde_json::Value;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{AssertSqlSafe, Database, Executor, IntoArguments, Pool, Transaction};
use uuid::Uuid;

use crate::error::{Result, StoreError, corrupt, db};
use crate::model::ChunkWrite;
use crate::plan::{QuarantineRow, Row};

/// A connection of a backend's database.
pub(crate) type Conn<B> = <B as Backend>::Conn;
/// A row of a backend's database.
pub(crate) type DbRow<B> = <<B as Backend>::DB as Database>::Row;
/// A transaction on a backend's database.
pub(crate) type Tx<B> = Transaction<'static, <B as Backend>::DB>;

/// A value to bind, in neutral form; each backend encodes it in its own column types.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
    Uuid(&'a Uuid),
    Instant(Option<DateTime<Utc>>),
    /// JSON text.
    Json(Option<&'a str>),
    Date(Option<NaiveDate>),
    /// A list of texts, for [`Backend::in_list`].
    List(&'a [String]),
}

/// Why a column could not be read: the driver failed, or the value is not what usher writes.
#[derive(Debug)]
pub(crate) enum Bad {
    Db(sqlx::Error),
    Value(String),
}

impl From<sqlx::Error> for Bad {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// How a backend keeps concurrent writers apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Locking {
    /// One writer at a time: the in-process [`Backend::write_lock`], and `begin` to start a
    /// write, which takes the file's write lock at once. A write's checks hold until its commit
    /// without row locks.
    Serialised {
        /// The statement that begins a write transaction.
        begin: &'static str,
    },
    /// Concurrent writers under READ COMMITTED: the rows a check depends on are locked
    /// (`FOR UPDATE`) until the commit, and a preview runs `READ ONLY`.
    RowLocks,
}

impl Locking {
    /// How a write transaction begins (`None`: the driver's plain `BEGIN`).
    pub(crate) const fn begin(self) -> Option<&'static str> {
        match self {
            Self::Serialised { begin } => Some(begin),
            Self::RowLocks => None,
        }
    }

    /// Whether rows a check depends on are locked.
    pub(crate) const fn row_locks(self) -> bool {
        matches!(self, Self::RowLocks)
    }

    /// Appended to a `SELECT` that must lock the rows it reads until the commit.
    pub(crate) const fn for_update(self) -> &'static str {
        if self.row_locks() { " FOR UPDATE" } else { "" }
    }

    /// Run first in a read-only transaction (a preview), if anything.
    pub(crate) const fn read_only(self) -> Option<&'static str> {
        if self.row_locks() {
            Some("SET TRANSACTION READ ONLY")
        } else {
            None
        }
    }
}

/// The backend-specific part of a store. The capability traits ([`crate::UserStore`], …) are
/// implemented once for every `Backend`, in [`crate::ops`].
#[async_trait]
pub(crate) trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The sqlx driver.
    type DB: Database<Connection = Self::Conn>;
    /// Its connection, which [`Run`]s statements.
    type Conn: Run<Self::DB> + sqlx::Connection<Database = Self::DB> + Migrate;

    /// `sqlite` or `postgres`.
    const NAME: &'static str;
    /// The largest partition number the `checkpoints.partition` column holds.
    const MAX_PARTITION: u32;
    /// How concurrent writers are kept apart.
    const LOCKING: Locking;
    /// Whether the user tables exist: one row, one boolean.
    const MIGRATIONS_TABLE_EXISTS: &'static str;

    /// The connection pool.
    fn pool(&self) -> &Pool<Self::DB>;

    /// The in-process lock every writer takes first, where the backend serialises writers.
    fn write_lock(&self) -> Option<&tokio::sync::Mutex<()>>;

    /// Binds one value.
    fn push(args: &mut <Self::DB as Database>::Arguments, arg: Arg<'_>) -> Result<(), BoxDynError>;

    /// `column` is one of the texts of list parameter `param` (bound as [`Arg::List`]).
    fn in_list(column: &str, param: &str) -> String;

    /// A text parameter compared bytewise with a text column.
    fn bytewise(param: &str) -> String;

    /// The placeholders of a multi-row `VALUES` list, `(…), (…)`: `rows` rows of `columns`
    /// parameters, the statement's only parameters, bound row by row. Numbered (`$1, $2, …`)
    /// unless the backend says otherwise.
    fn values(rows: usize, columns: usize) -> String {
        let mut n = 0usize;
        let mut out = String::with_capacity(rows.saturating_mul(columns).saturating_mul(6));
        for r in 0..rows {
            out.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..columns {
                n = n.saturating_add(1);
                if c > 0 {
                    out.push_str(", ");
                }
                out.push('$');
                out.push_str(&n.to_string());
            }
            out.push(')');
        }
        out
    }

    /// A nullable text column.
    fn text(row: &DbRow<Self>, i: usize) -> Result<Option<String>, Bad>;
    /// A nullable integer column (`bigint`; cast narrower ones in the query).
    fn int(row: &DbRow<Self>, i: usize) -> Result<Option<i64>, Bad>;
    /// A nullable boolean column.
    fn bool(row: &DbRow<Self>, i: usize) -> Result<Option<bool>, Bad>;
    /// A nullable UUID column.
    fn uuid(row: &DbRow<Self>, i: usize) -> Result<Option<Uuid>, Bad>;
    /// A nullable instant column.
    fn instant(row: &DbRow<Self>, i: usize) -> Result<Option<DateTime<Utc>>, Bad>;
    /// A nullable JSON column.
    fn json(row: &DbRow<Self>, i: usize) -> Result<Option<Value>, Bad>;
    /// A nullable date column.
    fn date(row: &DbRow<Self>, i: usize) -> Result<Option<NaiveDate>, Bad>;

    /// The schema migrations.
    fn migrator() -> &'static Migrator;

    /// Takes the lock that makes planners of one job and source take turns, inside `tx`
    /// (nothing where a write transaction already excludes every other writer).
    async fn lock_plan(tx: &mut Tx<Self>, job: &str, source: &str) -> Result<()>;
}

/// How a backend writes many rows at once: a chunk's users and its quarantine rows.
#[async_trait]
pub(crate) trait BulkWrites: Backend {
    /// Writes a chunk's accepted updates (`(row, stored user)`) and inserts (rows, in key
    /// order; the unique indexes refuse later duplicates), the inserted users' credentials
    /// and ledger rows included. Returns the ids inserted, or `None` when a ledger key was
    /// taken by a concurrent writer meanwhile (the chunk rolls back and retries).
    async fn write_rows(tx: &mut Tx<Self>, w: RowsWrite<'_, '_>) -> Result<Option<HashSet<Uuid>>>;

    /// Inserts or refreshes quarantine rows.
    async fn upsert_quarantine(tx: &mut Tx<Self>, q: QuarantineWrite<'_>) -> Result<()>;
}

/// What [`BulkWrites::write_rows`] writes: a chunk's accepted updates (`(row, stored user)`)
/// and its inserts (rows, in key order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowsWrite<'a, 'r> {
    pub chunk: &'a ChunkWrite,
    pub rows: &'a [Row<'r>],
    pub inserts: &'a [usize],
    pub updates: &'a [(usize, Uuid)],
}

/// What [`BulkWrites::upsert_quarantine`] writes: quarantine rows of a source, seen now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuarantineWrite<'a> {
    pub source: &'a str,
    pub rows: &'a [QuarantineRow],
    pub now: DateTime<Utc>,
}

/// A connection that runs statements, whichever the driver: implemented once, below, for every
/// connection whose `&mut` is an executor of its database.
#[async_trait]
pub(crate) trait Run<DB: Database>: Send {
    /// Runs a statement; the rows it changed.
    async fn run_execute(
        &mut self,
        sql: Cow<'static, str>,
        args: DB::Arguments,
    ) -> sqlx::Result<u64>;

    /// Runs a query; its first row, if any.
    async fn run_fetch_optional(
        &mut self,
        sql: Cow<'static, str>,
        args: DB::Arguments,
    ) -> sqlx::Result<Option<DB::Row>>;

    /// Runs a query; its rows as they come.
    fn run_fetch(
        &mut self,
        sql: Cow<'static, str>,
        args: DB::Arguments,
    ) -> BoxStream<'_, sqlx::Result<DB::Row>>;
}

/// How many rows a statement changed, whichever the driver.
pub(crate) trait RowsAffected {
    /// The count.
    fn rows(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// Column `i` of `row`, `None` for NULL.
pub(crate) fn column<T, R>(row: &R, i: usize) -> Result<Option<T>, Bad>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    T: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(row.try_get::<Option<T>, _>(i)?)
}

#[async_trait]
impl<C, DB> Run<DB> for C
where
    C: Send,
    DB: Database,
    DB::QueryResult: RowsAffected,
    DB::Arguments: IntoArguments<DB> + 'static,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
{
    async fn run_execute(
        &mut self,
        sql: Cow<'static, str>,
        args: DB::Arguments,
    ) -> sqlx::Result<u64> {
        let done = sqlx::query_with(AssertSqlSafe(sql), args)
            .execute(self)
            .await?;
        Ok(done.rows())
    }

    async fn run_fetch_optional(
        &mut self,
        sql: Cow<'static, str>,
        args: DB::Arguments,
    ) -> sqlx::Result<Option<DB::Row>> {
        sqlx::query_with(AssertSqlSafe(sql), args)
            .fetch_optional(self)
            .await
    }

    fn run_fetch(
        &mut self,
        sql: Cow<'static, str>,
        args: DB::Arguments,
    ) -> BoxStream<'_, sqlx::Result<DB::Row>> {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch(self)
    }
}

/// The `ON CONFLICT` clause of every quarantine upsert: the newest reason and record, one more
/// attempt.
pub(crate) const QUARANTINE_UPSERT: &str = "ON CONFLICT (source, legacy_id) DO UPDATE SET \
     reason = excluded.reason, field = excluded.field, record = excluded.record, \
     last_seen = excluded.last_seen, attempts = quarantine.attempts + 1";

/// A statement ready to run: its text, its arguments, and its name for errors.
type Ready<B> = (
    Cow<'static, str>,
    <<B as Backend>::DB as Database>::Arguments,
    &'static str,
);

/// One statement with its arguments, bound through the backend's encodings.
pub(crate) struct Stmt<B: Backend> {
    sql: Cow<'static, str>,
    args: <B::DB as Database>::Arguments,
    bad: Option<BoxDynError>,
    op: &'static str,
}

impl<B: Backend> Stmt<B> {
    /// A statement; `op` names it in errors.
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>, op: &'static str) -> Self {
        Self {
            sql: sql.into(),
            args: Default::default(),
            bad: None,
            op,
        }
    }

    /// Binds the next parameter.
    pub(crate) fn arg(mut self, arg: Arg<'_>) -> Self {
        if self.bad.is_none()
            && let Err(e) = B::push(&mut self.args, arg)
        {
            self.bad = Some(e);
        }
        self
    }

    pub(crate) fn text<'a>(self, v: impl Into<Option<&'a str>>) -> Self {
        self.arg(Arg::Text(v.into()))
    }

    pub(crate) fn int(self, v: i64) -> Self {
        self.arg(Arg::Int(Some(v)))
    }

    pub(crate) fn bool(self, v: bool) -> Self {
        self.arg(Arg::Bool(v))
    }

    pub(crate) fn uuid(self, v: &Uuid) -> Self {
        self.arg(Arg::Uuid(v))
    }

    pub(crate) fn instant(self, v: impl Into<Option<DateTime<Utc>>>) -> Self {
        self.arg(Arg::Instant(v.into()))
    }

    pub(crate) fn json<'a>(self, v: impl Into<Option<&'a str>>) -> Self {
        self.arg(Arg::Json(v.into()))
    }

    pub(crate) fn date(self, v: Option<NaiveDate>) -> Self {
        self.arg(Arg::Date(v))
    }

    pub(crate) fn list(self, v: &[String]) -> Self {
        self.arg(Arg::List(v))
    }

    fn ready(self) -> Result<Ready<B>> {
        match self.bad {
            Some(e) => Err(StoreError::Database {
                op: self.op,
                source: sqlx::Error::Encode(e),
            }),
            None => Ok((self.sql, self.args, self.op)),
        }
    }

    /// Runs the statement; the rows it changed.
    pub(crate) async fn execute(self, conn: &mut Conn<B>) -> Result<u64> {
        let (sql, args, op) = self.ready()?;
        conn.run_execute(sql, args).await.map_err(db(op))
    }

    /// Runs the query; its rows.
    pub(crate) async fn fetch_all(self, conn: &mut Conn<B>) -> Result<Vec<Got<B>>> {
        self.fetch(conn).try_collect().await
    }

    /// Runs the query; its first row, if any.
    pub(crate) async fn fetch_optional(self, conn: &mut Conn<B>) -> Result<Option<Got<B>>> {
        let (sql, args, op) = self.ready()?;
        let row = conn.run_fetch_optional(sql, args).await.map_err(db(op))?;
        Ok(row.map(|row| Got { row, op }))
    }

    /// Runs the query; its rows as they come.
    pub(crate) fn fetch(self, conn: &mut Conn<B>) -> BoxStream<'_, Result<Got<B>>> {
        match self.ready() {
            Err(e) => stream::once(async move { Err(e) }).boxed(),
            Ok((sql, args, op)) => conn
                .run_fetch(sql, args)
                .map(move |row| row.map(|row| Got { row, op }).map_err(db(op)))
                .boxed(),
        }
    }

    /// Runs the query; its one row.
    pub(crate) async fn fetch_one(self, conn: &mut Conn<B>) -> Result<Got<B>> {
        let op = self.op;
        self.fetch_optional(conn)
            .await?
            .ok_or(StoreError::Database {
                op,
                source: sqlx::Error::RowNotFound,
            })
    }
}

/// A row read back, decoded column by column through the backend. Every getter names the
/// table, column and row key for [`StoreError::Corrupt`].
pub(crate) struct Got<B: Backend> {
    row: DbRow<B>,
    op: &'static str,
}

/// Getters of [`Got`], a pair per column type: `$opt` reads a nullable column through the
/// backend's `$read`, `$req` one that must not be NULL.
macro_rules! getters {
    ($($opt:ident, $req:ident: $t:ty = $read:ident;)*) => {
        $(
            // A pair per column type; not every type is read both ways.
            #[allow(dead_code)]
            pub(crate) fn $opt(&self, i: usize, at: At<'_>) -> Result<Option<$t>> {
                B::$read(&self.row, i).map_err(|b| self.fail(at, b))
            }

            // A pair per column type; not every type is read both ways.
            #[allow(dead_code)]
            pub(crate) fn $req(&self, i: usize, at: At<'_>) -> Result<$t> {
                let v = self.$opt(i, at)?;
                v.ok_or_else(|| corrupt(at.0, at.1, at.2, "is NULL"))
            }
        )*
    };
}

/// Column getters of a [`Backend`] impl for the types its driver decodes natively.
macro_rules! native_columns {
    ($row:ty; $($name:ident: $t:ty),* $(,)?) => {
        $(
            fn $name(row: &$row, i: usize) -> Result<Option<$t>, Bad> {
                column(row, i)
            }
        )*
    };
}
pub(crate) use native_columns;

/// Where a value comes from: table, column, and the row's key.
pub(crate) type At<'a> = (&'static str, &'static str, &'a str);

impl<B: Backend> Got<B> {
    fn fail(&self, (table, column, key): At<'_>, bad: Bad) -> StoreError {
        match bad {
            Bad::Db(source) => StoreError::Database {
                op: self.op,
                source,
            },
            Bad::Value(reason) => corrupt(table, column, key, reason),
        }
    }

    getters! {
        opt_text, text: String = text;
        opt_int, int: i64 = int;
        opt_bool, bool: bool = bool;
        opt_uuid, uuid: Uuid = uuid;
        opt_instant, instant: DateTime<Utc> = instant;
        opt_json, json: Value = json;
        opt_date, date: NaiveDate = date;
    }
}
