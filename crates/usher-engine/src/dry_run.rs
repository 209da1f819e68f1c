//! `--dry-run`: read and map everything, write nothing, and say what would happen.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use usher_core::{KeyRange, LegacyKey, Mapper, Source};
use usher_store::{Counters, WarnedUser, WarningFilter, WarningReport};

use crate::backfill::{BackfillOptions, map_chunk, retry};
use crate::{EngineError, Observer};

/// What a backfill would do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DryRunReport {
    /// Records read.
    pub read: u64,
    /// Records that map to a valid user.
    pub valid: u64,
    /// Records the mapping refuses (they would be quarantined).
    pub invalid: u64,
    /// Refusals by field, most frequent first.
    pub errors_by_field: Vec<(String, u64)>,
    /// The first refusals, as the quarantine would record them: (legacy key, reason).
    pub examples: Vec<(String, String)>,
    /// Valid records whose email (lower-cased) another valid record already uses: the backfill
    /// would quarantine them rather than merge or drop them.
    pub duplicate_emails: u64,
    /// Valid records with an address of their own whose username (normalized) another valid
    /// record already uses: quarantined too.
    pub duplicate_usernames: u64,
    /// The keys of the first records of either kind.
    pub duplicate_examples: Vec<String>,
    /// Of the records that would migrate, those that would lose an optional field or keep it
    /// only as written (`on_invalid`), by field with examples.
    pub warnings: WarningReport,
    /// Read + map throughput measured here, records/s.
    pub records_per_second: f64,
    /// Records in the source, as the source estimates.
    pub source_count: Option<u64>,
    /// How long a backfill of the whole source would take at the measured read+map rate (or
    /// the `--rate` limit if lower). Writing adds to this; the backfill benchmark in
    /// docs/benchmarks.md gives the write side.
    pub projected: Option<Duration>,
    /// Wall time of the dry run.
    pub elapsed: Duration,
}

const EXAMPLES: usize = 20;

/// Reads and maps every record of `source` (at `options.rate`), writing nothing.
pub async fn dry_run(
    source: Arc<dyn Source>,
    mapper: Arc<Mapper>,
    options: BackfillOptions,
    observer: Arc<dyn Observer>,
) -> Result<DryRunReport, EngineError> {
    options.validate()?;
    let started = Instant::now();
    let name = source.name().to_owned();
    let count = retry(
        &options,
        observer.as_ref(),
        "counting source records",
        || source.count(),
    )
    .await?;
    observer.started(count, Counters::default());
    let mut report = DryRunReport {
        source_count: count,
        ..DryRunReport::default()
    };
    let mut by_field: BTreeMap<String, u64> = BTreeMap::new();
    // Normalised emails, as 64-bit hashes: about 16 bytes a record in the set, so ten million
    // records stay near 200 MB. A collision (odds ~1e-6 at ten million) would only add one to
    // the count; the backfill itself compares the real addresses.
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut seen_emails: HashSet<u64> = HashSet::new();
    let mut seen_usernames: HashSet<u64> = HashSet::new();
    let mut after: Option<LegacyKey> = None;
    let pace = options
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / f64::from(r.get())));
    let mut mapping_time = Duration::ZERO;
    loop {
        let range = KeyRange {
            after: after.clone(),
            until: None,
        };
        let records = retry(&options, observer.as_ref(), "reading the source", || {
            source.read(&range, options.batch_size)
        })
        .await?;
        if records.is_empty() {
            break;
        }
        let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
        after = records.last().map(|r| r.key.clone());
        let mapper = Arc::clone(&mapper);
        let source_name = name.clone();
        let t = Instant::now();
        let (users, rejected) =
            tokio::task::spawn_blocking(move || map_chunk(&mapper, &source_name, &records))
                .await
                .map_err(|e| EngineError::Worker(e.to_string()))?;
        mapping_time = mapping_time.saturating_add(t.elapsed());
        report.read = report.read.saturating_add(n);
        report.valid = report
            .valid
            .saturating_add(u64::try_from(users.len()).unwrap_or(0));
        report.invalid = report
            .invalid
            .saturating_add(u64::try_from(rejected.len()).unwrap_or(0));
        for r in &rejected {
            let field = r.field.clone().unwrap_or_else(|| "record".to_owned());
            let count = by_field.entry(field).or_default();
            *count = count.saturating_add(1);
            if report.examples.len() < EXAMPLES {
                report.examples.push((r.key.to_string(), r.reason.clone()));
            }
        }
        for u in users {
            // As the store's unique indexes decide, in key order: a record refused for one
            // identifier claims neither, so a later record may still have its other one.
            let email = u
                .user
                .email
                .as_ref()
                .map(|e| hasher.hash_one(e.normalized()));
            let username = u
                .user
                .username
                .as_ref()
                .map(|n| hasher.hash_one(n.normalized()));
            let taken = if email.is_some_and(|e| seen_emails.contains(&e)) {
                Some(&mut report.duplicate_emails)
            } else if username.is_some_and(|n| seen_usernames.contains(&n)) {
                Some(&mut report.duplicate_usernames)
            } else {
                None
            };
            if let Some(count) = taken {
                *count = count.saturating_add(1);
                if report.duplicate_examples.len() < EXAMPLES {
                    report.duplicate_examples.push(u.key.to_string());
                }
                continue;
            }
            seen_emails.extend(email);
            seen_usernames.extend(username);
            if let Some(m) = u.user.migration.filter(|m| !m.warnings.is_empty()) {
                report.warnings.add(
                    &WarningFilter::default(),
                    WarnedUser {
                        user_id: String::new(),
                        source: name.clone(),
                        legacy_id: u.key.to_string(),
                        warnings: m.warnings,
                    },
                );
            }
        }
        observer.chunk(Counters {
            read: n,
            ..Counters::default()
        });
        if let Some(pace) = pace {
            let due = pace.saturating_mul(u32::try_from(report.read).unwrap_or(u32::MAX));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    report.elapsed = started.elapsed();
    report.records_per_second = report.read as f64 / report.elapsed.as_secs_f64().max(1e-9);
    let mut fields: Vec<(String, u64)> = by_field.into_iter().collect();
    fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    report.errors_by_field = fields;
    report.warnings = std::mem::take(&mut report.warnings).finish();
    let rate = options.rate.map_or(report.records_per_second, |r| {
        report.records_per_second.min(f64::from(r.get()))
    });
    report.projected = count
        .filter(|_| rate > 0.0)
        .map(|c| Duration::from_secs_f64(c as f64 / rate));
    tracing::debug!(
        mapping_seconds = mapping_time.as_secs_f64(),
        "Dry run finished"
    );
    Ok(report)
}
