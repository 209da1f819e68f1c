//! Progress reporting, decoupled from how it is drawn.

use std::time::Duration;

use usher_store::Counters;

/// Receives a job's progress. Called from worker tasks: implementations must be cheap.
pub trait Observer: Send + Sync {
    /// The job starts: `total` records in the source if known, `resumed` already done by
    /// earlier runs (from the checkpoints).
    fn started(&self, total: Option<u64>, resumed: Counters);
    /// One chunk was committed (or, in a dry run, read and mapped).
    fn chunk(&self, delta: Counters);
    /// A transient failure; the engine waits `wait` and tries again.
    fn retrying(&self, what: &str, attempt: u32, wait: Duration);
}

/// An observer that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {
    fn started(&self, _: Option<u64>, _: Counters) {}
    fn chunk(&self, _: Counters) {}
    fn retrying(&self, _: &str, _: u32, _: Duration) {}
}
