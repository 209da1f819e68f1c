//! Subcommands.

pub mod bench;
pub mod hash;
