//! `/admin/verify`: the admin proves presence with password and a second-factor code, for
//! console access when the login had no second factor, and before sensitive actions.
//!
//! A sensitive action that finds the proof stale does not send the admin away and lose what
//! they submitted: its answer is this page, in place, saying what is being confirmed and
//! carrying the submitted form ([`KeptForm`]). Once the proof is given, the form is sent on to
//! its action as it was (by the console's script, or by the admin's click on Continue). A page
//! (a GET) that needs the proof redirects here and comes back to that page.
//!
//! The same carrying serves the questions asked before disruptive actions ([`Admin::ask`]):
//! the question's page re-sends the submitted form with `confirmed=yes`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::Chrome;
use super::gate::{self, Admin};
use crate::login::flow::{self, StepUp};
use crate::login::password::Password;
use crate::login::policy::HARD_MAX_PASSWORD;
use crate::web::auth::{KeptForm, Web, WebForm, safe_return_to, see_other};
use crate::web::error::AppError;

/// What a fresh proof of presence is asked for; said on the page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Confirming {
    AppDelete,
    AttributeDelete,
    AuditExport,
    ClientNew,
    ClientChange,
    ClientSecret,
    UsersDelete,
    UserDelete,
    DirectoryExport,
    Import,
    Keys,
    Policies,
    SpNew,
    SpChange,
    SpMetadata,
    Role,
    PasswordReset,
    MfaReset,
}

impl Confirming {
    const ALL: [Confirming; 18] = [
        Confirming::AppDelete,
        Confirming::AttributeDelete,
        Confirming::AuditExport,
        Confirming::ClientNew,
        Confirming::ClientChange,
        Confirming::ClientSecret,
        Confirming::UsersDelete,
        Confirming::UserDelete,
        Confirming::DirectoryExport,
        Confirming::Import,
        Confirming::Keys,
        Confirming::Policies,
        Confirming::SpNew,
        Confirming::SpChange,
        Confirming::SpMetadata,
        Confirming::Role,
        Confirming::PasswordReset,
        Confirming::MfaReset,
    ];

    /// Its code in a form, and what is being done as the end of "You are about to …".
    fn words(self) -> (&'static str, &'static str) {
        use Confirming::*;
        match self {
            AppDelete => ("app-delete", "delete an application"),
            AttributeDelete => ("attribute-delete", "delete a custom attribute"),
            AuditExport => ("audit-export", "download the audit log"),
            ClientNew => ("client-new", "register an OpenID Connect application"),
            ClientChange => (
                "client-change",
                "change an OpenID Connect application's settings",
            ),
            ClientSecret => ("client-secret", "issue a new client secret"),
            UsersDelete => ("users-delete", "delete users"),
            UserDelete => ("user-delete", "delete a user"),
            DirectoryExport => ("directory-export", "export the directory"),
            Import => ("import", "import users"),
            Keys => ("keys", "change the signing keys"),
            Policies => ("policies", "change the sign-in policies"),
            SpNew => ("sp-new", "register a SAML service provider"),
            SpChange => ("sp-change", "change a SAML service provider's settings"),
            SpMetadata => ("sp-metadata", "replace a service provider's metadata"),
            Role => ("role", "change a person's console role"),
            PasswordReset => ("password-reset", "reset a person's password"),
            MfaReset => ("mfa-reset", "reset a person's two-step verification"),
        }
    }

    fn code(self) -> &'static str {
        self.words().0
    }

    fn text(self) -> &'static str {
        self.words().1
    }

    fn parse(code: &str) -> Option<Confirming> {
        Confirming::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// A submitted form to send on once the admin has confirmed.
pub struct Resume {
    /// The console path it was posted to.
    pub action: String,
    /// Its URL-encoded body.
    pub body: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/verify.html")]
struct VerifyPage {
    chrome: Chrome,
    return_to: String,
    /// What is being confirmed (its code, and its text), when it is a sensitive action.
    why: &'static str,
    what: Option<&'static str>,
    resume: Option<Resume>,
    error: Option<&'static str>,
}

/// One field of a form sent on.
pub struct Field {
    pub name: String,
    pub value: String,
}

/// The page that sends a kept form on: after "Confirm it's you" (at once, `auto`), or as the
/// question asked before a disruptive action (the admin answers with the button).
#[derive(Template, WebTemplate)]
#[template(path = "console/confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub title: String,
    pub lines: Vec<String>,
    pub warning: Option<String>,
    pub action: String,
    pub fields: Vec<Field>,
    pub button: String,
    pub danger: bool,
    pub back: String,
    pub auto: bool,
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    why: String,
}

/// Only console pages are destinations.
pub fn destination(raw: &str) -> String {
    safe_return_to(raw)
        .filter(|p| p == "/admin" || p.starts_with("/admin/") || p.starts_with("/admin?"))
        .filter(|p| !p.starts_with("/admin/verify"))
        .unwrap_or_else(|| "/admin".into())
}

/// A console form's action to send a kept form on to: a console path, not this page's.
fn resume_action(raw: &str) -> Option<String> {
    let path = safe_return_to(raw)?;
    (path.starts_with("/admin/") && !path.starts_with("/admin/verify") && !path.contains('?'))
        .then_some(path)
}

/// The pairs of a kept form to send on, with the CSRF token replaced by the current one.
pub fn fields_of(body: &str, csrf: &str, extra: &[(&str, &str)]) -> Vec<Field> {
    let mut fields: Vec<Field> = url::form_urlencoded::parse(body.as_bytes())
        .filter(|(k, _)| k != "csrf" && !extra.iter().any(|(e, _)| k == e))
        .map(|(k, v)| Field {
            name: k.into_owned(),
            value: v.into_owned(),
        })
        .collect();
    fields.insert(
        0,
        Field {
            name: "csrf".into(),
            value: csrf.into(),
        },
    );
    fields.extend(extra.iter().map(|(k, v)| Field {
        name: (*k).into(),
        value: (*v).into(),
    }));
    fields
}

struct Shown {
    return_to: String,
    why: Option<Confirming>,
    resume: Option<Resume>,
    error: Option<&'static str>,
}

fn render(admin: &Admin, shown: Shown) -> Response {
    let (chrome, csrf) = admin.chrome("");
    let status = if shown.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    admin.render(
        &csrf,
        (
            status,
            VerifyPage {
                chrome,
                return_to: shown.return_to,
                why: shown.why.map_or("", Confirming::code),
                what: shown.why.map(Confirming::text),
                resume: shown.resume,
                error: shown.error,
            },
        ),
    )
}

/// The answer to an action that needs a fresh proof: this page in place, carrying the form
/// (`form`) posted to `action`; `back` is where Cancel goes.
pub fn interrupted(
    admin: &Admin,
    back: &str,
    why: Confirming,
    action: &str,
    form: &KeptForm,
) -> Response {
    let resume = resume_action(action).map(|action| Resume {
        action,
        body: form.0.to_string(),
    });
    render(
        admin,
        Shown {
            return_to: destination(back),
            why: Some(why),
            resume,
            error: None,
        },
    )
}

/// The redirect here from a page (a GET) that needs a fresh proof, and back to it after.
pub fn redirect(back: &str, why: Confirming) -> Response {
    let back = crate::web::auth::encode_query(back);
    see_other(&format!(
        "/admin/verify?return_to={back}&why={}",
        why.code()
    ))
}

pub async fn page(web: Web, Query(q): Query<VerifyQuery>) -> Result<Response, AppError> {
    let admin = match gate::enter(web, None).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let shown = Shown {
        return_to: destination(&q.return_to),
        why: Confirming::parse(&q.why),
        resume: None,
        error: None,
    };
    Ok(render(&admin, shown))
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    why: String,
    #[serde(default)]
    resume_action: String,
    #[serde(default)]
    resume_body: String,
}

pub async fn submit(web: Web, WebForm(f): WebForm<VerifyForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let mut admin = match gate::enter(web, None).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let back = destination(&f.return_to);
    let why = Confirming::parse(&f.why);
    let resume = resume_action(&f.resume_action)
        .filter(|_| !f.resume_body.is_empty())
        .map(|action| Resume {
            action,
            body: f.resume_body,
        });
    let refused = |error| Shown {
        return_to: back.clone(),
        why,
        resume: None,
        error: Some(error),
    };
    let wrong = "The password or the code is not right.";
    if f.password.chars().count() > HARD_MAX_PASSWORD as usize || f.code.len() > 64 {
        let shown = Shown {
            resume,
            ..refused(wrong)
        };
        return Ok(render(&admin, shown));
    }
    let outcome = flow::step_up(
        &admin.web.ctx(),
        &admin.user,
        Password::new(f.password),
        &f.code,
    )
    .await?;
    let error = match outcome {
        StepUp::Verified => {
            admin.verified();
            let Some(resume) = resume else {
                return Ok(admin.page(see_other(&back)));
            };
            return Ok(carry_on(&admin, &back, why, resume));
        }
        StepUp::Failed => wrong,
        StepUp::Throttled => {
            "Too many failed attempts from your network. Wait a few minutes and try again."
        }
    };
    let shown = Shown {
        resume,
        ..refused(error)
    };
    Ok(render(&admin, shown))
}

/// After the proof: the page that sends the interrupted form on at once.
fn carry_on(admin: &Admin, back: &str, why: Option<Confirming>, resume: Resume) -> Response {
    let (chrome, csrf) = admin.chrome("");
    let what = why.map_or("the action you started", Confirming::text);
    let page = ConfirmPage {
        fields: fields_of(&resume.body, &chrome.csrf, &[]),
        chrome,
        title: "Confirmed".into(),
        lines: vec![format!("Thank you. Carrying on: {what}.")],
        warning: None,
        action: resume.action,
        button: "Continue".into(),
        danger: false,
        back: back.into(),
        auto: true,
    };
    admin.render(&csrf, page)
}

#[cfg(test)]
mod tests {
    use super::Confirming;

    #[test]
    fn every_confirmation_has_its_own_code_and_reads_back_from_it() {
        for c in Confirming::ALL {
            assert_eq!(Confirming::parse(c.code()), Some(c));
            assert!(!c.text().is_empty());
        }
        assert_eq!(Confirming::parse("nonsense"), None);
    }
}
