//! Ory Kratos's batch identity import (`PATCH /admin/identities`): each file is one request
//! body, `{"identities": [{"patch_id", "create": <identity>}, ...]}`, 200 identities at most
//! (Kratos's limit for a batch that carries passwords).
//!
//! | Kratos | from |
//! |---|---|
//! | `schema_id` | `preset://email` |
//! | `traits.email` | the email (required) |
//! | `verifiable_addresses` | the email, `completed` when verified |
//! | `state` | `inactive` for a disabled user |
//! | `metadata_public.usher` | usher's id, the legacy records and the mapped attributes |
//! | `credentials.password.config.hashed_password` | the stored hash ([`usher_hash::PasswordHash::to_kratos`]) |
//! | `credentials.password.config.use_password_migration_hook` | a hash Kratos cannot take, with the default policy |
//!
//! `patch_id` is usher's user id, so Kratos's answer names each user, and a conflict (an
//! identity already there) is reported for that user alone.

use serde_json::{Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, Unexportable, User};
use usher_hash::HashContext;

/// Kratos's import, as batch patches.
#[derive(Debug, Clone, Default)]
pub struct KratosTarget {
    /// Reads stored hashes.
    pub hash_context: HashContext,
    /// Users whose hash Kratos cannot take.
    pub unexportable: Unexportable,
}

impl Target for KratosTarget {
    fn name(&self) -> &'static str {
        "kratos"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 16 * 1024 * 1024,
            max_users: 200,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        let Some(email) = &user.email else {
            return Err(LeftOut::Missing { field: "email" });
        };
        let config = super::password(
            user,
            &self.hash_context,
            self.unexportable,
            |hash| {
                hash.to_kratos()
                    .map(|hashed| json!({ "hashed_password": hashed }))
            },
            super::Hook::Mark(
                json!({ "hashed_password": "", "use_password_migration_hook": true }),
            ),
        )?;
        let mut identity = json!({
            "schema_id": "preset://email",
            "traits": { "email": email.as_str() },
            "verifiable_addresses": [{
                "value": email.as_str(),
                "via": "email",
                "verified": user.email_verified,
                "status": if user.email_verified { "completed" } else { "pending" },
            }],
            "state": if user.status == Status::Disabled { "inactive" } else { "active" },
            "metadata_public": { "usher": {
                "user_id": user.id.to_string(),
                "legacy": user.legacy_links.iter().map(|l| json!({
                    "source": l.source, "legacy_id": l.legacy_id.as_str(),
                })).collect::<Vec<_>>(),
                "attributes": user.attributes,
            }},
        });
        if let (Some(config), Some(object)) = (config, identity.as_object_mut()) {
            object.insert(
                "credentials".into(),
                json!({ "password": { "config": config } }),
            );
        }
        Ok(json!({ "patch_id": user.id.to_string(), "create": identity }))
    }

    fn file(&self, users: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "identities": users })).unwrap_or_default()
    }

    fn framing(&self) -> usize {
        r#"{"identities":[]}"#.len()
    }
}
