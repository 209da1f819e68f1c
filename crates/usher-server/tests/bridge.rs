//! The login flow against a real SQLite store and a real SQLite legacy table whose hashes come
//! from independent implementations: libxcrypt's md5-crypt and PHP's `password_hash` bcrypt.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use sqlx::Connection as _;
use usher_hash::{Password, Policy, Scheme};
use usher_server::{Bridge, HashPool, HashSource, LoginError, LoginPath};

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
fn policy() -> Policy {
    Policy {
        memory_kib: 256,
        iterations: 1,
        ..Policy::default()
    }
}

async fn bridge(dir: &std::path::Path) -> Bridge {
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
    for (id, email, username, pw) in [
        (1, "Ann.Lee@Example.com", "ann", MD5_CRYPT),
        (2, "bo@example.com", "bo", BCRYPT),
    ] {
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

    let source: usher_connect::SourceConfig = toml::from_str(&format!(
        "type = \"sqlite\"\npath = {:?}\ntable = \"users\"\nkey = \"id\"\n",
        legacy.to_str().unwrap()
    ))
    .unwrap();
    let source = source.build("legacy").await.unwrap();
    let mapping: usher_core::MappingConfig = toml::from_str(MAPPING).unwrap();
    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.join("usher.db"),
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    Bridge::new(
        Arc::from(store),
        vec![HashSource {
            source: Arc::from(source),
            mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
            email_fields: vec!["email".into()],
            username_fields: vec!["username".into()],
        }],
        HashPool::new(2, 64),
        policy(),
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

mod http {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;
    use usher_server::{AppState, SessionKeys, router};

    async fn call(
        app: &axum::Router,
        identifier: &str,
        password: &str,
    ) -> (StatusCode, serde_json::Value) {
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
        let state = Arc::new(AppState {
            bridge: super::bridge(dir.path()).await,
            keys: SessionKeys::generate("https://usher.test", 600).unwrap(),
        });
        let app = router(Arc::clone(&state));

        let (status, body) = call(&app, "bo@example.com", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_credentials");
        let (status, unknown) = call(&app, "who@example.com", "password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
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
        let jwks: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
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
