//! Latchkey: a multi-tenant single-sign-on identity provider (OpenID Connect and SAML 2.0) in
//! one binary. See DESIGN.md for the architecture; `app.rs` is where the features meet.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod config;
pub mod console;
pub mod cpu;
pub mod crypto;
pub mod directory;
pub mod ids;
pub mod keys;
pub mod login;
pub mod mail;
pub mod oidc;
pub mod saml;
pub mod server;
pub mod services;
pub mod store;
pub mod web;

/// The current time as unix milliseconds. Only handlers, jobs and the CLI read the clock;
/// domain functions take `now` as an argument.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
