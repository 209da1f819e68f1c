//! Legacy users in an LDAP directory (OpenLDAP, 389-DS, Active Directory...): one module that is
//! both a [`Source`] (backfill, and a *hash source* for the login bridge) and an
//! [`AuthSource`] (the bridge asks the directory itself with a bind).
//!
//! # Records
//!
//! Every entry under `base_dn` matching `filter` (default `(objectClass=inetOrgPerson)`) is one
//! [`LegacyRecord`], keyed by the `key` attribute (default `uid`; `entryUUID` is a good choice
//! too: it is operational, so it is requested by name). Its fields:
//!
//! * each attribute by the name the server returns: a string when the entry has one value,
//!   an array of strings when it has several (LDAP does not say which attributes are
//!   single-valued without a schema lookup, so a multi-valued attribute with one value is a
//!   string; a mapping reads both);
//! * `dn`: the entry's DN;
//! * `userPassword` as the text the directory stores (`{SSHA}...`, `{CRYPT}$6$...`,
//!   `{SSHA512}...`, `{MD5}`, `{SMD5}`, `{SHA}`), which `usher_hash` parses, so a mapping's
//!   `password.hash = "userPassword"` yields a credential usher verifies. The service account
//!   must be allowed to read it (OpenLDAP's usual ACL lets only the rootdn and the entry itself);
//! * values that are not UTF-8 (`jpegPhoto`, `objectGUID`, certificates) as standard base64
//!   with padding, in the same place (string or array) a text value would be. They are kept,
//!   not dropped, so the record stays the whole entry; list `attributes` to leave them out.
//!
//! An entry without the key attribute, or with more than one value of it, cannot be keyed: a
//! read gives it as an invalid record keyed by its DN, whose only field is
//! `{"_usher_invalid": {"field": <key attribute>, "reason": "entry <dn>: ..."}}` (the mapper
//! quarantines it). Two entries with the same key: the first (in DN order) is kept, the other
//! becomes such an invalid record keyed `<key>#<dn>`, naming both DNs. Lookups and logins
//! leave unkeyed entries out (with a warning).
//!
//! # Reading in key order: the snapshot
//!
//! LDAP has no keyset order (`key > x ORDER BY key` is not a search; the server-side sort
//! control is optional and not paged consistently). So a read that starts at the beginning
//! (`range.after == None`) searches the whole subtree with the paged results control (RFC 2696,
//! `page_size` entries per round trip), sorts the entries by key (byte order of the UTF-8
//! text), keeps that snapshot in memory and serves every keyset read from it; a read that
//! resumes (`after` set) before any snapshot exists takes one first. [`Source::count`] is the
//! snapshot's size (`None` before there is one); [`Source::key_bounds`] takes a snapshot if
//! there is none.
//!
//! **Memory:** the snapshot holds every record: about the size of the entries' attributes as
//! JSON, typically 0.5 to 2 KB per inetOrgPerson entry, so 1 GB or more for a million users.
//! List only the `attributes` the mapping needs (leaving out `jpegPhoto` matters most).
//!
//! # Lookups
//!
//! [`Source::lookup`] searches `(&<filter>(<field>=<value>))`, the value escaped by RFC 4515
//! ([`ldap3::ldap_escape`]), so `*`, `(` or `\` in a login identifier are data, never filter
//! syntax. Matching follows the attribute's schema: `uid` and `mail` compare ignoring case.
//! `field` must be an attribute name (letters, digits, `-`) or an OID.
//!
//! # Authentication (the login bridge)
//!
//! [`AuthSource::authenticate`] refuses an empty password (and an empty identifier) before any
//! connection (RFC 4513 5.1.2: an empty-password simple bind is an *unauthenticated* bind that
//! "succeeds"), then
//! searches `(&<filter><user_filter>)` with `{identifier}` replaced by the escaped identifier,
//! as the service account. Exactly one entry is required (several: refused, with a warning
//! giving the count). Then a simple bind as that entry's DN with the password on a connection
//! of its own: success answers the entry's record (the same shape as a read, but without
//! `userPassword`, so the legacy hash never travels with a login), invalid
//! credentials (49) answers `None`, connection failures and timeouts are
//! [`SourceError::Unavailable`]. A service bind the directory refuses is an error naming the
//! service bind, never a silent `None`.
//!
//! Each operation opens its own connection (connect, optional StartTLS, service bind), so a
//! directory restart never leaves a stale connection behind; a login costs two connections.
//!
//! [`Source`]: usher_core::Source
//! [`Source::count`]: usher_core::Source::count
//! [`Source::key_bounds`]: usher_core::Source::key_bounds
//! [`Source::lookup`]: usher_core::Source::lookup
//! [`AuthSource`]: usher_core::AuthSource
//! [`AuthSource::authenticate`]: usher_core::AuthSource::authenticate

mod config;
mod search;
mod source;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult};
use usher_core::{LegacyRecord, SourceError};
use usher_hash::Password;

pub use config::LdapConfig;

/// The default `filter`: person entries.
pub const DEFAULT_FILTER: &str = "(objectClass=inetOrgPerson)";
/// The default `user_filter`: the identifier is a uid or a mail address.
pub const DEFAULT_USER_FILTER: &str = "(|(uid={identifier})(mail={identifier}))";
/// The placeholder `user_filter` must contain.
pub const IDENTIFIER_PLACEHOLDER: &str = "{identifier}";

/// LDAP result codes (RFC 4511 appendix A) this module tells apart.
mod rc {
    pub const SUCCESS: u32 = 0;
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING_TO_PERFORM: u32 = 53;
}

/// An LDAP directory as a legacy source and an auth source; see the [module](self) docs.
pub struct LdapSource {
    name: String,
    config: LdapConfig,
    settings: LdapConnSettings,
    /// The service account: DN and password.
    bind: Option<(String, Password)>,
    timeout: Duration,
    /// The attributes every search asks for (the key among them).
    attributes: Vec<String>,
    /// Every record, sorted by key, from the last read that started at the beginning.
    snapshot: Mutex<Option<Arc<Vec<LegacyRecord>>>>,
}

impl fmt::Debug for LdapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSource")
            .field("name", &self.name)
            .field("url", &self.config.url)
            .field("base_dn", &self.config.base_dn)
            .field("bind_dn", &self.bind.as_ref().map(|(dn, _)| dn))
            .finish_non_exhaustive()
    }
}

impl LdapSource {
    fn unavailable(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Unavailable {
            source_name: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn query_error(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Query {
            source_name: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// An error of the LDAP client (not an LDAP result code): the connection or a timeout.
    fn client_error(&self, doing: &str, e: &LdapError) -> SourceError {
        self.unavailable(format!("{doing} at {}: {e}", self.config.url))
    }

    /// A new connection, driven on its own task.
    async fn connect(&self) -> Result<Ldap, SourceError> {
        let connecting = LdapConnAsync::with_settings(self.settings.clone(), &self.config.url);
        let (conn, ldap) = tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| {
                self.unavailable(format!(
                    "connecting to {} timed out after {}s",
                    self.config.url, self.config.timeout_seconds
                ))
            })?
            .map_err(|e| self.client_error("connecting", &e))?;
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(source = %name, error = %e, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    /// A new connection bound as the service account (or anonymous without one).
    async fn service_connection(&self) -> Result<Ldap, SourceError> {
        let mut ldap = self.connect().await?;
        let Some((dn, password)) = &self.bind else {
            return Ok(ldap);
        };
        // read_password_file made sure it is UTF-8.
        let password = password.as_str().unwrap_or_default();
        let result = ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password)
            .await
            .map_err(|e| self.client_error("the service bind", &e))?;
        match result.rc {
            rc::SUCCESS => Ok(ldap),
            rc::BUSY | rc::UNAVAILABLE => Err(self.unavailable(format!(
                "the service bind as {dn:?} failed: {}",
                describe(&result)
            ))),
            _ => Err(SourceError::Config {
                source_name: self.name.clone(),
                reason: format!(
                    "the service bind as {dn:?} was refused: {}; check bind_dn and \
                     bind_password_file",
                    describe(&result)
                ),
            }),
        }
    }
}

/// A result code with its diagnostic text.
fn describe(result: &LdapResult) -> String {
    let name = match result.rc {
        rc::INVALID_CREDENTIALS => " (invalid credentials)",
        rc::INAPPROPRIATE_AUTHENTICATION => " (inappropriate authentication)",
        rc::UNWILLING_TO_PERFORM => " (unwilling to perform)",
        rc::BUSY => " (busy)",
        rc::UNAVAILABLE => " (unavailable)",
        rc::SIZE_LIMIT_EXCEEDED => " (size limit exceeded)",
        32 => " (no such object)",
        _ => "",
    };
    if result.text.is_empty() {
        format!("result code {}{name}", result.rc)
    } else {
        format!("result code {}{name}: {}", result.rc, result.text)
    }
}
