//! Reconciliation: does the new store hold what legacy holds? Legacy is read chunk by chunk
//! in key order; each record is looked up in the ledger (one read per chunk), mapped as the
//! backfill maps it, and compared with the user it became: the normalized record's canonical
//! form first, field by field only where that differs.
//!
//! **Parity** is identical ÷ compared, where *compared* is every legacy record read (or
//! sampled), plus, in a full run, every ledger row whose legacy record is gone; *identical*
//! are the records whose user holds, field for field, what the record maps to today. A record
//! not in the new store (missing, or quarantined), a record that no longer maps, a differing
//! user and a user whose record was deleted in legacy each count against it.
//!
//! The fields compared are those a mapping sets: email, email_verified, username, phone, the
//! profile, the attributes, and whether the account is disabled (a reset-required user that
//! set a password is not a difference). A user linked to several sources is compared on its
//! email and username only: its other fields are merged across sources by the `[link]` rules.
//! The report names legacy ids, never a value, a password or a hash.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};
use usher_core::{KeyRange, LegacyRecord, Mapper, Source, Status, User};
use usher_store::{ChunkWrite, ConflictPolicy, Counters, QuarantineFilter, Store};

use crate::backfill::retry;
use crate::{BackfillOptions, EngineError, Observer};

/// How a reconciliation runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileOptions {
    /// Records per read.
    pub batch_size: usize,
    /// Compare about this many records, drawn at random as legacy is read (deletions in
    /// legacy are not looked for); `None`: every record, and deletions.
    pub sample: Option<u64>,
    /// Example legacy ids kept per kind of difference.
    pub examples: usize,
    /// Repair the new store as it goes: records missing there are migrated, differing users
    /// are rewritten from legacy (legacy is the system of record; a password set in usher
    /// stays). The report still describes what was found before the repair.
    pub repair: bool,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            batch_size: 1000,
            sample: None,
            examples: 10,
            repair: false,
        }
    }
}

/// What a repair wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// Missing records migrated.
    pub migrated: u64,
    /// Differing users rewritten from legacy.
    pub updated: u64,
    /// Missing records that could not become users, now in the quarantine.
    pub quarantined: u64,
}

/// A kind of difference: how many, and some of the legacy ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// How many records.
    pub count: u64,
    /// Up to [`ReconcileOptions::examples`] of their legacy ids, in key order.
    pub examples: Vec<String>,
}

impl Divergence {
    fn add(&mut self, legacy_id: &str, keep: usize) {
        self.count = self.count.saturating_add(1);
        if self.examples.len() < keep {
            self.examples.push(legacy_id.to_owned());
        }
    }
}

/// What a reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReconcileReport {
    /// The source compared.
    pub source: String,
    /// Whether records were sampled (no deletions looked for).
    pub sampled: bool,
    /// Legacy records read.
    pub read: u64,
    /// What parity is over: records compared, plus users whose record is gone.
    pub compared: u64,
    /// Compared and the same on both sides.
    pub identical: u64,
    /// identical ÷ compared (1 when nothing was compared).
    pub parity: f64,
    /// Legacy records the new store does not hold, and not in the quarantine.
    pub missing: Divergence,
    /// Legacy records in the quarantine (they could not become users).
    pub quarantined: Divergence,
    /// Records in the ledger that no longer map (a field legacy changed into something
    /// invalid).
    pub unmappable: Divergence,
    /// Users that differ from their record in at least one field.
    pub differing: Divergence,
    /// Users whose legacy record is gone.
    pub deleted_in_legacy: Divergence,
    /// Differences by field.
    pub fields: BTreeMap<String, Divergence>,
    /// What `--repair` wrote (nothing without it).
    pub repaired: Repaired,
    /// Seconds the run took.
    pub seconds: f64,
}

impl ReconcileReport {
    /// The report as JSON (what `--json` prints and the store keeps).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Compares every record of `source` (or a sample) with the store's users, and returns the
/// report; the caller stores it ([`usher_store::ReconcileStore`]).
pub async fn reconcile(
    source: Arc<dyn Source>,
    mapper: Arc<Mapper>,
    store: Arc<dyn Store>,
    options: &ReconcileOptions,
    observer: Arc<dyn Observer>,
) -> Result<ReconcileReport, EngineError> {
    let started = Instant::now();
    let name = source.name().to_owned();
    let batch = options.batch_size.max(1);
    let retrying = BackfillOptions::default();
    let observer = observer.as_ref();
    let total = retry(&retrying, observer, "counting source records", || {
        source.count()
    })
    .await?;
    observer.started(total, Counters::default());
    let filter = QuarantineFilter {
        source: Some(name.clone()),
    };
    let held: Arc<HashSet<String>> = Arc::new(
        store
            .quarantine_entries(&filter, 10_000)
            .map_ok(|e| e.legacy_id.as_str().to_owned())
            .try_collect::<HashSet<String>>()
            .await?,
    );
    // Bernoulli sampling: each record with probability sample ÷ total.
    let probability = match (options.sample, total) {
        (Some(n), Some(total)) if total > 0 => (n as f64 / total as f64).min(1.0),
        _ => 1.0,
    };
    let mut report = ReconcileReport {
        source: name.clone(),
        sampled: options.sample.is_some(),
        ..ReconcileReport::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    // Three stages at once: `buffered` reads legacy (in key order) a chunk ahead while the
    // next chunk's users are read from the store and a chunk is compared on a blocking thread.
    let read = std::sync::atomic::AtomicU64::new(0);
    let chunks = futures::stream::try_unfold(
        (KeyRange::default(), Draw::seeded()),
        |(mut range, mut draw)| {
            let (source, read) = (&source, &read);
            let retrying = &retrying;
            async move {
                let records = retry(retrying, observer, "reading the source", || {
                    source.read(&range, batch)
                })
                .await?;
                let Some(last) = records.last() else {
                    return Ok(None);
                };
                range.after = Some(last.key.clone());
                let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
                read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                observer.chunk(Counters {
                    read: n,
                    ..Counters::default()
                });
                let chosen: Vec<LegacyRecord> = records
                    .into_iter()
                    .filter(|_| probability >= 1.0 || draw.next() < probability)
                    .collect();
                Ok::<_, EngineError>(Some((chosen, (range, draw))))
            }
        },
    );
    {
        let mut parts = Box::pin(
            chunks
                .map_ok(|records: Vec<LegacyRecord>| {
                    let (store, mapper, name) =
                        (Arc::clone(&store), Arc::clone(&mapper), name.clone());
                    let held = Arc::clone(&held);
                    let retrying = &retrying;
                    let repair = options.repair;
                    async move {
                        let ids: Vec<String> = records.iter().map(|r| r.key.to_string()).collect();
                        let users = retry(retrying, observer, "reading users", || {
                            store.users_of_records(&name, &ids)
                        })
                        .await?;
                        let (part, fix) = tokio::task::spawn_blocking(move || {
                            let part = compare_chunk(&mapper, &name, &records, ids, users, &held);
                            let fix = repair.then(|| to_repair(&mapper, &name, records, &part));
                            (part, fix)
                        })
                        .await
                        .map_err(|e| EngineError::Worker(e.to_string()))?;
                        let written = match fix {
                            Some(chunk)
                                if !chunk.users.is_empty() || !chunk.rejected.is_empty() =>
                            {
                                Some(
                                    retry(retrying, observer, "repairing", || {
                                        store.write_chunk(&chunk)
                                    })
                                    .await?,
                                )
                            }
                            _ => None,
                        };
                        Ok::<_, EngineError>((part, written))
                    }
                })
                .try_buffered(2),
        );
        while let Some((part, written)) = parts.try_next().await? {
            if let Some(w) = written {
                let r = &mut report.repaired;
                r.migrated = r.migrated.saturating_add(w.migrated);
                r.updated = r.updated.saturating_add(w.updated);
                r.quarantined = r.quarantined.saturating_add(w.quarantined);
            }
            report.compared = report.compared.saturating_add(part.compared);
            report.identical = report.identical.saturating_add(part.identical);
            let keep = options.examples;
            for (kind, ids) in [
                (&mut report.quarantined, &part.quarantined),
                (&mut report.missing, &part.missing),
                (&mut report.unmappable, &part.unmappable),
                (&mut report.differing, &part.differing),
            ] {
                for id in ids {
                    kind.add(id, keep);
                }
            }
            for (field, ids) in &part.fields {
                let d = report.fields.entry(field.clone()).or_default();
                for id in ids {
                    d.add(id, keep);
                }
            }
            if options.sample.is_none() {
                seen.extend(part.ids);
            }
        }
    }
    report.read = read.into_inner();
    if options.sample.is_none() {
        let mut ledger = store.ledger_entries(&name, 10_000);
        while let Some(entry) = ledger.try_next().await? {
            let id = entry.legacy_id.as_str();
            if !seen.contains(id) {
                report.compared = report.compared.saturating_add(1);
                report.deleted_in_legacy.add(id, options.examples);
            }
        }
        report.deleted_in_legacy.examples.sort();
    }
    report.parity = if report.compared == 0 {
        1.0
    } else {
        report.identical as f64 / report.compared as f64
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The fields a mapping sets, as compared: only the identifiers for a linked user.
fn projection(user: &User, identifiers_only: bool) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    out.insert(
        "email".to_owned(),
        json!(user.email.as_ref().map(|e| e.as_str())),
    );
    out.insert(
        "username".to_owned(),
        json!(user.username.as_ref().map(|u| u.as_str())),
    );
    if identifiers_only {
        return out;
    }
    out.insert("email_verified".to_owned(), json!(user.email_verified));
    out.insert(
        "phone".to_owned(),
        json!(user.phone.as_ref().map(|p| p.as_str())),
    );
    out.insert(
        "disabled".to_owned(),
        json!(user.status == Status::Disabled),
    );
    if let Value::Object(profile) = serde_json::to_value(&user.profile).unwrap_or(Value::Null) {
        for (field, value) in profile {
            out.insert(format!("profile.{field}"), value);
        }
    }
    for (field, value) in &user.attributes {
        out.insert(format!("attributes.{field}"), value.clone());
    }
    out
}

/// One chunk's comparison, merged into the report in key order.
struct Part {
    /// Records compared.
    compared: u64,
    identical: u64,
    quarantined: Vec<String>,
    missing: Vec<String>,
    unmappable: Vec<String>,
    differing: Vec<String>,
    /// Differing legacy ids by field.
    fields: BTreeMap<String, Vec<String>>,
    /// Every legacy id compared (for deletions).
    ids: Vec<String>,
}

/// Compares a chunk's records with the users they became (`users`: legacy id → user).
fn compare_chunk(
    mapper: &Mapper,
    name: &str,
    records: &[LegacyRecord],
    ids: Vec<String>,
    users: Vec<(String, User)>,
    held: &HashSet<String>,
) -> Part {
    let users: HashMap<String, User> = users.into_iter().collect();
    let now = chrono::Utc::now();
    let mut part = Part {
        compared: u64::try_from(records.len()).unwrap_or(u64::MAX),
        identical: 0,
        quarantined: Vec::new(),
        missing: Vec::new(),
        unmappable: Vec::new(),
        differing: Vec::new(),
        fields: BTreeMap::new(),
        ids: Vec::new(),
    };
    for (record, id) in records.iter().zip(&ids) {
        let Some(user) = users.get(id) else {
            if held.contains(id) {
                part.quarantined.push(id.clone());
            } else {
                part.missing.push(id.clone());
            }
            continue;
        };
        let Ok(mapped) = mapper.map(name, record, now) else {
            part.unmappable.push(id.clone());
            continue;
        };
        let linked = user.legacy_links.len() > 1;
        let (want, have) = (projection(&mapped, linked), projection(user, linked));
        if canonical(&want) == canonical(&have) {
            part.identical = part.identical.saturating_add(1);
            continue;
        }
        part.differing.push(id.clone());
        let fields: std::collections::BTreeSet<&String> = want.keys().chain(have.keys()).collect();
        for field in fields {
            if want.get(field) != have.get(field) {
                part.fields
                    .entry(field.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
    }
    part.ids = ids;
    part
}

/// The chunk that repairs `part`'s missing and differing records: mapped as the backfill
/// maps them, written with [`ConflictPolicy::Legacy`] (a record that does not map goes to the
/// quarantine with its reason, as at backfill). Unmappable records, already migrated, are
/// left as they are: the report names them.
fn to_repair(mapper: &Mapper, name: &str, records: Vec<LegacyRecord>, part: &Part) -> ChunkWrite {
    let wanted: HashSet<&String> = part.missing.iter().chain(&part.differing).collect();
    let records: Vec<LegacyRecord> = records
        .into_iter()
        .filter(|r| wanted.contains(&r.key.to_string()))
        .collect();
    let (users, rejected) = crate::backfill::map_chunk(mapper, name, &records);
    let mut chunk = ChunkWrite::new(REPAIR_JOB, name, 0);
    chunk.read = u64::try_from(records.len()).unwrap_or(u64::MAX);
    chunk.cursor = records.last().map(|r| r.key.clone());
    chunk.users = users;
    chunk.rejected = rejected;
    chunk.policy = ConflictPolicy::Legacy;
    chunk
}

/// The job name a repair's writes are checkpointed under (apart from any backfill's).
pub const REPAIR_JOB: &str = "reconcile-repair";

/// The projection's canonical form (sorted keys): equal forms, identical records.
fn canonical(projection: &BTreeMap<String, Value>) -> String {
    serde_json::to_string(projection).unwrap_or_default()
}

/// A small xorshift generator for sampling, seeded from the clock.
struct Draw(u64);

impl Draw {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .subsec_nanos();
        Draw(u64::from(nanos) | 1)
    }

    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
