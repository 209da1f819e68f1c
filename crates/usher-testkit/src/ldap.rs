//! The test slapd of [`services`](crate::services): its admin, and a subtree of its own for each
//! test, filled as the admin over an `ldap3` connection.

use std::collections::HashSet;
use std::path::PathBuf;

use ldap3::{Ldap, LdapConnAsync};

use crate::services::{self, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD_FILE, LDAP_BASE, LDAP_URL};

/// The directory `scripts/test-services start` runs: suffix `dc=example,dc=org` holding only
/// its base entry, and an admin (the rootdn) who creates what tests need.
#[derive(Debug, Clone)]
pub struct Directory {
    /// `ldap://127.0.0.1:<port>`.
    pub url: String,
    /// The suffix.
    pub base: String,
    pub admin_dn: String,
    /// A file holding the admin's password.
    pub admin_password_file: PathBuf,
}

impl Directory {
    /// The directory the variables name; a missing one fails the test.
    pub fn from_env() -> Directory {
        Directory {
            url: services::var(LDAP_URL),
            base: services::var(LDAP_BASE),
            admin_dn: services::var(LDAP_ADMIN_DN),
            admin_password_file: PathBuf::from(services::var(LDAP_ADMIN_PASSWORD_FILE)),
        }
    }

    /// The admin's password, without the file's trailing newline.
    pub fn admin_password(&self) -> String {
        let password = std::fs::read_to_string(&self.admin_password_file).unwrap();
        password.trim_end().to_owned()
    }
}

/// A test's own subtree on the shared slapd, `ou=<name>_<unique>,<base>`, so tests run in
/// parallel and reruns against the same server never collide; and an admin connection to fill
/// it.
pub struct Subtree {
    pub url: String,
    /// `ou=<name>_<unique>,<base>`.
    pub base: String,
    pub admin_dn: String,
    pub admin_password_file: PathBuf,
    /// Bound as the admin.
    pub ldap: Ldap,
}

impl std::fmt::Debug for Subtree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subtree")
            .field("url", &self.url)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Subtree {
    /// Creates the subtree for the test `name`, as the admin.
    pub async fn new(name: &str) -> Subtree {
        let directory = Directory::from_env();
        let (conn, mut ldap) = LdapConnAsync::new(&directory.url).await.unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&directory.admin_dn, &directory.admin_password())
            .await
            .unwrap()
            .success()
            .unwrap();
        let ou = services::unique_name(name);
        let base = format!("ou={ou},{}", directory.base);
        add(
            &mut ldap,
            &base,
            &[("objectClass", &["organizationalUnit"]), ("ou", &[&ou])],
        )
        .await;
        Subtree {
            url: directory.url,
            base,
            admin_dn: directory.admin_dn,
            admin_password_file: directory.admin_password_file,
            ldap,
        }
    }

    /// Adds `uid=<uid>,<base>` as an inetOrgPerson with `cn`, `sn`, `uid` and `extra`.
    pub async fn person(&mut self, uid: &str, extra: &[(&str, &[&str])]) -> String {
        let dn = format!("uid={},{}", ldap3::dn_escape(uid), self.base);
        let mut attrs: Vec<(&str, &[&str])> = vec![
            ("objectClass", &["inetOrgPerson"]),
            ("uid", std::slice::from_ref(&uid)),
            ("sn", &["Tester"]),
            ("cn", std::slice::from_ref(&uid)),
        ];
        attrs.extend_from_slice(extra);
        add(&mut self.ldap, &dn, &attrs).await;
        dn
    }
}

/// Adds the entry `dn` with `attrs` (each a name and its values); the server must accept it.
pub async fn add(ldap: &mut Ldap, dn: &str, attrs: &[(&str, &[&str])]) {
    let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = attrs
        .iter()
        .map(|(name, values)| {
            (
                name.as_bytes().to_vec(),
                values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            )
        })
        .collect();
    ldap.add(dn, attrs).await.unwrap().success().unwrap();
}

/// `ldap://127.0.0.1:<port>` where nothing listens.
pub fn dead_url() -> String {
    format!("ldap://127.0.0.1:{}", services::dead_port())
}
