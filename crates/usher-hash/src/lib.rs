//! # usher-hash
//!
//! Verifies the password hashes that legacy systems wrote, so users keep their passwords when
//! their accounts move, and writes new ones as Argon2id. Pure computation: no I/O, no runtime.
//!
//! * [`PasswordHash`] — a parsed stored hash: scheme, bounded parameters, salt, checksum.
//!   [`PasswordHash::parse`] recognises every supported encoding by its full structure;
//!   [`PasswordHash::parse_with`] forces a [`Scheme`] or supplies out-of-band parameters.
//! * [`Password`] — the plaintext, in memory that is zeroed on drop; `Debug` is redacted.
//! * [`Policy`] — the Argon2id parameters for new hashes (OWASP's m=19456 KiB, t=2, p=1 by
//!   default), used by [`hash`] and [`PasswordHash::needs_upgrade`].
//!
//! ```
//! use usher_hash::{Password, PasswordHash, Policy, Scheme};
//!
//! // An MD5-crypt hash written by libxcrypt's crypt(3), for the password "password".
//! let stored = PasswordHash::parse("$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0")?;
//! assert_eq!(stored.scheme(), Scheme::Md5Crypt);
//! assert!(stored.verify(&Password::from("password"))?);
//! assert!(!stored.verify(&Password::from("Password"))?);
//!
//! // After a successful login, replace it.
//! let policy = Policy::default();
//! if stored.needs_upgrade(&policy) {
//!     let fresh = usher_hash::hash(&Password::from("password"), &policy)?;
//!     assert!(PasswordHash::parse(&fresh)?.verify(&Password::from("password"))?);
//!     assert!(!PasswordHash::parse(&fresh)?.needs_upgrade(&policy));
//! }
//! # Ok::<(), usher_hash::HashError>(())
//! ```
//!
//! Every cost parameter in a stored hash is checked against [`Limits`] while parsing, so a
//! hostile `m=4294967295` or `rounds=999999999999` is refused as malformed and never computed.
//! No input makes this crate panic; the `fuzz/` targets check that.

mod encoding;
mod error;
pub mod export;
mod formats;
mod hash;
mod limits;
mod password;
mod policy;
mod scheme;

pub use error::HashError;
pub use export::NotExportable;
pub use hash::{HashContext, ParseOptions, PasswordHash, identify, verify};
pub use limits::Limits;
pub use password::Password;
pub use policy::{Policy, hash};
pub use scheme::Scheme;
