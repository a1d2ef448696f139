//! CORS for the OAuth endpoints a single-page app calls from the browser (token, revocation,
//! userinfo). Only origins of the tenant's public clients' redirect URIs are allowed, the
//! allowed origin is echoed (never `*`), and credentials (cookies) are never allowed: these
//! endpoints authenticate by code + PKCE, refresh token or bearer token, not by session.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::tenant::Site;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

pub async fn oauth_cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| o.len() <= 512)
        .map(str::to_owned);
    let tenant = match req.extensions().get::<Site>() {
        Some(Site::Tenant(t)) => Some(t.clone()),
        _ => None,
    };
    let allowed = match (&origin, &tenant) {
        (Some(o), Some(t)) => match crate::oidc::clients::browser_origins(&state.svc, t).await {
            Ok(set) => set.contains(o.as_str()),
            Err(e) => {
                tracing::error!(error = %e, "cors: loading client origins");
                false
            }
        },
        _ => false,
    };
    let allow_origin = origin
        .filter(|_| allowed)
        .and_then(|o| HeaderValue::from_str(&o).ok());
    let vary = (header::VARY, HeaderValue::from_static("Origin"));

    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        let Some(allow_origin) = allow_origin else {
            return (StatusCode::FORBIDDEN, [vary]).into_response();
        };
        return (
            StatusCode::NO_CONTENT,
            [
                vary,
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin),
                (
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, POST"),
                ),
                (
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("Authorization, Content-Type"),
                ),
                (
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE),
                ),
            ],
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.append(vary.0, vary.1);
    if let Some(o) = allow_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    res
}
