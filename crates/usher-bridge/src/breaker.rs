//! An outage of legacy is answered as one, and at once: every call to a legacy source is bounded
//! by a timeout, and after a few outage answers in a row a circuit breaker opens. While it is
//! open, logins that need that source get 503 straight away instead of each waiting for a
//! timeout, and the source is probed in the background (its own health check) until it
//! answers; a source without a health check (an auth source) lets one login through per
//! probe interval instead.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use usher_core::{ConfigProblem, Source, SourceError};

/// `[serve.outage]`: how long a legacy call may take, and when the breaker opens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutageConfig {
    /// Milliseconds one call to a legacy source (a lookup, an auth request) may take before
    /// it counts as an outage. Default 3000.
    pub call_timeout_ms: u64,
    /// Outage answers in a row that open the breaker. Default 3.
    pub failures_to_open: u32,
    /// Milliseconds between probes while the breaker is open. Default 2000.
    pub probe_interval_ms: u64,
}

impl Default for OutageConfig {
    fn default() -> Self {
        Self {
            call_timeout_ms: 3000,
            failures_to_open: 3,
            probe_interval_ms: 2000,
        }
    }
}

impl OutageConfig {
    /// Every problem with it, each keyed within `[serve.outage]`, for `usher config check`.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !(1..=600_000).contains(&self.call_timeout_ms) {
            problems.push(ConfigProblem::new(
                "call_timeout_ms",
                "must be within 1..=600000",
            ));
        }
        if self.failures_to_open == 0 {
            problems.push(ConfigProblem::new("failures_to_open", "must be at least 1"));
        }
        if !(1..=600_000).contains(&self.probe_interval_ms) {
            problems.push(ConfigProblem::new(
                "probe_interval_ms",
                "must be within 1..=600000",
            ));
        }
        problems
    }

    pub(crate) fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calls go through; `failures` outage answers in a row so far.
    Closed { failures: u32 },
    /// Calls are refused until `until`; `probing` when a background probe closes it.
    Open { until: Instant, probing: bool },
}

/// One source's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    name: String,
    config: OutageConfig,
    state: Mutex<State>,
}

impl Breaker {
    pub(crate) fn new(name: &str, config: OutageConfig) -> Self {
        Self {
            name: name.to_owned(),
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call may go to the source now. An open breaker without a background probe
    /// lets one call through per probe interval.
    pub(crate) fn admit(&self) -> bool {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => true,
            State::Open { until, probing } => {
                let now = Instant::now();
                if probing || now < until {
                    return false;
                }
                *state = State::Open {
                    until: later(now, self.config.probe_interval()),
                    probing: false,
                };
                true
            }
        }
    }

    /// The source answered (whatever it said, it is there).
    pub(crate) fn success(&self) {
        let mut state = self.state();
        if matches!(*state, State::Open { .. }) {
            tracing::info!(source = %self.name, "legacy source answers again; breaker closed");
        }
        *state = State::Closed { failures: 0 };
    }

    /// The source did not answer. Opens the breaker after enough of these in a row, and then
    /// probes `probe` (if given) in the background until it answers.
    pub(crate) fn failure(self: &Arc<Self>, probe: Option<Arc<dyn Source>>) {
        let mut state = self.state();
        let State::Closed { failures } = *state else {
            return;
        };
        let failures = failures.saturating_add(1);
        if failures < self.config.failures_to_open {
            *state = State::Closed { failures };
            return;
        }
        tracing::warn!(
            source = %self.name,
            failures,
            "legacy source is down; logins that need it are answered 503 at once until it \
             answers a probe"
        );
        *state = State::Open {
            until: later(Instant::now(), self.config.probe_interval()),
            probing: probe.is_some(),
        };
        drop(state);
        if let Some(source) = probe {
            let breaker = Arc::clone(self);
            tokio::spawn(async move { breaker.probe(source).await });
        }
    }

    async fn probe(self: Arc<Self>, source: Arc<dyn Source>) {
        loop {
            tokio::time::sleep(self.config.probe_interval()).await;
            let answered = tokio::time::timeout(self.config.call_timeout(), source.healthcheck())
                .await
                .is_ok_and(|r| !matches!(r, Err(SourceError::Unavailable { .. })));
            if answered {
                self.success();
                return;
            }
            tracing::debug!(source = %self.name, "legacy source still down");
        }
    }
}

fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OutageConfig {
        OutageConfig {
            call_timeout_ms: 100,
            failures_to_open: 2,
            probe_interval_ms: 50,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_in_a_row_and_lets_one_call_through_per_interval() {
        let b = Arc::new(Breaker::new("api", config()));
        b.failure(None);
        b.success(); // a success in between resets the count
        b.failure(None);
        assert!(b.admit(), "one failure in a row does not open it");
        b.failure(None);
        assert!(!b.admit(), "two in a row open it");
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(b.admit(), "one call goes through after the interval");
        assert!(!b.admit(), "and only one");
        b.success();
        assert!(b.admit());
    }

    #[test]
    fn every_problem_is_reported_keyed_within_the_table() {
        assert_eq!(config().validate(), []);
        let bad = OutageConfig {
            call_timeout_ms: 0,
            failures_to_open: 0,
            probe_interval_ms: 600_001,
        };
        let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["call_timeout_ms", "failures_to_open", "probe_interval_ms"]
        );
    }
}
