//! Source paths: a column, or a path into the JSON a column holds.
//!
//! `profile.address.city` names the column `profile.address.city` if the record has one,
//! else `city` inside `address` inside the column `profile.address`, else inside the column
//! `profile`: the longest leading part that names a column wins, so columns whose names hold
//! dots or spaces (`phone num`) need no quoting. Inside a column, a segment of digits also
//! indexes arrays (`emails.0`). A column holding JSON as text (a MySQL `JSON` or a `TEXT`
//! column of JSON) is parsed once per record and read like an object.

use serde_json::{Map, Value};

/// A compiled source path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourcePath {
    text: String,
    /// `(column, path inside it)`, the longest column first.
    candidates: Vec<(String, Vec<String>)>,
}

impl SourcePath {
    /// Longest path accepted, in bytes.
    const MAX_LEN: usize = 1024;

    /// Compiles a path as written in the config.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("is empty".into());
        }
        if text.len() > Self::MAX_LEN {
            return Err(format!("is longer than {} bytes", Self::MAX_LEN));
        }
        let mut candidates = vec![(text.to_owned(), Vec::new())];
        for (i, _) in text.rmatch_indices('.') {
            let (column, rest) = (text.get(..i), text.get(i.saturating_add(1)..));
            let (Some(column), Some(rest)) = (column, rest) else {
                continue;
            };
            let segments: Vec<String> = rest.split('.').map(str::to_owned).collect();
            if column.is_empty() || segments.iter().any(String::is_empty) {
                continue;
            }
            candidates.push((column.to_owned(), segments));
        }
        Ok(Self {
            text: text.to_owned(),
            candidates,
        })
    }

    /// The path as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The columns this path may read through a JSON-in-text column.
    pub(crate) fn nested_columns(&self) -> impl Iterator<Item = &str> {
        self.candidates
            .iter()
            .filter(|(_, rest)| !rest.is_empty())
            .map(|(c, _)| c.as_str())
    }

    /// The value at this path, and the column it was read from.
    pub(crate) fn resolve<'a>(&self, fields: &'a Fields<'_>) -> Option<(&'a str, &'a Value)> {
        let (column, rest) = self
            .candidates
            .iter()
            .find(|(c, _)| fields.map.contains_key(c.as_str()))?;
        let (name, mut value) = fields.map.get_key_value(column.as_str())?;
        if rest.is_empty() {
            return Some((name.as_str(), value));
        }
        if let Value::String(_) = value {
            value = fields.embedded(column)?;
        }
        for seg in rest {
            value = step(value, seg)?;
        }
        Some((name.as_str(), value))
    }

    /// The column of `map` this path falls in, and whether it is the whole column.
    pub(crate) fn locate<'m>(&self, map: &'m Map<String, Value>) -> Option<(&'m str, bool)> {
        let (column, rest) = self
            .candidates
            .iter()
            .find(|(c, _)| map.contains_key(c.as_str()))?;
        let (name, _) = map.get_key_value(column.as_str())?;
        Some((name.as_str(), rest.is_empty()))
    }

    /// Removes the value at this path from `map`, wherever it is. A column of JSON text is
    /// rewritten as text without that value.
    pub(crate) fn remove(&self, map: &mut Map<String, Value>) {
        let Some((column, rest)) = self
            .candidates
            .iter()
            .find(|(c, _)| map.contains_key(c.as_str()))
        else {
            return;
        };
        let Some((last, parents)) = rest.split_last() else {
            map.remove(column.as_str());
            return;
        };
        let Some(value) = map.get_mut(column.as_str()) else {
            return;
        };
        if let Value::String(text) = value {
            let Ok(mut parsed) = serde_json::from_str::<Value>(text) else {
                return;
            };
            if remove_in(&mut parsed, parents, last) {
                *text = parsed.to_string();
            }
            return;
        }
        remove_in(value, parents, last);
    }
}

fn step<'a>(value: &'a Value, seg: &str) -> Option<&'a Value> {
    match value {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Removes `last` from the value at `parents` inside `value`; whether anything was removed.
/// Array elements are replaced by null rather than removed, so other indices stay valid.
fn remove_in(value: &mut Value, parents: &[String], last: &str) -> bool {
    let mut at = value;
    for seg in parents {
        let Some(next) = step_mut(at, seg) else {
            return false;
        };
        at = next;
    }
    match at {
        Value::Object(m) => m.remove(last).is_some(),
        Value::Array(a) => match last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = Value::Null;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// A record's fields as rules read them, with JSON-in-text columns parsed once.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    embedded: Vec<(&'a str, Value)>,
}

impl<'a> Fields<'a> {
    /// Parses, once, the text columns that `nested` paths read into.
    pub(crate) fn new(map: &'a Map<String, Value>, nested: &[String]) -> Self {
        let embedded = nested
            .iter()
            .filter_map(|column| {
                let (name, value) = map.get_key_value(column.as_str())?;
                let text = value.as_str()?.trim_start();
                if !(text.starts_with('{') || text.starts_with('[')) {
                    return None;
                }
                serde_json::from_str::<Value>(text)
                    .ok()
                    .map(|v| (name.as_str(), v))
            })
            .collect();
        Self { map, embedded }
    }

    fn embedded(&self, column: &str) -> Option<&Value> {
        self.embedded
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v)
    }
}

/// Whether a value counts as absent: null, or text that is empty once trimmed. Legacy tables
/// write `''` where they mean NULL.
pub(crate) fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn read(path: &str, v: Value) -> Option<Value> {
        let p = SourcePath::parse(path).unwrap();
        let m = map(v);
        let nested: Vec<String> = p.nested_columns().map(str::to_owned).collect();
        let f = Fields::new(&m, &nested);
        p.resolve(&f).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_column_name_with_a_space_is_read_as_written() {
        assert_eq!(
            read("phone num", json!({"phone num": "(415) 555-0123"})),
            Some(json!("(415) 555-0123"))
        );
    }

    #[test]
    fn dotted_paths_read_into_json_objects_and_json_text() {
        let obj = json!({"profile": {"address": {"city": "Paris"}}});
        assert_eq!(read("profile.address.city", obj), Some(json!("Paris")));
        let text = json!({"profile": "{\"address\": {\"city\": \"Lyon\"}}"});
        assert_eq!(read("profile.address.city", text), Some(json!("Lyon")));
        assert_eq!(
            read("emails.1", json!({"emails": ["a", "b"]})),
            Some(json!("b"))
        );
    }

    #[test]
    fn the_longest_column_prefix_wins() {
        let v = json!({"a.b": {"c": 1}, "a": {"b": {"c": 2}}});
        assert_eq!(read("a.b.c", v), Some(json!(1)));
        assert_eq!(read("a.b.c", json!({"a.b.c": 3})), Some(json!(3)));
    }

    #[test]
    fn missing_and_mistyped_steps_are_absent_not_errors() {
        assert_eq!(read("a.b", json!({"a": 5})), None);
        assert_eq!(read("a.b", json!({"a": "not json"})), None);
        assert_eq!(read("a.9", json!({"a": [1]})), None);
        assert_eq!(read("x", json!({})), None);
    }

    #[test]
    fn removal_reaches_into_objects_and_json_text() {
        let mut m =
            map(json!({"auth": {"hash": "h", "algo": "md5"}, "pw": "x", "j": "{\"s\":1,\"t\":2}"}));
        SourcePath::parse("auth.hash").unwrap().remove(&mut m);
        SourcePath::parse("pw").unwrap().remove(&mut m);
        SourcePath::parse("j.s").unwrap().remove(&mut m);
        assert_eq!(
            Value::Object(m),
            json!({"auth": {"algo": "md5"}, "j": "{\"t\":2}"})
        );
    }

    #[test]
    fn empty_and_overlong_paths_are_refused() {
        assert!(SourcePath::parse("").is_err());
        assert!(SourcePath::parse(&"a".repeat(2000)).is_err());
        assert!(SourcePath::parse("a..b").is_ok());
    }
}
