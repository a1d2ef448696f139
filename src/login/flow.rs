//! The login state machine and the account-security operations behind the pages: password
//! step, second factor, forced password change, MFA enrolment and removal, password change,
//! reset by e-mail. Handlers call one function here per request; every decision, counter update
//! and audit entry happens here, with `now` passed in.

use std::net::IpAddr;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, Actor, By, Event, Origin, Outcome};
use crate::crypto::{CryptoError, Purpose, SealContext, random_token};
use crate::directory::{DirectoryError, Email, Tenant, User, UserStatus, username_key};
use crate::ids::{TenantId, UserId};
use crate::keys::KeyError;
use crate::login::password::{self, Password, PolicyViolation};
use crate::login::policy::{MfaPolicy, Policy};
use crate::login::session::{self, NewSession, Session, Stage, Token};
use crate::login::totp::{self, Seed, hex};
use crate::mail::Mail;
use crate::services::Services;
use crate::store::{StoreError, credentials, sessions, throttle, users};

/// Least time between two reset mails to one account.
pub const RESET_MAIL_INTERVAL_MS: i64 = 60_000;

/// Longest login name accepted (an e-mail address is at most 254).
pub const MAX_LOGIN_LEN: usize = 320;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("directory: {0}")]
    Directory(String),
}

/// Everything a step needs to know about where it runs.
pub struct Ctx<'a> {
    pub svc: &'a Services,
    pub tenant: &'a Tenant,
    pub policy: &'a Policy,
    pub origin: &'a Origin,
    pub client_ip: Option<IpAddr>,
    pub now: i64,
}

impl Ctx<'_> {
    fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }

    /// One argon2 password check, counted for `/metrics`. With no hash it checks against a
    /// stand-in hash and fails, so a refusal costs the same work as a real check.
    async fn check_password(&self, password: Password, hash: Option<String>) -> bool {
        self.svc
            .password_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        password::verify_blocking(password, hash).await
    }

    /// Writes one audit entry in its own transaction.
    async fn audit(
        &self,
        actor: Actor,
        subject: Option<UserId>,
        operation: &'static str,
        outcome: Outcome,
        detail: Option<serde_json::Value>,
    ) -> Result<(), LoginError> {
        let tx = self.svc.store.begin().await?;
        self.audit_in(&tx, actor, subject, operation, outcome, detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_in(
        &self,
        tx: &crate::store::Tx,
        actor: Actor,
        subject: Option<UserId>,
        operation: &'static str,
        outcome: Outcome,
        detail: Option<serde_json::Value>,
    ) -> Result<(), LoginError> {
        // The overview's sign-in counts: each password attempt, and each failed code.
        let counted = match (operation, outcome) {
            ("login.password", o) => Some(o == Outcome::Success),
            ("login.mfa", o) if o != Outcome::Success => Some(false),
            _ => None,
        };
        if let Some(succeeded) = counted {
            crate::store::sign_ins::count(tx, self.tenant_id(), self.now, succeeded).await?;
        }
        let key = self.svc.keyring.chain_key_of(self.tenant)?;
        audit::record(
            tx,
            &key,
            self.tenant_id(),
            Event {
                actor,
                subject: subject.map(|u| format!("user:{u}")),
                operation,
                outcome,
                origin: self.origin,
                detail,
            },
            self.now,
        )
        .await?;
        Ok(())
    }

    fn ip_window_start(&self) -> i64 {
        self.now - i64::from(self.policy.lockout.ip_window_minutes) * 60_000
    }
}

/// The throttle key of a client: the IPv4 address, or the IPv6 /64 (one subscriber's network).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Whether the tenant's IP rules let this client sign in. Deny wins; an empty allow list allows
/// all. An unknown client address is allowed only when there are no rules.
pub fn ip_allowed(policy: &Policy, ip: Option<IpAddr>) -> bool {
    let rules = &policy.ip;
    if rules.allow.is_empty() && rules.deny.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if rules.deny.iter().any(|n| n.contains(&ip)) {
        return false;
    }
    rules.allow.is_empty() || rules.allow.iter().any(|n| n.contains(&ip))
}

/// The result of a step that can fail. `Failed` is deliberately uninformative.
pub enum Step {
    Next(Box<Session>, Token),
    Failed,
    /// Too many failures from this network; try later.
    Throttled,
}

/// Whether this client's network is over the failure limit.
pub async fn throttled(ctx: &Ctx<'_>) -> Result<bool, LoginError> {
    let Some(ip) = ctx.client_ip else {
        return Ok(false);
    };
    let n = throttle::failures(
        &ctx.svc.store,
        ctx.tenant_id(),
        &ip_key(ip),
        ctx.ip_window_start(),
    )
    .await?;
    Ok(n >= i64::from(ctx.policy.lockout.ip_max_failures))
}

async fn count_ip_failure(ctx: &Ctx<'_>) -> Result<(), LoginError> {
    if let Some(ip) = ctx.client_ip {
        throttle::record_failure(
            &ctx.svc.store,
            ctx.tenant_id(),
            &ip_key(ip),
            ctx.now,
            ctx.ip_window_start(),
        )
        .await?;
    }
    Ok(())
}

async fn find_by_login(ctx: &Ctx<'_>, login: &str) -> Result<Option<User>, LoginError> {
    let login = login.trim();
    if login.is_empty() || login.chars().count() > MAX_LOGIN_LEN {
        return Ok(None);
    }
    Ok(if login.contains('@') {
        match Email::parse(login) {
            Ok(e) => users::find_by_email_key(&ctx.svc.store, ctx.tenant_id(), &e.key).await?,
            Err(_) => None,
        }
    } else {
        users::find_by_username_key(&ctx.svc.store, ctx.tenant_id(), &username_key(login)).await?
    })
}

/// Who resets the failure counter after a success.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// `guarded` does, at once.
    Now,
    /// The caller does, in its own transaction (`credentials::record_login`).
    Caller,
}

/// One guarded attempt at a secret the user knows or has: takes an attempt from the lockout
/// allowance first, checks, then settles the counter. Returns whether it succeeded.
async fn guarded<F, Fut>(
    ctx: &Ctx<'_>,
    user: &User,
    operation: &'static str,
    settle: Settle,
    check: F,
) -> Result<bool, LoginError>
where
    F: FnOnce(bool) -> Fut,
    Fut: std::future::Future<Output = Result<bool, LoginError>>,
{
    let max = i32::try_from(ctx.policy.lockout.max_failures).unwrap_or(5);
    let reserved = credentials::reserve_attempt(
        &ctx.svc.store,
        ctx.tenant_id(),
        user.id,
        max,
        ctx.now,
        ctx.now - ctx.policy.lock_ms(),
    )
    .await?;
    // A locked account still does the same work, so timing does not tell.
    let ok = check(reserved.is_some()).await? && reserved.is_some();
    if ok {
        if settle == Settle::Now {
            credentials::clear_failures(&ctx.svc.store, ctx.tenant_id(), user.id).await?;
        }
        return Ok(true);
    }
    count_ip_failure(ctx).await?;
    let reason = if reserved.is_some() {
        "wrong_secret"
    } else {
        "locked"
    };
    ctx.audit(
        Actor::User(user.id),
        Some(user.id),
        operation,
        Outcome::Failure,
        Some(json!({ "reason": reason })),
    )
    .await?;
    if reserved.is_some() {
        let until = if ctx.policy.lockout.permanent {
            i64::MAX
        } else {
            ctx.now + ctx.policy.lock_ms()
        };
        if credentials::lock_if_reached(&ctx.svc.store, ctx.tenant_id(), user.id, max, until)
            .await?
        {
            ctx.audit(
                Actor::System,
                Some(user.id),
                "login.lockout",
                Outcome::Success,
                Some(json!({
                    "failures": max,
                    "until": if ctx.policy.lockout.permanent { None } else { Some(until) },
                })),
            )
            .await?;
        }
    }
    Ok(false)
}

/// Whether the user has a confirmed authenticator.
pub async fn confirmed_totp(ctx: &Ctx<'_>, user: UserId) -> Result<bool, LoginError> {
    Ok(credentials::totp(&ctx.svc.store, ctx.tenant_id(), user)
        .await?
        .is_some_and(|t| t.confirmed_at.is_some()))
}

fn password_expired(ctx: &Ctx<'_>, changed_at: Option<i64>) -> bool {
    let days = ctx.policy.password.max_age_days;
    days > 0 && changed_at.is_some_and(|at| ctx.now >= at + i64::from(days) * 86_400_000)
}

/// What a user must still do, given what is done already. Order: second factor, forced
/// password change, forced enrolment.
fn stage_for(
    ctx: &Ctx<'_>,
    user: &User,
    record: &credentials::LoginRecord,
    mfa_done: bool,
    password_done: bool,
) -> Stage {
    if ctx.policy.mfa != MfaPolicy::Off && record.has_totp && !mfa_done {
        Stage::Mfa
    } else if !password_done
        && (user.must_change_password || password_expired(ctx, record.password_changed_at))
    {
        Stage::ChangePassword
    } else if ctx.policy.mfa == MfaPolicy::Required && !record.has_totp {
        Stage::EnrolMfa
    } else {
        Stage::Active
    }
}

/// [`stage_for`] from fresh data (after a step changed it).
async fn next_stage(
    ctx: &Ctx<'_>,
    user: UserId,
    mfa_done: bool,
    password_done: bool,
) -> Result<Stage, LoginError> {
    let fresh = users::find(&ctx.svc.store, ctx.tenant_id(), user).await?;
    let record = credentials::login_record(&ctx.svc.store, ctx.tenant_id(), user).await?;
    let (Some(fresh), Some(record)) = (fresh, record) else {
        return Err(StoreError::NotFound.into());
    };
    Ok(stage_for(ctx, &fresh, &record, mfa_done, password_done))
}

/// The password step. `previous` is the session the browser came with, if any: it is ended
/// (a new login always starts a new session).
pub async fn password_step(
    ctx: &Ctx<'_>,
    login: &str,
    password: Password,
    return_to: Option<String>,
    previous: Option<&Session>,
) -> Result<Step, LoginError> {
    if throttled(ctx).await? {
        let _ = ctx.check_password(password, None).await;
        return Ok(Step::Throttled);
    }
    let user = find_by_login(ctx, login).await?;
    let usable = user.as_ref().filter(|u| u.status == UserStatus::Active);
    let Some(user) = usable else {
        let _ = ctx.check_password(password, None).await;
        count_ip_failure(ctx).await?;
        let (subject, reason) = match &user {
            None => (None, "unknown_user".to_owned()),
            Some(u) => (Some(u.id), u.status.as_str().to_owned()),
        };
        ctx.audit(
            subject.map_or(Actor::System, Actor::User),
            subject,
            "login.password",
            Outcome::Failure,
            Some(json!({ "reason": reason })),
        )
        .await?;
        return Ok(Step::Failed);
    };
    let Some(record) = credentials::login_record(&ctx.svc.store, ctx.tenant_id(), user.id).await?
    else {
        return Ok(Step::Failed);
    };
    let hash = record.password_hash.clone();
    let ok = guarded(
        ctx,
        user,
        "login.password",
        Settle::Caller,
        |reserved| async move {
            let hash = if reserved { hash } else { None };
            Ok(ctx.check_password(password, hash).await)
        },
    )
    .await?;
    if !ok {
        return Ok(Step::Failed);
    }
    let stage = stage_for(ctx, user, &record, false, false);
    let tx = ctx.svc.store.begin().await?;
    if let Some(prev) = previous {
        session::end(&tx, prev).await?;
    }
    let (s, token) = session::create(
        &tx,
        NewSession {
            tenant: ctx.tenant_id(),
            user: user.id,
            stage,
            amr: "pwd",
            return_to,
            origin: ctx.origin,
        },
        ctx.now,
    )
    .await?;
    credentials::record_login(&tx, ctx.tenant_id(), user.id, ctx.now).await?;
    ctx.audit_in(
        &tx,
        Actor::User(user.id),
        Some(user.id),
        "login.password",
        Outcome::Success,
        Some(json!({ "next": stage.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(Step::Next(Box::new(s), token))
}

fn seal_context(tenant: TenantId, record: &str) -> SealContext<'_> {
    SealContext {
        tenant,
        purpose: Purpose::TotpSeed,
        record,
    }
}

async fn open_seed(ctx: &Ctx<'_>, user: UserId, sealed: &[u8]) -> Result<Seed, LoginError> {
    let dek = ctx.svc.keyring.data_key_of(ctx.tenant)?;
    let record = user.to_string();
    Ok(Seed::from_bytes(
        dek.open(seal_context(ctx.tenant_id(), &record), sealed)?,
    ))
}

/// Checks a TOTP code (accepting its time step once) or a recovery code (using it up).
/// Returns the method that matched.
async fn check_second_factor(
    ctx: &Ctx<'_>,
    user: UserId,
    code: &str,
) -> Result<Option<&'static str>, LoginError> {
    let code = code.trim();
    if code.len() > 64 {
        return Ok(None);
    }
    let Some(row) = credentials::totp(&ctx.svc.store, ctx.tenant_id(), user).await? else {
        return Ok(None);
    };
    if row.confirmed_at.is_none() {
        return Ok(None);
    }
    let digits = code.chars().filter(char::is_ascii_digit).count();
    if digits == totp::DIGITS as usize && code.len() <= 8 {
        let seed = open_seed(ctx, user, &row.sealed_seed).await?;
        let Some(step) = totp::verify(&seed, code, ctx.now.div_euclid(1000)) else {
            return Ok(None);
        };
        let fresh =
            credentials::accept_totp_step(&ctx.svc.store, ctx.tenant_id(), user, step).await?;
        return Ok(fresh.then_some("totp"));
    }
    let Some(hash) = totp::recovery_code_hash(user, code) else {
        return Ok(None);
    };
    let used =
        credentials::consume_recovery_code(&ctx.svc.store, ctx.tenant_id(), user, &hash, ctx.now)
            .await?;
    Ok(used.then_some("recovery_code"))
}

/// The second-factor step of a login.
pub async fn mfa_step(ctx: &Ctx<'_>, s: &Session, code: &str) -> Result<Step, LoginError> {
    if throttled(ctx).await? {
        return Ok(Step::Throttled);
    }
    let Some(user) = users::find(&ctx.svc.store, ctx.tenant_id(), s.user).await? else {
        return Ok(Step::Failed);
    };
    let mut method = None;
    let ok = guarded(ctx, &user, "login.mfa", Settle::Now, |reserved| {
        let method = &mut method;
        async move {
            if !reserved {
                return Ok(false);
            }
            *method = check_second_factor(ctx, user.id, code).await?;
            Ok(method.is_some())
        }
    })
    .await?;
    if !ok || user.status != UserStatus::Active {
        return Ok(Step::Failed);
    }
    let stage = next_stage(ctx, user.id, true, false).await?;
    let amr = if method == Some("totp") {
        "pwd otp mfa"
    } else {
        "pwd mfa"
    };
    let tx = ctx.svc.store.begin().await?;
    let (next, token) = session::advance(&tx, s, stage, amr, ctx.now).await?;
    let left = if method == Some("recovery_code") {
        Some(credentials::recovery_codes_left(&tx, ctx.tenant_id(), user.id).await?)
    } else {
        None
    };
    ctx.audit_in(
        &tx,
        Actor::User(user.id),
        Some(user.id),
        "login.mfa",
        Outcome::Success,
        Some(json!({ "method": method, "recovery_codes_left": left, "next": stage.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(Step::Next(Box::new(next), token))
}

/// Result of setting a new password.
pub enum NewPassword {
    Done(Session, Token),
    Rejected(Vec<PolicyViolation>),
    /// The current password given was wrong (or the account is locked).
    WrongCurrent,
}

/// Checks a new password against the policy and history. CPU-heavy (history is argon2).
async fn vet_new_password(
    ctx: &Ctx<'_>,
    user: &User,
    new: &Password,
) -> Result<Vec<PolicyViolation>, LoginError> {
    let mut problems =
        password::check_policy(new, &ctx.policy.password, &user.username, &user.email);
    if problems.is_empty() && ctx.policy.password.history > 0 {
        let n = ctx.policy.password.history as usize;
        let mut hashes =
            credentials::password_history(&ctx.svc.store, ctx.tenant_id(), user.id, n).await?;
        if let Some(current) =
            credentials::password_hash(&ctx.svc.store, ctx.tenant_id(), user.id).await?
        {
            hashes.insert(0, current);
        }
        hashes.truncate(n);
        if password::reused_blocking(new.clone(), hashes).await {
            problems.push(PolicyViolation::Reused);
        }
    }
    Ok(problems)
}

/// Writes the new password in `tx`, ends the user's other sessions and every grant an
/// application holds for them.
async fn store_new_password(
    ctx: &Ctx<'_>,
    tx: &crate::store::Tx,
    user: &User,
    new: Password,
    keep_session: Option<&str>,
    operation: &'static str,
) -> Result<u64, LoginError> {
    let hash = password::hash_blocking(new).await;
    credentials::set_password(
        tx,
        ctx.tenant_id(),
        user.id,
        &hash,
        false,
        ctx.policy.password.history as usize,
        ctx.now,
    )
    .await?;
    let ended = sessions::delete_all_for_user(tx, ctx.tenant_id(), user.id, keep_session).await?;
    // Whoever knew the old password may hold an application's tokens or a reset link sent
    // before: they end too.
    let revoked =
        crate::store::grants::revoke_for_user(tx, ctx.tenant_id(), user.id, ctx.now).await?;
    credentials::drop_reset_tokens(tx, ctx.tenant_id(), user.id).await?;
    ctx.audit_in(
        tx,
        Actor::User(user.id),
        Some(user.id),
        operation,
        Outcome::Success,
        Some(json!({ "sessions_ended": ended, "refresh_tokens_revoked": revoked })),
    )
    .await?;
    Ok(ended)
}

/// The forced change at login (initial, admin-set or expired password). The current password
/// was proven moments ago by the password step.
pub async fn forced_change(
    ctx: &Ctx<'_>,
    s: &Session,
    new: Password,
) -> Result<NewPassword, LoginError> {
    let Some(user) = users::find(&ctx.svc.store, ctx.tenant_id(), s.user).await? else {
        return Err(StoreError::NotFound.into());
    };
    let problems = vet_new_password(ctx, &user, &new).await?;
    if !problems.is_empty() {
        return Ok(NewPassword::Rejected(problems));
    }
    let tx = ctx.svc.store.begin().await?;
    store_new_password(ctx, &tx, &user, new, Some(&s.id), "password.change").await?;
    tx.commit().await?;
    // This stage comes after the second factor, so that one is done (or not needed).
    let stage = next_stage(ctx, user.id, true, true).await?;
    let (next, token) = session::advance(&ctx.svc.store, s, stage, &s.amr, ctx.now).await?;
    Ok(NewPassword::Done(next, token))
}

/// A logged-in user's change: needs the current password (a failure counts toward lockout) and
/// ends every other session of the user; the current one gets a new token.
pub async fn change_password(
    ctx: &Ctx<'_>,
    s: &Session,
    current: Password,
    new: Password,
) -> Result<NewPassword, LoginError> {
    let Some(user) = users::find(&ctx.svc.store, ctx.tenant_id(), s.user).await? else {
        return Err(StoreError::NotFound.into());
    };
    if !reauthenticate(ctx, &user, current).await? {
        return Ok(NewPassword::WrongCurrent);
    }
    let problems = vet_new_password(ctx, &user, &new).await?;
    if !problems.is_empty() {
        return Ok(NewPassword::Rejected(problems));
    }
    let tx = ctx.svc.store.begin().await?;
    store_new_password(ctx, &tx, &user, new, Some(&s.id), "password.change").await?;
    let (next, token) = session::advance(&tx, s, Stage::Active, &s.amr, ctx.now).await?;
    tx.commit().await?;
    Ok(NewPassword::Done(next, token))
}

/// Re-authentication for sensitive changes: the password, guarded by the lockout counter.
pub async fn reauthenticate(
    ctx: &Ctx<'_>,
    user: &User,
    password: Password,
) -> Result<bool, LoginError> {
    let hash = credentials::password_hash(&ctx.svc.store, ctx.tenant_id(), user.id).await?;
    guarded(
        ctx,
        user,
        "login.reauthenticate",
        Settle::Now,
        |reserved| async move {
            let hash = if reserved { hash } else { None };
            Ok(ctx.check_password(password, hash).await)
        },
    )
    .await
}

/// The result of [`step_up`].
pub enum StepUp {
    Verified,
    Failed,
    Throttled,
}

/// Proof of presence for the admin console: the password and a second-factor code, each
/// guarded by the lockout counter (a TOTP step is accepted once, a recovery code used up).
pub async fn step_up(
    ctx: &Ctx<'_>,
    user: &User,
    password: Password,
    code: &str,
) -> Result<StepUp, LoginError> {
    if throttled(ctx).await? {
        return Ok(StepUp::Throttled);
    }
    if !reauthenticate(ctx, user, password).await? {
        return Ok(StepUp::Failed);
    }
    let ok = guarded(
        ctx,
        user,
        "login.step_up",
        Settle::Now,
        |reserved| async move {
            Ok(reserved && check_second_factor(ctx, user.id, code).await?.is_some())
        },
    )
    .await?;
    if !ok {
        return Ok(StepUp::Failed);
    }
    ctx.audit(
        Actor::User(user.id),
        Some(user.id),
        "login.step_up",
        Outcome::Success,
        None,
    )
    .await?;
    Ok(StepUp::Verified)
}

// ---- MFA enrolment ----

pub enum Enrolment {
    /// A seed is waiting for its first code.
    Pending(Seed),
    /// The user already has a confirmed authenticator.
    Confirmed,
    None,
}

pub async fn enrolment(ctx: &Ctx<'_>, user: UserId) -> Result<Enrolment, LoginError> {
    Ok(
        match credentials::totp(&ctx.svc.store, ctx.tenant_id(), user).await? {
            None => Enrolment::None,
            Some(row) if row.confirmed_at.is_some() => Enrolment::Confirmed,
            Some(row) => Enrolment::Pending(open_seed(ctx, user, &row.sealed_seed).await?),
        },
    )
}

/// Starts (or restarts) enrolment with a new seed, sealed under the tenant data key.
pub async fn begin_enrolment(ctx: &Ctx<'_>, user: UserId) -> Result<Option<Seed>, LoginError> {
    if confirmed_totp(ctx, user).await? {
        return Ok(None);
    }
    let seed = Seed::generate();
    let dek = ctx.svc.keyring.data_key_of(ctx.tenant)?;
    let record = user.to_string();
    let sealed = dek.seal(seal_context(ctx.tenant_id(), &record), seed.as_bytes());
    credentials::put_pending_totp(&ctx.svc.store, ctx.tenant_id(), user, sealed, ctx.now).await?;
    Ok(Some(seed))
}

async fn new_recovery_codes(
    ctx: &Ctx<'_>,
    tx: &crate::store::Tx,
    user: UserId,
) -> Result<Vec<String>, LoginError> {
    let codes = totp::generate_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| totp::recovery_code_hash(user, c))
        .collect();
    credentials::replace_recovery_codes(tx, ctx.tenant_id(), user, &hashes, ctx.now).await?;
    Ok(codes)
}

/// Confirms the pending seed with a valid code. Returns the recovery codes (shown once), or
/// `None` when the code is wrong or nothing is pending.
pub async fn confirm_enrolment(
    ctx: &Ctx<'_>,
    user: UserId,
    code: &str,
) -> Result<Option<Vec<String>>, LoginError> {
    let Enrolment::Pending(seed) = enrolment(ctx, user).await? else {
        return Ok(None);
    };
    let Some(step) = totp::verify(&seed, code, ctx.now.div_euclid(1000)) else {
        return Ok(None);
    };
    let tx = ctx.svc.store.begin().await?;
    if !credentials::confirm_totp(&tx, ctx.tenant_id(), user, step, ctx.now).await? {
        return Ok(None);
    }
    let codes = new_recovery_codes(ctx, &tx, user).await?;
    ctx.audit_in(
        &tx,
        Actor::User(user),
        Some(user),
        "mfa.enrol",
        Outcome::Success,
        Some(json!({ "method": "totp" })),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(codes))
}

/// Finishes the forced-enrolment stage once the user has confirmed an authenticator.
pub async fn finish_enrol_stage(
    ctx: &Ctx<'_>,
    s: &Session,
) -> Result<(Session, Token), LoginError> {
    let amr = if s.amr.contains("otp") {
        s.amr.clone()
    } else {
        format!("{} otp mfa", s.amr)
    };
    Ok(session::advance(&ctx.svc.store, s, Stage::Active, &amr, ctx.now).await?)
}

/// New recovery codes (the old ones stop working); needs the password.
pub async fn regenerate_recovery_codes(
    ctx: &Ctx<'_>,
    user: &User,
    password: Password,
) -> Result<Option<Vec<String>>, LoginError> {
    if !confirmed_totp(ctx, user.id).await? || !reauthenticate(ctx, user, password).await? {
        return Ok(None);
    }
    let tx = ctx.svc.store.begin().await?;
    let codes = new_recovery_codes(ctx, &tx, user.id).await?;
    ctx.audit_in(
        &tx,
        Actor::User(user.id),
        Some(user.id),
        "mfa.recovery_codes.regenerate",
        Outcome::Success,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(codes))
}

/// Removes the authenticator and recovery codes; needs the password.
pub async fn remove_mfa(
    ctx: &Ctx<'_>,
    user: &User,
    password: Password,
) -> Result<bool, LoginError> {
    if !reauthenticate(ctx, user, password).await? {
        return Ok(false);
    }
    let tx = ctx.svc.store.begin().await?;
    credentials::delete_totp(&tx, ctx.tenant_id(), user.id).await?;
    ctx.audit_in(
        &tx,
        Actor::User(user.id),
        Some(user.id),
        "mfa.remove",
        Outcome::Success,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

// ---- password reset ----

fn reset_token_hash(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"latchkey/v1/reset-token/");
    h.update(token.as_bytes());
    hex(&h.finalize())
}

/// How long an invitation link works.
pub const INVITE_HOURS: i64 = 72;

/// The address of a single-use password link. It comes from configuration, never from the
/// Host header.
fn reset_link(ctx: &Ctx<'_>, token: &str) -> String {
    format!(
        "{}/reset?token={token}",
        ctx.svc.public_url.tenant_origin(ctx.tenant.slug.as_str())
    )
}

/// Stores an invitation's link token (valid `INVITE_HOURS`) with its audit entry.
async fn issue_invite(ctx: &Ctx<'_>, user: &User, by: By<'_>) -> Result<String, LoginError> {
    let token = random_token();
    let expires = ctx.now + INVITE_HOURS * 3_600_000;
    let key = ctx
        .svc
        .keyring
        .chain_key(&ctx.svc.store, ctx.tenant_id())
        .await?;
    let tx = ctx.svc.store.begin().await?;
    let hash = reset_token_hash(&token);
    credentials::insert_reset_token(&tx, ctx.tenant_id(), user.id, &hash, ctx.now, expires).await?;
    let event = by.event("user.invite", Some(format!("user:{}", user.id)), None);
    audit::record(&tx, &key, ctx.tenant_id(), event, ctx.now).await?;
    tx.commit().await?;
    Ok(token)
}

/// Mails a new user a single-use link to choose their password (an invitation from an admin,
/// `by`). Unlike "forgot password", the admin is told when the mail could not be sent.
pub async fn send_invite(ctx: &Ctx<'_>, user: &User, by: By<'_>) -> Result<(), InviteError> {
    let token = issue_invite(ctx, user, by).await?;
    let link = reset_link(ctx, &token);
    let mail = Mail {
        to_name: user.display_name.clone(),
        to_address: user.email.clone(),
        subject: format!("Your {} account is ready", ctx.tenant.name),
        body: format!(
            "Hello {},\n\nAn account has been created for you at {} (username: {}).\n\nTo \
             choose your password and sign in, open this link within {INVITE_HOURS} hours. It \
             works once.\n\n{link}\n\nIf you did not expect this, you can ignore this \
             message.\n",
            user.display_name, ctx.tenant.name, user.username
        ),
    };
    ctx.svc
        .mailer
        .send(mail)
        .await
        .map_err(|e| InviteError::Mail(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error("the invitation mail could not be sent: {0}")]
    Mail(String),
}

/// "Forgot password": mails a single-use link if the login names an active account with an
/// address. The caller shows the same page whatever happened here.
pub async fn request_reset(ctx: &Ctx<'_>, login: &str) -> Result<(), LoginError> {
    let user = find_by_login(ctx, login).await?;
    let Some(user) = user.filter(|u| u.status == UserStatus::Active) else {
        ctx.audit(
            Actor::System,
            None,
            "password.reset.request",
            Outcome::Failure,
            Some(json!({ "reason": "no_active_account" })),
        )
        .await?;
        return Ok(());
    };
    // One mail a minute per account at most: "forgot password" is not a way to flood an inbox.
    if let Some(at) =
        credentials::latest_reset_token_at(&ctx.svc.store, ctx.tenant_id(), user.id, ctx.now)
            .await?
        && at > ctx.now - RESET_MAIL_INTERVAL_MS
    {
        ctx.audit(
            Actor::System,
            Some(user.id),
            "password.reset.request",
            Outcome::Denied,
            Some(json!({ "reason": "too_soon" })),
        )
        .await?;
        return Ok(());
    }
    let token = random_token();
    let minutes = ctx.policy.reset_link_minutes;
    let expires = ctx.now + i64::from(minutes) * 60_000;
    let tx = ctx.svc.store.begin().await?;
    credentials::insert_reset_token(
        &tx,
        ctx.tenant_id(),
        user.id,
        &reset_token_hash(&token),
        ctx.now,
        expires,
    )
    .await?;
    ctx.audit_in(
        &tx,
        Actor::User(user.id),
        Some(user.id),
        "password.reset.request",
        Outcome::Success,
        None,
    )
    .await?;
    tx.commit().await?;

    let link = reset_link(ctx, &token);
    let mail = Mail {
        to_name: user.display_name.clone(),
        to_address: user.email.clone(),
        subject: format!("Reset your {} password", ctx.tenant.name),
        body: format!(
            "Hello {},\n\nSomeone (hopefully you) asked to reset the password of your {} \
             account ({}).\n\nTo choose a new password, open this link within {minutes} \
             minutes. It works once.\n\n{link}\n\nIf you did not ask for this, ignore this \
             message: your password stays as it is.\n",
            user.display_name, ctx.tenant.name, user.username
        ),
    };
    // Sent in the background: how long delivery takes must not tell whether the account exists.
    let mailer = ctx.svc.mailer.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(mail).await {
            tracing::error!(error = %e, "password reset mail was not sent");
        }
    });
    Ok(())
}

/// The account a live reset link belongs to (the link is not used up by looking).
pub async fn reset_target(ctx: &Ctx<'_>, token: &str) -> Result<Option<User>, LoginError> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let Some(user) = credentials::peek_reset_token(
        &ctx.svc.store,
        ctx.tenant_id(),
        &reset_token_hash(token),
        ctx.now,
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(users::find(&ctx.svc.store, ctx.tenant_id(), user)
        .await?
        .filter(|u| u.status == UserStatus::Active))
}

pub enum ResetOutcome {
    Done,
    /// Unknown, used or expired link.
    Invalid,
    Rejected(Vec<PolicyViolation>),
}

/// Sets the new password through a reset link: uses the link up, unlocks the account and ends
/// every session of the user.
pub async fn complete_reset(
    ctx: &Ctx<'_>,
    token: &str,
    new: Password,
) -> Result<ResetOutcome, LoginError> {
    let Some(user) = reset_target(ctx, token).await? else {
        return Ok(ResetOutcome::Invalid);
    };
    let problems = vet_new_password(ctx, &user, &new).await?;
    if !problems.is_empty() {
        return Ok(ResetOutcome::Rejected(problems));
    }
    let tx = ctx.svc.store.begin().await?;
    let consumed =
        credentials::consume_reset_token(&tx, ctx.tenant_id(), &reset_token_hash(token), ctx.now)
            .await?;
    if consumed != Some(user.id) {
        return Ok(ResetOutcome::Invalid);
    }
    store_new_password(ctx, &tx, &user, new, None, "password.reset").await?;
    credentials::clear_failures(&tx, ctx.tenant_id(), user.id).await?;
    tx.commit().await?;
    Ok(ResetOutcome::Done)
}

// ---- profile and sessions ----

pub enum ProfileOutcome {
    Saved,
    Invalid(String),
    EmailTaken,
}

pub async fn update_profile(
    ctx: &Ctx<'_>,
    user: &User,
    display_name: &str,
    email: &str,
) -> Result<ProfileOutcome, LoginError> {
    let by = By {
        actor: Actor::User(user.id),
        origin: ctx.origin,
    };
    let fields = (display_name, email);
    match crate::directory::update_profile(
        ctx.svc,
        ctx.tenant,
        user,
        Some(fields),
        None,
        by,
        ctx.now,
    )
    .await
    {
        Ok(()) => Ok(ProfileOutcome::Saved),
        Err(DirectoryError::EmailTaken(_)) => Ok(ProfileOutcome::EmailTaken),
        Err(DirectoryError::Name(e)) => Ok(ProfileOutcome::Invalid(e.to_string())),
        Err(DirectoryError::Store(e)) => Err(e.into()),
        Err(DirectoryError::Key(e)) => Err(e.into()),
        Err(e) => Err(LoginError::Directory(e.to_string())),
    }
}

/// Ends one of the user's sessions by its public id. Returns whether it existed.
pub async fn end_session(ctx: &Ctx<'_>, user: UserId, id: &str) -> Result<bool, LoginError> {
    let tx = ctx.svc.store.begin().await?;
    let n = sessions::delete_for_user(&tx, ctx.tenant_id(), user, id).await?;
    if n == 1 {
        ctx.audit_in(
            &tx,
            Actor::User(user),
            Some(user),
            "session.end",
            Outcome::Success,
            Some(json!({ "session": id })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// Ends the session; `detail` says more for the audit (e.g. which application asked).
pub async fn logout(
    ctx: &Ctx<'_>,
    s: &Session,
    detail: Option<serde_json::Value>,
) -> Result<(), LoginError> {
    let tx = ctx.svc.store.begin().await?;
    session::end(&tx, s).await?;
    ctx.audit_in(
        &tx,
        Actor::User(s.user),
        Some(s.user),
        "logout",
        Outcome::Success,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
