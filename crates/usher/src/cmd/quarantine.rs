//! `usher quarantine list|export`: the records that did not migrate, and why.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use usher_store::QuarantineFilter;

use crate::config::ConfigArg;

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// A page of quarantined records: source, legacy id, field and reason.
    List {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Every quarantined record with the record itself, as JSON Lines (to fix and re-run).
    Export {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub async fn run(command: QuarantineCommand) -> Result<()> {
    match command {
        QuarantineCommand::List {
            source,
            limit,
            offset,
            config,
        } => {
            let store = open(config).await?;
            let filter = QuarantineFilter { source };
            let total = store.quarantine_count(&filter).await?;
            let entries = store.quarantine_list(&filter, limit, offset).await?;
            store.close().await;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<12} {:<14} {:<16} reason",
                "source", "legacy id", "field"
            )?;
            for e in &entries {
                writeln!(
                    out,
                    "{:<12} {:<14} {:<16} {}",
                    e.source,
                    e.legacy_id,
                    e.field.as_deref().unwrap_or("-"),
                    e.reason
                )?;
            }
            let shown = u64::try_from(entries.len()).unwrap_or(0);
            writeln!(
                out,
                "({shown} of {total} quarantined records, from {offset})"
            )?;
        }
        QuarantineCommand::Export {
            source,
            output,
            config,
        } => {
            let store = open(config).await?;
            let filter = QuarantineFilter { source };
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut after = None;
            let mut n = 0u64;
            loop {
                let page = store.quarantine_page(&filter, after.as_ref(), 1000).await?;
                let Some(last) = page.last() else { break };
                after = Some((last.source.clone(), last.legacy_id.clone()));
                for e in &page {
                    serde_json::to_writer(&mut out, e)?;
                    out.write_all(b"\n")?;
                    n = n.saturating_add(1);
                }
            }
            out.flush()?;
            if let Some(path) = output {
                eprintln!("Exported {n} quarantined records to {}.", path.display());
            }
            store.close().await;
        }
    }
    Ok(())
}

async fn open(config: ConfigArg) -> Result<Box<dyn usher_store::Store>> {
    let config = config.load()?;
    config.check_store()?;
    config.open_store().await
}
