//! Firebase Authentication's import (`accounts:batchCreate`, what the Admin SDK's
//! `importUsers` sends): one request body a file, at most 1,000 users, the hash options at the
//! top and each user's `passwordHash` and `salt` (web-safe base64). A request carries one set
//! of hash options, so users are grouped by theirs: bcrypt users in `…-bcrypt.json`, Firebase
//! scrypt users of one project in `…-scrypt-r8-m14-<key id>.json`, and so on.
//!
//! | Firebase | from |
//! |---|---|
//! | `localId` | [`User::external_id`] |
//! | `email`, `emailVerified`, `phoneNumber` (E.164), `displayName`, `photoUrl` | the user's |
//! | `disabled` | a disabled user |
//! | `createdAt` | when the user was created (ms) |
//! | `passwordHash`, `salt`, and the request's options | the stored hash ([`usher_hash::PasswordHash::to_firebase`]) |
//!
//! Firebase has no lazy-migration hook and keeps no profile metadata beyond these fields (its
//! custom claims go into every token, so the mapped attributes are not sent there). A user
//! whose hash Firebase cannot take is left out and listed, or imported without a password with
//! `--unexportable reset`.

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use usher_core::{FileLimits, LeftOut, Status, Target, Unexportable, User};
use usher_hash::HashContext;

/// Firebase's import, as `accounts:batchCreate` request bodies.
#[derive(Debug, Clone, Default)]
pub struct FirebaseTarget {
    /// Reads stored hashes.
    pub hash_context: HashContext,
    /// Users whose hash Firebase cannot take: left out, or imported without a password.
    pub unexportable: Unexportable,
}

/// The bytes a request's hash options may add around its users (a signer key is 88).
const OPTIONS_BYTES: usize = 512;

impl Target for FirebaseTarget {
    fn name(&self) -> &'static str {
        "firebase"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 64 * 1024 * 1024,
            max_users: 1_000,
        }
    }

    /// `{"options": <the request's hash options>, "user": <the user>}`: [`Target::file`]
    /// lifts the options to the request.
    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        let hash = super::password(
            user,
            &self.hash_context,
            self.unexportable,
            |hash| {
                hash.to_firebase()
                    .map(|(options, fields)| json!({ "options": options, "fields": fields }))
            },
            super::Hook::None,
        )?;
        let mut out = Map::new();
        out.insert("localId".into(), json!(user.external_id()));
        if let Some(email) = &user.email {
            out.insert("email".into(), json!(email.as_str()));
            out.insert("emailVerified".into(), json!(user.email_verified));
        }
        let p = &user.profile;
        super::present(
            &mut out,
            [
                (
                    "phoneNumber",
                    user.phone.as_ref().map(|x| x.as_str().to_owned()),
                ),
                ("displayName", p.name.clone()),
                ("photoUrl", p.picture.clone()),
            ],
        );
        if user.status == Status::Disabled {
            out.insert("disabled".into(), json!(true));
        }
        out.insert(
            "createdAt".into(),
            json!(user.created_at.timestamp_millis()),
        );
        let options = match hash {
            Some(Value::Object(mut hash)) => {
                if let Some(Value::Object(fields)) = hash.remove("fields") {
                    out.extend(fields);
                }
                hash.remove("options").unwrap_or_else(|| json!({}))
            }
            _ => json!({}),
        };
        Ok(json!({ "options": options, "user": out }))
    }

    /// The options' algorithm and parameters, and for keyed ones a digest of the key: users
    /// with the same options share a request.
    fn group(&self, user: &Value) -> Option<String> {
        let options = user.get("options")?.as_object()?;
        let Some(algorithm) = options.get("hashAlgorithm").and_then(Value::as_str) else {
            return Some("no-password".to_owned());
        };
        let mut name = algorithm.to_ascii_lowercase().replace('_', "-");
        for (key, short) in [
            ("rounds", "r"),
            ("memoryCost", "m"),
            ("cpuMemCost", "n"),
            ("blockSize", "r"),
            ("parallelization", "p"),
            ("dkLen", "l"),
        ] {
            if let Some(n) = options.get(key).and_then(Value::as_u64) {
                name.push_str(&format!("-{short}{n}"));
            }
        }
        if let Some(key) = options.get("signerKey").and_then(Value::as_str) {
            let separator = options
                .get("saltSeparator")
                .and_then(Value::as_str)
                .unwrap_or("");
            let digest = Sha256::digest(format!("{key}${separator}").as_bytes());
            let id: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
            name.push('-');
            name.push_str(&id);
        }
        Some(name)
    }

    fn file(&self, users: &[Value]) -> Vec<u8> {
        let mut body = users
            .first()
            .and_then(|u| u.get("options"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let records: Vec<&Value> = users.iter().filter_map(|u| u.get("user")).collect();
        body.insert("users".into(), json!(records));
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn cost(&self, user: &Value) -> usize {
        user.get("user")
            .and_then(|u| serde_json::to_vec(u).ok())
            .map_or(0, |v| v.len().saturating_add(1))
    }

    fn framing(&self) -> usize {
        OPTIONS_BYTES
    }
}
