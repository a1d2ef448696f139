//! `/admin/verify`: the admin proves presence with password and a second-factor code, for
//! console access when the login had no second factor, and before sensitive actions.

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
use crate::web::auth::{Web, WebForm, safe_return_to, see_other};
use crate::web::error::AppError;

#[derive(Template, WebTemplate)]
#[template(path = "console/verify.html")]
struct VerifyPage {
    chrome: Chrome,
    return_to: String,
    sensitive: bool,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    why: String,
}

/// Only console pages are destinations.
fn destination(raw: &str) -> String {
    safe_return_to(raw)
        .filter(|p| p == "/admin" || p.starts_with("/admin/") || p.starts_with("/admin?"))
        .filter(|p| !p.starts_with("/admin/verify"))
        .unwrap_or_else(|| "/admin".into())
}

fn render(
    admin: &Admin,
    return_to: String,
    sensitive: bool,
    error: Option<&'static str>,
) -> Response {
    let (chrome, csrf) = admin.chrome("");
    let status = if error.is_some() {
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
                return_to,
                sensitive,
                error,
            },
        ),
    )
}

pub async fn page(web: Web, Query(q): Query<VerifyQuery>) -> Result<Response, AppError> {
    let admin = match gate::enter(web, None).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    Ok(render(
        &admin,
        destination(&q.return_to),
        q.why == "sensitive",
        None,
    ))
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
    let wrong = "The password or the code is not right.";
    if f.password.chars().count() > HARD_MAX_PASSWORD as usize || f.code.len() > 64 {
        return Ok(render(&admin, back, true, Some(wrong)));
    }
    let outcome = flow::step_up(
        &admin.web.ctx(),
        &admin.user,
        Password::new(f.password),
        &f.code,
    )
    .await?;
    Ok(match outcome {
        StepUp::Verified => {
            admin.verified();
            admin.page(see_other(&back))
        }
        StepUp::Failed => render(&admin, back, true, Some(wrong)),
        StepUp::Throttled => render(
            &admin,
            back,
            true,
            Some("Too many failed attempts from your network. Wait a few minutes and try again."),
        ),
    })
}
