//! ZITADEL's create-user requests (`POST /v2/users/human`, `UserService.AddHumanUser`), one
//! JSON object a line, 10,000 a file: ZITADEL creates users one request at a time.
//!
//! | ZITADEL | from |
//! |---|---|
//! | `userId` | usher's user id |
//! | `username` | the username, else the email |
//! | `profile.givenName`, `familyName` (both required) | the profile's; else the full name, else the username's or email's local part, and `-` |
//! | `profile.nickName`, `displayName`, `preferredLanguage` | the profile's |
//! | `email.email`, `email.isVerified` (required) | the user's |
//! | `phone.phone` | the user's (E.164) |
//! | `hashedPassword.hash`, `changeRequired` | the stored hash ([`usher_hash::PasswordHash::to_zitadel`]); a user who must reset |
//!
//! ZITADEL verifies only bcrypt until its instance's `PasswordHasher.Verifiers` lists the
//! others (argon2, md5crypt, md5plain, pbkdf2, phpass, drupal7, scrypt, sha2crypt): see
//! docs/providers.md. It has no lazy-migration hook, so a user whose hash it cannot take is
//! left out and listed, or imported without a password with `--unexportable reset`.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, User};
use usher_hash::PasswordHash;

/// ZITADEL's import, as create-user requests.
#[derive(Debug, Clone, Default)]
pub struct ZitadelTarget(pub super::Options);

impl Target for ZitadelTarget {
    fn name(&self) -> &'static str {
        "zitadel"
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
        let hash = super::password(
            user,
            &self.0,
            |hash| PasswordHash::to_zitadel(hash).map(Value::String),
            super::Hook::None,
        )?;
        let p = &user.profile;
        let login = user
            .username
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|| email.as_str().to_owned());
        let local = login.split('@').next().unwrap_or_default().to_owned();
        let given = p
            .given_name
            .clone()
            .or_else(|| p.name.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| local.clone());
        let family = p
            .family_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "-".to_owned());
        let mut profile = Map::new();
        profile.insert("givenName".into(), json!(given));
        profile.insert("familyName".into(), json!(family));
        super::present(
            &mut profile,
            [
                ("nickName", p.nickname.clone()),
                ("displayName", p.name.clone()),
                ("preferredLanguage", p.locale.clone()),
            ],
        );
        let mut out = json!({
            "userId": user.id.to_string(),
            "username": login,
            "profile": profile,
            "email": { "email": email.as_str(), "isVerified": user.email_verified },
        });
        if let Some(object) = out.as_object_mut() {
            if let Some(phone) = &user.phone {
                object.insert("phone".into(), json!({ "phone": phone.as_str() }));
            }
            if let Some(hash) = hash {
                object.insert(
                    "hashedPassword".into(),
                    json!({
                        "hash": hash,
                        "changeRequired": user.status == Status::PasswordResetRequired,
                    }),
                );
            }
        }
        Ok(out)
    }

    fn one_a_line(&self) -> bool {
        true
    }
}
