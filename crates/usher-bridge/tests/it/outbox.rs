//! The courier over a real SQLite legacy: one claim's rows for a destination with SQL writes
//! go in one legacy transaction; when that fails (one row's statement is refused), each row
//! goes alone, so the bad row fails only itself and the others are delivered.

use std::sync::Arc;

use usher_bridge::{Courier, Delivery, Legacy};
use usher_core::{LegacyKey, LegacyWrite, UserId};
use usher_store::OutboxState;
use usher_testkit::bridge::{MAPPING, hash_source, legacy_table, legacy_toml};

/// A courier for the one legacy source that delivers a claim in one part and keeps
/// delivered rows for no time.
fn courier(store: &Arc<dyn usher_store::Store>, source: usher_bridge::HashSource) -> Courier {
    let delivery = Delivery {
        concurrency: 1,
        keep_delivered: std::time::Duration::ZERO,
        ..Delivery::default()
    };
    let legacy = [Legacy::Hash(source)];
    Courier::new(
        Arc::clone(store),
        &legacy,
        delivery,
        Arc::new(usher_runtime::Metrics::new()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_row_fails_alone_and_the_rest_of_its_batch_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(i64, String, String)> = (1..=6)
        .map(|i| (i, format!("u{i}@example.com"), format!("u{i}")))
        .collect();
    let rows: Vec<(i64, &str, &str, &str)> = rows
        .iter()
        .map(|(i, e, u)| (*i, e.as_str(), u.as_str(), "x"))
        .collect();
    legacy_table(dir.path(), &rows).await;
    // Addresses are unique in legacy: moving u3 onto u1's address is refused.
    usher_testkit::bridge::run_legacy_sql(
        dir.path(),
        "CREATE UNIQUE INDEX users_email ON users (email)",
    )
    .await;
    let toml = format!(
        "{}[writes]\nset_email = \"UPDATE users SET email = :email WHERE id = :key\"\n",
        legacy_toml(dir.path())
    );
    let source = hash_source(&toml, MAPPING, &["username"], None).await;
    let store: Arc<dyn usher_store::Store> = Arc::from(usher_testkit::store(dir.path()).await);
    let mut owed = Vec::new();
    for (id, email) in [
        (1, "one@new.example"),
        (2, "two@new.example"),
        (3, "u4@example.com"),
        (5, "five@new.example"),
    ] {
        let write = LegacyWrite::SetEmail {
            key: LegacyKey::Int(id),
            email: email.into(),
            email_verified: true,
        };
        let key = format!("email:{id}");
        owed.push(usher_bridge::outbox::owed(
            "legacy",
            UserId::new(),
            &write,
            key,
        ));
    }
    store.enqueue(&owed, chrono::Utc::now()).await.unwrap();
    let courier = courier(&store, source);
    let round = courier.round().await.unwrap();
    assert_eq!((round.claimed, round.delivered, round.failed), (4, 3, 1));
    let rows = store.outbox(None, 10).await.unwrap();
    let states: Vec<(&str, OutboxState)> = rows
        .iter()
        .map(|r| (r.idempotency_key.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("email:1", OutboxState::Delivered),
            ("email:2", OutboxState::Delivered),
            ("email:3", OutboxState::Pending),
            ("email:5", OutboxState::Delivered),
        ]
    );
    let failed = rows[2].last_error.as_deref().unwrap();
    assert!(failed.contains("set_email for record 3"), "{failed}");
    // Kept for no time: the delivered rows go, the pending one stays.
    assert_eq!(courier.purge().await.unwrap(), 3);
    let left = store.outbox(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].idempotency_key, "email:3");
    let emails = usher_testkit::bridge::legacy_column(dir.path(), "email").await;
    assert_eq!(
        emails,
        [
            "one@new.example",
            "two@new.example",
            "u3@example.com",
            "u4@example.com",
            "five@new.example",
            "u6@example.com"
        ]
    );
}

/// Legacy down: every row of the claim fails with the outage as its reason, stays pending
/// with one attempt counted, and nothing is marked delivered.
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_of_legacy_fails_the_whole_claim_and_loses_nothing() {
    use usher_testkit::services::{POSTGRES_URL, var, with_dead_port};
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "type = \"postgres\"\nurl = \"{}\"\ntable = \"users\"\nkey = \"id\"\n\
         connect_timeout_seconds = 1\n\
         [writes]\ndisable = \"UPDATE users SET active = false WHERE id = :key\"\n",
        with_dead_port(&var(POSTGRES_URL))
    );
    let source = hash_source(&toml, MAPPING, &["username"], None).await;
    let store: Arc<dyn usher_store::Store> = Arc::from(usher_testkit::store(dir.path()).await);
    let owed: Vec<_> = (1..=5)
        .map(|id| {
            let write = LegacyWrite::Disable {
                key: LegacyKey::Int(id),
            };
            usher_bridge::outbox::owed("legacy", UserId::new(), &write, format!("off:{id}"))
        })
        .collect();
    store.enqueue(&owed, chrono::Utc::now()).await.unwrap();
    let courier = courier(&store, source);
    let round = courier.round().await.unwrap();
    assert_eq!((round.claimed, round.delivered, round.failed), (5, 0, 5));
    for row in store.outbox(None, 10).await.unwrap() {
        assert_eq!(row.state, OutboxState::Pending);
        assert_eq!(row.attempts, 1);
        let error = row.last_error.unwrap();
        assert!(error.contains("unavailable"), "{error}");
    }
}
