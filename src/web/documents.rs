//! Serving a tenant's public documents (OIDC discovery and JWKS, SAML metadata) from memory:
//! cacheable (`ETag`, `If-None-Match` → 304, `Cache-Control: public, max-age=300`) and
//! readable cross-origin.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache::{Document, DocumentKind};

pub fn serve(doc: &Document, kind: DocumentKind, headers: &HeaderMap) -> Response {
    let Ok(etag) = HeaderValue::from_str(&doc.etag) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
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
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(kind.content_type()),
        )],
        doc.body.clone(),
    )
        .into_response()
}
