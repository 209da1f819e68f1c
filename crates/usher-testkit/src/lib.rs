//! # usher-testkit
//!
//! What usher's integration tests share, written once: a cheap Argon2id [`policy`], a fresh
//! migrated SQLite [`store`], and in [`bridge`] a legacy SQLite table whose hashes come from
//! independent implementations, with login bridges over it. A dev-dependency only.

// Test helpers state their expectations with unwrap: a panic here fails the test that called
// it, which is what a broken fixture should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bridge;

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
