//! The page at `/`: the operator's plain landing page on the bare base domain (it lists no
//! tenants), or the tenant's home page on a tenant host. Also the stylesheet and the console's
//! script.

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::tenant::Site;

#[derive(Template, WebTemplate)]
#[template(path = "landing.html")]
struct LandingPage;

#[derive(Template, WebTemplate)]
#[template(path = "tenant_home.html")]
struct TenantHomePage {
    tenant_name: String,
}

pub async fn home(Extension(site): Extension<Site>) -> Response {
    match site {
        Site::Base => LandingPage.into_response(),
        Site::Tenant(t) => TenantHomePage {
            tenant_name: t.name.clone(),
        }
        .into_response(),
    }
}

const STYLESHEET: &str = include_str!("../../static/latchkey.css");
const CONSOLE_SCRIPT: &str = include_str!("../../static/console.js");

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The console's script (copy buttons, select all, resuming a confirmed action): served from
/// our origin so the console's CSP can allow `script-src 'self'` and nothing inline.
pub async fn console_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CONSOLE_SCRIPT,
    )
        .into_response()
}
