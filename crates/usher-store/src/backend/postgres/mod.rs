//! The PostgreSQL store, for scale and for several usher processes sharing one database.
//!
//! Values are stored in PostgreSQL's own types (`uuid`, `timestamptz`, `jsonb`, `date`), lists
//! are bound as arrays (`= ANY($1)`), and writers run under READ COMMITTED with row locks
//! (`FOR UPDATE`) where a check must hold until the commit. A chunk is written set-based: its
//! rows are streamed with binary `COPY` into a temporary staging table, then moved by
//! `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` ([`stage`]).

mod pgcopy;
mod stage;

use std::str::FromStr as _;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow,
    PgTypeInfo,
};
use sqlx::{Arguments as _, Connection as _, Pool, Postgres};
use usher_core::redact::{redact_url, scrub, url_password};
use uuid::Uuid;

use super::{Arg, Backend, Bad, Locking, Tx, column, native_columns};
use crate::error::{Result, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The user store in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL without its password, for logs.
    target: String,
}

impl PostgresStore {
    /// Connects a pool of up to `max_connections` to `url` (one connection is made now, so an
    /// unreachable server fails here). Errors carry the URL redacted.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let target = redact_url(url);
        let fail = |e: sqlx::Error| StoreError::Open {
            backend: "postgres",
            target: target.clone(),
            reason: scrub(&e.to_string(), url_password(url)),
        };
        let options = PgConnectOptions::from_str(url).map_err(fail)?;
        // One direct attempt first: a pool retries a refused connection until its acquire
        // timeout, and an unreachable server should fail `open` at once, saying why.
        PgConnection::connect_with(&options)
            .await
            .map_err(fail)?
            .close()
            .await
            .map_err(fail)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(stage::SESSION_SETUP).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        tracing::info!(url = %target, max_connections, "Opened the PostgreSQL store");
        Ok(Self { pool, target })
    }

    /// The URL the store was opened with, password redacted.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The connection pool, for callers that need PostgreSQL itself (tests, benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// JSON text bound as `jsonb` (its binary form is a version byte, then the text), so the text
/// the plan derived once is sent as it is.
#[derive(Debug)]
struct JsonText<'a>(&'a str);

impl sqlx::Type<Postgres> for JsonText<'_> {
    fn type_info() -> PgTypeInfo {
        <sqlx::types::Json<()> as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for JsonText<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

#[async_trait]
impl Backend for PostgresStore {
    type Conn = PgConnection;
    type DB = Postgres;

    const NAME: &'static str = "postgres";
    const MAX_PARTITION: u32 = i32::MAX.unsigned_abs();
    const LOCKING: Locking = Locking::RowLocks;
    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

    fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn write_lock(&self) -> Option<&tokio::sync::Mutex<()>> {
        None
    }

    fn push(args: &mut PgArguments, arg: Arg<'_>) -> Result<(), BoxDynError> {
        match arg {
            Arg::Text(v) => args.add(v),
            Arg::Int(v) => args.add(v),
            Arg::Bool(v) => args.add(v),
            Arg::Uuid(v) => args.add(*v),
            Arg::Instant(v) => args.add(v),
            Arg::Json(v) => args.add(v.map(JsonText)),
            Arg::Date(v) => args.add(v),
            Arg::List(v) => args.add(v),
        }
    }

    fn in_list(column: &str, param: &str) -> String {
        format!("{column} = ANY({param})")
    }

    fn bytewise(param: &str) -> String {
        format!("CAST({param} AS TEXT) COLLATE \"C\"")
    }

    native_columns!(PgRow;
        text: String, int: i64, bool: bool, uuid: Uuid, instant: DateTime<Utc>, json: Value,
        date: NaiveDate,
    );

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn lock_plan(tx: &mut Tx<Self>, job: &str, source: &str) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))")
            .bind(job)
            .bind(source)
            .execute(&mut **tx)
            .await
            .map_err(crate::error::db("plan_partitions: locking the plan"))?;
        Ok(())
    }
}
