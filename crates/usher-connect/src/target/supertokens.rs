//! SuperTokens' bulk import (`POST /bulk-import/users` on the core, with its API key): each file
//! is one request body, `{"users": [...]}`, 10,000 users at most (the core's limit). The core
//! queues them and imports them in the background.
//!
//! | SuperTokens | from |
//! |---|---|
//! | `externalUserId` | [`User::external_id`], the id the hooks give too |
//! | `loginMethods[0]`: `recipeId` `emailpassword`, `email`, `isVerified`, `isPrimary`, `timeJoinedInMSSinceEpoch` | the user's |
//! | `loginMethods[0].passwordHash`, `hashingAlgorithm` | the stored hash ([`usher_hash::PasswordHash::to_supertokens`]) |
//!
//! An email-password login needs a password: a user without one SuperTokens can take (bcrypt,
//! Argon2, or Firebase scrypt with the project's signer key in the core's config) is left out
//! and listed. SuperTokens has no hook of its own; its migration guide
//! overrides sign-in in the app's backend, which can call usher's `POST /v1/login`.

use serde_json::{Value, json};
use usher_core::{FileLimits, LeftOut, Target, User};

/// SuperTokens' bulk import.
#[derive(Debug, Clone, Default)]
pub struct SuperTokensTarget(pub super::Options);

impl Target for SuperTokensTarget {
    fn name(&self) -> &'static str {
        "supertokens"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 64 * 1024 * 1024,
            max_users: 10_000,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        let Some(email) = &user.email else {
            return Err(LeftOut::Missing { field: "email" });
        };
        let Some(Value::Object(mut hash)) = super::password(
            user,
            &self.0,
            |hash| {
                hash.to_supertokens().map(|(algorithm, hash)| {
                    json!({ "passwordHash": hash, "hashingAlgorithm": algorithm })
                })
            },
            super::Hook::None,
        )?
        else {
            return Err(LeftOut::Missing { field: "password" });
        };
        Ok(json!({
            "externalUserId": user.external_id(),
            "loginMethods": [{
                "recipeId": "emailpassword",
                "email": email.as_str(),
                "passwordHash": hash.remove("passwordHash"),
                "hashingAlgorithm": hash.remove("hashingAlgorithm"),
                "isVerified": user.email_verified,
                "isPrimary": true,
                "timeJoinedInMSSinceEpoch": user.created_at.timestamp_millis(),
            }],
        }))
    }

    fn file(&self, users: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "users": users })).unwrap_or_default()
    }

    fn framing(&self) -> usize {
        r#"{"users":[]}"#.len()
    }
}
