//! `{TAG}value` strings: RFC 2307 LDAP `userPassword` schemes (tags case-insensitive) and
//! Spring Security's `DelegatingPasswordEncoder` ids (case-sensitive in Spring, and told
//! apart from LDAP's by the value's structure where both use a tag).
//!
//! LDAP stores base64(digest ‖ salt); the digest length says where the salt starts, so
//! salts of any length (389-DS uses 8 bytes) work.

use super::digest::{self, Alg, Digest, Input, Part, Shape};
use super::{Parsed, decode, pbkdf2, scrypt};
use crate::hash::ParseOptions;
use crate::{HashError, encoding};

/// Parses `{TAG}value`.
pub(crate) fn parse_tagged(s: &str, o: &ParseOptions) -> Parsed {
    let Some((tag, rest)) = s.strip_prefix('{').and_then(|r| r.split_once('}')) else {
        return Err(HashError::Unrecognized);
    };
    // Spring ids first: they are case-sensitive and some collide with LDAP tags.
    match tag {
        "bcrypt" => return super::bcrypt::parse_mcf(rest, o),
        "pbkdf2" => return pbkdf2::parse_spring(rest, o, false),
        "pbkdf2@SpringSecurity_v5_8" => return pbkdf2::parse_spring(rest, o, true),
        "scrypt" | "scrypt@SpringSecurity_v5_8" => return scrypt::parse_spring(rest, o),
        "argon2" | "argon2@SpringSecurity_v5_8" => return super::argon2::parse_phc(rest, o),
        "ldap" => return parse_tagged(rest, o),
        "SHA-1" => return digest::parse_spring_message_digest(Alg::Sha1, rest, o),
        "SHA-256" => return digest::parse_spring_message_digest(Alg::Sha256, rest, o),
        "MD4" => return digest::parse_spring_message_digest(Alg::Md4, rest, o),
        "sha256" if rest.len() == 80 && encoding::is_hex(rest) => {
            return Err(HashError::Unsupported(
                "Spring StandardPasswordEncoder ({sha256})",
            ));
        }
        "MD5" if rest.starts_with('{') || (rest.len() == 32 && encoding::is_hex(rest)) => {
            return digest::parse_spring_message_digest(Alg::Md5, rest, o);
        }
        _ => {}
    }
    let upper = tag.to_ascii_uppercase();
    match upper.as_str() {
        "SHA" | "SHA1" => unsalted(Alg::Sha1, rest, o),
        "SHA256" => unsalted(Alg::Sha256, rest, o),
        "SHA384" => unsalted(Alg::Sha384, rest, o),
        "SHA512" => unsalted(Alg::Sha512, rest, o),
        "MD5" => unsalted(Alg::Md5, rest, o),
        "SSHA" | "SSHA1" => salted(Alg::Sha1, rest, o),
        "SSHA256" => salted(Alg::Sha256, rest, o),
        "SSHA384" => salted(Alg::Sha384, rest, o),
        "SSHA512" => salted(Alg::Sha512, rest, o),
        "SMD5" => salted(Alg::Md5, rest, o),
        "CRYPT" if rest.starts_with('$') => super::parse_dollar(rest, o),
        "CRYPT" if rest.starts_with('_') => super::descrypt::parse_bsdi(rest, o)
            .unwrap_or(Err(HashError::Unsupported("{CRYPT} with this value"))),
        "CRYPT" => super::descrypt::parse_traditional(rest, super::descrypt::Variant::Traditional),
        "PBKDF2" | "PBKDF2-SHA1" => pbkdf2::passlib_fields(o, pbkdf2::Prf::Sha1, rest),
        "PBKDF2-SHA256" => pbkdf2::passlib_fields(o, pbkdf2::Prf::Sha256, rest),
        "PBKDF2-SHA512" => pbkdf2::passlib_fields(o, pbkdf2::Prf::Sha512, rest),
        "PKCS5S2" => pbkdf2::parse_atlassian(rest, o),
        "ARGON2" => super::argon2::parse_phc(rest, o),
        "PBKDF2_SHA256" => Err(HashError::Unsupported("389-DS {PBKDF2_SHA256}")),
        _ => Err(HashError::Unrecognized),
    }
}

fn unsalted(alg: Alg, rest: &str, o: &ParseOptions) -> Parsed {
    let scheme = digest::scheme_for(Shape::Plain, alg, Input::Bytes)?;
    // Some directories store the hex digest instead of base64 (passlib's ldap_hex_*).
    let bytes = if rest.len() == alg.output_len().saturating_mul(2) && encoding::is_hex(rest) {
        decode(o, scheme, "hash", rest, encoding::hex, "hex")?
    } else {
        decode(o, scheme, "hash", rest, encoding::b64, "base64")?
    };
    Digest::plain(alg, bytes)?.into_parsed()
}

fn salted(alg: Alg, rest: &str, o: &ParseOptions) -> Parsed {
    let scheme = digest::scheme_for(Shape::Salted, alg, Input::Bytes)?;
    let blob = decode(o, scheme, "value", rest, encoding::b64, "base64")?;
    if blob.len() <= alg.output_len() {
        return Err(HashError::malformed(
            scheme,
            "value",
            "no salt after the digest",
        ));
    }
    let (hash, salt) = blob.split_at(alg.output_len());
    Digest::salted(
        alg,
        vec![Part::Password, Part::Salt],
        salt.to_vec(),
        hash.to_vec(),
    )?
    .into_parsed()
}
