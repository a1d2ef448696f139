//! Compact JWS (RFC 7515) signing with the tenant's active key for an algorithm, through OpenSSL
//! (the fastest signer on this stack). The opened key is cached per tenant and algorithm until
//! the change epoch moves.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use serde::Serialize;

use crate::directory::Tenant;
use crate::keys::{self, Alg, KeyError};
use crate::services::Services;

/// A tenant's signing key, opened once.
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
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

/// An OpenSSL (DER) ECDSA signature as JOSE wants it: R ‖ S, each left-padded to 32 bytes.
fn es256_raw(der: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let sig = openssl::ecdsa::EcdsaSig::from_der(der)?;
    let mut out = sig.r().to_vec_padded(32)?;
    out.extend(sig.s().to_vec_padded(32)?);
    Ok(out)
}

impl Signer {
    /// Signs `header.payload`; returns the compact serialisation.
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, JwtError> {
        let header = serde_json::json!({ "alg": self.alg.as_str(), "typ": typ, "kid": self.kid });
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(out.as_bytes())?;
        let signature = match self.alg {
            Alg::Rs256 => signer.sign_to_vec()?,
            Alg::Es256 => es256_raw(&signer.sign_to_vec()?)?,
        };
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(out)
    }
}

/// The tenant's active signer for `alg`, from the cache or opened (unseal + parse) on a miss.
pub async fn signer(svc: &Services, tenant: &Tenant, alg: Alg) -> Result<Arc<Signer>, JwtError> {
    svc.caches
        .get_or_load(&svc.caches.signers, (tenant.id, alg), async || {
            let (key, pkey) =
                keys::active_private_key(&svc.store, &svc.keyring, tenant.id, alg).await?;
            Ok(Signer {
                kid: key.kid,
                alg,
                key: pkey,
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_signatures_are_64_bytes_and_verify() {
        let generated = crate::crypto::signing::generate(Alg::Es256, "t", 1_800_000_000).unwrap();
        let signer = Signer {
            kid: generated.kid.clone(),
            alg: Alg::Es256,
            key: crate::crypto::signing::parse_private_pem(&generated.private_pem).unwrap(),
        };
        for i in 0..50 {
            let token = signer.sign("JWT", &serde_json::json!({ "i": i })).unwrap();
            let (input, sig) = token.rsplit_once('.').unwrap();
            let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            assert_eq!(raw.len(), 64);
            let r = openssl::bn::BigNum::from_slice(&raw[..32]).unwrap();
            let s = openssl::bn::BigNum::from_slice(&raw[32..]).unwrap();
            let der = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
                .unwrap()
                .to_der()
                .unwrap();
            let public =
                crate::crypto::signing::parse_public_pem(generated.public_pem.as_bytes()).unwrap();
            let mut v = openssl::sign::Verifier::new(MessageDigest::sha256(), &public).unwrap();
            v.update(input.as_bytes()).unwrap();
            assert!(v.verify(&der).unwrap());
        }
    }
}
