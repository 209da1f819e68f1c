//! The store suite, written once against `dyn Store` and run on SQLite and PostgreSQL.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::TryStreamExt as _;
use serde_json::json;
use usher_core::{Credential, Email, KeyRange, LegacyKey, Method, User, Username};
use usher_hash::Scheme;
use usher_store::{
    ChunkOutcome, ChunkUser, ConflictPolicy, Counters, QuarantineEntry, QuarantineFilter, Rejected,
    Store, StoreError,
};

use crate::data::{JOB, SOURCE, at, bare, chunk, rejected, user, users};
pub use crate::leases::{
    a_lease_is_held_by_one_holder_until_it_expires_or_is_given_back,
    two_workers_of_one_job_take_turns_through_the_lease,
};
pub use crate::outbox::{
    the_outbox_delivers_each_user_s_rows_in_order_at_least_once,
    two_processes_claiming_at_once_never_share_a_row,
};
pub use crate::reconcile::{
    reconciliation_runs_are_kept_newest_first, the_users_of_a_chunk_of_records_come_in_one_read,
};
pub use crate::targets::a_target_takes_a_user_once;
pub use crate::users::users_page_through_in_id_order_with_their_links;

async fn ready(store: &dyn Store) {
    store.migrate().await.unwrap();
}

/// The reason the mapping gives a record whose address has no `@`.
const NO_AT: &str = "field `email` has no @";

fn all() -> QuarantineFilter {
    QuarantineFilter::default()
}

/// Writes `partition`'s chunk of `users` and `rejected`.
async fn write(
    store: &dyn Store,
    partition: u32,
    users: Vec<ChunkUser>,
    rejected: Vec<Rejected>,
) -> ChunkOutcome {
    store
        .write_chunk(&chunk(partition, users, rejected))
        .await
        .unwrap()
}

/// Writes `partition`'s chunk of a full [`user`] for each (key, email, username).
async fn write_users(
    store: &dyn Store,
    partition: u32,
    users: &[(i64, &str, &str)],
) -> ChunkOutcome {
    let users = users
        .iter()
        .map(|&(key, email, name)| user(key, email, name));
    write(store, partition, users.collect(), vec![]).await
}

/// The first `limit` quarantine entries, of every source.
async fn quarantined(store: &dyn Store, limit: u32) -> Vec<QuarantineEntry> {
    store.quarantine_list(&all(), limit, 0).await.unwrap()
}

/// The quarantine entry of `legacy_id`, among the first ten, which must be there.
async fn quarantine_entry(store: &dyn Store, legacy_id: &str) -> QuarantineEntry {
    let entries = quarantined(store, 10).await;
    entries
        .into_iter()
        .find(|e| e.legacy_id == legacy_id)
        .unwrap()
}

/// The first `limit` quarantine entries' reasons and fields, by legacy id.
async fn quarantine_reasons(
    store: &dyn Store,
    limit: u32,
) -> BTreeMap<String, (String, Option<String>)> {
    let entries = quarantined(store, limit).await.into_iter();
    entries
        .map(|e| (e.legacy_id.as_str().to_owned(), (e.reason, e.field)))
        .collect()
}

/// The user holding `email`, who must exist.
async fn holding(store: &dyn Store, email: &str) -> User {
    store.user_by_email(email).await.unwrap().unwrap()
}

pub async fn migrating_twice_is_a_no_op(store: &dyn Store) {
    assert_eq!(store.schema_version().await.unwrap(), None);
    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), Some(8));
    write(store, 0, users(1, 4), vec![]).await;
    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), Some(8));
    assert_eq!(store.counts().await.unwrap().users, 3);
}

pub async fn a_replayed_chunk_writes_nothing_twice(store: &dyn Store) {
    ready(store).await;
    let c = chunk(0, users(1, 51), vec![rejected(51, NO_AT)]);
    let first = store.write_chunk(&c).await.unwrap();
    assert_eq!(
        first,
        ChunkOutcome {
            migrated: 50,
            skipped: 0,
            updated: 0,
            quarantined: 1,
            linked: 0,
            retries: 0
        }
    );
    let again = store.write_chunk(&c).await.unwrap();
    assert_eq!(
        again,
        ChunkOutcome {
            migrated: 0,
            skipped: 50,
            updated: 0,
            quarantined: 1,
            linked: 0,
            retries: 0
        }
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.users, 50);
    assert_eq!(counts.by_source, BTreeMap::from([(SOURCE.to_string(), 50)]));
    assert_eq!(counts.by_method, BTreeMap::from([("bulk".to_string(), 50)]));
    assert_eq!(counts.quarantined, 1);
    let ledger: Vec<_> = store
        .ledger_entries(SOURCE, 1000)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ledger.len(), 50);
    let q = quarantined(store, 10).await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].attempts, 2);
    // Every user is there once, with its own id.
    for cu in &c.users {
        let u = store
            .user_by_legacy(SOURCE, &cu.key.to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(u.id, cu.user.id);
    }
}

pub async fn quarantine_is_replaced_on_rerun_and_cleared_once_the_record_migrates(
    store: &dyn Store,
) {
    ready(store).await;
    write(store, 0, users(1, 5), vec![rejected(5, NO_AT)]).await;
    let first = quarantined(store, 10).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].legacy_id, "5");
    assert_eq!(first[0].reason, NO_AT);
    assert_eq!(first[0].field.as_deref(), Some("email"));
    assert_eq!(first[0].record, json!({"id": 5, "email": "not-an-email"}));
    assert_eq!(first[0].attempts, 1);

    // A re-run meets the record again with another reason: one entry, the new reason.
    let mut again = rejected(5, "field `email` has an invalid domain");
    again.field = Some("email".into());
    write(store, 0, users(1, 5), vec![again]).await;
    let second = quarantined(store, 10).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].reason, "field `email` has an invalid domain");
    assert_eq!(second[0].attempts, 2);
    assert_eq!(second[0].first_seen, first[0].first_seen);
    assert!(second[0].last_seen >= first[0].last_seen);

    // Fixed at the source: the record migrates and leaves the quarantine.
    let outcome = write(store, 0, users(1, 6), vec![]).await;
    assert_eq!(outcome.migrated, 1);
    assert_eq!(outcome.skipped, 4);
    assert_eq!(store.quarantine_count(&all()).await.unwrap(), 0);
    assert!(store.user_by_legacy(SOURCE, "5").await.unwrap().is_some());
}

pub async fn case_only_duplicates_keep_one_user_and_quarantine_the_other(store: &dyn Store) {
    ready(store).await;
    // Within one chunk, in key order: 17 wins, 18 is quarantined naming 17.
    let outcome = write_users(
        store,
        0,
        &[
            (17, "Ann@Example.com", "ann"),
            (18, "ann@example.COM", "ann-2"),
            (40, "bob@example.com", "Bob"),
            (41, "bob2@example.com", "bob"),
        ],
    )
    .await;
    assert_eq!(outcome.migrated, 2);
    assert_eq!(outcome.quarantined, 2);
    let winner = holding(store, "ann@example.com").await;
    assert_eq!(winner.email.as_ref().unwrap().as_str(), "Ann@Example.com");
    assert_eq!(winner.legacy_links[0].legacy_id.as_str(), "17");
    let q = quarantined(store, 10).await;
    let reasons: BTreeMap<_, _> = q
        .iter()
        .map(|e| {
            (
                e.legacy_id.as_str(),
                (e.reason.as_str(), e.field.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([
            (
                "18",
                (
                    "duplicate email: same address as legacy id 17 (source legacy)",
                    Some("email")
                )
            ),
            (
                "41",
                (
                    "duplicate username: same username as legacy id 40 (source legacy)",
                    Some("username")
                )
            ),
        ])
    );
    // The quarantined record is kept as read.
    let e18 = q.iter().find(|e| e.legacy_id == "18").unwrap();
    assert_eq!(e18.record["email"], json!("ann@example.COM"));

    // Against an existing user, in a later chunk: quarantined naming the holder.
    // And a record that shares a username only with a record refused for its email is not
    // blocked by it: 31 migrates although 30 (refused) had the same username.
    let outcome = write_users(
        store,
        0,
        &[
            (30, "ANN@example.com", "carol"),
            (31, "carol@example.com", "Carol"),
        ],
    )
    .await;
    assert_eq!(outcome.migrated, 1, "{outcome:?}");
    assert_eq!(outcome.quarantined, 1);
    let e30 = quarantine_entry(store, "30").await;
    assert_eq!(
        e30.reason,
        "duplicate email: same address as legacy id 17 (source legacy)"
    );
    let carol = store.user_by_username("carol").await.unwrap().unwrap();
    assert_eq!(carol.legacy_links[0].legacy_id.as_str(), "31");
    assert_eq!(store.counts().await.unwrap().users, 3);
}

/// Partitions write in no particular order, but the lowest key wins an address: a record
/// refused because a higher key of its source took the address first takes it back, as long as
/// that user is still exactly as the bulk migration wrote it. A user changed since (its
/// password re-hashed at a login) keeps it, and so does a user migrated at login.
pub async fn a_lower_key_takes_an_address_back_from_an_untouched_higher_one(store: &dyn Store) {
    ready(store).await;
    let first = write_users(
        store,
        1,
        &[
            (2000, "ann@example.com", "ann2000"),
            (2001, "dee@example.com", "dee2001"),
            (2002, "fay@example.com", "fay2002"),
        ],
    )
    .await;
    assert_eq!(first.migrated, 3);
    let dee = holding(store, "dee@example.com").await;
    let old = dee.credential.clone().unwrap();
    let rehashed = Credential {
        hash:
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        scheme: Scheme::Argon2id,
    };
    assert!(
        store
            .replace_credential(dee.id, &old.hash, &rehashed)
            .await
            .unwrap()
    );
    let lazy = crate::bridge::lazy(3000, "gus@example.com", "gus3000");
    store.migrate_user(&lazy).await.unwrap();

    let second = write_users(
        store,
        0,
        &[
            (5, "ANN@example.com", "ann5"),
            (6, "Dee@Example.com", "dee6"),
            (7, "gus@EXAMPLE.com", "gus7"),
        ],
    )
    .await;
    assert_eq!((second.migrated, second.quarantined), (1, 2), "{second:?}");
    let ann = holding(store, "ann@example.com").await;
    assert_eq!(ann.legacy_links[0].legacy_id.as_str(), "5");
    assert!(
        store
            .user_by_legacy(SOURCE, "2000")
            .await
            .unwrap()
            .is_none()
    );
    let holder = |email: &'static str| async move {
        let u = store.user_by_email(email).await.unwrap().unwrap();
        u.legacy_links[0].legacy_id.as_str().to_owned()
    };
    assert_eq!(
        holder("dee@example.com").await,
        "2001",
        "a re-hashed user keeps its address"
    );
    assert_eq!(
        holder("gus@example.com").await,
        "3000",
        "a login's user keeps its address"
    );
    assert_eq!(holder("fay@example.com").await, "2002");

    let reasons = quarantine_reasons(store, 10).await;
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    let (why, field) = &reasons["2000"];
    assert!(
        why.starts_with("duplicate email: same address as legacy id 5 (source legacy)"),
        "{why}"
    );
    assert_eq!(field.as_deref(), Some("email"));
    assert_eq!(
        reasons["6"].0,
        format!("duplicate email: same address as legacy id 2001 (source {SOURCE})")
    );
    assert_eq!(
        reasons["7"].0,
        format!("duplicate email: same address as legacy id 3000 (source {SOURCE})")
    );
    // The displaced record is kept as read, without its password fields, like any other.
    let e2000 = quarantine_entry(store, "2000").await;
    assert_eq!(e2000.record["email"], json!("ann@example.com"));

    // Nothing half: every record is a user or in the quarantine, once.
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.users, counts.quarantined), (4, 3), "{counts:?}");
    // The displacing chunk's partition counts the user that gave way.
    let cp = store.checkpoint(JOB, SOURCE, 0).await.unwrap().unwrap();
    assert_eq!(cp.counters.displaced, 1, "{:?}", cp.counters);
    assert_eq!(cp.counters.quarantined, 3, "{:?}", cp.counters);
    let standing: u64 = store
        .checkpoints(JOB, SOURCE)
        .await
        .unwrap()
        .iter()
        .map(|c| c.counters.migrated_now())
        .sum();
    assert_eq!(
        standing, 3,
        "the backfill's users standing: all but the login's"
    );
    let events = store.events(0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "user.displaced" && e.subject == "legacy/2000"),
        "{events:?}"
    );
    // A replay changes nothing.
    let again = write_users(store, 0, &[(5, "ANN@example.com", "ann5")]).await;
    assert_eq!((again.migrated, again.skipped), (0, 1));
}

pub async fn legacy_newer_records_update_users_in_place(store: &dyn Store) {
    ready(store).await;
    let original = user(7, "dee@example.com", "dee");
    let other = user(8, "eve@example.com", "eve");
    write(store, 0, vec![original.clone(), other.clone()], vec![]).await;

    // The record changed in legacy after it was migrated.
    let mut changed = user(7, "Dee.New@example.com", "dee");
    changed.user.profile.name = Some("Dee Renamed".into());
    changed.user.updated_at = at(1000);
    changed.user.credential = Some(Credential {
        hash: "$2b$10$zyxwvutsrqponmlkjihgfeu5wKfE3fWc0lWlO8bB3Qy7p2rWn8mC6".into(),
        scheme: Scheme::Bcrypt,
    });
    changed.checksum = "changed".into();
    changed.legacy_updated_at = Some(at(1000));

    // The default policy leaves migrated users alone.
    let skip = write(store, 0, vec![changed.clone()], vec![]).await;
    assert_eq!((skip.skipped, skip.updated), (1, 0));

    let mut c = chunk(0, vec![changed.clone()], vec![]);
    c.policy = ConflictPolicy::LegacyNewer;
    let outcome = store.write_chunk(&c).await.unwrap();
    assert_eq!(
        (outcome.updated, outcome.skipped, outcome.migrated),
        (1, 0, 0)
    );
    let u = store.user_by_legacy(SOURCE, "7").await.unwrap().unwrap();
    assert_eq!(u.id, original.user.id, "updated in place, same id");
    assert_eq!(u.profile.name.as_deref(), Some("Dee Renamed"));
    assert_eq!(u.email.as_ref().unwrap().as_str(), "Dee.New@example.com");
    assert_eq!(u.updated_at, at(1000));
    assert_eq!(u.credential, changed.user.credential);
    assert!(
        store
            .user_by_email("dee@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(holding(store, "dee.new@example.com").await.id, u.id);
    let entry = store
        .ledger_entries(SOURCE, 10)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.legacy_id.as_str() == "7")
        .unwrap();
    assert_eq!(entry.record_checksum, "changed");

    // The same record again: the checksum matches, nothing to do.
    let again = store.write_chunk(&c).await.unwrap();
    assert_eq!((again.updated, again.skipped), (0, 1));

    // An older legacy change never overwrites a newer user.
    let mut older = changed.clone();
    older.checksum = "older".into();
    older.legacy_updated_at = Some(at(500));
    let mut c = chunk(0, vec![older], vec![]);
    c.policy = ConflictPolicy::LegacyNewer;
    let outcome = store.write_chunk(&c).await.unwrap();
    assert_eq!((outcome.updated, outcome.skipped), (0, 1));

    // An update may not take another user's address: quarantined, the user left as it was.
    let mut grab = changed.clone();
    grab.user.email = Some(Email::parse("EVE@example.com").unwrap());
    grab.checksum = "grab".into();
    grab.legacy_updated_at = Some(at(2000));
    grab.user.updated_at = at(2000);
    let mut c = chunk(0, vec![grab], vec![]);
    c.policy = ConflictPolicy::LegacyNewer;
    let outcome = store.write_chunk(&c).await.unwrap();
    assert_eq!((outcome.updated, outcome.quarantined), (0, 1));
    let q = quarantined(store, 10).await;
    assert_eq!(
        q[0].reason,
        "duplicate email: same address as legacy id 8 (source legacy)"
    );
    let still = store.user_by_legacy(SOURCE, "7").await.unwrap().unwrap();
    assert_eq!(still, u);
}

pub async fn checkpoints_resume_where_the_last_chunk_ended(store: &dyn Store) {
    ready(store).await;
    assert!(store.checkpoint(JOB, SOURCE, 0).await.unwrap().is_none());
    write(store, 0, users(1, 11), vec![rejected(11, "bad")]).await;
    write(store, 1, users(1001, 1006), vec![]).await;
    let mut second = chunk(0, users(12, 20), vec![]);
    second.done = true;
    store.write_chunk(&second).await.unwrap();

    let p0 = store.checkpoint(JOB, SOURCE, 0).await.unwrap().unwrap();
    assert_eq!(p0.cursor, Some(LegacyKey::Int(19)));
    assert!(p0.done);
    assert_eq!(
        p0.counters,
        Counters {
            read: 19,
            migrated: 18,
            skipped: 0,
            updated: 0,
            quarantined: 1,
            linked: 0,
            displaced: 0
        }
    );
    // A chunk without a cursor (nothing read) keeps the stored one.
    let mut empty = chunk(1, vec![], vec![]);
    empty.done = true;
    store.write_chunk(&empty).await.unwrap();
    let all_parts = store.checkpoints(JOB, SOURCE).await.unwrap();
    assert_eq!(all_parts.len(), 2);
    assert_eq!(all_parts[0].partition, 0);
    assert_eq!(all_parts[1].partition, 1);
    assert_eq!(all_parts[1].cursor, Some(LegacyKey::Int(1005)));
    assert!(all_parts[1].done);
    assert_eq!(all_parts[1].counters.migrated, 5);

    // Text keys survive the round trip; other jobs and sources are separate.
    let mut text = usher_store::ChunkWrite::new("sync", "ldap", 3);
    text.cursor = Some(LegacyKey::Text("uid=zoë,ou=people".into()));
    store.write_chunk(&text).await.unwrap();
    let t = store.checkpoint("sync", "ldap", 3).await.unwrap().unwrap();
    assert_eq!(t.cursor, text.cursor);
    assert!(!t.done);
    assert_eq!(store.checkpoints(JOB, "ldap").await.unwrap().len(), 0);
}

pub async fn users_read_back_equal_what_was_written(store: &dyn Store) {
    ready(store).await;
    let full = user(42, "Zoë.Ünïcode@Exämple.com", "Zoë_42");
    let mut nanos = user(43, "nanos@example.com", "nanos");
    nanos.user.created_at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    let plain = bare(44);
    let mut c = chunk(0, vec![full.clone(), nanos.clone(), plain.clone()], vec![]);
    c.method = Method::Sync;
    let outcome = store.write_chunk(&c).await.unwrap();
    assert_eq!(outcome.migrated, 3);

    let by_id = store.user(full.user.id).await.unwrap().unwrap();
    assert_eq!(by_id, full.user);
    assert_eq!(
        store.user_by_legacy(SOURCE, "42").await.unwrap().unwrap(),
        full.user
    );
    let email = full.user.email.as_ref().map(Email::normalized).unwrap();
    assert_eq!(
        store.user_by_email(&email).await.unwrap().unwrap(),
        full.user
    );
    let username = full
        .user
        .username
        .as_ref()
        .map(Username::normalized)
        .unwrap();
    assert_eq!(
        store.user_by_username(&username).await.unwrap().unwrap(),
        full.user
    );

    // Instants are kept to the microsecond.
    let n = store.user(nanos.user.id).await.unwrap().unwrap();
    assert_eq!(n.created_at.timestamp_subsec_nanos(), 123_456_000);

    // A user with nothing optional: no migration record, so the chunk's method goes to the
    // ledger and the user counts under `none`.
    let p = store.user(plain.user.id).await.unwrap().unwrap();
    assert_eq!(p, plain.user);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.by_method,
        BTreeMap::from([("bulk".to_string(), 2), ("none".to_string(), 1)])
    );

    assert!(
        store
            .user(usher_core::UserId::new())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_by_legacy(SOURCE, "404").await.unwrap().is_none());
    assert!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_by_username("nobody").await.unwrap().is_none());
}

pub async fn values_no_backend_can_hold_are_quarantined_not_fatal(store: &dyn Store) {
    ready(store).await;
    let mut nul = user(1, "nul@example.com", "nul");
    nul.user.profile.nickname = Some("bad\0nick".into());
    let mut rej = rejected(3, NO_AT);
    rej.record = json!({"email": "a\u{0}b"});
    let outcome = write(
        store,
        0,
        vec![nul, user(2, "ok@example.com", "ok")],
        vec![rej],
    )
    .await;
    assert_eq!((outcome.migrated, outcome.quarantined), (1, 2));
    let q = quarantined(store, 10).await;
    assert_eq!(q[0].legacy_id, "1");
    assert_eq!(q[0].field.as_deref(), Some("nickname"));
    assert!(q[0].reason.contains("NUL"), "{}", q[0].reason);
    assert_eq!(q[1].record, json!({"email": "a\u{2400}b"}));
}

pub async fn a_malformed_chunk_writes_nothing(store: &dyn Store) {
    ready(store).await;
    let mut twice = users(1, 3);
    twice.push(user(1, "again@example.com", "again"));
    let err = store
        .write_chunk(&chunk(0, twice, vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("legacy id 1 appears twice"),
        "{err}"
    );
    let mut same_id = users(1, 3);
    same_id[1].user.id = same_id[0].user.id;
    assert!(store.write_chunk(&chunk(0, same_id, vec![])).await.is_err());
    assert_eq!(store.counts().await.unwrap().users, 0);
    assert!(store.checkpoint(JOB, SOURCE, 0).await.unwrap().is_none());
}

pub async fn the_quarantine_lists_pages_streams_and_counts(store: &dyn Store) {
    ready(store).await;
    let rejects: Vec<_> = (1..=25)
        .map(|k| rejected(k, &format!("reason {k}")))
        .collect();
    write(store, 0, vec![], rejects).await;
    let mut other = usher_store::ChunkWrite::new(JOB, "zz-other", 0);
    other.rejected = (1..=3).map(|k| rejected(k, "other")).collect();
    store.write_chunk(&other).await.unwrap();

    assert_eq!(store.quarantine_count(&all()).await.unwrap(), 28);
    let legacy = QuarantineFilter {
        source: Some(SOURCE.into()),
    };
    assert_eq!(store.quarantine_count(&legacy).await.unwrap(), 25);
    let page = store.quarantine_list(&legacy, 5, 10).await.unwrap();
    let ids: Vec<_> = page.iter().map(|e| e.legacy_id.as_str()).collect();
    // Legacy ids order bytewise.
    let mut expected: Vec<String> = (1..=25).map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(
        ids,
        expected[10..15]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );

    let streamed: Vec<_> = store
        .quarantine_entries(&all(), 7)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 28);
    let keys: Vec<_> = streamed
        .iter()
        .map(|e| (e.source.clone(), e.legacy_id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 28);
    let only: Vec<_> = store
        .quarantine_entries(&legacy, 25)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(only.len(), 25);
}

pub async fn the_ledger_streams_in_legacy_id_order(store: &dyn Store) {
    ready(store).await;
    let written = users(1, 31);
    write(store, 0, written.clone(), vec![]).await;
    let entries: Vec<_> = store.ledger_entries(SOURCE, 7).try_collect().await.unwrap();
    assert_eq!(entries.len(), 30);
    let ids: Vec<&str> = entries.iter().map(|e| e.legacy_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    for e in &entries {
        let w = written
            .iter()
            .find(|u| u.key.to_string() == e.legacy_id.as_str())
            .unwrap();
        assert_eq!(e.user_id, w.user.id);
        assert_eq!(e.record_checksum, w.checksum);
    }
    assert!(
        store
            .ledger_entries("nobody", 7)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn events_append_and_read_in_order(store: &dyn Store) {
    ready(store).await;
    let a = store
        .record_event(
            "phase.changed",
            "migration",
            &json!({"from": "prepare", "to": "shadow"}),
        )
        .await
        .unwrap();
    let b = store
        .record_event("backfill.finished", "legacy", &json!({"migrated": 3}))
        .await
        .unwrap();
    assert!(b > a);
    let events = store.events(0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, "phase.changed");
    assert_eq!(events[0].detail["to"], json!("shadow"));
    assert_eq!(events[1].subject, "legacy");
    assert_eq!(store.events(a, 10).await.unwrap().len(), 1);
}

/// Two writers (two pools, like two processes) write interleaved chunks of two partitions
/// whose records collide case-only on email across partitions. Every record must end up as
/// exactly one user or one quarantine entry naming the other record.
pub async fn concurrent_writers_with_colliding_emails_lose_nothing(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    a.migrate().await.unwrap();
    b.migrate().await.unwrap();
    const ROUNDS: i64 = 6;
    const PER_CHUNK: i64 = 400;
    let make = |partition: u32, round: i64| {
        let base = i64::from(partition) * 1_000_000 + round * PER_CHUNK;
        let users: Vec<_> = (0..PER_CHUNK)
            .map(|i| {
                // Partition 1 runs through the shared addresses backwards, so the two
                // transactions also wait on each other crosswise (deadlocks, then retries).
                let shared = if partition == 0 {
                    round * PER_CHUNK + i
                } else {
                    round * PER_CHUNK + (PER_CHUNK - 1 - i)
                };
                let email = if partition == 0 {
                    format!("shared{shared}@example.com")
                } else {
                    format!("SHARED{shared}@Example.com")
                };
                user(base + i, &email, &format!("p{partition}-{}", base + i))
            })
            .collect();
        chunk(partition, users, vec![])
    };
    // Both writers start each round together, so their transactions overlap.
    let task = |store: Arc<dyn Store>, partition: u32, barrier: Arc<tokio::sync::Barrier>| {
        tokio::spawn(async move {
            let mut total = ChunkOutcome::default();
            for round in 0..ROUNDS {
                let c = make(partition, round);
                barrier.wait().await;
                let o = store.write_chunk(&c).await.unwrap();
                total.migrated += o.migrated;
                total.quarantined += o.quarantined;
                total.skipped += o.skipped;
                total.retries += o.retries;
            }
            total
        })
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (ra, rb) = tokio::join!(
        task(a.clone(), 0, barrier.clone()),
        task(b.clone(), 1, barrier.clone())
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    eprintln!("partition 0: {ra:?}\npartition 1: {rb:?}");
    let pairs = ROUNDS * PER_CHUNK;
    let total = 2 * pairs as u64;
    // Users partition 1 migrated first and then gave way to partition 0's lower keys are
    // counted by the checkpoints, not by the chunks' outcomes.
    let mut sum = Counters::default();
    for cp in a.checkpoints(JOB, SOURCE).await.unwrap() {
        sum.migrated += cp.counters.migrated;
        sum.quarantined += cp.counters.quarantined;
        sum.displaced += cp.counters.displaced;
    }
    assert_eq!(sum.migrated, ra.migrated + rb.migrated, "{sum:?}");
    assert_eq!(sum.migrated_now(), pairs as u64, "{sum:?}");
    assert_eq!(sum.quarantined, pairs as u64, "{sum:?}");
    let counts = a.counts().await.unwrap();
    assert_eq!(counts.users + counts.quarantined, total);
    assert_eq!(counts.users, pairs as u64);

    // Each pair: one user, and the other record quarantined naming the user's record.
    let q: Vec<_> = a
        .quarantine_entries(&all(), 500)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(q.len() as i64, pairs);
    for e in &q {
        let email = e.record["email"].as_str().unwrap().to_lowercase();
        let holder = a.user_by_email(&email).await.unwrap().unwrap();
        let holder_key = holder.legacy_links[0].legacy_id.as_str();
        assert_ne!(holder_key, e.legacy_id);
        // The lowest key wins, whichever partition got there first: partition 0's.
        assert!(
            holder_key.parse::<i64>().unwrap() < 1_000_000,
            "record {} holds the address of {}",
            holder_key,
            e.legacy_id
        );
        assert!(
            e.reason.starts_with(&format!(
                "duplicate email: same address as legacy id {holder_key} (source legacy)"
            )),
            "{}",
            e.reason
        );
    }
    // Replaying both partitions concurrently writes nothing new.
    let (ra, rb) = tokio::join!(
        task(a.clone(), 0, barrier.clone()),
        task(b.clone(), 1, barrier.clone())
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.migrated + rb.migrated, 0);
    assert_eq!(a.counts().await.unwrap().users, pairs as u64);
    assert_eq!(a.quarantine_count(&all()).await.unwrap() as i64, pairs);
}

pub async fn a_partition_plan_is_stored_once_and_kept(store: &dyn Store) {
    ready(store).await;
    let range = |after: Option<i64>, until: Option<i64>| KeyRange {
        after: after.map(LegacyKey::Int),
        until: until.map(LegacyKey::Int),
    };
    let plan = vec![
        (0, range(None, Some(500))),
        (1, range(Some(500), Some(1000))),
        (2, range(Some(1000), None)),
    ];
    let stored = store.plan_partitions(JOB, SOURCE, &plan).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1].cursor, Some(LegacyKey::Int(500)));
    assert_eq!(stored[1].until, Some(LegacyKey::Int(1000)));
    assert_eq!(stored[2].until, None);
    assert!(
        stored
            .iter()
            .all(|c| !c.done && c.counters == Counters::default())
    );

    // A later plan (another --concurrency) does not replace it.
    let other = vec![(0, range(None, None))];
    let again = store.plan_partitions(JOB, SOURCE, &other).await.unwrap();
    assert_eq!(again, stored);

    // Chunks move the cursor and keep the planned end.
    let mut c = chunk(1, users(501, 511), vec![]);
    c.cursor = Some(LegacyKey::Int(510));
    store.write_chunk(&c).await.unwrap();
    let p1 = store.checkpoint(JOB, SOURCE, 1).await.unwrap().unwrap();
    assert_eq!(p1.cursor, Some(LegacyKey::Int(510)));
    assert_eq!(p1.until, Some(LegacyKey::Int(1000)));
    assert_eq!(p1.counters.migrated, 10);
}

/// Two processes planning at once with different plans: one plan wins whole.
pub async fn racing_planners_never_mix_their_plans(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    a.migrate().await.unwrap();
    let range = |after: Option<i64>, until: Option<i64>| KeyRange {
        after: after.map(LegacyKey::Int),
        until: until.map(LegacyKey::Int),
    };
    for round in 0..10 {
        let job = format!("job-{round}");
        let two = vec![(0, range(None, Some(50))), (1, range(Some(50), None))];
        let four = vec![
            (0, range(None, Some(25))),
            (1, range(Some(25), Some(50))),
            (2, range(Some(50), Some(75))),
            (3, range(Some(75), None)),
        ];
        let (sa, sb) = (a.clone(), b.clone());
        let (ja, jb) = (job.clone(), job.clone());
        let (pa2, pb4) = (two.clone(), four.clone());
        let (pa, pb) = tokio::join!(
            tokio::spawn(async move { sa.plan_partitions(&ja, SOURCE, &pa2).await.unwrap() }),
            tokio::spawn(async move { sb.plan_partitions(&jb, SOURCE, &pb4).await.unwrap() }),
        );
        let (pa, pb) = (pa.unwrap(), pb.unwrap());
        assert_eq!(pa, pb, "both callers see the same stored plan");
        let stored: Vec<_> = pa
            .iter()
            .map(|c| (c.cursor.clone(), c.until.clone()))
            .collect();
        let as_stored = |plan: &[(u32, KeyRange)]| -> Vec<_> {
            plan.iter()
                .map(|(_, r)| (r.after.clone(), r.until.clone()))
                .collect()
        };
        assert!(
            stored == as_stored(&two) || stored == as_stored(&four),
            "{stored:?}"
        );
    }
}

/// Issue 11 item 27: `preview_chunk` is the dry run's prediction of `write_chunk`. For each
/// chunk of a second run (skips, legacy-newer updates, an update taking another's address,
/// case-only duplicates of stored users and within the chunk, a lower key taking an address
/// back, a value no backend can hold, a mapping refusal), the preview says what the write then
/// does, and the preview itself writes nothing.
pub async fn a_preview_predicts_the_write_and_writes_nothing(store: &dyn Store) {
    ready(store).await;
    // Each chunk is written once previewed, so the store holds what earlier chunks took and
    // the previews start from no claims.
    let none = usher_store::Claims::default();
    let mut claims = usher_store::Claims::default();
    let mut preview_displaced = Vec::new();
    let first = chunk(
        1,
        vec![
            user(2000, "ann@example.com", "ann2000"),
            user(2001, "bo@example.com", "bo2001"),
            user(2002, "cy@example.com", "cy2002"),
        ],
        vec![],
    );
    let mut changed = user(2001, "bo.new@example.com", "bo2001");
    changed.checksum = "changed".into();
    changed.legacy_updated_at = Some(at(1000));
    changed.user.updated_at = at(1000);
    let mut grab = user(2002, "ANN@example.com", "cy2002");
    grab.checksum = "grab".into();
    grab.legacy_updated_at = Some(at(1000));
    grab.user.updated_at = at(1000);
    let mut nul = user(9, "nul@example.com", "nul");
    nul.user.profile.nickname = Some("bad\0nick".into());
    let mut second = chunk(
        0,
        vec![
            // Takes ann@ back from 2000, still as the bulk migration wrote it.
            user(5, "Ann@Example.com", "ann5"),
            // cy2002's username: refused.
            user(6, "dee@example.com", "CY2002"),
            // dee@ again, in capitals, within the chunk: refused.
            user(7, "DEE@example.com", "dee7"),
            nul,
            user(10, "new@example.com", "new10"),
            user(2000, "ann@example.com", "ann2000"),
            changed,
            grab,
        ],
        vec![rejected(8, NO_AT)],
    );
    second.policy = ConflictPolicy::LegacyNewer;
    for c in [first, second] {
        let before = (
            store.counts().await.unwrap(),
            store.events(0, 1000).await.unwrap(),
            quarantined(store, 100).await,
        );
        let preview = store.preview_chunk(&c, &none).await.unwrap();
        let after = (
            store.counts().await.unwrap(),
            store.events(0, 1000).await.unwrap(),
            quarantined(store, 100).await,
        );
        assert_eq!(before, after, "a preview writes nothing");
        claims = preview.claims.clone();
        preview_displaced = preview.displaced.clone();
        let outcome = store.write_chunk(&c).await.unwrap();
        let refused = u64::try_from(preview.refused.len() + c.rejected.len()).unwrap();
        assert_eq!(
            (preview.migrated, preview.skipped, preview.updated, refused),
            (
                outcome.migrated,
                outcome.skipped,
                outcome.updated,
                outcome.quarantined
            ),
            "{preview:?}"
        );
        let held = quarantine_reasons(store, 100).await;
        for r in &preview.refused {
            let (_, field) = held
                .get(&r.legacy_id)
                .unwrap_or_else(|| panic!("{} predicted refused, not held: {held:?}", r.legacy_id));
            assert_eq!(field, &r.field, "{r:?}");
        }
    }
    // The second chunk, as the write decided it and the preview predicted: 5 and 6 take ann@
    // and cy2002 back from 2000 and 2002 (untouched, higher keys), so 7 finds dee@ taken.
    let cp = store.checkpoint(JOB, SOURCE, 0).await.unwrap().unwrap();
    let displaced: Vec<&str> = preview_displaced
        .iter()
        .map(|r| r.legacy_id.as_str())
        .collect();
    assert_eq!(displaced, ["2000", "2002"]);
    assert_eq!(cp.counters.displaced, 2, "{:?}", cp.counters);
    assert!(claims.has_email("new@example.com") && claims.has_username("ann5"));
    assert!(claims.has_username("cy2002") && !claims.has_username("dee7"));
    assert!(claims.gave_way("2000") && !claims.gave_way("5"));
}

/// Issue 12 item 2: the ledger alone says whether a record is migrated, and to whom, without
/// reading the user: migrated records, a quarantined one, one never seen, another source.
pub async fn the_ledger_alone_names_the_user_a_record_became(store: &dyn Store) {
    ready(store).await;
    write(store, 0, users(1, 3), vec![rejected(3, NO_AT)]).await;
    let one = store.user_by_legacy(SOURCE, "1").await.unwrap().unwrap();
    assert_eq!(store.ledger_user(SOURCE, "1").await.unwrap(), Some(one.id));
    let two = store.user_by_legacy(SOURCE, "2").await.unwrap().unwrap();
    assert_eq!(store.ledger_user(SOURCE, "2").await.unwrap(), Some(two.id));
    // Quarantined, never migrated, or of another source: not in the ledger.
    assert_eq!(store.ledger_user(SOURCE, "3").await.unwrap(), None);
    assert_eq!(store.ledger_user(SOURCE, "4").await.unwrap(), None);
    assert_eq!(store.ledger_user("other", "1").await.unwrap(), None);
}
