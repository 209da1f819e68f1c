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

use chrono::Utc;
use usher_core::{
    AuthSource, Credential, Email, LegacyKey, LegacyLink, LegacyRecord, LinkConfig, Mapper, Method,
    Profile, Source, SourceError, Status, User, UserId, Username,
};
use usher_hash::{ParseOptions, Password, PasswordHash, Policy, Scheme};
use usher_store::{
    LazyMigration, LinkOutcome, LinkWrite, MigrateOutcome, RegisterOutcome, Rejected, Store,
    StoreError, SystemOfRecord,
};
use zeroize::Zeroizing;

use crate::breaker::{Breaker, OutageConfig};
use crate::metrics::Metrics;
use crate::pool::{HashPool, PoolError};
use crate::write_back::HttpWriteBack;

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
    /// Tell legacy over HTTP, too, when a user migrated (besides the source's own
    /// [`Source::mark_migrated`]).
    pub http_write_back: Option<Arc<HttpWriteBack>>,
}

/// A legacy system that checks passwords itself, and how its records map to users.
pub struct AuthSourceEntry {
    /// The source (its name is the ledger's source).
    pub source: Arc<dyn AuthSource>,
    /// How the records it answers with become users.
    pub mapper: Arc<Mapper>,
    /// Tell legacy over HTTP, too, when a user migrated (besides the source's own
    /// [`AuthSource::mark_migrated`]).
    pub http_write_back: Option<Arc<HttpWriteBack>>,
}

impl std::fmt::Debug for AuthSourceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSourceEntry")
            .field("source", &self.source.name())
            .finish_non_exhaustive()
    }
}

/// A legacy fallback, tried in the order configured.
#[derive(Debug)]
pub enum Legacy {
    /// Hashes read from a source and verified here.
    Hash(HashSource),
    /// The legacy system checks the password.
    Auth(AuthSourceEntry),
}

impl Legacy {
    /// The source's configured name.
    pub fn name(&self) -> &str {
        match self {
            Legacy::Hash(h) => h.source.name(),
            Legacy::Auth(a) => a.source.name(),
        }
    }
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
    /// The user was in the new store, and proved the password of a legacy record of another
    /// source with the same verified address, which this login linked to the user.
    Linked,
}

impl LoginPath {
    /// The label metrics and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginPath::Store => "store",
            LoginPath::StoreUpgraded => "store_upgraded",
            LoginPath::Migrated => "lazy_migrated",
            LoginPath::AlreadyMigrated => "already_migrated",
            LoginPath::Linked => "linked",
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
    /// The password is longer than [`MAX_PASSWORD_BYTES`]: refused before any hashing.
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    /// The hashing pool is full: try again shortly.
    #[error("busy")]
    Busy,
    /// A legacy source could not answer for a user not yet migrated; nothing was written.
    #[error("legacy source {0} is unavailable")]
    LegacyUnavailable(String),
    /// Legacy accepted the password but its record cannot become a user (it does not map, or
    /// its address or username is another record's or user's). No user was written; the
    /// record is in the quarantine with the reason.
    #[error("legacy record {key} of source {source_name} cannot be migrated: {reason}")]
    Unmigratable {
        /// The source.
        source_name: String,
        /// The record's key in its source.
        key: String,
        /// The field at fault, if one.
        field: Option<String>,
        /// Why (names the field; never a secret).
        reason: String,
    },
    /// A legacy source refused usher's own credentials (its token or bind account) or is
    /// otherwise misconfigured: an outage for the user, and an operator's problem.
    #[error("legacy source {source_name} is misconfigured: {reason}")]
    LegacyMisconfigured {
        /// The source.
        source_name: String,
        /// What the source said (never a secret).
        reason: String,
    },
    /// The password verified but the account is disabled.
    #[error("the account is disabled")]
    Disabled,
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
            .field("legacy", &self.legacy)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// The bridge: the store, the legacy fallbacks, the pool and the hashing policy.
pub struct Bridge {
    store: Arc<dyn Store>,
    legacy: Vec<Legacy>,
    pool: HashPool,
    policy: Policy,
    /// Verified against when nobody has the identifier, so unknown and known identifiers cost
    /// the same; an Argon2id hash under the policy, like a migrated user's.
    dummy: Arc<PasswordHash>,
    metrics: Arc<Metrics>,
    /// When a legacy record of another source is the same person as a stored user.
    link: Arc<LinkConfig>,
    /// A Firebase project's signer key (see [`Bridge::with_firebase_signer_key`]).
    firebase_signer_key: Option<Zeroizing<Vec<u8>>>,
    /// How long a legacy call may take, and when a source's breaker opens.
    outage: OutageConfig,
    /// Each legacy source's breaker, by name.
    breakers: std::sync::Mutex<std::collections::HashMap<String, Arc<Breaker>>>,
}

/// A registration: a user new to both systems.
#[derive(Debug)]
pub struct Registration {
    /// The email, if any (an email or a username is required).
    pub email: Option<String>,
    /// The username, if any.
    pub username: Option<String>,
    /// The password.
    pub password: Password,
    /// Profile fields.
    pub profile: Profile,
}

/// Why a registration did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A field is invalid (named).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The email or username belongs to a user, in the store or in legacy (not yet migrated).
    #[error("the {0} is taken")]
    Taken(&'static str),
    /// A legacy source could not say whether the identifier is taken.
    #[error("legacy source {0} is unavailable")]
    LegacyUnavailable(String),
    /// The hashing pool is full.
    #[error("busy")]
    Busy,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<PoolError> for RegisterError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => RegisterError::Busy,
            PoolError::Failed(m) => RegisterError::Internal(m),
        }
    }
}

/// The shortest password registration accepts (NIST SP 800-63B's floor).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest (bytes), at registration and at login alike: hashing cost must not be the
/// client's to choose (a 16 KB wrong password costs seconds of sha512-crypt).
pub const MAX_PASSWORD_BYTES: usize = 1024;

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
    async fn stored_user(&self, lookup: Option<&Identifier>) -> Result<Option<User>, LoginError> {
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
            firebase_signer_key: None,
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

    /// Verifies Firebase hashes (in the store, imported by a backfill, and in a Firebase
    /// export) with the project's signer key, which they do not carry.
    #[must_use]
    pub fn with_firebase_signer_key(mut self, key: Option<Zeroizing<Vec<u8>>>) -> Self {
        self.firebase_signer_key = key;
        self
    }

    /// Parses a stored or legacy hash as `scheme`, with the bridge's Firebase signer key.
    fn parse(&self, hash: &str, scheme: Option<Scheme>) -> Result<PasswordHash, String> {
        let options = ParseOptions {
            scheme,
            firebase_signer_key: self.firebase_signer_key.clone(),
            ..ParseOptions::default()
        };
        PasswordHash::parse_with(hash, &options).map_err(|e| e.to_string())
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
    async fn hash_job<T, F>(&self, kind: &'static str, job: F) -> Result<T, PoolError>
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
            let mut verified_any = false;
            if let Some(credential) = user.credential.clone() {
                match self
                    .login_in_store(user.clone(), credential, Arc::clone(&password))
                    .await
                {
                    Err(LoginError::InvalidCredentials) => verified_any = true,
                    other => return other,
                }
            }
            // The stored password did not match, or there is none (imported reset-required,
            // as from Cognito): the password may be that of a legacy record of another source
            // not yet linked to this user, or one an auth source checks.
            if let Some(lookup) = &lookup
                && let Some(ok) = self
                    .link_at_login(user, lookup, identifier, &password, &mut verified_any)
                    .await?
            {
                return Ok(ok);
            }
            if !verified_any {
                self.dummy_verify(password).await?;
            }
            return Err(LoginError::InvalidCredentials);
        }
        // Whether a real hash was verified: if not, a dummy one is, so that an unknown
        // identifier costs what a known one does.
        let mut verified_any = false;
        tracing::trace!(
            well_formed = lookup.is_some(),
            "login: not in the store, asking legacy"
        );
        let mut migrated = Vec::new();
        if let Some(lookup) = &lookup
            && let Some(proven) = self
                .prove(
                    lookup,
                    identifier,
                    &password,
                    &mut verified_any,
                    &mut migrated,
                    &[],
                )
                .await?
        {
            return self.migrate(proven, &password).await;
        }
        // The identifier names a legacy record that already moved (a login racing this one, or
        // an identifier the user no longer has in the store): that user's own password decides,
        // never the record's legacy hash.
        if let Some(&id) = migrated.first()
            && let Some(user) = self.store.user(id).await?
            && let Some(credential) = user.credential.clone()
        {
            return self.login_in_store(user, credential, password).await;
        }
        if !verified_any {
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

    /// Registers a user new to both systems: refused if the email or username belongs to
    /// anyone, in the store or in a legacy hash source (a legacy user not yet migrated would
    /// otherwise lose their account to whoever registered their address first).
    pub async fn register(&self, registration: Registration) -> Result<User, RegisterError> {
        let invalid =
            |field: &'static str, reason: String| RegisterError::Invalid { field, reason };
        let email = registration
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|e| invalid("email", e.to_string()))?;
        let username = registration
            .username
            .as_deref()
            .map(Username::parse)
            .transpose()
            .map_err(|e| invalid("username", e.to_string()))?;
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

    async fn rehash(&self, password: Arc<Password>) -> Result<Credential, LoginError> {
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

    /// One call to legacy source `name`, bounded by the call timeout and refused at once
    /// while its breaker is open; `probe` is what the breaker probes in the background.
    async fn legacy_call<T>(
        &self,
        name: &str,
        probe: Option<Arc<dyn Source>>,
        call: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, LoginError> {
        let breaker = self.breaker(name);
        if !breaker.admit() {
            return Err(LoginError::LegacyUnavailable(name.to_owned()));
        }
        let timeout = self.outage.call_timeout();
        let result = tokio::time::timeout(timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(SourceError::Unavailable {
                    source_name: name.to_owned(),
                    reason: format!("no answer within {} ms", timeout.as_millis()),
                })
            });
        match &result {
            Err(SourceError::Unavailable { .. }) => breaker.failure(probe),
            _ => breaker.success(),
        }
        result.map_err(|e| legacy_error(name, e))
    }

    /// Source `name`'s breaker, made on first use.
    fn breaker(&self, name: &str) -> Arc<Breaker> {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(breaker) = breakers.get(name) {
            return Arc::clone(breaker);
        }
        let breaker = Arc::new(Breaker::new(name, self.outage.clone()));
        breakers.insert(name.to_owned(), Arc::clone(&breaker));
        breaker
    }

    /// The records of `source` an identifier names (at most `limit`).
    async fn lookup_legacy(
        &self,
        source: &HashSource,
        identifier: &Identifier,
        limit: usize,
    ) -> Result<Vec<LegacyRecord>, LoginError> {
        let name = source.source.name();
        let (fields, value) = match identifier {
            Identifier::Email(e) => (&source.email_fields, e.as_str()),
            Identifier::Username(u) => (&source.username_fields, u.as_str()),
        };
        for field in fields {
            let probe = Some(Arc::clone(&source.source));
            let found = self
                .legacy_call(name, probe, source.source.lookup(field, value, limit))
                .await?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// The record of `source` the password proves. `Ok(None)`: this source does not know the
    /// identifier, or the password is wrong for it. Records the ledger already has are not
    /// tried — once a record moved, its legacy hash (an old password) never opens the account
    /// again — and their users are added to `migrated`.
    async fn prove_hash_source<'a>(
        &self,
        source: &'a HashSource,
        identifier: &Identifier,
        password: &Arc<Password>,
        verified_any: &mut bool,
        migrated: &mut Vec<UserId>,
    ) -> Result<Option<Proven<'a>>, LoginError> {
        let name = source.source.name();
        // In key order, as the backfill reads them: several legacy rows answering to one
        // identifier (emails differing only in case) are decided as the backfill decides
        // them, never by who logs in first. The lowest key that maps holds the identifier.
        let candidates = self.lookup_legacy(source, identifier, CANDIDATES).await?;
        let now = Utc::now();
        let mut holder: Option<LegacyKey> = None;
        let mut proven = None;
        let mut attention = None;
        for record in candidates {
            if let Some(user) = self.in_ledger(name, &record.key).await? {
                migrated.push(user);
                holder.get_or_insert_with(|| record.key.clone());
                continue;
            }
            let mapped = source.mapper.map(name, &record, now);
            let credential = match &mapped {
                Ok(user) => user.credential.clone(),
                Err(_) => source.mapper.credential(&record),
            };
            let first_mapped = mapped.is_ok() && holder.is_none();
            if mapped.is_ok() {
                holder.get_or_insert_with(|| record.key.clone());
            }
            if proven.is_some() || attention.is_some() {
                continue; // decided; the rest only matter for who holds the identifier
            }
            let Some(stored) = credential.and_then(|c| self.parse(&c.hash, Some(c.scheme)).ok())
            else {
                continue;
            };
            let password = Arc::clone(password);
            *verified_any = true;
            if !self
                .hash_job("legacy", move || stored.verify(&password).unwrap_or(false))
                .await?
            {
                continue;
            }
            match mapped {
                Ok(user) if first_mapped => proven = Some((record, user)),
                Ok(_) => attention = Some((record, None)),
                Err(errors) => attention = Some((record, Some(errors))),
            }
        }
        tracing::trace!(
            source = name,
            proven = proven.is_some(),
            attention = attention.is_some(),
            "login: legacy hash verify"
        );
        if let Some((record, errors)) = attention {
            // The password is right, for a record that cannot become a user.
            let (field, reason) = match (errors, &holder) {
                (Some(errors), _) => (errors.first_field().map(str::to_owned), errors.reason()),
                (None, Some(holder)) => {
                    let (field, what) = match identifier {
                        Identifier::Email(_) => ("email", "same address as"),
                        Identifier::Username(_) => ("username", "same username as"),
                    };
                    (
                        Some(field.to_owned()),
                        format!("duplicate {field}: {what} legacy id {holder} (source {name})"),
                    )
                }
                (None, None) => return Ok(None),
            };
            let error = self
                .needs_attention(name, &source.mapper, &record, field, reason)
                .await;
            // A holder already in the store answers with its own password.
            return if migrated.is_empty() {
                Err(error)
            } else {
                Ok(None)
            };
        }
        let Some((record, user)) = proven else {
            return Ok(None);
        };
        Ok(Some(Proven {
            name,
            mapper: &source.mapper,
            record,
            user,
            write_back: WriteBack {
                own: Own::Hash(Arc::clone(&source.source)),
                http: source.http_write_back.clone(),
            },
        }))
    }

    /// The record the auth source answers with. `Ok(None)`: it refused the password (or does
    /// not know the identifier), or the ledger already has the record (its user is added to
    /// `migrated`).
    async fn prove_auth_source<'a>(
        &self,
        entry: &'a AuthSourceEntry,
        identifier: &str,
        password: &Arc<Password>,
        migrated: &mut Vec<UserId>,
    ) -> Result<Option<Proven<'a>>, LoginError> {
        let name = entry.source.name();
        let record = self
            .legacy_call(name, None, entry.source.authenticate(identifier, password))
            .await?;
        let Some(record) = record else {
            return Ok(None);
        };
        if let Some(user) = self.in_ledger(name, &record.key).await? {
            migrated.push(user);
            return Ok(None);
        }
        let user = match entry.mapper.map(name, &record, Utc::now()) {
            Ok(user) => user,
            Err(errors) => {
                let field = errors.first_field().map(str::to_owned);
                return Err(self
                    .needs_attention(name, &entry.mapper, &record, field, errors.reason())
                    .await);
            }
        };
        Ok(Some(Proven {
            name,
            mapper: &entry.mapper,
            record,
            user,
            write_back: WriteBack {
                own: Own::Auth(Arc::clone(&entry.source)),
                http: entry.http_write_back.clone(),
            },
        }))
    }

    /// The user the ledger says `source`'s record `key` became, if it moved.
    async fn in_ledger(&self, source: &str, key: &LegacyKey) -> Result<Option<UserId>, LoginError> {
        Ok(self.store.ledger_user(source, &key.to_string()).await?)
    }

    /// Asks each legacy fallback, in order, which record `password` proves; never one of the
    /// sources in `linked` (those the user already has a record of: legacy is not asked
    /// about them again, so a wrong password feeds no legacy lockout counter or log).
    async fn prove(
        &self,
        lookup: &Identifier,
        identifier: &str,
        password: &Arc<Password>,
        verified_any: &mut bool,
        migrated: &mut Vec<UserId>,
        linked: &[LegacyLink],
    ) -> Result<Option<Proven<'_>>, LoginError> {
        for legacy in &self.legacy {
            if linked.iter().any(|l| l.source == legacy.name()) {
                continue;
            }
            let found = match legacy {
                Legacy::Hash(source) => {
                    self.prove_hash_source(source, lookup, password, verified_any, migrated)
                        .await
                }
                Legacy::Auth(entry) => {
                    self.prove_auth_source(entry, identifier, password, migrated)
                        .await
                }
            };
            match &found {
                Err(LoginError::LegacyUnavailable(name)) => self.metrics.legacy_error(name),
                Err(LoginError::LegacyMisconfigured { source_name, .. }) => {
                    self.metrics.legacy_error(source_name);
                    self.metrics.legacy_misconfigured(source_name);
                }
                _ => {}
            }
            if let Some(proven) = found? {
                return Ok(Some(proven));
            }
        }
        Ok(None)
    }

    /// A stored user whose stored password did not match (or who has none): the password
    /// may prove a legacy record not yet in the ledger, of the same person by the linking
    /// rules (the same address, verified on both sides unless `[link] allow_unverified`).
    /// That record is linked to the user and the password becomes the user's credential.
    async fn link_at_login(
        &self,
        stored: User,
        lookup: &Identifier,
        identifier: &str,
        password: &Arc<Password>,
        verified_any: &mut bool,
    ) -> Result<Option<LoginOk>, LoginError> {
        // A legacy failure never touches a user already in the store: no link this time, and
        // the login is answered as the store answers it (the error is counted and logged).
        let proven = match self
            .prove(
                lookup,
                identifier,
                password,
                verified_any,
                &mut Vec::new(),
                &stored.legacy_links,
            )
            .await
        {
            Ok(Some(proven)) => proven,
            Ok(None) => return Ok(None),
            Err(
                e @ (LoginError::LegacyUnavailable(_)
                | LoginError::LegacyMisconfigured { .. }
                | LoginError::Internal(_)
                | LoginError::Unmigratable { .. }),
            ) => {
                tracing::warn!(user = %stored.id, error = %e, "login: no link, legacy failed");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        *verified_any = true;
        self.link(stored.id, proven, password).await.map(Some)
    }

    /// Links a proven legacy record to the stored user `holder`: merge, the password re-hashed
    /// as the credential, one store transaction, then the write-back.
    async fn link(
        &self,
        holder: UserId,
        proven: Proven<'_>,
        password: &Arc<Password>,
    ) -> Result<LoginOk, LoginError> {
        let name = proven.name;
        let fresh = self.rehash(Arc::clone(password)).await?;
        match self.link_once(holder, &proven, fresh).await? {
            Ok(done) => Ok(done),
            Err((field, reason)) => Err(self
                .needs_attention(
                    name,
                    proven.mapper,
                    &proven.record,
                    Some(field.into()),
                    reason,
                )
                .await),
        }
    }

    /// [`Bridge::link`]'s transaction, retried while the user changes under it; `Ok(Err)`:
    /// the record may not be linked, with the field at fault and the reason.
    async fn link_once(
        &self,
        holder: UserId,
        proven: &Proven<'_>,
        fresh: Credential,
    ) -> Result<Result<LoginOk, (&'static str, String)>, LoginError> {
        let name = proven.name;
        let unlinkable = |field: &'static str, reason: String| Ok(Err((field, reason)));
        // A concurrent change of the user makes the merge stale: read and merge again.
        for _ in 0..3 {
            let stored = self
                .store
                .user(holder)
                .await?
                .ok_or_else(|| LoginError::Internal(format!("user {holder} vanished")))?;
            // The record is shut in legacy: the answer legacy would give, and no link (an
            // open account must not take in a shut record, nor a shut one be reopened).
            if proven.user.status == Status::Disabled {
                return Err(LoginError::Disabled);
            }
            if let Err(why) = self.link.allows(&stored, &proven.user, name) {
                return unlinkable(
                    "email",
                    format!(
                        "duplicate email: same address as user {}; not linked: {why}",
                        stored.id
                    ),
                );
            }
            if stored.legacy_links.iter().any(|l| l.source == name) {
                // Two records of one source with one address: the backfill quarantines the
                // second; a login must not slip it in either.
                return unlinkable(
                    "email",
                    format!(
                        "duplicate email: same address as user {}, who already has a record \
                         of this source",
                        stored.id
                    ),
                );
            }
            let mut merged = self.link.merge(&stored, &proven.user, name);
            // The user just proved this password: it is theirs now, whatever the rules say
            // about stored values. It opens an account imported without a password, never one
            // an operator made reset its password.
            merged.credential = Some(fresh.clone());
            if merged.status == Status::PasswordResetRequired && stored.credential.is_none() {
                merged.status = Status::Active;
            }
            let link = LinkWrite {
                source: name.to_owned(),
                key: proven.record.key.clone(),
                user: merged,
                expected_updated_at: stored.updated_at,
                replace_credential: true,
                expected_credential: stored.credential.as_ref().map(|c| c.hash.clone()),
                original: proven
                    .user
                    .migration
                    .as_ref()
                    .map_or(serde_json::Value::Null, |m| m.original.clone()),
                checksum: proven.record.checksum(),
                legacy_updated_at: proven
                    .mapper
                    .maps_updated_at()
                    .then_some(proven.user.updated_at),
                method: Method::Lazy,
                system_of_record: SystemOfRecord::New,
            };
            let (id, path) = match self.store.link_user(&link).await? {
                LinkOutcome::Linked(id) => (id, LoginPath::Linked),
                LinkOutcome::AlreadyLinked(id) if id == holder => (id, LoginPath::AlreadyMigrated),
                LinkOutcome::AlreadyLinked(id) => {
                    // Another login moved this very record meanwhile: that user's password
                    // decides from now on.
                    return Err(LoginError::Internal(format!(
                        "record {} of {name} became user {id} while linking it to {holder}",
                        proven.record.key
                    )));
                }
                LinkOutcome::Stale => continue,
                LinkOutcome::IdentifierTaken { field, holder } => {
                    return unlinkable(
                        field,
                        format!("duplicate {field}: the merged {field} belongs to user {holder}"),
                    );
                }
            };
            tracing::trace!(source = name, user = %id, path = path.as_str(), "login: linked");
            if path == LoginPath::Linked {
                self.metrics.migrated(name);
                self.write_back(
                    name,
                    proven.record.key.clone(),
                    id,
                    proven.write_back.clone(),
                );
            }
            return self.finish(id, path).await.map(Ok);
        }
        Err(LoginError::Internal(format!(
            "user {holder} kept changing while linking a record of {name}"
        )))
    }

    /// Moves a user whose password legacy just accepted: Argon2id of that password, one store
    /// transaction, then (in the background) the write-back to legacy.
    async fn migrate(
        &self,
        proven: Proven<'_>,
        password: &Arc<Password>,
    ) -> Result<LoginOk, LoginError> {
        let Proven {
            name,
            mapper,
            record,
            mut user,
            write_back,
        } = proven;
        // Legacy had no hash to give (an auth source: the legacy API, an LDAP bind), so the
        // mapping marked the user for a reset; legacy has just accepted the password, which
        // becomes the user's credential. A disabled user stays disabled.
        if user.credential.is_none() && user.status == Status::PasswordResetRequired {
            user.status = Status::Active;
        }
        user.credential = Some(self.rehash(Arc::clone(password)).await?);
        if let Some(migration) = user.migration.as_mut() {
            migration.method = Method::Lazy;
        }
        let legacy_updated_at = mapper.maps_updated_at().then_some(user.updated_at);
        let key = record.key.clone();
        let migration = LazyMigration {
            source: name.to_owned(),
            key: record.key.clone(),
            checksum: record.checksum(),
            legacy_updated_at,
            system_of_record: SystemOfRecord::New,
            user,
        };
        let (id, path) = match self.store.migrate_user(&migration).await? {
            MigrateOutcome::Migrated(id) => (id, LoginPath::Migrated),
            MigrateOutcome::AlreadyMigrated(id) => (id, LoginPath::AlreadyMigrated),
            MigrateOutcome::IdentifierTaken {
                field: "email",
                holder,
            } => {
                // Found by another identifier (a username), the record's address is a stored
                // user's: the same person, if the linking rules say so.
                let proven = Proven {
                    name,
                    mapper,
                    record,
                    user: migration.user,
                    write_back,
                };
                return self.link(holder, proven, password).await;
            }
            MigrateOutcome::IdentifierTaken { field, holder } => {
                let reason = format!("duplicate {field}: same {field} as user {holder}");
                return Err(self
                    .needs_attention(name, mapper, &record, Some(field.into()), reason)
                    .await);
            }
        };
        tracing::trace!(source = name, user = %id, path = path.as_str(), "login: migrated");
        if path == LoginPath::Migrated {
            self.metrics.migrated(name);
            self.write_back(name, key, id, write_back);
        }
        self.finish(id, path).await
    }

    /// A record legacy vouched for (it accepted the password) that cannot become a user: it
    /// goes to the quarantine with the reason, as the backfill would have put it there, and
    /// the login is answered 409 `account_needs_attention`, never "wrong password". A failure
    /// to quarantine is logged; the answer stands.
    async fn needs_attention(
        &self,
        name: &str,
        mapper: &Mapper,
        record: &LegacyRecord,
        field: Option<String>,
        reason: String,
    ) -> LoginError {
        let rejected = Rejected {
            key: record.key.clone(),
            field: field.clone(),
            reason: reason.clone(),
            record: mapper.scrub(record),
        };
        if let Err(e) = self.store.quarantine_record(name, &rejected).await {
            tracing::warn!(source = name, key = %record.key, error = %e, "login: could not quarantine a record that needs attention");
        }
        LoginError::Unmigratable {
            source_name: name.to_owned(),
            key: record.key.to_string(),
            field,
            reason,
        }
    }

    /// Tells legacy, in the background, that `key` became user `id`; counted, never fatal.
    fn write_back(&self, name: &str, key: LegacyKey, id: UserId, write_back: WriteBack) {
        let metrics = Arc::clone(&self.metrics);
        let source = name.to_owned();
        let user_id = id.to_string();
        tokio::spawn(async move {
            match write_back.run(&key, &user_id).await {
                Ok(false) => {}
                Ok(true) => metrics.write_back(&source, true),
                Err(e) => {
                    metrics.write_back(&source, false);
                    tracing::warn!(%source, user = %id, error = %e, "write-back to legacy failed");
                }
            }
        });
    }

    /// The user as stored after a migration or a link, refused if disabled.
    async fn finish(&self, id: UserId, path: LoginPath) -> Result<LoginOk, LoginError> {
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

/// A legacy error during a login: an outage or a misconfiguration is a 503 (nothing written),
/// anything else a 500.
fn legacy_error(source_name: &str, error: SourceError) -> LoginError {
    match error {
        SourceError::Unavailable { .. } => LoginError::LegacyUnavailable(source_name.into()),
        SourceError::Config { reason, .. } => LoginError::LegacyMisconfigured {
            source_name: source_name.into(),
            reason,
        },
        other => LoginError::Internal(other.to_string()),
    }
}

/// A legacy record a password was just proved for, with what migrating it needs.
struct Proven<'a> {
    name: &'a str,
    mapper: &'a Mapper,
    record: LegacyRecord,
    user: User,
    write_back: WriteBack,
}

/// The source whose own write-back (a SQL `write_back` statement) runs first.
#[derive(Clone)]
enum Own {
    Hash(Arc<dyn Source>),
    Auth(Arc<dyn AuthSource>),
}

/// Legacy records tried for one identifier at a login: enough for the duplicates a legacy
/// table that compared emails case-sensitively has, and a bound on the hashing one login causes.
const CANDIDATES: usize = 3;

/// Everything that tells legacy a user migrated: the source's own write-back, then the HTTP
/// one. `Ok(true)` when at least one ran and none failed.
#[derive(Clone)]
struct WriteBack {
    own: Own,
    http: Option<Arc<HttpWriteBack>>,
}

impl WriteBack {
    async fn run(&self, key: &LegacyKey, user: &str) -> Result<bool, SourceError> {
        let own = match &self.own {
            Own::Hash(source) => source.mark_migrated(key, user).await,
            Own::Auth(source) => source.mark_migrated(key, user).await,
        };
        let http = match &self.http {
            Some(http) => http.mark_migrated(key, user).await,
            None => Ok(false),
        };
        Ok(own? | http?)
    }
}

/// What a login identifier is.
#[derive(Clone)]
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
