//! A chunk's links (`[link]`, [`ChunkWrite::link`]), decided and written in the chunk's own
//! transaction: every holder of the new records' addresses is read at once (three statements
//! for the whole chunk, the holders locked until the commit where the backend locks rows),
//! each record is decided by the one link rule ([`LinkConfig::decide`], which the login bridge
//! takes too), and each link is written as the single link writes it ([`write_link`]).
//!
//! The single link ([`crate::MigrationStore::link_user`]) compares and sets: it fails as stale
//! when the user changed after the caller read it. A chunk reads its holders inside its own
//! transaction, locked (PostgreSQL: `FOR UPDATE`, credentials first as a login's re-hash takes
//! them; SQLite: the writer lock and `BEGIN IMMEDIATE`), so nothing can change them between
//! the read and the write, and no link of a chunk is ever stale.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use usher_core::link::{refused_reason, taken_reason};
use usher_core::{LegacyLink, LinkConfig, LinkDecision, User};
use uuid::Uuid;

use super::read::user_row;
use super::write::{LinkWritten, write_link};
use crate::backend::{Backend, Conn, Stmt};
use crate::error::Result;
use crate::model::{ChunkWrite, LinkWrite};
use crate::plan::{self, QuarantineRow, Row};

const OP: &str = "write_chunk: reading the users that hold the chunk's addresses";

/// A link the chunk will write, with the holder as read (for a refusal's reason).
pub(super) struct Planned {
    /// The record's row in the chunk.
    index: usize,
    write: LinkWrite,
    stored: User,
}

/// What linking makes of a chunk's new records.
#[derive(Default)]
pub(super) struct LinkPlan {
    /// The links, in key order.
    links: Vec<Planned>,
    /// Records the rules refused, for the quarantine.
    pub refused: Vec<QuarantineRow>,
    /// The rows (by index) that are linked or refused: no longer inserts.
    pub decided: HashSet<usize>,
}

/// Decides which of the chunk's `inserts` are linked to the user holding their address, and
/// which the rules refuse. Records whose holder already has a record of this source stay
/// inserts: the unique index refuses them and they are quarantined as duplicates.
pub(super) async fn plan<B: Backend>(
    conn: &mut Conn<B>,
    chunk: &ChunkWrite,
    rows: &[Row<'_>],
    inserts: &[usize],
    config: &LinkConfig,
) -> Result<LinkPlan> {
    let mut emails: Vec<String> = inserts
        .iter()
        .filter_map(|&i| rows.get(i)?.email_normalized.clone())
        .collect();
    emails.sort_unstable();
    emails.dedup();
    let mut holders = holders::<B>(conn, &emails).await?;
    let mut out = LinkPlan::default();
    if holders.is_empty() {
        return Ok(out);
    }
    for &i in inserts {
        let Some(row) = rows.get(i) else { continue };
        let Some(cu) = chunk.users.get(row.ord) else {
            continue;
        };
        let Some(stored) = row
            .email_normalized
            .as_ref()
            .and_then(|e| holders.get_mut(e))
        else {
            continue;
        };
        match config.decide(stored, &cu.user, &chunk.source, None) {
            LinkDecision::SameSource => continue,
            LinkDecision::Refused(why) => {
                let reason = refused_reason(stored, &why);
                out.refused
                    .push(plan::quarantine_row(row, (reason, Some("email".into()))));
            }
            LinkDecision::Link {
                user,
                replace_credential,
            } => {
                let write = LinkWrite {
                    source: chunk.source.clone(),
                    key: cu.key.clone(),
                    replace_credential,
                    expected_credential: stored.credential.as_ref().map(|c| c.hash.clone()),
                    expected_updated_at: stored.updated_at,
                    user: *user,
                    original: cu
                        .user
                        .migration
                        .as_ref()
                        .map_or(serde_json::Value::Null, |m| m.original.clone()),
                    checksum: cu.checksum.clone(),
                    legacy_updated_at: cu.legacy_updated_at,
                    method: chunk.method,
                    system_of_record: chunk.system_of_record,
                };
                let before = stored.clone();
                // A later record of this source with the same address meets a holder that now
                // has a record of this source: a duplicate, not a second link.
                *stored = write.user.clone();
                if let Ok(legacy_id) = cu.key.to_legacy_id() {
                    stored.legacy_links.push(LegacyLink {
                        source: chunk.source.clone(),
                        legacy_id,
                    });
                }
                out.links.push(Planned {
                    index: i,
                    write,
                    stored: before,
                });
            }
        }
        out.decided.insert(i);
    }
    Ok(out)
}

/// Writes the planned links. `Ok(None)`: a concurrent writer put one of the records in the
/// ledger first, and the chunk must roll back and retry. Otherwise the number linked, and the
/// links refused because another user holds the merged username, for the quarantine.
pub(super) async fn write<B: Backend>(
    conn: &mut Conn<B>,
    rows: &[Row<'_>],
    links: &LinkPlan,
    now: DateTime<Utc>,
) -> Result<Option<(u64, Vec<QuarantineRow>)>> {
    let mut linked = 0u64;
    let mut refused = Vec::new();
    for p in &links.links {
        let l = plan::bump(&p.write);
        let row = plan::prepare_link(&l, now)?;
        let subject = plan::link_subject(&l);
        match write_link::<B>(conn, &l, &row, &subject, now).await? {
            LinkWritten::Done => linked = linked.saturating_add(1),
            LinkWritten::UsernameTaken(holder) => {
                let reason = taken_reason(&p.stored, "username", &format!("user {holder}"));
                if let Some(row) = rows.get(p.index) {
                    refused.push(plan::quarantine_row(row, (reason, Some("email".into()))));
                }
            }
            LinkWritten::LedgerTaken => return Ok(None),
        }
    }
    Ok(Some((linked, refused)))
}

/// The users holding these normalized addresses, each with its credential and legacy links,
/// by address; locked until the commit where the backend locks rows.
async fn holders<B: Backend>(
    conn: &mut Conn<B>,
    emails: &[String],
) -> Result<HashMap<String, User>> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    let held = B::in_list("u.email_normalized", "$1");
    if B::LOCKING.row_locks() {
        // The credentials first: a login's re-hash writes one without the user row.
        let sql = format!(
            "SELECT 1 FROM credentials c JOIN users u ON u.id = c.user_id WHERE {held} \
             FOR UPDATE OF c"
        );
        Stmt::<B>::new(sql, OP).list(emails).execute(conn).await?;
    }
    let lock = if B::LOCKING.row_locks() {
        " FOR UPDATE OF u"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {} FROM users u LEFT JOIN credentials c ON c.user_id = u.id WHERE {held}{lock}",
        crate::decode::USER_COLUMNS
    );
    let found = Stmt::<B>::new(sql, OP).list(emails).fetch_all(conn).await?;
    if found.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT l.user_id, l.source, l.legacy_id FROM ledger l JOIN users u ON u.id = l.user_id \
         WHERE {held} ORDER BY l.source, l.legacy_id"
    );
    let mut links: HashMap<Uuid, Vec<(String, String)>> = HashMap::new();
    for g in Stmt::<B>::new(sql, OP).list(emails).fetch_all(conn).await? {
        let user = g.uuid(0, ("ledger", "user_id", "?"))?;
        let key = user.to_string();
        links.entry(user).or_default().push((
            g.text(1, ("ledger", "source", &key))?,
            g.text(2, ("ledger", "legacy_id", &key))?,
        ));
    }
    let mut out = HashMap::with_capacity(found.len());
    for g in &found {
        let row = user_row(g)?;
        let of_user = links.remove(&row.id).unwrap_or_default();
        let user = row.into_user(of_user)?;
        if let Some(email) = user.email.as_ref().map(|e| e.normalized()) {
            out.insert(email, user);
        }
    }
    Ok(out)
}
