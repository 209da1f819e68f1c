//! usher-connect against real databases: PostgreSQL, MariaDB and OpenLDAP's slapd started by
//! `scripts/test-services start` (their URLs in USHER_TEST_POSTGRES_URL, USHER_TEST_MYSQL_URL
//! and USHER_TEST_LDAP_URL; a missing one fails the test, it never skips), and SQLite files; the
//! legacy auth API client against an HTTP(S) server the tests start on 127.0.0.1.

usher_testkit::test_modules! {
    mod auth_api;
    mod common;
    mod config;
    mod files;
    mod ldap;
    mod mysql;
    mod postgres;
    mod sql;
    mod sqlite;
}
