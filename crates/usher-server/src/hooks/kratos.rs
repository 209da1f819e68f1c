//! Ory Kratos's password migration hook.
//!
//! Kratos calls it when an identity imported with `use_password_migration_hook` logs in with a
//! password, with `{identifier, password}`. `200 {"status": "password_match"}` makes Kratos
//! hash and keep the password; `403` is a wrong password. Anything else is an upstream error
//! to Kratos (the login fails, and may be retried): that is how an outage is answered, so a
//! user is never told "wrong password" because legacy was down.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::{Provider, Refusal, request, verify};
use crate::error::ApiError;
use crate::http::AppState;
use crate::openapi::{ErrorBody, NotFound, RateLimited, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(password_migration))
}

/// Kratos's default body.
#[derive(Deserialize)]
struct Request {
    identifier: String,
    password: Zeroizing<String>,
}

/// Kratos's password migration hook: `password_match` when the password is the user's, in
/// the store or in legacy (the user is migrated).
#[utoipa::path(
    post,
    path = "/hooks/kratos",
    operation_id = "kratos_password_migration",
    tag = "hooks",
    request_body(content = Object, description = "`{\"identifier\", \"password\"}`"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "`{\"status\": \"password_match\"}`", body = Object),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, description = "`invalid_credentials`: Kratos's \"password did not match\"", body = ErrorBody),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn password_migration(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, request): (_, Request) = request(&state, Provider::Kratos, &headers, body)?;
    match verify(&state, &hook, &request.identifier, &request.password).await {
        Ok(_) => Ok(Json(json!({ "status": "password_match" })).into_response()),
        Err(Refusal::No) => Ok((
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "invalid_credentials" })),
        )
            .into_response()),
        Err(Refusal::Unavailable(e)) => Err(e),
    }
}
