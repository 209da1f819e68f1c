//! `usher worker`: delivers the outbox (the writes owed to legacy) without serving logins, on
//! any number of machines sharing the store; `usher serve` delivers too unless
//! `[outbox] deliver_in_serve = false`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use usher_runtime::{Metrics, Shutdown};
use usher_server::Courier;
use usher_server::bridge::Round;

use super::serve::{init_tracing, legacy_sources, shutdown_signal};
use crate::config::ConfigArg;

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Deliver every row that is due, then exit (for cron, and to drain before a cut-over);
    /// rows waiting for a retry are left for later.
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: WorkerArgs) -> Result<()> {
    init_tracing("info");
    let config = args.config.load()?;
    config.check()?;
    let store: Arc<dyn usher_store::Store> = Arc::from(config.open_store().await?);
    let legacy = legacy_sources(&config, &config.hash_context()?).await?;
    let courier = Courier::new(
        Arc::clone(&store),
        &legacy,
        config.outbox.delivery(),
        Arc::new(Metrics::new()),
    );
    // One line a script can wait for; progress goes to stderr.
    println!("usher: outbox worker {} delivering", courier.name());
    let stop = Shutdown::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    let mut total = Round::default();
    let mut progress = Progress::new();
    let result = loop {
        if stop.is_cancelled() {
            break Ok(());
        }
        let round = match courier.round().await {
            Ok(round) => round,
            Err(e) if args.once => break Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "outbox: a round failed; trying again shortly");
                pause(&stop, Duration::from_secs(1)).await;
                continue;
            }
        };
        add(&mut total, round);
        progress.maybe_print(&total);
        if round.claimed == 0 {
            if let Err(e) = courier.idle().await {
                tracing::warn!(error = %e, "outbox: purging delivered rows failed");
            }
            if args.once {
                break Ok(());
            }
            pause(&stop, config.outbox.delivery().idle).await;
        }
    };
    let stats = store.outbox_stats().await?;
    store.close().await;
    eprintln!(
        "outbox: delivered {}, failed {} (to be tried again), dead {}; {} pending, {} dead in all",
        total.delivered, total.failed, total.dead, stats.pending, stats.dead
    );
    result
}

fn add(total: &mut Round, round: Round) {
    total.claimed = total.claimed.saturating_add(round.claimed);
    total.delivered = total.delivered.saturating_add(round.delivered);
    total.failed = total.failed.saturating_add(round.failed);
    total.dead = total.dead.saturating_add(round.dead);
}

async fn pause(stop: &Shutdown, d: Duration) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(d) => {}
    }
}

/// A progress line every 10 s while rows are delivered: totals and the rate since the last.
struct Progress {
    at: Instant,
    delivered: usize,
}

impl Progress {
    fn new() -> Self {
        Progress {
            at: Instant::now(),
            delivered: 0,
        }
    }

    fn maybe_print(&mut self, total: &Round) {
        let elapsed = self.at.elapsed();
        if elapsed < Duration::from_secs(10) || total.delivered == self.delivered {
            return;
        }
        let rate = total.delivered.saturating_sub(self.delivered) as f64 / elapsed.as_secs_f64();
        eprintln!(
            "outbox: delivered {} ({rate:.0}/s), failed {}, dead {}",
            total.delivered, total.failed, total.dead
        );
        self.at = Instant::now();
        self.delivered = total.delivered;
    }
}
