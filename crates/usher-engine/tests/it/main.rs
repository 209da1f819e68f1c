//! usher-engine's jobs on their own, without the CLI: the backfill from a real SQLite legacy
//! table into a real SQLite store (`backfill`), and the dry run, over a source held in memory,
//! checked against the backfill that follows it (`dry_run`).

usher_testkit::test_modules! {
    mod backfill;
    mod dry_run;
}
