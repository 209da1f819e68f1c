//! Amazon Cognito's CSV user import (`CreateUserImportJob`): a CSV of at most 500,000 users
//! and 100 MB a file, with the user pool's default header. Cognito's CSV carries no password
//! or hash: every imported user starts `RESET_REQUIRED`.
//!
//! So users with a password do not belong in it unless they are to reset it. With the default
//! policy they are left out and listed for Cognito's migrate-user trigger (usher's
//! `/hooks/cognito`), which moves each at their first sign-in with the password they have;
//! with `--unexportable reset` they are imported and reset it. Users without a password are
//! always imported.
//!
//! | column | from |
//! |---|---|
//! | `cognito:username` | the username, else the email, else [`User::external_id`] (no spaces) |
//! | `name`, `given_name`, `family_name`, `middle_name`, `nickname`, `picture`, `zoneinfo`, `locale` | the profile |
//! | `email`, `email_verified` | the user's |
//! | `phone_number`, `phone_number_verified` | the user's (E.164), `false` |
//! | `birthdate` | `mm/dd/yyyy` |
//! | `updated_at` | epoch seconds |
//! | `cognito:mfa_enabled` | `false` |
//!
//! Values follow Cognito's rules: no quotes, a comma escaped as `\,`; a line break becomes a
//! space, and a value longer than an attribute's 2,048 characters is left empty. A pool with
//! custom attributes or required ones needs `aws cognito-idp get-csv-header`'s extra columns;
//! the file has the default ones. Cognito refuses a row whose auto-verified attribute is
//! `false` (an unverified email in a pool that verifies email): its import log names them.

use serde_json::{Value, json};
use usher_core::{FileLimits, LeftOut, Target, Unexportable, User};
use usher_hash::{HashContext, NotExportable};

/// Cognito's CSV import.
#[derive(Debug, Clone, Default)]
pub struct CognitoTarget {
    /// Reads stored hashes.
    pub hash_context: HashContext,
    /// Users with a password: left to the migrate-user trigger, left out, or imported to reset.
    pub unexportable: Unexportable,
}

/// The user pool's default header (`get-csv-header` for a pool without custom attributes).
pub const HEADER: [&str; 21] = [
    "cognito:username",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    "cognito:mfa_enabled",
];

/// The longest value a Cognito attribute takes.
const MAX_VALUE_CHARS: usize = 2048;

/// `value` as a cell of Cognito's CSV: see the module docs.
fn cell(value: &str) -> String {
    if value.chars().count() > MAX_VALUE_CHARS {
        return String::new();
    }
    value.trim().replace(['\r', '\n'], " ").replace(',', "\\,")
}

fn row(cells: &[String]) -> String {
    cells.join(",")
}

impl Target for CognitoTarget {
    fn name(&self) -> &'static str {
        "cognito"
    }

    fn limits(&self) -> FileLimits {
        FileLimits {
            max_bytes: 100 * 1024 * 1024,
            max_users: 500_000,
        }
    }

    /// The row's cells, as a JSON array of strings.
    fn encode(&self, user: &User) -> Result<Value, LeftOut> {
        // Cognito takes no hash: a password is the policy's to place.
        super::password(
            user,
            &self.hash_context,
            self.unexportable,
            |hash| {
                Err(NotExportable {
                    target: "cognito",
                    scheme: hash.scheme(),
                    detail: ": its CSV import carries no password".to_owned(),
                })
            },
            super::Hook::Unknown,
        )?;
        let username = user
            .username
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .filter(|u| !u.contains(char::is_whitespace))
            .or_else(|| user.email.as_ref().map(|e| e.as_str().to_owned()))
            .unwrap_or_else(|| user.external_id());
        let p = &user.profile;
        let text = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
        let cells: Vec<String> = vec![
            cell(&username),
            text(&p.name),
            text(&p.given_name),
            text(&p.family_name),
            text(&p.middle_name),
            text(&p.nickname),
            String::new(),
            String::new(),
            text(&p.picture),
            String::new(),
            user.email
                .as_ref()
                .map(|e| cell(e.as_str()))
                .unwrap_or_default(),
            user.email_verified.to_string(),
            String::new(),
            p.birthdate
                .map(|d| d.format("%m/%d/%Y").to_string())
                .unwrap_or_default(),
            text(&p.zoneinfo),
            text(&p.locale),
            user.phone
                .as_ref()
                .map(|x| cell(x.as_str()))
                .unwrap_or_default(),
            "false".to_owned(),
            String::new(),
            user.updated_at.timestamp().to_string(),
            "false".to_owned(),
        ];
        Ok(json!(cells))
    }

    fn file(&self, users: &[Value]) -> Vec<u8> {
        let mut out = row(&HEADER.map(str::to_owned));
        out.push('\n');
        for user in users {
            out.push_str(&row(&cells(user)));
            out.push('\n');
        }
        out.into_bytes()
    }

    fn cost(&self, user: &Value) -> usize {
        row(&cells(user)).len().saturating_add(1)
    }

    fn framing(&self) -> usize {
        row(&HEADER.map(str::to_owned)).len().saturating_add(1)
    }

    fn extension(&self) -> &'static str {
        "csv"
    }
}

fn cells(user: &Value) -> Vec<String> {
    user.as_array()
        .map(|cells| {
            cells
                .iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
