//! Keycloak's partial import (`POST /admin/realms/{realm}/partialImport`, or the admin
//! console's "Partial import"): `{"ifResourceExists": "SKIP", "users": [...]}`, 1,000 users a
//! file, each a `UserRepresentation` with its password as a Keycloak credential.
//!
//! | Keycloak | from |
//! |---|---|
//! | `username` | the username, else the email (required) |
//! | `email`, `emailVerified`, `enabled`, `firstName`, `lastName` | the user's |
//! | `attributes` | the mapped attributes, the phone number and the locale, each a list of strings |
//! | `requiredActions` | `UPDATE_PASSWORD` for a user who must reset |
//! | `createdTimestamp` | when the user was created (ms) |
//! | `credentials` | the stored hash ([`usher_hash::PasswordHash::to_keycloak`]) |
//!
//! The same fields, less the credential and the timestamp, are the `LegacyUser` that usher's
//! Keycloak hook answers the keycloak-user-migration plugin with ([`user_fields`]), so a user
//! looks the same in Keycloak whichever way they arrive.
//!
//! Keycloak verifies only PBKDF2 and Argon2. With the default policy a user with another hash
//! is left out of the files, for the plugin: it migrates users Keycloak does not hold yet, at
//! their first login. `ifResourceExists: SKIP` keeps a second import from overwriting a user
//! who has since changed their password in Keycloak.

use serde_json::{Map, Value, json};
use usher_core::{FileLimits, LeftOut, Status, Target, Unexportable, User};
use usher_hash::{HashContext, PasswordHash};

/// Keycloak's partial import.
#[derive(Debug, Clone, Default)]
pub struct KeycloakTarget {
    /// Reads stored hashes.
    pub hash_context: HashContext,
    /// Users whose hash Keycloak cannot take.
    pub unexportable: Unexportable,
}

/// `user`'s Keycloak fields: the keycloak-user-migration plugin's `LegacyUser` and the core of
/// a `UserRepresentation`.
pub fn user_fields(user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    // Keycloak requires a username; a user with only an email logs in by it.
    let username = user
        .username
        .as_ref()
        .map(|u| u.as_str().to_owned())
        .or_else(|| user.email.as_ref().map(|e| e.as_str().to_owned()))
        .unwrap_or_default();
    out.insert("username".into(), json!(username));
    if let Some(email) = &user.email {
        out.insert("email".into(), json!(email.as_str()));
    }
    out.insert("emailVerified".into(), json!(user.email_verified));
    out.insert("enabled".into(), json!(user.status != Status::Disabled));
    super::present(
        &mut out,
        [
            ("firstName", user.profile.given_name.clone()),
            ("lastName", user.profile.family_name.clone()),
        ],
    );
    // Keycloak attributes are lists of strings.
    let mut attributes = Map::new();
    for (key, value) in &user.attributes {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        attributes.insert(key.clone(), json!([text]));
    }
    if let Some(phone) = &user.phone {
        attributes.insert("phone_number".into(), json!([phone.as_str()]));
    }
    if let Some(locale) = &user.profile.locale {
        attributes.insert("locale".into(), json!([locale]));
    }
    out.insert("attributes".into(), Value::Object(attributes));
    if user.status == Status::PasswordResetRequired {
        out.insert("requiredActions".into(), json!(["UPDATE_PASSWORD"]));
    }
    out
}

impl Target for KeycloakTarget {
    fn name(&self) -> &'static str {
        "keycloak"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 64 * 1024 * 1024,
            max_users: 1_000,
        }
    }

    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        if user.username.is_none() && user.email.is_none() {
            return Err(LeftOut::Missing {
                field: "username_or_email",
            });
        }
        let credential = super::password(
            user,
            &self.hash_context,
            self.unexportable,
            PasswordHash::to_keycloak,
            super::Hook::Unknown,
        )?;
        let mut out = user_fields(user);
        out.insert(
            "createdTimestamp".into(),
            json!(user.created_at.timestamp_millis()),
        );
        if let Some(credential) = credential {
            out.insert("credentials".into(), json!([credential]));
        }
        Ok(Value::Object(out))
    }

    fn file(&self, users: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "ifResourceExists": "SKIP", "users": users }))
            .unwrap_or_default()
    }

    fn framing(&self) -> usize {
        r#"{"ifResourceExists":"SKIP","users":[]}"#.len()
    }
}
