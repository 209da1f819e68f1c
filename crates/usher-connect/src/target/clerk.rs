//! Clerk's create-user requests (`POST /v1/users`, with the secret key), one JSON object a
//! line, 10,000 a file: Clerk creates users one request at a time (1,000 requests in 10 s in
//! production).
//!
//! | Clerk | from |
//! |---|---|
//! | `external_id` | [`User::external_id`], the id the hooks give too |
//! | `email_address`, `phone_number`, `username` | the user's (as one-element lists for the first two) |
//! | `first_name`, `last_name`, `locale` | the profile |
//! | `password_digest`, `password_hasher` | the stored hash ([`usher_hash::PasswordHash::to_clerk`]) |
//! | `skip_password_requirement` | a user without a password |
//! | `private_metadata.usher` | usher's id, the legacy records, the mapped attributes |
//! | `created_at`, `banned` | when the user was created; a disabled user |
//!
//! Clerk has no lazy-migration hook for other systems, so a user whose hash it cannot take is
//! left out and listed, whichever policy is asked.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, User};

/// Clerk's import, as create-user requests.
#[derive(Debug, Clone, Default)]
pub struct ClerkTarget(pub super::Options);

impl Target for ClerkTarget {
    fn name(&self) -> &'static str {
        "clerk"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 64 * 1024 * 1024,
            max_users: 10_000,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        if user.email.is_none() && user.phone.is_none() && user.username.is_none() {
            return Err(LeftOut::Missing {
                field: "email_phone_or_username",
            });
        }
        let mut out = Map::new();
        out.insert("external_id".into(), json!(user.external_id()));
        let password = super::password(
            user,
            &self.0,
            |hash| {
                hash.to_clerk().map(|(hasher, digest)| {
                    json!({ "password_hasher": hasher, "password_digest": digest })
                })
            },
            super::Hook::None,
        )?;
        match password {
            Some(Value::Object(fields)) => out.extend(fields),
            _ => {
                out.insert("skip_password_requirement".into(), json!(true));
            }
        }
        if let Some(email) = &user.email {
            out.insert("email_address".into(), json!([email.as_str()]));
        }
        if let Some(phone) = &user.phone {
            out.insert("phone_number".into(), json!([phone.as_str()]));
        }
        super::present(
            &mut out,
            [
                (
                    "username",
                    user.username.as_ref().map(|u| u.as_str().to_owned()),
                ),
                ("first_name", user.profile.given_name.clone()),
                ("last_name", user.profile.family_name.clone()),
                ("locale", user.profile.locale.clone()),
            ],
        );
        out.insert(
            "private_metadata".into(),
            json!({ "usher": {
                "user_id": user.id.to_string(),
                "legacy": user.legacy_links.iter().map(|l| json!({
                    "source": l.source, "legacy_id": l.legacy_id.as_str(),
                })).collect::<Vec<_>>(),
                "attributes": user.attributes,
            }}),
        );
        out.insert("created_at".into(), json!(user.created_at.to_rfc3339()));
        if user.status == Status::Disabled {
            out.insert("banned".into(), json!(true));
        }
        Ok(Value::Object(out))
    }

    fn one_a_line(&self) -> bool {
        true
    }
}
