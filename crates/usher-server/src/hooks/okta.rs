//! Okta's password import inline hook (`com.okta.user.credential.password.import`).
//!
//! Okta calls it at the first sign-in of a user created with `credentials.password.hook`,
//! with the username and the password typed, and waits 3 s. The answer is always 200 with a
//! command: `VERIFIED` (Okta keeps the password and never calls again) or `UNVERIFIED` (this
//! sign-in fails; the next one calls again). An outage or a budget run out is `UNVERIFIED`
//! too, with an `error` Okta writes to its System Log, never a late answer: Okta's docs ask
//! for data problems to be answered in the body, not with an HTTP error.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
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
use crate::openapi::{NotFound, Unauthorized};

pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(password_import))
}

/// The event Okta sends; only the credential is read.
#[derive(Deserialize)]
struct Event {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    /// Where the reference's sample puts it.
    context: Option<Context>,
    /// Where its prose puts it.
    credential: Option<Credential>,
}

#[derive(Deserialize)]
struct Context {
    credential: Option<Credential>,
}

#[derive(Deserialize)]
struct Credential {
    username: String,
    password: Zeroizing<String>,
}

/// Okta's password import inline hook: `VERIFIED` when the password is the user's, in the
/// store or in legacy (the user is migrated), else `UNVERIFIED`.
#[utoipa::path(
    post,
    path = "/hooks/okta",
    operation_id = "okta_password_import",
    tag = "hooks",
    request_body(content = Object, description = "Okta's `com.okta.user.credential.password.import` event"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "`{\"commands\": [{\"type\": \"com.okta.action.update\", \"value\": {\"credential\": \"VERIFIED\" | \"UNVERIFIED\"}}]}`, with an `error` when usher could not decide", body = Object),
        (status = 400, description = "`malformed_request`: not Okta's event", body = crate::openapi::ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
async fn password_import(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, event): (_, Event) = request(&state, Provider::Okta, &headers, body)?;
    let Some(credential) = event
        .data
        .context
        .and_then(|c| c.credential)
        .or(event.data.credential)
    else {
        state.metrics().hook(Provider::Okta.name(), "malformed");
        return Err(ApiError::Malformed);
    };
    let answer = match verify(&state, &hook, &credential.username, &credential.password).await {
        Ok(_) => command("VERIFIED", None),
        Err(Refusal::No) => command("UNVERIFIED", None),
        Err(Refusal::Unavailable(e)) => {
            let (_, code) = e.status_and_code();
            command(
                "UNVERIFIED",
                Some(json!({
                    "errorSummary": format!("usher could not verify the password now: {code}"),
                })),
            )
        }
    };
    Ok(Json(answer).into_response())
}

fn command(credential: &str, error: Option<serde_json::Value>) -> serde_json::Value {
    let commands = json!([{
        "type": "com.okta.action.update",
        "value": { "credential": credential },
    }]);
    match error {
        Some(error) => json!({ "commands": commands, "error": error }),
        None => json!({ "commands": commands }),
    }
}
