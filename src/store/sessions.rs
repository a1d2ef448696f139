//! Server-side sessions. The browser holds a random token; only its SHA-256 is stored, with a
//! separate public id used to list and end sessions. Every lookup is scoped to the tenant.

use sea_orm::QueryResult;

use super::{Handle, StoreError, exec, query_all, query_one};
use crate::ids::{TenantId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub stage: String,
    pub amr: String,
    pub return_to: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub auth_time: i64,
    pub last_seen_at: i64,
}

const COLUMNS: &str = "id, tenant_id, user_id, stage, amr, return_to, source_ip, user_agent, \
                       created_at, auth_time, last_seen_at";

/// [`COLUMNS`] of the table aliased `s`.
const PREFIXED_COLUMNS: &str = "s.id, s.tenant_id, s.user_id, s.stage, s.amr, s.return_to, \
     s.source_ip, s.user_agent, s.created_at, s.auth_time, s.last_seen_at";

fn from_row(r: &QueryResult) -> Result<SessionRow, StoreError> {
    let id: String = r.try_get("", "id")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("session {id}: bad {what}"));
    let tenant: String = r.try_get("", "tenant_id")?;
    let user: String = r.try_get("", "user_id")?;
    Ok(SessionRow {
        tenant_id: tenant.parse().map_err(|_| corrupt("tenant id"))?,
        user_id: user.parse().map_err(|_| corrupt("user id"))?,
        stage: r.try_get("", "stage")?,
        amr: r.try_get("", "amr")?,
        return_to: r.try_get("", "return_to")?,
        source_ip: r.try_get("", "source_ip")?,
        user_agent: r.try_get("", "user_agent")?,
        created_at: r.try_get("", "created_at")?,
        auth_time: r.try_get("", "auth_time")?,
        last_seen_at: r.try_get("", "last_seen_at")?,
        id,
    })
}

pub async fn insert(h: &impl Handle, token_hash: &str, s: &SessionRow) -> Result<(), StoreError> {
    exec(
        h,
        &format!(
            "INSERT INTO sessions (token_hash, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            token_hash.to_owned().into(),
            s.id.clone().into(),
            s.tenant_id.to_string().into(),
            s.user_id.to_string().into(),
            s.stage.clone().into(),
            s.amr.clone().into(),
            s.return_to.clone().into(),
            s.source_ip.clone().into(),
            s.user_agent.clone().into(),
            s.created_at.into(),
            s.auth_time.into(),
            s.last_seen_at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The user columns read with a session, as `u_<column>` (sea-orm's prefixed model read).
const USER_COLUMNS: &str = "u.id AS u_id, u.tenant_id AS u_tenant_id, u.username AS u_username, \
     u.username_key AS u_username_key, u.email AS u_email, u.email_key AS u_email_key, \
     u.display_name AS u_display_name, u.name_key AS u_name_key, u.status AS u_status, u.password_hash AS u_password_hash, \
     u.must_change_password AS u_must_change_password, u.admin_role AS u_admin_role, \
     u.password_changed_at AS u_password_changed_at, u.created_at AS u_created_at, \
     u.updated_at AS u_updated_at";

/// The session for a token with its user, in one read (every signed-in request needs both).
pub async fn find_by_token_with_user(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
) -> Result<Option<(SessionRow, crate::directory::User)>, StoreError> {
    use sea_orm::FromQueryResult;
    let Some(r) = query_one(
        h,
        &format!(
            "SELECT {PREFIXED_COLUMNS}, {USER_COLUMNS} FROM sessions s \
             JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
             WHERE s.token_hash = ? AND s.tenant_id = ?"
        ),
        vec![token_hash.to_owned().into(), tenant.to_string().into()],
    )
    .await?
    else {
        return Ok(None);
    };
    let user = super::entities::user::Model::from_query_result(&r, "u_")?;
    Ok(Some((from_row(&r)?, super::users::to_record(user)?)))
}

/// Moves `last_seen_at` forward, at most once per `granularity` ms (saves a write per request).
pub async fn touch(
    h: &impl Handle,
    tenant: TenantId,
    id: &str,
    now: i64,
    granularity: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND tenant_id = ? AND last_seen_at < ?",
        vec![
            now.into(),
            id.to_owned().into(),
            tenant.to_string().into(),
            (now - granularity).into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete(h: &impl Handle, tenant: TenantId, id: &str) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM sessions WHERE id = ? AND tenant_id = ?",
        vec![id.to_owned().into(), tenant.to_string().into()],
    )
    .await
}

/// Ends one of the user's own sessions (the user id is part of the condition).
pub async fn delete_for_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    id: &str,
) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM sessions WHERE id = ? AND tenant_id = ? AND user_id = ?",
        vec![
            id.to_owned().into(),
            tenant.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await
}

/// Ends all of a user's sessions but `keep`.
pub async fn delete_all_for_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    keep: Option<&str>,
) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ? AND id <> ?",
        vec![
            tenant.to_string().into(),
            user.to_string().into(),
            keep.unwrap_or("").to_owned().into(),
        ],
    )
    .await
}

pub async fn list_for_user(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<SessionRow>, StoreError> {
    query_all(
        h,
        &format!(
            "SELECT {COLUMNS} FROM sessions WHERE tenant_id = ? AND user_id = ? \
             ORDER BY last_seen_at DESC LIMIT 200"
        ),
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Housekeeping: removes sessions idle since `idle_before` or created before `created_before`
/// (both beyond the largest timeout a policy may set).
pub async fn delete_expired(
    h: &impl Handle,
    idle_before: i64,
    created_before: i64,
) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
        vec![idle_before.into(), created_before.into()],
    )
    .await
}
