//! The typed stored hash and the dispatcher that recognises every supported encoding.

use std::fmt;

use zeroize::Zeroizing;

use crate::formats::{
    argon2::Argon2, bcrypt::Bcrypt, crypt::Md5Crypt, crypt::ShaCrypt, crypt::Yescrypt,
    db::FieldSalted, db::Mysql323, db::MysqlSha2, db::Scram, descrypt::DesCrypt, digest::Digest,
    digest::Plaintext, firebase::FirebaseScrypt, pbkdf2::Pbkdf2, phpass::Phpass, scrypt::Scrypt,
    unix::Sha1Crypt, unix::SunMd5,
};
use crate::{HashError, Limits, Password, Policy, Scheme, formats};

/// How to read a stored hash.
#[derive(Clone, Default)]
pub struct ParseOptions {
    /// Force this scheme instead of detecting it. Use it where two encodings are identical
    /// on the surface: 32 hex digits are MD5 unless forced to `md4` or `nthash`, and Django's
    /// `sha1$salt$hex` is salted SHA-1 unless forced to Werkzeug's `hmac-sha1`. Schemes
    /// salted with another field of the record (`postgres-md5`, `oracle10`, `vbulletin`,
    /// `ipb`, `smf`) are read only when forced, as `<hash>:<salt>`.
    pub scheme: Option<Scheme>,
    /// The Firebase project's base64-decoded signer key, for encodings that do not carry it
    /// (SuperTokens `$f_scrypt$`, Supabase `$fbscrypt$` without `sk=`).
    pub firebase_signer_key: Option<Zeroizing<Vec<u8>>>,
    /// A site-wide secret the application appended to every password before hashing
    /// (Devise's `config.pepper`), for the `bcrypt-pepper` scheme.
    pub pepper: Option<Zeroizing<Vec<u8>>>,
    /// Bounds on the cost parameters a hash may ask for.
    pub limits: Limits,
}

impl fmt::Debug for ParseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseOptions")
            .field("scheme", &self.scheme)
            .field(
                "firebase_signer_key",
                &self.firebase_signer_key.as_ref().map(|_| "[redacted]"),
            )
            .field("pepper", &self.pepper.as_ref().map(|_| "[redacted]"))
            .field("limits", &self.limits)
            .finish()
    }
}

impl ParseOptions {
    /// Options that force `scheme`.
    pub fn forcing(scheme: Scheme) -> Self {
        Self {
            scheme: Some(scheme),
            ..Self::default()
        }
    }
}

/// What a stored hash does not carry but reading it needs, per scheme: the Firebase
/// project's signer key (the pepper of `$fbscrypt$`/`$f_scrypt$` hashes without `sk=`), and
/// an application's pepper for `bcrypt-pepper` (Devise's `config.pepper`). usher
/// builds one from its configuration, once, and hands the same value to everything that
/// parses hashes (the mappings, the login bridge), so that they all read a hash alike.
///
/// ```
/// use usher_hash::{HashContext, Scheme};
/// use zeroize::Zeroizing;
///
/// let context = HashContext::default().with_firebase_signer_key(Zeroizing::new(b"key".to_vec()));
/// let options = context.options(Some(Scheme::Md5));
/// assert_eq!(options.scheme, Some(Scheme::Md5));
/// assert!(options.firebase_signer_key.is_some());
/// assert!(!format!("{context:?}").contains("107"), "the key never shows");
/// let peppered = context.with_pepper(Zeroizing::new(b"pepper-sentinel".to_vec()));
/// assert!(peppered.options(None).pepper.is_some());
/// assert!(!format!("{peppered:?}").contains("sentinel"), "nor does the pepper");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HashContext {
    firebase_signer_key: Option<Zeroizing<Vec<u8>>>,
    pepper: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for HashContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashContext")
            .field(
                "firebase_signer_key",
                &self.firebase_signer_key.as_ref().map(|_| "[redacted]"),
            )
            .field("pepper", &self.pepper.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl HashContext {
    /// The context with the application's pepper (Devise's `config.pepper`), which
    /// `bcrypt-pepper` hashes need.
    #[must_use]
    pub fn with_pepper(mut self, pepper: Zeroizing<Vec<u8>>) -> Self {
        self.pepper = Some(pepper);
        self
    }

    /// The context with the Firebase project's base64-decoded signer key.
    #[must_use]
    pub fn with_firebase_signer_key(mut self, key: Zeroizing<Vec<u8>>) -> Self {
        self.firebase_signer_key = Some(key);
        self
    }

    /// How to read a hash in this context: as `scheme` if given, else detected.
    pub fn options(&self, scheme: Option<Scheme>) -> ParseOptions {
        ParseOptions {
            scheme,
            firebase_signer_key: self.firebase_signer_key.clone(),
            pepper: self.pepper.clone(),
            ..ParseOptions::default()
        }
    }
}

/// What every format family implements.
pub(crate) trait Verify {
    /// The scheme id.
    fn scheme(&self) -> Scheme;
    /// Recompute and compare in constant time. Parameters were bounded at parse time.
    fn verify(&self, password: &Password) -> Result<bool, HashError>;
}

/// A parsed stored password hash: its scheme, its parameters, its salt and its checksum.
///
/// Parse with [`PasswordHash::parse`] (detects the encoding) or [`PasswordHash::parse_with`]
/// (forces a scheme, supplies out-of-band parameters, changes limits). Parsing bounds every
/// cost parameter, so [`PasswordHash::verify`] never does unbounded work.
///
/// `Debug` shows the scheme only: salts and checksums stay out of logs.
#[derive(Clone)]
pub struct PasswordHash(pub(crate) Kind);

#[derive(Clone)]
pub(crate) enum Kind {
    Bcrypt(Bcrypt),
    Argon2(Argon2),
    Scrypt(Scrypt),
    Firebase(FirebaseScrypt),
    Pbkdf2(Pbkdf2),
    Md5Crypt(Md5Crypt),
    ShaCrypt(ShaCrypt),
    Yescrypt(Yescrypt),
    DesCrypt(DesCrypt),
    Sha1Crypt(Sha1Crypt),
    SunMd5(SunMd5),
    Mysql323(Mysql323),
    MysqlSha2(MysqlSha2),
    Scram(Scram),
    FieldSalted(FieldSalted),
    Phpass(Phpass),
    Digest(Digest),
    Plaintext(Plaintext),
}

impl PasswordHash {
    /// Parses a stored hash, detecting its encoding from its full structure.
    pub fn parse(stored: &str) -> Result<Self, HashError> {
        Self::parse_with(stored, &ParseOptions::default())
    }

    /// Parses a stored hash with explicit options.
    pub fn parse_with(stored: &str, options: &ParseOptions) -> Result<Self, HashError> {
        if stored.len() > options.limits.max_input_bytes {
            return Err(HashError::Unrecognized);
        }
        let parsed = formats::parse(stored, options)?;
        match options.scheme {
            Some(forced) if parsed.scheme() != forced => Err(HashError::SchemeMismatch(forced)),
            _ => Ok(parsed),
        }
    }

    fn inner(&self) -> &dyn Verify {
        match &self.0 {
            Kind::Bcrypt(h) => h,
            Kind::Argon2(h) => h,
            Kind::Scrypt(h) => h,
            Kind::Firebase(h) => h,
            Kind::Pbkdf2(h) => h,
            Kind::Md5Crypt(h) => h,
            Kind::ShaCrypt(h) => h,
            Kind::Yescrypt(h) => h,
            Kind::DesCrypt(h) => h,
            Kind::Sha1Crypt(h) => h,
            Kind::SunMd5(h) => h,
            Kind::Mysql323(h) => h,
            Kind::MysqlSha2(h) => h,
            Kind::Scram(h) => h,
            Kind::FieldSalted(h) => h,
            Kind::Phpass(h) => h,
            Kind::Digest(h) => h,
            Kind::Plaintext(h) => h,
        }
    }

    /// The scheme id.
    pub fn scheme(&self) -> Scheme {
        self.inner().scheme()
    }

    /// Whether `password` matches. The final comparison is constant-time.
    ///
    /// An `Err` means the hash cannot be computed at all (it never means "wrong password").
    pub fn verify(&self, password: &Password) -> Result<bool, HashError> {
        self.inner().verify(password)
    }

    /// Whether this hash should be replaced by a fresh one under `policy` after the next
    /// successful verify: any scheme other than Argon2id, an Argon2 version before 1.3, or
    /// memory, passes, lanes, salt or output below the policy.
    pub fn needs_upgrade(&self, policy: &Policy) -> bool {
        match &self.0 {
            Kind::Argon2(h) => h.below(policy),
            _ => true,
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PasswordHash")
            .field(&self.scheme().id())
            .finish()
    }
}

impl std::str::FromStr for PasswordHash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, HashError> {
        Self::parse(s)
    }
}

/// The scheme of a stored hash, detected from its structure.
pub fn identify(stored: &str) -> Result<Scheme, HashError> {
    PasswordHash::parse(stored).map(|h| h.scheme())
}

/// Parses `stored` and verifies `password` against it.
pub fn verify(
    password: &Password,
    stored: &str,
    options: &ParseOptions,
) -> Result<bool, HashError> {
    PasswordHash::parse_with(stored, options)?.verify(password)
}
