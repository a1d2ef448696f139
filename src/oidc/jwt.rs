//! Compact JWS (RFC 7515) signing with the tenant's active key through OpenSSL (the fastest
//! RSA signer on this stack). The parsed key is cached per tenant until the change epoch moves.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use serde::Serialize;

use crate::directory::Tenant;
use crate::keys::{self, KeyError};
use crate::services::Services;

/// A tenant's signing key, opened once.
pub struct Signer {
    pub kid: String,
    key: PKey<Private>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signing failed: {0}")]
    Sign(#[from] openssl::error::ErrorStack),
    #[error("cannot encode the token: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Signer {
    /// RS256 over `header.payload`; returns the compact serialisation.
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, JwtError> {
        let header = serde_json::json!({ "alg": "RS256", "typ": typ, "kid": self.kid });
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(out.as_bytes())?;
        let signature = signer.sign_to_vec()?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(out)
    }
}

/// The tenant's active signer, from the cache or opened (unseal + parse) on a miss.
pub async fn signer(svc: &Services, tenant: &Tenant) -> Result<Arc<Signer>, JwtError> {
    if let Some(s) = svc.caches.signers.get(&tenant.id) {
        return Ok(s);
    }
    let epoch = svc.caches.epoch();
    let (key, pkey) = keys::active_private_key(&svc.store, &svc.keyring, tenant.id).await?;
    let signer = Arc::new(Signer {
        kid: key.kid,
        key: pkey,
    });
    svc.caches
        .remember(&svc.caches.signers, tenant.id, signer.clone(), epoch);
    Ok(signer)
}
