//! HTTP plumbing: tenant resolution from the Host header, security headers, request ids,
//! metrics, health endpoints and error pages. Features add routes; this module adds no logic.

pub mod account;
pub mod agent;
pub mod auth;
pub mod console;
pub mod cors;
pub mod csp_report;
pub mod documents;
pub mod error;
pub mod headers;
pub mod health;
pub mod landing;
pub mod login;
pub mod metrics;
pub mod oidc;
pub mod saml;
pub mod tenant;

use std::sync::Arc;

use crate::config::Config;
use crate::services::Services;

/// The one state struct every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Services>,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
}
