//! Who may use each application: the `assigned_only` flag on an OIDC client or SAML SP, and its
//! user and group assignments. An app is named by its row id (`oidc_clients.id`,
//! `saml_sps.id`), which no other table shares.

use super::{Handle, StoreError, exec, query_all, query_one};
use crate::ids::{GroupId, TenantId, UserId};

/// The table an application lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppTable {
    OidcClients,
    SamlSps,
}

impl AppTable {
    fn name(self) -> &'static str {
        match self {
            AppTable::OidcClients => "oidc_clients",
            AppTable::SamlSps => "saml_sps",
        }
    }
}

/// Sets whether only assigned users may use the app; false when there is no such app.
pub async fn set_assigned_only(
    h: &impl Handle,
    tenant: TenantId,
    table: AppTable,
    app: &str,
    assigned_only: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        &format!(
            "UPDATE {} SET assigned_only = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
            table.name()
        ),
        vec![
            assigned_only.into(),
            now.into(),
            tenant.to_string().into(),
            app.to_owned().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Assigns a user of the tenant to the app; false when they were already.
pub async fn add_user(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
    user: UserId,
    now: i64,
) -> Result<bool, StoreError> {
    // The user must belong to the tenant: the SELECT yields no row otherwise.
    let n = exec(
        h,
        "INSERT INTO app_users (tenant_id, app_id, user_id, created_at) \
         SELECT u.tenant_id, ?, u.id, ? FROM users u WHERE u.tenant_id = ? AND u.id = ? \
         ON CONFLICT DO NOTHING",
        vec![
            app.to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn remove_user(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
    user: UserId,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "DELETE FROM app_users WHERE tenant_id = ? AND app_id = ? AND user_id = ?",
        vec![
            tenant.to_string().into(),
            app.to_owned().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Assigns a group of the tenant to the app; false when it was already.
pub async fn add_group(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
    group: GroupId,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "INSERT INTO app_groups (tenant_id, app_id, group_id, created_at) \
         SELECT g.tenant_id, ?, g.id, ? FROM groups g WHERE g.tenant_id = ? AND g.id = ? \
         ON CONFLICT DO NOTHING",
        vec![
            app.to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            group.to_string().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn remove_group(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
    group: GroupId,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "DELETE FROM app_groups WHERE tenant_id = ? AND app_id = ? AND group_id = ?",
        vec![
            tenant.to_string().into(),
            app.to_owned().into(),
            group.to_string().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Whether `user` is assigned to the app, directly or through one of their groups.
pub async fn is_assigned(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
    user: UserId,
) -> Result<bool, StoreError> {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    let row = query_one(
        h,
        "SELECT 1 AS hit FROM app_users WHERE tenant_id = ? AND app_id = ? AND user_id = ? \
         UNION ALL SELECT 1 AS hit FROM app_groups a JOIN group_members m \
         ON m.group_id = a.group_id AND m.tenant_id = a.tenant_id \
         WHERE a.tenant_id = ? AND a.app_id = ? AND m.user_id = ? LIMIT 1",
        vec![
            t(),
            app.to_owned().into(),
            user.to_string().into(),
            t(),
            app.to_owned().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(row.is_some())
}

fn parse_id<T: std::str::FromStr>(r: &sea_orm::QueryResult, what: &str) -> Result<T, StoreError> {
    let id: String = r.try_get("", "id")?;
    id.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} {id}: bad id")))
}

/// The users assigned directly (id and username, by username), `limit` at most.
pub async fn users(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
    limit: u64,
) -> Result<Vec<(UserId, String)>, StoreError> {
    query_all(
        h,
        "SELECT u.id, u.username FROM app_users a JOIN users u ON u.id = a.user_id \
         AND u.tenant_id = a.tenant_id WHERE a.tenant_id = ? AND a.app_id = ? \
         ORDER BY u.username_key LIMIT ?",
        vec![
            tenant.to_string().into(),
            app.to_owned().into(),
            (limit.min(i64::MAX as u64) as i64).into(),
        ],
    )
    .await?
    .iter()
    .map(|r| Ok((parse_id(r, "user")?, r.try_get("", "username")?)))
    .collect()
}

/// The groups assigned (id and name, by name).
pub async fn groups(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
) -> Result<Vec<(GroupId, String)>, StoreError> {
    query_all(
        h,
        "SELECT g.id, g.name FROM app_groups a JOIN groups g ON g.id = a.group_id \
         AND g.tenant_id = a.tenant_id WHERE a.tenant_id = ? AND a.app_id = ? \
         ORDER BY g.name_key LIMIT 1000",
        vec![tenant.to_string().into(), app.to_owned().into()],
    )
    .await?
    .iter()
    .map(|r| Ok((parse_id(r, "group")?, r.try_get("", "name")?)))
    .collect()
}

/// How many users and groups are assigned to each app of the tenant that has any.
pub async fn counts(
    h: &impl Handle,
    tenant: TenantId,
) -> Result<std::collections::HashMap<String, (u64, u64)>, StoreError> {
    let mut out: std::collections::HashMap<String, (u64, u64)> = Default::default();
    for (table, is_users) in [("app_users", true), ("app_groups", false)] {
        let rows = query_all(
            h,
            &format!(
                "SELECT app_id, COUNT(*) AS n FROM {table} WHERE tenant_id = ? GROUP BY app_id"
            ),
            vec![tenant.to_string().into()],
        )
        .await?;
        for r in rows {
            let n: i64 = r.try_get("", "n")?;
            let n = u64::try_from(n).unwrap_or(0);
            let e = out.entry(r.try_get("", "app_id")?).or_default();
            if is_users {
                e.0 = n;
            } else {
                e.1 = n;
            }
        }
    }
    Ok(out)
}

/// One way a user is assigned to an app (for the person export).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub app_id: String,
    /// `None` for a direct assignment, else the group's name.
    pub via_group: Option<String>,
    pub created_at: i64,
}

/// Every assignment that reaches `user`, direct or through a group.
pub async fn of_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<Assignment>, StoreError> {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    let u = || -> sea_orm::Value { user.to_string().into() };
    let direct = query_all(
        h,
        "SELECT app_id, created_at FROM app_users WHERE tenant_id = ? AND user_id = ? \
         ORDER BY created_at LIMIT 10000",
        vec![t(), u()],
    )
    .await?;
    let grouped = query_all(
        h,
        "SELECT a.app_id, g.name, a.created_at FROM app_groups a \
         JOIN group_members m ON m.group_id = a.group_id AND m.tenant_id = a.tenant_id \
         JOIN groups g ON g.id = a.group_id AND g.tenant_id = a.tenant_id \
         WHERE a.tenant_id = ? AND m.user_id = ? ORDER BY a.created_at LIMIT 10000",
        vec![t(), u()],
    )
    .await?;
    let mut out = Vec::with_capacity(direct.len() + grouped.len());
    for r in direct {
        out.push(Assignment {
            app_id: r.try_get("", "app_id")?,
            via_group: None,
            created_at: r.try_get("", "created_at")?,
        });
    }
    for r in grouped {
        out.push(Assignment {
            app_id: r.try_get("", "app_id")?,
            via_group: Some(r.try_get("", "name")?),
            created_at: r.try_get("", "created_at")?,
        });
    }
    Ok(out)
}

/// Removes every assignment to the app (when the app goes).
pub async fn delete_for_app(
    h: &impl Handle,
    tenant: TenantId,
    app: &str,
) -> Result<(), StoreError> {
    for table in ["app_users", "app_groups"] {
        exec(
            h,
            &format!("DELETE FROM {table} WHERE tenant_id = ? AND app_id = ?"),
            vec![tenant.to_string().into(), app.to_owned().into()],
        )
        .await?;
    }
    Ok(())
}
