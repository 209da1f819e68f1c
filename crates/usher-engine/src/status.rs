//! Where the migration stands: users by how they arrived, and per legacy source how many
//! records it holds, how many are migrated and how many remain. The admin API
//! (`GET /v1/admin/status`) and `usher status` both report this.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use usher_core::Source;
use usher_store::{Store, StoreError};

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Users in the store.
    pub users: u64,
    /// Users by how they arrived: `lazy` (at login), `bulk` (backfill), `sync`, `registered`
    /// (new in the new system), `none` (no migration record).
    pub by_method: BTreeMap<String, u64>,
    /// Records in the quarantine, all sources.
    pub quarantined: u64,
    /// Users linked across sources: one person, records in more than one legacy source.
    pub linked_users: u64,
    /// Users each identity provider took through its hook (`okta`, `auth0`, ...).
    pub targets: BTreeMap<String, u64>,
    /// Writes owed to legacy not delivered yet, and those given up on.
    pub outbox: OutboxSummary,
    /// Per legacy source.
    pub sources: Vec<SourceStatus>,
}

/// The outbox at a glance.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OutboxSummary {
    /// Rows not delivered yet.
    pub pending: u64,
    /// Rows given up on (`usher outbox list --state dead`).
    pub dead: u64,
    /// When the oldest pending row was written.
    pub oldest_pending: Option<chrono::DateTime<chrono::Utc>>,
}

/// A source's latest reconciliation (`usher reconcile`).
#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    /// identical ÷ compared.
    pub parity: f64,
    /// What the parity is over.
    pub compared: u64,
    /// When it finished.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One legacy source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// The configured name.
    pub name: String,
    /// Records in legacy, if the source can count them.
    pub legacy_records: Option<u64>,
    /// Legacy records that became users of their own (ledger rows, links not included).
    pub migrated: u64,
    /// Legacy records that joined a user of another source (linked, not a new user).
    pub linked: u64,
    /// Legacy records held in the quarantine, with a reason.
    pub quarantined: u64,
    /// `legacy_records - migrated - linked - quarantined`: neither moved nor held back.
    pub remaining: Option<u64>,
    /// Why the source could not be counted (it is down, it cannot count, it only checks
    /// passwords, or the config no longer names it).
    pub error: Option<String>,
    /// Its latest reconciliation, if it had one.
    pub reconciled: Option<Reconciled>,
}

/// A configured legacy source, as the status report sees it.
#[derive(Clone)]
pub enum Configured {
    /// A source that can list (and so count) its records.
    Readable(Arc<dyn Source>),
    /// A source that only checks passwords (a legacy auth API): it cannot be counted.
    AuthOnly(String),
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Configured::Readable(s) => f.debug_tuple("Readable").field(&s.name()).finish(),
            Configured::AuthOnly(name) => f.debug_tuple("AuthOnly").field(name).finish(),
        }
    }
}

impl Configured {
    fn name(&self) -> &str {
        match self {
            Configured::Readable(s) => s.name(),
            Configured::AuthOnly(name) => name,
        }
    }
}

/// Gathers the report. A source that cannot be counted is reported with its error; only the
/// store failing fails the whole.
pub async fn gather(store: &dyn Store, sources: &[Configured]) -> Result<Status, StoreError> {
    let counts = store.counts().await?;
    let mut report = Vec::with_capacity(sources.len());
    let get = |m: &BTreeMap<String, u64>, name: &str| m.get(name).copied().unwrap_or(0);
    let entry = |name: &str, legacy_records: Option<u64>, error: Option<String>| {
        let linked = get(&counts.linked_by_source, name);
        let migrated = get(&counts.by_source, name).saturating_sub(linked);
        let quarantined = get(&counts.quarantined_by_source, name);
        SourceStatus {
            name: name.to_owned(),
            legacy_records,
            migrated,
            linked,
            quarantined,
            remaining: legacy_records.map(|n| {
                n.saturating_sub(migrated)
                    .saturating_sub(linked)
                    .saturating_sub(quarantined)
            }),
            error,
            reconciled: None,
        }
    };
    for source in sources {
        let (legacy_records, error) = match source {
            Configured::AuthOnly(_) => (
                None,
                Some("an auth source: it checks passwords and cannot list its records".to_owned()),
            ),
            Configured::Readable(s) => match s.count().await {
                Ok(Some(n)) => (Some(n), None),
                Ok(None) => (None, Some("the source cannot count its records".to_owned())),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        report.push(entry(source.name(), legacy_records, error));
    }
    // Sources the store knows but the config no longer names still count.
    let known = counts
        .by_source
        .keys()
        .chain(counts.quarantined_by_source.keys());
    let mut gone: Vec<&String> = known
        .filter(|name| !sources.iter().any(|s| s.name() == name.as_str()))
        .collect();
    gone.sort();
    gone.dedup();
    for name in gone {
        report.push(entry(name, None, Some("not configured".to_owned())));
    }
    for run in store.latest_reconciliations().await? {
        if let Some(s) = report.iter_mut().find(|s| s.name == run.source) {
            s.reconciled = Some(Reconciled {
                parity: run.parity(),
                compared: run.compared,
                at: run.finished_at,
            });
        }
    }
    let outbox = store.outbox_stats().await?;
    Ok(Status {
        users: counts.users,
        by_method: counts.by_method,
        quarantined: counts.quarantined,
        linked_users: counts.linked_users,
        targets: store.target_counts().await?,
        outbox: OutboxSummary {
            pending: outbox.pending,
            dead: outbox.dead,
            oldest_pending: outbox.oldest_pending,
        },
        sources: report,
    })
}

impl Status {
    /// The report as aligned text, for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "users in the store  {:>12}", self.users);
        for (method, n) in &self.by_method {
            let _ = writeln!(out, "  {:<17} {:>12}", method_label(method), n);
        }
        let _ = writeln!(
            out,
            "  {:<17} {:>12}",
            "linked (sources)", self.linked_users
        );
        let _ = writeln!(out, "quarantined         {:>12}", self.quarantined);
        if self.outbox.pending > 0 || self.outbox.dead > 0 {
            let _ = writeln!(
                out,
                "owed to legacy      {:>12} pending, {} dead{}",
                self.outbox.pending,
                self.outbox.dead,
                self.outbox
                    .oldest_pending
                    .map_or_else(String::new, |at| format!(
                        ", oldest from {}",
                        at.format("%Y-%m-%d %H:%M:%S UTC")
                    ))
            );
        }
        if !self.targets.is_empty() {
            let _ = writeln!(out, "taken by providers");
            for (target, n) in &self.targets {
                let _ = writeln!(out, "  {target:<17} {n:>12}");
            }
        }
        if !self.sources.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<20} {:>12} {:>12} {:>12} {:>12} {:>12} {:>9}",
                "source", "in legacy", "migrated", "linked", "quarantined", "remaining", "done"
            );
        }
        for s in &self.sources {
            let show = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |n| n.to_string());
            let moved = s.migrated.saturating_add(s.linked);
            let done = match s.legacy_records {
                Some(total) if total > 0 => format!("{:.1}%", percent(moved.min(total), total)),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:<20} {:>12} {:>12} {:>12} {:>12} {:>12} {:>9}",
                s.name,
                show(s.legacy_records),
                s.migrated,
                s.linked,
                s.quarantined,
                show(s.remaining),
                done
            );
            if let Some(e) = &s.error {
                let _ = writeln!(out, "  ({e})");
            }
            if let Some(r) = &s.reconciled {
                let _ = writeln!(
                    out,
                    "  last reconciled {}: parity {:.4}% of {} compared",
                    r.at.format("%Y-%m-%d %H:%M:%S UTC"),
                    r.parity * 100.0,
                    r.compared
                );
            }
        }
        out
    }
}

fn method_label(method: &str) -> &str {
    match method {
        "lazy" => "at login (lazy)",
        "bulk" => "by backfill",
        "sync" => "by sync",
        "registered" => "registered new",
        "none" => "no record",
        other => other,
    }
}

#[allow(clippy::cast_precision_loss)] // a percentage for display
fn percent(part: u64, total: u64) -> f64 {
    part as f64 * 100.0 / total as f64
}
