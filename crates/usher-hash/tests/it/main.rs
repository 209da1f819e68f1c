//! Integration tests for usher-hash: every vector made by an independent implementation
//! verifies, and every malformed or hostile input is refused without panicking.

// Test code states expectations by panicking; the no-panic lints guard library code only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod hostile;
mod upgrade;
mod vectors;
