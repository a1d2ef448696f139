//! AuthnRequests received, per tenant and SP: the replay cache, and the pending request a
//! browser comes back to (by the hash of a random handle) after signing in.

use sea_orm::Value;

use super::{Handle, StoreError, exec, exec_unique, query_all, query_one};
use crate::ids::TenantId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub sp_entity_id: String,
    pub request_id: String,
    pub handle_hash: String,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub received_at: i64,
    pub expires_at: i64,
}

const INSERT: &str = "INSERT INTO saml_requests (tenant_id, sp_entity_id, request_id, \
     handle_hash, acs_url, relay_state, force_authn, is_passive, received_at, expires_at, \
     answered_at) VALUES ";
const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

fn row_values(tenant: TenantId, r: &RequestRow, answered_at: Option<i64>) -> [Value; 11] {
    [
        tenant.to_string().into(),
        r.sp_entity_id.clone().into(),
        r.request_id.clone().into(),
        r.handle_hash.clone().into(),
        r.acs_url.clone().into(),
        r.relay_state.clone().into(),
        r.force_authn.into(),
        r.is_passive.into(),
        r.received_at.into(),
        r.expires_at.into(),
        answered_at.into(),
    ]
}

/// Remembers a request (already answered at `answered_at` when it is answered at once);
/// `Conflict` when this SP already sent this ID (a replay).
pub async fn insert(
    h: &impl Handle,
    tenant: TenantId,
    r: &RequestRow,
    answered_at: Option<i64>,
) -> Result<(), StoreError> {
    let values = row_values(tenant, r, answered_at).into();
    exec_unique(
        h,
        &format!("{INSERT}{ROW}"),
        values,
        "saml_requests.request_id",
    )
    .await?;
    Ok(())
}

/// Stores requests answered at `now`, skipping any whose ID its SP already sent (replays,
/// or twice in `rows`): returns the (tenant, SP, ID) of those stored. One statement.
pub async fn insert_answered(
    h: &impl Handle,
    rows: &[(TenantId, &RequestRow)],
    now: i64,
) -> Result<std::collections::HashSet<(String, String, String)>, StoreError> {
    if rows.is_empty() {
        return Ok(Default::default());
    }
    let mut sql = String::from(INSERT);
    let mut values = Vec::with_capacity(rows.len() * 11);
    for (i, (tenant, r)) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "" } else { ", " });
        sql.push_str(ROW);
        values.extend(row_values(*tenant, r, Some(now)));
    }
    sql.push_str(" ON CONFLICT DO NOTHING RETURNING tenant_id, sp_entity_id, request_id");
    query_all(h, &sql, values)
        .await?
        .into_iter()
        .map(|r| {
            Ok((
                r.try_get("", "tenant_id")?,
                r.try_get("", "sp_entity_id")?,
                r.try_get("", "request_id")?,
            ))
        })
        .collect()
}

/// The unanswered, unexpired request behind a handle.
pub async fn pending(
    h: &impl Handle,
    tenant: TenantId,
    handle_hash: &str,
    now: i64,
) -> Result<Option<RequestRow>, StoreError> {
    let Some(r) = query_one(
        h,
        "SELECT sp_entity_id, request_id, handle_hash, acs_url, relay_state, force_authn, \
         is_passive, received_at, expires_at FROM saml_requests WHERE tenant_id = ? \
         AND handle_hash = ? AND answered_at IS NULL AND expires_at > ?",
        vec![
            tenant.to_string().into(),
            handle_hash.to_owned().into(),
            now.into(),
        ],
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(RequestRow {
        sp_entity_id: r.try_get("", "sp_entity_id")?,
        request_id: r.try_get("", "request_id")?,
        handle_hash: r.try_get("", "handle_hash")?,
        acs_url: r.try_get("", "acs_url")?,
        relay_state: r.try_get("", "relay_state")?,
        force_authn: r.try_get("", "force_authn")?,
        is_passive: r.try_get("", "is_passive")?,
        received_at: r.try_get("", "received_at")?,
        expires_at: r.try_get("", "expires_at")?,
    }))
}

/// Marks a request answered (once: true only for the first caller).
pub async fn answer(
    h: &impl Handle,
    tenant: TenantId,
    handle_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE saml_requests SET answered_at = ? WHERE tenant_id = ? AND handle_hash = ? \
         AND answered_at IS NULL AND expires_at > ?",
        vec![
            now.into(),
            tenant.to_string().into(),
            handle_hash.to_owned().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Forgets requests expired before `before` (their IDs can no longer be replayed: the request
/// itself is refused as stale by then).
pub async fn delete_expired(h: &impl Handle, before: i64) -> Result<u64, StoreError> {
    let n = exec(
        h,
        "DELETE FROM saml_requests WHERE expires_at < ?",
        vec![before.into()],
    )
    .await?;
    let m = exec(
        h,
        "DELETE FROM saml_logouts WHERE expires_at < ?",
        vec![before.into()],
    )
    .await?;
    Ok(n + m)
}

/// Remembers that sessions signed in to SPs under NameIDs (for single logout), in one
/// statement; each (tenant, session, SP) at most once in `rows`.
pub async fn add_participants(
    h: &impl Handle,
    rows: &[(TenantId, &str, &str, &str)],
    now: i64,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO saml_participants (tenant_id, session_id, sp_entity_id, name_id, created_at) \
         VALUES ",
    );
    let mut values = Vec::with_capacity(rows.len() * 5);
    for (i, (tenant, session_id, sp, name_id)) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "" } else { ", " });
        sql.push_str("(?, ?, ?, ?, ?)");
        values.extend([
            tenant.to_string().into(),
            (*session_id).to_owned().into(),
            (*sp).to_owned().into(),
            (*name_id).to_owned().into(),
            now.into(),
        ]);
    }
    sql.push_str(
        " ON CONFLICT (tenant_id, session_id, sp_entity_id) DO UPDATE SET \
         name_id = excluded.name_id, created_at = excluded.created_at \
         WHERE saml_participants.name_id <> excluded.name_id",
    );
    exec(h, &sql, values).await?;
    Ok(())
}

/// The NameID a session was given at an SP, if it signed in there.
pub async fn participant_name_id(
    h: &impl Handle,
    tenant: TenantId,
    session_id: &str,
    sp_entity_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        match query_one(
            h,
            "SELECT name_id FROM saml_participants WHERE tenant_id = ? AND session_id = ? \
         AND sp_entity_id = ?",
            vec![
                tenant.to_string().into(),
                session_id.to_owned().into(),
                sp_entity_id.to_owned().into(),
            ],
        )
        .await?
        {
            Some(r) => Some(r.try_get("", "name_id")?),
            None => None,
        },
    )
}

/// Forgets a session's SPs (it ended).
pub async fn delete_participants(
    h: &impl Handle,
    tenant: TenantId,
    session_id: &str,
) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM saml_participants WHERE tenant_id = ? AND session_id = ?",
        vec![tenant.to_string().into(), session_id.to_owned().into()],
    )
    .await
}

/// Forgets participations older than any session can live.
pub async fn delete_stale_participants(h: &impl Handle, before: i64) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM saml_participants WHERE created_at < ?",
        vec![before.into()],
    )
    .await
}

/// The SPs (entity id, NameID) a session signed in to.
pub async fn participants(
    h: &impl Handle,
    tenant: TenantId,
    session_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    super::query_all(
        h,
        "SELECT sp_entity_id, name_id FROM saml_participants WHERE tenant_id = ? \
         AND session_id = ? ORDER BY created_at, sp_entity_id",
        vec![tenant.to_string().into(), session_id.to_owned().into()],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("", "sp_entity_id")?, r.try_get("", "name_id")?)))
    .collect()
}

/// Stores (or replaces) the rest of an IdP-initiated logout walk.
pub async fn put_logout(
    h: &impl Handle,
    tenant: TenantId,
    handle_hash: &str,
    remaining_json: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "INSERT INTO saml_logouts (handle_hash, tenant_id, remaining, expires_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT (handle_hash) DO UPDATE SET remaining = excluded.remaining",
        vec![
            handle_hash.to_owned().into(),
            tenant.to_string().into(),
            remaining_json.to_owned().into(),
            expires_at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Takes the rest of a logout walk (deleting it: each step stores what is left again).
pub async fn take_logout(
    h: &impl Handle,
    tenant: TenantId,
    handle_hash: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    logout_walk(
        h,
        "DELETE FROM saml_logouts WHERE tenant_id = ? AND handle_hash = ? AND expires_at > ? \
         RETURNING remaining",
        tenant,
        handle_hash,
        now,
    )
    .await
}

/// The rest of a logout walk, left in place.
pub async fn peek_logout(
    h: &impl Handle,
    tenant: TenantId,
    handle_hash: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    logout_walk(
        h,
        "SELECT remaining FROM saml_logouts WHERE tenant_id = ? AND handle_hash = ? \
         AND expires_at > ?",
        tenant,
        handle_hash,
        now,
    )
    .await
}

async fn logout_walk(
    h: &impl Handle,
    sql: &str,
    tenant: TenantId,
    handle_hash: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let row = query_one(
        h,
        sql,
        vec![
            tenant.to_string().into(),
            handle_hash.to_owned().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("", "remaining")?),
        None => None,
    })
}
