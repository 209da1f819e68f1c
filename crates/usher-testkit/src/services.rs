//! The servers `scripts/test-services start` runs for the tests (a throwaway PostgreSQL 15,
//! MariaDB and OpenLDAP slapd), found through the variables it exports, and the URLs tests
//! derive from theirs.
//!
//! A missing variable fails the test that needed it, naming the variable and how to start the
//! servers: usher's tests never skip.

use std::sync::atomic::{AtomicU32, Ordering};

/// A superuser URL of the throwaway PostgreSQL cluster.
pub const POSTGRES_URL: &str = "USHER_TEST_POSTGRES_URL";
/// A URL of the throwaway MariaDB server, as a user that may create databases.
pub const MYSQL_URL: &str = "USHER_TEST_MYSQL_URL";
/// The slapd's `ldap://` URL.
pub const LDAP_URL: &str = "USHER_TEST_LDAP_URL";
/// The slapd's `ldaps://` URL.
pub const LDAPS_URL: &str = "USHER_TEST_LDAPS_URL";
/// The PEM file of the CA that signed the slapd's certificate.
pub const LDAP_CA_FILE: &str = "USHER_TEST_LDAP_CA_FILE";
/// The directory's suffix (its only entry at start).
pub const LDAP_BASE: &str = "USHER_TEST_LDAP_BASE";
/// The directory's admin (its rootdn).
pub const LDAP_ADMIN_DN: &str = "USHER_TEST_LDAP_ADMIN_DN";
/// A file holding the admin's password.
pub const LDAP_ADMIN_PASSWORD_FILE: &str = "USHER_TEST_LDAP_ADMIN_PASSWORD_FILE";

/// The value of `name`, one of the variables `scripts/test-services start` exports; the test
/// fails, saying how to start the servers, when it is missing or empty.
pub fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => panic!(
            "{name} is not set: usher's tests run against real servers and never skip. Run \
             them through `scripts/test`, or start the servers yourself:\n\
             \n  eval \"$(scripts/test-services start)\"   # exports {name}\
             \n  cargo test -p <crate>\
             \n  scripts/test-services stop\n"
        ),
    }
}

/// A name no other test uses, in this process or another: `<prefix>_<pid>_<n>_<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// `url` pointing at database `name` instead of its own; a query string is kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = head.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` with its password replaced by `password`.
pub fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    format!("{scheme}://{user}:{password}@{host}")
}

/// A port on 127.0.0.1 where nothing listens (it did a moment ago, so nothing else is likely
/// to take it during the test).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `url` pointed at 127.0.0.1 on a [`dead_port`], its credentials and path kept.
pub fn with_dead_port(url: &str) -> String {
    let port = dead_port();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host_and_path) = rest.split_once('@').unwrap();
    let path = host_and_path
        .find('/')
        .and_then(|i| host_and_path.get(i..))
        .unwrap_or("");
    format!("{scheme}://{userinfo}@127.0.0.1:{port}{path}")
}
