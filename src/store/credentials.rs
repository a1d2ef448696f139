//! What a user proves themselves with, and the counters that guard it: lockout state, password
//! history, TOTP credentials, recovery codes and reset tokens. Single-use things are consumed
//! with one conditional statement and an affected-row check, never read-then-write.

use super::{Handle, StoreError, exec, exec_unique, query_all, query_one};
use crate::ids::{TenantId, UserId};

/// Lockout state of one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockState {
    pub failed_logins: i32,
    pub locked_until: Option<i64>,
    pub last_login_at: Option<i64>,
}

/// Takes one attempt from the account's allowance before the password or code is checked, so
/// parallel attempts cannot exceed `max_failures`. The counter restarts when a lock has expired
/// or the last failure is older than `fresh_after`. Returns the attempt's number, or `None` when
/// the account is locked or its allowance is taken by attempts in flight.
pub async fn reserve_attempt(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    max_failures: i32,
    now: i64,
    fresh_after: i64,
) -> Result<Option<i32>, StoreError> {
    // `restart` is true when the old count no longer matters: an expired lock, or no lock and a
    // last failure older than the observation window.
    let restart = "((locked_until IS NOT NULL AND locked_until <= ?) OR \
                   (locked_until IS NULL AND (last_failed_at IS NULL OR last_failed_at <= ?)))";
    let sql = format!(
        "UPDATE users SET \
           failed_logins = CASE WHEN {restart} THEN 1 ELSE failed_logins + 1 END, \
           locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= ? THEN NULL \
                               ELSE locked_until END, \
           last_failed_at = ? \
         WHERE tenant_id = ? AND id = ? AND ({restart} OR \
               (locked_until IS NULL AND failed_logins < ?)) \
         RETURNING failed_logins"
    );
    let row = query_one(
        h,
        &sql,
        vec![
            now.into(),
            fresh_after.into(),
            now.into(),
            now.into(),
            tenant.to_string().into(),
            user.to_string().into(),
            now.into(),
            fresh_after.into(),
            max_failures.into(),
        ],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("", "failed_logins")?),
        None => None,
    })
}

/// After a failed attempt: locks the account until `until` if its count reached the limit.
/// Returns whether this call locked it.
pub async fn lock_if_reached(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    max_failures: i32,
    until: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE users SET locked_until = ? WHERE tenant_id = ? AND id = ? \
         AND failed_logins >= ? AND locked_until IS NULL",
        vec![
            until.into(),
            tenant.to_string().into(),
            user.to_string().into(),
            max_failures.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// After a successful attempt: the counter starts again.
pub async fn clear_failures(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<(), StoreError> {
    exec(
        h,
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_failed_at = NULL \
         WHERE tenant_id = ? AND id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(())
}

/// A completed sign-in: the counter starts again and the time is kept.
pub async fn record_login(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_failed_at = NULL, \
         last_login_at = ? WHERE tenant_id = ? AND id = ?",
        vec![
            now.into(),
            tenant.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn lock_state(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<LockState>, StoreError> {
    let row = query_one(
        h,
        "SELECT failed_logins, locked_until, last_login_at FROM users \
         WHERE tenant_id = ? AND id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(LockState {
            failed_logins: r.try_get("", "failed_logins")?,
            locked_until: r.try_get("", "locked_until")?,
            last_login_at: r.try_get("", "last_login_at")?,
        }),
        None => None,
    })
}

/// An operator's unlock: returns whether the account was locked (or had failures).
pub async fn unlock(h: &impl Handle, tenant: TenantId, user: UserId) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_failed_at = NULL \
         WHERE tenant_id = ? AND id = ? AND (locked_until IS NOT NULL OR failed_logins > 0)",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(n == 1)
}

// ---- passwords ----

/// What the password step needs beyond the user record, in one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRecord {
    pub password_hash: Option<String>,
    pub password_changed_at: Option<i64>,
    pub has_totp: bool,
}

pub async fn login_record(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<LoginRecord>, StoreError> {
    let row = query_one(
        h,
        "SELECT u.password_hash, u.password_changed_at, \
         CASE WHEN t.confirmed_at IS NULL THEN 0 ELSE 1 END AS has_totp \
         FROM users u LEFT JOIN totp_credentials t \
         ON t.user_id = u.id AND t.tenant_id = u.tenant_id \
         WHERE u.tenant_id = ? AND u.id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(LoginRecord {
            password_hash: r.try_get("", "password_hash")?,
            password_changed_at: r.try_get("", "password_changed_at")?,
            has_totp: r.try_get::<i32>("", "has_totp")? == 1,
        }),
        None => None,
    })
}

pub async fn password_hash(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<String>, StoreError> {
    let row = query_one(
        h,
        "SELECT password_hash FROM users WHERE tenant_id = ? AND id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => r.try_get("", "password_hash")?,
        None => None,
    })
}

/// Replaces the password: the old hash goes into the history (trimmed to `keep` entries).
pub async fn set_password(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    new_hash: &str,
    must_change: bool,
    keep_history: usize,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(old) = password_hash(h, tenant, user).await? {
        exec(
            h,
            "INSERT INTO password_history (id, tenant_id, user_id, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?)",
            vec![
                uuid::Uuid::now_v7().to_string().into(),
                tenant.to_string().into(),
                user.to_string().into(),
                old.into(),
                now.into(),
            ],
        )
        .await?;
    }
    let n = exec(
        h,
        "UPDATE users SET password_hash = ?, must_change_password = ?, password_changed_at = ?, \
         updated_at = ? WHERE tenant_id = ? AND id = ?",
        vec![
            new_hash.to_owned().into(),
            must_change.into(),
            now.into(),
            now.into(),
            tenant.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    if n != 1 {
        return Err(StoreError::NotFound);
    }
    // Keep the newest `keep_history` old hashes (at least one row is never needed beyond that).
    let old = query_all(
        h,
        "SELECT id FROM password_history WHERE tenant_id = ? AND user_id = ? \
         ORDER BY created_at DESC, id DESC",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    for row in old.iter().skip(keep_history) {
        let id: String = row.try_get("", "id")?;
        exec(
            h,
            "DELETE FROM password_history WHERE id = ?",
            vec![id.into()],
        )
        .await?;
    }
    Ok(())
}

/// The newest `n` previous password hashes.
pub async fn password_history(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    n: usize,
) -> Result<Vec<String>, StoreError> {
    query_all(
        h,
        "SELECT password_hash FROM password_history WHERE tenant_id = ? AND user_id = ? \
         ORDER BY created_at DESC, id DESC",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?
    .iter()
    .take(n)
    .map(|r| Ok(r.try_get("", "password_hash")?))
    .collect()
}

// ---- TOTP ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRow {
    pub sealed_seed: Vec<u8>,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

pub async fn totp(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<TotpRow>, StoreError> {
    let row = query_one(
        h,
        "SELECT sealed_seed, confirmed_at, last_step FROM totp_credentials \
         WHERE tenant_id = ? AND user_id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(TotpRow {
            sealed_seed: r.try_get("", "sealed_seed")?,
            confirmed_at: r.try_get("", "confirmed_at")?,
            last_step: r.try_get("", "last_step")?,
        }),
        None => None,
    })
}

/// Stores a new, unconfirmed seed, replacing an unconfirmed one. Refused (`Conflict`) when a
/// confirmed credential exists: that one must be removed first.
pub async fn put_pending_totp(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    sealed_seed: Vec<u8>,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "DELETE FROM totp_credentials WHERE tenant_id = ? AND user_id = ? \
         AND confirmed_at IS NULL",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    exec_unique(
        h,
        "INSERT INTO totp_credentials (user_id, tenant_id, sealed_seed, confirmed_at, last_step, \
         created_at) VALUES (?, ?, ?, NULL, 0, ?)",
        vec![
            user.to_string().into(),
            tenant.to_string().into(),
            sealed_seed.into(),
            now.into(),
        ],
        "totp_credentials.user_id",
    )
    .await?;
    Ok(())
}

/// Confirms the pending seed with the step of the code that proved it.
pub async fn confirm_totp(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    step: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE totp_credentials SET confirmed_at = ?, last_step = ? \
         WHERE tenant_id = ? AND user_id = ? AND confirmed_at IS NULL",
        vec![
            now.into(),
            step.into(),
            tenant.to_string().into(),
            user.to_string().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Accepts a time step once: true only if `step` is later than every step accepted before.
pub async fn accept_totp_step(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    step: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE totp_credentials SET last_step = ? WHERE tenant_id = ? AND user_id = ? \
         AND confirmed_at IS NOT NULL AND last_step < ?",
        vec![
            step.into(),
            tenant.to_string().into(),
            user.to_string().into(),
            step.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Removes the TOTP credential and the recovery codes with it.
/// Removes the authenticator and the recovery codes; true when there was an authenticator.
pub async fn delete_totp(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<bool, StoreError> {
    let mut had = false;
    for sql in [
        "DELETE FROM totp_credentials WHERE tenant_id = ? AND user_id = ?",
        "DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?",
    ] {
        let n = exec(
            h,
            sql,
            vec![tenant.to_string().into(), user.to_string().into()],
        )
        .await?;
        had = had || n > 0;
    }
    Ok(had)
}

// ---- recovery codes ----

pub async fn replace_recovery_codes(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    hashes: &[String],
    now: i64,
) -> Result<(), StoreError> {
    exec(
        h,
        "DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    for hash in hashes {
        exec(
            h,
            "INSERT INTO recovery_codes (user_id, code_hash, tenant_id, created_at, used_at) \
             VALUES (?, ?, ?, ?, NULL)",
            vec![
                user.to_string().into(),
                hash.clone().into(),
                tenant.to_string().into(),
                now.into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Uses up a recovery code: true only the first time.
pub async fn consume_recovery_code(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        h,
        "UPDATE recovery_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? \
         AND code_hash = ? AND used_at IS NULL",
        vec![
            now.into(),
            tenant.to_string().into(),
            user.to_string().into(),
            hash.to_owned().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

pub async fn recovery_codes_left(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<i64, StoreError> {
    let row = query_one(
        h,
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE tenant_id = ? AND user_id = ? \
         AND used_at IS NULL",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await?;
    Ok(match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    })
}

// ---- reset tokens ----

/// Stores a new reset token; earlier unused tokens of the user stop working.
pub async fn insert_reset_token(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    drop_reset_tokens(h, tenant, user).await?;
    exec(
        h,
        "INSERT INTO reset_tokens (token_hash, tenant_id, user_id, created_at, expires_at, used_at) \
         VALUES (?, ?, ?, ?, ?, NULL)",
        vec![
            token_hash.to_owned().into(),
            tenant.to_string().into(),
            user.to_string().into(),
            now.into(),
            expires_at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Makes the user's unused reset links worthless (their password was just set another way).
pub async fn drop_reset_tokens(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM reset_tokens WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL",
        vec![tenant.to_string().into(), user.to_string().into()],
    )
    .await
}

/// When the user's newest live (unused, unexpired) reset token was made, if any.
pub async fn latest_reset_token_at(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let row = query_one(
        h,
        "SELECT MAX(created_at) AS at FROM reset_tokens WHERE tenant_id = ? AND user_id = ? \
         AND used_at IS NULL AND expires_at > ?",
        vec![
            tenant.to_string().into(),
            user.to_string().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(match row {
        Some(r) => r.try_get("", "at")?,
        None => None,
    })
}

/// The user a live (unused, unexpired) token belongs to, without using it.
pub async fn peek_reset_token(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
    now: i64,
) -> Result<Option<UserId>, StoreError> {
    let row = query_one(
        h,
        "SELECT user_id FROM reset_tokens WHERE token_hash = ? AND tenant_id = ? \
         AND used_at IS NULL AND expires_at > ?",
        vec![
            token_hash.to_owned().into(),
            tenant.to_string().into(),
            now.into(),
        ],
    )
    .await?;
    user_of(row)
}

/// Uses a token up: the user it belonged to, only the first time and before it expires.
pub async fn consume_reset_token(
    h: &impl Handle,
    tenant: TenantId,
    token_hash: &str,
    now: i64,
) -> Result<Option<UserId>, StoreError> {
    let row = query_one(
        h,
        "UPDATE reset_tokens SET used_at = ? WHERE token_hash = ? AND tenant_id = ? \
         AND used_at IS NULL AND expires_at > ? RETURNING user_id",
        vec![
            now.into(),
            token_hash.to_owned().into(),
            tenant.to_string().into(),
            now.into(),
        ],
    )
    .await?;
    user_of(row)
}

fn user_of(row: Option<sea_orm::QueryResult>) -> Result<Option<UserId>, StoreError> {
    match row {
        Some(r) => {
            let id: String = r.try_get("", "user_id")?;
            Ok(Some(id.parse().map_err(|_| {
                StoreError::Corrupt(format!("reset token: bad user id {id}"))
            })?))
        }
        None => Ok(None),
    }
}

/// Housekeeping: drops tokens that expired before `before`.
pub async fn delete_expired_reset_tokens(h: &impl Handle, before: i64) -> Result<u64, StoreError> {
    exec(
        h,
        "DELETE FROM reset_tokens WHERE expires_at < ?",
        vec![before.into()],
    )
    .await
}
