//! Test users: every field filled, instants to the microsecond, keys as the source gives them.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use usher_core::{
    Credential, Email, LegacyId, LegacyKey, LegacyLink, LegacyRecord, Method, Migration, PhoneE164,
    Profile, Status, User, UserId, Username,
};
use usher_hash::Scheme;
use usher_store::{ChunkUser, ChunkWrite, Rejected};

pub const SOURCE: &str = "legacy";
pub const JOB: &str = "backfill";

/// An instant `secs` after 2024-01-01, with microseconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + secs, 123_456_000).unwrap()
}

/// The legacy record a user was mapped from.
pub fn record(key: i64, email: &str, name: &str) -> LegacyRecord {
    let fields: Map<String, Value> = serde_json::from_value(json!({
        "id": key,
        "email": email,
        "name": name,
        "password": "$2b$10$abcdefghijklmnopqrstuu5wKfE3fWc0lWlO8bB3Qy7p2rWn8mC6",
    }))
    .unwrap();
    LegacyRecord {
        key: LegacyKey::Int(key),
        fields,
    }
}

/// A full user for legacy key `key`.
pub fn user(key: i64, email: &str, username: &str) -> ChunkUser {
    let rec = record(key, email, username);
    let user = User {
        id: UserId::new(),
        email: Some(Email::parse(email).unwrap()),
        email_verified: key % 2 == 0,
        username: Some(Username::parse(username).unwrap()),
        phone: Some(PhoneE164::parse("+14155550123").unwrap()),
        profile: Profile {
            given_name: Some("Ann".into()),
            family_name: Some("Lee".into()),
            name: Some(format!("Ann Lee {key}")),
            middle_name: Some("Q".into()),
            nickname: Some("annie".into()),
            birthdate: NaiveDate::from_ymd_opt(1990, 2, 28),
            locale: Some("en-GB".into()),
            zoneinfo: Some("Europe/London".into()),
            picture: Some("https://example.com/a.png".into()),
        },
        attributes: serde_json::from_value(json!({
            "plan": "pro",
            "score": 1.5,
            "tags": ["a", "b"],
            "nested": {"x": null, "big": 9007199254740993_i64},
            "quote": "tab\there \"and\" back\\slash, newline\n, ünïcödé",
        }))
        .unwrap(),
        credential: Some(Credential {
            hash: "$2b$10$abcdefghijklmnopqrstuu5wKfE3fWc0lWlO8bB3Qy7p2rWn8mC6".into(),
            scheme: Scheme::Bcrypt,
        }),
        status: Status::Active,
        created_at: at(-86_400),
        updated_at: at(0),
        legacy_links: vec![LegacyLink {
            source: SOURCE.into(),
            legacy_id: LegacyId::parse(&key.to_string()).unwrap(),
        }],
        migration: Some(Migration {
            method: Method::Bulk,
            at: at(10),
            source: SOURCE.into(),
            original: rec.to_json(),
            warnings: Vec::new(),
        }),
    };
    ChunkUser {
        key: LegacyKey::Int(key),
        checksum: rec.checksum(),
        user,
        legacy_updated_at: Some(at(0)),
    }
}

/// A user with only the required fields.
pub fn bare(key: i64) -> ChunkUser {
    let user = User {
        id: UserId::new(),
        email: None,
        email_verified: false,
        username: None,
        phone: None,
        profile: Profile::default(),
        attributes: Map::new(),
        credential: None,
        status: Status::PasswordResetRequired,
        created_at: at(1),
        updated_at: at(2),
        legacy_links: vec![LegacyLink {
            source: SOURCE.into(),
            legacy_id: LegacyId::parse(&key.to_string()).unwrap(),
        }],
        migration: None,
    };
    ChunkUser {
        key: LegacyKey::Int(key),
        checksum: format!("bare-{key}"),
        user,
        legacy_updated_at: None,
    }
}

/// A record the mapping refused.
pub fn rejected(key: i64, reason: &str) -> Rejected {
    Rejected {
        key: LegacyKey::Int(key),
        reason: reason.into(),
        field: Some("email".into()),
        record: json!({"id": key, "email": "not-an-email"}),
    }
}

/// Users `from..to` with distinct emails and usernames.
pub fn users(from: i64, to: i64) -> Vec<ChunkUser> {
    (from..to)
        .map(|k| user(k, &format!("user{k}@example.com"), &format!("user{k}")))
        .collect()
}

/// A chunk of the default job and source for `partition`, its cursor the last key given.
pub fn chunk(partition: u32, users: Vec<ChunkUser>, rejected: Vec<Rejected>) -> ChunkWrite {
    let mut c = ChunkWrite::new(JOB, SOURCE, partition);
    let last = users
        .iter()
        .map(|u| u.key.clone())
        .chain(rejected.iter().map(|r| r.key.clone()))
        .filter_map(|k| match k {
            LegacyKey::Int(i) => Some(i),
            LegacyKey::Text(_) => None,
        })
        .max();
    c.read = (users.len() + rejected.len()) as u64;
    c.cursor = last.map(LegacyKey::Int);
    c.users = users;
    c.rejected = rejected;
    c
}
