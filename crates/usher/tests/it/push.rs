//! `usher export --push`, against in-process fakes of each provider's import API that answer
//! in the shapes the vendor documents (contracts/): each fake holds one user already (a
//! conflict), answers its first request with 429 and `Retry-After: 1`, refuses a request
//! without the token, and is all-or-nothing where the vendor's import is (FusionAuth). Every
//! exported user must end `imported` or `exists` exactly once, the throttled request must be
//! sent again, and a second run must send nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use crate::support::{text, usher};

const TOKEN: &str = "push-test-token";

/// What a fake provider holds and saw.
#[derive(Default)]
struct Fake {
    /// Users by email (or id), with the request's record.
    users: BTreeMap<String, Value>,
    /// Requests answered, the throttled one included.
    requests: u32,
    throttled: bool,
    /// Auth0's jobs: id to the users' fates (`None` imported, `Some(code)` failed).
    jobs: BTreeMap<String, Vec<(Value, Option<&'static str>)>>,
}

type Shared = Arc<Mutex<Fake>>;

/// The first request of a run is throttled; a request without the token is refused.
fn gate(fake: &Shared, headers: &HeaderMap, auth: (&str, String)) -> Option<Response> {
    let mut f = fake.lock().unwrap();
    f.requests += 1;
    if headers.get(auth.0).and_then(|v| v.to_str().ok()) != Some(auth.1.as_str()) {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "bad token"})),
            )
                .into_response(),
        );
    }
    if !f.throttled {
        f.throttled = true;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"errorSummary": "slow down"})),
            )
                .into_response(),
        );
    }
    None
}

/// Adds `record` under `key` unless it is there: whether it was new.
fn add(fake: &Shared, key: &str, record: &Value) -> bool {
    let mut f = fake.lock().unwrap();
    if f.users.contains_key(key) {
        return false;
    }
    f.users.insert(key.to_owned(), record.clone());
    true
}

fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

fn router(target: &str, fake: Shared) -> Router {
    match target {
        "okta" => Router::new().route(
            "/api/v1/users",
            post(|State(f): State<Shared>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if let Some(r) = gate(&f, &h, ("authorization", format!("SSWS {TOKEN}"))) {
                    return r;
                }
                let email = b["profile"]["email"].as_str().unwrap_or_default().to_owned();
                if add(&f, &email, &b) {
                    (StatusCode::OK, axum::Json(json!({"id": "00u1", "status": "ACTIVE"}))).into_response()
                } else {
                    (StatusCode::BAD_REQUEST, axum::Json(json!({
                        "errorCode": "E0000001", "errorSummary": "Api validation failed: login",
                        "errorCauses": [{"errorSummary": "login: An object with this field already exists in the current organization"}]
                    }))).into_response()
                }
            }),
        ),
        "clerk" => Router::new().route(
            "/v1/users",
            post(|State(f): State<Shared>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if let Some(r) = gate(&f, &h, bearer()) {
                    return r;
                }
                let key = b["email_address"][0].as_str().or(b["external_id"].as_str()).unwrap_or_default().to_owned();
                if add(&f, &key, &b) {
                    (StatusCode::OK, axum::Json(json!({"id": "user_1", "object": "user"}))).into_response()
                } else {
                    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"errors": [{
                        "code": "form_identifier_exists", "message": "That email address is taken.",
                        "long_message": "That email address is taken. Please try another."
                    }]}))).into_response()
                }
            }),
        ),
        "supabase" => Router::new().route(
            "/auth/v1/admin/users",
            post(|State(f): State<Shared>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if let Some(r) = gate(&f, &h, bearer()) {
                    return r;
                }
                if h.get("apikey").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let key = b["email"].as_str().or(b["phone"].as_str()).unwrap_or_default().to_owned();
                if add(&f, &key, &b) {
                    (StatusCode::OK, axum::Json(json!({"id": b["id"]}))).into_response()
                } else {
                    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({
                        "code": 422, "error_code": "email_exists",
                        "msg": "A user with this email address has already been registered"
                    }))).into_response()
                }
            }),
        ),
        "kratos" => Router::new().route(
            "/admin/identities",
            patch(|State(f): State<Shared>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if let Some(r) = gate(&f, &h, bearer()) {
                    return r;
                }
                let answers: Vec<Value> = b["identities"].as_array().unwrap().iter().map(|p| {
                    let email = p["create"]["traits"]["email"].as_str().unwrap_or_default();
                    if add(&f, email, p) {
                        json!({"action": "create", "identity": "9f425a8d-7efc-4768-8f23-7647a74fdf13", "patch_id": p["patch_id"]})
                    } else {
                        json!({"action": "error", "patch_id": p["patch_id"], "error": {
                            "code": 409, "status": "Conflict",
                            "message": "an identity with the same identifier already exists"
                        }})
                    }
                }).collect();
                (StatusCode::OK, axum::Json(json!({"identities": answers}))).into_response()
            }),
        ),
        "fusionauth" => Router::new().route(
            "/api/user/import",
            post(|State(f): State<Shared>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if let Some(r) = gate(&f, &h, ("authorization", TOKEN.to_owned())) {
                    return r;
                }
                assert_eq!(b["validateDbConstraints"], true);
                let users = b["users"].as_array().unwrap().clone();
                let key = |u: &Value| u["email"].as_str().or(u["username"].as_str()).unwrap_or_default().to_owned();
                // All or nothing: one duplicate refuses the request.
                let taken: Vec<String> = {
                    let fake = f.lock().unwrap();
                    users.iter().map(key).filter(|k| fake.users.contains_key(k)).collect()
                };
                if let Some(first) = taken.first() {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({"fieldErrors": {"user.email": [{
                        "code": "[duplicate]user.email",
                        "message": format!("An email [{first}] is duplicated in the database.")
                    }]}}))).into_response();
                }
                for u in &users {
                    add(&f, &key(u), u);
                }
                StatusCode::OK.into_response()
            }),
        ),
        "supertokens" => Router::new().route(
            "/bulk-import/users",
            post(|State(f): State<Shared>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if let Some(r) = gate(&f, &h, ("api-key", TOKEN.to_owned())) {
                    return r;
                }
                let users = b["users"].as_array().unwrap().clone();
                let email = |u: &Value| u["loginMethods"][0]["email"].as_str().unwrap_or_default().to_owned();
                // The whole request is refused, naming the users at fault.
                let bad: Vec<Value> = {
                    let fake = f.lock().unwrap();
                    users.iter().enumerate().filter(|(_, u)| fake.users.contains_key(&email(u)))
                        .map(|(i, _)| json!({"index": i, "errors": ["A user with email already exists"]})).collect()
                };
                if !bad.is_empty() {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({
                        "error": "Data has missing or invalid fields. Please check the users field for more details.",
                        "users": bad
                    }))).into_response();
                }
                for u in &users {
                    add(&f, &email(u), u);
                }
                (StatusCode::OK, axum::Json(json!({"status": "OK", "users": []}))).into_response()
            }),
        ),
        "auth0" => Router::new()
            .route(
                "/api/v2/jobs/users-imports",
                post(|State(f): State<Shared>, h: HeaderMap, mut form: Multipart| async move {
                    if let Some(r) = gate(&f, &h, bearer()) {
                        return r;
                    }
                    let (mut users, mut connection) = (Vec::new(), String::new());
                    while let Some(field) = form.next_field().await.unwrap() {
                        match field.name() {
                            Some("users") => users = serde_json::from_slice::<Vec<Value>>(&field.bytes().await.unwrap()).unwrap(),
                            Some("connection_id") => connection = field.text().await.unwrap(),
                            _ => {}
                        }
                    }
                    assert_eq!(connection, "con_test");
                    let fates = users.into_iter().map(|u| {
                        let email = u["email"].as_str().unwrap_or_default().to_owned();
                        let code = (!add(&f, &email, &u)).then_some("DUPLICATED_USER");
                        (u, code)
                    }).collect();
                    let mut fake = f.lock().unwrap();
                    let id = format!("job_{}", fake.jobs.len() + 1);
                    fake.jobs.insert(id.clone(), fates);
                    (StatusCode::CREATED, axum::Json(json!({
                        "status": "pending", "type": "users_import", "id": id, "connection_id": connection
                    }))).into_response()
                }),
            )
            .route(
                "/api/v2/jobs/{id}",
                get(|State(f): State<Shared>, UrlPath(id): UrlPath<String>| async move {
                    let fake = f.lock().unwrap();
                    let Some(fates) = fake.jobs.get(&id) else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    let failed = fates.iter().filter(|(_, c)| c.is_some()).count();
                    axum::Json(json!({
                        "status": "completed", "type": "users_import", "id": id,
                        "summary": {"failed": failed, "updated": 0, "inserted": fates.len() - failed, "total": fates.len()}
                    })).into_response()
                }),
            )
            .route(
                "/api/v2/jobs/{id}/errors",
                get(|State(f): State<Shared>, UrlPath(id): UrlPath<String>| async move {
                    let fake = f.lock().unwrap();
                    let errors: Vec<Value> = fake.jobs[&id].iter().filter_map(|(u, code)| code.map(|c| json!({
                        "user": u, "errors": [{"code": c, "message": "DUPLICATED_USER: user already exists", "path": ""}]
                    }))).collect();
                    if errors.is_empty() {
                        StatusCode::NO_CONTENT.into_response()
                    } else {
                        axum::Json(errors).into_response()
                    }
                }),
            ),
        other => panic!("no fake for {other}"),
    }
    .with_state(fake)
}

/// Every record the export's files hold, as JSON text.
fn exported_keys(target: &str, output: &std::path::Path) -> Vec<String> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(output).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{target}-users-")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<Value> = match target {
            "okta" | "clerk" | "supabase" => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            "auth0" => serde_json::from_str(&text).unwrap(),
            "kratos" => serde_json::from_str::<Value>(&text).unwrap()["identities"]
                .as_array()
                .unwrap()
                .clone(),
            _ => serde_json::from_str::<Value>(&text).unwrap()["users"]
                .as_array()
                .unwrap()
                .clone(),
        };
        keys.extend(records.iter().map(Value::to_string));
    }
    keys
}

/// A store of `users` fake users, backfilled: its directory and config.
fn backfilled(users: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("legacy.db");
    let config = dir.path().join("usher.toml");
    let out = usher(
        &[
            "fake",
            "--users",
            users,
            "--seed",
            "5",
            "--sqlite",
            legacy.to_str().unwrap(),
            "--write-config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = usher(&["backfill", "--config", config.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (dir, config)
}

/// Serves `target`'s fake on a free port: its URL.
fn serve(runtime: &tokio::runtime::Runtime, target: &str, fake: &Shared) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(target, Arc::clone(fake));
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[test]
fn push_to_each_provider_places_every_user_once_through_429s_and_conflicts() {
    let (dir, config) = backfilled("400");
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let base = std::fs::read_to_string(&config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    for target in [
        "okta",
        "clerk",
        "supabase",
        "kratos",
        "fusionauth",
        "supertokens",
        "auth0",
    ] {
        let fake: Shared = Arc::default();
        let url = serve(&runtime, target, &fake);

        let output = dir.path().join(format!("out-{target}"));
        let args_export = |push: bool| {
            let mut a = vec![
                "export".to_owned(),
                "--format".into(),
                target.into(),
                "--config".into(),
                config.to_str().unwrap().into(),
                "--output".into(),
                output.to_str().unwrap().into(),
            ];
            if push {
                a.push("--push".into());
            }
            a
        };
        // Export first, to learn a user the provider will already hold.
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            usher(&args, &[])
        };
        let out = run(args_export(false));
        assert!(out.status.success(), "{target}: {}", text(&out.stderr));
        let records = exported_keys(target, &output);
        assert!(records.len() > 10, "{target}: {} exported", records.len());
        // The provider already holds one exported user: one with an email, from the middle.
        let email_of = |text: &String| {
            let record: Value = serde_json::from_str(text).unwrap();
            [
                "/profile/email",
                "/email_address/0",
                "/email",
                "/create/traits/email",
                "/loginMethods/0/email",
            ]
            .iter()
            .find_map(|p| record.pointer(p).and_then(Value::as_str).map(str::to_owned))
        };
        let existing = records[records.len() / 2..]
            .iter()
            .find_map(email_of)
            .unwrap();
        fake.lock()
            .unwrap()
            .users
            .insert(existing.clone(), json!({"seeded": true}));

        let table = format!(
            "\n[push.{target}]\nurl = \"{url}\"\ntoken_file = \"token\"\nrate = 50\n{}",
            if target == "auth0" {
                "connection_id = \"con_test\"\n"
            } else {
                ""
            }
        );
        std::fs::write(&config, format!("{base}{table}")).unwrap();
        let out = run(args_export(true));
        assert!(
            out.status.success(),
            "{target}: {}\n{}",
            text(&out.stderr),
            text(&out.stdout)
        );
        let summary = text(&out.stdout);

        let log = std::fs::read_to_string(output.join(format!("{target}-push-log.jsonl"))).unwrap();
        let mut fates: BTreeMap<String, String> = BTreeMap::new();
        for line in log.lines() {
            let entry: Value = serde_json::from_str(line).unwrap();
            if let Some(key) = entry["key"].as_str() {
                assert!(
                    fates
                        .insert(key.to_owned(), entry["fate"].as_str().unwrap().to_owned())
                        .is_none(),
                    "{target}: {key} decided twice"
                );
            }
        }
        assert_eq!(
            fates.len(),
            records.len(),
            "{target}: every exported user has a fate\n{summary}"
        );
        let exists: Vec<_> = fates.values().filter(|f| *f == "exists").collect();
        assert_eq!(
            exists.len(),
            1,
            "{target}: the seeded user alone exists\n{log}"
        );
        assert!(
            fates.values().all(|f| f == "imported" || f == "exists"),
            "{target}: {log}"
        );
        {
            let f = fake.lock().unwrap();
            assert!(f.throttled, "{target}: the 429 was answered");
            assert_eq!(
                f.users.len(),
                records.len(),
                "{target}: the provider holds each user once"
            );
        }
        assert!(
            summary.contains("imported") && summary.contains("exists"),
            "{summary}"
        );
        assert!(
            !log.contains(TOKEN) && !summary.contains(TOKEN),
            "{target}: the token never shows"
        );

        // The ledger knows who moved where: each user the provider holds has it as a target.
        let status = usher(
            &["status", "--config", config.to_str().unwrap(), "--json"],
            &[],
        );
        let status: Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(
            status["targets"][target].as_u64(),
            Some(records.len() as u64),
            "{target}: {status}"
        );

        // Again: nothing is sent.
        let before = fake.lock().unwrap().requests;
        let out = run(args_export(true));
        assert!(out.status.success(), "{target}: {}", text(&out.stderr));
        assert_eq!(
            fake.lock().unwrap().requests,
            before,
            "{target}: a second run sends nothing"
        );
        assert!(
            text(&out.stdout).contains("0 more users recorded"),
            "{}",
            text(&out.stdout)
        );
        std::fs::write(&config, &base).unwrap();
    }
}

/// `usher export --format okta --push` to `url`, with the token in `dir`/token.
fn push_to_okta(
    dir: &std::path::Path,
    config: &std::path::Path,
    url: &str,
) -> std::process::Output {
    let base = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        format!("{base}\n[push.okta]\nurl = \"{url}\"\ntoken_file = \"token\"\n"),
    )
    .unwrap();
    let output = dir.join("out");
    usher(
        &[
            "export",
            "--format",
            "okta",
            "--config",
            config.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--push",
        ],
        &[],
    )
}

/// A wrong token is refused as a whole, at once, with the provider's reason and no user
/// decided; the token never shows.
#[test]
fn a_refused_token_stops_the_push_with_the_reason() {
    let (dir, config) = backfilled("50");
    std::fs::write(dir.path().join("token"), "not-the-token").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake: Shared = Arc::default();
    fake.lock().unwrap().throttled = true;
    let url = serve(&runtime, "okta", &fake);
    let out = push_to_okta(dir.path(), &config, &url);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("okta refused the push") && err.contains("401"),
        "{err}"
    );
    assert!(!err.contains("not-the-token"));
    assert_eq!(
        fake.lock().unwrap().requests,
        1,
        "no retry of a refused token"
    );
}

/// An answer longer than any a provider gives is refused before it is read whole.
#[test]
fn an_oversized_answer_is_refused() {
    let (dir, config) = backfilled("20");
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/api/v1/users",
        post(|| async { "x".repeat(40 * 1024 * 1024) }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let out = push_to_okta(dir.path(), &config, &url);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("an answer over"), "{err}");
}

/// A token is never sent in the clear to another machine: a push to `http://` elsewhere is
/// refused before anything is read or sent.
#[test]
fn a_push_over_plain_http_to_another_machine_is_refused() {
    let (dir, config) = backfilled("10");
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let out = push_to_okta(dir.path(), &config, "http://okta.example.com");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("[push.okta.url] must be https://"), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing was exported");
}
