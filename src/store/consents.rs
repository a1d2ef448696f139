//! Remembered consent: which scopes a user allowed a client, per tenant.

use super::{Handle, StoreError, exec, query_all, query_one};
use crate::ids::{TenantId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRow {
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn from_row(r: &sea_orm::QueryResult) -> Result<ConsentRow, StoreError> {
    Ok(ConsentRow {
        client_id: r.try_get("", "client_id")?,
        scope: r.try_get("", "scope")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

pub async fn find(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    client_id: &str,
) -> Result<Option<ConsentRow>, StoreError> {
    query_one(
        h,
        "SELECT client_id, scope, created_at, updated_at FROM oidc_consents \
         WHERE tenant_id = ? AND user_id = ? AND client_id = ?",
        vec![
            tenant.to_string().into(),
            user.to_string().into(),
            client_id.to_owned().into(),
        ],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Records (or replaces) the scopes the user allowed the client.
pub async fn put(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    client_id: &str,
    scope: &str,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO oidc_consents (tenant_id, user_id, client_id, scope, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, user_id, client_id) DO UPDATE SET \
         scope = excluded.scope, updated_at = excluded.updated_at",
        vec![
            tenant.to_string().into(),
            user.to_string().into(),
            client_id.to_owned().into(),
            scope.to_owned().into(),
            now.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The user's consents, most recently changed first.
pub async fn list_for_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<ConsentRow>, StoreError> {
    query_all(
        h,
        "SELECT client_id, scope, created_at, updated_at FROM oidc_consents \
         WHERE tenant_id = ? AND user_id = ? ORDER BY updated_at DESC, client_id",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Forgets one consent; true if there was one.
pub async fn delete(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    client_id: &str,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "DELETE FROM oidc_consents WHERE tenant_id = ? AND user_id = ? AND client_id = ?",
        vec![
            tenant.to_string().into(),
            user.to_string().into(),
            client_id.to_owned().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Forgets every consent given to a client (the client is being deleted).
pub async fn delete_for_client(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM oidc_consents WHERE tenant_id = ? AND client_id = ?",
        vec![tenant.to_string().into(), client_id.to_owned().into()],
    )
    .await
}
