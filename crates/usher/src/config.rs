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
//! [backfill]                    # defaults for `usher backfill`; flags override them
//! batch_size = 1000
//! rate = 5000                   # records per second read from the source
//! concurrency = 2
//! conflict = "skip"             # or "legacy-newer"
//! ```
//!
//! Relative file paths in the config (SQLite files, `url_file`, `tls_ca_file`) are read
//! relative to the config file's directory, not to wherever usher happens to be started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use usher_connect::SourceConfig;
use usher_core::{Mapper, MappingConfig};
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
        match &mut self.store {
            StoreConfig::Sqlite { path } => fix(path),
            StoreConfig::Postgres { url_file, .. } => url_file.iter_mut().for_each(fix),
        }
        for source in self.sources.values_mut() {
            match source {
                SourceConfig::Sqlite(c) => fix(&mut c.path),
                SourceConfig::Postgres(c) => {
                    c.url_file.iter_mut().for_each(fix);
                    c.tls_ca_file.iter_mut().for_each(fix);
                }
                SourceConfig::Mysql(c) => {
                    c.url_file.iter_mut().for_each(fix);
                    c.tls_ca_file.iter_mut().for_each(fix);
                }
            }
        }
    }

    /// Checks everything that can be checked without connecting, and reports every problem.
    pub fn check(&self) -> Result<()> {
        let mut problems = Vec::new();
        if let Err(e) = self.store.validate() {
            problems.push(format!("[store]: {e}"));
        }
        for (name, source) in &self.sources {
            if let Err(e) = source.validate() {
                problems.push(format!("[sources.{name}]: {e}"));
            }
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
        if self.backfill.rate == Some(0) {
            problems.push("[backfill] rate must be at least 1 record per second".to_owned());
        }
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
