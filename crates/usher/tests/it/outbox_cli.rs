//! `usher outbox list|retry|drop` on a store whose outbox holds a dead row and the row it holds
//! back: listed with its reason (never its payload), retried, dropped.

use chrono::{Duration, Utc};
use serde_json::json;
use usher_core::UserId;
use usher_store::NewOutbox;

use crate::support::{text, usher};

#[tokio::test]
async fn an_operator_lists_retries_and_drops_outbox_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("usher.toml");
    std::fs::write(&config, "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n").unwrap();
    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.path().join("usher.db"),
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let (user, now) = (UserId::new(), Utc::now());
    let row = |kind: &str, key: &str| NewOutbox {
        user,
        kind: kind.to_owned(),
        destination: "legacy:app".to_owned(),
        payload: json!({ "email": "secret-payload@example.com" }),
        idempotency_key: key.to_owned(),
    };
    store
        .enqueue(&[row("email", "k1"), row("disable", "k2")], now)
        .await
        .unwrap();
    let claimed = store
        .claim("w", 10, now, now + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "k2 waits behind k1");
    let id = claimed[0].id;
    assert!(
        store
            .failed(id, "w", "legacy said 500", now, 1)
            .await
            .unwrap()
    );
    store.close().await;

    let config = config.to_str().unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["outbox"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", config]);
        usher(&all, &[])
    };
    let status = usher(&["status", "--config", config], &[]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status = text(&status.stdout);
    assert!(
        status.contains("owed to legacy                 1 pending, 1 dead"),
        "{status}"
    );
    let list = cli(&["list", "--state", "dead"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let out = text(&list.stdout);
    assert!(out.contains("pending 1  dead 1  delivered 0"), "{out}");
    assert!(
        out.contains("legacy said 500") && out.contains(&user.to_string()),
        "{out}"
    );
    assert!(
        !out.contains("secret-payload"),
        "payloads stay in the store: {out}"
    );

    let retry = cli(&["retry", "--id", &id.to_string()]);
    assert!(
        text(&retry.stdout).contains("1 dead row pending again"),
        "{}",
        text(&retry.stderr)
    );
    let none = cli(&["retry"]);
    assert!(!none.status.success());
    assert!(text(&none.stderr).contains("--all-dead"));

    let dropped = cli(&["drop", "--id", &id.to_string()]);
    assert!(dropped.status.success(), "{}", text(&dropped.stderr));
    let again = cli(&["drop", "--id", &id.to_string()]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains(&format!("no undelivered outbox row {id}")));
    let list = text(&cli(&["list"]).stdout);
    assert!(list.contains("pending 1  dead 0  delivered 0"), "{list}");
    assert!(list.contains("disable"), "{list}");
}
