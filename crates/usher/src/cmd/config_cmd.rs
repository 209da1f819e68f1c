//! `usher config check`: validate usher.toml without connecting to anything.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use crate::config::{self, Config};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check the whole config (store, sources, mappings, backfill) without connecting.
    Check {
        /// The config file (default: $USHER_CONFIG, then ./usher.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn run(command: ConfigCommand) -> Result<()> {
    let ConfigCommand::Check { config: path } = command;
    let path = config::path(path.as_deref());
    let config = Config::load(&path)?;
    config.check()?;
    // The signer-key files too: two Firebase sources with different keys are refused here,
    // not first by the backfill (the key itself is dropped at once).
    drop(config.hash_context()?);
    println!(
        "{} is valid: a {} store, {} source{} ({}).",
        path.display(),
        config.store.backend(),
        config.sources.len(),
        if config.sources.len() == 1 { "" } else { "s" },
        config
            .sources
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
