//! `usher`: move user accounts from a legacy auth system to a new one with no downtime.
//!
//! `main` parses the command line into one of the subcommands in [`cmd`] and turns its
//! result into an exit code; each subcommand documents its own codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: a backfill allocates and frees millions of small strings
/// across threads, where glibc's per-thread arenas fragment (peak RSS grew with batch size)
/// and its frees cost more (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod config;

#[derive(Parser)]
#[command(
    name = "usher",
    version,
    about = "Move user accounts from a legacy auth system to a new one with no downtime."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Identify, verify and create password hashes.
    #[command(subcommand)]
    Hash(cmd::hash::HashCommand),
    /// Move every legacy user of a source into the store: resumable, idempotent,
    /// rate-limited; invalid records go to the quarantine with a reason.
    Backfill(cmd::backfill::BackfillArgs),
    /// The records that did not migrate, and why.
    #[command(subcommand)]
    Quarantine(cmd::quarantine::QuarantineCommand),
    /// The writes owed to the other side: list them, retry the dead, drop one.
    #[command(subcommand)]
    Outbox(cmd::outbox::OutboxCommand),
    /// The migrated users whose optional fields were dropped or kept only as written, and
    /// why.
    Warnings(cmd::warnings::WarningsArgs),
    /// Deliver the outbox (the writes owed to legacy) without serving logins; any number
    /// of workers may share the store.
    Worker(cmd::worker::WorkerArgs),
    /// Serve the login bridge: logins checked in the new store, else in legacy and migrated
    /// on the spot; registration, sessions (JWKS), the admin API and /metrics.
    Serve(cmd::serve::ServeArgs),
    /// Lazy migration, live: a legacy database of fake users, half of them backfilled, and
    /// the login bridge serving with curl examples for both halves.
    Demo(cmd::demo::DemoArgs),
    /// Where the migration stands: users by how they arrived, and per source how many
    /// are migrated and how many remain.
    Status(cmd::status::StatusArgs),
    /// Write an identity provider's import files from the store's users (or straight from a
    /// legacy source), each hash in the encoding that provider accepts; resumable; `--push`
    /// sends them to the provider's import API.
    Export(cmd::export::ExportArgs),
    /// Does the new store hold what legacy holds? A parity figure, what is missing or
    /// deleted, and the differences by field; each run is kept in the store.
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Check usher.toml.
    #[command(subcommand)]
    Config(cmd::config_cmd::ConfigCommand),
    /// Generate a legacy table of fake users (mixed hash formats, realistic mess) for
    /// rehearsals, into SQLite or PostgreSQL.
    Fake(cmd::fake::FakeArgs),
    /// Measure performance against a reference in the same run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hash(command) => cmd::hash::run(command),
        Command::Backfill(args) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::backfill::run(args))))
        }
        Command::Quarantine(c) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::quarantine::run(c))))
        }
        Command::Outbox(c) => finish(runtime().and_then(|rt| rt.block_on(cmd::outbox::run(c)))),
        Command::Warnings(args) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::warnings::run(args))))
        }
        Command::Serve(args) => finish(runtime().and_then(|rt| rt.block_on(cmd::serve::run(args)))),
        Command::Worker(args) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::worker::run(args))))
        }
        Command::Demo(args) => finish(runtime().and_then(|rt| rt.block_on(cmd::demo::run(args)))),
        Command::Status(args) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::status::run(args))))
        }
        Command::Export(args) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::export::run(args))))
        }
        Command::Reconcile(args) => {
            finish(runtime().and_then(|rt| rt.block_on(cmd::reconcile::run(args))))
        }
        Command::Config(c) => finish(cmd::config_cmd::run(c)),
        Command::Fake(args) => finish(runtime().and_then(|rt| rt.block_on(cmd::fake::run(args)))),
        Command::Bench(command) => finish(cmd::bench::run(command)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Prints an error with its context chain on one line and maps it to exit code 1.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`usher quarantine list | head`): stop quietly, as other
        // tools do.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("usher: {e:#}");
            ExitCode::FAILURE
        }
    }
}
