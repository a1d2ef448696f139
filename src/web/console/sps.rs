//! `/admin/apps/saml/…`: registering a SAML service provider (its metadata pasted or uploaded,
//! or its endpoints entered by hand), its NameID, attribute and signing options, replacing its
//! metadata, who may use it, and deleting it; with the IdP's own metadata and certificate to
//! hand to the SP. SPs are addressed by their row id: entity ids are URLs.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query};
use axum::response::Response;

use super::apps::{self, AccessAnswer, AccessForm, AccessPanel, Deletion};
use super::verify::Confirming;
use super::{Admin, Chrome, DoneQuery, Pairs, admin, first, lines, when};
use crate::console::Power;
use crate::directory::attributes::{self, Attribute};
use crate::saml::inbound::MAX_METADATA_BYTES;
use crate::saml::sps::{
    self, AttributeRule, AttributeSource, ManualSp, NameIdFormat, ServiceProvider, Signing,
    SpError, SpOptions,
};
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;

/// Reads a metadata form (which may carry a file), each part at most the metadata limit.
async fn read_parts(form: Result<Multipart, MultipartRejection>) -> Result<Pairs, String> {
    super::read_parts(form, MAX_METADATA_BYTES, "metadata").await
}

/// The metadata of a form: the uploaded file if one was chosen, else the pasted text.
fn metadata_of(f: &Pairs) -> Option<&str> {
    [first(f, "metadata_file"), first(f, "metadata")]
        .into_iter()
        .map(str::trim)
        .find(|m| !m.is_empty())
}

/// An SP error the admin can fix, as a sentence; anything else is the server's problem.
fn fixable(e: SpError) -> Result<String, AppError> {
    match e {
        SpError::Invalid(_) | SpError::Metadata(_) | SpError::Exists(_) => {
            Ok(super::sentence(&e.to_string()))
        }
        SpError::NotFound(_) => Err(AppError::NotFound),
        e => Err(AppError::Internal(e.to_string())),
    }
}

/// The registration form as it is filled in.
#[derive(Default)]
pub struct NewFields {
    pub manual: bool,
    pub name: String,
    pub metadata: String,
    pub entity_id: String,
    pub acs_urls: String,
    pub slo_urls: String,
    pub certificate: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/sp_new.html")]
struct NewPage {
    chrome: Chrome,
    form: NewFields,
    error: Option<String>,
    max_kib: usize,
}

fn new_page(admin: &Admin, form: NewFields, error: Option<String>) -> Response {
    let (chrome, csrf) = admin.chrome("/admin/apps");
    let failed = error.is_some();
    admin.render_form(
        &csrf,
        failed,
        NewPage {
            chrome,
            form,
            error,
            max_kib: MAX_METADATA_BYTES / 1024,
        },
    )
}

/// Registering an SP and changing its endpoints, certificates or options need a fresh proof of
/// presence: they decide where assertions about users go.
const NEW_PATH: &str = "/admin/apps/saml/new";

pub async fn new(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageApps);
    if !admin.recently_verified() {
        return Ok(admin.reverify(NEW_PATH, Confirming::SpNew));
    }
    Ok(new_page(&admin, NewFields::default(), None))
}

pub async fn create(
    web: Web,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageApps);
    let f = match read_parts(form).await {
        Ok(f) => f,
        Err(e) => return Ok(new_page(&admin, NewFields::default(), Some(e))),
    };
    if !admin.web.csrf_ok(first(&f, "csrf")) {
        return Ok(admin.web.csrf_failed());
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify(NEW_PATH, Confirming::SpNew));
    }
    let manual = first(&f, "mode") == "manual";
    let name: String = first(&f, "name").trim().chars().take(201).collect();
    let entity_id: String = first(&f, "entity_id").trim().chars().take(1025).collect();
    let fields = NewFields {
        manual,
        name: name.clone(),
        // A large pasted document is not sent back into the page.
        metadata: first(&f, "metadata").chars().take(16 * 1024).collect(),
        entity_id: entity_id.clone(),
        acs_urls: first(&f, "acs_urls").chars().take(8192).collect(),
        slo_urls: first(&f, "slo_urls").chars().take(8192).collect(),
        certificate: first(&f, "certificate").chars().take(16 * 1024).collect(),
    };
    let options = SpOptions {
        name: (!name.is_empty()).then_some(name),
        ..SpOptions::default()
    };
    let svc = &admin.web.state.svc;
    let (tenant, by, now) = (&admin.web.tenant, admin.by(), admin.web.now);
    let made = if manual {
        let certificate = first(&f, "certificate").trim();
        let manual = ManualSp {
            entity_id,
            acs_urls: lines(first(&f, "acs_urls"), sps::MAX_ENDPOINTS),
            slo_urls: lines(first(&f, "slo_urls"), sps::MAX_ENDPOINTS),
            certificates: if certificate.is_empty() {
                vec![]
            } else {
                vec![certificate.to_owned()]
            },
        };
        sps::create(svc, tenant, manual, options, by, now).await
    } else {
        let Some(xml) = metadata_of(&f) else {
            let error = "Paste the service provider's metadata, or choose its file.".to_owned();
            return Ok(new_page(&admin, fields, Some(error)));
        };
        let only = (!entity_id.is_empty()).then_some(entity_id.as_str());
        sps::import(svc, tenant, xml, only, options, by, now).await
    };
    match made {
        Ok(sp) => Ok(see_other(&format!(
            "/admin/apps/saml/{}?done=created",
            sp.id
        ))),
        Err(e) => Ok(new_page(&admin, fields, Some(fixable(e)?))),
    }
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// The options form as it is filled in.
pub struct OptionFields {
    pub name: String,
    pub name_id_format: String,
    pub name_id_formats: Vec<Choice>,
    pub attributes: String,
    pub signing: String,
    pub signings: Vec<Choice>,
    pub require_signed_requests: bool,
    pub assertion_seconds: String,
    pub idp_initiated: bool,
    pub default_relay_state: String,
}

fn name_id_label(f: NameIdFormat) -> &'static str {
    match f {
        NameIdFormat::Persistent => "Persistent: an opaque id, the same every time",
        NameIdFormat::Transient => "Transient: a new opaque id each sign-in",
        NameIdFormat::Email => "E-mail address",
        NameIdFormat::Unspecified => "Unspecified: the username",
    }
}

impl OptionFields {
    fn of(sp: &ServiceProvider) -> OptionFields {
        let c = &sp.config;
        OptionFields {
            name: sp.name.clone(),
            name_id_format: c.name_id_format.short().into(),
            attributes: c
                .attributes
                .iter()
                .map(AttributeRule::to_text)
                .collect::<Vec<_>>()
                .join("\n"),
            signing: c.signing.as_str().into(),
            require_signed_requests: c.require_signed_requests,
            assertion_seconds: c.assertion_seconds.to_string(),
            idp_initiated: c.idp_initiated,
            default_relay_state: c.default_relay_state.clone().unwrap_or_default(),
            ..OptionFields::choices()
        }
    }

    fn choices() -> OptionFields {
        OptionFields {
            name: String::new(),
            name_id_format: String::new(),
            name_id_formats: NameIdFormat::ALL
                .iter()
                .map(|f| Choice {
                    value: f.short(),
                    label: name_id_label(*f),
                })
                .collect(),
            attributes: String::new(),
            signing: String::new(),
            signings: [
                (Signing::Assertion, "The assertion"),
                (Signing::Response, "The response"),
                (Signing::Both, "Both the response and the assertion"),
            ]
            .into_iter()
            .map(|(s, label)| Choice {
                value: s.as_str(),
                label,
            })
            .collect(),
            require_signed_requests: false,
            assertion_seconds: String::new(),
            idp_initiated: false,
            default_relay_state: String::new(),
        }
    }

    /// The form as submitted, to show again with an error.
    fn from_form(f: &Pairs) -> OptionFields {
        OptionFields {
            name: first(f, "name").chars().take(201).collect(),
            name_id_format: first(f, "name_id_format").chars().take(32).collect(),
            attributes: first(f, "attributes").chars().take(16 * 1024).collect(),
            signing: first(f, "signing").chars().take(16).collect(),
            require_signed_requests: first(f, "require_signed_requests") == "true",
            assertion_seconds: first(f, "assertion_seconds").chars().take(10).collect(),
            idp_initiated: first(f, "idp_initiated") == "true",
            default_relay_state: first(f, "default_relay_state").chars().take(200).collect(),
            ..OptionFields::choices()
        }
    }
}

/// Reads the options form; `Err` is what to tell the admin.
fn read_options(f: &Pairs) -> Result<SpOptions, String> {
    let name_id_format =
        NameIdFormat::parse(first(f, "name_id_format")).ok_or("Choose a NameID format.")?;
    let signing = Signing::parse(first(f, "signing")).ok_or("Choose what to sign.")?;
    let assertion_seconds = first(f, "assertion_seconds")
        .trim()
        .parse::<u32>()
        .map_err(|_| "The assertion lifetime must be a number of seconds.")?;
    let text = first(f, "attributes");
    if text.lines().count() > 64 {
        return Err("At most 64 attribute lines.".into());
    }
    let attributes = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| AttributeRule::parse(&l.chars().take(600).collect::<String>()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| super::sentence(&e.to_string()))?;
    let relay: String = first(f, "default_relay_state")
        .trim()
        .chars()
        .take(200)
        .collect();
    Ok(SpOptions {
        name: Some(first(f, "name").chars().take(201).collect()),
        name_id_format: Some(name_id_format),
        signing: Some(signing),
        require_signed_requests: Some(first(f, "require_signed_requests") == "true"),
        assertion_seconds: Some(assertion_seconds),
        idp_initiated: first(f, "idp_initiated") == "true",
        default_relay_state: (!relay.is_empty()).then_some(relay),
        attributes: Some(attributes),
    })
}

/// Refuses a rule that maps a custom attribute the directory does not have (it would send
/// nothing, silently).
fn mapped_attributes_exist(o: SpOptions, schema: &[Attribute]) -> Result<SpOptions, String> {
    for rule in o.attributes.iter().flatten() {
        if let AttributeSource::Custom(name) = &rule.source
            && !schema.iter().any(|a| &a.name == name)
        {
            return Err(format!(
                "There is no custom attribute `{name}`. Add it under Attributes first, or fix \
                 the rule."
            ));
        }
    }
    Ok(o)
}

pub struct Endpoint {
    pub url: String,
    pub note: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/sp.html")]
struct SpPage {
    chrome: Chrome,
    base: String,
    name: String,
    entity_id: String,
    acs: Vec<Endpoint>,
    slo: Vec<Endpoint>,
    signing_certificates: usize,
    start_url: Option<String>,
    idp_entity_id: String,
    idp_sso_url: String,
    idp_metadata_url: String,
    idp_certificate_url: String,
    created: String,
    updated: String,
    form: OptionFields,
    access: AccessPanel,
    can_manage: bool,
    delete_note: &'static str,
    notice: Option<&'static str>,
    error: Option<String>,
    max_kib: usize,
}

async fn sp_page(
    admin: &Admin,
    sp: &ServiceProvider,
    form: Option<OptionFields>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let base = format!("/admin/apps/saml/{}", sp.id);
    let access = apps::access_panel(admin, &sp.app(), format!("{base}/access")).await?;
    let svc = &admin.web.state.svc;
    let origin = svc.public_url.tenant_origin(admin.web.tenant.slug.as_str());
    let start_url = sp.config.idp_initiated.then(|| {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sp", &sp.entity_id)
            .finish();
        format!("{origin}{}?{q}", crate::saml::paths::START)
    });
    let (chrome, csrf) = admin.chrome("/admin/apps");
    let failed = error.is_some();
    let page = SpPage {
        chrome,
        base,
        name: sp.name.clone(),
        entity_id: sp.entity_id.clone(),
        acs: sp
            .config
            .acs
            .iter()
            .map(|a| Endpoint {
                url: a.url.clone(),
                note: if a.is_default {
                    format!("index {}, default", a.index)
                } else {
                    format!("index {}", a.index)
                },
            })
            .collect(),
        slo: sp
            .config
            .slo
            .iter()
            .map(|s| Endpoint {
                url: s.url.clone(),
                note: if s.binding == sps::BINDING_POST {
                    "HTTP-POST".into()
                } else {
                    "HTTP-Redirect".into()
                },
            })
            .collect(),
        signing_certificates: sp.config.signing_certificates.len(),
        start_url,
        idp_entity_id: crate::saml::metadata::entity_id(svc, &admin.web.tenant),
        idp_sso_url: format!("{origin}{}", crate::saml::paths::SSO),
        idp_metadata_url: format!("{origin}{}", crate::saml::paths::METADATA),
        idp_certificate_url: format!("{origin}{}", crate::saml::paths::CERTIFICATE),
        created: when(sp.created_at),
        updated: when(sp.updated_at),
        form: form.unwrap_or_else(|| OptionFields::of(sp)),
        access,
        can_manage: Power::ManageApps.held_by(admin.role),
        delete_note: apps::SAML_DELETE_NOTE,
        notice,
        error,
        max_kib: MAX_METADATA_BYTES / 1024,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

async fn find(admin: &Admin, id: &str) -> Result<ServiceProvider, AppError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    sps::find_by_id(&admin.web.state.svc, &admin.web.tenant, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn show(
    web: Web,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewSettings);
    let sp = find(&admin, &id).await?;
    let notice = match q.done.as_str() {
        "created" => Some(
            "The service provider is registered. Give it the IdP details below, then check \
             its options.",
        ),
        "saved" => Some("The options are saved. They apply from the next sign-in."),
        "metadata" => Some("The metadata is replaced. New endpoints and certificates apply now."),
        other => apps::access_notice(other),
    };
    sp_page(&admin, &sp, None, notice, None).await
}

pub async fn update(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<Pairs>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(first(&f, "csrf")) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    let sp = find(&admin, &id).await?;
    if !admin.recently_verified() {
        return Ok(admin.reverify(&format!("/admin/apps/saml/{}", sp.id), Confirming::SpChange));
    }
    let refused = |error: String| (Some(OptionFields::from_form(&f)), Some(error));
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    let options = match read_options(&f).and_then(|o| mapped_attributes_exist(o, &schema)) {
        Ok(o) => o,
        Err(e) => {
            let (form, error) = refused(e);
            return sp_page(&admin, &sp, form, None, error).await;
        }
    };
    let svc = &admin.web.state.svc;
    let (by, now) = (admin.by(), admin.web.now);
    match sps::update(svc, &admin.web.tenant, &sp, None, options, by, now).await {
        Ok(_) => Ok(see_other(&format!("/admin/apps/saml/{}?done=saved", sp.id))),
        Err(e) => {
            let (form, error) = refused(fixable(e)?);
            sp_page(&admin, &sp, form, None, error).await
        }
    }
}

pub async fn replace_metadata(
    web: Web,
    Path(id): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageApps);
    let sp = find(&admin, &id).await?;
    let f = match read_parts(form).await {
        Ok(f) => f,
        Err(e) => return sp_page(&admin, &sp, None, None, Some(e)).await,
    };
    if !admin.web.csrf_ok(first(&f, "csrf")) {
        return Ok(admin.web.csrf_failed());
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify(
            &format!("/admin/apps/saml/{}", sp.id),
            Confirming::SpMetadata,
        ));
    }
    let Some(xml) = metadata_of(&f) else {
        let error = "Paste the service provider's new metadata, or choose its file.".to_owned();
        return sp_page(&admin, &sp, None, None, Some(error)).await;
    };
    let svc = &admin.web.state.svc;
    let (by, now) = (admin.by(), admin.web.now);
    match sps::update(
        svc,
        &admin.web.tenant,
        &sp,
        Some(xml),
        sp.options(),
        by,
        now,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/admin/apps/saml/{}?done=metadata",
            sp.id
        ))),
        Err(e) => sp_page(&admin, &sp, None, None, Some(fixable(e)?)).await,
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
    let admin = admin!(web, Power::ManageApps);
    let sp = find(&admin, &id).await?;
    let back = format!("/admin/apps/saml/{}", sp.id);
    match apps::confirm_deletion(&admin, &f.confirm, &sp.name, &back) {
        Deletion::Confirmed => {}
        Deletion::Mistyped(error) => return sp_page(&admin, &sp, None, None, Some(error)).await,
        Deletion::Reverify(res) => return Ok(res),
    }
    let svc = &admin.web.state.svc;
    sps::delete(
        svc,
        &admin.web.tenant,
        &sp.entity_id,
        admin.by(),
        admin.web.now,
    )
    .await?;
    Ok(see_other("/admin/apps?done=deleted"))
}

pub async fn access(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<AccessForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    let sp = find(&admin, &id).await?;
    let base = format!("/admin/apps/saml/{}", sp.id);
    match apps::change_access(&admin, (&sp.app(), &sp.name, &base), &f).await? {
        AccessAnswer::Done(done) => Ok(apps::back_with(&base, done)),
        AccessAnswer::Refused(error) => sp_page(&admin, &sp, None, None, Some(error)).await,
        AccessAnswer::Ask(question) => Ok(question),
    }
}
