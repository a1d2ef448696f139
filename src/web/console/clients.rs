//! `/admin/apps/oidc/…`: registering an OpenID Connect client (its secret shown once), its
//! settings, rotating its secret, who may use it, and deleting it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query};
use axum::response::Response;

use super::apps::{self, AccessAnswer, AccessForm, AccessPanel, Deletion};
use super::verify::Confirming;
use super::{
    Admin, CHECK_FIELDS, Chrome, DoneQuery, FieldErrors, Pairs, admin, claim_once, first, lines,
    when,
};
use crate::console::Power;
use crate::crypto::signing::Alg;
use crate::oidc::clients::{
    self, Client, ClientError, ClientKind, GRANT_TYPES, MAX_CLAIM_RULES, MAX_URIS, NewClient,
    SCOPES,
};
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;

fn all(f: &Pairs, key: &str) -> Vec<String> {
    f.iter()
        .filter(|(k, _)| k == key)
        .take(16)
        .map(|(_, v)| v.chars().take(64).collect())
        .collect()
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// The settings form as it is filled in.
pub struct Fields {
    pub name: String,
    pub public: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grants: Vec<Choice>,
    pub scopes: Vec<Choice>,
    pub claim_rules: String,
    pub access_token: Lifetime,
    pub refresh_token: Lifetime,
    pub require_consent: bool,
    pub require_pkce: bool,
    pub alg: String,
    pub algs: Vec<&'static str>,
    /// What is wrong with each field, after a refused submission.
    pub errors: FieldErrors,
}

fn grant_label(g: &str) -> &'static str {
    match g {
        "authorization_code" => "Authorization code (users sign in)",
        "refresh_token" => "Refresh tokens (stay signed in)",
        "client_credentials" => "Client credentials (machine to machine)",
        _ => "",
    }
}

fn scope_label(s: &str) -> &'static str {
    match s {
        "openid" => "openid: an ID token",
        "profile" => "profile: name, username and any claims from attributes",
        "email" => "email: e-mail address",
        "offline_access" => "offline_access: refresh tokens",
        "groups" => "groups: group names",
        _ => "",
    }
}

impl Fields {
    fn of(n: &NewClient) -> Fields {
        Fields {
            name: n.name.clone(),
            public: n.kind == ClientKind::Public,
            redirect_uris: n.redirect_uris.join("\n"),
            post_logout_redirect_uris: n.post_logout_redirect_uris.join("\n"),
            grants: GRANT_TYPES
                .iter()
                .map(|g| Choice {
                    value: g,
                    label: grant_label(g),
                    checked: n.grant_types.iter().any(|x| x == g),
                })
                .collect(),
            scopes: SCOPES
                .iter()
                .map(|s| Choice {
                    value: s,
                    label: scope_label(s),
                    checked: n.scopes.iter().any(|x| x == s),
                })
                .collect(),
            claim_rules: n.claim_rules.join("\n"),
            access_token: Lifetime::of(n.access_token_seconds),
            refresh_token: Lifetime::of(n.refresh_token_seconds),
            require_consent: n.require_consent,
            require_pkce: n.require_pkce,
            alg: n.id_token_alg.clone(),
            algs: Alg::ALL.map(Alg::as_str).to_vec(),
            errors: FieldErrors::default(),
        }
    }

    /// What a new client starts with: a confidential web app with the code flow.
    fn blank() -> Fields {
        Fields::of(&NewClient {
            name: String::new(),
            kind: ClientKind::Confidential,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            claim_rules: vec![],
            access_token_seconds: 300,
            refresh_token_seconds: 2_592_000,
            require_consent: false,
            require_pkce: true,
            id_token_alg: "RS256".into(),
        })
    }
}

/// The units a token lifetime is typed in, with their length in seconds.
const UNITS: [(&str, u32); 4] = [
    ("seconds", 1),
    ("minutes", 60),
    ("hours", 3600),
    ("days", 86_400),
];

/// A token lifetime as the form shows it: an amount in the largest unit that fits exactly.
pub struct Lifetime {
    pub amount: String,
    pub unit: &'static str,
    pub units: [&'static str; 4],
}

impl Lifetime {
    fn of(seconds: u32) -> Lifetime {
        let (unit, length) = UNITS
            .iter()
            .rev()
            .find(|(_, length)| seconds > 0 && seconds.is_multiple_of(*length))
            .copied()
            .unwrap_or(UNITS[0]);
        Lifetime {
            amount: (seconds / length).to_string(),
            unit,
            units: UNITS.map(|(u, _)| u),
        }
    }

    /// The lifetime `name` of a form, in seconds: `{name}_amount` in `{name}_unit`, or (from
    /// scripts and older pages) `{name}_seconds`. `None` when it is not a whole number.
    fn read(f: &Pairs, name: &str) -> Option<u32> {
        let amount = first(f, &format!("{name}_amount")).trim();
        if amount.is_empty() {
            return first(f, &format!("{name}_seconds")).trim().parse().ok();
        }
        let unit = first(f, &format!("{name}_unit"));
        let length = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, l)| *l)?;
        amount.parse::<u32>().ok()?.checked_mul(length)
    }
}

/// Reads the form into a client's settings, and every problem with them, each beside its
/// field (the form is shown again as it was filled in when there is any).
fn read(f: &Pairs, kind: ClientKind) -> (NewClient, FieldErrors) {
    let seconds = |key: &str| Lifetime::read(f, key.trim_end_matches("_seconds"));
    let new = NewClient {
        name: first(f, "name").chars().take(201).collect(),
        kind,
        redirect_uris: lines(first(f, "redirect_uris"), MAX_URIS),
        post_logout_redirect_uris: lines(first(f, "post_logout_redirect_uris"), MAX_URIS),
        grant_types: all(f, "grant"),
        scopes: all(f, "scope"),
        claim_rules: lines(first(f, "claim_rules"), MAX_CLAIM_RULES + 1),
        access_token_seconds: seconds("access_token_seconds").unwrap_or(0),
        refresh_token_seconds: seconds("refresh_token_seconds").unwrap_or(0),
        require_consent: first(f, "require_consent") == "true",
        require_pkce: first(f, "require_pkce") == "true",
        id_token_alg: first(f, "id_token_alg").chars().take(16).collect(),
    };
    let mut errors = FieldErrors::default();
    let unit = "must be a whole number of seconds, minutes, hours or days";
    if seconds("access_token_seconds").is_none() {
        errors.add("access_token", format!("The access-token lifetime {unit}."));
    }
    if seconds("refresh_token_seconds").is_none() {
        errors.add(
            "refresh_token",
            format!("The refresh-token lifetime {unit}."),
        );
    }
    for (field, problem) in new.problems() {
        errors.add(field, super::sentence(&problem.replace('`', "\"")));
    }
    (new, errors)
}

/// A refusal found only when saving (a claim from an attribute that does not exist): the form
/// as submitted, with the problem beside its field.
fn refused_on_save(new: &NewClient, problem: String) -> Fields {
    let mut errors = FieldErrors::default();
    let field = if problem.to_lowercase().starts_with("claim") {
        "claim_rules"
    } else {
        "name"
    };
    errors.add(field, problem.replace('`', "\""));
    Fields {
        errors,
        ..Fields::of(new)
    }
}

/// A client error the admin can fix, as a sentence; anything else is the server's problem.
fn fixable(e: ClientError) -> Result<String, AppError> {
    match e {
        ClientError::Invalid(m) => Ok(super::sentence(&m)),
        ClientError::NotFound(_) => Err(AppError::NotFound),
        e => Err(AppError::Internal(e.to_string())),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/client_new.html")]
struct NewPage {
    chrome: Chrome,
    form: Fields,
    error: Option<String>,
}

fn new_page(admin: &Admin, form: Fields, error: Option<String>) -> Response {
    let (chrome, csrf) = admin.chrome("/admin/apps");
    let failed = error.is_some();
    admin.render_form(
        &csrf,
        failed,
        NewPage {
            chrome,
            form,
            error,
        },
    )
}

/// Registering a client and changing its settings need a fresh proof of presence: redirect
/// URIs, grants and PKCE decide where users' codes can go.
const NEW_PATH: &str = "/admin/apps/oidc/new";

pub async fn new(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageApps);
    if !admin.recently_verified() {
        return Ok(admin.reverify(NEW_PATH, Confirming::ClientNew));
    }
    Ok(new_page(&admin, Fields::blank(), None))
}

pub async fn create(web: Web, WebForm(f): WebForm<Pairs>) -> Result<Response, AppError> {
    if !web.csrf_ok(first(&f, "csrf")) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    if !admin.recently_verified() {
        return Ok(admin.reverify(NEW_PATH, Confirming::ClientNew));
    }
    let kind = if first(&f, "kind") == "public" {
        ClientKind::Public
    } else {
        ClientKind::Confidential
    };
    let (new, errors) = read(&f, kind);
    if !errors.is_empty() {
        let form = Fields {
            errors,
            ..Fields::of(&new)
        };
        return Ok(new_page(&admin, form, Some(CHECK_FIELDS.into())));
    }
    let submitted = new.clone();
    let claimed = claim_once!(
        admin,
        first(&f, "once"),
        "/admin/apps",
        "Back to applications"
    );
    let svc = &admin.web.state.svc;
    match clients::create(svc, &admin.web.tenant, new, admin.by(), admin.web.now).await {
        Ok((client, secret)) => {
            let notice = Some("The application is registered. Configure it with the values below.");
            client_page(
                &admin,
                &client,
                Shown {
                    secret: secret.map(|s| s.0),
                    notice,
                    ..Shown::default()
                },
            )
            .await
        }
        Err(e) => {
            claimed.release(&admin).await?;
            let form = refused_on_save(&submitted, fixable(e)?);
            Ok(new_page(&admin, form, Some(CHECK_FIELDS.into())))
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/client.html")]
struct ClientPage {
    chrome: Chrome,
    base: String,
    name: String,
    client_id: String,
    public: bool,
    issuer: String,
    discovery: String,
    created: String,
    updated: String,
    previous_secret_until: Option<String>,
    /// A secret just made, shown this once.
    secret: Option<String>,
    form: Fields,
    access: AccessPanel,
    can_manage: bool,
    delete_note: &'static str,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// What a client page shows besides the client.
#[derive(Default)]
struct Shown {
    secret: Option<String>,
    /// The settings form as submitted (after a refused change).
    form: Option<Fields>,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn client_page(admin: &Admin, c: &Client, shown: Shown) -> Result<Response, AppError> {
    let base = format!("/admin/apps/oidc/{}", c.client_id);
    let access = apps::access_panel(admin, &c.app(), format!("{base}/access")).await?;
    let issuer = admin
        .web
        .state
        .svc
        .public_url
        .tenant_origin(admin.web.tenant.slug.as_str());
    let now = admin.web.now;
    let (chrome, csrf) = admin.chrome("/admin/apps");
    let failed = shown.error.is_some();
    let page = ClientPage {
        chrome,
        base,
        name: c.name.clone(),
        client_id: c.client_id.clone(),
        public: c.kind == ClientKind::Public,
        discovery: format!("{issuer}{}", crate::oidc::paths::DISCOVERY),
        issuer,
        created: when(c.created_at),
        updated: when(c.updated_at),
        previous_secret_until: c.previous_secret_until(now).map(when),
        secret: shown.secret,
        form: shown.form.unwrap_or_else(|| Fields::of(&c.settings())),
        access,
        can_manage: Power::ManageApps.held_by(admin.role),
        delete_note: apps::OIDC_DELETE_NOTE,
        notice: shown.notice,
        error: shown.error,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

/// The client's page with an error (nothing was changed).
async fn with_error(admin: &Admin, c: &Client, error: String) -> Result<Response, AppError> {
    let shown = Shown {
        error: Some(error),
        ..Shown::default()
    };
    client_page(admin, c, shown).await
}

async fn find(admin: &Admin, client_id: &str) -> Result<Client, AppError> {
    clients::find(&admin.web.state.svc, &admin.web.tenant, client_id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn show(
    web: Web,
    Path(client_id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewSettings);
    let c = find(&admin, &client_id).await?;
    let notice = match q.done.as_str() {
        "saved" => Some("The settings are saved. Applications see them at their next request."),
        other => apps::access_notice(other),
    };
    client_page(
        &admin,
        &c,
        Shown {
            notice,
            ..Shown::default()
        },
    )
    .await
}

pub async fn update(
    web: Web,
    Path(client_id): Path<String>,
    WebForm(f): WebForm<Pairs>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(first(&f, "csrf")) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    let c = find(&admin, &client_id).await?;
    if !admin.recently_verified() {
        return Ok(admin.reverify(
            &format!("/admin/apps/oidc/{}", c.client_id),
            Confirming::ClientChange,
        ));
    }
    let (new, errors) = read(&f, c.kind);
    if !errors.is_empty() {
        let form = Fields {
            errors,
            ..Fields::of(&new)
        };
        let shown = Shown {
            form: Some(form),
            error: Some(CHECK_FIELDS.into()),
            ..Shown::default()
        };
        return client_page(&admin, &c, shown).await;
    }
    let submitted = new.clone();
    let svc = &admin.web.state.svc;
    match clients::update(svc, &admin.web.tenant, &c, new, admin.by(), admin.web.now).await {
        Ok(_) => Ok(see_other(&format!(
            "/admin/apps/oidc/{}?done=saved",
            c.client_id
        ))),
        Err(e) => {
            let shown = Shown {
                form: Some(refused_on_save(&submitted, fixable(e)?)),
                error: Some(CHECK_FIELDS.into()),
                ..Shown::default()
            };
            client_page(&admin, &c, shown).await
        }
    }
}

#[derive(serde::Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    csrf: String,
    /// The one-use token: a reload of the new secret's page rotates nothing.
    #[serde(default)]
    once: String,
    /// How long the old secret keeps working, in seconds.
    #[serde(default)]
    overlap: String,
}

/// The overlaps the console offers: none, an hour, a day, a week.
const OVERLAPS: [u32; 4] = [0, 3600, 86_400, 604_800];

pub async fn rotate(
    web: Web,
    Path(client_id): Path<String>,
    WebForm(f): WebForm<RotateForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    let c = find(&admin, &client_id).await?;
    if !admin.recently_verified() {
        return Ok(admin.reverify(
            &format!("/admin/apps/oidc/{}", c.client_id),
            Confirming::ClientSecret,
        ));
    }
    let Some(overlap) = f
        .overlap
        .parse::<u32>()
        .ok()
        .filter(|o| OVERLAPS.contains(o))
    else {
        let error = "Choose how long the current secret keeps working.".to_owned();
        return with_error(&admin, &c, error).await;
    };
    let back = format!("/admin/apps/oidc/{}", c.client_id);
    let claimed = claim_once!(admin, &f.once, &back, "Back to the application");
    let svc = &admin.web.state.svc;
    let (secret, _) = match clients::rotate_secret(
        svc,
        &admin.web.tenant,
        &c.client_id,
        overlap,
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(done) => done,
        Err(e) => {
            claimed.release(&admin).await?;
            return with_error(&admin, &c, fixable(e)?).await;
        }
    };
    let c = find(&admin, &client_id).await?;
    let notice = Some(if overlap == 0 {
        "A new secret is made; the old one no longer works."
    } else {
        "A new secret is made. The old one keeps working until the time shown, so the application can be redeployed."
    });
    client_page(
        &admin,
        &c,
        Shown {
            secret: Some(secret.0),
            notice,
            ..Shown::default()
        },
    )
    .await
}

pub async fn delete(
    web: Web,
    Path(client_id): Path<String>,
    WebForm(f): WebForm<super::ConfirmForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    let c = find(&admin, &client_id).await?;
    let back = format!("/admin/apps/oidc/{}", c.client_id);
    match apps::confirm_deletion(&admin, &f.confirm, &c.name, &back) {
        Deletion::Confirmed => {}
        Deletion::Mistyped(error) => return with_error(&admin, &c, error).await,
        Deletion::Reverify(res) => return Ok(res),
    }
    let svc = &admin.web.state.svc;
    clients::delete(
        svc,
        &admin.web.tenant,
        &c.client_id,
        admin.by(),
        admin.web.now,
    )
    .await?;
    Ok(see_other("/admin/apps?done=deleted"))
}

pub async fn access(
    web: Web,
    Path(client_id): Path<String>,
    WebForm(f): WebForm<AccessForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageApps);
    let c = find(&admin, &client_id).await?;
    let base = format!("/admin/apps/oidc/{}", c.client_id);
    match apps::change_access(&admin, (&c.app(), &c.name, &base), &f).await? {
        AccessAnswer::Done(done) => Ok(apps::back_with(&base, done)),
        AccessAnswer::Refused(error) => with_error(&admin, &c, error).await,
        AccessAnswer::Ask(question) => Ok(question),
    }
}
