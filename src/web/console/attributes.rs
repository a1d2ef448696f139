//! `/admin/attributes`: the tenant's custom user attributes (name, label, type, required), added,
//! relabelled, made required or optional, and deleted with their values. Values are edited on
//! each user's page and travel in the directory exports.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;

use super::verify::Confirming;
use super::{Admin, CHECK_FIELDS, Chrome, DoneQuery, FieldErrors, admin, sentence};
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
    /// What was typed to confirm a refused deletion.
    pub confirm: String,
    /// A refused change to this attribute, by field (`label`, `confirm`).
    pub errors: FieldErrors,
}

/// What a refused form brings back to the page: what was typed, and the problems beside
/// their fields.
#[derive(Default)]
struct Refused {
    /// The new-attribute form.
    form: NewForm,
    errors: FieldErrors,
    /// A refused change to one attribute's row: its id, the label and required flag and
    /// confirmation typed, and the problems.
    row: Option<(String, EditForm, String, FieldErrors)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/attributes.html")]
struct ListPage {
    chrome: Chrome,
    attributes: Vec<Line>,
    kinds: Vec<KindChoice>,
    can_manage: bool,
    form: NewForm,
    errors: FieldErrors,
    notice: Option<&'static str>,
    error: Option<String>,
    max_name: usize,
    max_label: usize,
}

async fn list_page(
    admin: &Admin,
    refused: Refused,
    notice: Option<&'static str>,
) -> Result<Response, AppError> {
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    let (chrome, csrf) = admin.chrome("/admin/attributes");
    let failed = !refused.errors.is_empty() || refused.row.is_some();
    let error = failed.then(|| refused.errors.of("form").unwrap_or(CHECK_FIELDS).to_owned());
    let mut row = refused.row;
    let page = ListPage {
        chrome,
        attributes: schema
            .into_iter()
            .map(|a| match row.take_if(|r| r.0 == a.id) {
                Some((_, typed, confirm, errors)) => Line {
                    label: typed.label,
                    required: typed.required == "true",
                    confirm,
                    errors,
                    ..Line::of(a)
                },
                None => Line::of(a),
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
        form: refused.form,
        errors: refused.errors,
        notice,
        error,
        max_name: attributes::MAX_NAME,
        max_label: attributes::MAX_LABEL,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

impl Line {
    fn of(a: Attribute) -> Line {
        Line {
            id: a.id,
            name: a.name,
            label: a.label,
            kind: a.kind.label(),
            required: a.required,
            confirm: String::new(),
            errors: FieldErrors::default(),
        }
    }
}

/// The page again with a refused change to attribute `a` (`field` is `label` or `confirm`).
async fn row_refused(
    admin: &Admin,
    a: &Attribute,
    typed: EditForm,
    confirm: String,
    (field, problem): (&str, String),
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    errors.add(field, problem);
    let row = Some((a.id.clone(), typed, confirm, errors));
    list_page(
        admin,
        Refused {
            row,
            ..Refused::default()
        },
        None,
    )
    .await
}

/// An attribute error the admin can fix, as a sentence; anything else is the server's problem.
fn fixable(e: AttributeError) -> Result<String, AppError> {
    match e {
        AttributeError::Store(_) | AttributeError::Key(_) => Err(AppError::Internal(e.to_string())),
        AttributeError::NotFound => Err(AppError::NotFound),
        e => Ok(sentence(&e.to_string().replace('`', "\""))),
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
    list_page(&admin, Refused::default(), notice).await
}

#[derive(Deserialize, Default, Clone)]
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
    let mut errors = FieldErrors::default();
    for (field, e) in attributes::problems(&f.name, &f.label, &f.kind) {
        errors.add(field, fixable(e)?);
    }
    if errors.is_empty() {
        let svc = &admin.web.state.svc;
        let spec = (
            f.name.as_str(),
            f.label.as_str(),
            f.kind.as_str(),
            f.required == "true",
        );
        match attributes::define(svc, &admin.web.tenant, spec, admin.by(), admin.web.now).await {
            Ok(_) => return Ok(see_other("/admin/attributes?done=created")),
            // A taken name is the name's problem; a full directory, the form's.
            Err(e @ AttributeError::Taken(_)) => errors.add("name", fixable(e)?),
            Err(e) => errors.add("form", fixable(e)?),
        }
    }
    let refused = Refused {
        form: f,
        errors,
        row: None,
    };
    list_page(&admin, refused, None).await
}

async fn find(admin: &Admin, id: &str) -> Result<Attribute, AppError> {
    match attributes::find(&admin.web.state.svc.store, &admin.web.tenant, id).await {
        Ok(a) => Ok(a),
        Err(AttributeError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

#[derive(Deserialize, Default)]
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
    let svc = &admin.web.state.svc;
    let change = (f.label.as_str(), f.required == "true");
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
            let problem = ("label", fixable(e)?);
            row_refused(&admin, &a, f, String::new(), problem).await
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
    let unchanged = || EditForm {
        label: a.label.clone(),
        required: if a.required { "true" } else { "" }.into(),
        ..EditForm::default()
    };
    if f.confirm.trim() != a.name {
        let problem = format!(
            "Type the attribute's name ({}) exactly to confirm deleting it.",
            a.name
        );
        return row_refused(&admin, &a, unchanged(), f.confirm, ("confirm", problem)).await;
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/attributes", Confirming::AttributeDelete));
    }
    if let Some(app) = sent_to(&admin, &a).await? {
        let problem = format!(
            "{} is sent to the application {app}. Remove it from that application's claims or \
             attribute rules first, so that no later attribute of the same name is sent in \
             its place.",
            a.label
        );
        return row_refused(&admin, &a, unchanged(), f.confirm, ("confirm", problem)).await;
    }
    let svc = &admin.web.state.svc;
    attributes::delete(svc, &admin.web.tenant, &a, admin.by(), admin.web.now)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(see_other("/admin/attributes?done=deleted"))
}
