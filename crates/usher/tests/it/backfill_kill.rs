//! Nothing lost, nothing duplicated: `usher backfill` killed with SIGKILL at random points,
//! several times, then re-run to the end. Every legacy record must end up migrated or
//! quarantined with a reason, exactly once, and every migrated user's ledger checksum must
//! match its source row.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use usher_core::KeyRange;
use usher_store::QuarantineFilter;
use usher_testkit::databases::Database;

use crate::support::{self, text, usher};

const USERS: u64 = 40_000;

/// A PostgreSQL legacy table of the kill test's fake users: (url, database, source table,
/// mapping).
async fn fake_legacy() -> (String, Database, String, String) {
    let legacy_db = Database::postgres("usher_kill_legacy").await;
    let legacy_url = legacy_db.url.clone();
    let out = usher(
        &["fake", "--users", &USERS.to_string(), "--seed", "7"],
        &[("USHER_FAKE_POSTGRES_URL", &legacy_url)],
    );
    assert!(
        out.status.success(),
        "usher fake failed: {}",
        text(&out.stderr)
    );
    let source = format!(
        "[sources.legacy]\ntype = \"postgres\"\nurl = \"{legacy_url}\"\ntable = \"users\"\nkey = \"id\"\n"
    );
    (legacy_url, legacy_db, source, text(&out.stdout))
}

async fn killed_and_resumed(store_toml: impl Fn(&std::path::Path) -> String, label: &str) {
    let (legacy_url, legacy_db, source, mapping) = fake_legacy().await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(
        dir.path(),
        &store_toml(dir.path()),
        &source,
        &mapping,
        "[backfill]\nbatch_size = 250\nconcurrency = 2\n",
    );
    let config = config.to_str().unwrap().to_owned();

    let (seed, points) = support::kill_points(5);
    eprintln!("{label}: kill seed {seed} (replay with USHER_KILL_SEED={seed})");
    let mut killed = 0;
    for wait in points {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["backfill", "--config", &config])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no rollback handler
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed >= 3,
        "{label}: the backfill finished before it could be killed; raise USERS"
    );

    let out = usher(&["backfill", "--config", &config], &[]);
    assert!(
        out.status.success(),
        "{label}: final run failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // Check both sides directly.
    let source = usher_connect::SourceConfig::Postgres(
        toml::from_str(&format!(
            "url = \"{legacy_url}\"\ntable = \"users\"\nkey = \"id\"\n"
        ))
        .unwrap(),
    )
    .build("legacy")
    .await
    .unwrap();
    // The mapping, applied here to every row, says which rows are valid and which valid rows
    // share an email (ignoring case) with an earlier valid row.
    let mapping: toml::Table = toml::from_str(&mapping).unwrap();
    let mapping: usher_core::MappingConfig =
        mapping["mappings"]["legacy"].clone().try_into().unwrap();
    let mapper = usher_core::Mapper::new(&mapping).unwrap();
    let mut by_email: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut source_rows = BTreeMap::new();
    let mut range = KeyRange::default();
    loop {
        let chunk = source.read(&range, 5000).await.unwrap();
        let Some(last) = chunk.last() else { break };
        range.after = Some(last.key.clone());
        for r in &chunk {
            source_rows.insert(r.key.to_string(), r.checksum());
            if let Ok(usher_core::User {
                email: Some(email), ..
            }) = mapper.map("legacy", r, chrono::Utc::now())
            {
                by_email
                    .entry(email.as_str().to_lowercase())
                    .or_default()
                    .push(r.key.to_string());
            }
        }
    }
    assert_eq!(source_rows.len() as u64, USERS);

    let store_config: usher_store::StoreConfig =
        toml::from_str(&store_toml(dir.path()).replace("[store]", "")).unwrap();
    let store = usher_store::open(&store_config).await.unwrap();
    let mut ledger = BTreeMap::new();
    for e in usher_testkit::ledger(store.as_ref(), "legacy").await {
        assert!(
            ledger
                .insert(e.legacy_id.to_string(), (e.user_id, e.record_checksum))
                .is_none(),
            "ledger twice"
        );
    }
    let all = usher_testkit::quarantined(store.as_ref(), "legacy").await;
    let mut quarantined = BTreeSet::new();
    for e in &all {
        assert!(
            !e.reason.is_empty(),
            "{label}: quarantined without a reason: {}",
            e.legacy_id
        );
        assert!(quarantined.insert(&e.legacy_id), "quarantined twice");
    }

    // Every record is in exactly one place.
    for key in source_rows.keys() {
        let migrated = ledger.contains_key(key);
        let held = quarantined.contains(key);
        assert!(
            migrated ^ held,
            "{label}: record {key} migrated={migrated} quarantined={held}"
        );
    }
    assert_eq!(
        ledger.len() + quarantined.len(),
        source_rows.len(),
        "{label}: extra rows in the store"
    );
    // No half users and no duplicates: one user per ledger row, each with its checksum.
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.users,
        ledger.len() as u64,
        "{label}: users without a ledger row, or the reverse"
    );
    let distinct_users: BTreeSet<_> = ledger.values().map(|(u, _)| *u).collect();
    assert_eq!(
        distinct_users.len(),
        ledger.len(),
        "{label}: two ledger rows point at one user"
    );
    for (key, (_, checksum)) in &ledger {
        assert_eq!(
            Some(checksum),
            source_rows.get(key),
            "{label}: checksum of record {key} differs from the source"
        );
    }
    // Valid rows sharing an email (ignoring case) are never merged and never dropped: exactly
    // one of each group is migrated, every other one is quarantined as a duplicate, named.
    let reasons: BTreeMap<_, _> = all
        .iter()
        .map(|e| (e.legacy_id.as_str().to_owned(), e.reason.clone()))
        .collect();
    let mut expected_dupes = 0;
    for (email, keys) in by_email.iter().filter(|(_, keys)| keys.len() > 1) {
        let migrated: Vec<_> = keys.iter().filter(|k| ledger.contains_key(*k)).collect();
        assert_eq!(
            migrated.len(),
            1,
            "{label}: rows {keys:?} share {email}; migrated: {migrated:?}"
        );
        // The first row wins: the lowest key (`keys` is in read order), whichever partition
        // wrote first and wherever the kills fell.
        assert_eq!(
            migrated[0], &keys[0],
            "{label}: rows {keys:?} share {email}; a higher key won"
        );
        for key in keys.iter().filter(|k| !ledger.contains_key(*k)) {
            let reason = reasons.get(key).map(String::as_str).unwrap_or_default();
            assert!(
                reason.contains("duplicate email") && reason.contains(migrated[0].as_str()),
                "{label}: row {key} shares {email} with {}; quarantine reason: {reason:?}",
                migrated[0]
            );
            expected_dupes += 1;
        }
    }
    let dup_count = all
        .iter()
        .filter(|e| e.reason.contains("duplicate email"))
        .count();
    assert!(
        expected_dupes > 0,
        "{label}: the fake table has no case-only duplicate emails"
    );
    assert_eq!(
        dup_count, expected_dupes,
        "{label}: duplicate-email quarantines"
    );
    // Spot-check a migrated user against its row.
    let (key, (user_id, _)) = ledger.iter().next().unwrap();
    let user = store.user(*user_id).await.unwrap().unwrap();
    assert_eq!(user.legacy_links[0].legacy_id.as_str(), key);

    // A further run is a no-op.
    let out = usher(&["backfill", "--config", &config], &[]);
    assert!(out.status.success());
    assert_eq!(store.counts().await.unwrap().users, counts.users);

    store.close().await;
    legacy_db.remove().await;
    eprintln!(
        "{label}: {killed} kills, {} migrated, {} quarantined",
        ledger.len(),
        quarantined.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_backfill_into_sqlite_resumes_with_nothing_lost_or_duplicated() {
    killed_and_resumed(
        |dir| {
            format!(
                "[store]\ntype = \"sqlite\"\npath = \"{}\"\n",
                dir.join("usher.db").display()
            )
        },
        "sqlite store",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_backfill_into_postgres_resumes_with_nothing_lost_or_duplicated() {
    let store_db = Database::postgres("usher_kill_store").await;
    let url = store_db.url.clone();
    killed_and_resumed(
        move |_| format!("[store]\ntype = \"postgres\"\nurl = \"{url}\"\n"),
        "postgres store",
    )
    .await;
    store_db.remove().await;
}

/// Which record of a group sharing an address becomes the user depends on the data alone (the
/// lowest key), not on how many partitions raced for it: runs with 1, 2 and 4 partitions over
/// the kill test's data (whose far-apart duplicates fall in different partitions) migrate the
/// same records and quarantine the same ones, each as the duplicate of the same record.
#[tokio::test(flavor = "multi_thread")]
async fn the_lowest_key_wins_an_address_whatever_the_partitions() {
    let (_, legacy_db, source, mapping) = fake_legacy().await;
    let mut outcomes = Vec::new();
    for concurrency in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("usher.db");
        let store_toml = format!("[store]\ntype = \"sqlite\"\npath = \"{}\"\n", db.display());
        let config = support::write_config(
            dir.path(),
            &store_toml,
            &source,
            &mapping,
            &format!("[backfill]\nbatch_size = 250\nconcurrency = {concurrency}\n"),
        );
        let summary = dir.path().join("summary.json");
        let out = usher(
            &[
                "backfill",
                "--config",
                config.to_str().unwrap(),
                "--json-summary",
                summary.to_str().unwrap(),
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "concurrency {concurrency}: {}",
            text(&out.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();

        let store_config: usher_store::StoreConfig =
            toml::from_str(&store_toml.replace("[store]", "")).unwrap();
        let store = usher_store::open(&store_config).await.unwrap();
        let migrated: BTreeSet<String> = usher_testkit::ledger(store.as_ref(), "legacy")
            .await
            .into_iter()
            .map(|e| e.legacy_id.to_string())
            .collect();
        let filter = QuarantineFilter {
            source: Some("legacy".into()),
        };
        // Each quarantined record with the record it is a duplicate of, if it is one.
        let quarantined: BTreeMap<String, Option<String>> = store
            .quarantine_list(&filter, 100_000, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let of = e
                    .reason
                    .split_once("same address as legacy id ")
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .map(str::to_owned);
                (e.legacy_id.as_str().to_owned(), of)
            })
            .collect();
        store.close().await;
        assert_eq!(
            summary["migrated"].as_u64(),
            Some(migrated.len() as u64),
            "concurrency {concurrency}: the summary's migrated count"
        );
        eprintln!(
            "concurrency {concurrency}: {} migrated, {} quarantined, {} displaced",
            migrated.len(),
            quarantined.len(),
            summary["displaced"]
        );
        outcomes.push((concurrency, migrated, quarantined));
    }
    let (_, one_migrated, one_quarantined) = &outcomes[0];
    assert!(
        one_quarantined.values().filter(|of| of.is_some()).count() > 0,
        "the fake data has no duplicate addresses"
    );
    for (concurrency, migrated, quarantined) in &outcomes[1..] {
        let differ: Vec<_> = one_migrated
            .symmetric_difference(migrated)
            .take(10)
            .collect();
        assert!(
            differ.is_empty(),
            "concurrency {concurrency} migrated other records than one partition: {differ:?}"
        );
        assert_eq!(
            quarantined, one_quarantined,
            "concurrency {concurrency}: the quarantine differs from one partition's"
        );
    }
    legacy_db.remove().await;
}
