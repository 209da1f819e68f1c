//! What the store holds, for reports: [`crate::ReportStore::counts`] and
//! [`crate::ReportStore::warnings`], read with the same statements from either backend.

use futures::TryStreamExt as _;

use super::read::conn;
use crate::backend::{Backend, Stmt};
use crate::decode::non_negative;
use crate::error::{Result, corrupt};
use crate::model::{Counts, WarnedUser, WarningFilter, WarningReport};

/// Every user with warnings, with the ledger key of the record they migrated from; the
/// casts make the columns text in either dialect.
const WARNED_USERS: &str = "SELECT CAST(u.id AS TEXT), u.migration_source, l.legacy_id, \
     CAST(u.migration_warnings AS TEXT) FROM users u \
     LEFT JOIN ledger l ON l.user_id = u.id AND l.source = u.migration_source \
     WHERE u.migration_warnings IS NOT NULL";

/// Per source, the ledger rows whose user came from elsewhere: records linked, not migrated.
const LINKED_BY_SOURCE: &str = "SELECT l.source, COUNT(*) FROM ledger l \
     JOIN users u ON u.id = l.user_id \
     WHERE u.migration_source IS NULL OR u.migration_source <> l.source GROUP BY l.source";

/// Per source, the records held in the quarantine.
const QUARANTINED_BY_SOURCE: &str = "SELECT source, COUNT(*) FROM quarantine GROUP BY source";

const LINKED_USERS: &str = "SELECT COUNT(*) FROM (SELECT user_id FROM ledger \
     GROUP BY user_id HAVING COUNT(DISTINCT source) > 1) AS linked";

/// [`crate::ReportStore::warnings`], streamed: a report over a million users holds only the
/// tallies and the first `filter.limit` users.
pub(super) async fn warnings<B: Backend>(
    store: &B,
    filter: &WarningFilter,
) -> Result<WarningReport> {
    const OP: &str = "reading migration warnings";
    let mut c = conn(store, OP).await?;
    let mut report = WarningReport::default();
    let mut rows = Stmt::<B>::new(WARNED_USERS, OP).fetch(&mut c);
    while let Some(g) = rows.try_next().await? {
        let id = g.text(0, ("users", "id", "?"))?;
        let text = g.text(3, ("users", "migration_warnings", &id))?;
        let warnings = serde_json::from_str(&text)
            .map_err(|e| corrupt("users", "migration_warnings", &id, e))?;
        report.add(
            filter,
            WarnedUser {
                source: g
                    .opt_text(1, ("users", "migration_source", &id))?
                    .unwrap_or_default(),
                legacy_id: g
                    .opt_text(2, ("ledger", "legacy_id", &id))?
                    .unwrap_or_default(),
                user_id: id,
                warnings,
            },
        );
    }
    Ok(report.finish())
}

/// (key, count) rows of a `GROUP BY` query.
async fn by_key<B: Backend>(
    c: &mut B::Conn,
    sql: &'static str,
    op: &'static str,
) -> Result<Vec<(Option<String>, u64)>> {
    Stmt::<B>::new(sql, op)
        .fetch_all(c)
        .await?
        .iter()
        .map(|g| {
            let key = g.opt_text(0, ("counts", "key", op))?;
            let n = g.int(1, ("counts", "count", op))?;
            Ok((key, non_negative("counts", n)?))
        })
        .collect()
}

/// (key, count) rows of a `GROUP BY` over a column that is never NULL.
async fn by_source<B: Backend>(
    c: &mut B::Conn,
    sql: &'static str,
    op: &'static str,
) -> Result<Vec<(String, u64)>> {
    Ok(by_key::<B>(c, sql, op)
        .await?
        .into_iter()
        .map(|(k, n)| (k.unwrap_or_default(), n))
        .collect())
}

/// [`crate::ReportStore::counts`].
pub(super) async fn counts<B: Backend>(store: &B) -> Result<Counts> {
    let mut c = conn(store, "counting users by method").await?;
    let by_method = by_key::<B>(
        &mut c,
        "SELECT migration_method, COUNT(*) FROM users GROUP BY migration_method",
        "counting users by method",
    )
    .await?;
    let mut counts = Counts {
        by_source: by_source::<B>(
            &mut c,
            "SELECT source, COUNT(*) FROM ledger GROUP BY source",
            "counting the ledger by source",
        )
        .await?
        .into_iter()
        .collect(),
        linked_by_source: by_source::<B>(&mut c, LINKED_BY_SOURCE, "counting linked records")
            .await?
            .into_iter()
            .collect(),
        quarantined_by_source: by_source::<B>(
            &mut c,
            QUARANTINED_BY_SOURCE,
            "counting the quarantine",
        )
        .await?
        .into_iter()
        .collect(),
        ..Counts::default()
    };
    counts.quarantined = counts.quarantined_by_source.values().sum();
    let linked_users = Stmt::<B>::new(LINKED_USERS, "counting linked users")
        .fetch_one(&mut c)
        .await?
        .int(0, ("ledger", "user_id", "count"))?;
    counts.linked_users = non_negative("counts", linked_users)?;
    for (method, n) in by_method {
        counts.users = counts.users.saturating_add(n);
        counts
            .by_method
            .insert(method.unwrap_or_else(|| "none".into()), n);
    }
    Ok(counts)
}
