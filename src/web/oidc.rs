//! HTTP side of the OpenID Provider. Discovery and JWKS are public, cacheable (ETag,
//! `Cache-Control`), readable cross-origin and served from memory; the back-channel endpoints
//! answer RFC 6749 JSON; the front-channel ones (authorize, logout) answer pages or redirects.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use super::tenant::CurrentTenant;
use crate::cache::DocumentKind;
use crate::oidc::{documents, logout, token};

pub async fn discovery(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let doc = documents::discovery_document(&state.svc, &tenant).await?;
    Ok(super::documents::serve(
        &doc,
        DocumentKind::Discovery,
        &headers,
    ))
}

pub async fn jwks(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let doc = documents::jwks_document(&state.svc, &tenant).await?;
    Ok(super::documents::serve(&doc, DocumentKind::Jwks, &headers))
}

/// Parameter limits of the authorize endpoint (and the consent form that replays it): count,
/// and bytes per value.
const AUTHORIZE_LIMITS: (usize, usize) = (32, 4096);
/// Logout carries an ID token as its hint.
const LOGOUT_LIMITS: (usize, usize) = (32, crate::oidc::verify::MAX_TOKEN_LEN);

/// The most form fields a token request may carry (each at most once, RFC 6749 §3.2).
const MAX_TOKEN_FIELDS: usize = 16;

fn oauth_error(e: &token::OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({ "error": e.error, "error_description": e.description });
    let mut res = (status, no_store(), axum::Json(body)).into_response();
    if e.error == "invalid_client" {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"token\", charset=\"UTF-8\""),
        );
    }
    res
}

fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// The form fields (each at most once) and the client credentials of a back-channel request.
type BackChannel = (std::collections::HashMap<String, String>, token::Presented);

fn back_channel(headers: &HeaderMap, body: &[u8]) -> Result<BackChannel, token::OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(token::OAuthError::new(
            400,
            "invalid_request",
            "send the request as application/x-www-form-urlencoded",
        ));
    }
    let params = super::auth::parse_params(body, (MAX_TOKEN_FIELDS, 8192))
        .map_err(|message| token::OAuthError::new(400, "invalid_request", message))?;
    let basic = match headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""))
    {
        Some(h) => Some(token::parse_basic(h)?),
        None => None,
    };
    let presented = token::Presented {
        basic,
        form_id: params.get("client_id").cloned(),
        form_secret: params.get("client_secret").cloned(),
    };
    Ok((params, presented))
}

/// `POST /oauth2/revoke` (RFC 7009).
pub async fn revoke(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (params, presented) = match back_channel(&headers, &body) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    match token::revoke(&state.svc, &tenant, presented, &params, crate::now_ms()).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => oauth_error(&e),
    }
}

/// `POST /oauth2/introspect` (RFC 7662).
pub async fn introspect(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (params, presented) = match back_channel(&headers, &body) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    match token::introspect(&state.svc, &tenant, presented, &params, crate::now_ms()).await {
        Ok(body) => (no_store(), axum::Json(body)).into_response(),
        Err(e) => oauth_error(&e),
    }
}

/// `POST /oauth2/token`. Errors are RFC 6749 JSON, never pages.
pub async fn token(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (params, presented) = match back_channel(&headers, &body) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    match token::token(&state.svc, &tenant, presented, &params, crate::now_ms()).await {
        Ok(response) => (no_store(), axum::Json(response)).into_response(),
        Err(e) => oauth_error(&e),
    }
}

fn request_page(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        super::error::ErrorPage {
            title: "This request cannot be completed",
            message,
        },
    )
        .into_response()
}

/// `GET|POST /oauth2/authorize` (behind the login gate: tenant policy and IP rules apply).
pub async fn authorize(
    web: super::auth::Web,
    method: axum::http::Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::oidc::authorize as az;
    let params =
        match super::auth::front_channel_params(&web, &method, &headers, &body, AUTHORIZE_LIMITS) {
            Ok(p) => p,
            Err(message) => return request_page(message),
        };
    answer_authorize(&web, &params, az::ConsentStep::NotAsked).await
}

/// Runs the authorization request and turns its answer into a response.
async fn answer_authorize(
    web: &super::auth::Web,
    params: &std::collections::HashMap<String, String>,
    consent: crate::oidc::authorize::ConsentStep,
) -> Response {
    use crate::oidc::authorize::{self as az, Answer};
    let session = match web.session().await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    // A consent form's answer ends on our page, which navigates on (see `Web::navigate_on`).
    let after_form = !matches!(consent, az::ConsentStep::NotAsked);
    match az::authorize(
        &web.state.svc,
        &web.tenant,
        params,
        session.as_ref(),
        consent,
        &web.origin,
        web.now,
    )
    .await
    {
        Answer::ErrorPage(message) => request_page(message),
        Answer::Redirect(url) if after_form => web.navigate_on(
            &url,
            "Returning to the application",
            "Taking you back to the application.",
        ),
        Answer::Redirect(url) => super::auth::see_other(&url),
        Answer::Login {
            return_to,
            reauth,
            login_hint,
        } => {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("return_to", &return_to);
            if reauth {
                s.append_pair("reauth", "1");
            }
            if let Some(hint) = login_hint {
                s.append_pair("login_hint", &hint);
            }
            super::auth::see_other(&format!("/login?{}", s.finish()))
        }
        Answer::Consent {
            client_name,
            scopes,
            shared,
            request,
            session_id,
        } => {
            let csrf = web.csrf();
            csrf.attach(ConsentPage {
                tenant_name: web.tenant.name.clone(),
                csrf: csrf.token.clone(),
                binding: web.session_binding(&session_id, &request),
                app_name: client_name,
                items: scopes
                    .iter()
                    .map(|s| crate::oidc::consent::scope_text(s, &shared))
                    .collect(),
                request,
            })
        }
        Answer::NotAllowed { app_name, back } => {
            super::login::not_allowed_page(&web.tenant.name, &app_name, back)
        }
    }
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "consent.html")]
struct ConsentPage {
    tenant_name: String,
    csrf: String,
    app_name: String,
    items: Vec<String>,
    request: String,
    binding: String,
}

#[derive(serde::Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    binding: String,
    #[serde(default)]
    decision: String,
}

/// `POST /oauth2/consent`: the user allowed or refused; the original request is answered.
pub async fn consent(
    web: super::auth::Web,
    super::auth::WebForm(f): super::auth::WebForm<ConsentForm>,
) -> Response {
    use crate::oidc::authorize::ConsentStep;
    if !web.csrf_ok(&f.csrf) {
        return web.csrf_failed();
    }
    // The decision counts only for the request shown, in the session it was shown in: not
    // for an edited request, nor for whoever signed in since in another tab.
    let session = match web.session().await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if !session.is_some_and(|s| web.session_binding_ok(&s.id, &f.request, &f.binding)) {
        return request_page(
            "This consent page is out of date (you may have signed in or out since). Go back \
             to the application and start again."
                .into(),
        );
    }
    let step = match f.decision.as_str() {
        "allow" => ConsentStep::Allowed,
        "deny" => ConsentStep::Refused,
        _ => return request_page("Choose whether to allow access.".into()),
    };
    match super::auth::parse_params(f.request.as_bytes(), AUTHORIZE_LIMITS) {
        Ok(params) => answer_authorize(&web, &params, step).await,
        Err(message) => request_page(message),
    }
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "logout_confirm.html")]
struct LogoutConfirmPage {
    tenant_name: String,
    csrf: String,
    app_name: Option<String>,
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

/// After the session is gone: back to the application, or a page that says so. After our own
/// confirmation form the way back is a page that navigates on (see `Web::navigate_on`).
fn signed_out(web: &super::auth::Web, end: &logout::EndSession, after_form: bool) -> Response {
    let res = match &end.redirect_to {
        Some(url) if after_form => web.navigate_on(
            url,
            "You are signed out",
            "Taking you back to the application.",
        ),
        Some(url) => super::auth::see_other(url),
        None => super::login::MessagePage {
            tenant_name: web.tenant.name.clone(),
            title: "You are signed out".into(),
            message: "You have been signed out of this sign-in service.".into(),
            link: "/login".into(),
            link_text: "Sign in again".into(),
        }
        .into_response(),
    };
    web.clearing_session(res)
}

/// `GET|POST /oauth2/logout` (RP-Initiated Logout 1.0). A valid `id_token_hint` for the
/// signed-in user ends the session at once; otherwise the user is asked.
pub async fn end_session(
    web: super::auth::Web,
    method: axum::http::Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let params =
        match super::auth::front_channel_params(&web, &method, &headers, &body, LOGOUT_LIMITS) {
            Ok(p) => p,
            Err(message) => return Ok(request_page(message)),
        };
    let end = match logout::check(&web.state.svc, &web.tenant, &params).await {
        Ok(end) => end,
        Err(message) => return Ok(request_page(message)),
    };
    match web.session().await? {
        None => Ok(signed_out(&web, &end, false)),
        Some(s) if end.speaks_for(&s.user.to_string()) => {
            crate::login::flow::logout(&web.ctx(), &s, Some(end.audit_detail())).await?;
            Ok(signed_out(&web, &end, false))
        }
        Some(_) => {
            let csrf = web.csrf();
            let get = |k: &str| params.get(k).cloned().unwrap_or_default();
            Ok(csrf.attach(LogoutConfirmPage {
                tenant_name: web.tenant.name.clone(),
                csrf: csrf.token.clone(),
                app_name: end.client.as_ref().map(|c| c.name.clone()),
                client_id: end
                    .client
                    .as_ref()
                    .map(|c| c.client_id.clone())
                    .unwrap_or_default(),
                post_logout_redirect_uri: if end.redirect_to.is_some() {
                    get("post_logout_redirect_uri")
                } else {
                    String::new()
                },
                state: get("state"),
            }))
        }
    }
}

#[derive(serde::Deserialize)]
pub struct LogoutConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    state: String,
}

/// `POST /oauth2/logout/confirm`: the user said yes. The redirect is checked again.
pub async fn end_session_confirm(
    web: super::auth::Web,
    super::auth::WebForm(f): super::auth::WebForm<LogoutConfirmForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let params: std::collections::HashMap<String, String> = [
        ("client_id", f.client_id),
        ("post_logout_redirect_uri", f.post_logout_redirect_uri),
        ("state", f.state),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let end = match logout::check(&web.state.svc, &web.tenant, &params).await {
        Ok(end) => end,
        Err(message) => return Ok(request_page(message)),
    };
    if let Some(s) = web.session().await? {
        crate::login::flow::logout(&web.ctx(), &s, Some(end.audit_detail())).await?;
    }
    Ok(signed_out(&web, &end, true))
}

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    let mut res = (
        status,
        no_store(),
        axum::Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// `GET|POST /oauth2/userinfo` with a Bearer access token (OIDC Core §5.3): the claims the
/// token's scopes allow, for an active user.
pub async fn userinfo(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        let mut res = (StatusCode::UNAUTHORIZED, no_store()).into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"userinfo\""),
        );
        return res;
    };
    let now = crate::now_ms();
    let Some(claims) = crate::oidc::verify::access_token(&state.svc, &tenant, token, now).await
    else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        );
    };
    if !claims.has_scope("openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token was not issued with the openid scope",
        );
    }
    let user = match claims.sub.parse::<crate::ids::UserId>() {
        Ok(id) => crate::store::users::find(&state.svc.store, tenant.id, id)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    let Some(user) = user.filter(|u| u.status == crate::directory::UserStatus::Active) else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the token's user cannot be served",
        );
    };
    // A deleted client's access tokens are not honoured here either.
    let svc = &state.svc;
    let client = match crate::oidc::clients::find_cached(svc, &tenant, &claims.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token's client no longer exists",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "userinfo: reading the client");
            return (StatusCode::INTERNAL_SERVER_ERROR, no_store()).into_response();
        }
    };
    let mut body = serde_json::Map::new();
    body.insert("sub".into(), serde_json::json!(user.id.to_string()));
    if claims.has_scope("profile") {
        body.insert("name".into(), serde_json::json!(user.display_name));
        body.insert(
            "preferred_username".into(),
            serde_json::json!(user.username),
        );
        match crate::oidc::clients::attribute_claims(svc, &tenant, &client, user.id).await {
            Ok(extra) => {
                for (claim, value) in extra {
                    body.entry(claim).or_insert(value);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "userinfo: reading attribute claims");
                return (StatusCode::INTERNAL_SERVER_ERROR, no_store()).into_response();
            }
        }
    }
    if claims.has_scope("email") {
        body.insert("email".into(), serde_json::json!(user.email));
        body.insert("email_verified".into(), serde_json::json!(false));
    }
    if claims.has_scope("groups") {
        match crate::directory::groups::names_of(&state.svc.store, &tenant, user.id).await {
            Ok(names) => {
                body.insert("groups".into(), serde_json::json!(names));
            }
            Err(e) => {
                tracing::error!(error = %e, "userinfo: reading groups");
                return (StatusCode::INTERNAL_SERVER_ERROR, no_store()).into_response();
            }
        }
    }
    (no_store(), axum::Json(body)).into_response()
}
