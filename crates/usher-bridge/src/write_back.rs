//! Writing to legacy over HTTP: for a legacy system whose database usher may not write to, or
//! that is only reachable through its own API. Each write owed to legacy (an outbox row) is
//! one POST, delivered at least once and in order per user by the outbox's workers:
//!
//! ```json
//! {"op": "mark_migrated", "source": "app", "legacy_id": 42,
//!  "user_id": "0199a7c2-5e1f-7cc3-9b7a-3f2d8e6a1b04",
//!  "idempotency_key": "mark_migrated:app:42"}
//! ```
//!
//! with the configured `Authorization` header and the same key as `Idempotency-Key`: a write
//! delivered again (a worker stopped between legacy's answer and the outbox's record of it)
//! carries the same key, which legacy applies once. `legacy_id` is a JSON number for an integer
//! key, a string otherwise; the other fields are the operation's ([`LegacyWrite`]). Any 2xx is
//! success; anything else, a timeout or a connection error fails this delivery, which the
//! outbox tries again later with a growing pause.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use usher_core::{ConfigProblem, LegacyKey, LegacyWrite, SourceError, Written, config};

/// `[bridge.<source>.write_back]`.
///
/// ```toml
/// [bridge.app.write_back]
/// url = "https://legacy.internal/api/usher/writes"
/// authorization_file = "/run/secrets/legacy-api-auth"   # its whole text: "Bearer …"
/// timeout_seconds = 5
/// tls_ca_file = "/etc/ssl/legacy-ca.pem"                 # a private CA, if legacy uses one
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpWriteBackConfig {
    /// Where to POST; `https://`, or `http://` for a legacy service on the same host or network.
    pub url: String,
    /// A file whose text (trimmed) is sent as the `Authorization` header: a secret, so never
    /// inline in the config.
    pub authorization_file: Option<PathBuf>,
    /// The whole call, connection included, per attempt.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// A PEM CA certificate to trust besides the public roots.
    pub tls_ca_file: Option<PathBuf>,
}

fn default_timeout_seconds() -> u64 {
    5
}

impl HttpWriteBackConfig {
    /// Every problem with it found without I/O, each keyed within the table (`url`,
    /// `timeout_seconds`).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => problems.push(ConfigProblem::new(
                "url",
                format!("{} is not http or https", url.scheme()),
            )),
            Err(e) => problems.push(ConfigProblem::new("url", e.to_string())),
        }
        if self.timeout_seconds == 0 {
            problems.push(ConfigProblem::new("timeout_seconds", "must be at least 1"));
        }
        problems
    }

    /// Makes `authorization_file` and `tls_ca_file` relative to `base` (the config file's
    /// directory) if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.authorization_file, &mut self.tls_ca_file]
            .into_iter()
            .flatten()
        {
            config::resolve_path(path, base);
        }
    }
}

/// The HTTP write-back of one source, ready to call.
pub struct HttpWriteBack {
    source_name: String,
    client: reqwest::Client,
    url: reqwest::Url,
    authorization: Option<reqwest::header::HeaderValue>,
}

impl std::fmt::Debug for HttpWriteBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpWriteBack")
            .field("source_name", &self.source_name)
            .field("url", &self.url.as_str())
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl HttpWriteBack {
    /// Reads the authorization and CA files and builds the client; `source_name` names the
    /// source in errors.
    pub fn new(source_name: &str, config: &HttpWriteBackConfig) -> Result<Self, SourceError> {
        // Keys within `[bridge.<source>]`, where the table is `write_back`.
        let refuse = |problems: Vec<ConfigProblem>| SourceError::Config {
            source_name: source_name.to_owned(),
            reason: config::one_line(&config::under("write_back", problems).collect::<Vec<_>>()),
        };
        let problem = |key: &str, reason: String| refuse(vec![ConfigProblem::new(key, reason)]);
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(refuse(problems));
        }
        let url = reqwest::Url::parse(&config.url).map_err(|e| problem("url", e.to_string()))?;
        let authorization = match &config.authorization_file {
            Some(path) => {
                let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    problem("authorization_file", format!("{}: {e}", path.display()))
                })?);
                let mut value =
                    reqwest::header::HeaderValue::from_str(text.trim()).map_err(|_| {
                        problem(
                            "authorization_file",
                            format!("{}: not a valid header value", path.display()),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let client = usher_connect::auth_api::http_client(
            config.timeout_seconds,
            config.tls_ca_file.as_deref(),
        )
        .map_err(|p| refuse(vec![p]))?;
        Ok(HttpWriteBack {
            source_name: source_name.to_owned(),
            client,
            url,
            authorization,
        })
    }

    /// POSTs `write` with its idempotency key: [`Written::Applied`] once legacy answered 2xx.
    pub async fn write(
        &self,
        write: &LegacyWrite,
        idempotency_key: &str,
    ) -> Result<Written, SourceError> {
        let mut body = match serde_json::to_value(write) {
            Ok(serde_json::Value::Object(body)) => body,
            _ => serde_json::Map::new(),
        };
        let legacy_id = match write.key() {
            LegacyKey::Int(i) => serde_json::Value::from(*i),
            LegacyKey::Text(s) => serde_json::Value::from(s.as_str()),
        };
        body.remove("key");
        body.insert("source".into(), self.source_name.clone().into());
        body.insert("legacy_id".into(), legacy_id);
        body.insert("idempotency_key".into(), idempotency_key.into());
        let context = format!("{} for record {}", write.op(), write.key());
        let mut request = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", idempotency_key)
            .json(&body);
        if let Some(authorization) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization.clone());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(Written::Applied),
            Ok(response) => {
                let status = response.status();
                let reason = format!("{context}: {} answered {status}", self.url);
                if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    Err(self.unavailable(reason))
                } else {
                    Err(SourceError::Query {
                        source_name: self.source_name.clone(),
                        reason,
                    })
                }
            }
            // reqwest's errors name the URL, never the headers.
            Err(e) => Err(self.unavailable(format!("{context}: {e}"))),
        }
    }

    fn unavailable(&self, reason: String) -> SourceError {
        SourceError::Unavailable {
            source_name: self.source_name.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> HttpWriteBackConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn every_problem_is_reported_keyed_within_the_table() {
        let ok = config("url = \"https://legacy.internal/migrated\"");
        assert_eq!(ok.validate(), []);
        let bad = config("url = \"ftp://legacy\"\ntimeout_seconds = 0");
        let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["url", "timeout_seconds"]);
    }

    #[test]
    fn its_files_are_resolved_against_the_base() {
        let mut c = config(
            "url = \"https://l/m\"\nauthorization_file = \"secrets/auth\"\ntls_ca_file = \"/etc/ssl/ca.pem\"",
        );
        c.resolve_paths(Path::new("/etc/usher"));
        assert_eq!(
            c.authorization_file.as_deref(),
            Some(Path::new("/etc/usher/secrets/auth"))
        );
        assert_eq!(c.tls_ca_file.as_deref(), Some(Path::new("/etc/ssl/ca.pem")));
    }

    #[test]
    fn building_refuses_with_every_problem_under_write_back() {
        let bad = config("url = \"ftp://legacy\"\ntimeout_seconds = 0");
        let err = HttpWriteBack::new("app", &bad).unwrap_err().to_string();
        assert!(
            err.contains("[write_back.url] ftp is not http or https"),
            "{err}"
        );
        assert!(err.contains("[write_back.timeout_seconds]"), "{err}");
    }
}
