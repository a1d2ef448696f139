//! Builds the Router from each feature's routes: the only place features meet.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::services::Services;
use crate::web::{self, AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(svc: Arc<Services>, config: Arc<Config>) -> Router {
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

    // Everything else is resolved to a site (base domain or tenant) first.
    let sites = Router::new()
        .route("/", get(web::landing::home))
        .route("/static/latchkey.css", get(web::landing::stylesheet))
        .fallback(|| async { web::error::not_found_page() })
        .layer(from_fn_with_state(state.clone(), web::tenant::resolve));

    Router::new()
        .merge(operator)
        .merge(sites)
        .route_layer(from_fn_with_state(state.clone(), web::metrics::track))
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
        .with_state(state)
}
