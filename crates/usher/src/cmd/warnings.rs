//! `usher warnings`: the migrated users whose optional fields were dropped or kept only as
//! written (`on_invalid`), by field, with examples, and the users one by one.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use usher_store::{WarningFilter, WarningReport};

use crate::config::ConfigArg;

#[derive(Args)]
pub struct WarningsArgs {
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only warnings on this field (the rule's target, such as `phone`).
    #[arg(long)]
    pub field: Option<String>,
    /// Users listed one by one, at most (the tally by field counts them all).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the report as JSON instead.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub async fn run(args: WarningsArgs) -> Result<()> {
    let config = args.config.load()?;
    config.check_store()?;
    let store = config.open_store().await?;
    let report = store
        .warnings(&WarningFilter {
            source: args.source,
            field: args.field,
            limit: args.limit,
        })
        .await?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    if report.users == 0 {
        writeln!(out, "No migrated user carries a warning.")?;
        return Ok(());
    }
    writeln!(out, "{} migrated users carry warnings.", report.users)?;
    write_by_field(&mut out, &report, "  ")?;
    writeln!(
        out,
        "{:<36} {:<12} {:<14} warning",
        "user", "source", "legacy id"
    )?;
    for u in &report.listed {
        for w in &u.warnings {
            writeln!(
                out,
                "{:<36} {:<12} {:<14} {w}",
                u.user_id, u.source, u.legacy_id
            )?;
        }
    }
    let shown = report.listed.len();
    writeln!(
        out,
        "({shown} of {} users listed; --limit shows more)",
        report.users
    )?;
    Ok(())
}

/// The tally by field with a few examples each, as the backfill summary, its dry run and
/// `usher warnings` print it.
pub(crate) fn print_by_field(report: &WarningReport, indent: &str) {
    // Best effort: one part of a summary.
    let _ = write_by_field(&mut std::io::stdout().lock(), report, indent);
}

fn write_by_field(
    out: &mut impl Write,
    report: &WarningReport,
    indent: &str,
) -> std::io::Result<()> {
    writeln!(out, "{indent}warnings by field:")?;
    for f in &report.by_field {
        writeln!(
            out,
            "{indent}  {:<12} {:<20} {}",
            f.source, f.field, f.users
        )?;
        for (key, reason) in &f.examples {
            writeln!(out, "{indent}      e.g. record {key}: {reason}")?;
        }
    }
    Ok(())
}
