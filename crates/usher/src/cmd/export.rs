//! `usher export`: the store's users (or a legacy source's, mapped) into an identity provider's import files, each hash in
//! the encoding that provider accepts, packed to its file limits, resumable after a kill.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use usher_core::{Mapper, Target, Unexportable};
use usher_engine::{ExportOptions, Observer as _, Users};
use usher_store::Counters;

use crate::cmd::backfill::Bars;
use crate::config::ConfigArg;

/// The formats `usher export` writes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Auth0's bulk user import: JSON arrays of at most 500 KB, hashes as
    /// `custom_password_hash`.
    Auth0,
    /// Okta's create-user requests, one a line: hashes as Okta's hash object, or the user
    /// pointed at Okta's password import hook.
    Okta,
    /// Clerk's create-user requests, one a line: hashes as `password_digest` with
    /// `password_hasher`; Clerk has no hook, so others are left out.
    Clerk,
    /// SuperTokens' bulk import, 10,000 a request body: bcrypt, Argon2 and Firebase scrypt
    /// hashes; others left out.
    Supertokens,
    /// Supabase Auth's admin create-user requests, one a line: hashes as `password_hash`
    /// (bcrypt, Argon2, Firebase scrypt); Supabase has no hook, so others are left out.
    Supabase,
    /// FusionAuth's user import, 5,000 a request body: hashes as `encryptionScheme`,
    /// `factor`, `salt` and `password`.
    Fusionauth,
    /// Ory Kratos's batch identity import, 200 a file: hashes as `hashed_password`, or the
    /// identity marked for Kratos's password migration hook.
    Kratos,
    /// Keycloak's partial import, 1,000 a file: PBKDF2 and Argon2 hashes as Keycloak
    /// credentials; others left to the keycloak-user-migration plugin.
    Keycloak,
    /// Firebase's `accounts:batchCreate` request bodies, 1,000 a file, one set of hash
    /// options each: bcrypt, Firebase scrypt and standard scrypt; Firebase has no hook, so
    /// others are left out.
    Firebase,
    /// Amazon Cognito's CSV user import, 500,000 a file: no passwords, so users with one are
    /// left to the migrate-user trigger (or imported to reset with `--unexportable reset`).
    Cognito,
    /// ZITADEL's create-user requests, one a line: hashes as the Modular Crypt Format strings
    /// it reads; ZITADEL has no hook, so others are left out.
    Zitadel,
}

/// Users whose hash the target cannot take.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnexportableArg {
    /// Listed for the target's lazy-migration hook, which checks their password through usher.
    Hook,
    /// Left out, listed.
    Omit,
    /// Imported without a password: they set a new one through the target's reset flow.
    Reset,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The identity provider whose import format to write.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The directory for the files (created if missing). Running again into it goes on
    /// from where the last run stopped.
    #[arg(long)]
    pub output: PathBuf,
    /// Users whose hash the target cannot take: left to its hook, left out, or imported
    /// without a password.
    #[arg(long, value_enum, default_value = "hook")]
    pub unexportable: UnexportableArg,
    /// Export straight from this legacy source (`[sources.<name>]`), each record mapped as the
    /// backfill maps it, instead of from usher's store. Nothing is written to the store, and
    /// users are not linked across sources.
    #[arg(long)]
    pub source: Option<String>,
    /// Then send the files to the provider's import API (`[push.<target>]` in the config says
    /// where, and which file holds the token): paced, honouring 429s, each user's fate in
    /// `<target>-push-log.jsonl`. Running again goes on where it stopped.
    #[arg(long)]
    pub push: bool,
    /// Files smaller than the target's limit (bytes).
    #[arg(long)]
    pub max_file_bytes: Option<usize>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub async fn run(args: ExportArgs) -> Result<()> {
    let config = args.config.load()?;
    let unexportable = match args.unexportable {
        UnexportableArg::Hook => Unexportable::Hook,
        UnexportableArg::Omit => Unexportable::Omit,
        UnexportableArg::Reset => Unexportable::Reset,
    };
    let hash_context = config.hash_context()?;
    let name = args
        .format
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let target: Arc<dyn Target> = usher_connect::target::by_name(
        &name,
        usher_connect::target::Options {
            hash_context,
            unexportable,
        },
    )
    .with_context(|| format!("no target {name}"))?
    .into();
    // A push's settings are checked before any export work.
    let push = if args.push {
        let name = target.name();
        let table = config.push.get(name).with_context(|| {
            format!("--push needs a [push.{name}] table in the config: its url and token_file")
        })?;
        Some(table.load(name)?)
    } else {
        None
    };
    let mut options = ExportOptions::new(&args.output);
    options.max_file_bytes = args.max_file_bytes;
    let bars = Bars::new(true);
    let progress = |n| {
        bars.chunk(Counters {
            read: n,
            ..Counters::default()
        });
    };
    let context = || format!("exporting to {}", args.output.display());
    let report = match &args.source {
        None => {
            config.check_store()?;
            let store = config.open_store().await?;
            bars.started(Some(store.counts().await?.users), Counters::default());
            let report = usher_engine::export(
                Users::Store(store.as_ref()),
                target.as_ref(),
                &options,
                &progress,
            )
            .await
            .with_context(context);
            store.close().await;
            report?
        }
        Some(name) => {
            config.check()?;
            let name = config.source_name(Some(name))?;
            let source_config = config.sources.get(&name).context("source vanished")?;
            let mapping = config.mappings.get(&name).context("mapping vanished")?;
            let mapper = Mapper::new(mapping)
                .map_err(|e| anyhow::anyhow!("{}", e.in_source(&name)))?
                .with_hash_context(config.hash_context()?);
            let source = source_config.build(&name).await?;
            bars.started(source.count().await?, Counters::default());
            usher_engine::export(
                Users::Source {
                    source: source.as_ref(),
                    mapper: &mapper,
                },
                target.as_ref(),
                &options,
                &progress,
            )
            .await
            .with_context(context)?
        }
    };
    bars.finish();
    let left: u64 = report.left_out.values().sum();
    println!(
        "{} users in {} {} file{} in {}{}; {left} left out",
        report.exported,
        report.files.len(),
        report.target,
        if report.files.len() == 1 { "" } else { "s" },
        args.output.display(),
        if report.resumed { " (resumed)" } else { "" },
    );
    for (label, n) in &report.left_out {
        println!("  {label:<28} {n:>10}");
    }
    if left > 0 {
        println!(
            "The users left out are listed in {}/{}-left-out-*.csv.",
            args.output.display(),
            report.target
        );
    }
    if let Some(push) = push {
        let bars = Bars::new(true);
        bars.started(Some(report.exported), Counters::default());
        let pushed =
            usher_connect::push::push(target.name(), &args.output, &report.files, &push, &|n| {
                bars.chunk(Counters {
                    read: n,
                    ..Counters::default()
                });
            })
            .await
            .with_context(|| {
                format!(
                    "pushing to {} (run again to go on)",
                    usher_core::redact_url(&push.url)
                )
            })?;
        bars.finish();
        println!("Pushed to {}:", usher_core::redact_url(&push.url));
        for (fate, n) in &pushed.fates {
            println!("  {fate:<28} {n:>10}");
        }
        println!(
            "Each user's fate, with the reason: {}",
            pushed.log.display()
        );
        if args.source.is_none() {
            let recorded = record_targets(&config, &args.output, target.name(), &pushed).await?;
            println!(
                "{recorded} more users recorded as taken by {} (`usher status` counts them).",
                target.name()
            );
        }
    }
    Ok(())
}

/// Records the provider as the target of each user it holds now, by the ids the export wrote
/// beside each file: how many were not recorded before.
async fn record_targets(
    config: &crate::config::Config,
    dir: &std::path::Path,
    target: &str,
    pushed: &usher_connect::push::PushReport,
) -> Result<u64> {
    let store = config.open_store().await?;
    let now = chrono::Utc::now();
    let mut recorded = 0u64;
    for (file, held) in &pushed.placed {
        let path = dir.join(usher_engine::ids_file(file));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let ids: Vec<&str> = text.lines().collect();
        for &i in held {
            let Some(id) = ids.get(i) else { continue };
            let id: usher_core::UserId = id.parse().map_err(|e| {
                anyhow::anyhow!("{}: line {}: {e}", path.display(), i.saturating_add(1))
            })?;
            if store.record_target(id, target, now).await? {
                recorded = recorded.saturating_add(1);
            }
        }
    }
    store.close().await;
    Ok(recorded)
}
