//! Fresh stores, not migrated, for tests of the store itself: a SQLite file in a temporary
//! directory, or a database of its own on the test PostgreSQL cluster. Each can open second
//! stores on the same database, as a second process would.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use tempfile::TempDir;
use usher_store::{Store, StoreConfig};

use crate::databases::Database;

/// A fresh SQLite store in a temporary directory (not migrated).
pub struct SqliteDb {
    pub dir: TempDir,
    pub store: Arc<dyn Store>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl SqliteDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Self::open(&dir).await;
        Self { dir, store }
    }

    /// The store in `dir`'s `usher.db`.
    pub async fn open(dir: &TempDir) -> Arc<dyn Store> {
        let config = StoreConfig::Sqlite {
            path: dir.path().join("usher.db"),
        };
        Arc::from(usher_store::open(&config).await.unwrap())
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
    database: Database,
    pub name: String,
    pub url: String,
    pub store: Arc<dyn Store>,
    others: Vec<Arc<dyn Store>>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PgDb {
    pub async fn new() -> Self {
        let database = Database::postgres("usher_test").await;
        let store = Self::open(&database.url).await;
        Self {
            name: database.name.clone(),
            url: database.url.clone(),
            database,
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
        Arc::from(usher_store::open(&config).await.unwrap())
    }

    /// A second store (its own pool) on the same database, like a second process.
    pub async fn another(&mut self) -> Arc<dyn Store> {
        let store = Self::open(&self.url).await;
        self.others.push(store.clone());
        store
    }

    /// Runs `test`, then [`finish`](PgDb::finish)es even when the test panicked (the panic is
    /// passed on once the database is dropped).
    pub async fn finish_after(self, test: impl Future<Output = ()>) {
        let result = AssertUnwindSafe(test).catch_unwind().await;
        self.finish().await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    /// Closes every store on the database, then drops it.
    pub async fn finish(self) {
        self.store.close().await;
        for other in &self.others {
            other.close().await;
        }
        self.database.remove().await;
    }
}
