//! Legacy systems that can only answer "is this password right for this user?" through their
//! own HTTP API: an [`AuthSource`] that asks them, for the login bridge.
//!
//! The contract (the OpenAPI document is `docs/legacy-auth-api.yaml`, the guide for the legacy
//! team `docs/legacy-auth-api.md`):
//!
//! * usher POSTs to `url`, with `Content-Type: application/json`, the configured header
//!   (`Authorization` unless `header` says otherwise) holding the text of
//!   `authorization_file`, and the body
//!
//!   ```json
//!   {"identifier": "ada@example.com", "password": "what the user typed"}
//!   ```
//!
//!   or, with `encrypt_public_key_file`,
//!
//!   ```json
//!   {"identifier": "ada@example.com", "password_jwe": "eyJhbGciOiJSU0EtT0FFUC0yNTYi..."}
//!   ```
//!
//!   where `password_jwe` is an RFC 7516 JWE in compact serialization, `alg` `RSA-OAEP-256`,
//!   `enc` `A256GCM`, whose plaintext is the password's UTF-8 bytes: any JOSE library opens it
//!   with the legacy team's private key; usher only holds the public key. The identifier is
//!   what the user typed (an email or a username); the password is never in the URL.
//! * `200 {"user": {"id": 42, "email": "...", ...}}`: the password is right. The record's key
//!   is the user's `key` field (a JSON integer becomes [`LegacyKey::Int`], a string
//!   [`LegacyKey::Text`]) and its fields are the whole user object.
//! * `401` (or `404`): wrong password or unknown user; legacy need not say which. `Ok(None)`.
//! * `403`: legacy refused *usher's own* credentials (the header): a
//!   [`SourceError::Config`], so an operator sees the misconfiguration instead of every login
//!   failing as a wrong password.
//! * `429`, any `5xx`, a timeout or a connection error: [`SourceError::Unavailable`]; the
//!   bridge answers 503 and writes nothing.
//! * Any other status (redirects included: none is followed), a body over 1 MiB, or a `200`
//!   without a usable `user` object or key: [`SourceError::Query`] naming what is wrong.
//!
//! **Retries.** A login is not retried once it may have reached legacy (a second attempt could
//! count twice against legacy's own lockout). Only a connection that failed before anything was
//! sent (refused, reset while connecting; not a timeout) is tried once more, after 100 ms.
//!
//! **Secrets.** The password is only ever in [`usher_hash::Password`] and in zeroizing buffers:
//! the JSON body is serialized into a buffer sized up front (so it is never reallocated, leaving
//! copies behind) and handed to reqwest as [`bytes::Bytes`] owning that buffer, which is zeroed
//! when the request is done with it. Copies reqwest and rustls make while sending (the TLS
//! record buffers) are outside usher's reach. The header value is marked sensitive and shown as
//! `***` by [`Debug`]; errors name the URL and what failed, never the body or the header.
//!
//! **Plain HTTP.** `http://` is accepted only for a loopback host, whether or not the password
//! travels as a JWE (the JWE hides the password, but over plain HTTP an attacker on the path
//! could still forge legacy's `200` and log in as anyone); anything else must be `https://`
//! (add `tls_ca_file` for a private CA).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use rsa::traits::PublicKeyParts as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use usher_core::config::{keep, resolve_path};
use usher_core::{AuthSource, ConfigProblem, LegacyKey, LegacyRecord, SourceError};
use usher_hash::Password;
use usher_runtime::{Retry, RetryPolicy};
use zeroize::Zeroizing;

/// The most usher reads of a response body; a larger one is an error, not an allocation.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The longest `timeout_seconds` accepted: a login waits this long at most.
const MAX_TIMEOUT_SECONDS: u64 = 300;

/// One retry, 100 ms on, of a connection that failed before anything was sent (a login is
/// never sent twice once it may have reached legacy).
const CONNECT_RETRY: RetryPolicy = RetryPolicy {
    attempts: 2,
    first: Duration::from_millis(100),
    max: Duration::from_millis(100),
    jitter: Duration::ZERO,
};

/// The JWE protected header usher sends, always the same.
const JWE_HEADER: &str = r#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#;

/// The smallest RSA key usher encrypts to.
const MIN_RSA_BITS: usize = 2048;

/// `[sources.<name>]` with `type = "auth-api"`.
///
/// ```toml
/// [sources.old_app]
/// type = "auth-api"
/// url = "https://legacy.internal/usher/authenticate"
/// authorization_file = "secrets/legacy-api-token"   # its whole text, trimmed: "Bearer abc"
/// header = "Authorization"                          # the header it is sent in (the default)
/// timeout_seconds = 5                               # the whole request (default 5)
/// tls_ca_file = "secrets/legacy-ca.pem"             # a private CA, if legacy uses one
/// key = "id"                                        # the user field holding its legacy id
/// encrypt_public_key_file = "secrets/legacy-rsa.pub.pem"  # send the password as a JWE
/// health_url = "https://legacy.internal/healthz"    # what `usher check` GETs
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthApiConfig {
    /// Where to POST the login: `https://`, or `http://` to a loopback host only (even with
    /// `encrypt_public_key_file`). No credentials in it: they go in `authorization_file`.
    pub url: String,
    /// A file whose text (trimmed) is the whole value of `header`, e.g. `Bearer abc`.
    pub authorization_file: Option<PathBuf>,
    /// The header `authorization_file`'s text is sent in; `Authorization` when not given.
    pub header: Option<String>,
    /// The whole request, connection included, in seconds (1 to 300, default 5). Connecting
    /// gets half of it.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// A PEM file of CA certificates to trust besides the public roots.
    pub tls_ca_file: Option<PathBuf>,
    /// The field of the returned user object that holds its legacy id.
    pub key: String,
    /// A PEM RSA public key (`PUBLIC KEY` or `RSA PUBLIC KEY`, 2048 bits or more): when given,
    /// the password is sent as `password_jwe` instead of `password`.
    pub encrypt_public_key_file: Option<PathBuf>,
    /// A URL the healthcheck GETs, expecting 2xx. Without it the healthcheck only connects.
    pub health_url: Option<String>,
}

fn default_timeout_seconds() -> u64 {
    5
}

/// Parses an `http(s)` URL without credentials in it.
fn parse_http_url(field: &str, text: &str) -> Result<Url, ConfigProblem> {
    let url = Url::parse(text).map_err(|e| ConfigProblem::new(field, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigProblem::new(
            field,
            format!("{} is not http or https", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigProblem::new(
            field,
            "has credentials in it; put the header value in authorization_file instead",
        ));
    }
    if url.host().is_none() {
        return Err(ConfigProblem::new(field, "has no host"));
    }
    Ok(url)
}

/// Whether `url`'s host is `localhost` or a loopback address.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AuthApiConfig {
    /// Checks the configuration without reading any file or connecting: every problem, each
    /// keyed within the source's table (`url`, `header`, `timeout_seconds`...).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        self.checked().err().unwrap_or_default()
    }

    /// Makes `authorization_file`, `tls_ca_file` and `encrypt_public_key_file` relative to
    /// `base` (the config file's directory) if they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.authorization_file,
            &mut self.tls_ca_file,
            &mut self.encrypt_public_key_file,
        ]
        .into_iter()
        .flatten()
        {
            resolve_path(path, base);
        }
    }

    /// The validated URL, header name and health URL, or every problem.
    fn checked(&self) -> Result<(Url, Option<HeaderName>, Option<Url>), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let url = keep(&mut problems, parse_http_url("url", &self.url).and_then(|url| {
            // Even with the password as a JWE, plain http lets anyone on the path forge
            // legacy's 200 answer (and so log in as anyone): the answer needs TLS as much as
            // the password.
            if url.scheme() == "http" && !is_loopback(&url) {
                return Err(ConfigProblem::new(
                    "url",
                    "is plain http to another host: passwords or legacy's answers could be read \
                     or forged on the way; use https (with tls_ca_file for a private CA)",
                ));
            }
            Ok(url)
        }));
        let header = keep(&mut problems, self.header_name());
        keep(
            &mut problems,
            if (1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
                Ok(())
            } else {
                Err(ConfigProblem::new(
                    "timeout_seconds",
                    format!("must be 1 to {MAX_TIMEOUT_SECONDS}"),
                ))
            },
        );
        keep(
            &mut problems,
            if self.key.is_empty() {
                Err(ConfigProblem::new("key", "is empty"))
            } else if self.key.trim() != self.key {
                Err(ConfigProblem::new(
                    "key",
                    format!("{:?} starts or ends with whitespace", self.key),
                ))
            } else {
                Ok(())
            },
        );
        let health_url = keep(
            &mut problems,
            self.health_url
                .as_deref()
                .map(|u| parse_http_url("health_url", u))
                .transpose(),
        );
        match (url, header, health_url) {
            (Some(url), Some(header), Some(health_url)) if problems.is_empty() => {
                Ok((url, header, health_url))
            }
            _ => Err(problems),
        }
    }

    /// The header `authorization_file`'s text is sent in, if there is one.
    fn header_name(&self) -> Result<Option<HeaderName>, ConfigProblem> {
        match (&self.header, &self.authorization_file) {
            (Some(_), None) => Err(ConfigProblem::new(
                "header",
                "names the header authorization_file's text is sent in; give \
                 authorization_file too",
            )),
            (_, None) => Ok(None),
            (header, Some(_)) => {
                let text = header.as_deref().unwrap_or("Authorization");
                let name = HeaderName::from_bytes(text.as_bytes()).map_err(|_| {
                    ConfigProblem::new("header", format!("{text:?} is not a header name"))
                })?;
                if matches!(
                    name.as_str(),
                    "content-type" | "content-length" | "host" | "transfer-encoding" | "connection"
                ) {
                    return Err(ConfigProblem::new(
                        "header",
                        format!("{text:?} is set by usher itself; name another header"),
                    ));
                }
                Ok(Some(name))
            }
        }
    }

    /// The client for the source named `name`: reads `authorization_file`, `tls_ca_file` and
    /// `encrypt_public_key_file`, connects only on first use.
    pub fn build(&self, name: &str) -> Result<AuthApiSource, SourceError> {
        let config_error = |p: ConfigProblem| crate::config_error(name, p);
        let (url, header_name, health_url) = self
            .checked()
            .map_err(|problems| crate::misconfigured(name, &problems))?;
        let header = match (header_name, &self.authorization_file) {
            (Some(header_name), Some(path)) => {
                let value = read_header_value(path).map_err(config_error)?;
                Some((header_name, value))
            }
            _ => None,
        };
        let client =
            http_client(self.timeout_seconds, self.tls_ca_file.as_deref()).map_err(config_error)?;
        let encryption = self
            .encrypt_public_key_file
            .as_deref()
            .map(JweEncrypter::from_pem_file)
            .transpose()
            .map_err(config_error)?;
        Ok(AuthApiSource {
            name: name.to_owned(),
            client,
            url,
            header,
            key: self.key.clone(),
            encryption,
            health_url,
            timeout: Duration::from_secs(self.timeout_seconds),
        })
    }
}

/// The trimmed text of `authorization_file`, as a sensitive header value.
fn read_header_value(path: &Path) -> Result<HeaderValue, ConfigProblem> {
    let problem = |reason: String| {
        ConfigProblem::new(
            "authorization_file",
            format!("{}: {reason}", path.display()),
        )
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?);
    if text.trim().is_empty() {
        return Err(problem("is empty".to_owned()));
    }
    let mut value = HeaderValue::from_str(text.trim()).map_err(|_| {
        problem("is not a valid header value (one line of visible text)".to_owned())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Encrypts passwords to the legacy team's RSA public key as compact JWEs (RSA-OAEP-256 +
/// A256GCM).
#[derive(Clone)]
struct JweEncrypter {
    key: rsa::RsaPublicKey,
}

impl fmt::Debug for JweEncrypter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JweEncrypter")
            .field("alg", &"RSA-OAEP-256")
            .field("enc", &"A256GCM")
            .field("rsa_bits", &self.key.size().saturating_mul(8))
            .finish()
    }
}

impl JweEncrypter {
    fn from_pem_file(path: &Path) -> Result<Self, ConfigProblem> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePublicKey as _;
        let problem = |reason: String| {
            ConfigProblem::new(
                "encrypt_public_key_file",
                format!("{}: {reason}", path.display()),
            )
        };
        let pem = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
        let key = rsa::RsaPublicKey::from_public_key_pem(&pem)
            .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(&pem))
            .map_err(|_| {
                problem(
                    "is not a PEM RSA public key (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA \
                     PUBLIC KEY-----)"
                        .to_owned(),
                )
            })?;
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(problem(format!(
                "is a {bits}-bit RSA key; RSA-OAEP-256 wants {MIN_RSA_BITS} bits or more"
            )));
        }
        Ok(JweEncrypter { key })
    }

    /// `plaintext` as a JWE compact serialization: header, encrypted key, IV, ciphertext, tag,
    /// each base64url without padding, joined by dots (RFC 7516 section 7.1).
    fn encrypt(&self, plaintext: &[u8]) -> Result<String, String> {
        let header = URL_SAFE_NO_PAD.encode(JWE_HEADER);
        let mut cek = Zeroizing::new([0u8; 32]);
        getrandom::fill(cek.as_mut_slice()).map_err(|e| format!("the random source: {e}"))?;
        let mut iv = [0u8; 12];
        getrandom::fill(&mut iv).map_err(|e| format!("the random source: {e}"))?;
        let encrypted_key = self
            .key
            .encrypt(
                &mut rsa::rand_core::OsRng,
                rsa::Oaep::new::<rsa::sha2::Sha256>(),
                cek.as_slice(),
            )
            .map_err(|e| format!("RSA-OAEP-256: {e}"))?;
        let cipher = Aes256Gcm::new_from_slice(cek.as_slice())
            .map_err(|_| "A256GCM: bad key length".to_owned())?;
        let mut buffer = Zeroizing::new(plaintext.to_vec());
        // The additional authenticated data is the ASCII of the encoded protected header.
        let tag = cipher
            .encrypt_inout_detached(&iv.into(), header.as_bytes(), buffer.as_mut_slice().into())
            .map_err(|_| "A256GCM: the password is too long".to_owned())?;
        Ok(format!(
            "{header}.{}.{}.{}.{}",
            URL_SAFE_NO_PAD.encode(encrypted_key),
            URL_SAFE_NO_PAD.encode(iv),
            URL_SAFE_NO_PAD.encode(buffer.as_slice()),
            URL_SAFE_NO_PAD.encode(tag.as_slice()),
        ))
    }
}

/// A legacy auth API, ready to ask: see the [module documentation](self) for the contract.
pub struct AuthApiSource {
    name: String,
    client: reqwest::Client,
    url: Url,
    header: Option<(HeaderName, HeaderValue)>,
    key: String,
    encryption: Option<JweEncrypter>,
    health_url: Option<Url>,
    timeout: Duration,
}

impl fmt::Debug for AuthApiSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthApiSource")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field(
                "header",
                &self.header.as_ref().map(|(name, _)| (name.as_str(), "***")),
            )
            .field("key", &self.key)
            .field("encryption", &self.encryption)
            .field("health_url", &self.health_url.as_ref().map(Url::as_str))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct PlainBody<'a> {
    identifier: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct EncryptedBody<'a> {
    identifier: &'a str,
    password_jwe: &'a str,
}

impl AuthApiSource {
    /// The request body, in a buffer that is zeroed when reqwest drops the last reference.
    fn body(&self, identifier: &str, password: &Password) -> Result<Bytes, SourceError> {
        let Some(password_text) = password.as_str() else {
            return Err(self.query(
                "the password is not valid UTF-8, which a JSON body cannot carry".to_owned(),
            ));
        };
        let body_error = |e: serde_json::Error| self.query(format!("the request body: {e}"));
        let buffer = match &self.encryption {
            None => {
                // JSON escapes a byte as at most 6 (`\u001f`): with this capacity the buffer is
                // never reallocated, so no copy of the password is left in freed memory.
                let capacity = identifier
                    .len()
                    .saturating_add(password_text.len())
                    .saturating_mul(6)
                    .saturating_add(64);
                let mut buffer = Zeroizing::new(Vec::with_capacity(capacity));
                let body = PlainBody {
                    identifier,
                    password: password_text,
                };
                serde_json::to_writer(&mut *buffer, &body).map_err(body_error)?;
                buffer
            }
            Some(encrypter) => {
                let jwe = encrypter
                    .encrypt(password.expose())
                    .map_err(|e| self.query(format!("encrypting the password: {e}")))?;
                let body = EncryptedBody {
                    identifier,
                    password_jwe: &jwe,
                };
                Zeroizing::new(serde_json::to_vec(&body).map_err(body_error)?)
            }
        };
        Ok(Bytes::from_owner(buffer))
    }

    /// POSTs `body`, retrying once a connection that failed before anything was sent.
    async fn post(&self, body: Bytes) -> Result<reqwest::Response, SourceError> {
        let attempt = || {
            let mut request = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body.clone());
            if let Some((name, value)) = &self.header {
                request = request.header(name.clone(), value.clone());
            }
            request.send()
        };
        CONNECT_RETRY
            .run(
                attempt,
                |e: &reqwest::Error| {
                    if e.is_connect() && !e.is_timeout() {
                        Retry::Again
                    } else {
                        Retry::Stop
                    }
                },
                |_, _, _| {},
            )
            .await
            .map_err(|gave_up| self.unavailable(self.describe(&self.url, &gave_up.into_error())))
    }

    /// The response body, at most [`MAX_RESPONSE_BYTES`].
    async fn read_bounded(&self, mut response: reqwest::Response) -> Result<Vec<u8>, SourceError> {
        let too_big = || {
            self.query(format!(
                "{} answered with a body over {MAX_RESPONSE_BYTES} bytes",
                self.url
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| usize::try_from(length).map_or(true, |l| l > MAX_RESPONSE_BYTES))
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| self.unavailable(self.describe(&self.url, &e)))?;
            let Some(chunk) = chunk else {
                return Ok(body);
            };
            if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
    }

    /// Checks the API once: a GET of `health_url` expecting 2xx, or, without one, a HEAD of
    /// `url` without credentials answered with any status (which proves DNS, the connection and
    /// TLS, and sends no login). The configured header goes to `health_url` only when it is on
    /// the same origin as `url`.
    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        let Some(health_url) = &self.health_url else {
            return match self.client.head(self.url.clone()).send().await {
                Ok(_) => Ok(()),
                Err(e) => Err(self.unavailable(self.describe(&self.url, &e))),
            };
        };
        let mut request = self.client.get(health_url.clone());
        if let Some((name, value)) = &self.header
            && health_url.origin() == self.url.origin()
        {
            request = request.header(name.clone(), value.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unavailable(self.describe(health_url, &e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = format!("health_url {health_url} answered {status}");
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Err(self.unavailable(reason))
        } else {
            Err(SourceError::Config {
                source_name: self.name.clone(),
                reason,
            })
        }
    }

    /// What went wrong with a request to `url`: reqwest's error and its causes (they name the
    /// URL, never headers or the body), with a hint for the usual TLS mistake.
    fn describe(&self, url: &Url, error: &reqwest::Error) -> String {
        let mut text = if error.is_timeout() {
            format!("{url}: no answer within {} s", self.timeout.as_secs())
        } else {
            error.to_string()
        };
        let mut cause = std::error::Error::source(error);
        let mut causes = String::new();
        while let Some(e) = cause {
            let line = e.to_string();
            if !text.contains(&line) && !causes.contains(&line) {
                causes.push_str(": ");
                causes.push_str(&line);
            }
            cause = e.source();
        }
        text.push_str(&causes);
        if url.scheme() == "https" && error.is_connect() && causes.contains("certificate") {
            text.push_str(
                " (TLS: the server's certificate is not trusted; give its CA in tls_ca_file)",
            );
        }
        text
    }

    fn unavailable(&self, reason: String) -> SourceError {
        SourceError::Unavailable {
            source_name: self.name.clone(),
            reason,
        }
    }

    fn query(&self, reason: String) -> SourceError {
        SourceError::Query {
            source_name: self.name.clone(),
            reason,
        }
    }
}

/// The record in a 200 answer, or what is wrong with it.
fn parse_user(body: &[u8], key_field: &str) -> Result<LegacyRecord, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the 200 answer is not JSON ({e})"))?;
    let Value::Object(mut top) = value else {
        return Err("the 200 answer is not a JSON object".to_owned());
    };
    let fields: Map<String, Value> = match top.remove("user") {
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err("`user` in the 200 answer is not a JSON object".to_owned()),
        None => return Err("the 200 answer has no `user` object".to_owned()),
    };
    let key = match fields.get(key_field) {
        Some(Value::Number(n)) => n.as_i64().map(LegacyKey::Int).ok_or_else(|| {
            format!("user.{key_field} (the key) is {n}, not an integer of 64 bits or a string")
        })?,
        Some(Value::String(s)) if !s.is_empty() => LegacyKey::Text(s.clone()),
        Some(Value::String(_)) => return Err(format!("user.{key_field} (the key) is empty")),
        Some(other) => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Array(_) => "an array",
                _ => "an object",
            };
            return Err(format!(
                "user.{key_field} (the key) is {kind}, not an integer or a string"
            ));
        }
        None => return Err(format!("user.{key_field} (the key) is missing")),
    };
    key.to_legacy_id()
        .map_err(|e| format!("user.{key_field} (the key): {e}"))?;
    Ok(LegacyRecord { key, fields })
}

#[async_trait]
impl AuthSource for AuthApiSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn authenticate(
        &self,
        identifier: &str,
        password: &Password,
    ) -> Result<Option<LegacyRecord>, SourceError> {
        let body = self.body(identifier, password)?;
        let response = self.post(body).await?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => return Ok(None),
            StatusCode::FORBIDDEN => {
                return Err(SourceError::Config {
                    source_name: self.name.clone(),
                    reason: format!(
                        "{} refused usher's own credentials (403); check authorization_file \
                         and header",
                        self.url
                    ),
                });
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(self.unavailable(format!("{} answered {status}", self.url)));
            }
            _ => {
                return Err(self.query(format!(
                    "{} answered {status}; the contract allows 200, 401, 403, 404, 429 and 5xx",
                    self.url
                )));
            }
        }
        let body = self.read_bounded(response).await?;
        parse_user(&body, &self.key)
            .map(Some)
            .map_err(|reason| self.query(format!("{}: {reason}", self.url)))
    }
}

/// The HTTP client usher calls legacy with (its auth API, its "user migrated" endpoint):
/// `timeout_seconds` per call (half of it to connect), no redirects, and, with `tls_ca_file`,
/// the PEM certificates in that file trusted besides the system's roots.
pub fn http_client(
    timeout_seconds: u64,
    tls_ca_file: Option<&Path>,
) -> Result<reqwest::Client, ConfigProblem> {
    let mut client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_seconds))
        .connect_timeout(Duration::from_millis(timeout_seconds.saturating_mul(500)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("usher/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = tls_ca_file {
        let problem =
            |e: String| ConfigProblem::new("tls_ca_file", format!("{}: {e}", path.display()));
        let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
        let roots =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| problem(e.to_string()))?;
        if roots.is_empty() {
            return Err(problem("holds no PEM certificate".to_owned()));
        }
        for root in roots {
            client = client.add_root_certificate(root);
        }
    }
    client
        .build()
        .map_err(|e| ConfigProblem::new("url", format!("the HTTP client: {e}")))
}
