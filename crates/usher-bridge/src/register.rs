//! Registration: a user new to both systems, refused while anyone holds the address or the
//! username, in the store or in a legacy hash source.

use chrono::Utc;
use usher_core::{Credential, Email, InvalidValue, Status, User, UserId, Username};
use usher_hash::Scheme;
use usher_store::RegisterOutcome;

use crate::login::{Bridge, Identifier};
use crate::model::{
    Legacy, LoginError, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, RegisterError, Registration,
};

/// An optional field of a registration parsed into its type, or the error naming the field.
fn parsed<T>(
    value: Option<&str>,
    field: &'static str,
    parse: fn(&str) -> Result<T, InvalidValue>,
) -> Result<Option<T>, RegisterError> {
    value
        .map(parse)
        .transpose()
        .map_err(|e| RegisterError::Invalid {
            field,
            reason: e.to_string(),
        })
}

impl Bridge {
    /// Registers a user new to both systems: refused if the email or username belongs to
    /// anyone, in the store or in a legacy hash source (a legacy user not yet migrated would
    /// otherwise lose their account to whoever registered their address first).
    pub async fn register(&self, registration: Registration) -> Result<User, RegisterError> {
        let invalid =
            |field: &'static str, reason: String| RegisterError::Invalid { field, reason };
        let email = parsed(registration.email.as_deref(), "email", Email::parse)?;
        let username = parsed(
            registration.username.as_deref(),
            "username",
            Username::parse,
        )?;
        if email.is_none() && username.is_none() {
            return Err(invalid(
                "email",
                "an email or a username is required".into(),
            ));
        }
        let chars = registration
            .password
            .as_str()
            .map_or(registration.password.len(), |p| p.chars().count());
        if chars < MIN_PASSWORD_CHARS {
            return Err(invalid(
                "password",
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if registration.password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(invalid(
                "password",
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        let wanted = email
            .iter()
            .map(|e| ("email", Identifier::Email(e.clone())))
            .chain(
                username
                    .iter()
                    .map(|u| ("username", Identifier::Username(u.clone()))),
            );
        for (field, identifier) in wanted {
            for legacy in &self.legacy {
                let Legacy::Hash(source) = legacy else {
                    continue; // an auth source cannot be asked who exists
                };
                let found =
                    self.lookup_legacy(source, &identifier, 1)
                        .await
                        .map_err(|e| match e {
                            LoginError::LegacyUnavailable(name) => {
                                self.metrics.legacy_error(&name);
                                RegisterError::LegacyUnavailable(name)
                            }
                            other => RegisterError::Internal(other.to_string()),
                        })?;
                if !found.is_empty() {
                    return Err(RegisterError::Taken(field));
                }
            }
        }
        let policy = self.policy.clone();
        let password = registration.password;
        let hash = self
            .hash_job("rehash", move || usher_hash::hash(&password, &policy))
            .await?
            .map_err(|e| RegisterError::Internal(e.to_string()))?;
        let now = Utc::now();
        let user = User {
            id: UserId::new(),
            email,
            email_verified: false,
            username,
            phone: None,
            profile: registration.profile,
            attributes: serde_json::Map::new(),
            credential: Some(Credential {
                hash,
                scheme: Scheme::Argon2id,
            }),
            status: Status::Active,
            created_at: now,
            updated_at: now,
            legacy_links: Vec::new(),
            migration: None,
        };
        match self.store.register_user(&user).await? {
            RegisterOutcome::Registered(_) => Ok(user),
            RegisterOutcome::IdentifierTaken { field, .. } => Err(RegisterError::Taken(field)),
        }
    }
}
