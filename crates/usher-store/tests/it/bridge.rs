//! The login bridge's writes — lazy migration, registration, credential upgrade — written once
//! against `dyn Store` and run on SQLite and PostgreSQL. Rows are checked directly in the
//! database as well as through the store.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use usher_core::{Credential, Email, Method, Migration, Profile, Status, User, UserId, Username};
use usher_hash::Scheme;
use usher_store::{
    LazyMigration, MigrateOutcome, RegisterOutcome, Store, StoreError, SystemOfRecord,
};

use crate::data::{SOURCE, at, bare, chunk, rejected, user};
use crate::harness::{Ctx, Raw};

/// A freshly re-hashed credential (the store never verifies it, so the digest is made up).
pub fn argon(tag: &str) -> Credential {
    Credential {
        hash: format!(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${tag}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ),
        scheme: Scheme::Argon2id,
    }
}

/// A first login of legacy record `key`: the mapped user (with a fresh id, and the `bulk`
/// migration record the mapper gives every user) and its password re-hashed.
pub fn lazy(key: i64, email: &str, username: &str) -> LazyMigration {
    let cu = user(key, email, username);
    let mut u = cu.user;
    u.credential = Some(argon(&format!("k{key}")));
    LazyMigration {
        source: SOURCE.into(),
        key: cu.key,
        user: u,
        checksum: cu.checksum,
        legacy_updated_at: cu.legacy_updated_at,
        system_of_record: SystemOfRecord::New,
        outbox: Vec::new(),
    }
}

/// A user signing up in the new system.
fn newcomer(email: &str, username: &str) -> User {
    User {
        id: UserId::new(),
        email: Some(Email::parse(email).unwrap()),
        email_verified: false,
        username: Some(Username::parse(username).unwrap()),
        phone: None,
        profile: Profile {
            name: Some("New Comer".into()),
            ..Profile::default()
        },
        attributes: serde_json::Map::new(),
        credential: Some(argon("new")),
        status: Status::Active,
        created_at: at(5000),
        updated_at: at(5000),
        legacy_links: vec![],
        migration: None,
    }
}

async fn count(raw: &Raw, table: &str) -> i64 {
    raw.count(&format!("SELECT COUNT(*) FROM {table}")).await
}

/// The user's credential row: hash, scheme, updated_at.
async fn credential_row(raw: &Raw, id: UserId) -> Vec<Vec<Option<String>>> {
    raw.rows(&format!(
        "SELECT hash, scheme, CAST(updated_at AS TEXT) FROM credentials \
         WHERE CAST(user_id AS TEXT) = '{id}'"
    ))
    .await
}

/// The user legacy record `legacy_id` of `source` became, who must exist.
async fn user_of_record(store: &dyn Store, source: &str, legacy_id: &str) -> User {
    store
        .user_by_legacy(source, legacy_id)
        .await
        .unwrap()
        .unwrap()
}

async fn events_of(store: &dyn Store, kind: &str) -> Vec<usher_store::Event> {
    store
        .events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

pub async fn a_first_login_writes_user_credential_ledger_and_event_and_clears_quarantine(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    // The record was quarantined by an earlier backfill (since fixed in legacy).
    store
        .write_chunk(&chunk(
            0,
            vec![],
            vec![rejected(42, "field `email` has no @")],
        ))
        .await
        .unwrap();
    assert_eq!(count(&ctx.raw, "quarantine").await, 1);

    let m = lazy(42, "Ann.Lee@Example.com", "ann");
    let outcome = store.migrate_user(&m).await.unwrap();
    assert_eq!(outcome, MigrateOutcome::Migrated(m.user.id));

    // The user reads back as given, its migration record saying lazy from the source.
    let mut expected = m.user.clone();
    expected.migration = Some(Migration {
        method: Method::Lazy,
        ..m.user.migration.clone().unwrap()
    });
    let u = user_of_record(store, SOURCE, "42").await;
    assert_eq!(u, expected);
    assert_eq!(
        store
            .user_by_email("ann.lee@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        m.user.id
    );

    // The rows themselves.
    let id = m.user.id.to_string();
    let tables: [(&str, &[&str]); 3] = [
        (
            "SELECT CAST(user_id AS TEXT), source, legacy_id, method, system_of_record, \
             record_checksum FROM ledger",
            &[&id, SOURCE, "42", "lazy", "new", &m.checksum],
        ),
        (
            "SELECT CAST(user_id AS TEXT), hash, scheme FROM credentials",
            &[&id, &argon("k42").hash, "argon2id"],
        ),
        (
            "SELECT CAST(id AS TEXT), migration_method, migration_source FROM users",
            &[&id, "lazy", SOURCE],
        ),
    ];
    for (sql, row) in tables {
        let row: Vec<_> = row.iter().map(|c| Some(c.to_string())).collect();
        assert_eq!(ctx.raw.rows(sql).await, vec![row], "{sql}");
    }
    assert_eq!(count(&ctx.raw, "quarantine").await, 0);
    assert_eq!(
        store.quarantine_count(&Default::default()).await.unwrap(),
        0
    );

    // One event, naming the record and the user, and no secret.
    let events = events_of(store, "user.migrated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject, "legacy/42");
    assert_eq!(
        events[0].detail,
        json!({"user_id": id, "method": "lazy", "source": SOURCE})
    );
    let all = store.events(0, 100).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(!all[0].detail.to_string().contains('$'));

    let counts = store.counts().await.unwrap();
    assert_eq!(counts.users, 1);
    assert_eq!(counts.by_method, BTreeMap::from([("lazy".to_string(), 1)]));
    assert_eq!(counts.by_source, BTreeMap::from([(SOURCE.to_string(), 1)]));
    assert_eq!(counts.quarantined, 0);
}

pub async fn a_second_first_login_is_already_migrated_and_writes_nothing(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let first = lazy(42, "ann@example.com", "ann");
    let id = first.user.id;
    assert_eq!(
        store.migrate_user(&first).await.unwrap(),
        MigrateOutcome::Migrated(id)
    );
    // The same call again, and another login's mapping (a new user id) of the same record,
    // through the other store: both name the first user.
    assert_eq!(
        store.migrate_user(&first).await.unwrap(),
        MigrateOutcome::AlreadyMigrated(id)
    );
    let again = lazy(42, "ann@example.com", "ann");
    assert_ne!(again.user.id, id);
    assert_eq!(
        ctx.other.migrate_user(&again).await.unwrap(),
        MigrateOutcome::AlreadyMigrated(id)
    );
    // Even when legacy changed the address meanwhile: the ledger decides, not the address.
    let moved = lazy(42, "ann.new@example.com", "ann-new");
    assert_eq!(
        store.migrate_user(&moved).await.unwrap(),
        MigrateOutcome::AlreadyMigrated(id)
    );
    for table in ["users", "ledger", "credentials", "events"] {
        assert_eq!(count(&ctx.raw, table).await, 1, "{table}");
    }

    // A record the backfill moved first: the login finds the bulk user and leaves it as is.
    let bulk = user(7, "bulk7@example.com", "bulk7");
    store
        .write_chunk(&chunk(0, vec![bulk.clone()], vec![]))
        .await
        .unwrap();
    assert_eq!(
        store
            .migrate_user(&lazy(7, "bulk7@example.com", "bulk7"))
            .await
            .unwrap(),
        MigrateOutcome::AlreadyMigrated(bulk.user.id)
    );
    let u = store.user(bulk.user.id).await.unwrap().unwrap();
    assert_eq!(u.credential, bulk.user.credential);
    assert_eq!(u.migration.unwrap().method, Method::Bulk);
    assert_eq!(
        ctx.raw
            .rows("SELECT method FROM ledger WHERE legacy_id = '7'")
            .await,
        vec![vec![Some("bulk".into())]]
    );

    // And a backfill meeting a record a login moved skips it (no quarantine entry).
    let replay = store
        .write_chunk(&chunk(0, vec![user(42, "ann@example.com", "ann")], vec![]))
        .await
        .unwrap();
    assert_eq!(
        (replay.migrated, replay.skipped, replay.quarantined),
        (0, 1, 0)
    );

    assert_eq!(count(&ctx.raw, "users").await, 2);
    assert_eq!(count(&ctx.raw, "ledger").await, 2);
    assert_eq!(count(&ctx.raw, "quarantine").await, 0);
    assert_eq!(events_of(store, "user.migrated").await.len(), 1);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.by_method,
        BTreeMap::from([("bulk".to_string(), 1), ("lazy".to_string(), 1)])
    );
}

/// 50 first logins of one legacy user at once, each with its own mapping (and so its own
/// user id), spread over two stores (two pools, like two bridge processes): exactly one user,
/// one ledger row, one credential and one event, and every caller learns the same id. Several
/// rounds, each a different user, so the later ones race on pools already full of connections.
pub async fn fifty_concurrent_first_logins_make_one_user(ctx: Ctx) {
    ctx.store.migrate().await.unwrap();
    const CALLERS: usize = 50;
    const ROUNDS: i64 = 4;
    for key in 900..900 + ROUNDS {
        let email = format!("Race{key}@Example.com");
        let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
        let mut tasks = Vec::with_capacity(CALLERS);
        let mut candidates = HashSet::new();
        for i in 0..CALLERS {
            let store = if i % 2 == 0 {
                ctx.store.clone()
            } else {
                ctx.other.clone()
            };
            let m = lazy(key, &email, &format!("racer{key}"));
            candidates.insert(m.user.id);
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.migrate_user(&m).await.unwrap()
            }));
        }
        let mut outcomes = Vec::with_capacity(CALLERS);
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let migrated: Vec<UserId> = outcomes
            .iter()
            .filter_map(|o| match o {
                MigrateOutcome::Migrated(id) => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(migrated.len(), 1, "{outcomes:?}");
        let winner = migrated[0];
        assert!(candidates.contains(&winner));
        let already = outcomes
            .iter()
            .filter(|o| **o == MigrateOutcome::AlreadyMigrated(winner))
            .count();
        assert_eq!(already, CALLERS - 1, "{outcomes:?}");

        // The record's ledger row, its address and its credential: the winner's, once.
        let id = Some(winner.to_string());
        let legacy_id = key.to_string();
        let email = email.to_lowercase();
        for sql in [
            format!("SELECT CAST(user_id AS TEXT) FROM ledger WHERE legacy_id = '{legacy_id}'"),
            format!("SELECT CAST(id AS TEXT) FROM users WHERE email_normalized = '{email}'"),
            format!(
                "SELECT CAST(user_id AS TEXT) FROM credentials \
                 WHERE CAST(user_id AS TEXT) = '{winner}'"
            ),
        ] {
            assert_eq!(ctx.raw.rows(&sql).await, vec![vec![id.clone()]], "{sql}");
        }
    }
    let rounds = ROUNDS;
    assert_eq!(count(&ctx.raw, "users").await, rounds);
    assert_eq!(count(&ctx.raw, "ledger").await, rounds);
    assert_eq!(count(&ctx.raw, "credentials").await, rounds);
    assert_eq!(
        events_of(&*ctx.store, "user.migrated").await.len() as i64,
        rounds
    );
    let counts = ctx.store.counts().await.unwrap();
    assert_eq!(
        counts.by_method,
        BTreeMap::from([("lazy".to_string(), ROUNDS as u64)])
    );
}

/// A backfill chunk and the first logins of its records, at the same time: every record ends
/// up as exactly one user, moved by whichever got there first, and none is quarantined.
pub async fn a_backfill_racing_first_logins_leaves_one_user_per_record(ctx: Ctx) {
    ctx.store.migrate().await.unwrap();
    const ROUNDS: i64 = 4;
    const PER_ROUND: i64 = 25;
    let mut by_login = 0u64;
    let mut by_chunk = 0u64;
    for round in 0..ROUNDS {
        let keys: Vec<i64> = (round * PER_ROUND..(round + 1) * PER_ROUND).collect();
        let email = |k: i64| format!("both{k}@example.com");
        let c = chunk(
            0,
            keys.iter()
                .map(|&k| user(k, &email(k), &format!("both{k}")))
                .collect(),
            vec![],
        );
        // The logins start one per millisecond, the chunk at a time that moves from before
        // them to after them as the rounds go. Whatever the machine's load, each side wins some
        // records: the first round's chunk is written before any login starts, and the last
        // round's logins all finish before its chunk starts; the rounds between race.
        let ms = |n: i64| Duration::from_millis(u64::try_from(n).unwrap());
        let start = ms(round * 40);
        let logins_start = (ROUNDS - 1 - round) * 40;
        let chunk_first = round == 0;
        let logins_first = round == ROUNDS - 1;
        // In the last round the chunk is written only after the logins, below.
        let mut writer = (!logins_first).then(|| {
            tokio::spawn({
                let store = ctx.store.clone();
                let c = c.clone();
                async move {
                    tokio::time::sleep(start).await;
                    store.write_chunk(&c).await.unwrap()
                }
            })
        });
        let mut written = None;
        if chunk_first {
            written = Some(writer.take().unwrap().await.unwrap());
        }
        let logins: Vec<_> = keys
            .iter()
            .map(|&k| {
                let store = ctx.other.clone();
                let m = lazy(k, &email(k), &format!("both{k}"));
                let delay = ms(logins_start + k % PER_ROUND);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    (k, store.migrate_user(&m).await.unwrap())
                })
            })
            .collect();
        let mut results = Vec::new();
        if logins_first {
            for l in logins {
                results.push(l.await.unwrap());
            }
            written = Some(ctx.store.write_chunk(&c).await.unwrap());
        } else {
            if let Some(w) = writer.take() {
                written = Some(w.await.unwrap());
            }
            for l in logins {
                results.push(l.await.unwrap());
            }
        }
        let outcome = written.unwrap();
        assert_eq!(outcome.quarantined, 0, "{outcome:?}");
        assert_eq!(outcome.migrated + outcome.skipped, PER_ROUND as u64);
        by_chunk += outcome.migrated;
        for (k, o) in results {
            let stored = user_of_record(&*ctx.store, SOURCE, &k.to_string()).await;
            match o {
                MigrateOutcome::Migrated(id) => {
                    by_login += 1;
                    assert_eq!(id, stored.id);
                    assert_eq!(stored.migration.unwrap().method, Method::Lazy);
                }
                MigrateOutcome::AlreadyMigrated(id) => {
                    assert_eq!(id, stored.id);
                    assert_eq!(stored.migration.unwrap().method, Method::Bulk);
                }
                other => panic!("key {k}: {other:?}"),
            }
        }
    }
    assert!(
        by_login > 0 && by_chunk > 0,
        "each side wins some records: moved by logins {by_login}, by the backfill {by_chunk}"
    );
    let total = ROUNDS * PER_ROUND;
    assert_eq!(by_login + by_chunk, total as u64);
    assert_eq!(count(&ctx.raw, "users").await, total);
    assert_eq!(count(&ctx.raw, "ledger").await, total);
    assert_eq!(count(&ctx.raw, "quarantine").await, 0);
    assert_eq!(
        ctx.raw
            .count("SELECT COUNT(*) FROM ledger WHERE method = 'lazy'")
            .await,
        by_login as i64
    );
}

pub async fn a_first_login_whose_identifier_another_user_holds_writes_nothing(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let holder = user(1, "taken@example.com", "holder");
    store
        .write_chunk(&chunk(
            0,
            vec![holder.clone()],
            vec![rejected(2, "old reason")],
        ))
        .await
        .unwrap();
    let before_events = store.events(0, 100).await.unwrap().len();

    for (writer, m, field) in [
        // Another legacy record with the same address, case aside.
        (store, lazy(2, "TAKEN@Example.com", "someone"), "email"),
        // The username, case aside.
        (
            &*ctx.other,
            lazy(3, "fresh@example.com", "HOLDER"),
            "username",
        ),
        // Both: the email is named.
        (store, lazy(4, "taken@example.com", "holder"), "email"),
    ] {
        assert_eq!(
            writer.migrate_user(&m).await.unwrap(),
            MigrateOutcome::IdentifierTaken {
                field,
                holder: holder.user.id
            },
            "{m:?}"
        );
    }

    assert_eq!(count(&ctx.raw, "users").await, 1);
    assert_eq!(count(&ctx.raw, "ledger").await, 1);
    assert_eq!(count(&ctx.raw, "credentials").await, 1);
    assert_eq!(
        ctx.raw
            .rows("SELECT legacy_id, reason FROM quarantine")
            .await,
        vec![vec![Some("2".into()), Some("old reason".into())]],
        "the record's quarantine entry stays"
    );
    assert_eq!(store.events(0, 100).await.unwrap().len(), before_events);
    assert!(store.user_by_legacy(SOURCE, "2").await.unwrap().is_none());
    let kept = store.user(holder.user.id).await.unwrap().unwrap();
    assert_eq!(kept.credential, holder.user.credential);
}

pub async fn a_first_login_the_store_cannot_hold_is_refused_whole(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let mut m = lazy(5, "nul@example.com", "nul");
    m.user.profile.nickname = Some("bad\0nick".into());
    let err = store.migrate_user(&m).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("legacy/5") && text.contains("nickname"),
        "{text}"
    );

    let mut m = lazy(6, "key@example.com", "key");
    m.source = String::new();
    assert!(matches!(
        store.migrate_user(&m).await.unwrap_err(),
        StoreError::Invalid { .. }
    ));
    for table in ["users", "ledger", "credentials", "events"] {
        assert_eq!(count(&ctx.raw, table).await, 0, "{table}");
    }
}

pub async fn registering_a_user_and_a_taken_email(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let mut ann = newcomer("Ann@X.com", "ann");
    // Whatever the caller put there, a registration is recorded as one.
    ann.migration = Some(Migration {
        method: Method::Bulk,
        at: at(1),
        source: "elsewhere".into(),
        original: json!({"x": 1}),
        warnings: Vec::new(),
    });
    assert_eq!(
        store.register_user(&ann).await.unwrap(),
        RegisterOutcome::Registered(ann.id)
    );
    let u = store.user(ann.id).await.unwrap().unwrap();
    let m = u.migration.clone().unwrap();
    assert_eq!(m.method, Method::Registered);
    assert_eq!((m.source.as_str(), &m.original), ("", &json!(null)));
    let mut expected = ann.clone();
    expected.migration = u.migration.clone();
    assert_eq!(u, expected);
    assert!(u.legacy_links.is_empty());

    // The same address in other case, through the other store.
    let again = newcomer("ann@x.com", "ann2");
    assert_eq!(
        ctx.other.register_user(&again).await.unwrap(),
        RegisterOutcome::IdentifierTaken {
            field: "email",
            holder: ann.id
        }
    );
    let by_name = newcomer("someone@x.com", "ANN");
    assert_eq!(
        store.register_user(&by_name).await.unwrap(),
        RegisterOutcome::IdentifierTaken {
            field: "username",
            holder: ann.id
        }
    );
    // A legacy user logging in for the first time with the registered address.
    assert_eq!(
        store
            .migrate_user(&lazy(9, "ANN@x.com", "legacy-ann"))
            .await
            .unwrap(),
        MigrateOutcome::IdentifierTaken {
            field: "email",
            holder: ann.id
        }
    );
    // Registering the same user twice names it as the holder.
    assert_eq!(
        store.register_user(&ann).await.unwrap(),
        RegisterOutcome::IdentifierTaken {
            field: "email",
            holder: ann.id
        }
    );

    let id = Some(ann.id.to_string());
    assert_eq!(
        ctx.raw
            .rows("SELECT CAST(id AS TEXT), email, migration_method, migration_source FROM users")
            .await,
        vec![vec![
            id.clone(),
            Some("Ann@X.com".into()),
            Some("registered".into()),
            None
        ]]
    );
    assert_eq!(
        ctx.raw
            .rows("SELECT CAST(user_id AS TEXT), scheme FROM credentials")
            .await,
        vec![vec![id.clone(), Some("argon2id".into())]]
    );
    assert_eq!(count(&ctx.raw, "ledger").await, 0);
    let events = store.events(0, 100).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, "user.registered");
    assert_eq!(events[0].subject, ann.id.to_string());
    assert_eq!(
        events[0].detail,
        json!({"user_id": ann.id.to_string(), "method": "registered"})
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.users, 1);
    assert_eq!(
        counts.by_method,
        BTreeMap::from([("registered".to_string(), 1)])
    );
    assert!(counts.by_source.is_empty());
}

pub async fn replacing_a_credential_is_compare_and_set(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let imported = user(5, "five@example.com", "five");
    let plain = bare(6);
    store
        .write_chunk(&chunk(0, vec![imported.clone(), plain.clone()], vec![]))
        .await
        .unwrap();
    let id = imported.user.id;
    let bcrypt = imported.user.credential.clone().unwrap();
    let before = credential_row(&ctx.raw, id).await;

    // The login upgrades the bcrypt hash it verified.
    let a1 = argon("one");
    assert!(
        store
            .replace_credential(id, &bcrypt.hash, &a1)
            .await
            .unwrap()
    );
    assert_eq!(
        store.user(id).await.unwrap().unwrap().credential,
        Some(a1.clone())
    );
    let after = credential_row(&ctx.raw, id).await;
    assert_eq!(after[0][0].as_deref(), Some(a1.hash.as_str()));
    assert_eq!(after[0][1].as_deref(), Some("argon2id"));
    assert_ne!(after[0][2], before[0][2], "updated_at moves");

    // A second upgrade that verified the same old hash changes nothing.
    let a2 = argon("two");
    assert!(
        !ctx.other
            .replace_credential(id, &bcrypt.hash, &a2)
            .await
            .unwrap()
    );
    assert_eq!(credential_row(&ctx.raw, id).await, after);

    // No credential, or no user: nothing to compare with.
    assert!(
        !store
            .replace_credential(plain.user.id, &bcrypt.hash, &a2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_credential(UserId::new(), &bcrypt.hash, &a2)
            .await
            .unwrap()
    );
    assert_eq!(count(&ctx.raw, "credentials").await, 1);

    let events = events_of(store, "credential.upgraded").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].subject, id.to_string());
    assert_eq!(
        events[0].detail,
        json!({"user_id": id.to_string(), "old_scheme": "bcrypt", "new_scheme": "argon2id"})
    );
    assert!(!events[0].detail.to_string().contains('$'));

    // Ten upgrades racing from the same stored hash, over two stores: exactly one wins.
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = if i % 2 == 0 {
                ctx.store.clone()
            } else {
                ctx.other.clone()
            };
            let (expected, new) = (a1.hash.clone(), argon(&format!("race{i}")));
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let won = store.replace_credential(id, &expected, &new).await.unwrap();
                (won, new)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (won, new) = t.await.unwrap();
        if won {
            winners.push(new);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.user(id).await.unwrap().unwrap().credential,
        Some(winners[0].clone())
    );
    assert_eq!(events_of(store, "credential.upgraded").await.len(), 2);
}

/// Users by migration method, all four and `none`, as the status page shows them.
pub async fn counts_report_users_by_every_method(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    store
        .write_chunk(&chunk(
            0,
            vec![
                user(1, "b1@example.com", "b1"),
                user(2, "b2@example.com", "b2"),
                bare(3),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let mut synced = chunk(1, vec![user(100, "s@example.com", "s")], vec![]);
    synced.users[0].user.migration.as_mut().unwrap().method = Method::Sync;
    store.write_chunk(&synced).await.unwrap();
    for k in 10..13 {
        let m = lazy(k, &format!("l{k}@example.com"), &format!("l{k}"));
        assert!(matches!(
            store.migrate_user(&m).await.unwrap(),
            MigrateOutcome::Migrated(_)
        ));
    }
    for name in ["r1", "r2"] {
        let u = newcomer(&format!("{name}@example.com"), name);
        assert!(matches!(
            store.register_user(&u).await.unwrap(),
            RegisterOutcome::Registered(_)
        ));
    }
    let counts = store.counts().await.unwrap();
    let expected = BTreeMap::from([
        ("bulk".to_string(), 2),
        ("lazy".to_string(), 3),
        ("none".to_string(), 1),
        ("registered".to_string(), 2),
        ("sync".to_string(), 1),
    ]);
    assert_eq!(counts.by_method, expected);
    assert_eq!(counts.users, 9);
    assert_eq!(counts.by_source, BTreeMap::from([(SOURCE.to_string(), 7)]));
    // The same, counted in the database.
    let raw: BTreeMap<String, u64> = ctx
        .raw
        .rows(
            "SELECT COALESCE(migration_method, 'none'), CAST(COUNT(*) AS TEXT) FROM users \
             GROUP BY migration_method",
        )
        .await
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap(),
                r[1].as_deref().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(raw, expected);
}

/// A record of a second source (`shop`) that is the same person as the stored `user`: the
/// stored user merged with a new given name and nickname, for [`Store::link_user`].
fn link_of(stored: &User, key: &str) -> usher_store::LinkWrite {
    let mut merged = stored.clone();
    merged.profile.given_name = Some("Annie".into());
    merged.attributes.insert("shop_id".into(), json!(key));
    merged.updated_at = at(500);
    usher_store::LinkWrite {
        source: "shop".into(),
        key: usher_core::LegacyKey::Text(key.into()),
        user: merged,
        expected_updated_at: stored.updated_at,
        replace_credential: false,
        expected_credential: stored.credential.as_ref().map(|c| c.hash.clone()),
        original: json!({"id": key, "email": "ann@example.com"}),
        checksum: format!("sum-{key}"),
        legacy_updated_at: Some(at(500)),
        method: Method::Bulk,
        system_of_record: SystemOfRecord::Legacy,
        outbox: Vec::new(),
    }
}

pub async fn linking_a_second_source_keeps_one_user_with_every_legacy_id(ctx: Ctx) {
    use usher_store::LinkOutcome;
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let mut c = chunk(0, vec![user(2, "Ann@Example.com", "ann")], vec![]);
    c.done = true;
    store.write_chunk(&c).await.unwrap();
    let stored = user_of_record(store, SOURCE, "2").await;
    let before_credential = credential_row(&ctx.raw, stored.id).await;
    // The shop record was quarantined as a duplicate address by an earlier run.
    let mut q = chunk(0, vec![], vec![rejected(77, "duplicate email")]);
    q.source = "shop".into();
    q.rejected[0].key = usher_core::LegacyKey::Text("s-9".into());
    store.write_chunk(&q).await.unwrap();

    let link = link_of(&stored, "s-9");
    assert_eq!(
        store.link_user(&link).await.unwrap(),
        LinkOutcome::Linked(stored.id)
    );
    let linked = user_of_record(store, "shop", "s-9").await;
    assert_eq!(linked.id, stored.id);
    assert_eq!(linked.profile.given_name.as_deref(), Some("Annie"));
    assert_eq!(linked.attributes["shop_id"], json!("s-9"));
    assert_eq!(linked.updated_at, at(500));
    // The first source's migration record stays; both legacy ids lead to the user.
    assert_eq!(linked.migration, stored.migration);
    let mut links: Vec<(String, String)> = linked
        .legacy_links
        .iter()
        .map(|l| (l.source.clone(), l.legacy_id.as_str().to_owned()))
        .collect();
    links.sort();
    assert_eq!(
        links,
        vec![
            (SOURCE.to_owned(), "2".to_owned()),
            ("shop".to_owned(), "s-9".to_owned())
        ]
    );
    assert_eq!(credential_row(&ctx.raw, stored.id).await, before_credential);
    assert_eq!(count(&ctx.raw, "users").await, 1);
    assert_eq!(count(&ctx.raw, "quarantine").await, 0);
    let events = events_of(store, "user.linked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject, "shop/s-9");
    assert_eq!(events[0].detail["user_id"], json!(stored.id));
    assert_eq!(events[0].detail["original"]["id"], json!("s-9"));
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.linked_users, 1);
    assert_eq!(counts.users, 1);
    assert_eq!(counts.by_source.get("shop"), Some(&1));

    // Again: the ledger has it, nothing is written.
    assert_eq!(
        store.link_user(&link).await.unwrap(),
        LinkOutcome::AlreadyLinked(stored.id)
    );
    assert_eq!(events_of(store, "user.linked").await.len(), 1);
    // A merge made from a read the user has since outdated writes nothing.
    assert_eq!(
        store.link_user(&link_of(&stored, "s-10")).await.unwrap(),
        LinkOutcome::Stale
    );
    assert!(
        store
            .user_by_legacy("shop", "s-10")
            .await
            .unwrap()
            .is_none()
    );

    // A merge that takes another user's username writes nothing.
    let other = newcomer("bo@example.com", "bo");
    store.register_user(&other).await.unwrap();
    let mut taken = link_of(&linked, "s-11");
    taken.user.username = Some(Username::parse("Bo").unwrap());
    assert_eq!(
        store.link_user(&taken).await.unwrap(),
        LinkOutcome::IdentifierTaken {
            field: "username",
            holder: other.id
        }
    );
    // A login-time link replaces the credential with the password just proved.
    let mut proved = link_of(&linked, "s-12");
    proved.user.credential = Some(argon("proved"));
    proved.replace_credential = true;
    proved.method = Method::Lazy;
    assert_eq!(
        store.link_user(&proved).await.unwrap(),
        LinkOutcome::Linked(stored.id)
    );
    let after = store.user(stored.id).await.unwrap().unwrap();
    assert_eq!(after.credential, Some(argon("proved")));
    assert_eq!(
        ctx.raw
            .rows("SELECT method FROM ledger WHERE legacy_id = 's-12'")
            .await,
        vec![vec![Some("lazy".to_owned())]]
    );
    assert_eq!(store.counts().await.unwrap().linked_users, 1);

    // Credentials are not covered by `updated_at`: a password set after the read makes the
    // link stale (an older record, so the merge leaves `updated_at` as it was).
    let current = store.user(stored.id).await.unwrap().unwrap();
    let mut late = link_of(&current, "s-13");
    late.user.updated_at = current.updated_at;
    assert!(
        store
            .replace_credential(stored.id, &argon("proved").hash, &argon("changed"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.user(stored.id).await.unwrap().unwrap().updated_at,
        current.updated_at
    );
    assert_eq!(store.link_user(&late).await.unwrap(), LinkOutcome::Stale);
    // Two links merged from one read: the second is stale although neither record is newer.
    let current = store.user(stored.id).await.unwrap().unwrap();
    let mut first = link_of(&current, "s-14");
    first.user.updated_at = current.updated_at;
    let mut second = link_of(&current, "s-15");
    second.user.updated_at = current.updated_at;
    assert_eq!(
        store.link_user(&first).await.unwrap(),
        LinkOutcome::Linked(stored.id)
    );
    assert_eq!(store.link_user(&second).await.unwrap(), LinkOutcome::Stale);

    // The address index: who holds which normalized address.
    let mut holders = store
        .email_holders(&[
            "ann@example.com".into(),
            "bo@example.com".into(),
            "nobody@example.com".into(),
        ])
        .await
        .unwrap();
    holders.sort();
    assert_eq!(
        holders,
        vec![
            ("ann@example.com".to_owned(), stored.id),
            ("bo@example.com".to_owned(), other.id)
        ]
    );
    assert!(store.email_holders(&[]).await.unwrap().is_empty());

    // A chunk's links count into its checkpoint.
    let mut c2 = chunk(1, vec![], vec![]);
    c2.linked = 3;
    c2.done = true;
    let outcome = store.write_chunk(&c2).await.unwrap();
    assert_eq!(outcome.linked, 3);
    let cp = store
        .checkpoint(crate::data::JOB, SOURCE, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cp.counters.linked, 3);
}

/// A chunk of a second source (`shop`) with `[link]`: the records whose address a user of the
/// first source holds are linked in the chunk's own transaction, or quarantined with the rule
/// that refused them; a second record of `shop` with the same address is a duplicate, not a
/// second link; new addresses are inserted as usual. Running the chunk again changes nothing.
pub async fn a_chunk_links_a_second_source_in_its_own_transaction(ctx: Ctx) {
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    // Keys are even (verified addresses) unless said otherwise.
    let mut c = chunk(
        0,
        vec![
            user(2, "ann@example.com", "ann"),
            user(4, "cy@example.com", "cy"),
            user(6, "dee@example.com", "dee"),
        ],
        vec![],
    );
    c.done = true;
    store.write_chunk(&c).await.unwrap();
    let ann = user_of_record(store, SOURCE, "2").await;
    let dee = user_of_record(store, SOURCE, "6").await;
    let bo = newcomer("bo@example.com", "bo");
    store.register_user(&bo).await.unwrap();

    let config = usher_core::LinkConfig {
        fields: BTreeMap::from([("username".to_owned(), usher_core::link::Rule::Incoming)]),
        ..Default::default()
    };
    let shop = |key: i64, email: &str, username: &str| {
        let mut u = user(key, email, username);
        u.key = usher_core::LegacyKey::Text(format!("s-{key}"));
        u
    };
    let mut s = chunk(
        0,
        vec![
            shop(10, "Ann@Example.com", "annshop"),
            shop(11, "cy@example.com", "cyshop"),
            shop(12, "ann@example.com", "ann2"),
            shop(14, "new@example.com", "newbie"),
            shop(16, "dee@example.com", "bo"),
        ],
        vec![],
    );
    s.source = "shop".into();
    s.done = true;
    s.link = Some(Arc::new(config));
    let outcome = store.write_chunk(&s).await.unwrap();
    assert_eq!(
        (outcome.linked, outcome.migrated, outcome.quarantined),
        (1, 1, 3),
        "{outcome:?}"
    );

    let linked = user_of_record(store, "shop", "s-10").await;
    assert_eq!(linked.id, ann.id);
    assert_eq!(
        linked.username.as_ref().map(|u| u.as_str()),
        Some("annshop")
    );
    assert_eq!(linked.legacy_links.len(), 2);
    let events = events_of(store, "user.linked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject, "shop/s-10");
    assert_eq!(events[0].detail["user_id"], json!(ann.id));
    assert!(
        store
            .user_by_legacy("shop", "s-14")
            .await
            .unwrap()
            .is_some()
    );
    // Dee was not touched: her link would have taken Bo's username.
    assert_eq!(store.user(dee.id).await.unwrap().unwrap(), dee);

    let reasons = || async {
        ctx.raw
            .rows(
                "SELECT legacy_id, reason FROM quarantine WHERE source = 'shop' \
                 ORDER BY legacy_id",
            )
            .await
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect::<Vec<_>>()
    };
    let found = reasons().await;
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["s-11", "s-12", "s-16"]);
    assert!(
        found[0]
            .1
            .contains("not linked: the address is not verified in the linked record"),
        "{found:?}"
    );
    assert!(found[1].1.starts_with("duplicate email"), "{found:?}");
    assert!(
        found[2]
            .1
            .contains(&format!("the merged username belongs to user {}", bo.id)),
        "{found:?}"
    );
    let cp = store
        .checkpoint(crate::data::JOB, "shop", 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cp.counters.linked, 1);

    // Again: the link and the insert are in the ledger, the refusals stay refused.
    let users_before = count(&ctx.raw, "users").await;
    let again = store.write_chunk(&s).await.unwrap();
    assert_eq!(
        (again.linked, again.skipped, again.quarantined),
        (0, 2, 3),
        "{again:?}"
    );
    assert_eq!(count(&ctx.raw, "users").await, users_before);
    assert_eq!(events_of(store, "user.linked").await.len(), 1);
    assert_eq!(reasons().await, found);
}

/// Logins linking records of a second source (`link_user`, as the bridge does, re-reading the
/// holder when its merge went stale) race a chunk of the same records linking them in its own
/// transaction, from a second process: every record ends linked once, to its holder, by one
/// side or the other; nothing is quarantined, no user is added, and each link has one event.
pub async fn logins_racing_a_linking_chunk_link_each_record_once(ctx: Ctx) {
    use usher_store::LinkOutcome;
    ctx.store.migrate().await.unwrap();
    const N: i64 = 40;
    // Even keys: addresses verified on both sides.
    let keys: Vec<i64> = (0..N).map(|k| k * 2).collect();
    let email = |k: i64| format!("race{k}@example.com");
    let mut first = chunk(
        0,
        keys.iter()
            .map(|&k| user(k, &email(k), &format!("race{k}")))
            .collect(),
        vec![],
    );
    first.done = true;
    ctx.store.write_chunk(&first).await.unwrap();
    let config = Arc::new(usher_core::LinkConfig::default());
    let shop_user = |k: i64| {
        let mut u = user(k, &email(k), &format!("race{k}"));
        u.key = usher_core::LegacyKey::Text(format!("s-{k}"));
        u
    };
    let mut shop = chunk(0, keys.iter().map(|&k| shop_user(k)).collect(), vec![]);
    shop.source = "shop".into();
    shop.done = true;
    shop.link = Some(config.clone());

    let logins: Vec<_> = keys
        .iter()
        .map(|&k| {
            let store = ctx.other.clone();
            let config = config.clone();
            let cu = shop_user(k);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(u64::try_from(k).unwrap())).await;
                loop {
                    let holder = user_of_record(&*store, SOURCE, &k.to_string()).await;
                    let usher_core::LinkDecision::Link {
                        user,
                        replace_credential,
                    } = config.decide(&holder, &cu.user, "shop", None)
                    else {
                        // The chunk linked it first: the holder has a record of shop now.
                        return (k, None);
                    };
                    let link = usher_store::LinkWrite {
                        source: "shop".into(),
                        key: cu.key.clone(),
                        user: *user,
                        expected_updated_at: holder.updated_at,
                        replace_credential,
                        expected_credential: holder.credential.as_ref().map(|c| c.hash.clone()),
                        original: json!({"id": format!("s-{k}")}),
                        checksum: cu.checksum.clone(),
                        legacy_updated_at: None,
                        method: Method::Lazy,
                        system_of_record: SystemOfRecord::New,
                        outbox: Vec::new(),
                    };
                    match store.link_user(&link).await.unwrap() {
                        LinkOutcome::Stale => continue,
                        outcome => return (k, Some(outcome)),
                    }
                }
            })
        })
        .collect();
    let chunk_task = tokio::spawn({
        let store = ctx.store.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            store.write_chunk(&shop).await.unwrap()
        }
    });
    let mut by_login = 0u64;
    for l in logins {
        let (k, outcome) = l.await.unwrap();
        let holder = user_of_record(&*ctx.store, SOURCE, &k.to_string()).await;
        match outcome {
            Some(LinkOutcome::Linked(id)) => {
                assert_eq!(id, holder.id);
                by_login += 1;
            }
            Some(LinkOutcome::AlreadyLinked(id))
            | Some(LinkOutcome::IdentifierTaken { holder: id, .. }) => {
                assert_eq!(id, holder.id, "record {k}");
            }
            None => {}
            Some(other) => panic!("record {k}: {other:?}"),
        }
    }
    let outcome = chunk_task.await.unwrap();
    assert_eq!(
        outcome.linked + outcome.skipped,
        u64::try_from(N).unwrap(),
        "{outcome:?}"
    );
    assert_eq!(outcome.quarantined, 0, "{outcome:?}");
    assert_eq!(outcome.linked + by_login, u64::try_from(N).unwrap());
    for &k in &keys {
        let holder = user_of_record(&*ctx.store, SOURCE, &k.to_string()).await;
        let linked = user_of_record(&*ctx.store, "shop", &format!("s-{k}")).await;
        assert_eq!(linked.id, holder.id, "record s-{k}");
    }
    assert_eq!(count(&ctx.raw, "users").await, N);
    assert_eq!(count(&ctx.raw, "quarantine").await, 0);
    assert_eq!(
        events_of(&*ctx.store, "user.linked").await.len(),
        usize::try_from(N).unwrap()
    );
}

/// The write owed to legacy for a migration or a link.
fn owed(user: UserId, key: &str) -> usher_store::NewOutbox {
    usher_store::NewOutbox {
        user,
        kind: "mark_migrated".into(),
        destination: format!("legacy:{SOURCE}"),
        payload: json!({"op": "mark_migrated", "key": key}),
        idempotency_key: format!("mark_migrated:{SOURCE}:{key}"),
    }
}

pub async fn the_outbox_rows_of_a_migration_or_link_commit_with_it_or_not_at_all(ctx: Ctx) {
    use usher_store::LinkOutcome;
    let store = &*ctx.store;
    store.migrate().await.unwrap();
    let keys = |rows: Vec<usher_store::OutboxRow>| {
        rows.into_iter()
            .map(|r| (r.user, r.idempotency_key))
            .collect::<Vec<_>>()
    };

    let mut first = lazy(1, "ann@example.com", "ann");
    let ann = first.user.id;
    first.outbox = vec![owed(ann, "1")];
    assert_eq!(
        store.migrate_user(&first).await.unwrap(),
        MigrateOutcome::Migrated(ann)
    );
    // Written with the migration, once: the same login again writes nothing more.
    assert_eq!(
        store.migrate_user(&first).await.unwrap(),
        MigrateOutcome::AlreadyMigrated(ann)
    );
    let expected = vec![(ann, format!("mark_migrated:{SOURCE}:1"))];
    assert_eq!(keys(store.outbox(None, 10).await.unwrap()), expected);

    // A migration refused (the address is Ann's) writes no outbox row either.
    let mut taken = lazy(2, "ANN@example.com", "other");
    taken.outbox = vec![owed(taken.user.id, "2")];
    assert!(matches!(
        store.migrate_user(&taken).await.unwrap(),
        MigrateOutcome::IdentifierTaken { .. }
    ));
    // Nor does a value the store cannot hold: the whole write is refused.
    let mut bad = lazy(3, "nul@example.com", "nul");
    bad.user.profile.name = Some("a\0b".into());
    bad.outbox = vec![owed(bad.user.id, "3")];
    assert!(store.migrate_user(&bad).await.is_err());
    assert_eq!(keys(store.outbox(None, 10).await.unwrap()), expected);

    // A link writes its own; a stale one (the user changed since it was read) writes none.
    let stored = store.user(ann).await.unwrap().unwrap();
    let mut link = link_of(&stored, "s-1");
    link.outbox = vec![owed(ann, "s-1")];
    let mut stale = link.clone();
    stale.expected_updated_at = at(1);
    assert_eq!(store.link_user(&stale).await.unwrap(), LinkOutcome::Stale);
    assert_eq!(store.outbox_stats().await.unwrap().pending, 1);
    assert_eq!(
        store.link_user(&link).await.unwrap(),
        LinkOutcome::Linked(ann)
    );
    let mut both = expected;
    both.push((ann, format!("mark_migrated:{SOURCE}:s-1")));
    assert_eq!(keys(store.outbox(None, 10).await.unwrap()), both);
}
