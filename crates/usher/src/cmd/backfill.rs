//! `usher backfill`: move every legacy user of a source into the store, resumably.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use usher_engine::{BackfillOptions, BackfillReport, DryRunReport, Observer};
use usher_store::{ConflictPolicy, Counters};

use crate::config::ConfigArg;

#[derive(Args)]
pub struct BackfillArgs {
    /// The source to backfill (`[sources.<name>]`); optional when only one is configured.
    #[arg(long)]
    pub source: Option<String>,
    /// Read and map everything, write nothing: report the records that would not map and why,
    /// duplicates, and a projected duration.
    #[arg(long)]
    pub dry_run: bool,
    /// Records per chunk (one read, one transaction). Default: [backfill] batch_size, or 1000.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Records per second read from the source, to spare the legacy database.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Key-range partitions worked at once (integer keys). A resumed job keeps its partitions.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Already-migrated records: `skip` them, or update them when `legacy-newer`.
    #[arg(long, value_parser = parse_conflict)]
    pub conflict: Option<ConflictPolicy>,
    /// The job: its checkpoints are its own. Re-running a job resumes it and picks up rows
    /// added since; a new job name sweeps the whole source again (with `--conflict
    /// legacy-newer`, to bring over rows changed in legacy).
    #[arg(long, default_value = "backfill")]
    pub job: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also write the run's figures (records, seconds, peak RSS) as JSON here.
    #[arg(long, hide = true)]
    pub json_summary: Option<PathBuf>,
}

fn parse_conflict(s: &str) -> Result<ConflictPolicy, String> {
    match s {
        "skip" => Ok(ConflictPolicy::Skip),
        "legacy-newer" => Ok(ConflictPolicy::LegacyNewer),
        _ => Err("expected skip or legacy-newer".into()),
    }
}

pub async fn run(args: BackfillArgs) -> Result<()> {
    let config = args.config.load()?;
    config.check()?;
    let name = config.source_name(args.source.as_deref())?;
    let (source_config, mapper) = config.source_and_mapper(&name)?;
    let defaults = &config.backfill;
    let options = BackfillOptions {
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        rate: args.rate.or(defaults.rate).and_then(NonZeroU32::new),
        concurrency: args.concurrency.unwrap_or(defaults.concurrency),
        policy: args.conflict.unwrap_or(defaults.conflict),
        job: args.job,
        link: config.link.clone().map(Arc::new),
        ..BackfillOptions::default()
    };
    let source: Arc<dyn usher_core::Source> = Arc::from(source_config.build(&name).await?);
    let bar = Arc::new(Bars::new(args.dry_run));
    if args.dry_run {
        let linking = options.link.is_some();
        let job = options.job.clone();
        let store = existing_store(&config.store).await?;
        let result =
            usher_engine::dry_run(source, mapper, store.clone(), options, bar.clone()).await;
        bar.finish();
        if let Some(store) = store {
            store.close().await;
        }
        print_dry_run(&name, &job, &result?, linking);
        return Ok(());
    }
    let store: Arc<dyn usher_store::Store> = Arc::from(config.open_store().await?);
    let result =
        usher_engine::backfill(source, mapper, Arc::clone(&store), options, bar.clone()).await;
    bar.finish();
    let report = result.context(
        "the backfill stopped; everything written so far is kept, and re-running resumes",
    )?;
    let quarantined_total = store
        .quarantine_count(&usher_store::QuarantineFilter {
            source: Some(name.clone()),
        })
        .await?;
    let warnings = store
        .warnings(&usher_store::WarningFilter {
            source: Some(name.clone()),
            ..usher_store::WarningFilter::default()
        })
        .await?;
    store.close().await;
    print_summary(&name, &report, quarantined_total, &warnings);
    if let Some(path) = args.json_summary {
        let summary = serde_json::json!({
            "read": report.run.read,
            "migrated": report.run.migrated_now(),
            "displaced": report.run.displaced,
            "quarantined": report.run.quarantined,
            "linked": report.run.linked,
            "warned": warnings.users,
            "seconds": report.elapsed.as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
        });
        std::fs::write(&path, summary.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The process's peak resident set size (Linux `VmHWM`), if the platform says.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Seconds between progress lines when stderr is not a terminal (a log file, a CI job), so that
/// a killed run leaves a trace of how far it got.
const PROGRESS_LINE_SECONDS: u64 = 2;

/// Draws the progress bar from the engine's callbacks, or prints progress lines without a
/// terminal.
pub(crate) struct Bars {
    bar: ProgressBar,
    /// `Some(when the last line was printed)` when there is no terminal to draw on.
    lines: Option<std::sync::Mutex<std::time::Instant>>,
    migrated: AtomicU64,
    linked: AtomicU64,
    skipped: AtomicU64,
    quarantined: AtomicU64,
    dry: bool,
}

impl Bars {
    pub(crate) fn new(dry: bool) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} read  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        use std::io::IsTerminal as _;
        let lines = (!std::io::stderr().is_terminal())
            .then(|| std::sync::Mutex::new(std::time::Instant::now()));
        Self {
            bar,
            lines,
            migrated: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            linked: AtomicU64::new(0),
            dry,
        }
    }

    /// Without a terminal, a line on stderr every few seconds: read so far (of the total),
    /// the rate, and what became of the records.
    fn progress_line(&self) {
        let Some(last) = &self.lines else { return };
        let Ok(mut last) = last.lock() else { return };
        if last.elapsed() < Duration::from_secs(PROGRESS_LINE_SECONDS) {
            return;
        }
        *last = std::time::Instant::now();
        let total = self
            .bar
            .length()
            .map_or_else(String::new, |n| format!("/{n}"));
        eprintln!(
            "progress: read {}{total}  {:.0} records/s  elapsed {}  migrated {}  linked {}  skipped {}  quarantined {}",
            self.bar.position(),
            self.bar.per_sec(),
            HumanDuration(self.bar.elapsed()),
            self.migrated.load(Ordering::Relaxed),
            self.linked.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed),
            self.quarantined.load(Ordering::Relaxed),
        );
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn message(&self) {
        if self.dry {
            return;
        }
        let linked = self.linked.load(Ordering::Relaxed);
        self.bar.set_message(format!(
            "migrated {}  {}skipped {}  quarantined {}",
            self.migrated.load(Ordering::Relaxed),
            if linked > 0 {
                format!("linked {linked}  ")
            } else {
                String::new()
            },
            self.skipped.load(Ordering::Relaxed),
            self.quarantined.load(Ordering::Relaxed)
        ));
    }
}

impl Observer for Bars {
    fn started(&self, total: Option<u64>, resumed: Counters) {
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        // Resumed work counts toward the bar but not toward the rate and ETA.
        self.bar.set_position(resumed.read);
        self.bar.reset_eta();
        self.migrated.store(resumed.migrated, Ordering::Relaxed);
        self.skipped.store(resumed.skipped, Ordering::Relaxed);
        self.quarantined
            .store(resumed.quarantined, Ordering::Relaxed);
        self.linked.store(resumed.linked, Ordering::Relaxed);
        if resumed.read > 0 {
            self.bar.println(format!(
                "Resuming: {} records were done by earlier runs.",
                resumed.read
            ));
        }
        self.message();
    }

    fn chunk(&self, delta: Counters) {
        self.migrated.fetch_add(
            delta.migrated.saturating_add(delta.updated),
            Ordering::Relaxed,
        );
        self.skipped.fetch_add(delta.skipped, Ordering::Relaxed);
        self.quarantined
            .fetch_add(delta.quarantined, Ordering::Relaxed);
        self.linked.fetch_add(delta.linked, Ordering::Relaxed);
        self.bar.inc(delta.read);
        self.message();
        self.progress_line();
    }

    fn retrying(&self, what: &str, attempt: u32, wait: Duration) {
        self.bar.println(format!(
            "{what} failed (attempt {attempt}); retrying in {}",
            HumanDuration(wait)
        ));
    }
}

fn print_summary(
    source: &str,
    r: &BackfillReport,
    quarantined_total: u64,
    warnings: &usher_store::WarningReport,
) {
    let t = r.total();
    // Only a source whose records joined users of another source has links to show.
    let linked = |n: u64| {
        if t.linked > 0 {
            format!("  linked {n}")
        } else {
            String::new()
        }
    };
    let secs = r.elapsed.as_secs_f64();
    println!(
        "Backfill of source `{source}` finished in {}.",
        HumanDuration(r.elapsed)
    );
    if let Some(rss) = peak_rss_bytes() {
        println!("  peak memory {} MB", rss >> 20);
    }
    println!(
        "  this run: read {}  migrated {}{}  updated {}  skipped {}  quarantined {}  ({:.0} records/s)",
        r.run.read,
        r.run.migrated_now(),
        linked(r.run.linked),
        r.run.updated,
        r.run.skipped,
        r.run.quarantined,
        r.run.read as f64 / secs.max(1e-9)
    );
    if r.resumed.read > 0 {
        println!(
            "  all runs: read {}  migrated {}{}  updated {}  skipped {}  quarantined {}",
            t.read,
            t.migrated_now(),
            linked(t.linked),
            t.updated,
            t.skipped,
            t.quarantined
        );
    }
    if r.run.displaced > 0 {
        println!(
            "  {} users gave way to a record with a lower key and the same email or username \
             (partitions finished out of key order); their records are in quarantine",
            r.run.displaced
        );
    }
    if r.retries > 0 {
        println!(
            "  {} transient failures or lost races were retried",
            r.retries
        );
    }
    if quarantined_total > 0 {
        println!(
            "  {quarantined_total} records of `{source}` are in quarantine with a reason: usher quarantine list --source {source}"
        );
    }
    if warnings.users > 0 {
        println!(
            "  {} migrated users of `{source}` lost an optional field or kept it only as written: usher warnings --source {source}",
            warnings.users
        );
        super::warnings::print_by_field(warnings, "  ");
    }
}

/// The store a dry run predicts against: `None` when it does not exist yet (an SQLite file
/// that is not there is not created) or has no schema, so the run is a first one.
async fn existing_store(
    config: &usher_store::StoreConfig,
) -> Result<Option<Arc<dyn usher_store::Store>>> {
    if let usher_store::StoreConfig::Sqlite { path } = config
        && !path.exists()
    {
        return Ok(None);
    }
    let store = usher_store::open(config)
        .await
        .context("the dry run reads the store to predict against what it holds")?;
    if store.schema_version().await?.is_none() {
        store.close().await;
        return Ok(None);
    }
    Ok(Some(Arc::from(store)))
}

fn print_dry_run(source: &str, job: &str, r: &DryRunReport, linking: bool) {
    println!(
        "Dry run of source `{source}`, {}: nothing was written.",
        if r.against_store {
            "against what the store holds"
        } else {
            "as a first run (the store holds nothing yet)"
        }
    );
    println!(
        "  read {}  would migrate {}, with warnings on {}  would quarantine {} (mapping) + {} (email used by an earlier record) + {} (username used by an earlier record){}",
        r.read,
        r.migrate,
        r.warnings.users,
        r.invalid,
        r.duplicate_emails,
        r.duplicate_usernames,
        if linking {
            format!(" + {} (link refused)", r.link_refused)
        } else {
            String::new()
        }
    );
    if r.resumed.read > 0 {
        println!(
            "  job `{job}` read {} records in earlier runs: it would read only the rest (a new --job sweeps the whole source)",
            r.resumed.read
        );
    }
    if r.against_store {
        println!(
            "  already migrated: would skip {}  would update {}",
            r.skip, r.update
        );
    }
    if linking {
        println!(
            "  would link {} to users of other sources, and refuse {} links",
            r.link, r.link_refused
        );
        for (key, reason) in &r.link_examples {
            println!("    record {key}: {reason}");
        }
    }
    if r.displace > 0 {
        println!(
            "  {} users of earlier runs would give way to a record with a lower key (their records counted as duplicates above)",
            r.displace
        );
    }
    if r.warnings.users > 0 {
        super::warnings::print_by_field(&r.warnings, "  ");
    }
    if !r.errors_by_field.is_empty() {
        println!("  refusals by field:");
        for (field, n) in &r.errors_by_field {
            println!("    {field:<24} {n}");
        }
        println!("  first refusals:");
        for (key, reason) in &r.examples {
            println!("    record {key}: {reason}");
        }
    }
    if !r.duplicate_examples.is_empty() {
        println!(
            "  records whose email (ignoring case) or username an earlier record already has: {}",
            r.duplicate_examples.join(", ")
        );
    }
    println!("  read and mapped {:.0} records/s", r.records_per_second);
    if let Some(p) = r.projected {
        println!(
            "  projected backfill of all {} records: about {} of reading and mapping, plus writing (docs/benchmarks.md)",
            r.source_count.unwrap_or(r.read),
            HumanDuration(p)
        );
    }
}
