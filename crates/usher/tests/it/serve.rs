//! `usher serve` and `usher demo` as a team runs them: the real binary, a real SQLite legacy
//! table and store, requests over TCP.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use serde_json::{Value, json};
use sqlx::Connection as _;
use usher_testkit::ldap::Directory;

use crate::support::{text, usher};

/// A password that must never be written anywhere but the request bodies.
const SENTINEL: &str = "Sentinel-Pa55word-7f3a9c2e";

/// A running usher process whose stdout and stderr go to files; killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    /// Starts `usher args` with `env` and waits for its "serving on http://ADDR" line.
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let stdout = dir.join("usher.stdout");
        let stderr = dir.join("usher.stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(rest) = out.split("serving on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                return Self {
                    child,
                    addr: addr.parse().unwrap(),
                    stdout,
                    stderr,
                };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "usher exited with {status} before serving:\n{out}\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "usher did not start serving");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits: usher finishes what is in flight and exits 0.
    fn stop(mut self) -> (String, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "usher did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "usher exited with {exit}");
        (
            std::fs::read_to_string(&self.stdout).unwrap(),
            std::fs::read_to_string(&self.stderr).unwrap(),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, body as JSON or as a string).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = bearer.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (status, value)
}

fn login(addr: SocketAddr, identifier: &str, password: &str) -> (u16, Value) {
    let body = json!({ "identifier": identifier, "password": password });
    http(addr, "POST", "/v1/login", Some(&body), None)
}

/// A legacy SQLite table whose hashes are md5(salt || password), salt in its own column, and
/// the table the write-back records migrated users in.
async fn legacy_db(path: &Path, rows: &[(i64, &str, &str, &str, &str)]) {
    let mut conn = usher_testkit::databases::sqlite(path).await;
    sqlx::raw_sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, login TEXT, pw TEXT, salt TEXT);
         CREATE TABLE migrated (legacy_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (id, email, login, password, salt) in rows {
        let digest = Md5::digest(format!("{salt}{password}").as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        sqlx::query("INSERT INTO users VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(email)
            .bind(login)
            .bind(hex)
            .bind(salt)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

/// The rows the write-back put in legacy's `migrated` table.
async fn written_back(path: &Path) -> Vec<(i64, String)> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let rows = sqlx::query_as("SELECT legacy_id, user_id FROM migrated ORDER BY legacy_id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows
}

const ADMIN: &str = "admin-token-for-the-serve-test-0123456789";

fn config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("admin-token"), format!("{ADMIN}\n")).unwrap();
    let path = dir.join("usher.toml");
    std::fs::write(
        &path,
        r#"
[store]
type = "sqlite"
path = "usher.db"

[sources.legacy]
type = "sqlite"
path = "legacy.db"
table = "users"
key = "id"
write_back = "INSERT INTO migrated (legacy_id, user_id) VALUES (:key, :user_id)"

[mappings.legacy.fields]
email = "email"
username = "login"

[mappings.legacy.password]
hash = "pw"
scheme = "md5"
salt = "salt"
salt_position = "prefix"

[serve]
admin_token_file = "admin-token"
hash_queue = 64
rate_limit = { per_identifier = { per_minute = 6000, burst = 100 } }
argon2 = { memory_kib = 1024, iterations = 1 }
"#,
    )
    .unwrap();
    path
}

/// The bridge end to end, with every log line at trace level kept: 50 parallel first logins
/// of one user make one user; wrong, unknown, malformed and registration requests all carry
/// a sentinel password; then nothing usher wrote — stdout, stderr at trace, the status
/// output, the store's file and its WAL — contains it.
#[tokio::test(flavor = "multi_thread")]
async fn serve_migrates_at_login_and_never_writes_the_password_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    legacy_db(
        &dir.path().join("legacy.db"),
        &[
            (1, "Ann.Lee@example.com", "ann", SENTINEL, "s4lt"),
            (2, "bo@example.com", "bo", "bo's own password", "pepper"),
        ],
    )
    .await;
    let config = config(dir.path());
    let config = config.to_str().unwrap();
    let server = Running::start(
        dir.path(),
        &["serve", "--config", config, "--listen", "127.0.0.1:0"],
        &[("RUST_LOG", "trace")],
    );
    let addr = server.addr;

    // 50 parallel first logins of the same legacy user: exactly one migrates.
    let threads: Vec<_> = (0..50)
        .map(|_| std::thread::spawn(move || login(addr, "ann.lee@example.com", SENTINEL)))
        .collect();
    let mut paths = std::collections::BTreeMap::<String, u32>::new();
    let mut ids = std::collections::BTreeSet::new();
    for t in threads {
        let (status, body) = t.join().unwrap();
        assert_eq!(status, 200, "{body}");
        *paths
            .entry(body["path"].as_str().unwrap().to_owned())
            .or_default() += 1;
        ids.insert(body["user"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(paths.get("lazy_migrated"), Some(&1), "{paths:?}");
    assert_eq!(ids.len(), 1, "every login names the same user");

    // The sentinel as a wrong password for a legacy user and for an unknown one.
    assert_eq!(login(addr, "bo", SENTINEL).0, 401);
    assert_eq!(login(addr, "nobody@example.com", SENTINEL).0, 401);
    // In a malformed body, and as a registration password.
    let (status, _) = http(
        addr,
        "POST",
        "/v1/login",
        Some(&json!({ "identifier": 7, "password": SENTINEL })),
        None,
    );
    assert_eq!(status, 400);
    let register = json!({ "email": "cleo@example.com", "password": SENTINEL });
    assert_eq!(
        http(addr, "POST", "/v1/users", Some(&register), None).0,
        201
    );
    assert_eq!(login(addr, "cleo@example.com", SENTINEL).0, 200);
    assert_eq!(
        login(addr, "bo", "bo's own password").1["path"],
        "lazy_migrated"
    );

    let (status, report) = http(addr, "GET", "/v1/admin/status", None, Some(ADMIN));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["by_method"]["lazy"], 2);
    assert_eq!(report["sources"][0]["remaining"], 0);
    let (status, metrics) = http(addr, "GET", "/metrics", None, Some(ADMIN));
    assert_eq!(status, 200);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("usher_migrations_total{source=\"legacy\"} 2"),
        "{metrics}"
    );
    // Legacy hears of each migration once, through the write-back: an outbox row written with
    // the user, which the server's courier delivers after the login answered.
    let ann = ids.first().unwrap();
    let bo = login(addr, "bo", "bo's own password").1["user"]["id"].clone();
    let want = vec![(1, ann.clone()), (2, bo.as_str().unwrap().to_owned())];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let marked = written_back(&dir.path().join("legacy.db")).await;
        if marked == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "write-back: {marked:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Counted once the store has recorded the deliveries, just after legacy's commit.
    let delivered =
        "usher_outbox_deliveries_total{destination=\"legacy:legacy\",result=\"delivered\"} 2";
    loop {
        let (_, metrics) = http(addr, "GET", "/metrics", None, Some(ADMIN));
        if metrics.as_str().unwrap().contains(delivered) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status_cli = usher(&["status", "--config", config], &[("RUST_LOG", "trace")]);
    assert!(status_cli.status.success(), "{}", text(&status_cli.stderr));
    let status_out = text(&status_cli.stdout);
    assert!(
        status_out.contains("at login (lazy)              2"),
        "{status_out}"
    );

    let (stdout, stderr) = server.stop();
    let traced = stderr
        .lines()
        .filter(|l| l.contains("TRACE") && l.contains("usher_bridge::"))
        .count();
    assert!(
        traced >= 100,
        "the bridge logged at trace level: {traced} lines"
    );
    let escaped = serde_json::to_string(SENTINEL).unwrap();
    for (name, written) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("status stdout", &status_out),
        ("status stderr", &text(&status_cli.stderr)),
    ] {
        assert!(
            !written.contains(SENTINEL) && !written.contains(escaped.trim_matches('"')),
            "the password appears in {name}"
        );
    }
    // Nor is it in the store: its file, its write-ahead log (whatever has not been folded
    // back into the file yet) and the shared-memory index, as bytes.
    let mut files = 0;
    for file in ["usher.db", "usher.db-wal", "usher.db-shm"] {
        let Ok(bytes) = std::fs::read(dir.path().join(file)) else {
            continue;
        };
        files += 1;
        assert!(
            !bytes
                .windows(SENTINEL.len())
                .any(|w| w == SENTINEL.as_bytes()),
            "the password appears in the store's {file}"
        );
    }
    assert!(files >= 1, "no store file to check");
}

/// The README's run command: `usher demo` makes its legacy database, backfills half, serves,
/// and the credentials it prints work as it says.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_serves_both_halves_as_its_guide_says() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let server = Running::start(
        dir.path(),
        &[
            "demo",
            "--dir",
            demo_dir.to_str().unwrap(),
            "--users",
            "2000",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let guide = std::fs::read_to_string(&server.stdout).unwrap();
    let credentials = |label: &str| -> Vec<(String, String)> {
        guide
            .lines()
            .filter(|l| l.trim_start().starts_with(label))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let email = words.iter().find(|w| w.contains('@')).unwrap().to_string();
                let password = l.rsplit("password: ").next().unwrap().to_owned();
                (email, password)
            })
            .collect()
    };
    let migrated = credentials("migrated ");
    let waiting = credentials("not migrated ");
    assert!(migrated.len() >= 2 && waiting.len() >= 2, "{guide}");
    for (email, password) in &migrated {
        let (status, body) = login(server.addr, email, password);
        assert_eq!(status, 200, "{email}: {body}");
        let path = body["path"].as_str().unwrap();
        assert!(
            path == "store" || path == "store_upgraded",
            "{email}: {path}"
        );
    }
    for (email, password) in &waiting {
        let (status, body) = login(server.addr, email, password);
        assert_eq!(
            (status, body["path"].as_str()),
            (200, Some("lazy_migrated")),
            "{email}"
        );
        assert_eq!(login(server.addr, email, password).1["path"], "store");
    }
    // The guide's curl lines name the server's address and a user of each half.
    assert!(guide.contains(&format!("curl -s http://{}/v1/login", server.addr)));
    let token = std::fs::read_to_string(demo_dir.join("admin-token")).unwrap();
    let (status, report) = http(server.addr, "GET", "/v1/admin/status", None, Some(&token));
    assert_eq!(status, 200);
    assert_eq!(report["by_method"]["lazy"], waiting.len());
    assert_eq!(report["sources"][0]["legacy_records"], 2000);
    server.stop();
}

/// `usher serve` over a SQLite store and the given `[sources]` and `[mappings]`, hashing with
/// cheap Argon2id parameters.
fn serve_sources(dir: &Path, sources: &str) -> Running {
    let config = dir.join("usher.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n{sources}\n\
             [serve]\nargon2 = {{ memory_kib = 1024, iterations = 1 }}\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    Running::start(
        dir,
        &["serve", "--config", config, "--listen", "127.0.0.1:0"],
        &[],
    )
}

/// An LDAP directory as the legacy system, the bridge binding as the user: the real binary, the
/// real slapd that scripts/test-services starts, entries added with OpenLDAP's own ldapadd.
#[tokio::test(flavor = "multi_thread")]
async fn serve_migrates_a_directory_user_by_binding_as_them() {
    // The test slapd's admin (scripts/test-services), required: a missing one fails the test.
    let Directory {
        url,
        base,
        admin_dn: admin,
        admin_password_file,
    } = Directory::from_env();
    let password_file = admin_password_file.to_str().unwrap();
    let ou = format!("ou=serve-{},{base}", std::process::id());
    let ldif = format!(
        "dn: {ou}\nobjectClass: organizationalUnit\nou: serve-{pid}\n\n\
         dn: uid=dana,{ou}\nobjectClass: inetOrgPerson\nuid: dana\ncn: Dana Diaz\nsn: Diaz\n\
         givenName: Dana\nmail: Dana@Example.org\nuserPassword: dana's directory password\n",
        pid = std::process::id()
    );
    let mut add = Command::new("ldapadd")
        .args(["-x", "-H", &url, "-D", &admin, "-y", password_file])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("ldapadd (Debian's ldap-utils) runs");
    add.stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success(), "ldapadd failed");

    let dir = tempfile::tempdir().unwrap();
    let server = serve_sources(
        dir.path(),
        &format!(
            r#"
[sources.corp]
type = "ldap"
url = "{url}"
bind_dn = "{admin}"
bind_password_file = "{password_file}"
base_dn = "{ou}"

[mappings.corp.fields]
username = "uid"
email = "mail"
given_name = "givenName"
family_name = "sn"
"#
        ),
    );
    let addr = server.addr;
    assert_eq!(login(addr, "dana", "a guess").0, 401);
    assert_eq!(
        login(addr, "dana", "").0 / 100,
        4,
        "an empty password never binds"
    );
    let (status, body) = login(addr, "dana", "dana's directory password");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "lazy_migrated");
    assert_eq!(body["user"]["profile"]["given_name"], "Dana");
    // The bind proved the password, which is now the user's credential: no reset is due.
    assert_eq!(body["user"]["status"], "active", "{body}");
    // Now the store answers, by username or address.
    let (status, body) = login(addr, "dana@example.org", "dana's directory password");
    assert_eq!(
        (status, body["path"].as_str()),
        (200, Some("store")),
        "{body}"
    );
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("dana's directory password"), "{stderr}");
}

/// A Firebase project's `auth:export` as the legacy system: the first user of the fixture
/// (crates/usher-connect/tests/fixtures/firebase/users.json, in the shape of
/// https://firebase.google.com/docs/cli/auth#file_format) carries the published example of
/// https://github.com/firebase/scrypt, password "user1password", with the project's signer
/// key, separator "Bw==", rounds 8 and mem_cost 14. The user logs in through the bridge with
/// that old password and moves across.
#[tokio::test(flavor = "multi_thread")]
async fn serve_migrates_a_firebase_export_user_with_their_old_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("firebase-signer-key"),
        "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==\n",
    )
    .unwrap();
    let export = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../usher-connect/tests/fixtures/firebase/users.json"
    );
    let server = serve_sources(
        dir.path(),
        &format!(
            r#"
[sources.firebase]
type = "firebase"
path = "{export}"
hash = {{ signer_key_file = "firebase-signer-key", salt_separator = "Bw==", rounds = 8, mem_cost = 14 }}

[mappings.firebase.fields]
email = "email"
email_verified = "emailVerified"
name = "displayName"

[mappings.firebase.password]
hash = "usher_password_hash"
"#
        ),
    );
    let addr = server.addr;
    assert_eq!(login(addr, "user1@example.com", "user1Password").0, 401);
    let (status, body) = login(addr, "user1@example.com", "user1password");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "lazy_migrated");
    assert_eq!(body["user"]["profile"]["name"], "User One");
    assert_eq!(body["user"]["email_verified"], true);
    // Re-hashed to Argon2id: the store answers from now on.
    let (status, body) = login(addr, "User1@Example.com", "user1password");
    assert_eq!(
        (status, body["path"].as_str()),
        (200, Some("store")),
        "{body}"
    );
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("user1password"), "{stderr}");
}

/// A legacy auth API in the shape of docs/legacy-auth-api.yaml, served on loopback by a thread:
/// it knows one user and wants `Authorization: Bearer cognito-adapter-token`. The counter
/// counts the requests it was sent.
fn legacy_auth_api() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, _)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let start = head.len() + 4;
                    if request.len() >= start + length {
                        break (head.to_owned(), request[start..start + length].to_vec());
                    }
                }
            };
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let authorized = head
                .lines()
                .any(|l| l == "authorization: Bearer cognito-adapter-token");
            let (status, answer) = if !authorized {
                ("403 Forbidden", json!({"error": "caller"}))
            } else if body["identifier"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref()
                == Some("john.doe@example.com")
                && body["password"] == "John's Cognito password"
            {
                (
                    "200 OK",
                    json!({"user": {"sub": "0c7f4e1a-john", "email": "John.Doe@Example.com",
                                    "email_verified": true}}),
                )
            } else {
                ("401 Unauthorized", json!({"error": "invalid_credentials"}))
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, asked)
}

/// Cognito cannot export hashes: its users are backfilled from the user-pool CSV as
/// password-reset-required, and move their passwords at their first login through an auth
/// source (here the legacy auth API an adapter in front of Cognito would serve). The CSV is
/// crates/usher-connect/tests/fixtures/cognito/users.csv, in the shape of `aws cognito-idp
/// get-csv-header`.
#[tokio::test(flavor = "multi_thread")]
async fn a_cognito_user_backfilled_without_a_hash_logs_in_through_the_auth_api() {
    let dir = tempfile::tempdir().unwrap();
    let (api, _) = legacy_auth_api();
    std::fs::write(
        dir.path().join("api-token"),
        "Bearer cognito-adapter-token\n",
    )
    .unwrap();
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../usher-connect/tests/fixtures/cognito/users.csv"
    );
    let sources = format!(
        r#"
[sources.cognito]
type = "cognito"
path = "{csv}"

[sources.cognito_login]
type = "auth-api"
url = "http://{api}/usher/authenticate"
authorization_file = "api-token"
key = "sub"

[mappings.cognito.fields]
email = "email"
email_verified = {{ from = "email_verified", map = {{ "true" = true, "TRUE" = true, "false" = false }} }}
username = "cognito:username"
given_name = "given_name"

[mappings.cognito_login.fields]
email = "email"
email_verified = "email_verified"
"#
    );
    // The CSV has no hashes: only the auth API is a login fallback.
    let config = dir.path().join("usher.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n{sources}\n[serve]\n\
             legacy = [\"cognito_login\"]\nargon2 = {{ memory_kib = 1024, iterations = 1 }}\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = usher(
        &["backfill", "--config", config, "--source", "cognito"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = Running::start(
        dir.path(),
        &["serve", "--config", config, "--listen", "127.0.0.1:0"],
        &[],
    );
    let addr = server.addr;
    assert_eq!(login(addr, "johndoe", "a guess").0, 401);
    let (status, body) = login(addr, "John.Doe@example.com", "John's Cognito password");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "linked");
    assert_eq!(body["user"]["status"], "active");
    assert_eq!(body["user"]["profile"]["given_name"], "John");
    let (status, body) = login(addr, "johndoe", "John's Cognito password");
    assert_eq!(
        (status, body["path"].as_str()),
        (200, Some("store")),
        "{body}"
    );
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("Cognito password"), "{stderr}");

    // `usher status` shows the auth source as configured, with its record linked (not
    // migrated: it joined the user the CSV made), and the CSV's users as migrated.
    let out = usher(&["status", "--config", config, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let source = |name: &str| {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    let login_source = source("cognito_login");
    assert_eq!(
        (&login_source["migrated"], &login_source["linked"]),
        (&json!(0), &json!(1)),
        "{status}"
    );
    let why = login_source["error"].as_str().unwrap_or_default();
    assert!(why.contains("auth source"), "{status}");
    assert!(!why.contains("not configured"), "{status}");
    assert_eq!(source("cognito")["linked"], 0, "{status}");
    assert_eq!(source("cognito")["remaining"], 0, "{status}");
}

/// `usher serve` with only the legacy auth API as legacy, as docs/legacy-auth-api.md shows it;
/// `token` is what `authorization_file` holds.
fn serve_auth_api(dir: &Path, api: SocketAddr, token: &str) -> Running {
    std::fs::write(dir.join("api-token"), format!("{token}\n")).unwrap();
    std::fs::write(dir.join("admin-token"), format!("{ADMIN}\n")).unwrap();
    let config = dir.join("usher.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
type = "sqlite"
path = "usher.db"

[sources.login_api]
type = "auth-api"
url = "http://{api}/usher/authenticate"
authorization_file = "api-token"
key = "sub"

[mappings.login_api.fields]
email = "email"
email_verified = "email_verified"

[serve]
admin_token_file = "admin-token"
argon2 = {{ memory_kib = 1024, iterations = 1 }}
"#
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    Running::start(
        dir,
        &["serve", "--config", config, "--listen", "127.0.0.1:0"],
        &[],
    )
}

/// Item 14 and 15 of issue 11: a user the auth API proved is active (their password is now
/// their Argon2id credential), and once migrated, legacy never hears of them again: a wrong
/// password is answered by the store alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_auth_api_user_migrates_active_and_legacy_is_never_asked_about_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let (api, asked) = legacy_auth_api();
    let server = serve_auth_api(dir.path(), api, "Bearer cognito-adapter-token");
    let addr = server.addr;
    let (status, body) = login(addr, "john.doe@example.com", "John's Cognito password");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "lazy_migrated");
    assert_eq!(body["user"]["status"], "active", "{body}");
    let after_migration = asked.load(Ordering::SeqCst);
    assert_eq!(after_migration, 1, "one request proved the password");
    for guess in ["a guess", "another guess", "John's Cognito passwor"] {
        assert_eq!(login(addr, "john.doe@example.com", guess).0, 401);
    }
    let (status, body) = login(addr, "John.Doe@Example.com", "John's Cognito password");
    assert_eq!(
        (status, body["path"].as_str()),
        (200, Some("store")),
        "{body}"
    );
    assert_eq!(body["user"]["status"], "active");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        after_migration,
        "legacy was asked about a user who has migrated"
    );
    // An identifier legacy may still know is still asked about.
    assert_eq!(login(addr, "someone@example.com", "a guess").0, 401);
    assert_eq!(asked.load(Ordering::SeqCst), after_migration + 1);
    server.stop();
}

/// Item 16 of issue 11: legacy refusing usher's own token (403) is an outage for the user, a
/// 503 to retry, never a bare 500; an operator sees an error log line and its own metric.
#[tokio::test(flavor = "multi_thread")]
async fn an_auth_api_refusing_usher_s_token_answers_503_logs_an_error_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (api, asked) = legacy_auth_api();
    let server = serve_auth_api(dir.path(), api, "Bearer a-revoked-token");
    let addr = server.addr;
    let (status, body) = login(addr, "john.doe@example.com", "John's Cognito password");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "legacy_unavailable", "{body}");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let (_, metrics) = http(addr, "GET", "/metrics", None, Some(ADMIN));
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains("usher_legacy_misconfigured_total{source=\"login_api\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("usher_logins_total{outcome=\"legacy_misconfigured\"} 1"),
        "{metrics}"
    );
    let (_, stderr) = server.stop();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("login_api") && l.contains("403")),
        "{stderr}"
    );
    assert!(!stderr.contains("John's Cognito password"), "{stderr}");
}

/// Issue 11, done when: a rehearsal on `usher fake` data loses no user to an optional field,
/// and every user who migrated logs in through the bridge with the email as legacy stores it
/// (stray spaces and capitals included), or with their username where legacy has no email.
#[tokio::test(flavor = "multi_thread")]
async fn a_rehearsal_on_fake_data_logs_every_migrated_user_in_with_their_legacy_email() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("usher.toml");
    let logins = dir.path().join("logins.jsonl");
    let out = usher(
        &[
            "fake",
            "--users",
            "400",
            "--sqlite",
            dir.path().join("legacy.db").to_str().unwrap(),
            "--write-config",
            config.to_str().unwrap(),
            "--logins",
            logins.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = usher(&["backfill", "--config", config.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Every record is a user or held back, and only for a name the user logs in with.
    let store = usher_store::open(&usher_store::StoreConfig::Sqlite {
        path: dir.path().join("usher.db"),
    })
    .await
    .unwrap();
    let held = store
        .quarantine_list(&usher_store::QuarantineFilter::default(), 1000, 0)
        .await
        .unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.by_source["legacy"] + held.len() as u64,
        400,
        "{counts:?}"
    );
    for q in &held {
        assert!(
            matches!(q.field.as_deref(), Some("email" | "username")),
            "record {} held back for an optional field: {:?} {}",
            q.legacy_id,
            q.field,
            q.reason
        );
    }
    let mut migrated = Vec::new();
    for line in std::fs::read_to_string(&logins).unwrap().lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        let id = l["id"].as_i64().unwrap().to_string();
        if let Some(user) = store.user_by_legacy("legacy", &id).await.unwrap() {
            // Nobody migrates out of reach: with no email or username, a phone to sign in by.
            assert!(
                user.email.is_some() || user.username.is_some() || user.phone.is_some(),
                "record {id} migrated with nothing to sign in with"
            );
            migrated.push(l);
        }
    }
    store.close().await;
    assert!(migrated.len() > 300, "{} of 400 to log in", migrated.len());

    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap()
            + "\n[serve]\nadmin_token_file = \"admin-token\"\n\
               session = { issuer = \"rehearsal\", key_file = \"session-ed25519.pem\" }\n\
               [serve.rate_limit]\n\
               per_identifier = { per_minute = 0, burst = 1 }\n\
               per_address = { per_minute = 0, burst = 1 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("admin-token"),
        "rehearsal-admin-token-0123456789",
    )
    .unwrap();
    let server = Running::start(
        dir.path(),
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let addr = server.addr;
    let next = Arc::new(AtomicUsize::new(0));
    let migrated = Arc::new(migrated);
    let failures: Vec<String> = (0..4)
        .map(|_| {
            let (next, migrated) = (Arc::clone(&next), Arc::clone(&migrated));
            std::thread::spawn(move || {
                let mut failed = Vec::new();
                while let Some(l) = migrated.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let given = |k: &str| l[k].as_str().filter(|v| !v.trim().is_empty());
                    // A user with only a phone signs in by phone, not through the bridge.
                    let Some(identifier) = given("email").or_else(|| given("username")) else {
                        continue;
                    };
                    let (status, body) = login(addr, identifier, l["password"].as_str().unwrap());
                    if status != 200 || body["path"] != "store_upgraded" {
                        failed.push(format!("{identifier:?}: {status} {body}"));
                    }
                }
                failed
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} could not log in: {failures:#?}",
        failures.len()
    );
    server.stop();
}

/// An identity provider's hook, on from usher.toml alone (`[serve.hooks.kratos]`, its secret in
/// a file beside the config): Kratos's request migrates the user, `usher status` counts the
/// user as Kratos's, and the password is nowhere in what usher wrote, even at trace level.
#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_a_provider_s_hook_configured_in_usher_toml() {
    const HOOK_SECRET: &str = "kratos-hook-secret-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    legacy_db(
        &dir.path().join("legacy.db"),
        &[(1, "Ann.Lee@example.com", "ann", SENTINEL, "s4lt")],
    )
    .await;
    let config = config(dir.path());
    std::fs::write(dir.path().join("kratos.secret"), format!("{HOOK_SECRET}\n")).unwrap();
    let mut toml_text = std::fs::read_to_string(&config).unwrap();
    toml_text.push_str(
        "\n[serve.hooks.kratos]\nauth = { type = \"bearer\", secret_file = \"kratos.secret\" }\n",
    );
    std::fs::write(&config, toml_text).unwrap();
    let config = config.to_str().unwrap();
    let server = Running::start(
        dir.path(),
        &["serve", "--config", config, "--listen", "127.0.0.1:0"],
        &[("RUST_LOG", "trace")],
    );
    let request = json!({ "identifier": "ann", "password": SENTINEL });
    let (status, _) = http(server.addr, "POST", "/hooks/kratos", Some(&request), None);
    assert_eq!(status, 401, "no credential");
    let (status, answer) = http(
        server.addr,
        "POST",
        "/hooks/kratos",
        Some(&request),
        Some(HOOK_SECRET),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "status": "password_match" }));
    let wrong = json!({ "identifier": "ann", "password": "not it" });
    let (status, _) = http(
        server.addr,
        "POST",
        "/hooks/kratos",
        Some(&wrong),
        Some(HOOK_SECRET),
    );
    assert_eq!(status, 403);

    let out = usher(&["status", "--config", config, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["targets"], json!({ "kratos": 1 }), "{status}");
    let table = usher(&["status", "--config", config], &[]);
    assert!(
        text(&table.stdout).contains("taken by providers\n  kratos"),
        "{}",
        text(&table.stdout)
    );
    let (stdout, stderr) = server.stop();
    assert!(
        !stdout.contains(SENTINEL) && !stderr.contains(SENTINEL),
        "the password appears in usher's output"
    );
    assert!(stderr.lines().count() > 3, "the hook logged at trace level");
}
