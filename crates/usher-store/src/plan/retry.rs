//! The store's retries: a write that loses a race with a concurrent writer, or meets a
//! transient error, runs again after a short jittered pause.

use std::future::Future;

use usher_runtime::{GaveUp, Retry, RetryPolicy};

use crate::error::{Result, StoreError};
use crate::model::{ChunkOutcome, ChunkWrite};

/// How many transactions `write_chunk` tries before giving up on a contended chunk.
pub(crate) const MAX_ATTEMPTS: u32 = 12;

/// Runs one `write_chunk` transaction until it commits. `attempt` returns `Ok(None)` when it
/// rolled back because a concurrent writer won a race; transient database errors (deadlock,
/// serialization failure, unique violation on PostgreSQL, busy on SQLite) also retry, after a
/// short jittered pause so two colliding writers do not collide again in step.
pub(crate) async fn with_retries<F, Fut>(chunk: &ChunkWrite, attempt: F) -> Result<ChunkOutcome>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<ChunkOutcome>>>,
{
    let mut retries = 0u32;
    let result = contended(attempt, |e, _, _| {
        retries = retries.saturating_add(1);
        match e {
            Attempt::LostRace => {
                tracing::debug!(source = %chunk.source, partition = chunk.partition, retries, "Chunk lost a race, retrying");
            }
            Attempt::Failed(e) => {
                tracing::debug!(source = %chunk.source, partition = chunk.partition, retries, error = %e, "Chunk hit a transient error, retrying");
            }
        }
    })
    .await;
    match result {
        Ok(mut outcome) => {
            outcome.retries = retries;
            Ok(outcome)
        }
        Err(GaveUp::Final(Attempt::Failed(e))) => Err(e),
        Err(GaveUp::Final(Attempt::LostRace) | GaveUp::Exhausted { .. }) => {
            Err(StoreError::Contention {
                source_name: chunk.source.clone(),
                partition: chunk.partition,
                attempts: MAX_ATTEMPTS,
            })
        }
    }
}

/// Runs one single-user write transaction (`op` on `subject`) until it commits, like
/// [`with_retries`]: `attempt` returns `Ok(None)` when it rolled back because a concurrent
/// writer won a race (its retry sees the winner's rows), and transient errors retry too.
pub(crate) async fn retry_write<T, F, Fut>(op: &'static str, subject: &str, attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let result = contended(attempt, |e, retries, _| match e {
        Attempt::LostRace => {
            tracing::debug!(op, subject, retries, "Write lost a race, retrying");
        }
        Attempt::Failed(e) => {
            tracing::debug!(op, subject, retries, error = %e, "Write hit a transient error, retrying");
        }
    })
    .await;
    match result {
        Ok(done) => Ok(done),
        Err(GaveUp::Final(Attempt::Failed(e))) => Err(e),
        Err(GaveUp::Final(Attempt::LostRace) | GaveUp::Exhausted { .. }) => Err(StoreError::Busy {
            op,
            subject: subject.to_owned(),
            attempts: MAX_ATTEMPTS,
        }),
    }
}

/// Why one attempt at a contended write did not commit.
enum Attempt {
    /// It rolled back because a concurrent writer won a race.
    LostRace,
    /// It failed.
    Failed(StoreError),
}

/// The store's retries: up to [`MAX_ATTEMPTS`] transactions, after short jittered pauses (2 ms
/// doubling to 128 ms, plus up to 16 ms) so two colliding writers do not collide again in
/// step. Lost races and transient errors retry; other errors are final.
async fn contended<T, F, Fut>(
    mut attempt: F,
    on_retry: impl FnMut(&Attempt, u32, std::time::Duration),
) -> std::result::Result<T, GaveUp<Attempt>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    const POLICY: RetryPolicy = RetryPolicy {
        attempts: MAX_ATTEMPTS,
        first: std::time::Duration::from_millis(2),
        max: std::time::Duration::from_millis(128),
        jitter: std::time::Duration::from_millis(16),
    };
    POLICY
        .run(
            || {
                let fut = attempt();
                async move {
                    match fut.await {
                        Ok(Some(done)) => Ok(done),
                        Ok(None) => Err(Attempt::LostRace),
                        Err(e) => Err(Attempt::Failed(e)),
                    }
                }
            },
            |e| match e {
                Attempt::LostRace => Retry::Again,
                Attempt::Failed(e) if e.is_transient() => Retry::Again,
                Attempt::Failed(_) => Retry::Stop,
            },
            on_retry,
        )
        .await
}
