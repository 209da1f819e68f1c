//! The backfill: every legacy record ends up migrated, quarantined with a reason, or (until
//! the job reaches it) not yet migrated — never half-written, never written twice.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use usher_core::{ConfigProblem, KeyRange, LegacyRecord, LinkConfig, Mapper, Source, config};
use usher_runtime::{Pacer, Retry, RetryPolicy};
use usher_store::{
    Checkpoint, ChunkUser, ChunkWrite, ConflictPolicy, Counters, Rejected, Store, StoreError,
};

use crate::partition::{self, Partition};
use crate::{EngineError, Observer};

/// How a backfill runs.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// The job name; checkpoints are per job, source and partition. Default `backfill`.
    pub job: String,
    /// Records per chunk: one read, one transaction. Default 1000.
    pub batch_size: usize,
    /// Records per second read from the source, across all partitions; unlimited if `None`.
    pub rate: Option<NonZeroU32>,
    /// Key-range partitions worked concurrently (integer keys only). Default 1. A resumed job
    /// keeps the partitions it started with.
    pub concurrency: u32,
    /// What to do with records already migrated.
    pub policy: ConflictPolicy,
    /// Attempts per read or write before a transient failure stops the job. Default 8.
    pub max_attempts: u32,
    /// First wait between attempts, doubled each time up to 30 s. Default 250 ms.
    pub retry_base: Duration,
    /// Link records whose address a user of another source already holds (`[link]`), instead
    /// of quarantining them as duplicates. `None`: never link.
    pub link: Option<Arc<LinkConfig>>,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            job: "backfill".to_owned(),
            batch_size: 1000,
            rate: None,
            concurrency: 1,
            policy: ConflictPolicy::Skip,
            max_attempts: 8,
            retry_base: Duration::from_millis(250),
            link: None,
        }
    }
}

impl BackfillOptions {
    /// Every problem with the options, each keyed as `[backfill]` in usher.toml names it
    /// (`batch_size`, `concurrency`); `usher config check` reports them, and a job refuses to
    /// start with any.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !(1..=100_000).contains(&self.batch_size) {
            problems.push(ConfigProblem::new(
                "batch_size",
                format!("{} is outside 1..=100000", self.batch_size),
            ));
        }
        if !(1..=64).contains(&self.concurrency) {
            problems.push(ConfigProblem::new(
                "concurrency",
                format!("{} is outside 1..=64", self.concurrency),
            ));
        }
        if self.max_attempts == 0 {
            problems.push(ConfigProblem::new("max_attempts", "must be at least 1"));
        }
        problems
    }

    /// `Ok` when [`validate`](Self::validate) finds nothing.
    pub(crate) fn checked(&self) -> Result<(), EngineError> {
        let problems = self.validate();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Options(config::one_line(&problems)))
        }
    }
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// This run's work.
    pub run: Counters,
    /// What earlier runs had already done (from the checkpoints at start).
    pub resumed: Counters,
    /// Partitions worked (including ones already finished).
    pub partitions: usize,
    /// Transactions retried after losing a race, plus transient failures retried.
    pub retries: u64,
    /// Wall time of this run.
    pub elapsed: Duration,
}

impl BackfillReport {
    /// Everything done for this job and source so far, earlier runs included.
    pub fn total(&self) -> Counters {
        add(self.run, self.resumed)
    }
}

pub(crate) fn add(a: Counters, b: Counters) -> Counters {
    Counters {
        read: a.read.saturating_add(b.read),
        migrated: a.migrated.saturating_add(b.migrated),
        skipped: a.skipped.saturating_add(b.skipped),
        updated: a.updated.saturating_add(b.updated),
        quarantined: a.quarantined.saturating_add(b.quarantined),
        linked: a.linked.saturating_add(b.linked),
        displaced: a.displaced.saturating_add(b.displaced),
    }
}

/// `a - b`, field by field (never below zero).
fn sub(a: Counters, b: Counters) -> Counters {
    Counters {
        read: a.read.saturating_sub(b.read),
        migrated: a.migrated.saturating_sub(b.migrated),
        skipped: a.skipped.saturating_sub(b.skipped),
        updated: a.updated.saturating_sub(b.updated),
        quarantined: a.quarantined.saturating_sub(b.quarantined),
        linked: a.linked.saturating_sub(b.linked),
        displaced: a.displaced.saturating_sub(b.displaced),
    }
}

/// Shared by the partitions of one run.
struct Shared {
    source: Arc<dyn Source>,
    mapper: Arc<Mapper>,
    store: Arc<dyn Store>,
    options: BackfillOptions,
    observer: Arc<dyn Observer>,
    limiter: Option<Pacer>,
}

/// Runs (or resumes) a backfill of `source` into `store`.
///
/// Each chunk's users, ledger rows, quarantine entries and checkpoint are written in one
/// transaction, so a crash at any point loses at most the chunk in flight, which the next run
/// reads again; the ledger's unique (source, legacy id) makes the replay a no-op.
pub async fn backfill(
    source: Arc<dyn Source>,
    mapper: Arc<Mapper>,
    store: Arc<dyn Store>,
    options: BackfillOptions,
    observer: Arc<dyn Observer>,
) -> Result<BackfillReport, EngineError> {
    options.checked()?;
    let started = Instant::now();
    let name = source.name().to_owned();
    let limiter = options.rate.map(|rate| pacer(rate, options.batch_size));
    let shared = Arc::new(Shared {
        source,
        mapper,
        store,
        options,
        observer,
        limiter,
    });

    let checkpoints = plan(&shared, &name).await?;
    let resumed = checkpoints
        .iter()
        .fold(Counters::default(), |acc, c| add(acc, c.counters));
    let total = retrying(&shared, "counting source records", || shared.source.count())
        .await
        .unwrap_or(None);
    shared.observer.started(total, resumed);
    shared
        .store
        .record_event(
            "backfill.started",
            &name,
            &serde_json::json!({
                "job": shared.options.job, "partitions": checkpoints.len(), "resumed": resumed,
            }),
        )
        .await?;

    let mut tasks = JoinSet::new();
    // A finished open-ended partition is read again from its cursor: rows added to the source
    // since (with higher keys) are picked up by simply re-running the job.
    for cp in checkpoints
        .iter()
        .filter(|c| !c.done || c.until.is_none())
        .cloned()
    {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move { run_partition(shared, cp).await });
    }
    let mut run = Counters::default();
    let mut retries = 0u64;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((counters, r))) => {
                run = add(run, counters);
                retries = retries.saturating_add(r);
            }
            Ok(Err(e)) => {
                // Stop the other partitions: what they committed stays committed.
                tasks.abort_all();
                first_error.get_or_insert(e);
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                tasks.abort_all();
                first_error.get_or_insert(EngineError::Worker(e.to_string()));
            }
        }
    }
    if let Some(e) = first_error {
        let _ = shared
            .store
            .record_event(
                "backfill.failed",
                &name,
                &serde_json::json!({
                    "job": shared.options.job, "run": run, "error": e.to_string(),
                }),
            )
            .await;
        return Err(e);
    }
    // This run's share, from the checkpoints: they also count what the chunks' own outcomes
    // cannot (users that gave way to a record with a lower key in another partition).
    let finished = shared
        .store
        .checkpoints(&shared.options.job, &name)
        .await?
        .iter()
        .fold(Counters::default(), |acc, c| add(acc, c.counters));
    let report = BackfillReport {
        run: sub(finished, resumed),
        resumed,
        partitions: checkpoints.len(),
        retries,
        elapsed: started.elapsed(),
    };
    shared
        .store
        .record_event(
            "backfill.finished",
            &name,
            &serde_json::json!({
                "job": shared.options.job, "run": report.run, "total": report.total(),
                "seconds": report.elapsed.as_secs_f64(),
            }),
        )
        .await?;
    Ok(report)
}

/// The partitions of this job: the ones an earlier run planned (resuming keeps them, whatever
/// `--concurrency` says now), or a fresh plan stored atomically before any work starts.
async fn plan(shared: &Shared, name: &str) -> Result<Vec<Checkpoint>, EngineError> {
    let job = &shared.options.job;
    let existing = shared.store.checkpoints(job, name).await?;
    if !existing.is_empty() {
        return Ok(existing);
    }
    let bounds = if shared.options.concurrency > 1 {
        retrying(shared, "reading the source's key bounds", || {
            shared.source.key_bounds()
        })
        .await?
    } else {
        None
    };
    let proposal: Vec<Partition> = partition::plan(bounds, shared.options.concurrency);
    let ranges: Vec<(u32, KeyRange)> = proposal.into_iter().map(|p| (p.number, p.range)).collect();
    Ok(shared.store.plan_partitions(job, name, &ranges).await?)
}

/// A chunk read and mapped, ready to write.
struct Mapped {
    write: ChunkWrite,
    delta_read: u64,
}

/// Reads and maps chunks of one partition, in order, into `tx`; stops after the last one.
async fn read_partition(
    shared: Arc<Shared>,
    cp: Checkpoint,
    tx: mpsc::Sender<Mapped>,
) -> Result<(), EngineError> {
    let name = shared.source.name().to_owned();
    let mut after = cp.cursor.clone();
    loop {
        if let Some(limiter) = &shared.limiter {
            limiter
                .take(u32::try_from(shared.options.batch_size).unwrap_or(u32::MAX))
                .await;
        }
        let range = KeyRange {
            after: after.clone(),
            until: cp.until.clone(),
        };
        let records = retrying(&shared, "reading the source", || {
            shared.source.read(&range, shared.options.batch_size)
        })
        .await?;
        let done = records.len() < shared.options.batch_size;
        let last = records.last().map(|r| r.key.clone());
        let read = u64::try_from(records.len()).unwrap_or(u64::MAX);
        let mapper = Arc::clone(&shared.mapper);
        let source_name = name.clone();
        // Mapping is CPU work (dates, phones, hash parsing, jq): off the async threads.
        let (users, rejected) =
            tokio::task::spawn_blocking(move || map_chunk(&mapper, &source_name, &records))
                .await
                .map_err(|e| EngineError::Worker(e.to_string()))?;
        let mut write = ChunkWrite::new(shared.options.job.clone(), name.clone(), cp.partition);
        write.users = users;
        write.rejected = rejected;
        write.read = read;
        write.cursor = last.clone().or_else(|| after.clone());
        write.done = done;
        write.policy = shared.options.policy;
        if tx
            .send(Mapped {
                write,
                delta_read: read,
            })
            .await
            .is_err()
        {
            return Ok(()); // the writer stopped; its error is reported there
        }
        if done {
            return Ok(());
        }
        after = last;
    }
}

/// Maps one chunk: valid users, and rejected records with the reason.
pub(crate) fn map_chunk(
    mapper: &Mapper,
    source: &str,
    records: &[LegacyRecord],
) -> (Vec<ChunkUser>, Vec<Rejected>) {
    let now = Utc::now();
    let mut users = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    for record in records {
        match mapper.map(source, record, now) {
            Ok(user) => users.push(ChunkUser {
                key: record.key.clone(),
                // Only a mapped legacy `updated_at` can say the legacy record is newer.
                legacy_updated_at: mapper.maps_updated_at().then_some(user.updated_at),
                checksum: record.checksum(),
                user,
            }),
            Err(errors) => rejected.push(Rejected {
                key: record.key.clone(),
                field: errors.first_field().map(str::to_owned),
                reason: errors.reason(),
                record: mapper.scrub(record),
            }),
        }
    }
    (users, rejected)
}

/// Works one partition: a reader task maps chunks ahead while this task writes them in
/// order, so reading, mapping and writing overlap while checkpoints stay in key order.
async fn run_partition(
    shared: Arc<Shared>,
    cp: Checkpoint,
) -> Result<(Counters, u64), EngineError> {
    let (tx, mut rx) = mpsc::channel::<Mapped>(2);
    let reader = tokio::spawn(read_partition(Arc::clone(&shared), cp, tx));
    let mut counters = Counters::default();
    let mut retries = 0u64;
    while let Some(mut mapped) = rx.recv().await {
        // Linking happens in the chunk's own transaction, by the store.
        mapped.write.link.clone_from(&shared.options.link);
        let outcome = retrying(&shared, "writing a chunk", || {
            shared.store.write_chunk(&mapped.write)
        })
        .await?;
        retries = retries.saturating_add(u64::from(outcome.retries));
        let delta = outcome.counters(mapped.delta_read);
        counters = add(counters, delta);
        shared.observer.chunk(delta);
    }
    reader
        .await
        .map_err(|e| EngineError::Worker(e.to_string()))??;
    Ok((counters, retries))
}

/// Whether a failure is worth retrying: the other side may come back.
pub(crate) trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for usher_core::SourceError {
    fn transient(&self) -> bool {
        matches!(self, usher_core::SourceError::Unavailable { .. })
    }
}

impl Transient for StoreError {
    fn transient(&self) -> bool {
        self.is_transient()
    }
}

/// Runs `op`, retrying transient failures with exponential backoff.
async fn retrying<T, E, F, Fut>(shared: &Shared, what: &str, op: F) -> Result<T, EngineError>
where
    E: Transient + Into<EngineError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry(&shared.options, shared.observer.as_ref(), what, op).await
}

/// `--rate`'s pacer: a chunk takes `batch_size` units at once, so the burst holds one chunk,
/// and no more (a bigger one would let the start of a run go faster than asked).
pub(crate) fn pacer(rate: NonZeroU32, batch_size: usize) -> Pacer {
    let burst = NonZeroU32::new(u32::try_from(batch_size).unwrap_or(u32::MAX)).unwrap_or(rate);
    Pacer::new(rate, burst)
}

/// Runs `op`, retrying transient failures with exponential backoff up to 30 s between tries.
pub(crate) async fn retry<T, E, F, Fut>(
    options: &BackfillOptions,
    observer: &dyn Observer,
    what: &str,
    op: F,
) -> Result<T, EngineError>
where
    E: Transient + Into<EngineError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let policy = RetryPolicy {
        attempts: options.max_attempts,
        first: options.retry_base,
        max: Duration::from_secs(30),
        jitter: options.retry_base.checked_div(4).unwrap_or_default(),
    };
    policy
        .run(
            op,
            |e: &E| {
                if e.transient() {
                    Retry::Again
                } else {
                    Retry::Stop
                }
            },
            |_, attempt, wait| observer.retrying(what, attempt, wait),
        )
        .await
        .map_err(|gave_up| gave_up.into_error().into())
}
