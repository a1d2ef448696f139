//! Entering the console. Every console request needs, in this order: an active SSO session of
//! a user holding a console role; on anything but GET, the `SameSite=Strict` console cookie
//! (so no request started by another site can act, whatever the SSO cookie allows) and, in the
//! handler, the form's CSRF token; and a second factor in this session, whatever the tenant's
//! MFA policy: either the login used one, or the admin proved password + code at
//! `/admin/verify`. Sensitive actions also need that proof to be recent
//! ([`Admin::recently_verified`]).
//!
//! The console cookie is `{session id}.{verified at}.{MAC}` under a key derived from the master
//! key and bound to the tenant. It grants nothing alone: it must name the browser's current
//! SSO session, which changes id at every login step and ends at logout.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::audit::{Actor, By};
use crate::console::{Power, REVERIFY_MS, Refusal, role_label};
use crate::directory::{AdminRole, User};
use crate::login::flow;
use crate::login::session::Session;
use crate::web::auth::{Web, see_other};
use crate::web::error::ErrorPage;

use super::verify::{self, Confirming};

/// A question asked before a disruptive action ([`Admin::ask`]).
pub struct Question {
    /// The question itself, e.g. "Reset Ada Lovelace's password?".
    pub title: String,
    /// What will happen.
    pub lines: Vec<String>,
    /// What may go wrong that the admin may not expect.
    pub warning: Option<String>,
    /// The button that answers yes, e.g. "Reset password".
    pub button: &'static str,
    pub danger: bool,
    /// Where Cancel goes.
    pub back: String,
}

/// A signed-in admin on a console request.
pub struct Admin {
    pub web: Web,
    pub session: Session,
    pub user: User,
    pub role: AdminRole,
    /// When the admin last proved password + code at `/admin/verify` (0: never, this session).
    verified_at: i64,
    /// The request carried a valid console cookie (it was started from the console).
    same_site: bool,
    set_cookie: Option<HeaderValue>,
}

/// The verified-at time a valid console cookie for session `sid` carries.
fn read_cookie(web: &Web, sid: &str) -> Option<i64> {
    let raw = web.console_cookie.as_deref()?;
    let mut parts = raw.splitn(3, '.');
    let (id, at, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let expected = web.console_tag(id, at);
    let valid = id == sid
        && tag.len() == expected.len()
        && bool::from(tag.as_bytes().ct_eq(expected.as_bytes()));
    valid.then(|| at.parse().ok()).flatten()
}

fn cookie_for(web: &Web, sid: &str, verified_at: i64) -> HeaderValue {
    let at = verified_at.to_string();
    let tag = web.console_tag(sid, &at);
    web.names.console_cookie(&format!("{sid}.{at}.{tag}"))
}

fn forbidden(title: &'static str, message: String) -> Response {
    (StatusCode::FORBIDDEN, ErrorPage { title, message }).into_response()
}

/// Lets an admin in, or answers with where they must go first. `power: None` is for the
/// verification page itself (no second factor needed yet, no particular power).
pub async fn enter(web: Web, power: Option<Power>) -> Result<Admin, Response> {
    let (session, user) = web.viewer().await?;
    let Some(role) = user.admin_role else {
        return Err(forbidden(
            "This is the admin console",
            format!(
                "Your account has no administrator role at {}. If you need one, ask an owner \
                 of your organisation.",
                web.tenant.name
            ),
        ));
    };
    let cookie = read_cookie(&web, &session.id);
    if !web.safe_method && cookie.is_none() {
        return Err(web.csrf_failed());
    }
    let set_cookie = cookie.is_none().then(|| cookie_for(&web, &session.id, 0));
    let admin = Admin {
        verified_at: cookie.unwrap_or(0),
        same_site: cookie.is_some(),
        web,
        session,
        user,
        role,
        set_cookie,
    };
    let Some(power) = power else {
        return Ok(admin);
    };
    if !admin.second_factor_done() {
        let enrolled = flow::confirmed_totp(&admin.web.ctx(), admin.user.id)
            .await
            .map_err(|e| crate::web::error::AppError::from(e).into_response())?;
        if !enrolled {
            return Err(admin.page(forbidden(
                "Set up two-step verification first",
                "The admin console needs two-step verification for every administrator. Set \
                 up an authenticator app on your account page (Two-step verification), then \
                 come back to /admin."
                    .into(),
            )));
        }
        let back = crate::web::auth::encode_query(&admin.web.here);
        return Err(admin.page(see_other(&format!("/admin/verify?return_to={back}"))));
    }
    if !power.held_by(role) {
        return Err(admin.refused(Refusal::Role, None).await);
    }
    Ok(admin)
}

impl Admin {
    pub fn by(&self) -> By<'_> {
        By {
            actor: Actor::User(self.user.id),
            origin: &self.web.origin,
        }
    }

    pub fn role_label(&self) -> &'static str {
        role_label(self.role)
    }

    fn login_had_second_factor(&self) -> bool {
        self.session
            .amr
            .split_whitespace()
            .any(|m| m == "otp" || m == "mfa")
    }

    fn second_factor_done(&self) -> bool {
        self.login_had_second_factor() || self.verified_at > 0
    }

    /// Whether password + second factor were proved in the last few minutes (at login or at
    /// `/admin/verify`), as destructive and sensitive actions need.
    pub fn recently_verified(&self) -> bool {
        let login = if self.login_had_second_factor() {
            self.session.auth_time
        } else {
            0
        };
        self.web.now - self.verified_at.max(login) < REVERIFY_MS
    }

    /// Asks the admin to prove presence for `why`. A submitted form is kept and carried out
    /// after the proof (the page answers in place; Cancel goes to `back`, the page the form
    /// was on); a page asked for is shown after it.
    pub fn reverify(&self, back: &str, why: Confirming) -> Response {
        match (&self.web.form, self.web.safe_method) {
            (Some(form), false) => verify::interrupted(self, back, why, self.action(), form),
            _ => self.page(verify::redirect(back, why)),
        }
    }

    /// The path the request was sent to (a form's action).
    fn action(&self) -> &str {
        self.web.here.split('?').next().unwrap_or_default()
    }

    /// Whether the submitted form carries the answer to [`Admin::ask`]'s question.
    pub fn confirmed(&self) -> bool {
        self.web.form.as_ref().is_some_and(|f| {
            url::form_urlencoded::parse(f.0.as_bytes()).any(|(k, v)| k == "confirmed" && v == "yes")
        })
    }

    /// Asks before a disruptive action: the page states `q`, and its button sends the
    /// submitted form again with the answer (see [`Admin::confirmed`]); Cancel goes back.
    pub fn ask(&self, q: Question) -> Response {
        let Some(form) = &self.web.form else {
            return self.page(forbidden(
                "This form could not be accepted",
                "Reload the page and try again. Nothing was changed.".into(),
            ));
        };
        let (chrome, csrf) = self.chrome("");
        let page = verify::ConfirmPage {
            fields: verify::fields_of(&form.0, &chrome.csrf, &[("confirmed", "yes")]),
            chrome,
            title: q.title,
            lines: q.lines,
            warning: q.warning,
            action: self.action().to_owned(),
            button: q.button.into(),
            danger: q.danger,
            back: q.back,
            auto: false,
        };
        self.render(&csrf, page)
    }

    /// Marks this session verified now (after a successful `/admin/verify`).
    pub fn verified(&mut self) {
        self.verified_at = self.web.now;
        self.set_cookie = Some(cookie_for(&self.web, &self.session.id, self.web.now));
    }

    /// The page for an action this admin may not take (nothing was changed). The attempt is
    /// audited as denied, with the route and the subject (`user:…`) if there is one.
    pub async fn refused(&self, why: Refusal, subject: Option<String>) -> Response {
        let reason = match why {
            Refusal::Role => "role",
            Refusal::TargetIsAdmin => "target_is_admin",
            Refusal::OwnAccount => "own_account",
        };
        let event = crate::audit::Event {
            actor: Actor::User(self.user.id),
            subject,
            operation: "console.denied",
            outcome: crate::audit::Outcome::Denied,
            origin: &self.web.origin,
            detail: Some(serde_json::json!({ "reason": reason, "role": self.role.as_str() })),
        };
        if let Err(e) = self.write(event).await {
            return e.into_response();
        }
        self.page(forbidden("Not allowed", why.message().into()))
    }

    /// Whether the request carried the `SameSite=Strict` console cookie, i.e. was started from
    /// the console itself (GETs without it are let in and given one).
    pub fn same_site(&self) -> bool {
        self.same_site
    }

    /// Records an audit entry of this admin's (for actions that are not a feature's change,
    /// such as exports and integrity checks), in its own transaction.
    pub async fn record(
        &self,
        operation: &'static str,
        subject: Option<String>,
        detail: serde_json::Value,
    ) -> Result<(), crate::web::error::AppError> {
        self.write(self.by().event(operation, subject, Some(detail)))
            .await
    }

    /// Appends one audit entry in its own transaction.
    async fn write(
        &self,
        event: crate::audit::Event<'_>,
    ) -> Result<(), crate::web::error::AppError> {
        let svc = &self.web.state.svc;
        let tenant = self.web.tenant.id;
        let key = svc.keyring.chain_key(&svc.store, tenant).await?;
        let tx = svc.store.begin().await?;
        crate::audit::record(&tx, &key, tenant, event, self.web.now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds the console cookie (when new) to a response.
    pub fn page(&self, res: impl IntoResponse) -> Response {
        let mut res = res.into_response();
        if let Some(c) = &self.set_cookie {
            res.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        res
    }
}
