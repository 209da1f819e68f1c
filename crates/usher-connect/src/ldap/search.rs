//! Searching the directory: entries as records (or why one cannot be keyed), and the sorted
//! snapshot that reads are served from.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError};

use ldap3::adapters::PagedResults;
use ldap3::{Ldap, Scope, SearchEntry};
use serde_json::{Map, Value};
use usher_core::{INVALID_FIELD, LegacyKey, LegacyRecord, SourceError};

use super::{LdapSource, describe, rc};
use crate::sql::bytes_value;

impl LdapSource {
    /// Every entry under `base_dn` matching `filter`, page by page: each a record, or (for an
    /// entry that cannot be keyed) its DN and why.
    pub(super) async fn search(
        &self,
        ldap: &mut Ldap,
        filter: &str,
    ) -> Result<Vec<Searched>, SourceError> {
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
    pub(super) fn keyed(&self, found: Vec<Searched>) -> Vec<LegacyRecord> {
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
    pub(super) async fn take_snapshot(&self) -> Result<Arc<Vec<LegacyRecord>>, SourceError> {
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

    pub(super) fn current_snapshot(&self) -> Option<Arc<Vec<LegacyRecord>>> {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A record without its `userPassword` (any case, any option such as `;binary`, or by its OID
/// 2.5.4.35): the legacy hash must not travel with a login's record.
pub(super) fn without_password(mut record: LegacyRecord) -> LegacyRecord {
    record.fields.retain(|name, _| {
        let base = name.split(';').next().unwrap_or_default();
        !(base.eq_ignore_ascii_case("userPassword") || base == "2.5.4.35")
    });
    record
}

/// A searched entry: its record, or its DN and why it cannot be keyed.
pub(super) type Searched = Result<LegacyRecord, (String, String)>;

/// A key as text (the snapshot's order).
pub(super) fn key_text(key: &LegacyKey) -> String {
    key.to_string()
}

pub(super) fn dn_of(record: &LegacyRecord) -> &str {
    record
        .fields
        .get("dn")
        .and_then(Value::as_str)
        .unwrap_or("")
}
