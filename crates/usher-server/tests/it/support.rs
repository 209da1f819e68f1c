//! What the test modules share.

use std::path::Path;

use usher_hash::Policy;
use usher_store::Store;

/// Argon2id at its cheapest, so tests spend their time on what they test.
pub fn policy() -> Policy {
    Policy {
        memory_kib: 256,
        iterations: 1,
        ..Policy::default()
    }
}

/// A fresh SQLite store in `dir`, migrated.
pub async fn store(dir: &Path) -> Box<dyn Store> {
    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.join("usher.db"),
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}
