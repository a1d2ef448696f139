//! `/admin/apps`: the tenant's applications (OIDC clients and SAML service providers) and, on
//! each app's page, who may use it. The protocol pages are `clients` and `sps`; this module
//! holds the list and the access panel both share.

use askama::Template;
use askama_web::WebTemplate;
use axum::response::Response;
use serde::Deserialize;

use super::gate::Question;
use super::verify::Confirming;
use super::{Admin, Chrome, DoneQuery, admin};
use crate::console::Power;
use crate::directory::access::{self, App};
use crate::directory::username_key;
use crate::store::{groups as store_groups, users};
use crate::web::auth::{Web, see_other};
use crate::web::error::AppError;

struct AppLine {
    href: String,
    name: String,
    protocol: &'static str,
    identifier: String,
    access: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/apps.html")]
struct ListPage {
    chrome: Chrome,
    apps: Vec<AppLine>,
    can_manage: bool,
    notice: Option<&'static str>,
}

/// How an app's access reads in the list.
fn access_summary(assigned_only: bool, counts: Option<&(u64, u64)>) -> String {
    if !assigned_only {
        return "Everyone".into();
    }
    let (users, groups) = counts.copied().unwrap_or_default();
    let part = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match (users, groups) {
        (0, 0) => "Nobody yet".into(),
        (u, 0) => part(u, "user", "users"),
        (0, g) => part(g, "group", "groups"),
        (u, g) => format!(
            "{}, {}",
            part(u, "user", "users"),
            part(g, "group", "groups")
        ),
    }
}

pub async fn list(
    web: Web,
    axum::extract::Query(q): axum::extract::Query<DoneQuery>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewSettings);
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    let counts = access::counts(&svc.store, tenant).await?;
    let mut apps: Vec<AppLine> = Vec::new();
    for c in crate::oidc::clients::list(svc, tenant).await? {
        apps.push(AppLine {
            href: format!("/admin/apps/oidc/{}", c.client_id),
            access: access_summary(c.assigned_only, counts.get(&c.id)),
            name: c.name,
            protocol: "OpenID Connect",
            identifier: c.client_id,
        });
    }
    for sp in crate::saml::sps::list(svc, tenant).await? {
        apps.push(AppLine {
            href: format!("/admin/apps/saml/{}", sp.id),
            access: access_summary(sp.assigned_only, counts.get(&sp.id)),
            name: sp.name,
            protocol: "SAML 2.0",
            identifier: sp.entity_id,
        });
    }
    apps.sort_by(|a, b| {
        username_key(&a.name)
            .cmp(&username_key(&b.name))
            .then_with(|| a.identifier.cmp(&b.identifier))
    });
    let notice = (q.done == "deleted").then_some("The application is deleted.");
    let (chrome, csrf) = admin.chrome("/admin/apps");
    let page = ListPage {
        chrome,
        apps,
        can_manage: Power::ManageApps.held_by(admin.role),
        notice,
    };
    Ok(admin.render(&csrf, page))
}

pub struct Assignee {
    pub href: String,
    pub id: String,
    pub name: String,
}

/// Who may use an app, as its page shows it.
pub struct AccessPanel {
    /// Where the panel's forms post.
    pub action: String,
    pub assigned_only: bool,
    pub users: Vec<Assignee>,
    /// More direct assignments than are listed.
    pub more_users: bool,
    pub groups: Vec<Assignee>,
    /// Groups that can still be assigned (id, name).
    pub group_choices: Vec<(String, String)>,
    pub can_manage: bool,
    /// What happens to someone already signed in to the app when access is taken away.
    pub already_signed_in: &'static str,
}

/// Assignees (id, name) linked to their pages under `section`.
fn listed<I: std::fmt::Display>(rows: Vec<(I, String)>, section: &str) -> Vec<Assignee> {
    rows.into_iter()
        .map(|(id, name)| Assignee {
            href: format!("{section}/{id}"),
            id: id.to_string(),
            name,
        })
        .collect()
}

pub async fn access_panel(
    admin: &Admin,
    app: &App,
    action: String,
) -> Result<AccessPanel, AppError> {
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    let (assigned_users, assigned_groups) = access::assignees(&svc.store, tenant, app).await?;
    let all_groups = store_groups::list(&svc.store, tenant.id).await?;
    let group_choices = all_groups
        .into_iter()
        .filter(|g| !assigned_groups.iter().any(|(id, _)| *id == g.id))
        .map(|g| (g.id.to_string(), g.name))
        .collect();
    Ok(AccessPanel {
        action,
        assigned_only: app.assigned_only,
        more_users: assigned_users.len() as u64 >= access::MAX_LISTED_USERS,
        users: listed(assigned_users, "/admin/users"),
        groups: listed(assigned_groups, "/admin/groups"),
        group_choices,
        can_manage: Power::ManageApps.held_by(admin.role),
        already_signed_in: match app.kind {
            access::AppKind::OidcClients => {
                "Tokens the application already holds for them stop working at its next \
                 refresh."
            }
            access::AppKind::SamlSps => {
                "A session they already have at the service provider lasts until it ends \
                 there; they get no new assertion."
            }
        },
    })
}

#[derive(Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    pub csrf: String,
    /// `mode` (with `assigned_only`), `add_user` (by `username`), `remove_user` (by `user`),
    /// `add_group` / `remove_group` (by `group`).
    #[serde(default)]
    action: String,
    #[serde(default)]
    assigned_only: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
}

/// What became of an access change.
pub enum AccessAnswer {
    /// Done: the notice key to redirect with.
    Done(&'static str),
    /// Refused: the error to show on the app's page (nothing changed).
    Refused(String),
    /// A question to answer first (this response asks it; nothing changed yet).
    Ask(Response),
}

/// Applies one access change to `app` (called `name`, whose page is `back`).
pub async fn change_access(
    admin: &Admin,
    (app, name, back): (&App, &str, &str),
    f: &AccessForm,
) -> Result<AccessAnswer, AppError> {
    use AccessAnswer::{Ask, Done, Refused};
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    let (by, now) = (admin.by(), admin.web.now);
    match f.action.as_str() {
        "mode" => {
            let on = f.assigned_only == "true";
            if on && !app.assigned_only && !admin.confirmed() {
                let (users, groups) = access::assignees(&svc.store, tenant, app).await?;
                if users.is_empty() && groups.is_empty() {
                    return Ok(Ask(admin.ask(Question {
                        title: format!("Let nobody sign in to {name}?"),
                        lines: vec![
                            "Only the users and groups assigned to it will be able to sign in, \
                             and nobody is assigned yet."
                                .into(),
                        ],
                        warning: Some(
                            "Everyone who uses it now is refused from their next sign-in. \
                             Assign a group or users first, or go on and assign them right \
                             after."
                                .into(),
                        ),
                        button: "Only assigned users",
                        danger: true,
                        back: back.into(),
                    })));
                }
            }
            access::set_assigned_only(svc, tenant, app, on, by, now).await?;
            Ok(Done(if on { "restricted" } else { "opened" }))
        }
        "add_user" | "remove_user" => {
            let add = f.action == "add_user";
            let user = if add {
                let login: String = f.username.trim().chars().take(64).collect();
                users::find_by_username_key(&svc.store, tenant.id, &username_key(&login)).await?
            } else {
                match f.user.parse() {
                    Ok(id) => users::find(&svc.store, tenant.id, id).await?,
                    Err(_) => None,
                }
            };
            let Some(user) = user else {
                if !add {
                    // An id from the page that is not this tenant's.
                    return Err(AppError::NotFound);
                }
                return Ok(Refused("There is no user with that username.".into()));
            };
            let who = access::Assignee::User(&user);
            let changed = access::set_assigned(svc, tenant, app, who, add, by, now).await?;
            Ok(Done(match (add, changed) {
                (true, true) => "user_added",
                (true, false) => "user_already",
                (false, _) => "user_removed",
            }))
        }
        "add_group" | "remove_group" => {
            let add = f.action == "add_group";
            let group = match f.group.parse() {
                Ok(id) => store_groups::find(&svc.store, tenant.id, id).await?,
                Err(_) => None,
            };
            let Some(group) = group else {
                return Err(AppError::NotFound);
            };
            let who = access::Assignee::Group(&group);
            let changed = access::set_assigned(svc, tenant, app, who, add, by, now).await?;
            Ok(Done(match (add, changed) {
                (true, true) => "group_added",
                (true, false) => "group_already",
                (false, _) => "group_removed",
            }))
        }
        _ => Ok(Refused("That change is not one this page makes.".into())),
    }
}

/// The notice for a `done` key an app page was redirected with.
pub fn access_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "restricted" => {
            "Only the users and groups assigned below may sign in to this application now."
        }
        "opened" => "Every active user of the directory may sign in to this application now.",
        "user_added" => "The user is assigned.",
        "user_already" => "That user was already assigned.",
        "user_removed" => "The user's assignment is removed.",
        "group_added" => "The group is assigned.",
        "group_already" => "That group was already assigned.",
        "group_removed" => "The group's assignment is removed.",
        _ => return None,
    })
}

/// Where a request to delete an app stands.
pub enum Deletion {
    Confirmed,
    /// The name was not typed exactly: this message for the app's page.
    Mistyped(String),
    /// A fresh proof of presence is needed first: this response asks for it.
    Reverify(Response),
}

/// Deleting an app needs its name typed exactly, then a recent password + second factor;
/// `back` is the app's page.
pub fn confirm_deletion(admin: &Admin, typed: &str, name: &str, back: &str) -> Deletion {
    if typed.trim() != name {
        return Deletion::Mistyped(
            "Type the application's name exactly to confirm deleting it.".into(),
        );
    }
    if !admin.recently_verified() {
        return Deletion::Reverify(admin.reverify(back, Confirming::AppDelete));
    }
    Deletion::Confirmed
}

/// What the delete panel of an app page says happens.
pub const OIDC_DELETE_NOTE: &str = "Its refresh tokens are revoked and users' consents to it \
    are removed; it can no longer sign anyone in. This cannot be undone.";
pub const SAML_DELETE_NOTE: &str =
    "It can no longer sign anyone in, and its assignments are removed. This cannot be undone.";

/// Redirects back to an app's page with a notice.
pub fn back_with(base: &str, done: &str) -> Response {
    see_other(&format!("{base}?done={done}#access"))
}
