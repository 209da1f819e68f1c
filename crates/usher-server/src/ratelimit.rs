//! Rate limits on the login and registration endpoints: one per identifier (slows guessing
//! one account's password from many addresses) and one per client address (slows one
//! address guessing many accounts). Both are token buckets (GCRA, via `governor`) keyed in
//! memory; a refused request is answered 429 with `Retry-After`.
//!
//! Limiting per identifier lets anyone slow a user's logins by failing on purpose; the
//! bucket refills in seconds, not hours, so it is a speed bump and never a lockout.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;

/// One limit: `per_minute` sustained, bursts of up to `burst`. `per_minute = 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once before the sustained rate applies.
    pub burst: u32,
}

/// `[serve.rate_limit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Per login identifier (normalized): default 30 a minute, bursts of 10.
    #[serde(default = "default_identifier")]
    pub per_identifier: Limit,
    /// Per client address: default 600 a minute, bursts of 100.
    #[serde(default = "default_address")]
    pub per_address: Limit,
}

fn default_identifier() -> Limit {
    Limit {
        per_minute: 30,
        burst: 10,
    }
}

fn default_address() -> Limit {
    Limit {
        per_minute: 600,
        burst: 100,
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_identifier: default_identifier(),
            per_address: default_address(),
        }
    }
}

impl RateLimitConfig {
    /// No limits (benchmarks, tests of other things).
    pub fn off() -> Self {
        let off = Limit {
            per_minute: 0,
            burst: 0,
        };
        Self {
            per_identifier: off,
            per_address: off,
        }
    }
}

fn quota(limit: Limit) -> Option<Quota> {
    let per_minute = NonZeroU32::new(limit.per_minute)?;
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

/// The limiters.
#[derive(Debug, Clone)]
pub struct RateLimits {
    identifier: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    address: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds, at least 1.
    pub retry_after_seconds: u64,
    /// Which limit: `"identifier"` or `"address"`.
    pub scope: &'static str,
}

impl RateLimits {
    /// Limiters for `config`.
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            identifier: quota(config.per_identifier)
                .map(|q| Arc::new(DefaultKeyedRateLimiter::keyed(q))),
            address: quota(config.per_address).map(|q| Arc::new(DefaultKeyedRateLimiter::keyed(q))),
        }
    }

    /// Spends one request of `address` (if known) and of `identifier` (if given).
    pub fn check(&self, address: Option<IpAddr>, identifier: Option<&str>) -> Result<(), Limited> {
        if let (Some(limiter), Some(address)) = (&self.address, address) {
            limiter
                .check_key(&address)
                .map_err(|n| limited(n.wait_time_from(DefaultClock::default().now()), "address"))?;
        }
        if let (Some(limiter), Some(identifier)) = (&self.identifier, identifier) {
            let key = identifier.trim().to_lowercase();
            limiter.check_key(&key).map_err(|n| {
                limited(
                    n.wait_time_from(DefaultClock::default().now()),
                    "identifier",
                )
            })?;
        }
        Ok(())
    }

    /// Charges the per-identifier limit to the account an identifier resolved to as well, so
    /// that alternating one account's email and username earns no extra attempts.
    pub fn check_account(&self, account: &str) -> Result<(), Limited> {
        if let Some(limiter) = &self.identifier {
            limiter
                .check_key(&format!("account:{account}"))
                .map_err(|n| {
                    limited(
                        n.wait_time_from(DefaultClock::default().now()),
                        "identifier",
                    )
                })?;
        }
        Ok(())
    }

    /// Forgets keys whose buckets are full again, so memory follows recent traffic. The server
    /// calls this every minute.
    pub fn sweep(&self) {
        if let Some(l) = &self.identifier {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.address {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

fn limited(wait: Duration, scope: &'static str) -> Limited {
    let mut seconds = wait.as_secs();
    if wait.subsec_nanos() > 0 || seconds == 0 {
        seconds = seconds.saturating_add(1);
    }
    Limited {
        retry_after_seconds: seconds,
        scope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_is_refused_after_its_burst_with_a_retry_after() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_identifier: Limit {
                per_minute: 6,
                burst: 3,
            },
            per_address: Limit {
                per_minute: 0,
                burst: 0,
            },
        });
        for _ in 0..3 {
            assert_eq!(limits.check(None, Some("Ann@Example.com")), Ok(()));
        }
        // Same identifier in another case: the same bucket.
        let refused = limits.check(None, Some(" ann@example.com"));
        let Err(refused) = refused else {
            unreachable!("the fourth attempt within the burst must be refused: {refused:?}")
        };
        assert_eq!(refused.scope, "identifier");
        // 6 a minute: one token every 10 s.
        assert!(
            (1..=10).contains(&refused.retry_after_seconds),
            "{refused:?}"
        );
        // Another identifier is unaffected.
        assert_eq!(limits.check(None, Some("bo@example.com")), Ok(()));
    }

    #[test]
    fn an_address_is_refused_after_its_burst() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_identifier: Limit {
                per_minute: 0,
                burst: 0,
            },
            per_address: Limit {
                per_minute: 60,
                burst: 2,
            },
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(limits.check(Some(a), Some("x")).is_ok());
        assert!(limits.check(Some(a), Some("y")).is_ok());
        assert_eq!(
            limits.check(Some(a), Some("z")).map_err(|l| l.scope),
            Err("address")
        );
        assert!(limits.check(Some(b), Some("z")).is_ok());
        limits.sweep();
    }
}
