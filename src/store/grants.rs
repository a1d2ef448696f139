//! Authorization codes and refresh tokens, stored only as hashes and consumed with one
//! conditional `UPDATE … RETURNING` (never read-then-write), and revoked access-token ids.
//! Each code and refresh token carries the user's grant generation it was issued under, and is
//! honoured only while the user's is still that ([`revoke_for_user`] raises it). A refresh
//! token is also dead once its family is flagged revoked ([`revoke_family`]).

use sea_orm::QueryResult;

use super::{Handle, StoreError, exec, query_all, query_one};
use crate::ids::TenantId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRow {
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
    /// The user's grant generation when the code was issued (set by the store at insert).
    pub generation: i64,
}

/// The condition (on a row of `table`) that its grant generation is still its user's.
fn current(table: &str) -> String {
    format!(
        "{table}.grant_generation = (SELECT u.grant_generation FROM users u \
         WHERE u.tenant_id = {table}.tenant_id AND u.id = {table}.user_id)"
    )
}

/// The condition that a refresh token (a row of `oidc_refresh_tokens`) may be honoured: its
/// user's grants are those it was issued under, and its family is not revoked.
fn refresh_honoured() -> String {
    format!(
        "{} AND NOT EXISTS (SELECT 1 FROM oidc_revoked_families f \
         WHERE f.tenant_id = oidc_refresh_tokens.tenant_id \
         AND f.family_id = oidc_refresh_tokens.family_id)",
        current("oidc_refresh_tokens")
    )
}

pub async fn insert_code(
    h: &impl Handle,
    tenant: TenantId,
    code_hash: &str,
    c: &CodeRow,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO oidc_codes (code_hash, tenant_id, client_id, user_id, session_id, \
         redirect_uri, scope, nonce, code_challenge, auth_time, amr, created_at, expires_at, \
         grant_generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
         (SELECT grant_generation FROM users WHERE tenant_id = ? AND id = ?))",
        vec![
            code_hash.to_owned().into(),
            tenant.to_string().into(),
            c.client_id.clone().into(),
            c.user_id.clone().into(),
            c.session_id.clone().into(),
            c.redirect_uri.clone().into(),
            c.scope.clone().into(),
            c.nonce.clone().into(),
            c.code_challenge.clone().into(),
            c.auth_time.into(),
            c.amr.clone().into(),
            now.into(),
            c.expires_at.into(),
            tenant.to_string().into(),
            c.user_id.clone().into(),
        ],
    )
    .await?;
    Ok(())
}

fn code_from(r: &QueryResult) -> Result<CodeRow, StoreError> {
    Ok(CodeRow {
        client_id: r.try_get("", "client_id")?,
        user_id: r.try_get("", "user_id")?,
        session_id: r.try_get("", "session_id")?,
        redirect_uri: r.try_get("", "redirect_uri")?,
        scope: r.try_get("", "scope")?,
        nonce: r.try_get("", "nonce")?,
        code_challenge: r.try_get("", "code_challenge")?,
        auth_time: r.try_get("", "auth_time")?,
        amr: r.try_get("", "amr")?,
        expires_at: r.try_get("", "expires_at")?,
        generation: r.try_get("", "grant_generation")?,
    })
}

const CODE_COLUMNS: &str = "client_id, user_id, session_id, redirect_uri, scope, nonce, \
                            code_challenge, auth_time, amr, expires_at, grant_generation";

/// A code that can still be used (unused, unexpired, its user's grants those it was issued
/// under): its row, without using it up.
pub async fn peek_code(
    h: &impl Handle,
    tenant: TenantId,
    code_hash: &str,
    now: i64,
) -> Result<Option<CodeRow>, StoreError> {
    let sql = format!(
        "SELECT {CODE_COLUMNS} FROM oidc_codes WHERE code_hash = ? AND tenant_id = ? \
         AND used_at IS NULL AND expires_at > ? AND {}",
        current("oidc_codes")
    );
    query_one(
        h,
        &sql,
        vec![
            code_hash.to_owned().into(),
            tenant.to_string().into(),
            now.into(),
        ],
    )
    .await?
    .as_ref()
    .map(code_from)
    .transpose()
}

/// Uses a code up, recording in the same statement what it issues (the refresh family and the
/// access token's id), so that a replay, however soon, finds them to revoke. Only the first
/// use succeeds, before it expires and while its user's grants are those it was issued under.
pub async fn consume_code(
    h: &impl Handle,
    tenant: TenantId,
    code_hash: &str,
    (family_id, access_jti): (Option<&str>, Option<&str>),
    now: i64,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE oidc_codes SET used_at = ?, family_id = ?, access_jti = ? WHERE code_hash = ? \
         AND tenant_id = ? AND used_at IS NULL AND expires_at > ? AND {}",
        current("oidc_codes")
    );
    let n = exec(
        h,
        &sql,
        vec![
            now.into(),
            family_id.map(str::to_owned).into(),
            access_jti.map(str::to_owned).into(),
            code_hash.to_owned().into(),
            tenant.to_string().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// A code that was already used: what it issued (refresh family, access-token id).
pub async fn used_code(
    h: &impl Handle,
    tenant: TenantId,
    code_hash: &str,
) -> Result<Option<(Option<String>, Option<String>)>, StoreError> {
    let row = query_one(
        h,
        "SELECT family_id, access_jti FROM oidc_codes WHERE code_hash = ? AND tenant_id = ? \
         AND used_at IS NOT NULL",
        vec![code_hash.to_owned().into(), tenant.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("", "family_id")?, r.try_get("", "access_jti")?)),
        None => None,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRow {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
    /// The user's grant generation the family was issued under.
    pub generation: i64,
}

pub async fn insert_refresh(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
    r: &RefreshRow,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO oidc_refresh_tokens (token_hash, family_id, tenant_id, client_id, user_id, \
         scope, auth_time, amr, created_at, expires_at, grant_generation) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            token_hash.to_owned().into(),
            r.family_id.clone().into(),
            tenant.to_string().into(),
            r.client_id.clone().into(),
            r.user_id.clone().into(),
            r.scope.clone().into(),
            r.auth_time.into(),
            r.amr.clone().into(),
            now.into(),
            r.expires_at.into(),
            r.generation.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Uses a refresh token up (rotation): only the first use succeeds, for this client, while it
/// is unrevoked and unexpired and may be honoured ([`refresh_honoured`]).
pub async fn consume_refresh(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
    token_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE oidc_refresh_tokens SET used_at = ? WHERE token_hash = ? AND tenant_id = ? \
         AND client_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? \
         AND {}",
        refresh_honoured()
    );
    let n = exec(
        h,
        &sql,
        vec![
            now.into(),
            token_hash.to_owned().into(),
            tenant.to_string().into(),
            client_id.to_owned().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

const REFRESH_COLUMNS: &str =
    "family_id, client_id, user_id, scope, auth_time, amr, expires_at, grant_generation";

fn refresh_from(r: &QueryResult) -> Result<RefreshRow, StoreError> {
    Ok(RefreshRow {
        family_id: r.try_get("", "family_id")?,
        client_id: r.try_get("", "client_id")?,
        user_id: r.try_get("", "user_id")?,
        scope: r.try_get("", "scope")?,
        auth_time: r.try_get("", "auth_time")?,
        amr: r.try_get("", "amr")?,
        expires_at: r.try_get("", "expires_at")?,
        generation: r.try_get("", "grant_generation")?,
    })
}

/// The family of a refresh token that was already used (a reuse), if it was.
pub async fn used_refresh_family(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
) -> Result<Option<String>, StoreError> {
    let row = query_one(
        h,
        "SELECT family_id FROM oidc_refresh_tokens WHERE token_hash = ? AND tenant_id = ? \
         AND used_at IS NOT NULL",
        vec![token_hash.to_owned().into(), tenant.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("", "family_id")?),
        None => None,
    })
}

/// Revokes a family: flags it (so a token a concurrent rotation adds a moment later is dead
/// too, and so are the access tokens minted from it) and marks its rows. Returns how many
/// rows were still live.
pub async fn revoke_family(
    h: &impl Handle,
    tenant: TenantId,
    family_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    // Kept as long as any token of the family could live: its rows share one absolute expiry
    // (a day beyond now when none is stored yet).
    exec(
        h,
        "INSERT INTO oidc_revoked_families (tenant_id, family_id, expires_at) \
         SELECT ?, ?, COALESCE(MAX(expires_at), ?) FROM oidc_refresh_tokens \
         WHERE tenant_id = ? AND family_id = ? \
         ON CONFLICT (tenant_id, family_id) DO NOTHING",
        vec![
            tenant.to_string().into(),
            family_id.to_owned().into(),
            (now + 86_400_000).into(),
            tenant.to_string().into(),
            family_id.to_owned().into(),
        ],
    )
    .await?;
    exec(
        h,
        "UPDATE oidc_refresh_tokens SET revoked_at = ? WHERE family_id = ? AND tenant_id = ? \
         AND revoked_at IS NULL",
        vec![
            now.into(),
            family_id.to_owned().into(),
            tenant.to_string().into(),
        ],
    )
    .await
}

/// Whether a refresh family is flagged revoked.
pub async fn family_revoked(
    h: &impl Handle,
    tenant: TenantId,
    family_id: &str,
) -> Result<bool, StoreError> {
    Ok(query_one(
        h,
        "SELECT family_id FROM oidc_revoked_families WHERE tenant_id = ? AND family_id = ?",
        vec![tenant.to_string().into(), family_id.to_owned().into()],
    )
    .await?
    .is_some())
}

pub async fn revoke_jti(
    h: &impl Handle,
    tenant: TenantId,
    jti: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO oidc_revoked_jtis (jti, tenant_id, expires_at) VALUES (?, ?, ?) \
         ON CONFLICT (jti) DO NOTHING",
        vec![
            jti.to_owned().into(),
            tenant.to_string().into(),
            expires_at.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn jti_revoked(h: &impl Handle, tenant: TenantId, jti: &str) -> Result<bool, StoreError> {
    Ok(query_one(
        h,
        "SELECT jti FROM oidc_revoked_jtis WHERE jti = ? AND tenant_id = ?",
        vec![jti.to_owned().into(), tenant.to_string().into()],
    )
    .await?
    .is_some())
}

/// Housekeeping: codes, refresh tokens, revoked ids and revoked families past their lifetime.
pub async fn delete_expired(h: &impl Handle, before: i64) -> Result<u64, StoreError> {
    let mut n = 0;
    for sql in [
        "DELETE FROM oidc_codes WHERE expires_at < ?",
        "DELETE FROM oidc_refresh_tokens WHERE expires_at < ?",
        "DELETE FROM oidc_revoked_jtis WHERE expires_at < ?",
        "DELETE FROM oidc_revoked_families WHERE expires_at < ?",
    ] {
        n += exec(h, sql, vec![before.into()]).await?;
    }
    Ok(n)
}

/// The family, client and expiry of a refresh token (any state), for revocation.
pub async fn refresh_owner(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
) -> Result<Option<(String, String, i64)>, StoreError> {
    let row = query_one(
        h,
        "SELECT family_id, client_id, expires_at FROM oidc_refresh_tokens \
         WHERE token_hash = ? AND tenant_id = ?",
        vec![token_hash.to_owned().into(), tenant.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some((
            r.try_get("", "family_id")?,
            r.try_get("", "client_id")?,
            r.try_get("", "expires_at")?,
        )),
        None => None,
    })
}

/// A refresh token that is live (unused, unrevoked, unexpired): its row, for introspection.
pub async fn live_refresh(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
    now: i64,
) -> Result<Option<RefreshRow>, StoreError> {
    let sql = format!(
        "SELECT {REFRESH_COLUMNS} FROM oidc_refresh_tokens WHERE token_hash = ? \
         AND tenant_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? \
         AND {}",
        refresh_honoured()
    );
    let row = query_one(
        h,
        &sql,
        vec![
            token_hash.to_owned().into(),
            tenant.to_string().into(),
            now.into(),
        ],
    )
    .await?;
    row.as_ref().map(refresh_from).transpose()
}

/// Revokes every live refresh token a client holds, for one user or (with `None`) for all.
pub async fn revoke_for_client(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
    user: Option<crate::ids::UserId>,
    now: i64,
) -> Result<u64, StoreError> {
    let mut sql = "UPDATE oidc_refresh_tokens SET revoked_at = ? WHERE tenant_id = ? \
                   AND client_id = ? AND revoked_at IS NULL"
        .to_owned();
    let mut values: Vec<sea_orm::Value> = vec![
        now.into(),
        tenant.to_string().into(),
        client_id.to_owned().into(),
    ];
    if let Some(u) = user {
        sql.push_str(" AND user_id = ?");
        values.push(u.to_string().into());
    }
    exec(h, &sql, values).await
}

/// Makes a user's unredeemed codes for a client unusable (consent withdrawn).
pub async fn expire_codes(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
    user: crate::ids::UserId,
    now: i64,
) -> Result<u64, StoreError> {
    exec(
        h,
        "UPDATE oidc_codes SET expires_at = ? WHERE tenant_id = ? AND client_id = ? \
         AND user_id = ? AND used_at IS NULL AND expires_at > ?",
        vec![
            now.into(),
            tenant.to_string().into(),
            client_id.to_owned().into(),
            user.to_string().into(),
            now.into(),
        ],
    )
    .await
}

/// A user's live refresh tokens (what applications can still act with), newest first.
pub async fn live_for_user(
    h: &impl Handle,
    tenant: TenantId,
    user: crate::ids::UserId,
    now: i64,
) -> Result<Vec<RefreshRow>, StoreError> {
    let sql = format!(
        "SELECT {REFRESH_COLUMNS} FROM oidc_refresh_tokens WHERE tenant_id = ? AND user_id = ? \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? AND {} \
         ORDER BY expires_at DESC",
        refresh_honoured()
    );
    query_all(
        h,
        &sql,
        vec![
            tenant.to_string().into(),
            user.to_string().into(),
            now.into(),
        ],
    )
    .await?
    .iter()
    .map(refresh_from)
    .collect()
}

/// The user's grant generation: what their codes, refresh tokens and access tokens must carry
/// to be honoured. `None` when there is no such user.
pub async fn generation(
    h: &impl Handle,
    tenant: TenantId,
    user: crate::ids::UserId,
) -> Result<Option<i64>, StoreError> {
    let row = query_one(
        h,
        "SELECT grant_generation FROM users WHERE tenant_id = ? AND id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    row.map(|r| r.try_get("", "grant_generation"))
        .transpose()
        .map_err(Into::into)
}

/// Ends every grant applications hold for the user, in the caller's transaction: raises their
/// generation (so no code, refresh token or access token issued before is honoured again, even
/// one being issued at this instant) and marks their live refresh tokens revoked and their
/// codes expired (so the account page and the log say so). Returns how many refresh tokens
/// were live.
pub async fn revoke_for_user(
    h: &impl Handle,
    tenant: TenantId,
    user: crate::ids::UserId,
    now: i64,
) -> Result<u64, StoreError> {
    let (t, u) = (tenant.to_string(), user.to_string());
    exec(
        h,
        "UPDATE users SET grant_generation = grant_generation + 1 WHERE tenant_id = ? AND id = ?",
        vec![t.clone().into(), u.clone().into()],
    )
    .await?;
    exec(
        h,
        "UPDATE oidc_codes SET expires_at = ? WHERE tenant_id = ? AND user_id = ? \
         AND used_at IS NULL AND expires_at > ?",
        vec![now.into(), t.clone().into(), u.clone().into(), now.into()],
    )
    .await?;
    exec(
        h,
        "UPDATE oidc_refresh_tokens SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? \
         AND revoked_at IS NULL AND used_at IS NULL AND expires_at > ?",
        vec![now.into(), t.into(), u.into(), now.into()],
    )
    .await
}
