//! Races only PostgreSQL can have (SQLite serialises writers with `BEGIN IMMEDIATE`), staged
//! deterministically with a second connection holding an uncommitted transaction.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use usher_store::{MigrateOutcome, Store};
use usher_testkit::stores::PgDb;

use crate::bridge::{argon, lazy};
use crate::data::{SOURCE, chunk, user};

async fn run<F, Fut>(test: F)
where
    F: FnOnce(String, Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = PgDb::new().await;
    db.store.migrate().await.unwrap();
    let test = test(db.url.clone(), db.store.clone());
    db.finish_after(test).await;
}

/// Returns once a session of this database other than the caller's is waiting for a lock (the
/// writer under test blocked behind the uncommitted transaction): the race is then really
/// staged, however loaded the machine. Polls `pg_stat_activity`; panics after 30 s.
async fn until_a_writer_waits_for_a_lock(url: &str) {
    let mut watcher = PgConnection::connect(url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no writer came to wait for the lock within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const INSERT_USER: &str = "INSERT INTO users (id, email, email_normalized, status, created_at, \
     updated_at) VALUES ($1, $2, lower($2), 'active', now(), now())";

/// Inserts an active user with `email` on `conn` (the other writer's); its id.
async fn insert_user(conn: &mut PgConnection, email: &str) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    sqlx::query(INSERT_USER)
        .bind(id)
        .bind(email)
        .execute(conn)
        .await
        .unwrap();
    id
}

/// Runs `write` on a task of its own and returns once it waits for a lock behind the other
/// connection's transaction.
async fn spawn_blocked<T: Send + 'static>(
    url: &str,
    write: impl Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let writer = tokio::spawn(write);
    until_a_writer_waits_for_a_lock(url).await;
    writer
}

/// Runs `write` until it waits behind the other connection's transaction, checks it is still
/// waiting (`waits` says for what), ends that transaction with `release` (its commit or
/// rollback) and returns what the write then did.
async fn behind_the_other_writer<T: Send + 'static>(
    url: &str,
    waits: &str,
    write: impl Future<Output = T> + Send + 'static,
    release: impl Future<Output = Result<(), sqlx::Error>>,
) -> T {
    let writer = spawn_blocked(url, write).await;
    assert!(!writer.is_finished(), "{waits}");
    release.await.unwrap();
    writer.await.unwrap()
}

/// Writes partition 0's chunk of `users` into `store`.
fn write_chunk(
    store: &Arc<dyn Store>,
    users: Vec<usher_store::ChunkUser>,
) -> impl Future<Output = usher_store::Result<usher_store::ChunkOutcome>> + Send + 'static {
    let store = store.clone();
    async move { store.write_chunk(&chunk(0, users, vec![])).await }
}

/// Migrates `m` into `store` at a first login.
fn migrate_user(
    store: &Arc<dyn Store>,
    m: usher_store::LazyMigration,
) -> impl Future<Output = usher_store::Result<MigrateOutcome>> + Send + 'static {
    let store = store.clone();
    async move { store.migrate_user(&m).await }
}

/// A chunk whose key another writer is migrating at the same moment (the login bridge, say)
/// waits for it, finds its ledger row refused, rolls back, retries, and skips the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_migrated_concurrently_is_retried_and_skipped() {
    run(|url, store| async move {
        let bulk = user(900, "bulk@example.com", "bulk");
        let waits = "the chunk waits for the other writer";
        a_chunk_behind_a_committed_login(&url, &store, "lazy@example.com", bulk, waits).await;
        assert_eq!(store.counts().await.unwrap().users, 1);
    })
    .await;
}

/// Two writers taking the same addresses in opposite orders deadlock; PostgreSQL aborts the
/// chunk's transaction, which retries, sees the other writer's users and quarantines its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_chunk_is_retried_and_loses_nothing() {
    run(|url, _| async move {
        // PostgreSQL looks for a deadlock once per wait, deadlock_timeout after it began, and
        // aborts the session that finds it. The chunk must be that session however late this
        // test closes the cycle on a loaded machine: its sessions look after 10 s (a store
        // opened after the setting, so its connections have it), this test's after 10 min.
        let mut setup = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET deadlock_timeout = %L', \
             current_database(), '10s'); END $$",
        )
        .execute(&mut setup)
        .await
        .unwrap();
        setup.close().await.unwrap();
        let store: Arc<dyn Store> = Arc::from(
            usher_store::open(&usher_store::StoreConfig::Postgres {
                url: Some(url.clone()),
                url_file: None,
                max_connections: Some(2),
            })
            .await
            .unwrap(),
        );
        let mut other = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("SET deadlock_timeout = '10min'")
            .execute(&mut other)
            .await
            .unwrap();
        let mut tx = other.begin().await.unwrap();
        let b = insert_user(&mut tx, "B@example.com").await;

        // The chunk inserts a@ then blocks on b@, held by the other writer.
        let users = vec![user(1, "a@example.com", "a"), user(2, "b@example.com", "b")];
        let writer = spawn_blocked(&url, write_chunk(&store, users)).await;
        // The other writer now wants a@: a cycle. PostgreSQL breaks it after deadlock_timeout.
        let a = insert_user(&mut tx, "A@example.com").await;
        tx.commit().await.unwrap();

        let outcome = writer.await.unwrap().unwrap();
        assert!(outcome.retries >= 1, "{outcome:?}");
        assert_eq!(
            (outcome.migrated, outcome.quarantined),
            (0, 2),
            "{outcome:?}"
        );
        let q = store
            .quarantine_list(&usher_store::QuarantineFilter::default(), 10, 0)
            .await
            .unwrap();
        assert_eq!(
            q[0].reason,
            format!("duplicate email: same address as user {a}")
        );
        assert_eq!(
            q[1].reason,
            format!("duplicate email: same address as user {b}")
        );
        assert_eq!(store.counts().await.unwrap().users, 2);
        store.close().await;
    })
    .await;
}

const INSERT_LEDGER: &str = "INSERT INTO ledger (source, legacy_id, user_id, system_of_record, \
     method, migrated_at, record_checksum) VALUES ($1, $2, $3, 'new', 'lazy', now(), 'x')";

/// Another connection's uncommitted first login of record 900: its user (with `email`) and,
/// when `ledger`, its ledger row. Returns the transaction and the user's id.
async fn pending_login<'c>(
    other: &'c mut PgConnection,
    email: &str,
    ledger: bool,
) -> (sqlx::Transaction<'c, sqlx::Postgres>, uuid::Uuid) {
    let mut tx = other.begin().await.unwrap();
    let id = insert_user(&mut tx, email).await;
    if ledger {
        sqlx::query(INSERT_LEDGER)
            .bind(SOURCE)
            .bind("900")
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    (tx, id)
}

/// How the other connection ends its transaction.
enum Then {
    Commit,
    RollBack,
}

/// Runs `write` behind another connection's uncommitted first login of record 900 (see
/// [`pending_login`]), checks it waits (`waits` says for what), ends the login as `then` says
/// and returns what the write did and the login's user id.
async fn behind_a_pending_login<T: Send + 'static>(
    url: &str,
    (email, ledger): (&str, bool),
    then: Then,
    waits: &str,
    write: impl Future<Output = T> + Send + 'static,
) -> (T, uuid::Uuid) {
    let mut other = PgConnection::connect(url).await.unwrap();
    let (tx, id) = pending_login(&mut other, email, ledger).await;
    let done = match then {
        Then::Commit => behind_the_other_writer(url, waits, write, tx.commit()).await,
        Then::RollBack => behind_the_other_writer(url, waits, write, tx.rollback()).await,
    };
    (done, id)
}

/// A chunk writing record 900 with `user` behind another connection's first login of it (with
/// `pending`, and its ledger row), which commits: the chunk retries and skips the record, left
/// to the login's user. Returns the chunk's outcome.
async fn a_chunk_behind_a_committed_login(
    url: &str,
    store: &Arc<dyn Store>,
    pending: &str,
    user: usher_store::ChunkUser,
    waits: &str,
) -> usher_store::ChunkOutcome {
    let write = write_chunk(store, vec![user]);
    let (outcome, id) =
        behind_a_pending_login(url, (pending, true), Then::Commit, waits, write).await;
    let outcome = outcome.unwrap();
    assert_eq!((outcome.migrated, outcome.skipped), (0, 1), "{outcome:?}");
    assert!(outcome.retries >= 1, "{outcome:?}");
    let u = store.user_by_legacy(SOURCE, "900").await.unwrap().unwrap();
    assert_eq!(*u.id.as_uuid(), id);
    outcome
}

/// A first login of record 900 as `login` behind another connection's first login of it (with
/// `pending`, and its ledger row), which commits: this one returns the other's user, the only
/// one.
async fn a_first_login_behind_a_committed_one(
    url: &str,
    store: &Arc<dyn Store>,
    pending: &str,
    login: usher_store::LazyMigration,
    waits: &str,
) {
    let login = migrate_user(store, login);
    let (outcome, id) =
        behind_a_pending_login(url, (pending, true), Then::Commit, waits, login).await;
    assert_eq!(
        outcome.unwrap(),
        MigrateOutcome::AlreadyMigrated(usher_core::UserId::from_uuid(id))
    );
    assert_eq!(store.counts().await.unwrap().users, 1);
}

/// A chunk whose record a first login is migrating at the same moment, with the same address:
/// the chunk's insert waits, is refused by the login's address, sees the login's ledger row,
/// rolls back, retries and skips the record. It is no duplicate, so it is not quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_racing_a_first_login_of_the_same_record_skips_it() {
    run(|url, store| async move {
        let same = user(900, "Same@Example.com", "same");
        let waits = "the chunk waits for the login";
        let outcome =
            a_chunk_behind_a_committed_login(&url, &store, "same@example.com", same, waits).await;
        assert_eq!(outcome.quarantined, 0, "{outcome:?}");
        let q = usher_store::QuarantineFilter::default();
        assert_eq!(store.quarantine_count(&q).await.unwrap(), 0);
    })
    .await;
}

/// A first login waiting on another process's first login of the same user (same address):
/// when that one commits, this one writes nothing and returns its user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_login_behind_a_concurrent_one_returns_its_user() {
    run(|url, store| async move {
        let login = lazy(900, "Race@Example.com", "racer");
        let waits = "the login waits for the other one";
        a_first_login_behind_a_committed_one(&url, &store, "race@example.com", login, waits).await;
        assert_eq!(store.events(0, 10).await.unwrap().len(), 0);
    })
    .await;
}

/// The other writer migrated the record with a different address (legacy changed it between
/// the two reads): this login's user goes in, its ledger row waits, is refused, and the retry
/// finds the winner. Only the winner's user remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_login_refused_by_the_ledger_retries_and_returns_the_winner() {
    run(|url, store| async move {
        let login = lazy(900, "new@example.com", "new");
        let waits = "the ledger insert waits for the other writer";
        a_first_login_behind_a_committed_one(&url, &store, "old@example.com", login, waits).await;
        assert!(
            store
                .user_by_email("new@example.com")
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

/// The writer holding the address rolls back: the waiting login then migrates the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_login_behind_a_writer_that_rolls_back_migrates() {
    run(|url, store| async move {
        let m = lazy(900, "undo@example.com", "undo");
        let expected = m.user.id;
        let login = migrate_user(&store, m);
        let waits = "the login waits for the other writer";
        let pending = ("undo@example.com", false);
        let (outcome, _) =
            behind_a_pending_login(&url, pending, Then::RollBack, waits, login).await;
        let outcome = outcome.unwrap();
        assert_eq!(outcome, MigrateOutcome::Migrated(expected));
        let u = store.user_by_legacy(SOURCE, "900").await.unwrap().unwrap();
        assert_eq!(u.id, expected);
    })
    .await;
}

/// A password change in flight when a login's upgrade arrives: the upgrade waits for it, then
/// finds the hash it verified gone and replaces nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_upgrade_behind_a_password_change_replaces_nothing() {
    run(|url, store| async move {
        let m = lazy(900, "cas@example.com", "cas");
        let id = m.user.id;
        let old = m.user.credential.clone().unwrap();
        store.migrate_user(&m).await.unwrap();

        let mut other = PgConnection::connect(&url).await.unwrap();
        let mut tx = other.begin().await.unwrap();
        sqlx::query(
            "UPDATE credentials SET hash = 'changed', updated_at = now() WHERE user_id = $1",
        )
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
        let upgrade = {
            let store = store.clone();
            let old = old.hash.clone();
            async move { store.replace_credential(id, &old, &argon("upgraded")).await }
        };
        let waits = "the upgrade waits for the change";
        let replaced = behind_the_other_writer(&url, waits, upgrade, tx.commit()).await;
        assert!(!replaced.unwrap());
        let stored = store.user(id).await.unwrap().unwrap().credential.unwrap();
        assert_eq!(stored.hash, "changed");
    })
    .await;
}
