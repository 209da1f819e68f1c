//! usher's own HTTP API, described as OpenAPI 3.1 from the code: each route's
//! `#[utoipa::path]` sits on its handler in [`crate::http`], and the router is built from those
//! same annotations ([`utoipa_axum::router::OpenApiRouter`]), so a route cannot exist without
//! its description, nor a description without its route. [`document`] is the whole document;
//! `docs/openapi.json` is it as committed, and a test fails when the two differ.

use chrono::{DateTime, Utc};
use serde::Serialize;
use usher_core::{
    Email, LegacyLink, Migration, PhoneE164, Profile, Status, User, UserId, Username,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use crate::session::Session;

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "usher",
        description = "usher's login bridge: logins checked in the new store first, then \
                       against legacy, and users migrated as they log in; registration; \
                       sessions (EdDSA JWTs, with a JWKS); the admin API.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(
        schemas(ErrorBody),
        responses(Unauthorized, AdminDisabled, NotFound, RateLimited, Unavailable, StoreUnavailable)
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "login", description = "Logins and registration"),
        (name = "users", description = "Users, for the admin or the user themselves"),
        (name = "admin", description = "Operator routes, behind the admin token"),
        (name = "keys", description = "What other services check sessions with"),
        (name = "hooks", description = "What identity providers call during their lazy migration, in each provider's own shapes (`[serve.hooks]`)")
    )
)]
pub(crate) struct ApiDoc;

/// The `bearer` security scheme: the admin token, or a user's session JWT.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (`serve.admin_token_file`), or a user's session JWT \
                         where the route says so.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "hook",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The credential `[serve.hooks.<provider>.auth]` names: a shared secret \
                         in a header, HTTP Basic, a bearer token, or an HMAC signature of the \
                         body in `X-Usher-Signature`, as the provider can send it.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of usher's HTTP API, as JSON.
pub fn document() -> String {
    let (_, api) = crate::http::routes().split_for_parts();
    api.to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Every error answer: `{"error": <code>, "request_id": <id>, ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, as a code: `invalid_credentials`, `rate_limited`,
    /// `legacy_unavailable`, `email_taken`, `not_found`...
    error: String,
    /// The request's id, also in the `X-Request-Id` header and in usher's log.
    request_id: String,
    /// `invalid_field`: the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// `invalid_field`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// `rate_limited`: which limit, `identifier` or `address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// The error answers several routes share, each described once: a route lists them as
/// `(status = 401, response = Unauthorized)`.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident = $description:literal;)*) => {$(
        $(#[$doc])*
        #[derive(ToResponse)]
        #[response(description = $description)]
        #[allow(dead_code)] // a description: the answer itself is built by `ApiError`
        pub(crate) struct $name(ErrorBody);
    )*};
}

error_responses! {
    /// 401.
    Unauthorized = "`unauthorized`: no credentials, or not the right ones";
    /// 403 on the admin routes.
    AdminDisabled = "`admin_api_disabled`: no admin token is configured";
    /// 404.
    NotFound = "`not_found`";
    /// 429.
    RateLimited = "`rate_limited`, with `Retry-After`";
    /// 503 where legacy is consulted.
    Unavailable = "`busy` or `legacy_unavailable`, with `Retry-After`";
    /// 503 where only the store is read.
    StoreUnavailable = "`store_unavailable`";
}

/// `POST /v1/login`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the handler parses the body itself, into zeroizing memory
pub(crate) struct LoginBody {
    /// An email or a username.
    identifier: String,
    /// At most 1024 bytes.
    #[schema(format = Password)]
    password: String,
}

/// `POST /v1/users`'s body: an email or a username is required.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the handler parses the body itself, into zeroizing memory
pub(crate) struct RegisterBody {
    email: Option<String>,
    username: Option<String>,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(format = Password)]
    password: String,
    /// Profile fields (`given_name`, `family_name`, `name`, `locale`...).
    #[schema(value_type = Option<Object>)]
    profile: Option<serde_json::Value>,
}

/// A login's or a registration's answer: the user and a fresh session.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionAnswer<'a> {
    pub(crate) user: UserView<'a>,
    pub(crate) session: Session,
    /// A login only: how it succeeded (`store`, `store_upgraded`, `lazy_migrated`,
    /// `already_migrated`, `linked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<&'static str>,
}

/// A user as the API shows them: never the credential, never the legacy record.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserView<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: UserId,
    #[schema(value_type = Option<String>)]
    email: Option<&'a Email>,
    email_verified: bool,
    #[schema(value_type = Option<String>)]
    username: Option<&'a Username>,
    /// E.164.
    #[schema(value_type = Option<String>)]
    phone: Option<&'a PhoneE164>,
    /// `given_name`, `family_name`, `name`, `middle_name`, `nickname`, `birthdate`,
    /// `locale`, `zoneinfo`, `picture`.
    #[schema(value_type = Object)]
    profile: &'a Profile,
    #[schema(value_type = Object)]
    attributes: &'a serde_json::Map<String, serde_json::Value>,
    /// `active`, `disabled` or `password-reset-required`.
    #[schema(value_type = String)]
    status: Status,
    #[schema(value_type = String, format = DateTime)]
    created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    updated_at: DateTime<Utc>,
    /// The legacy records this user came from, as `{source, legacy_id}`.
    #[schema(value_type = Vec<Object>)]
    legacy_links: &'a [LegacyLink],
    /// How the user arrived: the method, when, and from which source.
    #[schema(value_type = Option<Object>)]
    migration: Option<&'a Migration>,
}

impl<'a> UserView<'a> {
    /// What the API shows of `user`.
    pub(crate) fn of(user: &'a User) -> Self {
        UserView {
            id: user.id,
            email: user.email.as_ref(),
            email_verified: user.email_verified,
            username: user.username.as_ref(),
            phone: user.phone.as_ref(),
            profile: &user.profile,
            attributes: &user.attributes,
            status: user.status,
            created_at: user.created_at,
            updated_at: user.updated_at,
            legacy_links: &user.legacy_links,
            migration: user.migration.as_ref(),
        }
    }
}
