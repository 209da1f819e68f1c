//! The endpoints Auth0's custom database scripts call, for "Import Users to Auth0" (Auth0's
//! lazy migration). Auth0 runs JavaScript, not HTTP: usher ships the two scripts
//! (`integrations/auth0/login.js`, `get-user.js`), which call these with `x-api-key`.
//!
//! * `POST /hooks/auth0/login {"email", "password"}` (`email` may hold a username): `200` and
//!   the user's Auth0 profile when the password is theirs (the user is migrated); `401` when
//!   not; `503` when usher cannot tell (the script answers Auth0 with an error, not with
//!   "wrong password").
//! * `POST /hooks/auth0/get-user {"email"}`: `200` and the profile, or `404`.
//!
//! The profile's `user_id` is the same before the user migrates and after
//! ([`usher_core::User::external_id`]): Auth0 keeps the first one it is given.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use usher_core::User;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::{Provider, Refusal, lookup, request, verify};
use crate::error::ApiError;
use crate::http::AppState;
use crate::openapi::{ErrorBody, NotFound, RateLimited, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(get_user))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: Zeroizing<String>,
}

/// The login script's call: the profile, when the password is the user's.
#[utoipa::path(
    post,
    path = "/hooks/auth0/login",
    operation_id = "auth0_login",
    tag = "hooks",
    request_body(content = Object, description = "`{\"email\", \"password\"}` (`email` may be a username)"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "The user's Auth0 profile", body = Object),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, description = "`unauthorized`, or `invalid_credentials`", body = ErrorBody),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, request): (_, LoginRequest) = request(&state, Provider::Auth0, &headers, body)?;
    match verify(&state, &hook, &request.email, &request.password).await {
        Ok(user) => Ok(Json(profile(&user)).into_response()),
        Err(Refusal::No) => Err(ApiError::InvalidCredentials),
        Err(Refusal::Unavailable(e)) => Err(e),
    }
}

#[derive(Deserialize)]
struct GetUserRequest {
    email: String,
}

/// The get-user script's call: the profile of the user an email (or username) names.
#[utoipa::path(
    post,
    path = "/hooks/auth0/get-user",
    operation_id = "auth0_get_user",
    tag = "hooks",
    request_body(content = Object, description = "`{\"email\"}`"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "The user's Auth0 profile", body = Object),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn get_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, request): (_, GetUserRequest) = request(&state, Provider::Auth0, &headers, body)?;
    match lookup(&state, &hook, &request.email).await? {
        Some(found) => Ok(Json(profile(found.user())).into_response()),
        None => Err(ApiError::NotFound),
    }
}

/// `user` as an Auth0 normalized profile: the fields an Auth0 import gives them too.
pub(super) fn profile(user: &User) -> Value {
    Value::Object(usher_connect::target::auth0::profile(user))
}
