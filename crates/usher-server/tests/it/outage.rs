//! An outage of legacy is answered as one, and fast (issue 11 item 10): a missing SQLite file,
//! a stopped server (nothing listens) and a paused one (it accepts, then never answers, as a
//! SIGSTOPped PostgreSQL does) are each a 503-class `LegacyUnavailable`, bounded by the call
//! timeout; once the breaker opens, the answer comes without asking legacy at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use usher_hash::Password;
use usher_server::{Bridge, HashPool, LoginError, OutageConfig};

const MAPPING: &str = r#"
[fields]
email = "email"

[password]
hash = "pw"
"#;

/// A login against a healthy legacy takes milliseconds; the outage answers below are bounded
/// by the call timeout (500 ms). Anything past this was not bounded at all.
const BOUND: Duration = Duration::from_secs(10);

fn outage() -> OutageConfig {
    OutageConfig {
        call_timeout_ms: 500,
        failures_to_open: 2,
        // Long enough that the background probe does not close the breaker mid-test.
        probe_interval_ms: 60_000,
    }
}

async fn bridge(dir: &std::path::Path, source_toml: &str) -> Bridge {
    let source = usher_testkit::bridge::hash_source(source_toml, MAPPING, &[], None).await;
    let store = usher_testkit::store(dir).await;
    Bridge::new(
        Arc::from(store),
        vec![source],
        HashPool::new(1, 8),
        usher_testkit::policy(),
    )
    .unwrap()
    .with_outage(outage())
}

/// A bridge over a PostgreSQL legacy at `port`, with a connect timeout (30 s) far beyond the
/// call timeout, so only the call timeout can bound a login.
async fn postgres_bridge(dir: &std::path::Path, port: u16) -> Bridge {
    bridge(
        dir,
        &format!(
            "type = \"postgres\"\nurl = \"postgres://usher:pw@127.0.0.1:{port}/legacy\"\n\
             table = \"users\"\nkey = \"id\"\nconnect_timeout_seconds = 30\n"
        ),
    )
    .await
}

/// One login of a user not yet migrated: its answer and how long it took.
async fn login(bridge: &Bridge) -> (Result<(), LoginError>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(
        BOUND,
        bridge.login("ann@example.com", Password::from("password")),
    )
    .await
    .expect("the login was not bounded")
    .map(|_| ());
    (result, started.elapsed())
}

fn assert_unavailable(result: &Result<(), LoginError>) {
    assert!(
        matches!(result, Err(LoginError::LegacyUnavailable(name)) if name == "legacy"),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_sqlite_file_is_an_outage_not_an_internal_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-legacy.db");
    let bridge = bridge(
        dir.path(),
        &format!(
            "type = \"sqlite\"\npath = {:?}\ntable = \"users\"\nkey = \"id\"\n",
            missing.to_str().unwrap()
        ),
    )
    .await;
    let (result, _) = login(&bridge).await;
    assert_unavailable(&result);
    assert!(!missing.exists(), "the legacy file was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_postgres_is_answered_within_the_call_timeout_then_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // sqlx would keep retrying the connection for the whole connect timeout.
    let bridge = postgres_bridge(dir.path(), port).await;
    for _ in 0..2 {
        let (result, _) = login(&bridge).await;
        assert_unavailable(&result);
    }
    // The breaker is open: answered without waiting for the call timeout.
    let (result, took) = login(&bridge).await;
    assert_unavailable(&result);
    assert!(took < Duration::from_millis(500), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_postgres_is_answered_within_the_call_timeout_then_without_asking_it() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never says a word, as a SIGSTOPped server does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let bridge = postgres_bridge(dir.path(), port).await;
    for _ in 0..2 {
        let (result, took) = login(&bridge).await;
        assert_unavailable(&result);
        assert!(
            took >= Duration::from_millis(450),
            "answered before the timeout: {took:?}"
        );
    }
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "legacy was never asked"
    );
    let (result, took) = login(&bridge).await;
    assert_unavailable(&result);
    assert!(took < Duration::from_millis(500), "took {took:?}");
    // While open, no login reaches legacy.
    let before = accepted.load(Ordering::SeqCst);
    for _ in 0..5 {
        let (result, _) = login(&bridge).await;
        assert_unavailable(&result);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        before,
        "legacy was asked while the breaker was open"
    );
}
