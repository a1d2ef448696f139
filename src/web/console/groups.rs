//! `/admin/groups`: the tenant's groups, creating one, and one group's page (rename, members,
//! delete). Group names flow into OIDC `groups` claims and SAML attributes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Admin, Chrome, DoneQuery, FieldErrors, admin, when};
use crate::console::{Power, may_act_on};
use crate::directory::groups::{self, Group, GroupError, MAX_DESCRIPTION, MAX_NAME};
use crate::directory::username_key;
use crate::ids::GroupId;
use crate::store::{groups as store_groups, users};
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;

struct GroupLine {
    href: String,
    name: String,
    description: String,
    members: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/groups.html")]
struct ListPage {
    chrome: Chrome,
    groups: Vec<GroupLine>,
    can_manage: bool,
    name: String,
    description: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
    max_name: usize,
    max_description: usize,
}

fn list_page(
    admin: &Admin,
    all: Vec<Group>,
    (name, description): (&str, &str),
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Response {
    let (chrome, csrf) = admin.chrome("/admin/groups");
    let status = if !errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        chrome,
        groups: all
            .into_iter()
            .map(|g| GroupLine {
                href: format!("/admin/groups/{}", g.id),
                name: g.name,
                description: g.description,
                members: g.members,
            })
            .collect(),
        can_manage: Power::ManageDirectory.held_by(admin.role),
        name: name.into(),
        description: description.into(),
        errors,
        notice,
        max_name: MAX_NAME,
        max_description: MAX_DESCRIPTION,
    };
    admin.render(&csrf, (status, page))
}

pub async fn list(web: Web, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let all = store_groups::list(&admin.web.state.svc.store, admin.web.tenant.id).await?;
    let notice = (q.done == "deleted").then_some("The group is deleted.");
    Ok(list_page(
        &admin,
        all,
        ("", ""),
        FieldErrors::default(),
        notice,
    ))
}

#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

fn clip(v: &str, n: usize) -> String {
    v.chars().take(n + 1).collect()
}

/// Every problem with a group's name and description, each beside its field.
fn check_group(name: &str, description: &str) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if groups::GroupName::parse(name).is_err() {
        errors.add(
            "name",
            format!("Enter a name of 1 to {MAX_NAME} characters, without commas."),
        );
    }
    if groups::parse_description(description).is_err() {
        errors.add(
            "description",
            format!("Keep the description to {MAX_DESCRIPTION} characters, on one line."),
        );
    }
    errors
}

/// Whether another group of the tenant (not `this`) has the name `name` (as names compare).
async fn taken(admin: &Admin, name: &str, this: Option<GroupId>) -> Result<bool, AppError> {
    if groups::GroupName::parse(name).is_err() {
        return Ok(false);
    }
    match groups::find(&admin.web.state.svc, &admin.web.tenant, name).await {
        Ok(g) => Ok(Some(g.id) != this),
        Err(GroupError::NotFound(_)) => Ok(false),
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

/// A group error the admin can fix, beside its field; anything else is the server's problem.
fn fixable(e: GroupError) -> Result<FieldErrors, AppError> {
    let mut errors = FieldErrors::default();
    match e {
        GroupError::Taken(_) => errors.add("name", "There is already a group with this name."),
        GroupError::Name => errors.add("name", "Enter a valid name."),
        GroupError::Description => errors.add("description", "Enter a valid description."),
        e => return Err(AppError::Internal(e.to_string())),
    }
    Ok(errors)
}

pub async fn create(web: Web, WebForm(f): WebForm<GroupForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    let (name, description) = (
        clip(&f.name, MAX_NAME),
        clip(&f.description, MAX_DESCRIPTION),
    );
    let svc = &admin.web.state.svc;
    let mut errors = check_group(&name, &description);
    if taken(&admin, &name, None).await? {
        errors.add("name", "There is already a group with this name.");
    }
    if !errors.is_empty() {
        let all = store_groups::list(&svc.store, admin.web.tenant.id).await?;
        return Ok(list_page(&admin, all, (&name, &description), errors, None));
    }
    match groups::create(
        svc,
        &admin.web.tenant,
        &name,
        &description,
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(g) => Ok(see_other(&format!("/admin/groups/{}?done=created", g.id))),
        Err(e) => {
            let errors = fixable(e)?;
            let all = store_groups::list(&svc.store, admin.web.tenant.id).await?;
            Ok(list_page(&admin, all, (&name, &description), errors, None))
        }
    }
}

/// Members listed on a group's page; the user list filtered by the group shows them all.
const MEMBERS_SHOWN: u64 = 200;

struct Member {
    href: String,
    id: String,
    username: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/group.html")]
struct GroupPage {
    chrome: Chrome,
    base: String,
    name: String,
    description: String,
    created: String,
    members: Vec<Member>,
    /// More members than shown: link to the filtered user list.
    all_members: Option<String>,
    can_manage: bool,
    notice: Option<&'static str>,
    error: Option<String>,
    /// The settings form: as stored, or as submitted when refused, and its problems.
    form_name: String,
    form_description: String,
    errors: FieldErrors,
    max_name: usize,
    max_description: usize,
}

async fn find(admin: &Admin, id: &str) -> Result<Group, AppError> {
    let Ok(id) = id.parse::<GroupId>() else {
        return Err(AppError::NotFound);
    };
    store_groups::find(&admin.web.state.svc.store, admin.web.tenant.id, id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn group_page(
    admin: &Admin,
    g: &Group,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    group_page_with(admin, g, (notice, error), None).await
}

/// [`group_page`] with the settings form as it was submitted (`name`, `description`) when it
/// was refused for `errors`.
async fn group_page_with(
    admin: &Admin,
    g: &Group,
    (notice, error): (Option<&'static str>, Option<String>),
    refused: Option<(&str, &str, FieldErrors)>,
) -> Result<Response, AppError> {
    let svc = &admin.web.state.svc;
    let members =
        store_groups::members(&svc.store, admin.web.tenant.id, g.id, MEMBERS_SHOWN).await?;
    let (chrome, csrf) = admin.chrome("/admin/groups");
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = GroupPage {
        chrome,
        base: format!("/admin/groups/{}", g.id),
        name: g.name.clone(),
        description: g.description.clone(),
        created: when(g.created_at),
        all_members: (g.members > MEMBERS_SHOWN as i64)
            .then(|| format!("/admin/users?group={}", g.id)),
        members: members
            .into_iter()
            .map(|(id, username)| Member {
                href: format!("/admin/users/{id}"),
                id: id.to_string(),
                username,
            })
            .collect(),
        can_manage: Power::ManageDirectory.held_by(admin.role),
        notice,
        error,
        form_name: refused
            .as_ref()
            .map_or_else(|| g.name.clone(), |(n, _, _)| (*n).to_owned()),
        form_description: refused
            .as_ref()
            .map_or_else(|| g.description.clone(), |(_, d, _)| (*d).to_owned()),
        errors: refused.map(|(_, _, e)| e).unwrap_or_default(),
        max_name: MAX_NAME,
        max_description: MAX_DESCRIPTION,
    };
    Ok(admin.render(&csrf, (status, page)))
}

pub async fn show(
    web: Web,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let g = find(&admin, &id).await?;
    let notice = match q.done.as_str() {
        "created" => Some("The group is created. Add its members below."),
        "renamed" => Some("The group is saved."),
        "added" => Some("The member is added."),
        "bulk-added" => Some("The ticked users are members of this group now."),
        "already" => Some("That user was already a member."),
        "removed" => Some("The member is removed."),
        _ => None,
    };
    group_page(&admin, &g, notice, None).await
}

pub async fn rename(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<GroupForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    let g = find(&admin, &id).await?;
    let (name, description) = (
        clip(&f.name, MAX_NAME),
        clip(&f.description, MAX_DESCRIPTION),
    );
    let svc = &admin.web.state.svc;
    let check = super::CHECK_FIELDS.to_owned();
    let mut errors = check_group(&name, &description);
    if taken(&admin, &name, Some(g.id)).await? {
        errors.add("name", "There is already a group with this name.");
    }
    if !errors.is_empty() {
        let refused = Some((name.as_str(), description.as_str(), errors));
        return group_page_with(&admin, &g, (None, Some(check)), refused).await;
    }
    match groups::rename(
        svc,
        &admin.web.tenant,
        &g,
        &name,
        Some(&description),
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/groups/{}?done=renamed", g.id))),
        Err(e) => {
            let refused = Some((name.as_str(), description.as_str(), fixable(e)?));
            group_page_with(&admin, &g, (None, Some(check)), refused).await
        }
    }
}

pub async fn delete(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<super::ConfirmForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    let g = find(&admin, &id).await?;
    if username_key(f.confirm.trim()) != username_key(&g.name) {
        let message = "Type the group's name exactly to confirm deleting it.".to_owned();
        return group_page(&admin, &g, None, Some(message)).await;
    }
    let svc = &admin.web.state.svc;
    groups::delete(svc, &admin.web.tenant, &g, admin.by(), admin.web.now).await?;
    Ok(see_other("/admin/groups?done=deleted"))
}

#[derive(Deserialize)]
pub struct MembersForm {
    #[serde(default)]
    csrf: String,
    /// `add` (by `username`) or `remove` (by `user` id).
    #[serde(default)]
    action: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    user: String,
}

pub async fn members(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<MembersForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    let g = find(&admin, &id).await?;
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let member = f.action != "remove";
    let user = if member {
        let login: String = f.username.trim().chars().take(64).collect();
        users::find_by_username_key(&svc.store, tenant, &username_key(&login)).await?
    } else {
        match f.user.parse() {
            Ok(id) => users::find(&svc.store, tenant, id).await?,
            Err(_) => None,
        }
    };
    let Some(user) = user else {
        let message = "There is no user with that username.".to_owned();
        return group_page(&admin, &g, None, Some(message)).await;
    };
    if let Err(why) = may_act_on(&admin.user, admin.role, Power::ManageDirectory, &user, true) {
        return Ok(admin.refused(why, Some(format!("user:{}", user.id))).await);
    }
    let changed = groups::set_member(
        svc,
        &admin.web.tenant,
        &g,
        &user,
        member,
        admin.by(),
        admin.web.now,
    )
    .await?;
    let done = match (member, changed) {
        (true, true) => "added",
        (true, false) => "already",
        (false, _) => "removed",
    };
    Ok(see_other(&format!("/admin/groups/{}?done={done}", g.id)))
}
