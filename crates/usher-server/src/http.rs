//! The HTTP surface (axum).
//!
//! | route | who may call | answers |
//! |---|---|---|
//! | `POST /v1/login {identifier, password}` | anyone (rate-limited) | 200 `{user, session, path}`; 401 alike for unknown and wrong; 403 disabled; 409 a verified legacy record that cannot become a user; 429 / 503 with `Retry-After` |
//! | `POST /v1/users {email?, username?, password, profile?}` | anyone (rate-limited) | 201 `{user, session}`; 409 `{"error":"email_taken"}` when a user holds it, in the store or in legacy; 400 names the field |
//! | `GET /v1/users/{id}` | the admin token, or that user's session | 200 user; 404 |
//! | `GET /v1/users/by-legacy/{source}/{id}` | the admin token, or that user's session | 200 user; 404 |
//! | `GET /.well-known/jwks.json` | anyone | the session keys |
//! | `GET /v1/admin/status` | the admin token | counts by method, per source migrated and remaining |
//! | `GET /metrics` | the admin token | Prometheus text format |
//! | `GET /healthz` | anyone | 200 once serving |
//!
//! Passwords are parsed straight out of the request body into zeroizing [`Password`]s, and
//! the body buffer is wiped when axum holds the only reference to it. No route logs a
//! password, an identifier with a password, or a hash.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use usher_core::{Profile, User, UserId};
use usher_hash::Password;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::{Zeroize as _, Zeroizing};

use crate::conn::ConnectionLimits;
use crate::error::{ApiError, InternalCause};
use crate::hooks::Hooks;
use crate::openapi::{
    AdminDisabled, ErrorBody, LoginBody, NotFound, RateLimited, RegisterBody, SessionAnswer,
    StoreUnavailable, Unauthorized, Unavailable, UserView,
};
use crate::ratelimit::RateLimits;
use crate::session::SessionKeys;
use usher_bridge::{Bridge, Legacy, Registration};
use usher_engine::status;
use usher_runtime::Metrics;

/// The largest request body accepted (a login is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the routes share.
#[derive(Debug)]
pub struct AppState {
    /// The login flow.
    pub bridge: Bridge,
    /// Session signing.
    pub keys: SessionKeys,
    /// The admin bearer token; `None` turns the admin routes off (they answer 403).
    pub admin_token: Option<AdminToken>,
    /// Login and registration limits.
    pub limits: RateLimits,
    /// How many reverse proxies in front of usher append to `X-Forwarded-For`; 0 means the
    /// client address is the peer's.
    pub trusted_proxy_hops: usize,
    /// How many connections, and how long each may take.
    pub connections: ConnectionLimits,
    /// The identity providers' hooks that are on.
    pub hooks: Hooks,
}

impl AppState {
    /// State with no admin token, no rate limits and no proxies: tests and benchmarks.
    pub fn new(bridge: Bridge, keys: SessionKeys) -> Self {
        Self {
            bridge,
            keys,
            admin_token: None,
            limits: RateLimits::new(&crate::ratelimit::RateLimitConfig::off()),
            trusted_proxy_hops: 0,
            connections: ConnectionLimits::default(),
            hooks: Hooks::default(),
        }
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        self.bridge.metrics()
    }
}

/// The admin bearer token, kept as its SHA-256 so comparisons are constant-time and equal
/// in length whatever is presented.
pub struct AdminToken(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 24;

impl AdminToken {
    /// A token from its text (surrounding whitespace is ignored); refused if shorter than
    /// [`MIN_ADMIN_TOKEN_CHARS`].
    pub fn new(token: &str) -> Result<Self, String> {
        let token = token.trim();
        if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
            return Err(format!(
                "the admin token must be at least {MIN_ADMIN_TOKEN_CHARS} characters"
            ));
        }
        Ok(Self(Zeroizing::new(
            Sha256::digest(token.as_bytes()).into(),
        )))
    }

    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&*self.0))
    }
}

/// The routes, each with its OpenAPI description ([`crate::openapi`]): one list serves the
/// router and the document.
pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(login))
        .routes(routes!(register))
        .routes(routes!(user_by_id))
        .routes(routes!(user_by_legacy))
        .routes(routes!(admin_status))
        .routes(routes!(metrics))
        .routes(routes!(jwks))
        .routes(routes!(healthz))
        .merge(crate::hooks::routes())
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard,
        ))
        .with_state(state)
}

/// The longest request target (path and query) accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes accepted (names, values and separators).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Around every request: a request id (the `X-Request-Id` header of every answer, and the
/// `request_id` of every error body), the size limits, the body read within its deadline, the
/// answer within its own, and every error answer in one JSON shape, `{"error", "request_id",
/// ...}`, whoever made it (a handler, axum's 404 and 405, or these limits).
async fn guard(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    let limits = &state.connections;
    let response = match admit(request, limits).await {
        Ok(request) => {
            match tokio::time::timeout(limits.request_timeout(), next.run(request)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(request_id = %id, "request timed out");
                    ApiError::Unavailable("request_timeout").into_response()
                }
            }
        }
        Err(refused) => refused.into_response(),
    };
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(request_id = %id, error = %cause, "internal error");
    }
    with_request_id(response, &id).await
}

/// The request, its body read in full within the body timeout; or the answer refusing it.
async fn admit(
    request: axum::extract::Request,
    limits: &ConnectionLimits,
) -> Result<axum::extract::Request, ApiError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong);
    }
    let header_bytes = request.headers().iter().fold(0usize, |n, (name, value)| {
        n.saturating_add(name.as_str().len())
            .saturating_add(value.len())
            .saturating_add(4)
    });
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::BodyTooLarge);
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(
        limits.body_timeout(),
        axum::body::to_bytes(body, MAX_BODY_BYTES),
    )
    .await
    {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                ApiError::BodyTooLarge
            } else {
                ApiError::UnreadableBody
            })
        }
        Ok(Ok(bytes)) => Ok(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        )),
    }
}

/// `response` with the request id: as a header, and in the body of an error answer, which
/// becomes `{"error": <code>, "request_id": <id>, ...}` if it was not that shape already.
async fn with_request_id(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Ok(value) = HeaderValue::from_str(id) {
        parts.headers.insert("x-request-id", value);
    }
    let status = parts.status;
    if !(status.is_client_error() || status.is_server_error()) {
        return Response::from_parts(parts, body);
    }
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let mut value = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(|v| v.get("error").is_some_and(Value::is_string))
        .unwrap_or_else(|| json!({ "error": status_code(status) }));
    if let Some(object) = value.as_object_mut() {
        object.insert("request_id".into(), Value::String(id.to_owned()));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

/// An error code from a status: `method_not_allowed`, `not_found`.
fn status_code(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(['-', ' '], "_")
        .replace('\'', "")
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight. Rate-limit buckets are swept every minute.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let stop = usher_runtime::Shutdown::new();
    let sweeper = tokio::spawn({
        let stop = stop.clone();
        async move {
            let worker = usher_runtime::Worker {
                name: "rate-limit sweeper".into(),
                idle: std::time::Duration::from_secs(60),
                // Sweeping cannot fail; the policy is never used.
                backoff: usher_runtime::RetryPolicy {
                    attempts: 1,
                    first: std::time::Duration::from_secs(60),
                    max: std::time::Duration::from_secs(60),
                    jitter: std::time::Duration::ZERO,
                },
            };
            worker
                .run(&stop, || {
                    limits.sweep();
                    std::future::ready(Ok::<_, std::convert::Infallible>(usher_runtime::Tick::Idle))
                })
                .await
        }
    });
    let connections = state.connections.clone();
    let served =
        crate::conn::serve_connections(listener, router(state), &connections, shutdown).await;
    stop.cancel();
    let _ = sweeper.await;
    served
}

/// The client's address: the peer's, or with `trusted_proxy_hops = n`, the n-th address from
/// the right of `X-Forwarded-For` (the one the outermost trusted proxy saw).
///
/// Everything left of that entry is the client's to write, so it is never read. An entry the
/// trusted proxy wrote that is not an address (`unknown`, a typo in its config) gives the peer:
/// skipping it would shift the count onto an entry the client chose.
struct ClientAddr(Option<IpAddr>);

impl FromRequestParts<Arc<AppState>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // The connection's address (or, in tests, axum's `MockConnectInfo`).
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|c| c.0.ip());
        if state.trusted_proxy_hops == 0 {
            return Ok(ClientAddr(peer));
        }
        let entries: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let seen_by_outermost = entries
            .len()
            .checked_sub(state.trusted_proxy_hops)
            .and_then(|i| entries.get(i))
            .and_then(|a| forwarded_address(a));
        Ok(ClientAddr(seen_by_outermost.or(peer)))
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// `POST /v1/login`.
#[derive(Deserialize)]
struct LoginRequest {
    identifier: String,
    password: Zeroizing<String>,
}

/// Parses a JSON body holding a password, then wipes the body buffer if nothing else holds it.
pub(crate) fn parse_secret_body<T: serde::de::DeserializeOwned>(body: Bytes) -> Option<T> {
    let parsed = serde_json::from_slice(&body).ok();
    if let Ok(mut owned) = body.try_into_mut() {
        owned.as_mut().zeroize();
    }
    parsed
}

/// Logs a user in: the new store first, then legacy; a user legacy vouches for is migrated
/// by this very request.
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = SessionAnswer),
        (status = 400, description = "`malformed_request` or `password_too_long`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: unknown identifier and wrong password alike", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody),
        (status = 409, description = "`account_needs_attention`: legacy accepted the password, but its record cannot become a user", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(state): State<Arc<AppState>>,
    ClientAddr(addr): ClientAddr,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_secret_body::<LoginRequest>(body).ok_or(ApiError::Malformed)?;
    if let Err(e) = charge_login(&state, addr, &request.identifier).await {
        state.metrics().login(match e {
            ApiError::RateLimited(_) => "rate_limited",
            _ => "error",
        });
        return Err(e);
    }
    let password = Password::from(request.password.as_str());
    let (outcome, answer) = match state.bridge.login(&request.identifier, password).await {
        Ok(ok) => {
            let path = ok.path.as_str();
            match session_response(&state, &ok.user, Some(path)) {
                Ok(r) => (path, Ok(r)),
                Err(e) => ("error", Err(e)),
            }
        }
        Err(e) => (ApiError::login_outcome(&e), Err(ApiError::from(e))),
    };
    state.metrics().login(outcome);
    answer
}

/// Charges a login attempt on `identifier` to the rate limits: the client's address (when
/// the caller is a client, not a provider's hook), the identifier's spelling, and the account
/// it names, so that an account's email and username share one budget.
pub(crate) async fn charge_login(
    state: &AppState,
    addr: Option<IpAddr>,
    identifier: &str,
) -> Result<(), ApiError> {
    state
        .limits
        .check(addr, Some(identifier))
        .map_err(ApiError::RateLimited)?;
    match state.bridge.account_of(identifier).await {
        Ok(Some(id)) => state
            .limits
            .check_account(&id.to_string())
            .map_err(ApiError::RateLimited),
        Ok(None) => Ok(()),
        Err(e) => Err(ApiError::Internal(format!(
            "login: reading the store failed: {e}"
        ))),
    }
}

/// The user as the API shows it: never the credential or the legacy record.
pub fn user_view(user: &User) -> Value {
    serde_json::to_value(UserView::of(user)).unwrap_or(Value::Null)
}

/// `{user, session, path?}` with a fresh session for `user`.
fn session_response(
    state: &AppState,
    user: &User,
    path: Option<&'static str>,
) -> Result<Response, ApiError> {
    let session = state
        .keys
        .issue(user.id.as_uuid(), chrono::Utc::now())
        .map_err(|e| ApiError::Internal(format!("issuing a session failed: {e}")))?;
    Ok(Json(SessionAnswer {
        user: UserView::of(user),
        session,
        path,
    })
    .into_response())
}

/// `POST /v1/users`.
#[derive(Deserialize)]
struct RegisterRequest {
    email: Option<String>,
    username: Option<String>,
    password: Zeroizing<String>,
    #[serde(default)]
    profile: Profile,
}

/// Registers a user new to both systems.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "login",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered, with a session", body = SessionAnswer),
        (status = 400, description = "`malformed_request`, or `invalid_field` naming the field", body = ErrorBody),
        (status = 409, description = "`email_taken` or `username_taken`: a user holds it, in the store or in legacy", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn register(
    State(state): State<Arc<AppState>>,
    ClientAddr(addr): ClientAddr,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_secret_body::<RegisterRequest>(body).ok_or(ApiError::Malformed)?;
    if let Err(limited) = state.limits.check(addr, None) {
        state.metrics().registration("rate_limited");
        return Err(ApiError::RateLimited(limited));
    }
    let registration = Registration {
        email: request.email,
        username: request.username,
        password: Password::from(request.password.as_str()),
        profile: request.profile,
    };
    let (outcome, answer) = match state.bridge.register(registration).await {
        Ok(user) => match session_response(&state, &user, None) {
            Ok(mut r) => {
                *r.status_mut() = StatusCode::CREATED;
                ("registered", Ok(r))
            }
            Err(e) => ("error", Err(e)),
        },
        Err(e) => (ApiError::registration_outcome(&e), Err(ApiError::from(e))),
    };
    state.metrics().registration(outcome);
    answer
}

/// Who is asking for a user: the admin, or a user with a session.
enum Caller {
    Admin,
    User(uuid::Uuid),
}

/// The token of an `Authorization: Bearer …` header; the scheme in any case (RFC 7235 §2.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(token) = bearer(headers) else {
        return Err(ApiError::Unauthorized);
    };
    if state.admin_token.as_ref().is_some_and(|t| t.matches(token)) {
        return Ok(Caller::Admin);
    }
    match state.keys.verify(token) {
        Ok(claims) => uuid::Uuid::parse_str(&claims.sub)
            .map(Caller::User)
            .map_err(|_| ApiError::Unauthorized),
        Err(_) => Err(ApiError::Unauthorized),
    }
}

fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(admin) = &state.admin_token else {
        return Err(ApiError::AdminDisabled);
    };
    match bearer(headers) {
        Some(token) if admin.matches(token) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// The user, if `caller` may see them; a user asking about anyone else gets 404, exactly as
/// for an id nobody has.
fn visible(caller: &Caller, user: Option<User>) -> Result<Response, ApiError> {
    match (caller, user) {
        (Caller::Admin, Some(user)) => Ok(Json(UserView::of(&user)).into_response()),
        (Caller::User(sub), Some(user)) if user.id.as_uuid() == sub => {
            Ok(Json(UserView::of(&user)).into_response())
        }
        _ => Err(ApiError::NotFound),
    }
}

/// A user, for the admin or the user themselves (anyone else gets 404, as for an id nobody has).
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = StoreUnavailable),
    )
)]
async fn user_by_id(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers)?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let user = state.bridge.store().user(UserId::from_uuid(id)).await?;
    visible(&caller, user)
}

/// The user a legacy record became, for the admin or the user themselves.
#[utoipa::path(
    get,
    path = "/v1/users/by-legacy/{source}/{id}",
    tag = "users",
    params(
        ("source" = String, Path, description = "The legacy source's configured name"),
        ("id" = String, Path, description = "The record's key in that source"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = StoreUnavailable),
    )
)]
async fn user_by_legacy(
    State(state): State<Arc<AppState>>,
    Path((source, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers)?;
    let user = state.bridge.store().user_by_legacy(&source, &id).await?;
    visible(&caller, user)
}

/// Where the migration stands: users by how they arrived, and per legacy source how many
/// records are migrated, linked, quarantined and remaining (what `usher status --json` prints).
#[utoipa::path(
    get,
    path = "/v1/admin/status",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report", body = Object),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 503, response = StoreUnavailable),
    )
)]
async fn admin_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let sources: Vec<status::Configured> = state
        .bridge
        .legacy()
        .iter()
        .map(|l| match l {
            Legacy::Hash(h) => status::Configured::Readable(Arc::clone(&h.source)),
            Legacy::Auth(a) => status::Configured::AuthOnly(a.source.name().to_owned()),
        })
        .collect();
    let report = status::gather(state.bridge.store().as_ref(), &sources).await?;
    Ok(Json(report).into_response())
}

/// The counters and histograms, in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
    )
)]
async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let outbox = state.bridge.store().outbox_stats().await?;
    let oldest = outbox.oldest_pending.map_or(0, |at| {
        u64::try_from(chrono::Utc::now().signed_duration_since(at).num_seconds()).unwrap_or(0)
    });
    state
        .metrics()
        .outbox(outbox.pending, outbox.dead, outbox.delivered, oldest);
    for run in state.bridge.store().latest_reconciliations().await? {
        state.metrics().parity(&run.source, run.parity());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().encode(),
    )
        .into_response())
}

/// The public keys sessions are signed with (a JSON Web Key Set of Ed25519 keys).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    responses((status = 200, description = "The key set", body = Object))
)]
async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    Json(state.keys.jwks()).into_response()
}

/// 200 `ok` once serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "admin",
    responses((status = 200, description = "Serving", body = String, content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
}
