//! The sign-in pages: password, second factor, forced password change, forced MFA enrolment,
//! logout, forgotten password and reset. Thin handlers: parse, check CSRF, one call into
//! `login::flow`, render.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{Web, WebForm, safe_return_to, see_other};
use super::error::AppError;
use crate::login::flow::{self, Enrolment, NewPassword, ResetOutcome, Step};
use crate::login::password::Password;
use crate::login::policy::HARD_MAX_PASSWORD;
use crate::login::session::Stage;
use crate::login::totp;

/// Said for every failed sign-in, whatever the reason (unknown user, wrong password, locked,
/// disabled, restricted).
pub const LOGIN_FAILED: &str = "The username or password is not right, or this account cannot \
                                sign in right now. Try again, or reset your password.";
const CODE_FAILED: &str = "That code did not work. Try the current code from your app, or a \
                           recovery code you have not used.";
const THROTTLED: &str = "There were too many failed attempts from your network. Wait a few \
                         minutes and try again.";

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    tenant_name: String,
    csrf: String,
    return_to: String,
    login: String,
    error: Option<String>,
    notice: Option<String>,
    /// A SAML request waits for this sign-in: the public part of its handle, for the cancel
    /// button (the SP then gets `AuthnFailed`).
    saml_cancel: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mfa.html")]
struct MfaPage {
    tenant_name: String,
    csrf: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "set_password.html")]
pub struct SetPasswordPage {
    pub tenant_name: String,
    pub heading: String,
    pub intro: Option<String>,
    pub action: String,
    pub csrf: String,
    pub token: Option<String>,
    pub need_current: bool,
    pub problems: Vec<String>,
    pub min_length: u32,
    pub max_length: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "enrol.html")]
pub struct EnrolPage {
    pub tenant_name: String,
    pub forced: bool,
    pub action: String,
    pub csrf: String,
    pub qr_svg: String,
    pub manual_key: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub tenant_name: String,
    pub codes: Vec<String>,
    pub continue_to: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot.html")]
struct ForgotPage {
    tenant_name: String,
    csrf: String,
    sent: bool,
    minutes: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub tenant_name: String,
    pub title: String,
    pub message: String,
    pub link: String,
    pub link_text: String,
}

/// The page for a user who may not use `app_name` (not assigned to it), with `back` to the
/// app when there is a safe way back (OIDC's redirect URI carrying `error=access_denied`).
pub fn not_allowed_page(tenant_name: &str, app_name: &str, back: Option<String>) -> Response {
    (
        axum::http::StatusCode::FORBIDDEN,
        MessagePage {
            tenant_name: tenant_name.to_owned(),
            title: format!("You cannot use {app_name}"),
            message: format!(
                "Your account is not assigned to {app_name}, so you cannot sign in to it here. \
                 If you need it for your work, ask your IT team for access."
            ),
            link_text: if back.is_some() {
                format!("Back to {app_name}")
            } else {
                "Your applications".into()
            },
            link: back.unwrap_or_else(|| "/".into()),
        },
    )
        .into_response()
}

/// A password from a form, refused beyond the hard cap before any hashing.
fn password_field(text: String) -> Option<Password> {
    (text.chars().count() <= HARD_MAX_PASSWORD as usize).then(|| Password::new(text))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    return_to: String,
    /// An application asked for a fresh sign-in (`prompt=login`, `max_age`): show the form
    /// even to a signed-in browser.
    #[serde(default)]
    reauth: Option<String>,
    /// The username an application suggested (`login_hint`), filled in for the user.
    #[serde(default)]
    login_hint: String,
}

pub async fn login_page(web: Web, Query(q): Query<LoginQuery>) -> Result<Response, AppError> {
    let mut login = q.login_hint.clone();
    if let Some(s) = web.session().await?
        && s.stage == Stage::Active
    {
        if q.reauth.is_none() {
            // Already signed in: straight on.
            let target = safe_return_to(&q.return_to).unwrap_or_else(|| "/account".into());
            return Ok(see_other(&target));
        }
        // Signing in again (an application asked for a fresh sign-in): as the same person.
        if let Some(u) =
            crate::store::users::find(&web.state.svc.store, web.tenant.id, s.user).await?
        {
            login = u.username;
        }
    }
    Ok(render_login(
        &web,
        &q.return_to,
        &login,
        None,
        None,
        StatusCode::OK,
    ))
}

fn render_login(
    web: &Web,
    return_to: &str,
    login: &str,
    error: Option<&str>,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = web.csrf();
    let return_to = safe_return_to(return_to).unwrap_or_default();
    let saml_cancel = return_to
        .strip_prefix(crate::saml::paths::CONTINUE)
        .and_then(|q| q.strip_prefix("?h="))
        .filter(|h| crate::saml::sso::RequestHandle::valid_public(h))
        .map(str::to_owned);
    csrf.attach((
        status,
        LoginPage {
            tenant_name: web.tenant.name.clone(),
            csrf: csrf.token.clone(),
            return_to,
            saml_cancel,
            login: login.chars().take(320).collect(),
            error: error.map(str::to_owned),
            notice: notice.map(str::to_owned),
        },
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

pub async fn login_submit(web: Web, WebForm(f): WebForm<LoginForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let Some(password) = password_field(f.password) else {
        return Ok(render_login(
            &web,
            &f.return_to,
            &f.login,
            Some(LOGIN_FAILED),
            None,
            StatusCode::UNAUTHORIZED,
        ));
    };
    let previous = web.session().await?;
    let step = flow::password_step(
        &web.ctx(),
        &f.login,
        password,
        safe_return_to(&f.return_to),
        previous.as_ref(),
    )
    .await?;
    Ok(match step {
        Step::Next(s, token) => web.after_login(&s, &token),
        Step::Failed => render_login(
            &web,
            &f.return_to,
            &f.login,
            Some(LOGIN_FAILED),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        Step::Throttled => render_login(
            &web,
            &f.return_to,
            &f.login,
            Some(THROTTLED),
            None,
            StatusCode::TOO_MANY_REQUESTS,
        ),
    })
}

pub async fn mfa_page(web: Web) -> Response {
    if let Err(r) = web.pending(Stage::Mfa).await {
        return r;
    }
    render_mfa(&web, None, StatusCode::OK)
}

fn render_mfa(web: &Web, error: Option<&str>, status: StatusCode) -> Response {
    let csrf = web.csrf();
    csrf.attach((
        status,
        MfaPage {
            tenant_name: web.tenant.name.clone(),
            csrf: csrf.token.clone(),
            error: error.map(str::to_owned),
        },
    ))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn mfa_submit(web: Web, WebForm(f): WebForm<CodeForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let s = match web.pending(Stage::Mfa).await {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    Ok(match flow::mfa_step(&web.ctx(), &s, &f.code).await? {
        Step::Next(s, token) => web.after_login(&s, &token),
        Step::Failed => render_mfa(&web, Some(CODE_FAILED), StatusCode::UNAUTHORIZED),
        Step::Throttled => render_mfa(&web, Some(THROTTLED), StatusCode::TOO_MANY_REQUESTS),
    })
}

pub fn set_password_page(
    web: &Web,
    heading: &str,
    intro: Option<String>,
    action: &str,
    token: Option<String>,
    need_current: bool,
    problems: Vec<String>,
) -> Response {
    let csrf = web.csrf();
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    csrf.attach((
        status,
        SetPasswordPage {
            tenant_name: web.tenant.name.clone(),
            heading: heading.into(),
            intro,
            action: action.into(),
            csrf: csrf.token.clone(),
            token,
            need_current,
            problems,
            min_length: web.policy.password.min_length,
            max_length: web.policy.password.max_length,
        },
    ))
}

const FORCED_INTRO: &str = "You need to choose a new password before you continue.";

pub async fn forced_change_page(web: Web) -> Response {
    if let Err(r) = web.pending(Stage::ChangePassword).await {
        return r;
    }
    set_password_page(
        &web,
        "Choose a new password",
        Some(FORCED_INTRO.into()),
        "/login/password",
        None,
        false,
        vec![],
    )
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

impl NewPasswordForm {
    /// The new password, or what is wrong with the two entries.
    pub fn new_password(&self) -> Result<Password, Vec<String>> {
        if self.new != self.confirm {
            return Err(vec!["The two new passwords are not the same.".into()]);
        }
        password_field(self.new.clone())
            .ok_or_else(|| vec![format!("Use at most {HARD_MAX_PASSWORD} characters.")])
    }

    pub fn current(&self) -> Option<Password> {
        password_field(self.current.clone())
    }
}

pub async fn forced_change_submit(
    web: Web,
    WebForm(f): WebForm<NewPasswordForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let s = match web.pending(Stage::ChangePassword).await {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let rejected = |problems| {
        set_password_page(
            &web,
            "Choose a new password",
            Some(FORCED_INTRO.into()),
            "/login/password",
            None,
            false,
            problems,
        )
    };
    let new = match f.new_password() {
        Ok(p) => p,
        Err(problems) => return Ok(rejected(problems)),
    };
    Ok(match flow::forced_change(&web.ctx(), &s, new).await? {
        NewPassword::Done(s, token) => web.after_login(&s, &token),
        NewPassword::Rejected(p) => rejected(p.iter().map(ToString::to_string).collect()),
        NewPassword::WrongCurrent => rejected(vec!["The current password is not right.".into()]),
    })
}

/// Renders the enrolment page for a pending (or freshly started) seed.
pub async fn enrol_page_for(
    web: &Web,
    user: crate::ids::UserId,
    account: &str,
    forced: bool,
    action: &str,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let seed = match flow::enrolment(&web.ctx(), user).await? {
        Enrolment::Pending(seed) => seed,
        Enrolment::Confirmed => return Ok(see_other("/account/mfa")),
        Enrolment::None => match flow::begin_enrolment(&web.ctx(), user).await? {
            Some(seed) => seed,
            None => return Ok(see_other("/account/mfa")),
        },
    };
    let uri = totp::otpauth_uri(&web.tenant.name, account, &seed);
    let svg = totp::qr_svg(&uri).unwrap_or_default();
    // Inline SVG: drop the XML declaration.
    let svg = svg
        .find("<svg")
        .map_or(svg.clone(), |i| svg[i..].to_owned());
    let csrf = web.csrf();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(csrf.attach((
        status,
        EnrolPage {
            tenant_name: web.tenant.name.clone(),
            forced,
            action: action.into(),
            csrf: csrf.token.clone(),
            qr_svg: svg,
            manual_key: seed.to_grouped_base32(),
            error: error.map(str::to_owned),
        },
    )))
}

async fn account_name(web: &Web, user: crate::ids::UserId) -> Result<String, AppError> {
    Ok(
        crate::store::users::find(&web.state.svc.store, web.tenant.id, user)
            .await?
            .map(|u| u.username)
            .unwrap_or_default(),
    )
}

pub async fn forced_enrol_page(web: Web) -> Result<Response, AppError> {
    let s = match web.pending(Stage::EnrolMfa).await {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let name = account_name(&web, s.user).await?;
    enrol_page_for(&web, s.user, &name, true, "/login/enrol", None).await
}

pub async fn forced_enrol_submit(
    web: Web,
    WebForm(f): WebForm<CodeForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let s = match web.pending(Stage::EnrolMfa).await {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let Some(codes) = flow::confirm_enrolment(&web.ctx(), s.user, &f.code).await? else {
        let name = account_name(&web, s.user).await?;
        return enrol_page_for(&web, s.user, &name, true, "/login/enrol", Some(CODE_FAILED)).await;
    };
    let (next, token) = flow::finish_enrol_stage(&web.ctx(), &s).await?;
    let page = RecoveryCodesPage {
        tenant_name: web.tenant.name.clone(),
        codes,
        continue_to: next.return_to.clone().unwrap_or_else(|| "/account".into()),
    };
    Ok(web.with_session(page.into_response(), &token))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(web: Web, WebForm(f): WebForm<CsrfForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    if let Some(s) = web.session().await? {
        flow::logout(&web.ctx(), &s, None).await?;
        // SAML applications this session signed in to are told, one after the other.
        if let Some(first) =
            crate::saml::slo::begin_idp_logout(&web.state.svc, &web.tenant, &s.id, web.now).await?
        {
            return Ok(web.clearing_session(super::saml::render_outcome(&web, first)));
        }
    }
    let res = render_login(
        &web,
        "",
        "",
        None,
        Some("You are signed out."),
        StatusCode::OK,
    );
    Ok(web.clearing_session(res))
}

pub async fn forgot_page(web: Web) -> Response {
    let csrf = web.csrf();
    csrf.attach(ForgotPage {
        tenant_name: web.tenant.name.clone(),
        csrf: csrf.token.clone(),
        sent: false,
        minutes: web.policy.reset_link_minutes,
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
}

pub async fn forgot_submit(
    web: Web,
    WebForm(f): WebForm<ForgotForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    flow::request_reset(&web.ctx(), &f.login).await?;
    let csrf = web.csrf();
    Ok(csrf.attach(ForgotPage {
        tenant_name: web.tenant.name.clone(),
        csrf: csrf.token.clone(),
        sent: true,
        minutes: web.policy.reset_link_minutes,
    }))
}

#[derive(Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

fn reset_invalid(web: &Web) -> Response {
    (
        StatusCode::GONE,
        MessagePage {
            tenant_name: web.tenant.name.clone(),
            title: "This link does not work any more".into(),
            message: "Password reset links work once and expire after a while. Ask for a new \
                      one."
                .into(),
            link: "/forgot".into(),
            link_text: "Send a new link".into(),
        },
    )
        .into_response()
}

pub async fn reset_page(web: Web, Query(q): Query<ResetQuery>) -> Result<Response, AppError> {
    let Some(user) = flow::reset_target(&web.ctx(), &q.token).await? else {
        return Ok(reset_invalid(&web));
    };
    Ok(set_password_page(
        &web,
        "Choose a new password",
        Some(format!("For the account {}.", user.username)),
        "/reset",
        Some(q.token),
        false,
        vec![],
    ))
}

pub async fn reset_submit(
    web: Web,
    WebForm(f): WebForm<NewPasswordForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let rejected = |problems| {
        set_password_page(
            &web,
            "Choose a new password",
            None,
            "/reset",
            Some(f.token.clone()),
            false,
            problems,
        )
    };
    let new = match f.new_password() {
        Ok(p) => p,
        Err(problems) => return Ok(rejected(problems)),
    };
    Ok(
        match flow::complete_reset(&web.ctx(), &f.token, new).await? {
            ResetOutcome::Done => render_login(
                &web,
                "",
                "",
                None,
                Some("Your password is changed. Sign in with the new one."),
                StatusCode::OK,
            ),
            ResetOutcome::Invalid => reset_invalid(&web),
            ResetOutcome::Rejected(p) => rejected(p.iter().map(ToString::to_string).collect()),
        },
    )
}
