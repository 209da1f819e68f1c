//! The OpenAPI document of usher's HTTP API: the committed `docs/openapi.json` is the one the
//! code generates, and every operation it describes is a route the router answers.
//! (`scripts/test` also validates the file with an independent validator,
//! `openapi-spec-validator`.)

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;
use usher_server::{
    AppState, Bridge, HashPool, Hook, HookAuth, HookAuthConfig, Hooks, Provider, SessionKeys,
    router,
};

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// Set `USHER_BLESS_OPENAPI=1` to write the generated document over the committed one.
#[test]
fn the_committed_openapi_document_is_the_one_the_code_generates() {
    let generated = format!("{}\n", usher_server::openapi::document());
    if std::env::var_os("USHER_BLESS_OPENAPI").is_some() {
        std::fs::write(committed(), &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json is not what the code generates: run \
         `USHER_BLESS_OPENAPI=1 cargo test -p usher-server --test it openapi` and commit it"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_documented_operation_is_a_route_the_router_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn usher_store::Store> = usher_testkit::store(dir.path()).await.into();
    let bridge = Bridge::new(
        store,
        Vec::new(),
        HashPool::new(1, 4),
        usher_testkit::policy(),
    )
    .unwrap();
    let keys = SessionKeys::generate("https://usher.test", 600).unwrap();
    // Every hook on, so that each answers (401, without a credential) rather than 404.
    let auth: HookAuthConfig = toml::from_str("type = \"bearer\"\nsecret_file = \"-\"").unwrap();
    let mut hooks = Hooks::default();
    for provider in [
        Provider::Okta,
        Provider::Auth0,
        Provider::Cognito,
        Provider::FusionAuth,
        Provider::Keycloak,
        Provider::Kratos,
    ] {
        let auth = HookAuth::new(&auth, "a-hook-secret-of-24-chars-or-more").unwrap();
        hooks = hooks.with(Hook::new(provider, auth));
    }
    let mut state = AppState::new(bridge, keys);
    state.hooks = hooks;
    let app = router(Arc::new(state)).layer(MockConnectInfo(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        1,
    ))));

    let doc: Value = serde_json::from_str(&usher_server::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let uri = path
                .replace("{identifier}", "ann@example.com")
                .replace("{source}", "legacy")
                .replace("{id}", "0199a7c2-5e1f-7cc3-9b7a-3f2d8e6a1b04");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let status = app.clone().oneshot(request).await.unwrap().status();
            // Without credentials or a body, each route refuses (400, 401, 403) or answers;
            // what no route may say is that it does not exist.
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but the router answers {status}"
            );
            let documented = item[method]["responses"]
                .as_object()
                .unwrap()
                .contains_key(status.as_str());
            assert!(
                documented,
                "{method} {path} answered {status}, which its description does not list"
            );
            operations += 1;
        }
    }
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids must be unique: {ids:?}");
    assert_eq!(
        operations, 16,
        "the eight routes of usher serve and the eight of its hooks: {paths:?}"
    );
}
