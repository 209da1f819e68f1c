//! FusionAuth's user import (`POST /api/user/import`): each file is one request body,
//! `{"users": [...], "validateDbConstraints": true}`, 5,000 users at most (FusionAuth asks for
//! fewer than 10,000 a request, sent one after another; validating constraints makes a
//! duplicate a 400 naming it rather than a 500).
//!
//! | FusionAuth | from |
//! |---|---|
//! | `id` | usher's user id: the id FusionAuth's Generic Connector hook gives the user too |
//! | `email`, `username` (one required), `verified`, `active` | the user's |
//! | `firstName`, `lastName`, `middleName`, `fullName`, `mobilePhone`, `birthDate`, `imageUrl`, `timezone`, `preferredLanguages` | the profile |
//! | `passwordChangeRequired` | a user legacy required to reset |
//! | `data.usher` | the legacy records and the mapped attributes |
//! | `encryptionScheme`, `factor`, `salt`, `password` | the stored hash ([`usher_hash::PasswordHash::to_fusionauth`]) |
//!
//! FusionAuth's import needs a password. A user whose hash FusionAuth cannot take, or who has
//! none, is left out: the Generic Connector hook migrates them at their first login.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, Unexportable, User};
use usher_hash::{HashContext, PasswordHash};

/// FusionAuth's import.
#[derive(Debug, Clone, Default)]
pub struct FusionAuthTarget {
    /// Reads stored hashes.
    pub hash_context: HashContext,
    /// Users whose hash FusionAuth cannot take.
    pub unexportable: Unexportable,
}

/// `user` as a FusionAuth user: what usher's Generic Connector answers FusionAuth with, and
/// an import's user without its password.
pub fn user_fields(user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(user.id.to_string()));
    out.insert("active".into(), json!(user.status != Status::Disabled));
    out.insert("verified".into(), json!(user.email_verified));
    out.insert(
        "passwordChangeRequired".into(),
        json!(user.status == Status::PasswordResetRequired),
    );
    let p = &user.profile;
    super::present(
        &mut out,
        [
            ("email", user.email.as_ref().map(|e| e.as_str().to_owned())),
            (
                "username",
                user.username.as_ref().map(|u| u.as_str().to_owned()),
            ),
            ("firstName", p.given_name.clone()),
            ("lastName", p.family_name.clone()),
            ("middleName", p.middle_name.clone()),
            ("fullName", p.name.clone()),
            (
                "mobilePhone",
                user.phone.as_ref().map(|x| x.as_str().to_owned()),
            ),
            ("birthDate", p.birthdate.map(|d| d.to_string())),
            ("imageUrl", p.picture.clone()),
            ("timezone", p.zoneinfo.clone()),
        ],
    );
    if let Some(locale) = &p.locale {
        out.insert("preferredLanguages".into(), json!([locale]));
    }
    // FusionAuth's `data` holds objects by key.
    out.insert(
        "data".into(),
        json!({ "usher": {
            "attributes": user.attributes,
            "legacy": user.legacy_links.iter().map(|l| json!({
                "source": l.source, "legacy_id": l.legacy_id.as_str(),
            })).collect::<Vec<_>>(),
        }}),
    );
    out
}

impl Target for FusionAuthTarget {
    fn name(&self) -> &'static str {
        "fusionauth"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 64 * 1024 * 1024,
            max_users: 5_000,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        if user.email.is_none() && user.username.is_none() {
            return Err(LeftOut::Missing {
                field: "email_or_username",
            });
        }
        let Some(Value::Object(password)) = super::password(
            user,
            &self.hash_context,
            self.unexportable,
            PasswordHash::to_fusionauth,
            super::Hook::Unknown,
        )?
        else {
            return Err(LeftOut::Missing { field: "password" });
        };
        let mut out = user_fields(user);
        out.extend(password);
        Ok(Value::Object(out))
    }

    fn file(&self, users: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "users": users, "validateDbConstraints": true }))
            .unwrap_or_default()
    }

    fn framing(&self) -> usize {
        r#"{"users":[],"validateDbConstraints":true}"#.len()
    }
}
