//! Subcommands.

pub mod backfill;
pub mod bench;
pub mod config_cmd;
pub mod demo;
pub mod export;
pub mod fake;
pub mod hash;
pub mod outbox;
pub mod quarantine;
pub mod reconcile;
pub mod serve;
pub mod status;
pub mod warnings;
pub mod worker;
