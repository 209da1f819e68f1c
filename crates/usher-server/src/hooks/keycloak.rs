//! The REST contract of Keycloak's `keycloak-user-migration` plugin.
//!
//! * `GET /hooks/keycloak/{username or email}`: `200` and the user when usher knows them (in
//!   the store, or as a legacy record not yet migrated); any other status is "not found" to
//!   the plugin, which then checks that the answer's username or email is the one it asked
//!   for, ignoring case.
//! * `POST /hooks/keycloak/{username or email}` with `{"password"}`: `200` when the password
//!   is the user's (the user is migrated); any other status is "invalid". An outage is a 503,
//!   which the plugin also takes as "invalid": it cannot be told apart.
//!
//! No `id` is sent: Keycloak makes its own, so the plugin's
//! `USE_USER_ID_FOR_CREDENTIAL_VERIFICATION` must stay off.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use usher_core::User;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::{Provider, Refusal, admit, lookup, request, verify};
use crate::error::ApiError;
use crate::http::AppState;
use crate::openapi::{ErrorBody, NotFound, RateLimited, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(user, password))
}

/// The user a username or an email names, as the plugin's `LegacyUser`.
#[utoipa::path(
    get,
    path = "/hooks/keycloak/{identifier}",
    operation_id = "keycloak_user",
    tag = "hooks",
    params(("identifier" = String, Path, description = "A username or an email")),
    security(("hook" = [])),
    responses(
        (status = 200, description = "The plugin's `LegacyUser`", body = Object),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn user(
    State(state): State<Arc<AppState>>,
    Path(identifier): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hook = admit(&state, Provider::Keycloak, &headers, &Bytes::new())?;
    match lookup(&state, &hook, &identifier).await? {
        Some(found) => Ok(Json(legacy_user(found.user())).into_response()),
        None => Err(ApiError::NotFound),
    }
}

#[derive(Deserialize)]
struct PasswordRequest {
    password: Zeroizing<String>,
}

/// Whether the password is that user's.
#[utoipa::path(
    post,
    path = "/hooks/keycloak/{identifier}",
    operation_id = "keycloak_password",
    tag = "hooks",
    params(("identifier" = String, Path, description = "A username or an email")),
    request_body(content = Object, description = "`{\"password\"}`"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "The password is the user's", body = Object),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, description = "`unauthorized`, or `invalid_credentials`: not their password", body = ErrorBody),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn password(
    State(state): State<Arc<AppState>>,
    Path(identifier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, request): (_, PasswordRequest) =
        request(&state, Provider::Keycloak, &headers, body)?;
    match verify(&state, &hook, &identifier, &request.password).await {
        Ok(_) => Ok(Json(json!({})).into_response()),
        Err(Refusal::No) => Err(ApiError::InvalidCredentials),
        Err(Refusal::Unavailable(e)) => Err(e),
    }
}

/// `user` as the plugin's `LegacyUser`: the fields a Keycloak import gives them too.
fn legacy_user(user: &User) -> Value {
    Value::Object(usher_connect::target::keycloak::user_fields(user))
}
