//! AWS Cognito's migrate-user trigger. Cognito invokes a Lambda, not a URL: the Lambda usher
//! ships (`integrations/cognito/index.mjs`) signs the trigger's event with HMAC and posts it
//! here, and hands back what usher answers.
//!
//! * `UserMigration_Authentication`: the password is checked (the user is migrated), and the
//!   event comes back with `response.userAttributes`, `finalUserStatus` (`CONFIRMED`, or
//!   `RESET_REQUIRED` for a user legacy flagged so) and `messageAction: SUPPRESS`.
//! * `UserMigration_ForgotPassword`: the user is looked up (no password), and comes back the
//!   same way, only if they have a verified email or a phone, which Cognito needs to send the
//!   code.
//!
//! `401 invalid_credentials` (or `404 not_found`) tells the Lambda to fail the trigger with
//! "Bad password" / "User not found"; a 503 makes it throw, so Cognito retries.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use usher_core::{Status, User};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::{Provider, Refusal, lookup, present, request, verify};
use crate::error::ApiError;
use crate::http::AppState;
use crate::openapi::{ErrorBody, NotFound, RateLimited, Unavailable};

pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(migrate_user))
}

/// The trigger's event; what usher does not read is handed back as it came.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    trigger_source: String,
    user_name: String,
    #[serde(default)]
    request: EventRequest,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize, Default)]
struct EventRequest {
    password: Option<Zeroizing<String>>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Cognito's migrate-user trigger, forwarded by usher's Lambda: the event with its response.
#[utoipa::path(
    post,
    path = "/hooks/cognito",
    operation_id = "cognito_migrate_user",
    tag = "hooks",
    request_body(content = Object, description = "The trigger's event, as Cognito gave it to the Lambda"),
    security(("hook" = [])),
    responses(
        (status = 200, description = "The event, with `response` filled in", body = Object),
        (status = 400, description = "`malformed_request`: not a migrate-user event", body = ErrorBody),
        (status = 401, description = "`unauthorized`, or `invalid_credentials`: not the user's password", body = ErrorBody),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn migrate_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (hook, event): (_, Event) = request(&state, Provider::Cognito, &headers, body)?;
    let user = match event.trigger_source.as_str() {
        "UserMigration_Authentication" => {
            let Some(password) = &event.request.password else {
                return Err(ApiError::Malformed);
            };
            match verify(&state, &hook, &event.user_name, password).await {
                Ok(user) => user,
                Err(Refusal::No) => return Err(ApiError::InvalidCredentials),
                Err(Refusal::Unavailable(e)) => return Err(e),
            }
        }
        "UserMigration_ForgotPassword" => match lookup(&state, &hook, &event.user_name).await? {
            Some(found)
                if found.user().status != Status::Disabled
                    && (found.user().email_verified || found.user().phone.is_some()) =>
            {
                found.user().clone()
            }
            _ => return Err(ApiError::NotFound),
        },
        _ => return Err(ApiError::Malformed),
    };
    let mut out = event.rest;
    out.insert("triggerSource".into(), json!(event.trigger_source));
    out.insert("userName".into(), json!(event.user_name));
    // The password never goes back.
    out.insert("request".into(), Value::Object(event.request.rest));
    out.insert("response".into(), response(&user));
    Ok(Json(Value::Object(out)).into_response())
}

/// The trigger's `response` for `user`. Attribute values are strings, as Cognito takes them.
fn response(user: &User) -> Value {
    let mut attributes = Map::new();
    let profile = &user.profile;
    let fields: [(&str, Option<String>); 10] = [
        ("email", user.email.as_ref().map(|e| e.as_str().to_owned())),
        (
            "phone_number",
            user.phone.as_ref().map(|p| p.as_str().to_owned()),
        ),
        (
            "preferred_username",
            user.username.as_ref().map(|u| u.as_str().to_owned()),
        ),
        ("given_name", profile.given_name.clone()),
        ("family_name", profile.family_name.clone()),
        ("middle_name", profile.middle_name.clone()),
        ("name", profile.name.clone()),
        ("nickname", profile.nickname.clone()),
        ("locale", profile.locale.clone()),
        ("birthdate", profile.birthdate.map(|d| d.to_string())),
    ];
    present(&mut attributes, fields);
    if user.email.is_some() {
        attributes.insert(
            "email_verified".into(),
            json!(user.email_verified.to_string()),
        );
    }
    let status = if user.status == Status::PasswordResetRequired {
        "RESET_REQUIRED"
    } else {
        "CONFIRMED"
    };
    // Required by the trigger's type, though nothing is sent while the message is suppressed.
    let medium = if user.email.is_some() { "EMAIL" } else { "SMS" };
    json!({
        "userAttributes": attributes,
        "finalUserStatus": status,
        "messageAction": "SUPPRESS",
        "desiredDeliveryMediums": [medium],
    })
}
