//! usher-engine's jobs on their own, without the CLI: a source held in memory, a real SQLite
//! store, and the dry run checked against the backfill that follows it.

mod dry_run;
