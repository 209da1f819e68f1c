//! The login flow: the new store first, then legacy, and a user who proves their password to
//! legacy is moved across — re-hashed to Argon2id — in the same request.
//!
//! ```text
//! identifier ─▶ new store? ─ yes, with a credential ─▶ verify ─▶ (upgrade weak hash) ─▶ session
//!                  │ no
//!                  ▼
//!              each legacy hash source: look up ─▶ verify ─▶ Argon2id ─▶ migrate_user ─▶ session
//!                  │ nobody
//!                  ▼
//!              a dummy verify (unknown identifiers cost what known ones do) ─▶ refused
//! ```
//!
//! All hash work runs on the bounded [`HashPool`]. Nothing here writes unless a password was
//! verified; a legacy outage writes nothing and is reported as such, so the server can answer
//! 503 for users not yet migrated while migrated users keep logging in.

use std::sync::Arc;

use chrono::Utc;
use usher_core::{
    Credential, Email, LegacyRecord, Mapper, Method, Source, SourceError, User, Username,
};
use usher_hash::{ParseOptions, Password, PasswordHash, Policy, Scheme};
use usher_store::{LazyMigration, MigrateOutcome, Store, StoreError, SystemOfRecord};

use crate::pool::{HashPool, PoolError};

/// A legacy source the bridge verifies hashes from: a source that can look records up, its
/// mapping, and the fields a login identifier is looked up by.
pub struct HashSource {
    /// The source (its name is the ledger's source).
    pub source: Arc<dyn Source>,
    /// How its records become users (and where their password hash is).
    pub mapper: Arc<Mapper>,
    /// The source fields an email-shaped identifier is looked up in (e.g. `["email"]`).
    pub email_fields: Vec<String>,
    /// The source fields any other identifier is looked up in (e.g. `["username"]`).
    pub username_fields: Vec<String>,
}

/// How a login succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPath {
    /// The user was in the new store and verified there.
    Store,
    /// As [`LoginPath::Store`], and the hash was re-hashed to the current policy.
    StoreUpgraded,
    /// The user was verified by legacy and migrated by this login.
    Migrated,
    /// Verified by legacy while a concurrent login (or a backfill) migrated the same user.
    AlreadyMigrated,
}

impl LoginPath {
    /// The label metrics and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginPath::Store => "store",
            LoginPath::StoreUpgraded => "store_upgraded",
            LoginPath::Migrated => "lazy_migrated",
            LoginPath::AlreadyMigrated => "already_migrated",
        }
    }
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOk {
    /// The user, as stored.
    pub user: User,
    /// How.
    pub path: LoginPath,
}

/// Why a login did not succeed. None of these carries the password or a hash.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown identifier or wrong password: deliberately the same answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The hashing pool is full: try again shortly.
    #[error("busy")]
    Busy,
    /// A legacy source could not answer for a user not yet migrated; nothing was written.
    #[error("legacy source {0} is unavailable")]
    LegacyUnavailable(String),
    /// The legacy record verified but cannot become a user (mapping error, or its email is
    /// another user's); nothing was written.
    #[error("the legacy record of source {source_name} cannot be migrated: {reason}")]
    Unmigratable {
        /// The source.
        source_name: String,
        /// Why (names the field; never a secret).
        reason: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<PoolError> for LoginError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => LoginError::Busy,
            PoolError::Failed(m) => LoginError::Internal(m),
        }
    }
}

impl std::fmt::Debug for HashSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashSource")
            .field("source", &self.source.name())
            .field("email_fields", &self.email_fields)
            .field("username_fields", &self.username_fields)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("store", &self.store.backend())
            .field("sources", &self.sources)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// The bridge: the store, the legacy hash sources, the pool and the hashing policy.
pub struct Bridge {
    store: Arc<dyn Store>,
    sources: Vec<HashSource>,
    pool: HashPool,
    policy: Policy,
    /// Verified against when nobody has the identifier, so unknown and known identifiers cost
    /// the same; an Argon2id hash under the policy, like a migrated user's.
    dummy: Arc<PasswordHash>,
}

impl Bridge {
    /// A bridge over `store` and `sources`, hashing on `pool` under `policy`.
    pub fn new(
        store: Arc<dyn Store>,
        sources: Vec<HashSource>,
        pool: HashPool,
        policy: Policy,
    ) -> Result<Self, LoginError> {
        let dummy = usher_hash::hash(&Password::from("usher-dummy-password"), &policy)
            .and_then(|h| PasswordHash::parse(&h))
            .map_err(|e| LoginError::Internal(e.to_string()))?;
        Ok(Self {
            store,
            sources,
            pool,
            policy,
            dummy: Arc::new(dummy),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Logs `identifier` in with `password`: see the module docs for the flow.
    pub async fn login(&self, identifier: &str, password: Password) -> Result<LoginOk, LoginError> {
        let password = Arc::new(password);
        let lookup = Identifier::parse(identifier);
        let found = match &lookup {
            Some(Identifier::Email(e)) => self.store.user_by_email(&e.normalized()).await?,
            Some(Identifier::Username(u)) => self.store.user_by_username(&u.normalized()).await?,
            None => None,
        };
        if let Some(user) = found {
            if let Some(credential) = user.credential.clone() {
                return self.login_in_store(user, credential, password).await;
            }
            // A user without a password (imported as reset-required) can only prove
            // themselves to an auth source, which the next step of the bridge brings.
            self.dummy_verify(password).await?;
            return Err(LoginError::InvalidCredentials);
        }
        if let Some(lookup) = &lookup {
            for source in &self.sources {
                if let Some(ok) = self.login_from_legacy(source, lookup, &password).await? {
                    return Ok(ok);
                }
            }
        }
        self.dummy_verify(password).await?;
        Err(LoginError::InvalidCredentials)
    }

    async fn dummy_verify(&self, password: Arc<Password>) -> Result<(), LoginError> {
        let dummy = Arc::clone(&self.dummy);
        let _ = self.pool.run(move || dummy.verify(&password)).await?;
        Ok(())
    }

    async fn login_in_store(
        &self,
        user: User,
        credential: Credential,
        password: Arc<Password>,
    ) -> Result<LoginOk, LoginError> {
        let stored = parse(&credential.hash, Some(credential.scheme))
            .map_err(|reason| LoginError::Internal(format!("user {}: {reason}", user.id)))?;
        let stored = Arc::new(stored);
        let (ok, upgrade) = {
            let stored = Arc::clone(&stored);
            let password = Arc::clone(&password);
            let policy = self.policy.clone();
            self.pool
                .run(move || {
                    let ok = stored.verify(&password).unwrap_or(false);
                    (ok, ok && stored.needs_upgrade(&policy))
                })
                .await?
        };
        if !ok {
            return Err(LoginError::InvalidCredentials);
        }
        if !upgrade {
            return Ok(LoginOk {
                user,
                path: LoginPath::Store,
            });
        }
        let fresh = self.rehash(password).await?;
        // Compare-and-set: a password change meanwhile wins over this upgrade.
        let replaced = self
            .store
            .replace_credential(user.id, &credential.hash, &fresh)
            .await?;
        let mut user = user;
        if replaced {
            user.credential = Some(fresh);
        }
        Ok(LoginOk {
            user,
            path: if replaced {
                LoginPath::StoreUpgraded
            } else {
                LoginPath::Store
            },
        })
    }

    async fn rehash(&self, password: Arc<Password>) -> Result<Credential, LoginError> {
        let policy = self.policy.clone();
        let hash = self
            .pool
            .run(move || usher_hash::hash(&password, &policy))
            .await?
            .map_err(|e| LoginError::Internal(e.to_string()))?;
        Ok(Credential {
            hash,
            scheme: Scheme::Argon2id,
        })
    }

    /// `Ok(None)`: this source does not know the identifier, or the password is wrong for it.
    async fn login_from_legacy(
        &self,
        source: &HashSource,
        identifier: &Identifier,
        password: &Arc<Password>,
    ) -> Result<Option<LoginOk>, LoginError> {
        let name = source.source.name().to_owned();
        let (fields, value) = match identifier {
            Identifier::Email(e) => (&source.email_fields, e.as_str()),
            Identifier::Username(u) => (&source.username_fields, u.as_str()),
        };
        let mut candidates: Vec<LegacyRecord> = Vec::new();
        for field in fields {
            let found = source
                .source
                .lookup(field, value, 2)
                .await
                .map_err(|e| match e {
                    SourceError::Unavailable { .. } => LoginError::LegacyUnavailable(name.clone()),
                    other => LoginError::Internal(other.to_string()),
                })?;
            candidates.extend(found);
            if !candidates.is_empty() {
                break;
            }
        }
        // Two legacy rows answering to one identifier (emails differing only in case) are
        // ambiguous: the password decides, and only a single match may log in.
        let now = Utc::now();
        let mut verified = Vec::new();
        for record in candidates {
            let user = match source.mapper.map(&name, &record, now) {
                Ok(user) => user,
                Err(_) => continue, // an unmappable record is in quarantine, not a login
            };
            let Some(credential) = user.credential.clone() else {
                continue;
            };
            let Ok(stored) = parse(&credential.hash, Some(credential.scheme)) else {
                continue;
            };
            let password = Arc::clone(password);
            if self
                .pool
                .run(move || stored.verify(&password).unwrap_or(false))
                .await?
            {
                verified.push((record, user));
            }
        }
        let mut verified = verified.into_iter();
        let (Some((record, mut user)), None) = (verified.next(), verified.next()) else {
            return Ok(None);
        };
        user.credential = Some(self.rehash(Arc::clone(password)).await?);
        if let Some(migration) = user.migration.as_mut() {
            migration.method = Method::Lazy;
        }
        let legacy_updated_at = source.mapper.maps_updated_at().then_some(user.updated_at);
        let migration = LazyMigration {
            source: name.clone(),
            key: record.key.clone(),
            checksum: record.checksum(),
            legacy_updated_at,
            system_of_record: SystemOfRecord::New,
            user,
        };
        let (id, path) = match self.store.migrate_user(&migration).await? {
            MigrateOutcome::Migrated(id) => (id, LoginPath::Migrated),
            MigrateOutcome::AlreadyMigrated(id) => (id, LoginPath::AlreadyMigrated),
            MigrateOutcome::IdentifierTaken { field, .. } => {
                return Err(LoginError::Unmigratable {
                    source_name: name,
                    reason: format!("its {field} belongs to another user"),
                });
            }
        };
        let user = self
            .store
            .user(id)
            .await?
            .ok_or_else(|| LoginError::Internal(format!("user {id} vanished")))?;
        Ok(Some(LoginOk { user, path }))
    }
}

/// What a login identifier is.
enum Identifier {
    Email(Email),
    Username(Username),
}

impl Identifier {
    fn parse(raw: &str) -> Option<Self> {
        if raw.contains('@') {
            Email::parse(raw).ok().map(Identifier::Email)
        } else {
            Username::parse(raw).ok().map(Identifier::Username)
        }
    }
}

fn parse(hash: &str, scheme: Option<Scheme>) -> Result<PasswordHash, String> {
    let options = ParseOptions {
        scheme,
        ..ParseOptions::default()
    };
    PasswordHash::parse_with(hash, &options).map_err(|e| e.to_string())
}
