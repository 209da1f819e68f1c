//! # usher-engine
//!
//! The jobs that move users, driving `usher-core` (mapping), `usher-connect` (sources) and
//! `usher-store` (the new store and its ledger):
//!
//! * [`backfill`] — read a source in key order, chunk by chunk, map each record, and write
//!   each chunk's users, ledger rows, quarantine entries and new checkpoint in one
//!   transaction. Resumable after a crash or `kill -9` (a replayed chunk is a no-op),
//!   rate-limited, split into key-range partitions that run concurrently.
//! * [`dry_run`] — the same reading and mapping, writing nothing: every record that would not
//!   map and why, duplicates, and a projected duration.
//!
//! * [`export`] — the store's users into an identity provider's import files, packed to
//!   its limits, resumable after a kill with no user written twice.
//! * [`status`] — where the migration stands: users by how they arrived, and per source how
//!   many records are migrated, linked, quarantined and remaining (`usher status` and the
//!   admin API's report).
//!
//! * [`reconcile`] — does the new store hold what legacy holds: every record (or a sample)
//!   compared with the user it became, a parity figure, differences by field.
//!
//! Progress is reported to an [`Observer`] (the CLI draws bars from it).

mod backfill;
mod dry_run;
mod error;
pub mod export;
mod observer;
mod partition;
pub mod reconcile;
pub mod status;

pub use backfill::{BackfillOptions, BackfillReport, backfill};
pub use dry_run::{DryRunReport, dry_run};
pub use error::EngineError;
pub use export::{ExportOptions, ExportReport, Users, export, ids_file};
pub use observer::{Observer, Silent};
pub use partition::Partition;
pub use reconcile::{ReconcileOptions, ReconcileReport, reconcile};
