//! Any CSV file with a header row, keyed by one of its columns (read with the `csv` crate).
//!
//! ```toml
//! [sources.legacy]
//! type = "csv"
//! path = "users.csv"
//! key = "id"
//! key_type = "int"    # or "text"; default: int if every key is a canonical 64-bit integer
//! delimiter = ";"     # default ","
//! ```
//!
//! Each row becomes a record whose fields are the header's column names; values are strings
//! and empty cells are null. Quoted fields may span lines (line numbers in reasons are those
//! the row starts on). A row with more or fewer cells than the header, an empty key, a key
//! that is not an integer under `key_type = "int"`, a row that is not UTF-8, or a row over
//! 1 MiB becomes an invalid record naming the line and the field. Without `key_type`, keys
//! are integers only if every key is written in canonical decimal (`0`, `-?[1-9][0-9]*`), so
//! `007`, `+7` and `7` stay three text keys. Memory: the index keeps each row's key and
//! byte offset (about 80 bytes plus the key per user); rows are re-read on each read.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use ::csv::{Position, ReaderBuilder, StringRecord};
use serde::Deserialize;
use serde_json::{Map, Value};
use usher_core::{ConfigProblem, LegacyKey, Source, SourceError, config::resolve_path};

use super::{
    Entry, FileSource, Format, MAX_LINE_BYTES, changed, check_path, open, too_long, unavailable,
};

/// How a CSV source's keys are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// 64-bit integers, ordered numerically.
    Int,
    /// Text, ordered by bytes.
    Text,
}

/// `type = "csv"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// The CSV file; its first row names the columns.
    pub path: PathBuf,
    /// The column holding each row's key.
    pub key: String,
    /// How keys are ordered; default: `int` if every key is a canonical decimal integer
    /// (`0`, `-?[1-9][0-9]*`), else `text`.
    #[serde(default)]
    pub key_type: Option<KeyType>,
    /// The one-byte field delimiter; default `,`.
    #[serde(default)]
    pub delimiter: Option<String>,
}

impl CsvConfig {
    fn delimiter(&self) -> Result<u8, ConfigProblem> {
        match self.delimiter.as_deref() {
            None => Ok(b','),
            Some(d) => match d.as_bytes() {
                [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(*b),
                _ => Err(ConfigProblem::new(
                    "delimiter",
                    format!("{d:?} is not one ASCII character (other than a quote or newline)"),
                )),
            },
        }
    }

    /// Checks the options without reading the file.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = check_path("path", &self.path).into_iter().collect();
        if self.key.is_empty() {
            problems.push(ConfigProblem::new("key", "is empty"));
        }
        problems.extend(self.delimiter().err());
        problems
    }

    /// Makes `path` relative to `base` (the config file's directory) if it is relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_path(&mut self.path, base);
    }

    /// The source named `name`; the file is read on first use.
    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        crate::refuse(name, self.validate())?;
        let delimiter = self.delimiter().map_err(|p| crate::config_error(name, p))?;
        Ok(Box::new(FileSource::new(
            name,
            Csv {
                source: name.to_owned(),
                path: self.path.clone(),
                keys: vec![self.key.clone()],
                key_type: self.key_type,
                delimiter,
            },
        )))
    }
}

/// A CSV file; shared with the Cognito source.
pub(crate) struct Csv {
    pub(crate) source: String,
    pub(crate) path: PathBuf,
    /// Candidate key columns: the first the header has is the key.
    pub(crate) keys: Vec<String>,
    pub(crate) key_type: Option<KeyType>,
    pub(crate) delimiter: u8,
}

/// A row as the first pass saw it.
struct Row {
    line: u64,
    offset: u64,
    key: Result<String, (String, String)>,
}

impl Csv {
    fn reader(&self, path: &Path) -> Result<::csv::Reader<BufReader<std::fs::File>>, SourceError> {
        let file = open(&self.source, path)?;
        Ok(ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(true)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 16, file)))
    }

    fn headers(
        &self,
        rdr: &mut ::csv::Reader<BufReader<std::fs::File>>,
    ) -> Result<StringRecord, SourceError> {
        rdr.headers()
            .cloned()
            .map_err(|e| unavailable(&self.source, &self.path, &format!("header row: {e}")))
    }
}

/// Whether `k` is an integer in canonical decimal form (`0`, or `-?[1-9][0-9]*`) that fits 64
/// bits: only then may keys be integers, so `007`, `+7` and `7` never become the same key.
fn canonical_int(k: &str) -> bool {
    let digits = k.strip_prefix('-').unwrap_or(k);
    let canonical = k == "0"
        || (digits.bytes().all(|b| b.is_ascii_digit())
            && digits.bytes().next().is_some_and(|b| b != b'0'));
    canonical && k.parse::<i64>().is_ok()
}

impl Format for Csv {
    fn index(&self) -> Result<Vec<Entry>, SourceError> {
        let mut rdr = self.reader(&self.path)?;
        let headers = self.headers(&mut rdr)?;
        let Some((key_col, key_name)) = self
            .keys
            .iter()
            .find_map(|k| headers.iter().position(|h| h == k).map(|i| (i, k.clone())))
        else {
            return Err(SourceError::Config {
                source_name: self.source.clone(),
                reason: format!(
                    "{}: the header row has no column {}",
                    self.path.display(),
                    self.keys.join(" or ")
                ),
            });
        };
        let width = headers.len();
        let mut rows = Vec::new();
        let mut record = StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let (line, offset) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
                    let cell = record.get(key_col).unwrap_or_default();
                    let key = if record.as_slice().len() > MAX_LINE_BYTES {
                        Err(("record".to_owned(), too_long(line)))
                    } else if record.len() != width {
                        Err((
                            "record".to_owned(),
                            format!(
                                "line {line}: {} cells, the header has {width}",
                                record.len()
                            ),
                        ))
                    } else if cell.is_empty() {
                        Err((key_name.clone(), format!("line {line}: the key is empty")))
                    } else {
                        Ok(cell.to_owned())
                    };
                    rows.push(Row { line, offset, key });
                }
                Err(e) => {
                    let line = e.position().map_or(0, Position::line);
                    match e.kind() {
                        ::csv::ErrorKind::Io(_) => {
                            return Err(unavailable(&self.source, &self.path, &e));
                        }
                        _ => rows.push(Row {
                            line,
                            offset: 0,
                            key: Err(("record".to_owned(), format!("line {line}: {e}"))),
                        }),
                    }
                }
            }
        }
        let ints = match self.key_type {
            Some(KeyType::Int) => true,
            Some(KeyType::Text) => false,
            None => {
                let mut keys = rows.iter().filter_map(|r| r.key.as_ref().ok()).peekable();
                keys.peek().is_some() && keys.all(|k| canonical_int(k))
            }
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let n = row.line;
            let entry = match row.key {
                Err((field, reason)) => Entry::invalid(None, n, &field, reason),
                Ok(text) => {
                    let key = if ints {
                        match text.parse::<i64>() {
                            Ok(i) => Ok(LegacyKey::Int(i)),
                            Err(_) => Err(format!("line {n}: the key {text:?} is not an integer")),
                        }
                    } else {
                        Ok(LegacyKey::Text(text))
                    };
                    match key {
                        Err(reason) => Entry::invalid(None, n, &key_name, reason),
                        Ok(key) => Entry::at_line(key, row.offset, n),
                    }
                }
            };
            entries.push(entry);
        }
        Ok(entries)
    }

    fn load(&self, slots: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError> {
        let mut rdr = self.reader(&self.path)?;
        let headers = self.headers(&mut rdr)?;
        let mut record = StringRecord::new();
        let mut out = Vec::with_capacity(slots.len());
        for &(offset, line) in slots {
            // Consecutive rows are read without a seek (which would drop the buffer).
            if rdr.position().byte() != offset {
                let mut pos = Position::new();
                pos.set_byte(offset).set_line(line);
                rdr.seek(pos)
                    .map_err(|e| unavailable(&self.source, &self.path, &e))?;
            }
            let fields = match rdr.read_record(&mut record) {
                Ok(true) if record.len() == headers.len() => headers
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| {
                        let value = if v.is_empty() {
                            Value::Null
                        } else {
                            Value::String(v.to_owned())
                        };
                        (h.to_owned(), value)
                    })
                    .collect(),
                Err(e) if matches!(e.kind(), ::csv::ErrorKind::Io(_)) => {
                    return Err(unavailable(&self.source, &self.path, &e));
                }
                _ => changed(line),
            };
            out.push(fields);
        }
        Ok(out)
    }
}
