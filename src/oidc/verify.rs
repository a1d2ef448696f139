//! Verifying our own access tokens (userinfo now; introspection later): the algorithm is fixed
//! (RS256, `typ` at+jwt), the key comes only from the tenant's published keys by `kid`, any
//! `jku`/`x5u`/`jwk` header is ignored, `iss` must be this tenant, and revoked ids are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::directory::Tenant;
use crate::keys::{self, KeyState};
use crate::services::Services;
use crate::store::grants;

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
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
    if token.len() > 8192 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.alg != "RS256" || header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let kid = header.kid?;
    let key = keys::list(&svc.store, tenant.id)
        .await
        .ok()?
        .into_iter()
        .find(|k| {
            k.kid == kid
                && matches!(
                    k.state,
                    KeyState::Next | KeyState::Active | KeyState::Previous
                )
        })?;
    let public = crate::crypto::signing::parse_public_pem(key.public_key_pem.as_bytes()).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).ok()?;
    verifier.update(h.as_bytes()).ok()?;
    verifier.update(b".").ok()?;
    verifier.update(p.as_bytes()).ok()?;
    if !verifier.verify(&signature).ok()? {
        return None;
    }
    let claims: AccessToken = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
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
    Some(claims)
}
