//! `usher config check`: validate usher.toml without connecting to anything.

use anyhow::Result;
use clap::Subcommand;

use crate::config::{Config, ConfigArg};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check the whole config (store, sources, mappings, backfill) without connecting.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn run(command: ConfigCommand) -> Result<()> {
    let ConfigCommand::Check { config: arg } = command;
    let path = arg.path();
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
