//! The outbox delivered through kills: `usher worker` killed with SIGKILL at random points at
//! least 10 times while it delivers 10,000 rows to a PostgreSQL legacy, then run to the end.
//! Every row is applied on the legacy side exactly once and in order per user (each legacy
//! statement appends to the user's trail, which would show a repeat or a swap), and none is
//! lost; the store records every row delivered.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};
use usher_core::{LegacyKey, LegacyWrite, UserId};
use usher_server::bridge::outbox::{mark_migrated, owed};
use usher_testkit::databases::Database;

use crate::support::{self, text, usher};

/// Users, each owed four writes in order: 10,000 rows.
const USERS: i64 = 2_500;

async fn pg(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_at_random_applies_every_row_once_in_order() {
    let legacy = Database::postgres("usher_outbox_legacy").await;
    let store_db = Database::postgres("usher_outbox_store").await;
    let mut conn = pg(&legacy.url).await;
    sqlx::raw_sql(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, \
                             trail text NOT NULL DEFAULT '');
         CREATE TABLE usher_applied (idempotency_key text PRIMARY KEY);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO users (id, email) \
         SELECT i, 'user' || i || '@example.com' FROM generate_series(1, $1) i",
    )
    .bind(USERS)
    .execute(&mut conn)
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    // Each statement appends to the trail: not idempotent, so only the idempotency table
    // keeps a second delivery from showing.
    let source = format!(
        r#"[sources.legacy]
type = "postgres"
url = "{}"
table = "users"
key = "id"
write_back = "UPDATE users SET trail = trail || ',m' WHERE id = :key"

[sources.legacy.writes]
set_email = "UPDATE users SET email = :email, trail = trail || ',' || :email WHERE id = :key"
disable = "UPDATE users SET trail = trail || ',off' WHERE id = :key"
idempotency_table = "usher_applied"
"#,
        legacy.url
    );
    let config = support::write_config(
        dir.path(),
        &format!("[store]\ntype = \"postgres\"\nurl = \"{}\"\n", store_db.url),
        &source,
        "[mappings.legacy.fields]\nemail = \"email\"\n",
        "[outbox]\nbatch = 100\nconcurrency = 4\nclaim_seconds = 1\nfirst_retry_ms = 50\n",
    );
    let config = config.to_str().unwrap().to_owned();

    let store_config: usher_store::StoreConfig = toml::from_str(&format!(
        "type = \"postgres\"\nurl = \"{}\"\n",
        store_db.url
    ))
    .unwrap();
    let store = usher_store::open(&store_config).await.unwrap();
    store.migrate().await.unwrap();
    let mut rows = Vec::new();
    for id in 1..=USERS {
        let user = UserId::new();
        let key = LegacyKey::Int(id);
        rows.push(mark_migrated("legacy", &key, user));
        for (n, email) in [(1, "first"), (2, "second")] {
            let write = LegacyWrite::SetEmail {
                key: key.clone(),
                email: format!("{email}{id}@example.com"),
                email_verified: true,
            };
            rows.push(owed("legacy", user, &write, format!("email:{id}:{n}")));
        }
        let off = LegacyWrite::Disable { key: key.clone() };
        rows.push(owed("legacy", user, &off, format!("disable:{id}")));
    }
    assert_eq!(
        store.enqueue(&rows, chrono::Utc::now()).await.unwrap(),
        10_000
    );

    let (seed, points) = support::kill_points(12);
    eprintln!("outbox kill: seed {seed} (replay with USHER_KILL_SEED={seed})");
    let mut killed = 0;
    for wait in points {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["worker", "--config", &config])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A third of the drawn pause: the worker is killed well before it could finish.
        std::thread::sleep(wait / 3);
        let pending = store.outbox_stats().await.unwrap().pending;
        if child.try_wait().unwrap().is_none() && pending > 0 {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no rollback handler
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed >= 10,
        "the worker delivered everything before it was killed 10 times ({killed}); raise USERS"
    );

    // Run to the end: the killed workers' claims run out after a second.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = usher(&["worker", "--once", "--config", &config], &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stats = store.outbox_stats().await.unwrap();
        assert_eq!(stats.dead, 0, "{}", text(&out.stderr));
        if stats.pending == 0 {
            assert_eq!(stats.delivered, 10_000);
            break;
        }
        assert!(Instant::now() < deadline, "still pending: {stats:?}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // Legacy: each row applied once, each user's in order.
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usher_applied")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, 10_000);
    let trails: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, email, trail FROM users ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(trails.len(), USERS as usize);
    for (id, email, trail) in trails {
        assert_eq!(email, format!("second{id}@example.com"));
        assert_eq!(
            trail,
            format!(",m,first{id}@example.com,second{id}@example.com,off"),
            "user {id}"
        );
    }
    conn.close().await.unwrap();
    store.close().await;
    legacy.remove().await;
    store_db.remove().await;
}
