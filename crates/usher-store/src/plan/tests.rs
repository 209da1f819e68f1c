//! The plan's decisions, without a database.
use super::*;
use crate::model::ChunkUser;
use serde_json::json;
use usher_core::{Email, Profile, Status, UserId, Username};

fn user(email: &str, username: &str) -> User {
    User {
        id: UserId::new(),
        email: Some(Email::parse(email).unwrap()),
        email_verified: true,
        username: Some(Username::parse(username).unwrap()),
        phone: None,
        profile: Profile::default(),
        attributes: serde_json::Map::new(),
        credential: None,
        status: Status::Active,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        legacy_links: vec![],
        migration: None,
    }
}

fn chunk(users: Vec<(i64, User)>) -> ChunkWrite {
    let mut c = ChunkWrite::new("backfill", "legacy", 0);
    c.users = users
        .into_iter()
        .map(|(k, user)| ChunkUser {
            key: LegacyKey::Int(k),
            user,
            checksum: format!("sum-{k}"),
            legacy_updated_at: None,
        })
        .collect();
    c
}

#[test]
fn a_key_given_twice_is_refused_before_anything_is_written() {
    let c = chunk(vec![(1, user("a@x.io", "a")), (1, user("b@x.io", "b"))]);
    let err = prepare(&c, now()).unwrap_err();
    assert!(
        err.to_string().contains("legacy id 1 appears twice"),
        "{err}"
    );
}

#[test]
fn a_nul_in_a_profile_field_quarantines_the_record_on_every_backend() {
    let mut u = user("a@x.io", "a");
    u.profile.name = Some("A\0B".into());
    let c = chunk(vec![(1, u), (2, user("b@x.io", "b"))]);
    let p = prepare(&c, now()).unwrap();
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.quarantine.len(), 1);
    assert_eq!(p.quarantine[0].legacy_id, "1");
    assert_eq!(p.quarantine[0].field.as_deref(), Some("name"));
    assert!(p.quarantine[0].reason.contains("NUL"));
}

#[test]
fn nul_characters_in_a_quarantined_record_are_made_visible() {
    assert_eq!(
        json_text(&json!({"a": "x\u{0}y"})),
        "{\"a\":\"x\u{2400}y\"}"
    );
}

#[test]
fn instants_are_cut_to_the_microsecond() {
    let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    assert_eq!(micros(t).timestamp_subsec_nanos(), 123_456_000);
}

#[test]
fn only_a_newer_and_different_legacy_record_updates_under_legacy_newer() {
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let t1 = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
    let mut c = chunk(vec![
        (1, user("a@x.io", "a")),
        (2, user("b@x.io", "b")),
        (3, user("c@x.io", "c")),
        (4, user("d@x.io", "d")),
    ]);
    for cu in &mut c.users {
        cu.legacy_updated_at = Some(t1);
    }
    c.users[2].legacy_updated_at = Some(t0);
    let p = prepare(&c, now()).unwrap();
    let hit = |sum: &str| LedgerHit {
        user_id: Uuid::nil(),
        record_checksum: sum.into(),
        user_updated_at: t0,
    };
    let hits = HashMap::from([
        ("1".to_string(), hit("old")),   // newer, different: update
        ("2".to_string(), hit("sum-2")), // same checksum: skip
        ("3".to_string(), hit("old")),   // not newer: skip
    ]);
    let skip = classify(&p.rows, &hits, ConflictPolicy::Skip);
    assert_eq!(skip.inserts, vec![3]);
    assert_eq!(skip.skipped, vec![0, 1, 2]);
    let newer = classify(&p.rows, &hits, ConflictPolicy::LegacyNewer);
    assert_eq!(newer.updates, vec![(0, Uuid::nil())]);
    assert_eq!(newer.skipped, vec![1, 2]);
    assert_eq!(newer.inserts, vec![3]);
}

#[test]
fn a_refused_insert_is_explained_by_the_holder_of_its_address() {
    let c = chunk(vec![
        (17, user("Ann@x.io", "ann")),
        (18, user("ann@X.io", "ann2")),
    ]);
    let p = prepare(&c, now()).unwrap();
    let owner = Owner {
        user_id: p.rows[0].id,
        link: Some(("legacy".into(), "17".into())),
        ..owner("ann@x.io", "ann")
    };
    let q = explain_refusals(&p.rows, &[1], &[owner]).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].legacy_id, "18");
    assert_eq!(
        q[0].reason,
        "duplicate email: same address as legacy id 17 (source legacy)"
    );
    assert_eq!(q[0].field.as_deref(), Some("email"));
}

#[test]
fn a_refusal_without_a_visible_holder_asks_for_a_retry() {
    let c = chunk(vec![(1, user("a@x.io", "a"))]);
    let p = prepare(&c, now()).unwrap();
    assert!(explain_refusals(&p.rows, &[0], &[]).is_none());
}

#[test]
fn an_update_may_not_take_another_users_username() {
    let c = chunk(vec![
        (1, user("a@x.io", "bob")),
        (2, user("c@x.io", "carl")),
    ]);
    let p = prepare(&c, now()).unwrap();
    let me = Uuid::now_v7();
    let bob = owner("b@x.io", "bob");
    let (kept, refused) = check_updates(
        &p.rows,
        vec![(0, me), (1, me)],
        std::slice::from_ref(&bob),
        "legacy",
    );
    assert_eq!(kept, vec![(1, me)]);
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].reason,
        format!("duplicate username: same username as user {}", bob.user_id)
    );
}

fn owner(email: &str, username: &str) -> Owner {
    Owner {
        user_id: Uuid::now_v7(),
        email_normalized: Some(email.into()),
        username_normalized: Some(username.into()),
        link: None,
        displaceable: false,
    }
}

#[test]
fn a_lazy_migration_is_recorded_as_lazy_from_its_source() {
    let mut u = user("Ann@X.io", "Ann");
    u.migration = Some(usher_core::Migration {
        method: Method::Bulk,
        at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
        source: "mapper".into(),
        original: json!({"id": 7}),
        warnings: Vec::new(),
    });
    let m = LazyMigration {
        source: "legacy".into(),
        key: LegacyKey::Int(7),
        user: u,
        checksum: "sum".into(),
        legacy_updated_at: None,
        system_of_record: crate::model::SystemOfRecord::New,
        outbox: Vec::new(),
    };
    let t = now();
    let row = prepare_lazy(&m, t).unwrap();
    assert_eq!(row.legacy_id, "7");
    assert_eq!(row.migration_method, Some(Method::Lazy));
    assert_eq!(row.ledger_method, Method::Lazy);
    assert_eq!(row.migration_source, Some("legacy"));
    assert_eq!(
        row.migrated_at.unwrap().timestamp_subsec_nanos(),
        123_456_000
    );
    assert_eq!(row.legacy_record.as_deref(), Some("{\"id\":7}"));
    assert_eq!(row.credential_updated_at, t);
    assert_eq!(row.email_normalized.as_deref(), Some("ann@x.io"));
    assert_eq!(lazy_subject(&m), "legacy/7");
}

#[test]
fn a_registration_has_no_source_and_no_original() {
    let u = user("a@x.io", "a");
    let t = now();
    let row = prepare_registered(&u, t).unwrap();
    assert_eq!(row.migration_method, Some(Method::Registered));
    assert_eq!(row.migrated_at, Some(t));
    assert_eq!(row.migration_source, None);
    assert_eq!(row.legacy_record, None);
    let mut bad = user("b@x.io", "b");
    bad.profile.nickname = Some("x\0y".into());
    let err = prepare_registered(&bad, t).unwrap_err();
    assert!(err.to_string().contains("`nickname`"), "{err}");
}

#[test]
fn a_refused_single_insert_names_the_email_holder_first() {
    let u = user("Ann@X.io", "Ann");
    let row = prepare_registered(&u, now()).unwrap();
    let by_email = owner("ann@x.io", "other");
    let by_name = owner("other@x.io", "ann");
    let both = [by_name.clone(), by_email.clone()];
    assert_eq!(
        refusal(&row, &both, false),
        Refusal::Taken("email", by_email.user_id)
    );
    assert_eq!(
        refusal(&row, std::slice::from_ref(&by_name), false),
        Refusal::Taken("username", by_name.user_id)
    );
    assert_eq!(refusal(&row, &[], true), Refusal::IdInUse);
    assert_eq!(refusal(&row, &[], false), Refusal::Vanished);
}
