//! The engine's error: what stopped a job, with the source or store error inside.

use usher_core::SourceError;
use usher_store::StoreError;

/// Why a job stopped. Everything committed before stays committed; re-running resumes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The source failed, after retries when the failure was transient.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The store failed, after retries when the failure was transient.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The options cannot work.
    #[error("invalid options: {0}")]
    Options(String),
    /// Writing or reading the job's files failed (names the file).
    #[error("{0}")]
    Io(String),
    /// A worker task died (a bug: the engine does not panic on input).
    #[error("a backfill worker stopped unexpectedly: {0}")]
    Worker(String),
}
