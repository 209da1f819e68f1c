//! `usher outbox list|retry|drop`: the writes owed to the other side, and the operator's hand on
//! the ones that could not be delivered.

use std::io::Write as _;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use usher_store::OutboxState;

use crate::config::ConfigArg;

/// An outbox row's state.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    /// Not delivered yet.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on after the last attempt; holds the user's later rows back.
    Dead,
}

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// The outbox's counts, then a page of rows: id, user, kind, destination, state,
    /// attempts and the last error. Payloads are not shown.
    List {
        /// Only rows in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Makes a dead row pending again (its attempts start over).
    Retry {
        /// The row (`usher outbox list --state dead`).
        #[arg(long, conflicts_with = "all_dead")]
        id: Option<i64>,
        /// Every dead row.
        #[arg(long)]
        all_dead: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Deletes an undelivered row: the other side never gets that write, and the user's later
    /// rows go on.
    Drop {
        /// The row.
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub async fn run(command: OutboxCommand) -> Result<()> {
    match command {
        OutboxCommand::List {
            state,
            limit,
            config,
        } => {
            let store = open(config).await?;
            let stats = store.outbox_stats().await?;
            let rows = store
                .outbox(
                    state.map(|s| match s {
                        StateArg::Pending => OutboxState::Pending,
                        StateArg::Delivered => OutboxState::Delivered,
                        StateArg::Dead => OutboxState::Dead,
                    }),
                    limit,
                )
                .await?;
            store.close().await;
            let mut out = std::io::stdout().lock();
            let oldest = stats.oldest_pending.map_or_else(
                || "-".to_owned(),
                |at| {
                    format!(
                        "{}s",
                        chrono::Utc::now()
                            .signed_duration_since(at)
                            .num_seconds()
                            .max(0)
                    )
                },
            );
            writeln!(
                out,
                "pending {}  dead {}  delivered {}  oldest pending {oldest}",
                stats.pending, stats.dead, stats.delivered
            )?;
            writeln!(
                out,
                "{:>8} {:<36} {:<10} {:<16} {:<9} {:>8} last error",
                "id", "user", "kind", "destination", "state", "attempts"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:>8} {:<36} {:<10} {:<16} {:<9} {:>8} {}",
                    r.id,
                    r.user,
                    r.kind,
                    r.destination,
                    r.state.as_str(),
                    r.attempts,
                    r.last_error.as_deref().unwrap_or("-")
                )?;
            }
        }
        OutboxCommand::Retry {
            id,
            all_dead,
            config,
        } => {
            if id.is_none() && !all_dead {
                bail!("say which: --id N, or --all-dead");
            }
            let store = open(config).await?;
            let n = store.retry_outbox(id, chrono::Utc::now()).await?;
            store.close().await;
            println!(
                "{n} dead row{} pending again.",
                if n == 1 { "" } else { "s" }
            );
        }
        OutboxCommand::Drop { id, config } => {
            let store = open(config).await?;
            let dropped = store.drop_outbox(id).await?;
            store.close().await;
            if !dropped {
                bail!("no undelivered outbox row {id}");
            }
            println!("Dropped outbox row {id}.");
        }
    }
    Ok(())
}

async fn open(config: ConfigArg) -> Result<Box<dyn usher_store::Store>> {
    let config = config.load()?;
    config.check_store()?;
    config.open_store().await
}
