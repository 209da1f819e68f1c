//! `[sources.<name>]` with `type = "ldap"`: the options, checked without connecting, and the
//! source built from them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::LdapConnSettings;
use serde::Deserialize;
use usher_core::{ConfigProblem, SourceError, config::resolve_path};
use usher_hash::Password;

use super::{DEFAULT_FILTER, DEFAULT_USER_FILTER, IDENTIFIER_PLACEHOLDER, LdapSource};

/// A `[sources.<name>]` table with `type = "ldap"`.
///
/// ```toml
/// [sources.corp]
/// type = "ldap"
/// url = "ldap://ldap.internal:389"      # or ldaps://
/// starttls = false                     # true, or ldaps://, unless the host is loopback
/// allow_plaintext = false               # true: ldap:// in clear (isolated networks only)
/// tls_ca_file = "secrets/ldap-ca.pem"   # optional
/// bind_dn = "cn=usher,ou=services,dc=example,dc=org"
/// bind_password_file = "secrets/ldap-bind-password"
/// base_dn = "ou=people,dc=example,dc=org"
/// filter = "(objectClass=inetOrgPerson)"
/// key = "uid"
/// attributes = ["uid", "mail", "cn", "sn", "givenName", "userPassword"]  # default: all
/// user_filter = "(|(uid={identifier})(mail={identifier}))"
/// page_size = 500
/// timeout_seconds = 10
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// Accept `ldap://` to a host that is not loopback without StartTLS, which sends every
    /// password in clear at bind: for isolated networks only.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// PEM file of the CA certificates to trust instead of the system's (ldaps or StartTLS).
    pub tls_ca_file: Option<PathBuf>,
    /// The service account's DN; without it, searches are anonymous.
    pub bind_dn: Option<String>,
    /// A file holding the service account's password (one trailing newline is ignored).
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (subtree).
    pub base_dn: String,
    /// Which entries are users.
    #[serde(default = "default_filter")]
    pub filter: String,
    /// The attribute that keys records (one value per entry).
    #[serde(default = "default_key")]
    pub key: String,
    /// The attributes to read; default: all user attributes (plus `key`).
    pub attributes: Option<Vec<String>>,
    /// How the bridge finds a user by login identifier; `{identifier}` is replaced by the
    /// escaped identifier.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// Entries per paged-results round trip.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Limit on connecting and on each LDAP operation.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_filter() -> String {
    DEFAULT_FILTER.to_owned()
}
fn default_key() -> String {
    "uid".to_owned()
}
fn default_user_filter() -> String {
    DEFAULT_USER_FILTER.to_owned()
}
fn default_page_size() -> u32 {
    500
}
fn default_timeout() -> u64 {
    10
}

/// The largest `page_size` accepted (servers cap pages lower anyway: OpenLDAP's default
/// size limit is 500).
const MAX_PAGE_SIZE: u32 = 100_000;
/// The largest `timeout_seconds` accepted.
const MAX_TIMEOUT_SECONDS: u64 = 3600;

/// Whether `name` is an attribute description usher accepts: a name (a letter, then letters,
/// digits and `-`), or a numeric OID.
pub(super) fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-'),
        Some(c) if c.is_ascii_digit() => name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit())),
        _ => false,
    }
}

/// Whether an `ldap://` URL's host is `localhost` or a loopback address (an unparsable URL is
/// not).
fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| crate::auth_api::is_loopback(&u))
}

fn check_filter(field: &str, filter: &str) -> Option<ConfigProblem> {
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return Some(ConfigProblem::new(
            field,
            format!("{filter:?} is not a parenthesized LDAP filter"),
        ));
    }
    ldap3::parse_filter(filter)
        .err()
        .map(|()| ConfigProblem::new(field, format!("{filter:?} is not a valid LDAP filter")))
}

impl LdapConfig {
    /// Checks the configuration without connecting or reading any file: every problem, each
    /// keyed within the source's table (`url`, `base_dn`, `attributes`...).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &str, reason: String| problems.push(ConfigProblem::new(key, reason));
        let lower = self.url.to_ascii_lowercase();
        let ldaps = lower.starts_with("ldaps://");
        let ldap_url = ldaps || lower.starts_with("ldap://");
        if !ldap_url {
            problem("url", "must start with ldap:// or ldaps://".into());
        }
        if self.url.contains('@') {
            problem(
                "url",
                "must not hold credentials; use bind_dn and bind_password_file".into(),
            );
        }
        if ldaps && self.starttls {
            problem(
                "starttls",
                "an ldaps:// connection is already TLS; StartTLS is for ldap://".into(),
            );
        }
        if self.tls_ca_file.is_some() && !ldaps && !self.starttls {
            problem(
                "tls_ca_file",
                "needs an ldaps:// url or starttls = true".into(),
            );
        }
        match (&self.bind_dn, &self.bind_password_file) {
            (Some(dn), Some(_)) if dn.trim().is_empty() => problem("bind_dn", "is empty".into()),
            (Some(_), None) => problem("bind_password_file", "is required with bind_dn".into()),
            (None, Some(_)) => problem("bind_dn", "is required with bind_password_file".into()),
            _ => {}
        }
        if self.base_dn.trim().is_empty() {
            problem("base_dn", "is empty".into());
        }
        if let Some(p) = check_filter("filter", &self.filter) {
            problem(&p.key, p.reason);
        }
        if !is_attribute_name(&self.key) {
            problem("key", format!("{:?} is not an attribute name", self.key));
        }
        match &self.attributes {
            Some(attributes) if attributes.is_empty() => problem(
                "attributes",
                "is empty; leave it out to read all attributes".into(),
            ),
            Some(attributes) => {
                for a in attributes {
                    if a != "*" && a != "+" && !is_attribute_name(a) {
                        problem("attributes", format!("{a:?} is not an attribute name"));
                    }
                }
            }
            None => {}
        }
        if !self.user_filter.contains(IDENTIFIER_PLACEHOLDER) {
            problem(
                "user_filter",
                format!("must contain {IDENTIFIER_PLACEHOLDER}"),
            );
        } else if let Some(p) = check_filter(
            "user_filter",
            &self.user_filter.replace(IDENTIFIER_PLACEHOLDER, "x"),
        ) {
            problem(&p.key, p.reason);
        }
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            problem(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            );
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > MAX_TIMEOUT_SECONDS {
            problem(
                "timeout_seconds",
                format!("must be between 1 and {MAX_TIMEOUT_SECONDS}"),
            );
        }
        if ldap_url
            && !ldaps
            && !self.starttls
            && !self.allow_plaintext
            && !is_loopback_url(&self.url)
        {
            problem(
                "url",
                "is plain ldap:// to another host, which sends every password in clear at \
                 bind; use ldaps:// or starttls = true (allow_plaintext = true only on an \
                 isolated network)"
                    .into(),
            );
        }
        problems
    }

    /// Makes `bind_password_file` and `tls_ca_file` relative to `base` (the config file's
    /// directory) if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.bind_password_file, &mut self.tls_ca_file]
            .into_iter()
            .flatten()
        {
            resolve_path(path, base);
        }
    }

    /// The source named `name`: validates, reads `bind_password_file` and `tls_ca_file`;
    /// connects only on first use.
    pub async fn build(&self, name: &str) -> Result<LdapSource, SourceError> {
        crate::refuse(name, self.validate())?;
        let config_error = |reason: String| SourceError::Config {
            source_name: name.to_owned(),
            reason,
        };
        let bind = match (&self.bind_dn, &self.bind_password_file) {
            (Some(dn), Some(file)) => {
                Some((dn.clone(), read_password_file(file).map_err(config_error)?))
            }
            _ => None,
        };
        let timeout = Duration::from_secs(self.timeout_seconds);
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(self.starttls);
        if let Some(ca) = &self.tls_ca_file {
            settings = settings.set_config(tls_config(ca).map_err(config_error)?);
        }
        let mut attributes: Vec<String> = self
            .attributes
            .clone()
            .unwrap_or_else(|| vec!["*".to_owned()]);
        if !attributes.iter().any(|a| a.eq_ignore_ascii_case(&self.key)) {
            attributes.push(self.key.clone());
        }
        Ok(LdapSource {
            name: name.to_owned(),
            config: self.clone(),
            settings,
            bind,
            timeout,
            attributes,
            snapshot: Mutex::new(None),
        })
    }
}

/// The password in `file`, without one trailing newline (`\n` or `\r\n`).
fn read_password_file(file: &Path) -> Result<Password, String> {
    let bytes = std::fs::read(file)
        .map_err(|e| format!("bind_password_file: cannot read {}: {e}", file.display()))?;
    let mut password = Password::new(bytes);
    let text = password
        .as_str()
        .ok_or_else(|| format!("bind_password_file: {} is not UTF-8 text", file.display()))?;
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if trimmed.len() != text.len() {
        password = Password::from(trimmed);
    }
    if password.is_empty() {
        return Err(format!(
            "bind_password_file: {} is empty (an empty-password bind is anonymous)",
            file.display()
        ));
    }
    Ok(password)
}

/// A rustls configuration trusting the CA certificates in the PEM file `ca`.
fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let pem =
        std::fs::read(ca).map_err(|e| format!("tls_ca_file: cannot read {}: {e}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("tls_ca_file: {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls_ca_file: {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "tls_ca_file: {} holds no PEM certificate",
            ca.display()
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("tls_ca_file: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
