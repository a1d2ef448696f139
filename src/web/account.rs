//! Self-service pages for a signed-in user: profile, password, two-step verification,
//! sessions and the applications they have allowed. Every page needs an active session; every form needs its CSRF token.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{Web, WebForm, see_other};
use super::error::AppError;
use super::login::{
    CsrfForm, NewPasswordForm, RecoveryCodesPage, enrol_page_for, set_password_page,
};
use crate::directory::User;
use crate::login::flow::{self, NewPassword, ProfileOutcome};
use crate::login::password::Password;
use crate::login::policy::{HARD_MAX_PASSWORD, MfaPolicy};
use crate::login::session::{self, Session, Stage};
use crate::store::credentials;

macro_rules! viewer {
    ($web:expr) => {
        match $web.viewer().await {
            Ok(v) => v,
            Err(r) => return Ok(r),
        }
    };
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct ProfilePage {
    tenant_name: String,
    csrf: String,
    username: String,
    display_name: String,
    email: String,
    notice: Option<String>,
    error: Option<String>,
}

fn profile_page(
    web: &Web,
    user: &User,
    display_name: &str,
    email: &str,
    notice: Option<&str>,
    error: Option<String>,
) -> Response {
    let csrf = web.csrf();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    csrf.attach((
        status,
        ProfilePage {
            tenant_name: web.tenant.name.clone(),
            csrf: csrf.token.clone(),
            username: user.username.clone(),
            display_name: display_name.to_owned(),
            email: email.to_owned(),
            notice: notice.map(str::to_owned),
            error,
        },
    ))
}

#[derive(Deserialize)]
pub struct ProfileQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    changed: Option<String>,
}

pub async fn profile(web: Web, Query(q): Query<ProfileQuery>) -> Result<Response, AppError> {
    let (_, user) = viewer!(web);
    let notice = if q.saved.is_some() {
        Some("Your profile is saved.")
    } else if q.changed.is_some() {
        Some("Your password is changed. Your other sessions are signed out.")
    } else {
        None
    };
    Ok(profile_page(
        &web,
        &user,
        &user.display_name,
        &user.email,
        notice,
        None,
    ))
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
}

pub async fn profile_submit(
    web: Web,
    WebForm(f): WebForm<ProfileForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (_, user) = viewer!(web);
    let name: String = f.display_name.chars().take(256).collect();
    let email: String = f.email.chars().take(320).collect();
    Ok(
        match flow::update_profile(&web.ctx(), &user, &name, &email).await? {
            ProfileOutcome::Saved => see_other("/account?saved=1"),
            ProfileOutcome::Invalid(msg) => {
                profile_page(&web, &user, &name, &email, None, Some(msg))
            }
            ProfileOutcome::EmailTaken => profile_page(
                &web,
                &user,
                &name,
                &email,
                None,
                Some("That e-mail address is used by another account.".into()),
            ),
        },
    )
}

pub async fn password_page(web: Web) -> Result<Response, AppError> {
    let _ = viewer!(web);
    Ok(set_password_page(
        &web,
        "Change your password",
        Some("Changing it signs you out everywhere else.".into()),
        "/account/password",
        None,
        true,
        vec![],
    ))
}

pub async fn password_submit(
    web: Web,
    WebForm(f): WebForm<NewPasswordForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (s, _) = viewer!(web);
    let rejected = |problems: Vec<String>| {
        set_password_page(
            &web,
            "Change your password",
            None,
            "/account/password",
            None,
            true,
            problems,
        )
    };
    let new = match f.new_password() {
        Ok(p) => p,
        Err(problems) => return Ok(rejected(problems)),
    };
    let Some(current) = f.current() else {
        return Ok(rejected(vec!["The current password is not right.".into()]));
    };
    Ok(
        match flow::change_password(&web.ctx(), &s, current, new).await? {
            NewPassword::Done(_, token) => {
                web.with_session(see_other("/account?changed=1"), &token)
            }
            NewPassword::Rejected(p) => rejected(p.iter().map(ToString::to_string).collect()),
            NewPassword::WrongCurrent => {
                rejected(vec!["The current password is not right.".into()])
            }
        },
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "account_mfa.html")]
struct MfaSettingsPage {
    tenant_name: String,
    csrf: String,
    enrolled: bool,
    codes_left: i64,
    notice: Option<String>,
    error: Option<String>,
}

async fn mfa_settings(
    web: &Web,
    user: &User,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let enrolled = credentials::totp(&web.state.svc.store, web.tenant.id, user.id)
        .await?
        .is_some_and(|t| t.confirmed_at.is_some());
    let codes_left =
        credentials::recovery_codes_left(&web.state.svc.store, web.tenant.id, user.id).await?;
    let csrf = web.csrf();
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    Ok(csrf.attach((
        status,
        MfaSettingsPage {
            tenant_name: web.tenant.name.clone(),
            csrf: csrf.token.clone(),
            enrolled,
            codes_left,
            notice: notice.map(str::to_owned),
            error: error.map(str::to_owned),
        },
    )))
}

pub async fn mfa_page(web: Web) -> Result<Response, AppError> {
    let (_, user) = viewer!(web);
    mfa_settings(&web, &user, None, None).await
}

/// Starts enrolment (POST, so a link cannot create seeds) and shows the QR code.
pub async fn mfa_enrol(web: Web, WebForm(f): WebForm<CsrfForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (_, user) = viewer!(web);
    enrol_page_for(
        &web,
        user.id,
        &user.username,
        false,
        "/account/mfa/confirm",
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn mfa_confirm(web: Web, WebForm(f): WebForm<ConfirmForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (s, user) = viewer!(web);
    let Some(codes) = flow::confirm_enrolment(&web.ctx(), user.id, &f.code).await? else {
        return enrol_page_for(
            &web,
            user.id,
            &user.username,
            false,
            "/account/mfa/confirm",
            Some("That code did not work. Check the time on your phone and try the current code."),
        )
        .await;
    };
    // Adding a factor is a privilege change: new session token.
    let amr = if s.amr.contains("otp") {
        s.amr.clone()
    } else {
        format!("{} otp mfa", s.amr)
    };
    let (_, token) =
        session::advance(&web.state.svc.store, &s, Stage::Active, &amr, web.now).await?;
    let page = RecoveryCodesPage {
        tenant_name: web.tenant.name.clone(),
        codes,
        continue_to: "/account/mfa".into(),
    };
    Ok(web.with_session(page.into_response(), &token))
}

#[derive(Deserialize)]
pub struct PasswordConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

impl PasswordConfirmForm {
    fn password(&self) -> Option<Password> {
        (self.password.chars().count() <= HARD_MAX_PASSWORD as usize)
            .then(|| Password::new(self.password.clone()))
    }
}

const WRONG_PASSWORD: &str = "The password is not right.";

pub async fn mfa_recovery_codes(
    web: Web,
    WebForm(f): WebForm<PasswordConfirmForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (_, user) = viewer!(web);
    let Some(password) = f.password() else {
        return mfa_settings(&web, &user, None, Some(WRONG_PASSWORD)).await;
    };
    match flow::regenerate_recovery_codes(&web.ctx(), &user, password).await? {
        Some(codes) => Ok(RecoveryCodesPage {
            tenant_name: web.tenant.name.clone(),
            codes,
            continue_to: "/account/mfa".into(),
        }
        .into_response()),
        None => mfa_settings(&web, &user, None, Some(WRONG_PASSWORD)).await,
    }
}

pub async fn mfa_remove(
    web: Web,
    WebForm(f): WebForm<PasswordConfirmForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (s, user) = viewer!(web);
    let Some(password) = f.password() else {
        return mfa_settings(&web, &user, None, Some(WRONG_PASSWORD)).await;
    };
    if !flow::remove_mfa(&web.ctx(), &user, password).await? {
        return mfa_settings(&web, &user, None, Some(WRONG_PASSWORD)).await;
    }
    if web.policy.mfa == MfaPolicy::Required {
        // The tenant requires a second factor: set up a new one before going on.
        let (_, token) =
            session::advance(&web.state.svc.store, &s, Stage::EnrolMfa, "pwd", web.now).await?;
        return Ok(web.with_session(see_other(Stage::EnrolMfa.path()), &token));
    }
    mfa_settings(
        &web,
        &user,
        Some("Two-step verification is off. Your recovery codes no longer work."),
        None,
    )
    .await
}

struct SessionView {
    id: String,
    current: bool,
    agent: String,
    ip: String,
    signed_in: String,
    last_seen: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account_sessions.html")]
struct SessionsPage {
    tenant_name: String,
    csrf: String,
    sessions: Vec<SessionView>,
    notice: Option<String>,
}

fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "-".into())
}

fn view(s: &Session, current: &Session) -> SessionView {
    SessionView {
        id: s.id.clone(),
        current: s.id == current.id,
        agent: super::agent::describe(s.user_agent.as_deref()),
        ip: s
            .source_ip
            .clone()
            .unwrap_or_else(|| "unknown address".into()),
        signed_in: when(s.auth_time),
        last_seen: when(s.last_seen_at),
    }
}

async fn sessions_page(
    web: &Web,
    current: &Session,
    notice: Option<&str>,
) -> Result<Response, AppError> {
    let list = session::list(&web.state.svc.store, web.tenant.id, current.user).await?;
    let csrf = web.csrf();
    Ok(csrf.attach(SessionsPage {
        tenant_name: web.tenant.name.clone(),
        csrf: csrf.token.clone(),
        sessions: list
            .iter()
            .filter(|s| s.stage == Stage::Active)
            .map(|s| view(s, current))
            .collect(),
        notice: notice.map(str::to_owned),
    }))
}

pub async fn sessions(web: Web) -> Result<Response, AppError> {
    let (s, _) = viewer!(web);
    sessions_page(&web, &s, None).await
}

#[derive(Deserialize)]
pub struct EndSessionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

pub async fn end_session(
    web: Web,
    WebForm(f): WebForm<EndSessionForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (s, user) = viewer!(web);
    let id: String = f.id.chars().take(64).collect();
    let notice = if flow::end_session(&web.ctx(), user.id, &id).await? {
        "That session is signed out."
    } else {
        "That session had already ended."
    };
    sessions_page(&web, &s, Some(notice)).await
}

/// The enrolment page again (e.g. after a reload); only while a seed is pending.
pub async fn mfa_enrol_page(web: Web) -> Result<Response, AppError> {
    let (_, user) = viewer!(web);
    match flow::enrolment(&web.ctx(), user.id).await? {
        flow::Enrolment::Pending(_) => {
            enrol_page_for(
                &web,
                user.id,
                &user.username,
                false,
                "/account/mfa/confirm",
                None,
            )
            .await
        }
        _ => Ok(see_other("/account/mfa")),
    }
}

struct AppView {
    client_id: String,
    name: String,
    access: Vec<String>,
    since: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account_apps.html")]
struct AppsPage {
    tenant_name: String,
    csrf: String,
    apps: Vec<AppView>,
    notice: Option<String>,
}

async fn apps_page(web: &Web, user: &User, notice: Option<&str>) -> Result<Response, AppError> {
    let granted = crate::oidc::consent::list(&web.state.svc, &web.tenant, user.id).await?;
    let schema = crate::directory::attributes::list(&web.state.svc.store, &web.tenant).await?;
    let csrf = web.csrf();
    Ok(csrf.attach(AppsPage {
        tenant_name: web.tenant.name.clone(),
        csrf: csrf.token.clone(),
        apps: granted
            .into_iter()
            .map(|g| AppView {
                name: g
                    .client_name
                    .unwrap_or_else(|| "An application that no longer exists".into()),
                access: crate::oidc::consent::describe(&g.scopes, &schema),
                since: when(g.updated_at),
                client_id: g.client_id,
            })
            .collect(),
        notice: notice.map(str::to_owned),
    }))
}

/// The applications the user has allowed (consent), each removable.
pub async fn apps(web: Web) -> Result<Response, AppError> {
    let (_, user) = viewer!(web);
    apps_page(&web, &user, None).await
}

#[derive(Deserialize)]
pub struct RevokeAppForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client_id: String,
}

pub async fn revoke_app(
    web: Web,
    WebForm(f): WebForm<RevokeAppForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (_, user) = viewer!(web);
    let client_id: String = f.client_id.chars().take(64).collect();
    let removed = crate::oidc::consent::Decider {
        svc: &web.state.svc,
        tenant: &web.tenant,
        user: user.id,
        origin: &web.origin,
        now: web.now,
    }
    .revoke(&client_id)
    .await?;
    let notice = if removed {
        "Access removed. The application will have to ask you again; an access token it \
         already holds stops working when it expires."
    } else {
        "That application had no access to remove."
    };
    apps_page(&web, &user, Some(notice)).await
}
