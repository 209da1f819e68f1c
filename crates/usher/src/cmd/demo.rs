//! `usher demo`: lazy migration, live, on a fresh machine with nothing else installed.
//!
//! 1. a legacy SQLite database of fake users with mixed hash formats (`usher fake`);
//! 2. a backfill of the first half of them into usher's SQLite store;
//! 3. the login bridge, serving, with curl examples and credentials of users of both halves:
//!    a migrated user is answered by the store, a user not migrated yet is verified against
//!    legacy and moved across by that very login.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use usher_core::{Mapper, Source};
use usher_engine::BackfillOptions;

use crate::cmd::backfill::Bars;
use crate::cmd::fake::{self, FakeArgs, Sample};
use crate::cmd::serve;
use crate::config::Config;

#[derive(Args)]
pub struct DemoArgs {
    /// Where the demo's files go (replaced on every run).
    #[arg(long, default_value = "target/demo")]
    pub dir: PathBuf,
    /// Fake legacy users; the first half is backfilled.
    #[arg(long, default_value_t = 50_000)]
    pub users: u64,
    /// Where the bridge listens (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    if args.users < 20 {
        bail!("--users must be at least 20");
    }
    serve::init_tracing("warn");
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    for stale in [
        "usher.db",
        "usher.db-wal",
        "usher.db-shm",
        "session-ed25519.pem",
    ] {
        let _ = std::fs::remove_file(args.dir.join(stale));
    }
    let config_path = args.dir.join("usher.toml");
    let seed = 42;
    eprintln!(
        "1/3  Making a legacy database of {} fake users...",
        args.users
    );
    fake::generate(&FakeArgs {
        users: args.users,
        sqlite: Some(args.dir.join("legacy.db")),
        postgres: None,
        table: "users".to_owned(),
        seed,
        replace: true,
        write_config: Some(config_path.clone()),
        logins: None,
    })
    .await?;
    let token = admin_token()?;
    serve::write_secret(&args.dir.join("admin-token"), &token, true)?;
    append_serve_config(&config_path)?;
    let config = Config::load(&config_path)?;
    config.check()?;

    let half = args.users / 2;
    eprintln!("2/3  Backfilling the first half (ids 1..={half}) into usher's store...");
    backfill_first_half(&config, half).await?;

    eprintln!("3/3  Starting the bridge...");
    let state = serve::build_state(&config).await?;
    let store = Arc::clone(state.bridge.store());
    let mut migrated = Vec::new();
    for s in fake::samples(seed, 1..=half.min(400), 4)? {
        if store
            .user_by_legacy("legacy", &s.id.to_string())
            .await?
            .is_some()
        {
            migrated.push(s);
        }
    }
    let mut waiting = Vec::new();
    let upper = args.users.min(half.saturating_add(400));
    for s in fake::samples(seed, half.saturating_add(1)..=upper, 6)? {
        let taken = store
            .user_by_email(&s.email.to_lowercase())
            .await?
            .is_some();
        // A case-twin in legacy makes the email ambiguous: not a user to show off with.
        let twins = match state.bridge.legacy().first() {
            Some(usher_server::Legacy::Hash(h)) => {
                h.source.lookup("email", &s.email, 2).await?.len()
            }
            _ => 1,
        };
        if !taken && twins == 1 {
            waiting.push(s);
        }
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {} (try --listen 127.0.0.1:0)", args.listen))?;
    let addr = listener.local_addr()?;
    print_guide(&args.dir, &format!("http://{addr}"), &migrated, &waiting);
    usher_server::serve(listener, state, serve::shutdown_signal()).await?;
    eprintln!("Stopped. The files stay in {}.", args.dir.display());
    Ok(())
}

async fn backfill_first_half(config: &Config, half: u64) -> Result<()> {
    let source_config = config
        .sources
        .get("legacy")
        .context("no [sources.legacy]")?;
    let usher_connect::SourceConfig::Sqlite(sqlite) = source_config else {
        bail!("the demo's legacy source is SQLite");
    };
    let mut first_half = sqlite.clone();
    first_half.selection.table = None;
    first_half.selection.query = Some(format!("SELECT * FROM users WHERE id <= {half}"));
    // The same source name as the bridge's: the ledger knows these records as `legacy`.
    let source: Arc<dyn Source> = Arc::from(
        usher_connect::SourceConfig::Sqlite(first_half)
            .build("legacy")
            .await?,
    );
    let mapping = config
        .mappings
        .get("legacy")
        .context("no [mappings.legacy]")?;
    let mapper = Arc::new(Mapper::new(mapping).map_err(|e| anyhow::anyhow!("{e}"))?);
    let store: Arc<dyn usher_store::Store> = Arc::from(config.open_store().await?);
    let bar = Arc::new(Bars::new(false));
    let report = usher_engine::backfill(
        source,
        mapper,
        Arc::clone(&store),
        BackfillOptions::default(),
        bar.clone(),
    )
    .await;
    bar.finish();
    let report = report?;
    eprintln!(
        "     migrated {}, quarantined {} (invalid or case-duplicate emails: `usher quarantine list`)",
        report.run.migrated, report.run.quarantined
    );
    store.close().await;
    Ok(())
}

fn admin_token() -> Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn append_serve_config(path: &Path) -> Result<()> {
    let mut text = std::fs::read_to_string(path)?;
    text.push_str(
        "\n# Added by `usher demo`: the login bridge.\n\
         [serve]\n\
         admin_token_file = \"admin-token\"\n\
         session = { issuer = \"usher-demo\", key_file = \"session-ed25519.pem\" }\n",
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn curl_login(url: &str, s: &Sample) -> String {
    let body = serde_json::json!({ "identifier": s.email, "password": s.password });
    format!(
        "curl -s {url}/v1/login -H 'content-type: application/json' -d '{}'",
        body.to_string().replace('\'', "'\\''")
    )
}

fn print_guide(dir: &Path, url: &str, migrated: &[Sample], waiting: &[Sample]) {
    let dir = dir.display();
    println!();
    println!("usher demo: the login bridge is serving on {url}");
    println!();
    let bcrypt_first = |list: &[Sample]| {
        list.iter()
            .find(|s| s.scheme.starts_with("bcrypt"))
            .or(list.first())
            .cloned()
    };
    if let Some(s) = bcrypt_first(migrated) {
        println!(
            "A user the backfill already moved ({} in legacy), answered by the store; the",
            s.scheme
        );
        println!(
            "first login also re-hashes the legacy hash to Argon2id (\"path\":\"store_upgraded\"),"
        );
        println!("the next ones are plain \"store\":");
        println!("  {}", curl_login(url, &s));
        println!();
    }
    if let Some(s) = bcrypt_first(waiting) {
        println!(
            "A user not migrated yet ({} in legacy): the first login verifies the legacy",
            s.scheme
        );
        println!(
            "hash and moves them across with Argon2id (\"path\":\"lazy_migrated\"); run it twice:"
        );
        println!("  {}", curl_login(url, &s));
        println!();
    }
    println!("Where the migration stands (the admin token is in {dir}/admin-token):");
    println!(
        "  curl -s {url}/v1/admin/status -H \"Authorization: Bearer $(cat {dir}/admin-token)\""
    );
    println!("  usher status --config {dir}/usher.toml");
    println!("Prometheus metrics:");
    println!("  curl -s {url}/metrics -H \"Authorization: Bearer $(cat {dir}/admin-token)\"");
    println!("The session's signing keys, for any service to check tokens:");
    println!("  curl -s {url}/.well-known/jwks.json");
    println!();
    println!("Demo credentials (fake users; their passwords are known):");
    for (label, list) in [("migrated", migrated), ("not migrated", waiting)] {
        for s in list {
            println!(
                "  {label:<13} id {:<7} {:<40} {:<14} password: {}",
                s.id, s.email, s.scheme, s.password
            );
        }
    }
    println!();
    println!("Ctrl-C stops the bridge. Files: {dir}");
}
