//! Delivering the outbox to legacy: the writes owed to a legacy source (that a record
//! migrated, and later a profile, password, address or status changed in usher) are rows
//! written in the same store transaction as the change; a [`Courier`] claims due rows, applies
//! each with the source's writers (its SQL statements, then its HTTP writer) and records the
//! outcome. A failed delivery is tried again after a pause that doubles each time (with
//! jitter), and given up (`dead`, kept for an operator) after the configured attempts.
//!
//! Delivery is at least once: a courier stopped between legacy's commit and the store's record
//! of it delivers the row again, with the same idempotency key, which the receiving side
//! applies once (a SQL source's `idempotency_table`, the HTTP writer's `Idempotency-Key`).
//! A user's rows go in order: a row is due only when the user's earlier rows are delivered.
//! Any number of couriers, in `usher serve` processes and `usher worker`s, share one store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use usher_core::{LegacyKey, LegacyWrite, Source, SourceError, UserId, Written};
use usher_runtime::{Metrics, RetryPolicy, Shutdown, Stopped, Tick, Worker};
use usher_store::{NewOutbox, OutboxRow, Store, StoreError};

use crate::model::Legacy;
use crate::write_back::HttpWriteBack;

/// How the outbox is delivered: `[outbox]` in `usher.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Rows claimed at a time (a claim holds at most one row per user).
    pub batch: u32,
    /// Rows of one claim delivered at once.
    pub concurrency: usize,
    /// How long a claim lasts: a courier that stops holding rows loses them to another after
    /// this.
    pub claim: Duration,
    /// Attempts before a row is given up on (`dead`).
    pub max_attempts: u32,
    /// The pause after the first failure, doubled after each next one up to its `max`, plus
    /// up to `jitter`.
    pub backoff: RetryPolicy,
    /// The pause after a round that found nothing due.
    pub idle: Duration,
    /// How long a delivered row is kept (for `usher outbox list`) before an idle courier
    /// deletes it.
    pub keep_delivered: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            batch: 256,
            concurrency: 16,
            claim: Duration::from_secs(60),
            max_attempts: 12,
            backoff: RetryPolicy {
                attempts: 12,
                first: Duration::from_secs(1),
                max: Duration::from_secs(3600),
                jitter: Duration::from_secs(1),
            },
            idle: Duration::from_millis(500),
            keep_delivered: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The destination of the writes owed to legacy source `source`.
pub fn destination(source: &str) -> String {
    format!("legacy:{source}")
}

/// The outbox row owed to legacy source `source` for `write` about `user`, keyed
/// `idempotency_key` (the same key for the same change, so a change written twice is owed
/// once).
pub fn owed(source: &str, user: UserId, write: &LegacyWrite, idempotency_key: String) -> NewOutbox {
    NewOutbox {
        user,
        kind: write.op().to_owned(),
        destination: destination(source),
        payload: serde_json::to_value(write).unwrap_or_default(),
        idempotency_key,
    }
}

/// The row telling legacy source `source` that record `key` became `user`: once per record.
pub fn mark_migrated(source: &str, key: &LegacyKey, user: UserId) -> NewOutbox {
    let write = LegacyWrite::MarkMigrated {
        key: key.clone(),
        user_id: user,
    };
    owed(
        source,
        user,
        &write,
        format!("mark_migrated:{source}:{key}"),
    )
}

/// Everything that writes to one legacy source: the source's own writer (a hash source's SQL
/// writes; an auth source has none), then the HTTP one.
#[derive(Clone)]
pub(crate) struct Writers {
    pub(crate) own: Option<Arc<dyn Source>>,
    pub(crate) http: Option<Arc<HttpWriteBack>>,
}

impl Writers {
    /// The writers of a legacy fallback.
    pub(crate) fn of(legacy: &Legacy) -> Self {
        match legacy {
            Legacy::Hash(h) => Writers {
                own: Some(Arc::clone(&h.source)),
                http: h.http_write_back.clone(),
            },
            Legacy::Auth(a) => Writers {
                own: None,
                http: a.http_write_back.clone(),
            },
        }
    }

    /// Whether any of them applies operation `op` (an auth source writes only through its
    /// HTTP writer).
    pub(crate) fn writes(&self, op: &str) -> bool {
        self.http.is_some() || self.own.as_ref().is_some_and(|s| s.writes(op))
    }

    /// Applies `write`: the source's own writer, then the HTTP one. Applied when at least one
    /// is configured for it and none failed.
    async fn apply(&self, write: &LegacyWrite, key: &str) -> Result<Written, SourceError> {
        let own = match &self.own {
            Some(s) => s.write(write, key).await?,
            None => Written::NotConfigured,
        };
        let http = match &self.http {
            Some(http) => http.write(write, key).await?,
            None => Written::NotConfigured,
        };
        Ok(match (own, http) {
            (Written::NotConfigured, other) | (other, Written::NotConfigured) => other,
            (Written::Again, Written::Again) => Written::Again,
            _ => Written::Applied,
        })
    }
}

/// `by` after `at`; the far future when out of range (a pause of centuries).
fn after(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| at.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Delivers the outbox's rows for the legacy sources it knows.
pub struct Courier {
    store: Arc<dyn Store>,
    writers: HashMap<String, Writers>,
    delivery: Delivery,
    metrics: Arc<Metrics>,
    /// This courier's name in its claims: unique among every process sharing the store.
    name: String,
    /// When [`Courier::idle`] last purged.
    purged_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Courier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut destinations: Vec<&String> = self.writers.keys().collect();
        destinations.sort();
        f.debug_struct("Courier")
            .field("name", &self.name)
            .field("destinations", &destinations)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl Courier {
    /// A courier for the writes owed to `legacy`'s sources, recording into `metrics`.
    pub fn new(
        store: Arc<dyn Store>,
        legacy: &[Legacy],
        delivery: Delivery,
        metrics: Arc<Metrics>,
    ) -> Self {
        let writers = legacy
            .iter()
            .map(|l| (destination(l.name()), Writers::of(l)))
            .collect();
        let name = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "usher".into()),
            std::process::id(),
            UserId::new()
                .to_string()
                .chars()
                .take(8)
                .collect::<String>()
        );
        Courier {
            store,
            writers,
            delivery,
            metrics,
            name,
            purged_at: std::sync::Mutex::new(None),
        }
    }

    /// This courier's name in the store's claims.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Claims due rows and delivers them; what came of them (nothing claimed: none was due).
    pub async fn round(&self) -> Result<Round, StoreError> {
        let now = Utc::now();
        let until = after(now, self.delivery.claim);
        let rows = self
            .store
            .claim(&self.name, self.delivery.batch, now, until)
            .await?;
        let mut round = Round {
            claimed: rows.len(),
            ..Round::default()
        };
        if rows.is_empty() {
            return Ok(round);
        }
        let outcomes = self.deliver_all(rows).await;
        let mut delivered: HashMap<&str, u64> = HashMap::new();
        let mut ids = Vec::with_capacity(outcomes.len());
        for (row, outcome) in &outcomes {
            match outcome {
                Ok(_) => {
                    ids.push(row.id);
                    let n = delivered.entry(row.destination.as_str()).or_default();
                    *n = n.saturating_add(1);
                }
                Err(reason) => match self.failed(row, reason).await? {
                    Some(true) => round.dead = round.dead.saturating_add(1),
                    Some(false) => round.failed = round.failed.saturating_add(1),
                    None => {}
                },
            }
        }
        let marked = self.store.delivered(&ids, &self.name, Utc::now()).await?;
        round.delivered = usize::try_from(marked).unwrap_or(usize::MAX);
        for (destination, n) in delivered {
            self.metrics.delivery(destination, "delivered", n);
        }
        Ok(round)
    }

    /// Delivers claimed rows: those of a destination with only SQL writes in one legacy
    /// transaction per [`Delivery::concurrency`]-th of them (all applied or none; on failure
    /// each row of that part alone, so one bad row fails only itself), the others one by one,
    /// several at once.
    async fn deliver_all(&self, rows: Vec<OutboxRow>) -> Vec<(OutboxRow, Result<Written, String>)> {
        let mut batched: HashMap<String, Vec<OutboxRow>> = HashMap::new();
        let mut single = Vec::new();
        for row in rows {
            match self.writers.get(&row.destination) {
                Some(Writers {
                    own: Some(_),
                    http: None,
                }) => batched
                    .entry(row.destination.clone())
                    .or_default()
                    .push(row),
                _ => single.push(row),
            }
        }
        let parts = self.delivery.concurrency.max(1);
        let mut groups: Vec<Vec<OutboxRow>> = Vec::new();
        for (_, rows) in batched {
            let size = rows.len().div_ceil(parts).max(1);
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                groups.push(rows.by_ref().take(size).collect());
            }
        }
        groups.extend(single.into_iter().map(|row| vec![row]));
        futures::stream::iter(groups)
            .map(|group| self.deliver_group(group))
            .buffer_unordered(parts)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// A group of one destination's rows in one legacy transaction (a lone row as
    /// [`Courier::deliver`] does it); each row alone when the transaction fails, unless legacy
    /// is unavailable, which fails them all at once.
    async fn deliver_group(
        &self,
        rows: Vec<OutboxRow>,
    ) -> Vec<(OutboxRow, Result<Written, String>)> {
        let mut out = Vec::with_capacity(rows.len());
        let together = match (
            rows.len(),
            rows.first().map(|r| self.writers.get(&r.destination)),
        ) {
            (
                2..,
                Some(Some(Writers {
                    own: Some(source), ..
                })),
            ) => Some(source),
            _ => None,
        };
        if let Some(source) = together {
            let mut writes = Vec::with_capacity(rows.len());
            let mut parsed = Vec::with_capacity(rows.len());
            for row in rows {
                match serde_json::from_value::<LegacyWrite>(row.payload.clone()) {
                    Ok(write) => {
                        writes.push((write, row.idempotency_key.clone()));
                        parsed.push(row);
                    }
                    Err(e) => {
                        let reason = format!("the row's payload is not a write to legacy: {e}");
                        out.push((row, Err(reason)));
                    }
                }
            }
            match source.write_many(&writes).await {
                Ok(written) if written.len() == parsed.len() => {
                    for ((row, written), (write, _)) in parsed.into_iter().zip(written).zip(&writes)
                    {
                        let outcome = match written {
                            Written::NotConfigured => Err(format!(
                                "{} has no writer for {}",
                                row.destination,
                                write.op()
                            )),
                            other => Ok(other),
                        };
                        out.push((row, outcome));
                    }
                }
                // Legacy is down: every row fails at once, none is tried alone.
                Err(e @ SourceError::Unavailable { .. }) => {
                    let reason = e.to_string();
                    out.extend(parsed.into_iter().map(|row| (row, Err(reason.clone()))));
                }
                _ => {
                    for row in parsed {
                        let outcome = self.deliver(&row).await;
                        out.push((row, outcome));
                    }
                }
            }
            return out;
        }
        for row in rows {
            let outcome = self.deliver(&row).await;
            out.push((row, outcome));
        }
        out
    }

    /// Delivers one row; why not, for the row's `last_error` (never a secret: writers' errors
    /// name the record and the operation, not the values).
    async fn deliver(&self, row: &OutboxRow) -> Result<Written, String> {
        let writers = self.writers.get(&row.destination).ok_or_else(|| {
            format!(
                "no legacy source in this configuration writes to {}",
                row.destination
            )
        })?;
        let write: LegacyWrite = serde_json::from_value(row.payload.clone())
            .map_err(|e| format!("the row's payload is not a write to legacy: {e}"))?;
        match writers.apply(&write, &row.idempotency_key).await {
            Ok(Written::NotConfigured) => Err(format!(
                "{} has no writer for {}",
                row.destination,
                write.op()
            )),
            Ok(written) => Ok(written),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Records a failed delivery: due again after the backoff, or dead after the last attempt
    /// (`Some(true)`); `None` when the row's claim had run out and another courier has it.
    async fn failed(&self, row: &OutboxRow, reason: &str) -> Result<Option<bool>, StoreError> {
        let attempt = row.attempts.saturating_add(1);
        let backoff = self.delivery.backoff;
        let pause = backoff
            .backoff(attempt)
            .saturating_add(backoff.jitter_sample());
        let retry_at = after(Utc::now(), pause);
        let max = self.delivery.max_attempts.max(1);
        let dead = attempt >= max;
        tracing::warn!(
            row = row.id,
            user = %row.user,
            kind = %row.kind,
            destination = %row.destination,
            attempt,
            dead,
            error = reason,
            "outbox: delivery failed"
        );
        if self
            .store
            .failed(row.id, &self.name, reason, retry_at, max)
            .await?
        {
            let result = if dead { "dead" } else { "failed" };
            self.metrics.delivery(&row.destination, result, 1);
            return Ok(Some(dead));
        }
        Ok(None)
    }

    /// Delivers until `shutdown`, finishing the round in hand; a store error is logged and the
    /// round tried again after a pause.
    pub async fn run(&self, shutdown: &Shutdown) -> Stopped {
        let worker = Worker {
            name: format!("outbox courier {}", self.name),
            idle: self.delivery.idle,
            backoff: RetryPolicy {
                attempts: 1,
                first: Duration::from_millis(500),
                max: Duration::from_secs(30),
                jitter: Duration::from_millis(250),
            },
        };
        worker
            .run(shutdown, || async {
                let round = self.round().await?;
                if round.claimed > 0 {
                    return Ok::<_, StoreError>(Tick::Busy);
                }
                self.idle().await?;
                Ok(Tick::Idle)
            })
            .await
    }

    /// What a courier does when nothing was due: at most once a minute, the delivered rows
    /// past their keep go ([`Courier::purge`]).
    pub async fn idle(&self) -> Result<(), StoreError> {
        let due = self
            .purged_at
            .lock()
            .map(|at| at.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)))
            .unwrap_or(false);
        if due {
            self.purge().await?;
            if let Ok(mut at) = self.purged_at.lock() {
                *at = Some(std::time::Instant::now());
            }
        }
        Ok(())
    }

    /// Deletes the rows delivered longer ago than [`Delivery::keep_delivered`], a batch at a
    /// time; how many.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let before = chrono::Duration::from_std(self.delivery.keep_delivered)
            .ok()
            .and_then(|keep| Utc::now().checked_sub_signed(keep))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut purged = 0u64;
        loop {
            let n = self.store.purge_delivered(before, 10_000).await?;
            purged = purged.saturating_add(n);
            if n < 10_000 {
                break;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "outbox: delivered rows past their keep deleted");
        }
        Ok(purged)
    }
}

/// What one [`Courier::round`] came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows delivered and recorded so.
    pub delivered: usize,
    /// Rows that failed, to be tried again.
    pub failed: usize,
    /// Rows that failed their last attempt.
    pub dead: usize,
}
