//! The change epoch: a counter bumped by every change that in-memory caches depend on (tenants,
//! signing keys, clients, policies). Each node polls it and drops its caches when it moves, so a
//! change made on one node (or by the CLI) reaches every node within one poll interval.

use super::{Handle, StoreError, exec, query_one};

pub async fn current(h: &impl Handle) -> Result<i64, StoreError> {
    let row = query_one(h, "SELECT epoch FROM change_epoch WHERE id = 1", vec![]).await?;
    Ok(match row {
        Some(r) => r.try_get("", "epoch")?,
        None => 0,
    })
}

pub async fn bump(h: &impl Handle) -> Result<(), StoreError> {
    exec(
        h,
        "UPDATE change_epoch SET epoch = epoch + 1 WHERE id = 1",
        vec![],
    )
    .await?;
    Ok(())
}
