//! Legacy users in export files: one module per format, each a [`usher_core::Source`]
//! over a file a provider's export tool wrote.
//!
//! * [`auth0`] — an Auth0 user export (NDJSON) plus, optionally, the password-hash export
//!   Auth0 support sends.
//! * [`firebase`] — `firebase auth:export --format=json`, with the project's scrypt parameters.
//! * [`cognito`] — a Cognito user pool CSV (no password hashes).
//! * [`keycloak`] — a Keycloak realm export (the realm file and `<realm>-users-N.json` files).
//! * [`csv`] — any CSV file with a header row.
//! * [`jsonl`] — any NDJSON file, one object per line.
//!
//! # How a file is read
//!
//! On first use each source builds an *index* once (in a blocking task): every record's key
//! and where the record is, sorted by key. Line formats (NDJSON, CSV) keep only the key and the
//! record's byte offset and re-read those lines on each [`read`](usher_core::Source::read), so
//! a 10-million-user file costs about 80 bytes plus the key's length per user in memory (one index entry: the key, the offset and line number, where it came from).
//! Whole-document JSON (Firebase, Keycloak) is parsed whole and held: the user's parsed record,
//! typically 1–2 KB per user.
//!
//! Keys are ordered numerically when they are integers and by bytes when they are text; in a
//! source with integer keys, the records keyed by text (bad lines, `line-17`, and duplicate
//! keys, `42#line-90`) sort after every integer, so the last (open-ended) partition of a
//! backfill reads them.
//!
//! # Lookups by login identifier
//!
//! The first [`lookup`](usher_core::Source::lookup) of a field reads every record once and
//! keeps an index of the field's lowercased text values (the value's length plus about 100
//! bytes per user); later lookups of that field are a hash-map probe.
//!
//! # Bad input
//!
//! Nothing in a file stops a job and nothing is dropped silently: a line that is not JSON, a
//! line or CSV row over 1 MiB ([`MAX_LINE_BYTES`]; an NDJSON line is never held past that, and
//! reading goes on at the next newline), a row with the wrong number of columns, a record without a key, a duplicate key (the first
//! wins), a hash that is not base64... each becomes a record whose only field is
//! [`usher_core::INVALID_FIELD`], `{"field": ..., "reason": "line 17: ..."}`, keyed by its id
//! when known, else `line-<n>`. The mapper fails such a record with that field and reason, and
//! the job quarantines it.

pub mod auth0;
pub mod cognito;
pub mod csv;
pub mod firebase;
pub mod jsonl;
pub mod keycloak;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use usher_core::{
    ConfigProblem, INVALID_FIELD, KeyRange, LegacyKey, LegacyRecord, Source, SourceError,
};

/// Orders keys as file sources do: integers numerically, text by bytes, every integer before
/// every text key.
pub(crate) fn key_cmp(a: &LegacyKey, b: &LegacyKey) -> Ordering {
    match (a, b) {
        (LegacyKey::Int(x), LegacyKey::Int(y)) => x.cmp(y),
        (LegacyKey::Text(x), LegacyKey::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (LegacyKey::Int(_), LegacyKey::Text(_)) => Ordering::Less,
        (LegacyKey::Text(_), LegacyKey::Int(_)) => Ordering::Greater,
    }
}

/// The fields of a record the source could not read.
pub(crate) fn invalid_fields(field: &str, reason: impl Into<String>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        INVALID_FIELD.to_owned(),
        json!({"field": field, "reason": reason.into()}),
    );
    m
}

/// Where a record is.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// Re-read from the file at this byte offset; `line` is its 1-based line number.
    At { offset: u64, line: u64 },
    /// Held in memory (whole-document formats, and records that could not be read).
    Held(Arc<Map<String, Value>>),
}

/// One record of the index.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: LegacyKey,
    pub(crate) slot: Slot,
    /// Where it came from, for duplicate keys.
    pub(crate) origin: Origin,
}

/// Where a record came from: `line 17` in reasons, `line-17` in keys.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A line of the (main) file.
    Line(u64),
    /// A line of Auth0's hash export.
    HashLine(u64),
    /// `users[index]` of a whole JSON document.
    Doc { doc: Arc<DocName>, index: usize },
}

/// A JSON document's name in reasons, and the prefix of its `users-<i>` keys.
#[derive(Debug)]
pub(crate) struct DocName {
    name: String,
    tag: String,
}

impl Origin {
    /// As reasons say it: `line 17`, `hashes line 4`, `users.json users[3]`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Origin::Line(n) => format!("line {n}"),
            Origin::HashLine(n) => format!("hashes line {n}"),
            Origin::Doc { doc, index } => format!("{} users[{index}]", doc.name),
        }
    }

    /// As keys say it: `line-17`, `hashes-line-4`, `users-3`.
    pub(crate) fn suffix(&self) -> String {
        match self {
            Origin::Line(n) => format!("line-{n}"),
            Origin::HashLine(n) => format!("hashes-line-{n}"),
            Origin::Doc { doc, index } => format!("{}users-{index}", doc.tag),
        }
    }
}

impl Entry {
    /// A record at byte `offset` of the file, on line `line`, read again from there when asked
    /// for.
    pub(crate) fn at_line(key: LegacyKey, offset: u64, line: u64) -> Self {
        Entry {
            key,
            slot: Slot::At { offset, line },
            origin: Origin::Line(line),
        }
    }

    /// A record the source could not read, keyed by `key` (or `line-<line>`).
    pub(crate) fn invalid(
        key: Option<LegacyKey>,
        line: u64,
        field: &str,
        reason: impl Into<String>,
    ) -> Self {
        Entry {
            key: key.unwrap_or_else(|| LegacyKey::Text(format!("line-{line}"))),
            slot: Slot::Held(Arc::new(invalid_fields(field, reason))),
            origin: Origin::Line(line),
        }
    }
}

/// Sorts entries by key; a key seen again becomes an invalid record keyed `<key>#<suffix>`
/// (the first in file order wins).
pub(crate) fn finish_index(mut entries: Vec<Entry>) -> Vec<Entry> {
    // A stable sort keeps file order among equal keys.
    entries.sort_by(|a, b| key_cmp(&a.key, &b.key));
    let mut kept: Option<(LegacyKey, Origin)> = None;
    let mut dups = false;
    for e in &mut entries {
        match &kept {
            Some((key, origin)) if *key == e.key => {
                let reason = format!(
                    "{}: duplicate key {:?} (the record at {} is kept)",
                    e.origin.describe(),
                    key.to_string(),
                    origin.describe()
                );
                e.slot = Slot::Held(Arc::new(invalid_fields("key", reason)));
                e.key = LegacyKey::Text(format!("{key}#{}", e.origin.suffix()));
                dups = true;
            }
            _ => kept = Some((e.key.clone(), e.origin.clone())),
        }
    }
    if dups {
        entries.sort_by(|a, b| key_cmp(&a.key, &b.key));
    }
    entries
}

/// What each format does with its files; everything runs in blocking tasks.
pub(crate) trait Format: Send + Sync + 'static {
    /// Reads the files once: every record's key and slot, in any order.
    fn index(&self) -> Result<Vec<Entry>, SourceError>;

    /// The fields of the records at `slots` (all [`Slot::At`]), in the same order.
    fn load(&self, slots: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError>;
}

type FieldIndex = Arc<HashMap<String, Vec<usize>>>;

/// A [`Source`] over one [`Format`]: the lazily built index, keyset reads and lookups.
pub(crate) struct FileSource<F: Format> {
    name: String,
    format: Arc<F>,
    index: OnceCell<Arc<Vec<Entry>>>,
    lookups: Mutex<HashMap<String, FieldIndex>>,
}

impl<F: Format> std::fmt::Debug for FileSource<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("name", &self.name)
            .field("indexed", &self.index.get().map(|i| i.len()))
            .finish_non_exhaustive()
    }
}

/// How many records a lookup index build loads at a time.
const LOOKUP_CHUNK: usize = 4096;

/// The source named `name` over the files `format` reads, once its config's `problems` (from
/// its `validate`) are none; `format` is given the name to report errors under.
pub(crate) fn build<F: Format>(
    name: &str,
    problems: Vec<ConfigProblem>,
    format: impl FnOnce(String) -> F,
) -> Result<Box<dyn Source>, SourceError> {
    crate::refuse(name, problems)?;
    Ok(Box::new(FileSource::new(name, format(name.to_owned()))))
}

impl<F: Format> FileSource<F> {
    pub(crate) fn new(name: &str, format: F) -> Self {
        FileSource {
            name: name.to_owned(),
            format: Arc::new(format),
            index: OnceCell::new(),
            lookups: Mutex::new(HashMap::new()),
        }
    }

    fn join_error(&self, e: tokio::task::JoinError) -> SourceError {
        SourceError::Query {
            source_name: self.name.clone(),
            reason: format!("reading the file failed: {e}"),
        }
    }

    async fn index(&self) -> Result<Arc<Vec<Entry>>, SourceError> {
        self.index
            .get_or_try_init(|| async {
                let format = Arc::clone(&self.format);
                let entries = tokio::task::spawn_blocking(move || format.index())
                    .await
                    .map_err(|e| self.join_error(e))??;
                Ok(Arc::new(finish_index(entries)))
            })
            .await
            .cloned()
    }

    /// The records of `entries[positions]`, loading the ones kept in the file.
    async fn records(
        &self,
        index: &Arc<Vec<Entry>>,
        positions: Vec<usize>,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
        let format = Arc::clone(&self.format);
        let index = Arc::clone(index);
        tokio::task::spawn_blocking(move || load_positions(format.as_ref(), &index, &positions))
            .await
            .map_err(|e| self.join_error(e))?
    }

    async fn field_index(
        &self,
        index: &Arc<Vec<Entry>>,
        field: &str,
    ) -> Result<FieldIndex, SourceError> {
        if let Some(found) = self
            .lookups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(field)
        {
            return Ok(Arc::clone(found));
        }
        let format = Arc::clone(&self.format);
        let index2 = Arc::clone(index);
        let field2 = field.to_owned();
        let built = tokio::task::spawn_blocking(move || {
            let mut map: HashMap<String, Vec<usize>> = HashMap::new();
            // In file order, so line formats read their file front to back, not by key.
            let mut all: Vec<usize> = (0..index2.len()).collect();
            all.sort_by_key(|&p| match index2.get(p).map(|e| &e.slot) {
                Some(Slot::At { offset, .. }) => *offset,
                _ => 0,
            });
            for chunk in all.chunks(LOOKUP_CHUNK) {
                let records = load_positions(format.as_ref(), &index2, chunk)?;
                for (pos, r) in chunk.iter().zip(records) {
                    if let Some(Value::String(s)) = r.fields.get(&field2) {
                        map.entry(s.to_lowercase()).or_default().push(*pos);
                    }
                }
            }
            // Each value's records in key order, as lookups answer.
            for positions in map.values_mut() {
                positions.sort_unstable();
            }
            Ok::<_, SourceError>(map)
        })
        .await
        .map_err(|e| self.join_error(e))??;
        let built = Arc::new(built);
        self.lookups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(field.to_owned(), Arc::clone(&built));
        Ok(built)
    }
}

fn load_positions(
    format: &dyn FormatDyn,
    index: &[Entry],
    positions: &[usize],
) -> Result<Vec<LegacyRecord>, SourceError> {
    let entries: Vec<&Entry> = positions.iter().filter_map(|&p| index.get(p)).collect();
    let at: Vec<(u64, u64)> = entries
        .iter()
        .filter_map(|e| match e.slot {
            Slot::At { offset, line } => Some((offset, line)),
            Slot::Held(_) => None,
        })
        .collect();
    let mut loaded = if at.is_empty() {
        Vec::new()
    } else {
        format.load_dyn(&at)?
    }
    .into_iter();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let fields = match &e.slot {
            Slot::Held(m) => m.as_ref().clone(),
            Slot::At { line, .. } => loaded
                .next()
                .unwrap_or_else(|| invalid_fields("record", format!("line {line}: not re-read"))),
        };
        out.push(LegacyRecord {
            key: e.key.clone(),
            fields,
        });
    }
    Ok(out)
}

/// [`Format`] as a trait object, so `load_positions` is compiled once.
trait FormatDyn {
    fn load_dyn(&self, slots: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError>;
}

impl<F: Format> FormatDyn for F {
    fn load_dyn(&self, slots: &[(u64, u64)]) -> Result<Vec<Map<String, Value>>, SourceError> {
        self.load(slots)
    }
}

#[async_trait]
impl<F: Format> Source for FileSource<F> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read(&self, range: &KeyRange, limit: usize) -> Result<Vec<LegacyRecord>, SourceError> {
        let index = self.index().await?;
        let start = match &range.after {
            Some(after) => index.partition_point(|e| key_cmp(&e.key, after) != Ordering::Greater),
            None => 0,
        };
        let positions: Vec<usize> = index
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take(limit)
            .take_while(|e| {
                range
                    .until
                    .as_ref()
                    .is_none_or(|u| key_cmp(&e.key, u) != Ordering::Greater)
            })
            .enumerate()
            .map(|(i, _)| start.saturating_add(i))
            .collect();
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        self.records(&index, positions).await
    }

    async fn count(&self) -> Result<Option<u64>, SourceError> {
        let index = self.index().await?;
        Ok(Some(u64::try_from(index.len()).unwrap_or(u64::MAX)))
    }

    async fn key_bounds(&self) -> Result<Option<(LegacyKey, LegacyKey)>, SourceError> {
        let index = self.index().await?;
        // Integer keys bound the integer range; text keys after them (bad lines) are read by
        // the last, open-ended partition.
        let ints = index.partition_point(|e| matches!(e.key, LegacyKey::Int(_)));
        let span = if ints > 0 {
            index.get(..ints)
        } else {
            index.get(..)
        };
        Ok(span.and_then(|s| Some((s.first()?.key.clone(), s.last()?.key.clone()))))
    }

    async fn lookup(
        &self,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<LegacyRecord>, SourceError> {
        let index = self.index().await?;
        let by_value = self.field_index(&index, field).await?;
        let Some(positions) = by_value.get(&value.to_lowercase()) else {
            return Ok(Vec::new());
        };
        let positions: Vec<usize> = positions.iter().take(limit).copied().collect();
        self.records(&index, positions).await
    }

    async fn healthcheck(&self) -> Result<(), SourceError> {
        self.index().await.map(|_| ())
    }
}

/// Opens a file for reading; a failure is [`SourceError::Unavailable`] naming the path.
pub(crate) fn open(source: &str, path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|e| unavailable(source, path, &e))
}

pub(crate) fn unavailable(source: &str, path: &Path, e: &dyn std::fmt::Display) -> SourceError {
    SourceError::Unavailable {
        source_name: source.to_owned(),
        reason: format!("cannot read {}: {e}", path.display()),
    }
}

/// Reads a whole file (the whole-document formats).
pub(crate) fn read_all(source: &str, path: &Path) -> Result<Vec<u8>, SourceError> {
    let mut buf = Vec::new();
    open(source, path)?
        .read_to_end(&mut buf)
        .map_err(|e| unavailable(source, path, &e))?;
    Ok(buf)
}

/// The longest line (one record, its end included) a file source reads. A longer line is an
/// invalid record naming its line number, and reading goes on at the next newline: a hostile
/// export with one huge line cannot exhaust memory.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// Why a line over [`MAX_LINE_BYTES`] is an invalid record.
pub(crate) fn too_long(line: u64) -> String {
    format!("line {line}: longer than {MAX_LINE_BYTES} bytes, the limit for one record")
}

/// One line of an NDJSON file: its 1-based number, byte offset and the line without its end.
pub(crate) struct Line {
    pub(crate) number: u64,
    pub(crate) offset: u64,
    /// Empty when `too_long`.
    pub(crate) bytes: Vec<u8>,
    /// The line is longer than [`MAX_LINE_BYTES`]; its bytes were not kept.
    pub(crate) too_long: bool,
}

impl Line {
    /// The line as a JSON object, or why not (too long, not JSON, not an object).
    pub(crate) fn json(&self) -> Result<Map<String, Value>, String> {
        if self.too_long {
            return Err(too_long(self.number));
        }
        json_object(self.number, &self.bytes)
    }
}

/// Reads through the next `\n` (or the end of the file) into `buf`, keeping at most
/// [`MAX_LINE_BYTES`]: answers the bytes consumed and whether the line was longer (then `buf`
/// is left empty).
fn read_line_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let mut consumed: usize = 0;
    let mut overlong = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (available.get(..=i).unwrap_or(available), true),
            None => (available, false),
        };
        let used = chunk.len();
        if !overlong {
            if used > MAX_LINE_BYTES.saturating_sub(buf.len()) {
                overlong = true;
                buf.clear();
                buf.shrink_to_fit();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        consumed = consumed.saturating_add(used);
        if done {
            break;
        }
    }
    Ok((consumed, overlong))
}

/// Calls `each` with every non-blank line of an NDJSON file.
pub(crate) fn scan_lines(
    source: &str,
    path: &Path,
    mut each: impl FnMut(Line),
) -> Result<(), SourceError> {
    let mut reader = BufReader::with_capacity(1 << 16, open(source, path)?);
    let mut offset: u64 = 0;
    let mut number: u64 = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (n, overlong) =
            read_line_capped(&mut reader, &mut buf).map_err(|e| unavailable(source, path, &e))?;
        if n == 0 {
            return Ok(());
        }
        number = number.saturating_add(1);
        let start = offset;
        offset = offset.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if !overlong && buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        each(Line {
            number,
            offset: start,
            bytes: trim_end(&buf).to_vec(),
            too_long: overlong,
        });
    }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p.saturating_add(1));
    b.get(..end).unwrap_or_default()
}

/// Re-reads the lines at `slots` of an NDJSON file, handing each to `parse`.
pub(crate) fn load_lines(
    source: &str,
    path: &Path,
    slots: &[(u64, u64)],
    mut parse: impl FnMut(u64, &[u8]) -> Map<String, Value>,
) -> Result<Vec<Map<String, Value>>, SourceError> {
    let mut reader = BufReader::new(open(source, path)?);
    let mut out = Vec::with_capacity(slots.len());
    let mut buf = Vec::new();
    // Where the reader is: consecutive lines are read without a seek (which would drop the
    // buffer).
    let mut at: Option<u64> = None;
    for &(offset, line) in slots {
        if at != Some(offset) {
            reader
                .seek(SeekFrom::Start(offset))
                .map_err(|e| unavailable(source, path, &e))?;
        }
        buf.clear();
        // A line grown too long since the index was built parses as empty: "changed".
        let (n, _) =
            read_line_capped(&mut reader, &mut buf).map_err(|e| unavailable(source, path, &e))?;
        at = Some(offset.saturating_add(u64::try_from(n).unwrap_or(u64::MAX)));
        out.push(parse(line, trim_end(&buf)));
    }
    Ok(out)
}

/// A JSON object from one NDJSON line, or why not.
pub(crate) fn json_object(line: u64, bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "line {line}: expected a JSON object, found {}",
            json_kind(&other)
        )),
        Err(e) => Err(format!("line {line}: not JSON: {e}")),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A key from a JSON value: an integer or a non-empty string.
pub(crate) fn json_key(v: Option<&Value>) -> Result<LegacyKey, String> {
    match v {
        None | Some(Value::Null) => Err("is missing".into()),
        Some(Value::String(s)) if s.trim().is_empty() => Err("is empty".into()),
        Some(Value::String(s)) => Ok(LegacyKey::Text(s.clone())),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(LegacyKey::Int)
            .ok_or_else(|| format!("{n} is not a 64-bit integer")),
        Some(other) => Err(format!("is {}, not a string or integer", json_kind(other))),
    }
}

/// A path from the configuration, checked without touching it.
pub(crate) fn check_path(key: &str, path: &Path) -> Option<ConfigProblem> {
    path.as_os_str()
        .is_empty()
        .then(|| ConfigProblem::new(key, "is empty"))
}

/// Re-reading a record found it different from the index (the file changed under usher).
pub(crate) fn changed(line: u64) -> Map<String, Value> {
    invalid_fields(
        "record",
        format!("line {line}: the file changed since it was indexed; restart the job"),
    )
}

/// A path list option: one file or several.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum Paths {
    /// One file.
    One(PathBuf),
    /// Several files, read as one source.
    Many(Vec<PathBuf>),
}

impl Paths {
    /// The files, in order.
    pub fn as_slice(&self) -> &[PathBuf] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    /// The files, in order, to change (resolving relative paths).
    pub fn as_mut_slice(&mut self) -> &mut [PathBuf] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }

    /// The key of the `i`-th file within a table holding it as `key`: `path`, or `path[1]`
    /// in a list.
    fn key(&self, key: &str, i: usize) -> String {
        match self {
            Paths::One(_) => key.to_owned(),
            Paths::Many(_) => format!("{key}[{i}]"),
        }
    }
}

/// Standard or URL-safe base64, padded or not (exports write either), or `None`.
pub(crate) fn b64_any(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let normal: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(normal)
        .ok()
}

/// Bytes as padded standard base64.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The records of a whole JSON document's `users` array, keyed by the string field `key`;
/// `doc` names the document in reasons and `tag` prefixes the `users-<i>` keys of records
/// without an id. Each user goes through `finish`, which may add
/// fields or refuse the user (field, reason).
pub(crate) fn document_users(
    doc: &str,
    tag: &str,
    bytes: &[u8],
    key: &str,
    mut finish: impl FnMut(&str, &mut Map<String, Value>) -> Result<(), (String, String)>,
) -> Result<Vec<Entry>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        users: Option<Vec<Value>>,
    }
    let parsed: Doc =
        serde_json::from_slice(bytes).map_err(|e| format!("{doc} is not a JSON export: {e}"))?;
    let mut out = Vec::new();
    let name = Arc::new(DocName {
        name: doc.to_owned(),
        tag: tag.to_owned(),
    });
    for (i, user) in parsed.users.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{doc} users[{i}]");
        let suffix = format!("{tag}users-{i}");
        let held = |key: LegacyKey, fields: Map<String, Value>| Entry {
            key,
            slot: Slot::Held(Arc::new(fields)),
            origin: Origin::Doc {
                doc: Arc::clone(&name),
                index: i,
            },
        };
        let Value::Object(mut m) = user else {
            let reason = format!("{at}: expected an object, found {}", json_kind(&user));
            out.push(held(
                LegacyKey::Text(suffix.clone()),
                invalid_fields("record", reason),
            ));
            continue;
        };
        let id = match m.get(key) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                let reason = format!("{at}: no {key}");
                out.push(held(
                    LegacyKey::Text(suffix.clone()),
                    invalid_fields(key, reason),
                ));
                continue;
            }
        };
        let label = format!("{at} ({key} {id})");
        match finish(&label, &mut m) {
            Ok(()) => out.push(held(LegacyKey::Text(id), m)),
            Err((field, reason)) => {
                out.push(held(LegacyKey::Text(id), invalid_fields(&field, reason)));
            }
        }
    }
    Ok(out)
}
