//! The directory as a [`Source`] (reads from the snapshot, lookups by search) and as an
//! [`AuthSource`] (a search as the service account, then a bind as the user).

use async_trait::async_trait;
use ldap3::Scope;
use usher_core::{AuthSource, KeyRange, LegacyKey, LegacyRecord, Source, SourceError};
use usher_hash::Password;

use super::config::is_attribute_name;
use super::search::{dn_of, key_text, without_password};
use super::{IDENTIFIER_PLACEHOLDER, LdapSource, describe, rc};

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
