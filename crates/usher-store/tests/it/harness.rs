//! Where the suite runs: a fresh SQLite file, or a fresh database on a real PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tempfile::TempDir;
use usher_store::{Store, StoreConfig, open};

/// The variable naming a superuser URL of a throwaway PostgreSQL cluster.
pub const PG_ENV: &str = "USHER_TEST_POSTGRES_URL";

/// The admin URL, or a loud failure saying how to get one. PostgreSQL tests never skip.
pub fn pg_admin_url() -> String {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => panic!(
            "{PG_ENV} is not set: the usher-store tests run against a real PostgreSQL and never \
             skip. Run them through `scripts/test`, or start the throwaway cluster yourself:\n\
             \n  eval \"$(scripts/test-services start)\"   # exports {PG_ENV}\
             \n  cargo test -p usher-store\
             \n  scripts/test-services stop\n"
        ),
    }
}

/// `url` pointing at database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = head.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh SQLite store in a temporary directory (not migrated).
pub struct SqliteDb {
    pub dir: TempDir,
    pub store: Arc<dyn Store>,
}

impl SqliteDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Self::open(&dir).await;
        Self { dir, store }
    }

    pub async fn open(dir: &TempDir) -> Arc<dyn Store> {
        let config = StoreConfig::Sqlite {
            path: dir.path().join("usher.db"),
        };
        Arc::from(open(&config).await.unwrap())
    }

    /// A second store on the same file, like a second process.
    pub async fn another(&self) -> Arc<dyn Store> {
        Self::open(&self.dir).await
    }

    pub async fn finish(self) {
        self.store.close().await;
    }
}

/// A fresh database on the test cluster (not migrated), dropped by [`PgDb::finish`].
pub struct PgDb {
    admin_url: String,
    pub name: String,
    pub url: String,
    pub store: Arc<dyn Store>,
    others: Vec<Arc<dyn Store>>,
}

impl PgDb {
    pub async fn new() -> Self {
        let admin_url = pg_admin_url();
        let name = format!("usher_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach {PG_ENV}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        let store = Self::open(&url).await;
        Self {
            admin_url,
            name,
            url,
            store,
            others: Vec::new(),
        }
    }

    async fn open(url: &str) -> Arc<dyn Store> {
        let config = StoreConfig::Postgres {
            url: Some(url.to_owned()),
            url_file: None,
            max_connections: Some(4),
        };
        Arc::from(open(&config).await.unwrap())
    }

    /// A second store (its own pool) on the same database, like a second process.
    pub async fn another(&mut self) -> Arc<dyn Store> {
        let store = Self::open(&self.url).await;
        self.others.push(store.clone());
        store
    }

    pub async fn finish(self) {
        self.store.close().await;
        for other in &self.others {
            other.close().await;
        }
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
    }
}

/// A direct connection to a test database, to check rows without going through the store.
pub enum Raw {
    /// The SQLite file.
    Sqlite(PathBuf),
    /// The PostgreSQL database's URL.
    Postgres(String),
}

impl Raw {
    /// Every row of `sql`, each column read as text: cast every selected column to `TEXT`,
    /// and write the SQL both backends understand.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        fn text<R: sqlx::Row>(rows: &[R]) -> Vec<Vec<Option<String>>>
        where
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            usize: sqlx::ColumnIndex<R>,
        {
            rows.iter()
                .map(|r| (0..r.len()).map(|i| r.try_get(i).unwrap()).collect())
                .collect()
        }
        match self {
            Raw::Sqlite(path) => {
                let options = SqliteConnectOptions::new().filename(path);
                let mut c = SqliteConnection::connect_with(&options).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                c.close().await.unwrap();
                text(&rows)
            }
            Raw::Postgres(url) => {
                let mut c = PgConnection::connect(url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                c.close().await.unwrap();
                text(&rows)
            }
        }
    }

    /// The single number `sql` selects (`SELECT COUNT(*) …`).
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sql.replacen("SELECT COUNT(*)", "SELECT CAST(COUNT(*) AS TEXT)", 1);
        let rows = self.rows(&sql).await;
        assert_eq!(rows.len(), 1, "{sql}");
        rows[0][0].as_deref().unwrap().parse().unwrap()
    }
}

/// What a bridge test gets: the store, a second store on the same database (like a second
/// process), and a direct connection.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub other: Arc<dyn Store>,
    pub raw: Raw,
}

/// Runs a suite function against both backends: `both!(name)` makes `name::sqlite` and
/// `name::postgres`. The PostgreSQL database is dropped even when the test fails.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            use futures::FutureExt as _;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::harness::SqliteDb::new().await;
                crate::suite::$name(&*db.store).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = crate::harness::PgDb::new().await;
                let result = std::panic::AssertUnwindSafe(crate::suite::$name(&*db.store))
                    .catch_unwind()
                    .await;
                db.finish().await;
                if let Err(panic) = result {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    };
}

/// Like [`both!`] for suite functions that take two stores on the same database.
macro_rules! both_pair {
    ($name:ident) => {
        mod $name {
            use futures::FutureExt as _;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::harness::SqliteDb::new().await;
                let other = db.another().await;
                crate::suite::$name(db.store.clone(), other.clone()).await;
                other.close().await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut db = crate::harness::PgDb::new().await;
                let other = db.another().await;
                let result =
                    std::panic::AssertUnwindSafe(crate::suite::$name(db.store.clone(), other))
                        .catch_unwind()
                        .await;
                db.finish().await;
                if let Err(panic) = result {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    };
}

/// Like [`both!`] for the login bridge's writes (`crate::bridge`), which take a [`Ctx`].
macro_rules! bridge {
    ($name:ident) => {
        mod $name {
            use futures::FutureExt as _;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::harness::SqliteDb::new().await;
                let other = db.another().await;
                let ctx = crate::harness::Ctx {
                    store: db.store.clone(),
                    other: other.clone(),
                    raw: crate::harness::Raw::Sqlite(db.dir.path().join("usher.db")),
                };
                crate::bridge::$name(ctx).await;
                other.close().await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut db = crate::harness::PgDb::new().await;
                let other = db.another().await;
                let ctx = crate::harness::Ctx {
                    store: db.store.clone(),
                    other,
                    raw: crate::harness::Raw::Postgres(db.url.clone()),
                };
                let result = std::panic::AssertUnwindSafe(crate::bridge::$name(ctx))
                    .catch_unwind()
                    .await;
                db.finish().await;
                if let Err(panic) = result {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    };
}

pub(crate) use {both, both_pair, bridge};
