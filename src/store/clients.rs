//! OpenID Connect clients, always looked up within their tenant. List fields are JSON arrays.

use sea_orm::QueryResult;

use super::{Handle, StoreError, exec, exec_unique, query_all, query_one};
use crate::ids::TenantId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRow {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub name: String,
    pub kind: String,
    pub secret_hash: Option<String>,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    /// Claims from custom attributes: a JSON array of rules.
    pub claim_rules: String,
    pub access_token_seconds: i32,
    pub refresh_token_seconds: i32,
    pub require_consent: bool,
    pub require_pkce: bool,
    pub id_token_alg: String,
    pub assigned_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, tenant_id, client_id, name, kind, secret_hash, previous_secret_hash, \
                       previous_secret_until, redirect_uris, post_logout_redirect_uris, \
                       grant_types, scopes, claim_rules, access_token_seconds, \
                       refresh_token_seconds, require_consent, require_pkce, id_token_alg, \
                       assigned_only, created_at, updated_at";

fn from_row(r: &QueryResult) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        client_id: r.try_get("", "client_id")?,
        name: r.try_get("", "name")?,
        kind: r.try_get("", "kind")?,
        secret_hash: r.try_get("", "secret_hash")?,
        previous_secret_hash: r.try_get("", "previous_secret_hash")?,
        previous_secret_until: r.try_get("", "previous_secret_until")?,
        redirect_uris: r.try_get("", "redirect_uris")?,
        post_logout_redirect_uris: r.try_get("", "post_logout_redirect_uris")?,
        grant_types: r.try_get("", "grant_types")?,
        scopes: r.try_get("", "scopes")?,
        claim_rules: r.try_get("", "claim_rules")?,
        access_token_seconds: r.try_get("", "access_token_seconds")?,
        refresh_token_seconds: r.try_get("", "refresh_token_seconds")?,
        require_consent: r.try_get("", "require_consent")?,
        require_pkce: r.try_get("", "require_pkce")?,
        id_token_alg: r.try_get("", "id_token_alg")?,
        assigned_only: r.try_get("", "assigned_only")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

pub async fn insert(h: &impl Handle, c: &ClientRow) -> Result<(), StoreError> {
    exec_unique(
        h,
        &format!(
            "INSERT INTO oidc_clients ({COLUMNS}) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            c.id.clone().into(),
            c.tenant_id.clone().into(),
            c.client_id.clone().into(),
            c.name.clone().into(),
            c.kind.clone().into(),
            c.secret_hash.clone().into(),
            c.previous_secret_hash.clone().into(),
            c.previous_secret_until.into(),
            c.redirect_uris.clone().into(),
            c.post_logout_redirect_uris.clone().into(),
            c.grant_types.clone().into(),
            c.scopes.clone().into(),
            c.claim_rules.clone().into(),
            c.access_token_seconds.into(),
            c.refresh_token_seconds.into(),
            c.require_consent.into(),
            c.require_pkce.into(),
            c.id_token_alg.clone().into(),
            c.assigned_only.into(),
            c.created_at.into(),
            c.updated_at.into(),
        ],
        "oidc_clients.client_id",
    )
    .await?;
    Ok(())
}

pub async fn find(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
) -> Result<Option<ClientRow>, StoreError> {
    query_one(
        h,
        &format!("SELECT {COLUMNS} FROM oidc_clients WHERE tenant_id = ? AND client_id = ?"),
        vec![tenant.to_string().into(), client_id.to_owned().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn list(h: &impl Handle, tenant: TenantId) -> Result<Vec<ClientRow>, StoreError> {
    query_all(
        h,
        &format!(
            "SELECT {COLUMNS} FROM oidc_clients WHERE tenant_id = ? ORDER BY name, client_id \
             LIMIT 1000"
        ),
        vec![tenant.to_string().into()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Replaces a client's settings (everything but its id, kind, secrets and access flag).
pub async fn update(h: &impl Handle, c: &ClientRow) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE oidc_clients SET name = ?, redirect_uris = ?, post_logout_redirect_uris = ?, \
         grant_types = ?, scopes = ?, claim_rules = ?, access_token_seconds = ?, \
         refresh_token_seconds = ?, require_consent = ?, require_pkce = ?, id_token_alg = ?, \
         updated_at = ? \
         WHERE tenant_id = ? AND client_id = ?",
        vec![
            c.name.clone().into(),
            c.redirect_uris.clone().into(),
            c.post_logout_redirect_uris.clone().into(),
            c.grant_types.clone().into(),
            c.scopes.clone().into(),
            c.claim_rules.clone().into(),
            c.access_token_seconds.into(),
            c.refresh_token_seconds.into(),
            c.require_consent.into(),
            c.require_pkce.into(),
            c.id_token_alg.clone().into(),
            c.updated_at.into(),
            c.tenant_id.clone().into(),
            c.client_id.clone().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Replaces the secret; the old one keeps working until `previous_until`.
pub async fn rotate_secret(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
    new_hash: &str,
    previous_until: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE oidc_clients SET previous_secret_hash = secret_hash, \
         previous_secret_until = ?, secret_hash = ?, updated_at = ? \
         WHERE tenant_id = ? AND client_id = ? AND kind = 'confidential'",
        vec![
            previous_until.into(),
            new_hash.to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            client_id.to_owned().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn delete(
    h: &impl Handle,
    tenant: TenantId,
    client_id: &str,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "DELETE FROM oidc_clients WHERE tenant_id = ? AND client_id = ?",
        vec![tenant.to_string().into(), client_id.to_owned().into()],
    )
    .await?;
    Ok(n == 1)
}
