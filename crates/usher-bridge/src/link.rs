//! A proven legacy record becomes a user: migrated as a new user of its own, or linked to the
//! stored user it is the same person as (by the `[link]` rules), each in one store
//! transaction, with the password re-hashed to Argon2id.

use std::sync::Arc;

use usher_core::link::refused_reason;
use usher_core::{Credential, LinkDecision, Method, Status, User, UserId};
use usher_hash::Password;
use usher_store::{LazyMigration, LinkOutcome, LinkWrite, MigrateOutcome, SystemOfRecord};

use crate::legacy::Proven;
use crate::login::{Bridge, Identifier};
use crate::model::{LoginError, LoginOk, LoginPath};

impl Bridge {
    /// A stored user whose stored password did not match (or who has none): the password
    /// may prove a legacy record not yet in the ledger, of the same person by the linking
    /// rules (the same address, verified on both sides unless `[link] allow_unverified`).
    /// That record is linked to the user and the password becomes the user's credential.
    pub(crate) async fn link_at_login(
        &self,
        stored: User,
        lookup: &Identifier,
        identifier: &str,
        password: &Arc<Password>,
    ) -> Result<LinkAttempt, LoginError> {
        let answer = self
            .prove(lookup, identifier, password, &stored.legacy_links)
            .await;
        let not_linked = LinkAttempt::NotLinked {
            verified: answer.asked.verified,
        };
        // A legacy failure never touches a user already in the store: no link this time, and
        // the login is answered as the store answers it (the error is counted and logged).
        let proven = match answer.found {
            Ok(Some(proven)) => proven,
            Ok(None) => return Ok(not_linked),
            Err(
                e @ (LoginError::LegacyUnavailable(_)
                | LoginError::LegacyMisconfigured { .. }
                | LoginError::Internal(_)
                | LoginError::Unmigratable { .. }),
            ) => {
                tracing::warn!(user = %stored.id, error = %e, "login: no link, legacy failed");
                return Ok(not_linked);
            }
            Err(e) => return Err(e),
        };
        self.link(stored.id, proven, password)
            .await
            .map(|ok| LinkAttempt::Linked(Box::new(ok)))
    }

    /// Links a proven legacy record to the stored user `holder`: merge, the password re-hashed
    /// as the credential, one store transaction, then the write-back.
    pub(crate) async fn link(
        &self,
        holder: UserId,
        proven: Proven<'_>,
        password: &Arc<Password>,
    ) -> Result<LoginOk, LoginError> {
        let name = proven.name;
        let fresh = self.rehash(Arc::clone(password)).await?;
        match self.link_once(holder, &proven, fresh).await? {
            Ok(done) => Ok(done),
            Err((field, reason)) => Err(self
                .needs_attention(
                    name,
                    proven.mapper,
                    &proven.record,
                    Some(field.into()),
                    reason,
                )
                .await),
        }
    }

    /// [`Bridge::link`]'s transaction, retried while the user changes under it; `Ok(Err)`:
    /// the record may not be linked, with the field at fault and the reason.
    async fn link_once(
        &self,
        holder: UserId,
        proven: &Proven<'_>,
        fresh: Credential,
    ) -> Result<Result<LoginOk, (&'static str, String)>, LoginError> {
        let name = proven.name;
        let unlinkable = |field: &'static str, reason: String| Ok(Err((field, reason)));
        // A concurrent change of the user makes the merge stale: read and merge again.
        for _ in 0..3 {
            let stored = self
                .store
                .user(holder)
                .await?
                .ok_or_else(|| LoginError::Internal(format!("user {holder} vanished")))?;
            // The record is shut in legacy: the answer legacy would give, and no link (an
            // open account must not take in a shut record, nor a shut one be reopened).
            if proven.user.status == Status::Disabled {
                return Err(LoginError::Disabled);
            }
            let (merged, replace_credential) =
                match self.link.decide(&stored, &proven.user, name, Some(&fresh)) {
                    LinkDecision::Link {
                        user,
                        replace_credential,
                    } => (*user, replace_credential),
                    LinkDecision::Refused(why) => {
                        return unlinkable("email", refused_reason(&stored, &why));
                    }
                    // Two records of one source with one address: the backfill quarantines
                    // the second; a login must not slip it in either.
                    LinkDecision::SameSource => {
                        return unlinkable(
                            "email",
                            format!(
                                "duplicate email: same address as user {}, who already has a \
                                 record of this source",
                                stored.id
                            ),
                        );
                    }
                };
            let link = LinkWrite {
                source: name.to_owned(),
                key: proven.record.key.clone(),
                user: merged,
                expected_updated_at: stored.updated_at,
                replace_credential,
                expected_credential: stored.credential.as_ref().map(|c| c.hash.clone()),
                original: proven
                    .user
                    .migration
                    .as_ref()
                    .map_or(serde_json::Value::Null, |m| m.original.clone()),
                checksum: proven.record.checksum(),
                legacy_updated_at: proven
                    .mapper
                    .maps_updated_at()
                    .then_some(proven.user.updated_at),
                method: Method::Lazy,
                system_of_record: SystemOfRecord::New,
                outbox: proven
                    .marks
                    .then(|| crate::outbox::mark_migrated(name, &proven.record.key, holder))
                    .into_iter()
                    .collect(),
            };
            let (id, path) = match self.store.link_user(&link).await? {
                LinkOutcome::Linked(id) => (id, LoginPath::Linked),
                LinkOutcome::AlreadyLinked(id) if id == holder => (id, LoginPath::AlreadyMigrated),
                LinkOutcome::AlreadyLinked(id) => {
                    // Another login moved this very record meanwhile: that user's password
                    // decides from now on.
                    return Err(LoginError::Internal(format!(
                        "record {} of {name} became user {id} while linking it to {holder}",
                        proven.record.key
                    )));
                }
                LinkOutcome::Stale => continue,
                LinkOutcome::IdentifierTaken { field, holder } => {
                    return unlinkable(
                        field,
                        format!("duplicate {field}: the merged {field} belongs to user {holder}"),
                    );
                }
            };
            tracing::trace!(source = name, user = %id, path = path.as_str(), "login: linked");
            if path == LoginPath::Linked {
                self.metrics.migrated(name);
            }
            return self.finish(id, path).await.map(Ok);
        }
        Err(LoginError::Internal(format!(
            "user {holder} kept changing while linking a record of {name}"
        )))
    }

    /// Moves a user whose password legacy just accepted: Argon2id of that password, one store
    /// transaction (with the write owed to legacy, if it is to be told).
    pub(crate) async fn migrate<'a>(
        &self,
        proven: Proven<'a>,
        password: &Arc<Password>,
    ) -> Result<Moved<'a>, LoginError> {
        let Proven {
            name,
            mapper,
            record,
            mut user,
            marks,
        } = proven;
        // Legacy had no hash to give (an auth source: the legacy API, an LDAP bind), so the
        // mapping marked the user for a reset; legacy has just accepted the password, which
        // becomes the user's credential. A disabled user stays disabled.
        if user.credential.is_none() && user.status == Status::PasswordResetRequired {
            user.status = Status::Active;
        }
        user.credential = Some(self.rehash(Arc::clone(password)).await?);
        if let Some(migration) = user.migration.as_mut() {
            migration.method = Method::Lazy;
        }
        let legacy_updated_at = mapper.maps_updated_at().then_some(user.updated_at);
        let outbox = marks
            .then(|| crate::outbox::mark_migrated(name, &record.key, user.id))
            .into_iter()
            .collect();
        let migration = LazyMigration {
            source: name.to_owned(),
            key: record.key.clone(),
            checksum: record.checksum(),
            legacy_updated_at,
            system_of_record: SystemOfRecord::New,
            user,
            outbox,
        };
        let (id, path) = match self.store.migrate_user(&migration).await? {
            MigrateOutcome::Migrated(id) => (id, LoginPath::Migrated),
            MigrateOutcome::AlreadyMigrated(id) => (id, LoginPath::AlreadyMigrated),
            MigrateOutcome::IdentifierTaken {
                field: "email",
                holder,
            } => {
                let proven = Proven {
                    name,
                    mapper,
                    record,
                    user: migration.user,
                    marks,
                };
                return Ok(Moved::AddressHeld { holder, proven });
            }
            MigrateOutcome::IdentifierTaken { field, holder } => {
                let reason = format!("duplicate {field}: same {field} as user {holder}");
                return Err(self
                    .needs_attention(name, mapper, &record, Some(field.into()), reason)
                    .await);
            }
        };
        tracing::trace!(source = name, user = %id, path = path.as_str(), "login: migrated");
        if path == LoginPath::Migrated {
            self.metrics.migrated(name);
        }
        self.finish(id, path).await.map(Moved::Done)
    }
}

/// What a login's attempt to link a legacy record to the stored user came to.
#[derive(Debug)]
pub(crate) enum LinkAttempt {
    /// The record was linked (or already was): the login succeeded.
    Linked(Box<LoginOk>),
    /// Nothing was linked; `verified`: a real hash was verified on the way.
    NotLinked { verified: bool },
}

/// What migrating a proven record came to.
pub(crate) enum Moved<'a> {
    /// The user is in the store (migrated now, or by a concurrent login).
    Done(LoginOk),
    /// A stored user holds the record's address: the same person, if the linking rules say
    /// so (found by another identifier, such as a username).
    AddressHeld {
        /// The stored user.
        holder: UserId,
        /// The record, with the password already re-hashed as its credential.
        proven: Proven<'a>,
    },
}
