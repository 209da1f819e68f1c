//! `usher.toml`: the store, the legacy sources, how each source's records map to users, and
//! the backfill's defaults. Checked as a whole, without connecting, by `usher config check`.
//!
//! ```toml
//! [store]                       # the new store: sqlite (one file) or postgres
//! type = "sqlite"
//! path = "usher.db"
//!
//! [sources.legacy]              # a legacy source: postgres, mysql / mariadb, sqlite
//! type = "postgres"
//! url_file = "/run/secrets/legacy-db-url"
//! table = "users"
//! key = "id"
//!
//! [mappings.legacy]             # how its records become users (docs/mapping.md)
//! fields = { email = "email", given_name = "fname", family_name = "lname" }
//! password = { hash = "password_hash" }
//!
//! [backfill]                    # for `usher backfill`; flags override them
//! batch_size = 1000             # default
//! rate = 5000                   # records per second read from the source; default unlimited
//! concurrency = 2               # default 1
//! conflict = "skip"             # default; or "legacy-newer"
//!
//! [serve]                       # `usher serve`: the login bridge (docs/bridge.md)
//! listen = "127.0.0.1:8080"
//! admin_token_file = "/run/secrets/usher-admin-token"
//! legacy = ["legacy"]           # login fallbacks, in order; default every source
//! session = { issuer = "https://auth.example.com", key_file = "session-ed25519.pem" }
//! connections = { max = 1024, header_timeout_seconds = 10, body_timeout_seconds = 10, request_timeout_seconds = 30, idle_timeout_seconds = 60 }  # the defaults
//!
//! [bridge.legacy]               # how a login identifier is looked up in a source
//! email_fields = ["email"]      # default: the column the mapping reads `email` from
//! username_fields = ["login"]   # default: the column the mapping reads `username` from
//! ```
//!
//! Relative file paths in the config (SQLite files, `url_file`, `tls_ca_file`) are read
//! relative to the config file's directory, not to wherever usher happens to be started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use usher_connect::SourceConfig;
use usher_core::config::under;
use usher_core::{ConfigProblem, Mapper, MappingConfig};
use usher_hash::HashContext;
use usher_server::RateLimitConfig;
use usher_store::{ConflictPolicy, StoreConfig};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The new store.
    pub store: StoreConfig,
    /// Legacy sources by name. The name is recorded in the ledger and in every user's legacy
    /// links, so keep it stable for the life of the migration.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// How each source's records map to users, by source name.
    #[serde(default)]
    pub mappings: BTreeMap<String, MappingConfig>,
    /// Defaults for `usher backfill`.
    #[serde(default)]
    pub backfill: BackfillDefaults,
    /// `usher serve`.
    #[serde(default)]
    pub serve: ServeConfig,
    /// How the bridge looks login identifiers up, by source name.
    #[serde(default)]
    pub bridge: BTreeMap<String, BridgeSourceConfig>,
    /// Whether records of different sources sharing a verified email become one user, and
    /// whose value wins each field. Absent: never link (duplicates are quarantined).
    #[serde(default)]
    pub link: Option<usher_core::LinkConfig>,
}

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

/// `[backfill]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillDefaults {
    /// Records per chunk (one read, one transaction).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Records per second read from the source; unlimited when absent.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Key-range partitions worked concurrently.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// What to do with records already migrated.
    #[serde(default)]
    pub conflict: ConflictPolicy,
}

fn default_batch() -> usize {
    1000
}

fn default_concurrency() -> u32 {
    1
}

impl Default for BackfillDefaults {
    fn default() -> Self {
        Self {
            batch_size: default_batch(),
            rate: None,
            concurrency: default_concurrency(),
            conflict: ConflictPolicy::Skip,
        }
    }
}

/// `Ok` when there is no problem; else every problem, one a line, each naming its key.
pub fn report(problems: &[ConfigProblem]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "{} problem{} in the config:\n  {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    )
}

/// The config file to read: `--config`, else `$USHER_CONFIG`, else `./usher.toml`.
pub fn path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("USHER_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("usher.toml"))
}

impl Config {
    /// Reads and parses the file (no other I/O).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the config file {} (write one, or pass --config)",
                path.display()
            )
        })?;
        let mut config: Self = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid usher config", path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            config.resolve_paths(dir);
        }
        Ok(config)
    }

    /// Makes every relative file path relative to `dir` (the config file's directory).
    fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        self.store.resolve_paths(dir);
        self.serve.admin_token_file.iter_mut().for_each(fix);
        fix(&mut self.serve.session.key_file);
        for write_back in self
            .bridge
            .values_mut()
            .filter_map(|b| b.write_back.as_mut())
        {
            write_back.resolve_paths(dir);
        }
        for source in self.sources.values_mut() {
            source.resolve_paths(dir);
        }
    }

    /// Checks `[store]` alone, for the commands that only read the store.
    pub fn check_store(&self) -> Result<()> {
        report(&under("store", self.store.validate()).collect::<Vec<_>>())
    }

    /// Checks everything that can be checked without connecting, and reports every problem.
    pub fn check(&self) -> Result<()> {
        let mut problems = Vec::new();
        problems.extend(under("store", self.store.validate()).map(|p| p.to_string()));
        for (name, source) in &self.sources {
            let at = usher_core::config::entry("sources", name);
            problems.extend(under(&at, source.validate()).map(|p| p.to_string()));
            if !self.mappings.contains_key(name) {
                problems.push(format!(
                    "[sources.{name}] has no [mappings.{name}] saying how its records map to users"
                ));
            }
        }
        for (name, mapping) in &self.mappings {
            if !self.sources.contains_key(name) {
                problems.push(format!(
                    "[mappings.{name}] names no source: there is no [sources.{name}]"
                ));
            }
            if let Err(e) = Mapper::new(mapping) {
                problems.push(e.in_source(name).to_string());
            }
        }
        if self.backfill.batch_size == 0 || self.backfill.batch_size > 100_000 {
            problems.push(format!(
                "[backfill] batch_size {} is outside 1..=100000",
                self.backfill.batch_size
            ));
        }
        if !(1..=64).contains(&self.backfill.concurrency) {
            problems.push(format!(
                "[backfill] concurrency {} is outside 1..=64",
                self.backfill.concurrency
            ));
        }
        if let Some(link) = &self.link {
            problems.extend(
                link.validate(self.sources.keys().map(String::as_str))
                    .into_iter()
                    .map(|p| p.under("link").to_string()),
            );
        }
        if self.backfill.rate == Some(0) {
            problems.push("[backfill] rate must be at least 1 record per second".to_owned());
        }
        self.check_serve(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            bail!(
                "{} problem{} in the config:\n  {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("\n  ")
            )
        }
    }

    fn check_serve(&self, problems: &mut Vec<String>) {
        if self.serve.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "[serve] listen {:?} is not an address such as 127.0.0.1:8080",
                self.serve.listen
            ));
        }
        for name in self.serve.legacy.iter().flatten() {
            if !self.sources.contains_key(name) {
                problems.push(format!(
                    "[serve] legacy names {name:?}, which is not a source"
                ));
            }
        }
        for (name, bridge) in &self.bridge {
            if !self.sources.contains_key(name) {
                problems.push(format!("[bridge.{name}] names no source"));
            }
            let at = format!("{}.write_back", usher_core::config::entry("bridge", name));
            if let Some(write_back) = &bridge.write_back {
                problems.extend(under(&at, write_back.validate()).map(|p| p.to_string()));
            }
        }
        for name in self.bridge_sources() {
            if let Some(mapping) = self.mappings.get(&name) {
                let (email, username) = self.lookup_fields(&name, mapping);
                if email.is_empty() && username.is_empty() {
                    problems.push(format!(
                        "[bridge.{name}]: say which source fields a login identifier is looked \
                         up in (email_fields, username_fields); the mapping does not read email \
                         or username from a plain column"
                    ));
                }
            }
        }
        problems.extend(
            under("serve.connections", self.serve.connections.validate()).map(|p| p.to_string()),
        );
        problems.extend(under("serve.outage", self.serve.outage.validate()).map(|p| p.to_string()));
        if self.serve.session.ttl_seconds <= 0 {
            problems.push("[serve.session] ttl_seconds must be positive".to_owned());
        }
        if self.serve.hash_workers == Some(0) {
            problems.push("[serve] hash_workers must be at least 1".to_owned());
        }
        if let Err(e) = self.serve.argon2.policy().validate() {
            problems.push(format!("[serve.argon2]: {e}"));
        }
    }

    /// The sources the bridge tries at login, in order.
    pub fn bridge_sources(&self) -> Vec<String> {
        self.serve
            .legacy
            .clone()
            .unwrap_or_else(|| self.sources.keys().cloned().collect())
    }

    /// The hash context every mapping and the bridge parse hashes in, built once: the
    /// Firebase project's signer key, if a Firebase source has one (imported hashes do not
    /// carry it). Reads the signer-key files. One project per store: two sources with
    /// different keys are refused, since a stored hash does not say which project it came
    /// from.
    pub fn hash_context(&self) -> Result<HashContext> {
        let mut found: Option<(String, zeroize::Zeroizing<Vec<u8>>)> = None;
        for (name, source) in &self.sources {
            let Some(key) = source.firebase_signer_key(name)? else {
                continue;
            };
            match &found {
                Some((first, other)) if *other != key => bail!(
                    "[sources.{first}] and [sources.{name}] have different Firebase signer keys: \
                     one store holds the users of one Firebase project"
                ),
                Some(_) => {}
                None => found = Some((name.clone(), key)),
            }
        }
        Ok(match found {
            Some((_, key)) => HashContext::default().with_firebase_signer_key(key),
            None => HashContext::default(),
        })
    }

    /// The fields a login identifier is looked up in, in source `name`: as configured in
    /// `[bridge.<name>]`, else the plain columns the mapping reads `email` and `username` from.
    pub fn lookup_fields(&self, name: &str, mapping: &MappingConfig) -> (Vec<String>, Vec<String>) {
        let configured = self.bridge.get(name);
        let derived = |target: &str| -> Vec<String> {
            if mapping.pre.is_some() {
                return Vec::new(); // a jq program reshapes the record first
            }
            mapping
                .fields
                .get(target)
                .and_then(|rule| rule.from.as_ref())
                .map(|paths| {
                    paths
                        .as_slice()
                        .iter()
                        .filter(|p| !p.contains('.'))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        let email = configured
            .and_then(|c| c.email_fields.clone())
            .unwrap_or_else(|| derived("email"));
        let username = configured
            .and_then(|c| c.username_fields.clone())
            .unwrap_or_else(|| derived("username"));
        (email, username)
    }

    /// The source to work on: `name`, or the only one configured.
    pub fn source_name(&self, name: Option<&str>) -> Result<String> {
        match name {
            Some(n) if self.sources.contains_key(n) => Ok(n.to_owned()),
            Some(n) => bail!(
                "there is no [sources.{n}] in the config; configured: {}",
                self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            None if self.sources.len() == 1 => {
                Ok(self.sources.keys().next().cloned().unwrap_or_default())
            }
            None if self.sources.is_empty() => bail!("the config has no [sources.<name>] table"),
            None => bail!(
                "several sources are configured; say which with --source ({})",
                self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BASE: &str = r#"
[store]
type = "sqlite"
path = "usher.db"

[sources.app]
type = "sqlite"
path = "legacy.db"
table = "users"
key = "id"

[mappings.app.fields]
email = "email"
"#;

    fn problems(extra: &str) -> String {
        let config: Config = toml::from_str(&format!("{BASE}{extra}")).unwrap();
        config
            .check()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn write_backs_are_checked_without_connecting() {
        assert_eq!(problems(""), "");
        let ok = "[bridge.app.write_back]\nurl = \"https://legacy.internal/migrated\"\n";
        assert_eq!(problems(ok), "");
        let bad = "[bridge.app.write_back]\nurl = \"ftp://legacy\"\ntimeout_seconds = 0\n";
        let found = problems(bad);
        assert!(
            found.contains("[bridge.app.write_back.url] ftp is not http or https"),
            "{found}"
        );
        assert!(
            found.contains("[bridge.app.write_back.timeout_seconds]"),
            "{found}"
        );
        let no_key = "key = \"id\"\nwrite_back = \"UPDATE users SET m = 1\"\n";
        let config: Config = toml::from_str(&BASE.replace("key = \"id\"\n", no_key)).unwrap();
        let found = config.check().unwrap_err().to_string();
        assert!(
            found.contains("[sources.app.write_back] must name the record with :key"),
            "{found}"
        );
    }
}
