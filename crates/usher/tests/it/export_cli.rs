//! `usher export`: every user of the store ends up in exactly one place, the import files or
//! the left-out list, even when the export is killed with SIGKILL at random points and run
//! again; every file is within its limit; every user is in Auth0's import shape (checked
//! against Auth0's schema by `scripts/check-contracts`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{self, text, usher};

const USERS: u64 = 6_000;
const MAX_FILE_BYTES: usize = 16_000;

/// A legacy SQLite table of fake users (mixed hash formats, some without an email, some
/// disabled, some invalid), not yet backfilled; the config's path.
fn faked(dir: &Path) -> String {
    let legacy = dir.join("legacy.db");
    let config = dir.join("usher.toml");
    let out = usher(
        &[
            "fake",
            "--users",
            &USERS.to_string(),
            "--seed",
            "11",
            "--sqlite",
            legacy.to_str().unwrap(),
            "--write-config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "usher fake: {}", text(&out.stderr));
    config.to_str().unwrap().to_owned()
}

/// [`faked`], backfilled into the store.
fn backfilled(dir: &Path) -> String {
    let config = faked(dir);
    let out = usher(&["backfill", "--config", &config], &[]);
    assert!(
        out.status.success(),
        "usher backfill: {}",
        text(&out.stderr)
    );
    config
}

fn export_args<'a>(config: &'a str, output: &'a str, max: &'a str) -> Vec<&'a str> {
    vec![
        "export",
        "--format",
        "auth0",
        "--config",
        config,
        "--output",
        output,
        "--max-file-bytes",
        max,
    ]
}

/// Every user in the output: (in the import files, by `user_id`; left out, by target id and
/// label); panics on a user written twice.
fn read_output(dir: &Path) -> (BTreeMap<String, Value>, BTreeMap<String, String>) {
    let mut exported = BTreeMap::new();
    let mut left = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        assert!(
            !name.ends_with(".tmp"),
            "a half-written file is left: {name}"
        );
        if name.starts_with("auth0-users-") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                bytes.len() <= MAX_FILE_BYTES,
                "{name} is {} bytes, over {MAX_FILE_BYTES}",
                bytes.len()
            );
            let users: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
            assert!(!users.is_empty(), "{name} is empty");
            for user in users {
                let id = user["user_id"].as_str().unwrap().to_owned();
                assert!(
                    exported.insert(id.clone(), user).is_none(),
                    "{id} exported twice"
                );
            }
        } else if name.starts_with("auth0-left-out-") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("user_id,target_id,label,reason"));
            for line in lines {
                let fields: Vec<&str> = line.splitn(4, ',').collect();
                let (id, label) = (fields[1].to_owned(), fields[2].to_owned());
                assert!(
                    left.insert(id.clone(), label).is_none(),
                    "{id} left out twice"
                );
            }
        }
    }
    (exported, left)
}

/// Every hash in the store (the SQLite file `usher fake --write-config` names).
fn stored_hashes(store: &Path) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = usher_testkit::databases::sqlite(store).await;
        let rows: Vec<(String,)> = sqlx::query_as("SELECT hash FROM credentials")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.into_iter().map(|(h,)| h).collect()
    })
}

/// Runs `usher <args>` four times, each killed with SIGKILL at a random point, then once to the
/// end: its summary.
fn kill_at_random_then_finish(args: &[&str]) -> String {
    let (seed, points) = support::kill_points(4);
    eprintln!("export: kill seed {seed} (replay with USHER_KILL_SEED={seed})");
    let mut killed = 0;
    for wait in points {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait / 4);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    let out = usher(args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    eprintln!("{killed} kills; {summary}");
    summary
}

#[test]
fn an_export_killed_at_random_resumes_and_writes_every_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = backfilled(dir.path());
    let output = dir.path().join("auth0");
    let output_str = output.to_str().unwrap().to_owned();
    let max = MAX_FILE_BYTES.to_string();
    let args = export_args(&config, &output_str, &max);

    let summary = kill_at_random_then_finish(&args);

    let (exported, left) = read_output(&output);
    // Every user of the store once, in one place or the other.
    let status = usher(&["status", "--config", &config, "--json"], &[]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let users = status["users"].as_u64().unwrap();
    assert_eq!(
        users,
        exported.len() as u64 + left.len() as u64,
        "{summary}"
    );
    for id in exported.keys() {
        assert!(!left.contains_key(id), "{id} both exported and left out");
    }
    // The fake users' hashes include families Auth0 takes and families it does not.
    assert!(exported.len() as u64 > users / 3, "{summary}");
    assert!(
        left.values().any(|l| l.starts_with("hook:")),
        "no user left to the hook: {left:?}"
    );
    assert!(
        exported.values().all(|u| u["email"].is_string()),
        "Auth0 requires an email"
    );
    let with_hash = exported
        .values()
        .filter(|u| u.get("custom_password_hash").is_some())
        .count();
    assert!(with_hash > 0);
    // No stored hash is in the left-out lists or the state.
    let hashes = stored_hashes(&dir.path().join("usher.db"));
    assert!(hashes.len() > 1000, "{}", hashes.len());
    for entry in std::fs::read_dir(&output).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") || path.ends_with("auth0-export-state.json")
        {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Some(hash) = hashes.iter().find(|h| text.contains(h.as_str())) {
                panic!("the hash {hash} is in {}", path.display());
            }
        }
    }
    // Running again adds nothing.
    let again = usher(&args, &[]);
    assert!(again.status.success());
    assert_eq!(read_output(&output).0.len(), exported.len());

    // For the vendor's schema (scripts/check-contracts).
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/contract-samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(
        samples.join("auth0-export-users.json"),
        serde_json::to_string(&serde_json::json!({
            "contract": "auth0/bulk-user-import-schema.user.schema.json#",
            "instances": exported.values().collect::<Vec<_>>(),
        }))
        .unwrap(),
    )
    .unwrap();
}

/// Exports a fresh backfilled store to `format` and reads back every record of its files
/// (`read` takes one file's text); with the summary, the store's user count less those the
/// summary says are left out for lack of an email, and how many the left-out lists name.
fn export_records(
    format: &str,
    read: impl Fn(&str) -> Vec<Value>,
) -> (Vec<Value>, String, u64, u64) {
    export_records_with(format, &[], |_, text| read(text))
}

/// [`export_records`], with more arguments to `usher export`, and `read` told each file's
/// name too.
fn export_records_with(
    format: &str,
    args: &[&str],
    read: impl Fn(&str, &str) -> Vec<Value>,
) -> (Vec<Value>, String, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = backfilled(dir.path());
    let output = dir.path().join(format);
    let mut all = vec![
        "export",
        "--format",
        format,
        "--config",
        &config,
        "--output",
        output.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = usher(&all, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut records = Vec::new();
    let mut left_out = 0;
    for entry in std::fs::read_dir(&output).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if name.starts_with(&format!("{format}-users-")) {
            records.extend(read(&name, &text));
        } else if name.starts_with(&format!("{format}-left-out-")) {
            left_out += text.lines().count() as u64 - 1;
        }
    }
    let status = usher(&["status", "--config", &config, "--json"], &[]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let summary = text(&out.stdout);
    let without_email = left_count(&summary, "missing:email");
    let expected = status["users"].as_u64().unwrap() - without_email;
    (records, summary, expected, left_out)
}

/// How many users the export's summary counts under `label` (`missing:email`).
fn left_count(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .filter_map(|l| l.trim().rsplit_once(' '))
        .find(|(l, _)| l.trim() == label)
        .map_or(0, |(_, n)| n.parse().unwrap())
}

/// Writes `records` for `scripts/check-contracts` to check against `contract`.
fn contract_sample(name: &str, contract: &str, records: &[Value]) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/contract-samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(
        samples.join(format!("{name}.json")),
        serde_json::to_string(&serde_json::json!({ "contract": contract, "instances": records }))
            .unwrap(),
    )
    .unwrap();
}

/// Okta: one create-user request a line, in Okta's shape; a hash Okta cannot take becomes the
/// password import hook, so no user with a password is created without one.
#[test]
fn okta_requests_carry_each_hash_or_the_password_hook() {
    let (requests, summary, expected, _) = export_records("okta", |text| {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    });
    let with = |key: &str| {
        requests
            .iter()
            .filter(|r| r["credentials"]["password"].get(key).is_some())
            .count()
    };
    let (hashed, hooked) = (with("hash"), with("hook"));
    assert!(hashed > 0 && hooked > 0, "{hashed} hashed, {hooked} hooked");
    assert!(
        requests
            .iter()
            .all(|r| r["profile"]["login"] == r["profile"]["email"])
    );
    // Everyone with an email is a request.
    assert_eq!(requests.len() as u64, expected, "{summary}");
    contract_sample(
        "okta-export-users",
        "okta/management-minimal.excerpt.yaml#/components/schemas/CreateUserRequest",
        &requests,
    );
}

/// Kratos: batch patches of at most 200 identities, each with its hash or marked for the
/// password migration hook, its `patch_id` usher's user id.
#[test]
fn kratos_batches_carry_each_hash_or_the_migration_hook() {
    let (patches, summary, expected, _) = export_records("kratos", |text| {
        let body: Value = serde_json::from_str(text).unwrap();
        let identities = body["identities"].as_array().unwrap().clone();
        assert!(identities.len() <= 200, "{} in one batch", identities.len());
        identities
    });
    assert_eq!(patches.len() as u64, expected, "{summary}");
    let config = |p: &Value| p["create"]["credentials"]["password"]["config"].clone();
    let hashed = patches
        .iter()
        .filter(|p| {
            config(p)["hashed_password"]
                .as_str()
                .is_some_and(|h| !h.is_empty())
        })
        .count();
    let hooked = patches
        .iter()
        .filter(|p| config(p)["use_password_migration_hook"] == true)
        .count();
    assert!(hashed > 0 && hooked > 0, "{hashed} hashed, {hooked} hooked");
    let mut ids: Vec<&str> = patches
        .iter()
        .map(|p| p["patch_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), patches.len(), "a patch id twice");
    contract_sample(
        "kratos-export-identities",
        "kratos/api.json#/components/schemas/identityPatch",
        &patches,
    );
}

/// FusionAuth: import bodies of at most 5,000 users, each with usher's id (the id the
/// Generic Connector gives too) and its hash as FusionAuth's encryptor fields; FusionAuth's
/// import needs a password, so users without one it can take are listed for the connector.
#[test]
fn fusionauth_imports_carry_usher_s_id_and_each_hash() {
    let (users, summary, expected, left_out) = export_records("fusionauth", |text| {
        let body: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["validateDbConstraints"], true);
        let users = body["users"].as_array().unwrap().clone();
        assert!(users.len() <= 5000, "{} in one request", users.len());
        users
    });
    assert!(!users.is_empty(), "{summary}");
    for user in &users {
        // A UUID, as FusionAuth needs: 8-4-4-4-12 hex digits (the schema check asserts the
        // format too).
        let id = user["id"].as_str().unwrap();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(
            id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(user["encryptionScheme"].is_string() && user["password"].is_string());
    }
    // With an email or not, every user is in one place: the files or the left-out lists.
    // (No user lacks both an email and a username, so `expected` is every user.)
    assert_eq!(users.len() as u64 + left_out, expected, "{summary}");
    assert!(
        summary.contains("missing:password") || summary.contains("hook:"),
        "{summary}"
    );
    contract_sample(
        "fusionauth-export-import",
        "fusionauth/openapi.yaml#/components/schemas/ImportRequest",
        &[serde_json::json!({ "users": users, "validateDbConstraints": true })],
    );
}

/// Supabase: create-user requests, one a line, each with usher's id and its hash where
/// Supabase takes it; Supabase has no hook, so the rest are left out and listed, never
/// created with a password nobody knows.
#[test]
fn supabase_requests_carry_the_hashes_it_takes_and_list_the_rest() {
    let (requests, summary, expected, left_out) = export_records("supabase", |text| {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    });
    assert!(
        requests.iter().any(|r| r["password_hash"].is_string()),
        "{summary}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r["id"].is_string() && (r["email"].is_string() || r["phone"].is_string())),
        "{summary}"
    );
    assert!(summary.contains("omitted:"), "{summary}");
    // Every user is in one place (none lacks both an email and a phone).
    assert_eq!(requests.len() as u64 + left_out, expected, "{summary}");
}

/// Clerk: create-user requests, one a line, each hash Clerk takes with its hasher, checked
/// against Clerk's API schema (which allows no unknown key); the rest left out and listed.
#[test]
fn clerk_requests_carry_the_digests_it_takes_and_list_the_rest() {
    let (requests, summary, expected, left_out) = export_records("clerk", |text| {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    });
    assert!(
        requests
            .iter()
            .any(|r| r["password_hasher"].is_string() && r["password_digest"].is_string()),
        "{summary}"
    );
    assert!(requests.iter().all(|r| r["external_id"].is_string()));
    assert!(summary.contains("omitted:"), "{summary}");
    assert_eq!(requests.len() as u64 + left_out, expected, "{summary}");
    contract_sample(
        "clerk-export-users",
        "clerk/2026-05-12.yml#/paths/~1users/post/requestBody/content/application~1json/schema",
        &requests,
    );
}

/// SuperTokens: bulk import bodies of at most 10,000 users, each an email-password login with a
/// hash SuperTokens takes, checked against its core driver interface spec; the rest listed.
#[test]
fn supertokens_imports_carry_the_hashes_it_takes_and_list_the_rest() {
    let (users, summary, expected, left_out) = export_records("supertokens", |text| {
        let body: Value = serde_json::from_str(text).unwrap();
        let users = body["users"].as_array().unwrap().clone();
        assert!(users.len() <= 10_000, "{} in one request", users.len());
        users
    });
    assert!(!users.is_empty(), "{summary}");
    for user in &users {
        let method = &user["loginMethods"][0];
        assert_eq!(method["recipeId"], "emailpassword");
        assert!(
            ["bcrypt", "argon2", "firebase_scrypt"]
                .contains(&method["hashingAlgorithm"].as_str().unwrap())
        );
    }
    // `expected` leaves out the users without an email; the left-out lists name them too.
    let without_email = left_count(&summary, "missing:email");
    assert!(without_email > 0, "{summary}");
    assert_eq!(
        users.len() as u64 + left_out,
        expected + without_email,
        "{summary}"
    );
    contract_sample(
        "supertokens-export-users",
        "supertokens/api_spec.yaml#/components/schemas/bulkImportUser",
        &users,
    );
}

/// Keycloak: partial-import bodies of at most 1,000 users that skip users Keycloak already
/// has, each PBKDF2 or Argon2 hash a Keycloak credential (JSON in strings), the rest listed
/// for the keycloak-user-migration plugin; every user in one place.
#[test]
fn keycloak_imports_carry_pbkdf2_and_argon2_credentials_and_list_the_rest_for_the_plugin() {
    let (users, summary, expected, left_out) = export_records("keycloak", |text| {
        let body: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["ifResourceExists"], "SKIP");
        let users = body["users"].as_array().unwrap().clone();
        assert!(users.len() <= 1000, "{} in one request", users.len());
        users
    });
    let mut algorithms = BTreeMap::new();
    for user in &users {
        assert!(user["username"].as_str().is_some_and(|u| !u.is_empty()));
        assert!(
            user["attributes"].as_object().unwrap().values().all(|v| v
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_string))
        );
        for credential in user["credentials"].as_array().into_iter().flatten() {
            assert_eq!(credential["type"], "password");
            let secret: Value =
                serde_json::from_str(credential["secretData"].as_str().unwrap()).unwrap();
            let data: Value =
                serde_json::from_str(credential["credentialData"].as_str().unwrap()).unwrap();
            assert!(secret["value"].is_string() && secret["salt"].is_string());
            assert!(data["hashIterations"].as_u64().unwrap() > 0);
            *algorithms
                .entry(data["algorithm"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    assert!(
        algorithms.contains_key("argon2") && algorithms.contains_key("pbkdf2-sha256"),
        "{algorithms:?}"
    );
    assert!(summary.contains("hook:bcrypt"), "{summary}");
    // `expected` leaves out the users without an email; some of them have a username.
    let missing = left_count(&summary, "missing:username_or_email");
    let without_email = left_count(&summary, "missing:email");
    assert_eq!(without_email, 0, "{summary}");
    assert!(missing > 0, "{summary}");
    assert_eq!(users.len() as u64 + left_out, expected, "{summary}");
}

/// Firebase: `accounts:batchCreate` bodies of at most 1,000 users, each file one set of hash
/// options (bcrypt users apart from each project's Firebase scrypt users), named by them; users
/// with a password only in a file whose options can verify it.
#[test]
fn firebase_requests_group_users_by_their_hash_options() {
    let (users, summary, expected, left_out) =
        export_records_with("firebase", &[], |name, text| {
            let body: Value = serde_json::from_str(text).unwrap();
            let users = body["users"].as_array().unwrap().clone();
            assert!(!users.is_empty() && users.len() <= 1000, "{name}");
            match body["hashAlgorithm"].as_str() {
                Some("BCRYPT") => assert!(name.contains("-bcrypt."), "{name}"),
                Some("SCRYPT") => {
                    assert!(name.contains("-scrypt-r"), "{name}");
                    assert!(body["signerKey"].is_string() && body["memoryCost"].is_u64());
                    assert!(users.iter().all(|u| u["salt"].is_string()));
                }
                Some(other) => panic!("{name}: {other}"),
                None => {
                    assert!(name.contains("-no-password."), "{name}");
                    assert!(users.iter().all(|u| u.get("passwordHash").is_none()));
                }
            }
            if body["hashAlgorithm"].is_string() {
                assert!(
                    users.iter().all(|u| u["passwordHash"].is_string()),
                    "{name}"
                );
            }
            users
        });
    let mut ids: Vec<&str> = users
        .iter()
        .map(|u| u["localId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), users.len(), "a user twice");
    assert!(summary.contains("omitted:"), "{summary}");
    // Firebase needs no email: every user is in one place.
    let without_email = left_count(&summary, "missing:email");
    assert_eq!(
        users.len() as u64 + left_out,
        expected + without_email,
        "{summary}"
    );
}

/// Splits a row of Cognito's CSV at its unescaped commas.
fn cognito_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(',')) => {
                cells.last_mut().unwrap().push(',');
                chars.next();
            }
            (',', _) => cells.push(String::new()),
            (c, _) => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

fn cognito_rows(text: &str) -> Vec<Value> {
    let mut lines = text.lines();
    let header = cognito_cells(lines.next().unwrap());
    assert_eq!(header, usher_connect::target::cognito::HEADER);
    lines
        .map(|line| {
            assert!(!line.contains('"'), "quoted: {line}");
            let cells = cognito_cells(line);
            assert_eq!(cells.len(), header.len(), "{line}");
            let row: serde_json::Map<String, Value> = header
                .iter()
                .cloned()
                .zip(cells.into_iter().map(Value::String))
                .collect();
            assert!(!row["cognito:username"].as_str().unwrap().is_empty());
            assert!(!row["cognito:username"].as_str().unwrap().contains(' '));
            assert_eq!(row["cognito:mfa_enabled"], "false");
            Value::Object(row)
        })
        .collect()
}

/// Cognito: its CSV carries no password, so by default users with one are left for the
/// migrate-user trigger and only the rest are rows; with `--unexportable reset` every user is
/// a row, to reset their password. Rows follow Cognito's CSV rules.
#[test]
fn cognito_csv_leaves_users_with_a_password_to_the_trigger_unless_told_to_reset() {
    let (rows, summary, expected, left_out) = export_records("cognito", cognito_rows);
    assert!(!rows.is_empty(), "{summary}");
    assert!(summary.contains("hook:bcrypt"), "{summary}");
    let without_email = left_count(&summary, "missing:email");
    assert_eq!(
        rows.len() as u64 + left_out,
        expected + without_email,
        "{summary}"
    );

    let (reset, summary, expected, left_out) =
        export_records_with("cognito", &["--unexportable", "reset"], |_, text| {
            cognito_rows(text)
        });
    assert_eq!(left_out, 0, "{summary}");
    assert_eq!(reset.len() as u64, expected, "{summary}");
    assert!(reset.len() > rows.len());
    assert!(reset.iter().any(|r| {
        r["birthdate"]
            .as_str()
            .is_some_and(|d| d.len() == 10 && &d[2..3] == "/")
    }));
}

/// ZITADEL: create-user requests, one a line, each with the names ZITADEL requires and its
/// hash as a Modular Crypt Format string where ZITADEL reads it; the rest left out, listed.
#[test]
fn zitadel_requests_carry_crypt_strings_and_list_the_rest() {
    let (requests, summary, expected, left_out) = export_records("zitadel", |text| {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    });
    for r in &requests {
        assert!(r["userId"].is_string() && r["username"].is_string());
        for name in ["givenName", "familyName"] {
            assert!(
                r["profile"][name]
                    .as_str()
                    .is_some_and(|n| !n.trim().is_empty()),
                "{r}"
            );
        }
        assert!(r["email"]["email"].is_string() && r["email"]["isVerified"].is_boolean());
        if let Some(hash) = r["hashedPassword"]["hash"].as_str() {
            assert!(hash.len() <= 200);
            assert!(
                hash.starts_with('$') || hash.chars().all(|c| c.is_ascii_hexdigit()),
                "{hash}"
            );
        }
    }
    assert!(
        requests
            .iter()
            .filter(|r| r["hashedPassword"]["hash"].is_string())
            .count()
            > requests.len() / 2,
        "{summary}"
    );
    assert!(summary.contains("omitted:"), "{summary}");
    // The left-out lists name the users without an email too.
    let without_email = left_count(&summary, "missing:email");
    assert!(without_email > 0, "{summary}");
    assert_eq!(
        requests.len() as u64 + left_out,
        expected + without_email,
        "{summary}"
    );
}

/// `--source`: straight from the legacy table, each record mapped as the backfill maps it:
/// every record is in one place (the files, or the left-out list with the record and the
/// field that failed); a second run into the directory adds no one; the store is untouched.
#[test]
fn an_export_from_a_legacy_source_maps_each_record_and_places_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = faked(dir.path());
    let output = dir.path().join("auth0");
    let args = [
        "export",
        "--format",
        "auth0",
        "--source",
        "legacy",
        "--config",
        &config,
        "--output",
        output.to_str().unwrap(),
        "--max-file-bytes",
        "16000",
    ];
    let out = usher(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    let (exported, left) = read_output(&output);
    assert_eq!(exported.len() + left.len(), USERS as usize, "{summary}");
    // Each user is a legacy record, by the id Auth0's scripts give too.
    assert!(exported.keys().all(|id| id.starts_with("legacy:")));
    let invalid: Vec<&String> = left
        .iter()
        .filter(|(_, label)| *label == "invalid-record")
        .map(|(id, _)| id)
        .collect();
    assert!(!invalid.is_empty(), "{summary}");
    let lists = std::fs::read_dir(&output)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("left-out"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    for line in lists.lines().filter(|l| l.contains(",invalid-record,")) {
        // The record and the field, never the hash.
        assert!(
            line.contains("record ") && line.contains("field `"),
            "{line}"
        );
    }
    let again = usher(&args, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("(resumed)"));
    assert_eq!(read_output(&output).0.len(), exported.len());
    // Exporting into the same directory from the store is refused: it holds another export.
    let store_args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "--source" && *a != "legacy")
        .collect();
    let refused = usher(&store_args, &[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("export from source legacy"),
        "{}",
        text(&refused.stderr)
    );
    let status = usher(&["status", "--config", &config, "--json"], &[]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["users"], 0, "the store is untouched");
}

/// A grouped export (Firebase: one file a set of hash options, each commit writing several)
/// killed at random: every user of the store is in exactly one file or the left-out list.
#[test]
fn a_grouped_export_killed_at_random_writes_every_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = backfilled(dir.path());
    let output = dir.path().join("firebase");
    let args = [
        "export",
        "--format",
        "firebase",
        "--config",
        &config,
        "--output",
        output.to_str().unwrap(),
        "--max-file-bytes",
        "40000",
    ];
    let summary = kill_at_random_then_finish(&args);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&output).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "a half-written file is left: {name}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<String> = if name.starts_with("firebase-users-") {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert!(text.len() <= 40_000, "{name}: {} bytes", text.len());
            body["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["localId"].as_str().unwrap().to_owned())
                .collect()
        } else if name.starts_with("firebase-left-out-") {
            text.lines()
                .skip(1)
                .map(|l| l.split(',').nth(1).unwrap().to_owned())
                .collect()
        } else {
            continue;
        };
        for id in ids {
            if let Some(first) = seen.insert(id.clone(), name.clone()) {
                panic!("{id} in {first} and {name}");
            }
        }
    }
    let status = usher(&["status", "--config", &config, "--json"], &[]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        seen.len() as u64,
        status["users"].as_u64().unwrap(),
        "{summary}"
    );
    assert!(
        seen.values().any(|f| f.contains("-bcrypt."))
            && seen.values().any(|f| f.contains("-scrypt-")),
        "{summary}"
    );
}
