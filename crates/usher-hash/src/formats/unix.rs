//! Other crypt(3) schemes, as libxcrypt and passlib compute them:
//!
//! | encoding | computation |
//! |---|---|
//! | NetBSD `$sha1$<rounds>$<salt>$<checksum>` | HMAC-SHA1 keyed by the password, iterated `rounds` times over `<salt>$sha1$<rounds>` |
//! | SunMD5 `$md5$<salt>$<checksum>`, `$md5,rounds=<n>$…` (and the `$$` form) | 4096 + `n` rounds of MD5, each adding Hamlet's soliloquy on a coin flip drawn from the previous digest |
//! | gost-yescrypt `$gy$<params>$<salt>$<hash>` | HMAC-Streebog-256(HMAC-Streebog-256(Streebog-256(password), setting), yescrypt(password, salt)) |
//!
//! Kratos' `$sha1$pf=…` and `$md5$<base64>` share the first two prefixes; the dispatcher
//! tells them apart by structure before calling here.

use hmac::{Hmac, KeyInit, Mac as _};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use streebog::Streebog256;
use zeroize::Zeroizing;

use super::{Parsed, number, ok, to_u32};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

#[derive(Clone)]
pub(crate) struct Sha1Crypt {
    rounds: u32,
    salt: String,
    checksum: String,
}

/// The byte order of sha1-crypt's 21 encoded bytes (the digest, its first byte repeated).
const SHA1_ORDER: [usize; 21] = [
    2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 17, 16, 15, 0, 19, 18,
];

/// MD5-crypt's and SunMD5's byte order.
const MD5_ORDER: [usize; 16] = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];

fn transposed(raw: &[u8], order: &[usize]) -> Zeroizing<String> {
    let bytes = Zeroizing::new(
        order
            .iter()
            .map(|&i| raw.get(i).copied().unwrap_or(0))
            .collect::<Vec<u8>>(),
    );
    Zeroizing::new(encoding::h64_encode(&bytes))
}

impl Verify for Sha1Crypt {
    fn scheme(&self) -> Scheme {
        Scheme::Sha1Crypt
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let mac = <Hmac<Sha1> as KeyInit>::new_from_slice(password.expose())
            .map_err(|_| HashError::malformed(Scheme::Sha1Crypt, "password", "unusable key"))?;
        let mut result = Zeroizing::new(format!("{}$sha1${}", self.salt, self.rounds).into_bytes());
        for _ in 0..self.rounds {
            let mut m = mac.clone();
            m.update(&result);
            *result = m.finalize().into_bytes().to_vec();
        }
        let computed = transposed(&result, &SHA1_ORDER);
        Ok(encoding::ct_eq(
            computed.as_bytes(),
            self.checksum.as_bytes(),
        ))
    }
}

/// `$sha1$<rounds>$<salt>$<checksum>`.
pub(crate) fn parse_sha1_crypt(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::Sha1Crypt;
    let fields: Vec<&str> = s.split('$').collect();
    let ["", "sha1", rounds, salt, checksum] = fields.as_slice() else {
        return Err(HashError::structure(
            scheme,
            "expected $sha1$<rounds>$<salt>$<checksum>",
        ));
    };
    let rounds = number(scheme, "rounds", rounds)?;
    check_range(scheme, "rounds", rounds, 1, o.limits.crypt_max_rounds)?;
    if salt.len() > 64 || !encoding::is_h64(salt) {
        return Err(HashError::malformed(
            scheme,
            "salt",
            "expected up to 64 characters of ./0-9A-Za-z",
        ));
    }
    if checksum.len() != 28 || !encoding::is_h64(checksum) {
        return Err(HashError::malformed(
            scheme,
            "checksum",
            "expected 28 h64 characters",
        ));
    }
    ok(Kind::Sha1Crypt(Sha1Crypt {
        rounds: to_u32(scheme, "rounds", rounds)?,
        salt: (*salt).to_owned(),
        checksum: (*checksum).to_owned(),
    }))
}

#[derive(Clone)]
pub(crate) struct SunMd5 {
    rounds: u32,
    /// The setting the digest starts from: the hash up to the checksum, with the `$` before
    /// it only in the `$$` form.
    config: String,
    checksum: String,
}

/// The passage SunMD5 mixes in on a coin flip: Hamlet, III.1, with the C string's NUL.
const HAMLET: &[u8] = b"\
    To be, or not to be,--that is the question:--\n\
    Whether 'tis nobler in the mind to suffer\n\
    The slings and arrows of outrageous fortune\n\
    Or to take arms against a sea of troubles,\n\
    And by opposing end them?--To die,--to sleep,--\n\
    No more; and by a sleep to say we end\n\
    The heartache, and the thousand natural shocks\n\
    That flesh is heir to,--'tis a consummation\n\
    Devoutly to be wish'd. To die,--to sleep;--\n\
    To sleep! perchance to dream:--ay, there's the rub;\n\
    For in that sleep of death what dreams may come,\n\
    When we have shuffled off this mortal coil,\n\
    Must give us pause: there's the respect\n\
    That makes calamity of so long life;\n\
    For who would bear the whips and scorns of time,\n\
    The oppressor's wrong, the proud man's contumely,\n\
    The pangs of despis'd love, the law's delay,\n\
    The insolence of office, and the spurns\n\
    That patient merit of the unworthy takes,\n\
    When he himself might his quietus make\n\
    With a bare bodkin? who would these fardels bear,\n\
    To grunt and sweat under a weary life,\n\
    But that the dread of something after death,--\n\
    The undiscover'd country, from whose bourn\n\
    No traveller returns,--puzzles the will,\n\
    And makes us rather bear those ills we have\n\
    Than fly to others that we know not of?\n\
    Thus conscience does make cowards of us all;\n\
    And thus the native hue of resolution\n\
    Is sicklied o'er with the pale cast of thought;\n\
    And enterprises of great pith and moment,\n\
    With this regard, their currents turn awry,\n\
    And lose the name of action.--Soft you now!\n\
    The fair Ophelia!--Nymph, in thy orisons\n\
    Be all my sins remember'd.\n\
    \0";

/// Bit `bit` (0..128) of a 16-byte digest, least significant first within each byte.
fn bit(d: &[u8; 16], bit: usize) -> u32 {
    let byte = d.get((bit >> 3) & 15).copied().unwrap_or(0);
    u32::from(byte >> (bit & 7)) & 1
}

/// Byte `i` (taken modulo 16) of the digest.
fn byte(d: &[u8; 16], i: usize) -> usize {
    usize::from(d.get(i & 15).copied().unwrap_or(0))
}

/// The 7-bit index SunMD5 draws from the digest for one of its two coin-flip bits: bit `i`
/// comes from digest bytes `i + da` and `i + db` (modulo 16).
fn draw(d: &[u8; 16], da: usize, db: usize) -> usize {
    (0..7usize).fold(0usize, |acc, i| {
        let (a, b) = (byte(d, i.wrapping_add(da)), byte(d, i.wrapping_add(db)));
        let v = byte(d, (a >> (b % 5)) & 15) >> ((b >> (a & 7)) & 1);
        acc | (usize::try_from(bit(d, v)).unwrap_or(0) << i)
    })
}

impl Verify for SunMd5 {
    fn scheme(&self) -> Scheme {
        Scheme::SunMd5Crypt
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let mut d: Zeroizing<[u8; 16]> = Zeroizing::new(
            Md5::new()
                .chain_update(password.expose())
                .chain_update(self.config.as_bytes())
                .finalize()
                .into(),
        );
        let total = 4096u64.saturating_add(u64::from(self.rounds));
        for round in 0..total {
            // Only the low 7 bits of the round select a digest bit.
            let r = usize::try_from(round & 127).unwrap_or(0);
            let x = if bit(&d, r) == 1 {
                draw(&d, 1, 4)
            } else {
                draw(&d, 0, 3)
            };
            let y = if bit(&d, r.wrapping_add(64)) == 1 {
                draw(&d, 9, 12)
            } else {
                draw(&d, 8, 11)
            };
            let coin = bit(&d, x) ^ bit(&d, y);
            let mut h = Md5::new().chain_update(*d);
            if coin == 1 {
                h.update(HAMLET);
            }
            h.update(round.to_string().as_bytes());
            *d = h.finalize().into();
        }
        let computed = transposed(&*d, &MD5_ORDER);
        Ok(encoding::ct_eq(
            computed.as_bytes(),
            self.checksum.as_bytes(),
        ))
    }
}

/// SunMD5: `$md5$<salt>$<checksum>`, `$md5$<salt>$$<checksum>`, and the same with
/// `$md5,rounds=<n>$`.
pub(crate) fn parse_sun_md5(s: &str, o: &ParseOptions) -> Parsed {
    let scheme = Scheme::SunMd5Crypt;
    let expected = "expected $md5[,rounds=<n>]$<salt>$[$]<checksum>";
    let (rounds, rest) = if let Some(rest) = s.strip_prefix("$md5$") {
        (0, rest)
    } else {
        let rest = s
            .strip_prefix("$md5,rounds=")
            .ok_or_else(|| HashError::structure(scheme, expected))?;
        let (rounds, rest) = rest
            .split_once('$')
            .ok_or_else(|| HashError::structure(scheme, expected))?;
        if rounds.starts_with('0') {
            return Err(HashError::malformed(
                scheme,
                "rounds",
                "zero or zero-padded",
            ));
        }
        let rounds = number(scheme, "rounds", rounds)?;
        check_range(scheme, "rounds", rounds, 1, o.limits.crypt_max_rounds)?;
        (rounds, rest)
    };
    let (head, checksum) = rest
        .rsplit_once('$')
        .ok_or_else(|| HashError::structure(scheme, expected))?;
    let salt = head.strip_suffix('$').unwrap_or(head);
    if salt.is_empty() || salt.len() > 64 || !encoding::is_h64(salt) {
        return Err(HashError::malformed(
            scheme,
            "salt",
            "expected 1 to 64 characters of ./0-9A-Za-z",
        ));
    }
    if checksum.len() != 22 || !encoding::is_h64(checksum) {
        return Err(HashError::malformed(
            scheme,
            "checksum",
            "expected 22 h64 characters",
        ));
    }
    // The digest starts from the hash without its checksum: with the `$` before it in the
    // `$$` form, without it otherwise.
    let config = s
        .get(..s.len().saturating_sub(checksum.len().saturating_add(1)))
        .unwrap_or_default();
    ok(Kind::SunMd5(SunMd5 {
        rounds: to_u32(scheme, "rounds", rounds)?,
        config: config.to_owned(),
        checksum: checksum.to_owned(),
    }))
}

/// gost-yescrypt's final step over yescrypt's raw output `y`: HMAC-Streebog-256 keyed by
/// HMAC-Streebog-256(Streebog-256(password), `setting`), where `setting` is
/// `$gy$<params>$<salt>`.
pub(crate) fn gost_finish(password: &[u8], setting: &[u8], y: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let hk = Zeroizing::new(Streebog256::digest(password).to_vec());
    let mut inner = <Hmac<Streebog256> as KeyInit>::new_from_slice(&hk).ok()?;
    inner.update(setting);
    let interm = Zeroizing::new(inner.finalize().into_bytes().to_vec());
    let mut outer = <Hmac<Streebog256> as KeyInit>::new_from_slice(&interm).ok()?;
    outer.update(y);
    Some(Zeroizing::new(outer.finalize().into_bytes().to_vec()))
}
