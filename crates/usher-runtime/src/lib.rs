//! # usher-runtime
//!
//! What usher's long-running parts share, so each is written once:
//!
//! * [`RetryPolicy`] — exponential backoff with jitter, honouring a `Retry-After` the other
//!   side sent. The backfill's reads and writes, the store's contended transactions and the
//!   HTTP write-back retry through it.
//! * [`Pacer`] — work at a steady rate across tasks (the backfill's and the dry run's
//!   `--rate`).
//! * [`Metrics`] — the counters and histograms `/metrics` exposes (Prometheus text format),
//!   recorded by the login service and the HTTP server alike.
//! * [`Worker`] — a background job's loop, in rounds until [`Shutdown`], finishing the round
//!   in hand; with [`Worker::run_leased`], only while this process holds a [`Lease`] from
//!   [`Leases`] (the store's table), so one of many processes works at a time and another
//!   takes over when it stops renewing.
//!
//! ```
//! use std::time::Duration;
//! use usher_runtime::{GaveUp, Retry, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let policy = RetryPolicy {
//!     attempts: 3,
//!     first: Duration::from_millis(1),
//!     max: Duration::from_millis(4),
//!     jitter: Duration::ZERO,
//! };
//! let mut calls = 0;
//! let result: Result<u32, GaveUp<&str>> = policy
//!     .run(
//!         || {
//!             calls += 1;
//!             let n = calls;
//!             async move { if n < 3 { Err("busy") } else { Ok(n) } }
//!         },
//!         |_| Retry::Again,
//!         |_, _, _| {},
//!     )
//!     .await;
//! assert_eq!(result.ok(), Some(3));
//! # }
//! ```

pub mod metrics;
pub mod pace;
pub mod retry;
pub mod worker;

pub use metrics::Metrics;
pub use pace::Pacer;
pub use retry::{GaveUp, Retry, RetryPolicy};
pub use worker::{Lease, LeaseError, Leases, Shutdown, Stopped, Tick, Worker};
