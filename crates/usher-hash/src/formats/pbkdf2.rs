//! PBKDF2-HMAC in all its dialects. The computation is always
//! `PBKDF2(prf, password, salt, iterations, len(hash))`; only the encoding differs.
//!
//! | encoding | salt | checksum |
//! |---|---|---|
//! | PHC `$pbkdf2-sha256$i=<it>,l=<len>$<salt>$<hash>` (RustCrypto, Kratos, Auth0) | base64 bytes | base64 |
//! | passlib `$pbkdf2-sha256$<it>$<salt>$<hash>`, `$pbkdf2$` = SHA-1 | adapted base64 bytes | adapted base64 |
//! | LDAP `{PBKDF2-SHA256}<it>$<salt>$<hash>`, `{PBKDF2}` = SHA-1 | adapted base64 bytes | adapted base64 |
//! | Django `pbkdf2_sha256$<it>$<salt>$<hash>` | the salt string | base64 |
//! | Werkzeug `pbkdf2:sha256:<it>$<salt>$<hex>` | the salt string | hex |
//! | Atlassian `{PKCS5S2}<base64(salt16 ‖ hash32)>`, SHA-1, 10,000 | bytes | bytes |
//! | ASP.NET Identity v2 `base64(0x00 ‖ salt16 ‖ hash32)`, SHA-1, 1,000 | bytes | bytes |
//! | ASP.NET Identity v3 `base64(0x01 ‖ prf ‖ it ‖ salt len ‖ salt ‖ hash)` | bytes | bytes |
//! | Spring `{pbkdf2}<hex(salt8 ‖ hash32)>` SHA-1 185,000; `{pbkdf2@SpringSecurity_v5_8}` SHA-256 310,000, salt 16 | bytes | bytes |
//! | Keycloak and FusionAuth: separate fields (see `descriptor`) | bytes | bytes |

use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use whirlpool::Whirlpool;
use zeroize::Zeroizing;

use super::{Parsed, decode, number, ok, param, params_of, required, to_u32, werkzeug_fields};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

/// The HMAC hash function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Prf {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// Whirlpool (ISO/IEC 10118-3), which some PHP and Java systems chose.
    Whirlpool,
}

impl Prf {
    fn scheme(self) -> Scheme {
        match self {
            Prf::Sha1 => Scheme::Pbkdf2Sha1,
            Prf::Sha256 => Scheme::Pbkdf2Sha256,
            Prf::Sha384 => Scheme::Pbkdf2Sha384,
            Prf::Sha512 => Scheme::Pbkdf2Sha512,
            Prf::Whirlpool => Scheme::Pbkdf2Whirlpool,
        }
    }

    /// The digest size: PBKDF2 runs every iteration once per block of this many output bytes.
    fn output_len(self) -> usize {
        match self {
            Prf::Sha1 => 20,
            Prf::Sha256 => 32,
            Prf::Sha384 => 48,
            Prf::Sha512 | Prf::Whirlpool => 64,
        }
    }

    /// Parses a digest name as the formats spell it (`sha256`, `SHA-256`, `sha-256`).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(Prf::Sha1),
            "sha256" => Some(Prf::Sha256),
            "sha384" => Some(Prf::Sha384),
            "sha512" => Some(Prf::Sha512),
            "whirlpool" => Some(Prf::Whirlpool),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Pbkdf2 {
    pub(crate) prf: Prf,
    pub(crate) iterations: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

impl Pbkdf2 {
    /// Builds from parts, bounding the iteration count before anything is computed.
    pub(crate) fn from_parts(
        o: &ParseOptions,
        prf: Prf,
        iterations: u64,
        salt: Vec<u8>,
        hash: Vec<u8>,
    ) -> Result<Self, HashError> {
        let scheme = prf.scheme();
        check_range(
            scheme,
            "iterations",
            iterations,
            1,
            o.limits.pbkdf2_max_iterations,
        )?;
        o.limits.check_field(scheme, "salt", &salt)?;
        o.limits.check_field(scheme, "hash", &hash)?;
        if hash.len() < 8 {
            return Err(HashError::malformed(scheme, "hash", "shorter than 8 bytes"));
        }
        // The iterations run once per digest-sized block of the hash, so a long hash
        // (`l=1024` with SHA-1 is 52 blocks) multiplies the work: bound the product too.
        let blocks = u64::try_from(hash.len().div_ceil(prf.output_len())).unwrap_or(u64::MAX);
        check_range(
            scheme,
            "iterations × blocks",
            iterations.saturating_mul(blocks),
            1,
            o.limits.pbkdf2_max_iterations,
        )?;
        Ok(Self {
            prf,
            iterations: to_u32(scheme, "iterations", iterations)?,
            salt,
            hash,
        })
    }

    fn into_parsed(self) -> Parsed {
        ok(Kind::Pbkdf2(self))
    }
}

impl Verify for Pbkdf2 {
    fn scheme(&self) -> Scheme {
        self.prf.scheme()
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let mut out = Zeroizing::new(vec![0u8; self.hash.len()]);
        let (pw, salt, it) = (password.expose(), self.salt.as_slice(), self.iterations);
        match self.prf {
            Prf::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(pw, salt, it, &mut out),
            Prf::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(pw, salt, it, &mut out),
            Prf::Sha384 => pbkdf2::pbkdf2_hmac::<Sha384>(pw, salt, it, &mut out),
            Prf::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(pw, salt, it, &mut out),
            Prf::Whirlpool => pbkdf2::pbkdf2_hmac::<Whirlpool>(pw, salt, it, &mut out),
        }
        Ok(encoding::ct_eq(&out, &self.hash))
    }
}

/// `$pbkdf2-<digest>$…`: PHC (`i=…,l=…`) or passlib (bare rounds).
pub(crate) fn parse_dollar(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", ident, params, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            prf_of_ident(s).map_or(Scheme::Pbkdf2Sha256, Prf::scheme),
            "expected $pbkdf2-<digest>$<params>$<salt>$<hash>",
        ));
    };
    let prf = match *ident {
        "pbkdf2" | "pbkdf2-sha1" => Prf::Sha1,
        "pbkdf2-sha256" => Prf::Sha256,
        "pbkdf2-sha384" => Prf::Sha384,
        "pbkdf2-sha512" => Prf::Sha512,
        "pbkdf2-whirlpool" => Prf::Whirlpool,
        _ => return Err(HashError::Unrecognized),
    };
    let scheme = prf.scheme();
    if params.contains('=') {
        let kv = params_of(scheme, params)?;
        let it = required(scheme, &kv, "i")?;
        let it = number(scheme, "i", it)?;
        let salt = decode(o, scheme, "salt", salt, encoding::b64, "base64")?;
        let hash = decode(o, scheme, "hash", hash, encoding::b64, "base64")?;
        if let Some(l) = param(&kv, "l") {
            let l = number(scheme, "l", l)?;
            if usize::try_from(l).ok() != Some(hash.len()) {
                return Err(HashError::malformed(
                    scheme,
                    "l",
                    "differs from the hash length",
                ));
            }
        }
        Pbkdf2::from_parts(o, prf, it, salt, hash)?.into_parsed()
    } else {
        passlib_fields(o, prf, &format!("{params}${salt}${hash}"))
    }
}

fn prf_of_ident(s: &str) -> Option<Prf> {
    let ident = s.get(1..)?.split('$').next()?;
    Prf::from_name(ident.strip_prefix("pbkdf2-").unwrap_or("sha1"))
}

/// `<rounds>$<ab64 salt>$<ab64 hash>`, shared by passlib and OpenLDAP's `{PBKDF2-*}`.
pub(crate) fn passlib_fields(o: &ParseOptions, prf: Prf, rest: &str) -> Parsed {
    let scheme = prf.scheme();
    let fields: Vec<&str> = rest.split('$').collect();
    let [rounds, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            scheme,
            "expected <rounds>$<salt>$<hash>",
        ));
    };
    let rounds = number(scheme, "rounds", rounds)?;
    let salt = decode(o, scheme, "salt", salt, encoding::ab64, "adapted base64")?;
    let hash = decode(o, scheme, "hash", hash, encoding::ab64, "adapted base64")?;
    Pbkdf2::from_parts(o, prf, rounds, salt, hash)?.into_parsed()
}

/// Django: `pbkdf2_sha256$<iterations>$<salt>$<base64>` and `pbkdf2_sha1$…`.
pub(crate) fn parse_django(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let (prf, it, salt, hash) = match fields.as_slice() {
        ["pbkdf2_sha256", it, salt, hash] => (Prf::Sha256, *it, *salt, *hash),
        ["pbkdf2_sha1", it, salt, hash] => (Prf::Sha1, *it, *salt, *hash),
        [alg, ..] => {
            let prf = if *alg == "pbkdf2_sha1" {
                Prf::Sha1
            } else {
                Prf::Sha256
            };
            return Err(HashError::structure(
                prf.scheme(),
                "expected <algorithm>$<iterations>$<salt>$<hash>",
            ));
        }
        [] => return Err(HashError::Unrecognized),
    };
    let scheme = prf.scheme();
    let it = number(scheme, "iterations", it)?;
    let hash = decode(o, scheme, "hash", hash, encoding::b64, "base64")?;
    Pbkdf2::from_parts(o, prf, it, salt.as_bytes().to_vec(), hash)?.into_parsed()
}

/// Werkzeug: `pbkdf2:<digest>:<iterations>$<salt>$<hex>`.
pub(crate) fn parse_werkzeug(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("pbkdf2:")?;
    Some((|| {
        let [method, salt, hash] = werkzeug_fields(
            rest,
            Scheme::Pbkdf2Sha256,
            "expected pbkdf2:<digest>:<iterations>$<salt>$<hex>",
        )?;
        let (digest, it) = method.split_once(':').unwrap_or((method, ""));
        let prf = Prf::from_name(digest)
            .ok_or(HashError::Unsupported("Werkzeug PBKDF2 with this digest"))?;
        let scheme = prf.scheme();
        if it.is_empty() {
            // Werkzeug fills in its own version's default, which has changed across releases.
            return Err(HashError::MissingParameter {
                scheme,
                what: "the iteration count (Werkzeug's default varies by version)",
            });
        }
        let it = number(scheme, "iterations", it)?;
        let hash = decode(o, scheme, "hash", hash, encoding::hex, "hex")?;
        Pbkdf2::from_parts(o, prf, it, salt.as_bytes().to_vec(), hash)?.into_parsed()
    })())
}

/// GRUB 2's `grub-mkpasswd-pbkdf2`: `grub.pbkdf2.sha512.<iterations>.<hex salt>.<hex hash>`.
pub(crate) fn parse_grub(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("grub.pbkdf2.sha512.")?;
    let scheme = Scheme::Pbkdf2Sha512;
    Some((|| {
        let [it, salt, hash] = rest.split('.').collect::<Vec<_>>()[..] else {
            return Err(HashError::structure(
                scheme,
                "expected grub.pbkdf2.sha512.<iterations>.<hex salt>.<hex hash>",
            ));
        };
        let it = number(scheme, "iterations", it)?;
        let salt = decode(o, scheme, "salt", salt, encoding::hex, "hex")?;
        let hash = decode(o, scheme, "hash", hash, encoding::hex, "hex")?;
        Pbkdf2::from_parts(o, Prf::Sha512, it, salt, hash)?.into_parsed()
    })())
}

/// Cisco IOS type 8: `$8$<14-character salt>$<43 characters>`, PBKDF2-HMAC-SHA256 with
/// 20,000 iterations over the salt as written, in Cisco's base64.
pub(crate) fn parse_cisco8(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::Pbkdf2Sha256;
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "8", salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(scheme, "expected $8$<salt>$<hash>"));
    };
    let hash = decode(o, scheme, "hash", hash, encoding::cisco64, "Cisco base64")?;
    if hash.len() != 32 {
        return Err(HashError::malformed(scheme, "hash", "expected 32 bytes"));
    }
    Pbkdf2::from_parts(o, Prf::Sha256, 20_000, salt.as_bytes().to_vec(), hash)?.into_parsed()
}

/// `$p5k2$<hex rounds>$<salt>$<checksum>`, PBKDF2-HMAC-SHA1 in two dialects told apart by
/// the checksum's length: Cryptacular's (28 characters: URL-safe base64 of 20 bytes, the
/// salt URL-safe base64 bytes) and Dwayne Litzenberger's (32 characters: adapted base64 of
/// 24 bytes, and the salt is the whole setting `$p5k2$<hex rounds>$<salt>`, with an empty
/// rounds field meaning 400).
pub(crate) fn parse_p5k2(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::Pbkdf2Sha1;
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "p5k2", rounds, salt, hash] = fields.as_slice() else {
        return Err(HashError::structure(
            scheme,
            "expected $p5k2$<hex rounds>$<salt>$<checksum>",
        ));
    };
    let rounds_of = |r: &str| {
        if r.is_empty() || r.len() > 8 || r.starts_with('0') {
            return Err(HashError::malformed(
                scheme,
                "rounds",
                "expected hex digits without leading zeros",
            ));
        }
        u64::from_str_radix(r, 16).map_err(|_| HashError::malformed(scheme, "rounds", "not hex"))
    };
    match hash.len() {
        28 => {
            let rounds = rounds_of(rounds)?;
            let salt = decode(
                o,
                scheme,
                "salt",
                salt,
                encoding::b64_any,
                "URL-safe base64",
            )?;
            let hash = decode(
                o,
                scheme,
                "hash",
                hash,
                encoding::b64_any,
                "URL-safe base64",
            )?;
            Pbkdf2::from_parts(o, Prf::Sha1, rounds, salt, hash)?.into_parsed()
        }
        32 => {
            let it = if rounds.is_empty() {
                400
            } else {
                rounds_of(rounds)?
            };
            if !encoding::is_h64(salt) {
                return Err(HashError::malformed(scheme, "salt", "not in ./0-9A-Za-z"));
            }
            let hash = decode(o, scheme, "hash", hash, encoding::ab64, "adapted base64")?;
            // The salt is the setting, which writes 400 rounds as an empty field.
            let setting = if it == 400 {
                format!("$p5k2$${salt}")
            } else {
                format!("$p5k2${it:x}${salt}")
            };
            Pbkdf2::from_parts(o, Prf::Sha1, it, setting.into_bytes(), hash)?.into_parsed()
        }
        _ => Err(HashError::malformed(
            scheme,
            "checksum",
            "expected 28 (Cryptacular) or 32 (dlitz) characters",
        )),
    }
}

/// Atlassian Crowd / Confluence `{PKCS5S2}` (the caller strips the tag).
pub(crate) fn parse_atlassian(rest: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::Pbkdf2Sha1;
    let blob = decode(o, scheme, "value", rest, encoding::b64, "base64")?;
    if blob.len() != 48 {
        return Err(HashError::malformed(
            scheme,
            "value",
            "expected 16 bytes of salt and 32 of hash",
        ));
    }
    let (salt, hash) = blob.split_at(16);
    Pbkdf2::from_parts(o, Prf::Sha1, 10_000, salt.to_vec(), hash.to_vec())?.into_parsed()
}

/// Spring Security's `Pbkdf2PasswordEncoder`: hex(salt ‖ hash) with the defaults of the
/// Spring version named by the `{id}` (the caller strips the tag).
pub(crate) fn parse_spring(rest: &str, o: &ParseOptions, v5_8: bool) -> Parsed {
    let (prf, iterations, salt_len) = if v5_8 {
        (Prf::Sha256, 310_000, 16_usize)
    } else {
        (Prf::Sha1, 185_000, 8)
    };
    let scheme = prf.scheme();
    let blob = decode(o, scheme, "value", rest, encoding::hex, "hex")?;
    if blob.len() != salt_len.saturating_add(32) {
        return Err(HashError::malformed(
            scheme,
            "value",
            format!("expected {salt_len} bytes of salt and 32 of hash"),
        ));
    }
    let (salt, hash) = blob.split_at(salt_len);
    Pbkdf2::from_parts(o, prf, iterations, salt.to_vec(), hash.to_vec())?.into_parsed()
}

/// ASP.NET Core Identity v2 and v3 blobs, recognised by their header byte and layout.
pub(crate) fn parse_aspnet(s: &str, o: &ParseOptions) -> Option<Parsed> {
    // Only canonical padded base64 of a plausible length: a bare base64 string could be
    // anything, so the header must fit exactly.
    if s.len() < 60 || !s.len().is_multiple_of(4) || s.len() > 1024 {
        return None;
    }
    let blob = encoding::b64(s)?;
    match blob.split_first()? {
        (0x00, rest) if rest.len() == 48 => {
            let (salt, hash) = rest.split_at(16);
            Some(
                Pbkdf2::from_parts(o, Prf::Sha1, 1_000, salt.to_vec(), hash.to_vec())
                    .and_then(Pbkdf2::into_parsed),
            )
        }
        (0x01, rest) => {
            let header = |i: usize| -> Option<u32> {
                let bytes = rest.get(i.checked_mul(4)?..i.checked_mul(4)?.checked_add(4)?)?;
                Some(u32::from_be_bytes(bytes.try_into().ok()?))
            };
            let prf = match header(0)? {
                0 => Prf::Sha1,
                1 => Prf::Sha256,
                2 => Prf::Sha512,
                _ => return None,
            };
            let iterations = header(1)?;
            let salt_len = usize::try_from(header(2)?).ok()?;
            let body = rest.get(12..)?;
            if salt_len < 16 || iterations == 0 || body.len() < salt_len.checked_add(16)? {
                return None;
            }
            let (salt, hash) = body.split_at(salt_len);
            Some(
                Pbkdf2::from_parts(o, prf, u64::from(iterations), salt.to_vec(), hash.to_vec())
                    .and_then(Pbkdf2::into_parsed),
            )
        }
        _ => None,
    }
}
