//! The identity providers' hooks, each called with the requests its provider documents and
//! answered in its shapes, over a real login bridge (legacy: ann, md5-crypt; bo, bcrypt; both
//! with the password "password"). Each request and answer is also written to
//! `target/contract-samples/`, where `scripts/check-contracts` validates it against the
//! vendor's own schema in `contracts/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::connect_info::MockConnectInfo;
use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Value, json};
use usher_server::hooks::auth::{SIGNATURE_HEADER, sign};
use usher_server::{
    AppState, Bridge, HashPool, Hook, HookAuth, HookAuthConfig, Hooks, OutageConfig, Provider,
    SessionKeys, router,
};
use usher_testkit::bridge as kit;

const SECRET: &str = "a-hook-secret-of-24-chars-or-more";

fn hook(provider: Provider, auth: &str) -> Hook {
    let config: HookAuthConfig = toml::from_str(auth).unwrap();
    Hook::new(provider, HookAuth::new(&config, SECRET).unwrap())
}

fn serve(bridge: Bridge, hook: Hook) -> (axum::Router, Arc<AppState>) {
    let mut state = AppState::new(
        bridge,
        SessionKeys::generate("https://usher.test", 600).unwrap(),
    );
    state.hooks = Hooks::default().with(hook);
    let state = Arc::new(state);
    let app = router(Arc::clone(&state)).layer(MockConnectInfo(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        1,
    ))));
    (app, state)
}

/// One call: the answer's status and body.
async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let (status, _, body) = usher_testkit::http::call(app, method, path, headers, body).await;
    (status, body)
}

/// Writes `instance` for `scripts/check-contracts` to validate against `contract`
/// (`<file under contracts/>#<JSON pointer>`).
fn sample(name: &str, contract: &str, instance: &Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/contract-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(&json!({ "contract": contract, "instance": instance }))
        .unwrap();
    std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
}

async fn targets(state: &AppState, email: &str) -> Vec<String> {
    let store = state.bridge.store();
    let user = store.user_by_email(email).await.unwrap().expect("migrated");
    store.targets_of(user.id).await.unwrap()
}

/// Okta's own sample event (the password import hook reference), with ann's credential.
fn okta_event(username: &str, password: &str) -> Value {
    json!({
        "eventId": "3o9jBzq1SmOGmmsDsqyyeQ",
        "eventTime": "2020-01-17T21:23:56.000Z",
        "eventType": "com.okta.user.credential.password.import",
        "eventTypeVersion": "1.0",
        "contentType": "application/json",
        "cloudEventVersion": "0.1",
        "source": "https://example.okta.com/api/v1/inlineHooks/cal2xd5phv9fsPLcF0g7",
        "data": {
            "context": {
                "request": {
                    "id": "XiIl6wn7005Rr@fjYqeC7AAABxw",
                    "method": "POST",
                    "url": { "value": "/api/v1/authn" },
                    "ipAddress": "98.124.153.138"
                },
                "credential": { "username": username, "password": password }
            },
            "action": { "credential": "UNVERIFIED" }
        }
    })
}

const OKTA_AUTH: &str = "type = \"header\"\nname = \"Authorization\"\nsecret_file = \"-\"";

fn credential(answer: &Value) -> &str {
    answer["commands"][0]["value"]["credential"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn okta_verifies_a_legacy_password_once_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state) = serve(
        kit::bridge(dir.path()).await,
        hook(Provider::Okta, OKTA_AUTH),
    );
    let auth = [("authorization", SECRET)];

    let event = okta_event("Ann.Lee@Example.com", "password");
    sample(
        "okta-request",
        "okta/management-minimal.excerpt.yaml#/components/schemas/PasswordImportRequestExecute",
        &event,
    );
    let (status, answer) = call(&app, "POST", "/hooks/okta", &auth, Some(&event)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["commands"][0]["type"], "com.okta.action.update");
    assert_eq!(credential(&answer), "VERIFIED", "{answer}");
    assert!(answer.get("error").is_none(), "{answer}");
    sample(
        "okta-verified",
        "okta/management-minimal.excerpt.yaml#/components/schemas/PasswordImportResponse",
        &answer,
    );
    // Migrated into usher's store, with Okta as the user's target.
    assert_eq!(targets(&state, "ann.lee@example.com").await, ["okta"]);

    // Okta retries once on a timeout: the same answer, and the target is not counted twice.
    let (_, again) = call(&app, "POST", "/hooks/okta", &auth, Some(&event)).await;
    assert_eq!(credential(&again), "VERIFIED");
    let counts = state.bridge.store().target_counts().await.unwrap();
    assert_eq!(counts.get("okta"), Some(&1));

    // The prose's placement of the credential (`data.credential`) is read too; bo by username.
    let prose = json!({
        "eventType": "com.okta.user.credential.password.import",
        "data": { "credential": { "username": "bo", "password": "password" } }
    });
    let (_, answer) = call(&app, "POST", "/hooks/okta", &auth, Some(&prose)).await;
    assert_eq!(credential(&answer), "VERIFIED", "{answer}");

    // A wrong password and an unknown user: 200 UNVERIFIED, alike, and nothing migrated.
    for (who, password) in [("ann", "wrong"), ("nobody@example.com", "password")] {
        let (status, answer) = call(
            &app,
            "POST",
            "/hooks/okta",
            &auth,
            Some(&okta_event(who, password)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(credential(&answer), "UNVERIFIED", "{who}: {answer}");
        assert!(answer.get("error").is_none(), "{answer}");
        sample(
            "okta-unverified",
            "okta/management-minimal.excerpt.yaml#/components/schemas/PasswordImportResponse",
            &answer,
        );
    }
    assert_eq!(state.bridge.store().counts().await.unwrap().users, 2);
}

#[tokio::test]
async fn every_hook_refuses_a_caller_without_its_credential_and_is_off_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state) = serve(
        kit::bridge(dir.path()).await,
        hook(Provider::Okta, OKTA_AUTH),
    );
    let event = okta_event("ann", "password");
    for headers in [
        vec![],
        vec![("authorization", "not-the-secret-not-the-secret")],
        vec![("authorization", "Bearer a-hook-secret-of-24-chars-or-more")],
    ] {
        let (status, answer) = call(&app, "POST", "/hooks/okta", &headers, Some(&event)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {answer}");
        assert_eq!(answer["error"], "unauthorized");
    }
    // Refused before anything else: nobody was migrated.
    assert_eq!(state.bridge.store().counts().await.unwrap().users, 0);
    // The other hooks are off: 404, as for a route that does not exist.
    let (status, _) = call(
        &app,
        "POST",
        "/hooks/kratos",
        &[("authorization", SECRET)],
        Some(&json!({"identifier": "ann", "password": "password"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not Okta's event: 400, and a body over the limit is refused before the hook runs.
    let (status, _) = call(
        &app,
        "POST",
        "/hooks/okta",
        &[("authorization", SECRET)],
        Some(&json!({"data": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A legacy that accepts connections and never answers (a paused database).
async fn silent_legacy(dir: &std::path::Path) -> (Bridge, tokio::net::TcpListener) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let source = kit::hash_source(
        &format!(
            "type = \"postgres\"\nurl = \"postgres://usher:pw@127.0.0.1:{port}/legacy\"\n\
             table = \"users\"\nkey = \"id\"\nconnect_timeout_seconds = 30\n"
        ),
        kit::MAPPING,
        &["username"],
        None,
    )
    .await;
    let bridge = Bridge::new(
        Arc::from(usher_testkit::store(dir).await),
        vec![source],
        HashPool::new(1, 8),
        usher_testkit::policy(),
    )
    .unwrap()
    .with_outage(OutageConfig {
        call_timeout_ms: 20_000,
        failures_to_open: 5,
        probe_interval_ms: 60_000,
    });
    (bridge, listener)
}

#[tokio::test]
async fn a_hook_answers_within_its_budget_when_legacy_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (bridge, _listener) = silent_legacy(dir.path()).await;
    let mut okta = hook(Provider::Okta, OKTA_AUTH);
    okta.budget = Duration::from_millis(300);
    let (app, _) = serve(bridge, okta);
    let started = Instant::now();
    let (status, answer) = call(
        &app,
        "POST",
        "/hooks/okta",
        &[("authorization", SECRET)],
        Some(&okta_event("ann", "password")),
    )
    .await;
    let took = started.elapsed();
    // Okta waits 3 s: usher says UNVERIFIED, with the reason for Okta's log, well before.
    assert_eq!(status, StatusCode::OK);
    assert_eq!(credential(&answer), "UNVERIFIED", "{answer}");
    let summary = answer["error"]["errorSummary"].as_str().unwrap_or_default();
    assert!(summary.contains("over_budget"), "{answer}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    sample(
        "okta-over-budget",
        "okta/management-minimal.excerpt.yaml#/components/schemas/PasswordImportResponse",
        &answer,
    );
}

#[tokio::test]
async fn kratos_matches_refuses_with_403_and_answers_an_outage_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "type = \"header\"\nname = \"X-Api-Key\"\nsecret_file = \"-\"";
    let (app, state) = serve(kit::bridge(dir.path()).await, hook(Provider::Kratos, auth));
    let key = [("x-api-key", SECRET)];
    let request = json!({ "identifier": "ann.lee@example.com", "password": "password" });
    sample(
        "kratos-request",
        "kratos/password-migration-hook.schema.json#/$defs/request",
        &request,
    );
    let (status, answer) = call(&app, "POST", "/hooks/kratos", &key, Some(&request)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({ "status": "password_match" }));
    sample(
        "kratos-match",
        "kratos/password-migration-hook.schema.json#/$defs/response_ok",
        &answer,
    );
    assert_eq!(targets(&state, "ann.lee@example.com").await, ["kratos"]);

    let wrong = json!({ "identifier": "bo", "password": "Password" });
    let (status, answer) = call(&app, "POST", "/hooks/kratos", &key, Some(&wrong)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_ne!(answer["status"], "password_match");

    // Legacy down: 503, which Kratos reports as an upstream error, not as a wrong password.
    let dir = tempfile::tempdir().unwrap();
    let (bridge, _listener) = silent_legacy(dir.path()).await;
    let mut kratos = hook(Provider::Kratos, auth);
    kratos.budget = Duration::from_millis(300);
    let (app, _) = serve(bridge, kratos);
    let request = json!({ "identifier": "ann", "password": "password" });
    let (status, answer) = call(&app, "POST", "/hooks/kratos", &key, Some(&request)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
}

#[tokio::test]
async fn fusionauth_answers_a_user_with_a_stable_uuid_or_404() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "type = \"basic\"\nusername = \"fusionauth\"\nsecret_file = \"-\"";
    let (app, state) = serve(
        kit::bridge(dir.path()).await,
        hook(Provider::FusionAuth, auth),
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("fusionauth:{SECRET}"))
    );
    let headers = [("authorization", basic.as_str())];
    // FusionAuth's Login API request, as its docs print it.
    let request = json!({
        "loginId": "ann",
        "password": "password",
        "applicationId": "10000000-0000-0002-0000-000000000001",
        "noJWT": false,
        "ipAddress": "192.168.1.42"
    });
    sample(
        "fusionauth-request",
        "fusionauth/openapi.yaml#/components/schemas/LoginRequest",
        &request,
    );
    let (status, first) = call(&app, "POST", "/hooks/fusionauth", &headers, Some(&request)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    sample(
        "fusionauth-user",
        "fusionauth/openapi.yaml#/components/schemas/LoginResponse",
        &first,
    );
    let user = &first["user"];
    let id = user["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).expect("FusionAuth needs a UUID");
    assert_eq!(user["email"], "Ann.Lee@Example.com");
    assert_eq!(user["username"], "ann");
    assert_eq!(user["active"], true);
    assert_eq!(
        user["registrations"][0]["applicationId"],
        "10000000-0000-0002-0000-000000000001"
    );
    assert_eq!(user["data"]["usher"]["legacy"][0]["legacy_id"], "1");
    // The same id at the next login, now from the store (a non-migrating connector needs it).
    let (_, second) = call(&app, "POST", "/hooks/fusionauth", &headers, Some(&request)).await;
    assert_eq!(second["user"]["id"], id);
    assert_eq!(targets(&state, "ann.lee@example.com").await, ["fusionauth"]);

    for login_id in ["ann", "nobody"] {
        let wrong = json!({ "loginId": login_id, "password": "nope" });
        let (status, _) = call(&app, "POST", "/hooks/fusionauth", &headers, Some(&wrong)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{login_id}");
    }
}

#[tokio::test]
async fn keycloak_looks_up_by_username_or_email_then_checks_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "type = \"bearer\"\nsecret_file = \"-\"";
    let (app, state) = serve(
        kit::bridge(dir.path()).await,
        hook(Provider::Keycloak, auth),
    );
    let bearer = format!("Bearer {SECRET}");
    let headers = [("authorization", bearer.as_str())];

    // Before any login: found in legacy, nothing written.
    let (status, user) = call(&app, "GET", "/hooks/keycloak/bo", &headers, None).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["username"], "bo");
    assert_eq!(user["email"], "bo@example.com");
    assert_eq!(user["enabled"], true);
    sample(
        "keycloak-user",
        "keycloak/keycloak-user-migration/legacy-rest-contract.schema.json#/$defs/legacyUser",
        &user,
    );
    assert_eq!(state.bridge.store().counts().await.unwrap().users, 0);
    // By email, URL-encoded as the plugin sends it; its case as the plugin compares it.
    let (status, user) = call(
        &app,
        "GET",
        "/hooks/keycloak/ann.lee%40example.com",
        &headers,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        user["email"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("ann.lee@example.com")
    );
    let (status, _) = call(&app, "GET", "/hooks/keycloak/nobody", &headers, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let password = json!({ "password": "password" });
    sample(
        "keycloak-password",
        "keycloak/keycloak-user-migration/legacy-rest-contract.schema.json#/$defs/passwordRequest",
        &password,
    );
    let (status, _) = call(
        &app,
        "POST",
        "/hooks/keycloak/bo",
        &headers,
        Some(&password),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(targets(&state, "bo@example.com").await, ["keycloak"]);
    let wrong = json!({ "password": "passw0rd" });
    let (status, _) = call(&app, "POST", "/hooks/keycloak/ann", &headers, Some(&wrong)).await;
    assert_ne!(status, StatusCode::OK);
    // After the migration the lookup answers from the store, with the same user.
    let (status, user) = call(&app, "GET", "/hooks/keycloak/bo", &headers, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["username"], "bo");
}

#[tokio::test]
async fn auth0_get_user_and_login_give_one_user_id_before_and_after_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "type = \"header\"\nname = \"x-api-key\"\nsecret_file = \"-\"";
    let (app, state) = serve(kit::bridge(dir.path()).await, hook(Provider::Auth0, auth));
    let key = [("x-api-key", SECRET)];

    let (status, before) = call(
        &app,
        "POST",
        "/hooks/auth0/get-user",
        &key,
        Some(&json!({ "email": "ann.lee@example.com" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["user_id"], "legacy:1");
    assert_eq!(before["email"], "Ann.Lee@Example.com");

    let (status, after) = call(
        &app,
        "POST",
        "/hooks/auth0/login",
        &key,
        Some(&json!({ "email": "ann.lee@example.com", "password": "password" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["user_id"], before["user_id"]);
    assert_eq!(after["username"], "ann");
    assert_eq!(targets(&state, "ann.lee@example.com").await, ["auth0"]);

    let (status, _) = call(
        &app,
        "POST",
        "/hooks/auth0/login",
        &key,
        Some(&json!({ "email": "bo", "password": "wrong" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        "POST",
        "/hooks/auth0/get-user",
        &key,
        Some(&json!({ "email": "nobody@example.com" })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Cognito's documented migrate-user event, for `user_name`.
fn cognito_event(trigger: &str, user_name: &str, password: Option<&str>) -> Value {
    let mut request = json!({
        "validationData": { "exampleMetadataKey": "example metadata value" },
        "clientMetadata": { "exampleMetadataKey": "example metadata value" }
    });
    if let Some(password) = password {
        request["password"] = json!(password);
    }
    json!({
        "version": "1",
        "triggerSource": trigger,
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_AbCdEfGhI",
        "userName": user_name,
        "callerContext": { "awsSdkVersion": "aws-sdk-js-3.0.0", "clientId": "1example23456789" },
        "request": request,
        "response": {}
    })
}

async fn signed_call(app: &axum::Router, event: &Value) -> (StatusCode, Value) {
    // Signed over the body as `call` sends it: the event's JSON text.
    let signature = sign(
        SECRET.as_bytes(),
        chrono::Utc::now().timestamp(),
        event.to_string().as_bytes(),
    );
    call(
        app,
        "POST",
        "/hooks/cognito",
        &[(SIGNATURE_HEADER, &signature)],
        Some(event),
    )
    .await
}

const VERIFIED_MAPPING: &str = r#"
[fields]
email = "email"
username = "username"
email_verified = { const = true }

[password]
hash = "pw"
"#;

#[tokio::test]
async fn cognito_authentication_and_forgot_password_fill_the_event_response() {
    let dir = tempfile::tempdir().unwrap();
    kit::legacy_table(
        dir.path(),
        &[
            (1, "Ann.Lee@Example.com", "ann", kit::MD5_CRYPT),
            (2, "bo@example.com", "bo", kit::BCRYPT),
        ],
    )
    .await;
    let bridge = kit::open_bridge_mapped(
        dir.path(),
        VERIFIED_MAPPING,
        HashPool::new(2, 64),
        usher_testkit::policy(),
        None,
    )
    .await;
    let (app, state) = serve(
        bridge,
        hook(Provider::Cognito, "type = \"hmac\"\nsecret_file = \"-\""),
    );

    let event = cognito_event("UserMigration_Authentication", "ann", Some("password"));
    let (status, answer) = signed_call(&app, &event).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let response = &answer["response"];
    assert_eq!(response["userAttributes"]["email"], "Ann.Lee@Example.com");
    assert_eq!(response["userAttributes"]["email_verified"], "true");
    assert_eq!(response["userAttributes"]["preferred_username"], "ann");
    assert_eq!(response["finalUserStatus"], "CONFIRMED");
    assert_eq!(response["messageAction"], "SUPPRESS");
    // The rest of the event comes back as it came; the password does not.
    assert_eq!(answer["userPoolId"], "eu-west-1_AbCdEfGhI");
    assert_eq!(answer["callerContext"]["clientId"], "1example23456789");
    assert!(answer["request"].get("password").is_none(), "{answer}");
    // Every attribute value is a string, as Cognito takes them.
    assert!(
        response["userAttributes"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string)
    );
    assert_eq!(targets(&state, "ann.lee@example.com").await, ["cognito"]);

    let (status, _) = signed_call(
        &app,
        &cognito_event("UserMigration_Authentication", "bo", Some("wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Forgot password, before bo ever logged in: found in legacy with a verified address.
    let (status, answer) = signed_call(
        &app,
        &cognito_event("UserMigration_ForgotPassword", "bo@example.com", None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["response"]["userAttributes"]["email"],
        "bo@example.com"
    );
    assert_eq!(answer["response"]["messageAction"], "SUPPRESS");
    let (status, _) = signed_call(
        &app,
        &cognito_event("UserMigration_ForgotPassword", "nobody", None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Unsigned, or signed over another body: refused.
    let (status, _) = call(&app, "POST", "/hooks/cognito", &[], Some(&event)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Runs `integrations/test/<harness>` in Node.js with `input` on stdin (never in argv: it holds
/// a password) and `env`; what it printed, as JSON.
async fn node(harness: &'static str, input: Value, env: Vec<(&'static str, String)>) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = std::process::Command::new("node")
            .arg(root.join("integrations/test").join(harness))
            .current_dir(&root)
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect(
                "Node.js (`node`) is needed: usher's Auth0 scripts and Cognito Lambda run in it",
            );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{harness}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{harness} printed {stdout}: {e}"))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth0_scripts_run_in_auth0s_sandbox_against_usher() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "type = \"header\"\nname = \"x-api-key\"\nsecret_file = \"-\"";
    let (app, state) = serve(kit::bridge(dir.path()).await, hook(Provider::Auth0, auth));
    let addr = usher_testkit::tls::serve(app).await;
    let run = |function: &str, args: Value, key: &str| {
        node(
            "auth0.mjs",
            json!({
                "script": format!(
                    "integrations/auth0/{}.js",
                    if function == "login" { "login" } else { "get-user" }
                ),
                "function": function,
                "args": args,
                "configuration": { "USHER_URL": format!("http://{addr}"), "USHER_API_KEY": key },
            }),
            Vec::new(),
        )
    };

    let found = run("getUser", json!(["bo@example.com"]), SECRET).await;
    assert_eq!(found["error"], Value::Null, "{found}");
    assert_eq!(found["profile"]["user_id"], "legacy:2");
    let nobody = run("getUser", json!(["nobody@example.com"]), SECRET).await;
    assert_eq!(nobody, json!({ "error": null, "profile": null }));

    let ok = run("login", json!(["bo@example.com", "password"]), SECRET).await;
    assert_eq!(ok["error"], Value::Null, "{ok}");
    assert_eq!(ok["profile"]["user_id"], "legacy:2");
    assert_eq!(ok["profile"]["email"], "bo@example.com");
    assert_eq!(targets(&state, "bo@example.com").await, ["auth0"]);

    let wrong = run("login", json!(["ann", "wrong"]), SECRET).await;
    assert_eq!(
        wrong["error"]["name"], "WrongUsernameOrPasswordError",
        "{wrong}"
    );
    assert_eq!(wrong["error"]["user"], "ann");
    assert_eq!(wrong["profile"], Value::Null);
    // A wrong API key is usher refusing Auth0, not the user's password: a plain error.
    let refused = run("login", json!(["ann", "password"]), "not-the-key").await;
    assert_eq!(refused["error"]["name"], "Error", "{refused}");
    assert!(
        !refused.to_string().contains("password\""),
        "the password leaked into the error: {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cognito_lambda_forwards_the_trigger_and_returns_usher_s_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state) = serve(
        kit::bridge(dir.path()).await,
        hook(Provider::Cognito, "type = \"hmac\"\nsecret_file = \"-\""),
    );
    let addr = usher_testkit::tls::serve(app).await;
    let env = |secret: &str| {
        vec![
            ("USHER_URL", format!("http://{addr}")),
            ("USHER_HOOK_SECRET", secret.to_owned()),
        ]
    };
    let event = cognito_event("UserMigration_Authentication", "ann", Some("password"));
    let out = node("cognito.mjs", event.clone(), env(SECRET)).await;
    let result = &out["result"];
    assert_eq!(result["response"]["finalUserStatus"], "CONFIRMED", "{out}");
    assert_eq!(
        result["response"]["userAttributes"]["email"],
        "Ann.Lee@Example.com"
    );
    assert_eq!(result["triggerSource"], "UserMigration_Authentication");
    assert_eq!(targets(&state, "ann.lee@example.com").await, ["cognito"]);

    let wrong = cognito_event("UserMigration_Authentication", "bo", Some("wrong"));
    let out = node("cognito.mjs", wrong, env(SECRET)).await;
    assert_eq!(out, json!({ "error": "Bad username or password" }));
    // Signed with another key: usher refuses the Lambda itself, which is not the user's fault.
    let out = node(
        "cognito.mjs",
        event,
        env("another-secret-of-24-chars-at-least"),
    )
    .await;
    assert_eq!(
        out,
        json!({ "error": "Migration unavailable (HTTP 401 unauthorized)" }),
        "{out}"
    );
}

#[tokio::test]
async fn a_hook_works_when_legacy_checks_the_password_itself_by_ldap_bind() {
    let mut directory = usher_testkit::ldap::Subtree::new("hooks_ldap").await;
    directory
        .person(
            "carl",
            &[
                ("mail", &["carl@example.org"]),
                ("userPassword", &["carl's password"]),
            ],
        )
        .await;
    let mut table: toml::Table = toml::from_str("").unwrap();
    for (key, value) in [
        ("type", "ldap"),
        ("url", directory.url.as_str()),
        ("base_dn", directory.base.as_str()),
        ("bind_dn", directory.admin_dn.as_str()),
        (
            "bind_password_file",
            directory.admin_password_file.to_str().unwrap(),
        ),
    ] {
        table.insert(key.into(), value.into());
    }
    let config: usher_connect::SourceConfig = toml::Value::Table(table).try_into().unwrap();
    let ldap = config.build_auth("corp").await.unwrap().unwrap();
    let mapping: usher_core::MappingConfig =
        toml::from_str("[fields]\nusername = \"uid\"\nemail = \"mail\"\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bridge = Bridge::new(
        Arc::from(usher_testkit::store(dir.path()).await),
        Vec::new(),
        HashPool::new(2, 16),
        usher_testkit::policy(),
    )
    .unwrap()
    .with_legacy(usher_server::Legacy::Auth(usher_server::AuthSourceEntry {
        source: Arc::from(ldap),
        mapper: Arc::new(usher_core::Mapper::new(&mapping).unwrap()),
        http_write_back: None,
    }));
    let auth = "type = \"header\"\nname = \"X-Api-Key\"\nsecret_file = \"-\"";
    let (app, state) = serve(bridge, hook(Provider::Kratos, auth));
    let key = [("x-api-key", SECRET)];

    let wrong = json!({ "identifier": "carl", "password": "not carl's" });
    let (status, _) = call(&app, "POST", "/hooks/kratos", &key, Some(&wrong)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let right = json!({ "identifier": "carl", "password": "carl's password" });
    let (status, answer) = call(&app, "POST", "/hooks/kratos", &key, Some(&right)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "password_match");
    // Migrated from the directory, with Kratos as its target.
    assert_eq!(targets(&state, "carl@example.org").await, ["kratos"]);
    let user = state
        .bridge
        .store()
        .user_by_email("carl@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.legacy_links[0].source, "corp");
}
