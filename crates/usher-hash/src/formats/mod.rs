//! One module per family of formats, and the dispatcher that picks one from the string.
//!
//! Detection uses the whole structure, not just the prefix: `$scrypt$ln=16384` is Kratos
//! (N itself) while `$scrypt$ln=14` is passlib (log2 N); `$sha1$pf=…` is Kratos while
//! `$sha1$40000$…` is NetBSD's sha1-crypt. Each parser answers `None` for "not mine" and
//! `Some(Err(..))` for "mine, but malformed", so a malformed hash is reported against the
//! format it claims to be.

pub(crate) mod argon2;
pub(crate) mod bcrypt;
mod blowfish_pi;
pub(crate) mod crypt;
pub(crate) mod db;
mod des;
pub(crate) mod descriptor;
pub(crate) mod descrypt;
pub(crate) mod digest;
mod eksblowfish;
pub(crate) mod firebase;
pub(crate) mod ldap;
pub(crate) mod pbkdf2;
pub(crate) mod phpass;
pub(crate) mod scrypt;
pub(crate) mod unix;

use crate::hash::{Kind, ParseOptions, PasswordHash};
use crate::{HashError, Scheme, encoding};

pub(crate) type Parsed = Result<PasswordHash, HashError>;

/// Recognises and parses any supported encoding.
pub(crate) fn parse(stored: &str, o: &ParseOptions) -> Parsed {
    // Plaintext markers keep their whitespace: it is part of the password.
    if let Some(parsed) = digest::parse_plaintext(stored) {
        return parsed;
    }
    // Fixed-width CHAR columns pad with spaces and exports end lines with \r\n; no hash
    // format has whitespace at either end.
    let s = stored.trim();
    if s.is_empty() {
        return Err(HashError::Unrecognized);
    }
    if let Some(parsed) = db::parse_forced(s, o) {
        return parsed;
    }
    if let Some(parsed) = digest::parse_fshp(s, o) {
        return parsed;
    }
    if s.starts_with('{') {
        return if descriptor::looks_like_json(s) {
            descriptor::parse(s, o)
        } else {
            ldap::parse_tagged(s, o)
        };
    }
    if s.starts_with('$') {
        return parse_dollar(s, o);
    }
    if let Some(rest) = s.strip_prefix("U$S$").and(s.strip_prefix('U')) {
        return phpass::parse_drupal_upgraded(rest, o);
    }
    if let Some(parsed) = descrypt::parse_bsdi(s, o) {
        return parsed;
    }
    django_style(s, o)
        .or_else(|| digest::parse_mssql(s, o))
        .or_else(|| db::parse_scram(s, o))
        .or_else(|| digest::parse_oracle11(s, o))
        .or_else(|| pbkdf2::parse_grub(s, o))
        .or_else(|| scrypt::parse_werkzeug(s, o))
        .or_else(|| pbkdf2::parse_werkzeug(s, o))
        .or_else(|| digest::parse_colon_salted(s, o))
        .or_else(|| descrypt::parse_bare(s, o))
        .or_else(|| digest::parse_bare(s, o))
        .or_else(|| firebase::parse_clerk(s, o))
        .or_else(|| pbkdf2::parse_aspnet(s, o))
        .unwrap_or(Err(HashError::Unrecognized))
}

/// Modular crypt format and PHC strings: `$<id>$…`.
pub(crate) fn parse_dollar(s: &str, o: &ParseOptions) -> Parsed {
    let rest = s.get(1..).unwrap_or_default();
    let id = rest.split('$').next().unwrap_or_default();
    match id {
        "2a" | "2b" | "2y" | "2x" | "2" => bcrypt::parse_mcf(s, o),
        "bcrypt-sha256" => bcrypt::parse_passlib_sha256(s, o),
        "wp" => bcrypt::parse_wordpress(s, o),
        "argon2id" | "argon2i" | "argon2d" => argon2::parse_phc(s, o).map(|mut hash| {
            if let Kind::Argon2(a) = &mut hash.0 {
                a.phc = true;
            }
            hash
        }),
        "scrypt" => scrypt::parse_dollar_scrypt(s, o),
        "7" => scrypt::parse_libxcrypt(s, o),
        "8" => pbkdf2::parse_cisco8(s, o),
        "9" => scrypt::parse_cisco9(s, o),
        "p5k2" => pbkdf2::parse_p5k2(s, o),
        "firescrypt" => firebase::parse_kratos(s, o),
        "fbscrypt" => firebase::parse_supabase(s, o),
        "f_scrypt" => firebase::parse_supertokens(s, o),
        "pbkdf2" | "pbkdf2-sha1" | "pbkdf2-sha256" | "pbkdf2-sha384" | "pbkdf2-sha512"
        | "pbkdf2-whirlpool" => pbkdf2::parse_dollar(s, o),
        "1" | "md5-crypt" => crypt::parse_md5_crypt(s, o, false),
        "apr1" => crypt::parse_md5_crypt(s, o, true),
        "5" | "6" | "sha256-crypt" | "sha512-crypt" => crypt::parse_sha_crypt(s, o),
        "y" | "gy" => crypt::parse_yescrypt(s, o),
        "P" | "H" => phpass::parse(s, o, false),
        "S" => phpass::parse(s, o, true),
        // NetBSD `$sha1$<rounds>$…` and SunMD5 `$md5$<salt>$…` against Kratos' `$sha1$pf=…`
        // and `$md5$<base64>`.
        "sha1" if rest.split('$').nth(1).is_some_and(encoding::is_digits) => {
            unix::parse_sha1_crypt(s, o)
        }
        "md5" if rest.split('$').count() > 2 && !rest.contains("$pf=") => unix::parse_sun_md5(s, o),
        id if id.starts_with("md5,") => unix::parse_sun_md5(s, o),
        "md5" | "sha1" | "sha256" | "sha512" => digest::parse_kratos(s, o),
        "3" => digest::parse_bsd_nthash(s, o),
        "A" => db::parse_mysql_sha2(s, o),
        "mysql" => db::parse_mysql_sha2_hashcat(s, o),
        id if id.starts_with("hmac-") => digest::parse_kratos_hmac(s, o),
        _ => Err(HashError::Unrecognized),
    }
}

/// Django's `<algorithm>$…` and Werkzeug 2's `<method>$<salt>$<hex>`.
fn django_style(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let (alg, rest) = s.split_once('$')?;
    match alg {
        "bcrypt" => Some(bcrypt::parse_mcf(rest, o)),
        "bcrypt_sha256" => Some(bcrypt::parse_django_sha256(rest, o)),
        "argon2" => Some(argon2::parse_phc(
            s.get("argon2".len()..).unwrap_or_default(),
            o,
        )),
        "scrypt" => Some(scrypt::parse_django(s, o)),
        "pbkdf2_sha256" | "pbkdf2_sha1" => Some(pbkdf2::parse_django(s, o)),
        "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" => {
            Some(digest::parse_django_or_werkzeug(s, o))
        }
        "crypt" => Some(descrypt::parse_django(rest)),
        "unsalted_md5" | "unsalted_sha1" => Some(digest::parse_django_unsalted(s, o)),
        _ => None,
    }
}

/// Splits PHC parameters `a=1,b=2` into pairs; `None` if any item lacks `=`.
pub(crate) fn phc_params(s: &str) -> Option<Vec<(&str, &str)>> {
    s.split(',').map(|kv| kv.split_once('=')).collect()
}

/// Looks a parameter up in [`phc_params`] output.
pub(crate) fn param<'a>(params: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// The parameter an error refuses as out of range, and its value; `None` for another error.
#[cfg(test)]
pub(crate) fn out_of_range(err: &HashError) -> Option<(&'static str, u64)> {
    match err {
        HashError::ParamOutOfRange { param, value, .. } => Some((param, *value)),
        _ => None,
    }
}

/// Werkzeug's `<params>$<salt>$<hash>` (after its `<method>:`): exactly three fields, or the
/// error that the hash is not laid out as `expected` shows.
pub(crate) fn werkzeug_fields<'a>(
    rest: &'a str,
    scheme: Scheme,
    expected: &'static str,
) -> Result<[&'a str; 3], HashError> {
    let fields: Vec<&str> = rest.split('$').collect();
    <[&str; 3]>::try_from(fields).map_err(|_| HashError::structure(scheme, expected))
}

/// [`phc_params`] of a hash's parameter field, or the error naming it malformed.
pub(crate) fn params_of(scheme: Scheme, s: &str) -> Result<Vec<(&str, &str)>, HashError> {
    phc_params(s).ok_or_else(|| HashError::malformed(scheme, "params", "expected key=value pairs"))
}

/// The parameter `name`, which `scheme` requires: missing, it is an error naming it.
pub(crate) fn required<'a>(
    scheme: Scheme,
    params: &[(&str, &'a str)],
    name: &'static str,
) -> Result<&'a str, HashError> {
    param(params, name).ok_or_else(|| HashError::malformed(scheme, name, "missing"))
}

/// Parses a decimal parameter, naming the scheme and the field when it is not a number.
pub(crate) fn number(scheme: Scheme, field: &'static str, value: &str) -> Result<u64, HashError> {
    if !encoding::is_digits(value) {
        return Err(HashError::malformed(scheme, field, "not a decimal number"));
    }
    value
        .parse::<u64>()
        .map_err(|_| HashError::malformed(scheme, field, "number too large"))
}

/// Narrows a bounded `u64` to `u32`.
pub(crate) fn to_u32(scheme: Scheme, field: &'static str, value: u64) -> Result<u32, HashError> {
    u32::try_from(value).map_err(|_| HashError::ParamOutOfRange {
        scheme,
        param: field,
        value,
        min: 0,
        max: u64::from(u32::MAX),
    })
}

/// Decodes a field, naming the scheme and field on failure, and bounds its size.
pub(crate) fn decode(
    o: &ParseOptions,
    scheme: Scheme,
    field: &'static str,
    value: &str,
    decoder: fn(&str) -> Option<Vec<u8>>,
    what: &str,
) -> Result<Vec<u8>, HashError> {
    if value.len() > o.limits.max_field_bytes.saturating_mul(2) {
        return Err(HashError::malformed(scheme, field, "field too long"));
    }
    let bytes = decoder(value)
        .ok_or_else(|| HashError::malformed(scheme, field, format!("not valid {what}")))?;
    o.limits.check_field(scheme, field, &bytes)?;
    Ok(bytes)
}

/// Wraps a format family into a [`PasswordHash`].
pub(crate) fn ok(kind: Kind) -> Parsed {
    Ok(PasswordHash(kind))
}
