//! usher-server's integration tests, one binary: the login flow against real SQLite stores
//! and legacy tables (`bridge`), connections and error answers over raw sockets
//! (`connections`), and outages of legacy (`outage`).

// Tests state their expectations with unwrap/expect/indexing and plain arithmetic on small
// known numbers: a panic there is a test failure, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod support;

mod bridge;
mod connections;
mod openapi;
mod outage;
