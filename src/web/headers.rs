//! Security headers on every response. A handler that needs a different CSP (the SAML POST form)
//! sets its own and it is kept.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   report-uri /csp-report";

/// The most request header bytes (names and values together) a request may carry: a larger
/// one is refused with 431 (RFC 6585) before anything reads it. Browsers send a few KiB; a
/// full cookie jar for this host stays well under.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses a request whose headers are larger than [`MAX_HEADER_BYTES`].
pub async fn header_limit(req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(header::CACHE_CONTROL, "no-store")],
            "The request's headers are too large.\n",
        )
            .into_response();
    }
    next.run(req).await
}

pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    apply(res.headers_mut(), state.config.public_url.is_https());
    res
}

/// Sets the security headers on a response (keeping a CSP the handler chose), every CSP
/// asking browsers to report what it refuses ([`super::csp_report`]).
pub fn apply(h: &mut axum::http::HeaderMap, https: bool) {
    let chosen = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .filter(|csp| !csp.contains("report-uri"))
        .map(|csp| format!("{csp}; report-uri {}", super::csp_report::PATH));
    match chosen.and_then(|csp| HeaderValue::from_str(&csp).ok()) {
        Some(v) => {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        None if !h.contains_key(header::CONTENT_SECURITY_POLICY) => {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
        }
        None => {}
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
}
