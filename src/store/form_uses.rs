//! One-use console forms: the hashes of the form tokens already sent, per tenant.

use super::{Handle, StoreError, exec};
use crate::ids::TenantId;

/// Records the token's use; false when it was used before. Uses older than `forget_before`
/// (whose tokens have expired) are removed first.
pub async fn claim(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
    now: i64,
    forget_before: i64,
) -> Result<bool, StoreError> {
    exec(
        h,
        "DELETE FROM form_uses WHERE used_at < ?",
        vec![forget_before.into()],
    )
    .await?;
    let n = exec(
        h,
        "INSERT INTO form_uses (tenant_id, token_hash, used_at) VALUES (?, ?, ?) \
         ON CONFLICT DO NOTHING",
        vec![
            tenant.to_string().into(),
            token_hash.to_owned().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Forgets a use, so the same form may be sent again (after it was refused as invalid).
pub async fn release(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
) -> Result<(), StoreError> {
    exec(
        h,
        "DELETE FROM form_uses WHERE tenant_id = ? AND token_hash = ?",
        vec![tenant.to_string().into(), token_hash.to_owned().into()],
    )
    .await?;
    Ok(())
}
