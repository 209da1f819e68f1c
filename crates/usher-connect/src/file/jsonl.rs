//! Any NDJSON file (JSON Lines): one JSON object per line, keyed by a top-level field.
//!
//! ```toml
//! [sources.legacy]
//! type = "jsonl"
//! path = "users.jsonl"
//! key = "id"          # a top-level field holding an integer or a string
//! ```
//!
//! Every record is the line's object as it is. Keys are integers or strings, as each line has
//! them (integers sort before strings). Blank lines are skipped; a line that is not a JSON
//! object, or whose key is missing, empty or neither an integer nor a string, becomes an
//! invalid record (`line-<n>`, naming the line and the field). Memory: the index keeps each
//! record's key and byte offset (about 80 bytes plus the key per user); lines are re-read on
//! each read.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use usher_core::{ConfigProblem, Source, SourceError, config::resolve_path};

use super::{Entry, Format, changed, check_path, json_key, json_object};

/// `type = "jsonl"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// The NDJSON file.
    pub path: PathBuf,
    /// The top-level field holding each record's key.
    pub key: String,
}

impl JsonlConfig {
    /// Checks the options without reading the file.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = check_path("path", &self.path).into_iter().collect();
        if self.key.trim().is_empty() {
            problems.push(ConfigProblem::new("key", "is empty"));
        }
        problems
    }

    /// Makes `path` relative to `base` (the config file's directory) if it is relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_path(&mut self.path, base);
    }

    /// The source named `name`; the file is read on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        super::build(name, self.validate(), |source| Jsonl {
            source,
            path: self.path.clone(),
            key: self.key.clone(),
        })
    }
}

struct Jsonl {
    source: String,
    path: PathBuf,
    key: String,
}

impl Format for Jsonl {
    fn index(&self) -> Result<Vec<Entry>, SourceError> {
        let mut entries = Vec::new();
        super::scan_lines(&self.source, &self.path, |line| {
            let n = line.number;
            let entry = match line.json() {
                Err(reason) => Entry::invalid(None, n, "record", reason),
                Ok(obj) => match json_key(obj.get(&self.key)) {
                    Err(why) => {
                        Entry::invalid(None, n, &self.key, format!("line {n}: the key {why}"))
                    }
                    Ok(key) => Entry::at_line(key, line.offset, n),
                },
            };
            entries.push(entry);
        })?;
        Ok(entries)
    }

    fn load(&self, slots: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError> {
        super::load_lines(&self.source, &self.path, slots, |n, bytes| {
            json_object(n, bytes).unwrap_or_else(|_| changed(n))
        })
    }
}
