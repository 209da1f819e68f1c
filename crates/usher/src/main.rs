//! `usher`: move user accounts from a legacy auth system to a new one with no downtime.
//!
//! `main` parses the command line into one of the subcommands in [`cmd`] and turns its
//! result into an exit code; each subcommand documents its own codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

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
    /// Measure performance against a reference in the same run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hash(command) => cmd::hash::run(command),
        Command::Bench(command) => match cmd::bench::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("usher: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
