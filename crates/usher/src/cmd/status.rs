//! `usher status`: where the migration stands, from the store and the legacy sources.

use std::io::Write as _;

use anyhow::Result;
use clap::Args;

use usher_engine::status::Configured;

use crate::config::ConfigArg;

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON (what `GET /v1/admin/status` answers) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: StatusArgs) -> Result<()> {
    let config = args.config.load()?;
    config.check()?;
    let store = config.open_store().await?;
    let mut sources = Vec::new();
    for (name, source) in &config.sources {
        sources.push(if source.readable() {
            Configured::Readable(std::sync::Arc::from(source.build(name).await?))
        } else {
            Configured::AuthOnly(name.clone())
        });
    }
    let status = usher_engine::status::gather(store.as_ref(), &sources).await?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?;
    } else {
        write!(out, "{}", status.to_text())?;
    }
    Ok(())
}
