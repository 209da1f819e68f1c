//! Database servers' own password verifiers, and forum schemes salted with another field.
//!
//! | encoding | computation |
//! |---|---|
//! | MySQL 3.23 `OLD_PASSWORD()`: 16 hex digits (forced `mysql323`) | MySQL's 2 × 31-bit hash over the password without spaces and tabs |
//! | MySQL 8 `caching_sha2_password`: `$A$<3 hex>$<20-byte salt><43 chars>`, hashcat's `$mysql$A$005*<hex salt>*<hex>` | SHA-256-crypt with a 20-byte salt and 1000 × `<3 hex>` rounds |
//! | PostgreSQL `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` | RFC 5802/7677: PBKDF2-HMAC-SHA256, then HMAC "Client Key" / "Server Key" |
//! | PostgreSQL `md5<hex>` (forced `postgres-md5`, with `:<username>`) | MD5(password ‖ username) |
//! | Oracle 10g `<16 hex>` (forced `oracle10`, with `:<username>`) | DES-CBC-MAC of UTF-16BE(UPPER(username ‖ password)), twice |
//! | vBulletin `<32 hex>:<salt>` (forced) | MD5(hex MD5(password) ‖ salt) |
//! | IPB 2+ / MyBB 1.2+ `<32 hex>:<salt>` (forced `ipb`) | MD5(hex MD5(salt) ‖ hex MD5(password)) |
//! | SMF 1.1+ `<40 hex>:<username>` (forced `smf`) | SHA-1(lower(username) ‖ password) |
//! | Symfony `MessageDigestPasswordEncoder` `<base64>:<salt>` (forced `symfony-sha512`) | d = SHA-512(`password{salt}`), then 4999 × d = SHA-512(d ‖ `password{salt}`) |
//!
//! The last six keep their salt in another column of the user's record (often the user
//! name): they are written as hashcat writes them, `<hash>:<salt>`, split at the first `:`
//! after the fixed-length hash, and only when the scheme is forced (usher's mappings compose
//! that form from `password.salt`).

use hmac::{Hmac, KeyInit, Mac as _};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use zeroize::Zeroizing;

use super::{Parsed, decode, des, number, ok, to_u32};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

/// MySQL 3.23's `OLD_PASSWORD()`.
#[derive(Clone)]
pub(crate) struct Mysql323 {
    expected: Vec<u8>,
}

impl Verify for Mysql323 {
    fn scheme(&self) -> Scheme {
        Scheme::Mysql323
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let (mut nr1, mut nr2, mut add) = (0x5030_5735u32, 0x1234_5671u32, 7u32);
        for &c in password.expose() {
            if c == b' ' || c == b'\t' {
                continue;
            }
            let c = u32::from(c);
            nr1 ^= ((nr1 & 63).wrapping_add(add))
                .wrapping_mul(c)
                .wrapping_add(nr1 << 8);
            nr2 = nr2.wrapping_add((nr2 << 8) ^ nr1);
            add = add.wrapping_add(c);
        }
        let mut out = Zeroizing::new([0u8; 8]);
        if let Some((hi, lo)) = out.split_first_chunk_mut::<4>() {
            *hi = (nr1 & 0x7fff_ffff).to_be_bytes();
            lo.copy_from_slice(&(nr2 & 0x7fff_ffff).to_be_bytes());
        }
        Ok(encoding::ct_eq(out.as_slice(), &self.expected))
    }
}

/// MySQL 8's `caching_sha2_password`: SHA-256-crypt, but with a 20-byte salt.
#[derive(Clone)]
pub(crate) struct MysqlSha2 {
    rounds: u32,
    salt: Vec<u8>,
    checksum: String,
}

/// `n` bytes of `block` repeated (Drepper's P and S sequences).
fn repeated(block: &[u8], n: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(block.iter().copied().cycle().take(n).collect())
}

/// SHA-256-crypt (Drepper) over any salt length; the `sha-crypt` crate cuts salts at 16.
fn sha256_crypt(pw: &[u8], salt: &[u8], rounds: u32) -> Zeroizing<Vec<u8>> {
    let b = Sha256::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut a = Sha256::new().chain_update(pw).chain_update(salt);
    a.update(repeated(&b, pw.len()).as_slice());
    let mut bits = pw.len();
    while bits > 0 {
        if bits & 1 == 1 {
            a.update(b);
        } else {
            a.update(pw);
        }
        bits >>= 1;
    }
    let mut digest = Zeroizing::new(a.finalize().to_vec());
    let mut dp = Sha256::new();
    for _ in 0..pw.len() {
        dp.update(pw);
    }
    let p = repeated(&dp.finalize(), pw.len());
    let mut ds = Sha256::new();
    let first = usize::from(digest.first().copied().unwrap_or(0));
    for _ in 0..first.saturating_add(16) {
        ds.update(salt);
    }
    let s = repeated(&ds.finalize(), salt.len());
    for i in 0..rounds {
        let mut c = Sha256::new();
        if i & 1 == 1 {
            c.update(p.as_slice());
        } else {
            c.update(digest.as_slice());
        }
        if i % 3 != 0 {
            c.update(s.as_slice());
        }
        if i % 7 != 0 {
            c.update(p.as_slice());
        }
        if i & 1 == 1 {
            c.update(digest.as_slice());
        } else {
            c.update(p.as_slice());
        }
        *digest = c.finalize().to_vec();
    }
    digest
}

impl Verify for MysqlSha2 {
    fn scheme(&self) -> Scheme {
        Scheme::MysqlCachingSha2
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let raw = sha256_crypt(password.expose(), &self.salt, self.rounds);
        Ok(super::crypt::sha_crypt_matches(
            &raw,
            &super::crypt::SHA256_ORDER,
            &self.checksum,
        ))
    }
}

fn mysql_sha2(
    o: &ParseOptions,
    rounds_hex: &str,
    salt: Vec<u8>,
    checksum: &str,
) -> Result<MysqlSha2, HashError> {
    let scheme = Scheme::MysqlCachingSha2;
    let rounds = (rounds_hex.len() == 3)
        .then(|| u64::from_str_radix(rounds_hex, 16).ok())
        .flatten()
        .ok_or_else(|| HashError::malformed(scheme, "rounds", "expected 3 hex digits"))?
        .saturating_mul(1000);
    check_range(
        scheme,
        "rounds",
        rounds,
        1000,
        o.limits.sha_crypt_max_rounds,
    )?;
    if salt.len() != 20 {
        return Err(HashError::malformed(scheme, "salt", "expected 20 bytes"));
    }
    if checksum.len() != 43 || !encoding::is_h64(checksum) {
        return Err(HashError::malformed(
            scheme,
            "checksum",
            "expected 43 h64 characters",
        ));
    }
    Ok(MysqlSha2 {
        rounds: to_u32(scheme, "rounds", rounds)?,
        salt,
        checksum: checksum.to_owned(),
    })
}

/// `$A$<rounds/1000 as 3 hex>$<20 salt bytes><43 checksum characters>`, as
/// `mysql.user.authentication_string` holds it.
pub(crate) fn parse_mysql_sha2(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::MysqlCachingSha2;
    let rest = s
        .strip_prefix("$A$")
        .ok_or_else(|| HashError::structure(scheme, "expected $A$<rounds>$<salt><checksum>"))?;
    let bytes = rest.as_bytes();
    let (Some(rounds), Some(b'$'), Some(salt), Some(checksum)) = (
        rest.get(..3),
        bytes.get(3),
        bytes.get(4..24),
        rest.get(24..),
    ) else {
        return Err(HashError::structure(
            scheme,
            "expected $A$<3 hex digits>$<20-byte salt><43 characters>",
        ));
    };
    ok(Kind::MysqlSha2(mysql_sha2(
        o,
        rounds,
        salt.to_vec(),
        checksum,
    )?))
}

/// hashcat's `$mysql$A$<rounds>*<hex salt>*<hex of the 43 checksum characters>`.
pub(crate) fn parse_mysql_sha2_hashcat(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::MysqlCachingSha2;
    let expected = "expected $mysql$A$<3 hex digits>*<hex salt>*<hex checksum>";
    let rest = s
        .strip_prefix("$mysql$A$")
        .ok_or_else(|| HashError::structure(scheme, expected))?;
    let [rounds, salt, checksum] = rest.split('*').collect::<Vec<_>>()[..] else {
        return Err(HashError::structure(scheme, expected));
    };
    let salt = decode(o, scheme, "salt", salt, encoding::hex, "hex")?;
    let checksum = decode(o, scheme, "checksum", checksum, encoding::hex, "hex")?;
    let checksum = String::from_utf8(checksum)
        .map_err(|_| HashError::malformed(scheme, "checksum", "not h64 text"))?;
    ok(Kind::MysqlSha2(mysql_sha2(o, rounds, salt, &checksum)?))
}

/// PostgreSQL's SCRAM-SHA-256 verifier.
#[derive(Clone)]
pub(crate) struct Scram {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    m.update(msg);
    Some(Zeroizing::new(m.finalize().into_bytes().to_vec()))
}

impl Verify for Scram {
    fn scheme(&self) -> Scheme {
        Scheme::ScramSha256
    }

    /// The password is used as its UTF-8 bytes. PostgreSQL first applies SASLprep, which
    /// changes only passwords not already in Unicode NFKC form (never ASCII ones), so those
    /// few fail to match rather than match wrongly.
    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let mut salted = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(
            password.expose(),
            &self.salt,
            self.iterations,
            salted.as_mut_slice(),
        );
        let Some(client_key) = hmac_sha256(salted.as_slice(), b"Client Key") else {
            return Ok(false);
        };
        let stored = Sha256::digest(client_key.as_slice());
        let server = hmac_sha256(salted.as_slice(), b"Server Key");
        Ok(encoding::ct_eq(&stored, &self.stored_key)
            & server.is_some_and(|k| encoding::ct_eq(k.as_slice(), &self.server_key)))
    }
}

/// `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`.
pub(crate) fn parse_scram(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("SCRAM-SHA-256$")?;
    let scheme = Scheme::ScramSha256;
    Some((|| {
        let expected = "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
        let (params, keys) = rest
            .split_once('$')
            .ok_or_else(|| HashError::structure(scheme, expected))?;
        let ((it, salt), (stored, server)) = params
            .split_once(':')
            .zip(keys.split_once(':'))
            .ok_or_else(|| HashError::structure(scheme, expected))?;
        let it = number(scheme, "iterations", it)?;
        check_range(scheme, "iterations", it, 1, o.limits.pbkdf2_max_iterations)?;
        let salt = decode(o, scheme, "salt", salt, encoding::b64, "base64")?;
        let stored_key = decode(o, scheme, "StoredKey", stored, encoding::b64, "base64")?;
        let server_key = decode(o, scheme, "ServerKey", server, encoding::b64, "base64")?;
        if stored_key.len() != 32 || server_key.len() != 32 {
            return Err(HashError::malformed(
                scheme,
                "StoredKey",
                "the keys are 32 bytes each",
            ));
        }
        ok(Kind::Scram(Scram {
            iterations: to_u32(scheme, "iterations", it)?,
            salt,
            stored_key,
            server_key,
        }))
    })())
}

/// A text-to-bytes decoder, as [`decode`] takes it.
type Decoder = fn(&str) -> Option<Vec<u8>>;

/// The forum and database schemes whose salt is another field of the record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    PostgresMd5,
    Oracle10,
    Vbulletin,
    Ipb,
    Smf,
    Symfony,
}

impl Field {
    fn of(scheme: Scheme) -> Option<Self> {
        Some(match scheme {
            Scheme::PostgresMd5 => Field::PostgresMd5,
            Scheme::Oracle10 => Field::Oracle10,
            Scheme::Vbulletin => Field::Vbulletin,
            Scheme::Ipb => Field::Ipb,
            Scheme::Smf => Field::Smf,
            Scheme::SymfonySha512 => Field::Symfony,
            _ => return None,
        })
    }

    fn scheme(self) -> Scheme {
        match self {
            Field::PostgresMd5 => Scheme::PostgresMd5,
            Field::Oracle10 => Scheme::Oracle10,
            Field::Vbulletin => Scheme::Vbulletin,
            Field::Ipb => Scheme::Ipb,
            Field::Smf => Scheme::Smf,
            Field::Symfony => Scheme::SymfonySha512,
        }
    }

    /// The hash's length in characters, and how it is encoded.
    fn encoded(self) -> (usize, Decoder, &'static str) {
        match self {
            Field::Oracle10 => (16, encoding::hex, "hex"),
            Field::Smf => (40, encoding::hex, "hex"),
            Field::PostgresMd5 | Field::Vbulletin | Field::Ipb => (32, encoding::hex, "hex"),
            Field::Symfony => (88, encoding::b64, "base64"),
        }
    }

    /// What the salt is, for the error when it is missing.
    fn salt_name(self) -> &'static str {
        match self {
            Field::PostgresMd5 | Field::Oracle10 | Field::Smf => {
                "the user name, written <hash>:<user name>"
            }
            Field::Vbulletin | Field::Ipb | Field::Symfony => "the salt, written <hash>:<salt>",
        }
    }
}

#[derive(Clone)]
pub(crate) struct FieldSalted {
    field: Field,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

fn md5(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut d = Md5::new();
    for p in parts {
        d.update(p);
    }
    Zeroizing::new(d.finalize().to_vec())
}

fn md5_hex(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(encoding::hex_encode(&md5(parts)).into_bytes())
}

/// Oracle 10g: DES-CBC with a zero IV over `input` (zero-padded to whole blocks) under
/// `key`, keeping the last block.
fn des_cbc_mac(key: u64, input: &[u8]) -> u64 {
    let keys = Zeroizing::new(des::key_schedule(key));
    input.chunks(8).fold(0u64, |prev, chunk| {
        let mut block = [0u8; 8];
        for (b, c) in block.iter_mut().zip(chunk) {
            *b = *c;
        }
        des::encrypt(&keys, 0, prev ^ u64::from_be_bytes(block), 1)
    })
}

impl FieldSalted {
    fn compute(&self, pw: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let salt = self.salt.as_slice();
        Some(match self.field {
            Field::PostgresMd5 => md5(&[pw, salt]),
            Field::Vbulletin => md5(&[&md5_hex(&[pw]), salt]),
            Field::Ipb => md5(&[&md5_hex(&[salt]), &md5_hex(&[pw])]),
            Field::Smf => {
                let lower = Zeroizing::new(salt.to_ascii_lowercase());
                Zeroizing::new(
                    Sha1::new()
                        .chain_update(&*lower)
                        .chain_update(pw)
                        .finalize()
                        .to_vec(),
                )
            }
            Field::Symfony => {
                // mergePasswordAndSalt: the password alone when the salt is empty.
                let mut salted = Zeroizing::new(pw.to_vec());
                if !salt.is_empty() {
                    salted.push(b'{');
                    salted.extend_from_slice(salt);
                    salted.push(b'}');
                }
                let mut d = Zeroizing::new(Sha512::digest(salted.as_slice()).to_vec());
                for _ in 1..5000 {
                    *d = Sha512::new()
                        .chain_update(d.as_slice())
                        .chain_update(salted.as_slice())
                        .finalize()
                        .to_vec();
                }
                d
            }
            Field::Oracle10 => {
                let user = std::str::from_utf8(salt).ok()?;
                let pw = std::str::from_utf8(pw).ok()?;
                let text = Zeroizing::new(format!("{user}{pw}").to_uppercase());
                let input: Zeroizing<Vec<u8>> =
                    Zeroizing::new(text.encode_utf16().flat_map(u16::to_be_bytes).collect());
                let key = des_cbc_mac(0x0123_4567_89AB_CDEF, &input);
                Zeroizing::new(des_cbc_mac(key, &input).to_be_bytes().to_vec())
            }
        })
    }
}

impl Verify for FieldSalted {
    fn scheme(&self) -> Scheme {
        self.field.scheme()
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        Ok(self
            .compute(password.expose())
            .is_some_and(|c| encoding::ct_eq(&c, &self.expected)))
    }
}

/// The schemes that need a forced id: MySQL 3.23's 16 hex digits, and `<hash>:<salt>` for
/// the schemes salted with another field. `None` unless one of them is forced.
pub(crate) fn parse_forced(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let forced = o.scheme?;
    if forced == Scheme::Mysql323 {
        return Some((|| {
            if s.len() != 16 {
                return Err(HashError::structure(forced, "expected 16 hex digits"));
            }
            let expected = decode(o, forced, "hash", s, encoding::hex, "hex")?;
            ok(Kind::Mysql323(Mysql323 { expected }))
        })());
    }
    let field = Field::of(forced)?;
    Some((|| {
        let body = if field == Field::PostgresMd5 {
            s.strip_prefix("md5").unwrap_or(s)
        } else {
            s
        };
        let (len, decoder, what) = field.encoded();
        let hash = body
            .get(..len)
            .ok_or_else(|| HashError::structure(forced, "shorter than its hash"))?;
        let expected = decode(o, forced, "hash", hash, decoder, what)?;
        let rest = body.get(len..).unwrap_or_default();
        let salt = rest.strip_prefix(':').ok_or(HashError::MissingParameter {
            scheme: forced,
            what: field.salt_name(),
        })?;
        o.limits.check_field(forced, "salt", salt.as_bytes())?;
        ok(Kind::FieldSalted(FieldSalted {
            field,
            salt: salt.as_bytes().to_vec(),
            expected,
        }))
    })())
}
