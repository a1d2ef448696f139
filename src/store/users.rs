//! Users of a tenant's directory. Every function takes the tenant; there is no load by bare id.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use super::entities::user;
use super::{Handle, StoreError, Tx, exec, exec_unique, query_all, query_one};
use crate::directory::{AdminRole, User, UserStatus};
use crate::ids::{GroupId, TenantId, UserId};

pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: &'a str,
    pub email_key: &'a str,
    pub display_name: &'a str,
    /// The folded display name (prefix search).
    pub name_key: &'a str,
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
        name_key: Set(u.name_key.to_owned()),
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
    (display_name, name_key): (&str, &str),
    email: &str,
    email_key: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n = exec_unique(
        h,
        "UPDATE users SET display_name = ?, name_key = ?, email = ?, email_key = ?, \
         updated_at = ? WHERE tenant_id = ? AND id = ?",
        vec![
            display_name.to_owned().into(),
            name_key.to_owned().into(),
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

/// What the console's user list is narrowed by. `prefix` is already folded.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub prefix: Option<String>,
    pub status: Option<UserStatus>,
    pub group: Option<GroupId>,
    pub locked: Option<bool>,
    pub mfa: Option<bool>,
    pub admins_only: bool,
    /// Only these users (a selection of the list).
    pub ids: Option<Vec<UserId>>,
    /// The order of the list.
    pub order: Order,
}

/// What the list is ordered by; ties (same name) by username.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Username,
    Name,
    Email,
}

impl SortBy {
    /// The column, each with an index on (tenant, column).
    fn column(self) -> &'static str {
        match self {
            SortBy::Username => "u.username_key",
            SortBy::Name => "u.name_key",
            SortBy::Email => "u.email_key",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Order {
    pub by: SortBy,
    pub descending: bool,
}

/// A row's place in the list's order: its sort value and its username key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub value: String,
    pub key: String,
}

/// A page position: after or before a row's place in the list's order.
#[derive(Clone, Debug)]
pub enum Cursor {
    First,
    After(Position),
    Before(Position),
}

/// One row of the user list.
#[derive(Clone, Debug)]
pub struct UserSummary {
    pub user: User,
    pub username_key: String,
    pub name_key: String,
    pub email_key: String,
    pub locked: bool,
    pub mfa: bool,
    pub last_login_at: Option<i64>,
}

/// The smallest string greater than every string starting with `prefix` (bytewise), if any.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The list filter's conditions (after a `WHERE` on `u`): the prefix as three index ranges,
/// status, lock, second factor, a group (by `EXISTS` when `group_exists`; otherwise the caller
/// reads from the group's members), admins, and a selection of ids.
fn push_filters(
    sql: &mut String,
    values: &mut Vec<sea_orm::Value>,
    (tenant, now, collate): (TenantId, i64, &str),
    filter: &UserFilter,
    group_exists: bool,
) {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    if let Some(prefix) = filter.prefix.as_deref().filter(|p| !p.is_empty()) {
        let end = prefix_end(prefix).unwrap_or_else(|| format!("{prefix}\u{10FFFF}"));
        let branches: Vec<String> = ["username_key", "email_key", "name_key"]
            .iter()
            .map(|col| {
                values.extend([t(), prefix.to_owned().into(), end.clone().into()]);
                format!(
                    "SELECT id FROM users WHERE tenant_id = ? AND {col} {collate} >= ? \
                     AND {col} {collate} < ?"
                )
            })
            .collect();
        sql.push_str(&format!(" AND u.id IN ({})", branches.join(" UNION ")));
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND u.status = ?");
        values.push(status.as_str().to_owned().into());
    }
    match filter.locked {
        Some(true) => {
            sql.push_str(" AND u.locked_until > ?");
            values.push(now.into());
        }
        Some(false) => {
            sql.push_str(" AND (u.locked_until IS NULL OR u.locked_until <= ?)");
            values.push(now.into());
        }
        None => {}
    }
    if let Some(mfa) = filter.mfa {
        sql.push_str(if mfa {
            " AND EXISTS"
        } else {
            " AND NOT EXISTS"
        });
        sql.push_str(
            " (SELECT 1 FROM totp_credentials c WHERE c.tenant_id = u.tenant_id \
             AND c.user_id = u.id AND c.confirmed_at IS NOT NULL)",
        );
    }
    if let Some(group) = filter.group.filter(|_| group_exists) {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM group_members m WHERE m.tenant_id = u.tenant_id \
             AND m.group_id = ? AND m.user_id = u.id)",
        );
        values.push(group.to_string().into());
    }
    if filter.admins_only {
        sql.push_str(" AND u.admin_role IS NOT NULL");
    }
    if let Some(ids) = &filter.ids {
        if ids.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            let marks = vec!["?"; ids.len()].join(", ");
            sql.push_str(&format!(" AND u.id IN ({marks})"));
            values.extend(ids.iter().map(|id| sea_orm::Value::from(id.to_string())));
        }
    }
}

/// The condition for rows beyond `p` in `order`: after it (`downwards`: below it when the
/// order descends), by sort value, then username key.
fn push_beyond(
    sql: &mut String,
    values: &mut Vec<sea_orm::Value>,
    order: Order,
    p: &Position,
    downwards: bool,
) {
    let op = if downwards { "<" } else { ">" };
    if order.by == SortBy::Username {
        sql.push_str(&format!(" AND u.username_key {op} ?"));
        values.push(p.key.clone().into());
    } else {
        let col = order.by.column();
        sql.push_str(&format!(
            " AND ({col} {op} ? OR ({col} = ? AND u.username_key {op} ?))"
        ));
        values.extend([
            p.value.clone().into(),
            p.value.clone().into(),
            p.key.clone().into(),
        ]);
    }
}

/// Where the users list stops counting: a count scans what it counts, so past this a list
/// says "more than 100,000" (about 25 ms of index scan on the bench machine) rather than
/// scanning a million rows on every page.
pub const COUNT_CAP: i64 = 100_000;

/// How many users match `filter`, and how many of them come before `first` in the list's
/// order (the list's "51–100 of 61,204"); each at most [`COUNT_CAP`] + 1, which means "more
/// than the cap".
pub async fn count(
    h: &impl Handle,
    tenant: TenantId,
    filter: &UserFilter,
    now: i64,
    first: Option<&Position>,
) -> Result<(i64, i64), StoreError> {
    use sea_orm::ConnectionTrait;
    let collate = if h.conn().get_database_backend() == sea_orm::DbBackend::Postgres {
        "COLLATE \"C\""
    } else {
        "COLLATE BINARY"
    };
    let capped = |before: Option<&Position>| {
        let mut sql =
            String::from("SELECT COUNT(*) AS n FROM (SELECT 1 FROM users u WHERE u.tenant_id = ?");
        let mut values: Vec<sea_orm::Value> = vec![tenant.to_string().into()];
        push_filters(&mut sql, &mut values, (tenant, now, collate), filter, true);
        if let Some(p) = before {
            // Rows beyond `first` going backwards: the ones before it.
            let backwards = !filter.order.descending;
            push_beyond(&mut sql, &mut values, filter.order, p, backwards);
        }
        sql.push_str(" LIMIT ?) s");
        values.push((COUNT_CAP + 1).into());
        (sql, values)
    };
    let read = |row: Option<sea_orm::QueryResult>| -> Result<i64, StoreError> {
        Ok(row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0))
    };
    let (sql, values) = capped(None);
    let total = read(query_one(h, &sql, values).await?)?;
    let before = match first {
        Some(p) => {
            let (sql, values) = capped(Some(p));
            read(query_one(h, &sql, values).await?)?
        }
        None => 0,
    };
    Ok((total, before))
}

/// Up to this many members, a group filter reads the group's members and sorts them; above,
/// members are dense enough that walking the users in username order finds a page quickly.
const SMALL_GROUP: i64 = 5000;

/// A page of users matching `filter` in username order, `limit` at most. Every part of the
/// filter uses an index: the prefix is three index ranges (username, e-mail, display name),
/// locked users come from their own index, a small group from its members; the rest are
/// checked on the rows in username order.
pub async fn search(
    h: &impl Handle,
    tenant: TenantId,
    filter: &UserFilter,
    cursor: &Cursor,
    limit: u64,
    now: i64,
) -> Result<Vec<UserSummary>, StoreError> {
    use sea_orm::ConnectionTrait;
    let collate = if h.conn().get_database_backend() == sea_orm::DbBackend::Postgres {
        "COLLATE \"C\""
    } else {
        "COLLATE BINARY"
    };
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    let mut sql = String::from(
        "SELECT u.id, u.tenant_id, u.username, u.username_key, u.name_key, u.email_key, \
         u.email, u.display_name, \
         u.status, u.admin_role, u.must_change_password, u.created_at, u.updated_at, \
         u.last_login_at, CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS has_password, \
         CASE WHEN u.locked_until > ? THEN 1 ELSE 0 END AS locked, \
         CASE WHEN EXISTS (SELECT 1 FROM totp_credentials c WHERE c.tenant_id = u.tenant_id \
         AND c.user_id = u.id AND c.confirmed_at IS NOT NULL) THEN 1 ELSE 0 END AS mfa ",
    );
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    let small_group = match filter.group {
        Some(group) => {
            let row = query_one(
                h,
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM group_members WHERE group_id = ? \
                 LIMIT ?) s",
                vec![group.to_string().into(), (SMALL_GROUP + 1).into()],
            )
            .await?;
            let n = row.map(|r| r.try_get::<i64>("", "n")).transpose()?;
            n.is_some_and(|n| n <= SMALL_GROUP).then_some(group)
        }
        None => None,
    };
    if let Some(group) = small_group {
        // The group's members first (CROSS JOIN keeps SQLite to that order), then their rows.
        sql.push_str(
            "FROM group_members m CROSS JOIN users u WHERE m.group_id = ? \
             AND u.id = m.user_id AND u.tenant_id = ?",
        );
        values.extend([group.to_string().into(), t()]);
    } else {
        sql.push_str("FROM users u WHERE u.tenant_id = ?");
        values.push(t());
    }
    push_filters(
        &mut sql,
        &mut values,
        (tenant, now, collate),
        filter,
        small_group.is_none(),
    );
    // Pages after a row go on in the list's order; pages before it are read backwards and
    // turned round.
    let order = filter.order;
    let backwards = matches!(cursor, Cursor::Before(_));
    if let Cursor::After(p) | Cursor::Before(p) = cursor {
        push_beyond(
            &mut sql,
            &mut values,
            order,
            p,
            order.descending != backwards,
        );
    }
    let scan_descending = order.descending != backwards;
    let col = order.by.column();
    let dir = if scan_descending { "DESC" } else { "ASC" };
    if order.by == SortBy::Username {
        sql.push_str(&format!(" ORDER BY u.username_key {dir} LIMIT ?"));
    } else {
        sql.push_str(&format!(
            " ORDER BY {col} {dir}, u.username_key {dir} LIMIT ?"
        ));
    }
    let descending = backwards;
    values.push((limit as i64).into());
    let mut rows = query_all(h, &sql, values)
        .await?
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if descending {
        rows.reverse();
    }
    Ok(rows)
}

fn summary_from_row(r: &sea_orm::QueryResult) -> Result<UserSummary, StoreError> {
    let id: String = r.try_get("", "id")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("user {id}: bad {what}"));
    let tenant_id: String = r.try_get("", "tenant_id")?;
    let status: String = r.try_get("", "status")?;
    let role: Option<String> = r.try_get("", "admin_role")?;
    let has_password: i32 = r.try_get("", "has_password")?;
    let locked: i32 = r.try_get("", "locked")?;
    let mfa: i32 = r.try_get("", "mfa")?;
    Ok(UserSummary {
        user: User {
            id: id.parse().map_err(|_| corrupt("id"))?,
            tenant_id: tenant_id.parse().map_err(|_| corrupt("tenant id"))?,
            username: r.try_get("", "username")?,
            email: r.try_get("", "email")?,
            display_name: r.try_get("", "display_name")?,
            status: UserStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            has_password: has_password == 1,
            must_change_password: r.try_get("", "must_change_password")?,
            admin_role: match role.as_deref() {
                None => None,
                Some(r) => Some(AdminRole::parse(r).ok_or_else(|| corrupt("admin role"))?),
            },
            created_at: r.try_get("", "created_at")?,
            updated_at: r.try_get("", "updated_at")?,
        },
        username_key: r.try_get("", "username_key")?,
        name_key: r.try_get("", "name_key")?,
        email_key: r.try_get("", "email_key")?,
        locked: locked == 1,
        mfa: mfa == 1,
        last_login_at: r.try_get("", "last_login_at")?,
    })
}

/// Gives or takes away a console role.
pub async fn set_admin_role(
    h: &impl Handle,
    tenant: TenantId,
    id: UserId,
    role: Option<AdminRole>,
    now: i64,
) -> Result<(), StoreError> {
    let n = exec(
        h,
        "UPDATE users SET admin_role = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
        vec![
            role.map(|r| r.as_str().to_owned()).into(),
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

/// How many active owners the tenant has.
pub async fn active_owners(h: &impl Handle, tenant: TenantId) -> Result<i64, StoreError> {
    let row = query_one(
        h,
        "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ? AND admin_role = 'owner' \
         AND status = 'active'",
        vec![tenant.to_string().into()],
    )
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(row.try_get("", "n")?)
}

/// Usernames of the given users of the tenant (those that still exist), by id.
pub async fn usernames(
    h: &impl Handle,
    tenant: TenantId,
    ids: &[UserId],
) -> Result<std::collections::HashMap<UserId, String>, StoreError> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(100) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut values: Vec<sea_orm::Value> = vec![tenant.to_string().into()];
        values.extend(chunk.iter().map(|id| sea_orm::Value::from(id.to_string())));
        let rows = query_all(
            h,
            &format!("SELECT id, username FROM users WHERE tenant_id = ? AND id IN ({marks})"),
            values,
        )
        .await?;
        for r in rows {
            let id: String = r.try_get("", "id")?;
            if let Ok(id) = id.parse() {
                out.insert(id, r.try_get("", "username")?);
            }
        }
    }
    Ok(out)
}

/// Tables holding a user's data, each with `tenant_id` and `user_id` columns, emptied of the
/// user before the user row goes.
const USER_TABLES: [&str; 11] = [
    "sessions",
    "password_history",
    "totp_credentials",
    "recovery_codes",
    "reset_tokens",
    "oidc_codes",
    "oidc_refresh_tokens",
    "oidc_consents",
    "group_members",
    "app_users",
    "user_attributes",
];

/// Erases a user: every row that belongs to them (sessions and the SAML sign-ins made in them,
/// credentials, MFA, tokens, consents, memberships, app assignments, attribute values) and the
/// user row. Audit entries, which name the user by opaque id only, stay. Returns whether the
/// user existed.
pub async fn erase(tx: &Tx, tenant: TenantId, id: UserId) -> Result<bool, StoreError> {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    let u = || -> sea_orm::Value { id.to_string().into() };
    exec(
        tx,
        "DELETE FROM saml_participants WHERE tenant_id = ? AND session_id IN \
         (SELECT id FROM sessions WHERE tenant_id = ? AND user_id = ?)",
        vec![t(), t(), u()],
    )
    .await?;
    for table in USER_TABLES {
        exec(
            tx,
            &format!("DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?"),
            vec![t(), u()],
        )
        .await?;
    }
    let n = exec(
        tx,
        "DELETE FROM users WHERE tenant_id = ? AND id = ?",
        vec![t(), u()],
    )
    .await?;
    Ok(n == 1)
}

/// A tenant's users at a glance: (all, active, locked now, active with a confirmed second
/// factor).
pub async fn counts(
    h: &impl Handle,
    tenant: TenantId,
    now: i64,
) -> Result<(i64, i64, i64, i64), StoreError> {
    let t = || -> sea_orm::Value { tenant.to_string().into() };
    let row = query_one(
        h,
        "SELECT COUNT(*) AS total, \
         COALESCE(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0) AS active, \
         COALESCE(SUM(CASE WHEN locked_until > ? THEN 1 ELSE 0 END), 0) AS locked \
         FROM users WHERE tenant_id = ?",
        vec![now.into(), t()],
    )
    .await?;
    let mfa = query_one(
        h,
        "SELECT COUNT(*) AS n FROM totp_credentials c JOIN users u \
         ON u.tenant_id = c.tenant_id AND u.id = c.user_id \
         WHERE c.tenant_id = ? AND c.confirmed_at IS NOT NULL AND u.status = 'active'",
        vec![t()],
    )
    .await?;
    let get = |r: &Option<sea_orm::QueryResult>, col: &str| -> Result<i64, StoreError> {
        Ok(match r {
            Some(r) => r.try_get("", col)?,
            None => 0,
        })
    };
    Ok((
        get(&row, "total")?,
        get(&row, "active")?,
        get(&row, "locked")?,
        get(&mfa, "n")?,
    ))
}

impl UserSummary {
    /// This row's place in `by`'s order.
    pub fn position(&self, by: SortBy) -> Position {
        let value = match by {
            SortBy::Username => &self.username_key,
            SortBy::Name => &self.name_key,
            SortBy::Email => &self.email_key,
        };
        Position {
            value: value.clone(),
            key: self.username_key.clone(),
        }
    }
}
