//! The tenant's custom attribute schema and users' values, always within the tenant.

use std::collections::HashMap;

use super::{Handle, StoreError, exec, exec_unique, query_all, query_one};
use crate::ids::{TenantId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeRow {
    pub id: String,
    pub name: String,
    pub label: String,
    pub kind: String,
    pub required: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, label, kind, required, created_at, updated_at";

fn from_row(r: &sea_orm::QueryResult) -> Result<AttributeRow, StoreError> {
    Ok(AttributeRow {
        id: r.try_get("", "id")?,
        name: r.try_get("", "name")?,
        label: r.try_get("", "label")?,
        kind: r.try_get("", "kind")?,
        required: r.try_get("", "required")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

pub async fn insert(h: &impl Handle, tenant: TenantId, a: &AttributeRow) -> Result<(), StoreError> {
    exec_unique(
        h,
        &format!(
            "INSERT INTO attribute_defs (tenant_id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            tenant.to_string().into(),
            a.id.clone().into(),
            a.name.clone().into(),
            a.label.clone().into(),
            a.kind.clone().into(),
            a.required.into(),
            a.created_at.into(),
            a.updated_at.into(),
        ],
        "attribute_defs.name",
    )
    .await?;
    Ok(())
}

/// Changes an attribute's label and whether it is required; false when there is none.
pub async fn update(
    h: &impl Handle,
    tenant: TenantId,
    id: &str,
    (label, required): (&str, bool),
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE attribute_defs SET label = ?, required = ?, updated_at = ? \
         WHERE tenant_id = ? AND id = ?",
        vec![
            label.to_owned().into(),
            required.into(),
            now.into(),
            tenant.to_string().into(),
            id.to_owned().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Deletes an attribute and every value of it; false when there is none.
pub async fn delete(h: &impl Handle, tenant: TenantId, id: &str) -> Result<bool, StoreError> {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    exec(
        h,
        "DELETE FROM user_attributes WHERE tenant_id = ? AND attribute_id = ?",
        vec![t(), id.to_owned().into()],
    )
    .await?;
    let n = exec(
        h,
        "DELETE FROM attribute_defs WHERE tenant_id = ? AND id = ?",
        vec![t(), id.to_owned().into()],
    )
    .await?;
    Ok(n == 1)
}

/// The tenant's attributes by name (at most 1000; the schema holds far fewer).
pub async fn list(h: &impl Handle, tenant: TenantId) -> Result<Vec<AttributeRow>, StoreError> {
    query_all(
        h,
        &format!(
            "SELECT {COLUMNS} FROM attribute_defs WHERE tenant_id = ? ORDER BY name LIMIT 1000"
        ),
        vec![tenant.to_string().into()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

pub async fn find(
    h: &impl Handle,
    tenant: TenantId,
    id: &str,
) -> Result<Option<AttributeRow>, StoreError> {
    query_one(
        h,
        &format!("SELECT {COLUMNS} FROM attribute_defs WHERE tenant_id = ? AND id = ?"),
        vec![tenant.to_string().into(), id.to_owned().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// How many users have a value for the attribute.
pub async fn values_count(h: &impl Handle, tenant: TenantId, id: &str) -> Result<i64, StoreError> {
    let row = query_one(
        h,
        "SELECT COUNT(*) AS n FROM user_attributes WHERE tenant_id = ? AND attribute_id = ?",
        vec![tenant.to_string().into(), id.to_owned().into()],
    )
    .await?;
    Ok(row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0))
}

/// Sets (or with `None` clears) one value of a user's.
pub async fn set_value(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    attribute: &str,
    value: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    let u = || -> sea_orm::Value { user.to_string().into() };
    match value {
        Some(v) => {
            exec(
                h,
                "INSERT INTO user_attributes (tenant_id, user_id, attribute_id, value, updated_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, attribute_id) \
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                vec![
                    t(),
                    u(),
                    attribute.to_owned().into(),
                    v.to_owned().into(),
                    now.into(),
                ],
            )
            .await?;
        }
        None => {
            exec(
                h,
                "DELETE FROM user_attributes WHERE tenant_id = ? AND user_id = ? \
                 AND attribute_id = ?",
                vec![t(), u(), attribute.to_owned().into()],
            )
            .await?;
        }
    }
    Ok(())
}

/// A user's values (attribute id, value).
pub async fn values_of(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<HashMap<String, String>, StoreError> {
    let rows = query_all(
        h,
        "SELECT attribute_id, value FROM user_attributes WHERE tenant_id = ? AND user_id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "attribute_id")?, r.try_get("", "value")?)))
        .collect()
}

/// The values of each of `users` (attribute id → value); those with none are absent.
pub async fn values_of_users(
    h: &impl Handle,
    tenant: TenantId,
    users: &[UserId],
) -> Result<HashMap<UserId, HashMap<String, String>>, StoreError> {
    let mut out: HashMap<UserId, HashMap<String, String>> = HashMap::new();
    for chunk in users.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut values: Vec<sea_orm::Value> = vec![tenant.to_string().into()];
        values.extend(chunk.iter().map(|id| sea_orm::Value::from(id.to_string())));
        let rows = query_all(
            h,
            &format!(
                "SELECT user_id, attribute_id, value FROM user_attributes \
                 WHERE tenant_id = ? AND user_id IN ({marks})"
            ),
            values,
        )
        .await?;
        for r in rows {
            let id: String = r.try_get("", "user_id")?;
            if let Ok(id) = id.parse() {
                out.entry(id)
                    .or_default()
                    .insert(r.try_get("", "attribute_id")?, r.try_get("", "value")?);
            }
        }
    }
    Ok(out)
}
