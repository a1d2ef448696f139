//! Builds the Router from each feature's routes: the only place features meet.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::services::Services;
use crate::web::{self, AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(svc: Arc<Services>, config: Arc<Config>) -> Router {
    // Keeps this node's caches in step with changes made anywhere (stops with the services).
    tokio::spawn(crate::cache::poll(Arc::downgrade(&svc)));
    let state = AppState {
        svc,
        config: config.clone(),
        metrics: Arc::new(web::metrics::Metrics::default()),
    };

    // Served on any Host: probes and scrapes come by IP.
    let operator = Router::new()
        .route("/healthz", get(web::health::healthz))
        .route("/readyz", get(web::health::readyz))
        .route("/metrics", get(web::metrics::metrics));

    // Signing in and self-service: the tenant's policy is loaded and its IP rules applied first.
    let login = Router::new()
        .route(
            "/login",
            get(web::login::login_page).post(web::login::login_submit),
        )
        .route(
            "/login/mfa",
            get(web::login::mfa_page).post(web::login::mfa_submit),
        )
        .route(
            "/login/password",
            get(web::login::forced_change_page).post(web::login::forced_change_submit),
        )
        .route(
            "/login/enrol",
            get(web::login::forced_enrol_page).post(web::login::forced_enrol_submit),
        )
        .route("/logout", post(web::login::logout))
        .route(
            "/forgot",
            get(web::login::forgot_page).post(web::login::forgot_submit),
        )
        .route(
            "/reset",
            get(web::login::reset_page).post(web::login::reset_submit),
        )
        .route("/account", get(web::account::profile))
        .route("/account/profile", post(web::account::profile_submit))
        .route(
            "/account/password",
            get(web::account::password_page).post(web::account::password_submit),
        )
        .route("/account/mfa", get(web::account::mfa_page))
        .route(
            "/account/mfa/enrol",
            get(web::account::mfa_enrol_page).post(web::account::mfa_enrol),
        )
        .route("/account/mfa/confirm", post(web::account::mfa_confirm))
        .route(
            "/account/mfa/recovery-codes",
            post(web::account::mfa_recovery_codes),
        )
        .route("/account/mfa/remove", post(web::account::mfa_remove))
        .route("/account/sessions", get(web::account::sessions))
        .route("/account/sessions/end", post(web::account::end_session))
        .route(
            crate::oidc::paths::AUTHORIZE,
            get(web::oidc::authorize).post(web::oidc::authorize),
        )
        .route(crate::oidc::paths::CONSENT, post(web::oidc::consent))
        .route("/account/apps", get(web::account::apps))
        .route("/account/apps/revoke", post(web::account::revoke_app))
        .route(crate::saml::paths::START, get(web::saml::idp_start))
        .route(
            crate::saml::paths::SSO,
            get(web::saml::sso).post(web::saml::sso),
        )
        .route(crate::saml::paths::CONTINUE, get(web::saml::continue_sso))
        .route(crate::saml::paths::CANCEL, post(web::saml::cancel))
        .route(
            crate::saml::paths::SLO,
            get(web::saml::slo).post(web::saml::slo),
        )
        .route(
            crate::oidc::paths::END_SESSION,
            get(web::oidc::end_session).post(web::oidc::end_session),
        )
        .route(
            crate::oidc::paths::END_SESSION_CONFIRM,
            post(web::oidc::end_session_confirm),
        )
        .merge(web::console::routes(&state))
        .route_layer(from_fn_with_state(state.clone(), web::auth::gate));

    // The OpenID Provider's public documents (no policy gate: relying parties fetch them).
    // Called from single-page apps: CORS for the tenant's public clients' origins.
    let browser_callable = Router::new()
        .route(crate::oidc::paths::TOKEN, post(web::oidc::token))
        .route(crate::oidc::paths::REVOKE, post(web::oidc::revoke))
        .route(
            crate::oidc::paths::USERINFO,
            get(web::oidc::userinfo).post(web::oidc::userinfo),
        )
        .layer(from_fn_with_state(state.clone(), web::cors::oauth_cors));
    let oidc = Router::new()
        .route(crate::oidc::paths::DISCOVERY, get(web::oidc::discovery))
        .route(crate::oidc::paths::JWKS, get(web::oidc::jwks))
        .route(crate::oidc::paths::INTROSPECT, post(web::oidc::introspect))
        .merge(browser_callable);

    // The SAML IdP's public documents.
    let saml = Router::new()
        .route(crate::saml::paths::METADATA, get(web::saml::metadata))
        .route(crate::saml::paths::CERTIFICATE, get(web::saml::certificate));

    // Everything else is resolved to a site (base domain or tenant) first.
    let sites = Router::new()
        .merge(login)
        .merge(oidc)
        .merge(saml)
        .route("/", get(web::landing::home))
        .route("/static/latchkey.css", get(web::landing::stylesheet))
        .route("/static/console.js", get(web::landing::console_script))
        .route(web::csp_report::PATH, post(web::csp_report::report))
        .fallback(|| async { web::error::not_found_page() })
        .layer(from_fn_with_state(state.clone(), web::tenant::resolve));

    Router::new()
        .merge(operator)
        .merge(sites)
        .route_layer(from_fn_with_state(state.clone(), web::metrics::track))
        .layer(axum::middleware::from_fn(web::headers::header_limit))
        .layer(from_fn_with_state(state.clone(), web::headers::security_headers))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(DefaultBodyLimit::max(config.max_body_bytes))
                .layer(RequestBodyLimitLayer::new(config.max_body_bytes)),
        )
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            web::error::limit_pages,
        ))
        .with_state(state)
}
