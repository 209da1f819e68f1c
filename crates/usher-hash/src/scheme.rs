//! Stable scheme ids.
//!
//! A scheme names the computation that protects a password, not the string that encodes it:
//! passlib's `$pbkdf2-sha256$29000$…`, Django's `pbkdf2_sha256$…` and Keycloak's credential
//! JSON are all `pbkdf2-sha256`. Schemes that pre-process the password differently get their
//! own id (`django-bcrypt-sha256` is not `bcrypt-sha256`). These ids are a public contract:
//! `usher hash identify` prints them, stores record them, and scripts match on them.

use std::fmt;
use std::str::FromStr;

use crate::HashError;

macro_rules! schemes {
    ($($(#[$doc:meta])* $variant:ident => $id:literal,)*) => {
        /// The algorithm family of a stored password hash. See the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Scheme {
            $($(#[$doc])* $variant,)*
        }

        impl Scheme {
            /// Every scheme, in a stable order.
            pub const ALL: &'static [Scheme] = &[$(Scheme::$variant,)*];

            /// The stable id, such as `bcrypt` or `firebase-scrypt`.
            pub const fn id(self) -> &'static str {
                match self {
                    $(Scheme::$variant => $id,)*
                }
            }
        }

        impl FromStr for Scheme {
            type Err = HashError;

            fn from_str(s: &str) -> Result<Self, HashError> {
                match s {
                    $($id => Ok(Scheme::$variant),)*
                    other => Err(HashError::UnknownScheme(other.chars().take(64).collect())),
                }
            }
        }
    };
}

schemes! {
    /// bcrypt `$2a$ $2b$ $2y$ $2x$`, also behind `{CRYPT}`, Django's `bcrypt$` and Spring's `{bcrypt}`.
    Bcrypt => "bcrypt",
    /// passlib `$bcrypt-sha256$`: bcrypt over base64 of (HMAC-)SHA-256 of the password.
    BcryptSha256 => "bcrypt-sha256",
    /// Django `bcrypt_sha256$`: bcrypt over the hex SHA-256 of the password.
    DjangoBcryptSha256 => "django-bcrypt-sha256",
    /// WordPress 6.8 `$wp$`: bcrypt over base64 of HMAC-SHA384("wp-sha384", password).
    WordpressBcrypt => "wordpress-bcrypt",
    /// Argon2id (PHC string, Django `argon2$`, Keycloak, Spring `{argon2}`).
    Argon2id => "argon2id",
    /// Argon2i.
    Argon2i => "argon2i",
    /// Argon2d.
    Argon2d => "argon2d",
    /// scrypt, in any encoding: PHC, Kratos, Werkzeug, Django, libxcrypt `$7$`, Spring.
    Scrypt => "scrypt",
    /// Firebase's modified scrypt (scrypt, then AES-256-CTR of the project signer key).
    FirebaseScrypt => "firebase-scrypt",
    /// PBKDF2-HMAC-SHA1, in any encoding.
    Pbkdf2Sha1 => "pbkdf2-sha1",
    /// PBKDF2-HMAC-SHA256, in any encoding.
    Pbkdf2Sha256 => "pbkdf2-sha256",
    /// PBKDF2-HMAC-SHA384, in any encoding.
    Pbkdf2Sha384 => "pbkdf2-sha384",
    /// PBKDF2-HMAC-SHA512, in any encoding.
    Pbkdf2Sha512 => "pbkdf2-sha512",
    /// MD5-crypt `$1$` (and Kratos `$md5-crypt$`).
    Md5Crypt => "md5-crypt",
    /// Apache's MD5-crypt variant `$apr1$`.
    AprMd5Crypt => "apr-md5-crypt",
    /// SHA-256-crypt `$5$`.
    Sha256Crypt => "sha256-crypt",
    /// SHA-512-crypt `$6$`.
    Sha512Crypt => "sha512-crypt",
    /// yescrypt `$y$`, the `/etc/shadow` default on Debian.
    Yescrypt => "yescrypt",
    /// phpass portable hashes `$P$` and `$H$` (WordPress before 6.8, phpBB, Drupal).
    Phpass => "phpass",
    /// Drupal 7 `$S$`: the phpass construction over SHA-512.
    DrupalSha512 => "drupal-sha512",
    /// Unsalted MD5.
    Md5 => "md5",
    /// Unsalted SHA-1.
    Sha1 => "sha1",
    /// Unsalted SHA-256.
    Sha256 => "sha256",
    /// Unsalted SHA-384.
    Sha384 => "sha384",
    /// Unsalted SHA-512.
    Sha512 => "sha512",
    /// Unsalted MD4.
    Md4 => "md4",
    /// Windows NT hash: MD4 of the UTF-16LE password.
    Nthash => "nthash",
    /// MySQL 4.1+ `PASSWORD()`: `*` + SHA1(SHA1(password)).
    Mysql41 => "mysql41",
    /// MD5 over the password and a salt.
    SaltedMd5 => "salted-md5",
    /// SHA-1 over the password and a salt.
    SaltedSha1 => "salted-sha1",
    /// SHA-256 over the password and a salt.
    SaltedSha256 => "salted-sha256",
    /// SHA-384 over the password and a salt.
    SaltedSha384 => "salted-sha384",
    /// SHA-512 over the password and a salt.
    SaltedSha512 => "salted-sha512",
    /// HMAC-MD5 keyed with a salt or pepper.
    HmacMd5 => "hmac-md5",
    /// HMAC-SHA1 keyed with a salt or pepper.
    HmacSha1 => "hmac-sha1",
    /// HMAC-SHA256 keyed with a salt or pepper.
    HmacSha256 => "hmac-sha256",
    /// HMAC-SHA384 keyed with a salt or pepper.
    HmacSha384 => "hmac-sha384",
    /// HMAC-SHA512 keyed with a salt or pepper.
    HmacSha512 => "hmac-sha512",
    /// A password stored in the clear (`{CLEARTEXT}`, Spring `{noop}`). Verified, always upgraded.
    Plaintext => "plaintext",
    /// Traditional DES crypt: 2 salt and 11 hash characters (`{CRYPT}`, Django `crypt$$`).
    DesCrypt => "des-crypt",
    /// BSDi extended DES crypt `_<rounds><salt><hash>`.
    BsdiCrypt => "bsdi-crypt",
    /// bigcrypt (HP-UX, Tru64): traditional DES crypt chained over each 8 bytes.
    Bigcrypt => "bigcrypt",
    /// NetBSD `$sha1$<rounds>$`: iterated HMAC-SHA1.
    Sha1Crypt => "sha1-crypt",
    /// Solaris SunMD5 `$md5$` and `$md5,rounds=`.
    SunMd5Crypt => "sun-md5-crypt",
    /// libxcrypt `$gy$`: yescrypt finished by HMAC-Streebog-256 (GOST R 34.11-2012).
    GostYescrypt => "gost-yescrypt",
    /// MySQL 3.23 `OLD_PASSWORD()`: 16 hex digits, only when forced.
    Mysql323 => "mysql323",
    /// MySQL 8 `caching_sha2_password` `$A$005$`: SHA-256-crypt with a 20-byte salt.
    MysqlCachingSha2 => "mysql-caching-sha2",
    /// PostgreSQL `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    ScramSha256 => "scram-sha-256",
    /// PostgreSQL `md5<hex>` = MD5(password ‖ user name): forced, as `<hash>:<user name>`.
    PostgresMd5 => "postgres-md5",
    /// Oracle 10g DES hash of the upper-cased user name and password: forced, as
    /// `<hash>:<user name>`.
    Oracle10 => "oracle10",
    /// vBulletin MD5(hex MD5(password) ‖ salt): forced, as `<hash>:<salt>`.
    Vbulletin => "vbulletin",
    /// Invision Power Board 2+ and MyBB MD5(hex MD5(salt) ‖ hex MD5(password)): forced, as
    /// `<hash>:<salt>`.
    Ipb => "ipb",
    /// Simple Machines Forum SHA-1(lower-case user name ‖ password): forced, as
    /// `<hash>:<user name>`.
    Smf => "smf",
    /// bcrypt over the password then an application-wide pepper given out of band (Devise's
    /// `config.pepper`): a plain `$2a$` string, forced.
    BcryptPepper => "bcrypt-pepper",
    /// Symfony's legacy `MessageDigestPasswordEncoder` defaults: SHA-512 of `password{salt}`,
    /// 5000 times over the digest and `password{salt}`, base64: forced, as `<hash>:<salt>`.
    SymfonySha512 => "symfony-sha512",
    /// PBKDF2-HMAC-Whirlpool: `$pbkdf2-whirlpool$` (PHC `i=,l=` or passlib-style rounds), and
    /// Werkzeug's `pbkdf2:whirlpool:`.
    Pbkdf2Whirlpool => "pbkdf2-whirlpool",
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in Scheme::ALL {
            assert!(seen.insert(s.id()), "duplicate id {}", s.id());
            assert_eq!(s.id().parse::<Scheme>().unwrap(), *s);
            assert!(
                s.id()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
        }
    }

    #[test]
    fn unknown_ids_are_refused_with_the_id_named() {
        let err = "sha3".parse::<Scheme>().unwrap_err();
        assert_eq!(err.to_string(), "unknown scheme id `sha3`");
    }
}
