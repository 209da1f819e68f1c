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
use std::time::Instant;

use usher_core::{Credential, Email, LinkConfig, Status, User, UserId, Username};
use usher_hash::{HashContext, Password, PasswordHash, Policy, Scheme};
use usher_runtime::Metrics;
use usher_store::Store;

use crate::breaker::{Breaker, OutageConfig};
use crate::legacy::Answer;
use crate::link::{LinkAttempt, Moved};
use crate::model::{HashSource, Legacy, LoginError, LoginOk, LoginPath, MAX_PASSWORD_BYTES};
use crate::pool::{HashPool, PoolError};

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("store", &self.store.backend())
            .field("legacy", &self.legacy)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// The bridge: the store, the legacy fallbacks, the pool and the hashing policy.
pub struct Bridge {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) legacy: Vec<Legacy>,
    pub(crate) pool: HashPool,
    pub(crate) policy: Policy,
    /// Verified against when nobody has the identifier, so unknown and known identifiers cost
    /// the same; an Argon2id hash under the policy, like a migrated user's.
    pub(crate) dummy: Arc<PasswordHash>,
    pub(crate) metrics: Arc<Metrics>,
    /// When a legacy record of another source is the same person as a stored user.
    pub(crate) link: Arc<LinkConfig>,
    /// What stored hashes do not carry (see [`Bridge::with_hash_context`]).
    pub(crate) hash_context: HashContext,
    /// How long a legacy call may take, and when a source's breaker opens.
    pub(crate) outage: OutageConfig,
    /// Each legacy source's breaker, by name.
    pub(crate) breakers: std::sync::Mutex<std::collections::HashMap<String, Arc<Breaker>>>,
}

impl Bridge {
    /// The stored user an identifier names, if any: what the per-identifier rate limit is
    /// also charged to, so that an account's email and username share one budget.
    pub async fn account_of(&self, identifier: &str) -> Result<Option<UserId>, LoginError> {
        let user = self
            .stored_user(Identifier::parse(identifier).as_ref())
            .await?;
        Ok(user.map(|u| u.id))
    }

    /// The stored user a well-formed identifier names.
    pub(crate) async fn stored_user(
        &self,
        lookup: Option<&Identifier>,
    ) -> Result<Option<User>, LoginError> {
        Ok(match lookup {
            Some(Identifier::Email(e)) => self.store.user_by_email(&e.normalized()).await?,
            Some(Identifier::Username(u)) => self.store.user_by_username(&u.normalized()).await?,
            None => None,
        })
    }

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
            legacy: sources.into_iter().map(Legacy::Hash).collect(),
            pool,
            policy,
            dummy: Arc::new(dummy),
            metrics: Arc::new(Metrics::new()),
            link: Arc::new(LinkConfig::default()),
            hash_context: HashContext::default(),
            outage: OutageConfig::default(),
            breakers: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Bounds legacy calls and opens each source's breaker by these settings (`[serve.outage]`)
    /// instead of the defaults.
    #[must_use]
    pub fn with_outage(mut self, outage: OutageConfig) -> Self {
        self.outage = outage;
        self
    }

    /// Adds a legacy fallback after those already configured.
    #[must_use]
    pub fn with_legacy(mut self, legacy: Legacy) -> Self {
        self.legacy.push(legacy);
        self
    }

    /// Links at login by these rules (`[link]`) instead of the strict default (the address
    /// verified on both sides; the stored user's values win).
    #[must_use]
    pub fn with_link(mut self, link: Arc<LinkConfig>) -> Self {
        self.link = link;
        self
    }

    /// Parses hashes (in the store, imported by a backfill, and in a legacy source) in
    /// `context`: with a Firebase project's signer key, which its hashes do not carry. The
    /// same context the mappings were given.
    #[must_use]
    pub fn with_hash_context(mut self, context: HashContext) -> Self {
        self.hash_context = context;
        self
    }

    /// Parses a stored or legacy hash as `scheme`, in the bridge's hash context.
    pub(crate) fn parse(&self, hash: &str, scheme: Option<Scheme>) -> Result<PasswordHash, String> {
        PasswordHash::parse_with(hash, &self.hash_context.options(scheme))
            .map_err(|e| e.to_string())
    }

    /// Records into `metrics` instead of the bridge's own.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The metrics the bridge records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The legacy fallbacks, in the order they are tried.
    pub fn legacy(&self) -> &[Legacy] {
        &self.legacy
    }

    /// Runs a hash job on the pool and records how long it ran (not how long it queued).
    pub(crate) async fn hash_job<T, F>(&self, kind: &'static str, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (value, took) = self
            .pool
            .run(move || {
                let started = Instant::now();
                let value = job();
                (value, started.elapsed())
            })
            .await?;
        self.metrics.verify_time(kind, took);
        Ok(value)
    }

    /// Logs `identifier` in with `password`: see the module docs for the flow.
    pub async fn login(&self, identifier: &str, password: Password) -> Result<LoginOk, LoginError> {
        if password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(LoginError::PasswordTooLong);
        }
        let password = Arc::new(password);
        let lookup = Identifier::parse(identifier);
        let found = self.stored_user(lookup.as_ref()).await?;
        if let Some(user) = found {
            tracing::trace!(user = %user.id, "login: found in the store");
            // Whether a real hash was verified: if not, a dummy one is, so that every login
            // that fails costs one verify, whoever holds the identifier.
            let mut verified = false;
            if let Some(credential) = user.credential.clone() {
                match self
                    .login_in_store(user.clone(), credential, Arc::clone(&password))
                    .await
                {
                    Err(LoginError::InvalidCredentials) => verified = true,
                    other => return other,
                }
            }
            // The stored password did not match, or there is none (imported reset-required,
            // as from Cognito): the password may be that of a legacy record of another source
            // not yet linked to this user, or one an auth source checks.
            if let Some(lookup) = &lookup {
                match self
                    .link_at_login(user, lookup, identifier, &password)
                    .await?
                {
                    LinkAttempt::Linked(ok) => return Ok(*ok),
                    LinkAttempt::NotLinked { verified: v } => verified |= v,
                }
            }
            if !verified {
                self.dummy_verify(password).await?;
            }
            return Err(LoginError::InvalidCredentials);
        }
        tracing::trace!(
            well_formed = lookup.is_some(),
            "login: not in the store, asking legacy"
        );
        let answer = match &lookup {
            Some(lookup) => self.prove(lookup, identifier, &password, &[]).await,
            None => Answer::default(),
        };
        if let Some(proven) = answer.found? {
            return match self.migrate(proven, &password).await? {
                Moved::Done(ok) => Ok(ok),
                // Found by another identifier (a username), the record's address is a stored
                // user's: the same person, if the linking rules say so.
                Moved::AddressHeld { holder, proven } => self.link(holder, proven, &password).await,
            };
        }
        // The identifier names a legacy record that already moved (a login racing this one, or
        // an identifier the user no longer has in the store): that user's own password decides,
        // never the record's legacy hash.
        if let Some(&id) = answer.asked.migrated.first()
            && let Some(user) = self.store.user(id).await?
            && let Some(credential) = user.credential.clone()
        {
            return self.login_in_store(user, credential, password).await;
        }
        if !answer.asked.verified {
            tracing::trace!("login: nobody has the identifier; dummy verify");
            self.dummy_verify(password).await?;
        }
        Err(LoginError::InvalidCredentials)
    }

    async fn dummy_verify(&self, password: Arc<Password>) -> Result<(), LoginError> {
        let dummy = Arc::clone(&self.dummy);
        let _ = self
            .hash_job("dummy", move || dummy.verify(&password))
            .await?;
        Ok(())
    }

    async fn login_in_store(
        &self,
        user: User,
        credential: Credential,
        password: Arc<Password>,
    ) -> Result<LoginOk, LoginError> {
        let stored = self
            .parse(&credential.hash, Some(credential.scheme))
            .map_err(|reason| LoginError::Internal(format!("user {}: {reason}", user.id)))?;
        let stored = Arc::new(stored);
        let (ok, upgrade) = {
            let stored = Arc::clone(&stored);
            let password = Arc::clone(&password);
            let policy = self.policy.clone();
            self.hash_job("store", move || {
                let ok = stored.verify(&password).unwrap_or(false);
                (ok, ok && stored.needs_upgrade(&policy))
            })
            .await?
        };
        tracing::trace!(user = %user.id, ok, upgrade, "login: store verify");
        if !ok {
            return Err(LoginError::InvalidCredentials);
        }
        if user.status == Status::Disabled {
            return Err(LoginError::Disabled);
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

    pub(crate) async fn rehash(&self, password: Arc<Password>) -> Result<Credential, LoginError> {
        let policy = self.policy.clone();
        let hash = self
            .hash_job("rehash", move || usher_hash::hash(&password, &policy))
            .await?
            .map_err(|e| LoginError::Internal(e.to_string()))?;
        Ok(Credential {
            hash,
            scheme: Scheme::Argon2id,
        })
    }

    /// The user as stored after a migration or a link, refused if disabled.
    pub(crate) async fn finish(&self, id: UserId, path: LoginPath) -> Result<LoginOk, LoginError> {
        let user = self
            .store
            .user(id)
            .await?
            .ok_or_else(|| LoginError::Internal(format!("user {id} vanished")))?;
        // Disabled in legacy: the account moves across as it is, and stays shut.
        if user.status == Status::Disabled {
            return Err(LoginError::Disabled);
        }
        Ok(LoginOk { user, path })
    }
}

/// What a login identifier is.
#[derive(Clone)]
pub(crate) enum Identifier {
    Email(Email),
    Username(Username),
}

impl Identifier {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        if raw.contains('@') {
            Email::parse(raw).ok().map(Identifier::Email)
        } else {
            Username::parse(raw).ok().map(Identifier::Username)
        }
    }
}
