//! The one retry policy.

use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};
use std::time::{Duration, Instant};

/// How often and how patiently an operation is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 0 counts as 1.
    pub attempts: u32,
    /// The pause before the second attempt, doubled before each attempt after it.
    pub first: Duration,
    /// The longest pause, whatever the doubling or a `Retry-After` says.
    pub max: Duration,
    /// Up to this much is added to each pause at random, so that callers that failed together
    /// do not try again together.
    pub jitter: Duration,
}

/// What to do about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The failure is final: give up now.
    Stop,
    /// Try again after the policy's pause.
    Again,
    /// Try again after this long (the other side's `Retry-After`), within the policy's `max`.
    After(Duration),
}

/// Why [`RetryPolicy::run`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp<E> {
    /// An attempt failed in a way not worth retrying.
    Final(E),
    /// Every attempt failed; the last one's error.
    Exhausted {
        /// The last attempt's error.
        last: E,
        /// How many attempts were made.
        attempts: u32,
    },
}

impl<E> GaveUp<E> {
    /// The error of the attempt that ended it, however it ended.
    pub fn into_error(self) -> E {
        match self {
            GaveUp::Final(e) | GaveUp::Exhausted { last: e, .. } => e,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1 before the second attempt), without jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// A random extra pause in `[0, jitter)`, added to each pause.
    pub fn jitter_sample(&self) -> Duration {
        random_below(self.jitter)
    }

    /// Runs `op` until it succeeds, `judge` says an error is final, or the attempts run out.
    /// Before each new attempt `on_retry` hears the error, the number of the attempt that
    /// failed (from 1) and the pause about to be taken.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut op: F,
        mut judge: impl FnMut(&E) -> Retry,
        mut on_retry: impl FnMut(&E, u32, Duration),
    ) -> Result<T, GaveUp<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let attempts = self.attempts.max(1);
        let mut attempt = 1u32;
        loop {
            let error = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let pause = match judge(&error) {
                Retry::Stop => return Err(GaveUp::Final(error)),
                Retry::Again => self.backoff(attempt),
                Retry::After(wait) => wait.min(self.max),
            };
            if attempt >= attempts {
                return Err(GaveUp::Exhausted {
                    last: error,
                    attempts: attempt,
                });
            }
            let pause = pause.saturating_add(random_below(self.jitter));
            on_retry(&error, attempt, pause);
            tokio::time::sleep(pause).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

/// A duration in `[0, bound)`, from the process's random hasher keys (no generator to seed).
fn random_below(bound: Duration) -> Duration {
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let random = RandomState::new().hash_one(Instant::now());
    Duration::from_nanos(random.checked_rem(nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            first: Duration::from_millis(10),
            max: Duration::from_millis(35),
            jitter: Duration::ZERO,
        }
    }

    #[test]
    fn the_pause_doubles_up_to_the_longest() {
        let p = policy(8);
        let ms: Vec<u128> = (1..=5).map(|r| p.backoff(r).as_millis()).collect();
        assert_eq!(ms, [10, 20, 35, 35, 35]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_millis(35));
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        let bound = Duration::from_millis(16);
        assert!((0..1000).all(|_| random_below(bound) < bound));
        assert_eq!(random_below(Duration::ZERO), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn it_retries_until_the_attempts_run_out_and_says_so() {
        let mut calls = 0u32;
        let mut heard = Vec::new();
        let result: Result<(), GaveUp<u32>> = policy(3)
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move { Err(n) }
                },
                |_| Retry::Again,
                |e, attempt, pause| heard.push((*e, attempt, pause.as_millis())),
            )
            .await;
        assert_eq!(
            result,
            Err(GaveUp::Exhausted {
                last: 3,
                attempts: 3
            })
        );
        assert_eq!(heard, [(1, 1, 10), (2, 2, 20)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_error_stops_at_once_and_retry_after_is_honoured_within_the_longest() {
        let mut heard = Vec::new();
        let mut calls = 0u32;
        let result: Result<u32, GaveUp<&str>> = policy(5)
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move {
                        match n {
                            1 => Err("slow down"),
                            2 => Err("much slower"),
                            _ => Err("no"),
                        }
                    }
                },
                |e| match *e {
                    "slow down" => Retry::After(Duration::from_millis(25)),
                    "much slower" => Retry::After(Duration::from_secs(60)),
                    _ => Retry::Stop,
                },
                |_, attempt, pause| heard.push((attempt, pause.as_millis())),
            )
            .await;
        assert_eq!(result, Err(GaveUp::Final("no")));
        assert_eq!(heard, [(1, 25), (2, 35)]);
    }
}
