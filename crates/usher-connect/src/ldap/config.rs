//! The `type = "ldap"` source table: its options, their checks, and building the source.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::LdapConnSettings;
use serde::Deserialize;
use usher_core::SourceError;
use usher_hash::Password;

use super::{DEFAULT_FILTER, DEFAULT_USER_FILTER, IDENTIFIER_PLACEHOLDER, LdapSource};
use crate::ConfigError;

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

fn check_filter(field: &'static str, filter: &str) -> Result<(), ConfigError> {
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return Err(ConfigError::new(
            field,
            format!("{filter:?} is not a parenthesized LDAP filter"),
        ));
    }
    ldap3::parse_filter(filter)
        .map(|_| ())
        .map_err(|()| ConfigError::new(field, format!("{filter:?} is not a valid LDAP filter")))
}

impl LdapConfig {
    /// Checks the configuration without connecting or reading any file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let lower = self.url.to_ascii_lowercase();
        let ldaps = lower.starts_with("ldaps://");
        if !ldaps && !lower.starts_with("ldap://") {
            return Err(ConfigError::new(
                "url",
                "must start with ldap:// or ldaps://",
            ));
        }
        if self.url.contains('@') {
            return Err(ConfigError::new(
                "url",
                "must not hold credentials; use bind_dn and bind_password_file",
            ));
        }
        if ldaps && self.starttls {
            return Err(ConfigError::new(
                "starttls",
                "an ldaps:// connection is already TLS; StartTLS is for ldap://",
            ));
        }
        if self.tls_ca_file.is_some() && !ldaps && !self.starttls {
            return Err(ConfigError::new(
                "tls_ca_file",
                "needs an ldaps:// url or starttls = true",
            ));
        }
        match (&self.bind_dn, &self.bind_password_file) {
            (Some(dn), Some(_)) if dn.trim().is_empty() => {
                return Err(ConfigError::new("bind_dn", "is empty"));
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "bind_password_file",
                    "is required with bind_dn",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "bind_dn",
                    "is required with bind_password_file",
                ));
            }
            _ => {}
        }
        if self.base_dn.trim().is_empty() {
            return Err(ConfigError::new("base_dn", "is empty"));
        }
        check_filter("filter", &self.filter)?;
        if !is_attribute_name(&self.key) {
            return Err(ConfigError::new(
                "key",
                format!("{:?} is not an attribute name", self.key),
            ));
        }
        if let Some(attributes) = &self.attributes {
            if attributes.is_empty() {
                return Err(ConfigError::new(
                    "attributes",
                    "is empty; leave it out to read all attributes",
                ));
            }
            for a in attributes {
                if a != "*" && a != "+" && !is_attribute_name(a) {
                    return Err(ConfigError::new(
                        "attributes",
                        format!("{a:?} is not an attribute name"),
                    ));
                }
            }
        }
        if !self.user_filter.contains(IDENTIFIER_PLACEHOLDER) {
            return Err(ConfigError::new(
                "user_filter",
                format!("must contain {IDENTIFIER_PLACEHOLDER}"),
            ));
        }
        check_filter(
            "user_filter",
            &self.user_filter.replace(IDENTIFIER_PLACEHOLDER, "x"),
        )?;
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return Err(ConfigError::new(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > MAX_TIMEOUT_SECONDS {
            return Err(ConfigError::new(
                "timeout_seconds",
                format!("must be between 1 and {MAX_TIMEOUT_SECONDS}"),
            ));
        }
        if !ldaps && !self.starttls && !self.allow_plaintext && !is_loopback_url(&self.url) {
            return Err(ConfigError::new(
                "url",
                "is plain ldap:// to another host, which sends every password in clear at bind; \
                 use ldaps:// or starttls = true (allow_plaintext = true only on an isolated \
                 network)",
            ));
        }
        Ok(())
    }

    /// The source named `name`: validates, reads `bind_password_file` and `tls_ca_file`;
    /// connects only on first use.
    pub async fn build(&self, name: &str) -> Result<LdapSource, SourceError> {
        self.validate().map_err(|e| e.into_source_error(name))?;
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
