//! usher-bridge's integration tests, one binary: the login flow over real SQLite stores and
//! legacy tables, legacy write-backs over HTTP and HTTPS, links and registrations.

// Tests state their expectations with unwrap/expect/indexing and plain arithmetic on small
// known numbers: a panic there is a test failure, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod login;
