//! usher-store's integration tests: one suite, written once against `dyn Store`, run on a
//! fresh SQLite file and on a fresh database of a real PostgreSQL (`USHER_TEST_POSTGRES_URL`).

// Tests state their expectations with unwrap/expect/indexing and plain arithmetic on small
// known numbers: a panic there is a test failure, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

mod harness;

mod config;
mod data;
mod races;
mod suite;

use harness::{both, both_pair};

both!(migrating_twice_is_a_no_op);
both!(a_replayed_chunk_writes_nothing_twice);
both!(quarantine_is_replaced_on_rerun_and_cleared_once_the_record_migrates);
both!(case_only_duplicates_keep_one_user_and_quarantine_the_other);
both!(legacy_newer_records_update_users_in_place);
both!(checkpoints_resume_where_the_last_chunk_ended);
both!(users_read_back_equal_what_was_written);
both!(values_no_backend_can_hold_are_quarantined_not_fatal);
both!(a_malformed_chunk_writes_nothing);
both!(the_quarantine_lists_pages_streams_and_counts);
both!(the_ledger_streams_in_legacy_id_order);
both!(events_append_and_read_in_order);
both!(a_partition_plan_is_stored_once_and_kept);
both_pair!(concurrent_writers_with_colliding_emails_lose_nothing);
both_pair!(racing_planners_never_mix_their_plans);
