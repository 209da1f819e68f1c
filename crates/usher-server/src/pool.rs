//! The bounded pool that password hashing runs on.
//!
//! Hashing is deliberately slow CPU work. Run on the async threads, it would stall every other
//! request; queued without bound, a burst of logins would pile up until every one of them
//! times out. So at most `workers` hashes run at once (on tokio's blocking threads), at most
//! `queue` more wait, and anything beyond that is refused at once with [`PoolError::Busy`] —
//! which the bridge answers with 503 and `Retry-After`, so clients back off instead.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why a job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the hashing pool is full")]
    Busy,
    /// The job panicked or the runtime is shutting down.
    #[error("the hashing job failed: {0}")]
    Failed(String),
}

/// Bounded blocking work: `workers` at once, `queue` waiting, the rest refused.
#[derive(Debug, Clone)]
pub struct HashPool {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl HashPool {
    /// A pool running `workers` jobs at once (at least one) with `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers.saturating_add(queue))),
            running: Arc::new(Semaphore::new(workers)),
        }
    }

    /// One worker per core, and as many waiting.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, cores)
    }

    /// Runs `job` on a blocking thread when a worker is free, or refuses at once when the
    /// pool and its queue are full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PoolError::Busy)?;
        let _running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| PoolError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| PoolError::Failed(e.to_string()))
    }

    /// Jobs admitted now (running or waiting).
    pub fn in_use(&self, capacity: usize) -> usize {
        capacity.saturating_sub(self.admitted.available_permits())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_refuses_at_once_and_admits_again_when_work_ends() {
        let pool = HashPool::new(1, 1);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let job = |rx: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
                   running: Arc<AtomicUsize>,
                   peak: Arc<AtomicUsize>| {
            move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                rx.lock().unwrap().recv().unwrap();
                running.fetch_sub(1, Ordering::SeqCst);
                7
            }
        };
        // One runs, one waits.
        let first = tokio::spawn({
            let pool = pool.clone();
            let j = job(release_rx.clone(), running.clone(), peak.clone());
            async move { pool.run(j).await }
        });
        let second = tokio::spawn({
            let pool = pool.clone();
            let j = job(release_rx.clone(), running.clone(), peak.clone());
            async move { pool.run(j).await }
        });
        while pool.in_use(2) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The third is refused without waiting.
        let refused = tokio::time::timeout(Duration::from_secs(1), pool.run(|| 0))
            .await
            .expect("a full pool answers at once");
        assert_eq!(refused, Err(PoolError::Busy));

        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(7));
        assert_eq!(second.await.unwrap(), Ok(7));
        assert_eq!(
            peak.load(Ordering::SeqCst),
            1,
            "only one worker may run at once"
        );
        assert_eq!(pool.run(|| 3).await, Ok(3));
    }
}
