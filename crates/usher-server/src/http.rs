//! The HTTP surface of the bridge (axum): `POST /v1/login` and `/.well-known/jwks.json`.
//!
//! | answer | when |
//! |---|---|
//! | 200 `{user, session, path}` | the password verified (in the store, or in legacy and migrated now) |
//! | 401 `{"error":"invalid_credentials"}` | unknown identifier or wrong password, alike |
//! | 503 + `Retry-After` | the hashing pool is full, or legacy is down for a user not yet migrated |
//! | 409 | legacy verified the password but the record cannot become a user (named reason) |
//! | 400 | a malformed request |

use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use usher_hash::Password;

use crate::bridge::{Bridge, LoginError};
use crate::session::SessionKeys;

/// What the routes share.
#[derive(Debug)]
pub struct AppState {
    /// The login flow.
    pub bridge: Bridge,
    /// Session signing.
    pub keys: SessionKeys,
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/login", post(login))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
}

/// `POST /v1/login`. The password is moved into a zeroizing [`Password`] as soon as the body
/// is parsed, and appears in no log or error.
#[derive(Deserialize)]
struct LoginRequest {
    identifier: String,
    password: String,
}

async fn login(
    State(state): State<Arc<AppState>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Response {
    let Ok(Json(request)) = body else {
        return error(StatusCode::BAD_REQUEST, "malformed_request");
    };
    let password = Password::from(request.password);
    match state.bridge.login(&request.identifier, password).await {
        Ok(ok) => match state.keys.issue(ok.user.id.as_uuid(), chrono::Utc::now()) {
            Ok(session) => Json(json!({
                "user": {
                    "id": ok.user.id,
                    "email": ok.user.email,
                    "username": ok.user.username,
                    "profile": ok.user.profile,
                    "legacy_links": ok.user.legacy_links,
                },
                "session": session,
                "path": ok.path.as_str(),
            }))
            .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "issuing a session failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        },
        Err(LoginError::InvalidCredentials) => {
            error(StatusCode::UNAUTHORIZED, "invalid_credentials")
        }
        Err(LoginError::Busy) => retry_later("busy"),
        Err(LoginError::LegacyUnavailable(source)) => {
            tracing::warn!(%source, "legacy source unavailable during login");
            retry_later("legacy_unavailable")
        }
        Err(LoginError::Unmigratable {
            source_name,
            reason,
        }) => {
            tracing::warn!(source = %source_name, %reason, "legacy record cannot be migrated");
            error(StatusCode::CONFLICT, "account_needs_attention")
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    Json(state.keys.jwks()).into_response()
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

fn retry_later(code: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, code);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
