//! What reconciliation reads and keeps: the users a chunk of legacy records became, in one
//! read, and the history of runs, newest first.

use serde_json::json;
use usher_store::Store;

use crate::data::{SOURCE, chunk, user};

pub async fn the_users_of_a_chunk_of_records_come_in_one_read(store: &dyn Store) {
    store.migrate().await.unwrap();
    let users = vec![
        user(1, "a@example.com", "a"),
        user(2, "b@example.com", "b"),
        user(3, "c@example.com", "c"),
    ];
    let mut c = chunk(0, users.clone(), vec![]);
    c.done = true;
    store.write_chunk(&c).await.unwrap();
    let ids = ["1", "3", "99", "x"].map(String::from);
    let mut got = store.users_of_records(SOURCE, &ids).await.unwrap();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let found: Vec<(&str, Option<&str>)> = got
        .iter()
        .map(|(id, u)| (id.as_str(), u.email.as_ref().map(|e| e.as_str())))
        .collect();
    assert_eq!(
        found,
        [("1", Some("a@example.com")), ("3", Some("c@example.com"))]
    );
    assert_eq!(got[0].1.id, users[0].user.id);
    assert_eq!(got[0].1.legacy_links.len(), 1, "with its links");
    assert!(
        store
            .users_of_records("other", &ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .users_of_records(SOURCE, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn reconciliation_runs_are_kept_newest_first(store: &dyn Store) {
    store.migrate().await.unwrap();
    let at = chrono::Utc::now();
    let first = store
        .record_reconciliation("app", at, (10, 9), &json!({"missing": 1}))
        .await
        .unwrap();
    let second = store
        .record_reconciliation("shop", at, (4, 4), &json!({"missing": 0}))
        .await
        .unwrap();
    let third = store
        .record_reconciliation("app", at, (0, 0), &json!({}))
        .await
        .unwrap();
    let all = store.reconciliations(None, 10).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, [third, second, first]);
    let app = store.reconciliations(Some("app"), 1).await.unwrap();
    assert_eq!(app.len(), 1);
    assert_eq!(app[0].id, third);
    assert_eq!(app[0].parity(), 1.0, "nothing compared");
    let older = store.reconciliations(Some("app"), 2).await.unwrap();
    assert_eq!((older[1].compared, older[1].identical), (10, 9));
    assert!((older[1].parity() - 0.9).abs() < 1e-12);
    assert_eq!(older[1].report, json!({"missing": 1}));
    // The latest of each source, however many runs another source has had since.
    let latest: Vec<(String, i64)> = store
        .latest_reconciliations()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.source, r.id))
        .collect();
    assert_eq!(latest, [("app".into(), third), ("shop".into(), second)]);
}
