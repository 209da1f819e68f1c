//! usher-server's integration tests, one binary: the HTTP surface over a real login bridge
//! (`http`), connections and error answers over raw sockets (`connections`), the OpenAPI
//! document (`openapi`), and outages of legacy (`outage`). The login flow itself is tested in
//! usher-bridge; the fixtures both use are in usher-testkit.

// Tests state their expectations with unwrap/expect/indexing and plain arithmetic on small
// known numbers: a panic there is a test failure, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod connections;
mod http;
mod openapi;
mod outage;
