//! An Amazon Cognito user pool as CSV, in the columns of the pool's CSV header
//! (`aws cognito-idp get-csv-header --user-pool-id <id>`): `name`, `given_name`,
//! `family_name`, ..., `email`, `email_verified`, `phone_number`, `phone_number_verified`,
//! `cognito:mfa_enabled`, `cognito:username`, plus the pool's `custom:*` attributes.
//!
//! ```toml
//! [sources.cognito]
//! type = "cognito"
//! path = "cognito-users.csv"
//! ```
//!
//! The key is the `sub` column when the file has one (exports made with `list-users` usually
//! do), else `cognito:username`; keys are text. Values are strings, empty cells null, as in the
//! [generic CSV source](super::csv), and bad rows become invalid records the same way.
//!
//! **No password hashes.** Cognito never exports them. Users mapped from this source have no
//! credential, so the mapping's `password.missing = "reset"` default makes them
//! password-reset-required; to move their passwords without a reset, configure an *auth
//! source* for the bridge (a legacy auth API that checks the password against Cognito) and let
//! them migrate lazily on their next login.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use usher_core::{ConfigProblem, Source, SourceError, config::resolve_path};

use super::csv::{Csv, KeyType};

/// `type = "cognito"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CognitoConfig {
    /// The CSV file, with the user pool's CSV header as its first row.
    pub path: PathBuf,
}

impl CognitoConfig {
    /// Checks the options without reading the file.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        super::check_path("path", &self.path).into_iter().collect()
    }

    /// Makes `path` relative to `base` (the config file's directory) if it is relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_path(&mut self.path, base);
    }

    /// The source named `name`; the file is read on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        super::build(name, self.validate(), |source| Csv {
            source,
            path: self.path.clone(),
            keys: vec!["sub".to_owned(), "cognito:username".to_owned()],
            key_type: Some(KeyType::Text),
            delimiter: b',',
        })
    }
}
