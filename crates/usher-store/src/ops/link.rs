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
use usher_core::{Credential, LegacyLink, LinkConfig, LinkDecision, User};
use uuid::Uuid;

use super::read::user_row;
use super::{USER_FIELDS_SET, bind_fields, insert_ledger_rows};
use crate::backend::{Backend, Conn, Stmt};
use crate::error::Result;
use crate::model::{ChunkWrite, LinkWrite, NewOutbox};
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
                    outbox: Vec::new(),
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
    if links.links.is_empty() {
        return Ok(Some((0, Vec::new())));
    }
    let bumped: Vec<LinkWrite> = links.links.iter().map(|p| plan::bump(&p.write)).collect();
    let link_rows = bumped
        .iter()
        .map(|l| plan::prepare_link(l, now))
        .collect::<Result<Vec<_>>>()?;
    let pairs: Vec<(&LinkWrite, &Row<'_>)> = bumped.iter().zip(&link_rows).collect();
    let Some(taken) = write_links::<B>(conn, &pairs, now).await? else {
        return Ok(None);
    };
    let mut refused = Vec::with_capacity(taken.len());
    for (i, holder) in &taken {
        let Some((p, row)) = links
            .links
            .get(*i)
            .and_then(|p| Some((p, rows.get(p.index)?)))
        else {
            continue;
        };
        let reason = taken_reason(&p.stored, "username", &format!("user {holder}"));
        refused.push(plan::quarantine_row(row, (reason, Some("email".into()))));
    }
    Ok(Some((
        plan::count(pairs.len().saturating_sub(taken.len())),
        refused,
    )))
}

/// [`USER_FIELDS_SET`] read from a `VALUES` list instead of parameters: `email = v.column2,
/// …` (the id is `column1`), derived once so the two stay in one order.
static SET_FROM_VALUES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    USER_FIELDS_SET
        .split(", ")
        .filter_map(|p| p.split(" = ").next())
        .enumerate()
        .map(|(i, column)| format!("{column} = v.column{}", i.saturating_add(2)))
        .collect::<Vec<_>>()
        .join(", ")
});

/// Links per multi-row statement: 20 values a row stays well below SQLite's 32766 variables.
const LINK_BATCH: usize = 256;

/// Writes links whose users are known to be as the links saw them, set-based (a few
/// statements per [`LINK_BATCH`] links, whatever their number): the merged users over the
/// stored ones, the credentials the links replace, the ledger rows, the records' quarantine
/// rows gone, and a `user.linked` event each. The single link
/// ([`crate::MigrationStore::link_user`]) and a chunk's links both write this way.
///
/// A link whose merged username another user holds (or an earlier link of these took) is not
/// written: its index comes back with the holder. `Ok(None)`: a concurrent writer put one of
/// the records in the ledger first; nothing may be kept (the caller rolls back).
pub(super) async fn write_links<B: Backend>(
    conn: &mut Conn<B>,
    links: &[(&LinkWrite, &Row<'_>)],
    now: DateTime<Utc>,
) -> Result<Option<Vec<(usize, Uuid)>>> {
    const OP: &str = "link_user: writing the links";
    // Merged usernames already held by another user, or by an earlier link of these.
    let usernames: Vec<String> = links
        .iter()
        .filter_map(|(_, r)| r.username_normalized.clone())
        .collect();
    let mut holders: HashMap<String, Uuid> = HashMap::new();
    if !usernames.is_empty() {
        let sql = format!(
            "SELECT username_normalized, id FROM users WHERE {}",
            B::in_list("username_normalized", "$1")
        );
        for g in Stmt::<B>::new(sql, OP)
            .list(&usernames)
            .fetch_all(conn)
            .await?
        {
            let name = g.text(0, ("users", "username_normalized", "?"))?;
            let id = g.uuid(1, ("users", "id", &name))?;
            holders.insert(name, id);
        }
    }
    let mut taken = Vec::new();
    let mut kept: Vec<(&LinkWrite, &Row<'_>)> = Vec::with_capacity(links.len());
    for (i, &(l, row)) in links.iter().enumerate() {
        if let Some(name) = &row.username_normalized {
            match holders.get(name) {
                Some(&holder) if holder != row.id => {
                    taken.push((i, holder));
                    continue;
                }
                _ => {
                    holders.insert(name.clone(), row.id);
                }
            }
        }
        kept.push((l, row));
    }
    for batch in kept.chunks(LINK_BATCH) {
        let sql = format!(
            "UPDATE users SET {} FROM (VALUES {}) AS v WHERE users.id = v.column1",
            *SET_FROM_VALUES,
            B::values(batch.len(), 20)
        );
        let mut s = Stmt::<B>::new(sql, "link_user: updating the users");
        for (_, row) in batch {
            s = bind_fields(s.uuid(&row.id), row);
        }
        s.execute(conn).await?;

        let credentials: Vec<(&Row<'_>, &Credential)> = batch
            .iter()
            .filter(|(l, _)| l.replace_credential)
            .filter_map(|(l, row)| l.user.credential.as_ref().map(|c| (*row, c)))
            .collect();
        if !credentials.is_empty() {
            let sql = format!(
                "INSERT INTO credentials (user_id, hash, scheme, updated_at) VALUES {} \
                 ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, \
                 scheme = excluded.scheme, updated_at = excluded.updated_at",
                B::values(credentials.len(), 4)
            );
            let mut s = Stmt::<B>::new(sql, "link_user: writing the credentials");
            for (row, c) in credentials {
                s = s
                    .uuid(&row.id)
                    .text(c.hash.as_str())
                    .text(c.scheme.id())
                    .instant(now);
            }
            s.execute(conn).await?;
        }

        let ledger: Vec<_> = batch
            .iter()
            .map(|(l, row)| (l.source.as_str(), l.system_of_record, *row))
            .collect();
        let op = "link_user: inserting the ledger rows";
        if insert_ledger_rows::<B>(conn, &ledger, op).await? != plan::count(batch.len()) {
            return Ok(None);
        }

        let sql = format!(
            "INSERT INTO events (at, kind, subject, detail) VALUES {}",
            B::values(batch.len(), 4)
        );
        let mut s = Stmt::<B>::new(sql, "link_user: recording the events");
        let details: Vec<(String, String)> = batch
            .iter()
            .map(|(l, row)| {
                let detail = plan::link_detail(l, &row.legacy_id).to_string();
                (plan::link_subject(l), detail)
            })
            .collect();
        for (subject, detail) in &details {
            s = s
                .instant(now)
                .text("user.linked")
                .text(subject.as_str())
                .json(detail.as_str());
        }
        s.execute(conn).await?;

        // One source per call in practice; grouped so any mix is right.
        let mut by_source: HashMap<&str, Vec<String>> = HashMap::new();
        for (l, row) in batch {
            by_source
                .entry(l.source.as_str())
                .or_default()
                .push(row.legacy_id.clone());
        }
        for (source, ids) in by_source {
            let sql = format!(
                "DELETE FROM quarantine WHERE source = $1 AND {}",
                B::in_list("legacy_id", "$2")
            );
            Stmt::<B>::new(sql, "link_user: clearing the quarantine rows")
                .text(source)
                .list(&ids)
                .execute(conn)
                .await?;
        }

        let outbox: Vec<NewOutbox> = batch
            .iter()
            .flat_map(|(l, _)| l.outbox.iter().cloned())
            .collect();
        super::outbox::insert::<B>(conn, &outbox, now, "link_user: writing to the outbox").await?;
    }
    Ok(Some(taken))
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
             ORDER BY c.user_id FOR UPDATE OF c"
        );
        Stmt::<B>::new(sql, OP).list(emails).execute(conn).await?;
    }
    // In id order, as the credentials above: two chunks locking the same holders take them in
    // one order and wait for each other instead of deadlocking.
    let lock = if B::LOCKING.row_locks() {
        " ORDER BY u.id FOR UPDATE OF u"
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
