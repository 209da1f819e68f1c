//! End-to-end tests of the mapper: config in, users and field errors out.
//!
//! Expected password hashes were computed outside usher, with Python's hashlib, hmac and
//! passlib (each test says how), and are checked by verifying the right and a wrong password.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use usher_hash::{Password, PasswordHash, Scheme};

use super::*;
use crate::record::LegacyKey;

const DOC: &str = include_str!("../../../../docs/mapping.md");

/// The `toml` block that follows `<!-- example: name -->` in docs/mapping.md.
fn doc_example(name: &str) -> String {
    let marker = format!("<!-- example: {name} -->");
    let after = DOC.split_once(&marker).expect("marker").1;
    let block = after.split_once("```toml\n").expect("block").1;
    block.split_once("```").expect("end").0.to_owned()
}

/// An `usher.toml` reduced to its mappings.
#[derive(Deserialize)]
struct Doc {
    mappings: BTreeMap<String, MappingConfig>,
}

fn mappings(toml_text: &str) -> BTreeMap<String, MappingConfig> {
    toml::from_str::<Doc>(toml_text).expect("toml").mappings
}

fn mapper(table: &str) -> Mapper {
    let config: MappingConfig = toml::from_str(table).expect("toml");
    Mapper::new(&config).unwrap_or_else(|e| panic!("config: {e}"))
}

fn config_error(table: &str) -> MappingConfigError {
    let config: MappingConfig = toml::from_str(table).expect("toml");
    Mapper::new(&config).expect_err("config should be refused")
}

fn record(key: i64, fields: Value) -> LegacyRecord {
    LegacyRecord {
        key: LegacyKey::Int(key),
        fields: serde_json::from_value(fields).expect("object"),
    }
}

fn now() -> DateTime<Utc> {
    "2024-06-01T12:00:00Z".parse().unwrap()
}

fn map_ok(m: &Mapper, r: &LegacyRecord) -> User {
    m.map("legacy_db", r, now())
        .unwrap_or_else(|e| panic!("mapping failed: {e}"))
}

fn map_err(m: &Mapper, r: &LegacyRecord) -> Vec<FieldError> {
    m.map("legacy_db", r, now()).expect_err("should fail").0
}

fn verifies(user: &User, password: &str) -> bool {
    let c = user.credential.as_ref().expect("credential");
    let parsed = PasswordHash::parse(&c.hash).expect("stored credential parses");
    assert_eq!(parsed.scheme(), c.scheme);
    parsed.verify(&Password::from(password)).unwrap()
}

// ---------------------------------------------------------------- the docs' examples

#[test]
fn the_seed_example_in_the_docs_maps_exactly() {
    let configs = mappings(&doc_example("seed"));
    let m = Mapper::new(&configs["legacy_db"]).unwrap();
    let user = map_ok(
        &m,
        &record(
            42,
            json!({"fname": "Ann", "lname": "Lee", "birthdate": "03/14/1987", "phone num": "(415) 555-0123"}),
        ),
    );
    assert_eq!(user.profile.given_name.as_deref(), Some("Ann"));
    assert_eq!(user.profile.family_name.as_deref(), Some("Lee"));
    assert_eq!(user.profile.birthdate, NaiveDate::from_ymd_opt(1987, 3, 14));
    assert_eq!(user.phone.as_ref().unwrap().as_str(), "+14155550123");
    assert_eq!(
        Value::Object(user.attributes.clone()),
        json!({"area_code": "415", "phone_number": "5550123"})
    );
    assert_eq!(user.credential, None);
    assert_eq!(user.status, Status::PasswordResetRequired);
}

#[test]
fn the_annotated_example_in_the_docs_is_a_valid_mapping_that_maps() {
    let configs = mappings(&doc_example("annotated"));
    assert_eq!(configs.len(), 2);
    let db = Mapper::new(&configs["legacy_db"]).unwrap();
    // pw_hash = md5("NaCl42" + "hunter2"): hashlib.md5(b"NaCl42hunter2").hexdigest()
    let user = map_ok(
        &db,
        &record(
            7,
            json!({
                "email_address": " Ann.Lee@Example.COM ", "verified": "Y", "login": "ann",
                "fname": "Ann", "lname": "Lee", "handle": "  ann   the  admin ",
                "dob": "1987-03-14", "lang": "de", "avatar_url": null,
                "profile": "{\"photo\": \"https://x.test/a.png\", \"address\": {\"city\": \"Paris\"}}",
                "state": "A", "created": 1_500_000_000, "modified": "2020-01-01 10:00:00",
                "plan_code": "gold", "opt_in": "yes", "phone num": "415.555.0123",
                "security_answer": "rex", "last_login_ip": "10.0.0.1",
                "pw_hash": "b23ecf9b32e238e839440a2cf6d29b0c", "pw_salt": "NaCl42"
            }),
        ),
    );
    assert_eq!(user.email.as_ref().unwrap().as_str(), "ann.lee@example.com");
    assert!(user.email_verified);
    assert_eq!(user.username.as_ref().unwrap().as_str(), "ann");
    assert_eq!(user.profile.nickname.as_deref(), Some("ann the admin"));
    assert_eq!(user.profile.locale.as_deref(), Some("de"));
    assert_eq!(
        user.profile.picture.as_deref(),
        Some("https://x.test/a.png")
    );
    assert_eq!(user.status, Status::Active);
    assert_eq!(user.created_at.to_rfc3339(), "2017-07-14T02:40:00+00:00");
    assert_eq!(user.updated_at.to_rfc3339(), "2020-01-01T15:00:00+00:00");
    assert_eq!(
        Value::Object(user.attributes.clone()),
        json!({
            "city": "Paris", "plan": "GOLD", "newsletter": true, "signup_source": "legacy-db",
            "initials": "AL",
            "phone": {"country_code": "1", "area_code": "415", "number": "5550123"}
        })
    );
    assert_eq!(user.credential.as_ref().unwrap().scheme, Scheme::SaltedMd5);
    assert!(verifies(&user, "hunter2"));
    assert!(!verifies(&user, "hunter3"));
    let original = &user.migration.as_ref().unwrap().original;
    for gone in ["pw_hash", "pw_salt", "security_answer", "last_login_ip"] {
        assert!(original.get(gone).is_none(), "{gone} kept in original");
    }
    assert_eq!(original["login"], "ann");

    let forum = Mapper::new(&configs["old_forum"]).unwrap();
    // passwd = sha1("hunter2" + "pepperoni"): hashlib.sha1(b"hunter2pepperoni").hexdigest()
    let user = map_ok(
        &forum,
        &record(
            8,
            json!({"mail": "bo@example.org", "full_name": "Bo van Dijk", "algo": "SHA1S",
                   "passwd": "8afb0712f3124b65f268c71670cc08e5b91e5c65", "salt": "pepperoni",
                   "karma": 12, "internal_notes": "vip", "reset_token": "abc"}),
        ),
    );
    assert_eq!(user.profile.given_name.as_deref(), Some("Bo"));
    assert_eq!(user.profile.family_name.as_deref(), Some("van Dijk"));
    assert_eq!(user.profile.name.as_deref(), Some("Bo van Dijk"));
    assert!(verifies(&user, "hunter2"));
    assert_eq!(
        Value::Object(user.attributes.clone()),
        json!({"legacy": {"karma": 12}})
    );
}

// ---------------------------------------------------------------- messy inputs

#[test]
fn emails_differing_only_in_case_share_one_normalised_key() {
    let keep_case = mapper(r#"fields.email = "email""#);
    let a = map_ok(&keep_case, &record(1, json!({"email": "Ann@Example.com"})));
    let b = map_ok(
        &keep_case,
        &record(2, json!({"email": " ann@example.COM "})),
    );
    assert_eq!(a.email.as_ref().unwrap().as_str(), "Ann@Example.com");
    assert_eq!(b.email.as_ref().unwrap().as_str(), "ann@example.COM");
    assert_eq!(a.email.unwrap().normalized(), b.email.unwrap().normalized());

    let lower = mapper(r#"fields.email = { from = "email", transform = ["trim", "lowercase"] }"#);
    let c = map_ok(&lower, &record(3, json!({"email": " ANN@Example.com"})));
    assert_eq!(c.email.unwrap().as_str(), "ann@example.com");
}

#[test]
fn a_bad_email_names_the_field_without_quoting_the_address() {
    let m = mapper(r#"fields.email = "mail""#);
    let errs = map_err(&m, &record(5, json!({"mail": "ann.example.com"})));
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "record 5: field `email` (from `mail`) has no @"
    );
}

#[test]
fn bad_dates_name_the_field_and_every_error_of_a_record_is_reported() {
    let m = mapper(
        r#"
        [fields]
        birthdate = { from = "dob", formats = ["%m/%d/%Y"], on_invalid = "quarantine" }
        created_at = { from = "created", on_invalid = "quarantine" }
        email = "email"
        status = { from = "state", map = { A = "active" }, on_invalid = "quarantine" }
        "#,
    );
    let errs = map_err(
        &m,
        &record(
            9,
            json!({"dob": "31/12/1990", "created": "yesterday", "email": "x", "state": "Z"}),
        ),
    );
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "record 9: field `birthdate` (from `dob`) is not a date in the format %m/%d/%Y",
            "record 9: field `created_at` (from `created`) is not a timestamp in any of the \
             formats rfc3339, %Y-%m-%d %H:%M:%S%.f, %Y-%m-%dT%H:%M:%S%.f, \
             %Y-%m-%d %H:%M:%S%.f%#z, %Y-%m-%d",
            "record 9: field `email` (from `email`) has no @",
            "record 9: field `status` (from `state`) `Z` is not in `map`",
        ]
    );
    assert!(errs.iter().all(|e| e.key == "9"));
}

#[test]
fn birthdates_in_the_future_and_impossible_dates_are_errors() {
    let m = mapper(
        r#"fields.birthdate = { from = "dob", formats = ["%Y-%m-%d", "%d.%m.%Y"], on_invalid = "quarantine" }"#,
    );
    assert_eq!(
        map_err(&m, &record(1, json!({"dob": "2099-01-01"})))[0].reason,
        "(from `dob`) is in the future"
    );
    assert!(
        m.map("s", &record(2, json!({"dob": "1990-02-30"})), now())
            .is_err()
    );
    let ok = map_ok(&m, &record(3, json!({"dob": "24.12.1990"})));
    assert_eq!(ok.profile.birthdate, NaiveDate::from_ymd_opt(1990, 12, 24));
}

#[test]
fn phones_in_many_formats_normalise_or_fail_with_the_field_named() {
    let m = mapper(
        r#"
        phone_region = "US"
        [fields.email]
        from = "email"
        [fields.phone]
        from = "tel"
        on_invalid = "quarantine"
        split = { country_code = "attributes.cc", area_code = "attributes.area", number = "attributes.num" }
        "#,
    );
    for (input, e164, area, num) in [
        ("(415) 555-0123", "+14155550123", "415", "5550123"),
        ("415.555.0123", "+14155550123", "415", "5550123"),
        ("+1 (415) 555 0123", "+14155550123", "415", "5550123"),
        ("+44 20 7946 0958", "+442079460958", "20", "79460958"),
        ("0044 20 7946 0958", "+442079460958", "20", "79460958"),
        ("+33 6 12 34 56 78", "+33612345678", "6", "12345678"),
    ] {
        let u = map_ok(&m, &record(1, json!({ "tel": input })));
        assert_eq!(u.phone.as_ref().unwrap().as_str(), e164, "{input}");
        assert_eq!(u.attributes["area"], area, "{input}");
        assert_eq!(u.attributes["num"], num, "{input}");
    }
    // A phone stored as a bigint.
    let u = map_ok(&m, &record(1, json!({ "tel": 4_155_550_123_i64 })));
    assert_eq!(u.phone.unwrap().as_str(), "+14155550123");
    for garbage in [
        "garbage",
        "555-0123",
        "+999 123",
        "☎️☎️☎️",
        "1234567890123456789012",
    ] {
        let errs = map_err(&m, &record(2, json!({ "tel": garbage })));
        assert_eq!(errs[0].field, "phone", "{garbage}");
        assert!(
            errs[0].reason.starts_with("(from `tel`) is"),
            "{}",
            errs[0].reason
        );
    }
    // Blank phones are missing, not errors (the user has an address to sign in with).
    let u = map_ok(
        &m,
        &record(3, json!({ "tel": "  ", "email": "a@example.com" })),
    );
    assert_eq!(u.phone, None);
}

/// The trial's case: a well-formed US number whose area code is not assigned (611) must not
/// cost the user their account. Validity per libphonenumber's metadata: 611 is an N11 service
/// code, never an area code (NANPA), so `(611) 840-2798` is not a valid US number.
#[test]
fn an_invalid_optional_field_costs_the_field_not_the_account() {
    let m = mapper(
        r#"
        phone_region = "US"
        [fields]
        email = { from = "email", transform = ["trim", "lowercase"], required = true }
        phone = "tel"
        birthdate = { from = "dob", formats = ["%m/%d/%Y"] }
        "attributes.plan" = { from = "plan", map = { G = "gold" } }
        "#,
    );
    let u = map_ok(
        &m,
        &record(
            7,
            json!({"email": " Ann@Example.com ", "tel": "(611) 840-2798", "dob": "13/45/1990", "plan": "Z"}),
        ),
    );
    assert_eq!(u.email.as_ref().unwrap().as_str(), "ann@example.com");
    assert_eq!(u.phone, None);
    // A phone is kept as written, under attributes; the others are dropped.
    assert_eq!(u.attributes["phone_raw"], "(611) 840-2798");
    assert_eq!(u.profile.birthdate, None);
    assert!(u.attributes.get("plan").is_none(), "{:?}", u.attributes);
    let warnings = &u.migration.as_ref().unwrap().warnings;
    let fields: Vec<&str> = warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["attributes.plan", "birthdate", "phone"]);
    let phone = &warnings[2].reason;
    assert!(phone.starts_with("(from `tel`) is not a valid"), "{phone}");
    assert!(
        phone.ends_with("kept as written in `attributes.phone_raw`"),
        "{phone}"
    );
    assert!(
        warnings[1].reason.ends_with("the user migrated without it"),
        "{}",
        warnings[1].reason
    );

    // A valid record has no warnings.
    let ok = map_ok(
        &m,
        &record(
            8,
            json!({"email": "b@example.com", "tel": "(415) 555-0123"}),
        ),
    );
    assert!(ok.migration.unwrap().warnings.is_empty());

    // A required field still quarantines: an invalid email is not a warning.
    let errs = map_err(
        &m,
        &record(
            9,
            json!({"email": "not-an-address", "tel": "(611) 840-2798"}),
        ),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "email");
}

#[test]
fn on_invalid_chooses_per_rule() {
    let m = mapper(
        r#"
        phone_region = "US"
        [fields]
        email = "email"
        phone = { from = "tel", on_invalid = "drop" }
        birthdate = { from = "dob", on_invalid = "keep-raw" }
        "attributes.age" = { from = "age", as = "integer", on_invalid = "keep-raw" }
        locale = { from = "lang", map = { en = "en-US" }, on_invalid = "quarantine" }
        "#,
    );
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"email": "a@example.com", "tel": "(611) 840-2798", "dob": "yesterday", "age": "forty"}),
        ),
    );
    assert_eq!(u.phone, None);
    assert!(u.attributes.get("phone_raw").is_none());
    assert_eq!(u.attributes["birthdate_raw"], "yesterday");
    // An `attributes.*` target keeps the raw value in place.
    assert_eq!(u.attributes["age"], "forty");
    assert_eq!(u.migration.unwrap().warnings.len(), 3);
    let errs = map_err(&m, &record(2, json!({"lang": "xx"})));
    assert_eq!(errs[0].field, "locale");
}

#[test]
fn on_invalid_other_than_quarantine_is_refused_on_a_required_rule_and_keep_raw_cannot_collide() {
    let e = config_error(
        r#"
        [fields]
        email = { from = "e", required = true, on_invalid = "drop" }
        phone = { from = "p", on_invalid = "keep-raw" }
        "attributes.phone_raw" = "other"
        "#,
    );
    let keys: Vec<&str> = e.problems().iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"fields.email.on_invalid"), "{e}");
    assert!(keys.contains(&"fields.phone.on_invalid"), "{e}");
}

#[test]
fn unicode_names_are_kept_and_split() {
    let m = mapper(
        r#"
        [fields]
        name = { from = "full", split = { given_name = "given_name", middle_name = "middle_name", family_name = "family_name" } }
        nickname = "nick"
        "#,
    );
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"full": "  José  María Álvarez ", "nick": "Pépé 🐱"}),
        ),
    );
    assert_eq!(u.profile.name.as_deref(), Some("José  María Álvarez"));
    assert_eq!(u.profile.given_name.as_deref(), Some("José"));
    assert_eq!(u.profile.middle_name.as_deref(), Some("María"));
    assert_eq!(u.profile.family_name.as_deref(), Some("Álvarez"));
    assert_eq!(u.profile.nickname.as_deref(), Some("Pépé 🐱"));

    let jp = mapper(
        r#"fields.name = { from = "full", name_order = "family-first", split = { given_name = "given_name", family_name = "family_name" } }"#,
    );
    let u = map_ok(&jp, &record(2, json!({"full": "山田 太郎"})));
    assert_eq!(u.profile.family_name.as_deref(), Some("山田"));
    assert_eq!(u.profile.given_name.as_deref(), Some("太郎"));
}

#[test]
fn missing_required_fields_are_errors_and_optional_ones_are_absent() {
    let m = mapper(
        r#"
        [fields]
        email = { from = ["email", "contact.email"], required = true }
        given_name = "fname"
        "#,
    );
    let errs = map_err(&m, &record(4, json!({"fname": "Ann", "email": ""})));
    assert_eq!(
        errs[0].to_string(),
        "record 4: field `email` is required, but none of `email`, `contact.email` has a value"
    );
    let u = map_ok(&m, &record(5, json!({"contact": {"email": "a@b.co"}})));
    assert_eq!(u.email.unwrap().as_str(), "a@b.co");
    assert_eq!(u.profile.given_name, None);
}

#[test]
fn value_maps_defaults_and_constants_fill_statuses_and_booleans() {
    let m = mapper(
        r#"
        [fields]
        status = { from = "st", map = { A = "active", L = "disabled", "0" = "disabled" }, default = "active" }
        email_verified = { from = "ev", map = { Y = true, N = false }, unmatched = "default", default = false }
        locale = { from = "lang", map = { en = "en-US" }, unmatched = "keep" }
        "attributes.tier" = { const = 3 }
        "#,
    );
    let u = map_ok(&m, &record(1, json!({"st": "L", "ev": "Y", "lang": "fr"})));
    assert_eq!(u.status, Status::Disabled);
    assert!(u.email_verified);
    assert_eq!(u.profile.locale.as_deref(), Some("fr"));
    assert_eq!(u.attributes["tier"], 3);
    let u = map_ok(&m, &record(2, json!({"st": 0, "ev": "?"})));
    assert_eq!(u.status, Status::Disabled);
    assert!(!u.email_verified);
    let u = map_ok(&m, &record(3, json!({})));
    assert_eq!(
        u.status,
        Status::PasswordResetRequired,
        "active, but no password"
    );
}

#[test]
fn the_record_keeps_its_identity_and_its_original_without_secrets() {
    let m = mapper(
        r#"
        drop = ["ssn"]
        redact = ["ip"]
        fields.email = "email"
        [password]
        hash = "auth.hash"
        scheme = "bcrypt"
        "#,
    );
    // auth.hash: passlib.hash.bcrypt.using(rounds=4, ident="2b",
    //   salt="abcdefghijklmnopqrstuu").hash("hunter2")
    let r = LegacyRecord {
        key: LegacyKey::Text("u-17".into()),
        fields: serde_json::from_value(json!({
            "email": "a@b.co", "ssn": "078-05-1120", "ip": "10.1.1.1",
            "auth": {"hash": "$2b$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "mfa": false},
            // Secrets nobody mapped: an export's raw hash and salt, a token.
            "passwordHash": "lSrfV15cpx95", "salt": "42xEC", "reset_token": "t0k3n"
        }))
        .unwrap(),
    };
    let u = m.map("old_db", &r, now()).unwrap();
    assert_eq!(u.legacy_links.len(), 1);
    assert_eq!(u.legacy_links[0].source, "old_db");
    assert_eq!(u.legacy_links[0].legacy_id.as_str(), "u-17");
    let mig = u.migration.as_ref().unwrap();
    assert_eq!(
        (mig.method, mig.at, mig.source.as_str()),
        (Method::Bulk, now(), "old_db")
    );
    assert_eq!(
        mig.original,
        json!({"email": "a@b.co", "auth": {"mfa": false}})
    );
    assert_eq!((u.created_at, u.updated_at), (now(), now()));
    assert_eq!(u.status, Status::Active);
    assert!(verifies(&u, "hunter2"));
    let other = m.map("old_db", &r, now()).unwrap();
    assert_ne!(u.id, other.id, "every mapping gets a fresh id");
}

#[test]
fn unmapped_columns_are_kept_except_passwords_secrets_and_exclusions() {
    let m = mapper(
        r#"
        redact = ["prefs.pin_code"]
        fields.email = "email"
        [password]
        hash = "pw"
        scheme_field = "pw_algo"
        [unmapped]
        keep = true
        exclude = ["notes"]
        "#,
    );
    // pw = md5("hunter2"): hashlib.md5(b"hunter2").hexdigest()
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"email": "a@b.co", "pw": "2ab96390c7dbe3439de74d0c9b0b1767", "pw_algo": "md5",
                   "notes": "x", "karma": 3, "api_token": "t", "old_password": "p",
                   "prefs": {"theme": "dark", "pin_code": 1234}}),
        ),
    );
    assert_eq!(
        Value::Object(u.attributes),
        json!({"karma": 3, "prefs": {"theme": "dark"}})
    );
    assert_eq!(u.credential.as_ref().unwrap().scheme, Scheme::Md5);
}

#[test]
fn explicit_attribute_rules_win_over_copied_columns() {
    let m = mapper(
        r#"
        fields."attributes.plan" = { from = "plan", transform = ["uppercase"] }
        fields.attributes = { jq = "{plan: \"from-jq\", extra: 1}" }
        [unmapped]
        keep = true
        "#,
    );
    let u = map_ok(&m, &record(1, json!({"plan": "gold", "x": 2})));
    assert_eq!(
        Value::Object(u.attributes),
        json!({"plan": "GOLD", "extra": 1, "x": 2})
    );
}

#[test]
fn jq_programs_compute_fields_and_restructure_records() {
    let m = mapper(
        r#"
        pre = '. + {full: "\(.first) \(.last)"} | del(.first, .last)'
        [fields]
        name = "full"
        "attributes.emails" = { jq = "[.emails[] | ascii_downcase]" }
        nickname = { jq = "first(.aliases[]?) // empty", default = "none" }
        "#,
    );
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"first": "Ann", "last": "Lee", "emails": ["A@X.COM", "b@y.org"], "aliases": []}),
        ),
    );
    assert_eq!(u.profile.name.as_deref(), Some("Ann Lee"));
    assert_eq!(u.attributes["emails"], json!(["a@x.com", "b@y.org"]));
    assert_eq!(u.profile.nickname.as_deref(), Some("none"));

    let errs = map_err(
        &m,
        &record(2, json!({"first": "Ann", "last": "Lee", "emails": "x"})),
    );
    assert_eq!(errs[0].field, "attributes.emails");
    assert!(
        errs[0]
            .reason
            .starts_with("(from jq) the jq program failed"),
        "{}",
        errs[0].reason
    );
}

#[test]
fn jq_never_sees_the_password_fields() {
    let m = mapper(
        r#"
        fields."attributes.keys" = { jq = "keys" }
        [password]
        hash = "pw"
        salt = "pw_salt"
        scheme = "md5"
        salt_position = "prefix"
        "#,
    );
    // pw = md5("NaCl42" + "hunter2"): hashlib.md5(b"NaCl42hunter2").hexdigest()
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"pw": "b23ecf9b32e238e839440a2cf6d29b0c", "pw_salt": "NaCl42", "a": 1}),
        ),
    );
    assert_eq!(u.attributes["keys"], json!(["a"]));
}

#[test]
fn timestamps_come_from_epochs_and_sql_text() {
    let m = mapper(
        r#"
        timezone = "+01:00"
        [fields]
        created_at = { from = "c", epoch = "milliseconds" }
        updated_at = "u"
        "#,
    );
    let u = map_ok(
        &m,
        &record(1, json!({"c": "1500000000123", "u": "2020-06-01 08:30:00"})),
    );
    assert_eq!(u.created_at.to_rfc3339(), "2017-07-14T02:40:00.123+00:00");
    assert_eq!(u.updated_at.to_rfc3339(), "2020-06-01T07:30:00+00:00");
}

// ---------------------------------------------------------------- passwords

#[test]
fn md5_of_salt_then_password_with_the_salt_in_its_own_column_verifies() {
    let m = mapper(
        r#"
        [password]
        hash = "pw_hash"
        scheme = "md5"
        salt = "pw_salt"
        salt_position = "prefix"
        "#,
    );
    // hashlib.md5(b"NaCl42" + b"hunter2").hexdigest()
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"pw_hash": "b23ecf9b32e238e839440a2cf6d29b0c", "pw_salt": "NaCl42"}),
        ),
    );
    let c = u.credential.as_ref().unwrap();
    assert_eq!(c.scheme, Scheme::SaltedMd5);
    assert!(c.hash.starts_with("{\"algorithm\":\"md5\""));
    assert!(verifies(&u, "hunter2"));
    assert!(!verifies(&u, "NaCl42hunter2"));
    assert_eq!(u.status, Status::Active);
}

#[test]
fn sha1_of_password_then_salt_verifies() {
    let m = mapper(
        r#"
        [password]
        hash = "h"
        scheme = "salted-sha1"
        salt = "s"
        salt_position = "suffix"
        "#,
    );
    // hashlib.sha1(b"hunter2" + b"pepperoni").hexdigest()
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"h": "8afb0712f3124b65f268c71670cc08e5b91e5c65", "s": "pepperoni"}),
        ),
    );
    assert_eq!(u.credential.as_ref().unwrap().scheme, Scheme::SaltedSha1);
    assert!(verifies(&u, "hunter2"));
    assert!(!verifies(&u, "hunter3"));
}

#[test]
fn base64_digests_with_hex_salts_verify() {
    let m = mapper(
        r#"
        [password]
        hash = "h"
        scheme = "sha256"
        salt = "s"
        salt_position = "suffix"
        salt_encoding = "hex"
        hash_encoding = "base64"
        "#,
    );
    // base64.b64encode(hashlib.sha256(b"hunter2" + bytes.fromhex("a1b2c3")).digest())
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"h": "T65TFG6hf1Qj0ujJtmFWJAyNcua7cMobqrVpXKauhxs=", "s": "a1b2c3"}),
        ),
    );
    assert_eq!(u.credential.as_ref().unwrap().scheme, Scheme::SaltedSha256);
    assert!(verifies(&u, "hunter2"));
}

#[test]
fn hmac_uses_the_salt_column_as_its_key() {
    let m = mapper(
        r#"
        [password]
        hash = "h"
        scheme = "hmac-sha256"
        salt = "k"
        "#,
    );
    // hmac.new(b"k3y", b"hunter2", hashlib.sha256).hexdigest()
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"h": "a2b0dab1fbce37e9c8039810a1162e1490c1b547d1773b75ebbb5e7616930acb", "k": "k3y"}),
        ),
    );
    assert_eq!(u.credential.as_ref().unwrap().scheme, Scheme::HmacSha256);
    assert!(verifies(&u, "hunter2"));
    assert!(!verifies(&u, "k3y"));
}

#[test]
fn schemes_salted_with_the_user_name_join_it_to_the_hash() {
    let m = mapper(
        r#"
        [fields]
        username = "login"
        [password]
        hash = "h"
        scheme = "smf"
        salt = "login"
        "#,
    );
    // SMF: hashlib.sha1(b"alice" + b"hunter2").hexdigest(), the user name lower-cased first.
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"h": "9223f12c61c325faa858b8e25e38ba954ba55daf", "login": "Alice"}),
        ),
    );
    let c = u.credential.as_ref().unwrap();
    assert_eq!(c.scheme, Scheme::Smf);
    assert_eq!(c.hash, "9223f12c61c325faa858b8e25e38ba954ba55daf:Alice");
    // The user name is the record's own field: the salt does not hide it from other rules.
    assert!(
        u.username
            .as_ref()
            .unwrap()
            .as_str()
            .eq_ignore_ascii_case("alice")
    );
    // Downstream (export, the login bridge) parses a credential forcing its scheme.
    let forced = usher_hash::ParseOptions::forcing(c.scheme);
    let parsed = PasswordHash::parse_with(&c.hash, &forced).unwrap();
    assert!(parsed.verify(&Password::from("hunter2")).unwrap());
    assert!(!parsed.verify(&Password::from("Hunter2")).unwrap());

    // PostgreSQL md5: "md5" + hashlib.md5(b"hunter2" + b"alice").hexdigest(), salted with the
    // role name.
    let m = mapper(
        r#"
        [password]
        hash = "rolpassword"
        scheme = "postgres-md5"
        salt = "rolname"
        "#,
    );
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"rolpassword": "md5f1d6e2da5767fddc60c941cf0fa924cf", "rolname": "alice"}),
        ),
    );
    let c = u.credential.as_ref().unwrap();
    assert_eq!(c.scheme, Scheme::PostgresMd5);
    let parsed = PasswordHash::parse_with(&c.hash, &usher_hash::ParseOptions::forcing(c.scheme));
    assert!(
        parsed
            .as_ref()
            .unwrap()
            .verify(&Password::from("hunter2"))
            .unwrap()
    );
    assert!(!parsed.unwrap().verify(&Password::from("alice")).unwrap());
    // A record without the user name cannot be verified: reported against the record.
    let errs = map_err(
        &m,
        &record(
            2,
            json!({"rolpassword": "md5f1d6e2da5767fddc60c941cf0fa924cf"}),
        ),
    );
    assert_eq!(errs[0].field, "password");
    assert!(errs[0].reason.contains("needs it"), "{}", errs[0].reason);
}

#[test]
fn a_fixed_bcrypt_scheme_takes_the_hash_as_it_is() {
    let m = mapper(
        r#"
        [password]
        hash = "h"
        scheme = "bcrypt"
        "#,
    );
    // passlib.hash.bcrypt.using(rounds=4, ident="2b", salt="abcdefghijklmnopqrstuu").hash("hunter2")
    let h = "$2b$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm";
    let u = map_ok(&m, &record(1, json!({ "h": h })));
    assert_eq!(u.credential.as_ref().unwrap().hash, h);
    assert_eq!(u.credential.as_ref().unwrap().scheme, Scheme::Bcrypt);
    assert!(verifies(&u, "hunter2"));
    // An MD5-crypt hash is not bcrypt: forcing the scheme refuses it.
    // passlib.hash.md5_crypt.using(salt="saltsalt").hash("hunter2")
    let errs = map_err(
        &m,
        &record(2, json!({"h": "$1$saltsalt$ZliGyAN3DciDHEkDboonh/"})),
    );
    assert_eq!(errs[0].field, "password");
}

#[test]
fn a_scheme_field_with_a_value_map_picks_each_rows_scheme() {
    let m = mapper(
        r#"
        [password]
        hash = "h"
        scheme_field = "alg"
        scheme_map = { MD5 = "md5", BCRYPT = "bcrypt", "SHA1+SALT" = "salted-sha1" }
        salt = "s"
        salt_position = "suffix"
        "#,
    );
    // hashlib.md5(b"hunter2").hexdigest()
    let md5 = map_ok(
        &m,
        &record(
            1,
            json!({"h": "2ab96390c7dbe3439de74d0c9b0b1767", "alg": "MD5"}),
        ),
    );
    assert_eq!(md5.credential.as_ref().unwrap().scheme, Scheme::Md5);
    assert!(verifies(&md5, "hunter2"));
    // passlib bcrypt as above; the salt column is ignored for bcrypt rows.
    let bc = map_ok(
        &m,
        &record(
            2,
            json!({"h": "$2b$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "alg": "BCRYPT", "s": "zzz"}),
        ),
    );
    assert_eq!(bc.credential.as_ref().unwrap().scheme, Scheme::Bcrypt);
    assert!(verifies(&bc, "hunter2"));
    // hashlib.sha1(b"hunter2" + b"pepperoni").hexdigest()
    let s1 = map_ok(
        &m,
        &record(
            3,
            json!({"h": "8afb0712f3124b65f268c71670cc08e5b91e5c65", "alg": "SHA1+SALT", "s": "pepperoni"}),
        ),
    );
    assert!(verifies(&s1, "hunter2"));
    // usher ids work without the map; unknown names are named.
    // passlib.hash.md5_crypt.using(salt="saltsalt").hash("hunter2")
    let crypt = map_ok(
        &m,
        &record(
            4,
            json!({"h": "$1$saltsalt$ZliGyAN3DciDHEkDboonh/", "alg": "MD5-CRYPT"}),
        ),
    );
    assert!(verifies(&crypt, "hunter2"));
    let errs = map_err(
        &m,
        &record(
            5,
            json!({"h": "2ab96390c7dbe3439de74d0c9b0b1767", "alg": "whirlpool"}),
        ),
    );
    assert_eq!(
        errs[0].reason,
        "(from `alg`) `whirlpool` is not a scheme usher knows; map it to one in `password.scheme_map`"
    );
}

/// The trial's case: `ssha` rows map to `salted-sha1`, whose salt is inside the `{SSHA}`
/// value, beside a salt column that other rows use. Such a row is read as it is, with the
/// salt column empty or not.
#[test]
fn a_hash_that_carries_its_own_salt_ignores_the_salt_column() {
    let m = mapper(
        r#"
        [password]
        hash = "h"
        scheme_field = "alg"
        scheme_map = { ssha = "salted-sha1", smd5 = "salted-md5" }
        salt = "s"
        salt_position = "prefix"
        "#,
    );
    // python3: "{SSHA}" + base64(sha1(b"hunter2" + salt).digest() + salt), salt = bytes 1..=8
    let ssha = "{SSHA}yERxipHlokzIHIlbOPz5rEliDSgBAgMEBQYHCA==";
    for (key, salt) in [(1, json!("")), (2, Value::Null), (3, json!("unrelated"))] {
        let u = map_ok(
            &m,
            &record(key, json!({"h": ssha, "alg": "ssha", "s": salt})),
        );
        assert_eq!(u.credential.as_ref().unwrap().scheme, Scheme::SaltedSha1);
        assert!(verifies(&u, "hunter2"), "salt column {salt}");
        assert!(!verifies(&u, "hunter3"));
    }
    // A bare digest under the same map still takes its salt from the column:
    // hashlib.md5(b"NaCl" + b"hunter2").hexdigest()
    let md5 = map_ok(
        &m,
        &record(
            4,
            json!({"h": "3bd632321eb6acc20bb82a78592969cb", "alg": "smd5", "s": "NaCl"}),
        ),
    );
    assert!(verifies(&md5, "hunter2"));
    // … and without one it is still refused.
    let errs = map_err(
        &m,
        &record(
            5,
            json!({"h": "3bd632321eb6acc20bb82a78592969cb", "alg": "smd5", "s": ""}),
        ),
    );
    assert!(
        errs[0].reason.contains("needs a salt"),
        "{}",
        errs[0].reason
    );
}

#[test]
fn an_invalid_hash_names_the_record_and_the_field_but_never_the_hash() {
    let m = mapper(
        r#"
        [password]
        hash = "pw_hash"
        scheme = "md5"
        salt = "pw_salt"
        salt_position = "prefix"
        "#,
    );
    for (hash, salt) in [
        ("zz3ecf9b32e238e839440a2cf6d29b0c", "NaCl42"),
        ("b23ecf9b32e238e8", "NaCl42"),
        ("b23ecf9b32e238e839440a2cf6d29b0c-SECRETISH", "NaCl42"),
    ] {
        let errs = map_err(&m, &record(77, json!({"pw_hash": hash, "pw_salt": salt})));
        assert_eq!(errs.len(), 1);
        let text = errs[0].to_string();
        assert!(
            text.starts_with(
                "record 77: field `password` (from `pw_hash`) is not a usable password hash"
            ),
            "{text}"
        );
        assert!(!text.contains(hash) && !text.contains(&hash[..8]), "{text}");
        assert!(!text.contains(salt), "{text}");
    }
    let detect = mapper(r#"password.hash = "h""#);
    let errs = map_err(&detect, &record(78, json!({"h": "hunter2"})));
    assert_eq!(
        errs[0].to_string(),
        "record 78: field `password` (from `h`) is not a usable password hash: unrecognized hash format"
    );
}

#[test]
fn missing_and_invalid_hashes_follow_their_policies() {
    let reset = mapper(
        r#"
        fields.status = "st"
        password.hash = "h"
        "#,
    );
    assert_eq!(
        map_ok(&reset, &record(1, json!({}))).status,
        Status::PasswordResetRequired
    );
    assert_eq!(
        map_ok(&reset, &record(2, json!({"h": ""}))).status,
        Status::PasswordResetRequired
    );
    assert_eq!(
        map_ok(&reset, &record(3, json!({"st": "disabled"}))).status,
        Status::Disabled,
        "a disabled user stays disabled"
    );
    let keep = mapper(
        r#"
        password.hash = "h"
        password.missing = "keep"
        "#,
    );
    assert_eq!(map_ok(&keep, &record(4, json!({}))).status, Status::Active);
    let required = mapper(
        r#"
        password.hash = "h"
        password.missing = "error"
        "#,
    );
    assert_eq!(
        map_err(&required, &record(5, json!({"h": null})))[0].reason,
        "is missing"
    );
    let lenient = mapper(
        r#"
        password.hash = "h"
        password.invalid = "reset"
        "#,
    );
    let u = map_ok(&lenient, &record(6, json!({"h": "!"})));
    assert_eq!(
        (u.credential, u.status),
        (None, Status::PasswordResetRequired)
    );
}

#[test]
fn a_hash_column_holding_a_json_descriptor_is_read_as_one() {
    let m = mapper(r#"password.hash = "cred""#);
    // hashlib.md5(b"NaCl42" + b"hunter2").hexdigest(), as an Auth0 export writes it.
    let u = map_ok(
        &m,
        &record(
            1,
            json!({"cred": {"algorithm": "md5", "hash": {"value": "b23ecf9b32e238e839440a2cf6d29b0c", "encoding": "hex"}, "salt": {"value": "NaCl42", "encoding": "utf8", "position": "prefix"}}}),
        ),
    );
    assert!(verifies(&u, "hunter2"));
}

// ---------------------------------------------------------------- config errors

#[test]
fn typos_in_the_table_are_refused_by_serde() {
    for bad in [
        r#"feilds.email = "e""#,
        r#"fields.email = { form = "e" }"#,
        r#"password.hsah = "h""#,
        r#"unmapped.kep = true"#,
        r#"fields.email = { from = "e", transform = ["lower"] }"#,
        r#"fields.email = 3"#,
    ] {
        assert!(toml::from_str::<MappingConfig>(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_config_problem_is_reported_with_its_key() {
    let err = config_error(
        r#"
        phone_region = "XX"
        pre = ". |"
        [fields]
        givenname = "fname"
        birthdate = { from = "dob", formats = ["%m/%d/%Y", "%Q"] }
        phone = { from = "p", region = "ZZ" }
        status = { from = "st", map = { A = "actve" } }
        nickname = { from = "n", formats = ["%Y"] }
        "attributes.x" = { jq = "nosuch(1)" }
        email = { from = "e", jq = ".e" }
        username = { from = "pw" }
        [password]
        hash = "pw"
        scheme = "md55"
        "#,
    );
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pre",
            "phone_region",
            "password.scheme",
            "fields.\"attributes.x\".jq",
            "fields.birthdate.formats[1]",
            "fields.email",
            "fields.givenname",
            "fields.nickname.formats",
            "fields.phone.region",
            "fields.status.map.A",
            "fields.username.from",
        ]
    );
    let text = err.to_string();
    assert!(text.contains("did you mean `given_name`?"), "{text}");
    assert!(text.contains("`md55` is not a scheme id"), "{text}");
    assert!(text.contains("a password field"), "{text}");
    let full = err.in_source("legacy db");
    assert_eq!(full.problems()[0].key, "mappings.\"legacy db\".pre");
}

#[test]
fn password_tables_that_cannot_work_are_refused() {
    for (table, key, why) in [
        (
            "hash = \"h\"\nscheme = \"md5\"\nsalt = \"s\"",
            "password.salt_position",
            "is required",
        ),
        (
            "hash = \"h\"\nsalt = \"s\"\nsalt_position = \"prefix\"",
            "password.salt",
            "needs `scheme`",
        ),
        (
            "hash = \"h\"\nscheme = \"bcrypt\"\nsalt = \"s\"",
            "password.salt",
            "carries its salt",
        ),
        (
            "hash = \"h\"\nscheme = \"sha384\"\nsalt = \"s\"\nsalt_position = \"prefix\"",
            "password.salt",
            "only unsalted",
        ),
        (
            "hash = \"h\"\nscheme = \"hmac-sha1\"\nsalt = \"s\"\nsalt_position = \"prefix\"",
            "password.salt_position",
            "the salt is the key",
        ),
        (
            "hash = \"h\"\nscheme = \"smf\"\nsalt = \"s\"\nsalt_position = \"prefix\"",
            "password.salt_position",
            "fixes where its salt goes",
        ),
        (
            "hash = \"h\"\nscheme = \"md5\"\nscheme_field = \"a\"",
            "password.scheme_field",
            "cannot be used",
        ),
        (
            "hash = \"h\"\nscheme_map = { x = \"md5\" }",
            "password.scheme_map",
            "without `scheme_field`",
        ),
        (
            "hash = \"h\"\nscheme_field = \"a\"\nscheme_map = { x = \"nope\" }",
            "password.scheme_map.x",
            "not a scheme id",
        ),
        ("scheme = \"md5\"", "password.hash", "is required"),
        (
            "missing = \"error\"",
            "password.missing",
            "every record would fail",
        ),
        (
            "hash = \"h\"\nsalt_position = \"prefix\"",
            "password.salt_position",
            "without `salt`",
        ),
        (
            "hash = \"h\"\nscheme = \"argon2id\"\nhash_encoding = \"hex\"",
            "password.hash_encoding",
            "no effect",
        ),
    ] {
        let err = config_error(&format!("[password]\n{table}"));
        let p = err
            .problems()
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("{key} not in {err}"));
        assert!(p.reason.contains(why), "{key}: {}", p.reason);
    }
}

#[test]
fn overlapping_targets_and_misplaced_options_are_refused() {
    for (table, key) in [
        (
            "[fields]\ngiven_name = \"f\"\nname = { from = \"n\", split = { given_name = \"given_name\" } }",
            "fields.name.split",
        ),
        (
            "[fields]\n\"attributes.a\" = \"x\"\n\"attributes.a.b\" = \"y\"",
            "fields.\"attributes.a.b\"",
        ),
        (
            "[fields]\nphone = { from = \"p\", split = { area = \"attributes.a\" } }",
            "fields.phone.split.area",
        ),
        (
            "[fields]\nphone = { from = \"p\", split = { area_code = \"birthdate\" } }",
            "fields.phone.split.area_code",
        ),
        (
            "[fields]\nbirthdate = { from = \"d\", split = { given_name = \"given_name\" } }",
            "fields.birthdate.split",
        ),
        (
            "[fields]\nbirthdate = { from = \"d\", as = \"text\" }",
            "fields.birthdate.as",
        ),
        (
            "[fields]\nemail = { from = \"e\", unmatched = \"keep\" }",
            "fields.email.unmatched",
        ),
        ("[fields]\nemail = { }", "fields.email"),
        (
            "[fields]\nemail = { const = \"nope\" }",
            "fields.email.const",
        ),
        (
            "[fields]\ncreated_at = { from = \"c\", timezone = \"Europe/Paris\" }",
            "fields.created_at.timezone",
        ),
        ("[fields]\nemail = { from = [] }", "fields.email.from"),
        ("[unmapped]\nexclude = [\"a\"]", "unmapped.exclude"),
        ("drop = [\"\"]", "drop[0]"),
        ("drop = [\"x\"]\nfields.email = \"x\"", "fields.email.from"),
        (
            "fields.\"attributes.a\" = \"alg\"\n[password]\nhash = \"h\"\nscheme_field = \"alg\"",
            "fields.\"attributes.a\".from",
        ),
        (
            "fields.\"attributes.h\" = \"auth\"\npassword.hash = \"auth.h\"",
            "fields.\"attributes.h\".from",
        ),
    ] {
        let err = config_error(table);
        assert!(
            err.problems().iter().any(|p| p.key == key),
            "{key} not in {err}"
        );
    }
}

// ---------------------------------------------------------------- threads and hostile input

#[test]
fn one_mapper_maps_on_many_threads() {
    let m = mapper(
        r#"
        phone_region = "US"
        fields.phone = "p"
        fields."attributes.n" = { jq = ".n * 2" }
        "#,
    );
    std::thread::scope(|s| {
        for t in 0..4_i64 {
            let m = &m;
            s.spawn(move || {
                for i in 0..50_i64 {
                    let u = map_ok(
                        m,
                        &record(t * 100 + i, json!({"p": "415 555 0123", "n": i})),
                    );
                    assert_eq!(u.attributes["n"], json!(i * 2));
                }
            });
        }
    });
}

/// A mapping that exercises every kind of rule, for the property test.
fn everything_mapper() -> Mapper {
    mapper(
        r#"
        phone_region = "GB"
        drop = ["d"]
        redact = ["r.x"]
        [fields]
        email = { from = ["email", "contact.email"], transform = ["trim", "lowercase"] }
        email_verified = { from = "ev", map = { Y = true }, unmatched = "default", default = false }
        username = "login"
        phone = { from = "phone num", split = { area_code = "attributes.area", number = "attributes.num", extension = "attributes.ext" } }
        name = { from = "full", split = { given_name = "given_name", middle_name = "middle_name", family_name = "family_name" } }
        nickname = { jq = ".nick | tostring" }
        birthdate = { from = "dob", formats = ["%m/%d/%y", "%Y-%m-%d"], epoch = "seconds" }
        locale = { from = "lang", map = { en = "en-US" }, unmatched = "keep" }
        status = { from = "st", map = { A = "active", L = "disabled" } }
        created_at = { from = "c", epoch = "milliseconds", formats = ["rfc3339", "%d/%m/%Y %H:%M"] }
        updated_at = "u"
        "attributes.plan" = { from = "p.q.r", as = "integer" }
        "attributes.when" = { from = "w", as = "date" }
        "attributes.ok" = { from = "ok", as = "boolean" }
        attributes = { jq = "if type == \"object\" then {k: (keys | length)} else {} end" }
        [password]
        hash = "h"
        scheme_field = "alg"
        scheme_map = { MD5 = "md5", B = "bcrypt", H = "hmac-sha1" }
        salt = "s"
        salt_position = "prefix"
        [unmapped]
        keep = true
        into = "legacy"
        "#,
    )
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::String),
        "[0-9()+. -]{0,20}".prop_map(Value::String),
        "[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}".prop_map(Value::String),
        "[A-Za-z]{1,8}@[a-z]{1,6}\\.[a-z]{2,3}".prop_map(Value::String),
        "[0-9a-f]{32}".prop_map(Value::String),
        Just(Value::String(
            "$2b$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm".into()
        )),
        Just(Value::String("{\"a\": {\"b\": [1, \"x\"]}}".into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z .]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KEYS: &[&str] = &[
    "email",
    "contact",
    "ev",
    "login",
    "phone num",
    "full",
    "nick",
    "dob",
    "lang",
    "st",
    "c",
    "u",
    "p",
    "w",
    "ok",
    "h",
    "alg",
    "s",
    "d",
    "r",
    "x y",
    "password",
];

fn arb_record() -> impl Strategy<Value = LegacyRecord> {
    let key = prop_oneof![
        any::<i64>().prop_map(LegacyKey::Int),
        ".{0,8}".prop_map(LegacyKey::Text)
    ];
    let fields = prop::collection::btree_map(
        prop::sample::select(KEYS).prop_map(str::to_owned),
        arb_json(),
        0..KEYS.len(),
    );
    (key, fields).prop_map(|(key, fields)| LegacyRecord {
        key,
        fields: fields.into_iter().collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_records_never_panic_the_mapper(r in arb_record()) {
        let m = everything_mapper();
        match m.map("src", &r, now()) {
            Ok(user) => {
                // Whatever happened, the password and its salt were not stored elsewhere.
                let original = &user.migration.as_ref().unwrap().original;
                prop_assert!(original.get("h").is_none() && original.get("s").is_none());
                prop_assert!(user.attributes.get("legacy").and_then(|l| l.get("h")).is_none());
                prop_assert!(user.attributes.get("legacy").and_then(|l| l.get("password")).is_none());
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for e in &errors.0 {
                    prop_assert_eq!(&e.key, &r.key.to_string());
                    if let (true, Some(Value::String(h))) = (e.field == "password", r.fields.get("h")) {
                        prop_assert!(h.len() < 8 || !e.reason.contains(h.as_str()));
                    }
                }
            }
        }
    }

    #[test]
    fn any_record_maps_through_an_empty_mapping(r in arb_record()) {
        let m = Mapper::new(&MappingConfig::default()).unwrap();
        let result = m.map("src", &r, now());
        // Only an invalid key can fail an empty mapping.
        prop_assert_eq!(result.is_ok(), r.key.to_legacy_id().is_ok());
    }
}

// ---------------------------------------------------------------- records a source could not read

#[test]
fn a_record_marked_invalid_by_its_source_fails_with_its_field_and_reason() {
    let m = mapper("[fields]\nemail = \"email\"");
    let r = LegacyRecord {
        key: LegacyKey::Text("line-17".into()),
        fields: serde_json::from_value(json!({
            INVALID_FIELD: {"field": "passwordHash", "reason": "line 17: not base64"}
        }))
        .unwrap(),
    };
    let errors = map_err(&m, &r);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "line-17");
    assert_eq!(errors[0].field, "passwordHash");
    assert_eq!(errors[0].reason, "line 17: not base64");
    // The same mapper maps a good record, so the failure is the marker's doing.
    assert!(
        m.map("legacy_db", &record(1, json!({"email": "a@b.org"})), now())
            .is_ok()
    );
}

/// A record that leaves its user nothing to sign in with (no email, username or phone, here
/// because the phone it had is invalid and dropped) is held back, not migrated out of reach;
/// any one identifier is enough. The rehearsal on `usher fake` data found such users migrated.
#[test]
fn a_user_with_nothing_to_sign_in_with_is_held_back() {
    let m = mapper(
        r#"
        phone_region = "US"
        [fields]
        email = { from = "email", transform = ["trim"] }
        username = { from = "login", transform = ["trim"] }
        phone = { from = "tel", on_invalid = "drop" }
        given_name = "name"
        "#,
    );
    for (fields, phone) in [
        (
            json!({"email": " ", "login": "", "tel": null, "name": "Xóchitl"}),
            "so is the phone",
        ),
        (
            json!({"email": null, "login": null, "tel": "(611) 840-2798", "name": "Yusuf"}),
            "the phone did not validate",
        ),
    ] {
        let errs = map_err(&m, &record(729, fields.clone()));
        assert_eq!(errs[0].field, "email", "{fields}");
        assert_eq!(
            errs[0].reason,
            format!(
                "is empty, and so is the username, and {phone}: the user would have nothing to \
                 sign in with"
            )
        );
    }
    for fields in [
        json!({"email": "x@example.com"}),
        json!({"login": "yusuf1679"}),
        json!({"tel": "(415) 555-0132"}),
    ] {
        map_ok(&m, &record(1, fields));
    }
}
