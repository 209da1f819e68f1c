//! The one worker loop: a background job that works in rounds until it is told to stop, then
//! finishes the round in hand and returns (graceful shutdown); and leases, so that of many
//! processes running the same job one works at a time, another taking over when its lease
//! expires (the outbox's deliverers and the backfill's workers of later issues).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
pub use tokio_util::sync::CancellationToken as Shutdown;

use crate::RetryPolicy;

/// What one round of work came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// There may be more to do at once: the next round starts without waiting.
    Busy,
    /// Nothing was left: the next round waits the worker's `idle` pause.
    Idle,
}

/// How a worker loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Shutdown was asked for; the round in hand was finished first.
    Shutdown,
}

/// An error a [`Leases`] implementation reports.
pub type LeaseError = Box<dyn Error + Send + Sync>;

/// Where leases live: a table of the store, shared by every process that may run the job.
///
/// A lease is a name, the holder that has it and the instant it expires. It is taken when free
/// or expired, kept by renewing it before it expires (the heartbeat), and given back on a clean
/// stop. The instants come from each process's own clock, so the machines' clocks must agree
/// (NTP) to well within the lease's time to live.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes lease `name` for `holder` until `ttl` from now, if it is free, expired or already
    /// `holder`'s; whether `holder` has it now.
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, LeaseError>;

    /// Moves the expiry of `holder`'s lease `name` to `ttl` from now; `false` when `holder` no
    /// longer has it (it expired and another took it).
    async fn renew(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, LeaseError>;

    /// Gives lease `name` back, if `holder` has it.
    async fn release(&self, name: &str, holder: &str) -> Result<(), LeaseError>;
}

/// A lease a worker must hold to work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job's lease, the same in every process (for example `outbox`).
    pub name: String,
    /// This process's name for itself, unique among the processes (host and process id, say).
    pub holder: String,
    /// How long the lease lasts without a renewal. The worker renews it every third of this,
    /// so a round of work must take well under a third of it.
    pub ttl: Duration,
}

/// A background job's loop.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The job's name, for logs.
    pub name: String,
    /// The pause after a round that found nothing to do.
    pub idle: Duration,
    /// The pauses after failed rounds: `backoff(n)` after the `n`th failure in a row, plus
    /// jitter (the policy's `attempts` does not apply: a worker never gives up).
    pub backoff: RetryPolicy,
}

impl Worker {
    /// Runs `round` until `shutdown` is cancelled. A round in hand is never interrupted: the
    /// loop stops between rounds, and pauses end early at shutdown. A failed round is logged
    /// and tried again after the backoff.
    pub async fn run<E, F, Fut>(&self, shutdown: &Shutdown, mut round: F) -> Stopped
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Tick, E>>,
    {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let pause = self.after(round().await, &mut failures);
            if !pause.is_zero() && !self.pause(shutdown, pause).await {
                break;
            }
        }
        Stopped::Shutdown
    }

    /// Like [`Worker::run`], but only while this process holds `lease`: it is taken before
    /// the first round (tried again every third of its time to live while another process
    /// has it), renewed every third of its time to live, and given back at shutdown. A lost
    /// lease (not renewed in time, and taken by another) stops the rounds until it is taken
    /// again.
    pub async fn run_leased<E, F, Fut>(
        &self,
        leases: &dyn Leases,
        lease: &Lease,
        shutdown: &Shutdown,
        mut round: F,
    ) -> Stopped
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Tick, E>>,
    {
        let beat = lease.ttl.checked_div(3).unwrap_or_default();
        let mut failures = 0u32;
        let mut renew_at: Option<tokio::time::Instant> = None;
        while !shutdown.is_cancelled() {
            let held = match renew_at {
                None => self.log_lease(
                    leases.acquire(&lease.name, &lease.holder, lease.ttl).await,
                    "taking",
                ),
                Some(at) if tokio::time::Instant::now() >= at => {
                    let renewed = self.log_lease(
                        leases.renew(&lease.name, &lease.holder, lease.ttl).await,
                        "renewing",
                    );
                    if !renewed {
                        tracing::warn!(worker = %self.name, lease = %lease.name, "lease lost: stopping work until it is taken again");
                    }
                    renewed
                }
                Some(_) => true,
            };
            if !held {
                renew_at = None;
                if !self.pause(shutdown, beat).await {
                    break;
                }
                continue;
            }
            // Taken or renewed just now: the next renewal is a beat away.
            let now = tokio::time::Instant::now();
            let next_beat = match renew_at {
                Some(at) if now < at => at,
                _ => now.checked_add(beat).unwrap_or(now),
            };
            renew_at = Some(next_beat);
            let pause = self.after(round().await, &mut failures);
            let until_beat = next_beat.saturating_duration_since(tokio::time::Instant::now());
            let pause = pause.min(until_beat);
            if !pause.is_zero() && !self.pause(shutdown, pause).await {
                break;
            }
        }
        if renew_at.is_some()
            && let Err(e) = leases.release(&lease.name, &lease.holder).await
        {
            tracing::warn!(worker = %self.name, lease = %lease.name, error = %e, "could not give the lease back; it expires on its own");
        }
        Stopped::Shutdown
    }

    /// The pause after a round's result, counting failures in a row.
    fn after<E: fmt::Display>(&self, result: Result<Tick, E>, failures: &mut u32) -> Duration {
        match result {
            Ok(Tick::Busy) => {
                *failures = 0;
                Duration::ZERO
            }
            Ok(Tick::Idle) => {
                *failures = 0;
                self.idle
            }
            Err(e) => {
                *failures = failures.saturating_add(1);
                let pause = self
                    .backoff
                    .backoff(*failures)
                    .saturating_add(self.backoff.jitter_sample());
                tracing::warn!(worker = %self.name, error = %e, failures = *failures, ?pause, "round failed; trying again");
                pause
            }
        }
    }

    /// Whether a lease call said yes; an error is logged and counts as no.
    fn log_lease(&self, result: Result<bool, LeaseError>, doing: &str) -> bool {
        result.unwrap_or_else(|e| {
            tracing::warn!(worker = %self.name, error = %e, "{doing} the lease failed");
            false
        })
    }

    /// Sleeps `pause`; `false` when shutdown came first.
    async fn pause(&self, shutdown: &Shutdown, pause: Duration) -> bool {
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = tokio::time::sleep(pause) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn worker() -> Worker {
        Worker {
            name: "test".into(),
            idle: Duration::from_secs(10),
            backoff: RetryPolicy {
                attempts: 1,
                first: Duration::from_secs(1),
                max: Duration::from_secs(4),
                jitter: Duration::ZERO,
            },
        }
    }

    /// Busy rounds follow at once, an idle round waits `idle`, failures back off doubling, and
    /// a shutdown asked for during a round lets that round finish and starts no other.
    #[tokio::test(start_paused = true)]
    async fn rounds_pace_themselves_and_a_shutdown_finishes_the_round_in_hand() {
        let shutdown = Shutdown::new();
        let start = tokio::time::Instant::now();
        let log = std::cell::RefCell::new(Vec::new());
        let n = Cell::new(0u32);
        let stopped = worker()
            .run(&shutdown, || {
                n.set(n.get() + 1);
                let i = n.get();
                log.borrow_mut().push((i, start.elapsed().as_secs()));
                let shutdown = shutdown.clone();
                async move {
                    match i {
                        1 | 2 => Ok(Tick::Busy),
                        3 => Ok(Tick::Idle),
                        4..=6 => Err("legacy is down"),
                        _ => {
                            // Asked to stop mid-round: the round still ends normally.
                            shutdown.cancel();
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            Ok(Tick::Busy)
                        }
                    }
                }
            })
            .await;
        assert_eq!(stopped, Stopped::Shutdown);
        // Rounds 1–3 at 0 s; idle 10 s; failures at 10, 11 (+1), 13 (+2); +4 → round 7 at 17.
        assert_eq!(
            log.into_inner(),
            [(1, 0), (2, 0), (3, 0), (4, 10), (5, 11), (6, 13), (7, 17)]
        );
        assert_eq!(
            start.elapsed().as_secs(),
            20,
            "the last round was cut short"
        );
    }

    /// A pause ends at shutdown, not when it would have.
    #[tokio::test(start_paused = true)]
    async fn a_shutdown_during_a_pause_ends_the_loop_at_once() {
        let shutdown = Shutdown::new();
        let start = tokio::time::Instant::now();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            stop.cancel();
        });
        worker()
            .run(&shutdown, || async { Ok::<_, &str>(Tick::Idle) })
            .await;
        assert_eq!(start.elapsed().as_secs(), 2);
    }
}
