//! Supabase Auth's admin create-user requests (`POST /auth/v1/admin/users`, with the service
//! role key), one JSON object a line, 10,000 a file: Supabase imports users one request at a
//! time.
//!
//! | Supabase | from |
//! |---|---|
//! | `id` | usher's user id |
//! | `email`, `email_confirm`; `phone`, `phone_confirm` | the user's (an email or a phone is required) |
//! | `password_hash` | the stored hash ([`usher_hash::PasswordHash::to_supabase`]) |
//! | `user_metadata` | the names, nickname, picture, locale and the mapped attributes |
//! | `app_metadata.usher` | the legacy records |
//! | `ban_duration` | `876000h` (a century) for a disabled user |
//!
//! Supabase has no lazy-migration hook, so a user whose hash it cannot take (anything but
//! bcrypt, Argon2i/id and Firebase scrypt) is left out and listed, whichever policy is asked:
//! importing them would give them a random password nobody knows.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, User};

/// Supabase's import, as create-user requests.
#[derive(Debug, Clone, Default)]
pub struct SupabaseTarget(pub super::Options);

impl Target for SupabaseTarget {
    fn name(&self) -> &'static str {
        "supabase"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 64 * 1024 * 1024,
            max_users: 10_000,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        if user.email.is_none() && user.phone.is_none() {
            return Err(LeftOut::Missing {
                field: "email_or_phone",
            });
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(user.id.to_string()));
        if let Some(hash) = super::password(
            user,
            &self.0,
            |hash| hash.to_supabase().map(Value::String),
            super::Hook::None,
        )? {
            out.insert("password_hash".into(), hash);
        }
        if let Some(email) = &user.email {
            out.insert("email".into(), json!(email.as_str()));
            out.insert("email_confirm".into(), json!(user.email_verified));
        }
        if let Some(phone) = &user.phone {
            out.insert("phone".into(), json!(phone.as_str()));
        }
        let p = &user.profile;
        let mut metadata = user.attributes.clone();
        super::present(
            &mut metadata,
            [
                ("given_name", p.given_name.clone()),
                ("family_name", p.family_name.clone()),
                ("name", p.name.clone()),
                ("nickname", p.nickname.clone()),
                ("picture", p.picture.clone()),
                ("locale", p.locale.clone()),
            ],
        );
        out.insert("user_metadata".into(), Value::Object(metadata));
        out.insert(
            "app_metadata".into(),
            json!({ "usher": { "legacy": user.legacy_links.iter().map(|l| json!({
                "source": l.source, "legacy_id": l.legacy_id.as_str(),
            })).collect::<Vec<_>>() }}),
        );
        if user.status == Status::Disabled {
            out.insert("ban_duration".into(), json!("876000h"));
        }
        Ok(Value::Object(out))
    }

    fn one_a_line(&self) -> bool {
        true
    }
}
