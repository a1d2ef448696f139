//! HTTP side of the SAML IdP: metadata and the signing certificate (public), IdP-initiated SSO,
//! and the auto-submitting POST form that carries a Response to the SP.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use super::tenant::CurrentTenant;
use crate::cache::DocumentKind;
use crate::keys::KeyState;
use crate::saml::metadata;

/// `GET /saml/metadata`: the IdP metadata (also the entityID).
pub async fn metadata(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let doc = metadata::document(&state.svc, &tenant).await?;
    Ok(super::documents::serve(
        &doc,
        DocumentKind::SamlMetadata,
        &headers,
    ))
}

/// `GET /saml/certificate.pem`: the active signing certificate, for SPs configured by hand.
pub async fn certificate(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
) -> Result<Response, AppError> {
    let keys = metadata::signing_keys(&state.svc, &tenant).await?;
    let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) else {
        return Err(AppError::NotFound);
    };
    let disposition = format!("attachment; filename=\"{}-saml-signing.pem\"", tenant.slug);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .map_err(|e| AppError::Internal(e.to_string()))?,
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        active.certificate_pem.clone(),
    )
        .into_response())
}

/// The one script on the POST page; allowed by its hash in the page's CSP.
const AUTO_SUBMIT: &str = "document.getElementById('saml-post').submit();";

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "saml_post.html")]
struct PostPage<'a> {
    tenant_name: &'a str,
    sp_name: &'a str,
    acs_url: &'a str,
    saml_response: &'a str,
    relay_state: Option<&'a str>,
    script: &'a str,
}

/// The HTTP-POST binding page: submits itself (or by the button without JavaScript). Its CSP
/// allows exactly this script and posting to the ACS origin; nothing is cached.
pub fn post_form(
    web: &super::auth::Web,
    sp_name: &str,
    acs_url: &str,
    saml_xml: &str,
    relay_state: Option<&str>,
) -> Response {
    use base64::Engine;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(AUTO_SUBMIT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    let form_origin = url::Url::parse(acs_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "'none'".into());
    let csp = format!(
        "default-src 'none'; style-src 'self'; script-src 'sha256-{hash}'; \
         form-action {form_origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    let encoded = crate::saml::response::encode(saml_xml);
    let page = PostPage {
        tenant_name: &web.tenant.name,
        sp_name,
        acs_url,
        saml_response: &encoded,
        relay_state,
        script: AUTO_SUBMIT,
    };
    let mut res = page.into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(serde::Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    sp: String,
}

/// `GET /saml/start?sp=<entityID>`: IdP-initiated SSO to a registered SP that allows it, with
/// its default RelayState, on its default ACS.
pub async fn idp_start(
    web: super::auth::Web,
    axum::extract::Query(q): axum::extract::Query<StartQuery>,
) -> Result<Response, AppError> {
    let sp = crate::saml::sps::find(&web.state.svc, &web.tenant, q.sp.trim()).await?;
    let Some(sp) = sp.filter(|sp| sp.config.idp_initiated) else {
        return Ok((
            axum::http::StatusCode::NOT_FOUND,
            super::error::ErrorPage {
                title: "This application cannot be opened from here",
                message: "There is no such application, or it does not allow sign-in started \
                          from this page."
                    .into(),
            },
        )
            .into_response());
    };
    let (session, user) = match web.viewer().await {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    let Some(acs) = sp.acs(None, None) else {
        return Err(AppError::Internal("registered SP without an ACS".into()));
    };
    let reply = crate::saml::sso::Reply {
        sp: &sp,
        acs_url: &acs.url,
        in_response_to: None,
    };
    let xml = crate::saml::sso::success(
        &web.state.svc,
        &web.tenant,
        &reply,
        &session,
        &user,
        web.now,
    )
    .await?;
    crate::saml::sso::audit_sign_in(
        &web.state.svc,
        &web.tenant,
        &user,
        &sp.entity_id,
        true,
        &web.origin,
        web.now,
    )
    .await?;
    Ok(post_form(
        &web,
        &sp.name,
        &acs.url,
        &xml,
        sp.config.default_relay_state.as_deref(),
    ))
}
