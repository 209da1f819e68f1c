//! Typed errors. None of them ever carries the password or the hash itself.

use crate::Scheme;

/// Why a stored hash could not be parsed or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The string matches no supported format.
    #[error("unrecognized hash format")]
    Unrecognized,

    /// The string is a known format that usher does not verify.
    #[error("unsupported hash format: {0}")]
    Unsupported(&'static str),

    /// A forced scheme id is not one of usher's ids.
    #[error("unknown scheme id `{0}`")]
    UnknownScheme(String),

    /// The caller forced a scheme, and the string is not a valid encoding of it.
    #[error("the hash is not a valid `{0}` hash")]
    SchemeMismatch(Scheme),

    /// The string is recognisably this scheme, but a field is malformed.
    #[error("malformed {scheme} hash: {field}: {reason}")]
    Malformed {
        /// The scheme the string was parsed as.
        scheme: Scheme,
        /// The field at fault, such as `salt`, `rounds` or `checksum`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A cost parameter is outside the bounds that usher will compute. The hash is refused
    /// before any work is done, so a hostile `m=4294967295` costs nothing.
    #[error("malformed {scheme} hash: {param}={value} is outside the accepted range {min}..={max}")]
    ParamOutOfRange {
        /// The scheme the string was parsed as.
        scheme: Scheme,
        /// The parameter name, as the format spells it.
        param: &'static str,
        /// The value found.
        value: u64,
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },

    /// A scheme needs a parameter that is not in the string, such as a Firebase project's
    /// signer key.
    #[error("{scheme} hash needs {what}, which the string does not carry")]
    MissingParameter {
        /// The scheme the string was parsed as.
        scheme: Scheme,
        /// The missing parameter.
        what: &'static str,
    },

    /// A hashing policy is invalid.
    #[error("invalid hashing policy: {0}")]
    InvalidPolicy(String),

    /// The operating system could not provide random bytes for a salt.
    #[error("no randomness available for a salt: {0}")]
    Randomness(String),
}

impl HashError {
    pub(crate) fn malformed(
        scheme: Scheme,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            scheme,
            field,
            reason: reason.into(),
        }
    }

    /// A hash whose parts are not where `scheme` puts them; `expected` shows the layout.
    pub(crate) fn structure(scheme: Scheme, expected: &'static str) -> Self {
        Self::malformed(scheme, "structure", expected)
    }
}
