//! How fast `write_chunk` moves users, on SQLite and on PostgreSQL, next to a raw `COPY` of the
//! same rows (one row per user, every value the store keeps) into a bare PostgreSQL table (no
//! index, no constraint) and into one with just the id, email and username unique indexes: the
//! floors the PostgreSQL path is measured against. It also prints this process's peak RSS.
//!
//! ```text
//! export USHER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:55432/postgres
//! cargo run --release -p usher-store --example store_throughput -- 1000000
//! cargo run --release -p usher-store --example store_throughput -- 1000000 --backend postgres --partitions 2
//! ```
//!
//! Options: `N` users (default 100000), `--backend sqlite|postgres|both` (default both),
//! `--chunk` users per chunk (default 5000), `--partitions` concurrent writers (default 1).
//! SQLite writes to a temporary file; PostgreSQL to a fresh database on the cluster named by
//! `USHER_TEST_POSTGRES_URL`, dropped afterwards. Only `write_chunk` calls are timed; making
//! the synthetic users is not.

// A benchmark harness: its failures are operator errors and end the run with a message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use usher_core::{
    Credential, Email, LegacyKey, LegacyRecord, Method, Migration, PhoneE164, Profile, Status,
    User, UserId, Username,
};
use usher_hash::Scheme;
use usher_store::{ChunkUser, ChunkWrite, Store, StoreConfig, open};

struct Args {
    n: u64,
    sqlite: bool,
    postgres: bool,
    chunk: u64,
    partitions: u64,
}

fn args() -> Args {
    let mut a = Args {
        n: 100_000,
        sqlite: true,
        postgres: true,
        chunk: 5_000,
        partitions: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--backend" => match it.next().as_deref() {
                Some("sqlite") => a.postgres = false,
                Some("postgres") => a.sqlite = false,
                Some("both") => {}
                other => panic!("--backend sqlite|postgres|both, not {other:?}"),
            },
            "--chunk" => a.chunk = it.next().and_then(|v| v.parse().ok()).expect("--chunk N"),
            "--partitions" => {
                a.partitions = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--partitions N")
            }
            n => a.n = n.replace('_', "").parse().expect("N users"),
        }
    }
    a.partitions = a.partitions.max(1);
    a.chunk = a.chunk.max(1);
    a
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_600_000_000, 0).unwrap()
}

/// A synthetic legacy user: a bcrypt hash, a profile, four attributes, its legacy record.
fn synthetic(key: i64) -> ChunkUser {
    let email = format!("User.{key}@Example{}.com", key % 97);
    let username = format!("user_{key}");
    // 60 characters, the shape of a bcrypt hash.
    let hash = format!("$2b$10${key:0>53}");
    let fields: Map<String, Value> = serde_json::from_value(json!({
        "id": key,
        "email": email,
        "username": username,
        "first_name": "Ann",
        "last_name": format!("Lee{key}"),
        "password_hash": hash,
        "created": "2020-09-13T12:26:40Z",
        "plan": "pro",
    }))
    .unwrap();
    let record = LegacyRecord {
        key: LegacyKey::Int(key),
        fields,
    };
    let created = t0() + chrono::Duration::seconds(key);
    let user = User {
        id: UserId::new(),
        email: Some(Email::parse(&email).unwrap()),
        email_verified: key % 3 != 0,
        username: Some(Username::parse(&username).unwrap()),
        phone: (key % 2 == 0)
            .then(|| PhoneE164::parse(&format!("+1415{:07}", key % 10_000_000)).unwrap()),
        profile: Profile {
            given_name: Some("Ann".into()),
            family_name: Some(format!("Lee{key}")),
            name: Some(format!("Ann Lee{key}")),
            birthdate: NaiveDate::from_ymd_opt(1990, 1, 1),
            locale: Some("en-US".into()),
            ..Profile::default()
        },
        attributes: serde_json::from_value(json!({
            "plan": "pro",
            "signup_source": "web",
            "newsletter": key % 2 == 0,
            "score": key % 1000,
        }))
        .unwrap(),
        credential: Some(Credential {
            hash,
            scheme: Scheme::Bcrypt,
        }),
        status: Status::Active,
        created_at: created,
        updated_at: created,
        legacy_links: vec![],
        migration: Some(Migration {
            method: Method::Bulk,
            at: Utc::now(),
            source: "legacy".into(),
            original: record.to_json(),
            warnings: Vec::new(),
        }),
    };
    ChunkUser {
        key: LegacyKey::Int(key),
        checksum: record.checksum(),
        user,
        legacy_updated_at: Some(created),
    }
}

fn chunk_of(partition: u64, from: i64, to: i64, done: bool) -> ChunkWrite {
    let mut c = ChunkWrite::new("bench", "legacy", partition as u32);
    c.users = (from..to).map(synthetic).collect();
    c.read = (to - from) as u64;
    c.cursor = Some(LegacyKey::Int(to - 1));
    c.done = done;
    c
}

/// Writes `n` users in `partitions` concurrent key ranges; returns the time spent in
/// `write_chunk` (the longest partition's).
async fn run(store: Arc<dyn Store>, a: &Args) -> Duration {
    let per = a.n.div_ceil(a.partitions);
    let mut tasks = Vec::new();
    for p in 0..a.partitions {
        let store = store.clone();
        let (chunk, n) = (a.chunk, a.n);
        tasks.push(tokio::spawn(async move {
            let start = (p * per) as i64 + 1;
            let end = ((p + 1) * per).min(n) as i64 + 1;
            let mut spent = Duration::ZERO;
            let mut from = start;
            while from < end {
                let to = (from + chunk as i64).min(end);
                let c = chunk_of(p, from, to, to == end);
                let t = Instant::now();
                let o = store.write_chunk(&c).await.unwrap();
                spent += t.elapsed();
                assert_eq!(o.migrated, (to - from) as u64, "{o:?}");
                from = to;
            }
            spent
        }));
    }
    let mut longest = Duration::ZERO;
    for t in tasks {
        longest = longest.max(t.await.unwrap());
    }
    longest
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map_or(0, |kib| kib / 1024)
}

fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let (scheme, rest) = head.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// One text-format COPY line per user, the same values `write_chunk` stores.
fn copy_text(buf: &mut String, cu: &ChunkUser) {
    fn field(buf: &mut String, v: Option<&str>) {
        match v {
            None => buf.push_str("\\N"),
            Some(s) => {
                for ch in s.chars() {
                    match ch {
                        '\\' => buf.push_str("\\\\"),
                        '\t' => buf.push_str("\\t"),
                        '\n' => buf.push_str("\\n"),
                        '\r' => buf.push_str("\\r"),
                        c => buf.push(c),
                    }
                }
            }
        }
        buf.push('\t');
    }
    let u = &cu.user;
    let p = &u.profile;
    let m = u.migration.as_ref().unwrap();
    let c = u.credential.as_ref().unwrap();
    field(buf, Some(&u.id.to_string()));
    field(buf, u.email.as_ref().map(Email::as_str));
    field(buf, u.email.as_ref().map(Email::normalized).as_deref());
    field(buf, Some(if u.email_verified { "t" } else { "f" }));
    field(buf, u.username.as_ref().map(Username::as_str));
    field(
        buf,
        u.username.as_ref().map(Username::normalized).as_deref(),
    );
    field(buf, u.phone.as_ref().map(PhoneE164::as_str));
    field(buf, p.given_name.as_deref());
    field(buf, p.family_name.as_deref());
    field(buf, p.name.as_deref());
    field(buf, p.birthdate.map(|d| d.to_string()).as_deref());
    field(buf, p.locale.as_deref());
    field(buf, Some(&serde_json::to_string(&u.attributes).unwrap()));
    field(buf, Some(u.status.as_str()));
    field(buf, Some(&u.created_at.to_rfc3339()));
    field(buf, Some(&u.updated_at.to_rfc3339()));
    field(buf, Some(m.method.as_str()));
    field(buf, Some(&m.at.to_rfc3339()));
    field(buf, Some(&m.source));
    field(buf, Some(&m.original.to_string()));
    field(buf, Some(&c.hash));
    field(buf, Some(c.scheme.id()));
    field(buf, Some(&cu.key.to_string()));
    buf.push_str(&cu.checksum);
    buf.push('\n');
}

/// COPY of the same users, one stream, into `table` (created by `ddl`).
async fn raw_copy(url: &str, a: &Args, table: &str, ddl: &'static str) -> Duration {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(ddl).execute(&mut conn).await.unwrap();
    sqlx::raw_sql("CHECKPOINT")
        .execute(&mut conn)
        .await
        .unwrap();
    let copy_sql = format!("COPY {table} FROM STDIN");
    let mut spent = Duration::ZERO;
    let mut from = 1i64;
    let end = a.n as i64 + 1;
    while from < end {
        let to = (from + a.chunk as i64).min(end);
        let mut text = String::with_capacity(((to - from) * 900) as usize);
        for k in from..to {
            copy_text(&mut text, &synthetic(k));
        }
        let t = Instant::now();
        let mut tx = conn.begin().await.unwrap();
        let mut copy = tx.copy_in_raw(&copy_sql).await.unwrap();
        copy.send(text.as_bytes()).await.unwrap();
        copy.finish().await.unwrap();
        tx.commit().await.unwrap();
        spent += t.elapsed();
        from = to;
    }
    conn.close().await.unwrap();
    spent
}

/// The same rows into a table without index or constraint: the floor.
const BARE: &str =
    "CREATE TABLE bare_users (id uuid, email text, email_normalized text, email_verified bool,
           username text, username_normalized text, phone text, given_name text, family_name text,
           name text, birthdate date, locale text, attributes jsonb, status text,
           created_at timestamptz, updated_at timestamptz, migration_method text,
           migrated_at timestamptz, migration_source text, legacy_record jsonb, hash text,
           scheme text, legacy_id text, record_checksum text)";

/// The same rows into a table with the three unique indexes a user store cannot do without.
const INDEXED: &str = "CREATE TABLE indexed_users (id uuid PRIMARY KEY, email text,
           email_normalized text COLLATE \"C\" UNIQUE, email_verified bool, username text,
           username_normalized text COLLATE \"C\" UNIQUE, phone text, given_name text,
           family_name text, name text, birthdate date, locale text, attributes jsonb,
           status text, created_at timestamptz, updated_at timestamptz, migration_method text,
           migrated_at timestamptz, migration_source text, legacy_record jsonb, hash text,
           scheme text, legacy_id text, record_checksum text)";

#[tokio::main]
async fn main() {
    let a = args();
    println!(
        "{} users, {} per chunk, {} partition(s)",
        a.n, a.chunk, a.partitions
    );
    if a.sqlite {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usher.db");
        let store: Arc<dyn Store> = Arc::from(
            open(&StoreConfig::Sqlite { path: path.clone() })
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        let spent = run(store.clone(), &a).await;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(path.with_extension("db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        assert_eq!(store.counts().await.unwrap().users, a.n);
        store.close().await;
        println!(
            "sqlite    write_chunk: {:>9.0} users/s ({:.2} s; file {} MiB)",
            rate(a.n, spent),
            spent.as_secs_f64(),
            size / (1 << 20)
        );
    }
    if a.postgres {
        let admin = std::env::var("USHER_TEST_POSTGRES_URL")
            .expect("set USHER_TEST_POSTGRES_URL to a superuser URL of a throwaway cluster");
        let name = format!("usher_bench_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = with_database(&admin, &name);
        let config = StoreConfig::Postgres {
            url: Some(url.clone()),
            url_file: None,
            max_connections: Some(a.partitions as u32 + 1),
        };
        let store: Arc<dyn Store> = Arc::from(open(&config).await.unwrap());
        store.migrate().await.unwrap();
        sqlx::raw_sql("CHECKPOINT")
            .execute(&mut conn)
            .await
            .unwrap();
        let spent = run(store.clone(), &a).await;
        assert_eq!(store.counts().await.unwrap().users, a.n);
        store.close().await;
        let bare = raw_copy(&url, &a, "bare_users", BARE).await;
        let indexed = raw_copy(&url, &a, "indexed_users", INDEXED).await;
        println!(
            "postgres  write_chunk: {:>9.0} users/s ({:.2} s, {} writer(s))",
            rate(a.n, spent),
            spent.as_secs_f64(),
            a.partitions
        );
        println!(
            "postgres  raw COPY   : {:>9.0} rows/s  ({:.2} s, same rows, bare table, 1 stream)",
            rate(a.n, bare),
            bare.as_secs_f64()
        );
        println!(
            "postgres  raw COPY   : {:>9.0} rows/s  ({:.2} s, same rows, id/email/username unique, 1 stream)",
            rate(a.n, indexed),
            indexed.as_secs_f64()
        );
        println!(
            "postgres  ratio      : {:.2} x bare COPY, {:.2} x indexed COPY",
            bare.as_secs_f64() / spent.as_secs_f64(),
            indexed.as_secs_f64() / spent.as_secs_f64()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    println!("peak RSS of this process: {} MiB", peak_rss_mib());
}
