//! How a hook knows its caller is the provider: the credential each provider can send.
//!
//! | `type` | the caller sends | providers |
//! |---|---|---|
//! | `header` | a shared secret as the value of a header, verbatim | Okta (`Authorization: <secret>`), Auth0's scripts (`x-api-key`), Kratos (`api_key` in a header) |
//! | `basic` | HTTP Basic | FusionAuth, Kratos (`basic_auth`), Keycloak's plugin |
//! | `bearer` | `Authorization: Bearer <secret>` | Keycloak's plugin (API token) |
//! | `hmac` | `X-Usher-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` | the Cognito Lambda usher ships |
//!
//! Secrets are read from files, at least [`MIN_SECRET_CHARS`] long. What is compared is the
//! SHA-256 of what was presented against the SHA-256 of the secret, in constant time, so
//! neither a secret's length nor its prefix shows in the time an answer takes. A signature is
//! checked with the HMAC's own constant-time comparison, and refused when its timestamp is
//! more than `max_skew_secs` from the clock (a replayed request).

use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, HeaderName, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{KeyInit as _, Mac as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use usher_core::ConfigProblem;
use usher_core::config::resolve_path;
use zeroize::Zeroizing;

/// The shortest secret a hook accepts.
pub const MIN_SECRET_CHARS: usize = 24;

/// The header an HMAC signature comes in unless configured.
pub const SIGNATURE_HEADER: &str = "x-usher-signature";

/// `[serve.hooks.<provider>.auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HookAuthConfig {
    /// A shared secret as a header's whole value.
    Header {
        /// The header (`Authorization` for Okta, `x-api-key` for the Auth0 scripts).
        name: String,
        /// The file holding the secret.
        secret_file: PathBuf,
    },
    /// HTTP Basic.
    Basic {
        /// The user name the provider sends.
        username: String,
        /// The file holding the password.
        secret_file: PathBuf,
    },
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// The file holding the token.
        secret_file: PathBuf,
    },
    /// An HMAC-SHA256 signature of the timestamp and the body.
    Hmac {
        /// The file holding the key.
        secret_file: PathBuf,
        /// The header the signature comes in (default `X-Usher-Signature`).
        #[serde(default)]
        header: Option<String>,
        /// How far a signature's timestamp may be from this clock (default 300 s).
        #[serde(default = "default_skew")]
        max_skew_secs: u64,
    },
}

fn default_skew() -> u64 {
    300
}

impl HookAuthConfig {
    fn secret_file(&self) -> &Path {
        match self {
            HookAuthConfig::Header { secret_file, .. }
            | HookAuthConfig::Basic { secret_file, .. }
            | HookAuthConfig::Bearer { secret_file }
            | HookAuthConfig::Hmac { secret_file, .. } => secret_file,
        }
    }

    /// Every problem that shows without reading the secret.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let header = match self {
            HookAuthConfig::Header { name, .. } => Some(("name", name.as_str())),
            HookAuthConfig::Hmac {
                header: Some(h), ..
            } => Some(("header", h.as_str())),
            _ => None,
        };
        if let Some((key, name)) = header
            && HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            problems.push(ConfigProblem::new(
                key,
                format!("{name:?} is not a header name"),
            ));
        }
        if let HookAuthConfig::Basic { username, .. } = self
            && (username.is_empty() || username.contains(':'))
        {
            problems.push(ConfigProblem::new(
                "username",
                "must be set, without a colon (HTTP Basic)",
            ));
        }
        if let HookAuthConfig::Hmac { max_skew_secs, .. } = self
            && !(1..=3600).contains(max_skew_secs)
        {
            problems.push(ConfigProblem::new("max_skew_secs", "must be 1 to 3600"));
        }
        if self.secret_file().as_os_str().is_empty() {
            problems.push(ConfigProblem::new("secret_file", "must name a file"));
        }
        problems
    }

    /// Resolves the secret file against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        match self {
            HookAuthConfig::Header { secret_file, .. }
            | HookAuthConfig::Basic { secret_file, .. }
            | HookAuthConfig::Bearer { secret_file }
            | HookAuthConfig::Hmac { secret_file, .. } => resolve_path(secret_file, base),
        }
    }
}

/// A hook's caller check, with its secret.
pub struct HookAuth {
    scheme: Scheme,
    /// The SHA-256 of what the caller must present (the header's value, `user:password`, or
    /// the token); for HMAC, the key itself.
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for HookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookAuth")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum Scheme {
    Header(HeaderName),
    Basic,
    Bearer,
    Hmac { header: HeaderName, max_skew: i64 },
}

fn digest(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Sha256::digest(bytes).to_vec())
}

impl HookAuth {
    /// The check `config` describes, its secret read from its file.
    pub fn from_config(config: &HookAuthConfig) -> Result<Self, String> {
        let path = config.secret_file();
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("reading the secret file {}: {e}", path.display()))?,
        );
        Self::new(config, text.trim())
    }

    /// The check `config` describes with `secret` (surrounding whitespace already trimmed).
    pub fn new(config: &HookAuthConfig, secret: &str) -> Result<Self, String> {
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(format!(
                "the secret must be at least {MIN_SECRET_CHARS} characters"
            ));
        }
        let header = |name: &str| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{name:?} is not a header name"))
        };
        Ok(match config {
            HookAuthConfig::Header { name, .. } => Self {
                scheme: Scheme::Header(header(name)?),
                secret: digest(secret.as_bytes()),
            },
            HookAuthConfig::Basic { username, .. } => Self {
                scheme: Scheme::Basic,
                secret: digest(format!("{username}:{secret}").as_bytes()),
            },
            HookAuthConfig::Bearer { .. } => Self {
                scheme: Scheme::Bearer,
                secret: digest(secret.as_bytes()),
            },
            HookAuthConfig::Hmac {
                header: name,
                max_skew_secs,
                ..
            } => Self {
                scheme: Scheme::Hmac {
                    header: header(name.as_deref().unwrap_or(SIGNATURE_HEADER))?,
                    max_skew: i64::try_from(*max_skew_secs).unwrap_or(i64::MAX),
                },
                secret: Zeroizing::new(secret.as_bytes().to_vec()),
            },
        })
    }

    /// Whether the request (its headers, and its body for a signature) comes from the
    /// provider, at `now`.
    pub fn admits(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> bool {
        let value = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        match &self.scheme {
            Scheme::Header(name) => value(name).is_some_and(|v| self.matches(v.trim().as_bytes())),
            Scheme::Basic => value(&header::AUTHORIZATION)
                .and_then(|v| credentials(v, "basic"))
                .and_then(|encoded| {
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .ok()
                })
                .is_some_and(|pair| self.matches(&Zeroizing::new(pair))),
            Scheme::Bearer => value(&header::AUTHORIZATION)
                .and_then(|v| credentials(v, "bearer"))
                .is_some_and(|token| self.matches(token.as_bytes())),
            Scheme::Hmac { header, max_skew } => {
                value(header).and_then(Signature::parse).is_some_and(|sig| {
                    now.timestamp().abs_diff(sig.at) <= max_skew.unsigned_abs()
                        && self.signed(sig.at, body, &sig.mac)
                })
            }
        }
    }

    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(Sha256::digest(presented).as_slice().ct_eq(&self.secret))
    }

    fn signed(&self, at: i64, body: &[u8], mac: &[u8]) -> bool {
        let Ok(mut hmac) = hmac::Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return false;
        };
        hmac.update(at.to_string().as_bytes());
        hmac.update(b".");
        hmac.update(body);
        hmac.verify_slice(mac).is_ok()
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header; the scheme in any
/// case (RFC 7235 §2.1).
fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|c| !c.is_empty())
}

/// `t=<unix seconds>,v1=<hex>`.
struct Signature {
    at: i64,
    mac: Vec<u8>,
}

impl Signature {
    fn parse(value: &str) -> Option<Self> {
        let mut at = None;
        let mut mac = None;
        for part in value.split(',') {
            match part.trim().split_once('=')? {
                ("t", t) => at = t.parse().ok(),
                ("v1", hex) => mac = decode_hex(hex),
                _ => {}
            }
        }
        Some(Self { at: at?, mac: mac? })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.len() > 128 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i.checked_add(2)?)?, 16).ok())
        .collect()
}

/// The `X-Usher-Signature` value for `body` at `at`, signed with `key`: what the Cognito
/// Lambda sends, here for tests and tools.
pub fn sign(key: &[u8], at: i64, body: &[u8]) -> String {
    let mut hmac = match hmac::Hmac::<Sha256>::new_from_slice(key) {
        Ok(h) => h,
        Err(_) => return String::new(),
    };
    hmac.update(at.to_string().as_bytes());
    hmac.update(b".");
    hmac.update(body);
    let mac = hmac.finalize().into_bytes();
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={at},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> HookAuthConfig {
        toml::from_str(toml_text).unwrap()
    }

    const SECRET: &str = "s3cret-s3cret-s3cret-s3cret";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_header_secret_is_the_whole_value() {
        let auth = HookAuth::new(
            &config("type = \"header\"\nname = \"Authorization\"\nsecret_file = \"x\""),
            SECRET,
        )
        .unwrap();
        let now = Utc::now();
        assert!(auth.admits(&headers(&[("authorization", SECRET)]), b"", now));
        assert!(!auth.admits(&headers(&[("authorization", "s3cret")]), b"", now));
        assert!(!auth.admits(
            &headers(&[("authorization", &format!("Bearer {SECRET}"))]),
            b"",
            now
        ));
        assert!(!auth.admits(&HeaderMap::new(), b"", now));
    }

    #[test]
    fn basic_needs_the_user_and_the_password() {
        let auth = HookAuth::new(
            &config("type = \"basic\"\nusername = \"fusionauth\"\nsecret_file = \"x\""),
            SECRET,
        )
        .unwrap();
        let basic = |pair: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        let now = Utc::now();
        let ok = basic(&format!("fusionauth:{SECRET}"));
        assert!(auth.admits(&headers(&[("authorization", &ok)]), b"", now));
        let other_user = basic(&format!("keycloak:{SECRET}"));
        assert!(!auth.admits(&headers(&[("authorization", &other_user)]), b"", now));
        assert!(!auth.admits(
            &headers(&[("authorization", "Basic !!not-base64!!")]),
            b"",
            now
        ));
    }

    #[test]
    fn a_bearer_token_in_any_case_of_the_scheme() {
        let auth =
            HookAuth::new(&config("type = \"bearer\"\nsecret_file = \"x\""), SECRET).unwrap();
        let now = Utc::now();
        let lower = format!("bearer {SECRET}");
        assert!(auth.admits(&headers(&[("authorization", &lower)]), b"", now));
        assert!(!auth.admits(&headers(&[("authorization", SECRET)]), b"", now));
    }

    #[test]
    fn a_signature_covers_the_body_and_expires() {
        let auth = HookAuth::new(&config("type = \"hmac\"\nsecret_file = \"x\""), SECRET).unwrap();
        let now = Utc::now();
        let at = now.timestamp();
        let body = br#"{"userName":"ann"}"#;
        let sig = sign(SECRET.as_bytes(), at, body);
        assert!(auth.admits(&headers(&[(SIGNATURE_HEADER, &sig)]), body, now));
        // Another body, another key, an old timestamp, or garbage: refused.
        assert!(!auth.admits(&headers(&[(SIGNATURE_HEADER, &sig)]), b"{}", now));
        let forged = sign(b"another-key-another-key-another", at, body);
        assert!(!auth.admits(&headers(&[(SIGNATURE_HEADER, &forged)]), body, now));
        let stale = sign(SECRET.as_bytes(), at - 301, body);
        assert!(!auth.admits(&headers(&[(SIGNATURE_HEADER, &stale)]), body, now));
        assert!(!auth.admits(&headers(&[(SIGNATURE_HEADER, "t=1,v1=zz")]), body, now));
    }

    #[test]
    fn a_short_secret_is_refused() {
        let err =
            HookAuth::new(&config("type = \"bearer\"\nsecret_file = \"x\""), "short").unwrap_err();
        assert!(err.contains("at least 24"), "{err}");
    }

    #[test]
    fn config_problems_name_their_keys() {
        let problems =
            config("type = \"basic\"\nusername = \"a:b\"\nsecret_file = \"\"").validate();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].contains("username"), "{text:?}");
        assert!(text[1].contains("secret_file"), "{text:?}");
        let bad_header = config("type = \"header\"\nname = \"not a header\"\nsecret_file = \"x\"");
        assert!(bad_header.validate()[0].to_string().contains("name"));
    }
}
