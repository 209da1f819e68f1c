//! The hooks identity providers call during their own lazy migration, one module a provider,
//! each under `/hooks/<provider>`. Every hook:
//!
//! 1. checks the caller's credential the way that provider sends it ([`auth`]: a shared secret
//!    in a header, HTTP Basic, a bearer token, or an HMAC signature of the body);
//! 2. asks the login service ([`usher_bridge::Bridge`]) — the very rules of `POST /v1/login`:
//!    the store first, then legacy, the user migrated (and re-hashed) on success — within the
//!    hook's time budget, under the provider's own timeout;
//! 3. records the provider as the user's target in the store ([`usher_store::TargetStore`]);
//! 4. answers in the provider's documented shape and status codes.
//!
//! A hook not configured (`[serve.hooks.<provider>]`) answers 404, as a route that does not
//! exist. Charges go to the per-identifier and per-account rate limits, not the per-address
//! one: every request of a provider comes from its few addresses.

pub mod auth;
mod auth0;
mod cognito;
mod fusionauth;
mod keycloak;
mod kratos;
mod okta;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use usher_bridge::{Found, LoginError};
use usher_core::config::under;
pub(crate) use usher_core::target::present;
use usher_core::{ConfigProblem, User};
use usher_hash::Password;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{HookAuth, HookAuthConfig};

use crate::error::ApiError;
use crate::http::{AppState, charge_login};

/// The identity providers usher serves a hook for; in usher.toml by [`Provider::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Okta's password import inline hook.
    Okta,
    /// The endpoints Auth0's custom database scripts (login, get user) call.
    Auth0,
    /// AWS Cognito's migrate-user trigger, through the Lambda usher ships.
    Cognito,
    /// FusionAuth's Generic Connector.
    FusionAuth,
    /// Keycloak's `keycloak-user-migration` plugin.
    Keycloak,
    /// Ory Kratos's password migration hook.
    Kratos,
}

impl Provider {
    /// The name in routes, config, metrics and the store's targets.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Okta => "okta",
            Provider::Auth0 => "auth0",
            Provider::Cognito => "cognito",
            Provider::FusionAuth => "fusionauth",
            Provider::Keycloak => "keycloak",
            Provider::Kratos => "kratos",
        }
    }

    /// The time a hook spends on one request unless configured: inside the provider's own
    /// timeout, with room for the network.
    pub fn default_budget(self) -> Duration {
        Duration::from_millis(match self {
            // Okta waits 3 s, and its one retry is another sign-in's worth of hashing.
            Provider::Okta => 2_500,
            // The scripts usher ships give up after 10 s.
            Provider::Auth0 => 8_000,
            // The Lambda has 5 s in all, its own start included.
            Provider::Cognito => 4_000,
            // FusionAuth asks for under a second; its read timeout is the operator's.
            Provider::FusionAuth => 900,
            // The plugin sets no timeout; a login should not wait longer anyway.
            Provider::Keycloak => 5_000,
            // Kratos waits 30 s and retries twice.
            Provider::Kratos => 10_000,
        })
    }

    /// The most a budget may be: the provider's own timeout.
    fn max_budget(self) -> Duration {
        Duration::from_millis(match self {
            Provider::Okta => 3_000,
            Provider::Auth0 => 10_000,
            Provider::Cognito => 5_000,
            Provider::FusionAuth | Provider::Keycloak => 30_000,
            Provider::Kratos => 30_000,
        })
    }
}

/// One hook's settings (`[serve.hooks.<provider>]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// How the provider proves it is the caller.
    pub auth: HookAuthConfig,
    /// The time one request may take, in milliseconds; default the provider's
    /// ([`Provider::default_budget`]). Past it the hook answers as the provider expects for
    /// "not verified" (Okta) or "unavailable" (the others), never late.
    pub budget_ms: Option<u64>,
}

/// `[serve.hooks]`: the providers whose hooks are on, each `[serve.hooks.<provider>]`
/// (`okta`, `auth0`, `cognito`, `fusionauth`, `keycloak`, `kratos`; any other name is refused
/// when the file is read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct HooksConfig(pub BTreeMap<Provider, HookConfig>);

impl HooksConfig {
    /// Every problem, each keyed within `[serve.hooks]`.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (provider, config) in &self.0 {
            let mut own = under("auth", config.auth.validate()).collect::<Vec<_>>();
            if let Some(ms) = config.budget_ms {
                let max = provider.max_budget().as_millis();
                if !(50..=max).contains(&u128::from(ms)) {
                    own.push(ConfigProblem::new(
                        "budget_ms",
                        format!(
                            "{ms} is outside 50..={max} ({} waits {max} ms at most)",
                            provider.name()
                        ),
                    ));
                }
            }
            problems.extend(under(provider.name(), own));
        }
        problems
    }

    /// Resolves the secret files against `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        for config in self.0.values_mut() {
            config.auth.resolve_paths(base);
        }
    }

    /// The hooks, their secrets read from their files.
    pub fn build(&self) -> Result<Hooks, String> {
        let mut hooks = Hooks::default();
        for (&provider, config) in &self.0 {
            let auth = HookAuth::from_config(&config.auth)
                .map_err(|e| format!("serve.hooks.{}.auth: {e}", provider.name()))?;
            hooks = hooks.with(Hook {
                provider,
                auth,
                budget: config
                    .budget_ms
                    .map_or(provider.default_budget(), Duration::from_millis),
            });
        }
        Ok(hooks)
    }
}

/// A hook that is on: its provider, how its caller is checked, its time budget.
#[derive(Debug)]
pub struct Hook {
    /// The provider.
    pub provider: Provider,
    /// How the caller is checked.
    pub auth: HookAuth,
    /// The time one request may take.
    pub budget: Duration,
}

impl Hook {
    /// A hook of `provider` with the provider's default budget.
    pub fn new(provider: Provider, auth: HookAuth) -> Self {
        Self {
            provider,
            auth,
            budget: provider.default_budget(),
        }
    }
}

/// The hooks that are on.
#[derive(Debug, Default)]
pub struct Hooks(BTreeMap<Provider, Arc<Hook>>);

impl Hooks {
    /// These hooks and `hook` (replacing one of its provider).
    #[must_use]
    pub fn with(mut self, hook: Hook) -> Self {
        self.0.insert(hook.provider, Arc::new(hook));
        self
    }

    fn get(&self, provider: Provider) -> Option<&Arc<Hook>> {
        self.0.get(&provider)
    }
}

/// The hook routes, each with its OpenAPI description.
pub(crate) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .merge(okta::routes())
        .merge(auth0::routes())
        .merge(cognito::routes())
        .merge(fusionauth::routes())
        .merge(keycloak::routes())
        .merge(kratos::routes())
}

/// Why a hook did not vouch for a user.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Unknown identifier, wrong password, a disabled account, or a record that cannot
    /// become a user: the provider's "no".
    No,
    /// The hook could not decide: legacy or the store is down, the pool is full, the budget
    /// ran out, the identifier is rate-limited. Not a "no": the provider should try later.
    Unavailable(ApiError),
}

/// The hook of `provider`, if it is on and the request carries its caller's credential.
pub(crate) fn admit(
    state: &AppState,
    provider: Provider,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Arc<Hook>, ApiError> {
    let Some(hook) = state.hooks.get(provider) else {
        return Err(ApiError::NotFound);
    };
    if !hook.auth.admits(headers, body, chrono::Utc::now()) {
        state.metrics().hook(provider.name(), "unauthorized");
        return Err(ApiError::Unauthorized);
    }
    Ok(Arc::clone(hook))
}

/// Asks the login service whether `password` is `identifier`'s, within the hook's budget,
/// and records the provider as the user's target when it is.
pub(crate) async fn verify(
    state: &AppState,
    hook: &Hook,
    identifier: &str,
    password: &str,
) -> Result<User, Refusal> {
    let name = hook.provider.name();
    let password = Password::from(password);
    let outcome = tokio::time::timeout(hook.budget, async {
        charge_login(state, None, identifier)
            .await
            .map_err(Refusal::Unavailable)?;
        match state.bridge.login(identifier, password).await {
            Ok(ok) => Ok(ok.user),
            Err(e) => Err(refusal(e)),
        }
    })
    .await
    .unwrap_or(Err(Refusal::Unavailable(ApiError::Unavailable(
        "over_budget",
    ))));
    let user = match outcome {
        Ok(user) => user,
        Err(refusal) => {
            state.metrics().hook(name, refusal_outcome(&refusal));
            return Err(refusal);
        }
    };
    if let Err(e) = state
        .bridge
        .store()
        .record_target(user.id, name, chrono::Utc::now())
        .await
    {
        state.metrics().hook(name, "unavailable");
        return Err(Refusal::Unavailable(ApiError::from(e)));
    }
    state.metrics().hook(name, "verified");
    Ok(user)
}

/// Looks `identifier` up for the provider (no password), within the hook's budget.
pub(crate) async fn lookup(
    state: &AppState,
    hook: &Hook,
    identifier: &str,
) -> Result<Option<Found>, ApiError> {
    let name = hook.provider.name();
    let found = tokio::time::timeout(hook.budget, async {
        charge_login(state, None, identifier).await?;
        state
            .bridge
            .lookup(identifier)
            .await
            .map_err(ApiError::from)
    })
    .await
    .unwrap_or(Err(ApiError::Unavailable("over_budget")));
    state.metrics().hook(
        name,
        match &found {
            Ok(Some(_)) => "found",
            Ok(None) => "not_found",
            Err(e) => error_outcome(e),
        },
    );
    found
}

fn refusal(error: LoginError) -> Refusal {
    match error {
        LoginError::InvalidCredentials
        | LoginError::PasswordTooLong
        | LoginError::Disabled
        | LoginError::Unmigratable { .. } => Refusal::No,
        other => Refusal::Unavailable(ApiError::from(other)),
    }
}

fn refusal_outcome(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::No => "refused",
        Refusal::Unavailable(e) => error_outcome(e),
    }
}

fn error_outcome(error: &ApiError) -> &'static str {
    match error {
        ApiError::RateLimited(_) => "rate_limited",
        ApiError::Unavailable("over_budget") => "over_budget",
        _ => "unavailable",
    }
}

/// The hook of `provider` (see [`admit`]) and its JSON request, parsed out of `body` (then
/// wiped: it holds a password), or 400.
pub(crate) fn request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    provider: Provider,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Arc<Hook>, T), ApiError> {
    let hook = admit(state, provider, headers, &body)?;
    let request = crate::http::parse_secret_body(body).ok_or_else(|| {
        state.metrics().hook(provider.name(), "malformed");
        ApiError::Malformed
    })?;
    Ok((hook, request))
}
