//! [`crate::TargetStore`]: which identity providers took which users. The first time a
//! provider takes a user is recorded; a repeat (a provider's retry, a second login through its
//! hook) changes nothing.

use chrono::{DateTime, Utc};
use usher_core::UserId;

use super::read::by_source;
use super::writer;
use crate::backend::{Backend, Stmt};
use crate::error::{Result, db};

/// [`crate::TargetStore::record_target`].
pub(super) async fn record<B: Backend>(
    store: &B,
    user: UserId,
    target: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    const OP: &str = "recording a user's target";
    let _writer = writer(store).await;
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    let n = Stmt::<B>::new(
        "INSERT INTO user_targets (user_id, target, taken_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, target) DO NOTHING",
        OP,
    )
    .uuid(user.as_uuid())
    .text(target)
    .instant(at)
    .execute(&mut c)
    .await?;
    Ok(n == 1)
}

/// [`crate::TargetStore::target_counts`].
pub(super) async fn counts<B: Backend>(
    store: &B,
) -> Result<std::collections::BTreeMap<String, u64>> {
    const OP: &str = "counting users by target";
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    Ok(by_source::<B>(
        &mut c,
        "SELECT target, COUNT(*) FROM user_targets GROUP BY target",
        OP,
    )
    .await?
    .into_iter()
    .collect())
}

/// [`crate::TargetStore::targets_of`].
pub(super) async fn of<B: Backend>(store: &B, user: UserId) -> Result<Vec<String>> {
    const OP: &str = "reading a user's targets";
    let mut c = store.pool().acquire().await.map_err(db(OP))?;
    Stmt::<B>::new(
        "SELECT target FROM user_targets WHERE user_id = $1 ORDER BY target",
        OP,
    )
    .uuid(user.as_uuid())
    .fetch_all(&mut c)
    .await?
    .iter()
    .map(|g| g.text(0, ("user_targets", "target", OP)))
    .collect()
}
