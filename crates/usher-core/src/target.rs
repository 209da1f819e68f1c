//! [`Target`]: an identity provider users are exported into, as its import files take them.
//! A target encodes one user at a time (or says why the user is left out), and says how many
//! bytes and users one file may hold; the export job (`usher-engine`) packs, writes and
//! resumes. Each provider is one module of `usher-connect`.

use serde_json::Value;

use crate::User;

/// Adds each field that has a value to `object`, as a JSON string: how a user's optional
/// fields become a provider's record (an import file's, or a hook's answer).
pub fn present<'a>(
    object: &mut serde_json::Map<String, Value>,
    fields: impl IntoIterator<Item = (&'a str, Option<String>)>,
) {
    for (key, value) in fields {
        if let Some(value) = value {
            object.insert(key.to_owned(), Value::String(value));
        }
    }
}

/// What one of a target's import files may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    /// Bytes, the file's framing included.
    pub max_bytes: usize,
    /// Users.
    pub max_users: usize,
}

/// Why a user is not in the import files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftOut {
    /// The target cannot take the user's hash (its scheme named): the user goes to the
    /// target's lazy-migration hook, which verifies the password through usher.
    ForTheHook {
        /// The hash's scheme id.
        scheme: String,
        /// Why the target cannot take it (`auth0 cannot take bcrypt hashes: `$2x$``).
        reason: String,
    },
    /// The target cannot take the user's hash, and the export was told to leave such users
    /// out altogether (`--unexportable omit`).
    Omitted {
        /// The hash's scheme id.
        scheme: String,
        /// Why the target cannot take it.
        reason: String,
    },
    /// The target requires a field the user does not have (Auth0: an email).
    Missing {
        /// The field.
        field: &'static str,
    },
    /// The stored hash does not parse (a corrupt store row): never exported as garbage.
    UnreadableHash {
        /// Why.
        reason: String,
    },
}

impl LeftOut {
    /// A short label for reports and counts (`hook:md5-crypt`, `missing:email`).
    pub fn label(&self) -> String {
        match self {
            LeftOut::ForTheHook { scheme, .. } => format!("hook:{scheme}"),
            LeftOut::Omitted { scheme, .. } => format!("omitted:{scheme}"),
            LeftOut::Missing { field } => format!("missing:{field}"),
            LeftOut::UnreadableHash { .. } => "unreadable-hash".to_owned(),
        }
    }
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeftOut::ForTheHook { reason, .. } => {
                write!(f, "{reason}: the user logs in through its hook")
            }
            LeftOut::Omitted { reason, .. } => write!(f, "{reason}: left out"),
            LeftOut::Missing { field } => write!(f, "the target requires {field}"),
            LeftOut::UnreadableHash { reason } => {
                write!(f, "the stored hash is unreadable: {reason}")
            }
        }
    }
}

/// What to do with a user whose hash the target cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unexportable {
    /// Leave the password to the target's hook (the default): the user is imported without a
    /// password and marked for the hook where the target has such a mark, or left to the
    /// hook's lazy migration where importing them would bypass it (Auth0).
    #[default]
    Hook,
    /// Leave the user out, listed.
    Omit,
    /// Import the user without a password: they set a new one through the target's reset
    /// flow (Cognito's CSV import makes every user reset anyway).
    Reset,
}

/// An identity provider's import format.
pub trait Target: Send + Sync {
    /// The target's name (`auth0`), in file names, reports and the store's targets.
    fn name(&self) -> &'static str;

    /// What one file may hold.
    fn limits(&self) -> FileLimits;

    /// `user` as the target imports them, or why they are left out.
    fn encode(&self, user: &User) -> Result<Value, LeftOut>;

    /// Which file `user` (from [`Target::encode`]) must go in, for a target whose request
    /// carries settings shared by all its users (Firebase's hash options): a short name, safe
    /// in a file name, the same for users that may share a file. `None` (the default): any.
    fn group(&self, user: &Value) -> Option<String> {
        let _ = user;
        None
    }

    /// One file's bytes holding `users` (each from [`Target::encode`], all of one
    /// [`Target::group`]): a JSON array unless the target says otherwise.
    fn file(&self, users: &[Value]) -> Vec<u8> {
        if self.one_a_line() {
            let mut out = Vec::new();
            for user in users {
                if let Ok(line) = serde_json::to_vec(user) {
                    out.extend_from_slice(&line);
                    out.push(b'\n');
                }
            }
            return out;
        }
        serde_json::to_vec(users).unwrap_or_default()
    }

    /// Whether the files hold one JSON object a line (JSON Lines: a request each, for the
    /// providers that create users one request at a time) rather than a JSON array.
    fn one_a_line(&self) -> bool {
        false
    }

    /// The bytes `user` adds to a file already holding others (a JSON array's element and
    /// comma), to pack files up to [`FileLimits::max_bytes`].
    fn cost(&self, user: &Value) -> usize {
        serde_json::to_vec(user).map_or(0, |v| v.len().saturating_add(1))
    }

    /// The bytes of an empty file's framing (a JSON array's brackets).
    fn framing(&self) -> usize {
        if self.one_a_line() { 0 } else { 2 }
    }

    /// The extension of its files.
    fn extension(&self) -> &'static str {
        if self.one_a_line() { "jsonl" } else { "json" }
    }
}
