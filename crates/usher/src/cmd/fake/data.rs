//! Deterministic fake legacy users with the mess real user tables have.
//!
//! Row `i` depends only on (seed, i), so rows can be generated in any order and a rehearsal
//! can be repeated exactly. Password hashes come from usher-hash's test-vector corpus, which
//! independent implementations made (passlib, Django, libxcrypt, argon2-cffi, published
//! Firebase vectors…), so every fake user's password is known and no hash is usher's own
//! output; a share of rows instead carry `md5(salt || password)` with the salt in its own
//! column and `hash_algo = 'MD5'`, computed here, as many homegrown systems stored them.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "a generator of small synthetic values (days, months, digits, row - 1 for i > 1); \
              the random stream itself uses wrapping arithmetic"
)]

use md5::{Digest as _, Md5};
use serde::Deserialize;

/// North American area codes in service, for phone numbers that are valid but fictional.
const AREA_CODES: &[&str] = &[
    "201", "202", "206", "212", "213", "214", "305", "312", "303", "404", "415", "512", "602",
    "617", "702", "713", "718", "773", "804", "808", "818", "917", "919", "971",
];

/// Area-code-shaped prefixes that are not area codes (N11 service codes): a number such as
/// `(611) 840-2798` is well formed, but libphonenumber rightly refuses it.
const UNASSIGNED_AREA_CODES: &[&str] = &["211", "311", "411", "511", "611", "711", "811", "911"];

/// Every [`FAR_DUPLICATE_EVERY`]th row (at offset [`FAR_DUPLICATE_AT`]) takes the email of the
/// row [`FAR_DUPLICATE_GAP`] before it, in other capitals: far enough apart that the two land in
/// different partitions of a concurrent backfill.
pub const FAR_DUPLICATE_EVERY: u64 = 1000;
pub const FAR_DUPLICATE_AT: u64 = 777;
pub const FAR_DUPLICATE_GAP: u64 = 10_007;

/// A generated legacy row, in the column order of [`COLUMNS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: i64,
    pub email: Option<String>,
    pub username: Option<String>,
    pub fname: Option<String>,
    pub lname: Option<String>,
    pub birthdate: Option<String>,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub password_salt: Option<String>,
    pub hash_algo: Option<String>,
    pub status: String,
    pub email_verified: bool,
    pub locale: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub profile: String,
}

/// The legacy table's columns, as `usher fake` creates them.
pub const COLUMNS: &[&str] = &[
    "id",
    "email",
    "username",
    "fname",
    "lname",
    "birthdate",
    "phone num",
    "password_hash",
    "password_salt",
    "hash_algo",
    "status",
    "email_verified",
    "locale",
    "created_at",
    "updated_at",
    "profile",
];

/// The `[mappings.<source>]` table for a fake table, as `usher fake` prints it: the mapping
/// a user would write for this legacy schema (docs/mapping.md).
pub fn mapping_toml(source: &str) -> String {
    format!(
        r#"[mappings.{source}]
phone_region = "US"

[mappings.{source}.fields]
email = "email"
email_verified = "email_verified"
username = "username"
given_name = "fname"
family_name = "lname"
birthdate = {{ from = "birthdate", formats = ["%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y"] }}
locale = "locale"
status = {{ from = "status", map = {{ A = "active", L = "disabled", D = "disabled" }} }}
created_at = "created_at"
updated_at = "updated_at"
"attributes.plan" = "profile.plan"
"attributes.city" = "profile.address.city"

[mappings.{source}.fields.phone]
from = "phone num"
split = {{ area_code = "attributes.area_code", number = "attributes.phone_number" }}

[mappings.{source}.password]
hash = "password_hash"
scheme_field = "hash_algo"   # NULL for self-describing hashes: the scheme is detected
scheme_map = {{ SSHA = "salted-sha1" }}   # {{SSHA}} hashes carry their own salt
salt = "password_salt"       # md5(salt || password) rows keep the salt in its own column
salt_position = "prefix"
"#
    )
}

/// A (password, hash) pair from the independent corpus.
#[derive(Debug, Clone, Deserialize)]
pub struct PoolEntry {
    pub scheme: String,
    pub hash: String,
    pub password: String,
}

#[derive(Deserialize)]
struct Corpus {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    scheme: String,
    hash: String,
    password: Option<String>,
    force: Option<String>,
    options: Option<serde_json::Value>,
}

const CORPUS: &str = include_str!("../../../../usher-hash/tests/vectors/vectors.json");

/// The hash families a fake table mixes, with their share of rows (per mille).
const MIX: &[(&str, u64)] = &[
    ("bcrypt", 330),
    ("salted-md5-column", 150),
    ("phpass", 100),
    ("pbkdf2-sha256", 90),
    ("argon2id", 80),
    ("md5-crypt", 50),
    ("sha512-crypt", 40),
    ("none", 50),
    ("firebase-scrypt", 30),
    ("mysql41", 20),
    ("md5", 20),
    ("salted-sha1", 20),
    ("wordpress-bcrypt", 20),
];

/// The corpus entries usable as fake credentials, grouped by scheme.
pub struct Pool(Vec<PoolEntry>);

impl Pool {
    /// Loads the corpus entries that stand alone (no forced scheme, no out-of-band key),
    /// with short ASCII passwords a person can type in a demo.
    pub fn load() -> anyhow::Result<Self> {
        let corpus: Corpus = serde_json::from_str(CORPUS)?;
        let entries = corpus
            .vectors
            .into_iter()
            .filter(|v| v.force.is_none() && v.options.is_none())
            // Of the `{…}` forms (LDAP schemes, JSON descriptors) only `{SSHA}`, which rows
            // name in the scheme column.
            .filter(|v| !v.hash.starts_with('{') || is_ssha(&v.hash))
            .filter_map(|v| {
                let password = v.password?;
                let typable = password.is_ascii()
                    && (4..=30).contains(&password.len())
                    && !password.contains(' ');
                typable.then_some(PoolEntry {
                    scheme: v.scheme,
                    hash: v.hash,
                    password,
                })
            })
            .collect();
        Ok(Self(entries))
    }

    fn pick(&self, scheme: &str, r: u64) -> Option<&PoolEntry> {
        let matching: Vec<&PoolEntry> = self.0.iter().filter(|e| e.scheme == scheme).collect();
        let n = u64::try_from(matching.len()).ok().filter(|&n| n > 0)?;
        matching.get(usize::try_from(r % n).ok()?).copied()
    }
}

fn is_ssha(hash: &str) -> bool {
    hash.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("{SSHA}"))
}

/// SplitMix64: tiny, fast, and stable across versions, so a seed always makes the same table.
struct Rng(u64);

impl Rng {
    fn for_row(seed: u64, i: u64) -> Self {
        let mut r = Rng(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let n = u64::try_from(items.len()).unwrap_or(1);
        items
            .get(usize::try_from(self.below(n)).unwrap_or(0))
            .copied()
            .unwrap_or("")
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

const FIRST: &[&str] = &[
    "Ann",
    "Bob",
    "Chloé",
    "Dmitri",
    "Eve",
    "François",
    "Grace",
    "Hiro",
    "Ingrid",
    "José",
    "Kai",
    "Łukasz",
    "Maria",
    "Nguyễn",
    "Olaf",
    "Priya",
    "Quinn",
    "Renée",
    "Søren",
    "Tomás",
    "Uma",
    "Viktor",
    "Wei",
    "Xóchitl",
    "Yusuf",
    "Zoë",
    "Мария",
    "山田",
    "Ólafur",
    "Aisha",
];
const LAST: &[&str] = &[
    "Lee",
    "Smith",
    "Müller",
    "O'Brien",
    "García",
    "Kowalski",
    "Nakamura",
    "Ivanova",
    "Dubois",
    "Rossi",
    "Jensen",
    "Okafor",
    "Patel",
    "Chen",
    "Silva",
    "Novák",
    "Haddad",
    "Ndlovu",
    "Öztürk",
    "Fernández",
    "Иванов",
    "佐藤",
    "de la Cruz",
    "van der Berg",
    "Þórsdóttir",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];
const LOCALES: &[&str] = &[
    "en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "ja-JP", "pt-BR",
];

/// The password of a fake user whose hash is `md5(salt || password)`.
pub fn salted_md5_password(i: u64) -> String {
    format!("pass-{i:07}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ascii_fold(s: &str) -> String {
    let folded: String = s
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => Some(c.to_ascii_lowercase()),
            'é' | 'è' | 'ë' => Some('e'),
            'ó' | 'ö' | 'ø' | 'ô' => Some('o'),
            'ü' | 'ú' => Some('u'),
            'á' | 'ä' | 'ã' => Some('a'),
            'ç' => Some('c'),
            'ł' | 'Ł' => Some('l'),
            _ => None,
        })
        .collect();
    if folded.is_empty() {
        "user".to_owned()
    } else {
        folded
    }
}

/// Generates row `i` (1-based) of a table made with `seed`.
pub fn row(pool: &Pool, seed: u64, i: u64) -> Row {
    let mut r = Rng::for_row(seed, i);
    let first = r.pick(FIRST);
    let last = r.pick(LAST);
    let domain = r.pick(DOMAINS);
    let id = i64::try_from(i).unwrap_or(i64::MAX);

    // The mess added for rehearsals comes from a stream of its own, so the other fields of a
    // row stay what they were before it was added.
    let mut mess = Rng::for_row(seed ^ 0x6d65_7373, i);
    // Every 250th user shares an email with the previous one, differing only in case: the
    // classic mess of a legacy table that compared emails case-sensitively.
    let email = if i % FAR_DUPLICATE_EVERY == FAR_DUPLICATE_AT && i > FAR_DUPLICATE_GAP {
        // ...and some share one with a row far away, in another partition.
        row(pool, seed, i - FAR_DUPLICATE_GAP)
            .email
            .map(|e| capitalise(e.trim()))
    } else if i.is_multiple_of(250) && i > 1 {
        let mut prev = Rng::for_row(seed, i - 1);
        let (pf, pl, pd) = (prev.pick(FIRST), prev.pick(LAST), prev.pick(DOMAINS));
        Some(format!("{}.{}{}@{}", ascii_fold(pf), ascii_fold(pl), i - 1, pd).to_uppercase())
    } else if r.chance(4) {
        Some(
            r.pick(&[
                "no-at-sign.example.com",
                "two@@example.com",
                "trailing@",
                " ",
            ])
            .to_owned(),
        )
    } else if r.chance(20) {
        None
    } else {
        let local = format!("{}.{}{i}", ascii_fold(first), ascii_fold(last));
        let local = if r.chance(300) {
            capitalise(&local)
        } else {
            local
        };
        if mess.chance(40) {
            // Stray spaces and capitals, as a form without trimming stored them.
            Some(format!("  {local}@{} ", domain.to_uppercase()))
        } else {
            Some(format!("{local}@{domain}"))
        }
    };

    let birthdate = match r.below(100) {
        0..=39 => Some(format!(
            "{:02}/{:02}/{}",
            1 + r.below(12),
            1 + r.below(28),
            1940 + r.below(66)
        )),
        40..=74 => Some(format!(
            "{}-{:02}-{:02}",
            1940 + r.below(66),
            1 + r.below(12),
            1 + r.below(28)
        )),
        75..=84 => Some(format!(
            "{:02}.{:02}.{}",
            1 + r.below(28),
            1 + r.below(12),
            1940 + r.below(66)
        )),
        85..=86 => Some(
            r.pick(&["1987-02-30", "not a date", "00/00/0000", "13/45/1999"])
                .to_owned(),
        ),
        _ => None,
    };

    // Area codes in service (libphonenumber rejects unassigned ones, as a real system should),
    // with the 555-01xx numbers reserved for fiction.
    let a = r.pick(AREA_CODES);
    let b = r.below(100);
    let phone = match r.below(100) {
        0..=24 => Some(format!("({a}) 555-01{b:02}")),
        25..=44 => Some(format!("{a}.555.01{b:02}")),
        45..=59 => Some(format!("+1 {a} 555 01{b:02}")),
        60..=69 => Some(format!("{a}55501{b:02}")),
        70..=74 => Some(format!("+44 20 7946 0{b:03}")),
        75..=77 => Some(format!("+49 30 901820{b:02}")),
        78..=79 => Some(r.pick(&["555-01", "n/a", "call me", "000"]).to_owned()),
        _ => None,
    };
    let phone = if phone.is_some() && mess.chance(30) {
        // Well-formed, but the area code is not one.
        let u = mess.pick(UNASSIGNED_AREA_CODES);
        Some(format!("({u}) 840-{:04}", mess.below(10_000)))
    } else {
        phone
    };

    let mut row = Row {
        id,
        email,
        username: (!r.chance(300)).then(|| format!("{}{i}", ascii_fold(first))),
        fname: (!r.chance(10)).then(|| first.to_owned()),
        lname: (!r.chance(10)).then(|| last.to_owned()),
        birthdate,
        phone,
        password_hash: None,
        password_salt: None,
        hash_algo: None,
        status: match r.below(1000) {
            0..=19 => "L",
            20..=29 => "D",
            _ => "A",
        }
        .to_owned(),
        email_verified: r.chance(850),
        locale: (!r.chance(200)).then(|| r.pick(LOCALES).to_owned()),
        created_at: format!(
            "20{:02}-{:02}-{:02} {:02}:{:02}:{:02}+00",
            10 + r.below(14),
            1 + r.below(12),
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60)
        ),
        updated_at: String::new(),
        profile: serde_json::json!({
            "newsletter": r.chance(400),
            "plan": r.pick(&["free", "pro", "team"]),
            "address": { "city": r.pick(&["Lisbon", "Zürich", "Osaka", "Austin", "Lagos"]) },
        })
        .to_string(),
    };
    row.updated_at = row.created_at.clone();

    let mut roll = r.below(1000);
    let family = MIX
        .iter()
        .find(|(_, share)| {
            let hit = roll < *share;
            roll = roll.saturating_sub(*share);
            hit
        })
        .map_or("bcrypt", |(f, _)| *f);
    match family {
        "none" => {}
        "salted-md5-column" => {
            let salt = format!("{:08x}", r.next() & 0xffff_ffff);
            let digest = Md5::new()
                .chain_update(&salt)
                .chain_update(salted_md5_password(i))
                .finalize();
            row.password_hash = Some(hex(&digest));
            row.password_salt = Some(salt);
            row.hash_algo = Some("MD5".to_owned());
        }
        scheme => {
            if let Some(entry) = pool.pick(scheme, r.next()) {
                // Self-describing formats: no algorithm column, the scheme is detected; but
                // `{SSHA}` rows name theirs, beside the (here empty) salt column.
                row.password_hash = Some(entry.hash.clone());
                if is_ssha(&entry.hash) {
                    row.hash_algo = Some("SSHA".to_owned());
                }
            }
        }
    }
    row
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The password of fake user `i`, if it has one: known because the hash came from the corpus
/// or was computed here.
pub fn password_of(pool: &Pool, row: &Row) -> Option<String> {
    if row.hash_algo.as_deref() == Some("MD5") {
        return u64::try_from(row.id).ok().map(salted_md5_password);
    }
    let hash = row.password_hash.as_deref()?;
    pool.0
        .iter()
        .find(|e| e.hash == hash)
        .map(|e| e.password.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_depend_only_on_seed_and_index() {
        let pool = Pool::load().unwrap();
        assert_eq!(row(&pool, 7, 123), row(&pool, 7, 123));
        assert_ne!(row(&pool, 7, 123), row(&pool, 8, 123));
    }

    #[test]
    fn every_250th_email_collides_with_its_predecessor_by_case_only() {
        let pool = Pool::load().unwrap();
        let (a, b) = (row(&pool, 1, 499), row(&pool, 1, 500));
        let (a, b) = (a.email.unwrap(), b.email.unwrap());
        assert_ne!(a, b);
        assert_eq!(a.to_lowercase(), b.to_lowercase());
    }

    #[test]
    fn some_emails_collide_with_a_row_in_another_partition() {
        let pool = Pool::load().unwrap();
        let i = 13 * FAR_DUPLICATE_EVERY + FAR_DUPLICATE_AT;
        let (a, b) = (row(&pool, 7, i - FAR_DUPLICATE_GAP), row(&pool, 7, i));
        let (a, b) = (a.email.unwrap(), b.email.unwrap());
        assert_eq!(
            a.trim().to_lowercase(),
            b.trim().to_lowercase(),
            "{a:?} / {b:?}"
        );
    }

    #[test]
    fn the_mess_has_stray_spaces_unassigned_area_codes_and_named_self_salted_hashes() {
        let pool = Pool::load().unwrap();
        let rows: Vec<Row> = (1..=5000).map(|i| row(&pool, 7, i)).collect();
        let spaced = rows
            .iter()
            .filter_map(|r| r.email.as_deref())
            .filter(|e| e.contains('@') && e.trim() != *e && *e != e.to_lowercase())
            .count();
        let unassigned = rows
            .iter()
            .filter_map(|r| r.phone.as_deref())
            .filter(|p| {
                UNASSIGNED_AREA_CODES
                    .iter()
                    .any(|c| p.starts_with(&format!("({c})")))
            })
            .count();
        let ssha = rows
            .iter()
            .filter(|r| r.hash_algo.as_deref() == Some("SSHA"))
            .count();
        assert!(
            (100..300).contains(&spaced),
            "{spaced} emails with stray spaces"
        );
        assert!(
            (80..250).contains(&unassigned),
            "{unassigned} unassigned area codes"
        );
        assert!(ssha > 20, "{ssha} {{SSHA}} rows with a scheme column");
    }

    #[test]
    fn the_mix_covers_many_schemes_and_passwords_are_known() {
        let pool = Pool::load().unwrap();
        let rows: Vec<Row> = (1..=2000).map(|i| row(&pool, 3, i)).collect();
        let with_hash = rows.iter().filter(|r| r.password_hash.is_some()).count();
        assert!(with_hash > 1800, "{with_hash}");
        for r in rows.iter().filter(|r| r.password_hash.is_some()) {
            assert!(password_of(&pool, r).is_some(), "row {}", r.id);
        }
        let salted = rows
            .iter()
            .filter(|r| r.hash_algo.as_deref() == Some("MD5"))
            .count();
        assert!((200..400).contains(&salted), "{salted}");
    }

    #[test]
    fn salted_md5_rows_match_python_hashlib() {
        // python3 -c "import hashlib; print(hashlib.md5(b'deadbeef' + b'pass-0000042').hexdigest())"
        let digest = Md5::new()
            .chain_update("deadbeef")
            .chain_update(salted_md5_password(42))
            .finalize();
        assert_eq!(hex(&digest), "d1adc2d53c7d0f9187d240e327990ab1");
    }
}
