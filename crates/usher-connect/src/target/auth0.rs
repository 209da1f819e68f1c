//! Auth0's bulk user import (`POST /api/v2/jobs/users-imports`): a JSON array of users, each
//! as Auth0's user schema defines it, in files of at most 500 KB.
//!
//! | Auth0 | from |
//! |---|---|
//! | `email` (required), `email_verified` | the user's |
//! | `user_id` | [`User::external_id`], the id the lazy-migration scripts give too |
//! | `username`, `phone_number` (E.164), `given_name`, `family_name`, `name`, `nickname`, `picture` | the user's |
//! | `blocked` | a disabled user |
//! | `user_metadata` | the mapped attributes |
//! | `custom_password_hash` | the stored hash ([`usher_hash::PasswordHash::to_auth0`]) |
//!
//! A user without an email is left out: Auth0 requires one. A user whose hash Auth0 cannot take
//! is left out of the files either way. With the default policy they are listed for the hook:
//! Auth0's custom database login script migrates them at their first login. Importing them
//! without a password would bypass the script, because Auth0 checks its own users first.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, Unexportable, User};
use usher_hash::HashContext;

/// Auth0's import format.
#[derive(Debug, Clone, Default)]
pub struct Auth0Target {
    /// Reads stored hashes (with a Firebase signer key, where they need one).
    pub hash_context: HashContext,
    /// Users whose hash Auth0 cannot take.
    pub unexportable: Unexportable,
}

/// Auth0's limit on a job's file.
pub const MAX_FILE_BYTES: usize = 500 * 1000;

/// `user` as an Auth0 profile: what the custom database scripts answer Auth0 with (usher's
/// Auth0 hook), and the core of a bulk import's user.
pub fn profile(user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("user_id".into(), json!(user.external_id()));
    out.insert("email_verified".into(), json!(user.email_verified));
    let p = &user.profile;
    super::present(
        &mut out,
        [
            ("email", user.email.as_ref().map(|e| e.as_str().to_owned())),
            (
                "username",
                user.username.as_ref().map(|u| u.as_str().to_owned()),
            ),
            ("given_name", p.given_name.clone()),
            ("family_name", p.family_name.clone()),
            ("name", p.name.clone()),
            ("nickname", p.nickname.clone()),
            ("picture", p.picture.clone()),
        ],
    );
    if !user.attributes.is_empty() {
        out.insert(
            "user_metadata".into(),
            Value::Object(user.attributes.clone()),
        );
    }
    out
}

impl Target for Auth0Target {
    fn name(&self) -> &'static str {
        "auth0"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: MAX_FILE_BYTES,
            max_users: usize::MAX,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        if user.email.is_none() {
            return Err(LeftOut::Missing { field: "email" });
        }
        // No hook mark: Auth0's lazy migration runs only for users it does not hold yet.
        let hash = super::password(
            user,
            &self.hash_context,
            self.unexportable,
            usher_hash::PasswordHash::to_auth0,
            super::Hook::Unknown,
        )?;
        let mut out = profile(user);
        if let Some(phone) = &user.phone {
            out.insert("phone_number".into(), json!(phone.as_str()));
        }
        if user.status == Status::Disabled {
            out.insert("blocked".into(), json!(true));
        }
        if let Some(hash) = hash {
            out.insert("custom_password_hash".into(), hash);
        }
        Ok(Value::Object(out))
    }
}
