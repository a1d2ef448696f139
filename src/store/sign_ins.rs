//! Sign-ins per tenant and day (the console overview's chart).

use super::{Handle, StoreError, exec, query_all};
use crate::ids::TenantId;

const DAY_MS: i64 = 86_400_000;

/// Counts one sign-in attempt of `now`'s day (UTC), in the caller's transaction.
pub async fn count(
    h: &impl Handle,
    tenant: TenantId,
    now: i64,
    succeeded: bool,
) -> Result<(), StoreError> {
    let (ok, failed) = if succeeded { (1_i64, 0_i64) } else { (0, 1) };
    exec(
        h,
        "INSERT INTO sign_in_days (tenant_id, day, succeeded, failed) VALUES (?, ?, ?, ?) \
         ON CONFLICT (tenant_id, day) DO UPDATE SET \
         succeeded = sign_in_days.succeeded + excluded.succeeded, \
         failed = sign_in_days.failed + excluded.failed",
        vec![
            tenant.to_string().into(),
            now.div_euclid(DAY_MS).into(),
            ok.into(),
            failed.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The counts (succeeded, failed) of the `days` days up to and including `now`'s, oldest
/// first; days without attempts are zeros.
pub async fn last_days(
    h: &impl Handle,
    tenant: TenantId,
    now: i64,
    days: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let today = now.div_euclid(DAY_MS);
    let first = today - days + 1;
    let rows = query_all(
        h,
        "SELECT day, succeeded, failed FROM sign_in_days WHERE tenant_id = ? AND day >= ? \
         AND day <= ?",
        vec![tenant.to_string().into(), first.into(), today.into()],
    )
    .await?;
    let mut out = vec![(0, 0); usize::try_from(days).unwrap_or(0)];
    for r in rows {
        let day: i64 = r.try_get("", "day")?;
        if let Some(slot) = usize::try_from(day - first)
            .ok()
            .and_then(|i| out.get_mut(i))
        {
            *slot = (r.try_get("", "succeeded")?, r.try_get("", "failed")?);
        }
    }
    Ok(out)
}
