//! HTTP side of the OpenID Provider: discovery and JWKS so far. Both are public, cacheable
//! (ETag, `Cache-Control`), readable cross-origin, and served from memory.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use super::tenant::CurrentTenant;
use crate::cache::DocumentKind;
use crate::oidc::documents;

async fn serve(
    state: &AppState,
    tenant: &crate::directory::Tenant,
    kind: DocumentKind,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let doc = documents::cached(&state.svc, tenant, kind).await?;
    let etag = HeaderValue::from_str(&doc.etag).map_err(|e| AppError::Internal(e.to_string()))?;
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ),
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
        (header::ETAG, etag),
    ];
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == doc.etag || t == "*" || t.strip_prefix("W/") == Some(doc.etag.as_str())
        });
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.body.clone(),
    )
        .into_response())
}

pub async fn discovery(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    serve(&state, &tenant, DocumentKind::Discovery, &headers).await
}

pub async fn jwks(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    serve(&state, &tenant, DocumentKind::Jwks, &headers).await
}
