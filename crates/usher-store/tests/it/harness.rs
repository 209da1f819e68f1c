//! Where the suite runs: a fresh SQLite file, or a fresh database on a real PostgreSQL (both
//! from `usher_testkit::stores`), and a direct connection to check rows with.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use usher_store::Store;

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
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = usher_testkit::stores::SqliteDb::new().await;
                crate::suite::$name(&*db.store).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = usher_testkit::stores::PgDb::new().await;
                let store = db.store.clone();
                db.finish_after(async move { crate::suite::$name(&*store).await })
                    .await;
            }
        }
    };
}

/// Runs a test on both backends with two stores on one database (like two processes) and a
/// direct connection: `two_stores!(name, |store, other, raw| test)` makes `name::sqlite` and
/// `name::postgres`, each awaiting `test`. The second store is closed and the database dropped
/// after it (the PostgreSQL database even when the test fails).
macro_rules! two_stores {
    ($name:ident, |$store:ident, $other:ident, $raw:ident| $test:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = usher_testkit::stores::SqliteDb::new().await;
                let other = db.another().await;
                let $store = db.store.clone();
                let $other = other.clone();
                let $raw = crate::harness::Raw::Sqlite(db.dir.path().join("usher.db"));
                $test.await;
                other.close().await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut db = usher_testkit::stores::PgDb::new().await;
                let $other = db.another().await;
                let $store = db.store.clone();
                let $raw = crate::harness::Raw::Postgres(db.url.clone());
                db.finish_after($test).await;
            }
        }
    };
}

/// Like [`both!`] for suite functions that take two stores on the same database.
macro_rules! both_pair {
    ($name:ident) => {
        crate::harness::two_stores!($name, |store, other, _raw| crate::suite::$name(
            store, other
        ));
    };
}

/// Like [`both!`] for the login bridge's writes (`crate::bridge`), which take a [`Ctx`].
macro_rules! bridge {
    ($name:ident) => {
        crate::harness::two_stores!($name, |store, other, raw| crate::bridge::$name(
            crate::harness::Ctx { store, other, raw }
        ));
    };
}

pub(crate) use {both, both_pair, bridge, two_stores};
