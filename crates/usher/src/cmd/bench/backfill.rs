//! `usher bench backfill`: users/s and peak RSS of a backfill from a legacy PostgreSQL table,
//! against a raw `COPY` of the same rows into a bare table, in the same run.
//!
//! 1. A legacy database `usher_bench_legacy_<N>` gets N fake users (`usher fake`); it is kept
//!    and reused by later runs with the same N.
//! 2. The reference: `COPY users TO STDOUT` from it, streamed into `COPY bare FROM STDIN` of a
//!    table with the same columns and no index or constraint, in a fresh database: the fastest
//!    way PostgreSQL can move these rows.
//! 3. `usher backfill` of the same table into a fresh store (PostgreSQL or SQLite), as a child
//!    process, which reports its own peak RSS.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use futures::TryStreamExt as _;
use serde::Deserialize;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

use crate::cmd::fake::data::mapping_toml;

/// What the child backfill reports with `--json-summary`.
#[derive(Debug, Deserialize)]
pub struct Summary {
    pub read: u64,
    pub migrated: u64,
    pub quarantined: u64,
    pub seconds: f64,
    pub peak_rss_bytes: Option<u64>,
}

pub struct Row {
    pub store: String,
    pub users: u64,
    pub backfill: Summary,
    pub copy_rows_per_second: f64,
}

pub(crate) fn database_url(admin: &str, db: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i.saturating_add(3));
    let path_start = base
        .get(scheme_end..)
        .and_then(|r| r.find('/'))
        .map_or(base.len(), |i| scheme_end.saturating_add(i));
    let mut url = format!("{}/{db}", base.get(..path_start).unwrap_or(base));
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

pub(crate) async fn recreate(admin: &mut PgConnection, db: &str) -> Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut *admin)
    .await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut *admin)
        .await?;
    Ok(())
}

/// Makes sure the legacy database holds exactly `users` fake users.
pub(crate) async fn legacy(admin_url: &str, users: u64) -> Result<String> {
    let db = format!("usher_bench_legacy_{users}");
    let url = database_url(admin_url, &db);
    let ready = match PgConnection::connect(&url).await {
        Ok(mut c) => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users")
            .fetch_one(&mut c)
            .await
            .is_ok_and(|n| u64::try_from(n).ok() == Some(users)),
        Err(_) => false,
    };
    if !ready {
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        recreate(&mut admin, &db).await?;
        eprintln!("Generating {users} fake legacy users in {db}…");
        let status = Command::new(std::env::current_exe()?)
            .args(["fake", "--users", &users.to_string(), "--replace"])
            .env("USHER_FAKE_POSTGRES_URL", &url)
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("usher fake failed");
        }
    }
    Ok(url)
}

/// Streams the legacy table into a bare copy; returns rows/s.
async fn copy_reference(admin_url: &str, legacy_url: &str) -> Result<f64> {
    let db = "usher_bench_copy";
    let mut admin = PgConnection::connect(admin_url).await?;
    recreate(&mut admin, db).await?;
    let mut target = PgConnection::connect(&database_url(admin_url, db)).await?;
    sqlx::query(
        "CREATE TABLE bare (id bigint, email text, username text, fname text, lname text, birthdate text, \
         \"phone num\" text, password_hash text, password_salt text, hash_algo text, status char(1), \
         email_verified boolean, locale text, created_at timestamptz, updated_at timestamptz, profile jsonb)",
    )
    .execute(&mut target)
    .await?;
    let mut source = PgConnection::connect(legacy_url).await?;
    sqlx::query("CHECKPOINT").execute(&mut admin).await.ok();
    let started = Instant::now();
    let mut rows = 0u64;
    {
        let mut out = source.copy_out_raw("COPY users TO STDOUT").await?;
        let mut copy = target.copy_in_raw("COPY bare FROM STDIN").await?;
        while let Some(bytes) = out.try_next().await? {
            rows = rows.saturating_add(
                u64::try_from(bytes.iter().filter(|&&b| b == b'\n').count()).unwrap_or(0),
            );
            copy.send(bytes).await?;
        }
        copy.finish().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .ok();
    Ok(rows as f64 / secs.max(1e-9))
}

/// Backfills the legacy table into a fresh store of `kind` in a child process.
pub(crate) async fn backfill(
    admin_url: &str,
    legacy_url: &str,
    kind: &str,
    dir: &std::path::Path,
    args: &[String],
) -> Result<Summary> {
    let store = match kind {
        "postgres" => {
            let mut admin = PgConnection::connect(admin_url).await?;
            recreate(&mut admin, "usher_bench_store").await?;
            format!(
                "[store]\ntype = \"postgres\"\nurl = \"{}\"\n",
                database_url(admin_url, "usher_bench_store")
            )
        }
        _ => {
            let path = dir.join("bench-store.db");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            // Beside the config, whose relative paths are read from its own directory.
            "[store]\ntype = \"sqlite\"\npath = \"bench-store.db\"\n".to_owned()
        }
    };
    let config = dir.join("bench-usher.toml");
    std::fs::write(
        &config,
        format!(
            "{store}\n[sources.legacy]\ntype = \"postgres\"\nurl = \"{legacy_url}\"\ntable = \"users\"\nkey = \"id\"\n\n{}",
            mapping_toml("legacy")
        ),
    )?;
    let summary = dir.join("bench-summary.json");
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("backfill")
        .arg("--config")
        .arg(&config)
        .arg("--json-summary")
        .arg(&summary);
    cmd.args(args);
    let status = cmd.stdout(std::process::Stdio::null()).status()?;
    if !status.success() {
        bail!("the backfill into {kind} failed");
    }
    let s: Summary = serde_json::from_slice(&std::fs::read(&summary)?)?;
    Ok(s)
}

pub async fn run(
    users: Vec<u64>,
    stores: Vec<String>,
    admin_url: String,
    dir: PathBuf,
    extra: Vec<String>,
) -> Result<Vec<Row>> {
    std::fs::create_dir_all(&dir)?;
    let mut rows = Vec::new();
    for &n in &users {
        let legacy_url = legacy(&admin_url, n).await?;
        for kind in &stores {
            eprintln!("{n} users into {kind}: raw COPY reference…");
            let copy = copy_reference(&admin_url, &legacy_url).await?;
            eprintln!("  {copy:.0} rows/s; backfill…");
            let summary = backfill(&admin_url, &legacy_url, kind, &dir, &extra).await?;
            eprintln!(
                "  {:.0} users/s, peak RSS {} MB",
                summary.read as f64 / summary.seconds.max(1e-9),
                summary.peak_rss_bytes.map_or(0, |b| b >> 20)
            );
            rows.push(Row {
                store: kind.clone(),
                users: n,
                backfill: summary,
                copy_rows_per_second: copy,
            });
        }
    }
    Ok(rows)
}

pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| legacy PostgreSQL → store | users | migrated | quarantined | backfill s | users/s | peak RSS | raw COPY rows/s | backfill ÷ COPY |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let rate = r.backfill.read as f64 / r.backfill.seconds.max(1e-9);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {} MB | {:.0} | **{:.2}×** |\n",
            r.store,
            r.users,
            r.backfill.migrated,
            r.backfill.quarantined,
            r.backfill.seconds,
            rate,
            r.backfill.peak_rss_bytes.map_or(0, |b| b >> 20),
            r.copy_rows_per_second,
            rate / r.copy_rows_per_second.max(1e-9)
        ));
    }
    out
}
