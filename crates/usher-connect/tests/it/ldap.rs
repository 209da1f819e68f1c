//! The LDAP source and auth source against a real OpenLDAP slapd started by
//! `scripts/test-services start` (USHER_TEST_LDAP_URL, USHER_TEST_LDAP_BASE,
//! USHER_TEST_LDAP_ADMIN_DN, USHER_TEST_LDAP_ADMIN_PASSWORD_FILE, and for TLS
//! USHER_TEST_LDAPS_URL and USHER_TEST_LDAP_CA_FILE; a missing one fails the test).
//!
//! Each test creates its own `ou=<test>-<unique>` under the base as the admin, so tests run in
//! parallel and reruns against the same server do not collide. The entries are `inetOrgPerson`
//! entries as RFC 2798 defines the class (https://www.rfc-editor.org/rfc/rfc2798, section 9.1.3:
//! `cn` and `sn` required; `uid`, `mail`, `userPassword`, `jpegPhoto` among the optional
//! attributes), the schema slapd loads from /etc/ldap/schema/inetorgperson.schema.

use std::collections::HashSet;

use usher_connect::SourceConfig;
use usher_core::{AuthSource, KeyRange, LegacyKey, Mapper, MappingConfig, Source, SourceError};
use usher_hash::{Password, PasswordHash};
use usher_testkit::ldap::{Subtree, add, dead_url};
use usher_testkit::services::{self, LDAP_CA_FILE, LDAPS_URL};
use usher_testkit::tls::unrelated_ca_file;

use crate::common::{assert_lookup_fields_refused, assert_lookups_find_nothing, keys, read_all};

/// Each test's own subtree on the shared slapd (`usher_testkit::ldap`), and the source
/// configs on it.
trait Configs {
    /// A source config on this subtree, bound as the admin, with `extra` TOML lines.
    fn config(&self, extra: &str) -> SourceConfig;
    fn config_at(&self, url: &str, extra: &str) -> SourceConfig;
    async fn source(&self, extra: &str) -> Box<dyn Source>;
    async fn auth(&self, extra: &str) -> Box<dyn AuthSource>;
}

impl Configs for Subtree {
    fn config(&self, extra: &str) -> SourceConfig {
        self.config_at(&self.url, extra)
    }

    fn config_at(&self, url: &str, extra: &str) -> SourceConfig {
        let mut table: toml::Table = toml::from_str(extra).unwrap();
        table.insert("type".into(), "ldap".into());
        table.insert("url".into(), url.into());
        table.insert("base_dn".into(), self.base.clone().into());
        table.insert("bind_dn".into(), self.admin_dn.clone().into());
        table
            .entry("bind_password_file")
            .or_insert_with(|| self.admin_password_file.to_str().unwrap().into());
        let config: SourceConfig = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(config.validate(), []);
        config
    }

    async fn source(&self, extra: &str) -> Box<dyn Source> {
        self.config(extra).build("corp").await.unwrap()
    }

    async fn auth(&self, extra: &str) -> Box<dyn AuthSource> {
        self.config(extra)
            .build_auth("corp")
            .await
            .unwrap()
            .unwrap()
    }
}

/// `slappasswd -h <scheme> [-c <salt format>] -T <file>`: OpenLDAP's own hashing, an
/// implementation independent of usher's. The password goes through a file, never argv.
fn slappasswd(scheme: &str, crypt_format: Option<&str>, password: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, password).unwrap();
    // Debian installs it in /usr/sbin, which a non-root PATH may not hold.
    let program = if std::path::Path::new("/usr/sbin/slappasswd").exists() {
        "/usr/sbin/slappasswd"
    } else {
        "slappasswd"
    };
    let mut cmd = std::process::Command::new(program);
    cmd.arg("-h").arg(scheme);
    if let Some(format) = crypt_format {
        cmd.arg("-c").arg(format);
    }
    let out = cmd.arg("-T").arg(&file).output().expect(
        "slappasswd (from Debian's slapd package, which scripts/test-services needs) must run",
    );
    assert!(
        out.status.success(),
        "slappasswd -h {scheme}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn text(key: &str) -> LegacyKey {
    LegacyKey::Text(key.to_owned())
}

#[tokio::test]
async fn ldap_reads_every_entry_in_key_order_in_pages_with_keyset_resume() {
    let mut dir = Subtree::new("ldap_read").await;
    // Added out of order, mixed case: byte order puts "Bob" and "Zed" before "alice".
    let mut uids: Vec<String> = ["mallory", "alice", "Zed", "Bob", "carol", "émile"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for i in (0..30).rev() {
        uids.push(format!("user{i:03}"));
    }
    for uid in &uids {
        dir.person(uid, &[]).await;
    }
    // A person without the key attribute is an invalid record keyed by its DN; an entry the
    // filter does not match is left out.
    let base = dir.base.clone();
    let no_uid = format!("cn=No Uid,{base}");
    add(
        &mut dir.ldap,
        &format!("cn=No Uid,{base}"),
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("cn", &["No Uid"]),
            ("sn", &["Uid"]),
        ],
    )
    .await;
    add(
        &mut dir.ldap,
        &format!("ou=groups,{base}"),
        &[
            ("objectClass", &["organizationalUnit"]),
            ("ou", &["groups"]),
        ],
    )
    .await;

    let mut expected = uids.clone();
    expected.push(no_uid.clone());
    expected.sort();
    let expected: Vec<LegacyKey> = expected.iter().map(|k| text(k)).collect();

    // page_size 4: the paged results control takes ten round trips for one snapshot.
    let source = dir.source("page_size = 4").await;
    // Counting a fresh source takes the snapshot (what `usher status` shows before any read).
    assert_eq!(source.count().await.unwrap(), Some(uids.len() as u64 + 1));
    for chunk in [1, 7, 1000] {
        let got = keys(&read_all(source.as_ref(), &KeyRange::default(), chunk).await);
        assert_eq!(got, expected, "chunks of {chunk}");
    }
    assert_eq!(source.count().await.unwrap(), Some(uids.len() as u64 + 1));
    assert_eq!(
        source.key_bounds().await.unwrap(),
        Some((text("Bob"), text("émile")))
    );

    // A bounded range: after < key <= until.
    let part = source
        .read(
            &KeyRange {
                after: Some(text("alice")),
                until: Some(text("user002")),
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&part),
        vec![
            text("carol"),
            text(&no_uid),
            text("mallory"),
            text("user000"),
            text("user001"),
            text("user002")
        ]
    );

    // A fresh source resuming mid-way (after a restart) snapshots first, then resumes.
    let resumed = dir.source("").await;
    let rest = resumed
        .read(
            &KeyRange {
                after: Some(text("user027")),
                until: None,
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&rest),
        vec![text("user028"), text("user029"), text("émile")]
    );

    // A new entry shows up in the next read that starts at the beginning.
    dir.person("aaron", &[]).await;
    let first = source.read(&KeyRange::default(), 3).await.unwrap();
    assert_eq!(keys(&first), vec![text("Bob"), text("Zed"), text("aaron")]);
    assert_eq!(source.count().await.unwrap(), Some(uids.len() as u64 + 2));

    source.healthcheck().await.unwrap();
}

#[tokio::test]
async fn ldap_records_hold_single_values_as_strings_multi_values_as_arrays_and_binary_as_base64() {
    let mut dir = Subtree::new("ldap_fields").await;
    let dn = dir
        .person(
            "ann",
            &[
                ("mail", &["ann@example.org", "a.nother@example.org"]),
                ("givenName", &["Ann"]),
            ],
        )
        .await;
    // jpegPhoto holds bytes that are not UTF-8 (a JPEG's start-of-image marker).
    let photo: Vec<u8> = vec![0xff, 0xd8, 0xff, 0x00];
    let mut values = HashSet::new();
    values.insert(photo);
    let mods = vec![ldap3::Mod::Add(b"jpegPhoto".to_vec(), values)];
    dir.ldap.modify(&dn, mods).await.unwrap().success().unwrap();

    let source = dir.source("").await;
    let records = source.read(&KeyRange::default(), 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let fields = &records[0].fields;
    assert_eq!(fields["uid"], "ann");
    assert_eq!(fields["givenName"], "Ann");
    assert_eq!(fields["dn"], serde_json::json!(dn));
    let mut mails: Vec<&str> = fields["mail"]
        .as_array()
        .expect("two values: an array")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    mails.sort_unstable();
    assert_eq!(mails, vec!["a.nother@example.org", "ann@example.org"]);
    // base64 of ff d8 ff 00
    assert_eq!(fields["jpegPhoto"], "/9j/AA==");
    // One value, so a string (slapd stores the object classes as they were added).
    assert_eq!(fields["objectClass"], "inetOrgPerson");

    // Only the listed attributes (the key is always read).
    let narrow = dir.source("attributes = ['mail']").await;
    let records = narrow.read(&KeyRange::default(), 10).await.unwrap();
    let names: Vec<&String> = records[0].fields.keys().collect();
    assert_eq!(names, vec!["dn", "mail", "uid"]);

    // entryUUID, an operational attribute, as the key: requested by name.
    let by_uuid = dir.source("key = 'entryUUID'").await;
    let records = by_uuid.read(&KeyRange::default(), 10).await.unwrap();
    let LegacyKey::Text(uuid) = &records[0].key else {
        panic!("text key")
    };
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(records[0].fields["entryUUID"], serde_json::json!(uuid));
    assert_eq!(records[0].fields["uid"], "ann");
}

#[tokio::test]
async fn ldap_lookup_by_mail_ignores_case_and_escapes_the_value() {
    let mut dir = Subtree::new("ldap_lookup").await;
    dir.person("ann", &[("mail", &["ann@example.org"])]).await;
    dir.person("twin2", &[("mail", &["Twin@Example.org"])])
        .await;
    dir.person("twin1", &[("mail", &["twin@example.ORG"])])
        .await;
    dir.person("star", &[("mail", &["*@example.org"])]).await;
    let source = dir.source("").await;

    let found = source.lookup("mail", "ANN@Example.ORG", 2).await.unwrap();
    assert_eq!(keys(&found), vec![text("ann")]);
    let read = source.read(&KeyRange::default(), 1).await.unwrap();
    assert_eq!(found[0], read[0], "the record a backfill reads");
    assert_eq!(
        keys(&source.lookup("uid", "ANN", 2).await.unwrap()),
        vec![text("ann")]
    );

    let twins = source.lookup("mail", "twin@example.org", 5).await.unwrap();
    assert_eq!(keys(&twins), vec![text("twin1"), text("twin2")]);
    let first = source.lookup("mail", "TWIN@example.org", 1).await.unwrap();
    assert_eq!(keys(&first), vec![text("twin1")]);
    assert!(
        source
            .lookup("mail", "ann@example.org", 0)
            .await
            .unwrap()
            .is_empty()
    );

    // RFC 4515 escaping: filter syntax in the value is data.
    assert_eq!(
        keys(&source.lookup("mail", "*@example.org", 5).await.unwrap()),
        vec![text("star")]
    );
    let strangers = [
        "*",
        "ann*",
        "*)(uid=*",
        "ann@example.org)(|(uid=*",
        "\\2a",
        "nobody@example.org",
    ];
    assert_lookups_find_nothing(source.as_ref(), "mail", &strangers).await;

    let hostile = ["mail)(uid=*", "", "ma il", "(mail)"];
    assert_lookup_fields_refused(source.as_ref(), "corp", &hostile, "ann@example.org").await;
}

const MAPPING: &str = r#"
[fields]
email = "mail"
username = "uid"

[password]
hash = "userPassword"
"#;

#[tokio::test]
async fn ldap_user_password_from_slappasswd_maps_to_a_credential_usher_verifies() {
    let mut dir = Subtree::new("ldap_hashes").await;
    // Hashed by OpenLDAP's slappasswd at test time; {SSHA512} needs the pw-sha2 module, which
    // Debian's slappasswd does not load, so SHA-512 crypt stands in for it.
    let ssha = slappasswd("{SSHA}", None, "correct horse");
    assert!(ssha.starts_with("{SSHA}"), "{ssha}");
    let crypt = slappasswd("{CRYPT}", Some("$6$%.16s"), "battery staple");
    assert!(crypt.starts_with("{CRYPT}$6$"), "{crypt}");
    dir.person(
        "ssha",
        &[("mail", &["ssha@example.org"]), ("userPassword", &[&ssha])],
    )
    .await;
    dir.person(
        "crypt",
        &[
            ("mail", &["crypt@example.org"]),
            ("userPassword", &[&crypt]),
        ],
    )
    .await;

    let source = dir.source("").await;
    let records = read_all(source.as_ref(), &KeyRange::default(), 10).await;
    assert_eq!(keys(&records), vec![text("crypt"), text("ssha")]);
    let mapping: MappingConfig = toml::from_str(MAPPING).unwrap();
    let mapper = Mapper::new(&mapping).unwrap();
    for (record, stored, password) in [
        (&records[1], &ssha, "correct horse"),
        (&records[0], &crypt, "battery staple"),
    ] {
        assert_eq!(record.fields["userPassword"], serde_json::json!(stored));
        let user = mapper.map("corp", record, chrono::Utc::now()).unwrap();
        let credential = user.credential.expect("a credential");
        assert_eq!(&credential.hash, stored);
        let hash = PasswordHash::parse(&credential.hash).unwrap();
        assert!(hash.verify(&Password::from(password)).unwrap(), "{stored}");
        assert!(!hash.verify(&Password::from("wrong")).unwrap(), "{stored}");
    }
}

#[tokio::test]
async fn ldap_bind_auth_answers_the_right_password_only() {
    let mut dir = Subtree::new("ldap_auth").await;
    let hash = slappasswd("{SSHA}", None, "s3cret pass");
    let dn = dir
        .person(
            "ann",
            &[("mail", &["ann@example.org"]), ("userPassword", &[&hash])],
        )
        .await;
    // Two entries behind one mail address: ambiguous, refused.
    for uid in ["dup1", "dup2"] {
        dir.person(
            uid,
            &[("mail", &["dup@example.org"]), ("userPassword", &[&hash])],
        )
        .await;
    }
    let auth = dir.auth("").await;
    let right = Password::from("s3cret pass");

    // By uid and by mail (any case): the record a read gives.
    let record = auth
        .authenticate("ann", &right)
        .await
        .unwrap()
        .expect("bound");
    assert_eq!(record.key, text("ann"));
    assert_eq!(record.fields["dn"], serde_json::json!(dn));
    assert_eq!(record.fields["mail"], "ann@example.org");
    let by_mail = auth
        .authenticate("ANN@example.org", &right)
        .await
        .unwrap()
        .expect("bound by mail");
    assert_eq!(by_mail, record);
    // The service account (the admin here) reads userPassword: a lookup keeps the legacy hash
    // (a backfill maps it), a login's record never carries it.
    assert!(
        !record
            .fields
            .keys()
            .any(|k| k.to_ascii_lowercase().starts_with("userpassword")),
        "{record:?}"
    );
    let source = dir.source("").await;
    let mut read = source.lookup("uid", "ann", 1).await.unwrap();
    assert_eq!(read[0].fields["userPassword"], serde_json::json!(hash));
    read[0].fields.remove("userPassword");
    assert_eq!(read[0], record);

    assert_eq!(
        auth.authenticate("ann", &Password::from("s3cret pas"))
            .await,
        Ok(None),
        "wrong password"
    );
    assert_eq!(
        auth.authenticate("nobody", &right).await,
        Ok(None),
        "unknown user"
    );
    assert_eq!(
        auth.authenticate("ann", &Password::from("")).await,
        Ok(None),
        "empty password"
    );
    assert_eq!(
        auth.authenticate("dup@example.org", &right).await,
        Ok(None),
        "two entries"
    );
    assert_eq!(
        auth.authenticate("dup1", &right)
            .await
            .unwrap()
            .unwrap()
            .key,
        text("dup1")
    );
    // Filter syntax in the identifier is data: no wildcard login.
    for identifier in ["*", "a*", "ann)(uid=*", "*)(|(uid=*"] {
        assert_eq!(
            auth.authenticate(identifier, &right).await,
            Ok(None),
            "{identifier:?}"
        );
    }
}

#[tokio::test]
async fn ldap_empty_password_is_refused_before_any_connection() {
    let dir = Subtree::new("ldap_empty").await;
    // Nobody listens at this port: anything that connects is Unavailable. An empty password
    // answers None, so it never got as far as a connection, let alone a bind.
    let auth = dir
        .config_at(&dead_url(), "timeout_seconds = 2")
        .build_auth("corp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        auth.authenticate("ann", &Password::from("")).await,
        Ok(None)
    );
    let err = auth
        .authenticate("ann", &Password::from("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
}

/// The reason of `result`'s error, which must be a `SourceError::$kind` of the source `corp`.
macro_rules! corp_reason {
    ($result:expr, $kind:ident) => {
        match $result {
            Err(SourceError::$kind {
                source_name,
                reason,
            }) => {
                assert_eq!(source_name, "corp");
                reason
            }
            other => panic!(concat!("expected ", stringify!($kind), ", got {:?}"), other),
        }
    };
}

#[tokio::test]
async fn ldap_unreachable_server_is_unavailable() {
    let dir = Subtree::new("ldap_down").await;
    let config = dir.config_at(&dead_url(), "timeout_seconds = 2");
    let source = config.build("corp").await.unwrap();
    let auth = config.build_auth("corp").await.unwrap().unwrap();
    let results = [
        source.read(&KeyRange::default(), 10).await.map(|_| ()),
        source
            .lookup("mail", "ann@example.org", 2)
            .await
            .map(|_| ()),
        source.healthcheck().await,
        source.count().await.map(|_| ()),
        auth.authenticate("ann", &Password::from("pw"))
            .await
            .map(|_| ()),
    ];
    for result in results {
        let reason = corp_reason!(result, Unavailable);
        assert!(reason.contains("127.0.0.1"), "{reason}");
    }
}

#[tokio::test]
async fn ldap_wrong_service_password_is_an_error_naming_the_service_bind() {
    let mut dir = Subtree::new("ldap_badbind").await;
    let hash = slappasswd("{SSHA}", None, "user pw");
    dir.person("ann", &[("userPassword", &[&hash])]).await;
    let secret = "not-the-admin-password";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{secret}\n")).unwrap();
    let extra = format!("bind_password_file = {:?}", file.path().to_str().unwrap());
    let config = dir.config(&extra);
    let source = config.build("corp").await.unwrap();
    let auth = config.build_auth("corp").await.unwrap().unwrap();
    let results = [
        auth.authenticate("ann", &Password::from("user pw"))
            .await
            .map(|_| ()),
        source.read(&KeyRange::default(), 10).await.map(|_| ()),
        source.healthcheck().await,
    ];
    for result in results {
        let reason = corp_reason!(result, Config);
        assert!(reason.contains("service bind"), "{reason}");
        assert!(reason.contains(&dir.admin_dn), "{reason}");
        assert!(reason.contains("49"), "{reason}");
        assert!(!reason.contains(secret), "password leaked: {reason}");
    }
}

/// Why building `config` (as `corp`) is refused: it must be a config error.
async fn build_refusal(config: &SourceConfig) -> String {
    match config.build("corp").await {
        Err(SourceError::Config { reason, .. }) => reason,
        other => panic!("expected a config error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn ldap_healthcheck_refuses_a_missing_base_dn_and_build_refuses_a_missing_password_file() {
    let dir = Subtree::new("ldap_health").await;
    dir.source("").await.healthcheck().await.unwrap();

    let mut table: toml::Table = toml::from_str("").unwrap();
    table.insert("type".into(), "ldap".into());
    table.insert("url".into(), dir.url.clone().into());
    table.insert("base_dn".into(), format!("ou=missing,{}", dir.base).into());
    table.insert("bind_dn".into(), dir.admin_dn.clone().into());
    table.insert(
        "bind_password_file".into(),
        dir.admin_password_file.to_str().unwrap().into(),
    );
    let config: SourceConfig = toml::Value::Table(table.clone()).try_into().unwrap();
    match config.healthcheck("corp").await {
        Err(SourceError::Query { reason, .. }) => {
            assert!(reason.contains("ou=missing"), "{reason}");
            assert!(reason.contains("32"), "{reason}");
        }
        other => panic!("expected a query error, got {other:?}"),
    }

    table.insert("bind_password_file".into(), "/nonexistent/ldap-pw".into());
    let config: SourceConfig = toml::Value::Table(table).try_into().unwrap();
    let reason = build_refusal(&config).await;
    assert!(reason.contains("bind_password_file"), "{reason}");
}

#[tokio::test]
async fn ldap_over_tls_trusts_the_configured_ca_and_only_it() {
    let mut dir = Subtree::new("ldap_tls").await;
    dir.person("ann", &[("mail", &["ann@example.org"])]).await;
    let ldaps = services::var(LDAPS_URL);
    let ca = services::var(LDAP_CA_FILE);
    let ca_line = format!("tls_ca_file = {ca:?}");

    // ldaps:// and StartTLS on ldap://, both verifying slapd's certificate with the test CA.
    let over_ldaps = dir.config_at(&ldaps, &ca_line);
    let over_starttls = dir.config(&format!("{ca_line}\nstarttls = true"));
    for config in [over_ldaps, over_starttls] {
        let source = config.build("corp").await.unwrap();
        source.healthcheck().await.unwrap();
        let records = source.read(&KeyRange::default(), 10).await.unwrap();
        assert_eq!(keys(&records), vec![text("ann")]);
    }

    // Without the CA, the system's roots do not trust slapd's certificate; nor does a CA
    // that did not sign it, on StartTLS. Refused for reads and for binds alike, and never
    // carried on in plaintext (the bind answers an outage, not "wrong password", so no
    // password was sent).
    let other_ca = unrelated_ca_file();
    let other_line = format!(
        "tls_ca_file = {:?}\nstarttls = true\ntimeout_seconds = 5",
        other_ca.path().to_str().unwrap()
    );
    for untrusted in [
        dir.config_at(&ldaps, "timeout_seconds = 5"),
        dir.config(&other_line),
    ] {
        let err = untrusted
            .build("corp")
            .await
            .unwrap()
            .read(&KeyRange::default(), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    }
    for extra in [other_line.as_str(), "starttls = true\ntimeout_seconds = 5"] {
        let bound = dir
            .auth(extra)
            .await
            .authenticate("ann", &Password::from("any password"))
            .await;
        assert!(
            matches!(bound, Err(SourceError::Unavailable { .. })),
            "{extra}: {bound:?}"
        );
    }

    // A CA file that holds no certificate is refused when the source is built.
    let not_pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_pem.path(), "not a certificate\n").unwrap();
    let config = dir.config_at(
        &ldaps,
        &format!("tls_ca_file = {:?}", not_pem.path().to_str().unwrap()),
    );
    let reason = build_refusal(&config).await;
    assert!(reason.contains("tls_ca_file"), "{reason}");
}

/// Adds an `inetOrgPerson` at `dn` named `name` (its `cn` and `sn`), with the `uids` given.
async fn add_person(dir: &mut Subtree, dn: &str, name: &str, uids: &[&str]) {
    let mut attrs: Vec<(&str, &[&str])> = vec![
        ("objectClass", &["inetOrgPerson"]),
        ("cn", std::slice::from_ref(&name)),
        ("sn", std::slice::from_ref(&name)),
    ];
    if !uids.is_empty() {
        attrs.push(("uid", uids));
    }
    add(&mut dir.ldap, dn, &attrs).await;
}

/// Entries that cannot be keyed or share a key are not dropped: each is an invalid record in
/// the snapshot (keyed by its DN, or `<key>#<dn>`), so a backfill quarantines it.
#[tokio::test]
async fn ldap_entries_sharing_a_key_keep_the_first_by_dn() {
    let mut dir = Subtree::new("ldap_dupkey").await;
    let base = dir.base.clone();
    for ou in ["a", "b"] {
        add(
            &mut dir.ldap,
            &format!("ou={ou},{base}"),
            &[("objectClass", &["organizationalUnit"]), ("ou", &[ou])],
        )
        .await;
        let dn = format!("uid=same,ou={ou},{base}");
        add_person(&mut dir, &dn, ou, &["same"]).await;
    }
    dir.person("other", &[]).await;
    // No uid at all, and two uids: neither can be keyed.
    let nokey = format!("cn=nokey,{base}");
    add_person(&mut dir, &nokey, "nokey", &[]).await;
    let two = format!("uid=two,{base}");
    add_person(&mut dir, &two, "two", &["two", "deux"]).await;
    let second = format!("uid=same,ou=b,{base}");
    let source = dir.source("").await;
    let records = read_all(source.as_ref(), &KeyRange::default(), 2).await;
    assert_eq!(
        keys(&records),
        vec![
            text(&nokey),
            text("other"),
            text("same"),
            text(&format!("same#{second}")),
            text(&two),
        ]
    );
    assert_eq!(
        records[2].fields["dn"],
        serde_json::json!(format!("uid=same,ou=a,{base}"))
    );
    let invalid = |i: usize, reason: String| {
        let mut expected = serde_json::Map::new();
        expected.insert(
            usher_core::INVALID_FIELD.to_owned(),
            serde_json::json!({"field": "uid", "reason": reason}),
        );
        assert_eq!(records[i].fields, expected, "{:?}", records[i].key);
    };
    invalid(0, format!("entry {nokey}: has no uid attribute (the key)"));
    invalid(
        3,
        format!("entry {second}: duplicate uid \"same\" (the entry uid=same,ou=a,{base} is kept)"),
    );
    invalid(
        4,
        format!("entry {two}: has 2 values of uid (the key needs exactly one)"),
    );
    assert_eq!(source.count().await.unwrap(), Some(5));
    // The mapper quarantines them, naming the key attribute.
    let mapper =
        Mapper::new(&toml::from_str::<MappingConfig>("[fields]\nusername = \"uid\"").unwrap())
            .unwrap();
    let errors = mapper
        .map("corp", &records[4], chrono::Utc::now())
        .unwrap_err()
        .0;
    assert_eq!(errors[0].field, "uid");
    // A lookup still answers only keyed entries.
    assert!(source.lookup("cn", "nokey", 5).await.unwrap().is_empty());
}
