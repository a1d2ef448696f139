//! Users of a tenant's directory. Every function takes the tenant; there is no load by bare id.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use super::entities::user;
use super::{Handle, StoreError, Tx, exec, exec_unique};
use crate::directory::{AdminRole, User, UserStatus};
use crate::ids::{TenantId, UserId};

pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: &'a str,
    pub email_key: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub admin_role: Option<AdminRole>,
    pub now: i64,
}

pub(super) fn to_record(m: user::Model) -> Result<User, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("user {}: bad {what}", m.id));
    Ok(User {
        id: m.id.parse().map_err(|_| corrupt("id"))?,
        tenant_id: m.tenant_id.parse().map_err(|_| corrupt("tenant id"))?,
        status: UserStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
        admin_role: match m.admin_role.as_deref() {
            None => None,
            Some(r) => Some(AdminRole::parse(r).ok_or_else(|| corrupt("admin role"))?),
        },
        has_password: m.password_hash.is_some(),
        username: m.username,
        email: m.email,
        display_name: m.display_name,
        must_change_password: m.must_change_password,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub async fn insert(tx: &Tx, tenant: TenantId, u: NewUser<'_>) -> Result<(), StoreError> {
    let model = user::ActiveModel {
        id: Set(u.id.to_string()),
        tenant_id: Set(tenant.to_string()),
        username: Set(u.username.to_owned()),
        username_key: Set(u.username_key.to_owned()),
        email: Set(u.email.to_owned()),
        email_key: Set(u.email_key.to_owned()),
        display_name: Set(u.display_name.to_owned()),
        status: Set(UserStatus::Active.as_str().to_owned()),
        password_hash: Set(u.password_hash),
        must_change_password: Set(u.must_change_password),
        admin_role: Set(u.admin_role.map(|r| r.as_str().to_owned())),
        password_changed_at: Set(Some(u.now)),
        created_at: Set(u.now),
        updated_at: Set(u.now),
    };
    user::Entity::insert(model)
        .exec_without_returning(tx.conn())
        .await
        .map_err(|e| match e.sql_err() {
            // Which unique index refused it decides the message. Both backends name the index
            // or its columns in the message (`ux_users_tenant_email`, `users.email_key`); the
            // transaction is unusable after the error on PostgreSQL, so no follow-up query.
            Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains("email") => {
                StoreError::Conflict("users.email")
            }
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict("users.username"),
            _ => StoreError::Db(e),
        })?;
    Ok(())
}

pub async fn find_by_username_key(
    h: &impl Handle,
    tenant: TenantId,
    username_key: &str,
) -> Result<Option<User>, StoreError> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.to_string()))
        .filter(user::Column::UsernameKey.eq(username_key))
        .one(h.conn())
        .await?
        .map(to_record)
        .transpose()
}

pub async fn find(
    h: &impl Handle,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<User>, StoreError> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.to_string()))
        .filter(user::Column::Id.eq(id.to_string()))
        .one(h.conn())
        .await?
        .map(to_record)
        .transpose()
}

/// A page of users ordered by username key, starting after `after` (keyset pagination).
pub async fn list(
    h: &impl Handle,
    tenant: TenantId,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<User>, StoreError> {
    let mut q = user::Entity::find().filter(user::Column::TenantId.eq(tenant.to_string()));
    if let Some(after) = after {
        q = q.filter(user::Column::UsernameKey.gt(after));
    }
    q.order_by_asc(user::Column::UsernameKey)
        .limit(limit)
        .all(h.conn())
        .await?
        .into_iter()
        .map(to_record)
        .collect()
}

pub async fn find_by_email_key(
    h: &impl Handle,
    tenant: TenantId,
    email_key: &str,
) -> Result<Option<User>, StoreError> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.to_string()))
        .filter(user::Column::EmailKey.eq(email_key))
        .one(h.conn())
        .await?
        .map(to_record)
        .transpose()
}

/// Changes display name and e-mail (`Conflict("users.email")` when the address is taken).
pub async fn update_profile(
    h: &impl Handle,
    tenant: TenantId,
    id: UserId,
    display_name: &str,
    email: &str,
    email_key: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n = exec_unique(
        h,
        "UPDATE users SET display_name = ?, email = ?, email_key = ?, updated_at = ? \
         WHERE tenant_id = ? AND id = ?",
        vec![
            display_name.to_owned().into(),
            email.to_owned().into(),
            email_key.to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            id.to_string().into(),
        ],
        "users.email",
    )
    .await?;
    if n != 1 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn set_status(
    h: &impl Handle,
    tenant: TenantId,
    id: UserId,
    status: UserStatus,
    now: i64,
) -> Result<(), StoreError> {
    let n = exec(
        h,
        "UPDATE users SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
        vec![
            status.as_str().to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            id.to_string().into(),
        ],
    )
    .await?;
    if n != 1 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
