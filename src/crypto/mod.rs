//! Key custody (DESIGN.md "Key custody"): the master key (KEK) that lives outside the database,
//! per-tenant data keys (DEKs) stored only wrapped by it, the one small API that seals and opens
//! a tenant secret with AAD binding tenant, record and purpose, and signing-key generation.
//!
//! May use: RustCrypto AEAD/MAC crates and OpenSSL. Never touches the database or HTTP.

mod envelope;
mod master;
mod random;
pub mod signing;

pub use envelope::{CryptoError, DataKey, Purpose, SealContext};
pub use master::{MasterKey, MasterKeyError};
pub use random::{random_bytes, random_token};
