//! Erasure (GDPR Art. 17): deleting one user from their page (confirmed by typing the
//! username), or many at once, chosen on the user list or pasted as a CSV list of usernames,
//! shown for review before anything is deleted. Both need a recent proof of presence.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;

use super::verify::Confirming;
use super::{Admin, Chrome, admin};
use crate::console::{Power, may_act_on};
use crate::directory::{self, DirectoryError, User, username_key};
use crate::ids::UserId;
use crate::store::users;
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;

/// Most users one bulk deletion takes.
pub const MAX_BULK: usize = 10_000;

/// `POST /admin/users/{id}/delete`.
pub async fn one(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<super::ConfirmForm>,
) -> Result<Response, AppError> {
    let (admin, user) = match super::users::act(
        web,
        &f.csrf,
        &id,
        Power::ManageDirectory,
        Some(Confirming::UserDelete),
    )
    .await?
    {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if username_key(f.confirm.trim()) != username_key(&user.username) {
        let message = "Type the username exactly to confirm deleting this user.".to_owned();
        return super::users::user_page(&admin, &user, None, Some(message), None).await;
    }
    let svc = &admin.web.state.svc;
    match directory::erase(
        svc,
        admin.web.tenant.id,
        std::slice::from_ref(&user),
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(_) => Ok(see_other("/admin/users?done=deleted")),
        Err(e @ DirectoryError::LastOwner) => {
            let message = super::sentence(&e.to_string());
            super::users::user_page(&admin, &user, None, Some(message), None).await
        }
        Err(e) => Err(e.into()),
    }
}

struct Candidate {
    id: String,
    username: String,
    display_name: String,
}

struct Skipped {
    name: String,
    why: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/bulk_delete.html")]
struct BulkPage {
    chrome: Chrome,
    names: String,
    /// After "review": who would be deleted, and who not.
    review: bool,
    candidates: Vec<Candidate>,
    skipped: Vec<Skipped>,
    error: Option<String>,
    max: usize,
}

fn bulk_page(admin: &Admin, page: impl FnOnce(Chrome) -> BulkPage) -> Response {
    let (chrome, csrf) = admin.chrome("/admin/users");
    let page = page(chrome);
    admin.render_form(&csrf, page.error.is_some(), page)
}

fn empty(chrome: Chrome, names: String, error: Option<String>) -> BulkPage {
    BulkPage {
        chrome,
        names,
        review: false,
        candidates: vec![],
        skipped: vec![],
        error,
        max: MAX_BULK,
    }
}

/// `GET /admin/users/delete`: the form for a pasted list.
pub async fn form(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageDirectory);
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/users/delete", Confirming::UsersDelete));
    }
    Ok(bulk_page(&admin, |c| empty(c, String::new(), None)))
}

/// The usernames of a pasted CSV list: the first column of each line, without a `username`
/// header.
fn listed_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split(',').next())
        .map(|n| n.trim().trim_matches('"').trim().to_owned())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("username"))
        .collect()
}

/// `POST /admin/users/delete`: `step=review` (from the list's checkboxes, `user=<id>`
/// repeated, or a pasted `names` list) shows who would be deleted; `step=delete` with the
/// typed confirmation deletes them, all or none.
pub async fn bulk(web: Web, body: Bytes) -> Result<Response, AppError> {
    let mut ids: Vec<String> = vec![];
    let mut fields = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if k == "user" {
            if ids.len() <= MAX_BULK {
                ids.push(v.into_owned());
            }
        } else if matches!(k.as_ref(), "csrf" | "step" | "names" | "confirm") {
            fields.insert(k.into_owned(), v.into_owned());
        }
    }
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if !web.csrf_ok(&field("csrf")) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    if ids.is_empty() && !fields.contains_key("names") {
        // "Delete selected…" under the list, with nothing ticked.
        return Ok(see_other("/admin/users?done=none-selected"));
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/users/delete", Confirming::UsersDelete));
    }
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let names_text = field("names");
    let mut found: Vec<User> = vec![];
    let mut skipped: Vec<Skipped> = vec![];
    if ids.is_empty() {
        let names = listed_names(&names_text);
        if names.is_empty() {
            let message = "Type at least one username.".to_owned();
            return Ok(bulk_page(&admin, |c| empty(c, names_text, Some(message))));
        }
        if names.len() > MAX_BULK {
            let message = format!("At most {MAX_BULK} users can be deleted at once.");
            return Ok(bulk_page(&admin, |c| empty(c, names_text, Some(message))));
        }
        for name in names {
            let key = username_key(&name.chars().take(64).collect::<String>());
            match users::find_by_username_key(&svc.store, tenant, &key).await? {
                Some(u) => found.push(u),
                None => skipped.push(Skipped {
                    name,
                    why: "no such user",
                }),
            }
        }
    } else {
        if ids.len() > MAX_BULK {
            let message = format!("At most {MAX_BULK} users can be deleted at once.");
            return Ok(bulk_page(&admin, |c| {
                empty(c, String::new(), Some(message))
            }));
        }
        for id in &ids {
            let user = match id.parse::<UserId>() {
                Ok(id) => users::find(&svc.store, tenant, id).await?,
                Err(_) => None,
            };
            match user {
                Some(u) => found.push(u),
                None => return Err(AppError::NotFound),
            }
        }
    }
    found.sort_by(|a, b| a.username.cmp(&b.username));
    found.dedup_by_key(|u| u.id);
    let mut allowed = vec![];
    for u in found {
        match may_act_on(&admin.user, admin.role, Power::ManageDirectory, &u, false) {
            Ok(()) => allowed.push(u),
            Err(why) => skipped.push(Skipped {
                name: u.username.clone(),
                why: match why {
                    crate::console::Refusal::OwnAccount => "your own account",
                    crate::console::Refusal::TargetIsAdmin => "an administrator (owners only)",
                    crate::console::Refusal::Role => "not allowed",
                },
            }),
        }
    }
    let review = |chrome, error| BulkPage {
        chrome,
        names: names_text.clone(),
        review: true,
        candidates: allowed
            .iter()
            .map(|u| Candidate {
                id: u.id.to_string(),
                username: u.username.clone(),
                display_name: u.display_name.clone(),
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|s| Skipped {
                name: s.name.clone(),
                why: s.why,
            })
            .collect(),
        error,
        max: MAX_BULK,
    };
    if field("step") != "delete" || allowed.is_empty() {
        return Ok(bulk_page(&admin, |c| review(c, None)));
    }
    let expected = format!("delete {}", allowed.len());
    if field("confirm").trim().to_lowercase() != expected {
        let message = format!("Type “{expected}” to confirm.");
        return Ok(bulk_page(&admin, |c| review(c, Some(message))));
    }
    match directory::erase(svc, tenant, &allowed, admin.by(), admin.web.now).await {
        Ok(_) => Ok(see_other("/admin/users?done=deleted")),
        Err(e @ DirectoryError::LastOwner) => {
            let message = super::sentence(&e.to_string());
            Ok(bulk_page(&admin, |c| review(c, Some(message))))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pasted_lists_take_the_first_column() {
        let names = super::listed_names("username,email\nalice,a@x\n\"bob\" , b@x\n\n  carol\n");
        assert_eq!(names, vec!["alice", "bob", "carol"]);
    }
}
