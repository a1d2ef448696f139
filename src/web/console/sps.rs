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
use super::{
    Admin, CHECK_FIELDS, Chrome, DoneQuery, FieldErrors, Pairs, admin, first, lines, sentence, when,
};
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
            Ok(words(&e.to_string()))
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
    pub errors: FieldErrors,
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
    let name = first(&f, "name").trim().to_owned();
    let entity_id = first(&f, "entity_id").trim().to_owned();
    let mut fields = NewFields {
        manual,
        name: name.clone(),
        // A large pasted document is not sent back into the page.
        metadata: if first(&f, "metadata").len() <= 16 * 1024 {
            first(&f, "metadata").to_owned()
        } else {
            String::new()
        },
        entity_id: entity_id.clone(),
        acs_urls: first(&f, "acs_urls").to_owned(),
        slo_urls: first(&f, "slo_urls").to_owned(),
        certificate: first(&f, "certificate").to_owned(),
        errors: FieldErrors::default(),
    };
    let options = SpOptions {
        name: (!name.is_empty()).then_some(name),
        ..SpOptions::default()
    };
    for (field, problem) in options.problems() {
        fields.errors.add(field, sentence(&problem));
    }
    let certificate = first(&f, "certificate").trim();
    let by_hand = ManualSp {
        entity_id,
        acs_urls: lines(first(&f, "acs_urls"), sps::MAX_ENDPOINTS + 1),
        slo_urls: lines(first(&f, "slo_urls"), sps::MAX_ENDPOINTS + 1),
        certificates: if certificate.is_empty() {
            vec![]
        } else {
            vec![certificate.to_owned()]
        },
    };
    let xml = metadata_of(&f);
    if manual {
        for (field, problem) in by_hand.problems() {
            fields.errors.add(field, words(&problem));
        }
    } else if xml.is_none() {
        let problem = "Paste the service provider's metadata, or choose its file.";
        fields.errors.add("metadata", problem);
    }
    if !fields.errors.is_empty() {
        return Ok(new_page(&admin, fields, Some(CHECK_FIELDS.into())));
    }
    let svc = &admin.web.state.svc;
    let (tenant, by, now) = (&admin.web.tenant, admin.by(), admin.web.now);
    let made = match xml {
        Some(xml) if !manual => {
            let only = (!by_hand.entity_id.is_empty()).then_some(by_hand.entity_id.as_str());
            sps::import(svc, tenant, xml, only, options, by, now).await
        }
        _ => sps::create(svc, tenant, by_hand, options, by, now).await,
    };
    match made {
        Ok(sp) => Ok(see_other(&format!(
            "/admin/apps/saml/{}?done=created",
            sp.id
        ))),
        Err(e) => {
            // What the metadata says is the metadata's problem; by hand, a taken entity id.
            let field = if manual { "entity_id" } else { "metadata" };
            fields.errors.add(field, fixable(e)?);
            Ok(new_page(&admin, fields, Some(CHECK_FIELDS.into())))
        }
    }
}

/// A domain message for the page: a sentence, with quotes where it has code marks.
fn words(problem: &str) -> String {
    sentence(&problem.replace('`', "\""))
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
    pub errors: FieldErrors,
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
            errors: FieldErrors::default(),
        }
    }

    /// The form as submitted, to show again with its problems beside their fields.
    fn from_form(f: &Pairs, errors: FieldErrors) -> OptionFields {
        OptionFields {
            name: first(f, "name").to_owned(),
            name_id_format: first(f, "name_id_format").to_owned(),
            attributes: first(f, "attributes").to_owned(),
            signing: first(f, "signing").to_owned(),
            require_signed_requests: first(f, "require_signed_requests") == "true",
            assertion_seconds: first(f, "assertion_seconds").to_owned(),
            idp_initiated: first(f, "idp_initiated") == "true",
            default_relay_state: first(f, "default_relay_state").to_owned(),
            errors,
            ..OptionFields::choices()
        }
    }
}

/// The longest attribute line read; a longer one is refused, not cut.
const MAX_ATTRIBUTE_LINE: usize = 600;

/// Reads the options form for `sp`: the options, or every problem with them, each beside its
/// field. `schema` is the directory's custom attributes, which the attribute rules may name.
fn read_options(
    f: &Pairs,
    sp: &ServiceProvider,
    schema: &[Attribute],
) -> Result<SpOptions, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name_id_format = NameIdFormat::parse(first(f, "name_id_format"));
    if name_id_format.is_none() {
        errors.add("name_id_format", "Choose a NameID format.");
    }
    let signing = Signing::parse(first(f, "signing"));
    if signing.is_none() {
        errors.add("signing", "Choose what to sign.");
    }
    let assertion_seconds = first(f, "assertion_seconds").trim().parse::<u32>().ok();
    if assertion_seconds.is_none() {
        errors.add(
            "assertion_seconds",
            "The assertion lifetime must be a whole number of seconds, 60 to 3600.",
        );
    }
    let attributes = attribute_rules(first(f, "attributes"), schema)
        .map_err(|problem| errors.add("attributes", problem))
        .ok();
    let require_signed_requests = first(f, "require_signed_requests") == "true";
    if require_signed_requests && sp.config.signing_certificates.is_empty() {
        errors.add(
            "require_signed_requests",
            "This service provider has no signing certificate to check its requests with. \
             Replace its metadata with one that has, then require signed requests.",
        );
    }
    let relay = first(f, "default_relay_state").trim();
    let options = SpOptions {
        name: Some(first(f, "name").trim().to_owned()),
        name_id_format,
        signing,
        require_signed_requests: Some(require_signed_requests),
        assertion_seconds,
        idp_initiated: first(f, "idp_initiated") == "true",
        default_relay_state: (!relay.is_empty()).then(|| relay.to_owned()),
        attributes,
    };
    for (field, problem) in options.problems() {
        errors.add(field, words(&problem));
    }
    if errors.is_empty() {
        Ok(options)
    } else {
        Err(errors)
    }
}

/// The attribute rules, one per non-empty line, each naming a source the directory has; or
/// what is wrong with them, line by line.
fn attribute_rules(text: &str, schema: &[Attribute]) -> Result<Vec<AttributeRule>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.len() > sps::MAX_ATTRIBUTES {
        return Err(format!(
            "At most {} attributes, one per line.",
            sps::MAX_ATTRIBUTES
        ));
    }
    let mut rules = vec![];
    let mut problems = vec![];
    for (i, line) in lines {
        let n = i + 1;
        if line.chars().count() > MAX_ATTRIBUTE_LINE {
            problems.push(format!(
                "Line {n} is longer than {MAX_ATTRIBUTE_LINE} characters."
            ));
            continue;
        }
        match AttributeRule::parse(line) {
            Err(e) => problems.push(format!(
                "Line {n}: {}.",
                e.to_string().replace('`', "\"").trim_end_matches('.')
            )),
            Ok(rule) => match &rule.source {
                AttributeSource::Custom(name) if !schema.iter().any(|a| &a.name == name) => {
                    problems.push(format!(
                        "Line {n}: there is no custom attribute \"{name}\". Add it under \
                         Attributes first, or fix the line."
                    ));
                }
                _ => rules.push(rule),
            },
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems.join(" "))
    }
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
    let refused = |errors| Some(OptionFields::from_form(&f, errors));
    let check = || Some(CHECK_FIELDS.to_owned());
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    let options = match read_options(&f, &sp, &schema) {
        Ok(o) => o,
        Err(errors) => return sp_page(&admin, &sp, refused(errors), None, check()).await,
    };
    let svc = &admin.web.state.svc;
    let (by, now) = (admin.by(), admin.web.now);
    match sps::update(svc, &admin.web.tenant, &sp, None, options, by, now).await {
        Ok(_) => Ok(see_other(&format!("/admin/apps/saml/{}?done=saved", sp.id))),
        Err(e) => {
            // Every check was made above; what is left is said above the form.
            let error = Some(fixable(e)?);
            sp_page(&admin, &sp, refused(FieldErrors::default()), None, error).await
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
