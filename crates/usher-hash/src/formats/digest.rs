//! Plain, salted and keyed digests, and passwords stored in the clear.
//!
//! One [`Digest`] describes all of them: a hash function, how the password is encoded to
//! bytes, a construction (plain, a salt template iterated `n` times, HMAC, or MySQL's double
//! SHA-1), and whether the stored value is the raw digest or its lower-case hex text.

use hmac::Hmac;
use md4::Md4;
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::{Parsed, decode, number, ok};
use crate::hash::{Kind, ParseOptions, Verify};
use crate::limits::check_range;
use crate::{HashError, Password, Scheme, encoding};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Alg {
    Md4,
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Alg {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "md4" => Some(Alg::Md4),
            "md5" => Some(Alg::Md5),
            "sha1" | "sha" => Some(Alg::Sha1),
            "sha256" => Some(Alg::Sha256),
            "sha384" => Some(Alg::Sha384),
            "sha512" => Some(Alg::Sha512),
            _ => None,
        }
    }

    pub(crate) fn output_len(self) -> usize {
        match self {
            Alg::Md4 | Alg::Md5 => 16,
            Alg::Sha1 => 20,
            Alg::Sha256 => 32,
            Alg::Sha384 => 48,
            Alg::Sha512 => 64,
        }
    }

    fn hash(self, parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            Zeroizing::new(d.finalize().to_vec())
        }
        match self {
            Alg::Md4 => run::<Md4>(parts),
            Alg::Md5 => run::<Md5>(parts),
            Alg::Sha1 => run::<Sha1>(parts),
            Alg::Sha256 => run::<Sha256>(parts),
            Alg::Sha384 => run::<Sha384>(parts),
            Alg::Sha512 => run::<Sha512>(parts),
        }
    }

    fn hmac(self, key: &[u8], msg: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        fn run<M: hmac::Mac + hmac::KeyInit>(key: &[u8], msg: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
            let mut m = <M as hmac::KeyInit>::new_from_slice(key).ok()?;
            m.update(msg);
            Some(Zeroizing::new(m.finalize().into_bytes().to_vec()))
        }
        match self {
            Alg::Md4 => run::<Hmac<Md4>>(key, msg),
            Alg::Md5 => run::<Hmac<Md5>>(key, msg),
            Alg::Sha1 => run::<Hmac<Sha1>>(key, msg),
            Alg::Sha256 => run::<Hmac<Sha256>>(key, msg),
            Alg::Sha384 => run::<Hmac<Sha384>>(key, msg),
            Alg::Sha512 => run::<Hmac<Sha512>>(key, msg),
        }
    }
}

/// How the password becomes bytes before hashing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Input {
    /// As given (UTF-8 in practice).
    Bytes,
    /// UTF-16LE, as NT hashes and .NET write it.
    Utf16Le,
    /// Latin-1, one byte per character.
    Latin1,
}

/// One piece of a salt template such as Kratos' `{SALT}{PASSWORD}`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Part {
    Password,
    Salt,
    Literal(Vec<u8>),
}

#[derive(Clone)]
pub(crate) enum Construction {
    /// H(password).
    Plain,
    /// d = H(template(password, salt)); then `iterations - 1` times d = H(d).
    Template {
        parts: Vec<Part>,
        salt: Vec<u8>,
        iterations: u32,
    },
    /// HMAC(key, password).
    Hmac { key: Zeroizing<Vec<u8>> },
    /// MySQL 4.1: SHA1(SHA1(password)).
    Mysql41,
}

impl Construction {
    fn shape(&self) -> Shape {
        match self {
            Construction::Plain => Shape::Plain,
            Construction::Template { .. } => Shape::Salted,
            Construction::Hmac { .. } => Shape::Hmac,
            Construction::Mysql41 => Shape::Mysql41,
        }
    }
}

/// A construction without its parts, to name its scheme before they are decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    Plain,
    Salted,
    Hmac,
    Mysql41,
}

/// The scheme id of a digest construction, or why usher has none for it.
pub(crate) fn scheme_for(shape: Shape, alg: Alg, input: Input) -> Result<Scheme, HashError> {
    use Alg::*;
    Ok(match (shape, alg, input) {
        (Shape::Plain, Md4, Input::Utf16Le) => Scheme::Nthash,
        (Shape::Plain, Md4, _) => Scheme::Md4,
        (Shape::Plain, Md5, _) => Scheme::Md5,
        (Shape::Plain, Sha1, _) => Scheme::Sha1,
        (Shape::Plain, Sha256, _) => Scheme::Sha256,
        (Shape::Plain, Sha384, _) => Scheme::Sha384,
        (Shape::Plain, Sha512, _) => Scheme::Sha512,
        (Shape::Salted, Md5, _) => Scheme::SaltedMd5,
        (Shape::Salted, Sha1, _) => Scheme::SaltedSha1,
        (Shape::Salted, Sha256, _) => Scheme::SaltedSha256,
        (Shape::Salted, Sha384, _) => Scheme::SaltedSha384,
        (Shape::Salted, Sha512, _) => Scheme::SaltedSha512,
        (Shape::Salted, Md4, _) => return Err(HashError::Unsupported("salted MD4")),
        (Shape::Hmac, Md5, _) => Scheme::HmacMd5,
        (Shape::Hmac, Sha1, _) => Scheme::HmacSha1,
        (Shape::Hmac, Sha256, _) => Scheme::HmacSha256,
        (Shape::Hmac, Sha384, _) => Scheme::HmacSha384,
        (Shape::Hmac, Sha512, _) => Scheme::HmacSha512,
        (Shape::Hmac, Md4, _) => return Err(HashError::Unsupported("HMAC-MD4")),
        (Shape::Mysql41, _, _) => Scheme::Mysql41,
    })
}

/// What the stored value holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Output {
    Raw,
    /// The lower-case hex text of the digest (Kratos `$hmac-*$` stores this, base64-wrapped).
    HexText,
}

#[derive(Clone)]
pub(crate) struct Digest {
    pub(crate) alg: Alg,
    pub(crate) input: Input,
    pub(crate) construction: Construction,
    pub(crate) output: Output,
    pub(crate) expected: Vec<u8>,
}

impl Digest {
    /// Builds a digest, checking that the stored value has the length the construction makes.
    pub(crate) fn new(
        alg: Alg,
        input: Input,
        construction: Construction,
        output: Output,
        expected: Vec<u8>,
    ) -> Result<Self, HashError> {
        let d = Self {
            alg,
            input,
            construction,
            output,
            expected,
        };
        let scheme = d.scheme_or_unsupported()?;
        let want = match output {
            Output::Raw => alg.output_len(),
            Output::HexText => alg.output_len().saturating_mul(2),
        };
        if d.expected.len() != want {
            return Err(HashError::malformed(
                scheme,
                "hash",
                format!("{} bytes, but {} makes {want}", d.expected.len(), scheme),
            ));
        }
        Ok(d)
    }

    pub(crate) fn plain(alg: Alg, expected: Vec<u8>) -> Result<Self, HashError> {
        Self::new(
            alg,
            Input::Bytes,
            Construction::Plain,
            Output::Raw,
            expected,
        )
    }

    pub(crate) fn salted(
        alg: Alg,
        parts: Vec<Part>,
        salt: Vec<u8>,
        expected: Vec<u8>,
    ) -> Result<Self, HashError> {
        Self::new(
            alg,
            Input::Bytes,
            Construction::Template {
                parts,
                salt,
                iterations: 1,
            },
            Output::Raw,
            expected,
        )
    }

    pub(crate) fn into_parsed(self) -> Parsed {
        ok(Kind::Digest(self))
    }

    fn scheme_or_unsupported(&self) -> Result<Scheme, HashError> {
        scheme_for(self.construction.shape(), self.alg, self.input)
    }

    fn compute(&self, pw: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let raw = match &self.construction {
            Construction::Plain => self.alg.hash(&[pw]),
            Construction::Mysql41 => {
                let inner = self.alg.hash(&[pw]);
                self.alg.hash(&[&inner])
            }
            Construction::Hmac { key } => self.alg.hmac(key, pw)?,
            Construction::Template {
                parts,
                salt,
                iterations,
            } => {
                let pieces: Vec<&[u8]> = parts
                    .iter()
                    .map(|part| match part {
                        Part::Password => pw,
                        Part::Salt => salt.as_slice(),
                        Part::Literal(l) => l.as_slice(),
                    })
                    .collect();
                let mut d = self.alg.hash(&pieces);
                for _ in 1..*iterations {
                    d = self.alg.hash(&[&d]);
                }
                d
            }
        };
        Some(match self.output {
            Output::Raw => raw,
            Output::HexText => Zeroizing::new(encoding::hex_encode(&raw).into_bytes()),
        })
    }
}

impl Verify for Digest {
    fn scheme(&self) -> Scheme {
        // `new` refused the unsupported combinations.
        self.scheme_or_unsupported().unwrap_or(Scheme::Md5)
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        let encoded = match self.input {
            Input::Bytes => Some(Zeroizing::new(password.expose().to_vec())),
            Input::Utf16Le => password.utf16le(),
            Input::Latin1 => password.latin1(),
        };
        // A password that cannot be encoded the way the legacy system encoded it can't match.
        let Some(encoded) = encoded else {
            return Ok(false);
        };
        Ok(self
            .compute(&encoded)
            .is_some_and(|c| encoding::ct_eq(&c, &self.expected)))
    }
}

/// A password stored in the clear. Compared in constant time, and always upgraded.
#[derive(Clone)]
pub(crate) struct Plaintext(Zeroizing<Vec<u8>>);

impl Verify for Plaintext {
    fn scheme(&self) -> Scheme {
        Scheme::Plaintext
    }

    fn verify(&self, password: &Password) -> Result<bool, HashError> {
        Ok(encoding::ct_eq(password.expose(), &self.0))
    }
}

/// `{CLEARTEXT}`, `{PLAINTEXT}` (LDAP, case-insensitive), `{plaintext}` (Roundup) and Spring's
/// `{noop}`. Checked on the untrimmed string: whitespace is part of the password.
pub(crate) fn parse_plaintext(s: &str) -> Option<Parsed> {
    let (tag, rest) = s.strip_prefix('{')?.split_once('}')?;
    let is_plain = tag.eq_ignore_ascii_case("cleartext")
        || tag.eq_ignore_ascii_case("plaintext")
        || tag == "noop";
    is_plain.then(|| {
        ok(Kind::Plaintext(Plaintext(Zeroizing::new(
            rest.as_bytes().to_vec(),
        ))))
    })
}

/// Parses a Kratos template such as `{SALT}{PASSWORD}` into parts.
fn template(scheme: Scheme, text: &str) -> Result<Vec<Part>, HashError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = [("{PASSWORD}", Part::Password), ("{SALT}", Part::Salt)]
            .into_iter()
            .filter_map(|(token, part)| rest.find(token).map(|i| (i, token, part)))
            .min_by_key(|(i, _, _)| *i);
        match next {
            Some((i, token, part)) => {
                if i > 0 {
                    parts.push(Part::Literal(
                        rest.get(..i).unwrap_or_default().as_bytes().to_vec(),
                    ));
                }
                parts.push(part);
                rest = rest
                    .get(i.saturating_add(token.len())..)
                    .unwrap_or_default();
            }
            None => {
                parts.push(Part::Literal(rest.as_bytes().to_vec()));
                rest = "";
            }
        }
    }
    if !parts.contains(&Part::Password) {
        return Err(HashError::malformed(
            scheme,
            "pf",
            "the template has no {PASSWORD}",
        ));
    }
    Ok(parts)
}

/// Kratos: `$md5$<b64 hash>` and `$<md5|sha1|sha256|sha512>$pf=<b64 template>$<b64 salt>$<b64 hash>`.
pub(crate) fn parse_kratos(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let name = fields.get(1).copied().unwrap_or_default();
    let alg = Alg::from_name(name).ok_or(HashError::Unrecognized)?;
    match fields.as_slice() {
        ["", _, hash] => {
            let scheme = scheme_for(Shape::Plain, alg, Input::Bytes)?;
            Digest::plain(
                alg,
                decode(o, scheme, "hash", hash, encoding::b64, "base64")?,
            )?
            .into_parsed()
        }
        ["", _, pf, salt, hash] if pf.starts_with("pf=") => {
            let scheme = scheme_for(Shape::Salted, alg, Input::Bytes)?;
            let text = decode(
                o,
                scheme,
                "pf",
                pf.trim_start_matches("pf="),
                encoding::b64,
                "base64",
            )?;
            let text = String::from_utf8(text)
                .map_err(|_| HashError::malformed(scheme, "pf", "not UTF-8"))?;
            let parts = template(scheme, &text)?;
            let salt = decode(o, scheme, "salt", salt, encoding::b64, "base64")?;
            let hash = decode(o, scheme, "hash", hash, encoding::b64, "base64")?;
            Digest::salted(alg, parts, salt, hash)?.into_parsed()
        }
        _ => Err(HashError::Unrecognized),
    }
}

/// Kratos: `$hmac-<alg>$<b64 of the hex HMAC>$<b64 key>`.
pub(crate) fn parse_kratos_hmac(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let ["", ident, hash, key] = fields.as_slice() else {
        return Err(HashError::Unrecognized);
    };
    let alg = ident
        .strip_prefix("hmac-")
        .and_then(Alg::from_name)
        .ok_or(HashError::Unsupported("HMAC with this digest"))?;
    let scheme = scheme_for(Shape::Hmac, alg, Input::Bytes)?;
    let hash = decode(o, scheme, "hash", hash, encoding::b64, "base64")?;
    let key = Zeroizing::new(decode(o, scheme, "key", key, encoding::b64, "base64")?);
    Digest::new(
        alg,
        Input::Bytes,
        Construction::Hmac { key },
        Output::HexText,
        hash,
    )?
    .into_parsed()
}

/// FreeBSD's NT hash in crypt form: `$3$$<hex>`.
pub(crate) fn parse_bsd_nthash(s: &str, o: &ParseOptions) -> Parsed {
    let hex = s
        .strip_prefix("$3$$")
        .ok_or_else(|| HashError::structure(Scheme::Nthash, "expected $3$$<hex>"))?;
    let hash = decode(o, Scheme::Nthash, "hash", hex, encoding::hex, "hex")?;
    Digest::new(
        Alg::Md4,
        Input::Utf16Le,
        Construction::Plain,
        Output::Raw,
        hash,
    )?
    .into_parsed()
}

/// Django `md5$<salt>$<hex>` / `sha1$<salt>$<hex>` = H(salt ‖ password), or with an empty
/// salt H(password). Werkzeug before 2.3 wrote the same shape with HMAC(salt, password), for
/// more digests; forcing an `hmac-*` scheme selects that reading.
pub(crate) fn parse_django_or_werkzeug(s: &str, o: &ParseOptions) -> Parsed {
    let fields: Vec<&str> = s.split('$').collect();
    let [name, salt, hex] = fields.as_slice() else {
        return Err(HashError::Unrecognized);
    };
    let alg = Alg::from_name(name).ok_or(HashError::Unsupported(
        "Werkzeug plain digest with this algorithm",
    ))?;
    let wants_hmac = scheme_for(Shape::Hmac, alg, Input::Bytes).is_ok_and(|s| o.scheme == Some(s));
    let django = matches!(alg, Alg::Md5 | Alg::Sha1);
    let scheme = Scheme::SaltedSha1;
    let hash = decode(o, scheme, "hash", hex, encoding::hex, "hex")?;
    if salt.is_empty() {
        return Digest::plain(alg, hash)?.into_parsed();
    }
    if wants_hmac || !django {
        let key = Zeroizing::new(salt.as_bytes().to_vec());
        return Digest::new(
            alg,
            Input::Bytes,
            Construction::Hmac { key },
            Output::Raw,
            hash,
        )?
        .into_parsed();
    }
    Digest::salted(
        alg,
        vec![Part::Salt, Part::Password],
        salt.as_bytes().to_vec(),
        hash,
    )?
    .into_parsed()
}

/// Django `unsalted_md5$$<hex>`-style prefixes some exports carry.
pub(crate) fn parse_django_unsalted(s: &str, o: &ParseOptions) -> Parsed {
    let (name, hex) = s.split_once('$').unwrap_or((s, ""));
    let alg = if name == "unsalted_md5" {
        Alg::Md5
    } else {
        Alg::Sha1
    };
    let hex = hex.trim_start_matches('$');
    Digest::plain(
        alg,
        decode(o, Scheme::Md5, "hash", hex, encoding::hex, "hex")?,
    )?
    .into_parsed()
}

/// Microsoft SQL Server's `pwdencrypt`: `0x0100` + a 4-byte salt + SHA-1 (SQL Server 2005 to
/// 2008 R2; SQL Server 2000 adds a second SHA-1, of the upper-cased password, which is
/// ignored), or `0x0200` + a 4-byte salt + SHA-512 (2012 and later), of the password in
/// UTF-16LE followed by the salt; hex in either case.
pub(crate) fn parse_mssql(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    // The salt's 8 hex digits and the digest's.
    let (alg, scheme, body_len) = match rest.get(..4)? {
        "0100" => (Alg::Sha1, Scheme::SaltedSha1, 48),
        "0200" => (Alg::Sha512, Scheme::SaltedSha512, 136),
        _ => return None,
    };
    Some((|| {
        let mut body = rest.get(4..).unwrap_or_default();
        // SQL Server 2000 appends the digest of the upper-cased password, which it compared
        // case-insensitively; the first, exact digest is the one verified.
        if alg == Alg::Sha1 && body.len() == 88 {
            body = body.get(..48).unwrap_or_default();
        }
        if body.len() != body_len {
            return Err(HashError::malformed(
                scheme,
                "value",
                "expected a 4-byte salt and the digest (two for SQL Server 2000), in hex",
            ));
        }
        // Not `split_at`: the body's length is in bytes, and a multi-byte character there
        // would put index 8 inside it.
        let (salt, hash) = body
            .split_at_checked(8)
            .ok_or_else(|| HashError::malformed(scheme, "salt", "not hex"))?;
        let salt = decode(o, scheme, "salt", salt, encoding::hex, "hex")?;
        let hash = decode(o, scheme, "hash", hash, encoding::hex, "hex")?;
        Digest::new(
            alg,
            Input::Utf16Le,
            Construction::Template {
                parts: vec![Part::Password, Part::Salt],
                salt,
                iterations: 1,
            },
            Output::Raw,
            hash,
        )?
        .into_parsed()
    })())
}

/// Bare values: MySQL 4.1 `*<40 HEX>`, and unsalted hex digests told apart by length. 32 hex
/// digits are MD5 unless `md4` or `nthash` is forced.
pub(crate) fn parse_bare(s: &str, o: &ParseOptions) -> Option<Parsed> {
    if let Some(hex) = s.strip_prefix('*') {
        if hex.len() == 40 && encoding::is_hex(hex) {
            let hash = encoding::hex(hex)?;
            return Some(
                Digest::new(
                    Alg::Sha1,
                    Input::Bytes,
                    Construction::Mysql41,
                    Output::Raw,
                    hash,
                )
                .and_then(Digest::into_parsed),
            );
        }
        return None;
    }
    if !encoding::is_hex(s) {
        return None;
    }
    let hash = encoding::hex(s)?;
    let (alg, input) = match (s.len(), o.scheme) {
        (32, Some(Scheme::Nthash)) => (Alg::Md4, Input::Utf16Le),
        (32, Some(Scheme::Md4)) => (Alg::Md4, Input::Bytes),
        (32, _) => (Alg::Md5, Input::Bytes),
        (40, _) => (Alg::Sha1, Input::Bytes),
        (64, _) => (Alg::Sha256, Input::Bytes),
        (96, _) => (Alg::Sha384, Input::Bytes),
        (128, _) => (Alg::Sha512, Input::Bytes),
        _ => return None,
    };
    Some(
        Digest::new(alg, input, Construction::Plain, Output::Raw, hash)
            .and_then(Digest::into_parsed),
    )
}

/// Spring's `MessageDigestPasswordEncoder`: `{<alg>}` then `[{salt}]<hex>` where the digest
/// is H(password ‖ "{salt}") (the caller strips the `{alg}` id).
pub(crate) fn parse_spring_message_digest(alg: Alg, rest: &str, o: &ParseOptions) -> Parsed {
    let (salt, hex) = match rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((salt, hex)) => (Some(format!("{{{salt}}}")), hex),
        None => (None, rest),
    };
    let hash = decode(o, Scheme::SaltedSha256, "hash", hex, encoding::hex, "hex")?;
    match salt {
        Some(salt) => Digest::salted(
            alg,
            vec![Part::Password, Part::Salt],
            salt.into_bytes(),
            hash,
        )?
        .into_parsed(),
        None => Digest::plain(alg, hash)?.into_parsed(),
    }
}

/// An iterated salted digest with the salt after the password, as FusionAuth computes
/// `salted-md5` and `salted-sha256` with `factor` rounds.
pub(crate) fn iterated(
    o: &ParseOptions,
    alg: Alg,
    salt: Vec<u8>,
    iterations: u64,
    hash: Vec<u8>,
) -> Parsed {
    salted(
        o,
        alg,
        vec![Part::Password, Part::Salt],
        salt,
        ("factor", iterations),
        hash,
    )
}

/// A salted digest of `parts`, iterated `rounds.1` times (bounded, named `rounds.0`).
fn salted(
    o: &ParseOptions,
    alg: Alg,
    parts: Vec<Part>,
    salt: Vec<u8>,
    (field, iterations): (&'static str, u64),
    hash: Vec<u8>,
) -> Parsed {
    let scheme = scheme_for(Shape::Salted, alg, Input::Bytes)?;
    check_range(scheme, field, iterations, 1, o.limits.digest_max_iterations)?;
    let iterations =
        u32::try_from(iterations).map_err(|_| HashError::malformed(scheme, field, "too large"))?;
    Digest::new(
        alg,
        Input::Bytes,
        Construction::Template {
            parts,
            salt,
            iterations,
        },
        Output::Raw,
        hash,
    )?
    .into_parsed()
}

/// FSHP (Fairly Secure Hashed Password): `{FSHP<variant>|<salt length>|<rounds>}<base64 of
/// salt ‖ digest>`, the digest of the salt then the password, iterated; variants 0 to 3 are
/// SHA-1, SHA-256, SHA-384 and SHA-512.
pub(crate) fn parse_fshp(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("{FSHP")?;
    Some((|| {
        let (head, blob) = rest
            .split_once('}')
            .ok_or(HashError::Unsupported("FSHP without its closing brace"))?;
        let [variant, salt_len, rounds] = head.split('|').collect::<Vec<_>>()[..] else {
            return Err(HashError::Unsupported(
                "FSHP with other than three parameters",
            ));
        };
        let alg = match variant {
            "0" => Alg::Sha1,
            "1" => Alg::Sha256,
            "2" => Alg::Sha384,
            "3" => Alg::Sha512,
            _ => return Err(HashError::Unsupported("FSHP variant other than 0 to 3")),
        };
        let scheme = scheme_for(Shape::Salted, alg, Input::Bytes)?;
        let salt_len = usize::try_from(number(scheme, "salt length", salt_len)?)
            .map_err(|_| HashError::malformed(scheme, "salt length", "too large"))?;
        let rounds = number(scheme, "rounds", rounds)?;
        let blob = decode(o, scheme, "value", blob, encoding::b64, "base64")?;
        if blob.len() != salt_len.saturating_add(alg.output_len()) {
            return Err(HashError::malformed(
                scheme,
                "value",
                "not the salt and one digest",
            ));
        }
        let (salt, hash) = blob.split_at(salt_len);
        salted(
            o,
            alg,
            vec![Part::Salt, Part::Password],
            salt.to_vec(),
            ("rounds", rounds),
            hash.to_vec(),
        )
    })())
}

/// PHP applications' `<hex digest>:<salt>`, told apart by the digest's length and the
/// salt's: Joomla 1.5 to 3 `<32 hex>:<32 alphanumerics>` = MD5(password ‖ salt); Magento 1
/// `<32 hex>:<2 characters>` = MD5(salt ‖ password); Magento 2 `<64 hex>:<salt>[:1]` =
/// SHA-256(salt ‖ password), `<32 hex>:<salt>:0` = MD5(salt ‖ password), and its Argon2id
/// `:2` and `:3_…` versions (see `argon2::parse_magento`).
pub(crate) fn parse_colon_salted(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let (hex, rest) = s.split_once(':')?;
    if !encoding::is_hex(hex) {
        return None;
    }
    if let Some((salt, version)) = rest.rsplit_once(':')
        && (version == "2" || version.starts_with("3_"))
    {
        return Some(super::argon2::parse_magento(hex, salt, version, o));
    }
    let alnum = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric());
    let (alg, salt, suffix) = match (hex.len(), rest.rsplit_once(':')) {
        (64, Some((salt, "1"))) => (Alg::Sha256, salt, false),
        (32, Some((salt, "0"))) => (Alg::Md5, salt, false),
        (64, None) => (Alg::Sha256, rest, false),
        (32, None) if rest.len() == 32 && alnum(rest) => (Alg::Md5, rest, true),
        (32, None) if rest.len() == 2 && !rest.contains(char::is_whitespace) => {
            (Alg::Md5, rest, false)
        }
        _ => return None,
    };
    if salt.is_empty() {
        return None;
    }
    let scheme = scheme_for(Shape::Salted, alg, Input::Bytes).ok()?;
    Some((|| {
        let hash = decode(o, scheme, "hash", hex, encoding::hex, "hex")?;
        o.limits.check_field(scheme, "salt", salt.as_bytes())?;
        let parts = if suffix {
            vec![Part::Password, Part::Salt]
        } else {
            vec![Part::Salt, Part::Password]
        };
        Digest::salted(alg, parts, salt.as_bytes().to_vec(), hash)?.into_parsed()
    })())
}

/// Oracle 11g: `S:` + the SHA-1 of the password then a 10-byte salt + the salt, in hex.
pub(crate) fn parse_oracle11(s: &str, o: &ParseOptions) -> Option<Parsed> {
    let rest = s.strip_prefix("S:")?;
    if rest.len() != 60 || !encoding::is_hex(rest) {
        return None;
    }
    let (hash, salt) = rest.split_at(40);
    let scheme = Scheme::SaltedSha1;
    Some((|| {
        let hash = decode(o, scheme, "hash", hash, encoding::hex, "hex")?;
        let salt = decode(o, scheme, "salt", salt, encoding::hex, "hex")?;
        salted(
            o,
            Alg::Sha1,
            vec![Part::Password, Part::Salt],
            salt,
            ("iterations", 1),
            hash,
        )
    })())
}

/// Parses a decimal value for descriptor fields.
pub(crate) fn decimal(scheme: Scheme, field: &'static str, value: &str) -> Result<u64, HashError> {
    number(scheme, field, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_literals_between_tokens() {
        let parts = template(Scheme::SaltedMd5, "{SALT}::{PASSWORD}!").unwrap();
        assert_eq!(
            parts,
            vec![
                Part::Salt,
                Part::Literal(b"::".to_vec()),
                Part::Password,
                Part::Literal(b"!".to_vec())
            ]
        );
        assert!(template(Scheme::SaltedMd5, "{SALT}").is_err());
    }

    #[test]
    fn plaintext_keeps_surrounding_whitespace() {
        let h = parse_plaintext("{CLEARTEXT} pw ").unwrap().unwrap();
        assert!(h.verify(&Password::from(" pw ")).unwrap());
        assert!(!h.verify(&Password::from("pw")).unwrap());
    }
}
