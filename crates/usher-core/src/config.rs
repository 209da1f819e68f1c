//! What every section of `usher.toml` does the same way: report its mistakes as
//! [`ConfigProblem`]s, found without I/O, and make its relative file paths relative to the
//! config file's directory ([`resolve_path`]).
//!
//! Each section's `validate` returns every problem it has at once, each naming its TOML key
//! relative to the section (`tls_ca_file`, `fields.birthdate.formats[0]`); the table that
//! holds the section puts its own path in front ([`ConfigProblem::under`]), so that by the
//! time `usher config check` prints them every key is the full path in the file.
//!
//! ```
//! use usher_core::ConfigProblem;
//!
//! let p = ConfigProblem::new("tls_ca_file", "is set but `tls` is \"disable\"").under("sources.app");
//! assert_eq!(p.key, "sources.app.tls_ca_file");
//! assert_eq!(p.to_string(), "[sources.app.tls_ca_file] is set but `tls` is \"disable\"");
//! assert_eq!(ConfigProblem::new("", "names no source").under("bridge.app").key, "bridge.app");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a configuration table: the key that holds it and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The TOML key path, relative to the table that reported it (`fields.birthdate.formats[0]`),
    /// or absolute once every enclosing table has put its path in front. Empty: the table
    /// itself.
    pub key: String,
    /// What is wrong, phrased to follow the key.
    pub reason: String,
}

impl ConfigProblem {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The same problem seen from the table holding this one at `prefix` (a key path such as
    /// `sources.app`): the key becomes `prefix.key`, or `prefix` for a problem of the whole
    /// table. Array indices join without a dot (`path` + `[0]` is `path[0]`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.key = if self.key.is_empty() {
            prefix.to_owned()
        } else if prefix.is_empty() || self.key.starts_with('[') {
            format!("{prefix}{}", self.key)
        } else {
            format!("{prefix}.{}", self.key)
        };
        self
    }
}

/// `[key] reason`, or the reason alone for a problem with no key.
impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "[{}] {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigProblem {}

/// Every problem of a table seen from the table holding it at `prefix` (see
/// [`ConfigProblem::under`]).
pub fn under(
    prefix: &str,
    problems: impl IntoIterator<Item = ConfigProblem>,
) -> impl Iterator<Item = ConfigProblem> {
    problems.into_iter().map(move |p| p.under(prefix))
}

/// Problems on one line, `; ` between them: for an error that carries several.
pub fn one_line(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value of `result`, or `None` with its problem added to `problems`: for a check that
/// yields something later checks need, while every problem is still reported.
pub fn keep<T>(problems: &mut Vec<ConfigProblem>, result: Result<T, ConfigProblem>) -> Option<T> {
    result.map_err(|p| problems.push(p)).ok()
}

/// A TOML key as written in a dotted key path: bare when it can be, else quoted
/// (`app`, `"legacy db"`).
pub fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// `table.<name>` with the name quoted if need be: the path of one entry of a table of named
/// tables (`sources.app`, `mappings."legacy db"`).
pub fn entry(table: &str, name: &str) -> String {
    format!("{table}.{}", toml_key(name))
}

/// Makes `path` relative to `base` (the config file's directory) when it is relative, so that
/// a config means the same files wherever usher is started. Each section calls it on each
/// file path it holds, in its own `resolve_paths`.
pub fn resolve_path(path: &mut PathBuf, base: &Path) {
    if path.is_relative() {
        *path = base.join(&*path);
    }
}

/// Collects problems while a table is checked.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<ConfigProblem>);

impl Problems {
    pub(crate) fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigProblem::new(key, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_by_the_tables_that_hold_them() {
        let p = ConfigProblem::new("formats[0]", "is not a format")
            .under("fields.birthdate")
            .under(&entry("mappings", "legacy db"));
        assert_eq!(p.key, "mappings.\"legacy db\".fields.birthdate.formats[0]");
        assert_eq!(
            ConfigProblem::new("[2]", "x").under("legacy").key,
            "legacy[2]"
        );
        assert_eq!(ConfigProblem::new("a", "x").under("").key, "a");
        assert_eq!(ConfigProblem::new("", "whole").to_string(), "whole");
        let all: Vec<_> = under(
            "serve",
            [
                ConfigProblem::new("listen", "a"),
                ConfigProblem::new("", "b"),
            ],
        )
        .collect();
        assert_eq!(one_line(&all), "[serve.listen] a; [serve] b");
    }

    #[test]
    fn only_relative_paths_move() {
        let base = Path::new("/etc/usher");
        let mut relative = PathBuf::from("secrets/key");
        resolve_path(&mut relative, base);
        assert_eq!(relative, Path::new("/etc/usher/secrets/key"));
        let mut absolute = PathBuf::from("/run/key");
        resolve_path(&mut absolute, base);
        assert_eq!(absolute, Path::new("/run/key"));
    }
}
