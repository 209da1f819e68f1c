//! usher-connect against real databases: PostgreSQL and MariaDB started by
//! `scripts/test-services start` (their URLs in USHER_TEST_POSTGRES_URL and
//! USHER_TEST_MYSQL_URL; a missing one fails the test, it never skips), and SQLite files.

// Tests state their expectations with unwrap/expect/panic and index fixtures directly; a
// failure should stop the test with the value in view.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

mod common;
mod config;
mod files;
mod mysql;
mod postgres;
mod sqlite;
