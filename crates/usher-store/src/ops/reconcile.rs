//! [`crate::ReconcileStore`]: the history of reconciliation runs.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::writer;
use crate::backend::{Backend, Stmt};
use crate::error::{Result, db};
use crate::model::ReconcileRun;

/// [`crate::ReconcileStore::record_reconciliation`].
pub(super) async fn record<B: Backend>(
    store: &B,
    source: &str,
    finished_at: DateTime<Utc>,
    (compared, identical): (u64, u64),
    report: &Value,
) -> Result<i64> {
    const OP: &str = "recording a reconciliation";
    let _writer = writer(store).await;
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let report = report.to_string();
    Stmt::<B>::new(
        "INSERT INTO reconciliations (source, finished_at, compared, identical, report) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        OP,
    )
    .text(source)
    .instant(finished_at)
    .int(count(compared))
    .int(count(identical))
    .json(report.as_str())
    .fetch_one(&mut c)
    .await?
    .int(0, ("reconciliations", "id", source))
}

/// [`crate::ReconcileStore::reconciliations`].
pub(super) async fn list<B: Backend>(
    store: &B,
    source: Option<&str>,
    limit: u32,
) -> Result<Vec<ReconcileRun>> {
    runs(
        store,
        Stmt::<B>::new(
            "SELECT id, source, finished_at, compared, identical, report FROM reconciliations \
             WHERE $1 = '' OR source = $1 ORDER BY id DESC LIMIT $2",
            OP,
        )
        .text(source.unwrap_or(""))
        .int(i64::from(limit)),
    )
    .await
}

/// [`crate::ReconcileStore::latest_reconciliations`].
pub(super) async fn latest<B: Backend>(store: &B) -> Result<Vec<ReconcileRun>> {
    runs(
        store,
        Stmt::<B>::new(
            "SELECT id, source, finished_at, compared, identical, report FROM reconciliations \
             WHERE id IN (SELECT MAX(id) FROM reconciliations GROUP BY source) ORDER BY source",
            OP,
        ),
    )
    .await
}

const OP: &str = "reading reconciliations";

/// The runs `query` selects.
async fn runs<B: Backend>(store: &B, query: Stmt<B>) -> Result<Vec<ReconcileRun>> {
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    query
        .fetch_all(&mut c)
        .await?
        .iter()
        .map(|g| {
            let id = g.int(0, ("reconciliations", "id", "?"))?;
            let key = id.to_string();
            let at = |column| ("reconciliations", column, key.as_str());
            let count = |i, column| g.int(i, at(column)).map(|n| u64::try_from(n).unwrap_or(0));
            Ok(ReconcileRun {
                id,
                source: g.text(1, at("source"))?,
                finished_at: g.instant(2, at("finished_at"))?,
                compared: count(3, "compared")?,
                identical: count(4, "identical")?,
                report: g.json(5, at("report"))?,
            })
        })
        .collect()
}
