//! The one pacer: work at a steady rate across every task that shares it.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Paces work to `rate` units a second across every task holding it, in takes of up to
/// `burst` units (a chunk of records, say).
#[derive(Debug)]
pub struct Pacer {
    limiter: DefaultDirectRateLimiter,
    burst: NonZeroU32,
}

impl Pacer {
    /// A pacer that starts empty: the first take waits for its share like every other, so `N`
    /// units take `N / rate` seconds, not `(N - burst) / rate`.
    pub fn new(rate: NonZeroU32, burst: NonZeroU32) -> Self {
        let limiter = RateLimiter::direct(Quota::per_second(rate).allow_burst(burst));
        let _ = limiter.check_n(burst);
        Self { limiter, burst }
    }

    /// Waits until `n` more units may go (at most the burst; 0 does not wait).
    pub async fn take(&self, n: u32) {
        if let Some(n) = NonZeroU32::new(n.min(self.burst.get())) {
            // `n` never exceeds the burst, so this cannot fail.
            let _ = self.limiter.until_n_ready(n).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[tokio::test]
    async fn units_go_no_faster_than_the_rate_from_the_first_take() {
        let nz = |n| NonZeroU32::new(n).unwrap();
        let pacer = Pacer::new(nz(200), nz(20));
        let started = Instant::now();
        // 100 units at 200/s: half a second, the first 20 included. A loaded machine can only
        // make it slower, so only the lower bound is checked.
        for _ in 0..5 {
            pacer.take(20).await;
        }
        assert!(
            started.elapsed() >= Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
        // A take larger than the burst is one burst.
        let started = Instant::now();
        pacer.take(1000).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
