//! Identity providers' import formats ([`usher_core::Target`]), one module a provider.
//!
//! * [`auth0`] — Auth0's bulk user import: a JSON array of users, at most 500 KB a file,
//!   each hash as Auth0's `custom_password_hash`.
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

pub mod auth0;
pub mod clerk;
pub mod fusionauth;
pub mod kratos;
pub mod okta;
pub mod supabase;
pub mod supertokens;

pub use auth0::Auth0Target;
pub use clerk::ClerkTarget;
pub use fusionauth::FusionAuthTarget;
pub use kratos::KratosTarget;
pub use okta::OktaTarget;
pub use supabase::SupabaseTarget;
pub use supertokens::SuperTokensTarget;

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

/// The user's password as a target imports it: `encode` of the stored hash; for a hash the
/// target cannot take, `hook` (the target's mark that sends the user to its hook) under the
/// [`Unexportable::Hook`] policy, if the target has one, else the user is left out with the
/// reason; `None` for a user without a password.
fn password(
    user: &User,
    context: &HashContext,
    policy: Unexportable,
    encode: impl Fn(&PasswordHash) -> Result<Value, NotExportable>,
    hook: Option<Value>,
) -> Result<Option<Value>, LeftOut> {
    let Some(hash) = stored_hash(user, context)? else {
        return Ok(None);
    };
    match (encode(&hash), policy, hook) {
        (Ok(encoded), _, _) => Ok(Some(encoded)),
        (Err(_), Unexportable::Hook, Some(hook)) => Ok(Some(hook)),
        (Err(e), policy, _) => Err(unexportable(policy, &e)),
    }
}

/// Why a user whose hash `target` cannot take is left out, by `policy`.
fn unexportable(policy: Unexportable, e: &NotExportable) -> LeftOut {
    let (scheme, reason) = (e.scheme.id().to_owned(), e.to_string());
    match policy {
        Unexportable::Hook => LeftOut::ForTheHook { scheme, reason },
        Unexportable::Omit => LeftOut::Omitted { scheme, reason },
    }
}

/// One JSON object a line.
fn json_lines(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        if let Ok(line) = serde_json::to_vec(record) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }
    out
}
