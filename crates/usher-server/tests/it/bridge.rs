//! The login flow against a real SQLite store and a real SQLite legacy table whose hashes come
//! from independent implementations: libxcrypt's md5-crypt and PHP's `password_hash` bcrypt.

use std::sync::Arc;

use sqlx::Connection as _;
use usher_hash::{Password, Policy, Scheme};
use usher_server::{Bridge, HashPool, HashSource, LoginError, LoginPath};

use crate::support::{policy, store};

/// libxcrypt's md5-crypt of "password".
const MD5_CRYPT: &str = "$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0";
/// PHP `password_hash("password", PASSWORD_BCRYPT)` as Laravel's docs print it.
const BCRYPT: &str = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi";

const MAPPING: &str = r#"
[fields]
email = "email"
username = "username"

[password]
hash = "pw"
"#;

/// A cheap Argon2id policy, so the tests spend their time on the flow, not on hashing.
async fn bridge(dir: &std::path::Path) -> Bridge {
    bridge_with(dir, HashPool::new(2, 64), policy()).await
}

/// A bridge over a fresh SQLite store and legacy table, hashing on `pool` under `policy`.
async fn bridge_with(dir: &std::path::Path, pool: HashPool, policy: Policy) -> Bridge {
    bridge_writing_back(dir, pool, policy, None).await
}

/// As [`bridge_with`], telling legacy of each migration over HTTP with `http_write_back`.
async fn bridge_writing_back(
    dir: &std::path::Path,
    pool: HashPool,
    policy: Policy,
    http_write_back: Option<Arc<usher_server::HttpWriteBack>>,
) -> Bridge {
    legacy_table(
        dir,
        &[
            (1, "Ann.Lee@Example.com", "ann", MD5_CRYPT),
            (2, "bo@example.com", "bo", BCRYPT),
        ],
    )
    .await;
    open_bridge(dir, pool, policy, http_write_back).await
}

/// The legacy table `legacy.db` in `dir`: (id, email, username, pw) rows.
async fn legacy_table(dir: &std::path::Path, rows: &[(i64, &str, &str, &str)]) {
    let legacy = dir.join("legacy.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&legacy)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, pw TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    for &(id, email, username, pw) in rows {
        sqlx::query("INSERT INTO users VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(email)
            .bind(username)
            .bind(pw)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

/// A second bridge over the store and legacy table [`bridge`] made in `dir`.
async fn bridge_reopened(dir: &std::path::Path) -> Bridge {
    open_bridge(dir, HashPool::new(2, 64), policy(), None).await
}

async fn open_bridge(
    dir: &std::path::Path,
    pool: HashPool,
    policy: Policy,
    http_write_back: Option<Arc<usher_server::HttpWriteBack>>,
) -> Bridge {
    open_bridge_mapped(dir, MAPPING, pool, policy, http_write_back).await
}

/// As [`open_bridge`], mapping legacy's rows with `mapping`.
async fn open_bridge_mapped(
    dir: &std::path::Path,
    mapping: &str,
    pool: HashPool,
    policy: Policy,
    http_write_back: Option<Arc<usher_server::HttpWriteBack>>,
) -> Bridge {
    let legacy = dir.join("legacy.db");
    let source: usher_connect::SourceConfig = toml::from_str(&format!(
        "type = \"sqlite\"\npath = {:?}\ntable = \"users\"\nkey = \"id\"\n",
        legacy.to_str().unwrap()
    ))
    .unwrap();
    let source = source.build("legacy").await.unwrap();
    let mapping: usher_core::MappingConfig = toml::from_str(mapping).unwrap();
    let store = store(dir).await;
    Bridge::new(
        Arc::from(store),
        vec![HashSource {
            source: Arc::from(source),
            mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
            email_fields: vec!["email".into()],
            username_fields: vec!["username".into()],
            http_write_back,
        }],
        pool,
        policy,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_login_migrates_with_an_argon2id_hash_and_the_next_one_uses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = bridge(dir.path()).await;

    // Wrong password: refused, nothing written.
    let wrong = bridge
        .login("ann.lee@example.com", Password::from("passw0rd"))
        .await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );
    assert_eq!(bridge.store().counts().await.unwrap().users, 0);

    // The legacy md5-crypt verifies (the identifier differs in case from the row); the user
    // is moved across with an Argon2id hash of the same password.
    let first = bridge
        .login("ann.lee@example.com", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(first.path, LoginPath::Migrated);
    let credential = first.user.credential.clone().unwrap();
    assert_eq!(credential.scheme, Scheme::Argon2id);
    assert!(credential.hash.starts_with("$argon2id$"));
    assert_eq!(first.user.legacy_links[0].legacy_id.as_str(), "1");
    let ledger = bridge
        .store()
        .user_by_legacy("legacy", "1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ledger.id, first.user.id);
    assert_eq!(
        ledger.migration.as_ref().map(|m| m.method),
        Some(usher_core::Method::Lazy)
    );

    // The next login is answered by the store, by username too.
    let again = bridge
        .login("ann", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(again.path, LoginPath::Store);
    assert_eq!(again.user.id, first.user.id);
    let wrong = bridge.login("ann", Password::from("nope")).await;
    assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));

    // Unknown identifiers get the same answer.
    let unknown = bridge
        .login("nobody@example.com", Password::from("password"))
        .await;
    assert!(matches!(unknown, Err(LoginError::InvalidCredentials)));
    assert_eq!(bridge.store().counts().await.unwrap().users, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_first_logins_make_one_user() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = Arc::new(bridge(dir.path()).await);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let bridge = Arc::clone(&bridge);
        tasks.push(tokio::spawn(async move {
            bridge
                .login("bo@example.com", Password::from("password"))
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut migrated = 0;
    for t in tasks {
        let ok = t.await.unwrap().unwrap();
        if ok.path == LoginPath::Migrated {
            migrated += 1;
        }
        ids.insert(ok.user.id);
    }
    assert_eq!(migrated, 1, "exactly one login migrates");
    assert_eq!(ids.len(), 1, "every login names the same user");
    assert_eq!(bridge.store().counts().await.unwrap().users, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_hash_in_the_store_is_upgraded_once_on_login() {
    let dir = tempfile::tempdir().unwrap();
    // A stricter policy than the one the user was migrated under: the next login upgrades.
    let bridge = bridge(dir.path()).await;
    bridge
        .login("bo", Password::from("password"))
        .await
        .unwrap();
    let user = bridge
        .store()
        .user_by_legacy("legacy", "2")
        .await
        .unwrap()
        .unwrap();
    let weak = user.credential.unwrap();
    let stricter = Bridge::new(
        Arc::clone(bridge.store()),
        Vec::new(),
        HashPool::new(2, 8),
        Policy {
            memory_kib: 512,
            ..policy()
        },
    )
    .unwrap();
    let up = stricter
        .login("bo", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(up.path, LoginPath::StoreUpgraded);
    let stored = stricter.store().user(up.user.id).await.unwrap().unwrap();
    let fresh = stored.credential.unwrap();
    assert_ne!(fresh.hash, weak.hash);
    assert!(fresh.hash.contains("m=512"), "{}", fresh.hash);
    let again = stricter
        .login("bo", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(again.path, LoginPath::Store);
}

/// An in-process stand-in for a legacy system that checks passwords itself (its own HTTP
/// API or LDAP, which the next release brings): it accepts `carl` with `carl's password`.
struct FakeAuthApi {
    calls: std::sync::atomic::AtomicU32,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl usher_core::AuthSource for FakeAuthApi {
    fn name(&self) -> &str {
        "api"
    }

    async fn authenticate(
        &self,
        identifier: &str,
        password: &Password,
    ) -> Result<Option<usher_core::LegacyRecord>, usher_core::SourceError> {
        use std::sync::atomic::Ordering;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(usher_core::SourceError::Unavailable {
                source_name: "api".into(),
                reason: "connection refused".into(),
            });
        }
        if identifier != "carl" || password.expose() != b"carl's password" {
            return Ok(None);
        }
        let serde_json::Value::Object(fields) = serde_json::json!({
            "login": "carl", "mail": "carl@example.com", "first": "Carl"
        }) else {
            unreachable!()
        };
        Ok(Some(usher_core::LegacyRecord {
            key: usher_core::LegacyKey::Text("u-77".into()),
            fields,
        }))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auth_source_checks_the_password_and_its_user_migrates_once() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(FakeAuthApi {
        calls: Default::default(),
        down: Default::default(),
    });
    let mapping: usher_core::MappingConfig = toml::from_str(
        "[fields]\nusername = \"login\"\nemail = \"mail\"\ngiven_name = \"first\"\n",
    )
    .unwrap();
    let bridge = bridge(dir.path())
        .await
        .with_legacy(usher_server::Legacy::Auth(usher_server::AuthSourceEntry {
            source: api.clone(),
            mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
            http_write_back: None,
        }));

    api.down.store(true, Ordering::SeqCst);
    let down = bridge
        .login("carl", Password::from("carl's password"))
        .await;
    assert!(
        matches!(down, Err(LoginError::LegacyUnavailable(ref s)) if s == "api"),
        "{down:?}"
    );
    api.down.store(false, Ordering::SeqCst);
    let wrong = bridge.login("carl", Password::from("guess")).await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );
    assert_eq!(
        bridge.store().counts().await.unwrap().users,
        0,
        "nothing written"
    );

    let first = bridge
        .login("carl", Password::from("carl's password"))
        .await
        .unwrap();
    assert_eq!(first.path, LoginPath::Migrated);
    assert_eq!(first.user.profile.given_name.as_deref(), Some("Carl"));
    let credential = first.user.credential.clone().unwrap();
    assert_eq!(credential.scheme, Scheme::Argon2id);
    let linked = bridge
        .store()
        .user_by_legacy("api", "u-77")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.id, first.user.id);
    assert_eq!(
        linked.migration.map(|m| m.method),
        Some(usher_core::Method::Lazy)
    );
    // From now on the store answers, by username or email; legacy is not asked again.
    let calls = api.calls.load(Ordering::SeqCst);
    for identifier in ["carl", "CARL@example.com"] {
        let again = bridge
            .login(identifier, Password::from("carl's password"))
            .await
            .unwrap();
        assert_eq!(again.path, LoginPath::Store);
    }
    assert_eq!(api.calls.load(Ordering::SeqCst), calls);
    // Hash-source users still come first.
    let ann = bridge
        .login("ann", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(ann.path, LoginPath::Migrated);
    assert_eq!(api.calls.load(Ordering::SeqCst), calls);
}

/// A legacy API's "user migrated" endpoint, served for real on loopback: `/ok` wants
/// `Authorization: Bearer legacy-secret` and answers 204, `/busy` answers 503, `/reject` 400,
/// `/flaky` 503 to its first request and 204 after, and `/slow-down` 429 with `Retry-After: 1`
/// to its first request and 204 after.
/// Every request it got: (path, authorization, idempotency key, body).
mod legacy_api {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode, Uri};

    pub type Calls = Arc<Mutex<Vec<(String, String, String, serde_json::Value)>>>;

    pub async fn start() -> (std::net::SocketAddr, Calls) {
        let calls = Calls::default();
        let app = router(Arc::clone(&calls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, calls)
    }

    /// As [`start`], over TLS with a fresh self-signed certificate for 127.0.0.1; its PEM.
    pub async fn start_tls() -> (std::net::SocketAddr, Calls, String) {
        use tokio_rustls::rustls;
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let calls = Calls::default();
        let app = router(Arc::clone(&calls));
        // One connection at a time is plenty here; a failed handshake is dropped.
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = tcp.accept().await else {
                    continue;
                };
                let Ok(tls) = acceptor.accept(stream).await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (addr, calls, cert.cert.pem())
    }

    fn router(seen: Calls) -> axum::Router {
        axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap, body: axum::Json<serde_json::Value>| {
                let seen = Arc::clone(&seen);
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    let authorization = header("authorization");
                    let path = uri.path().to_owned();
                    let earlier = seen.lock().unwrap().iter().filter(|c| c.0 == path).count();
                    seen.lock().unwrap().push((
                        path.clone(),
                        authorization.clone(),
                        header("idempotency-key"),
                        body.0,
                    ));
                    use axum::response::IntoResponse as _;
                    match path.as_str() {
                        "/ok" if authorization == "Bearer legacy-secret" => {
                            StatusCode::NO_CONTENT.into_response()
                        }
                        "/ok" => StatusCode::UNAUTHORIZED.into_response(),
                        "/busy" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        "/flaky" if earlier == 0 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        "/flaky" => StatusCode::NO_CONTENT.into_response(),
                        "/slow-down" if earlier == 0 => {
                            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response()
                        }
                        "/slow-down" => StatusCode::NO_CONTENT.into_response(),
                        _ => StatusCode::BAD_REQUEST.into_response(),
                    }
                }
            },
        )
    }
}

/// Waits until `calls` holds `n` requests (the write-back runs after the login answered).
async fn wait_for_calls(calls: &legacy_api::Calls, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while calls.lock().unwrap().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} write-back calls never came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_write_back_tells_legacy_once_per_migration_and_failures_are_only_counted() {
    let (addr, calls) = legacy_api::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("legacy-auth");
    std::fs::write(&secret, "Bearer legacy-secret\n").unwrap();
    let write_back = |path: &str| {
        let config = usher_server::HttpWriteBackConfig {
            url: format!("http://{addr}{path}"),
            authorization_file: Some(secret.clone()),
            timeout_seconds: 2,
            tls_ca_file: None,
        };
        Arc::new(usher_server::HttpWriteBack::new("legacy", &config).unwrap())
    };
    let ok = write_back("/ok");
    assert!(!format!("{ok:?}").contains("legacy-secret"), "{ok:?}");

    let run = |path: &'static str| {
        let http = write_back(path);
        async move {
            let dir = tempfile::tempdir().unwrap();
            let bridge =
                bridge_writing_back(dir.path(), HashPool::new(2, 64), policy(), Some(http)).await;
            let first = bridge
                .login("ann", Password::from("password"))
                .await
                .unwrap();
            assert_eq!(
                first.path,
                LoginPath::Migrated,
                "the write-back never fails a login"
            );
            (dir, bridge, first.user.id.to_string())
        }
    };

    // Success: one POST naming the source, the legacy id and the new user, with the
    // configured authorization and the user id as idempotency key; later logins send nothing.
    let (_dir, bridge, ann) = run("/ok").await;
    wait_for_calls(&calls, 1).await;
    let again = bridge
        .login("ann", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(again.path, LoginPath::Store);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    {
        let got = calls.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{got:?}");
        let (path, authorization, idempotency, body) = &got[0];
        assert_eq!(path, "/ok");
        assert_eq!(authorization, "Bearer legacy-secret");
        assert_eq!(idempotency, &ann);
        assert_eq!(
            body,
            &serde_json::json!({ "source": "legacy", "legacy_id": 1, "user_id": ann })
        );
    }
    let metrics = bridge.metrics().encode();
    assert!(
        metrics.contains("usher_write_back_total{source=\"legacy\",result=\"ok\"} 1"),
        "{metrics}"
    );

    // 503: retried twice, then counted as an error; 400: not retried; a 503 then a 204:
    // retried once and counted as done. Every retry is the same call: the same idempotency
    // key (the user id) and the same body, so legacy can tell it from a second migration.
    for (path, attempts, result) in [
        ("/busy", 3, "error"),
        ("/reject", 1, "error"),
        ("/flaky", 2, "ok"),
    ] {
        calls.lock().unwrap().clear();
        let (_dir, bridge, user) = run(path).await;
        wait_for_calls(&calls, attempts).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let counted = format!("usher_write_back_total{{source=\"legacy\",result=\"{result}\"}} 1");
        while !bridge.metrics().encode().contains(&counted) {
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: no {result} counted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let got = calls.lock().unwrap().clone();
        assert_eq!(got.len(), attempts, "{path}: {got:?}");
        let expected = serde_json::json!({ "source": "legacy", "legacy_id": 1, "user_id": user });
        for (_, authorization, idempotency, body) in &got {
            assert_eq!(
                (authorization.as_str(), idempotency, body),
                ("Bearer legacy-secret", &user, &expected),
                "{path}"
            );
        }
    }
}

/// Legacy's `Retry-After` on a 429 or 503 is honoured (within the policy's longest pause): the
/// second attempt waits the second it asks for, not the default 200 ms.
#[tokio::test(flavor = "multi_thread")]
async fn an_http_write_back_waits_as_long_as_retry_after_asks() {
    let (addr, calls) = legacy_api::start().await;
    let config = usher_server::HttpWriteBackConfig {
        url: format!("http://{addr}/slow-down"),
        authorization_file: None,
        timeout_seconds: 2,
        tls_ca_file: None,
    };
    let http = usher_server::HttpWriteBack::new("legacy", &config).unwrap();
    let started = std::time::Instant::now();
    assert!(
        http.mark_migrated(&usher_core::LegacyKey::Int(1), "user-1")
            .await
            .unwrap()
    );
    assert_eq!(calls.lock().unwrap().len(), 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "retried after {:?}",
        started.elapsed()
    );
}

/// Issue 11 item 27: an `https://` write-back trusts the certificates in its `tls_ca_file`
/// and, without it, only the system's roots: a legacy API with a private certificate is then
/// an outage, and not one request reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn an_https_write_back_trusts_its_tls_ca_file_and_only_it() {
    let (addr, calls, pem) = legacy_api::start_tls().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("legacy-auth");
    std::fs::write(&secret, "Bearer legacy-secret\n").unwrap();
    let ca = dir.path().join("legacy-ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let config = |tls_ca_file: Option<std::path::PathBuf>| usher_server::HttpWriteBackConfig {
        url: format!("https://{addr}/ok"),
        authorization_file: Some(secret.clone()),
        timeout_seconds: 2,
        tls_ca_file,
    };
    let key = usher_core::LegacyKey::Int(1);

    let trusted = usher_server::HttpWriteBack::new("legacy", &config(Some(ca))).unwrap();
    assert!(trusted.mark_migrated(&key, "user-1").await.unwrap());
    assert_eq!(calls.lock().unwrap().len(), 1);

    let untrusted = usher_server::HttpWriteBack::new("legacy", &config(None)).unwrap();
    let err = untrusted.mark_migrated(&key, "user-1").await.unwrap_err();
    assert!(
        matches!(err, usher_core::SourceError::Unavailable { .. }),
        "{err:?}"
    );
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "a request went out untrusted"
    );

    // A CA file without a certificate is refused when the write-back is built.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let err = usher_server::HttpWriteBack::new("legacy", &config(Some(junk))).unwrap_err();
    assert!(err.to_string().contains("tls_ca_file"), "{err}");
}

mod http {
    use std::sync::Arc;

    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use serde_json::{Value, json};
    use tower::ServiceExt as _;
    use usher_hash::{Password, Policy};
    use usher_server::{
        AdminToken, AppState, Bridge, HashPool, Limit, RateLimitConfig, RateLimits, SessionKeys,
        router,
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
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let response = app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, value)
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
        let state = with_admin(super::bridge(dir.path()).await);
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
        let state = with_admin(super::bridge(dir.path()).await);
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
        let state = with_admin(super::bridge(dir.path()).await);
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
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }

        // Without a configured token the admin routes are off, not open.
        let other = tempfile::tempdir().unwrap();
        let open = router(Arc::new(AppState::new(
            super::bridge(other.path()).await,
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
        let mut state = AppState::new(super::bridge(dir.path()).await, keys());
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
        let mut state = AppState::new(super::bridge(dir.path()).await, keys());
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
        let bridge = super::bridge(dir.path()).await;
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
        let mut state = AppState::new(super::bridge(dir.path()).await, keys());
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
        let app = router(with_admin(super::bridge(dir.path()).await));
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
        let state = with_admin(super::bridge(dir.path()).await);
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
            super::bridge_with(dir.path(), pool.clone(), super::policy()).await,
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
        let up = super::bridge(dir.path()).await;
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
        let mapping: usher_core::MappingConfig = toml::from_str(super::MAPPING).unwrap();
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
            super::policy(),
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
        let bridge = super::bridge_with(dir.path(), HashPool::new(1, 8), Policy::default()).await;
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
            super::bridge(dir.path()).await,
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
}

/// A user another source (`app`) already brought into the store: email verified there, a
/// password of its own (an Argon2id hash of `app_password`), or none (imported
/// reset-required, as from a Cognito export).
async fn stored_from_app(
    bridge: &Bridge,
    email: &str,
    username: &str,
    app_password: Option<&str>,
) -> usher_core::UserId {
    let now = chrono::Utc::now();
    let user = usher_core::User {
        id: usher_core::UserId::new(),
        email: Some(usher_core::Email::parse(email).unwrap()),
        email_verified: true,
        username: Some(usher_core::Username::parse(username).unwrap()),
        phone: None,
        profile: usher_core::Profile {
            given_name: Some("From App".into()),
            ..Default::default()
        },
        attributes: Default::default(),
        credential: app_password.map(|p| usher_core::Credential {
            hash: usher_hash::hash(&Password::from(p), &policy()).unwrap(),
            scheme: Scheme::Argon2id,
        }),
        status: if app_password.is_some() {
            usher_core::Status::Active
        } else {
            usher_core::Status::PasswordResetRequired
        },
        created_at: now,
        updated_at: now,
        legacy_links: vec![],
        migration: None,
    };
    let mut chunk = usher_store::ChunkWrite::new("backfill", "app", 0);
    chunk.users = vec![usher_store::ChunkUser {
        key: usher_core::LegacyKey::Int(500),
        user: user.clone(),
        checksum: "app-500".into(),
        legacy_updated_at: None,
    }];
    chunk.read = 1;
    chunk.done = true;
    let outcome = bridge.store().write_chunk(&chunk).await.unwrap();
    assert_eq!(outcome.migrated, 1);
    user.id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_password_of_a_second_source_links_the_stored_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let strict = bridge(dir.path()).await;
    let id = stored_from_app(
        &strict,
        "ann.lee@example.com",
        "ann.app",
        Some("app password"),
    )
    .await;

    // Legacy's ann has the same address but this mapping does not say it is verified: no
    // link, and nothing written (someone who signed up to legacy with Ann's address must not
    // get her account).
    let refused = strict
        .login("ann.lee@example.com", Password::from("password"))
        .await;
    assert!(
        matches!(refused, Err(LoginError::Unmigratable { ref reason, .. }) if reason.contains("not verified")),
        "{refused:?}"
    );
    assert!(
        strict
            .store()
            .user_by_legacy("legacy", "1")
            .await
            .unwrap()
            .is_none()
    );
    drop(strict);

    // The operator trusts legacy's addresses.
    let link: usher_core::LinkConfig = toml::from_str("allow_unverified = true").unwrap();
    let bridge = bridge_reopened(dir.path()).await.with_link(Arc::new(link));
    let linked = bridge
        .login("Ann.Lee@example.com", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(linked.path, LoginPath::Linked);
    assert_eq!(linked.user.id, id);
    assert_eq!(linked.user.profile.given_name.as_deref(), Some("From App"));
    assert_eq!(
        linked.user.credential.as_ref().unwrap().scheme,
        Scheme::Argon2id
    );
    let counts = bridge.store().counts().await.unwrap();
    assert_eq!((counts.users, counts.linked_users), (1, 1));
    assert_eq!(
        bridge
            .store()
            .user_by_legacy("legacy", "1")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    let mut links: Vec<String> = linked
        .user
        .legacy_links
        .iter()
        .map(|l| format!("{}/{}", l.source, l.legacy_id.as_str()))
        .collect();
    links.sort();
    assert_eq!(links, ["app/500", "legacy/1"]);
    // The password just proved is the account's now; the legacy hash is never asked again,
    // so app's old password no longer opens it.
    let again = bridge
        .login("ann.lee@example.com", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(again.path, LoginPath::Store);
    let old = bridge
        .login("ann.lee@example.com", Password::from("app password"))
        .await;
    assert!(
        matches!(old, Err(LoginError::InvalidCredentials)),
        "{old:?}"
    );
    assert_eq!(bridge.store().counts().await.unwrap().users, 1);

    // The user changes their password. Legacy's username `ann` is not the user's username in
    // the store (`ann.app` was kept), so a login as `ann` finds the legacy record, which has
    // moved: the user's own password decides, never the record's old legacy hash.
    let current = bridge.store().user(id).await.unwrap().unwrap();
    let new = usher_core::Credential {
        hash: usher_hash::hash(&Password::from("new password"), &policy()).unwrap(),
        scheme: Scheme::Argon2id,
    };
    assert!(
        bridge
            .store()
            .replace_credential(id, &current.credential.unwrap().hash, &new)
            .await
            .unwrap()
    );
    let stale = bridge.login("ann", Password::from("password")).await;
    assert!(
        matches!(stale, Err(LoginError::InvalidCredentials)),
        "{stale:?}"
    );
    let fresh = bridge
        .login("ann", Password::from("new password"))
        .await
        .unwrap();
    assert_eq!((fresh.user.id, fresh.path), (id, LoginPath::Store));
}

/// Issue 11 item 27: a user legacy disabled stays shut at every door. The right password at
/// a lazy migration moves the account across as it is and answers "disabled"; so does every
/// later login from the store; a disabled record never links to an open account; and a wrong
/// password never tells anyone the account is disabled.
#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_user_stays_disabled_at_login_at_lazy_migration_and_at_link() {
    let dir = tempfile::tempdir().unwrap();
    legacy_table(
        dir.path(),
        &[
            (1, "ann.lee@example.com", "ann", MD5_CRYPT),
            (2, "bo@example.com", "bo", BCRYPT),
            (3, "cy@example.com", "cy", MD5_CRYPT),
        ],
    )
    .await;
    let legacy = dir.path().join("legacy.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", legacy.display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE users ADD COLUMN st TEXT NOT NULL DEFAULT 'A'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET st = 'L' WHERE id IN (1, 3)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mapping = format!(
        "{MAPPING}\n[fields.status]\nfrom = \"st\"\nmap = {{ A = \"active\", L = \"disabled\" }}\n"
    );
    let bridge = open_bridge_mapped(dir.path(), &mapping, HashPool::new(2, 64), policy(), None)
        .await
        .with_link(Arc::new(toml::from_str("allow_unverified = true").unwrap()));

    // A wrong password is a wrong password, disabled or not, and moves nothing.
    let wrong = bridge.login("ann", Password::from("not it")).await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );
    assert_eq!(bridge.store().counts().await.unwrap().users, 0);

    // Lazy migration: the account moves, disabled, and the login is refused.
    let lazy = bridge.login("ann", Password::from("password")).await;
    assert!(matches!(lazy, Err(LoginError::Disabled)), "{lazy:?}");
    let ann = bridge
        .store()
        .user_by_legacy("legacy", "1")
        .await
        .unwrap()
        .expect("ann moved across");
    assert_eq!(ann.status, usher_core::Status::Disabled);
    assert_eq!(ann.credential.as_ref().unwrap().scheme, Scheme::Argon2id);

    // Login from the store: still refused, and a wrong password still only "invalid".
    let again = bridge
        .login("Ann.Lee@example.com", Password::from("password"))
        .await;
    assert!(matches!(again, Err(LoginError::Disabled)), "{again:?}");
    let wrong = bridge.login("ann", Password::from("not it")).await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );

    // An active user logs in as usual beside them.
    assert_eq!(
        bridge
            .login("bo", Password::from("password"))
            .await
            .unwrap()
            .path,
        LoginPath::Migrated
    );

    // Link: cy signed up to the new app with the address legacy's disabled cy has. The legacy
    // password is refused as disabled, and the record does not join the open account.
    let cy = stored_from_app(&bridge, "cy@example.com", "cy.app", Some("app password")).await;
    let link = bridge
        .login("cy@example.com", Password::from("password"))
        .await;
    assert!(matches!(link, Err(LoginError::Disabled)), "{link:?}");
    assert!(
        bridge
            .store()
            .user_by_legacy("legacy", "3")
            .await
            .unwrap()
            .is_none(),
        "the disabled record was linked"
    );
    let stored = bridge.store().user(cy).await.unwrap().unwrap();
    assert_eq!(stored.status, usher_core::Status::Active);
    assert_eq!(stored.legacy_links.len(), 1);
    let own = bridge
        .login("cy@example.com", Password::from("app password"))
        .await
        .unwrap();
    assert_eq!((own.user.id, own.path), (cy, LoginPath::Store));
    assert_eq!(bridge.store().counts().await.unwrap().users, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_required_user_moves_their_password_through_an_auth_source() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(FakeAuthApi {
        calls: Default::default(),
        down: Default::default(),
    });
    let mapping: usher_core::MappingConfig = toml::from_str(
        "[fields]\nusername = \"login\"\nemail = \"mail\"\ngiven_name = \"first\"\n\
         email_verified = { const = true }\n",
    )
    .unwrap();
    let bridge = bridge(dir.path())
        .await
        .with_legacy(usher_server::Legacy::Auth(usher_server::AuthSourceEntry {
            source: api.clone(),
            mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
            http_write_back: None,
        }));
    // Imported from a Cognito export: no hash, reset required.
    let id = stored_from_app(&bridge, "carl@example.com", "carl", None).await;
    let wrong = bridge.login("carl", Password::from("guess")).await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );
    let first = bridge
        .login("carl", Password::from("carl's password"))
        .await
        .unwrap();
    assert_eq!(first.path, LoginPath::Linked);
    assert_eq!(first.user.id, id);
    assert_eq!(first.user.status, usher_core::Status::Active);
    let calls = api.calls.load(std::sync::atomic::Ordering::SeqCst);
    let next = bridge
        .login("carl@example.com", Password::from("carl's password"))
        .await
        .unwrap();
    assert_eq!(next.path, LoginPath::Store);
    assert_eq!(api.calls.load(std::sync::atomic::Ordering::SeqCst), calls);
    assert_eq!(
        bridge
            .store()
            .user_by_legacy("api", "u-77")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
}

/// pyca bcrypt 4.0.1 of "p@ss w0rd!" (usher-hash's vector corpus).
const BCRYPT_OTHER: &str = "$2b$04$o1NC9iaqOFGagecpp4LpHeOb.Ad9djnZ5HYc67li05LkGccxJjkQG";

/// Issue 11 item 7: legacy accepts the password, but its record cannot become a user. The
/// answer says so (409, never "wrong password"), and the record goes to the quarantine with
/// the reason. Two records sharing an address are decided as the backfill decides them: the
/// lowest key holds it, whoever logs in first.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_legacy_vouches_for_that_cannot_become_a_user_needs_attention() {
    let dir = tempfile::tempdir().unwrap();
    legacy_table(
        dir.path(),
        &[
            (3, "not-an-address", "cy", MD5_CRYPT),
            (4, "Dee@Example.com", "dee", BCRYPT),
            (5, "dee@example.COM", "dee5", BCRYPT_OTHER),
        ],
    )
    .await;
    let bridge = open_bridge(dir.path(), HashPool::new(2, 64), policy(), None).await;
    let store = bridge.store();
    let reason_of = |key: &'static str| async move {
        let held = store
            .quarantine_list(&usher_store::QuarantineFilter::default(), 10, 0)
            .await
            .unwrap();
        held.into_iter()
            .find(|e| e.legacy_id == key)
            .map(|e| (e.reason, e.field, e.record))
    };

    // The right password for a record whose email does not map.
    let cy = bridge.login("cy", Password::from("password")).await;
    let Err(LoginError::Unmigratable {
        source_name,
        key,
        field,
        reason,
    }) = cy
    else {
        panic!("{cy:?}");
    };
    assert_eq!((source_name.as_str(), key.as_str()), ("legacy", "3"));
    assert_eq!(field.as_deref(), Some("email"));
    assert!(reason.contains("field `email`"), "{reason}");
    let (held, held_field, record) = reason_of("3").await.expect("record 3 is in quarantine");
    assert_eq!(held, reason);
    assert_eq!(held_field.as_deref(), Some("email"));
    assert_eq!(record["username"], "cy");
    assert!(
        record.get("pw").is_none(),
        "the hash reached the quarantine: {record}"
    );
    // A wrong password for it is still just a wrong password.
    let wrong = bridge.login("cy", Password::from("nope")).await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );

    // Record 5's password, by the address record 4 (the lower key) holds: 409, and 5 is
    // quarantined as 4's duplicate, as the backfill would.
    let five = bridge
        .login("DEE@example.com", Password::from("p@ss w0rd!"))
        .await;
    let Err(LoginError::Unmigratable { key, field, .. }) = five else {
        panic!("{five:?}");
    };
    assert_eq!((key.as_str(), field.as_deref()), ("5", Some("email")));
    let (held, ..) = reason_of("5").await.expect("record 5 is in quarantine");
    assert_eq!(
        held,
        "duplicate email: same address as legacy id 4 (source legacy)"
    );
    assert_eq!(store.counts().await.unwrap().users, 0);

    // Record 4's own password migrates record 4.
    let four = bridge
        .login("dee@example.com", Password::from("password"))
        .await
        .unwrap();
    assert_eq!(four.path, LoginPath::Migrated);
    assert_eq!(four.user.legacy_links[0].legacy_id.as_str(), "4");
    assert_eq!(store.counts().await.unwrap().users, 1);
}
