//! Identity providers' import formats ([`usher_core::Target`]), one module a provider.
//!
//! * [`auth0`] — Auth0's bulk user import: a JSON array of users, at most 500 KB a file,
//!   each hash as Auth0's `custom_password_hash`.

pub mod auth0;

pub use auth0::Auth0Target;

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

/// Why a user whose hash `target` cannot take is left out, by `policy`.
fn unexportable(policy: Unexportable, e: &NotExportable) -> LeftOut {
    let (scheme, reason) = (e.scheme.id().to_owned(), e.to_string());
    match policy {
        Unexportable::Hook => LeftOut::ForTheHook { scheme, reason },
        Unexportable::Omit => LeftOut::Omitted { scheme, reason },
    }
}
