//! [`ApiError`]: the one place an error becomes an HTTP answer — its status, its code, its
//! headers — and the one place an internal error is logged.
//!
//! Every error answer has the shape `{"error": <code>, "request_id": <id>, ...}`. Handlers
//! return `Result<Response, ApiError>` and convert the login service's and the store's errors
//! with `?`. An internal error's cause is never sent: it rides in a response extension to the
//! request guard, which logs it once with the request id the body also carries, so an operator
//! can find the line a client reports.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use usher_bridge::{LoginError, RegisterError};
use usher_store::StoreError;

use crate::ratelimit::Limited;

/// Why a request was not served, as the client is told.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `malformed_request`: the body is not the JSON the route takes.
    Malformed,
    /// 400 `unreadable_body`: the body could not be read.
    UnreadableBody,
    /// 400 `invalid_field`, naming the field and why.
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why (never a secret).
        reason: String,
    },
    /// 400 `password_too_long`: refused before any hashing.
    PasswordTooLong,
    /// 401 `unauthorized` with `WWW-Authenticate: Bearer`: no valid token or session.
    Unauthorized,
    /// 401 `invalid_credentials`: unknown identifier or wrong password, deliberately alike.
    InvalidCredentials,
    /// 403 `account_disabled`.
    Disabled,
    /// 403 `admin_api_disabled`: no admin token is configured, so the admin routes are off.
    AdminDisabled,
    /// 404 `not_found`: also what a user asking about anyone else gets.
    NotFound,
    /// 408 `body_timeout`: the body did not arrive within its deadline.
    BodyTimeout,
    /// 409 `account_needs_attention`: legacy accepted the password, but its record cannot
    /// become a user (it is in the quarantine with the reason).
    NeedsAttention,
    /// 409 `<field>_taken`: a user holds the email or username, in the store or in legacy.
    Taken(&'static str),
    /// 413 `body_too_large`.
    BodyTooLarge,
    /// 414 `uri_too_long`.
    UriTooLong,
    /// 431 `headers_too_large`.
    HeadersTooLarge,
    /// 429 `rate_limited`, with the limit's scope and `Retry-After`.
    RateLimited(Limited),
    /// 503 with `Retry-After: 1`: `busy` (the hashing pool is full), `legacy_unavailable`,
    /// `store_unavailable`, `request_timeout`.
    Unavailable(&'static str),
    /// 500 `internal`; the cause is logged with the request id, never sent.
    Internal(String),
}

/// An internal error's cause, carried from the handler to the request guard, which logs it.
#[derive(Debug, Clone)]
pub(crate) struct InternalCause(pub(crate) String);

impl ApiError {
    /// The status and the `error` code of the answer.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Malformed => (StatusCode::BAD_REQUEST, "malformed_request"),
            ApiError::UnreadableBody => (StatusCode::BAD_REQUEST, "unreadable_body"),
            ApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::PasswordTooLong => (StatusCode::BAD_REQUEST, "password_too_long"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Disabled => (StatusCode::FORBIDDEN, "account_disabled"),
            ApiError::AdminDisabled => (StatusCode::FORBIDDEN, "admin_api_disabled"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::NeedsAttention => (StatusCode::CONFLICT, "account_needs_attention"),
            ApiError::Taken("username") => (StatusCode::CONFLICT, "username_taken"),
            ApiError::Taken(_) => (StatusCode::CONFLICT, "email_taken"),
            ApiError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ApiError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(code) => (StatusCode::SERVICE_UNAVAILABLE, code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The outcome label a login's metrics count this error under.
    pub fn login_outcome(error: &LoginError) -> &'static str {
        match error {
            LoginError::InvalidCredentials => "invalid_credentials",
            LoginError::Disabled => "disabled",
            LoginError::Busy => "busy",
            LoginError::PasswordTooLong => "password_too_long",
            LoginError::LegacyUnavailable(_) => "legacy_unavailable",
            LoginError::LegacyMisconfigured { .. } => "legacy_misconfigured",
            LoginError::Unmigratable { .. } => "unmigratable",
            LoginError::Store(_) | LoginError::Internal(_) => "error",
        }
    }

    /// The outcome label a registration's metrics count this error under.
    pub fn registration_outcome(error: &RegisterError) -> &'static str {
        match error {
            RegisterError::Invalid { .. } => "invalid",
            RegisterError::Taken(_) => "taken",
            RegisterError::Busy => "busy",
            RegisterError::LegacyUnavailable(_) => "legacy_unavailable",
            RegisterError::Store(_) | RegisterError::Internal(_) => "error",
        }
    }
}

/// The error body of an answer made outside the router (a connection over the cap).
pub(crate) fn error_body(code: &str) -> Value {
    json!({ "error": code, "request_id": uuid::Uuid::now_v7().to_string() })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = match &self {
            ApiError::InvalidField { field, reason } => {
                json!({ "error": code, "field": field, "reason": reason })
            }
            ApiError::RateLimited(limited) => json!({ "error": code, "scope": limited.scope }),
            _ => json!({ "error": code }),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited(limited) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(limited.retry_after_seconds),
                );
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        if let ApiError::Internal(cause) = self {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiError::InvalidCredentials,
            LoginError::Disabled => ApiError::Disabled,
            LoginError::Busy => ApiError::Unavailable("busy"),
            LoginError::PasswordTooLong => ApiError::PasswordTooLong,
            LoginError::LegacyUnavailable(source) => {
                tracing::warn!(%source, "legacy source unavailable during login");
                ApiError::Unavailable("legacy_unavailable")
            }
            LoginError::LegacyMisconfigured {
                source_name,
                reason,
            } => {
                tracing::error!(
                    source = %source_name,
                    %reason,
                    "legacy source refused usher's own credentials or is misconfigured; every \
                     login that needs it fails until it is fixed"
                );
                ApiError::Unavailable("legacy_unavailable")
            }
            LoginError::Unmigratable {
                source_name,
                key,
                field,
                reason,
            } => {
                tracing::warn!(
                    source = %source_name,
                    %key,
                    field = field.as_deref().unwrap_or("-"),
                    %reason,
                    "legacy accepted the password, but its record cannot become a user; it is \
                     in the quarantine"
                );
                ApiError::NeedsAttention
            }
            e @ (LoginError::Store(_) | LoginError::Internal(_)) => {
                ApiError::Internal(format!("login failed: {e}"))
            }
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid { field, reason } => ApiError::InvalidField { field, reason },
            RegisterError::Taken(field) => ApiError::Taken(field),
            RegisterError::Busy => ApiError::Unavailable("busy"),
            RegisterError::LegacyUnavailable(source) => {
                tracing::warn!(%source, "legacy source unavailable during registration");
                ApiError::Unavailable("legacy_unavailable")
            }
            e @ (RegisterError::Store(_) | RegisterError::Internal(_)) => {
                ApiError::Internal(format!("registration failed: {e}"))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    /// The store failing a read: an outage of the store, answered as one.
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "store failed");
        ApiError::Unavailable("store_unavailable")
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a missing header fails the test, as it should
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_answer_asks_to_retry_and_an_internal_one_hides_its_cause() {
        let busy = ApiError::Unavailable("busy").into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");

        let internal = ApiError::Internal("the disk is on fire".into()).into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            internal
                .extensions()
                .get::<InternalCause>()
                .is_some_and(|c| c.0 == "the disk is on fire")
        );
    }

    #[test]
    fn a_taken_identifier_names_its_field() {
        assert_eq!(
            ApiError::Taken("username").status_and_code().1,
            "username_taken"
        );
        assert_eq!(ApiError::Taken("email").status_and_code().1, "email_taken");
    }
}
