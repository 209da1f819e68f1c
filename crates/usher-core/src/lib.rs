//! # usher-core
//!
//! The data every other part of usher shares, and no I/O:
//!
//! * [`User`] — the canonical user every source maps to: validated identifiers ([`Email`],
//!   [`Username`], [`PhoneE164`]), OIDC-style [`Profile`], free `attributes`, the legacy
//!   [`Credential`], [`LegacyLink`]s and the [`Migration`] record with the original row.
//! * [`LegacyRecord`] — a row as a source read it: its [`LegacyKey`] and fields as JSON.
//! * [`Source`] — the trait every legacy source implements (keyset reads in key order).
//! * [`Mapper`] — a source's `[mappings.<source>]` table ([`MappingConfig`]), checked and
//!   compiled once, that maps its records to users (see [`mapping`]).
//!
//! * [`LinkConfig`] — when a record of a second source is the same person as a stored user
//!   (the same verified email), and whose value survives each field (see [`link`]).
//!
//! * [`redact_url`] — a connection URL fit for a log line (see [`redact`]).
//! * [`ConfigProblem`] — a mistake in `usher.toml`, naming its key: what every section's
//!   `validate` reports, all at once (see [`config`]).
//!
//! Validation errors are [`FieldError`]s that name the record's key and the field.
//!
//! ```
//! use usher_core::{Email, PhoneE164};
//!
//! let email = Email::parse(" Ann@Example.com ")?;
//! assert_eq!(email.normalized(), "ann@example.com");
//! assert!(PhoneE164::parse("+14155550123").is_ok());
//! # Ok::<(), usher_core::InvalidValue>(())
//! ```

pub mod config;
pub mod error;
pub mod ids;
pub mod link;
pub mod mapping;
pub mod record;
pub mod redact;
pub mod source;
pub mod target;
pub mod user;

pub use config::ConfigProblem;
pub use error::{FieldError, FieldWarning, InvalidValue, RecordErrors};
pub use ids::{Email, LegacyId, PhoneE164, UserId, Username};
pub use link::{AllowUnverified, LinkConfig, LinkDecision, NotLinked};
pub use mapping::{Mapper, MappingConfig, MappingConfigError};
pub use record::{INVALID_FIELD, LegacyKey, LegacyRecord};
pub use redact::redact_url;
pub use source::{AuthSource, KeyRange, LegacyWrite, Source, SourceError, Written};
pub use target::{FileLimits, LeftOut, Target, Unexportable};
pub use user::{Credential, LegacyLink, Method, Migration, Profile, Status, User};
