//! usher-engine's jobs on their own, without the CLI: a source held in memory, a real SQLite
//! store, and the dry run checked against the backfill that follows it.

// Tests state their expectations with unwrap/expect/indexing and plain arithmetic on small
// known numbers: a panic there is a test failure, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

mod dry_run;
