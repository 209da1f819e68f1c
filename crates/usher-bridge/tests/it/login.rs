//! The login flow against a real SQLite store and a real SQLite legacy table whose hashes come
//! from independent implementations (see `usher_testkit::bridge`), with no HTTP in between:
//! the login service is called as the server and the hooks call it.

use std::sync::Arc;

use sqlx::Connection as _;
use usher_bridge::{Bridge, HashPool, LoginError, LoginOk, LoginPath};
use usher_hash::{Password, Policy, Scheme};
use usher_testkit::bridge::{
    BCRYPT, MAPPING, MD5_CRYPT, bridge, bridge_reopened, bridge_writing_back, legacy_table,
    open_bridge, open_bridge_mapped,
};
use usher_testkit::policy;

/// Logs in as `identifier` with `password`, which must succeed.
async fn logs_in(bridge: &Bridge, identifier: &str, password: &str) -> LoginOk {
    bridge
        .login(identifier, Password::from(password))
        .await
        .unwrap()
}

/// Logs in as `identifier` with `password`, which must be refused as invalid credentials.
async fn refused_as_invalid(bridge: &Bridge, identifier: &str, password: &str) {
    let refused = bridge.login(identifier, Password::from(password)).await;
    assert!(
        matches!(refused, Err(LoginError::InvalidCredentials)),
        "{identifier}: {refused:?}"
    );
}

/// The user legacy record `key` of `source` became, who must exist.
async fn user_of_record(bridge: &Bridge, source: &str, key: &str) -> usher_core::User {
    let user = bridge.store().user_by_legacy(source, key).await.unwrap();
    user.unwrap()
}

/// Whether no user has legacy record `key` of `source`.
async fn no_user_of_record(bridge: &Bridge, source: &str, key: &str) -> bool {
    let user = bridge.store().user_by_legacy(source, key).await.unwrap();
    user.is_none()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_login_migrates_with_an_argon2id_hash_and_the_next_one_uses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = bridge(dir.path()).await;

    // Wrong password: refused, nothing written.
    refused_as_invalid(&bridge, "ann.lee@example.com", "passw0rd").await;
    assert_eq!(bridge.store().counts().await.unwrap().users, 0);

    // The legacy md5-crypt verifies (the identifier differs in case from the row); the user
    // is moved across with an Argon2id hash of the same password.
    let first = logs_in(&bridge, "ann.lee@example.com", "password").await;
    assert_eq!(first.path, LoginPath::Migrated);
    let credential = first.user.credential.clone().unwrap();
    assert_eq!(credential.scheme, Scheme::Argon2id);
    assert!(credential.hash.starts_with("$argon2id$"));
    assert_eq!(first.user.legacy_links[0].legacy_id.as_str(), "1");
    let ledger = user_of_record(&bridge, "legacy", "1").await;
    assert_eq!(ledger.id, first.user.id);
    assert_eq!(
        ledger.migration.as_ref().map(|m| m.method),
        Some(usher_core::Method::Lazy)
    );

    // The next login is answered by the store, by username too.
    let again = logs_in(&bridge, "ann", "password").await;
    assert_eq!(again.path, LoginPath::Store);
    assert_eq!(again.user.id, first.user.id);
    refused_as_invalid(&bridge, "ann", "nope").await;

    // Unknown identifiers get the same answer.
    refused_as_invalid(&bridge, "nobody@example.com", "password").await;
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
    logs_in(&bridge, "bo", "password").await;
    let user = user_of_record(&bridge, "legacy", "2").await;
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
    let up = logs_in(&stricter, "bo", "password").await;
    assert_eq!(up.path, LoginPath::StoreUpgraded);
    let stored = stricter.store().user(up.user.id).await.unwrap().unwrap();
    let fresh = stored.credential.unwrap();
    assert_ne!(fresh.hash, weak.hash);
    assert!(fresh.hash.contains("m=512"), "{}", fresh.hash);
    let again = logs_in(&stricter, "bo", "password").await;
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

/// A bridge (see [`bridge`]) whose legacy is a [`FakeAuthApi`], its fields mapped from
/// `login`, `mail` and `first`, and `more_fields` (TOML lines of the `[fields]` table); and the
/// API.
async fn bridge_with_auth_api(
    dir: &std::path::Path,
    more_fields: &str,
) -> (Bridge, Arc<FakeAuthApi>) {
    let api = Arc::new(FakeAuthApi {
        calls: Default::default(),
        down: Default::default(),
    });
    let mapping: usher_core::MappingConfig = toml::from_str(&format!(
        "[fields]\nusername = \"login\"\nemail = \"mail\"\ngiven_name = \"first\"\n{more_fields}"
    ))
    .unwrap();
    let bridge =
        bridge(dir)
            .await
            .with_legacy(usher_bridge::Legacy::Auth(usher_bridge::AuthSourceEntry {
                source: api.clone(),
                mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
                http_write_back: None,
            }));
    (bridge, api)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auth_source_checks_the_password_and_its_user_migrates_once() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (bridge, api) = bridge_with_auth_api(dir.path(), "").await;

    api.down.store(true, Ordering::SeqCst);
    let down = bridge
        .login("carl", Password::from("carl's password"))
        .await;
    assert!(
        matches!(down, Err(LoginError::LegacyUnavailable(ref s)) if s == "api"),
        "{down:?}"
    );
    api.down.store(false, Ordering::SeqCst);
    refused_as_invalid(&bridge, "carl", "guess").await;
    assert_eq!(
        bridge.store().counts().await.unwrap().users,
        0,
        "nothing written"
    );

    let first = logs_in(&bridge, "carl", "carl's password").await;
    assert_eq!(first.path, LoginPath::Migrated);
    assert_eq!(first.user.profile.given_name.as_deref(), Some("Carl"));
    let credential = first.user.credential.clone().unwrap();
    assert_eq!(credential.scheme, Scheme::Argon2id);
    let linked = user_of_record(&bridge, "api", "u-77").await;
    assert_eq!(linked.id, first.user.id);
    assert_eq!(
        linked.migration.map(|m| m.method),
        Some(usher_core::Method::Lazy)
    );
    // From now on the store answers, by username or email; legacy is not asked again.
    let calls = api.calls.load(Ordering::SeqCst);
    for identifier in ["carl", "CARL@example.com"] {
        let again = logs_in(&bridge, identifier, "carl's password").await;
        assert_eq!(again.path, LoginPath::Store);
    }
    assert_eq!(api.calls.load(Ordering::SeqCst), calls);
    // Hash-source users still come first.
    let ann = logs_in(&bridge, "ann", "password").await;
    assert_eq!(ann.path, LoginPath::Migrated);
    assert_eq!(api.calls.load(Ordering::SeqCst), calls);
}

/// A legacy API's "user migrated" endpoint, served for real on loopback: `/ok` wants
/// `Authorization: Bearer legacy-secret` and answers 204, `/busy` answers 503, `/reject` 400,
/// and `/flaky` 503 to its first request and 204 after.
/// Every request it got: (path, authorization, idempotency key, body).
mod legacy_api {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode, Uri};

    pub type Calls = Arc<Mutex<Vec<(String, String, String, serde_json::Value)>>>;

    pub async fn start() -> (std::net::SocketAddr, Calls) {
        let calls = Calls::default();
        let addr = usher_testkit::tls::serve(router(Arc::clone(&calls))).await;
        (addr, calls)
    }

    /// As [`start`], over TLS with a fresh self-signed certificate for 127.0.0.1; its PEM.
    pub async fn start_tls() -> (std::net::SocketAddr, Calls, String) {
        let calls = Calls::default();
        let (addr, pem) = usher_testkit::tls::serve_https(router(Arc::clone(&calls))).await;
        (addr, calls, pem)
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
                        _ => StatusCode::BAD_REQUEST.into_response(),
                    }
                }
            },
        )
    }
}

/// Writes `instances` for `scripts/check-contracts` to validate against usher's legacy API
/// contract's `Write` schema.
fn contract_sample(name: &str, instances: &[serde_json::Value]) {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/contract-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let sample = serde_json::json!({
        "contract": "../docs/legacy-auth-api.yaml#/components/schemas/Write",
        "instances": instances,
    });
    std::fs::write(dir.join(format!("{name}.json")), sample.to_string()).unwrap();
}

/// A courier for `bridge`'s legacy sources whose failed deliveries are due again at once, and
/// given up after `max_attempts`.
fn courier(bridge: &Bridge, max_attempts: u32) -> usher_bridge::Courier {
    let mut delivery = usher_bridge::Delivery {
        max_attempts,
        ..usher_bridge::Delivery::default()
    };
    delivery.backoff.first = std::time::Duration::ZERO;
    delivery.backoff.jitter = std::time::Duration::ZERO;
    usher_bridge::Courier::new(
        Arc::clone(bridge.store()),
        bridge.legacy(),
        delivery,
        Arc::clone(bridge.metrics()),
    )
}

/// The migration's write-back is an outbox row written with the user, delivered by a courier
/// (not by the login): one POST per migration, with the configured authorization and the
/// row's idempotency key, the same on every delivery; a failure is recorded on the row and
/// tried again, and after the last attempt the row is dead, kept for an operator.
#[tokio::test(flavor = "multi_thread")]
async fn an_http_write_back_is_delivered_from_the_outbox_once_per_migration() {
    let (addr, calls) = legacy_api::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("legacy-auth");
    std::fs::write(&secret, "Bearer legacy-secret\n").unwrap();
    let write_back = |path: &str| {
        let config = usher_bridge::HttpWriteBackConfig {
            url: format!("http://{addr}{path}"),
            authorization_file: Some(secret.clone()),
            timeout_seconds: 2,
            tls_ca_file: None,
        };
        Arc::new(usher_bridge::HttpWriteBack::new("legacy", &config).unwrap())
    };
    let ok = write_back("/ok");
    assert!(!format!("{ok:?}").contains("legacy-secret"), "{ok:?}");

    let run = |path: &'static str| {
        let http = write_back(path);
        async move {
            let dir = tempfile::tempdir().unwrap();
            let bridge =
                bridge_writing_back(dir.path(), HashPool::new(2, 64), policy(), Some(http)).await;
            let first = logs_in(&bridge, "ann", "password").await;
            assert_eq!(first.path, LoginPath::Migrated);
            (dir, bridge, first.user.id.to_string())
        }
    };
    let key = "mark_migrated:legacy:1";
    let expected = |user: &str| {
        serde_json::json!({
            "op": "mark_migrated", "source": "legacy", "legacy_id": 1, "user_id": user,
            "idempotency_key": key,
        })
    };

    // The login wrote the row and sent nothing; the courier sends it once.
    let (_dir, bridge, ann) = run("/ok").await;
    assert!(
        calls.lock().unwrap().is_empty(),
        "the login itself calls no one"
    );
    let pending = bridge.store().outbox(None, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].kind.as_str(), pending[0].destination.as_str()),
        ("mark_migrated", "legacy:legacy")
    );
    let ann_courier = courier(&bridge, 3);
    let round = ann_courier.round().await.unwrap();
    assert_eq!((round.claimed, round.delivered), (1, 1));
    assert_eq!(
        ann_courier.round().await.unwrap().claimed,
        0,
        "delivered once"
    );
    let again = logs_in(&bridge, "ann", "password").await;
    assert_eq!(again.path, LoginPath::Store);
    let round = ann_courier.round().await.unwrap();
    assert_eq!(round.claimed, 0, "a later login owes nothing");
    {
        let got = calls.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{got:?}");
        let (path, authorization, idempotency, body) = &got[0];
        assert_eq!(path, "/ok");
        assert_eq!(authorization, "Bearer legacy-secret");
        assert_eq!(idempotency, key);
        assert_eq!(body, &expected(&ann));
    }
    let metrics = bridge.metrics().encode();
    assert!(
        metrics.contains(
            "usher_outbox_deliveries_total{destination=\"legacy:legacy\",result=\"delivered\"} 1"
        ),
        "{metrics}"
    );

    // Every other operation, in the shape usher's contract gives (scripts/check-contracts
    // validates the bodies against docs/legacy-auth-api.yaml's `Write`).
    let text_key = |k: &str| usher_core::LegacyKey::Text(k.into());
    let others = [
        usher_core::LegacyWrite::SetPassword {
            key: text_key("u-1"),
            password_hash: "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into(),
        },
        usher_core::LegacyWrite::SetEmail {
            key: text_key("u-1"),
            email: "new@example.com".into(),
            email_verified: false,
        },
        usher_core::LegacyWrite::Disable {
            key: text_key("u-1"),
        },
        usher_core::LegacyWrite::Enable {
            key: text_key("u-1"),
        },
        usher_core::LegacyWrite::Delete {
            key: text_key("u-1"),
        },
    ];
    for (n, write) in others.iter().enumerate() {
        let written = ok.write(write, &format!("k{n}")).await;
        assert_eq!(written, Ok(usher_core::Written::Applied), "{}", write.op());
    }
    let bodies: Vec<serde_json::Value> =
        calls.lock().unwrap().iter().map(|c| c.3.clone()).collect();
    assert_eq!(bodies.len(), 1 + others.len());
    assert_eq!(bodies[2]["email"], "new@example.com");
    assert_eq!(
        bodies[5],
        serde_json::json!({
            "op": "delete", "source": "legacy", "legacy_id": "u-1", "idempotency_key": "k4",
        })
    );
    contract_sample("legacy-writes", &bodies);
    calls.lock().unwrap().clear();

    // 503 three times: failed, failed, dead (kept with the reason); 400: the same, legacy's
    // refusal is not ours to judge final; a 503 then a 204: delivered at the second attempt.
    // Every delivery is the same call: the same idempotency key and body.
    for (path, rounds, state) in [
        ("/busy", 3, usher_store::OutboxState::Dead),
        ("/reject", 3, usher_store::OutboxState::Dead),
        ("/flaky", 2, usher_store::OutboxState::Delivered),
    ] {
        calls.lock().unwrap().clear();
        let (_dir, bridge, user) = run(path).await;
        let retrying = courier(&bridge, 3);
        for _ in 0..4 {
            retrying.round().await.unwrap();
        }
        let rows = bridge.store().outbox(None, 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{path}");
        assert_eq!(rows[0].state, state, "{path}");
        if state == usher_store::OutboxState::Dead {
            assert_eq!(rows[0].attempts, 3, "{path}");
            let error = rows[0].last_error.clone().unwrap();
            assert!(
                error.contains("mark_migrated for record 1"),
                "{path}: {error}"
            );
            assert!(!error.contains("legacy-secret"), "{path}: {error}");
            let dead =
                "usher_outbox_deliveries_total{destination=\"legacy:legacy\",result=\"dead\"} 1";
            assert!(bridge.metrics().encode().contains(dead), "{path}");
        }
        let got = calls.lock().unwrap().clone();
        assert_eq!(got.len(), rounds, "{path}: {got:?}");
        for (_, authorization, idempotency, body) in &got {
            assert_eq!(
                (authorization.as_str(), idempotency.as_str(), body),
                ("Bearer legacy-secret", key, &expected(&user)),
                "{path}"
            );
        }
    }
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
    let config = |tls_ca_file: Option<std::path::PathBuf>| usher_bridge::HttpWriteBackConfig {
        url: format!("https://{addr}/ok"),
        authorization_file: Some(secret.clone()),
        timeout_seconds: 2,
        tls_ca_file,
    };
    let key = usher_core::LegacyKey::Int(1);

    let mark = usher_core::LegacyWrite::MarkMigrated {
        key,
        user_id: usher_core::UserId::new(),
    };
    let trusted = usher_bridge::HttpWriteBack::new("legacy", &config(Some(ca))).unwrap();
    assert_eq!(
        trusted.write(&mark, "k1").await,
        Ok(usher_core::Written::Applied)
    );
    assert_eq!(calls.lock().unwrap().len(), 1);

    let untrusted = usher_bridge::HttpWriteBack::new("legacy", &config(None)).unwrap();
    let err = untrusted.write(&mark, "k1").await.unwrap_err();
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
    let err = usher_bridge::HttpWriteBack::new("legacy", &config(Some(junk))).unwrap_err();
    assert!(err.to_string().contains("tls_ca_file"), "{err}");
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
    assert!(no_user_of_record(&strict, "legacy", "1").await);
    drop(strict);

    // The operator trusts legacy's addresses.
    let link: usher_core::LinkConfig = toml::from_str("allow_unverified = true").unwrap();
    let bridge = bridge_reopened(dir.path()).await.with_link(Arc::new(link));
    let linked = logs_in(&bridge, "Ann.Lee@example.com", "password").await;
    assert_eq!(linked.path, LoginPath::Linked);
    assert_eq!(linked.user.id, id);
    assert_eq!(linked.user.profile.given_name.as_deref(), Some("From App"));
    assert_eq!(
        linked.user.credential.as_ref().unwrap().scheme,
        Scheme::Argon2id
    );
    let counts = bridge.store().counts().await.unwrap();
    assert_eq!((counts.users, counts.linked_users), (1, 1));
    assert_eq!(user_of_record(&bridge, "legacy", "1").await.id, id);
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
    let again = logs_in(&bridge, "ann.lee@example.com", "password").await;
    assert_eq!(again.path, LoginPath::Store);
    refused_as_invalid(&bridge, "ann.lee@example.com", "app password").await;
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
    refused_as_invalid(&bridge, "ann", "password").await;
    let fresh = logs_in(&bridge, "ann", "new password").await;
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
    refused_as_invalid(&bridge, "ann", "not it").await;
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
    refused_as_invalid(&bridge, "ann", "not it").await;

    // An active user logs in as usual beside them.
    assert_eq!(
        logs_in(&bridge, "bo", "password").await.path,
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
        no_user_of_record(&bridge, "legacy", "3").await,
        "the disabled record was linked"
    );
    let stored = bridge.store().user(cy).await.unwrap().unwrap();
    assert_eq!(stored.status, usher_core::Status::Active);
    assert_eq!(stored.legacy_links.len(), 1);
    let own = logs_in(&bridge, "cy@example.com", "app password").await;
    assert_eq!((own.user.id, own.path), (cy, LoginPath::Store));
    assert_eq!(bridge.store().counts().await.unwrap().users, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_required_user_moves_their_password_through_an_auth_source() {
    let dir = tempfile::tempdir().unwrap();
    let (bridge, api) =
        bridge_with_auth_api(dir.path(), "email_verified = { const = true }\n").await;
    // Imported from a Cognito export: no hash, reset required.
    let id = stored_from_app(&bridge, "carl@example.com", "carl", None).await;
    refused_as_invalid(&bridge, "carl", "guess").await;
    let first = logs_in(&bridge, "carl", "carl's password").await;
    assert_eq!(first.path, LoginPath::Linked);
    assert_eq!(first.user.id, id);
    assert_eq!(first.user.status, usher_core::Status::Active);
    let calls = api.calls.load(std::sync::atomic::Ordering::SeqCst);
    let next = logs_in(&bridge, "carl@example.com", "carl's password").await;
    assert_eq!(next.path, LoginPath::Store);
    assert_eq!(api.calls.load(std::sync::atomic::Ordering::SeqCst), calls);
    assert_eq!(user_of_record(&bridge, "api", "u-77").await.id, id);
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
    refused_as_invalid(&bridge, "cy", "nope").await;

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
    let four = logs_in(&bridge, "dee@example.com", "password").await;
    assert_eq!(four.path, LoginPath::Migrated);
    assert_eq!(four.user.legacy_links[0].legacy_id.as_str(), "4");
    assert_eq!(store.counts().await.unwrap().users, 1);
}
