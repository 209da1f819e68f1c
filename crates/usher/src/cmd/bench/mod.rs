//! `usher bench`: performance measured against a reference in the same run.
//!
//! `usher bench backfill` is described in [`backfill`], `usher bench login` in [`login`].
//!
//! `usher bench hash` verifies each case's hash with usher-hash and with a C implementation
//! (libxcrypt, libargon2 through argon2-cffi, OpenSSL through hashlib; pyca's bcrypt too), at
//! identical parameters: the reference creates the stored hash and times its own verify, then
//! usher verifies the very same string. Cases alternate between the two sides, so drift in
//! machine load touches both. The figure that matters is the ratio usher ÷ reference.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use serde::Deserialize;
use usher_hash::{Password, PasswordHash};

pub mod backfill;
mod keep;
pub mod login;

const REFERENCE: &str = include_str!("hash_reference.py");

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Verify time per scheme, usher vs C implementations, as a ratio.
    Hash {
        /// Verifies timed per case on each side; the median is reported.
        #[arg(long, default_value_t = 15)]
        runs: u32,
        /// Only cases whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Python interpreter with `bcrypt` and `argon2-cffi` installed.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Also write the table as Markdown to this file.
        #[arg(long, value_name = "PATH")]
        markdown: Option<std::path::PathBuf>,
    },
    /// Logins/s and latency through the bridge over loopback HTTP (migrated Argon2id user,
    /// first login from bcrypt-10, wrong password), against the hash-bound limit.
    Login {
        /// Seconds per run (each case runs twice: saturation, then 80 % load).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Connections at saturation.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Where the legacy table and the store go (replaced).
        #[arg(long, default_value = "target/bench/login")]
        dir: std::path::PathBuf,
        /// Also write the table as Markdown to this file.
        #[arg(long, value_name = "PATH")]
        markdown: Option<std::path::PathBuf>,
    },
    /// Backfill users/s and peak RSS, from a legacy PostgreSQL table into each store, against
    /// a raw COPY of the same rows into a bare table in the same run.
    Backfill {
        /// User counts to run (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1000000")]
        users: Vec<u64>,
        /// Stores to fill (comma-separated): postgres, sqlite.
        #[arg(long, value_delimiter = ',', default_value = "postgres,sqlite")]
        stores: Vec<String>,
        #[command(flatten)]
        on: OnPostgres,
        /// Extra arguments for `usher backfill` (e.g. --batch-size 5000).
        #[arg(last = true)]
        backfill_args: Vec<String>,
    },
    /// Keeping both sides true: `usher reconcile --all` against a raw keyset read of the same
    /// legacy table, and outbox delivery to a SQL legacy against a raw batched write.
    Keep {
        /// Legacy users to reconcile.
        #[arg(long, default_value_t = 200_000)]
        users: u64,
        /// Outbox rows to deliver.
        #[arg(long, default_value_t = 50_000)]
        rows: u64,
        #[command(flatten)]
        on: OnPostgres,
    },
}

/// Where a benchmark over PostgreSQL runs, and where its table goes.
#[derive(clap::Args)]
pub struct OnPostgres {
    /// A PostgreSQL superuser URL; the benchmark creates its own databases.
    #[arg(long, env = "USHER_BENCH_POSTGRES_URL", hide_env_values = true)]
    postgres: String,
    /// Where configs, the SQLite store and summaries go.
    #[arg(long, default_value = "target/bench")]
    dir: std::path::PathBuf,
    /// Also write the table as Markdown to this file.
    #[arg(long, value_name = "PATH")]
    markdown: Option<std::path::PathBuf>,
}

/// The cases, with the scheme and parameters each one exercises.
const CASES: &[(&str, &str)] = &[
    ("bcrypt-10-libxcrypt", "bcrypt, cost 10"),
    ("bcrypt-10-pyca", "bcrypt, cost 10"),
    ("argon2id-owasp", "argon2id, m=19456 KiB, t=2, p=1"),
    ("scrypt-15", "scrypt, N=2^15, r=8, p=1"),
    ("pbkdf2-sha256-600k", "pbkdf2-sha256, 600,000 iterations"),
    ("pbkdf2-sha512-210k", "pbkdf2-sha512, 210,000 iterations"),
    ("pbkdf2-sha1-1.3m", "pbkdf2-sha1, 1,300,000 iterations"),
    ("sha512-crypt", "sha512-crypt, 5,000 rounds"),
    ("md5-crypt", "md5-crypt"),
    ("yescrypt", "yescrypt, libxcrypt default (j9T)"),
];

#[derive(Deserialize)]
struct Reference {
    hash: String,
    password: String,
    ms: Vec<f64>,
    #[serde(rename = "impl")]
    implementation: String,
}

struct Row {
    case: &'static str,
    params: &'static str,
    usher_ms: f64,
    reference_ms: f64,
    implementation: String,
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Hash {
            runs,
            only,
            python,
            markdown,
        } => hash(runs, only, python, markdown),
        BenchCommand::Login {
            seconds,
            concurrency,
            dir,
            markdown,
        } => login::run(&login::Options {
            dir,
            seconds,
            concurrency,
            markdown,
        }),
        BenchCommand::Backfill {
            users,
            stores,
            on:
                OnPostgres {
                    postgres,
                    dir,
                    markdown,
                },
            backfill_args,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let rows = rt.block_on(backfill::run(users, stores, postgres, dir, backfill_args))?;
            print_table(&backfill::render(&rows), markdown.as_deref())
        }
        BenchCommand::Keep {
            users,
            rows,
            on:
                OnPostgres {
                    postgres,
                    dir,
                    markdown,
                },
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let pairs = rt.block_on(async {
                let reconcile = keep::reconcile(&postgres, users, &dir).await?;
                let outbox = keep::outbox(&postgres, rows, &dir).await?;
                Ok::<_, anyhow::Error>(vec![reconcile, outbox])
            })?;
            print_table(&keep::render(&pairs), markdown.as_deref())
        }
    }
}

/// Prints a result table, and writes it to `markdown` too if asked.
fn print_table(table: &str, markdown: Option<&std::path::Path>) -> Result<()> {
    println!("{table}");
    if let Some(path) = markdown {
        std::fs::write(path, table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn hash(
    runs: u32,
    only: Option<String>,
    python: String,
    markdown: Option<std::path::PathBuf>,
) -> Result<()> {
    let runs = runs.max(3);
    let mut rows = Vec::new();
    for &(case, params) in CASES
        .iter()
        .filter(|(c, _)| only.as_deref().is_none_or(|o| c.contains(o)))
    {
        eprint!("{case:<22} reference… ");
        let reference = reference(&python, case, runs)?;
        eprint!("usher… ");
        let usher_ms = median(time_usher(&reference, runs)?);
        let reference_ms = median(reference.ms);
        eprintln!("{usher_ms:.2} ms vs {reference_ms:.2} ms");
        rows.push(Row {
            case,
            params,
            usher_ms,
            reference_ms,
            implementation: reference.implementation,
        });
    }
    let table = render(&rows, runs);
    println!("{table}");
    if let Some(path) = markdown {
        std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn reference(python: &str, case: &str, runs: u32) -> Result<Reference> {
    let mut child = Command::new(python)
        .args(["-", case, &runs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {python} for the reference timings"))?;
    child
        .stdin
        .take()
        .context("python stdin")?
        .write_all(REFERENCE.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the reference for {case} failed (pip install bcrypt argon2-cffi?): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no output")
        );
    }
    serde_json::from_slice(&out.stdout).context("parsing the reference output")
}

fn time_usher(reference: &Reference, runs: u32) -> Result<Vec<f64>> {
    let parsed =
        PasswordHash::parse(&reference.hash).context("usher cannot parse the reference hash")?;
    let password = Password::from(reference.password.as_str());
    // Warm up, and check the answer: a fast wrong verify would be worthless.
    if !parsed.verify(&password)? {
        bail!("usher does not verify the reference hash");
    }
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let ok = parsed.verify(&password)?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if ok { Ok(ms) } else { bail!("verify failed") }
        })
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn render(rows: &[Row], runs: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scheme and parameters | usher ms | reference ms | usher ÷ reference | reference |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | **{:.2}×** | {} |",
            r.params,
            r.usher_ms,
            r.reference_ms,
            r.usher_ms / r.reference_ms,
            r.implementation
        );
        let _ = r.case;
    }
    let _ = write!(
        out,
        "\nMedian of {runs} verifies per side, one thread, the same stored hash on both sides."
    );
    out
}
