//! `--dry-run`: read and map everything, write nothing, and say what would happen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use usher_core::link::{refused_reason, taken_reason};
use usher_core::{KeyRange, LinkConfig, LinkDecision, Mapper, Source, User, UserId};
use usher_store::{
    ChunkUser, ChunkWrite, Claims, Counters, Store, StoreError, WarnedUser, WarningFilter,
    WarningReport,
};

use crate::backfill::{BackfillOptions, add, map_chunk, pacer, retry};
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
    /// Valid records that would become users of their own.
    pub migrate: u64,
    /// Records already migrated (in the store's ledger) that would be left alone.
    pub skip: u64,
    /// Records already migrated whose newer legacy version would update the user
    /// (`--conflict legacy-newer`).
    pub update: u64,
    /// Records that would join a user another source brought (`[link]`).
    pub link: u64,
    /// Records whose address a user of another source holds, where `[link]` refuses the link:
    /// quarantined with the reason.
    pub link_refused: u64,
    /// The first link refusals: (legacy key, reason).
    pub link_examples: Vec<(String, String)>,
    /// Users of earlier runs that would give way to a record with a lower key (their records
    /// would be quarantined; counted in `duplicate_emails` or `duplicate_usernames`).
    pub displace: u64,
    /// Valid records whose email (ignoring case) an earlier record or a stored user already
    /// has: the backfill would quarantine them rather than merge or drop them.
    pub duplicate_emails: u64,
    /// Valid records with an address of their own whose username (normalized) an earlier
    /// record or a stored user already has: quarantined too.
    pub duplicate_usernames: u64,
    /// The keys of the first records of either kind.
    pub duplicate_examples: Vec<String>,
    /// What earlier runs of the job did (from its checkpoints); this run reads only the rest.
    pub resumed: Counters,
    /// Whether the prediction weighed an existing store (its ledger and its users), rather
    /// than an empty one.
    pub against_store: bool,
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

/// Reads and maps every record of `source` (at `options.rate`), writing nothing, and predicts
/// what a backfill would do with each: against `store`'s ledger and users when there is one
/// (a second run, a second source, linking), as for a first run into an empty store when not.
pub async fn dry_run(
    source: Arc<dyn Source>,
    mapper: Arc<Mapper>,
    store: Option<Arc<dyn Store>>,
    options: BackfillOptions,
    observer: Arc<dyn Observer>,
) -> Result<DryRunReport, EngineError> {
    options.checked()?;
    let started = Instant::now();
    let name = source.name().to_owned();
    let count = retry(
        &options,
        observer.as_ref(),
        "counting source records",
        || source.count(),
    )
    .await?;
    // What the job would read: the rest of each partition an earlier run of it planned
    // (finished open-ended ones again from their cursor, for rows added since), else all.
    let checkpoints = match &store {
        Some(store) => {
            retry(
                &options,
                observer.as_ref(),
                "reading the job's checkpoints",
                || store.checkpoints(&options.job, &name),
            )
            .await?
        }
        None => Vec::new(),
    };
    let fresh = checkpoints.is_empty();
    let resumed = checkpoints
        .iter()
        .fold(Counters::default(), |acc, c| add(acc, c.counters));
    let mut ranges: Vec<(u32, KeyRange)> = checkpoints
        .into_iter()
        .filter(|c| !c.done || c.until.is_none())
        .map(|c| {
            (
                c.partition,
                KeyRange {
                    after: c.cursor,
                    until: c.until,
                },
            )
        })
        .collect();
    if fresh {
        ranges.push((0, KeyRange::default()));
    }
    ranges.sort_by_key(|(partition, _)| *partition);
    observer.started(count, resumed);
    let mut report = DryRunReport {
        source_count: count,
        against_store: store.is_some(),
        resumed,
        ..DryRunReport::default()
    };
    let mut by_field: BTreeMap<String, u64> = BTreeMap::new();
    // What earlier chunks would have written, which the store does not hold.
    let mut claims = Claims::default();
    let pace = options.rate.map(|rate| pacer(rate, options.batch_size));
    let mut mapping_time = Duration::ZERO;
    let mut ranges = ranges.into_iter().map(|(_, r)| r);
    let Some(mut range) = ranges.next() else {
        return Ok(finish(
            report,
            BTreeMap::new(),
            started,
            options.rate,
            count,
            mapping_time,
        ));
    };
    loop {
        if let Some(pace) = &pace {
            pace.take(u32::try_from(options.batch_size).unwrap_or(u32::MAX))
                .await;
        }
        let records = retry(&options, observer.as_ref(), "reading the source", || {
            source.read(&range, options.batch_size)
        })
        .await?;
        if records.is_empty() {
            match ranges.next() {
                Some(next) => {
                    range = next;
                    continue;
                }
                None => break,
            }
        }
        let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
        range.after = records.last().map(|r| r.key.clone());
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
        for r in &rejected {
            refused(
                &mut report,
                &mut by_field,
                r.field.as_deref(),
                &r.key.to_string(),
                &r.reason,
            );
        }
        let mut write = ChunkWrite::new(options.job.clone(), name.clone(), 0);
        write.users = users;
        write.policy = options.policy;
        if let (Some(link), Some(store)) = (&options.link, &store) {
            retry(&options, observer.as_ref(), "predicting links", || {
                preview_links(store.as_ref(), link, &write, &claims)
            })
            .await?
            .apply(&mut write, &mut claims, &mut report);
        }
        let mut preview = match &store {
            Some(store) => {
                retry(&options, observer.as_ref(), "reading the store", || {
                    store.preview_chunk(&write, &claims)
                })
                .await?
            }
            None => usher_store::preview_first_run(&write, &claims)?,
        };
        claims.extend(std::mem::take(&mut preview.claims));
        report.migrate = report.migrate.saturating_add(preview.migrated);
        report.skip = report.skip.saturating_add(preview.skipped);
        report.update = report.update.saturating_add(preview.updated);
        report.displace = report
            .displace
            .saturating_add(u64::try_from(preview.displaced.len()).unwrap_or(u64::MAX));
        for r in preview.refused.iter().chain(&preview.displaced) {
            let count = match r.field.as_deref() {
                Some("email") => &mut report.duplicate_emails,
                Some("username") => &mut report.duplicate_usernames,
                field => {
                    refused(&mut report, &mut by_field, field, &r.legacy_id, &r.reason);
                    continue;
                }
            };
            *count = count.saturating_add(1);
            if report.duplicate_examples.len() < EXAMPLES {
                report.duplicate_examples.push(r.legacy_id.clone());
            }
        }
        let written: HashSet<&str> = preview.written.iter().map(String::as_str).collect();
        for u in write.users {
            let key = u.key.to_string();
            if !written.contains(key.as_str()) {
                continue;
            }
            if let Some(m) = u.user.migration.filter(|m| !m.warnings.is_empty()) {
                report.warnings.add(
                    &WarningFilter::default(),
                    WarnedUser {
                        user_id: String::new(),
                        source: name.clone(),
                        legacy_id: key,
                        warnings: m.warnings,
                    },
                );
            }
        }
        observer.chunk(Counters {
            read: n,
            ..Counters::default()
        });
    }
    Ok(finish(
        report,
        by_field,
        started,
        options.rate,
        count,
        mapping_time,
    ))
}

/// The report's rates and projection, once everything is read.
fn finish(
    mut report: DryRunReport,
    by_field: BTreeMap<String, u64>,
    started: Instant,
    limit: Option<std::num::NonZeroU32>,
    count: Option<u64>,
    mapping_time: Duration,
) -> DryRunReport {
    report.elapsed = started.elapsed();
    report.records_per_second = report.read as f64 / report.elapsed.as_secs_f64().max(1e-9);
    let mut fields: Vec<(String, u64)> = by_field.into_iter().collect();
    fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    report.errors_by_field = fields;
    report.warnings = std::mem::take(&mut report.warnings).finish();
    let rate = limit.map_or(report.records_per_second, |r| {
        report.records_per_second.min(f64::from(r.get()))
    });
    report.projected = count
        .filter(|_| rate > 0.0)
        .map(|c| Duration::from_secs_f64(c as f64 / rate));
    tracing::debug!(
        mapping_seconds = mapping_time.as_secs_f64(),
        "Dry run finished"
    );
    report
}

/// Counts a record the backfill would quarantine for its mapping or a value the store cannot
/// hold, by field, with the first few as examples.
fn refused(
    report: &mut DryRunReport,
    by_field: &mut BTreeMap<String, u64>,
    field: Option<&str>,
    key: &str,
    reason: &str,
) {
    report.invalid = report.invalid.saturating_add(1);
    let count = by_field
        .entry(field.unwrap_or("record").to_owned())
        .or_default();
    *count = count.saturating_add(1);
    if report.examples.len() < EXAMPLES {
        report.examples.push((key.to_owned(), reason.to_owned()));
    }
}

/// What the backfill's linking step would do with a chunk: for each record it would link or
/// refuse, keyed by legacy key; the others are left to the chunk write.
struct LinkPreview {
    decided: HashMap<String, Result<ChunkUser, String>>,
}

impl LinkPreview {
    /// Takes the decided records out of `write`: links claim their identifiers, refusals are
    /// counted with their reason.
    fn apply(self, write: &mut ChunkWrite, claims: &mut Claims, report: &mut DryRunReport) {
        let mut decided = self.decided;
        write.users.retain(|cu| {
            let Some(outcome) = decided.remove(&cu.key.to_string()) else {
                return true;
            };
            match outcome {
                Ok(merged) => {
                    report.link = report.link.saturating_add(1);
                    claims.claim(
                        merged
                            .user
                            .email
                            .as_ref()
                            .map(|e| e.normalized())
                            .as_deref(),
                        merged
                            .user
                            .username
                            .as_ref()
                            .map(|u| u.normalized())
                            .as_deref(),
                    );
                }
                Err(reason) => {
                    report.link_refused = report.link_refused.saturating_add(1);
                    if report.link_examples.len() < EXAMPLES {
                        report.link_examples.push((cu.key.to_string(), reason));
                    }
                }
            }
            false
        });
    }
}

/// Predicts the backfill's linking step ([`LinkConfig::decide`] on the holder of each address, written
/// nowhere). A record whose address an earlier record of the dry run took is left to the chunk
/// write, as the backfill would find that record's user there.
async fn preview_links(
    store: &dyn Store,
    link: &LinkConfig,
    write: &ChunkWrite,
    claims: &Claims,
) -> Result<LinkPreview, StoreError> {
    let emails: Vec<String> = write
        .users
        .iter()
        .filter_map(|u| u.user.email.as_ref().map(|e| e.normalized()))
        .filter(|e| !claims.has_email(e))
        .collect();
    let holders: HashMap<String, UserId> =
        store.email_holders(&emails).await?.into_iter().collect();
    let mut decided = HashMap::new();
    // Usernames this chunk's predicted links take.
    let mut taken = Claims::default();
    for cu in &write.users {
        let Some(&holder) = cu
            .user
            .email
            .as_ref()
            .and_then(|e| holders.get(&e.normalized()))
        else {
            continue;
        };
        let Some(stored) = store.user(holder).await? else {
            continue;
        };
        let merged = match link.decide(&stored, &cu.user, &write.source, None) {
            LinkDecision::SameSource => continue,
            LinkDecision::Refused(why) => {
                decided.insert(cu.key.to_string(), Err(refused_reason(&stored, &why)));
                continue;
            }
            LinkDecision::Link { user, .. } => *user,
        };
        let mine = |u: &User| u.username.as_ref().map(|n| n.normalized());
        let outcome = match mine(&merged).filter(|u| Some(u) != mine(&stored).as_ref()) {
            Some(u) if claims.has_username(&u) || taken.has_username(&u) => Err(taken_reason(
                &stored,
                "username",
                &"an earlier record of this run",
            )),
            Some(u) => match store.user_by_username(&u).await? {
                Some(other) if other.id != stored.id => Err(taken_reason(
                    &stored,
                    "username",
                    &format!("user {}", other.id),
                )),
                _ => {
                    taken.claim(None, Some(&u));
                    Ok(ChunkUser {
                        user: merged,
                        ..cu.clone()
                    })
                }
            },
            None => Ok(ChunkUser {
                user: merged,
                ..cu.clone()
            }),
        };
        decided.insert(cu.key.to_string(), outcome);
    }
    Ok(LinkPreview { decided })
}
