//! Identity providers' import formats ([`usher_core::Target`]), one module a provider.
//!
//! * [`auth0`] — Auth0's bulk user import: a JSON array of users, at most 500 KB a file,
//!   each hash as Auth0's `custom_password_hash`.
//! * [`cognito`] — Amazon Cognito's CSV user import, 500,000 users a file, without passwords:
//!   users with one are left to Cognito's migrate-user trigger.
//! * [`firebase`] — Firebase's `accounts:batchCreate` request bodies, 1,000 users each, one
//!   set of hash options a file.
//! * [`keycloak`] — Keycloak's partial import, 1,000 users a file, each hash as a Keycloak
//!   password credential.
//! * [`clerk`] — Clerk's create-user requests, one a line, each hash as its `password_digest`
//!   and `password_hasher`.
//! * [`fusionauth`] — FusionAuth's user import, 5,000 users a request body, each hash as its
//!   `encryptionScheme`, `factor`, `salt` and `password`.
//! * [`kratos`] — Kratos's batch identity import, 200 identities a file, each hash as Kratos's
//!   `hashed_password`, or the identity marked for Kratos's password migration hook.
//! * [`okta`] — Okta's create-user requests, one a line, each hash as Okta's hash object, or
//!   pointed at Okta's password import hook.
//! * [`supabase`] — Supabase Auth's admin create-user requests, one a line, each hash as its
//!   `password_hash`.
//! * [`supertokens`] — SuperTokens' bulk import, 10,000 users a request body, each hash as its
//!   `passwordHash` and `hashingAlgorithm`.
//! * [`zitadel`] — ZITADEL's create-user requests, one a line, each hash as the Modular Crypt
//!   Format string it reads.

pub mod auth0;
pub mod clerk;
pub mod cognito;
pub mod firebase;
pub mod fusionauth;
pub mod keycloak;
pub mod kratos;
pub mod okta;
pub mod supabase;
pub mod supertokens;
pub mod zitadel;

pub use auth0::Auth0Target;
pub use clerk::ClerkTarget;
pub use cognito::CognitoTarget;
pub use firebase::FirebaseTarget;
pub use fusionauth::FusionAuthTarget;
pub use keycloak::KeycloakTarget;
pub use kratos::KratosTarget;
pub use okta::OktaTarget;
pub use supabase::SupabaseTarget;
pub use supertokens::SuperTokensTarget;
pub use zitadel::ZitadelTarget;

use serde_json::Value;
pub(super) use usher_core::target::present;
use usher_core::{LeftOut, Unexportable, User};
use usher_hash::{HashContext, NotExportable, PasswordHash};

/// The user's stored hash, parsed in `context`: `Ok(None)` when the user has no password.
fn stored_hash(user: &User, context: &HashContext) -> Result<Option<PasswordHash>, LeftOut> {
    let Some(credential) = &user.credential else {
        return Ok(None);
    };
    PasswordHash::parse_with(&credential.hash, &context.options(Some(credential.scheme)))
        .map(Some)
        .map_err(|e| LeftOut::UnreadableHash {
            reason: e.to_string(),
        })
}

/// What every target reads users with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Reads stored hashes (with a Firebase signer key, where they need one).
    pub hash_context: HashContext,
    /// Users whose hash the target cannot take: left to its hook, left out, or imported
    /// without a password.
    pub unexportable: Unexportable,
}

/// The target named `name` (`auth0`, …, as [`usher_core::Target::name`] says it), reading
/// users with `options`; `None` for a name usher has no target for.
pub fn by_name(name: &str, options: Options) -> Option<Box<dyn usher_core::Target>> {
    Some(match name {
        "auth0" => Box::new(Auth0Target(options)),
        "okta" => Box::new(OktaTarget(options)),
        "kratos" => Box::new(KratosTarget(options)),
        "fusionauth" => Box::new(FusionAuthTarget(options)),
        "supabase" => Box::new(SupabaseTarget(options)),
        "clerk" => Box::new(ClerkTarget(options)),
        "supertokens" => Box::new(SuperTokensTarget(options)),
        "keycloak" => Box::new(KeycloakTarget(options)),
        "firebase" => Box::new(FirebaseTarget(options)),
        "cognito" => Box::new(CognitoTarget(options)),
        "zitadel" => Box::new(ZitadelTarget(options)),
        _ => return None,
    })
}

/// How a target's users reach its lazy-migration hook, if it has one.
pub(super) enum Hook {
    /// A mark in the user's record sends them to the hook (Okta's password import hook,
    /// Kratos's `use_password_migration_hook`): the user is imported with the mark.
    Mark(Value),
    /// The hook runs only for users the target does not hold yet (Auth0's custom database,
    /// Keycloak's user-migration plugin, Cognito's migrate-user trigger): the user is left
    /// out of the files, listed for the hook.
    Unknown,
    /// The target has no lazy-migration hook (Supabase, Clerk, SuperTokens, Firebase).
    None,
}

/// The user's password as a target imports it: `encode` of the stored hash, or `None` for a
/// user without a password. A hash the target cannot take follows `policy`:
/// [`Unexportable::Reset`] imports the user without it; [`Unexportable::Hook`] marks the user
/// for the target's hook or leaves them out for it, by `hook`; otherwise, and for a target
/// without a hook, the user is left out with the reason.
fn password(
    user: &User,
    options: &Options,
    encode: impl Fn(&PasswordHash) -> Result<Value, NotExportable>,
    hook: Hook,
) -> Result<Option<Value>, LeftOut> {
    let Some(hash) = stored_hash(user, &options.hash_context)? else {
        return Ok(None);
    };
    let e = match encode(&hash) {
        Ok(encoded) => return Ok(Some(encoded)),
        Err(e) => e,
    };
    let (scheme, reason) = (e.scheme.id().to_owned(), e.to_string());
    match (options.unexportable, hook) {
        (Unexportable::Reset, _) => Ok(None),
        (Unexportable::Hook, Hook::Mark(mark)) => Ok(Some(mark)),
        (Unexportable::Hook, Hook::Unknown) => Err(LeftOut::ForTheHook { scheme, reason }),
        (Unexportable::Hook, Hook::None) => Err(LeftOut::Omitted {
            scheme,
            reason: format!("{reason}, and {} has no lazy-migration hook", e.target),
        }),
        (Unexportable::Omit, _) => Err(LeftOut::Omitted { scheme, reason }),
    }
}
