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
    /// Per legacy source.
    pub sources: Vec<SourceStatus>,
}

/// One legacy source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// The configured name.
    pub name: String,
    /// Records in legacy, if the source can count them.
    pub legacy_records: Option<u64>,
    /// Legacy records that are migrated (ledger rows).
    pub migrated: u64,
    /// `legacy_records - migrated`: not yet migrated, including the quarantined.
    pub remaining: Option<u64>,
    /// Why the source could not be counted (it is down, or cannot count).
    pub error: Option<String>,
}

/// Gathers the report. A source that cannot be counted is reported with its error; only the
/// store failing fails the whole.
pub async fn gather(store: &dyn Store, sources: &[Arc<dyn Source>]) -> Result<Status, StoreError> {
    let counts = store.counts().await?;
    let mut report = Vec::with_capacity(sources.len());
    let mut names: Vec<&str> = Vec::new();
    for source in sources {
        let name = source.name();
        names.push(name);
        let migrated = counts.by_source.get(name).copied().unwrap_or(0);
        let (legacy_records, error) = match source.count().await {
            Ok(Some(n)) => (Some(n), None),
            Ok(None) => (None, Some("the source cannot count its records".to_owned())),
            Err(e) => (None, Some(e.to_string())),
        };
        report.push(SourceStatus {
            name: name.to_owned(),
            legacy_records,
            migrated,
            remaining: legacy_records.map(|n| n.saturating_sub(migrated)),
            error,
        });
    }
    // Sources the ledger knows but the config no longer names still count as migrated.
    for (name, &migrated) in &counts.by_source {
        if !names.contains(&name.as_str()) {
            report.push(SourceStatus {
                name: name.clone(),
                legacy_records: None,
                migrated,
                remaining: None,
                error: Some("not configured".to_owned()),
            });
        }
    }
    Ok(Status {
        users: counts.users,
        by_method: counts.by_method,
        quarantined: counts.quarantined,
        linked_users: counts.linked_users,
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
        if !self.sources.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<20} {:>12} {:>12} {:>12} {:>9}",
                "source", "in legacy", "migrated", "remaining", "done"
            );
        }
        for s in &self.sources {
            let show = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |n| n.to_string());
            let done = match s.legacy_records {
                Some(total) if total > 0 => {
                    format!("{:.1}%", percent(s.migrated.min(total), total))
                }
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:<20} {:>12} {:>12} {:>12} {:>9}",
                s.name,
                show(s.legacy_records),
                s.migrated,
                show(s.remaining),
                done
            );
            if let Some(e) = &s.error {
                let _ = writeln!(out, "  ({e})");
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
