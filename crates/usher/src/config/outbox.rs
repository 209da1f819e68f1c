//! `[outbox]`: how the writes owed to legacy are delivered, by `usher serve` and `usher worker`.

use std::time::Duration;

use serde::Deserialize;
use usher_core::ConfigProblem;
use usher_runtime::RetryPolicy;
use usher_server::Delivery;

/// `[outbox]`.
///
/// ```toml
/// [outbox]
/// deliver_in_serve = true     # each `usher serve` delivers too (else only `usher worker`s)
/// batch = 256                 # rows claimed at a time
/// concurrency = 16            # rows of a claim delivered at once
/// claim_seconds = 60          # a stopped courier's rows go to another after this
/// max_attempts = 12           # then the row is dead, kept for `usher outbox retry|drop`
/// first_retry_ms = 1000       # the pause after the first failure, doubled after each next
/// max_retry_seconds = 3600    # the longest pause
/// keep_delivered_hours = 168  # delivered rows are deleted after this
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    #[serde(default = "yes")]
    pub deliver_in_serve: bool,
    #[serde(default = "default_batch")]
    pub batch: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_claim_seconds")]
    pub claim_seconds: u64,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_first_retry_ms")]
    pub first_retry_ms: u64,
    #[serde(default = "default_max_retry_seconds")]
    pub max_retry_seconds: u64,
    #[serde(default = "default_keep_delivered_hours")]
    pub keep_delivered_hours: u64,
}

fn yes() -> bool {
    true
}

fn default_batch() -> u32 {
    Delivery::default().batch
}

fn default_concurrency() -> usize {
    Delivery::default().concurrency
}

fn default_claim_seconds() -> u64 {
    Delivery::default().claim.as_secs()
}

fn default_max_attempts() -> u32 {
    Delivery::default().max_attempts
}

fn default_first_retry_ms() -> u64 {
    u64::try_from(Delivery::default().backoff.first.as_millis()).unwrap_or(1000)
}

fn default_max_retry_seconds() -> u64 {
    Delivery::default().backoff.max.as_secs()
}

fn default_keep_delivered_hours() -> u64 {
    Delivery::default().keep_delivered.as_secs() / 3600
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            deliver_in_serve: true,
            batch: default_batch(),
            concurrency: default_concurrency(),
            claim_seconds: default_claim_seconds(),
            max_attempts: default_max_attempts(),
            first_retry_ms: default_first_retry_ms(),
            max_retry_seconds: default_max_retry_seconds(),
            keep_delivered_hours: default_keep_delivered_hours(),
        }
    }
}

impl OutboxConfig {
    /// Every problem, each keyed within `[outbox]`.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut within = |key: &str, value: u64, low: u64, high: u64| {
            if !(low..=high).contains(&value) {
                problems.push(ConfigProblem::new(
                    key,
                    format!("must be from {low} to {high}"),
                ));
            }
        };
        within("batch", u64::from(self.batch), 1, 10_000);
        within(
            "concurrency",
            u64::try_from(self.concurrency).unwrap_or(u64::MAX),
            1,
            256,
        );
        within("claim_seconds", self.claim_seconds, 1, 86_400);
        within("max_attempts", u64::from(self.max_attempts), 1, 1_000);
        within("first_retry_ms", self.first_retry_ms, 1, 86_400_000);
        within("max_retry_seconds", self.max_retry_seconds, 1, 7 * 86_400);
        within(
            "keep_delivered_hours",
            self.keep_delivered_hours,
            0,
            24 * 366,
        );
        problems
    }

    /// The courier's settings.
    pub fn delivery(&self) -> Delivery {
        let first = Duration::from_millis(self.first_retry_ms);
        Delivery {
            batch: self.batch,
            concurrency: self.concurrency,
            claim: Duration::from_secs(self.claim_seconds),
            max_attempts: self.max_attempts,
            backoff: RetryPolicy {
                attempts: self.max_attempts,
                first,
                max: Duration::from_secs(self.max_retry_seconds).max(first),
                // Up to half the first pause, so couriers that failed together spread out.
                jitter: first.checked_div(2).unwrap_or_default(),
            },
            keep_delivered: Duration::from_secs(self.keep_delivered_hours.saturating_mul(3600)),
            ..Delivery::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_bad_value_is_named() {
        assert_eq!(OutboxConfig::default().validate(), []);
        let bad: OutboxConfig = toml::from_str(
            "batch = 0\nconcurrency = 0\nclaim_seconds = 0\nmax_attempts = 0\nfirst_retry_ms = 0\nmax_retry_seconds = 0",
        )
        .unwrap();
        let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "batch",
                "concurrency",
                "claim_seconds",
                "max_attempts",
                "first_retry_ms",
                "max_retry_seconds"
            ]
        );
    }

    #[test]
    fn the_delivery_backs_off_from_the_first_pause_to_the_longest() {
        let config: OutboxConfig =
            toml::from_str("first_retry_ms = 200\nmax_retry_seconds = 1").unwrap();
        let d = config.delivery();
        assert_eq!(d.backoff.backoff(1), Duration::from_millis(200));
        assert_eq!(d.backoff.backoff(3), Duration::from_millis(800));
        assert_eq!(d.backoff.backoff(9), Duration::from_secs(1));
        assert_eq!(d.backoff.jitter, Duration::from_millis(100));
    }
}
