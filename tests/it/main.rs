//! One integration-test binary: the real server on 127.0.0.1:0 with its own database per test
//! (SQLite by default, PostgreSQL when LATCHKEY_TEST_DATABASE_URL is set).

mod harness;

mod audit_chain;
mod cli;
mod http;
mod key_custody;
mod migrations;
mod tenancy;
mod tenant_isolation;
