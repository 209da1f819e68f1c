//! `usher reconcile`: does the new store hold what legacy holds? A parity figure, what is
//! missing, quarantined or deleted, and the differences by field; each run is kept in the
//! store (`usher_parity_ratio`, the cut-over gate).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use usher_engine::{ReconcileOptions, ReconcileReport};

use super::backfill::Bars;
use crate::config::ConfigArg;

#[derive(Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The source to compare (may be omitted when there is only one).
    #[arg(long)]
    pub source: Option<String>,
    /// Compare about N records drawn at random (deletions in legacy are not looked for).
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub sample: Option<u64>,
    /// Compare every record, and look for users whose legacy record is gone (the default).
    #[arg(long)]
    pub all: bool,
    /// Repair the new store as it goes (legacy is the system of record): migrate the records
    /// it misses, rewrite the users that differ from legacy (a password set in usher stays).
    /// Users whose legacy record is gone, and records that no longer map, are only reported.
    #[arg(long)]
    pub repair: bool,
    /// Print the report as JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write every example divergence to FILE as CSV: kind, field, legacy id.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Records per read.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Example legacy ids kept per kind of difference.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
}

pub async fn run(args: ReconcileArgs) -> Result<()> {
    let config = args.config.load()?;
    config.check()?;
    let name = config.source_name(args.source.as_deref())?;
    let (source_config, mapper) = config.source_and_mapper(&name)?;
    let source: Arc<dyn usher_core::Source> = Arc::from(source_config.build(&name).await?);
    let store: Arc<dyn usher_store::Store> = Arc::from(config.open_store().await?);
    let options = ReconcileOptions {
        batch_size: args.batch_size,
        sample: args.sample,
        examples: args.examples,
        repair: args.repair,
    };
    let bar = Arc::new(Bars::new(true));
    let result =
        usher_engine::reconcile(source, mapper, Arc::clone(&store), &options, bar.clone()).await;
    bar.finish();
    let report = result.context("the reconciliation stopped; nothing was written")?;
    let json = report.to_json();
    store
        .record_reconciliation(
            &name,
            chrono::Utc::now(),
            (report.compared, report.identical),
            &json,
        )
        .await?;
    store.close().await;
    if let Some(path) = &args.csv {
        write_csv(path, &report)?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        print_report(&mut out, &report)?;
    }
    Ok(())
}

/// The kinds of divergence, in report order, with their names.
fn kinds(r: &ReconcileReport) -> [(&'static str, &usher_engine::reconcile::Divergence); 5] {
    [
        ("missing", &r.missing),
        ("quarantined", &r.quarantined),
        ("unmappable", &r.unmappable),
        ("differing", &r.differing),
        ("deleted_in_legacy", &r.deleted_in_legacy),
    ]
}

fn print_report(out: &mut impl std::io::Write, r: &ReconcileReport) -> std::io::Result<()> {
    let how = if r.sampled {
        "a sample of"
    } else {
        "every record of"
    };
    writeln!(
        out,
        "reconciled {how} source {}: {} read, {} compared in {:.1} s",
        r.source, r.read, r.compared, r.seconds
    )?;
    writeln!(
        out,
        "parity {:.4}%  ({} identical of {} compared)",
        r.parity * 100.0,
        r.identical,
        r.compared
    )?;
    for (kind, d) in kinds(r) {
        if kind == "deleted_in_legacy" && r.sampled {
            continue;
        }
        writeln!(out, "  {kind:<18} {:>9}{}", d.count, examples(&d.examples))?;
    }
    if !r.fields.is_empty() {
        writeln!(out, "differences by field:")?;
        for (field, d) in &r.fields {
            writeln!(out, "  {field:<28} {:>9}{}", d.count, examples(&d.examples))?;
        }
    }
    if r.repaired != usher_engine::reconcile::Repaired::default() {
        let f = &r.repaired;
        writeln!(
            out,
            "repaired: {} missing migrated, {} differing rewritten from legacy, {} quarantined \
             (the figures above are from before the repair)",
            f.migrated, f.updated, f.quarantined
        )?;
    }
    writeln!(
        out,
        "parity = identical ÷ compared; compared = legacy records read{}; docs/reconcile.md",
        if r.sampled {
            " (sampled)"
        } else {
            " + users whose legacy record is gone"
        }
    )
}

fn examples(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("  e.g. {}", ids.join(", "))
    }
}

fn write_csv(path: &std::path::Path, r: &ReconcileReport) -> Result<()> {
    let mut text = String::from("kind,field,legacy_id\n");
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for (kind, d) in kinds(r) {
        for id in &d.examples {
            text.push_str(&format!("{kind},,{}\n", quote(id)));
        }
    }
    for (field, d) in &r.fields {
        for id in &d.examples {
            text.push_str(&format!("differing,{},{}\n", quote(field), quote(id)));
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
