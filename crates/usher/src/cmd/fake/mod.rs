//! `usher fake`: a legacy `users` table of N fake users, for rehearsals.
//!
//! The seed advice for a migration is to populate a million fake users and migrate them
//! before touching real data. `usher fake` writes such a table into SQLite or PostgreSQL with
//! the mess real tables have (see [`data`]): mixed hash formats with known passwords
//! (self-salted `{SSHA}` ones named in the scheme column beside a salt column), emails that
//! differ only in case (next to each other, and far apart so they fall in different partitions),
//! emails with stray spaces and capitals, invalid emails, bad dates, phones in many formats
//! (some with an area code that is not one), Unicode names.

pub mod data;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
// Identifiers in these statements are the validated `--table` name and fixed column names.
use sqlx::{AssertSqlSafe, Connection as _};

use data::{COLUMNS, Pool, Row};

#[derive(Args)]
pub struct FakeArgs {
    /// How many users to generate.
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,
    /// Write into this SQLite file (created if missing).
    #[arg(long, value_name = "PATH", conflicts_with = "postgres")]
    pub sqlite: Option<PathBuf>,
    /// Write into this PostgreSQL database. Prefer the environment variable, so the URL's
    /// password stays out of the process list.
    #[arg(
        long,
        value_name = "URL",
        env = "USHER_FAKE_POSTGRES_URL",
        hide_env_values = true
    )]
    pub postgres: Option<String>,
    /// Table name.
    #[arg(long, default_value = "users")]
    pub table: String,
    /// Seed: the same seed makes the same table.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Drop the table first if it exists (and overwrite the `--write-config` file).
    #[arg(long)]
    pub replace: bool,
    /// Also write a complete usher.toml here (never over an existing file unless `--replace`
    /// is given): this table as source
    /// `legacy`, its mapping, and an SQLite store `usher.db` beside the file, ready for
    /// `usher backfill`. Without it, only the mapping is printed.
    #[arg(long, value_name = "PATH")]
    pub write_config: Option<PathBuf>,
    /// Also write every active fake user whose password is known to this file, one JSON object
    /// a line (`id`, `email` and `username` exactly as the table stores them, `password`): a
    /// rehearsal can then
    /// check that each migrated user logs in. Fake users only; never over an existing file
    /// unless `--replace` is given.
    #[arg(long, value_name = "PATH")]
    pub logins: Option<PathBuf>,
}

const BATCH: u64 = 20_000;

pub async fn run(args: FakeArgs) -> Result<()> {
    generate(&args).await?;
    if let Some(path) = &args.logins {
        let n = write_logins(path, &args)?;
        eprintln!(
            "Wrote {n} logins (fake users with a known password, the email as stored) to {}.",
            path.display()
        );
    }
    let samples = samples(args.seed, 1..=args.users.min(500), 5)?;
    if !samples.is_empty() {
        eprintln!("Some of them, to try logging in as (fake users; their passwords are known):");
        for s in samples {
            eprintln!(
                "  id {:<8} {:<40} {:<16} password: {}",
                s.id, s.email, s.scheme, s.password
            );
        }
    }
    Ok(())
}

/// Writes the table (and the config, if asked), without listing sample users.
pub async fn generate(args: &FakeArgs) -> Result<()> {
    if !args
        .table
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || args.table.is_empty()
    {
        bail!("--table must be letters, digits and underscores");
    }
    let pool = Pool::load()?;
    let started = Instant::now();
    let bar = progress(args.users);
    let (tx, rx) = mpsc::sync_channel::<Vec<Row>>(4);
    let (users, seed) = (args.users, args.seed);
    let generator = std::thread::spawn(move || {
        let mut i = 1;
        while i <= users {
            let end = i.saturating_add(BATCH - 1).min(users);
            let batch: Vec<Row> = (i..=end).map(|n| data::row(&pool, seed, n)).collect();
            if tx.send(batch).is_err() {
                return;
            }
            let Some(next) = end.checked_add(1) else {
                return;
            };
            i = next;
        }
    });
    let rx = std::sync::Mutex::new(rx);
    let next = || rx.lock().ok().and_then(|r| r.recv().ok());
    match (&args.sqlite, &args.postgres) {
        (Some(path), _) => write_sqlite(path, &args.table, args.replace, next, &bar).await?,
        (None, Some(url)) => write_postgres(url, &args.table, args.replace, next, &bar).await?,
        (None, None) => {
            bail!("say where: --sqlite PATH or --postgres URL (or USHER_FAKE_POSTGRES_URL)")
        }
    }
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "Wrote {} fake users to table {} in {:.1} s ({:.0} rows/s).",
        args.users,
        args.table,
        secs,
        args.users as f64 / secs.max(1e-9)
    );
    if let Some(path) = &args.write_config {
        write_config(path, args)?;
        eprintln!(
            "Wrote {}: source `legacy` is this table, the store is usher.db beside it. Next: usher backfill --config {}",
            path.display(),
            path.display()
        );
    } else {
        eprintln!(
            "The mapping for this table (add a [sources.legacy] pointing at it; see docs/mapping.md):"
        );
        println!("{}", data::mapping_toml("legacy"));
    }
    Ok(())
}

/// Writes a ready usher.toml for the generated table; never overwrites an existing file.
fn write_config(path: &Path, args: &FakeArgs) -> Result<()> {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let source = match (&args.sqlite, &args.postgres) {
        (Some(db), _) => {
            let db =
                std::fs::canonicalize(db).with_context(|| format!("locating {}", db.display()))?;
            format!("type = \"sqlite\"\npath = {}", quote(&db.to_string_lossy()))
        }
        (None, Some(url)) => format!("type = \"postgres\"\nurl = {}", quote(url)),
        (None, None) => bail!("no table was written"),
    };
    let text = format!(
        "# Written by `usher fake`: a rehearsal on {users} fake users.\n\n\
         [store]\ntype = \"sqlite\"\npath = \"usher.db\"\n\n\
         [sources.legacy]\n{source}\ntable = {table}\nkey = \"id\"\n\n{mapping}\n",
        users = args.users,
        table = quote(&args.table),
        mapping = data::mapping_toml("legacy"),
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = create(path, args.replace)?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Creates the file at `path`; one already there is overwritten only with `--replace`.
fn create(path: &Path, replace: bool) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(!replace)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| {
            format!(
                "writing {} (usher fake overwrites an existing file only with --replace)",
                path.display()
            )
        })
}

/// Writes `--logins`: every active user with a known password, as JSON Lines. Returns how many.
fn write_logins(path: &Path, args: &FakeArgs) -> Result<u64> {
    let pool = Pool::load()?;
    let file = create(path, args.replace)?;
    let mut out = std::io::BufWriter::new(file);
    let mut n = 0u64;
    for i in 1..=args.users {
        let row = data::row(&pool, args.seed, i);
        if row.status != "A" {
            continue;
        }
        let Some(password) = data::password_of(&pool, &row) else {
            continue;
        };
        let line = serde_json::json!({
            "id": row.id, "email": row.email, "username": row.username, "password": password,
        });
        std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        n = n.saturating_add(1);
    }
    std::io::Write::flush(&mut out).with_context(|| format!("writing {}", path.display()))?;
    Ok(n)
}

/// A fake user whose password is known.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The legacy id.
    pub id: i64,
    /// A valid email.
    pub email: String,
    /// The hash scheme legacy stores for them.
    pub scheme: String,
    /// Their password.
    pub password: String,
}

/// Up to `take` users among `ids` with distinct hash families, their emails and passwords.
pub fn samples(seed: u64, ids: std::ops::RangeInclusive<u64>, take: usize) -> Result<Vec<Sample>> {
    let pool = Pool::load()?;
    let pool = &pool;
    let mut seen = std::collections::HashSet::new();
    Ok(ids
        .map(|i| data::row(pool, seed, i))
        .filter(|row| row.status == "A") // active: disabled ones cannot log in
        .filter_map(|row| {
            let password = data::password_of(pool, &row)?;
            let hash = row.password_hash.as_deref()?;
            let scheme = usher_hash::identify(hash)
                .map(|s| s.id().to_owned())
                .unwrap_or_default();
            let email = row
                .email
                .clone()
                .filter(|e| usher_core::Email::parse(e).is_ok())?;
            seen.insert(scheme.clone()).then_some(Sample {
                id: row.id,
                email,
                scheme,
                password,
            })
        })
        .take(take)
        .collect())
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn quoted_columns() -> String {
    COLUMNS
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn write_sqlite(
    path: &Path,
    table: &str,
    replace: bool,
    next: impl Fn() -> Option<Vec<Row>>,
    bar: &ProgressBar,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut conn)
        .await?;
    create_table(
        &mut conn,
        table,
        replace,
        "id INTEGER PRIMARY KEY, email TEXT, username TEXT, fname TEXT, lname TEXT, \
         birthdate TEXT, \"phone num\" TEXT, password_hash TEXT, password_salt TEXT, hash_algo TEXT, \
         status TEXT NOT NULL, email_verified INTEGER NOT NULL, locale TEXT, created_at TEXT NOT NULL, \
         updated_at TEXT NOT NULL, profile TEXT NOT NULL",
    )
    .await?;
    // 16 columns × 500 rows stays under SQLite's 32,766 bound parameters.
    let placeholders = format!("({})", vec!["?"; COLUMNS.len()].join(", "));
    while let Some(batch) = next() {
        let mut tx = conn.begin().await?;
        for chunk in batch.chunks(500) {
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                quoted_columns(),
                vec![placeholders.as_str(); chunk.len()].join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(&r.email)
                    .bind(&r.username)
                    .bind(&r.fname)
                    .bind(&r.lname)
                    .bind(&r.birthdate)
                    .bind(&r.phone)
                    .bind(&r.password_hash)
                    .bind(&r.password_salt)
                    .bind(&r.hash_algo)
                    .bind(&r.status)
                    .bind(r.email_verified)
                    .bind(&r.locale)
                    .bind(&r.created_at)
                    .bind(&r.updated_at)
                    .bind(&r.profile);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        bar.inc(u64::try_from(batch.len()).unwrap_or(0));
    }
    Ok(())
}

/// One COPY text-format field: `\N` for NULL, backslash escapes for the rest.
fn copy_field(out: &mut String, value: Option<&str>) {
    let Some(v) = value else {
        out.push_str("\\N");
        return;
    };
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn copy_line(out: &mut String, r: &Row) {
    let id = r.id.to_string();
    let verified = if r.email_verified { "t" } else { "f" };
    let fields = [
        Some(id.as_str()),
        r.email.as_deref(),
        r.username.as_deref(),
        r.fname.as_deref(),
        r.lname.as_deref(),
        r.birthdate.as_deref(),
        r.phone.as_deref(),
        r.password_hash.as_deref(),
        r.password_salt.as_deref(),
        r.hash_algo.as_deref(),
        Some(r.status.as_str()),
        Some(verified),
        r.locale.as_deref(),
        Some(r.created_at.as_str()),
        Some(r.updated_at.as_str()),
        Some(r.profile.as_str()),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        copy_field(out, *f);
    }
    out.push('\n');
}

/// Creates the legacy table from its columns in one dialect's DDL, dropping an old one first
/// with `--replace`.
async fn create_table<C>(conn: &mut C, table: &str, replace: bool, columns: &str) -> Result<()>
where
    for<'e> &'e mut C: sqlx::Executor<'e>,
{
    if replace {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE TABLE {table} ({columns})")))
        .execute(&mut *conn)
        .await
        .with_context(|| {
            format!("creating table {table} (use --replace to drop an existing one)")
        })?;
    Ok(())
}

async fn write_postgres(
    url: &str,
    table: &str,
    replace: bool,
    next: impl Fn() -> Option<Vec<Row>>,
    bar: &ProgressBar,
) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    create_table(
        &mut conn,
        table,
        replace,
        "id bigint NOT NULL, email text, username text, fname text, lname text, \
         birthdate text, \"phone num\" text, password_hash text, password_salt text, hash_algo text, \
         status char(1) NOT NULL, email_verified boolean NOT NULL, locale text, \
         created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, profile jsonb NOT NULL",
    )
    .await?;
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", quoted_columns()))
        .await?;
    let mut buf = String::with_capacity(8 << 20);
    while let Some(batch) = next() {
        buf.clear();
        for r in &batch {
            copy_line(&mut buf, r);
        }
        copy.send(buf.as_bytes()).await?;
        bar.inc(u64::try_from(batch.len()).unwrap_or(0));
    }
    copy.finish().await?;
    bar.set_message("adding the primary key");
    sqlx::query(AssertSqlSafe(format!(
        "ALTER TABLE {table} ADD PRIMARY KEY (id)"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::query(AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&mut conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_escape_what_copy_text_format_needs() {
        let mut s = String::new();
        copy_field(&mut s, Some("a\tb\\c\nd"));
        copy_field(&mut s, None);
        assert_eq!(s, "a\\tb\\\\c\\nd\\N");
    }
}
