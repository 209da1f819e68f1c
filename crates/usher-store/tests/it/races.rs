//! Races only PostgreSQL can have (SQLite serialises writers with `BEGIN IMMEDIATE`), staged
//! deterministically with a second connection holding an uncommitted transaction.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt as _;
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::data::{SOURCE, chunk, user};
use crate::harness::PgDb;

async fn run<F, Fut>(test: F)
where
    F: FnOnce(String, std::sync::Arc<dyn usher_store::Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = PgDb::new().await;
    db.store.migrate().await.unwrap();
    let result = std::panic::AssertUnwindSafe(test(db.url.clone(), db.store.clone()))
        .catch_unwind()
        .await;
    db.finish().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

const INSERT_USER: &str = "INSERT INTO users (id, email, email_normalized, status, created_at, \
     updated_at) VALUES ($1, $2, lower($2), 'active', now(), now())";

/// A chunk whose key another writer is migrating at the same moment (the login bridge, say)
/// waits for it, finds its ledger row refused, rolls back, retries, and skips the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_migrated_concurrently_is_retried_and_skipped() {
    run(|url, store| async move {
        let mut other = PgConnection::connect(&url).await.unwrap();
        let mut tx = other.begin().await.unwrap();
        let id = uuid::Uuid::now_v7();
        sqlx::query(INSERT_USER)
            .bind(id)
            .bind("lazy@example.com")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO ledger (source, legacy_id, user_id, system_of_record, method, \
             migrated_at, record_checksum) VALUES ($1, '900', $2, 'new', 'lazy', now(), 'x')",
        )
        .bind(SOURCE)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();

        let writer = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write_chunk(&chunk(
                        0,
                        vec![user(900, "bulk@example.com", "bulk")],
                        vec![],
                    ))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !writer.is_finished(),
            "the chunk waits for the other writer"
        );
        tx.commit().await.unwrap();
        let outcome = writer.await.unwrap().unwrap();
        assert_eq!((outcome.migrated, outcome.skipped), (0, 1), "{outcome:?}");
        assert!(outcome.retries >= 1, "{outcome:?}");
        let u = store.user_by_legacy(SOURCE, "900").await.unwrap().unwrap();
        assert_eq!(*u.id.as_uuid(), id);
        assert_eq!(store.counts().await.unwrap().users, 1);
    })
    .await;
}

/// Two writers taking the same addresses in opposite orders deadlock; PostgreSQL aborts the
/// chunk's transaction, which retries, sees the other writer's users and quarantines its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_chunk_is_retried_and_loses_nothing() {
    run(|url, store| async move {
        let mut other = PgConnection::connect(&url).await.unwrap();
        let mut tx = other.begin().await.unwrap();
        let b = uuid::Uuid::now_v7();
        sqlx::query(INSERT_USER)
            .bind(b)
            .bind("B@example.com")
            .execute(&mut *tx)
            .await
            .unwrap();

        // The chunk inserts a@ then blocks on b@, held by the other writer.
        let writer = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write_chunk(&chunk(
                        0,
                        vec![user(1, "a@example.com", "a"), user(2, "b@example.com", "b")],
                        vec![],
                    ))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The other writer now wants a@: a cycle. PostgreSQL breaks it after deadlock_timeout.
        let a = uuid::Uuid::now_v7();
        sqlx::query(INSERT_USER)
            .bind(a)
            .bind("A@example.com")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let outcome = writer.await.unwrap().unwrap();
        assert!(outcome.retries >= 1, "{outcome:?}");
        assert_eq!(
            (outcome.migrated, outcome.quarantined),
            (0, 2),
            "{outcome:?}"
        );
        let q = store
            .quarantine_list(&usher_store::QuarantineFilter::default(), 10, 0)
            .await
            .unwrap();
        assert_eq!(
            q[0].reason,
            format!("duplicate email: same address as user {a}")
        );
        assert_eq!(
            q[1].reason,
            format!("duplicate email: same address as user {b}")
        );
        assert_eq!(store.counts().await.unwrap().users, 2);
    })
    .await;
}
