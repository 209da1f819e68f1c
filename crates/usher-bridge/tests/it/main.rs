//! usher-bridge's integration tests, one binary: the login flow over real SQLite stores and
//! legacy tables, legacy write-backs over HTTP and HTTPS, links and registrations.

usher_testkit::test_modules! {
    mod login;
    mod outbox;
}
