//! The outbox: rows written once per idempotency key, claimed by one worker at a time, each
//! user's rows delivered in order (a failed or dead row holds the user's later ones back),
//! retried with the attempts counted, dead after the last, retried or dropped by an operator;
//! and two processes claiming at once never take the same row.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use usher_core::UserId;
use usher_store::{NewOutbox, OutboxState, Store};

fn row(user: UserId, kind: &str, key: &str) -> NewOutbox {
    NewOutbox {
        user,
        kind: kind.to_owned(),
        destination: "legacy:app".to_owned(),
        payload: json!({ "kind": kind }),
        idempotency_key: key.to_owned(),
    }
}

fn keys(rows: &[usher_store::OutboxRow]) -> Vec<&str> {
    rows.iter().map(|r| r.idempotency_key.as_str()).collect()
}

async fn claim(store: &dyn Store, worker: &str, now: DateTime<Utc>) -> Vec<usher_store::OutboxRow> {
    store
        .claim(worker, 10, now, now + Duration::seconds(30))
        .await
        .unwrap()
}

pub async fn the_outbox_delivers_each_user_s_rows_in_order_at_least_once(store: &dyn Store) {
    store.migrate().await.unwrap();
    let now = Utc::now();
    let later = |s: i64| now + Duration::seconds(s);
    let (a, b) = (UserId::new(), UserId::new());
    let rows = [
        row(a, "migrated", "a1"),
        row(a, "profile", "a2"),
        row(a, "password", "a3"),
        row(b, "migrated", "b1"),
        row(b, "email", "b2"),
        row(a, "migrated", "a1"),
    ];
    assert_eq!(store.enqueue(&rows, now).await.unwrap(), 5, "a1 once");
    assert_eq!(store.enqueue(&rows[..1], now).await.unwrap(), 0);

    // Only each user's earliest row is due; a claimed row is no one else's.
    let first = claim(store, "w1", now).await;
    assert_eq!(keys(&first), ["a1", "b1"]);
    assert_eq!(first[0].payload, json!({ "kind": "migrated" }));
    assert_eq!(first[0].user, a);
    assert!(claim(store, "w2", now).await.is_empty());
    let (a1, b1) = (first[0].id, first[1].id);

    // Only the holder settles a row.
    assert_eq!(store.delivered(&[a1], "w2", now).await.unwrap(), 0);
    assert_eq!(store.delivered(&[a1], "w1", now).await.unwrap(), 1);
    assert_eq!(store.delivered(&[a1], "w1", now).await.unwrap(), 0, "once");
    // A failure: counted, due again later; the user's next row waits behind it.
    assert!(
        store
            .failed(b1, "w1", "legacy is down", later(10), 2)
            .await
            .unwrap()
    );
    assert_eq!(keys(&claim(store, "w1", now).await), ["a2"]);
    assert_eq!(keys(&claim(store, "w1", later(11)).await), ["b1"]);
    // The last attempt: dead, kept with its reason, still holding b2 back.
    assert!(
        store
            .failed(b1, "w1", "legacy is down again", later(12), 2)
            .await
            .unwrap()
    );
    // a2's claim (until 30 s) has run out: another worker takes it (at least once).
    let reclaimed = claim(store, "w2", later(40)).await;
    assert_eq!(keys(&reclaimed), ["a2"]);
    let again = [reclaimed[0].id];
    assert_eq!(store.delivered(&again, "w1", later(40)).await.unwrap(), 0);
    assert_eq!(store.delivered(&again, "w2", later(40)).await.unwrap(), 1);

    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead, stats.delivered), (2, 1, 2));
    assert!(stats.oldest_pending.is_some());
    let dead = store.outbox(Some(OutboxState::Dead), 10).await.unwrap();
    assert_eq!(keys(&dead), ["b1"]);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("legacy is down again"));
    assert_eq!(store.outbox(None, 10).await.unwrap().len(), 5);

    // An operator retries it: due again, attempts reset; dropping it releases b2.
    assert_eq!(store.retry_outbox(None, later(50)).await.unwrap(), 1);
    let retried = claim(store, "w1", later(50)).await;
    assert_eq!(keys(&retried), ["a3", "b1"]);
    assert_eq!(retried[1].attempts, 0);
    assert!(store.drop_outbox(b1).await.unwrap());
    assert!(!store.drop_outbox(b1).await.unwrap());
    assert!(
        !store.drop_outbox(a1).await.unwrap(),
        "a delivered row stays"
    );
    assert_eq!(keys(&claim(store, "w2", later(51)).await), ["b2"]);

    // Delivered rows go once they are old enough, oldest first, a batch at a time; the
    // undelivered stay whatever their age.
    assert_eq!(
        store.purge_delivered(now, 10).await.unwrap(),
        0,
        "none older"
    );
    assert_eq!(store.purge_delivered(later(100), 1).await.unwrap(), 1);
    assert_eq!(store.purge_delivered(later(100), 10).await.unwrap(), 1);
    let left = store.outbox(None, 10).await.unwrap();
    assert!(left.iter().all(|r| r.state != OutboxState::Delivered));
    assert_eq!(keys(&left), ["a3", "b2"]);
}

/// Two processes (two stores on one database) claiming the same rows at once: each row goes to
/// one of them.
pub async fn two_processes_claiming_at_once_never_share_a_row(
    one: Arc<dyn Store>,
    two: Arc<dyn Store>,
) {
    one.migrate().await.unwrap();
    let now = Utc::now();
    let rows: Vec<NewOutbox> = (0..200)
        .map(|i| row(UserId::new(), "migrated", &format!("k{i}")))
        .collect();
    assert_eq!(one.enqueue(&rows, now).await.unwrap(), 200);
    let take = |store: Arc<dyn Store>, worker: &'static str| async move {
        let mut got = Vec::new();
        loop {
            let rows = store
                .claim(worker, 7, now, now + Duration::seconds(60))
                .await
                .unwrap();
            if rows.is_empty() {
                return got;
            }
            got.extend(rows.into_iter().map(|r| r.id));
        }
    };
    let (x, y) = tokio::join!(take(one, "one"), take(two, "two"));
    let all: HashSet<i64> = x.iter().chain(&y).copied().collect();
    assert_eq!(x.len() + y.len(), 200, "{} + {}", x.len(), y.len());
    assert_eq!(all.len(), 200, "a row claimed twice");
}
