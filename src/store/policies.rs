//! Per-tenant login policy, stored as one JSON document per tenant (validated by
//! `login::policy` before it is written; absent means the defaults).

use super::{Handle, StoreError, exec, query_one};
use crate::ids::TenantId;

pub async fn find(h: &impl Handle, tenant: TenantId) -> Result<Option<String>, StoreError> {
    let row = query_one(
        h,
        "SELECT policy FROM tenant_policies WHERE tenant_id = ?",
        vec![tenant.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("", "policy")?),
        None => None,
    })
}

pub async fn put(
    h: &impl Handle,
    tenant: TenantId,
    policy_json: &str,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO tenant_policies (tenant_id, policy, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, \
         updated_at = excluded.updated_at",
        vec![
            tenant.to_string().into(),
            policy_json.to_owned().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}
