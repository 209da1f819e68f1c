//! The dry run predicts the backfill: on a first run partitioned two ways (where partitions
//! race for an address and the lower key must win), and on a second sweep against the store.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use usher_core::{KeyRange, LegacyKey, LegacyRecord, Mapper, MappingConfig, Source, SourceError};
use usher_engine::{BackfillOptions, BackfillReport, DryRunReport, Silent, backfill, dry_run};

use crate::backfill::user_holding;
use usher_store::{ConflictPolicy, Counters, Store};

/// Records held in memory in key order, read as a keyset source reads them.
struct Memory {
    records: Vec<LegacyRecord>,
}

#[async_trait]
impl Source for Memory {
    fn name(&self) -> &str {
        "legacy"
    }

    async fn read(&self, range: &KeyRange, limit: usize) -> Result<Vec<LegacyRecord>, SourceError> {
        Ok(self
            .records
            .iter()
            .filter(|r| range.after.as_ref().is_none_or(|a| int(&r.key) > int(a)))
            .filter(|r| range.until.as_ref().is_none_or(|u| int(&r.key) <= int(u)))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn count(&self) -> Result<Option<u64>, SourceError> {
        Ok(Some(self.records.len() as u64))
    }

    async fn key_bounds(&self) -> Result<Option<(LegacyKey, LegacyKey)>, SourceError> {
        Ok(self
            .records
            .first()
            .zip(self.records.last())
            .map(|(a, b)| (a.key.clone(), b.key.clone())))
    }
}

/// The integer of a key (these tests use no text keys).
fn int(key: &LegacyKey) -> i64 {
    match key {
        LegacyKey::Int(i) => *i,
        LegacyKey::Text(t) => panic!("a text key {t}"),
    }
}

fn record(id: i64, email: &str, login: &str, updated: &str) -> LegacyRecord {
    let Value::Object(fields) = json!({
        "email": email, "login": login, "updated": updated, "pw": "$2b$04$abcdefghijklmnopqrstuu0ZyNkLV3ARsVuNYQ7c1Yw8lqvhzYkF2",
    }) else {
        unreachable!()
    };
    LegacyRecord {
        key: LegacyKey::Int(id),
        fields,
    }
}

/// 600 records, some sharing an address (in any case) or a username with a record far away
/// in key order, so that two partitions meet them in either order.
fn records() -> Vec<LegacyRecord> {
    (1..=600)
        .map(|i| {
            let email = match i {
                // 301..=320 reuse 1..=20's addresses, in capitals.
                301..=320 => format!("USER{}@EXAMPLE.COM", i - 300),
                // 590..=599 reuse 21..=30's usernames with addresses of their own.
                _ => format!("user{i}@example.com"),
            };
            let login = match i {
                590..=599 => format!("login{}", i - 569),
                _ => format!("login{i}"),
            };
            let email = if i % 97 == 0 {
                "not an address".to_owned()
            } else {
                email
            };
            record(i, &email, &login, "2024-01-01T00:00:00Z")
        })
        .collect()
}

fn mapper() -> Arc<Mapper> {
    let config: MappingConfig = serde_json::from_value(json!({
        "fields": {
            "email": "email",
            "username": "login",
            "updated_at": { "from": "updated", "formats": ["rfc3339"] },
        },
        "password": { "hash": "pw" },
    }))
    .unwrap();
    Arc::new(Mapper::new(&config).unwrap())
}

fn options(job: &str, concurrency: u32, policy: ConflictPolicy) -> BackfillOptions {
    BackfillOptions {
        job: job.to_owned(),
        batch_size: 50,
        concurrency,
        policy,
        ..BackfillOptions::default()
    }
}

/// The dry run's figures in the backfill's terms: (read, migrated, skipped, updated,
/// quarantined).
fn predicted(r: &DryRunReport) -> (u64, u64, u64, u64, u64) {
    (
        r.read,
        r.migrate,
        r.skip,
        r.update,
        r.invalid + r.duplicate_emails + r.duplicate_usernames + r.link_refused,
    )
}

fn done(c: Counters) -> (u64, u64, u64, u64, u64) {
    (
        c.read,
        c.migrated_now(),
        c.skipped,
        c.updated,
        c.quarantined,
    )
}

/// The dry run of `source` with the test mapping, against `store` if given.
async fn predict(
    source: &Arc<Memory>,
    store: Option<&Arc<dyn Store>>,
    options: BackfillOptions,
) -> DryRunReport {
    let (source, store) = (source.clone(), store.cloned());
    dry_run(source, mapper(), store, options, Arc::new(Silent))
        .await
        .unwrap()
}

/// The backfill of `source` into `store` with the test mapping.
async fn run(
    source: &Arc<Memory>,
    store: &Arc<dyn Store>,
    options: BackfillOptions,
) -> BackfillReport {
    backfill(
        source.clone(),
        mapper(),
        store.clone(),
        options,
        Arc::new(Silent),
    )
    .await
    .unwrap()
}

/// A fresh SQLite store in `dir`, migrated.
async fn fresh_store(dir: &std::path::Path) -> Arc<dyn Store> {
    Arc::from(usher_testkit::store(dir).await)
}

/// [`records`] as a source.
fn memory() -> Arc<Memory> {
    Arc::new(Memory { records: records() })
}

/// A fresh store in a temporary directory (kept as long as the store is used), and
/// [`records`] as a source.
async fn store_and_source() -> (tempfile::TempDir, Arc<dyn Store>, Arc<Memory>) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(dir.path()).await;
    (dir, store, memory())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_predicts_a_partitioned_first_run_and_a_second_sweep() {
    let (_dir, store, source) = store_and_source().await;

    // First run: predicted without the store (none written yet), run on two partitions.
    let options1 = options("first", 2, ConflictPolicy::Skip);
    let dry = predict(&source, None, options1.clone()).await;
    let report = run(&source, &store, options1).await;
    // 600 read; 6 without an address; 20 address and 10 username duplicates.
    assert_eq!(done(report.run), (600, 564, 0, 0, 36), "{:?}", report.run);
    assert_eq!(predicted(&dry), done(report.run), "{dry:?}");
    // Whichever partition got there first, the lower key holds the address.
    let one = user_holding(&store, "user1@example.com").await;
    assert_eq!(one.legacy_links[0].legacy_id.as_str(), "1");

    // Legacy changes three records; a new job sweeps everything against the store.
    let mut changed = records();
    for i in [10usize, 11, 12] {
        let r = &mut changed[i];
        r.fields
            .insert("updated".into(), json!("2025-01-01T00:00:00Z"));
        r.fields
            .insert("login".into(), json!(format!("renamed{i}")));
    }
    // And one takes another user's address: its update is refused.
    changed[13]
        .fields
        .insert("email".into(), json!("user1@example.com"));
    changed[13]
        .fields
        .insert("updated".into(), json!("2025-01-01T00:00:00Z"));
    let source = Arc::new(Memory { records: changed });
    let options2 = options("sweep", 1, ConflictPolicy::LegacyNewer);
    let dry = predict(&source, Some(&store), options2.clone()).await;
    assert!(dry.against_store);
    let report = run(&source, &store, options2).await;
    assert_eq!(done(report.run), (600, 0, 560, 3, 37), "{:?}", report.run);
    assert_eq!(predicted(&dry), done(report.run), "{dry:?}");
    store.close().await;
}

/// What the dry run reads of the store is nothing: no user, ledger row, quarantine row or
/// event changes, and the dry run plans no partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_against_the_store_writes_nothing() {
    let (_dir, store, source) = store_and_source().await;
    let first = options("first", 1, ConflictPolicy::Skip);
    run(&source, &store, first).await;
    let written = || async {
        (
            store.counts().await.unwrap(),
            store.events(0, 10_000).await.unwrap().len(),
            store.checkpoints("sweep", "legacy").await.unwrap(),
        )
    };
    let before = written().await;
    let sweep = options("sweep", 1, ConflictPolicy::LegacyNewer);
    let dry = predict(&source, Some(&store), sweep).await;
    assert_eq!(dry.skip, 564, "{dry:?}");
    let after = written().await;
    assert_eq!(before, after);
    assert!(after.2.is_empty(), "the dry run planned no partitions");
    store.close().await;
}

/// `--rate` paces the dry run's reads as it paces the backfill's (one pacer for both): 600
/// records at 1000/s take at least 0.6 s, the first chunk's share included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_reads_at_the_rate_asked() {
    let source = memory();
    let mut paced = options("paced", 1, ConflictPolicy::Skip);
    paced.rate = std::num::NonZeroU32::new(1000);
    let started = std::time::Instant::now();
    let dry = predict(&source, None, paced).await;
    assert_eq!(dry.read, 600);
    // A loaded machine can only make it slower: the lower bound, less 10 %, is what is checked.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(540),
        "600 records at 1000/s in {:?}",
        started.elapsed()
    );
}

/// Options that cannot work are refused before anything is read, every problem at once, each
/// named as `[backfill]` names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_that_cannot_work_are_refused_naming_every_key() {
    let bad = BackfillOptions {
        batch_size: 0,
        concurrency: 65,
        max_attempts: 0,
        ..BackfillOptions::default()
    };
    let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["batch_size", "concurrency", "max_attempts"]);
    assert_eq!(BackfillOptions::default().validate(), []);
    let (_dir, store, source) = store_and_source().await;
    let err = backfill(source, mapper(), store.clone(), bad, Arc::new(Silent))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[batch_size] 0 is outside 1..=100000"),
        "{err}"
    );
    assert!(err.contains("[concurrency] 65 is outside 1..=64"), "{err}");
    assert!(err.contains("[max_attempts]"), "{err}");
    assert_eq!(store.checkpoints("backfill", "legacy").await.unwrap(), []);
    store.close().await;
}
