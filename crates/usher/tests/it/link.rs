//! Two legacy products, one person: `usher backfill` of a second source links the records
//! whose verified address a user of the first already holds, by the `[link]` rules, and
//! `usher status` counts them. Real SQLite legacy databases, the real binary.

use crate::support::{sqlite_legacy as legacy, text, usher};

/// The store and the two products' tables; each test adds its mappings and `[link]` rules.
const SOURCES: &str = r#"
[store]
type = "sqlite"
path = "usher.db"

[sources.app]
type = "sqlite"
path = "app.db"
table = "users"
key = "id"

[sources.shop]
type = "sqlite"
path = "shop.db"
table = "customers"
key = "id"
"#;

const MAPPINGS: &str = r#"
[mappings.app.fields]
email = "email"
email_verified = { from = "verified", map = { "1" = true, "0" = false } }
given_name = "name"
updated_at = { from = "updated", formats = ["rfc3339"] }

[mappings.shop.fields]
email = "email"
email_verified = { from = "email_confirmed", map = { "1" = true, "0" = false } }
given_name = "first_name"
phone = { from = "phone", region = "US" }
updated_at = { from = "changed", formats = ["rfc3339"] }
status = { from = "state", map = { open = "active", closed = "disabled" } }

[link]
default = "keep"
[link.fields]
given_name = "prefer:shop"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_source_links_verified_addresses_and_status_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    legacy(
        &dir.path().join("app.db"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, verified INTEGER, name TEXT, \
         updated TEXT)",
        &[
            "INSERT INTO users VALUES (1, 'ann@example.com', 1, 'Ann', '2024-01-01T00:00:00Z')",
            "INSERT INTO users VALUES (2, 'bo@example.com', 1, 'Bo', '2024-01-01T00:00:00Z')",
            "INSERT INTO users VALUES (3, 'cy@example.com', 1, 'Cy', '2024-01-01T00:00:00Z')",
        ],
    )
    .await;
    legacy(
        &dir.path().join("shop.db"),
        "CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, email_confirmed INTEGER, \
         first_name TEXT, phone TEXT, changed TEXT, state TEXT)",
        &[
            // Ann, in capitals, verified: the same person.
            "INSERT INTO customers VALUES ('s-1', 'ANN@Example.com', 1, 'Annie', \
             '(415) 555-0132', '2024-06-01T00:00:00Z', 'open')",
            // Bo's address, never confirmed in the shop: not linked, quarantined.
            "INSERT INTO customers VALUES ('s-2', 'bo@example.com', 0, 'Bob', NULL, \
             '2024-06-01T00:00:00Z', 'open')",
            // Only in the shop: a new user.
            "INSERT INTO customers VALUES ('s-3', 'dee@example.com', 1, 'Dee', NULL, \
             '2024-06-01T00:00:00Z', 'open')",
            // Cy's address, verified, but the shop closed the account: linking would reopen
            // it or shut Cy out, so it is quarantined for a person to decide.
            "INSERT INTO customers VALUES ('s-4', 'cy@example.com', 1, 'Cy', NULL, \
             '2024-06-01T00:00:00Z', 'closed')",
        ],
    )
    .await;
    let config = dir.path().join("usher.toml");
    std::fs::write(&config, format!("{SOURCES}{MAPPINGS}")).unwrap();
    let config = config.to_str().unwrap();

    let out = usher(&["backfill", "--config", config, "--source", "app"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Issue 11 item 27: the dry run predicts the links and the refused links, with reasons.
    let dry = usher(
        &[
            "backfill",
            "--config",
            config,
            "--source",
            "shop",
            "--dry-run",
        ],
        &[],
    );
    let dry = text(&dry.stdout);
    let out = usher(&["backfill", "--config", config, "--source", "shop"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("read 4  migrated 1  linked 1  updated 0  skipped 0  quarantined 2"),
        "{stdout}"
    );
    assert!(
        dry.contains("read 4  would migrate 1,")
            && dry.contains("+ 0 (username used by an earlier record) + 2 (link refused)")
            && dry.contains("would link 1 to users of other sources, and refuse 2 links"),
        "{dry}"
    );
    assert!(
        dry.contains("record s-2: duplicate email")
            && dry.contains("not verified in the linked record")
            && dry.contains("record s-4: duplicate email")
            && dry.contains("the linked record is disabled in its source"),
        "{dry}"
    );

    let out = usher(&["status", "--config", config, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["users"], 4, "ann, bo, cy and dee: no duplicate ann");
    assert_eq!(status["linked_users"], 1);
    // Per source: a linked record is not a migrated one, and a quarantined record is not
    // remaining (it has its reason); the shop's four are one new, one linked, two held.
    let per_source = |name: &str| {
        let s = status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {status}"));
        let n = |k: &str| {
            s[k].as_u64()
                .unwrap_or_else(|| panic!("{k} of {name}: {s}"))
        };
        (
            n("legacy_records"),
            n("migrated"),
            n("linked"),
            n("quarantined"),
            n("remaining"),
        )
    };
    assert_eq!(per_source("app"), (3, 3, 0, 0, 0));
    assert_eq!(per_source("shop"), (4, 1, 1, 2, 0));
    let out = usher(&["status", "--config", config], &[]);
    let table = text(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains("linked (sources)") && l.trim_end().ends_with(" 1")),
        "{table}"
    );

    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.path().join("usher.db"),
    })
    .await
    .unwrap();
    let ann = store.user_by_legacy("app", "1").await.unwrap().unwrap();
    assert_eq!(
        store
            .user_by_legacy("shop", "s-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        ann.id
    );
    // given_name: the shop's wins (`prefer:shop`); the phone only the shop had is kept.
    assert_eq!(ann.profile.given_name.as_deref(), Some("Annie"));
    assert_eq!(ann.phone.as_ref().map(|p| p.as_str()), Some("+14155550132"));
    assert_eq!(ann.legacy_links.len(), 2);
    let bo = store.user_by_legacy("app", "2").await.unwrap().unwrap();
    assert_eq!(bo.profile.given_name.as_deref(), Some("Bo"));
    assert!(store.user_by_legacy("shop", "s-2").await.unwrap().is_none());
    let quarantine = store
        .quarantine_list(
            &usher_store::QuarantineFilter {
                source: Some("shop".into()),
            },
            10,
            0,
        )
        .await
        .unwrap();
    let reasons: Vec<(&str, &str)> = quarantine
        .iter()
        .map(|q| (q.legacy_id.as_str(), q.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].0 == "s-2" && reasons[0].1.contains("not verified in the linked record"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "s-4"
            && reasons[1]
                .1
                .contains("the linked record is disabled in its source"),
        "{reasons:?}"
    );
    let cy = store.user_by_legacy("app", "3").await.unwrap().unwrap();
    // Cy keeps the status app gave (no password there: reset required), not the shop's.
    assert_eq!(
        (cy.status, cy.legacy_links.len()),
        (usher_core::Status::PasswordResetRequired, 1)
    );
    store.close().await;

    // Again: nothing new, nothing doubled; and a new job's sweep, predicted first: the linked
    // and the migrated record are skipped, the two refusals stand.
    let out = usher(&["backfill", "--config", config, "--source", "shop"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sweep = [
        "backfill", "--config", config, "--source", "shop", "--job", "sweep",
    ];
    let dry = text(&usher(&[&sweep[..], &["--dry-run"]].concat(), &[]).stdout);
    let out = usher(&sweep, &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("read 4  migrated 0  updated 0  skipped 2  quarantined 2"),
        "{stdout}"
    );
    assert!(
        dry.contains("read 4  would migrate 0,")
            && dry.contains("+ 2 (link refused)")
            && dry.contains("would skip 2  would update 0")
            && dry.contains("would link 0 to users of other sources, and refuse 2 links"),
        "{dry}"
    );
    let out = usher(&["status", "--config", config, "--json"], &[]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (status["users"].as_u64(), status["linked_users"].as_u64()),
        (Some(4), Some(1))
    );
}

/// Linking survives SIGKILL: a second source (an NDJSON export) is backfilled with `[link]`
/// while being killed at random points, then run to the end. Every record of it ends up in
/// exactly one place — linked to the first source's user with its address, a new user, or the
/// quarantine with a reason — and no user is doubled or half-linked.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_linking_backfill_resumes_with_every_record_in_one_place() {
    const N: usize = 12_000;
    let dir = tempfile::tempdir().unwrap();
    let app_rows: Vec<String> = (0..N)
        .map(|i| {
            format!(
                "INSERT INTO users VALUES ({i}, 'u{i}@example.com', 1, 'App {i}', \
                 '2024-01-01T00:00:00Z')"
            )
        })
        .collect();
    let app_refs: Vec<&str> = app_rows.iter().map(String::as_str).collect();
    legacy(
        &dir.path().join("app.db"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, verified INTEGER, name TEXT, \
         updated TEXT)",
        &app_refs,
    )
    .await;
    // The shop: even i is app user i (address in other case), odd i someone new; every 1000th
    // odd record repeats the previous odd record's address (a duplicate within the shop).
    let mut shop = String::new();
    for i in 0..N {
        let email = if i % 2 == 0 {
            format!("U{i}@Example.COM")
        } else if i % 1000 == 1 && i > 1 {
            format!("new{}@example.com", i - 2)
        } else {
            format!("new{i}@example.com")
        };
        shop.push_str(&format!(
            "{{\"id\": \"s-{i:05}\", \"email\": \"{email}\", \"first_name\": \"Shop {i}\"}}\n"
        ));
    }
    std::fs::write(dir.path().join("shop.ndjson"), shop).unwrap();
    let config = dir.path().join("usher.toml");
    std::fs::write(
        &config,
        r#"
[store]
type = "sqlite"
path = "usher.db"

[sources.app]
type = "sqlite"
path = "app.db"
table = "users"
key = "id"

[sources.shop]
type = "jsonl"
path = "shop.ndjson"
key = "id"

[mappings.app.fields]
email = "email"
email_verified = { from = "verified", map = { "1" = true, "0" = false } }
given_name = "name"

[mappings.shop.fields]
email = "email"
given_name = "first_name"

[backfill]
batch_size = 200

[link]
allow_unverified = true
default = "incoming"
"#,
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = usher(&["backfill", "--config", config, "--source", "app"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Each run is killed once it has visibly moved on (more shop records in the ledger than
    // when it started), then a little later, at a different point each time: a loaded
    // machine may make a run slow, but never makes it die before it did anything.
    let db = dir.path().join("usher.db");
    let mut killed = 0;
    for extra_ms in [0u64, 40, 15, 90, 5] {
        let start = ledger_rows(&db, "shop").await;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["backfill", "--config", config, "--source", "shop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none()
            && ledger_rows(&db, "shop").await <= start
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        std::thread::sleep(std::time::Duration::from_millis(extra_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed >= 2,
        "the linking backfill finished before it was killed"
    );
    // The killed runs got somewhere: the final run resumes linking, it does not start it.
    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.path().join("usher.db"),
    })
    .await
    .unwrap();
    let before = store.counts().await.unwrap().linked_users;
    store.close().await;
    assert!(before > 0, "no link was made before the final run");
    let out = usher(&["backfill", "--config", config, "--source", "shop"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.path().join("usher.db"),
    })
    .await
    .unwrap();
    let ledger = |source: &'static str| {
        let store = &store;
        async move {
            let mut rows = std::collections::BTreeMap::new();
            for e in usher_testkit::ledger(store.as_ref(), source).await {
                assert!(rows.insert(e.legacy_id.to_string(), e.user_id).is_none());
            }
            rows
        }
    };
    let app = ledger("app").await;
    let shop = ledger("shop").await;
    let app_users: std::collections::BTreeMap<_, _> =
        app.iter().map(|(k, u)| (*u, k.clone())).collect();
    let quarantined: std::collections::BTreeMap<String, String> = store
        .quarantine_list(
            &usher_store::QuarantineFilter {
                source: Some("shop".into()),
            },
            100_000,
            0,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.legacy_id, e.reason))
        .collect();
    assert_eq!(app.len(), N);
    let mut linked = 0;
    for i in 0..N {
        let key = format!("s-{i:05}");
        match (shop.get(&key), quarantined.get(&key)) {
            (Some(user), None) if i % 2 == 0 => {
                assert_eq!(
                    app_users.get(user),
                    Some(&i.to_string()),
                    "{key} linked to app {i}"
                );
                linked += 1;
            }
            (Some(user), None) => assert!(!app_users.contains_key(user), "{key} is new"),
            (None, Some(reason)) => {
                assert!(i % 1000 == 1 && i > 1, "{key} quarantined: {reason}");
                assert!(reason.contains("duplicate email"), "{reason}");
            }
            other => panic!("{key} is in {other:?}"),
        }
    }
    let distinct: std::collections::BTreeSet<_> = shop.values().collect();
    assert_eq!(distinct.len(), shop.len(), "two shop records on one user");
    let counts = store.counts().await.unwrap();
    assert_eq!(linked, N / 2);
    assert_eq!(counts.linked_users, (N / 2) as u64);
    assert_eq!(counts.users as usize, N + shop.len() - linked);
    // The linked users carry the shop's first name (`incoming`), and both ids.
    let ann = store
        .user_by_legacy("shop", "s-00042")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ann.profile.given_name.as_deref(), Some("Shop 42"));
    assert_eq!(ann.legacy_links.len(), 2);
    store.close().await;
    eprintln!(
        "linking: {killed} kills, {before} linked before the final run, {linked} in all, {} \
         quarantined",
        quarantined.len()
    );
}

/// How many ledger rows `source` has in the SQLite store at `db`, read beside a running
/// backfill (WAL: the reader never waits for the writer). A failed read counts as none.
async fn ledger_rows(db: &std::path::Path, source: &str) -> i64 {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true);
    let Ok(mut conn) = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await
    else {
        return 0;
    };
    let n = sqlx::query_scalar("SELECT count(*) FROM ledger WHERE source = ?1")
        .bind(source)
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    sqlx::Connection::close(conn).await.ok();
    n
}

/// Issue 11 item 27: the dry run predicts a link the store would refuse because the merged
/// username belongs to another user (`username = "prefer:shop"` gives Ann the shop's `bo`,
/// which Bo holds), or that an earlier chunk of the same run took; the run then does what the
/// dry run said.
#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_predicts_links_refused_for_a_merged_username() {
    let dir = tempfile::tempdir().unwrap();
    legacy(
        &dir.path().join("app.db"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, verified INTEGER, login TEXT)",
        &[
            "INSERT INTO users VALUES (1, 'ann@example.com', 1, 'ann1')",
            "INSERT INTO users VALUES (2, 'bo@example.com', 1, 'bo')",
            "INSERT INTO users VALUES (3, 'cy@example.com', 1, 'cy')",
        ],
    )
    .await;
    legacy(
        &dir.path().join("shop.db"),
        "CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, email_confirmed INTEGER, \
         login TEXT)",
        &[
            // Ann would take Bo's username: refused.
            "INSERT INTO customers VALUES ('s-1', 'ann@example.com', 1, 'bo')",
            // A new user takes `dee`...
            "INSERT INTO customers VALUES ('s-2', 'dee@example.com', 1, 'dee')",
            // ...so Cy's link, which would rename Cy to `dee`, is refused.
            "INSERT INTO customers VALUES ('s-3', 'cy@example.com', 1, 'dee')",
            // And a link that keeps its username free goes through.
            "INSERT INTO customers VALUES ('s-4', 'BO@example.com', 1, 'bo')",
        ],
    )
    .await;
    let config = dir.path().join("usher.toml");
    std::fs::write(
        &config,
        SOURCES.to_owned()
            + r#"
[mappings.app.fields]
email = "email"
email_verified = { from = "verified", map = { "1" = true, "0" = false } }
username = "login"

[mappings.shop.fields]
email = "email"
email_verified = { from = "email_confirmed", map = { "1" = true, "0" = false } }
username = "login"

[link]
default = "keep"
[link.fields]
username = "prefer:shop"
"#,
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = usher(&["backfill", "--config", config, "--source", "app"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One record a chunk, so `dee` is written (or, in the dry run, claimed) before Cy's link.
    let shop = [
        "backfill",
        "--config",
        config,
        "--source",
        "shop",
        "--batch-size",
        "1",
    ];
    let dry = text(&usher(&[&shop[..], &["--dry-run"]].concat(), &[]).stdout);
    let out = usher(&shop, &[]);
    let real = text(&out.stdout);
    assert!(out.status.success(), "{real}{}", text(&out.stderr));
    assert!(
        real.contains("read 4  migrated 1  linked 1  updated 0  skipped 0  quarantined 2"),
        "{real}"
    );
    assert!(
        dry.contains("read 4  would migrate 1,")
            && dry.contains("+ 2 (link refused)")
            && dry.contains("would link 1 to users of other sources, and refuse 2 links"),
        "{dry}"
    );
    assert!(
        dry.contains("record s-1: duplicate email")
            && dry.contains("not linked: the merged username belongs to user")
            && dry.contains("record s-3: duplicate email")
            && dry.contains("not linked: the merged username belongs to an earlier record"),
        "{dry}"
    );
}
