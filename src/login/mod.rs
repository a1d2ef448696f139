//! Proving who a user is: passwords and policy, lockout, TOTP and recovery codes, sessions, and
//! the login flow that ties them together. The OIDC and SAML issues send users through here.
//!
//! May use: `store`, `crypto`, `keys`, `audit`, `directory`, `mail`. Never touches HTTP.

pub mod admin;
pub mod flow;
pub mod password;
pub mod policy;
pub mod session;
pub mod totp;

/// Housekeeping: deletes sessions past the longest timeouts any policy allows, reset tokens
/// expired a day ago and throttle windows older than a day. Safe to run on every node.
pub async fn sweep(store: &crate::store::Store, now: i64) -> Result<u64, crate::store::StoreError> {
    use crate::store::{credentials, sessions, throttle};
    let idle = i64::from(policy::MAX_IDLE_MINUTES) * 60_000;
    let absolute = i64::from(policy::MAX_ABSOLUTE_HOURS) * 3_600_000;
    let day = 86_400_000;
    let mut n = sessions::delete_expired(store, now - idle, now - absolute).await?;
    n += credentials::delete_expired_reset_tokens(store, now - day).await?;
    n += throttle::delete_stale(store, now - day).await?;
    n += crate::store::grants::delete_expired(store, now - day).await?;
    n += crate::store::saml_requests::delete_expired(store, now - day).await?;
    n += crate::store::saml_requests::delete_stale_participants(store, now - absolute).await?;
    Ok(n)
}
