//! The `usher` binary, driven as scripts drive it.

usher_testkit::test_modules! {
    mod backfill_cli;
    mod backfill_kill;
    mod export_cli;
    mod hash_cli;
    mod link;
    mod outbox_cli;
    mod outbox_kill;
    mod push;
    mod reconcile;
    mod serve;
    mod support;
}
