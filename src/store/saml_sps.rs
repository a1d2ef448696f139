//! SAML service providers, always looked up within their tenant.

use super::{Handle, StoreError, exec, exec_unique, query_all, query_one};
use crate::ids::TenantId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpRow {
    pub id: String,
    pub entity_id: String,
    pub name: String,
    /// The validated configuration, as JSON.
    pub config: String,
    pub assigned_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, entity_id, name, config, assigned_only, created_at, updated_at";

fn from_row(r: &sea_orm::QueryResult) -> Result<SpRow, StoreError> {
    Ok(SpRow {
        id: r.try_get("", "id")?,
        entity_id: r.try_get("", "entity_id")?,
        name: r.try_get("", "name")?,
        config: r.try_get("", "config")?,
        assigned_only: r.try_get("", "assigned_only")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

pub async fn insert(h: &impl Handle, tenant: TenantId, sp: &SpRow) -> Result<(), StoreError> {
    exec_unique(
        h,
        "INSERT INTO saml_sps (id, tenant_id, entity_id, name, config, assigned_only, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            sp.id.clone().into(),
            tenant.to_string().into(),
            sp.entity_id.clone().into(),
            sp.name.clone().into(),
            sp.config.clone().into(),
            sp.assigned_only.into(),
            sp.created_at.into(),
            sp.updated_at.into(),
        ],
        "saml_sps.entity_id",
    )
    .await?;
    Ok(())
}

pub async fn find(
    h: &impl Handle,
    tenant: TenantId,
    entity_id: &str,
) -> Result<Option<SpRow>, StoreError> {
    query_one(
        h,
        &format!("SELECT {COLUMNS} FROM saml_sps WHERE tenant_id = ? AND entity_id = ?"),
        vec![tenant.to_string().into(), entity_id.to_owned().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn find_by_id(
    h: &impl Handle,
    tenant: TenantId,
    id: &str,
) -> Result<Option<SpRow>, StoreError> {
    query_one(
        h,
        &format!("SELECT {COLUMNS} FROM saml_sps WHERE tenant_id = ? AND id = ?"),
        vec![tenant.to_string().into(), id.to_owned().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn list(h: &impl Handle, tenant: TenantId) -> Result<Vec<SpRow>, StoreError> {
    query_all(
        h,
        &format!(
            "SELECT {COLUMNS} FROM saml_sps WHERE tenant_id = ? ORDER BY name, entity_id \
             LIMIT 1000"
        ),
        vec![tenant.to_string().into()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Replaces an SP's name and configuration; false when there is no such SP.
pub async fn update(h: &impl Handle, tenant: TenantId, sp: &SpRow) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE saml_sps SET name = ?, config = ?, updated_at = ? \
         WHERE tenant_id = ? AND entity_id = ?",
        vec![
            sp.name.clone().into(),
            sp.config.clone().into(),
            sp.updated_at.into(),
            tenant.to_string().into(),
            sp.entity_id.clone().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn delete(
    h: &impl Handle,
    tenant: TenantId,
    entity_id: &str,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "DELETE FROM saml_sps WHERE tenant_id = ? AND entity_id = ?",
        vec![tenant.to_string().into(), entity_id.to_owned().into()],
    )
    .await?;
    Ok(n == 1)
}
