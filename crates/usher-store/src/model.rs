//! What goes into and comes out of a store: the backfill chunk, the login bridge's writes
//! (lazy migration, registration), checkpoints, quarantine entries, ledger entries, counts and
//! events.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use usher_core::{LegacyId, LegacyKey, Method, User, UserId};

/// Which side owns a migrated user's data: writes go there first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemOfRecord {
    /// The legacy system (until cut-over).
    Legacy,
    /// The new store.
    New,
}

impl SystemOfRecord {
    /// The stable name stored in the ledger.
    pub const fn as_str(self) -> &'static str {
        match self {
            SystemOfRecord::Legacy => "legacy",
            SystemOfRecord::New => "new",
        }
    }

    /// Parses [`SystemOfRecord::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "legacy" => Some(SystemOfRecord::Legacy),
            "new" => Some(SystemOfRecord::New),
            _ => None,
        }
    }
}

/// What to do with a record that is already in the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// Leave the migrated user alone (counted as skipped). The default: a replay writes nothing.
    #[default]
    Skip,
    /// Update the user in place when the legacy record's `updated_at` is newer than the
    /// stored user's `updated_at` and its checksum differs (counted as updated); skip otherwise.
    LegacyNewer,
    /// Update the user in place from the legacy record, whatever its time: legacy is the
    /// system of record (a reconciliation's repair). The credential is replaced only by a
    /// legacy hash newer than the stored one, so a password set in usher stays.
    Legacy,
}

/// One mapped, valid legacy record to write as a user.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkUser {
    /// The record's key in its source; the ledger's `legacy_id` is its text form.
    pub key: LegacyKey,
    /// The canonical user. Its `id` is used for a new user (an update keeps the stored id);
    /// its `legacy_links` are ignored (links come from the ledger); `migration`, when present,
    /// gives the ledger's method and time and keeps the original record.
    pub user: User,
    /// [`usher_core::LegacyRecord::checksum`] of the record as read.
    pub checksum: String,
    /// The record's own last-change time in legacy, if the source has one.
    pub legacy_updated_at: Option<DateTime<Utc>>,
}

/// A record that could not be mapped: it goes to the quarantine with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The record's key in its source.
    pub key: LegacyKey,
    /// Why, naming the field when there is one: "field `email` has no @".
    pub reason: String,
    /// The field at fault, if one.
    pub field: Option<String>,
    /// The record as read, so an operator can see and fix it.
    pub record: Value,
}

/// Running totals of a backfill partition (also one chunk's share of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Records read from the source.
    pub read: u64,
    /// Users created.
    pub migrated: u64,
    /// Records already in the ledger and left alone.
    pub skipped: u64,
    /// Users updated in place (conflict policy `legacy-newer`).
    pub updated: u64,
    /// Records sent to the quarantine.
    pub quarantined: u64,
    /// Records linked to a user another source had already brought (the same verified email).
    #[serde(default)]
    pub linked: u64,
    /// Of `migrated`, users that later gave way to a record with a lower key and the same
    /// email or username (partitions write in no particular order, and the lowest key wins):
    /// their records are in the quarantine now, and counted in `quarantined` as well.
    #[serde(default)]
    pub displaced: u64,
}

impl Counters {
    /// Users created and still standing: `migrated` less `displaced`.
    pub fn migrated_now(&self) -> u64 {
        self.migrated.saturating_sub(self.displaced)
    }
}

/// Everything one backfill chunk writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkWrite {
    /// The job's name (for example `backfill`); checkpoints are per job, source and partition.
    pub job: String,
    /// The source's configured name, as recorded in the ledger.
    pub source: String,
    /// The key-range partition this chunk belongs to.
    pub partition: u32,
    /// The valid records, in the source's key order. When two share an address or a username,
    /// the later one in this order goes to the quarantine.
    pub users: Vec<ChunkUser>,
    /// The records the mapping refused.
    pub rejected: Vec<Rejected>,
    /// How many records were read for this chunk (usually `users.len() + rejected.len()`).
    pub read: u64,
    /// The key to resume after: the last key read. `None` leaves the stored cursor as it is.
    pub cursor: Option<LegacyKey>,
    /// Whether the partition is finished.
    pub done: bool,
    /// What to do with records already migrated.
    pub policy: ConflictPolicy,
    /// The method recorded for users whose `migration` is `None` (normally [`Method::Bulk`]).
    pub method: Method,
    /// The system of record of the users this chunk creates.
    pub system_of_record: SystemOfRecord,
    /// Records of this chunk the caller linked to existing users itself (each by
    /// [`crate::MigrationStore::link_user`], before this write): added to the checkpoint's
    /// counters.
    pub linked: u64,
    /// `[link]`: a record whose normalized email a stored user of another source holds is
    /// linked to that user in this chunk's own transaction, by
    /// [`usher_core::LinkConfig::decide`], or quarantined with the reason the rules refuse.
    /// `None`: never link (the record is a duplicate, quarantined as such).
    pub link: Option<std::sync::Arc<usher_core::LinkConfig>>,
}

impl ChunkWrite {
    /// An empty bulk chunk for `job`/`source`/`partition` with the default policy; fill in
    /// `users`, `rejected`, `read`, `cursor` and `done`.
    pub fn new(job: impl Into<String>, source: impl Into<String>, partition: u32) -> Self {
        Self {
            job: job.into(),
            source: source.into(),
            partition,
            users: Vec::new(),
            rejected: Vec::new(),
            read: 0,
            cursor: None,
            done: false,
            policy: ConflictPolicy::Skip,
            method: Method::Bulk,
            system_of_record: SystemOfRecord::Legacy,
            linked: 0,
            link: None,
        }
    }
}

/// The addresses and usernames a dry run's records would already have taken, as 64-bit hashes
/// of their normalized forms: about 16 bytes a record, so ten million records stay near 200 MB.
/// A collision (odds about 1e-6 at ten million) would count one record too many as a duplicate;
/// the backfill itself compares the real values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    emails: HashSet<u64>,
    usernames: HashSet<u64>,
    /// Legacy ids (of the dry run's source) whose users would give way to a lower key.
    gave_way: HashSet<u64>,
}

fn claim_hash(normalized: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(normalized)
}

impl Claims {
    /// Whether an earlier record took this address (given as [`usher_core::Email::normalized`]).
    pub fn has_email(&self, normalized: &str) -> bool {
        self.emails.contains(&claim_hash(normalized))
    }

    /// Whether an earlier record took this username (given as
    /// [`usher_core::Username::normalized`]).
    pub fn has_username(&self, normalized: &str) -> bool {
        self.usernames.contains(&claim_hash(normalized))
    }

    /// Records that a record takes these identifiers.
    pub fn claim(&mut self, email: Option<&str>, username: Option<&str>) {
        self.emails.extend(email.map(claim_hash));
        self.usernames.extend(username.map(claim_hash));
    }

    /// Records that the user migrated from this legacy id gives way to a record with a lower
    /// key: later chunks find it neither in the ledger nor holding its identifiers.
    pub fn give_way(&mut self, legacy_id: &str) {
        self.gave_way.insert(claim_hash(legacy_id));
    }

    /// Whether the user migrated from this legacy id gave way.
    pub fn gave_way(&self, legacy_id: &str) -> bool {
        self.gave_way.contains(&claim_hash(legacy_id))
    }

    /// Adds the claims of `other` (a chunk's, once its preview is accepted).
    pub fn extend(&mut self, other: Claims) {
        self.emails.extend(other.emails);
        self.usernames.extend(other.usernames);
        self.gave_way.extend(other.gave_way);
    }
}

/// What [`crate::MigrationStore::preview_chunk`] says a [`crate::MigrationStore::write_chunk`] of
/// the chunk would do, written nowhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkPreview {
    /// Users that would be created.
    pub migrated: u64,
    /// Records already migrated that would be left alone.
    pub skipped: u64,
    /// Users that would be updated in place (conflict policy `legacy-newer`).
    pub updated: u64,
    /// Users of earlier runs that would give way to a record of this chunk with a lower key,
    /// as their records' quarantine rows (counted apart from `refused`, as the backfill's
    /// checkpoints count them).
    pub displaced: Vec<PreviewRefusal>,
    /// The legacy ids of the records that would be created or updated, in the chunk's order.
    pub written: Vec<String>,
    /// The addresses and usernames those records would take: add them to the dry run's claims
    /// before the next chunk.
    pub claims: Claims,
    /// The records the store would quarantine, in the chunk's order: duplicates of an
    /// address or username and values no backend can hold. The chunk's own
    /// [`ChunkWrite::rejected`] are not repeated here.
    pub refused: Vec<PreviewRefusal>,
}

/// A record [`ChunkPreview`] says the store would quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRefusal {
    /// The record's legacy id.
    pub legacy_id: String,
    /// The field at fault (`email`, `username`, …).
    pub field: Option<String>,
    /// The reason the quarantine would record.
    pub reason: String,
}

/// What [`crate::MigrationStore::write_chunk`] did with a chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkOutcome {
    /// Users created.
    pub migrated: u64,
    /// Records already migrated and left alone.
    pub skipped: u64,
    /// Users updated in place.
    pub updated: u64,
    /// Records quarantined: refused by the mapping, or refused by the store (duplicate
    /// address or username, a value the database cannot hold).
    pub quarantined: u64,
    /// Records linked to a stored user: the chunk's [`ChunkWrite::linked`] and those the
    /// chunk linked itself ([`ChunkWrite::link`]), as counted into the checkpoint.
    pub linked: u64,
    /// Transactions rolled back and retried because a concurrent writer won a race.
    pub retries: u32,
}

impl ChunkOutcome {
    /// The counters of a chunk of `read` records that came to this (nothing displaced: users
    /// removed for a record with a lower key are counted by the displacement's own
    /// transaction).
    pub fn counters(&self, read: u64) -> Counters {
        Counters {
            read,
            migrated: self.migrated,
            skipped: self.skipped,
            updated: self.updated,
            quarantined: self.quarantined,
            linked: self.linked,
            displaced: 0,
        }
    }
}

/// A legacy user's first successful login through the bridge, to be written as a user by
/// [`crate::MigrationStore::migrate_user`]: the user, its credential, its ledger row (method
/// [`Method::Lazy`]) and an audit event, in one transaction.
///
/// The fields are those of a [`ChunkUser`] plus the source and the system of record, kept flat
/// so the bridge builds one from the mapped record in one expression.
#[derive(Debug, Clone, PartialEq)]
pub struct LazyMigration {
    /// The source's configured name, as recorded in the ledger.
    pub source: String,
    /// The record's key in its source; the ledger's `legacy_id` is its text form.
    pub key: LegacyKey,
    /// The canonical user. Its `id` becomes the new user's id; its `credential` should be the
    /// password just verified, re-hashed (Argon2id) by the caller; its `legacy_links` are
    /// ignored (the link is the ledger row). The stored `migration` is always method
    /// [`Method::Lazy`] from `source`, at `migration.at` when the user has a migration record
    /// (now otherwise), keeping `migration.original`.
    pub user: User,
    /// [`usher_core::LegacyRecord::checksum`] of the record as read.
    pub checksum: String,
    /// The record's own last-change time in legacy, if the source has one.
    pub legacy_updated_at: Option<DateTime<Utc>>,
    /// The ledger's system of record for this user.
    pub system_of_record: SystemOfRecord,
    /// Writes owed to the other side because of this migration (telling legacy the record
    /// moved), written in the same transaction: none unless the migration is.
    pub outbox: Vec<NewOutbox>,
}

/// What [`crate::MigrationStore::migrate_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateOutcome {
    /// The user was written, with this id.
    Migrated(UserId),
    /// The ledger already had the legacy record (a concurrent first login won the race, or a
    /// backfill moved the user meanwhile): nothing was written; this is the existing user.
    AlreadyMigrated(UserId),
    /// Another user, not linked to this legacy record, holds the normalized email or username:
    /// nothing was written.
    IdentifierTaken {
        /// `"email"` or `"username"` (the email is reported when both are taken).
        field: &'static str,
        /// The user holding it.
        holder: UserId,
    },
}

/// A legacy record linked to a user that already exists (the same person, brought by another
/// source): [`crate::MigrationStore::link_user`] writes the merged user, its ledger row and an
/// event in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkWrite {
    /// The linked record's source, as recorded in the ledger.
    pub source: String,
    /// The linked record's key in its source.
    pub key: LegacyKey,
    /// The stored user after the merge ([`usher_core::LinkConfig::merge`]): its `id` names the
    /// user; its identifiers, profile, attributes, status and times are written; its
    /// `migration` and `legacy_links` are ignored (the stored ones stay).
    pub user: User,
    /// The stored user's `updated_at` as read before merging: if it changed meanwhile, nothing
    /// is written ([`LinkOutcome::Stale`]) and the caller merges again from a fresh read.
    pub expected_updated_at: DateTime<Utc>,
    /// Whether to replace the user's credential with `user.credential` (a password proved at
    /// this login, or a hash the merge chose); otherwise the stored one stays.
    pub replace_credential: bool,
    /// The stored credential's hash as read before merging (`None`: it had none). A change
    /// meanwhile (a login re-hashed it, a password was set) makes the link
    /// [`LinkOutcome::Stale`]: credentials are not covered by `updated_at`.
    pub expected_credential: Option<String>,
    /// The linked record as read (password fields removed), kept in the `user.linked` event.
    pub original: Value,
    /// [`usher_core::LegacyRecord::checksum`] of the linked record.
    pub checksum: String,
    /// The linked record's own last-change time, if its source has one.
    pub legacy_updated_at: Option<DateTime<Utc>>,
    /// How the link was found: [`Method::Bulk`] at backfill, [`Method::Lazy`] at login.
    pub method: Method,
    /// The ledger's system of record for the new row.
    pub system_of_record: SystemOfRecord,
    /// Writes owed to the other side because of this link, written in the same transaction:
    /// none unless the link is.
    pub outbox: Vec<NewOutbox>,
}

/// What [`crate::MigrationStore::link_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The record is now linked to the user.
    Linked(UserId),
    /// The ledger already had the record, for this user: nothing was written.
    AlreadyLinked(UserId),
    /// The user changed or vanished since it was read: nothing was written; read and merge
    /// again.
    Stale,
    /// The merge gives the user a username another user holds: nothing was written.
    IdentifierTaken {
        /// `"username"`.
        field: &'static str,
        /// The user holding it.
        holder: UserId,
    },
}

/// What [`crate::MigrationStore::register_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// The user was written, with this id.
    Registered(UserId),
    /// Another user holds the normalized email or username: nothing was written.
    IdentifierTaken {
        /// `"email"` or `"username"` (the email is reported when both are taken).
        field: &'static str,
        /// The user holding it.
        holder: UserId,
    },
}

/// Where a backfill partition stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The job.
    pub job: String,
    /// The source.
    pub source: String,
    /// The partition.
    pub partition: u32,
    /// The last key written; resume after it. `None` before the first chunk (or the
    /// partition's exclusive lower bound, when it was planned with one).
    pub cursor: Option<LegacyKey>,
    /// The partition's inclusive upper bound, as planned; `None` for an open end.
    pub until: Option<LegacyKey>,
    /// Whether the partition is finished.
    pub done: bool,
    /// Running totals.
    pub counters: Counters,
    /// When the checkpoint was last written.
    pub updated_at: DateTime<Utc>,
}

/// A record held back from migration, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// The source.
    pub source: String,
    /// The record's id in the source.
    pub legacy_id: String,
    /// Why the record was not migrated.
    pub reason: String,
    /// The field at fault, if one.
    pub field: Option<String>,
    /// The record as read.
    pub record: Value,
    /// When the record was first quarantined.
    pub first_seen: DateTime<Utc>,
    /// When it was last quarantined (each run that meets it again updates this and the reason).
    pub last_seen: DateTime<Utc>,
    /// How many runs quarantined it.
    pub attempts: u32,
}

/// Which quarantine entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuarantineFilter {
    /// Only this source's entries; all sources when `None`.
    pub source: Option<String>,
}

/// One row of the ledger, as reconciliation reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The id in the source.
    pub legacy_id: LegacyId,
    /// The user it became.
    pub user_id: UserId,
    /// The checksum of the record as last written.
    pub record_checksum: String,
}

/// Totals for the status page and the backfill summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Users in the store.
    pub users: u64,
    /// Users by migration method (`lazy`, `bulk`, `sync`, `registered`); users without a
    /// migration record under `none`.
    pub by_method: BTreeMap<String, u64>,
    /// Ledger rows (migrated legacy identities) by source, linked ones included.
    pub by_source: BTreeMap<String, u64>,
    /// Of those, the records that joined a user who came from another source (or registered)
    /// rather than becoming a user of their own.
    #[serde(default)]
    pub linked_by_source: BTreeMap<String, u64>,
    /// Quarantine entries, all sources.
    pub quarantined: u64,
    /// Quarantine entries by source.
    #[serde(default)]
    pub quarantined_by_source: BTreeMap<String, u64>,
    /// Users linked across sources: those holding ledger rows of more than one source.
    #[serde(default)]
    pub linked_users: u64,
}

/// The warnings of migrated users ([`usher_core::Migration::warnings`]), tallied by source and
/// field with a few examples each, plus the first users in full: what the backfill summary,
/// the dry run and `usher warnings` show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WarningReport {
    /// Users (or, in a dry run, records) with at least one warning.
    pub users: u64,
    /// By (source, field), most frequent first once [`WarningReport::finish`]ed.
    pub by_field: Vec<FieldWarnings>,
    /// The first users with warnings, up to the limit asked for.
    pub listed: Vec<WarnedUser>,
}

/// How often one source's field carried a warning, and some examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldWarnings {
    /// The source.
    pub source: String,
    /// The rule's target (`phone`).
    pub field: String,
    /// Users with a warning on it.
    pub users: u64,
    /// Up to [`WarningReport::EXAMPLES`] of them: (legacy id, reason).
    pub examples: Vec<(String, String)>,
}

/// A migrated user and the warnings of their migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarnedUser {
    /// The user's id in the new store (empty in a dry run).
    pub user_id: String,
    /// The source the user migrated from.
    pub source: String,
    /// The legacy record's key.
    pub legacy_id: String,
    /// What the migration left out or kept as written.
    pub warnings: Vec<usher_core::FieldWarning>,
}

/// What [`crate::ReportStore::warnings`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarningFilter {
    /// Only this source's users.
    pub source: Option<String>,
    /// Only warnings on this field.
    pub field: Option<String>,
    /// Users listed in full, at most.
    pub limit: usize,
}

impl WarningReport {
    /// Examples kept per field.
    pub const EXAMPLES: usize = 3;

    /// Adds one user's (or record's) warnings, those `filter` asks for.
    pub fn add(&mut self, filter: &WarningFilter, user: WarnedUser) {
        if filter.source.as_ref().is_some_and(|s| *s != user.source) {
            return;
        }
        let mut warnings = user.warnings;
        if let Some(f) = &filter.field {
            warnings.retain(|w| w.field == *f);
        }
        if warnings.is_empty() {
            return;
        }
        self.users = self.users.saturating_add(1);
        for w in &warnings {
            let example = (user.legacy_id.clone(), w.reason.clone());
            match self
                .by_field
                .iter_mut()
                .find(|f| f.source == user.source && f.field == w.field)
            {
                Some(f) => {
                    f.users = f.users.saturating_add(1);
                    if f.examples.len() < Self::EXAMPLES {
                        f.examples.push(example);
                    }
                }
                None => self.by_field.push(FieldWarnings {
                    source: user.source.clone(),
                    field: w.field.clone(),
                    users: 1,
                    examples: vec![example],
                }),
            }
        }
        if self.listed.len() < filter.limit {
            self.listed.push(WarnedUser { warnings, ..user });
        }
    }

    /// Sorts the fields, most frequent first (then by source and field).
    pub fn finish(mut self) -> Self {
        self.by_field.sort_by(|a, b| {
            b.users
                .cmp(&a.users)
                .then_with(|| (&a.source, &a.field).cmp(&(&b.source, &b.field)))
        });
        self
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened, such as `phase.changed` or `backfill.finished`.
    pub kind: String,
    /// Who or what it concerns (a user id, a source, a job).
    pub subject: String,
    /// Details, as a JSON object. Never a secret.
    pub detail: Value,
}

/// A write owed to the other side, for [`crate::OutboxStore::enqueue`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbox {
    /// The user it is about.
    pub user: UserId,
    /// What it does (`migrated`, `password`, `profile`, `delete`, …).
    pub kind: String,
    /// Where it goes (`legacy:<source>`, a provider).
    pub destination: String,
    /// What the writer needs, as JSON (never a plaintext password).
    pub payload: Value,
    /// The key the receiving side applies it once by; a second row with it is ignored.
    pub idempotency_key: String,
}

/// Where an outbox row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Not delivered yet (due, waiting for its retry, or claimed by a worker).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up after the configured attempts: kept, and holding back the user's later rows,
    /// until an operator retries or drops it.
    Dead,
}

impl OutboxState {
    /// The stable name stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    /// Parses [`OutboxState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(OutboxState::Pending),
            "delivered" => Some(OutboxState::Delivered),
            "dead" => Some(OutboxState::Dead),
            _ => None,
        }
    }
}

/// An outbox row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Its place in the outbox: rows of one user are delivered in this order.
    pub id: i64,
    /// The user it is about.
    pub user: UserId,
    /// What it does.
    pub kind: String,
    /// Where it goes.
    pub destination: String,
    /// What the writer needs.
    pub payload: Value,
    /// The receiving side's idempotency key.
    pub idempotency_key: String,
    /// Where it is.
    pub state: OutboxState,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it is due (again).
    pub available_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The outbox at a glance, for `usher outbox` and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Rows not delivered yet.
    pub pending: u64,
    /// Rows given up on.
    pub dead: u64,
    /// Rows delivered.
    pub delivered: u64,
    /// When the oldest pending row was written.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// A reconciliation run, as stored ([`crate::ReconcileStore`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileRun {
    /// Increasing id.
    pub id: i64,
    /// The legacy source it compared.
    pub source: String,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// What its parity is over (see [`ReconcileRun::parity`]).
    pub compared: u64,
    /// How many of those were identical on both sides.
    pub identical: u64,
    /// The whole report, as `usher reconcile --json` prints it: counts, per-field differences
    /// with example legacy ids; never a value, a password or a hash.
    pub report: Value,
}

impl ReconcileRun {
    /// identical ÷ compared; 1 when nothing was compared.
    pub fn parity(&self) -> f64 {
        if self.compared == 0 {
            return 1.0;
        }
        self.identical as f64 / self.compared as f64
    }
}
