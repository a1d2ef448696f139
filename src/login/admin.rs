//! Administrative actions on login state, from the CLI or the console: unlock an account,
//! change its status, reset its password to a one-time one, remove its second factor, end its
//! sessions, and set the tenant's login policy. Each is one transaction with its audit entry,
//! which names who acted (`By`).

use serde_json::json;

use crate::audit::{self, By};
use crate::directory::{Tenant, User, UserStatus};
use crate::keys::KeyError;
use crate::login::password::{self, Password};
use crate::login::policy::{self, Policy, PolicyError};
use crate::services::Services;
use crate::store::{StoreError, credentials, grants, policies, sessions, users};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Where, by whom and when an action happens.
struct At<'a> {
    tenant: &'a Tenant,
    by: By<'a>,
    now: i64,
}

async fn record(
    svc: &Services,
    tx: &crate::store::Tx,
    at: At<'_>,
    subject: Option<&User>,
    operation: &'static str,
    detail: Option<serde_json::Value>,
) -> Result<(), AdminError> {
    let At { tenant, by, now } = at;
    let key = svc.keyring.chain_key(tx, tenant.id).await?;
    let subject = subject.map(|u| format!("user:{}", u.id));
    let event = by.event(operation, subject, detail);
    audit::record(tx, &key, tenant.id, event, now).await?;
    Ok(())
}

/// Clears the failure counter and any lock. Returns whether there was anything to clear; only
/// then is it recorded (an unlock that changes nothing is not an event).
pub async fn unlock(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    by: By<'_>,
    now: i64,
) -> Result<bool, AdminError> {
    let tx = svc.store.begin().await?;
    let changed = credentials::unlock(&tx, tenant.id, user.id).await?;
    if !changed {
        return Ok(false);
    }
    record(
        svc,
        &tx,
        At { tenant, by, now },
        Some(user),
        "user.unlock",
        Some(json!({ "was_locked": true })),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Sets the status; anything but `active` ends the user's sessions and every grant an
/// application holds for them at once.
pub async fn set_status(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    status: UserStatus,
    by: By<'_>,
    now: i64,
) -> Result<u64, AdminError> {
    let tx = svc.store.begin().await?;
    users::set_status(&tx, tenant.id, user.id, status, now).await?;
    let (ended, revoked) = if status == UserStatus::Active {
        (0, 0)
    } else {
        (
            sessions::delete_all_for_user(&tx, tenant.id, user.id, None).await?,
            grants::revoke_for_user(&tx, tenant.id, user.id, now).await?,
        )
    };
    record(
        svc,
        &tx,
        At { tenant, by, now },
        Some(user),
        "user.status",
        Some(json!({
            "status": status.as_str(),
            "sessions_ended": ended,
            "refresh_tokens_revoked": revoked,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Gives the user a generated one-time password that must be changed at the next sign-in,
/// ends their sessions and every grant an application holds for them, and clears any lock.
pub async fn reset_password(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    by: By<'_>,
    now: i64,
) -> Result<Password, AdminError> {
    let policy = policy::load(&svc.store, tenant.id).await?;
    let one_time = Password::generate();
    let hash = password::hash_blocking(one_time.clone()).await;
    let tx = svc.store.begin().await?;
    credentials::set_password(
        &tx,
        tenant.id,
        user.id,
        &hash,
        true,
        policy.password.history as usize,
        now,
    )
    .await?;
    credentials::unlock(&tx, tenant.id, user.id).await?;
    let ended = sessions::delete_all_for_user(&tx, tenant.id, user.id, None).await?;
    let revoked = grants::revoke_for_user(&tx, tenant.id, user.id, now).await?;
    credentials::drop_reset_tokens(&tx, tenant.id, user.id).await?;
    record(
        svc,
        &tx,
        At { tenant, by, now },
        Some(user),
        "password.admin_reset",
        Some(json!({ "sessions_ended": ended, "refresh_tokens_revoked": revoked })),
    )
    .await?;
    tx.commit().await?;
    Ok(one_time)
}

/// Removes the user's authenticator and recovery codes (a lost phone): they enrol again at
/// their next sign-in when the tenant requires MFA. Every grant an application holds for them
/// ends. Returns whether there was one.
pub async fn reset_mfa(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    by: By<'_>,
    now: i64,
) -> Result<bool, AdminError> {
    let tx = svc.store.begin().await?;
    let had = credentials::delete_totp(&tx, tenant.id, user.id).await?;
    // A lost phone may be a stolen one: what applications hold for the person ends too.
    let revoked = grants::revoke_for_user(&tx, tenant.id, user.id, now).await?;
    record(
        svc,
        &tx,
        At { tenant, by, now },
        Some(user),
        "mfa.admin_reset",
        Some(json!({ "had_authenticator": had, "refresh_tokens_revoked": revoked })),
    )
    .await?;
    tx.commit().await?;
    Ok(had)
}

/// Signs the user out everywhere: their sessions here and every grant an application holds
/// for them. Returns how many sessions ended.
pub async fn end_sessions(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    by: By<'_>,
    now: i64,
) -> Result<u64, AdminError> {
    let tx = svc.store.begin().await?;
    let ended = sessions::delete_all_for_user(&tx, tenant.id, user.id, None).await?;
    let revoked = grants::revoke_for_user(&tx, tenant.id, user.id, now).await?;
    record(
        svc,
        &tx,
        At { tenant, by, now },
        Some(user),
        "session.admin_end",
        Some(json!({ "sessions_ended": ended, "refresh_tokens_revoked": revoked })),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Applies `path=value` settings to the tenant's policy; all or nothing.
pub async fn set_policy(
    svc: &Services,
    tenant: &Tenant,
    settings: &[(String, String)],
    by: By<'_>,
    now: i64,
) -> Result<Policy, AdminError> {
    let mut policy = policy::load(&svc.store, tenant.id).await?;
    for (path, value) in settings {
        policy = policy.with_setting(path, value)?;
    }
    let tx = svc.store.begin().await?;
    policies::put(&tx, tenant.id, &policy.to_json(), now).await?;
    record(
        svc,
        &tx,
        At { tenant, by, now },
        None,
        "tenant.policy.update",
        Some(json!({ "changed": settings.iter().map(|(k, _)| k).collect::<Vec<_>>() })),
    )
    .await?;
    crate::store::epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(policy)
}
