//! The HTTP surface over a real login bridge: sessions, registration, the user and admin
//! routes, rate limits, the hashing pool's and legacy's outages as answers, and timing.

use std::sync::Arc;
use usher_testkit::bridge as kit;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use usher_hash::{Password, Policy};
use usher_server::{
    AdminToken, AppState, Bridge, HashPool, Limit, RateLimitConfig, RateLimits, SessionKeys, router,
};

const ADMIN: &str = "an-admin-token-of-24-chars-or-more";

fn keys() -> SessionKeys {
    SessionKeys::generate("https://usher.test", 600).unwrap()
}

fn with_admin(bridge: Bridge) -> Arc<AppState> {
    let mut state = AppState::new(bridge, keys());
    state.admin_token = Some(AdminToken::new(ADMIN).unwrap());
    Arc::new(state)
}

/// One request: method, path, optional JSON body and bearer token.
async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    usher_testkit::http::call(app, method, path, &headers, body.as_ref()).await
}

async fn login(
    app: &axum::Router,
    identifier: &str,
    password: &str,
) -> (StatusCode, HeaderMap, Value) {
    let body = json!({ "identifier": identifier, "password": password });
    send(app, "POST", "/v1/login", Some(body), None).await
}

fn retry_after(headers: &HeaderMap) -> u64 {
    headers
        .get(header::RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_writes_the_store_only_and_refuses_identifiers_legacy_still_holds() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_admin(kit::bridge(dir.path()).await);
    let app = router(Arc::clone(&state));

    let new = json!({
        "email": "Cleo@Example.com",
        "password": "a long enough password",
        "profile": { "given_name": "Cleo" }
    });
    let (status, _, body) = send(&app, "POST", "/v1/users", Some(new.clone()), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["profile"]["given_name"], "Cleo");
    assert!(
        body["user"]["migration"].is_null(),
        "a registered user did not migrate"
    );
    state
        .keys
        .verify(body["session"]["token"].as_str().unwrap())
        .unwrap();
    let (status, _, again) = login(&app, "cleo@example.com", "a long enough password").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["path"], "store");
    assert_eq!(again["user"]["id"], body["user"]["id"]);

    // The same email (any case) again: taken in the store.
    let (status, _, taken) = send(&app, "POST", "/v1/users", Some(new), None).await;
    assert_eq!(
        (status, taken["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    // bo@example.com is a legacy user who has not logged in yet: registering the address
    // would take their account, so it is refused, and legacy's own login still works.
    let squat = json!({ "email": "BO@example.com", "password": "someone else's password" });
    let (status, _, taken) = send(&app, "POST", "/v1/users", Some(squat), None).await;
    assert_eq!(
        (status, taken["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    let squat = json!({ "username": "ann", "password": "someone else's password" });
    let (status, _, taken) = send(&app, "POST", "/v1/users", Some(squat), None).await;
    assert_eq!(
        (status, taken["error"].as_str()),
        (StatusCode::CONFLICT, Some("username_taken"))
    );
    let (status, _, bo) = login(&app, "bo@example.com", "password").await;
    assert_eq!(
        (status, bo["path"].as_str()),
        (StatusCode::OK, Some("lazy_migrated"))
    );

    // Bad fields are named.
    let short = json!({ "email": "dee@example.com", "password": "short" });
    let (status, _, bad) = send(&app, "POST", "/v1/users", Some(short), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["field"], "password");
    let bad_email = json!({ "email": "not an email", "password": "long enough pass" });
    let (status, _, bad) = send(&app, "POST", "/v1/users", Some(bad_email), None).await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("email"))
    );

    let counts = state.bridge.store().counts().await.unwrap();
    assert_eq!(counts.users, 2, "Cleo and bo");
    assert_eq!(counts.by_method.get("lazy"), Some(&1));
    assert_eq!(
        counts.by_source.get("legacy"),
        Some(&1),
        "Cleo has no ledger row"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_read_by_id_or_legacy_id_with_the_admin_token_or_their_own_session() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_admin(kit::bridge(dir.path()).await);
    let app = router(Arc::clone(&state));
    let (_, _, bo) = login(&app, "bo", "password").await;
    let (_, _, ann) = login(&app, "ann", "password").await;
    let bo_id = bo["user"]["id"].as_str().unwrap().to_owned();
    let bo_session = bo["session"]["token"].as_str().unwrap().to_owned();
    let ann_session = ann["session"]["token"].as_str().unwrap().to_owned();
    let by_id = format!("/v1/users/{bo_id}");

    let (status, headers, _) = send(&app, "GET", &by_id, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let (status, _, _) = send(&app, "GET", &by_id, None, Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, user) = send(&app, "GET", &by_id, None, Some(&bo_session)).await;
    assert_eq!(
        (status, user["id"].as_str()),
        (StatusCode::OK, Some(bo_id.as_str()))
    );
    assert!(user.get("credential").is_none() && !user.to_string().contains("argon2"));
    let (status, _, user) = send(&app, "GET", &by_id, None, Some(ADMIN)).await;
    assert_eq!(
        (status, user["email"].as_str()),
        (StatusCode::OK, Some("bo@example.com"))
    );
    // ann's session does not show bo: the same 404 as for nobody.
    let (status, _, _) = send(&app, "GET", &by_id, None, Some(&ann_session)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, user) = send(
        &app,
        "GET",
        "/v1/users/by-legacy/legacy/2",
        None,
        Some(ADMIN),
    )
    .await;
    assert_eq!(
        (status, user["id"].as_str()),
        (StatusCode::OK, Some(bo_id.as_str()))
    );
    assert_eq!(user["legacy_links"][0]["legacy_id"], "2");
    let (status, _, _) = send(
        &app,
        "GET",
        "/v1/users/by-legacy/legacy/2",
        None,
        Some(&bo_session),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for missing in [
        "/v1/users/by-legacy/legacy/99",
        "/v1/users/by-legacy/other/2",
        "/v1/users/not-a-uuid",
    ] {
        let (status, _, _) = send(&app, "GET", missing, None, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_and_metrics_need_the_token_and_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_admin(kit::bridge(dir.path()).await);
    let app = router(Arc::clone(&state));
    assert_eq!(login(&app, "ann", "password").await.0, StatusCode::OK);
    assert_eq!(login(&app, "ann", "password").await.0, StatusCode::OK);
    assert_eq!(login(&app, "bo", "wrong").await.0, StatusCode::UNAUTHORIZED);

    for token in [None, Some("an-admin-token-of-24-chars-or-morf")] {
        for path in ["/v1/admin/status", "/metrics"] {
            let (status, _, _) = send(&app, "GET", path, None, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {token:?}");
        }
    }
    let (status, _, report) = send(&app, "GET", "/v1/admin/status", None, Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["users"], 1);
    assert_eq!(report["by_method"]["lazy"], 1);
    assert_eq!(report["sources"][0]["name"], "legacy");
    assert_eq!(report["sources"][0]["legacy_records"], 2);
    assert_eq!(report["sources"][0]["migrated"], 1);
    assert_eq!(report["sources"][0]["remaining"], 1);

    // Two reconciliations of legacy and one of another source: the latest of each is exposed.
    let store = state.bridge.store();
    let at = chrono::Utc::now();
    let empty = serde_json::json!({});
    store
        .record_reconciliation("legacy", at, (4, 1), &empty)
        .await
        .unwrap();
    store
        .record_reconciliation("legacy", at, (8, 6), &empty)
        .await
        .unwrap();
    store
        .record_reconciliation("shop", at, (2, 2), &empty)
        .await
        .unwrap();

    let (status, headers, text) = send(&app, "GET", "/metrics", None, Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = text.as_str().unwrap();
    for line in [
        "usher_logins_total{outcome=\"lazy_migrated\"} 1",
        "usher_logins_total{outcome=\"store\"} 1",
        "usher_logins_total{outcome=\"invalid_credentials\"} 1",
        "usher_migrations_total{source=\"legacy\"} 1",
        "usher_verify_seconds_count{kind=\"legacy\"} 2", // ann's md5-crypt, bo's bcrypt
        "usher_verify_seconds_count{kind=\"store\"} 1",
        "usher_outbox_rows{state=\"pending\"} 0",
        "usher_outbox_rows{state=\"dead\"} 0",
        "usher_outbox_oldest_pending_seconds 0",
        "usher_parity_ratio{source=\"legacy\"} 0.75",
        "usher_parity_ratio{source=\"shop\"} 1.0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }

    // Without a configured token the admin routes are off, not open.
    let other = tempfile::tempdir().unwrap();
    let open = router(Arc::new(AppState::new(
        kit::bridge(other.path()).await,
        keys(),
    )));
    let (status, _, body) = send(&open, "GET", "/metrics", None, Some(ADMIN)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("admin_api_disabled"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_with_retry_after_per_identifier_and_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = AppState::new(kit::bridge(dir.path()).await, keys());
    state.limits = RateLimits::new(&RateLimitConfig {
        per_identifier: Limit {
            per_minute: 6,
            burst: 3,
        },
        // One token a minute: none comes back while the test runs, however slow the
        // machine (at 60 a minute one came back every second, and could let the last
        // request through).
        per_address: Limit {
            per_minute: 1,
            burst: 6,
        },
    });
    let state = Arc::new(state);
    let from = |ip: [u8; 4]| {
        router(Arc::clone(&state)).layer(MockConnectInfo(SocketAddr::from((ip, 40000))))
    };
    let a = from([192, 0, 2, 1]);
    for _ in 0..3 {
        assert_eq!(login(&a, "ann", "wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    // The identifier's burst is spent, even with the right password and another case.
    let (status, headers, body) = login(&a, "ANN", "password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["scope"], "identifier");
    assert!(
        (1..=10).contains(&retry_after(&headers)),
        "6 a minute: a token every 10 s"
    );
    // From another address too: the limit is the identifier's (its spelling, in any
    // case, and the account it names), not the address's.
    let b = from([192, 0, 2, 2]);
    assert_eq!(
        login(&b, "ann", "password").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Address a has spent 4 of its 6; two more identifiers pass, the next is refused.
    assert_eq!(login(&a, "bo", "password").await.0, StatusCode::OK);
    assert_eq!(
        login(&a, "x1@example.com", "password").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, headers, body) = login(&a, "x2@example.com", "password").await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("address"))
    );
    assert!(retry_after(&headers) >= 1);
    // Registration from the limited address is limited too.
    let register = json!({ "email": "new@example.com", "password": "long enough pass" });
    let (status, _, _) = send(&a, "POST", "/v1/users", Some(register), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        state.bridge.store().counts().await.unwrap().users,
        1,
        "bo only"
    );
}

/// Issue 11 item 11: the per-identifier limit counts accounts, not spellings. Alternating
/// one account's username and email earns no more attempts than one spelling does.
#[tokio::test(flavor = "multi_thread")]
async fn alternating_an_accounts_email_and_username_shares_one_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = AppState::new(kit::bridge(dir.path()).await, keys());
    state.limits = RateLimits::new(&RateLimitConfig {
        per_identifier: Limit {
            per_minute: 1,
            burst: 3,
        },
        per_address: Limit {
            per_minute: 6000,
            burst: 1000,
        },
    });
    let app = router(Arc::new(state));
    // ann migrates (the account did not exist yet, so only the spelling is charged).
    assert_eq!(login(&app, "ann", "password").await.0, StatusCode::OK);
    let spellings = ["ann", "ann.lee@example.com", "ANN", "Ann.Lee@Example.com"];
    let answers: Vec<StatusCode> = {
        let mut v = Vec::new();
        for s in spellings {
            v.push(login(&app, s, "wrong").await.0);
        }
        v
    };
    // Three wrong passwords spend the account's burst of 3; the fourth is refused although
    // its spelling ("ann.lee@example.com", lower-cased) has been used only once before.
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

/// A login through a proxy, as the proxy forwards it: `forwarded` are the lines of
/// `X-Forwarded-For`.
async fn login_forwarded(app: &axum::Router, forwarded: &[&str]) -> StatusCode {
    let mut request = Request::builder()
        .method("POST")
        .uri("/v1/login")
        .header(header::CONTENT_TYPE, "application/json");
    for f in forwarded {
        request = request.header("x-forwarded-for", *f);
    }
    let body = json!({ "identifier": "nobody@example.com", "password": "wrong" });
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    response.status()
}

/// Issue 11 item 27: behind `trusted_proxy_hops` proxies the per-address limit keys the
/// address the outermost proxy saw. What the client writes into `X-Forwarded-For` earns it
/// no fresh limit, and an entry the proxy wrote that is not an address falls back to the
/// peer rather than to an entry the client chose.
#[tokio::test(flavor = "multi_thread")]
async fn the_per_address_limit_keys_the_address_the_trusted_proxy_saw() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = kit::bridge(dir.path()).await;
    let limits = || {
        RateLimits::new(&RateLimitConfig {
            per_identifier: Limit {
                per_minute: 6000,
                burst: 1000,
            },
            // One attempt per address, and none back while the test runs.
            per_address: Limit {
                per_minute: 1,
                burst: 1,
            },
        })
    };
    let mut state = AppState::new(bridge, keys());
    state.limits = limits();
    state.trusted_proxy_hops = 1;
    let state = Arc::new(state);
    let proxy = SocketAddr::from(([10, 0, 0, 1], 40000));
    let app = router(Arc::clone(&state)).layer(MockConnectInfo(proxy));
    let client = "198.51.100.7";
    assert_eq!(
        login_forwarded(&app, &[client]).await,
        StatusCode::UNAUTHORIZED
    );
    // The same client, claiming other addresses to the left of the proxy's entry, or
    // seen with a port: still its limit.
    for spoofed in [
        "203.0.113.9, 198.51.100.7",
        "203.0.113.10,198.51.100.7",
        "198.51.100.7:52110",
    ] {
        assert_eq!(
            login_forwarded(&app, &[spoofed]).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{spoofed}"
        );
    }
    // Two header lines are one list: the proxy's line is the last.
    assert_eq!(
        login_forwarded(&app, &["203.0.113.11", client]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client has its own limit: the header is read.
    assert_eq!(
        login_forwarded(&app, &["198.51.100.8"]).await,
        StatusCode::UNAUTHORIZED
    );
    // The proxy's entry is not an address: the peer's limit, whatever the client put in
    // front of it. The first such request spends the proxy's token, the second is refused.
    assert_eq!(
        login_forwarded(&app, &["192.0.2.200, unknown"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_forwarded(&app, &["192.0.2.201, unknown"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Without trusted proxies the header is the client's to write and never read.
    let dir = tempfile::tempdir().unwrap();
    let mut state = AppState::new(kit::bridge(dir.path()).await, keys());
    state.limits = limits();
    let app = router(Arc::new(state)).layer(MockConnectInfo(proxy));
    assert_eq!(
        login_forwarded(&app, &["198.51.100.20"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_forwarded(&app, &["198.51.100.21"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_forwarded(&app, &[]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Issue 11 item 12: the `Bearer` scheme is matched in any case (RFC 7235 §2.1).
#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_scheme_is_accepted_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(with_admin(kit::bridge(dir.path()).await));
    for (value, expected) in [
        (format!("bearer {ADMIN}"), StatusCode::OK),
        (format!("BEARER {ADMIN}"), StatusCode::OK),
        (format!("Bearer  {ADMIN} "), StatusCode::OK),
        (format!("Basic {ADMIN}"), StatusCode::UNAUTHORIZED),
        ("Bearer ".to_owned(), StatusCode::UNAUTHORIZED),
        (format!("Bearer{ADMIN}"), StatusCode::UNAUTHORIZED),
    ] {
        let request = Request::builder()
            .uri("/v1/admin/status")
            .header(header::AUTHORIZATION, &value)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), expected, "{value:?}");
    }
}

/// Issue 11 item 8: login caps the password as registration does, before any hashing.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_longer_than_the_cap_is_refused_before_any_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_admin(kit::bridge(dir.path()).await);
    let app = router(Arc::clone(&state));
    let long = "x".repeat(usher_server::bridge::MAX_PASSWORD_BYTES + 1);
    let (status, _, body) = login(&app, "ann", &long).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("password_too_long"))
    );
    let (_, _, text) = send(&app, "GET", "/metrics", None, Some(ADMIN)).await;
    let text = text.as_str().unwrap();
    assert!(
        !text.contains("usher_verify_seconds_count"),
        "a refused password was hashed:\n{text}"
    );
    // At the cap it is an ordinary (wrong) password.
    let at_cap = "x".repeat(usher_server::bridge::MAX_PASSWORD_BYTES);
    assert_eq!(
        login(&app, "ann", &at_cap).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_hashing_pool_answers_503_with_retry_after_instead_of_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = HashPool::new(1, 0);
    let state = Arc::new(AppState::new(
        kit::bridge_with(dir.path(), pool.clone(), usher_testkit::policy()).await,
        keys(),
    ));
    let app = router(state);
    // Occupy the only worker.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let busy = pool.clone();
    let hold = tokio::spawn(async move {
        busy.run(move || {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
        })
        .await
    });
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let began = Instant::now();
    let (status, headers, body) = login(&app, "ann", "password").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("busy"))
    );
    assert!(retry_after(&headers) >= 1);
    assert!(
        began.elapsed() < Duration::from_millis(1000),
        "refused at once, not queued"
    );
    hold.await.unwrap().unwrap();
    assert_eq!(login(&app, "ann", "password").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_outage_answers_503_writes_nothing_and_migrated_users_still_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let up = kit::bridge(dir.path()).await;
    up.login("ann", Password::from("password")).await.unwrap();
    let store = Arc::clone(up.store());
    let before = store.counts().await.unwrap();

    // The same store, and legacy now a PostgreSQL server that is down (nothing listens
    // on the port): connection refused, as in an outage.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down: usher_connect::SourceConfig = toml::from_str(&format!(
        "type = \"postgres\"\nurl = \"postgres://usher@127.0.0.1:{port}/legacy\"\n\
         table = \"users\"\nkey = \"id\"\nconnect_timeout_seconds = 2\n"
    ))
    .unwrap();
    let mapping: usher_core::MappingConfig = toml::from_str(kit::MAPPING).unwrap();
    let bridge = Bridge::new(
        store.clone(),
        vec![usher_server::HashSource {
            source: Arc::from(down.build("legacy").await.unwrap()),
            mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
            email_fields: vec!["email".into()],
            username_fields: vec!["username".into()],
            http_write_back: None,
        }],
        HashPool::new(2, 8),
        usher_testkit::policy(),
    )
    .unwrap();
    let state = with_admin(bridge);
    let app = router(Arc::clone(&state));

    let (status, headers, body) = login(&app, "bo", "password").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("legacy_unavailable"))
    );
    assert!(retry_after(&headers) >= 1);
    let register = json!({ "email": "new@example.com", "password": "long enough pass" });
    let (status, _, _) = send(&app, "POST", "/v1/users", Some(register), None).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot tell whether legacy holds it"
    );
    // ann migrated before the outage: served by the store as usual.
    let (status, _, ann) = login(&app, "ann", "password").await;
    assert_eq!(
        (status, ann["path"].as_str()),
        (StatusCode::OK, Some("store"))
    );
    let (status, _, _) = login(&app, "ann", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let after = store.counts().await.unwrap();
    assert_eq!(
        (after.users, after.by_source.clone()),
        (before.users, before.by_source.clone())
    );
    assert!(store.user_by_legacy("legacy", "2").await.unwrap().is_none());
    let (_, _, metrics) = send(&app, "GET", "/metrics", None, Some(ADMIN)).await;
    let metrics = metrics.as_str().unwrap();
    // bo's login and the registration; ann's wrong password never asks legacy, where she
    // already has her record (issue 11 item 15).
    assert!(
        metrics.contains("usher_legacy_errors_total{source=\"legacy\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("usher_logins_total{outcome=\"legacy_unavailable\"} 1"),
        "{metrics}"
    );
    // The status report names the source's error instead of failing.
    let (status, _, report) = send(&app, "GET", "/v1/admin/status", None, Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{report}"
    );
}

/// How many hash jobs of `kind` the bridge ran, from its metrics.
fn verifies(bridge: &Bridge, kind: &str) -> u64 {
    let metrics = bridge.metrics().encode();
    let line = format!("usher_verify_seconds_count{{kind=\"{kind}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// An unknown identifier costs one dummy Argon2id verify, a migrated user's wrong
/// password one real one, both under the bridge's policy (OWASP's m=19 MiB, t=2).
///
/// First the work is counted, which no load can disturb: one verify each, of the same
/// parameters. Then the time, by the fastest of many tries: other tests sharing the CPU
/// only ever add time, so the minima stay comparable where medians drift apart.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_identifiers_take_as_long_as_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = kit::bridge_with(dir.path(), HashPool::new(1, 8), Policy::default()).await;
    let ann = bridge
        .login("ann", Password::from("password"))
        .await
        .unwrap();
    let hash = &ann.user.credential.as_ref().unwrap().hash;
    let policy = Policy::default();
    assert!(
        hash.starts_with(&format!(
            "$argon2id$v=19$m={},t={},p=",
            policy.memory_kib, policy.iterations
        )),
        "{hash}"
    );
    let counted = |bridge: &Bridge| (verifies(bridge, "dummy"), verifies(bridge, "store"));
    let before = counted(&bridge);
    let r = bridge
        .login("nobody@example.com", Password::from("guess"))
        .await;
    assert!(matches!(
        r,
        Err(usher_server::LoginError::InvalidCredentials)
    ));
    assert_eq!(
        counted(&bridge),
        (before.0 + 1, before.1),
        "one dummy verify"
    );
    let r = bridge
        .login("ann.lee@example.com", Password::from("guess"))
        .await;
    assert!(matches!(
        r,
        Err(usher_server::LoginError::InvalidCredentials)
    ));
    assert_eq!(
        counted(&bridge),
        (before.0 + 1, before.1 + 1),
        "one real verify"
    );

    let (mut unknown, mut known) = (Duration::MAX, Duration::MAX);
    for i in 0..25 {
        // Interleaved, so drift in the machine's load hits both alike.
        let t = Instant::now();
        let r = bridge
            .login(&format!("nobody{i}@example.com"), Password::from("guess"))
            .await;
        unknown = unknown.min(t.elapsed());
        assert!(matches!(
            r,
            Err(usher_server::LoginError::InvalidCredentials)
        ));
        let t = Instant::now();
        let r = bridge
            .login("ann.lee@example.com", Password::from("guess"))
            .await;
        known = known.min(t.elapsed());
        assert!(matches!(
            r,
            Err(usher_server::LoginError::InvalidCredentials)
        ));
    }
    let gap = unknown.abs_diff(known);
    eprintln!(
        "fastest: unknown {unknown:?}, migrated user with a wrong password {known:?} \
         (gap {gap:?}, {:.1}%)",
        gap.as_secs_f64() * 100.0 / known.as_secs_f64()
    );
    assert!(
        gap.as_secs_f64() <= 0.20 * known.as_secs_f64(),
        "unknown {unknown:?} vs known {known:?}"
    );
}

async fn call(app: &axum::Router, identifier: &str, password: &str) -> (StatusCode, Value) {
    let body = serde_json::json!({ "identifier": identifier, "password": password });
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn login_over_http_returns_a_session_the_jwks_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::new(
        kit::bridge(dir.path()).await,
        SessionKeys::generate("https://usher.test", 600).unwrap(),
    ));
    let app = router(Arc::clone(&state));

    let (status, body) = call(&app, "bo@example.com", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_credentials");
    let (status, mut unknown) = call(&app, "who@example.com", "password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Alike but for the request id, which every answer has its own of.
    assert_ne!(unknown["request_id"], body["request_id"]);
    unknown["request_id"] = body["request_id"].clone();
    assert_eq!(unknown, body, "unknown and wrong answer alike");

    let (status, body) = call(&app, "bo@example.com", "password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["path"], "lazy_migrated");
    let token = body["session"]["token"].as_str().unwrap();
    let claims = state.keys.verify(token).unwrap();
    assert_eq!(claims.sub, body["user"]["id"].as_str().unwrap());
    assert!(
        body.to_string().find("argon2").is_none(),
        "no hash in the answer: {body}"
    );

    let response = app
        .clone()
        .oneshot(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let jwks: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");

    let response = app
        .oneshot(
            Request::post("/v1/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"identifier\": 1}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
