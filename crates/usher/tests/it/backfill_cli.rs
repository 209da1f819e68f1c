//! `usher backfill` as a team first uses it: a legacy MariaDB table with a salt column, the
//! seed's field names, a dry run that writes nothing, quarantine listing and export, the
//! conflict policies on a second sweep, and the read pacing.

use std::time::Instant;

use sqlx::{Connection as _, Executor as _};
use usher_testkit::databases::Database;

use crate::support::{self, figure, text, usher};

/// The seed example's columns (`fname`, `lname`, a string `birthdate`, `phone num`) and an
/// `md5(salt || password)` hash with the salt beside it, as many homegrown systems stored it.
const MAPPING: &str = r#"
[mappings.legacy]
phone_region = "US"

[mappings.legacy.fields]
email = "Email"
given_name = "fname"
family_name = "lname"
birthdate = { from = "birthdate", formats = ["%m/%d/%Y", "%Y-%m-%d"] }
updated_at = "updated"

[mappings.legacy.fields.phone]
from = "phone num"
split = { area_code = "attributes.area_code", number = "attributes.phone_number" }

[mappings.legacy.password]
hash = "pw_hash"
scheme = "md5"
salt = "pw_salt"
salt_position = "prefix"
"#;

/// id, email, fname, lname, birthdate, phone, password, salt.
type Row = (
    i64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const ROWS: &[Row] = &[
    (
        1,
        "ann.lee@example.com",
        "Ann",
        "Lee",
        "03/14/1985",
        "(415) 555-0132",
        "tr0ub4dor",
        "x9Qz",
    ),
    (
        2,
        "bo.ng@example.com",
        "Bo",
        "Ng",
        "1990-07-01",
        "+1 212 555 0199",
        "hunter2",
        "aa01",
    ),
    // A bad date in an optional field: migrated without it, with a warning naming it.
    (
        3,
        "cy.ito@example.com",
        "Cy",
        "Ito",
        "31/02/1999",
        "2125550100",
        "pw3",
        "s3",
    ),
    // Differs from row 1 only in case: not merged, not dropped.
    (
        4,
        "Ann.Lee@Example.com",
        "Ann",
        "Lee-Smith",
        "03/14/1985",
        "",
        "other",
        "zz",
    ),
    (
        5,
        "dee.o@example.com",
        "Dée",
        "Ó",
        "12/31/1969",
        "617.555.0155",
        "ünïcødé",
        "0",
    ),
    // An address that is not one: the mapping refuses the record, which is quarantined as
    // read, and that copy must not carry the hash nor the salt.
    (
        6,
        "six.at.example.com",
        "Six",
        "Sentinel",
        "01/01/1970",
        "",
        "pw6",
        "SALTSENTINEL6",
    ),
];

/// The hashes MariaDB stored, in key order (it computed them itself: MD5(CONCAT(salt, pw))).
async fn stored_hashes(url: &str) -> Vec<String> {
    let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
    let hashes: Vec<(String,)> = sqlx::query_as("SELECT pw_hash FROM members ORDER BY member_id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    hashes.into_iter().map(|(h,)| h).collect()
}

async fn mariadb_legacy() -> String {
    let url = Database::mysql("usher_cli_legacy").await.url;
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    conn.execute(
        "CREATE TABLE members (
            member_id INT PRIMARY KEY,
            Email VARCHAR(255),
            fname VARCHAR(64) CHARACTER SET utf8mb4,
            lname VARCHAR(64) CHARACTER SET utf8mb4,
            birthdate VARCHAR(32),
            `phone num` VARCHAR(32),
            pw_hash CHAR(32),
            pw_salt VARCHAR(16),
            updated DATETIME NOT NULL DEFAULT '2020-01-01 00:00:00'
        ) DEFAULT CHARSET = utf8mb4",
    )
    .await
    .unwrap();
    for (id, email, fname, lname, birthdate, phone, password, salt) in ROWS {
        // MariaDB computes the legacy hash itself: MD5(CONCAT(salt, password)).
        sqlx::query(
            "INSERT INTO members (member_id, Email, fname, lname, birthdate, `phone num`, pw_hash, pw_salt)
             VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), MD5(CONCAT(?, ?)), ?)",
        )
        .bind(id)
        .bind(email)
        .bind(fname)
        .bind(lname)
        .bind(birthdate)
        .bind(phone)
        .bind(salt)
        .bind(password)
        .bind(salt)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.ok();
    url
}

fn config(dir: &std::path::Path, legacy_url: &str) -> String {
    let source = format!(
        "[sources.legacy]\ntype = \"mariadb\"\nurl = \"{legacy_url}\"\ntable = \"members\"\nkey = \"member_id\"\n"
    );
    support::write_config(
        dir,
        "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n",
        &source,
        MAPPING,
        "",
    )
    .to_str()
    .unwrap()
    .to_owned()
}

async fn open_store(dir: &std::path::Path) -> Box<dyn usher_store::Store> {
    usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.join("usher.db"),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mariadb_table_dry_runs_then_backfills_with_every_record_accounted_for() {
    let legacy = mariadb_legacy().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &legacy);

    let out = usher(&["backfill", "--dry-run", "--config", &config], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("nothing was written"), "{stdout}");
    assert!(
        stdout.contains("would migrate 4, with warnings on 1")
            && stdout.contains("would quarantine 1 (mapping) + 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("record 6: field `email`"),
        "the dry run names the record and the field: {stdout}"
    );
    assert!(
        stdout.contains("birthdate") && stdout.contains("e.g. record 3: (from `birthdate`)"),
        "the dry run counts the warnings by field, with examples: {stdout}"
    );
    assert!(
        !dir.path().join("usher.db").exists(),
        "a dry run must not even create the store"
    );

    let out = usher(&["backfill", "--config", &config], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("read 6  migrated 4  updated 0  skipped 0  quarantined 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 migrated users of `legacy` lost an optional field")
            && stdout.contains("e.g. record 3: (from `birthdate`)"),
        "the summary reports the warnings: {stdout}"
    );

    let store = open_store(dir.path()).await;
    // The seed example: first and last name, a real date of birth, area code + number.
    let ann = store
        .user_by_legacy("legacy", "1")
        .await
        .unwrap()
        .expect("row 1 migrated");
    assert_eq!(ann.profile.given_name.as_deref(), Some("Ann"));
    assert_eq!(ann.profile.family_name.as_deref(), Some("Lee"));
    assert_eq!(
        ann.profile.birthdate,
        chrono::NaiveDate::from_ymd_opt(1985, 3, 14)
    );
    assert_eq!(ann.phone.as_ref().map(|p| p.as_str()), Some("+14155550132"));
    assert_eq!(ann.attributes["area_code"], "415");
    assert_eq!(ann.attributes["phone_number"], "5550132");
    // Row 3 lost only its impossible birthdate, and its migration record says so.
    let cy = store
        .user_by_legacy("legacy", "3")
        .await
        .unwrap()
        .expect("row 3 migrated");
    assert_eq!(cy.profile.birthdate, None);
    assert_eq!(cy.phone.as_ref().map(|p| p.as_str()), Some("+12125550100"));
    let warnings = &cy.migration.as_ref().unwrap().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].field, "birthdate");
    assert!(
        warnings[0].reason.contains("migrated without it"),
        "{warnings:?}"
    );
    let out = usher(&["warnings", "--config", &config], &[]);
    let listing = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        listing.contains("1 migrated users carry warnings")
            && listing
                .lines()
                .any(|l| l.contains(&cy.id.to_string()) && l.contains("field `birthdate`")),
        "{listing}"
    );
    let dee = store.user_by_legacy("legacy", "5").await.unwrap().unwrap();
    assert_eq!(dee.profile.given_name.as_deref(), Some("Dée"));

    // The migrated credential verifies the user's password: MariaDB's MD5 with the salt column.
    for (id, password) in [("1", "tr0ub4dor"), ("2", "hunter2"), ("5", "ünïcødé")] {
        let user = store.user_by_legacy("legacy", id).await.unwrap().unwrap();
        let credential = user.credential.expect("a credential");
        let stored = usher_hash::PasswordHash::parse(&credential.hash).unwrap();
        assert!(
            stored
                .verify(&usher_hash::Password::from(password))
                .unwrap(),
            "row {id}"
        );
        assert!(!stored.verify(&usher_hash::Password::from("wrong")).unwrap());
    }

    // Nothing silently dropped: the other two are in quarantine with their reasons.
    let out = usher(&["quarantine", "list", "--config", &config], &[]);
    let listing = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = |id: &str| {
        listing
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("row {id} not listed: {listing}"))
            .to_owned()
    };
    assert!(line("6").contains("email"), "{listing}");
    assert!(
        line("4").contains("duplicate email") && line("4").contains("legacy id 1"),
        "{listing}"
    );

    let export = dir.path().join("quarantine.jsonl");
    let out = usher(
        &[
            "quarantine",
            "export",
            "--config",
            &config,
            "--output",
            export.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let four = lines
        .iter()
        .find(|e| e["legacy_id"] == "4")
        .expect("row 4 exported");
    // The record itself comes along to be fixed, but never its password hash or salt: not for
    // the store-side duplicate (row 4), nor for the record the mapping refused (row 6).
    let record = four.to_string();
    assert!(record.contains("Lee-Smith"), "{record}");
    let six = lines
        .iter()
        .find(|e| e["legacy_id"] == "6")
        .expect("row 6 exported");
    assert!(six.to_string().contains("Sentinel"), "{six}");
    store.close().await;
    let hashes = stored_hashes(&legacy).await;
    let export_text = std::fs::read_to_string(&export).unwrap();
    let mut store_bytes = std::fs::read(dir.path().join("usher.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("usher.db-wal")) {
        store_bytes.extend(wal);
    }
    let store_text = String::from_utf8_lossy(&store_bytes);
    for line in export_text.lines() {
        for h in &hashes {
            assert!(!line.contains(h.as_str()), "a legacy hash leaked: {line}");
        }
        for salt in ["\"zz\"", "SALTSENTINEL6", "pw_hash", "pw_salt"] {
            assert!(!line.contains(salt), "{salt} leaked: {line}");
        }
    }
    // The store holds the quarantined records too: no legacy hash nor salt of a refused row.
    assert!(
        !store_text.contains("SALTSENTINEL6"),
        "the salt is in the store file"
    );
    for (row, hash) in [(4, &hashes[3]), (6, &hashes[5])] {
        assert!(
            !store_text.contains(hash.as_str()),
            "row {row}'s hash is in the store file"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sweep_updates_only_what_legacy_changed_later_and_only_when_asked() {
    let legacy = mariadb_legacy().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &legacy);
    let out = usher(&["backfill", "--config", &config], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Legacy keeps changing while both systems run: row 1 is edited later than its
    // migration; row 2 is edited but its timestamp is older than the migrated copy.
    let mut conn = sqlx::MySqlConnection::connect(&legacy).await.unwrap();
    conn.execute(
        "UPDATE members SET lname = 'Lee-Park', updated = UTC_TIMESTAMP() + INTERVAL 1 HOUR WHERE member_id = 1",
    )
    .await
    .unwrap();
    conn.execute("UPDATE members SET lname = 'Stale' WHERE member_id = 2")
        .await
        .unwrap();
    conn.close().await.ok();

    // Re-running the same job reads only rows added since: nothing changes.
    let out = usher(&["backfill", "--config", &config], &[]);
    assert!(
        text(&out.stdout).contains("this run: read 0"),
        "{}",
        text(&out.stdout)
    );

    // A new sweep with the default policy skips migrated users.
    let out = usher(
        &["backfill", "--job", "sweep-skip", "--config", &config],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("migrated 0  updated 0  skipped 4"),
        "{stdout}"
    );

    // With legacy-newer, only the row edited after its migration is brought over.
    let out = usher(
        &[
            "backfill",
            "--job",
            "sweep-newer",
            "--conflict",
            "legacy-newer",
            "--config",
            &config,
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("migrated 0  updated 1  skipped 3"),
        "{stdout}"
    );

    let store = open_store(dir.path()).await;
    let one = store.user_by_legacy("legacy", "1").await.unwrap().unwrap();
    let two = store.user_by_legacy("legacy", "2").await.unwrap().unwrap();
    assert_eq!(one.profile.family_name.as_deref(), Some("Lee-Park"));
    assert_eq!(two.profile.family_name.as_deref(), Some("Ng"));
    assert_eq!(store.counts().await.unwrap().users, 4, "no duplicate user");
    store.close().await;
}

/// `usher fake --users n` into `dir/legacy.db`, with its config written to `dir/usher.toml`.
fn fake_legacy(dir: &std::path::Path, users: u32) {
    let legacy = dir.join("legacy.db");
    let out = usher(
        &[
            "fake",
            "--users",
            &users.to_string(),
            "--sqlite",
            legacy.to_str().unwrap(),
            "--write-config",
            dir.join("usher.toml").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_paces_the_reads_from_legacy() {
    let dir = tempfile::tempdir().unwrap();
    fake_legacy(dir.path(), 1500);
    let config = dir.path().join("usher.toml");
    let config = config.to_str().unwrap();

    // 500 records/s with chunks of 100: three seconds. Issue 11 item 21: within 10% of the
    // rate asked, so not under 1500 / 550 = 2.73 s (the first second's worth once went at once).
    let started = Instant::now();
    let out = usher(
        &[
            "backfill",
            "--rate",
            "500",
            "--batch-size",
            "100",
            "--config",
            config,
        ],
        &[],
    );
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("read 1500"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        took.as_secs_f64() >= 1500.0 / 550.0,
        "1500 records at 500/s were read in {took:?}: faster than 10% over the rate"
    );
}

/// Issue 11 item 21: without a terminal (stderr is a pipe here, as in a log file) a backfill
/// prints a progress line every few seconds, so a killed run leaves a trace of how far it got.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_without_a_terminal_prints_progress_lines() {
    let dir = tempfile::tempdir().unwrap();
    fake_legacy(dir.path(), 1500);
    let config = dir.path().join("usher.toml");
    // 1500 records at 300/s: about five seconds, so at least one line every two seconds.
    let out = usher(
        &[
            "backfill",
            "--rate",
            "300",
            "--batch-size",
            "100",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: read "))
        .collect();
    assert!(!lines.is_empty(), "no progress line: {stderr}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("/1500") && l.contains("records/s")),
        "{lines:#?}"
    );
}

/// Issue 11 item 27: the dry run says what the backfill then does, on data with username
/// duplicates as well as email duplicates. A record refused for one identifier claims
/// neither, so a later record with its other identifier still migrates.
#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_counts_what_the_backfill_then_does_with_username_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    support::sqlite_legacy(
        &dir.path().join("legacy.db"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, login TEXT)",
        &[
            "INSERT INTO users VALUES (1, 'a@example.com', 'ann')",
            // ann's username: quarantined; b@ stays free.
            "INSERT INTO users VALUES (2, 'b@example.com', 'ann')",
            // a@ in capitals: quarantined.
            "INSERT INTO users VALUES (3, 'A@Example.com', 'cy')",
            "INSERT INTO users VALUES (4, 'd@example.com', 'dee')",
            // No address at all: the mapping refuses it.
            "INSERT INTO users VALUES (5, 'not an address', 'eve')",
            // ANN is ann: quarantined.
            "INSERT INTO users VALUES (6, 'f@example.com', 'ANN')",
            // b@ was never taken (record 2 was refused), nor is cy (record 3 was): migrates.
            "INSERT INTO users VALUES (7, 'b@example.com', 'cy')",
        ],
    )
    .await;
    let config = support::write_config(
        dir.path(),
        "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n",
        "[sources.legacy]\ntype = \"sqlite\"\npath = \"legacy.db\"\ntable = \"users\"\nkey = \"id\"\n",
        "[mappings.legacy.fields]\nemail = \"email\"\nusername = \"login\"\n",
        "",
    );
    let config = config.to_str().unwrap();

    let out = usher(&["backfill", "--dry-run", "--config", config], &[]);
    let dry = text(&out.stdout);
    assert!(out.status.success(), "{dry}{}", text(&out.stderr));
    let out = usher(&["backfill", "--config", config], &[]);
    let real = text(&out.stdout);
    assert!(out.status.success(), "{real}{}", text(&out.stderr));

    assert_eq!(figure(&real, "migrated"), 3, "{real}");
    assert_eq!(figure(&real, "quarantined"), 4, "{real}");
    assert_eq!(
        figure(&dry, "would migrate"),
        figure(&real, "migrated"),
        "dry run:\n{dry}\nbackfill:\n{real}"
    );
    let dry_quarantined = figure(&dry, "would quarantine")
        + figure(&dry, "(mapping) +")
        + figure(&dry, "(email used by an earlier record) +");
    assert_eq!(
        dry_quarantined,
        figure(&real, "quarantined"),
        "dry run:\n{dry}\nbackfill:\n{real}"
    );
    assert_eq!(
        figure(&dry, "(email used by an earlier record) +"),
        2,
        "{dry}"
    );
}

/// A dry run's figures, as its first line and the "already migrated" line print them:
/// (read, migrate, skip, update, quarantine).
fn dry_figures(dry: &str) -> (u64, u64, u64, u64, u64) {
    (
        figure(dry, "  read"),
        figure(dry, "would migrate"),
        figure(dry, "would skip"),
        figure(dry, "would update"),
        figure(dry, "would quarantine")
            + figure(dry, "(mapping) +")
            + figure(dry, "(email used by an earlier record) +"),
    )
}

/// The "this run" figures of a backfill summary, in the order of [`dry_figures`].
fn run_figures(real: &str) -> (u64, u64, u64, u64, u64) {
    let line = real
        .lines()
        .find(|l| l.trim_start().starts_with("this run:"))
        .unwrap_or_else(|| panic!("no `this run` line in {real}"));
    (
        figure(line, "read"),
        figure(line, "migrated"),
        figure(line, "skipped"),
        figure(line, "updated"),
        figure(line, "quarantined"),
    )
}

/// Issue 11 item 27: on a second run the dry run reads the store. Re-running the job reads
/// only the rows added since, as the job would; a new job sweeps everything, skipping what is
/// migrated, updating what legacy changed (`--conflict legacy-newer`), and counting addresses
/// and usernames that stored users hold as duplicates. Each time the run that follows does
/// exactly what the dry run said.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_second_run_the_dry_run_predicts_against_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("legacy.db");
    support::sqlite_legacy(
        &legacy,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, login TEXT, name TEXT, \
         updated TEXT)",
        &[
            "INSERT INTO users VALUES (1, 'a@example.com', 'ann', 'Ann', '2024-01-01T00:00:00Z')",
            "INSERT INTO users VALUES (2, 'b@example.com', 'bo', 'Bo', '2024-01-01T00:00:00Z')",
            "INSERT INTO users VALUES (3, 'c@example.com', 'cy', 'Cy', '2024-01-01T00:00:00Z')",
            "INSERT INTO users VALUES (4, 'd@example.com', 'dee', 'Dee', '2024-01-01T00:00:00Z')",
        ],
    )
    .await;
    let config = support::write_config(
        dir.path(),
        "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n",
        "[sources.legacy]\ntype = \"sqlite\"\npath = \"legacy.db\"\ntable = \"users\"\nkey = \"id\"\n",
        "[mappings.legacy.fields]\nemail = \"email\"\nusername = \"login\"\ngiven_name = \"name\"\n\
         updated_at = { from = \"updated\", formats = [\"rfc3339\"] }\n",
        "",
    );
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["backfill", "--config", config];
        all.extend_from_slice(args);
        let out = usher(&all, &[]);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{all:?}: {stdout}{}",
            text(&out.stderr)
        );
        stdout
    };
    let first = run(&[]);
    assert_eq!(run_figures(&first), (4, 4, 0, 0, 0), "{first}");

    // Legacy moves on: two rows change, six are added.
    support::sqlite_legacy(
        &legacy,
        "UPDATE users SET name = 'Bo Renamed', updated = '2025-01-01T00:00:00Z' WHERE id = 2",
        &[
            // Cy takes Ann's address in legacy: the update is refused.
            "UPDATE users SET email = 'A@example.com', updated = '2025-01-01T00:00:00Z' \
             WHERE id = 3",
            "INSERT INTO users VALUES (5, 'e@example.com', 'eve', 'Eve', NULL)",
            // Dee's address, stored: a duplicate.
            "INSERT INTO users VALUES (6, 'D@EXAMPLE.com', 'fay', 'Fay', NULL)",
            // Ann's username, stored: a duplicate.
            "INSERT INTO users VALUES (7, 'g@example.com', 'ANN', 'Gus', NULL)",
            "INSERT INTO users VALUES (8, 'h@example.com', 'hal', 'Hal', NULL)",
            // Hal's address, taken earlier in this very run.
            "INSERT INTO users VALUES (9, 'H@example.com', 'hal9', 'Hal', NULL)",
            "INSERT INTO users VALUES (10, 'not an address', 'ivy', 'Ivy', NULL)",
        ],
    )
    .await;

    // The same job: only the rows after its cursor.
    let dry = run(&["--dry-run"]);
    assert!(dry.contains("against what the store holds"), "{dry}");
    assert!(
        dry.contains("job `backfill` read 4 records in earlier runs"),
        "{dry}"
    );
    let real = run(&[]);
    assert_eq!(run_figures(&real), (6, 2, 0, 0, 4), "{real}");
    assert_eq!(
        dry_figures(&dry),
        run_figures(&real),
        "dry run:\n{dry}\nrun:\n{real}"
    );

    // A new job sweeps all ten: 1, 4, 5 and 8 are migrated and unchanged; 2 changed; 3 would
    // take Ann's address; 6, 7, 9 and 10 are refused again.
    let args = ["--job", "sweep", "--conflict", "legacy-newer"];
    let dry = run(&[&args[..], &["--dry-run"]].concat());
    let real = run(&args);
    assert_eq!(run_figures(&real), (10, 0, 4, 1, 5), "{real}");
    assert_eq!(
        dry_figures(&dry),
        run_figures(&real),
        "dry run:\n{dry}\nrun:\n{real}"
    );
}

/// `usher quarantine list | head` and the like: when the reader goes away, usher stops quietly
/// instead of panicking on the closed pipe.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_a_listing_quietly() {
    let dir = tempfile::tempdir().unwrap();
    fake_legacy(dir.path(), 1500);
    let config = dir.path().join("usher.toml");
    let config = config.to_str().unwrap();
    assert!(
        usher(&["backfill", "--config", config], &[])
            .status
            .success()
    );
    for args in [
        &["quarantine", "list", "--limit", "1000"][..],
        &["quarantine", "export"],
        &["warnings", "--limit", "1000"],
        &["status"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .args(["--config", config])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("panicked"),
            "{args:?}: {}\n{stderr}",
            out.status
        );
    }
}
