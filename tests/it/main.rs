//! One integration-test binary: the real server on 127.0.0.1:0 with its own database per test
//! (SQLite by default, PostgreSQL when LATCHKEY_TEST_DATABASE_URL is set).

mod apps;
mod browser;
mod chrome;
mod harness;

mod account;
mod audit_chain;
mod cli;
mod console;
mod console_apps;
mod console_attributes;
mod console_browser;
mod console_gdpr;
mod console_import;
mod console_keys;
mod groups;
mod http;
mod journeys_account;
mod journeys_oidc;
mod journeys_saml;
mod key_custody;
mod login;
mod migrations;
mod oidc;
mod oidc_claims;
mod oidc_consent;
mod oidc_es256;
mod oidc_flow;
mod oidc_logout;
mod oidc_revocation;
mod saml;
mod saml_slo;
mod saml_sp_init;
mod saml_sso;
mod tenancy;
mod tenant_isolation;
