//! The token endpoint (RFC 6749 §3.2): client authentication and the grants. Landed so far:
//! `client_credentials`, issuing RFC 9068 JWT access tokens signed by the tenant key. The
//! `authorization_code` and `refresh_token` grants come with the authorize endpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::clients::{self, Client, ClientKind};
use super::jwt;
use crate::directory::Tenant;
use crate::services::Services;

/// How the client presented itself.
#[derive(Debug, Default)]
pub struct Presented {
    /// From `Authorization: Basic` (client_secret_basic).
    pub basic: Option<(String, String)>,
    /// From the form (client_secret_post, or `none` for public clients).
    pub form_id: Option<String>,
    pub form_secret: Option<String>,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_client() -> OAuthError {
        OAuthError::new(401, "invalid_client", "client authentication failed")
    }

    fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(400, "invalid_request", description)
    }

    fn server_error(e: impl std::fmt::Display) -> OAuthError {
        tracing::error!(error = %e, "token endpoint");
        OAuthError::new(
            500,
            "server_error",
            "the server could not complete the request",
        )
    }
}

/// `Authorization: Basic` per RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
pub fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client();
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or_else(bad)?;
    if encoded.len() > 1024 {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| form_urlencoded_decode(s).ok_or_else(bad);
    Ok((decode(id)?, decode(secret)?))
}

fn form_urlencoded_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = bytes.get(i + 1..i + 3)?;
                if !pair.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Finds and authenticates the client; any failure is `invalid_client` (401).
pub async fn authenticate(
    svc: &Services,
    tenant: &Tenant,
    presented: &Presented,
    now: i64,
) -> Result<Client, OAuthError> {
    let (id, secret) = match (&presented.basic, &presented.form_id, &presented.form_secret) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), form_id, None) => {
            if form_id.as_ref().is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request("client_id does not match"));
            }
            (id.clone(), Some(secret.clone()))
        }
        (None, Some(id), secret) => (id.clone(), secret.clone()),
        (None, None, _) => return Err(OAuthError::invalid_client()),
    };
    let client = clients::find_cached(svc, tenant, &id)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(OAuthError::invalid_client)?;
    match (client.kind, secret) {
        (ClientKind::Confidential, Some(s)) if client.secret_matches(&s, now) => {
            Ok((*client).clone())
        }
        (ClientKind::Public, None) => Ok((*client).clone()),
        _ => Err(OAuthError::invalid_client()),
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// RFC 9068 claims of an access token.
#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// The scopes asked for, checked against what the client may have. `allowed` filters out
/// scopes that make no sense for the grant.
fn granted_scopes(
    client: &Client,
    requested: Option<&str>,
    allowed: impl Fn(&str) -> bool,
) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for s in requested.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !allowed(s) || !client.scopes.iter().any(|c| c == s) {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                format!(
                    "scope `{}` is not available to this client",
                    s.chars().take(64).collect::<String>()
                ),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

/// One token request: `params` are the form fields (each at most once).
pub async fn token(
    svc: &Services,
    tenant: &Tenant,
    presented: Presented,
    params: &std::collections::HashMap<String, String>,
    now_ms: i64,
) -> Result<TokenResponse, OAuthError> {
    let grant = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let client = authenticate(svc, tenant, &presented, now_ms).await?;
    match grant.as_str() {
        "client_credentials" => {
            if client.kind != ClientKind::Confidential || !client.allows_grant("client_credentials")
            {
                return Err(OAuthError::new(
                    400,
                    "unauthorized_client",
                    "this client may not use client_credentials",
                ));
            }
            let scopes = granted_scopes(&client, params.get("scope").map(String::as_str), |s| {
                !matches!(s, "openid" | "offline_access")
            })?;
            let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
            let now = now_ms.div_euclid(1000);
            let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
            let claims = AccessClaims {
                iss: &issuer,
                sub: &client.client_id,
                aud: &client.client_id,
                client_id: &client.client_id,
                iat: now,
                exp: now + i64::from(client.access_token_seconds),
                jti: uuid::Uuid::new_v4().to_string(),
                scope: scope.as_deref(),
            };
            let signer = jwt::signer(svc, tenant)
                .await
                .map_err(OAuthError::server_error)?;
            let access_token = signer
                .sign("at+jwt", &claims)
                .map_err(OAuthError::server_error)?;
            Ok(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: client.access_token_seconds,
                scope,
            })
        }
        "authorization_code" | "refresh_token" => Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            "this grant is not available yet on this server",
        )),
        _ => Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            "the grant type is not supported",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret+x"));
        assert_eq!(
            parse_basic(&h).unwrap(),
            ("my app".to_owned(), "s:cret x".to_owned())
        );
        assert!(parse_basic("Bearer x").is_err());
        assert!(parse_basic("Basic !!!").is_err());
        assert!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))).is_err());
    }
}
