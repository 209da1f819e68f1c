//! FusionAuth's Generic Connector.
//!
//! FusionAuth posts its Login API request (`loginId`, `password`, `applicationId`, ...) and
//! takes `200 {"user": {...}}` as "this is the user" (`user.id` a UUID, the same at every
//! login, and an email or a username), and `404` as "no such user or wrong password": it
//! turns every other status into 404 itself, so an outage shows in usher's log and metrics,
//! and FusionAuth says no. The user's id is usher's, so a connector that does not migrate
//! (`migrate = false`) keeps seeing one id per user.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use usher_core::User;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::{Provider, Refusal, request, verify};
use crate::error::ApiError;
use crate::http::AppState;
use crate::openapi::{ErrorBody, RateLimited, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(connector))
}

/// The Login API request; the other fields FusionAuth may send are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    login_id: String,
    password: Zeroizing<String>,
    application_id: Option<uuid::Uuid>,
}

/// FusionAuth's Generic Connector: the user, when the password is theirs (in the store or in
/// legacy; the user is migrated), else 404.
#[utoipa::path(
    post,
    path = "/hooks/fusionauth",
    operation_id = "fusionauth_connector",
    tag = "hooks",
    request_body(content = Object, description = "FusionAuth's Login API request"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "`{\"user\": {...}}`, a FusionAuth User", body = Object),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`not_found`: no such user, or not their password (FusionAuth's only \"no\")", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn connector(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, request): (_, Request) = request(&state, Provider::FusionAuth, &headers, body)?;
    match verify(&state, &hook, &request.login_id, &request.password).await {
        Ok(user) => Ok(
            Json(json!({ "user": fusionauth_user(&user, request.application_id) })).into_response(),
        ),
        Err(Refusal::No) => Err(ApiError::NotFound),
        Err(Refusal::Unavailable(e)) => Err(e),
    }
}

/// `user` as a FusionAuth User, registered to the application logging in.
fn fusionauth_user(user: &User, application: Option<uuid::Uuid>) -> Value {
    let mut out = usher_connect::target::fusionauth::user_fields(user);
    if let Some(Value::Object(usher)) = out.get_mut("data").and_then(|d| d.get_mut("usher")) {
        usher.insert("migrated".into(), json!(true));
    }
    if let Some(application) = application {
        out.insert(
            "registrations".into(),
            json!([{ "applicationId": application.to_string(), "verified": user.email_verified }]),
        );
    }
    Value::Object(out)
}
