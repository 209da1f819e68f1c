//! Sessions: EdDSA (Ed25519) JWTs, and the JWKS (RFC 7517, with RFC 8037's `OKP` keys) that
//! lets any service verify them offline.
//!
//! ```
//! use usher_server::SessionKeys;
//!
//! let keys = SessionKeys::generate("https://login.example.com", 3600)?;
//! let user = uuid::Uuid::now_v7();
//! let session = keys.issue(&user, chrono::Utc::now())?;
//! assert_eq!(keys.verify(&session.token)?.sub, user.to_string());
//! # Ok::<(), usher_server::SessionError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer (usher's public URL).
    pub iss: String,
    /// The user's id in the new store.
    pub sub: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// A unique token id.
    pub jti: String,
}

/// An issued session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// The compact JWT (EdDSA), checkable with the keys of `/.well-known/jwks.json`.
    pub token: String,
    /// When it expires.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// Why a key could not be loaded, or a token issued or accepted.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The signing key is not an Ed25519 PKCS#8 key.
    #[error("the session signing key is not an Ed25519 PKCS#8 key: {0}")]
    Key(String),
    /// The system's random source failed.
    #[error("no randomness for a new signing key: {0}")]
    Random(String),
    /// The token is malformed, forged, expired or from another issuer.
    #[error("invalid session token: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error("signing the session failed: {0}")]
    Sign(String),
}

/// The signing key, its public half as a JWK, and the session lifetime.
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    x: String,
    issuer: String,
    ttl_seconds: i64,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// A fresh random key: sessions end when the process does. For tests and `usher demo`;
    /// a deployment loads one with [`SessionKeys::from_pkcs8_pem`].
    pub fn generate(issuer: &str, ttl_seconds: i64) -> Result<Self, SessionError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| SessionError::Random(e.to_string()))?;
        Self::from_signing_key(&SigningKey::from_bytes(&seed), issuer, ttl_seconds)
    }

    /// A fresh random key as a PKCS#8 PEM document in the RFC 8410 form (version 1, the seed
    /// alone: what `openssl genpkey -algorithm ed25519` writes and what OpenSSL 3 and Python's
    /// `cryptography` read), for a key file made on first start. Both forms are read back.
    pub fn generate_pkcs8_pem() -> Result<zeroize::Zeroizing<String>, SessionError> {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| SessionError::Random(e.to_string()))?;
        ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: *seed,
            public_key: None,
        }
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| SessionError::Key(e.to_string()))
    }

    /// The key in a PKCS#8 PEM file (`openssl genpkey -algorithm ed25519`).
    pub fn from_pkcs8_pem(pem: &str, issuer: &str, ttl_seconds: i64) -> Result<Self, SessionError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|e| SessionError::Key(e.to_string()))?;
        Self::from_signing_key(&key, issuer, ttl_seconds)
    }

    fn from_signing_key(
        key: &SigningKey,
        issuer: &str,
        ttl_seconds: i64,
    ) -> Result<Self, SessionError> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| SessionError::Key(e.to_string()))?;
        let public = key.verifying_key().to_bytes();
        let x = URL_SAFE_NO_PAD.encode(public);
        // The key id is the RFC 7638 thumbprint of the public JWK, so it changes with the key.
        let thumbprint_input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(sha256(thumbprint_input.as_bytes()));
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_components(&x)
                .map_err(|e| SessionError::Key(e.to_string()))?,
            kid,
            x,
            issuer: issuer.to_owned(),
            ttl_seconds,
        })
    }

    /// A session for `user`, valid from `now` for the configured lifetime.
    pub fn issue(&self, user: &Uuid, now: DateTime<Utc>) -> Result<Session, SessionError> {
        let iat = now.timestamp();
        let exp = iat.saturating_add(self.ttl_seconds);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.to_string(),
            iat,
            exp,
            jti: Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| SessionError::Sign(e.to_string()))?;
        Ok(Session {
            token,
            expires_at: DateTime::from_timestamp(exp, 0).unwrap_or(now),
        })
    }

    /// The claims of a token this key signed, if it is unexpired and from this issuer.
    pub fn verify(&self, token: &str) -> Result<Claims, SessionError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // A token that says it is not valid yet is not (RFC 7519 §4.1.5).
        validation.validate_nbf = true;
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| SessionError::Invalid(e.to_string()))
    }

    /// The JWKS document for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.x,
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.1: an Ed25519 private key as a PKCS#8 PEM made by OpenSSL
    /// (`openssl genpkey -algorithm ed25519` encodes the same seed this way), and A.2/A.3: its
    /// public JWK's `x` and its RFC 7638 thumbprint.
    const RFC8037_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
        -----END PRIVATE KEY-----\n";

    #[test]
    fn the_jwks_matches_rfc_8037_for_its_key() {
        let keys = SessionKeys::from_pkcs8_pem(RFC8037_PEM, "https://usher.test", 60).unwrap();
        let jwks = keys.jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(jwk["kid"], "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    /// Issue 11 item 12: `nbf` is checked when a token has one.
    #[test]
    fn a_token_not_valid_before_a_future_time_is_refused() {
        let keys = SessionKeys::generate("https://usher.test", 600).unwrap();
        let now = Utc::now().timestamp();
        let sign = |nbf: i64| {
            let claims = serde_json::json!({
                "iss": "https://usher.test", "sub": Uuid::now_v7().to_string(),
                "iat": now, "exp": now + 600, "nbf": nbf, "jti": "t",
            });
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(keys.kid.clone());
            jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap()
        };
        assert!(keys.verify(&sign(now - 5)).is_ok());
        let err = keys.verify(&sign(now + 300)).expect_err("not valid yet");
        assert!(err.to_string().contains("ImmatureSignature"), "{err}");
    }

    /// Issue 11 item 12: the key file written on first start is RFC 8410's form, which
    /// OpenSSL 3 reads (checked with the `openssl` binary, an independent implementation); the
    /// PKCS#8 v2 form (with the public key) is still read.
    #[test]
    fn the_generated_key_file_is_rfc_8410_and_openssl_reads_it() {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let pem = SessionKeys::generate_pkcs8_pem().unwrap();
        // A version-1 OneAsymmetricKey of an Ed25519 seed is 48 bytes: MC4CAQAw… in base64.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(body.starts_with("MC4CAQAwBQYDK2VwBCIEI"), "{body}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, pem.as_bytes()).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(&path)
            .args(["-noout", "-text"])
            .output()
            .expect("openssl (Debian's openssl package) runs");
        assert!(
            out.status.success(),
            "openssl cannot read the key file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("ED25519 Private-Key"));
        let keys = SessionKeys::from_pkcs8_pem(&pem, "https://usher.test", 60).unwrap();
        // The v2 form of the same key still loads, to the same key id.
        let seed = SigningKey::from_pkcs8_pem(&pem).unwrap();
        let v2 = seed
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        let again = SessionKeys::from_pkcs8_pem(&v2, "https://usher.test", 60).unwrap();
        assert_eq!(keys.kid, again.kid);
    }

    #[test]
    fn a_token_verifies_with_the_published_key_only() {
        let keys = SessionKeys::generate("https://usher.test", 60).unwrap();
        let user = Uuid::now_v7();
        let session = keys.issue(&user, Utc::now()).unwrap();
        // Any service can check it from the JWKS alone.
        let x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&["https://usher.test"]);
        let decoded = jsonwebtoken::decode::<Claims>(
            &session.token,
            &DecodingKey::from_ed_components(&x).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims.sub, user.to_string());
        assert_eq!(decoded.header.kid.as_deref(), Some(keys.kid.as_str()));

        // Another key, a tampered payload, another issuer: refused.
        let other = SessionKeys::generate("https://usher.test", 60).unwrap();
        assert!(other.verify(&session.token).is_err());
        let mut parts: Vec<String> = session.token.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = serde_json::json!(Uuid::now_v7().to_string());
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert!(keys.verify(&parts.join(".")).is_err());
        let elsewhere = SessionKeys::from_pkcs8_pem(RFC8037_PEM, "https://evil.test", 60).unwrap();
        let theirs = elsewhere.issue(&user, Utc::now()).unwrap();
        let ours = SessionKeys::from_pkcs8_pem(RFC8037_PEM, "https://usher.test", 60).unwrap();
        assert!(ours.verify(&theirs.token).is_err());
        assert!(
            ours.verify(&ours.issue(&user, Utc::now()).unwrap().token)
                .is_ok()
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = SessionKeys::generate("https://usher.test", 60).unwrap();
        let user = Uuid::now_v7();
        let old = keys
            .issue(&user, Utc::now() - chrono::Duration::seconds(61))
            .unwrap();
        assert!(keys.verify(&old.token).is_err());
        let fresh = keys.issue(&user, Utc::now()).unwrap();
        assert!(fresh.expires_at.timestamp() - Utc::now().timestamp() <= 60);
    }
}
