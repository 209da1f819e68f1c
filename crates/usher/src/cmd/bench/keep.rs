//! `usher bench reconcile` and `usher bench outbox`: keeping both sides true, each measured
//! against a raw reference on the same PostgreSQL in the same run.
//!
//! * **reconcile**: `usher reconcile --all` of N fake legacy users, backfilled into a
//!   PostgreSQL store, against a raw keyset read of the same legacy table (`WHERE id > $1
//!   ORDER BY id LIMIT 1000`, every row fetched).
//! * **outbox**: `usher worker --once` delivering N `set_email` rows to a PostgreSQL legacy
//!   (one legacy transaction per row, with the idempotency table), against a raw batched
//!   write of the same N changes (1,000 rows a statement, one transaction each).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};
use sqlx::{Connection as _, PgConnection};

use super::backfill::{backfill, database_url, legacy, recreate};

/// A measured pair: usher's rate and the reference's, per second.
pub struct Pair {
    pub what: &'static str,
    pub n: u64,
    pub usher: f64,
    pub reference: f64,
}

/// Every row of the legacy table by keyset pages of 1,000; rows/s.
async fn keyset_read(url: &str) -> Result<(u64, f64)> {
    let mut c = PgConnection::connect(url).await?;
    let started = Instant::now();
    let (mut after, mut rows) = (i64::MIN, 0u64);
    loop {
        let page = sqlx::query("SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT 1000")
            .bind(after)
            .fetch_all(&mut c)
            .await?;
        let Some(last) = page.last() else { break };
        after = sqlx::Row::try_get::<i64, _>(last, "id")?;
        rows = rows.saturating_add(u64::try_from(page.len()).unwrap_or(0));
    }
    Ok((
        rows,
        rows as f64 / started.elapsed().as_secs_f64().max(1e-9),
    ))
}

pub async fn reconcile(admin_url: &str, users: u64, dir: &Path) -> Result<Pair> {
    std::fs::create_dir_all(dir)?;
    let legacy_url = legacy(admin_url, users).await?;
    eprintln!("{users} users: backfilling into a PostgreSQL store…");
    backfill(admin_url, &legacy_url, "postgres", dir, &[]).await?;
    eprintln!("  raw keyset read…");
    let (_, reference) = keyset_read(&legacy_url).await?;
    eprintln!("  {reference:.0} rows/s; usher reconcile --all…");
    let started = Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .arg("reconcile")
        .arg("--config")
        .arg(dir.join("bench-usher.toml"))
        .args(["--all", "--json"])
        .stderr(std::process::Stdio::null())
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("usher reconcile failed");
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let read = report.get("read").and_then(|v| v.as_u64()).unwrap_or(0);
    let parity = report.get("parity").and_then(|v| v.as_f64()).unwrap_or(0.0);
    eprintln!("  parity {parity}, {read} records in {seconds:.1} s");
    Ok(Pair {
        what: "reconcile --all ÷ raw keyset read (records/s)",
        n: read,
        usher: read as f64 / seconds.max(1e-9),
        reference,
    })
}

/// A fresh legacy database `db` with `n` users and the idempotency table.
async fn fresh_legacy(
    admin: &mut PgConnection,
    admin_url: &str,
    db: &str,
    n: i64,
) -> Result<PgConnection> {
    recreate(admin, db).await?;
    let mut c = PgConnection::connect(&database_url(admin_url, db)).await?;
    sqlx::raw_sql(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL); \
         CREATE TABLE usher_applied (idempotency_key text PRIMARY KEY);",
    )
    .execute(&mut c)
    .await?;
    sqlx::query(
        "INSERT INTO users SELECT i, 'old' || i || '@example.com' FROM generate_series(1, $1) i",
    )
    .bind(n)
    .execute(&mut c)
    .await?;
    Ok(c)
}

pub async fn outbox(admin_url: &str, rows: u64, dir: &Path) -> Result<Pair> {
    std::fs::create_dir_all(dir)?;
    let mut admin = PgConnection::connect(admin_url).await?;
    let (legacy_db, store_db) = ("usher_bench_outbox_legacy", "usher_bench_outbox_store");
    let n = i64::try_from(rows).unwrap_or(i64::MAX);
    // The reference: the same changes, 1,000 a statement.
    let mut c = fresh_legacy(&mut admin, admin_url, legacy_db, n).await?;
    eprintln!("{rows} changes: raw batched write…");
    let started = Instant::now();
    let mut from = 1i64;
    while from <= n {
        let to = from.saturating_add(999).min(n);
        let mut tx = c.begin().await?;
        sqlx::query(
            "UPDATE users SET email = 'new' || v.id || '@example.com' \
             FROM generate_series($1::bigint, $2::bigint) AS v(id) WHERE users.id = v.id",
        )
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        from = to.saturating_add(1);
    }
    let reference = rows as f64 / started.elapsed().as_secs_f64().max(1e-9);
    c.close().await?;

    // usher: the rows in a fresh store's outbox, delivered by a worker.
    let c = fresh_legacy(&mut admin, admin_url, legacy_db, n).await?;
    c.close().await?;
    recreate(&mut admin, store_db).await?;
    let store_url = database_url(admin_url, store_db);
    let legacy_url = database_url(admin_url, legacy_db);
    let config = dir.join("bench-outbox.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntype = \"postgres\"\nurl = \"{store_url}\"\n\n\
             [sources.legacy]\ntype = \"postgres\"\nurl = \"{legacy_url}\"\ntable = \"users\"\nkey = \"id\"\nmax_connections = 16\n\n\
             [sources.legacy.writes]\n\
             set_email = \"UPDATE users SET email = :email WHERE id = :key\"\n\
             idempotency_table = \"usher_applied\"\n\n\
             [mappings.legacy.fields]\nemail = \"email\"\n\n\
             [outbox]\nbatch = 1000\nconcurrency = 32\n"
        ),
    )?;
    let store_config: usher_store::StoreConfig =
        toml::from_str(&format!("type = \"postgres\"\nurl = \"{store_url}\"\n"))?;
    let store = usher_store::open(&store_config).await?;
    store.migrate().await?;
    let mut batch = Vec::new();
    for id in 1..=n {
        let write = usher_core::LegacyWrite::SetEmail {
            key: usher_core::LegacyKey::Int(id),
            email: format!("new{id}@example.com"),
            email_verified: true,
        };
        let user = usher_core::UserId::new();
        batch.push(usher_server::bridge::outbox::owed(
            "legacy",
            user,
            &write,
            format!("email:{id}"),
        ));
        if batch.len() == 5000 || id == n {
            store.enqueue(&batch, chrono::Utc::now()).await?;
            batch.clear();
        }
    }
    eprintln!("  {reference:.0} rows/s; usher worker --once…");
    let started = Instant::now();
    let status = Command::new(std::env::current_exe()?)
        .args(["worker", "--once", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("usher worker failed");
    }
    let stats = store.outbox_stats().await?;
    store.close().await;
    if stats.delivered != rows {
        bail!("the worker delivered {} of {rows}", stats.delivered);
    }
    Ok(Pair {
        what: "outbox delivery ÷ raw batched write (rows/s)",
        n: rows,
        usher: rows as f64 / seconds.max(1e-9),
        reference,
    })
}

pub fn render(pairs: &[Pair]) -> String {
    let mut out = String::from(
        "| measure | rows | usher /s | reference /s | ratio |\n|---|---:|---:|---:|---:|\n",
    );
    for p in pairs {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.2} |\n",
            p.what,
            p.n,
            p.usher,
            p.reference,
            p.usher / p.reference.max(1e-9)
        ));
    }
    out
}
