//! Verifying our own JWTs: access tokens (userinfo, revocation, introspection) and ID tokens
//! coming back as `id_token_hint` (logout). The algorithm is never taken from the token: the key
//! is found by `kid` among the tenant's published keys (next, active, previous), and the header's
//! `alg` must equal that key's algorithm, so `none`, HS256 keyed with our public key, or any other
//! downgrade fails. `jku`/`x5u`/`jwk` headers are ignored. `iss` must be this tenant.
//!
//! The tenant's public keys are parsed once per change epoch and kept in memory.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use serde::Deserialize;

use crate::directory::Tenant;
use crate::keys::{self, Alg, KeyState};
use crate::services::Services;
use crate::store::grants;

/// The longest token we try to verify.
pub const MAX_TOKEN_LEN: usize = 8192;

/// One published key, parsed.
pub struct VerifyKey {
    kid: String,
    alg: Alg,
    key: PKey<Public>,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    /// Extensions the token says must be understood (RFC 7515 §4.1.11): we understand none.
    crit: Option<serde_json::Value>,
}

/// A JWS whose signature checked out: its `typ` and payload (claims not yet checked).
struct Verified {
    typ: Option<String>,
    payload: Vec<u8>,
}

/// The tenant's keys that may have signed a live token, from memory or parsed on a miss.
async fn published_keys(svc: &Services, tenant: &Tenant) -> Option<Arc<Vec<VerifyKey>>> {
    let loaded = svc
        .caches
        .get_or_load(&svc.caches.verifiers, tenant.id, async || {
            let rows = keys::list(&svc.store, tenant.id).await?;
            let mut parsed = Vec::new();
            for k in rows.into_iter().filter(|k| {
                matches!(
                    k.state,
                    KeyState::Next | KeyState::Active | KeyState::Previous
                )
            }) {
                match crate::crypto::signing::parse_public_pem(k.public_key_pem.as_bytes()) {
                    Ok(key) => parsed.push(VerifyKey {
                        kid: k.kid,
                        alg: k.algorithm,
                        key,
                    }),
                    Err(e) => tracing::error!(kid = %k.kid, error = %e, "unreadable public key"),
                }
            }
            Ok::<_, keys::KeyError>(parsed)
        })
        .await;
    match loaded {
        Ok(keys) => Some(keys),
        Err(e) => {
            tracing::error!(error = %e, "loading verification keys");
            None
        }
    }
}

/// A JOSE ES256 signature (R ‖ S, 32 bytes each) as the DER structure OpenSSL verifies.
fn es256_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let r = openssl::bn::BigNum::from_slice(&raw[..32]).ok()?;
    let s = openssl::bn::BigNum::from_slice(&raw[32..]).ok()?;
    openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .ok()?
        .to_der()
        .ok()
}

fn signature_ok(key: &VerifyKey, signing_input: &[u8], signature: &[u8]) -> Option<bool> {
    let der;
    let signature = match key.alg {
        Alg::Rs256 => signature,
        Alg::Es256 => {
            der = es256_der(signature)?;
            &der
        }
    };
    let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &key.key).ok()?;
    verifier.update(signing_input).ok()?;
    verifier.verify(signature).ok()
}

/// Checks a compact JWS against the tenant's published keys of the `allowed` algorithms.
async fn jws(svc: &Services, tenant: &Tenant, token: &str, allowed: &[Alg]) -> Option<Verified> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.crit.is_some() {
        return None;
    }
    let kid = header.kid?;
    let keys = published_keys(svc, tenant).await?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid && k.alg.as_str() == header.alg && allowed.contains(&k.alg))?;
    let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    if !signature_ok(key, signing_input.as_bytes(), &signature)? {
        return None;
    }
    Some(Verified {
        typ: header.typ,
        payload: URL_SAFE_NO_PAD.decode(p).ok()?,
    })
}

/// The claims of a verified access token.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// The user's grant generation it was issued under (none on a client's own token).
    #[serde(default)]
    pub lk_gen: Option<i64>,
    /// The refresh family it was minted with, if any.
    #[serde(default)]
    pub lk_fam: Option<String>,
}

impl AccessToken {
    pub fn has_scope(&self, s: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|all| all.split(' ').any(|x| x == s))
    }
}

/// The token's claims if it is a live access token of this tenant; `None` for anything else.
pub async fn access_token(
    svc: &Services,
    tenant: &Tenant,
    token: &str,
    now_ms: i64,
) -> Option<AccessToken> {
    // We sign access tokens with RS256 only.
    let verified = jws(svc, tenant, token, &[Alg::Rs256]).await?;
    if verified.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let claims: AccessToken = serde_json::from_slice(&verified.payload).ok()?;
    let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
    if claims.iss != issuer || claims.exp * 1000 <= now_ms {
        return None;
    }
    if grants::jti_revoked(&svc.store, tenant.id, &claims.jti)
        .await
        .ok()?
    {
        return None;
    }
    // Minted with a refresh family: it ends when the family is revoked (a reuse, a replayed
    // code, the app's own revocation).
    if let Some(family) = &claims.lk_fam
        && grants::family_revoked(&svc.store, tenant.id, family)
            .await
            .ok()?
    {
        return None;
    }
    // A user's token lives only while the user's grants are those it was issued under.
    if let Ok(user) = claims.sub.parse::<crate::ids::UserId>() {
        let now = grants::generation(&svc.store, tenant.id, user)
            .await
            .ok()??;
        // A token from before generations (no claim) counts as generation 0.
        if claims.lk_gen.unwrap_or(0) != now {
            return None;
        }
    }
    Some(claims)
}

/// `aud` as a string or an array of strings.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: Audience,
}

/// What an `id_token_hint` tells: whom the token was about and which clients it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub audience: Vec<String>,
}

/// An ID token this tenant issued. Expiry is not checked: RP-Initiated Logout 1.0 §2 asks the
/// OP to accept expired hints, since logging out is often what happens after a token expired.
pub async fn id_token_hint(svc: &Services, tenant: &Tenant, token: &str) -> Option<IdTokenHint> {
    let verified = jws(svc, tenant, token, &Alg::ALL).await?;
    if verified.typ.as_deref().is_some_and(|t| t != "JWT") {
        return None;
    }
    let claims: IdClaims = serde_json::from_slice(&verified.payload).ok()?;
    let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
    if claims.iss != issuer {
        return None;
    }
    let audience = match claims.aud {
        Audience::One(a) => vec![a],
        Audience::Many(a) => a,
    };
    Some(IdTokenHint {
        sub: claims.sub,
        audience,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_signatures_must_be_64_raw_bytes() {
        assert!(es256_der(&[1u8; 63]).is_none());
        assert!(es256_der(&[1u8; 65]).is_none());
        let der = es256_der(&[1u8; 64]).unwrap();
        let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
        assert_eq!(sig.r().to_vec(), vec![1u8; 32]);
        assert_eq!(sig.s().to_vec(), vec![1u8; 32]);
    }
}
