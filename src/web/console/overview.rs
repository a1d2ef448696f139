//! `/admin`: where an admin lands: find a user, the common tasks, and the latest activity.

use askama::Template;
use askama_web::WebTemplate;
use axum::response::Response;

use super::{Chrome, activity, admin};
use crate::console::Power;
use crate::web::auth::Web;
use crate::web::error::AppError;

#[derive(Template, WebTemplate)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    tenant_url: String,
    can_manage: bool,
    activity: Option<Vec<activity::Line>>,
}

pub async fn overview(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let activity = if Power::ViewAudit.held_by(admin.role) {
        let svc = &admin.web.state.svc;
        let rows = crate::store::audit::recent(&svc.store, admin.web.tenant.id, 12).await?;
        Some(activity::lines(svc, admin.web.tenant.id, rows).await?)
    } else {
        None
    };
    let (chrome, csrf) = admin.chrome("/admin");
    let page = OverviewPage {
        chrome,
        tenant_url: admin
            .web
            .state
            .svc
            .public_url
            .tenant_origin(admin.web.tenant.slug.as_str()),
        can_manage: Power::ManageDirectory.held_by(admin.role),
        activity,
    };
    Ok(admin.render(&csrf, page))
}
