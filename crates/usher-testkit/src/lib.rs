//! # usher-testkit
//!
//! What usher's integration tests share, written once, a dev-dependency only:
//!
//! * [`services`]: the PostgreSQL, MariaDB and slapd that `scripts/test-services start` runs,
//!   found through the variables it exports (a missing one fails the test: tests never skip),
//!   and the URLs tests derive from theirs;
//! * [`databases`]: a fresh database per test on either server;
//! * [`stores`]: fresh, unmigrated SQLite and PostgreSQL stores, for the store's own tests; and
//!   [`store`], a fresh migrated SQLite store for everyone else's;
//! * [`ldap`]: the test directory's admin, and a subtree of its own per test;
//! * [`tls`]: throwaway certificates, and loopback HTTP and HTTPS servers for a test's router;
//! * [`bridge`]: a legacy SQLite table whose hashes come from independent implementations, with
//!   login bridges over it; and [`policy`], a cheap Argon2id policy;
//! * [`test_modules!`]: an integration-test binary's modules, with the lints that keep panics
//!   out of library code allowed.
//!
//! Each crate has one integration-test binary, `tests/it/main.rs`, declaring its modules with
//! [`test_modules!`].
//!
//! A crate this kit depends on (usher-store, usher-connect, usher-bridge...) may use it too: its
//! integration tests link the one library both they and the kit are built against, so the kit's
//! `Arc<dyn usher_store::Store>` is the test's. (Its unit tests, `#[cfg(test)]` in `src`, are a
//! second build of the crate, whose types are not the kit's: they must not use it.)

// Test helpers state their expectations with unwrap, expect and panic: a panic here fails the
// test that called it, which is what a broken fixture or a missing server should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bridge;
pub mod databases;
pub mod http;
pub mod ldap;
pub mod services;
pub mod stores;
pub mod tls;

use std::path::Path;

use futures::TryStreamExt as _;
use usher_hash::Policy;
use usher_store::{LedgerEntry, QuarantineEntry, QuarantineFilter, Store};

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

/// Every ledger entry of `source`, in legacy id order.
pub async fn ledger(store: &dyn Store, source: &str) -> Vec<LedgerEntry> {
    store
        .ledger_entries(source, 5000)
        .try_collect()
        .await
        .unwrap()
}

/// Every quarantined record of `source`.
pub async fn quarantined(store: &dyn Store, source: &str) -> Vec<QuarantineEntry> {
    let filter = QuarantineFilter {
        source: Some(source.to_owned()),
    };
    store
        .quarantine_entries(&filter, 5000)
        .try_collect()
        .await
        .unwrap()
}

/// Declares the modules of an integration-test binary (`tests/it/main.rs`) with the lints that
/// keep panics and unchecked arithmetic out of usher's library code allowed: a test states its
/// expectations with unwrap, expect, panic and indexing, and its arithmetic is on small known
/// numbers; a panic there is the test failing, which is what it should do.
///
/// ```ignore
/// usher_testkit::test_modules! {
///     mod login;
///     mod registration;
/// }
/// ```
#[macro_export]
macro_rules! test_modules {
    ($($(#[$attr:meta])* mod $name:ident;)*) => {
        $(
            $(#[$attr])*
            #[allow(
                clippy::unwrap_used,
                clippy::expect_used,
                clippy::panic,
                clippy::indexing_slicing,
                clippy::arithmetic_side_effects,
                clippy::cast_possible_truncation
            )]
            mod $name;
        )*
    };
}
