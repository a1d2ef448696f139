//! `/admin/keys`: the tenant's signing keys and certificates with their state and expiry, the
//! rotation cycle (stage a next key → activate it → retire the previous one) with what each
//! step means for applications, and certificate downloads. Every step needs a fresh proof of
//! presence and is audited with the admin as actor.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::verify::Confirming;
use super::{Admin, Chrome, DoneQuery, admin, when};
use crate::console::Power;
use crate::ids::SigningKeyId;
use crate::keys::{self, Alg, KeyState, SigningKey};
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;

/// A certificate this close to expiry is flagged.
const EXPIRY_WARNING_MS: i64 = 30 * 86_400_000;
/// Retired keys listed (newest first).
const RETIRED_SHOWN: usize = 20;

pub struct KeyLine {
    pub kid: String,
    pub state: &'static str,
    pub created: String,
    pub expires: String,
    pub expiring: bool,
    pub certificate: String,
}

/// One algorithm's keys and the rotation step it is at.
pub struct AlgKeys {
    pub alg: &'static str,
    pub live: Vec<KeyLine>,
    /// The staged key waiting to be activated, if any.
    pub next: Option<String>,
    /// When the staged key was staged less than [`STAGE_WAIT_MS`] ago: how long ago, in words.
    pub staged_recently: Option<String>,
    /// The previous key (still published), if any.
    pub previous: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    algs: Vec<AlgKeys>,
    retired: Vec<KeyLine>,
    jwks_url: String,
    discovery_url: String,
    saml_metadata_url: String,
    can_manage: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// How long applications may keep a copy of the keys: a staged key is activated after this
/// unless the admin says they know better (every app has it, or it is an emergency).
const STAGE_WAIT_MS: i64 = 24 * 3_600_000;

/// "12 minutes" / "3 hours" since a staged key was made, while that is under [`STAGE_WAIT_MS`].
fn staged_recently(k: &SigningKey, now: i64) -> Option<String> {
    let age = now - k.created_at;
    if age >= STAGE_WAIT_MS {
        return None;
    }
    let minutes = (age / 60_000).max(0);
    Some(match minutes {
        0 => "less than a minute".to_owned(),
        1 => "1 minute".to_owned(),
        m if m < 120 => format!("{m} minutes"),
        m => format!("{} hours", m / 60),
    })
}

fn line(k: &SigningKey, now: i64) -> KeyLine {
    KeyLine {
        kid: k.kid.clone(),
        state: k.state.as_str(),
        created: when(k.created_at),
        expires: when(k.not_after),
        expiring: k.state != KeyState::Retired && k.not_after - now < EXPIRY_WARNING_MS,
        certificate: format!("/admin/keys/{}/certificate", k.id),
    }
}

async fn keys_page(
    admin: &Admin,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let svc = &admin.web.state.svc;
    let all = keys::list(&svc.store, admin.web.tenant.id).await?;
    let now = admin.web.now;
    let algs = Alg::ALL
        .into_iter()
        .filter(|alg| *alg == Alg::Rs256 || all.iter().any(|k| k.algorithm == *alg))
        .map(|alg| {
            let mine: Vec<&SigningKey> = all
                .iter()
                .filter(|k| k.algorithm == alg && k.state != KeyState::Retired)
                .collect();
            let next = mine.iter().find(|k| k.state == KeyState::Next);
            AlgKeys {
                alg: alg.as_str(),
                live: mine.iter().map(|k| line(k, now)).collect(),
                next: next.map(|k| k.kid.clone()),
                staged_recently: next.and_then(|k| staged_recently(k, now)),
                previous: mine
                    .iter()
                    .find(|k| k.state == KeyState::Previous)
                    .map(|k| k.kid.clone()),
            }
        })
        .collect();
    let retired = all
        .iter()
        .filter(|k| k.state == KeyState::Retired)
        .take(RETIRED_SHOWN)
        .map(|k| line(k, now))
        .collect();
    let origin = svc.public_url.tenant_origin(admin.web.tenant.slug.as_str());
    let (chrome, csrf) = admin.chrome("/admin/keys");
    let failed = error.is_some();
    let page = KeysPage {
        chrome,
        algs,
        retired,
        jwks_url: format!("{origin}{}", crate::oidc::paths::JWKS),
        discovery_url: format!("{origin}{}", crate::oidc::paths::DISCOVERY),
        saml_metadata_url: format!("{origin}{}", crate::saml::paths::METADATA),
        can_manage: Power::ManageKeys.held_by(admin.role),
        notice,
        error,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

pub async fn list(web: Web, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewSettings);
    let notice = match q.done.as_str() {
        "staged" => Some(
            "A new key is staged: it is published but does not sign yet. Activate it once \
             applications have refreshed their copy of your keys.",
        ),
        "activated" => Some(
            "The staged key signs now. The key it replaced stays published as previous until \
             you retire it.",
        ),
        "retired" => Some("The previous keys are retired and no longer published."),
        "nothing" => Some("There was no previous key to retire."),
        _ => None,
    };
    keys_page(&admin, notice, None).await
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    alg: String,
    /// `stage`, `activate` (with the staged `kid` the page showed) or `retire` (with the
    /// previous `kid` it showed).
    #[serde(default)]
    step: String,
    #[serde(default)]
    kid: String,
    /// `yes`: activate a key staged less than a day ago anyway.
    #[serde(default)]
    early: String,
}

/// `POST /admin/keys`: one step of the rotation cycle of one algorithm's keys.
pub async fn step(web: Web, WebForm(f): WebForm<StepForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageKeys);
    let Some(alg) = Alg::parse(&f.alg) else {
        return keys_page(&admin, None, Some("Choose RS256 or ES256.".into())).await;
    };
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/keys", Confirming::Keys));
    }
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    let (by, now) = (admin.by(), admin.web.now);
    let current = keys::list(&svc.store, tenant.id).await?;
    let kid_in = |state: KeyState| {
        current
            .iter()
            .find(|k| k.algorithm == alg && k.state == state)
            .map(|k| k.kid.clone())
    };
    let staged_key = current
        .iter()
        .find(|k| k.algorithm == alg && k.state == KeyState::Next);
    let staged = staged_key.map(|k| k.kid.clone());
    // The step must be the one the page offered: another admin may have moved on since.
    let stale = || {
        Some(
            "The keys changed since this page was loaded (another administrator may have \
             rotated them). Nothing was changed; review the keys below and try again."
                .to_owned(),
        )
    };
    let done = match f.step.as_str() {
        "stage" | "activate" => {
            let expected = (f.step == "activate").then_some(f.kid.as_str());
            if staged.as_deref() != expected {
                return keys_page(&admin, None, stale()).await;
            }
            let young = staged_key.and_then(|k| staged_recently(k, now));
            if let Some(ago) = young.filter(|_| f.step == "activate" && f.early != "yes") {
                let error = format!(
                    "Key {} was staged {ago} ago. Applications that keep a copy of your keys for \
                     up to a day may not have it yet, and would refuse what it signs. Nothing \
                     was changed: wait, or tick \"Activate now anyway\".",
                    f.kid
                );
                return keys_page(&admin, None, Some(error)).await;
            }
            let url = svc.public_url.tenant_origin(tenant.slug.as_str());
            match keys::rotate(&svc.store, &svc.keyring, tenant, alg, url, by, now).await {
                Ok(keys::Rotation::Published { .. }) => "staged",
                Ok(keys::Rotation::Promoted { .. }) => "activated",
                Err(keys::KeyError::Store(crate::store::StoreError::Conflict(_))) => {
                    return keys_page(&admin, None, stale()).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        "retire" => {
            if kid_in(KeyState::Previous).as_deref() != Some(f.kid.as_str()) {
                return keys_page(&admin, None, stale()).await;
            }
            let retired =
                keys::retire_previous(&svc.store, &svc.keyring, tenant, alg, by, now).await?;
            if retired.is_empty() {
                "nothing"
            } else {
                "retired"
            }
        }
        _ => {
            return keys_page(
                &admin,
                None,
                Some("That step is not one of the cycle.".into()),
            )
            .await;
        }
    };
    Ok(see_other(&format!("/admin/keys?done={done}")))
}

/// `GET /admin/keys/{id}/certificate`: a key's certificate (PEM), as a download.
pub async fn certificate(web: Web, Path(id): Path<String>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewSettings);
    let Ok(id) = id.parse::<SigningKeyId>() else {
        return Err(AppError::NotFound);
    };
    let svc = &admin.web.state.svc;
    let key = keys::list(&svc.store, admin.web.tenant.id)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or(AppError::NotFound)?;
    let name = format!(
        "attachment; filename=\"{}-{}-{}.pem\"",
        admin.web.tenant.slug.as_str(),
        key.algorithm.as_str(),
        key.kid
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    let headers = [
        (header::CONTENT_TYPE, "application/x-pem-file".to_owned()),
        (header::CONTENT_DISPOSITION, name),
    ];
    Ok(admin.page((headers, key.certificate_pem).into_response()))
}
