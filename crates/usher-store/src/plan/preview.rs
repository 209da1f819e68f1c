//! The dry run's half of the plan: what `write_chunk` would decide for a chunk, from the same
//! steps ([`super::classify`], [`super::check_updates`], inserts in key order,
//! [`super::displacements`]) over what a read-only transaction found, written nowhere.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::{
    Displacement, LedgerHit, Owner, Prepared, QuarantineRow, Row, check_updates, classify, count,
    displacements, email_reason, identifiers, username_reason,
};
use crate::model::{ChunkPreview, ChunkWrite, Claims, PreviewRefusal};

/// The emails and usernames of every row, for a preview's owner lookup.
pub(crate) fn all_identifiers(rows: &[Row<'_>]) -> (Vec<String>, Vec<String>) {
    let all: Vec<usize> = (0..rows.len()).collect();
    identifiers(rows, &all)
}

/// Operation name for a preview's reads, in errors.
pub(crate) const PREVIEW_OP: &str = "preview_chunk: reading the ledger and identifier holders";

/// Why a row would be refused by the unique indexes, predicted: a holder of its address (then
/// of its username) among `owners` (those still standing), or an earlier record of the
/// dry run (`claims`: those of earlier chunks, then those of this one).
fn predicted_refusal(
    row: &Row<'_>,
    owners: &[Owner],
    claims: (&Claims, &Claims),
) -> Option<(String, Option<String>)> {
    let holder = |mine: Option<&str>, theirs: fn(&Owner) -> Option<&str>| {
        let mine = mine?;
        owners
            .iter()
            .find(|o| o.user_id != row.id && theirs(o) == Some(mine))
    };
    let earlier = "an earlier record of this run";
    let email = row.email_normalized.as_deref();
    let username = row.username_normalized.as_deref();
    if let Some(o) = holder(email, |o| o.email_normalized.as_deref()) {
        Some(email_reason(&o.describe()))
    } else if email.is_some_and(|e| claims.0.has_email(e) || claims.1.has_email(e)) {
        Some(email_reason(earlier))
    } else if let Some(o) = holder(username, |o| o.username_normalized.as_deref()) {
        Some(username_reason(&o.describe()))
    } else if username.is_some_and(|u| claims.0.has_username(u) || claims.1.has_username(u)) {
        Some(username_reason(earlier))
    } else {
        None
    }
}

/// A row that would be written takes its identifiers.
fn claim(row: &Row<'_>, out: &mut ChunkPreview) {
    out.claims.claim(
        row.email_normalized.as_deref(),
        row.username_normalized.as_deref(),
    );
    out.written.push(row.legacy_id.clone());
}

fn preview_refusal(row: &Row<'_>, (reason, field): (String, Option<String>)) -> PreviewRefusal {
    PreviewRefusal {
        legacy_id: row.legacy_id.clone(),
        field,
        reason,
    }
}

/// What `write_chunk` would decide for a prepared chunk, from the ledger rows of its keys
/// (`hits`) and the holders of its identifiers (`owners`), in the same steps: skips and updates
/// by the ledger, updates checked against other users, inserts in key order against existing
/// users and earlier records, and, when users with a higher key give way, the whole chunk again
/// without them. `claims` stands in for what earlier chunks of the dry run would have written.
pub(crate) fn preview(
    chunk: &ChunkWrite,
    prepared: &Prepared<'_>,
    hits: &HashMap<String, LedgerHit>,
    owners: &[Owner],
    claims: &Claims,
) -> ChunkPreview {
    let source = chunk.source.as_str();
    let gone_before = |o: &Owner| {
        o.link
            .as_ref()
            .is_some_and(|(s, id)| s == source && claims.gave_way(id))
    };
    let mut gone: Vec<Displacement> = Vec::new();
    let mut gone_ids: HashSet<Uuid> = owners
        .iter()
        .filter(|o| gone_before(o))
        .map(|o| o.user_id)
        .collect();
    loop {
        let live: Vec<Owner> = owners
            .iter()
            .filter(|o| !gone_ids.contains(&o.user_id))
            .cloned()
            .collect();
        let live_hits: HashMap<String, LedgerHit> = hits
            .iter()
            .filter(|(id, h)| !gone_ids.contains(&h.user_id) && !claims.gave_way(id))
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect();
        let (mut out, refused_rows) = preview_attempt(chunk, prepared, &live_hits, &live, claims);
        let more: Vec<Displacement> = displacements(&prepared.rows, &refused_rows, &live, source)
            .into_iter()
            .filter(|d| !gone_ids.contains(&d.user_id))
            .collect();
        if more.is_empty() {
            for d in gone {
                out.claims.give_way(&d.legacy_id);
                out.displaced.push(PreviewRefusal {
                    legacy_id: d.legacy_id,
                    field: Some(d.field),
                    reason: d.reason,
                });
            }
            return out;
        }
        gone_ids.extend(more.iter().map(|d| d.user_id));
        gone.extend(more);
    }
}

/// One attempt of [`preview`] with the users that gave way already gone: the preview, and the
/// inserts the indexes would refuse.
fn preview_attempt(
    chunk: &ChunkWrite,
    prepared: &Prepared<'_>,
    hits: &HashMap<String, LedgerHit>,
    owners: &[Owner],
    claims: &Claims,
) -> (ChunkPreview, Vec<usize>) {
    let rows = &prepared.rows;
    let classified = classify(rows, hits, chunk.policy);
    let mut out = ChunkPreview {
        skipped: count(classified.skipped.len()),
        ..ChunkPreview::default()
    };
    let refusal = |q: &QuarantineRow| PreviewRefusal {
        legacy_id: q.legacy_id.clone(),
        field: q.field.clone(),
        reason: q.reason.clone(),
    };
    out.refused = prepared
        .quarantine
        .iter()
        .skip(chunk.rejected.len())
        .map(refusal)
        .collect();
    let (kept, refused) = check_updates(rows, classified.updates, owners, &chunk.source);
    out.refused.extend(refused.iter().map(refusal));
    // Updates first, as `write_chunk` does; `check_updates` weighed the stored users, and
    // what earlier chunks took is in `claims` alone.
    for row in kept.iter().filter_map(|(i, _)| rows.get(*i)) {
        match predicted_refusal(row, &[], (claims, &out.claims)) {
            Some(reason) => out.refused.push(preview_refusal(row, reason)),
            None => {
                claim(row, &mut out);
                out.updated = out.updated.saturating_add(1);
            }
        }
    }
    // Inserts in key order, as the unique indexes decide.
    let mut refused_rows = Vec::new();
    for &i in &classified.inserts {
        let Some(row) = rows.get(i) else { continue };
        match predicted_refusal(row, owners, (claims, &out.claims)) {
            Some(reason) => {
                out.refused.push(preview_refusal(row, reason));
                refused_rows.push(i);
            }
            None => {
                claim(row, &mut out);
                out.migrated = out.migrated.saturating_add(1);
            }
        }
    }
    (out, refused_rows)
}
