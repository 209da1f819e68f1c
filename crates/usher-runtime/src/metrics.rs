//! What `/metrics` exposes, in the Prometheus text format (via `prometheus-client`, the
//! Prometheus project's own Rust client).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `usher_logins_total` | `outcome` | every login answer: `store`, `store_upgraded`, `lazy_migrated`, `already_migrated`, `invalid_credentials`, `disabled`, `rate_limited`, `busy`, `legacy_unavailable`, `legacy_misconfigured`, `unmigratable`, `error` |
//! | `usher_verify_seconds` | `kind` | time on the pool per hash job: `store`, `legacy`, `dummy`, `rehash` |
//! | `usher_migrations_total` | `source` | users migrated by a login |
//! | `usher_legacy_errors_total` | `source` | legacy lookups or auth calls that failed |
//! | `usher_legacy_misconfigured_total` | `source` | of those, legacy refusing usher's own credentials (a 403 to its token) or another misconfiguration |
//! | `usher_write_back_total` | `source`, `result` | marks written back to legacy (`ok`, `error`) |
//! | `usher_registrations_total` | `outcome` | `POST /v1/users` answers |
//! | `usher_hook_requests_total` | `provider`, `outcome` | identity providers' hook calls: `verified`, `refused`, `found`, `not_found`, `unauthorized`, `malformed`, `rate_limited`, `unavailable`, `over_budget` |

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabel {
    provider: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    destination: String,
    result: &'static str,
}

type Histograms = Family<Kind, Histogram, fn() -> Histogram>;

fn verify_histogram() -> Histogram {
    // 0.5 ms .. ~8 s: a cheap digest to a very slow scrypt.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The server's counters and histograms, and the registry they are exposed from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    logins: Family<Outcome, Counter>,
    verify: Histograms,
    migrations: Family<SourceLabel, Counter>,
    legacy_errors: Family<SourceLabel, Counter>,
    legacy_misconfigured: Family<SourceLabel, Counter>,
    deliveries: Family<DeliveryLabel, Counter>,
    registrations: Family<Outcome, Counter>,
    hooks: Family<HookLabel, Counter>,
    outbox: Family<OutboxLabel, Gauge>,
    outbox_oldest: Gauge,
    parity: Family<SourceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

/// An outbox row's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutboxLabel {
    state: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under `usher_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("usher");
        let logins = Family::<Outcome, Counter>::default();
        let verify: Histograms = Family::new_with_constructor(verify_histogram);
        let migrations = Family::<SourceLabel, Counter>::default();
        let legacy_errors = Family::<SourceLabel, Counter>::default();
        let legacy_misconfigured = Family::<SourceLabel, Counter>::default();
        let deliveries = Family::<DeliveryLabel, Counter>::default();
        let registrations = Family::<Outcome, Counter>::default();
        let hooks = Family::<HookLabel, Counter>::default();
        let outbox = Family::<OutboxLabel, Gauge>::default();
        let outbox_oldest = Gauge::default();
        let parity = Family::<SourceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "parity_ratio",
            "The last reconciliation's parity by legacy source (identical ÷ compared), read at each scrape",
            parity.clone(),
        );
        registry.register(
            "outbox_rows",
            "Outbox rows by state (pending: depth; dead: given up; delivered), read at each scrape",
            outbox.clone(),
        );
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox row (0 when none)",
            outbox_oldest.clone(),
        );
        registry.register("logins", "Login answers by outcome", logins.clone());
        registry.register(
            "verify_seconds",
            "Time a password hash job took on the hashing pool, by kind",
            verify.clone(),
        );
        registry.register(
            "migrations",
            "Users migrated by a login, by legacy source",
            migrations.clone(),
        );
        registry.register(
            "legacy_errors",
            "Legacy lookups or auth calls that failed, by source",
            legacy_errors.clone(),
        );
        registry.register(
            "legacy_misconfigured",
            "Legacy calls refused because usher's own credentials or settings are wrong, by source",
            legacy_misconfigured.clone(),
        );
        registry.register(
            "outbox_deliveries",
            "Outbox deliveries by destination and result (delivered; failed, to be tried again; dead, given up)",
            deliveries.clone(),
        );
        registry.register(
            "registrations",
            "Registration answers by outcome",
            registrations.clone(),
        );
        registry.register(
            "hook_requests",
            "Identity providers' hook calls, by provider and outcome",
            hooks.clone(),
        );
        Self {
            registry,
            logins,
            verify,
            migrations,
            legacy_errors,
            legacy_misconfigured,
            deliveries,
            registrations,
            hooks,
            outbox,
            outbox_oldest,
            parity,
        }
    }

    /// Sets the outbox's gauges: rows by state, and the oldest pending row's age in seconds.
    pub fn outbox(&self, pending: u64, dead: u64, delivered: u64, oldest_seconds: u64) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (state, n) in [
            ("pending", pending),
            ("dead", dead),
            ("delivered", delivered),
        ] {
            self.outbox
                .get_or_create(&OutboxLabel { state })
                .set(gauge(n));
        }
        self.outbox_oldest.set(gauge(oldest_seconds));
    }

    /// Sets the last reconciliation's parity of `source`.
    pub fn parity(&self, source: &str, ratio: f64) {
        self.parity
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .set(ratio);
    }

    /// Counts an identity provider's hook call.
    pub fn hook(&self, provider: &'static str, outcome: &'static str) {
        self.hooks
            .get_or_create(&HookLabel { provider, outcome })
            .inc();
    }

    /// Counts a login answer.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a registration answer.
    pub fn registration(&self, outcome: &'static str) {
        self.registrations.get_or_create(&Outcome { outcome }).inc();
    }

    /// Records how long a hash job took.
    pub fn verify_time(&self, kind: &'static str, took: Duration) {
        self.verify
            .get_or_create(&Kind { kind })
            .observe(took.as_secs_f64());
    }

    /// Counts a user migrated at login.
    pub fn migrated(&self, source: &str) {
        self.migrations
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Counts a failed legacy call.
    pub fn legacy_error(&self, source: &str) {
        self.legacy_errors
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Counts a legacy call refused for usher's own credentials or settings.
    pub fn legacy_misconfigured(&self, source: &str) {
        self.legacy_misconfigured
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Counts `n` outbox deliveries to `destination` with `result` (`delivered`, `failed` or
    /// `dead`).
    pub fn delivery(&self, destination: &str, result: &'static str, n: u64) {
        self.deliveries
            .get_or_create(&DeliveryLabel {
                destination: destination.to_owned(),
                result,
            })
            .inc_by(n);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
