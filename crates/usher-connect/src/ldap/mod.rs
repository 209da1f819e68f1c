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

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use ldap3::adapters::PagedResults;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry};
use serde_json::{Map, Value};
use usher_core::{
    AuthSource, INVALID_FIELD, KeyRange, LegacyKey, LegacyRecord, Source, SourceError,
};
use usher_hash::Password;

use crate::sql::bytes_value;

/// The default `filter`: person entries.
pub const DEFAULT_FILTER: &str = "(objectClass=inetOrgPerson)";
/// The default `user_filter`: the identifier is a uid or a mail address.
pub const DEFAULT_USER_FILTER: &str = "(|(uid={identifier})(mail={identifier}))";
/// The placeholder `user_filter` must contain.
pub const IDENTIFIER_PLACEHOLDER: &str = "{identifier}";

mod config;

pub use config::LdapConfig;
use config::is_attribute_name;

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

    /// Every entry under `base_dn` matching `filter`, page by page: each a record, or (for an
    /// entry that cannot be keyed) its DN and why.
    async fn search(&self, ldap: &mut Ldap, filter: &str) -> Result<Vec<Searched>, SourceError> {
        let page_size = i32::try_from(self.config.page_size).unwrap_or(i32::MAX);
        let mut stream = tokio::time::timeout(
            self.timeout,
            ldap.with_timeout(self.timeout).streaming_search_with(
                PagedResults::new(page_size),
                &self.config.base_dn,
                Scope::Subtree,
                filter,
                self.attributes.clone(),
            ),
        )
        .await
        .map_err(|_| self.unavailable(format!("searching {} timed out", self.config.base_dn)))?
        .map_err(|e| self.client_error("searching", &e))?;
        let mut records = Vec::new();
        loop {
            let next = tokio::time::timeout(self.timeout, stream.next())
                .await
                .map_err(|_| {
                    self.unavailable(format!("searching {} timed out", self.config.base_dn))
                })?
                .map_err(|e| self.client_error("searching", &e))?;
            let Some(entry) = next else { break };
            if entry.is_ref() || entry.is_intermediate() {
                continue;
            }
            // ldap3 panics on an entry that is not well-formed BER; a broken server must not
            // take usher down with it.
            let entry =
                std::panic::catch_unwind(AssertUnwindSafe(|| SearchEntry::construct(entry)))
                    .map_err(|_| self.query_error("the directory sent a malformed search entry"))?;
            records.push(self.record(entry));
        }
        let result = stream.finish().await;
        match result.rc {
            rc::SUCCESS => Ok(records),
            rc::BUSY | rc::UNAVAILABLE => Err(self.unavailable(format!(
                "searching {}: {}",
                self.config.base_dn,
                describe(&result)
            ))),
            _ => Err(self.query_error(format!(
                "searching {} with {filter}: {}",
                self.config.base_dn,
                describe(&result)
            ))),
        }
    }

    /// An entry as a record; the error is the entry's DN and why it has no key (naming the
    /// key attribute).
    fn record(&self, entry: SearchEntry) -> Searched {
        let mut fields = Map::new();
        for (attribute, values) in entry.attrs {
            let values: Vec<Value> = values.into_iter().map(Value::String).collect();
            fields.insert(attribute, Value::Array(values));
        }
        for (attribute, values) in entry.bin_attrs {
            let binary = values.iter().map(|v| bytes_value(v));
            match fields.get_mut(&attribute) {
                Some(Value::Array(values)) => values.extend(binary),
                _ => {
                    fields.insert(attribute, Value::Array(binary.collect()));
                }
            }
        }
        let mut key = None;
        for (attribute, value) in &mut fields {
            let Value::Array(values) = value else {
                continue;
            };
            if attribute.eq_ignore_ascii_case(&self.config.key) {
                key = Some(match values.as_slice() {
                    [Value::String(k)] => Ok(k.clone()),
                    [] => Err(0),
                    more => Err(more.len()),
                });
            }
            if let [single] = values.as_mut_slice() {
                *value = single.take();
            }
        }
        let dn = entry.dn;
        let key = match key {
            Some(Ok(key)) => key,
            None | Some(Err(0)) => {
                let reason = format!("has no {} attribute (the key)", self.config.key);
                return Err((dn, reason));
            }
            Some(Err(n)) => {
                let reason = format!(
                    "has {n} values of {} (the key needs exactly one)",
                    self.config.key
                );
                return Err((dn, reason));
            }
        };
        fields.insert("dn".to_owned(), Value::String(dn));
        Ok(LegacyRecord {
            key: LegacyKey::Text(key),
            fields,
        })
    }

    /// The records of a search that a lookup or a login may answer: entries that cannot be
    /// keyed are left out with a warning (a backfill sees them as invalid records).
    fn keyed(&self, found: Vec<Searched>) -> Vec<LegacyRecord> {
        found
            .into_iter()
            .filter_map(|r| {
                r.map_err(|(dn, reason)| {
                    tracing::warn!(source = %self.name, "entry {dn:?} {reason}; entry left out");
                })
                .ok()
            })
            .collect()
    }

    /// An invalid record for an entry the snapshot cannot take as it is.
    fn invalid(&self, key: String, dn: &str, reason: &str) -> LegacyRecord {
        let mut fields = Map::new();
        fields.insert(
            INVALID_FIELD.to_owned(),
            serde_json::json!({"field": self.config.key, "reason": format!("entry {dn}: {reason}")}),
        );
        LegacyRecord {
            key: LegacyKey::Text(key),
            fields,
        }
    }

    /// Searches the whole subtree and keeps it sorted by key as the snapshot. An entry without
    /// a single key value becomes an invalid record keyed by its DN; of entries sharing a key,
    /// the first by DN is kept and the others become invalid records keyed `<key>#<dn>`.
    async fn take_snapshot(&self) -> Result<Arc<Vec<LegacyRecord>>, SourceError> {
        let mut ldap = self.service_connection().await?;
        let found = self.search(&mut ldap, &self.config.filter).await;
        let _ = ldap.unbind().await;
        let mut records = Vec::new();
        for r in found? {
            match r {
                Ok(record) => records.push(record),
                Err((dn, reason)) => records.push(self.invalid(dn.clone(), &dn, &reason)),
            }
        }
        records.sort_by(|a, b| {
            key_text(&a.key)
                .cmp(&key_text(&b.key))
                .then_with(|| dn_of(a).cmp(dn_of(b)))
        });
        let mut seen: Option<(String, String)> = None;
        let mut dups = false;
        for r in &mut records {
            let key = key_text(&r.key);
            let dn = dn_of(r).to_owned();
            match &seen {
                Some((k, first_dn)) if *k == key => {
                    let reason = format!(
                        "duplicate {} {key:?} (the entry {first_dn} is kept)",
                        self.config.key
                    );
                    *r = self.invalid(format!("{key}#{dn}"), &dn, &reason);
                    dups = true;
                }
                _ => seen = Some((key, dn)),
            }
        }
        if dups {
            records.sort_by_key(|r| key_text(&r.key));
        }
        let snapshot = Arc::new(records);
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(snapshot)
    }

    fn current_snapshot(&self) -> Option<Arc<Vec<LegacyRecord>>> {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A record without its `userPassword` (any case, any option such as `;binary`, or by its OID
/// 2.5.4.35): the legacy hash must not travel with a login's record.
fn without_password(mut record: LegacyRecord) -> LegacyRecord {
    record.fields.retain(|name, _| {
        let base = name.split(';').next().unwrap_or_default();
        !(base.eq_ignore_ascii_case("userPassword") || base == "2.5.4.35")
    });
    record
}

/// A searched entry: its record, or its DN and why it cannot be keyed.
type Searched = Result<LegacyRecord, (String, String)>;

/// A key as text (the snapshot's order).
fn key_text(key: &LegacyKey) -> String {
    key.to_string()
}

fn dn_of(record: &LegacyRecord) -> &str {
    record
        .fields
        .get("dn")
        .and_then(Value::as_str)
        .unwrap_or("")
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

#[async_trait]
impl Source for LdapSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read(&self, range: &KeyRange, limit: usize) -> Result<Vec<LegacyRecord>, SourceError> {
        let snapshot = match (&range.after, self.current_snapshot()) {
            (Some(_), Some(snapshot)) => snapshot,
            _ => self.take_snapshot().await?,
        };
        let start = match &range.after {
            Some(after) => {
                let after = key_text(after);
                snapshot.partition_point(|r| key_text(&r.key) <= after)
            }
            None => 0,
        };
        let until = range.until.as_ref().map(key_text);
        Ok(snapshot
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|r| until.as_ref().is_none_or(|u| key_text(&r.key) <= *u))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn count(&self) -> Result<Option<u64>, SourceError> {
        let snapshot = match self.current_snapshot() {
            Some(snapshot) => snapshot,
            None => self.take_snapshot().await?,
        };
        Ok(Some(u64::try_from(snapshot.len()).unwrap_or(u64::MAX)))
    }

    async fn key_bounds(&self) -> Result<Option<(LegacyKey, LegacyKey)>, SourceError> {
        let snapshot = match self.current_snapshot() {
            Some(snapshot) => snapshot,
            None => self.take_snapshot().await?,
        };
        Ok(snapshot
            .first()
            .zip(snapshot.last())
            .map(|(first, last)| (first.key.clone(), last.key.clone())))
    }

    async fn lookup(
        &self,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
        if !is_attribute_name(field) {
            return Err(SourceError::Config {
                source_name: self.name.clone(),
                reason: format!("lookup field {field:?} is not an LDAP attribute name"),
            });
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = format!(
            "(&{}({field}={}))",
            self.config.filter,
            ldap3::ldap_escape(value)
        );
        let mut ldap = self.service_connection().await?;
        let records = self.search(&mut ldap, &filter).await;
        let _ = ldap.unbind().await;
        let mut records = self.keyed(records?);
        records.sort_by_key(|r| key_text(&r.key));
        records.truncate(limit);
        Ok(records)
    }

    async fn healthcheck(&self) -> Result<(), SourceError> {
        // Connect, bind as the service account and read the base entry: no snapshot.
        let mut ldap = self.service_connection().await?;
        let result = tokio::time::timeout(
            self.timeout,
            ldap.with_timeout(self.timeout).search(
                &self.config.base_dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["1.1"],
            ),
        )
        .await
        .map_err(|_| self.unavailable(format!("reading {} timed out", self.config.base_dn)))?
        .map_err(|e| self.client_error("reading base_dn", &e))?;
        let _ = ldap.unbind().await;
        match result.1.rc {
            rc::SUCCESS => Ok(()),
            _ => Err(self.query_error(format!(
                "reading base_dn {:?}: {}",
                self.config.base_dn,
                describe(&result.1)
            ))),
        }
    }
}

#[async_trait]
impl AuthSource for LdapSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn authenticate(
        &self,
        identifier: &str,
        password: &Password,
    ) -> Result<Option<LegacyRecord>, SourceError> {
        // RFC 4513 5.1.2: a simple bind with a DN and an empty password is an unauthenticated
        // bind, which servers answer with success. Refused before any connection.
        if password.is_empty() || identifier.is_empty() {
            return Ok(None);
        }
        let Some(password) = password.as_str() else {
            // LDAP passwords are octets, but ldap3 binds with text only.
            tracing::debug!(source = %self.name, "a password that is not UTF-8 cannot be bound with");
            return Ok(None);
        };
        let user_filter = self
            .config
            .user_filter
            .replace(IDENTIFIER_PLACEHOLDER, &ldap3::ldap_escape(identifier));
        let filter = format!("(&{}{user_filter})", self.config.filter);
        let mut service = self.service_connection().await?;
        let found = self.search(&mut service, &filter).await;
        let _ = service.unbind().await;
        let mut found = self.keyed(found?);
        let record = match found.len() {
            0 => return Ok(None),
            1 => found.swap_remove(0),
            n => {
                tracing::warn!(
                    source = %self.name,
                    entries = n,
                    "{n} directory entries match one login identifier; refusing the login"
                );
                return Ok(None);
            }
        };
        let dn = dn_of(&record).to_owned();
        let mut user = self.connect().await?;
        let bound = user
            .with_timeout(self.timeout)
            .simple_bind(&dn, password)
            .await
            .map_err(|e| self.client_error("the user bind", &e));
        let _ = user.unbind().await;
        let result = bound?;
        match result.rc {
            rc::SUCCESS => Ok(Some(without_password(record))),
            rc::INVALID_CREDENTIALS => Ok(None),
            rc::INAPPROPRIATE_AUTHENTICATION | rc::UNWILLING_TO_PERFORM => {
                // A locked account, a password policy refusing the bind.
                tracing::info!(source = %self.name, dn = %dn, "the directory refused the bind: {}", describe(&result));
                Ok(None)
            }
            rc::BUSY | rc::UNAVAILABLE => {
                Err(self.unavailable(format!("binding as {dn:?}: {}", describe(&result))))
            }
            _ => Err(self.query_error(format!("binding as {dn:?}: {}", describe(&result)))),
        }
    }
}
