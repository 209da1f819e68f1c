//! `[serve]` and `[bridge.<source>]`: the login bridge's sections, each checked and each
//! resolving its own file paths.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use usher_core::ConfigProblem;
use usher_core::config::{resolve_path, under};
use usher_server::RateLimitConfig;

/// `[serve]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A file holding the admin bearer token (at least 24 characters). Without it the admin
    /// API and `/metrics` are off.
    pub admin_token_file: Option<PathBuf>,
    /// The sources tried at login, in order; default every configured source by name.
    pub legacy: Option<Vec<String>>,
    /// Reverse proxies in front of usher that append to `X-Forwarded-For` (0: none; the
    /// client address is the connection's).
    #[serde(default)]
    pub trusted_proxy_hops: usize,
    /// Hashes computed at once; default one per core.
    pub hash_workers: Option<usize>,
    /// Hashes waiting for a worker before logins are refused with 503; default 8 per worker.
    pub hash_queue: Option<usize>,
    /// Sessions.
    #[serde(default)]
    pub session: SessionConfig,
    /// Rate limits on login and registration.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Connections at once, and how long each may take (`[serve.connections]`).
    #[serde(default)]
    pub connections: usher_server::ConnectionLimits,
    /// How long a call to legacy may take, and when a source's breaker opens
    /// (`[serve.outage]`).
    #[serde(default)]
    pub outage: usher_server::OutageConfig,
    /// Argon2id parameters for new hashes; default OWASP's (m=19456 KiB, t=2, p=1).
    #[serde(default)]
    pub argon2: Argon2Config,
    /// The identity providers' hooks that are on (`[serve.hooks.<provider>]`).
    #[serde(default)]
    pub hooks: usher_server::HooksConfig,
}

impl ServeConfig {
    /// Every problem of `[serve]` and its tables, each keyed within `[serve]`; `sources` are
    /// the configured source names (`legacy` must name them).
    pub fn validate<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(ConfigProblem::new(
                "listen",
                format!("{:?} is not an address such as 127.0.0.1:8080", self.listen),
            ));
        }
        for (i, name) in self.legacy.iter().flatten().enumerate() {
            if !sources.clone().into_iter().any(|s| s == name) {
                problems.push(ConfigProblem::new(
                    format!("legacy[{i}]"),
                    format!("names {name:?}, which is not a source"),
                ));
            }
        }
        if self.hash_workers == Some(0) {
            problems.push(ConfigProblem::new("hash_workers", "must be at least 1"));
        }
        problems.extend(under("session", self.session.validate()));
        problems.extend(under("connections", self.connections.validate()));
        problems.extend(under("outage", self.outage.validate()));
        problems.extend(under("argon2", self.argon2.validate()));
        problems.extend(under("hooks", self.hooks.validate()));
        problems
    }

    /// Makes `admin_token_file` and the session's `key_file` relative to `base` (the config
    /// file's directory) if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(path) = &mut self.admin_token_file {
            resolve_path(path, base);
        }
        resolve_path(&mut self.session.key_file, base);
        self.hooks.resolve_paths(base);
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_token_file: None,
            legacy: None,
            trusted_proxy_hops: 0,
            hash_workers: None,
            hash_queue: None,
            session: SessionConfig::default(),
            rate_limit: RateLimitConfig::default(),
            connections: usher_server::ConnectionLimits::default(),
            outage: usher_server::OutageConfig::default(),
            argon2: Argon2Config::default(),
            hooks: usher_server::HooksConfig::default(),
        }
    }
}

/// `[serve.session]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// The `iss` claim: usher's public URL.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Session lifetime.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: i64,
    /// The Ed25519 signing key (PKCS#8 PEM). Created (mode 0600) on first start if missing,
    /// so sessions survive restarts.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
}

impl SessionConfig {
    /// Every problem of `[serve.session]`, each keyed within it.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.ttl_seconds <= 0 {
            problems.push(ConfigProblem::new("ttl_seconds", "must be positive"));
        }
        problems
    }
}

fn default_issuer() -> String {
    "usher".to_owned()
}

fn default_ttl() -> i64 {
    3600
}

fn default_key_file() -> PathBuf {
    PathBuf::from("session-ed25519.pem")
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            ttl_seconds: default_ttl(),
            key_file: default_key_file(),
        }
    }
}

/// `[serve.argon2]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory in KiB.
    pub memory_kib: Option<u32>,
    /// Passes.
    pub iterations: Option<u32>,
    /// Lanes.
    pub parallelism: Option<u32>,
}

impl Argon2Config {
    /// The problem of `[serve.argon2]`, if its policy cannot hash (the hashing crate says why,
    /// not which key, so the problem is the table's).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        self.policy()
            .validate()
            .err()
            .map(|e| ConfigProblem::new("", e.to_string()))
            .into_iter()
            .collect()
    }

    /// The policy new hashes are made under.
    pub fn policy(&self) -> usher_hash::Policy {
        let default = usher_hash::Policy::default();
        usher_hash::Policy {
            memory_kib: self.memory_kib.unwrap_or(default.memory_kib),
            iterations: self.iterations.unwrap_or(default.iterations),
            parallelism: self.parallelism.unwrap_or(default.parallelism),
            ..default
        }
    }
}

/// Who checks a legacy user's password at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// usher verifies the hash the source holds.
    Hash,
    /// The legacy system checks the password itself.
    Legacy,
}

/// `[bridge.<source>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSourceConfig {
    /// Source fields an email-shaped identifier is looked up in.
    pub email_fields: Option<Vec<String>>,
    /// Source fields any other identifier is looked up in.
    pub username_fields: Option<Vec<String>>,
    /// Tell legacy over HTTP when a user migrated at login.
    pub write_back: Option<usher_server::HttpWriteBackConfig>,
    /// Who checks a not-yet-migrated user's password: `hash` (usher reads the legacy hash and
    /// verifies it) or `legacy` (the legacy system does: an auth API, an LDAP bind). Default:
    /// `legacy` for kinds that can check passwords, `hash` otherwise.
    pub verify: Option<Verify>,
}

impl BridgeSourceConfig {
    /// Every problem of `[bridge.<source>]` found on its own (its write-back), each keyed
    /// within the table. Whether it names a source, and whether a login identifier can be
    /// looked up, are the whole config's to say ([`super::Config::validate`]).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        self.write_back
            .as_ref()
            .map(|w| under("write_back", w.validate()).collect())
            .unwrap_or_default()
    }

    /// Makes its write-back's files relative to `base` (the config file's directory) if they
    /// are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(write_back) = &mut self.write_back {
            write_back.resolve_paths(base);
        }
    }
}
