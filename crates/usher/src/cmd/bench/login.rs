//! `usher bench login`: logins/s and latency through the whole bridge over loopback HTTP,
//! against the hash-bound limit measured in the same run.
//!
//! The bridge is the real one (`usher_server::serve`, the SQLite store, an SQLite legacy
//! table) in this process; the load generator is hyper's HTTP/1.1 client on keep-alive
//! connections in the same process. Three cases:
//!
//! * **a** a migrated user on Argon2id (the policy's, OWASP's m=19456 KiB, t=2): one verify;
//! * **b** a first login migrated lazily from bcrypt cost 10: one bcrypt verify, one Argon2id
//!   hash and the migration's transaction; every request is a different legacy user;
//! * **c** a wrong password for a migrated user: one verify, 401.
//!
//! The limit is `cores × 1000 ÷ hash ms`, the hash ms being the median of that case's hash
//! work timed single-threaded in this run. Each case runs closed-loop at saturation
//! (`--concurrency` connections, each sending its next request when the last answers) for
//! the throughput, then open-loop at 80 % of the limit (requests scheduled at fixed
//! intervals, latency counted from the scheduled instant, so a stalled server is not hidden)
//! for the latency. Overhead = latency − the single-threaded hash time, at p50 and at p99.

// Timing arithmetic on the benchmark's own measurements (durations, rates), never on input.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sqlx::Connection as _;
use usher_hash::{Password, PasswordHash, Policy};
use usher_server::{AppState, Bridge, HashPool, HashSource, Registration, SessionKeys};

/// PHP `password_hash("password", PASSWORD_BCRYPT)` as Laravel's documentation prints it:
/// bcrypt cost 10 from an independent implementation.
const BCRYPT_10: &str = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi";
const PASSWORD: &str = "password";
/// Migrated users logged in as in cases a and c.
const MIGRATED: usize = 64;

pub struct Options {
    pub dir: std::path::PathBuf,
    pub seconds: u64,
    pub concurrency: usize,
    pub markdown: Option<std::path::PathBuf>,
}

struct Case {
    name: &'static str,
    what: &'static str,
    hash: Samples,
    /// The same hash work on every core at once, no HTTP: what the hardware sustains.
    parallel: f64,
    expect: u16,
}

/// Runs `work` on `cores` threads for `seconds` and returns runs per second.
fn parallel_rate(cores: usize, seconds: f64, work: &(dyn Fn() + Sync)) -> f64 {
    let done = AtomicU64::new(0);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                while Instant::now() < end {
                    work();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / seconds
}

/// Sorted durations in ms.
struct Samples(Vec<f64>);

impl Samples {
    fn new(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        Self(v)
    }

    fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0.get(i).copied().unwrap_or(f64::NAN)
    }
}

pub fn run(options: &Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(options))
}

async fn run_async(options: &Options) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let policy = Policy::default();
    eprintln!("Timing the hash work single-threaded ({cores} cores)...");
    let argon = PasswordHash::parse(&usher_hash::hash(&Password::from(PASSWORD), &policy)?)?;
    let bcrypt = PasswordHash::parse(BCRYPT_10)?;
    let password = Password::from(PASSWORD);
    let wrong = Password::from("wrong");
    // The three cases' hash work, timed round-robin after a warm-up so that each sees the same
    // conditions (CPU frequency, caches, each thread's Argon2 memory already touched): timed
    // one case after the other, the same Argon2id verify once came out 32.0 ms for case a and
    // 26.1 ms for case c, minutes apart.
    let work: [&(dyn Fn() + Sync); 3] = [
        &|| {
            let _ = argon.verify(&password);
        },
        &|| {
            let _ = bcrypt.verify(&password);
            let _ = usher_hash::hash(&password, &policy);
        },
        &|| {
            let _ = argon.verify(&wrong);
        },
    ];
    for w in work {
        w();
    }
    let mut timings: [Vec<f64>; 3] = Default::default();
    for _ in 0..40 {
        for (w, t) in work.iter().zip(timings.iter_mut()) {
            let started = Instant::now();
            w();
            t.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let [argon_verify, bcrypt_then_hash, argon_wrong] = timings.map(Samples::new);
    let limit = |hash: &Samples| cores as f64 * 1000.0 / hash.quantile(0.5);
    let parallel = work.map(|w| parallel_rate(cores, 3.0, w));
    let seconds = options.seconds.max(2);
    // Case b consumes one legacy user per login: saturation plus the 80 % run, with room.
    let legacy_users = (limit(&bcrypt_then_hash) * seconds as f64 * 2.0 * 1.5) as u64 + 200;

    let _ = std::fs::remove_dir_all(&options.dir);
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("creating {}", options.dir.display()))?;
    eprintln!("Writing {legacy_users} legacy users (bcrypt cost 10)...");
    let state = setup(&options.dir, legacy_users, cores, &policy).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(usher_server::serve(listener, state, async {
        let _ = stop_rx.await;
    }));

    let cases = [
        Case {
            name: "a",
            what: "migrated user, Argon2id (m=19456 KiB, t=2)",
            hash: argon_verify,
            parallel: parallel[0],
            expect: 200,
        },
        Case {
            name: "b",
            what: "first login, lazily migrated from bcrypt-10",
            hash: bcrypt_then_hash,
            parallel: parallel[1],
            expect: 200,
        },
        Case {
            name: "c",
            what: "wrong password (migrated user)",
            hash: argon_wrong,
            parallel: parallel[2],
            expect: 401,
        },
    ];
    let next_legacy = Arc::new(AtomicU64::new(1));
    let mut table = String::from(
        "| case | hash work per login (1 core, p50 / p99) | hash-bound limit (cores × 1000 ÷ ms) | the hash work on all cores, no HTTP | logins/s at saturation | ratio to limit | ratio to all-core hashing | latency at 80 % of all-core hashing, p50 / p99 | overhead p50 / p99 | generator lag p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for case in &cases {
        let limit = limit(&case.hash);
        eprintln!("Case {}: {} — saturation...", case.name, case.what);
        let make = request_maker(case.name, Arc::clone(&next_legacy));
        let (done, errors) =
            saturate(addr, options.concurrency, seconds, &make, case.expect).await?;
        let rate = done as f64 / seconds as f64;
        eprintln!("  {rate:.1} logins/s ({errors} unexpected answers); 80 % load...");
        // 80 % of what the cores sustain hashing in parallel (memory-hard hashes slow each
        // other down, so that is below cores × the single-core rate).
        let target = case.parallel.min(limit) * 0.8;
        let (latency, lag, errors80) = open_loop(addr, target, seconds, &make, case.expect).await?;
        if errors > 0 || errors80 > 0 {
            bail!(
                "case {}: {} unexpected answers (expected {})",
                case.name,
                errors + errors80,
                case.expect
            );
        }
        let (p50, p99) = (latency.quantile(0.5), latency.quantile(0.99));
        let (h50, h99) = (case.hash.quantile(0.5), case.hash.quantile(0.99));
        let _ = writeln!(
            table,
            "| {} {} | {h50:.1} / {h99:.1} ms | {limit:.1}/s | {:.1}/s | {rate:.1}/s | {:.2}× | {:.2}× | {p50:.1} / {p99:.1} ms at {target:.1}/s | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
            case.name,
            case.what,
            case.parallel,
            rate / limit,
            rate / case.parallel,
            p50 - h50,
            p99 - h99,
            lag.quantile(0.5),
            lag.quantile(0.99),
        );
    }
    let _ = stop_tx.send(());
    server.await??;
    println!("{table}");
    println!(
        "{cores} cores; {seconds} s per run; {} connections at saturation; hash-bound limit = cores × 1000 ÷ hash ms (p50).",
        options.concurrency
    );
    if let Some(path) = &options.markdown {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The store with `MIGRATED` registered users, a legacy table of `legacy_users` bcrypt users,
/// and the bridge over them with no rate limits.
async fn setup(
    dir: &std::path::Path,
    legacy_users: u64,
    cores: usize,
    policy: &Policy,
) -> Result<Arc<AppState>> {
    let legacy = dir.join("legacy.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&legacy)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, pw TEXT)")
        .execute(&mut conn)
        .await?;
    sqlx::query("CREATE INDEX users_email ON users (lower(email))")
        .execute(&mut conn)
        .await?;
    let mut tx = conn.begin().await?;
    for id in 1..=legacy_users {
        sqlx::query("INSERT INTO users VALUES (?, ?, ?)")
            .bind(i64::try_from(id)?)
            .bind(format!("legacy{id}@example.com"))
            .bind(BCRYPT_10)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    conn.close().await?;
    let source: usher_connect::SourceConfig = toml::from_str(&format!(
        "type = \"sqlite\"\npath = {}\ntable = \"users\"\nkey = \"id\"\nmax_connections = 8\n",
        toml::Value::String(legacy.to_string_lossy().into_owned())
    ))?;
    let mapping: usher_core::MappingConfig =
        toml::from_str("[fields]\nemail = \"email\"\n[password]\nhash = \"pw\"\n")?;
    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.join("usher.db"),
    })
    .await?;
    store.migrate().await?;
    let bridge = Bridge::new(
        Arc::from(store),
        vec![HashSource {
            source: Arc::from(source.build("legacy").await?),
            mapper: Arc::new(usher_core::Mapper::new(&mapping)?),
            email_fields: vec!["email".into()],
            username_fields: Vec::new(),
            http_write_back: None,
        }],
        HashPool::new(cores, 256),
        policy.clone(),
    )?;
    for i in 0..MIGRATED {
        bridge
            .register(Registration {
                email: Some(format!("user{i}@example.com")),
                username: None,
                password: Password::from(PASSWORD),
                profile: usher_core::Profile::default(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("registering: {e}"))?;
    }
    Ok(Arc::new(AppState::new(
        bridge,
        SessionKeys::generate("usher-bench", 600)?,
    )))
}

type Maker = Box<dyn Fn(u64) -> String + Send + Sync>;

/// The request body of case `name` for request number `n`.
fn request_maker(name: &str, next_legacy: Arc<AtomicU64>) -> Maker {
    let n_migrated = MIGRATED as u64;
    match name {
        "b" => Box::new(move |_| {
            let id = next_legacy.fetch_add(1, Ordering::Relaxed);
            format!(r#"{{"identifier":"legacy{id}@example.com","password":"{PASSWORD}"}}"#)
        }),
        "c" => Box::new(move |n| {
            format!(
                r#"{{"identifier":"user{}@example.com","password":"wrong"}}"#,
                n % n_migrated
            )
        }),
        _ => Box::new(move |n| {
            format!(
                r#"{{"identifier":"user{}@example.com","password":"{PASSWORD}"}}"#,
                n % n_migrated
            )
        }),
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends one login and returns its status.
async fn login(sender: &mut Sender, addr: SocketAddr, body: String) -> Result<u16> {
    let request = hyper::Request::post("/v1/login")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

/// `connections` closed loops for `seconds`: (answers as expected, other answers).
async fn saturate(
    addr: SocketAddr,
    connections: usize,
    seconds: u64,
    make: &Maker,
    expect: u16,
) -> Result<(u64, u64)> {
    let end = Instant::now() + Duration::from_secs(seconds);
    let counter = AtomicU64::new(0);
    let workers = (0..connections.max(1)).map(|_| async {
        let mut sender = connect(addr).await?;
        let (mut ok, mut bad) = (0u64, 0u64);
        while Instant::now() < end {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            if login(&mut sender, addr, make(n)).await? == expect {
                ok = ok.saturating_add(1);
            } else {
                bad = bad.saturating_add(1);
            }
        }
        anyhow::Ok((ok, bad))
    });
    let mut total = (0u64, 0u64);
    for r in futures::future::join_all(workers).await {
        let (ok, bad) = r?;
        total = (total.0.saturating_add(ok), total.1.saturating_add(bad));
    }
    Ok(total)
}

/// Requests at `rate`/s at fixed intervals for `seconds`, on as many connections as are
/// needed: (latencies from the moment each request was sent, how late each was sent after
/// its scheduled instant, unexpected answers). The lag is the generator's own (tokio's timer
/// fires on millisecond ticks), and it is reported so that a generator held up by a stalled
/// server would show.
async fn open_loop(
    addr: SocketAddr,
    rate: f64,
    seconds: u64,
    make: &Maker,
    expect: u16,
) -> Result<(Samples, Samples, u64)> {
    let total = (rate * seconds as f64).max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(50);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    for n in 0..total {
        let _ = tx.send((n, start + interval.mul_f64(n as f64)));
    }
    drop(tx);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let connections = 64;
    let workers = (0..connections).map(|_| {
        let rx = Arc::clone(&rx);
        async move {
            let mut sender = connect(addr).await?;
            let (mut latencies, mut lags) = (Vec::new(), Vec::new());
            let mut bad = 0u64;
            loop {
                let next = rx.lock().await.recv().await;
                let Some((n, at)) = next else { break };
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                let status = login(&mut sender, addr, make(n)).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                lags.push(sent.saturating_duration_since(at).as_secs_f64() * 1000.0);
                if status != expect {
                    bad = bad.saturating_add(1);
                }
            }
            anyhow::Ok((latencies, lags, bad))
        }
    });
    let (mut all, mut all_lags) = (Vec::new(), Vec::new());
    let mut bad = 0u64;
    for r in futures::future::join_all(workers).await {
        let (l, lags, b) = r?;
        all.extend(l);
        all_lags.extend(lags);
        bad = bad.saturating_add(b);
    }
    Ok((Samples::new(all), Samples::new(all_lags), bad))
}
