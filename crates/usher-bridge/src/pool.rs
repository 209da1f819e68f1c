//! The bounded pool that password hashing runs on.
//!
//! Hashing is deliberately slow CPU work. Run on the async threads, it would stall every other
//! request; queued without bound, a burst of logins would pile up until every one of them
//! times out. So `workers` dedicated threads run hashes (one each at a time), at most `queue`
//! more wait, and anything beyond that is refused at once with [`PoolError::Busy`] — which the
//! bridge answers with 503 and `Retry-After`, so clients back off instead.
//!
//! The workers are long-lived threads taking jobs from one queue. Under load a worker that
//! finishes a hash takes the next one at once, without sleeping: handing each job to a fresh
//! wake-up of a blocking thread (`spawn_blocking`) let the scheduler stack two hashes on one
//! core while the other sat idle, which cost a sixth of the throughput on two cores. Each
//! worker also keeps its Argon2 memory between hashes (see usher-hash).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use tokio::sync::{Semaphore, oneshot};

/// Why a job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the hashing pool is full")]
    Busy,
    /// The job panicked or the pool is shutting down.
    #[error("the hashing job failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// Bounded blocking work: `workers` threads, `queue` jobs waiting, the rest refused. Clones
/// share the threads, which end when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct HashPool {
    admitted: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    /// A pool of `workers` threads (at least one) with `queue` more jobs waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..workers {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("usher-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = receiver
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break, // every sender is gone: the pool was dropped
                        }
                    }
                });
            if let Err(e) = spawned {
                // Fewer workers than asked (the OS refused a thread): the pool still works
                // as long as one started; `run` reports it if none did.
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Self {
            admitted: Arc::new(Semaphore::new(workers.saturating_add(queue))),
            jobs,
        }
    }

    /// One worker per core, and as many waiting.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, cores)
    }

    /// Runs `job` on a worker when one is free, or refuses at once when the workers and the
    /// queue are full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PoolError::Busy)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(job)));
        });
        self.jobs
            .send(job)
            .map_err(|_| PoolError::Failed("no hashing thread is running".to_owned()))?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(PoolError::Failed("the job panicked".to_owned())),
            Err(_) => Err(PoolError::Failed("the hashing thread stopped".to_owned())),
        }
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
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let job = |rx: Arc<Mutex<mpsc::Receiver<()>>>,
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_fails_alone_and_the_workers_carry_on() {
        let pool = HashPool::new(1, 4);
        let failed = pool
            .run(|| -> u32 { panic!("a bug in a hash format") })
            .await;
        assert!(matches!(failed, Err(PoolError::Failed(_))), "{failed:?}");
        for i in 0..3 {
            assert_eq!(pool.run(move || i * 2).await, Ok(i * 2));
        }
        // Every job ran on the pool's one named thread, not on the async threads.
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("usher-hash-0"));
    }
}
