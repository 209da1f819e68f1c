//! The backfill on its own, without the CLI: usher-connect's SQLite source over a real legacy
//! table (`usher_testkit::bridge`'s, whose hashes come from libxcrypt and PHP) into a real
//! SQLite store.

use std::path::Path;
use std::sync::Arc;

use tempfile::TempDir;

use usher_core::{Method, Source};
use usher_engine::{BackfillOptions, BackfillReport, Silent, backfill};
use usher_hash::{Password, PasswordHash};
use usher_store::{QuarantineFilter, Store};
use usher_testkit::bridge::{self, BCRYPT, MAPPING, MD5_CRYPT, legacy_table};

/// Three records that map cleanly, one of them with an address in capitals.
const THREE: [(i64, &str, &str, &str); 3] = [
    (1, "Ann.Lee@Example.com", "ann", MD5_CRYPT),
    (2, "bo@example.com", "bo", BCRYPT),
    (3, "cy@example.com", "cy", MD5_CRYPT),
];

/// A temporary directory holding a legacy table of `rows` and a fresh store.
async fn fixture(rows: &[(i64, &str, &str, &str)]) -> (TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    legacy_table(dir.path(), rows).await;
    let store = Arc::from(usher_testkit::store(dir.path()).await);
    (dir, store)
}

/// The legacy table in `dir` as a source.
async fn legacy(dir: &Path) -> Arc<dyn Source> {
    Arc::from(bridge::source(&bridge::legacy_toml(dir)).await)
}

/// Backfills `dir`'s legacy table into `store` as job `job`, mapped by [`MAPPING`].
async fn run(dir: &Path, store: &Arc<dyn Store>, job: &str) -> BackfillReport {
    let options = BackfillOptions {
        job: job.to_owned(),
        batch_size: 2,
        ..BackfillOptions::default()
    };
    backfill(
        legacy(dir).await,
        Arc::new(bridge::mapper(MAPPING)),
        store.clone(),
        options,
        Arc::new(Silent),
    )
    .await
    .unwrap()
}

/// The user holding `email`, who must exist.
pub async fn user_holding(store: &Arc<dyn Store>, email: &str) -> usher_core::User {
    store.user_by_email(email).await.unwrap().unwrap()
}

/// The legacy hash a migrated record's user holds, and whether it verifies `password`.
async fn verifies(store: &Arc<dyn Store>, legacy_id: &str, password: &str) -> bool {
    let user = store
        .user_by_legacy("legacy", legacy_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("record {legacy_id} is not migrated"));
    let credential = user.credential.unwrap();
    PasswordHash::parse(&credential.hash)
        .unwrap()
        .verify(&Password::from(password))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_migrates_every_record_with_its_legacy_hash() {
    let (dir, store) = fixture(&THREE).await;

    let report = run(dir.path(), &store, "backfill").await;
    let c = report.run;
    assert_eq!(
        (c.read, c.migrated, c.skipped, c.quarantined),
        (3, 3, 0, 0),
        "{report:?}"
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.users, 3);
    assert_eq!(counts.by_method.get("bulk"), Some(&3), "{counts:?}");
    assert_eq!(counts.quarantined, 0);

    // Each record became the user it describes, under the address as legacy wrote it but
    // found in any case, holding the legacy hash as it was: the password still verifies.
    let ann = user_holding(&store, "ann.lee@example.com").await;
    assert_eq!(ann.legacy_links[0].legacy_id.as_str(), "1");
    assert_eq!(ann.credential.as_ref().unwrap().hash, MD5_CRYPT);
    assert_eq!(ann.migration.as_ref().map(|m| m.method), Some(Method::Bulk));
    for id in ["1", "2", "3"] {
        assert!(verifies(&store, id, "password").await, "record {id}");
        assert!(!verifies(&store, id, "passw0rd").await, "record {id}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_skips_what_the_first_migrated_and_writes_nothing() {
    let (dir, store) = fixture(&THREE).await;
    let first = run(dir.path(), &store, "first").await;
    assert_eq!(first.run.migrated, 3, "{first:?}");
    let users = |store: Arc<dyn Store>| async move {
        let mut ids = Vec::new();
        for id in ["1", "2", "3"] {
            let user = store.user_by_legacy("legacy", id).await.unwrap().unwrap();
            ids.push((user.id, user.updated_at));
        }
        (ids, store.counts().await.unwrap())
    };
    let before = users(store.clone()).await;

    // A new job reads every record again: all are in the ledger, unchanged, and left alone.
    let second = run(dir.path(), &store, "second").await;
    let c = second.run;
    assert_eq!(
        (c.read, c.migrated, c.skipped, c.updated, c.quarantined),
        (3, 0, 3, 0, 0),
        "{second:?}"
    );
    assert_eq!(users(store.clone()).await, before);

    // The first job run again has nothing left to read: its checkpoints say it finished.
    let again = run(dir.path(), &store, "first").await;
    assert_eq!(again.run.migrated, 0, "{again:?}");
    assert_eq!(again.total().migrated, 3, "{again:?}");
    assert_eq!(users(store.clone()).await, before);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_is_quarantined_with_its_reason_and_the_others_migrate() {
    let (dir, store) = fixture(&[
        (1, "ann@example.com", "ann", MD5_CRYPT),
        (2, "not an address", "bo", BCRYPT),
        (3, "cy@example.com", "cy", "$9$not-a-hash-any-scheme-knows"),
        (4, "di@example.com", "di", BCRYPT),
    ])
    .await;

    let report = run(dir.path(), &store, "backfill").await;
    let c = report.run;
    assert_eq!((c.read, c.migrated, c.quarantined), (4, 2, 2), "{report:?}");
    for id in ["1", "4"] {
        assert!(verifies(&store, id, "password").await, "record {id}");
    }
    for id in ["2", "3"] {
        assert_eq!(store.ledger_user("legacy", id).await.unwrap(), None, "{id}");
    }

    // Each bad record is in the quarantine, once, naming the field at fault and why, with the
    // record as read; the legacy hash never appears in the reason.
    let entries = store
        .quarantine_list(&QuarantineFilter::default(), 10, 0)
        .await
        .unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e.legacy_id.as_str()).collect();
    assert_eq!(ids, ["2", "3"], "{entries:?}");
    let (bad_email, bad_hash) = (&entries[0], &entries[1]);
    assert_eq!(bad_email.source, "legacy");
    assert_eq!(bad_email.field.as_deref(), Some("email"), "{bad_email:?}");
    assert!(
        bad_email.reason.contains("`email`") && bad_email.reason.contains("whitespace"),
        "{bad_email:?}"
    );
    assert_eq!(bad_email.record["email"], "not an address");
    assert_eq!(bad_hash.field.as_deref(), Some("password"), "{bad_hash:?}");
    assert!(
        bad_hash
            .reason
            .contains("`password` (from `pw`) is not a usable password hash"),
        "{bad_hash:?}"
    );
    assert!(!bad_hash.reason.contains("not-a-hash"), "{bad_hash:?}");
    assert_eq!(bad_hash.attempts, 1);
    assert_eq!(store.counts().await.unwrap().quarantined, 2);
    store.close().await;
}
