//! `usher serve`: the login bridge in front of the new store and the legacy sources.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use usher_core::{Mapper, Source};
use usher_hash::HashContext;
use usher_server::{
    AdminToken, AppState, AuthSourceEntry, Bridge, Courier, HashPool, HashSource, HttpWriteBack,
    Legacy, RateLimits, SessionKeys,
};

use crate::config::{Config, ConfigArg, Verify};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Listen here instead of [serve] listen (`127.0.0.1:0` picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    init_tracing("info");
    let config = args.config.load()?;
    config.check()?;
    let state = build_state(&config).await?;
    let listen = args.listen.unwrap_or_else(|| config.serve.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    // One line on stdout a script can wait for; everything else goes to the log (stderr).
    println!("usher: serving on http://{addr}");
    tracing::info!(%addr, legacy = ?config.bridge_sources(), "serving");
    check_legacy_in_background(&state);
    let stop = usher_runtime::Shutdown::new();
    let courier = config.outbox.deliver_in_serve.then(|| {
        let courier = Courier::new(
            Arc::clone(state.bridge.store()),
            state.bridge.legacy(),
            config.outbox.delivery(),
            Arc::clone(state.bridge.metrics()),
        );
        let stop = stop.clone();
        tokio::spawn(async move { courier.run(&stop).await })
    });
    let served = usher_server::serve(listener, state, shutdown_signal()).await;
    // The round in hand is finished: a row is delivered and recorded, or left to its claim.
    stop.cancel();
    if let Some(courier) = courier {
        let _ = courier.await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Checks each legacy hash source once (a read, NULL keys, its write_back statement) without
/// holding up the start: a legacy system that is down must not keep migrated users out.
fn check_legacy_in_background(state: &AppState) {
    for legacy in state.bridge.legacy() {
        if let Legacy::Hash(hash) = legacy {
            let source = Arc::clone(&hash.source);
            tokio::spawn(async move {
                match source.healthcheck().await {
                    Ok(()) => tracing::info!(source = source.name(), "legacy source answers"),
                    Err(e) => tracing::warn!(
                        source = source.name(),
                        error = %e,
                        "legacy source failed its start-up check; its users cannot migrate until it is fixed"
                    ),
                }
            });
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `default_level`: `info` for the server,
/// `warn` for the demo, whose own output is the guide), as JSON when `USHER_LOG_FORMAT=json`.
pub fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("USHER_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// The legacy fallbacks of the bridge, built and mapped (their hashes read in `hash_context`),
/// in the configured order: hash sources usher verifies, and auth sources (an auth API, an
/// LDAP bind) that check passwords themselves (`[bridge.<source>] verify`).
pub async fn legacy_sources(config: &Config, hash_context: &HashContext) -> Result<Vec<Legacy>> {
    let mut legacy = Vec::new();
    for name in config.bridge_sources() {
        let source_config = config
            .sources
            .get(&name)
            .with_context(|| format!("there is no [sources.{name}]"))?;
        let mapping = config
            .mappings
            .get(&name)
            .with_context(|| format!("there is no [mappings.{name}]"))?;
        let mapper = Arc::new(
            Mapper::new(mapping)
                .map_err(|e| anyhow::anyhow!("{}", e.in_source(&name)))?
                .with_hash_context(hash_context.clone()),
        );
        let bridge = config.bridge.get(&name);
        let http_write_back = match bridge.and_then(|b| b.write_back.as_ref()) {
            Some(w) => Some(Arc::new(HttpWriteBack::new(&name, w)?)),
            None => None,
        };
        let auth = source_config.build_auth(&name).await?;
        let verify = bridge.and_then(|b| b.verify).unwrap_or(if auth.is_some() {
            Verify::Legacy
        } else {
            Verify::Hash
        });
        if verify == Verify::Legacy {
            let source = auth.with_context(|| {
                format!(
                    "[bridge.{name}] verify = \"legacy\": this kind of source cannot check \
                     passwords itself; use verify = \"hash\""
                )
            })?;
            legacy.push(Legacy::Auth(AuthSourceEntry {
                source: Arc::from(source),
                mapper,
                http_write_back,
            }));
            continue;
        }
        let (email_fields, username_fields) = config.lookup_fields(&name, mapping);
        let source: Arc<dyn Source> = Arc::from(source_config.build(&name).await?);
        legacy.push(Legacy::Hash(HashSource {
            source,
            mapper,
            email_fields,
            username_fields,
            http_write_back,
        }));
    }
    Ok(legacy)
}

/// Everything `usher serve` serves: the store (migrated to the current schema), the bridge,
/// the session key (created on first start), the admin token and the rate limits.
pub async fn build_state(config: &Config) -> Result<Arc<AppState>> {
    let store = config.open_store().await?;
    // Built once: the mappings and the bridge read hashes in the same context.
    let hash_context = config.hash_context()?;
    let legacy = legacy_sources(config, &hash_context).await?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = config.serve.hash_workers.unwrap_or(cores);
    let queue = config
        .serve
        .hash_queue
        .unwrap_or_else(|| workers.saturating_mul(8));
    let mut bridge = Bridge::new(
        Arc::from(store),
        Vec::new(),
        HashPool::new(workers, queue),
        config.serve.argon2.policy(),
    )?;
    for fallback in legacy {
        bridge = bridge.with_legacy(fallback);
    }
    if let Some(link) = &config.link {
        bridge = bridge.with_link(Arc::new(link.clone()));
    }
    bridge = bridge
        .with_hash_context(hash_context)
        .with_outage(config.serve.outage.clone());
    let session = &config.serve.session;
    let pem = load_or_create_key(&session.key_file)?;
    let keys = SessionKeys::from_pkcs8_pem(&pem, &session.issuer, session.ttl_seconds)
        .with_context(|| format!("the session key {}", session.key_file.display()))?;
    let admin_token = match &config.serve.admin_token_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the admin token {}", path.display()))?,
            );
            Some(AdminToken::new(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)
        }
        None => {
            tracing::warn!("no [serve] admin_token_file: the admin API and /metrics are off");
            None
        }
    };
    Ok(Arc::new(AppState {
        bridge,
        keys,
        admin_token,
        limits: RateLimits::new(&config.serve.rate_limit),
        trusted_proxy_hops: config.serve.trusted_proxy_hops,
        connections: config.serve.connections.clone(),
        hooks: config
            .serve
            .hooks
            .build()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    }))
}

/// Reads the session key, or creates it (readable by its owner only) if it does not exist.
fn load_or_create_key(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    match std::fs::read_to_string(path) {
        Ok(pem) => return Ok(zeroize::Zeroizing::new(pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("reading the session key {}: {e}", path.display()),
    }
    let pem = SessionKeys::generate_pkcs8_pem()?;
    write_secret(path, &pem, false)?;
    tracing::info!(path = %path.display(), "created a new session signing key");
    Ok(pem)
}

/// Writes a secret to a file only its owner may read (0600 on Unix), synced to disk.
/// `replace`: overwrite an existing file; otherwise refuse to touch one.
pub(crate) fn write_secret(path: &Path, text: &str, replace: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
