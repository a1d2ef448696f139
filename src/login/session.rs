//! Server-side sessions. A session moves through stages (second factor, forced password change,
//! forced MFA enrolment) to `Active`; every stage change issues a new token and deletes the old
//! row, so a token seen before login is worthless after it (no fixation). Lookups are scoped to
//! the tenant and re-check the tenant's idle and absolute limits on every request.

use sha2::{Digest, Sha256};

use crate::audit::Origin;
use crate::crypto::random_token;
use crate::ids::{TenantId, UserId};
use crate::login::policy::Policy;
use crate::login::totp::hex;
use crate::store::sessions::{self, SessionRow};
use crate::store::{Handle, StoreError};

/// How long a half-finished login (waiting for a code, a new password or enrolment) lives.
pub const PENDING_MS: i64 = 10 * 60_000;
/// `last_seen_at` is written at most this often.
const TOUCH_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; a TOTP or recovery code is due.
    Mfa,
    /// The password must be changed before anything else.
    ChangePassword,
    /// The tenant requires MFA and the user has none yet.
    EnrolMfa,
    Active,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Mfa => "mfa",
            Stage::ChangePassword => "change_password",
            Stage::EnrolMfa => "enrol_mfa",
            Stage::Active => "active",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "mfa" => Stage::Mfa,
            "change_password" => Stage::ChangePassword,
            "enrol_mfa" => Stage::EnrolMfa,
            "active" => Stage::Active,
            _ => return None,
        })
    }

    /// Where the browser goes to finish this stage.
    pub fn path(self) -> &'static str {
        match self {
            Stage::Mfa => "/login/mfa",
            Stage::ChangePassword => "/login/password",
            Stage::EnrolMfa => "/login/enrol",
            Stage::Active => "/account",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Public id (shown in the session list); not the token.
    pub id: String,
    pub tenant: TenantId,
    pub user: UserId,
    pub stage: Stage,
    /// RFC 8176 methods, space-separated: `pwd`, `pwd otp`.
    pub amr: String,
    pub return_to: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub auth_time: i64,
    pub last_seen_at: i64,
}

/// The cookie value of a new session: shown to the browser once, stored only hashed.
pub struct Token(pub String);

pub fn token_hash(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"latchkey/v1/session/");
    h.update(token.as_bytes());
    hex(&h.finalize())
}

fn from_row(row: SessionRow) -> Result<Session, StoreError> {
    Ok(Session {
        stage: Stage::parse(&row.stage)
            .ok_or_else(|| StoreError::Corrupt(format!("session {}: bad stage", row.id)))?,
        id: row.id,
        tenant: row.tenant_id,
        user: row.user_id,
        amr: row.amr,
        return_to: row.return_to,
        source_ip: row.source_ip,
        user_agent: row.user_agent,
        created_at: row.created_at,
        auth_time: row.auth_time,
        last_seen_at: row.last_seen_at,
    })
}

fn to_row(s: &Session) -> SessionRow {
    SessionRow {
        id: s.id.clone(),
        tenant_id: s.tenant,
        user_id: s.user,
        stage: s.stage.as_str().to_owned(),
        amr: s.amr.clone(),
        return_to: s.return_to.clone(),
        source_ip: s.source_ip.clone(),
        user_agent: s.user_agent.clone(),
        created_at: s.created_at,
        auth_time: s.auth_time,
        last_seen_at: s.last_seen_at,
    }
}

pub struct NewSession<'a> {
    pub tenant: TenantId,
    pub user: UserId,
    pub stage: Stage,
    pub amr: &'a str,
    pub return_to: Option<String>,
    pub origin: &'a Origin,
}

pub async fn create(
    h: &impl Handle,
    new: NewSession<'_>,
    now: i64,
) -> Result<(Session, Token), StoreError> {
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: new.tenant,
        user: new.user,
        stage: new.stage,
        amr: new.amr.to_owned(),
        return_to: new.return_to,
        source_ip: new.origin.source_ip.clone(),
        user_agent: new.origin.user_agent.clone(),
        created_at: now,
        auth_time: now,
        last_seen_at: now,
    };
    let token = random_token();
    sessions::insert(h, &token_hash(&token), &to_row(&session)).await?;
    Ok((session, Token(token)))
}

/// Moves a session to `stage` under a new id and token; the old token stops working.
pub async fn advance(
    h: &impl Handle,
    old: &Session,
    stage: Stage,
    amr: &str,
    now: i64,
) -> Result<(Session, Token), StoreError> {
    sessions::delete(h, old.tenant, &old.id).await?;
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        stage,
        amr: amr.to_owned(),
        // A pending session's clock starts when the login completes.
        created_at: if old.stage == Stage::Active {
            old.created_at
        } else {
            now
        },
        auth_time: now,
        last_seen_at: now,
        ..old.clone()
    };
    let token = random_token();
    sessions::insert(h, &token_hash(&token), &to_row(&session)).await?;
    Ok((session, Token(token)))
}

/// Why a token does not give a session (for logging; the browser just starts over).
#[derive(Debug, PartialEq, Eq)]
// Returned once per request and unpacked at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Lookup {
    /// The session and its user (whatever the user's status now).
    Found(Session, crate::directory::User),
    Unknown,
    Expired,
}

/// The live session for a token on this tenant, with its user, in one read. Expired sessions are deleted when seen.
pub async fn lookup(
    h: &impl Handle,
    tenant: TenantId,
    token: &str,
    policy: &Policy,
    now: i64,
) -> Result<Lookup, StoreError> {
    if token.is_empty() || token.len() > 64 {
        return Ok(Lookup::Unknown);
    }
    let Some((row, user)) =
        sessions::find_by_token_with_user(h, tenant, &token_hash(token)).await?
    else {
        return Ok(Lookup::Unknown);
    };
    let session = from_row(row)?;
    let expired = if session.stage == Stage::Active {
        now >= session.created_at + policy.absolute_ms()
            || now >= session.last_seen_at + policy.idle_ms()
    } else {
        now >= session.created_at + PENDING_MS
    };
    if expired {
        sessions::delete(h, tenant, &session.id).await?;
        return Ok(Lookup::Expired);
    }
    // Seen recently enough: no statement at all (the SQL repeats the check for races).
    if now >= session.last_seen_at + TOUCH_MS {
        sessions::touch(h, tenant, &session.id, now, TOUCH_MS).await?;
    }
    Ok(Lookup::Found(session, user))
}

pub async fn end(h: &impl Handle, session: &Session) -> Result<(), StoreError> {
    sessions::delete(h, session.tenant, &session.id).await?;
    Ok(())
}

pub async fn list(
    h: &impl Handle,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<Session>, StoreError> {
    sessions::list_for_user(h, tenant, user)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}
