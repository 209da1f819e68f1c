//! `[push.<target>]`: where `usher export --push` sends a target's import files.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Deserialize;
use usher_connect::push::PushConfig;
use usher_core::ConfigProblem;
use usher_core::config::resolve_path;
use zeroize::Zeroizing;

/// The targets with an import API usher pushes to.
pub const PUSH_TARGETS: [&str; 7] = [
    "auth0",
    "okta",
    "kratos",
    "fusionauth",
    "supertokens",
    "clerk",
    "supabase",
];

/// One target's push.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTargetConfig {
    /// The provider's base URL (`https://example.okta.com`, `https://api.clerk.com`, a Kratos
    /// admin URL, a Supabase project URL).
    pub url: String,
    /// A file holding the API token, key or service-role key (never in the config itself).
    pub token_file: PathBuf,
    /// Requests a second; the target's documented default when absent.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Auth0's database connection id (`con_…`): required for Auth0.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// Each request's time limit, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

/// Requests a second when the config does not say: Okta's create-user and Clerk's limits
/// leave room at 10, Supabase's admin API at 10; batch imports go one at a time, a second
/// apart (Auth0 allows 2 concurrent jobs, FusionAuth asks for no parallel imports).
fn default_rate(target: &str) -> u32 {
    match target {
        "okta" | "clerk" | "supabase" => 10,
        _ => 1,
    }
}

/// Whether the authority after `http://` is this machine.
fn loopback(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

impl PushTargetConfig {
    /// Every problem, keyed within the table; `target` is its name.
    pub fn validate(&self, target: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !PUSH_TARGETS.contains(&target) {
            problems.push(ConfigProblem::new(
                "",
                format!(
                    "usher pushes only to {}; import {target}'s files by hand",
                    PUSH_TARGETS.join(", ")
                ),
            ));
        }
        match self.url.split_once("://") {
            Some(("https", _)) => {}
            Some(("http", rest)) if loopback(rest) => {}
            Some(("http", _)) => problems.push(ConfigProblem::new(
                "url",
                "must be https://: the token would cross the network in the clear \
                 (http:// is for a provider on this machine: localhost, 127.0.0.1, [::1])",
            )),
            _ => problems.push(ConfigProblem::new("url", "must be an https:// URL")),
        }
        if self.token_file.as_os_str().is_empty() {
            problems.push(ConfigProblem::new("token_file", "must name a file"));
        }
        if self.rate == Some(0) {
            problems.push(ConfigProblem::new("rate", "must be at least 1"));
        }
        if self.timeout_secs == 0 {
            problems.push(ConfigProblem::new("timeout_secs", "must be at least 1"));
        }
        if target == "auth0" && self.connection_id.is_none() {
            problems.push(ConfigProblem::new(
                "connection_id",
                "Auth0 imports into a database connection: give its id (con_…)",
            ));
        }
        problems
    }

    /// Makes `token_file` relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_path(&mut self.token_file, base);
    }

    /// The push's settings, checked, with the token read from its file.
    pub fn load(&self, target: &str) -> Result<PushConfig> {
        let problems: Vec<String> = usher_core::config::under(
            &usher_core::config::entry("push", target),
            self.validate(target),
        )
        .map(|p| p.to_string())
        .collect();
        if !problems.is_empty() {
            anyhow::bail!("{}", problems.join("; "));
        }
        let token = Zeroizing::new(
            std::fs::read_to_string(&self.token_file)
                .with_context(|| {
                    format!("reading the {target} token {}", self.token_file.display())
                })?
                .trim()
                .to_owned(),
        );
        let rate = self.rate.unwrap_or_else(|| default_rate(target));
        Ok(PushConfig {
            url: self.url.clone(),
            token,
            rate: NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN),
            connection_id: self.connection_id.clone(),
            timeout: Duration::from_secs(self.timeout_secs),
            job_poll: Duration::from_secs(2),
        })
    }
}
