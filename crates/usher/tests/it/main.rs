//! The `usher` binary, driven as scripts drive it.

// Test code states expectations by panicking; the no-panic lints guard library code only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

mod backfill_cli;
mod backfill_kill;
mod hash_cli;
mod link;
mod serve;
mod support;
