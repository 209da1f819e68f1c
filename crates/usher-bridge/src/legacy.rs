//! Asking legacy: each fallback in turn, behind its breaker and within the call time limit,
//! for the record a password proves (a hash source's row verified here, or an auth source's
//! own answer); what a record that cannot become a user costs (the quarantine, never "wrong
//! password"); and telling legacy afterwards that a user migrated.

use std::sync::Arc;

use chrono::Utc;
use usher_core::{LegacyKey, LegacyLink, LegacyRecord, Mapper, Source, SourceError, User, UserId};
use usher_hash::Password;
use usher_store::Rejected;

use crate::breaker::Breaker;
use crate::login::{Bridge, Identifier};
use crate::model::{AuthSourceEntry, HashSource, Legacy, LoginError};

impl Bridge {
    /// One call to legacy source `name`, bounded by the call timeout and refused at once
    /// while its breaker is open; `probe` is what the breaker probes in the background.
    async fn legacy_call<T>(
        &self,
        name: &str,
        probe: Option<Arc<dyn Source>>,
        call: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, LoginError> {
        let breaker = self.breaker(name);
        if !breaker.admit() {
            return Err(LoginError::LegacyUnavailable(name.to_owned()));
        }
        let timeout = self.outage.call_timeout();
        let result = tokio::time::timeout(timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(SourceError::Unavailable {
                    source_name: name.to_owned(),
                    reason: format!("no answer within {} ms", timeout.as_millis()),
                })
            });
        match &result {
            Err(SourceError::Unavailable { .. }) => breaker.failure(probe),
            _ => breaker.success(),
        }
        result.map_err(|e| legacy_error(name, e))
    }

    /// Source `name`'s breaker, made on first use.
    fn breaker(&self, name: &str) -> Arc<Breaker> {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(breaker) = breakers.get(name) {
            return Arc::clone(breaker);
        }
        let breaker = Arc::new(Breaker::new(name, self.outage.clone()));
        breakers.insert(name.to_owned(), Arc::clone(&breaker));
        breaker
    }

    /// The records of `source` an identifier names (at most `limit`).
    pub(crate) async fn lookup_legacy(
        &self,
        source: &HashSource,
        identifier: &Identifier,
        limit: usize,
    ) -> Result<Vec<LegacyRecord>, LoginError> {
        let name = source.source.name();
        let (fields, value) = match identifier {
            Identifier::Email(e) => (&source.email_fields, e.as_str()),
            Identifier::Username(u) => (&source.username_fields, u.as_str()),
        };
        for field in fields {
            let probe = Some(Arc::clone(&source.source));
            let found = self
                .legacy_call(name, probe, source.source.lookup(field, value, limit))
                .await?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// The record of `source` the password proves. `Ok(None)`: this source does not know the
    /// identifier, or the password is wrong for it. Records the ledger already has are not
    /// tried — once a record moved, its legacy hash (an old password) never opens the account
    /// again — and their users are in the answer's `migrated`. `migrated_before`: an earlier
    /// source's record of the identifier already moved, so its user answers with their own
    /// password.
    async fn prove_hash_source<'a>(
        &self,
        source: &'a HashSource,
        identifier: &Identifier,
        password: &Arc<Password>,
        migrated_before: bool,
    ) -> Answer<'a> {
        let mut asked = Asked::default();
        let found = async {
            let name = source.source.name();
            // In key order, as the backfill reads them: several legacy rows answering to one
            // identifier (emails differing only in case) are decided as the backfill decides
            // them, never by who logs in first. The lowest key that maps holds the identifier.
            let candidates = self.lookup_legacy(source, identifier, CANDIDATES).await?;
            let now = Utc::now();
            let mut holder: Option<LegacyKey> = None;
            let mut proven = None;
            let mut attention = None;
            for record in candidates {
                if let Some(user) = self.in_ledger(name, &record.key).await? {
                    asked.migrated.push(user);
                    holder.get_or_insert_with(|| record.key.clone());
                    continue;
                }
                let mapped = source.mapper.map(name, &record, now);
                let credential = match &mapped {
                    Ok(user) => user.credential.clone(),
                    Err(_) => source.mapper.credential(&record),
                };
                let first_mapped = mapped.is_ok() && holder.is_none();
                if mapped.is_ok() {
                    holder.get_or_insert_with(|| record.key.clone());
                }
                if proven.is_some() || attention.is_some() {
                    continue; // decided; the rest only matter for who holds the identifier
                }
                let Some(stored) =
                    credential.and_then(|c| self.parse(&c.hash, Some(c.scheme)).ok())
                else {
                    continue;
                };
                let password = Arc::clone(password);
                asked.verified = true;
                if !self
                    .hash_job("legacy", move || stored.verify(&password).unwrap_or(false))
                    .await?
                {
                    continue;
                }
                match mapped {
                    Ok(user) if first_mapped => proven = Some((record, user)),
                    Ok(_) => attention = Some((record, None)),
                    Err(errors) => attention = Some((record, Some(errors))),
                }
            }
            tracing::trace!(
                source = name,
                proven = proven.is_some(),
                attention = attention.is_some(),
                "login: legacy hash verify"
            );
            if let Some((record, errors)) = attention {
                // The password is right, for a record that cannot become a user.
                let (field, reason) = match (errors, &holder) {
                    (Some(errors), _) => (errors.first_field().map(str::to_owned), errors.reason()),
                    (None, Some(holder)) => {
                        let (field, what) = match identifier {
                            Identifier::Email(_) => ("email", "same address as"),
                            Identifier::Username(_) => ("username", "same username as"),
                        };
                        (
                            Some(field.to_owned()),
                            format!("duplicate {field}: {what} legacy id {holder} (source {name})"),
                        )
                    }
                    (None, None) => return Ok(None),
                };
                let error = self
                    .needs_attention(name, &source.mapper, &record, field, reason)
                    .await;
                // A holder already in the store answers with its own password.
                return if asked.migrated.is_empty() && !migrated_before {
                    Err(error)
                } else {
                    Ok(None)
                };
            }
            let Some((record, user)) = proven else {
                return Ok(None);
            };
            Ok(Some(Proven {
                name,
                mapper: &source.mapper,
                record,
                user,
                marks: self.marks(name),
            }))
        }
        .await;
        Answer { asked, found }
    }

    /// The record the auth source answers with. `Ok(None)`: it refused the password (or does
    /// not know the identifier), or the ledger already has the record (its user is in the
    /// answer's `migrated`).
    async fn prove_auth_source<'a>(
        &self,
        entry: &'a AuthSourceEntry,
        identifier: &str,
        password: &Arc<Password>,
    ) -> Answer<'a> {
        let mut asked = Asked::default();
        let found = async {
            let name = entry.source.name();
            let record = self
                .legacy_call(name, None, entry.source.authenticate(identifier, password))
                .await?;
            let Some(record) = record else {
                return Ok(None);
            };
            if let Some(user) = self.in_ledger(name, &record.key).await? {
                asked.migrated.push(user);
                return Ok(None);
            }
            let user = match entry.mapper.map(name, &record, Utc::now()) {
                Ok(user) => user,
                Err(errors) => {
                    let field = errors.first_field().map(str::to_owned);
                    return Err(self
                        .needs_attention(name, &entry.mapper, &record, field, errors.reason())
                        .await);
                }
            };
            Ok(Some(Proven {
                name,
                mapper: &entry.mapper,
                record,
                user,
                marks: self.marks(name),
            }))
        }
        .await;
        Answer { asked, found }
    }

    /// The user the ledger says `source`'s record `key` became, if it moved.
    async fn in_ledger(&self, source: &str, key: &LegacyKey) -> Result<Option<UserId>, LoginError> {
        Ok(self.store.ledger_user(source, &key.to_string()).await?)
    }

    /// Asks each legacy fallback, in order, which record `password` proves; never one of the
    /// sources in `linked` (those the user already has a record of: legacy is not asked
    /// about them again, so a wrong password feeds no legacy lockout counter or log). The
    /// answer keeps what the sources asked left behind even when one fails.
    pub(crate) async fn prove(
        &self,
        lookup: &Identifier,
        identifier: &str,
        password: &Arc<Password>,
        linked: &[LegacyLink],
    ) -> Answer<'_> {
        let mut asked = Asked::default();
        for legacy in &self.legacy {
            if linked.iter().any(|l| l.source == legacy.name()) {
                continue;
            }
            let answer = match legacy {
                Legacy::Hash(source) => {
                    let migrated_before = !asked.migrated.is_empty();
                    self.prove_hash_source(source, lookup, password, migrated_before)
                        .await
                }
                Legacy::Auth(entry) => self.prove_auth_source(entry, identifier, password).await,
            };
            asked.verified |= answer.asked.verified;
            asked.migrated.extend(answer.asked.migrated);
            match &answer.found {
                Err(LoginError::LegacyUnavailable(name)) => self.metrics.legacy_error(name),
                Err(LoginError::LegacyMisconfigured { source_name, .. }) => {
                    self.metrics.legacy_error(source_name);
                    self.metrics.legacy_misconfigured(source_name);
                }
                _ => {}
            }
            if !matches!(answer.found, Ok(None)) {
                return Answer {
                    asked,
                    found: answer.found,
                };
            }
        }
        Answer {
            asked,
            found: Ok(None),
        }
    }

    /// A record legacy vouched for (it accepted the password) that cannot become a user: it
    /// goes to the quarantine with the reason, as the backfill would have put it there, and
    /// the login is answered 409 `account_needs_attention`, never "wrong password". A failure
    /// to quarantine is logged; the answer stands.
    pub(crate) async fn needs_attention(
        &self,
        name: &str,
        mapper: &Mapper,
        record: &LegacyRecord,
        field: Option<String>,
        reason: String,
    ) -> LoginError {
        let rejected = Rejected {
            key: record.key.clone(),
            field: field.clone(),
            reason: reason.clone(),
            record: mapper.scrub(record),
        };
        if let Err(e) = self.store.quarantine_record(name, &rejected).await {
            tracing::warn!(source = name, key = %record.key, error = %e, "login: could not quarantine a record that needs attention");
        }
        LoginError::Unmigratable {
            source_name: name.to_owned(),
            key: record.key.to_string(),
            field,
            reason,
        }
    }

    /// Whether legacy source `name` is to be told that a record migrated: an outbox row goes
    /// with each migration or link of its records.
    pub(crate) fn marks(&self, name: &str) -> bool {
        self.legacy
            .iter()
            .find(|l| l.name() == name)
            .is_some_and(|l| crate::outbox::Writers::of(l).writes("mark_migrated"))
    }
}

/// A legacy error during a login: an outage or a misconfiguration is a 503 (nothing written),
/// anything else a 500.
fn legacy_error(source_name: &str, error: SourceError) -> LoginError {
    match error {
        SourceError::Unavailable { .. } => LoginError::LegacyUnavailable(source_name.into()),
        SourceError::Config { reason, .. } => LoginError::LegacyMisconfigured {
            source_name: source_name.into(),
            reason,
        },
        other => LoginError::Internal(other.to_string()),
    }
}

/// A legacy record a password was just proved for, with what migrating it needs.
pub(crate) struct Proven<'a> {
    pub(crate) name: &'a str,
    pub(crate) mapper: &'a Mapper,
    pub(crate) record: LegacyRecord,
    pub(crate) user: User,
    /// Whether the migration owes legacy a mark ([`crate::outbox::mark_migrated`]).
    pub(crate) marks: bool,
}

/// What asking legacy about an identifier left behind, whatever it found.
#[derive(Debug, Default)]
pub(crate) struct Asked {
    /// A real hash was verified (if not, the caller verifies a dummy one, so that an unknown
    /// identifier costs what a known one does).
    pub(crate) verified: bool,
    /// The users that legacy records naming the identifier already became.
    pub(crate) migrated: Vec<UserId>,
}

/// Legacy's answer to a login: the record the password proves, if any (or why asking
/// failed), and what asking left behind.
pub(crate) struct Answer<'a> {
    pub(crate) asked: Asked,
    pub(crate) found: Result<Option<Proven<'a>>, LoginError>,
}

impl Default for Answer<'_> {
    fn default() -> Self {
        Answer {
            asked: Asked::default(),
            found: Ok(None),
        }
    }
}

/// Legacy records tried for one identifier at a login: enough for the duplicates a legacy
/// table that compared emails case-sensitively has, and a bound on the hashing one login causes.
pub(crate) const CANDIDATES: usize = 3;
