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
//! Relative file paths in the config (SQLite files, exports, `url_file`, `tls_ca_file`, secret
//! files) are read relative to the config file's directory, not to wherever usher happens to
//! be started: each section resolves its own (`resolve_paths`). Each section also checks
//! itself (`validate`), reporting every problem as a [`ConfigProblem`] keyed within it; the
//! whole config puts each section's path in front and adds what only it can see (a mapping
//! without a source), so `usher config check` names every problem's full key at once.

mod outbox;
mod push;
mod serve;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use usher_connect::SourceConfig;
use usher_core::config::{entry, under};
use usher_core::{ConfigProblem, MappingConfig};
use usher_engine::BackfillOptions;
use usher_hash::HashContext;
use usher_store::{ConflictPolicy, StoreConfig};

pub use outbox::OutboxConfig;
pub use push::PushTargetConfig;
pub use serve::{BridgeSourceConfig, ServeConfig, Verify};

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
    /// Where `usher export --push` sends each target's import files, by target.
    #[serde(default)]
    pub push: BTreeMap<String, PushTargetConfig>,
    /// What legacy hashes need that they do not carry.
    #[serde(default)]
    pub hashes: HashesConfig,
    /// How the writes owed to legacy are delivered.
    #[serde(default)]
    pub outbox: OutboxConfig,
}

/// `[hashes]`: secrets a legacy application mixed into its hashes, kept out of the hashes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashesConfig {
    /// A file holding the application's bcrypt pepper (Devise's `config.pepper`), which
    /// `bcrypt-pepper` hashes need: the file's text, without a final newline.
    #[serde(default)]
    pub bcrypt_pepper_file: Option<PathBuf>,
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

impl BackfillDefaults {
    /// Every problem of `[backfill]`, each keyed within it: the engine's own checks of the
    /// options these defaults give, and the rate.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let options = BackfillOptions {
            batch_size: self.batch_size,
            concurrency: self.concurrency,
            ..BackfillOptions::default()
        };
        let mut problems = options.validate();
        if self.rate == Some(0) {
            problems.push(ConfigProblem::new(
                "rate",
                "must be at least 1 record per second",
            ));
        }
        problems
    }
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

/// `--config FILE`: how every command that reads usher.toml is told where it is.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArg {
    /// The config file (default: $USHER_CONFIG, then ./usher.toml).
    #[arg(long = "config", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl ConfigArg {
    /// The config file to read: `--config`, else `$USHER_CONFIG`, else `./usher.toml`.
    pub fn path(&self) -> PathBuf {
        self.file
            .clone()
            .or_else(|| std::env::var_os("USHER_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("usher.toml"))
    }

    /// Reads and parses that file (no other I/O).
    pub fn load(&self) -> Result<Config> {
        Config::load(&self.path())
    }
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

    /// Makes every relative file path relative to `dir` (the config file's directory): each
    /// section resolves its own.
    fn resolve_paths(&mut self, dir: &Path) {
        self.store.resolve_paths(dir);
        for source in self.sources.values_mut() {
            source.resolve_paths(dir);
        }
        self.serve.resolve_paths(dir);
        for bridge in self.bridge.values_mut() {
            bridge.resolve_paths(dir);
        }
        for push in self.push.values_mut() {
            push.resolve_paths(dir);
        }
        if let Some(path) = &mut self.hashes.bcrypt_pepper_file {
            usher_core::config::resolve_path(path, dir);
        }
    }

    /// Checks `[store]` alone, for the commands that only read the store.
    pub fn check_store(&self) -> Result<()> {
        report(&under("store", self.store.validate()).collect::<Vec<_>>())
    }

    /// Opens `[store]`, brought to the current schema.
    pub async fn open_store(&self) -> Result<Box<dyn usher_store::Store>> {
        let store = usher_store::open(&self.store).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Checks everything that can be checked without connecting, and reports every problem.
    pub fn check(&self) -> Result<()> {
        report(&self.validate())
    }

    /// Every problem in the config found without I/O, each naming its full key
    /// (`sources.app.tls_ca_file`): every section's own, and what only the whole config can
    /// see (a mapping without a source, a login fallback that is not a source).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let names = || self.sources.keys().map(String::as_str);
        let mut problems: Vec<ConfigProblem> = under("store", self.store.validate()).collect();
        for (name, source) in &self.sources {
            let at = entry("sources", name);
            problems.extend(under(&at, source.validate()));
            if !self.mappings.contains_key(name) {
                problems.push(ConfigProblem::new(
                    at,
                    format!(
                        "has no [{}] saying how its records map to users",
                        entry("mappings", name)
                    ),
                ));
            }
        }
        for (name, mapping) in &self.mappings {
            let at = entry("mappings", name);
            if !self.sources.contains_key(name) {
                problems.push(ConfigProblem::new(
                    &at,
                    format!("names no source: there is no [{}]", entry("sources", name)),
                ));
            }
            problems.extend(under(&at, mapping.validate()));
        }
        problems.extend(under("backfill", self.backfill.validate()));
        if let Some(link) = &self.link {
            problems.extend(under("link", link.validate(names())));
        }
        problems.extend(under("serve", self.serve.validate(names())));
        problems.extend(under("outbox", self.outbox.validate()));
        for (name, bridge) in &self.bridge {
            let at = entry("bridge", name);
            if !self.sources.contains_key(name) {
                problems.push(ConfigProblem::new(&at, "names no source"));
            }
            problems.extend(under(&at, bridge.validate()));
        }
        for (target, push) in &self.push {
            problems.extend(under(&entry("push", target), push.validate(target)));
        }
        for name in self.bridge_sources() {
            if let Some(mapping) = self.mappings.get(&name) {
                let (email, username) = self.lookup_fields(&name, mapping);
                if email.is_empty() && username.is_empty() {
                    problems.push(ConfigProblem::new(
                        entry("bridge", &name),
                        "say which source fields a login identifier is looked up in \
                         (email_fields, username_fields); the mapping does not read email or \
                         username from a plain column",
                    ));
                }
            }
        }
        problems
    }

    /// Source `name`'s config and its compiled mapper (hashes read in the config's hash
    /// context): what every job over one source starts from.
    pub fn source_and_mapper(
        &self,
        name: &str,
    ) -> Result<(&SourceConfig, std::sync::Arc<usher_core::Mapper>)> {
        let source = self
            .sources
            .get(name)
            .with_context(|| format!("there is no [sources.{name}]"))?;
        let mapping = self
            .mappings
            .get(name)
            .with_context(|| format!("there is no [mappings.{name}]"))?;
        let mapper = usher_core::Mapper::new(mapping)
            .map_err(|e| anyhow::anyhow!("{}", e.in_source(name)))?
            .with_hash_context(self.hash_context()?);
        Ok((source, std::sync::Arc::new(mapper)))
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
        let context = match found {
            Some((_, key)) => HashContext::default().with_firebase_signer_key(key),
            None => HashContext::default(),
        };
        Ok(match &self.hashes.bcrypt_pepper_file {
            Some(path) => {
                let text =
                    zeroize::Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                        format!("reading [hashes] bcrypt_pepper_file {}", path.display())
                    })?);
                let pepper = text.strip_suffix('\n').unwrap_or(&text);
                context.with_pepper(zeroize::Zeroizing::new(pepper.as_bytes().to_vec()))
            }
            None => context,
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
