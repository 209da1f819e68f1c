//! Values on their way to a target: string transforms, value-map keys, and the conversions
//! that need no configuration (text, booleans, statuses, numbers).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Number, Value};

use super::config::{Transform, ValueType};
use crate::ids::{Email, PhoneE164, Username};
use crate::user::Status;

/// What a target holds, and so how a source value is parsed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Email,
    Username,
    Phone,
    Bool,
    Status,
    Date,
    Timestamp,
    Integer,
    Number,
    Json,
}

impl From<ValueType> for Kind {
    fn from(t: ValueType) -> Self {
        match t {
            ValueType::Json => Kind::Json,
            ValueType::Text => Kind::Text,
            ValueType::Email => Kind::Email,
            ValueType::Phone => Kind::Phone,
            ValueType::Boolean => Kind::Bool,
            ValueType::Integer => Kind::Integer,
            ValueType::Number => Kind::Number,
            ValueType::Date => Kind::Date,
            ValueType::Timestamp => Kind::Timestamp,
        }
    }
}

/// A converted value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Text(String),
    Email(Email),
    Username(Username),
    Phone(PhoneE164),
    Bool(bool),
    Status(Status),
    Date(NaiveDate),
    Timestamp(DateTime<Utc>),
    Json(Value),
}

impl Out {
    /// The value as stored in `attributes`.
    pub(crate) fn into_json(self) -> Value {
        match self {
            Out::Text(s) => Value::String(s),
            Out::Email(e) => Value::String(e.as_str().to_owned()),
            Out::Username(u) => Value::String(u.as_str().to_owned()),
            Out::Phone(p) => Value::String(p.as_str().to_owned()),
            Out::Bool(b) => Value::Bool(b),
            Out::Status(s) => Value::String(s.as_str().to_owned()),
            Out::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            Out::Timestamp(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Out::Json(v) => v,
        }
    }
}

/// Applies string transforms; other values pass unchanged.
pub(crate) fn transform<'v>(value: Cow<'v, Value>, transforms: &[Transform]) -> Cow<'v, Value> {
    if transforms.is_empty() || !value.is_string() {
        return value;
    }
    let mut s = match value {
        Cow::Borrowed(Value::String(s)) => s.clone(),
        Cow::Owned(Value::String(s)) => s,
        other => return other,
    };
    for t in transforms {
        s = match t {
            Transform::Trim => s.trim().to_owned(),
            Transform::Lowercase => s.to_lowercase(),
            Transform::Uppercase => s.to_uppercase(),
            Transform::CollapseWhitespace => s.split_whitespace().collect::<Vec<_>>().join(" "),
        };
    }
    Cow::Owned(Value::String(s))
}

/// The text a value is looked up by in a value map: strings as they are, numbers and
/// booleans written out. Objects and arrays have none.
pub(crate) fn map_key(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A short, printable rendering of a legacy code for an error message (status codes and
/// scheme names, never identifiers or secrets).
pub(crate) fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(32).flat_map(char::escape_default).collect();
    if s.chars().nth(32).is_some() {
        out.push('…');
    }
    format!("`{out}`")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text: strings trimmed, numbers and booleans written out.
pub(crate) fn text_of(value: &Value) -> Result<Cow<'_, str>, String> {
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s.trim())),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        other => Err(format!("is {}, not text", type_name(other))),
    }
}

/// Longest profile text accepted, in bytes.
const MAX_TEXT: usize = 4096;

/// A profile string: trimmed, bounded, no control characters.
pub(crate) fn text(value: &Value) -> Result<String, String> {
    let s = text_of(value)?;
    if s.len() > MAX_TEXT {
        return Err(format!("is longer than {MAX_TEXT} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(s.into_owned())
}

/// A boolean from the spellings legacy systems use.
pub(crate) fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "on" => Ok(true),
            "false" | "f" | "no" | "n" | "0" | "off" => Ok(false),
            _ => Err(format!(
                "{} is not a boolean (true/false, yes/no, 1/0; map other values with `map`)",
                quote(s)
            )),
        },
        other => Err(format!("is {}, not a boolean", type_name(other))),
    }
}

/// A status by its name.
pub(crate) fn status(value: &Value) -> Result<Status, String> {
    let s = text_of(value)?;
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "active" => Ok(Status::Active),
        "disabled" => Ok(Status::Disabled),
        "password-reset-required" => Ok(Status::PasswordResetRequired),
        _ => Err(format!(
            "{} is not a status (active, disabled or password-reset-required; map legacy \
             values with `map`)",
            quote(&s)
        )),
    }
}

/// An integer, from a JSON integer or decimal digits.
pub(crate) fn integer(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                Ok(Value::from(i))
            } else if let Ok(u) = s.parse::<u64>() {
                Ok(Value::from(u))
            } else {
                Err("is not an integer".into())
            }
        }
        _ => Err("is not an integer".into()),
    }
}

/// A finite number, from JSON or text.
pub(crate) fn number(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                return Ok(Value::from(i));
            }
            s.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| "is not a number".into())
        }
        _ => Err("is not a number".into()),
    }
}

/// An email address (trimmed and checked; lower-cased only if a transform says so).
pub(crate) fn email(value: &Value) -> Result<Email, String> {
    let s = text_of(value)?;
    Email::parse(&s).map_err(|e| e.to_string())
}

/// A username.
pub(crate) fn username(value: &Value) -> Result<Username, String> {
    let s = text_of(value)?;
    Username::parse(&s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transforms_run_in_order_on_strings_only() {
        let v = transform(
            Cow::Owned(json!("  Ann   MARIE  ")),
            &[Transform::CollapseWhitespace, Transform::Lowercase],
        );
        assert_eq!(v.into_owned(), json!("ann marie"));
        let n = transform(Cow::Owned(json!(5)), &[Transform::Uppercase]);
        assert_eq!(n.into_owned(), json!(5));
        let u = transform(Cow::Owned(json!("straße")), &[Transform::Uppercase]);
        assert_eq!(u.into_owned(), json!("STRASSE"));
    }

    #[test]
    fn booleans_accept_the_usual_legacy_spellings() {
        for t in [
            json!(true),
            json!(1),
            json!("Y"),
            json!(" yes "),
            json!("t"),
            json!("1"),
        ] {
            assert!(boolean(&t).unwrap(), "{t}");
        }
        for f in [
            json!(false),
            json!(0),
            json!("N"),
            json!("no"),
            json!("0"),
            json!("off"),
        ] {
            assert!(!boolean(&f).unwrap(), "{f}");
        }
        assert!(boolean(&json!("maybe")).unwrap_err().contains("`maybe`"));
        assert!(boolean(&json!(2)).is_err());
    }

    #[test]
    fn statuses_are_read_by_name_in_any_case() {
        assert_eq!(status(&json!("Active")).unwrap(), Status::Active);
        assert_eq!(
            status(&json!("password_reset_required")).unwrap(),
            Status::PasswordResetRequired
        );
        assert!(
            status(&json!("L"))
                .unwrap_err()
                .starts_with("`L` is not a status")
        );
    }

    #[test]
    fn text_refuses_structures_and_control_characters() {
        assert_eq!(text(&json!("  Zoë ")).unwrap(), "Zoë");
        assert_eq!(text(&json!(42)).unwrap(), "42");
        assert!(text(&json!({"a": 1})).is_err());
        assert!(text(&json!("a\u{0}b")).is_err());
    }

    #[test]
    fn numbers_come_from_json_or_text() {
        assert_eq!(integer(&json!(" 42 ")).unwrap(), json!(42));
        assert!(integer(&json!(4.5)).is_err());
        assert_eq!(number(&json!("4.5")).unwrap(), json!(4.5));
        assert!(number(&json!("NaN")).is_err());
    }

    #[test]
    fn quoted_codes_are_short_and_escaped() {
        assert_eq!(quote("a\nb"), "`a\\nb`");
        assert_eq!(quote(&"x".repeat(40)), format!("`{}…`", "x".repeat(32)));
    }
}
