//! The `usher hash` contract: output, exit codes, and passwords only on stdin.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// An MD5-crypt hash of "password" written by libxcrypt's crypt(3).
const MD5_CRYPT: &str = "$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0";
/// hashlib.md5(b"password").hexdigest(), which is also an NT-hash-shaped string.
const HEX_MD5: &str = "5f4dcc3b5aa765d61d8327deb882cf99";
/// passlib.hash.nthash.hash("password").
const NTHASH: &str = "8846f7eaee8fb117ad06bdd830b7586c";

fn usher(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("usher runs");
    // usher may exit before reading stdin (a malformed hash is refused first).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn identify_prints_the_scheme_id() {
    let out = usher(&["hash", "identify", MD5_CRYPT], b"");
    assert_eq!(code(&out), 0);
    assert_eq!(text(&out.stdout), "md5-crypt\n");
    assert!(out.stderr.is_empty());
}

#[test]
fn identify_exits_2_with_a_reason_when_not_recognized() {
    let out = usher(&["hash", "identify", "not a hash"], b"");
    assert_eq!(code(&out), 2);
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unrecognized"), "{err}");
}

#[test]
fn verify_exits_0_on_a_match_and_strips_one_trailing_newline() {
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", MD5_CRYPT],
            b"password\n"
        )),
        0
    );
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", MD5_CRYPT],
            b"password"
        )),
        0
    );
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", MD5_CRYPT],
            b"password\r\n"
        )),
        0
    );
}

#[test]
fn verify_strips_only_one_newline() {
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", MD5_CRYPT],
            b"password\n\n"
        )),
        1
    );
}

#[test]
fn verify_exits_1_on_a_mismatch() {
    let out = usher(&["hash", "verify", "--hash", MD5_CRYPT], b"Password\n");
    assert_eq!(code(&out), 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn verify_exits_2_with_one_line_for_a_malformed_hash() {
    let out = usher(&["hash", "verify", "--hash", "$2b$99$short"], b"password\n");
    assert_eq!(code(&out), 2);
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bcrypt"), "{err}");
}

#[test]
fn verify_exits_2_for_a_hostile_cost_without_computing_it() {
    let hostile = "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    let out = usher(&["hash", "verify", "--hash", hostile], b"password\n");
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("outside the accepted range"));
}

#[test]
fn verify_with_a_forced_scheme_reads_32_hex_digits_as_an_nt_hash() {
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", NTHASH, "--scheme", "nthash"],
            b"password"
        )),
        0
    );
    // Unforced, the same string is MD5, which does not match.
    assert_eq!(
        code(&usher(&["hash", "verify", "--hash", NTHASH], b"password")),
        1
    );
    assert_eq!(
        code(&usher(&["hash", "verify", "--hash", HEX_MD5], b"password")),
        0
    );
}

#[test]
fn verify_exits_2_for_an_unknown_or_mismatched_forced_scheme() {
    let out = usher(
        &["hash", "verify", "--hash", HEX_MD5, "--scheme", "sha3"],
        b"password",
    );
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("unknown scheme id `sha3`"));
    let out = usher(
        &["hash", "verify", "--hash", HEX_MD5, "--scheme", "bcrypt"],
        b"password",
    );
    assert_eq!(code(&out), 2);
}

#[test]
fn new_prints_an_argon2id_hash_that_verifies() {
    let out = usher(&["hash", "new"], b"correct horse\n");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let hash = text(&out.stdout).trim().to_owned();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", &hash],
            b"correct horse\n"
        )),
        0
    );
    assert_eq!(
        code(&usher(
            &["hash", "verify", "--hash", &hash],
            b"correct horse!\n"
        )),
        1
    );
    assert_eq!(
        text(&usher(&["hash", "identify", &hash], b"").stdout),
        "argon2id\n"
    );
}

#[test]
fn the_cli_has_no_way_to_put_a_password_in_argv() {
    let help = text(&usher(&["hash", "verify", "--help"], b"").stdout);
    assert!(!help.to_lowercase().contains("--password"), "{help}");
    let help = text(&usher(&["hash", "new", "--help"], b"").stdout);
    assert!(!help.to_lowercase().contains("--password"), "{help}");
    let out = usher(
        &[
            "hash",
            "verify",
            "--hash",
            MD5_CRYPT,
            "--password",
            "password",
        ],
        b"",
    );
    assert_eq!(code(&out), 2, "clap refuses unknown flags");
}

/// Issue 11 item 22: two Firebase sources with different signer keys are refused by `usher
/// config check`, before any backfill reads them; the same key twice is fine.
#[test]
fn config_check_refuses_two_firebase_projects_in_one_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.json"), r#"{"users": []}"#).unwrap();
    std::fs::write(dir.path().join("key-a"), "a2V5LW9uZQ==\n").unwrap();
    std::fs::write(dir.path().join("key-b"), "a2V5LXR3bw==\n").unwrap();
    let check = |second_key: &str| {
        let source = |name: &str, key: &str| {
            format!(
                "[sources.{name}]\ntype = \"firebase\"\npath = \"users.json\"\n\
                 hash = {{ signer_key_file = \"{key}\", salt_separator = \"Bw==\", rounds = 8, mem_cost = 14 }}\n"
            )
        };
        let config = crate::support::write_config(
            dir.path(),
            "[store]\ntype = \"sqlite\"\npath = \"usher.db\"\n",
            &format!("{}{}", source("one", "key-a"), source("two", second_key)),
            "[mappings.one.fields]\nemail = \"email\"\n[mappings.two.fields]\nemail = \"email\"\n",
            "",
        );
        crate::support::usher(
            &["config", "check", "--config", config.to_str().unwrap()],
            &[],
        )
    };
    let out = check("key-b");
    assert!(!out.status.success());
    let stderr = crate::support::text(&out.stderr);
    assert!(
        stderr.contains("different Firebase signer keys"),
        "{stderr}"
    );
    assert!(!stderr.contains("a2V5"), "the key leaked: {stderr}");
    let out = check("key-a");
    assert!(
        out.status.success(),
        "{}",
        crate::support::text(&out.stderr)
    );
}
