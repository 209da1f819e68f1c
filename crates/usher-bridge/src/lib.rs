//! # usher-bridge
//!
//! usher's login service, with no HTTP in it: the HTTP server (`usher-server`) and, later, the
//! identity providers' hooks call it, so every door applies the same rules.
//!
//! * [`Bridge`] — a login is checked in the new store first, else against legacy (a hash
//!   source's record verified locally, or an auth source that checks the password itself);
//!   a user who proves their password to legacy is moved across, re-hashed to Argon2id, in the
//!   same call, or linked to the user another source brought. [`Bridge::register`] creates a
//!   user new to both systems.
//! * [`HashPool`] — the bounded pool every hash job runs on: when it is full, work is shed
//!   ([`PoolError::Busy`]) rather than queued without bound.
//! * [`breaker`] — each legacy source's circuit breaker and the time limit on legacy calls
//!   (`[serve.outage]`), so an outage of legacy is answered as one, at once.
//! * [`outbox`] — delivering the writes owed to legacy ([`Courier`]); [`write_back`] — the
//!   HTTP writer.
//!
//! Metrics are recorded into [`usher_runtime::Metrics`].

pub mod breaker;
mod legacy;
mod link;
mod login;
mod lookup;
mod model;
pub mod outbox;
pub mod pool;
mod register;
pub mod write_back;

pub use breaker::OutageConfig;
pub use login::Bridge;
pub use lookup::Found;
pub use model::{
    AuthSourceEntry, HashSource, Legacy, LoginError, LoginOk, LoginPath, MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS, RegisterError, Registration,
};
pub use outbox::{Courier, Delivery, Round};
pub use pool::{HashPool, PoolError};
pub use write_back::{HttpWriteBack, HttpWriteBackConfig};
