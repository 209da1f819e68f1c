//! Looking a user up without a password: what an identity provider asks before a login
//! (Keycloak's user lookup), on a password reset (Cognito's forgot-password trigger) or on a
//! signup (Auth0's get-user script). The store first; else the first record of a legacy hash
//! source that names the identifier and maps, as a user not yet migrated. Nothing is written.

use chrono::Utc;

use crate::legacy::CANDIDATES;
use crate::login::{Bridge, Identifier};
use crate::model::{Legacy, LoginError};

/// A user found by [`Bridge::lookup`].
#[derive(Debug, Clone)]
pub enum Found {
    /// In the store: migrated, linked or registered.
    Stored(usher_core::User),
    /// A legacy record not yet migrated, mapped as the backfill would map it (its `id` is a
    /// fresh one, not kept anywhere; its one legacy link names the record).
    Legacy(usher_core::User),
}

impl Found {
    /// The user, stored or not.
    pub fn user(&self) -> &usher_core::User {
        match self {
            Found::Stored(user) | Found::Legacy(user) => user,
        }
    }
}

impl Bridge {
    /// The user `identifier` (an email or a username) names: see the module docs. Auth
    /// sources (a legacy auth API, an LDAP bind) check passwords but list nobody, so a user
    /// only they know is not found until their first login. A legacy outage is an error, as
    /// at login.
    pub async fn lookup(&self, identifier: &str) -> Result<Option<Found>, LoginError> {
        let Some(lookup) = Identifier::parse(identifier) else {
            return Ok(None);
        };
        if let Some(user) = self.stored_user(Some(&lookup)).await? {
            return Ok(Some(Found::Stored(user)));
        }
        for legacy in &self.legacy {
            let Legacy::Hash(source) = legacy else {
                continue;
            };
            let name = source.source.name();
            // In key order, as at login: the lowest key that maps holds the identifier.
            for record in self.lookup_legacy(source, &lookup, CANDIDATES).await? {
                if let Some(id) = self
                    .store
                    .ledger_user(name, &record.key.to_string())
                    .await?
                {
                    // Moved under another identifier: the user it became answers.
                    if let Some(user) = self.store.user(id).await? {
                        return Ok(Some(Found::Stored(user)));
                    }
                    continue;
                }
                if let Ok(user) = source.mapper.map(name, &record, Utc::now()) {
                    return Ok(Some(Found::Legacy(user)));
                }
            }
        }
        Ok(None)
    }
}
