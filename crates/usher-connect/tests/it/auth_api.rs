//! The legacy auth API client against a real HTTP server on 127.0.0.1: a small axum app that
//! implements usher's contract (docs/legacy-auth-api.yaml, the shape every fixture below
//! follows) for two users, over plain HTTP and over TLS with a self-signed certificate.
//!
//! Encrypted mode: the server opens `password_jwe` (RFC 7516 compact serialization,
//! https://www.rfc-editor.org/rfc/rfc7516#section-7.1; `RSA-OAEP-256` and `A256GCM` as RFC 7518
//! defines them, https://www.rfc-editor.org/rfc/rfc7518#section-4.3 and #section-5.3) with
//! the test's private key, either with RustCrypto (`rsa` + `aes-gcm`, code written here from
//! the RFC, not usher's) or, as the independent implementation, with Python's `cryptography`
//! package running the decryption docs/legacy-auth-api.md gives legacy teams (`python3` with
//! `cryptography` must be installed; the test fails without it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use usher_connect::{AuthApiSource, SourceConfig};
use usher_core::{AuthSource, LegacyKey, LegacyRecord, SourceError};
use usher_hash::Password;

const TOKEN: &str = "Bearer s3cret-legacy-token-9f2c";
const ADA_PASSWORD: &str = "correct horse battery staple";
const GRACE_PASSWORD: &str = "Grâce-Hopper-1906!";

/// How the test server reads the password.
#[derive(Clone)]
enum Decrypt {
    /// `password` in the clear.
    Plain,
    /// `password_jwe`, opened with RustCrypto.
    RustCrypto(Box<rsa::RsaPrivateKey>),
    /// `password_jwe`, opened by `python3` with `cryptography`; the PEM private key's path
    /// (named `legacy-rsa.pem`).
    Python(PathBuf),
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct Legacy {
    decrypt: Decrypt,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// The two users legacy knows, in the contract's 200 shape (docs/legacy-auth-api.yaml,
/// `AuthenticateOk`).
fn users() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"id": 42, "uuid": "7f1c9a2e-ada", "email": "ada@example.com",
                   "username": "ada", "name": "Ada Lovelace", "roles": ["admin"]}),
            ADA_PASSWORD,
        ),
        (
            json!({"id": 7, "uuid": "0b3d5e8f-grace", "email": "grace@example.com",
                   "username": "grace", "name": "Grace Hopper", "roles": []}),
            GRACE_PASSWORD,
        ),
    ]
}

fn record_request(legacy: &Legacy, uri: &Uri, headers: &HeaderMap, body: &Value) {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    legacy.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        content_type: header("content-type"),
        authorization: header("authorization"),
        body: body.clone(),
    });
}

/// RFC 7516 section 5.2, written for the test from the RFC: split, RSA-OAEP-256 the CEK,
/// A256GCM the ciphertext with the encoded header as AAD.
fn decrypt_rustcrypto(key: &rsa::RsaPrivateKey, jwe: &str) -> String {
    let parts: Vec<&str> = jwe.split('.').collect();
    assert_eq!(parts.len(), 5, "a compact JWE has five parts");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"}));
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    let cek = key
        .decrypt(rsa::Oaep::new::<rsa::sha2::Sha256>(), &b64(parts[1]))
        .unwrap();
    let iv: [u8; 12] = b64(parts[2]).try_into().unwrap();
    let mut text = b64(parts[3]);
    let tag: [u8; 16] = b64(parts[4]).try_into().unwrap();
    Aes256Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt_inout_detached(
            &iv.into(),
            parts[0].as_bytes(),
            text.as_mut_slice().into(),
            &tag.into(),
        )
        .unwrap();
    String::from_utf8(text).unwrap()
}

/// The same with Python's `cryptography`: the `decrypt_password` the guide for legacy teams
/// gives (docs/legacy-auth-api.md, run as written), which follows cryptography's documentation
/// (https://cryptography.io/en/latest/hazmat/primitives/asymmetric/rsa/#encryption and
/// https://cryptography.io/en/latest/hazmat/primitives/aead/#cryptography.hazmat.primitives.ciphers.aead.AESGCM).
/// It reads `legacy-rsa.pem` from its working directory.
fn python_decrypt_script() -> String {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/legacy-auth-api.md"),
    )
    .unwrap();
    let block = guide
        .split("```python\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|block| block.contains("def decrypt_password"))
        .expect("the guide shows decrypt_password");
    format!("{block}\nimport sys\nsys.stdout.write(decrypt_password(sys.stdin.read().strip()))\n")
}

async fn decrypt_python(private_pem: &Path, jwe: &str) -> String {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(python_decrypt_script())
        .current_dir(private_pem.parent().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (with the cryptography package) runs the independent JWE decryption");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(jwe.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "python3 could not open the JWE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// POST /authenticate, as docs/legacy-auth-api.yaml says a legacy system answers.
async fn authenticate(
    State(legacy): State<Legacy>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record_request(&legacy, &uri, &headers, &body);
    if headers.get("authorization").map(|v| v.as_bytes()) != Some(TOKEN.as_bytes()) {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "caller"}))).into_response();
    }
    let identifier = body["identifier"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    let password = match &legacy.decrypt {
        Decrypt::Plain => match body["password"].as_str() {
            Some(password) => password.to_owned(),
            // This server holds no private key for a `password_jwe`.
            None => return StatusCode::BAD_REQUEST.into_response(),
        },
        Decrypt::RustCrypto(key) => {
            assert!(body.get("password").is_none(), "{body}");
            decrypt_rustcrypto(key, body["password_jwe"].as_str().unwrap())
        }
        Decrypt::Python(pem) => {
            assert!(body.get("password").is_none(), "{body}");
            decrypt_python(pem, body["password_jwe"].as_str().unwrap()).await
        }
    };
    for (user, right) in users() {
        if (user["email"] == identifier || user["username"] == identifier) && password == right {
            return (StatusCode::OK, Json(json!({"user": user}))).into_response();
        }
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_credentials"})),
    )
        .into_response()
}

async fn healthz(headers: HeaderMap) -> StatusCode {
    if headers.get("authorization").map(|v| v.as_bytes()) == Some(TOKEN.as_bytes()) {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

fn router(decrypt: Decrypt) -> (Router, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let legacy = Legacy {
        decrypt,
        seen: Arc::clone(&seen),
    };
    let router = Router::new()
        .route("/authenticate", post(authenticate))
        .route("/healthz", get(healthz))
        .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            "/busy",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "maintenance") }),
        )
        .route(
            "/throttled",
            post(|| async { StatusCode::TOO_MANY_REQUESTS }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                StatusCode::OK
            }),
        )
        .route(
            "/moved",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [("location", "/authenticate")],
                )
            }),
        )
        .route("/teapot", post(|| async { StatusCode::IM_A_TEAPOT }))
        .route(
            "/no-key",
            post(|| async { Json(json!({"user": {"email": "ada@example.com"}})) }),
        )
        .route(
            "/float-key",
            post(|| async { Json(json!({"user": {"id": 4.5, "email": "ada@example.com"}})) }),
        )
        .route(
            "/no-user",
            post(|| async { Json(json!({"id": 42, "email": "ada@example.com"})) }),
        )
        .route(
            "/huge",
            post(|| async {
                let name = "x".repeat(2 * 1024 * 1024);
                Json(json!({"user": {"id": 1, "name": name}}))
            }),
        )
        .with_state(legacy);
    (router, seen)
}

/// A legacy API on 127.0.0.1 over plain HTTP.
async fn start(decrypt: Decrypt) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let (router, seen) = router(decrypt);
    (usher_testkit::tls::serve(router).await, seen)
}

/// Files the config points at, in a temporary directory.
struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Self {
        let secrets = Secrets {
            dir: tempfile::tempdir().unwrap(),
        };
        // Trailing whitespace and a newline, as `echo "Bearer ..." > file` writes it.
        secrets.write("token", &format!("  {TOKEN} \n"));
        secrets
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }
}

fn config(toml_text: &str) -> SourceConfig {
    let config: SourceConfig = toml::from_str(toml_text).unwrap();
    assert_eq!(config.validate(), []);
    config
}

async fn source(toml_text: &str) -> Box<dyn AuthSource> {
    config(toml_text)
        .build_auth("old_app")
        .await
        .unwrap()
        .expect("an auth-api source is an auth source")
}

fn plain_config(addr: SocketAddr, path: &str, secrets: &Secrets, extra: &str) -> String {
    format!(
        "type = 'auth-api'\nurl = 'http://{addr}{path}'\nauthorization_file = '{}'\nkey = 'id'\n{extra}",
        secrets.path("token")
    )
}

fn pw(text: &str) -> Password {
    Password::new(text.as_bytes().to_vec())
}

/// A plain-HTTP legacy API on 127.0.0.1 ([`Decrypt::Plain`]), what it saw, and the secrets
/// its sources read.
struct PlainLegacy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    secrets: Secrets,
}

impl PlainLegacy {
    async fn start() -> Self {
        let (addr, seen) = start(Decrypt::Plain).await;
        let secrets = Secrets::new();
        PlainLegacy {
            addr,
            seen,
            secrets,
        }
    }

    /// [`plain_config`] for `path` on this server.
    fn config(&self, path: &str, extra: &str) -> String {
        plain_config(self.addr, path, &self.secrets, extra)
    }

    /// [`Self::config`] of `/authenticate` reading the token from the secret `wrong` instead.
    fn wrong_token_config(&self) -> String {
        let secrets = &self.secrets;
        self.config("/authenticate", "")
            .replace(&secrets.path("token"), &secrets.path("wrong"))
    }
}

/// An address nothing listens on: bound, noted, closed.
fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The record `api` answers for `login` with `password`, which must be right.
async fn accepted(api: &dyn AuthSource, login: &str, password: &str) -> LegacyRecord {
    api.authenticate(login, &pw(password))
        .await
        .unwrap()
        .expect("the right password is accepted")
}

/// The error `api` answers for `login` with Ada's password.
async fn refusal(api: &dyn AuthSource, login: &str) -> SourceError {
    api.authenticate(login, &pw(ADA_PASSWORD))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn the_right_password_returns_the_record_with_its_key_and_fields() {
    let legacy = PlainLegacy::start().await;
    let api = source(&legacy.config("/authenticate", "")).await;
    assert_eq!(api.name(), "old_app");

    let record = accepted(&*api, "Ada@Example.com", ADA_PASSWORD).await;
    assert_eq!(record.key, LegacyKey::Int(42));
    assert_eq!(record.fields["email"], "ada@example.com");
    assert_eq!(record.fields["name"], "Ada Lovelace");
    assert_eq!(record.fields["roles"], json!(["admin"]));
    assert_eq!(record.fields.len(), 6);

    // By username too, a non-ASCII password.
    let grace = accepted(&*api, "grace", GRACE_PASSWORD).await;
    assert_eq!(grace.key, LegacyKey::Int(7));

    // What legacy received: JSON with the password in the body, the token in the header,
    // nothing in the query string.
    let seen = legacy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/authenticate");
    assert_eq!(seen[0].query, None);
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(seen[0].authorization.as_deref(), Some(TOKEN));
    assert_eq!(
        seen[0].body,
        json!({"identifier": "Ada@Example.com", "password": ADA_PASSWORD})
    );
}

#[tokio::test]
async fn a_string_key_field_gives_a_text_key() {
    let legacy = PlainLegacy::start().await;
    let text = legacy
        .config("/authenticate", "")
        .replace("key = 'id'", "key = 'uuid'");
    let api = source(&text).await;
    let record = accepted(&*api, "ada", ADA_PASSWORD).await;
    assert_eq!(record.key, LegacyKey::Text("7f1c9a2e-ada".into()));
    assert_eq!(record.fields["id"], 42);
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_user_is_none() {
    let legacy = PlainLegacy::start().await;
    let api = source(&legacy.config("/authenticate", "")).await;
    assert_eq!(
        api.authenticate("ada@example.com", &pw(GRACE_PASSWORD))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        api.authenticate("nobody@example.com", &pw(ADA_PASSWORD))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        legacy.seen.lock().unwrap().len(),
        2,
        "each login is asked once"
    );
}

#[tokio::test]
async fn refused_caller_credentials_are_a_config_error_not_a_wrong_password() {
    let legacy = PlainLegacy::start().await;
    // No authorization_file at all.
    let api = source(&format!(
        "type = 'auth-api'\nurl = 'http://{}/authenticate'\nkey = 'id'",
        legacy.addr
    ))
    .await;
    let err = refusal(&*api, "ada@example.com").await;
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("403"), "{err}");
    assert!(err.to_string().contains("authorization_file"), "{err}");
    assert_eq!(legacy.seen.lock().unwrap()[0].authorization, None);

    // A wrong token.
    legacy.secrets.write("wrong", "Bearer not-the-token");
    let api = source(&legacy.wrong_token_config()).await;
    let err = refusal(&*api, "ada@example.com").await;
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");

    // The token in another header than the server reads: refused the same way.
    let api = source(&legacy.config("/authenticate", "header = 'X-Api-Key'")).await;
    let err = refusal(&*api, "ada@example.com").await;
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn a_busy_or_throttling_legacy_is_unavailable() {
    let legacy = PlainLegacy::start().await;
    for path in ["/busy", "/throttled"] {
        let api = source(&legacy.config(path, "")).await;
        let err = refusal(&*api, "ada@example.com").await;
        assert!(
            matches!(err, SourceError::Unavailable { .. }),
            "{path}: {err:?}"
        );
        let code = if path == "/busy" { "503" } else { "429" };
        assert!(err.to_string().contains(code), "{err}");
    }
}

#[tokio::test]
async fn a_slow_legacy_is_unavailable_after_about_the_timeout() {
    let legacy = PlainLegacy::start().await;
    let api = source(&legacy.config("/slow", "timeout_seconds = 1")).await;
    let started = Instant::now();
    let err = refusal(&*api, "ada@example.com").await;
    let took = started.elapsed();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_legacy_that_is_down_is_unavailable() {
    // A port nothing listens on: bind, note the address, close.
    let addr = dead_address();
    let secrets = Secrets::new();
    let api = source(&plain_config(addr, "/authenticate", &secrets, "")).await;
    let err = refusal(&*api, "ada@example.com").await;
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn answers_outside_the_contract_are_query_errors_naming_what_is_wrong() {
    let legacy = PlainLegacy::start().await;
    let cases = [
        ("/moved", "307"),
        ("/teapot", "418"),
        ("/no-key", "user.id (the key) is missing"),
        ("/float-key", "user.id (the key) is 4.5"),
        ("/no-user", "no `user` object"),
        ("/huge", "over 1048576 bytes"),
    ];
    for (path, expected) in cases {
        let api = source(&legacy.config(path, "")).await;
        let err = refusal(&*api, "ada@example.com").await;
        assert!(matches!(err, SourceError::Query { .. }), "{path}: {err:?}");
        assert!(err.to_string().contains(expected), "{path}: {err}");
    }
    // The redirect was not followed: /authenticate never saw a request.
    assert!(legacy.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn healthcheck_gets_health_url_or_only_connects() {
    let legacy = PlainLegacy::start().await;
    // health_url on the same origin gets the token (this /healthz answers 403 without it).
    let healthy = config(&legacy.config(
        "/authenticate",
        &format!("health_url = 'http://{}/healthz'", legacy.addr),
    ));
    healthy.healthcheck("old_app").await.unwrap();
    let down = config(&legacy.config(
        "/authenticate",
        &format!("health_url = 'http://{}/down'", legacy.addr),
    ));
    let err = down.healthcheck("old_app").await.unwrap_err();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("503"), "{err}");
    // Without health_url: a HEAD of url, any answer (here 405) proves the connection; no
    // login was sent.
    let plain = config(&legacy.config("/authenticate", ""));
    plain.healthcheck("old_app").await.unwrap();
    assert!(legacy.seen.lock().unwrap().is_empty());
    let err = config(&plain_config(
        dead_address(),
        "/authenticate",
        &legacy.secrets,
        "",
    ))
    .healthcheck("old_app")
    .await
    .unwrap_err();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
}

/// A 2048-bit key pair: the private key, and the public key's and private key's PEM files.
fn key_pair(secrets: &Secrets) -> (rsa::RsaPrivateKey, String, String) {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = secrets.write("legacy-rsa.pub.pem", &public_pem);
    let private_path = secrets.write("legacy-rsa.pem", &private_pem);
    (private, public, private_path)
}

/// A source encrypting with `public` against a server that decrypts with `decrypt`: `login`
/// with `right` is the record `key`, with `wrong` nothing. Returns what the server saw.
async fn assert_encrypted_logins(
    secrets: &Secrets,
    public: &str,
    decrypt: Decrypt,
    (login, key): (&str, i64),
    (right, wrong): (&str, &str),
) -> Vec<Seen> {
    let (addr, seen) = start(decrypt).await;
    let api = source(&plain_config(
        addr,
        "/authenticate",
        secrets,
        &format!("encrypt_public_key_file = '{public}'"),
    ))
    .await;
    let record = api
        .authenticate(login, &pw(right))
        .await
        .unwrap()
        .expect("the server decrypted the right password");
    assert_eq!(record.key, LegacyKey::Int(key));
    assert_eq!(api.authenticate(login, &pw(wrong)).await.unwrap(), None);
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn encrypted_mode_sends_a_jwe_the_server_opens_with_rustcrypto() {
    let secrets = Secrets::new();
    let (private, public, _) = key_pair(&secrets);
    let decrypt = Decrypt::RustCrypto(Box::new(private));
    let login = ("grace@example.com", 7);
    let passwords = (GRACE_PASSWORD, ADA_PASSWORD);
    let seen = assert_encrypted_logins(&secrets, &public, decrypt, login, passwords).await;
    let body = seen[0].body.to_string();
    assert!(!body.contains(GRACE_PASSWORD), "{body}");
    // A fresh key and IV per login: the same password never gives the same JWE.
    assert_ne!(seen[0].body["password_jwe"], seen[1].body["password_jwe"]);
}

#[tokio::test]
async fn encrypted_mode_jwe_is_opened_by_python_cryptography() {
    let secrets = Secrets::new();
    let (_, public, private_path) = key_pair(&secrets);
    let decrypt = Decrypt::Python(PathBuf::from(private_path));
    let passwords = (ADA_PASSWORD, "correct horse battery stapler");
    assert_encrypted_logins(&secrets, &public, decrypt, ("ada", 42), passwords).await;
}

#[tokio::test]
async fn a_short_or_unreadable_public_key_is_refused_when_built() {
    let secrets = Secrets::new();
    let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let small = secrets.write(
        "small.pem",
        &small
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    );
    let junk = secrets.write(
        "junk.pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    for (file, expected) in [(small, "1024-bit"), (junk, "not a PEM RSA public key")] {
        let text = format!(
            "type = 'auth-api'\nurl = 'https://legacy.internal/auth'\nkey = 'id'\nencrypt_public_key_file = '{file}'"
        );
        let err = config(&text).build_auth("old_app").await.err().unwrap();
        assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("encrypt_public_key_file"), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

/// A legacy API over TLS with a fresh self-signed certificate for 127.0.0.1; its PEM.
async fn start_tls() -> (SocketAddr, String) {
    let (router, _) = router(Decrypt::Plain);
    usher_testkit::tls::serve_https(router).await
}

#[tokio::test]
async fn tls_with_the_servers_ca_works_and_without_it_fails_naming_tls() {
    let (addr, cert_pem) = start_tls().await;
    let secrets = Secrets::new();
    let ca = secrets.write("legacy-ca.pem", &cert_pem);
    let base = format!(
        "type = 'auth-api'\nurl = 'https://{addr}/authenticate'\nauthorization_file = '{}'\nkey = 'id'\n",
        secrets.path("token")
    );
    let trusted = source(&format!("{base}tls_ca_file = '{ca}'")).await;
    let record = accepted(&*trusted, "ada", ADA_PASSWORD).await;
    assert_eq!(record.key, LegacyKey::Int(42));
    config(&format!("{base}tls_ca_file = '{ca}'"))
        .healthcheck("old_app")
        .await
        .unwrap();

    let untrusted = source(&base).await;
    let err = refusal(&*untrusted, "ada").await;
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert!(err.to_string().contains("tls_ca_file"), "{err}");
    let err = config(&base).healthcheck("old_app").await.unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");

    // A CA file that is not PEM is refused when built.
    let junk = secrets.write("junk-ca.pem", "not a certificate");
    let err = config(&format!("{base}tls_ca_file = '{junk}'"))
        .build_auth("old_app")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("tls_ca_file"), "{err}");
}

#[tokio::test]
async fn neither_debug_nor_any_error_shows_the_password_or_the_token() {
    let legacy = PlainLegacy::start().await;
    let (_, public, _) = key_pair(&legacy.secrets);
    let token_secret = "s3cret-legacy-token-9f2c";
    let mut outputs = Vec::new();
    let paths = [
        "/authenticate",
        "/busy",
        "/slow",
        "/no-key",
        "/huge",
        "/moved",
    ];
    for path in paths {
        for extra in [
            "timeout_seconds = 1".to_owned(),
            format!("timeout_seconds = 1\nencrypt_public_key_file = '{public}'"),
        ] {
            let built: AuthApiSource = match config(&legacy.config(path, &extra)) {
                SourceConfig::AuthApi(c) => c.build("old_app").unwrap(),
                _ => unreachable!(),
            };
            outputs.push(format!("{built:?}"));
            // Ada's password is right at /authenticate (Ok), the rest are errors.
            match built.authenticate("ada", &pw(ADA_PASSWORD)).await {
                Ok(record) => outputs.push(format!("{record:?}")),
                Err(e) => outputs.push(format!("{e:?} {e}")),
            }
        }
    }
    // A refused token (403) and a dead port.
    legacy
        .secrets
        .write("wrong", &format!("Bearer {token_secret}-wrong"));
    let refused = source(&legacy.wrong_token_config()).await;
    let err = refusal(&*refused, "ada").await;
    outputs.push(format!("{err:?} {err}"));
    // Every output was produced: one Debug and one result per source, plus the refusal.
    assert_eq!(outputs.len(), paths.len() * 4 + 1);
    assert!(
        outputs.iter().any(|o| o.contains("***")),
        "the header shows as ***"
    );
    for output in &outputs {
        assert!(!output.contains(ADA_PASSWORD), "{output}");
        assert!(!output.contains(token_secret), "{output}");
    }
}
