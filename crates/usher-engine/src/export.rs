//! Exporting users into an identity provider's import files ([`export`]).
//!
//! Users come from the store, in id order, or straight from a legacy source, in key order,
//! each record mapped as the backfill maps it ([`Users`]); a record that does not map is left
//! out with the reason, naming the record and the field. Each user is encoded by the [`Target`] (or left out, with the
//! reason). They are packed into files up to the target's limits, and each file is committed
//! with the position after it. A killed export resumes there and writes no user twice.
//!
//! A target whose requests carry settings shared by all their users (Firebase's hash options)
//! puts each user in a group ([`Target::group`]): a commit then writes one file a group,
//! `<target>-users-<n>-<group>.json`, and a group that fills commits them all.
//!
//! A commit, for file `n`:
//! 1. write `<target>-users-<n>.json` (and `<target>-left-out-<n>.csv`, the users left out
//!    since the last commit) as `.tmp` files, synced;
//! 2. write the state (`<target>-export-state.json`: the last user id done, the counts, and
//!    the files pending) to a temporary file, sync it, and rename it over the old state. This
//!    rename is the commit point;
//! 3. rename the `.tmp` files to their names.
//!
//! A run that finds pending files in the state finishes step 3 for them. At its start it
//! deletes any other `.tmp` file, which belongs to a commit that never happened (a commit
//! itself reads no directory), and goes on after the state's
//! last user id. The left-out lists name each user by usher's id and the target's id, with the
//! reason. They never carry a hash.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use usher_core::{KeyRange, LeftOut, LegacyKey, Mapper, Source, Target, User, UserId};
use usher_store::Store;

use crate::EngineError;

/// Where to write, and how often to report.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The directory the files go in (created if missing).
    pub output: PathBuf,
    /// Users read from the store at a time.
    pub page_size: u32,
    /// Caps the target's own file limit (tests and small imports); `None`: the target's.
    pub max_file_bytes: Option<usize>,
}

impl ExportOptions {
    /// Into `output`, with the target's limits.
    pub fn new(output: impl Into<PathBuf>) -> Self {
        Self {
            output: output.into(),
            page_size: 1000,
            max_file_bytes: None,
        }
    }
}

/// Where an export's users come from.
#[derive(Clone, Copy)]
pub enum Users<'a> {
    /// The store's users, in id order.
    Store(&'a dyn Store),
    /// A legacy source's records, in key order, each mapped by `mapper` as the backfill maps
    /// it: users who never pass through the store (and are not linked across sources).
    Source {
        /// The source.
        source: &'a dyn Source,
        /// Its mapping.
        mapper: &'a Mapper,
    },
}

impl std::fmt::Debug for Users<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source() {
            None => f.write_str("Users::Store"),
            Some(name) => write!(f, "Users::Source({name})"),
        }
    }
}

impl Users<'_> {
    /// The source's name; `None` for the store.
    fn source(&self) -> Option<String> {
        match self {
            Users::Store(_) => None,
            Users::Source { source, .. } => Some(source.name().to_owned()),
        }
    }
}

/// How far an export has gone: the last user id, or the last source key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Position {
    User(UserId),
    Key(LegacyKey),
}

/// One user read, or a source record that does not map (its target id and why).
enum Item {
    User(Box<User>),
    Invalid { target_id: String, reason: String },
}

/// What an export did, over all its runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReport {
    /// The target.
    pub target: String,
    /// The legacy source read; `None` for the store.
    #[serde(default)]
    pub source: Option<String>,
    /// Users in the import files.
    pub exported: u64,
    /// Users left out, by [`LeftOut::label`] (`hook:md5-crypt`, `missing:email`).
    pub left_out: BTreeMap<String, u64>,
    /// Import files written.
    pub files: Vec<String>,
    /// Whether this run went on from an earlier one.
    #[serde(skip)]
    pub resumed: bool,
}

/// The export's state in its directory: the commit record.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    report: ExportReport,
    /// The last user (or source record) committed.
    after: Option<Position>,
    /// Commits made, so the next file's number.
    commits: u32,
    /// `.tmp` files of the last commit still to be renamed to their names.
    pending: Vec<(String, String)>,
}

fn io(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Io(format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `path` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let mut file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

struct Files<'a> {
    dir: &'a Path,
    target: &'static str,
}

impl Files<'_> {
    fn state(&self) -> PathBuf {
        self.dir.join(format!("{}-export-state.json", self.target))
    }

    fn load(&self) -> Result<Option<State>, EngineError> {
        let path = self.state();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| EngineError::Io(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Replaces the state, atomically: the commit point.
    fn save(&self, state: &State) -> Result<(), EngineError> {
        let path = self.state();
        let tmp = path.with_extension("json.next");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| EngineError::Io(e.to_string()))?;
        write_synced(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        sync_dir(self.dir)
    }

    /// Finishes the last commit's renames (a `.tmp` already renamed is skipped).
    fn rename_pending(&self, state: &State) -> Result<(), EngineError> {
        for (tmp, name) in &state.pending {
            let from = self.dir.join(tmp);
            if from.exists() {
                std::fs::rename(&from, self.dir.join(name)).map_err(|e| io(&from, e))?;
            }
        }
        sync_dir(self.dir)
    }

    /// At the start of a run: finishes the last commit, and deletes the `.tmp` files no commit
    /// recorded (a run killed before its commit point).
    fn settle(&self, state: &mut State) -> Result<(), EngineError> {
        self.rename_pending(state)?;
        state.pending.clear();
        let prefix = format!("{}-", self.target);
        for entry in std::fs::read_dir(self.dir).map_err(|e| io(self.dir, e))? {
            let entry = entry.map_err(|e| io(self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && (name.ends_with(".tmp") || name.ends_with(".next")) {
                std::fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), e))?;
            }
        }
        sync_dir(self.dir)?;
        self.save(state)
    }
}

/// What is read since the last commit.
#[derive(Default)]
struct Batch {
    /// The users of each group ([`Target::group`]; `None` for a target without groups), and
    /// the bytes of their file.
    groups: BTreeMap<Option<String>, (Vec<Value>, usize)>,
    /// Each user left out: its label, and its `user id,target id,label,reason` line.
    left_out: Vec<(String, String)>,
}

/// A CSV field, quoted when it must be.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The users after `after`, in order, with their positions.
fn items<'a>(
    users: Users<'a>,
    after: Option<Position>,
    page_size: u32,
) -> BoxStream<'a, Result<(Position, Item), EngineError>> {
    match users {
        Users::Store(store) => {
            let after = match after {
                Some(Position::User(id)) => Some(id),
                _ => None,
            };
            store
                .users(after, page_size)
                .map_ok(|user| (Position::User(user.id), Item::User(Box::new(user))))
                .map_err(EngineError::from)
                .boxed()
        }
        Users::Source { source, mapper } => {
            let after = match after {
                Some(Position::Key(key)) => Some(key),
                _ => None,
            };
            let limit = usize::try_from(page_size).unwrap_or(1000);
            futures::stream::try_unfold(after, move |after| async move {
                let range = KeyRange { after, until: None };
                let records = source.read(&range, limit).await?;
                let Some(last) = records.last().map(|r| r.key.clone()) else {
                    return Ok::<_, EngineError>(None);
                };
                let now = chrono::Utc::now();
                let page: Vec<Result<(Position, Item), EngineError>> = records
                    .iter()
                    .map(|record| {
                        let item = match mapper.map(source.name(), record, now) {
                            Ok(user) => Item::User(Box::new(user)),
                            Err(errors) => Item::Invalid {
                                target_id: format!("{}:{}", source.name(), record.key),
                                reason: format!("record {}: {}", record.key, errors.reason()),
                            },
                        };
                        Ok((Position::Key(record.key.clone()), item))
                    })
                    .collect();
                Ok(Some((futures::stream::iter(page), Some(last))))
            })
            .try_flatten()
            .boxed()
        }
    }
}

/// Exports every user of `users` through `target` into `options.output`, going on from an
/// earlier run there. `progress` is told of each user read.
pub async fn export(
    users: Users<'_>,
    target: &dyn Target,
    options: &ExportOptions,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ExportReport, EngineError> {
    let dir = options.output.as_path();
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let files = Files {
        dir,
        target: target.name(),
    };
    let (mut state, resumed) = match files.load()? {
        Some(state)
            if state.report.target == target.name() && state.report.source != users.source() =>
        {
            return Err(EngineError::Options(format!(
                "{} holds an export from {}, not {}: use another directory",
                dir.display(),
                state
                    .report
                    .source
                    .as_deref()
                    .map_or("the store".to_owned(), |s| format!("source {s}")),
                users
                    .source()
                    .map_or("the store".to_owned(), |s| format!("source {s}")),
            )));
        }
        Some(state) if state.report.target == target.name() => (state, true),
        Some(state) => {
            return Err(EngineError::Options(format!(
                "{} holds an export to {}, not {}: use another directory",
                dir.display(),
                state.report.target,
                target.name()
            )));
        }
        None => (
            State {
                report: ExportReport {
                    target: target.name().to_owned(),
                    source: users.source(),
                    ..ExportReport::default()
                },
                ..State::default()
            },
            false,
        ),
    };
    files.settle(&mut state)?;
    let limits = target.limits();
    let max_bytes = options
        .max_file_bytes
        .map_or(limits.max_bytes, |cap| cap.min(limits.max_bytes));
    let mut batch = Batch::default();
    let mut last: Option<Position> = None;
    let mut items = items(users, state.after.clone(), options.page_size);
    while let Some((position, item)) = items.try_next().await? {
        progress(1);
        let user = match item {
            Item::User(user) => user,
            Item::Invalid { target_id, reason } => {
                let label = "invalid-record";
                batch.left_out.push((
                    label.to_owned(),
                    format!(",{},{label},{}", csv(&target_id), csv(&reason)),
                ));
                last = Some(position);
                continue;
            }
        };
        match target.encode(&user) {
            Ok(encoded) => {
                let cost = target.cost(&encoded);
                if target.framing().saturating_add(cost) > max_bytes {
                    let label = "too-large";
                    batch.left_out.push((
                        label.to_owned(),
                        format!(
                            "{},{},{label},{}",
                            user.id,
                            csv(&user.external_id()),
                            csv(&format!(
                                "{cost} bytes encoded, over the file limit {max_bytes}"
                            ))
                        ),
                    ));
                } else {
                    let group = target.group(&encoded).map(|g| file_safe(&g));
                    let full = batch.groups.get(&group).is_some_and(|(users, bytes)| {
                        bytes.saturating_add(cost) > max_bytes || users.len() >= limits.max_users
                    });
                    if full {
                        commit(
                            &files,
                            target,
                            &mut state,
                            std::mem::take(&mut batch),
                            last.clone(),
                        )?;
                    }
                    let (users, bytes) = batch
                        .groups
                        .entry(group)
                        .or_insert_with(|| (Vec::new(), target.framing()));
                    *bytes = bytes.saturating_add(cost);
                    users.push(encoded);
                }
            }
            Err(left) => batch
                .left_out
                .push((left.label(), left_out_line(&user, &left))),
        }
        last = Some(position);
    }
    if !batch.groups.is_empty() || !batch.left_out.is_empty() {
        commit(&files, target, &mut state, batch, last)?;
    }
    let mut report = state.report;
    report.resumed = resumed;
    Ok(report)
}

/// A group's name as it goes in a file name: letters, digits, `.`, `_` and `-`.
fn file_safe(group: &str) -> String {
    group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn left_out_line(user: &User, left: &LeftOut) -> String {
    format!(
        "{},{},{},{}",
        user.id,
        csv(&user.external_id()),
        csv(&left.label()),
        csv(&left.to_string())
    )
}

/// Commits `batch`, read up to user `last`: see the module docs.
fn commit(
    files: &Files<'_>,
    target: &dyn Target,
    state: &mut State,
    batch: Batch,
    last: Option<Position>,
) -> Result<(), EngineError> {
    let n = state.commits.saturating_add(1);
    let mut pending = Vec::new();
    let mut exported = 0usize;
    for (group, (users, _)) in &batch.groups {
        let name = match group {
            Some(group) => format!(
                "{}-users-{n:05}-{group}.{}",
                target.name(),
                target.extension()
            ),
            None => format!("{}-users-{n:05}.{}", target.name(), target.extension()),
        };
        let tmp = format!("{name}.tmp");
        write_synced(&files.dir.join(&tmp), &target.file(users))?;
        state.report.files.push(name.clone());
        pending.push((tmp, name));
        exported = exported.saturating_add(users.len());
    }
    if !batch.left_out.is_empty() {
        let name = format!("{}-left-out-{n:05}.csv", target.name());
        let tmp = format!("{name}.tmp");
        let mut text = String::from("user_id,target_id,label,reason\n");
        for (label, line) in &batch.left_out {
            text.push_str(line);
            text.push('\n');
            let count = state.report.left_out.entry(label.clone()).or_default();
            *count = count.saturating_add(1);
        }
        write_synced(&files.dir.join(&tmp), text.as_bytes())?;
        pending.push((tmp, name));
    }
    sync_dir(files.dir)?;
    state.report.exported = state
        .report
        .exported
        .saturating_add(u64::try_from(exported).unwrap_or(u64::MAX));
    state.commits = n;
    if last.is_some() {
        state.after = last;
    }
    state.pending = pending;
    files.save(state)?;
    // The state keeps naming these until the next commit; renaming one twice is skipped.
    files.rename_pending(state)
}
