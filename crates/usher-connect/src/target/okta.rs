//! Okta's create-user requests (`POST /api/v1/users?activate=true`), one JSON object a line,
//! 10,000 users a file: Okta imports users one request at a time.
//!
//! | Okta | from |
//! |---|---|
//! | `profile.login`, `profile.email` | the email (required: Okta's login is an email by default) |
//! | `profile.firstName`, `lastName`, `middleName`, `nickName`, `displayName` | the names |
//! | `profile.mobilePhone` (E.164), `locale`, `timezone` | the user's |
//! | `credentials.password.hash` | the stored hash ([`usher_hash::PasswordHash::to_okta`]) |
//! | `credentials.password.hook` | a hash Okta cannot take, with the default policy |
//!
//! Okta's password import inline hook is how a user keeps a password Okta cannot import:
//! such a user is created with `{"hook": {"type": "default"}}`, and at their first sign-in
//! Okta asks usher's `/hooks/okta` (docs/providers.md). Users without a password are created
//! without credentials. A disabled user is written, and must be suspended after import.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Target, User};

/// Okta's import, as create-user requests.
#[derive(Debug, Clone, Default)]
pub struct OktaTarget(pub super::Options);

impl Target for OktaTarget {
    fn name(&self) -> &'static str {
        "okta"
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
        let password = super::password(
            user,
            &self.0,
            |hash| hash.to_okta().map(|hash| json!({ "hash": hash })),
            super::Hook::Mark(json!({ "hook": { "type": "default" } })),
        )?;
        let mut profile = Map::new();
        profile.insert("login".into(), json!(email.as_str()));
        profile.insert("email".into(), json!(email.as_str()));
        let p = &user.profile;
        super::present(
            &mut profile,
            [
                ("firstName", p.given_name.clone()),
                ("lastName", p.family_name.clone()),
                ("middleName", p.middle_name.clone()),
                ("nickName", p.nickname.clone()),
                ("displayName", p.name.clone()),
                (
                    "mobilePhone",
                    user.phone.as_ref().map(|x| x.as_str().to_owned()),
                ),
                ("locale", p.locale.clone()),
                ("timezone", p.zoneinfo.clone()),
            ],
        );
        let mut out = json!({ "profile": profile });
        if let (Some(password), Some(object)) = (password, out.as_object_mut()) {
            object.insert("credentials".into(), json!({ "password": password }));
        }
        Ok(out)
    }

    fn one_a_line(&self) -> bool {
        true
    }
}
