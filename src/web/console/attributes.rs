//! `/admin/attributes`: the tenant's custom user attributes (name, label, type, required), added,
//! relabelled, made required or optional, and deleted with their values. Values are edited on
//! each user's page and travel in the directory exports.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;

use super::verify::Confirming;
use super::{Admin, Chrome, DoneQuery, admin, sentence};
use crate::console::Power;
use crate::directory::attributes::{self, Attribute, AttributeError, Kind};
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;

pub struct KindChoice {
    pub value: &'static str,
    pub label: &'static str,
}

pub struct Line {
    pub id: String,
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/attributes.html")]
struct ListPage {
    chrome: Chrome,
    attributes: Vec<Line>,
    kinds: Vec<KindChoice>,
    can_manage: bool,
    form: NewForm,
    notice: Option<&'static str>,
    error: Option<String>,
    max_name: usize,
    max_label: usize,
}

async fn list_page(
    admin: &Admin,
    form: NewForm,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    let (chrome, csrf) = admin.chrome("/admin/attributes");
    let failed = error.is_some();
    let page = ListPage {
        chrome,
        attributes: schema
            .into_iter()
            .map(|a| Line {
                id: a.id,
                name: a.name,
                label: a.label,
                kind: a.kind.label(),
                required: a.required,
            })
            .collect(),
        kinds: Kind::ALL
            .into_iter()
            .map(|k| KindChoice {
                value: k.as_str(),
                label: k.label(),
            })
            .collect(),
        can_manage: Power::ManageDirectory.held_by(admin.role),
        form,
        notice,
        error,
        max_name: attributes::MAX_NAME,
        max_label: attributes::MAX_LABEL,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

/// An attribute error the admin can fix, as a sentence; anything else is the server's problem.
fn fixable(e: AttributeError) -> Result<String, AppError> {
    match e {
        AttributeError::Store(_) | AttributeError::Key(_) => Err(AppError::Internal(e.to_string())),
        AttributeError::NotFound => Err(AppError::NotFound),
        e => Ok(sentence(&e.to_string())),
    }
}

pub async fn list(web: Web, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let notice = match q.done.as_str() {
        "created" => Some("The attribute is added. Fill it in on each user's page."),
        "saved" => Some("The attribute is saved."),
        "deleted" => Some("The attribute and every value of it are deleted."),
        _ => None,
    };
    list_page(&admin, NewForm::default(), notice, None).await
}

#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub required: String,
}

pub async fn create(web: Web, WebForm(f): WebForm<NewForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    let clip = |v: &str, n: usize| v.chars().take(n + 1).collect::<String>();
    let f = NewForm {
        name: clip(&f.name, attributes::MAX_NAME),
        label: clip(&f.label, attributes::MAX_LABEL),
        kind: clip(&f.kind, 16),
        ..f
    };
    let svc = &admin.web.state.svc;
    let spec = (
        f.name.as_str(),
        f.label.as_str(),
        f.kind.as_str(),
        f.required == "true",
    );
    match attributes::define(svc, &admin.web.tenant, spec, admin.by(), admin.web.now).await {
        Ok(_) => Ok(see_other("/admin/attributes?done=created")),
        Err(e) => {
            let error = Some(fixable(e)?);
            list_page(&admin, f, None, error).await
        }
    }
}

async fn find(admin: &Admin, id: &str) -> Result<Attribute, AppError> {
    match attributes::find(&admin.web.state.svc.store, &admin.web.tenant, id).await {
        Ok(a) => Ok(a),
        Err(AttributeError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    required: String,
}

pub async fn update(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<EditForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    let a = find(&admin, &id).await?;
    let label: String = f.label.chars().take(attributes::MAX_LABEL + 1).collect();
    let svc = &admin.web.state.svc;
    let change = (label.as_str(), f.required == "true");
    match attributes::update(
        svc,
        &admin.web.tenant,
        &a,
        change,
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(()) => Ok(see_other("/admin/attributes?done=saved")),
        Err(e) => {
            let error = Some(fixable(e)?);
            list_page(&admin, NewForm::default(), None, error).await
        }
    }
}

/// The name of an application (OIDC client or SAML SP) that maps the attribute, if any.
async fn sent_to(admin: &Admin, a: &Attribute) -> Result<Option<String>, AppError> {
    let (svc, tenant) = (&admin.web.state.svc, &admin.web.tenant);
    let clients = crate::oidc::clients::list(svc, tenant)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    if let Some(c) = clients
        .iter()
        .find(|c| c.claim_rules.iter().any(|r| r.attribute == a.name))
    {
        return Ok(Some(c.name.clone()));
    }
    let sps = crate::saml::sps::list(svc, tenant)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let custom = crate::saml::sps::AttributeSource::Custom(a.name.clone());
    Ok(sps
        .iter()
        .find(|sp| sp.config.attributes.iter().any(|r| r.source == custom))
        .map(|sp| sp.name.clone()))
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
    let a = find(&admin, &id).await?;
    if f.confirm.trim() != a.name {
        let error = Some(format!(
            "Type the attribute's name ({}) exactly to confirm deleting it.",
            a.name
        ));
        return list_page(&admin, NewForm::default(), None, error).await;
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/attributes", Confirming::AttributeDelete));
    }
    if let Some(app) = sent_to(&admin, &a).await? {
        let error = Some(format!(
            "{} is sent to the application {app}. Remove it from that application's claims or \
             attribute rules first, so that no later attribute of the same name is sent in \
             its place.",
            a.label
        ));
        return list_page(&admin, NewForm::default(), None, error).await;
    }
    let svc = &admin.web.state.svc;
    attributes::delete(svc, &admin.web.tenant, &a, admin.by(), admin.web.now)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(see_other("/admin/attributes?done=deleted"))
}
