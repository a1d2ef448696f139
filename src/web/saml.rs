//! HTTP side of the SAML IdP: metadata and the signing certificate, both public.

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
