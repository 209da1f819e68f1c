//! `usher reconcile` finds exactly the divergences a test injects on both sides: field edits
//! in legacy and in the new store, records deleted in legacy, records legacy gained, a user
//! gone from the new store, a record that no longer maps. Its counts equal the injected ones,
//! the parity is identical ÷ compared, and each run is kept in the store. Run against a
//! SQLite, a PostgreSQL and a MariaDB legacy, into a SQLite and a PostgreSQL store.

use serde_json::Value;

use usher_testkit::databases::Database;

use crate::support::{self, text, usher};

const USERS: i64 = 200;

/// A database a test writes to directly: a SQLite file, or a server's fresh database.
enum Db {
    Sqlite(std::path::PathBuf),
    Server(Database),
}

impl Db {
    async fn run(&self, sql: &str) {
        match self {
            Db::Sqlite(path) => support::sqlite_legacy(path, sql, &[]).await,
            Db::Server(db) => db.execute(sql).await,
        }
    }

    /// The `[sources.legacy]` or `[store]` table's location keys.
    fn toml(&self, kind: &str) -> String {
        match self {
            Db::Sqlite(path) => format!("type = \"sqlite\"\npath = {:?}\n", path.to_str().unwrap()),
            Db::Server(db) => format!("type = \"{kind}\"\nurl = \"{}\"\n", db.url),
        }
    }

    async fn remove(self) {
        if let Db::Server(db) = self {
            db.remove().await;
        }
    }
}

fn reconcile(config: &str, extra: &[&str]) -> Value {
    let mut args = vec!["reconcile", "--config", config, "--json"];
    args.extend_from_slice(extra);
    let out = usher(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(&text(&out.stdout)).unwrap()
}

fn count(report: &Value, kind: &str) -> u64 {
    report[kind]["count"].as_u64().unwrap()
}

fn ids(report: &Value, kind: &str) -> Vec<String> {
    report[kind]["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn reconcile_counts_exactly_the_injected_divergences_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = Db::Sqlite(dir.path().join("legacy.db"));
    let store = Db::Sqlite(dir.path().join("usher.db"));
    injected(dir.path(), ("sqlite", legacy), ("sqlite", store)).await;
}

#[tokio::test]
async fn reconcile_counts_exactly_the_injected_divergences_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = Db::Server(Database::postgres("usher_reconcile_legacy").await);
    let store = Db::Server(Database::postgres("usher_reconcile_store").await);
    injected(dir.path(), ("postgres", legacy), ("postgres", store)).await;
}

#[tokio::test]
async fn reconcile_counts_exactly_the_injected_divergences_mariadb() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = Db::Server(Database::mysql("usher_reconcile_legacy").await);
    let store = Db::Sqlite(dir.path().join("usher.db"));
    injected(dir.path(), ("mysql", legacy), ("sqlite", store)).await;
}

async fn injected(
    dir: &std::path::Path,
    (legacy_kind, legacy): (&str, Db),
    (store_kind, store): (&str, Db),
) {
    legacy
        .run(
            "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255), login VARCHAR(255), \
             first_name VARCHAR(255), nick VARCHAR(255))",
        )
        .await;
    let rows: Vec<String> = (1..=USERS)
        .map(|i| format!("({i}, 'user{i}@example.com', 'user{i}', 'First{i}', 'n{i}')"))
        .collect();
    legacy
        .run(&format!("INSERT INTO users VALUES {}", rows.join(", ")))
        .await;
    let config = support::write_config(
        dir,
        &format!("[store]\n{}", store.toml(store_kind)),
        &format!(
            "[sources.legacy]\n{}table = \"users\"\nkey = \"id\"\n",
            legacy.toml(legacy_kind)
        ),
        "[mappings.legacy.fields]\nemail = \"email\"\nusername = \"login\"\ngiven_name = \"first_name\"\nnickname = \"nick\"\n",
        "",
    );
    let config = config.to_str().unwrap();
    let out = usher(&["backfill", "--config", config], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let clean = reconcile(config, &["--all"]);
    assert_eq!(clean["read"], USERS);
    assert_eq!(
        (clean["compared"].as_u64(), clean["identical"].as_u64()),
        (Some(200), Some(200))
    );
    assert_eq!(clean["parity"], 1.0);

    // Legacy: three edits, two deletions, four new records, one record that no longer maps.
    legacy
        .run("UPDATE users SET first_name = 'Changed' WHERE id IN (5, 6, 7)")
        .await;
    legacy.run("DELETE FROM users WHERE id IN (10, 11)").await;
    legacy
        .run(
            "INSERT INTO users VALUES (1001, 'a1@example.com', 'a1', 'A', 'a'), \
         (1002, 'a2@example.com', 'a2', 'A', 'a'), (1003, 'a3@example.com', 'a3', 'A', 'a'), \
         (1004, 'a4@example.com', 'a4', 'A', 'a')",
        )
        .await;
    legacy
        .run("UPDATE users SET email = 'not an address' WHERE id = 40")
        .await;
    // The new store: two edits, one user gone.
    store
        .run(
            "UPDATE users SET given_name = 'Edited' WHERE id IN \
             (SELECT user_id FROM ledger WHERE legacy_id IN ('20', '21'))",
        )
        .await;
    store
        .run(
            "DELETE FROM credentials WHERE user_id IN \
             (SELECT user_id FROM ledger WHERE legacy_id = '30'); \
             CREATE TEMP TABLE gone AS SELECT user_id FROM ledger WHERE legacy_id = '30'; \
             DELETE FROM ledger WHERE legacy_id = '30'; \
             DELETE FROM users WHERE id IN (SELECT user_id FROM gone)",
        )
        .await;

    let csv = dir.join("divergences.csv");
    let report = reconcile(config, &["--csv", csv.to_str().unwrap()]);
    assert_eq!(report["read"], USERS - 2 + 4);
    assert_eq!(count(&report, "missing"), 4 + 1);
    assert_eq!(
        ids(&report, "missing"),
        ["30", "1001", "1002", "1003", "1004"]
    );
    assert_eq!(count(&report, "differing"), 3 + 2);
    assert_eq!(ids(&report, "differing"), ["5", "6", "7", "20", "21"]);
    assert_eq!(count(&report, "unmappable"), 1);
    assert_eq!(count(&report, "deleted_in_legacy"), 2);
    assert_eq!(ids(&report, "deleted_in_legacy"), ["10", "11"]);
    assert_eq!(count(&report, "quarantined"), 0);
    let fields = report["fields"].as_object().unwrap();
    assert_eq!(
        fields.keys().collect::<Vec<_>>(),
        ["profile.given_name"],
        "{fields:?}"
    );
    assert_eq!(fields["profile.given_name"]["count"], 5);
    let compared = 202 + 2;
    let identical = 202 - 5 - 5 - 1;
    assert_eq!(report["compared"], compared);
    assert_eq!(report["identical"], identical);
    let parity = report["parity"].as_f64().unwrap();
    assert!((parity - identical as f64 / compared as f64).abs() < 1e-12);
    // Never a value: the report names fields and legacy ids only.
    let printed = report.to_string();
    for value in ["Changed", "Edited", "not an address", "First5"] {
        assert!(!printed.contains(value), "{value} in {printed}");
    }
    let csv = std::fs::read_to_string(csv).unwrap();
    assert!(csv.contains("missing,,\"1001\""), "{csv}");
    assert!(
        csv.contains("differing,\"profile.given_name\",\"20\""),
        "{csv}"
    );

    // A sample compares some of the records and looks for no deletions.
    let sample = reconcile(config, &["--sample", "50"]);
    assert_eq!(sample["sampled"], true);
    assert_eq!(count(&sample, "deleted_in_legacy"), 0);
    assert!(sample["compared"].as_u64().unwrap() <= 202);

    // Repair (legacy is the system of record): the missing are migrated, the differing
    // rewritten from legacy, on both sides' edits; what a repair cannot decide stays reported.
    let repaired = reconcile(config, &["--repair"]);
    assert_eq!(
        repaired["compared"], compared,
        "the report is of before the repair"
    );
    assert_eq!(
        repaired["repaired"],
        serde_json::json!({"migrated": 5, "updated": 5, "quarantined": 0})
    );
    let after = reconcile(config, &[]);
    assert_eq!(count(&after, "missing"), 0);
    assert_eq!(count(&after, "differing"), 0);
    assert_eq!(count(&after, "unmappable"), 1);
    assert_eq!(count(&after, "deleted_in_legacy"), 2);
    assert_eq!(after["identical"], compared - 3);
    assert_eq!(after["repaired"]["migrated"], 0, "no repair unless asked");

    // Every run is kept, newest first; the text report states the figure.
    let out = usher(&["reconcile", "--config", config], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let parity = (compared - 3) as f64 / compared as f64;
    let expected = format!("parity {:.4}%", parity * 100.0);
    assert!(printed.contains(&expected), "{printed}");
    assert!(
        printed.contains("deleted_in_legacy          2  e.g. 10, 11"),
        "{printed}"
    );
    // `usher status` shows each source's latest reconciliation.
    let status = usher(&["status", "--config", config, "--json"], &[]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_str(&text(&status.stdout)).unwrap();
    assert_eq!(status["sources"][0]["reconciled"]["compared"], compared);
    let status = text(&usher(&["status", "--config", config], &[]).stdout);
    let line = format!("parity {:.4}% of {compared} compared", parity * 100.0);
    assert!(status.contains(&line), "{status}");

    let store_config: usher_store::StoreConfig = toml::from_str(&store.toml(store_kind)).unwrap();
    let opened = usher_store::open(&store_config).await.unwrap();
    let runs = opened.reconciliations(Some("legacy"), 10).await.unwrap();
    assert_eq!(runs.len(), 6);
    assert_eq!(
        (runs[0].compared, runs[0].identical),
        (compared, compared - 3)
    );
    // Newest first: the text run, after, the repair, the sample, the CSV run, the clean one.
    assert_eq!((runs[2].compared, runs[2].identical), (compared, identical));
    assert_eq!((runs[4].compared, runs[4].identical), (compared, identical));
    assert_eq!((runs[5].compared, runs[5].identical), (200, 200));
    opened.close().await;
    legacy.remove().await;
    store.remove().await;
}
