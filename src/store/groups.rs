//! Directory groups and their members. Every function takes the tenant; members are matched
//! on the tenant too, so a group of one tenant never holds a user of another.

use sea_orm::QueryResult;

use super::{Handle, StoreError, exec, exec_unique, query_all, query_one};
use crate::ids::{GroupId, TenantId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    pub members: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT g.id, g.name, g.description, g.created_at, g.updated_at, \
     (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS members FROM groups g";

fn from_row(r: &QueryResult) -> Result<GroupRow, StoreError> {
    let id: String = r.try_get("", "id")?;
    Ok(GroupRow {
        id: id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("group {id}: bad id")))?,
        name: r.try_get("", "name")?,
        description: r.try_get("", "description")?,
        members: r.try_get("", "members")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

pub async fn insert(
    h: &impl Handle,
    tenant: TenantId,
    id: GroupId,
    name: &str,
    name_key: &str,
    description: &str,
    now: i64,
) -> Result<(), StoreError> {
    exec_unique(
        h,
        "INSERT INTO groups (id, tenant_id, name, name_key, description, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        vec![
            id.to_string().into(),
            tenant.to_string().into(),
            name.to_owned().into(),
            name_key.to_owned().into(),
            description.to_owned().into(),
            now.into(),
            now.into(),
        ],
        "groups.name",
    )
    .await?;
    Ok(())
}

pub async fn find_by_name_key(
    h: &impl Handle,
    tenant: TenantId,
    name_key: &str,
) -> Result<Option<GroupRow>, StoreError> {
    query_one(
        h,
        &format!("{SELECT} WHERE g.tenant_id = ? AND g.name_key = ?"),
        vec![tenant.to_string().into(), name_key.to_owned().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// All groups of the tenant by name (a directory has tens or hundreds, not millions).
pub async fn list(h: &impl Handle, tenant: TenantId) -> Result<Vec<GroupRow>, StoreError> {
    query_all(
        h,
        &format!("{SELECT} WHERE g.tenant_id = ? ORDER BY g.name_key"),
        vec![tenant.to_string().into()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Renames a group (and sets its description); `Conflict` when the name is taken.
pub async fn update(
    h: &impl Handle,
    tenant: TenantId,
    id: GroupId,
    name: &str,
    name_key: &str,
    description: &str,
    now: i64,
) -> Result<u64, StoreError> {
    exec_unique(
        h,
        "UPDATE groups SET name = ?, name_key = ?, description = ?, updated_at = ? \
         WHERE tenant_id = ? AND id = ?",
        vec![
            name.to_owned().into(),
            name_key.to_owned().into(),
            description.to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            id.to_string().into(),
        ],
        "groups.name",
    )
    .await
}

/// Deletes a group; its memberships and app assignments go with it.
pub async fn delete(h: &impl Handle, tenant: TenantId, id: GroupId) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM app_groups WHERE tenant_id = ? AND group_id = ?",
        vec![tenant.to_string().into(), id.to_string().into()],
    )
    .await?;
    exec(
        h,
        "DELETE FROM group_members WHERE tenant_id = ? AND group_id = ?",
        vec![tenant.to_string().into(), id.to_string().into()],
    )
    .await?;
    exec(
        h,
        "DELETE FROM groups WHERE tenant_id = ? AND id = ?",
        vec![tenant.to_string().into(), id.to_string().into()],
    )
    .await
}

/// Adds a member; false when they were one already.
pub async fn add_member(
    h: &impl Handle,
    tenant: TenantId,
    group: GroupId,
    user: UserId,
    now: i64,
) -> Result<bool, StoreError> {
    // Both must belong to the tenant: the SELECT yields no row otherwise.
    let added = exec(
        h,
        "INSERT INTO group_members (tenant_id, group_id, user_id, created_at) \
         SELECT g.tenant_id, g.id, u.id, ? FROM groups g JOIN users u ON u.tenant_id = g.tenant_id \
         WHERE g.tenant_id = ? AND g.id = ? AND u.id = ? ON CONFLICT DO NOTHING",
        vec![
            now.into(),
            tenant.to_string().into(),
            group.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(added == 1)
}

/// Removes a member; false when they were not one.
pub async fn remove_member(
    h: &impl Handle,
    tenant: TenantId,
    group: GroupId,
    user: UserId,
) -> Result<bool, StoreError> {
    let removed = exec(
        h,
        "DELETE FROM group_members WHERE tenant_id = ? AND group_id = ? AND user_id = ?",
        vec![
            tenant.to_string().into(),
            group.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(removed == 1)
}

/// A group's members (id and username) in username order, `limit` at most.
pub async fn members(
    h: &impl Handle,
    tenant: TenantId,
    group: GroupId,
    limit: u64,
) -> Result<Vec<(UserId, String)>, StoreError> {
    query_all(
        h,
        "SELECT u.id, u.username FROM group_members m JOIN users u ON u.id = m.user_id \
         AND u.tenant_id = m.tenant_id WHERE m.tenant_id = ? AND m.group_id = ? \
         ORDER BY u.username_key LIMIT ?",
        vec![
            tenant.to_string().into(),
            group.to_string().into(),
            (limit.min(i64::MAX as u64) as i64).into(),
        ],
    )
    .await?
    .iter()
    .map(|r| {
        let id: String = r.try_get("", "id")?;
        let id = id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("user {id}: bad id")))?;
        Ok((id, r.try_get("", "username")?))
    })
    .collect()
}

/// The names of the groups a user is in, by name.
pub async fn names_of_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<String>, StoreError> {
    Ok(of_user(h, tenant, user)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect())
}

/// The groups a user is in (id and name), by name.
pub async fn of_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<(GroupId, String)>, StoreError> {
    query_all(
        h,
        "SELECT g.id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id \
         AND g.tenant_id = m.tenant_id WHERE m.tenant_id = ? AND m.user_id = ? \
         ORDER BY g.name_key",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?
    .iter()
    .map(|r| {
        let id: String = r.try_get("", "id")?;
        let id = id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("group {id}: bad id")))?;
        Ok((id, r.try_get("", "name")?))
    })
    .collect()
}

/// A group of the tenant by id.
pub async fn find(
    h: &impl Handle,
    tenant: TenantId,
    id: GroupId,
) -> Result<Option<GroupRow>, StoreError> {
    query_one(
        h,
        &format!("{SELECT} WHERE g.tenant_id = ? AND g.id = ?"),
        vec![tenant.to_string().into(), id.to_string().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The group names of each of `users` (those in no group are absent), in name order.
pub async fn names_of_users(
    h: &impl Handle,
    tenant: TenantId,
    users: &[UserId],
) -> Result<std::collections::HashMap<UserId, Vec<String>>, StoreError> {
    let mut out: std::collections::HashMap<UserId, Vec<String>> = Default::default();
    for chunk in users.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut values: Vec<sea_orm::Value> = vec![tenant.to_string().into()];
        values.extend(chunk.iter().map(|id| sea_orm::Value::from(id.to_string())));
        let rows = query_all(
            h,
            &format!(
                "SELECT m.user_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id \
                 AND g.tenant_id = m.tenant_id WHERE m.tenant_id = ? AND m.user_id IN ({marks}) \
                 ORDER BY g.name_key"
            ),
            values,
        )
        .await?;
        for r in rows {
            let id: String = r.try_get("", "user_id")?;
            if let Ok(id) = id.parse() {
                out.entry(id).or_default().push(r.try_get("", "name")?);
            }
        }
    }
    Ok(out)
}
