//! Leases in the store, and the runtime's worker loop holding them: of two processes (two
//! stores on one database) running the same job, one works at a time, and the other takes over
//! when the first stops (giving the lease back) or dies (the lease expires).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use usher_runtime::{Lease, RetryPolicy, Shutdown, Tick, Worker};
use usher_store::{Store, StoreLeases};

/// The lease operations: taken when free or expired, kept by its holder, refused to another
/// while it lasts, renewed only by its holder, given back only by its holder.
pub async fn a_lease_is_held_by_one_holder_until_it_expires_or_is_given_back(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    a.migrate().await.unwrap();
    let now = Utc::now();
    let later = |s: i64| now + chrono::Duration::seconds(s);
    assert!(
        a.acquire_lease("outbox", "a", now, later(10))
            .await
            .unwrap()
    );
    // Held: another process may not take it, its holder may take it again.
    assert!(
        !b.acquire_lease("outbox", "b", now, later(10))
            .await
            .unwrap()
    );
    assert!(
        a.acquire_lease("outbox", "a", now, later(20))
            .await
            .unwrap()
    );
    // Only the holder renews it, or gives it back.
    assert!(!b.renew_lease("outbox", "b", later(30)).await.unwrap());
    b.release_lease("outbox", "b").await.unwrap();
    assert!(
        !b.acquire_lease("outbox", "b", later(15), later(30))
            .await
            .unwrap()
    );
    assert!(a.renew_lease("outbox", "a", later(40)).await.unwrap());
    // Expired: the other takes it, and the first holder can renew it no more.
    assert!(
        !b.acquire_lease("outbox", "b", later(39), later(50))
            .await
            .unwrap()
    );
    assert!(
        b.acquire_lease("outbox", "b", later(40), later(50))
            .await
            .unwrap()
    );
    assert!(!a.renew_lease("outbox", "a", later(60)).await.unwrap());
    // Other leases are other rows.
    assert!(
        a.acquire_lease("backfill/p0", "a", now, later(10))
            .await
            .unwrap()
    );
    // Given back: free at once.
    b.release_lease("outbox", "b").await.unwrap();
    assert!(
        a.acquire_lease("outbox", "a", later(41), later(50))
            .await
            .unwrap()
    );
}

fn worker(name: &str) -> Worker {
    Worker {
        name: name.into(),
        idle: Duration::from_millis(20),
        backoff: RetryPolicy {
            attempts: 1,
            first: Duration::from_millis(20),
            max: Duration::from_millis(100),
            jitter: Duration::ZERO,
        },
    }
}

/// Starts a worker holding `lease` as `holder` over `store`, counting its rounds.
fn start(
    store: Arc<dyn Store>,
    holder: &str,
    rounds: Arc<AtomicU64>,
) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let shutdown = Shutdown::new();
    let lease = Lease {
        name: "job".into(),
        holder: holder.into(),
        ttl: Duration::from_millis(600),
    };
    let name = holder.to_owned();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let leases = StoreLeases(store);
        worker(&name)
            .run_leased(&leases, &lease, &stop, || {
                rounds.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, std::convert::Infallible>(Tick::Idle) }
            })
            .await;
    });
    (shutdown, task)
}

/// Waits up to 10 s for `rounds` to move; whether it did.
async fn moves(rounds: &AtomicU64) -> bool {
    let from = rounds.load(Ordering::SeqCst);
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if rounds.load(Ordering::SeqCst) > from {
            return true;
        }
    }
    false
}

/// Two workers of one job in two processes: only the lease holder works; a graceful stop gives
/// the lease back and the other takes over; a killed holder's lease expires and the other
/// takes over then.
pub async fn two_workers_of_one_job_take_turns_through_the_lease(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    a.migrate().await.unwrap();
    let (ra, rb) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (stop_a, task_a) = start(a.clone(), "a", ra.clone());
    assert!(moves(&ra).await, "the first worker never worked");
    let (stop_b, task_b) = start(b.clone(), "b", rb.clone());
    // Over two lease lifetimes, the holder keeps working and the other never starts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rb.load(Ordering::SeqCst), 0, "both workers worked at once");
    assert!(moves(&ra).await, "the holder stopped working");

    // A graceful stop: the round in hand ends, the lease is given back, the other takes over.
    stop_a.cancel();
    task_a.await.unwrap();
    assert!(moves(&rb).await, "the second worker never took over");
    let a_rounds = ra.load(Ordering::SeqCst);

    // The holder killed (its task dropped mid-wait, the lease never given back): a new worker
    // waits for the lease to expire, then takes it.
    task_b.abort();
    let _ = task_b.await;
    drop(stop_b);
    let rc = Arc::new(AtomicU64::new(0));
    let (stop_c, task_c) = start(a.clone(), "c", rc.clone());
    assert!(moves(&rc).await, "no worker took over from a killed holder");
    stop_c.cancel();
    task_c.await.unwrap();
    assert_eq!(
        ra.load(Ordering::SeqCst),
        a_rounds,
        "a stopped worker worked on"
    );
}
