//! usher-store's integration tests: one suite, written once against `dyn Store`, run on a
//! fresh SQLite file and on a fresh database of a real PostgreSQL (`USHER_TEST_POSTGRES_URL`).

usher_testkit::test_modules! {
    mod harness;

    mod bridge;
    mod config;
    mod data;
    mod leases;
    mod outbox;
    mod races;
    mod reconcile;
    mod suite;
    mod targets;
    mod users;
}

use harness::{both, both_pair, bridge};

both!(migrating_twice_is_a_no_op);
both!(a_replayed_chunk_writes_nothing_twice);
both!(quarantine_is_replaced_on_rerun_and_cleared_once_the_record_migrates);
both!(case_only_duplicates_keep_one_user_and_quarantine_the_other);
both!(a_lower_key_takes_an_address_back_from_an_untouched_higher_one);
both!(legacy_newer_records_update_users_in_place);
both!(checkpoints_resume_where_the_last_chunk_ended);
both!(users_read_back_equal_what_was_written);
both!(values_no_backend_can_hold_are_quarantined_not_fatal);
both!(a_malformed_chunk_writes_nothing);
both!(the_quarantine_lists_pages_streams_and_counts);
both!(the_ledger_streams_in_legacy_id_order);
both!(events_append_and_read_in_order);
both!(a_partition_plan_is_stored_once_and_kept);
both!(a_preview_predicts_the_write_and_writes_nothing);
both!(the_ledger_alone_names_the_user_a_record_became);
both!(a_target_takes_a_user_once);
both!(the_outbox_delivers_each_user_s_rows_in_order_at_least_once);
both!(users_page_through_in_id_order_with_their_links);
both!(the_users_of_a_chunk_of_records_come_in_one_read);
both!(reconciliation_runs_are_kept_newest_first);
both_pair!(concurrent_writers_with_colliding_emails_lose_nothing);
both_pair!(racing_planners_never_mix_their_plans);
both_pair!(a_lease_is_held_by_one_holder_until_it_expires_or_is_given_back);
both_pair!(two_workers_of_one_job_take_turns_through_the_lease);
both_pair!(two_processes_claiming_at_once_never_share_a_row);

bridge!(a_first_login_writes_user_credential_ledger_and_event_and_clears_quarantine);
bridge!(a_second_first_login_is_already_migrated_and_writes_nothing);
bridge!(fifty_concurrent_first_logins_make_one_user);
bridge!(a_backfill_racing_first_logins_leaves_one_user_per_record);
bridge!(a_first_login_whose_identifier_another_user_holds_writes_nothing);
bridge!(a_first_login_the_store_cannot_hold_is_refused_whole);
bridge!(registering_a_user_and_a_taken_email);
bridge!(replacing_a_credential_is_compare_and_set);
bridge!(counts_report_users_by_every_method);
bridge!(linking_a_second_source_keeps_one_user_with_every_legacy_id);
bridge!(a_chunk_links_a_second_source_in_its_own_transaction);
bridge!(logins_racing_a_linking_chunk_link_each_record_once);
bridge!(the_outbox_rows_of_a_migration_or_link_commit_with_it_or_not_at_all);
