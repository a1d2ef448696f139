//! The per-(tenant, source network) failure counter behind login throttling: a fixed window
//! restarted by the first failure after it ends, incremented with one upsert.

use super::{Handle, StoreError, exec, query_one};
use crate::ids::TenantId;

/// Failures counted in the window that started after `window_start`.
pub async fn failures(
    h: &impl Handle,
    tenant: TenantId,
    ip_key: &str,
    window_start: i64,
) -> Result<i64, StoreError> {
    let row = query_one(
        h,
        "SELECT failures FROM login_throttle WHERE tenant_id = ? AND ip_key = ? \
         AND window_start > ?",
        vec![
            tenant.to_string().into(),
            ip_key.to_owned().into(),
            window_start.into(),
        ],
    )
    .await?;
    Ok(match row {
        Some(r) => i64::from(r.try_get::<i32>("", "failures")?),
        None => 0,
    })
}

/// Counts one failure; a window that began at or before `window_start` restarts at `now`.
pub async fn record_failure(
    h: &impl Handle,
    tenant: TenantId,
    ip_key: &str,
    now: i64,
    window_start: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO login_throttle (tenant_id, ip_key, window_start, failures) \
         VALUES (?, ?, ?, 1) ON CONFLICT (tenant_id, ip_key) DO UPDATE SET \
         failures = CASE WHEN login_throttle.window_start <= ? THEN 1 \
                         ELSE login_throttle.failures + 1 END, \
         window_start = CASE WHEN login_throttle.window_start <= ? THEN ? \
                             ELSE login_throttle.window_start END",
        vec![
            tenant.to_string().into(),
            ip_key.to_owned().into(),
            now.into(),
            window_start.into(),
            window_start.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Housekeeping: forgets windows that began before `before`.
pub async fn delete_stale(h: &impl Handle, before: i64) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM login_throttle WHERE window_start < ?",
        vec![before.into()],
    )
    .await
}
