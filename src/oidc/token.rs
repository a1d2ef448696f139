//! The token endpoint (RFC 6749 §3.2): client authentication and the grants
//! (`authorization_code` with PKCE, rotating `refresh_token`, `client_credentials`), issuing
//! RFC 9068 JWT access tokens and OIDC ID tokens signed by the tenant key; plus revocation
//! (RFC 7009) and introspection (RFC 7662).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::clients::{self, Client, ClientKind};
use super::jwt;
use crate::directory::Tenant;
use crate::keys::Alg;
use crate::services::Services;
use crate::store::grants;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// The user's grant generation (a private claim): the token is honoured at userinfo and
    /// introspection only while it is still the user's.
    #[serde(skip_serializing_if = "Option::is_none")]
    lk_gen: Option<i64>,
    /// The refresh family it was minted with (a private claim), if any: revoking the family
    /// ends it too.
    #[serde(skip_serializing_if = "Option::is_none")]
    lk_fam: Option<&'a str>,
}

/// OIDC Core §2 ID-token claims, plus the profile/email claims the scopes allow.
#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    acr: &'a str,
    amr: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    /// With the `groups` scope: the names of the user's directory groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    /// With the `profile` scope: the client's claims from custom attributes.
    #[serde(flatten)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(400, "invalid_grant", description)
}

pub(crate) fn refresh_hash(token: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"latchkey/v1/refresh-token/");
    h.update(token.as_bytes());
    crate::login::totp::hex(&h.finalize())
}

/// What a user grant issues from: who, for which scopes, how they signed in, and the user's
/// grant generation it was issued under.
struct UserGrant<'a> {
    user: crate::ids::UserId,
    scope: &'a str,
    auth_time: i64,
    amr: &'a str,
    nonce: Option<&'a str>,
    generation: i64,
}

/// The ids of what a grant issues, chosen before anything is stored: the access token's `jti`
/// and the refresh family it belongs to (carried in the access token as `lk_fam`, so that
/// revoking the family ends the access tokens minted from it too).
struct Issued {
    jti: String,
    family: Option<String>,
}

/// Access token and ID token (with `openid`) for a user grant.
async fn user_tokens(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    grant: &UserGrant<'_>,
    issued: &Issued,
    now_ms: i64,
) -> Result<TokenResponse, OAuthError> {
    let user = crate::store::users::find(&svc.store, tenant.id, grant.user)
        .await
        .map_err(OAuthError::server_error)?
        .filter(|u| u.status == crate::directory::UserStatus::Active)
        .ok_or_else(|| invalid_grant("the user can no longer sign in"))?;
    // Taken off an "assigned users only" client, a user's codes and refresh tokens stop.
    if !crate::directory::access::may_use(&svc.store, tenant, &client.app(), user.id)
        .await
        .map_err(OAuthError::server_error)?
    {
        return Err(invalid_grant("the user may no longer use this application"));
    }
    let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
    let now = now_ms.div_euclid(1000);
    let exp = now + i64::from(client.access_token_seconds);
    let sub = user.id.to_string();
    let scopes: Vec<&str> = grant.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
    let auth_time = grant.auth_time.div_euclid(1000);
    // Access tokens are for resource servers: always RS256. The ID token uses the client's
    // registered algorithm.
    let access_token = jwt::signer(svc, tenant, Alg::Rs256)
        .await
        .map_err(OAuthError::server_error)?
        .sign(
            "at+jwt",
            &AccessClaims {
                iss: &issuer,
                sub: &sub,
                aud: &client.client_id,
                client_id: &client.client_id,
                iat: now,
                exp,
                jti: issued.jti.clone(),
                scope: scope.as_deref(),
                auth_time: Some(auth_time),
                lk_gen: Some(grant.generation),
                lk_fam: issued.family.as_deref(),
            },
        )
        .map_err(OAuthError::server_error)?;
    let id_token = if scopes.contains(&"openid") {
        // at_hash: the left half of SHA-256 of the access token (SHA-256 for RS256 and
        // ES256 alike), base64url.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(access_token.as_bytes());
        let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        let amr: Vec<&str> = grant.amr.split(' ').filter(|s| !s.is_empty()).collect();
        let acr = if amr.contains(&"mfa") {
            "urn:latchkey:acr:mfa"
        } else {
            "urn:latchkey:acr:pwd"
        };
        let profile = scopes.contains(&"profile");
        let email = scopes.contains(&"email");
        let groups = if scopes.contains(&"groups") {
            Some(
                crate::directory::groups::names_of(&svc.store, tenant, user.id)
                    .await
                    .map_err(OAuthError::server_error)?,
            )
        } else {
            None
        };
        let attributes = if profile {
            let all = clients::attribute_claims(svc, tenant, client, user.id)
                .await
                .map_err(OAuthError::server_error)?;
            clients::within_id_token_budget(all)
        } else {
            serde_json::Map::new()
        };
        let signer = jwt::signer(svc, tenant, client.id_token_alg)
            .await
            .map_err(OAuthError::server_error)?;
        Some(
            signer
                .sign(
                    "JWT",
                    &IdClaims {
                        iss: &issuer,
                        sub: &sub,
                        aud: &client.client_id,
                        azp: &client.client_id,
                        exp,
                        iat: now,
                        auth_time,
                        nonce: grant.nonce,
                        at_hash,
                        acr,
                        amr,
                        name: profile.then_some(user.display_name.as_str()),
                        preferred_username: profile.then_some(user.username.as_str()),
                        email: email.then_some(user.email.as_str()),
                        email_verified: email.then_some(false),
                        groups,
                        attributes,
                    },
                )
                .map_err(OAuthError::server_error)?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: client.access_token_seconds,
        scope,
        id_token,
        refresh_token: None,
    })
}

/// A new refresh token in `family` (rotation keeps the family's absolute expiry), stored in
/// the caller's transaction.
async fn new_refresh(
    tx: &crate::store::Tx,
    tenant: &Tenant,
    row: &grants::RefreshRow,
    now_ms: i64,
) -> Result<String, OAuthError> {
    let token = crate::crypto::random_token();
    grants::insert_refresh(tx, tenant.id, &refresh_hash(&token), row, now_ms)
        .await
        .map_err(OAuthError::server_error)?;
    Ok(token)
}

fn wants_refresh(client: &Client, scope: &str) -> bool {
    client.allows_grant("refresh_token") && scope.split(' ').any(|s| s == "offline_access")
}

fn pkce_verifier_ok(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn code_grant(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    params: &std::collections::HashMap<String, String>,
    now_ms: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::new(
            400,
            "unauthorized_client",
            "this client may not use authorization_code",
        ));
    }
    let code = params
        .get("code")
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    // Open the ID-token signer first: a key problem must not burn the user's code.
    jwt::signer(svc, tenant, client.id_token_alg)
        .await
        .map_err(OAuthError::server_error)?;
    let hash = super::authorize::code_hash(code);
    // Read first, used up last: the code is used up in the transaction that stores what it
    // issues, so a crash leaves it either unused or fully redeemed.
    let Some(row) = grants::peek_code(&svc.store, tenant.id, &hash, now_ms)
        .await
        .map_err(OAuthError::server_error)?
    else {
        revoke_what_a_code_issued(svc, tenant, client, &hash, now_ms).await?;
        return Err(invalid_grant(
            "the code is invalid, expired or already used",
        ));
    };
    if row.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if params.get("redirect_uri").map(String::as_str) != Some(row.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if row.code_challenge.is_empty() && client.require_pkce {
        // Issued while the client was registered without PKCE; it requires it now.
        return Err(invalid_grant("the code was issued without PKCE"));
    }
    if row.code_challenge.is_empty() {
        // A code issued without PKCE (a confidential client registered without it): a
        // verifier now would be a downgrade attempt (RFC 9700 §2.1.1).
        if params.contains_key("code_verifier") {
            return Err(invalid_grant(
                "the authorization request carried no code_challenge",
            ));
        }
    } else {
        let verifier = params
            .get("code_verifier")
            .filter(|v| pkce_verifier_ok(v))
            .ok_or_else(|| invalid_grant("a valid code_verifier is required"))?;
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            computed.as_bytes(),
            row.code_challenge.as_bytes(),
        )) {
            return Err(invalid_grant("code_verifier does not match"));
        }
    }
    let user: crate::ids::UserId = row
        .user_id
        .parse()
        .map_err(|_| OAuthError::server_error("bad user id in code"))?;
    let grant = UserGrant {
        user,
        scope: &row.scope,
        auth_time: row.auth_time,
        amr: &row.amr,
        nonce: row.nonce.as_deref(),
        generation: row.generation,
    };
    let family = wants_refresh(client, &row.scope).then(|| uuid::Uuid::new_v4().to_string());
    let issued = Issued {
        jti: uuid::Uuid::new_v4().to_string(),
        family: family.clone(),
    };
    let mut response = user_tokens(svc, tenant, client, &grant, &issued, now_ms).await?;
    let tx = svc.store.begin().await.map_err(OAuthError::server_error)?;
    let ids = (issued.family.as_deref(), Some(issued.jti.as_str()));
    if !grants::consume_code(&tx, tenant.id, &hash, ids, now_ms)
        .await
        .map_err(OAuthError::server_error)?
    {
        // Used up since it was read: by a replay that won the race. What that use issued is
        // stored with the code (in the same statement), so it is found and revoked.
        drop(tx);
        revoke_what_a_code_issued(svc, tenant, client, &hash, now_ms).await?;
        return Err(invalid_grant(
            "the code is invalid, expired or already used",
        ));
    }
    if let Some(family_id) = family {
        let refresh = grants::RefreshRow {
            family_id,
            client_id: client.client_id.clone(),
            user_id: row.user_id.clone(),
            scope: row.scope.clone(),
            auth_time: row.auth_time,
            amr: row.amr.clone(),
            expires_at: now_ms + i64::from(client.refresh_token_seconds) * 1000,
            generation: row.generation,
        };
        response.refresh_token = Some(new_refresh(&tx, tenant, &refresh, now_ms).await?);
    }
    tx.commit().await.map_err(OAuthError::server_error)?;
    Ok(response)
}

/// A second use of a code: revokes what the first one issued (RFC 6749 §4.1.2, RFC 9700
/// §4.5), its refresh family and its access token.
async fn revoke_what_a_code_issued(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    hash: &str,
    now_ms: i64,
) -> Result<(), OAuthError> {
    let Some((family, jti)) = grants::used_code(&svc.store, tenant.id, hash)
        .await
        .map_err(OAuthError::server_error)?
    else {
        return Ok(());
    };
    if let Some(f) = family {
        grants::revoke_family(&svc.store, tenant.id, &f, now_ms)
            .await
            .map_err(OAuthError::server_error)?;
    }
    if let Some(j) = jti {
        grants::revoke_jti(&svc.store, tenant.id, &j, now_ms + 86_400_000)
            .await
            .map_err(OAuthError::server_error)?;
    }
    tracing::warn!(tenant = %tenant.slug, client = %client.client_id, "authorization code replayed; its tokens are revoked");
    Ok(())
}

async fn refresh_grant(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    params: &std::collections::HashMap<String, String>,
    now_ms: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::new(
            400,
            "unauthorized_client",
            "this client may not use refresh_token",
        ));
    }
    let token = params
        .get("refresh_token")
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let hash = refresh_hash(token);
    // Read first, used up last, in the transaction that stores its successor: a crash leaves
    // the token either unused or fully rotated.
    let live = grants::live_refresh(&svc.store, tenant.id, &hash, now_ms)
        .await
        .map_err(OAuthError::server_error)?;
    let Some(row) = live.filter(|r| r.client_id == client.client_id) else {
        revoke_a_reused_family(svc, tenant, client, &hash, now_ms).await?;
        return Err(invalid_grant(
            "the refresh token is invalid, expired, revoked or already used",
        ));
    };
    // Scopes the client may no longer have (an admin narrowed it since) are dropped, from the
    // tokens and from the next refresh token; without offline_access the grant ends here.
    let kept: Vec<&str> = row
        .scope
        .split(' ')
        .filter(|s| !s.is_empty() && client.scopes.iter().any(|c| c == s))
        .collect();
    if !kept.contains(&"offline_access") {
        return Err(invalid_grant(
            "the application may no longer keep users signed in",
        ));
    }
    let row = grants::RefreshRow {
        scope: kept.join(" "),
        ..row
    };
    // A narrower scope may be asked for, never a wider one.
    let scope = match params.get("scope").filter(|s| !s.is_empty()) {
        None => row.scope.clone(),
        Some(asked) => {
            let granted: Vec<&str> = row.scope.split(' ').collect();
            if asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .any(|s| !granted.contains(&s))
            {
                return Err(OAuthError::new(
                    400,
                    "invalid_scope",
                    "the scope exceeds the original grant",
                ));
            }
            asked.clone()
        }
    };
    let user: crate::ids::UserId = row
        .user_id
        .parse()
        .map_err(|_| OAuthError::server_error("bad user id in refresh token"))?;
    let grant = UserGrant {
        user,
        scope: &scope,
        auth_time: row.auth_time,
        amr: &row.amr,
        nonce: None,
        generation: row.generation,
    };
    let issued = Issued {
        jti: uuid::Uuid::new_v4().to_string(),
        family: Some(row.family_id.clone()),
    };
    let mut response = user_tokens(svc, tenant, client, &grant, &issued, now_ms).await?;
    let tx = svc.store.begin().await.map_err(OAuthError::server_error)?;
    if !grants::consume_refresh(&tx, tenant.id, &client.client_id, &hash, now_ms)
        .await
        .map_err(OAuthError::server_error)?
    {
        // Used (or revoked) since it was read: a reuse racing this one.
        drop(tx);
        revoke_a_reused_family(svc, tenant, client, &hash, now_ms).await?;
        return Err(invalid_grant(
            "the refresh token is invalid, expired, revoked or already used",
        ));
    }
    response.refresh_token = Some(new_refresh(&tx, tenant, &row, now_ms).await?);
    tx.commit().await.map_err(OAuthError::server_error)?;
    Ok(response)
}

/// A refresh token that was used before: its whole family is revoked (RFC 9700 §4.14.2),
/// including a successor a concurrent rotation is adding and the access tokens minted from it.
async fn revoke_a_reused_family(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    hash: &str,
    now_ms: i64,
) -> Result<(), OAuthError> {
    if let Some(family) = grants::used_refresh_family(&svc.store, tenant.id, hash)
        .await
        .map_err(OAuthError::server_error)?
    {
        grants::revoke_family(&svc.store, tenant.id, &family, now_ms)
            .await
            .map_err(OAuthError::server_error)?;
        tracing::warn!(tenant = %tenant.slug, client = %client.client_id, "refresh token reused; its family is revoked");
    }
    Ok(())
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
                auth_time: None,
                lk_gen: None,
                lk_fam: None,
            };
            let signer = jwt::signer(svc, tenant, Alg::Rs256)
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
                id_token: None,
                refresh_token: None,
            })
        }
        "authorization_code" => code_grant(svc, tenant, &client, params, now_ms).await,
        "refresh_token" => refresh_grant(svc, tenant, &client, params, now_ms).await,
        _ => Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            "the grant type is not supported",
        )),
    }
}

/// Token revocation (RFC 7009): the client must own the token. Unknown or already invalid
/// tokens are answered like revoked ones (200), so the endpoint reveals nothing.
pub async fn revoke(
    svc: &Services,
    tenant: &Tenant,
    presented: Presented,
    params: &std::collections::HashMap<String, String>,
    now_ms: i64,
) -> Result<(), OAuthError> {
    let client = authenticate(svc, tenant, &presented, now_ms).await?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    if token.len() > 8192 {
        return Ok(());
    }
    // A refresh token: revoke its whole family.
    if let Some((family, owner, _)) =
        grants::refresh_owner(&svc.store, tenant.id, &refresh_hash(token))
            .await
            .map_err(OAuthError::server_error)?
    {
        if owner != client.client_id {
            return Err(OAuthError::new(
                400,
                "unauthorized_client",
                "the token was issued to another client",
            ));
        }
        grants::revoke_family(&svc.store, tenant.id, &family, now_ms)
            .await
            .map_err(OAuthError::server_error)?;
        return Ok(());
    }
    // An access token of ours: remember its id until it expires.
    if let Some(at) = super::verify::access_token(svc, tenant, token, now_ms).await {
        if at.client_id != client.client_id {
            return Err(OAuthError::new(
                400,
                "unauthorized_client",
                "the token was issued to another client",
            ));
        }
        grants::revoke_jti(&svc.store, tenant.id, &at.jti, at.exp * 1000)
            .await
            .map_err(OAuthError::server_error)?;
    }
    Ok(())
}

/// Token introspection (RFC 7662) for confidential clients of this tenant (resource servers).
/// Anything not live here, including tokens of other tenants, is `{"active": false}`.
pub async fn introspect(
    svc: &Services,
    tenant: &Tenant,
    presented: Presented,
    params: &std::collections::HashMap<String, String>,
    now_ms: i64,
) -> Result<serde_json::Value, OAuthError> {
    let client = authenticate(svc, tenant, &presented, now_ms).await?;
    if client.kind != ClientKind::Confidential {
        return Err(OAuthError::invalid_client());
    }
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
    let inactive = serde_json::json!({ "active": false });
    if let Some(at) = super::verify::access_token(svc, tenant, token, now_ms).await {
        if !still_served(svc, tenant, &at.client_id, &at.sub).await? {
            return Ok(inactive);
        }
        let mut out = serde_json::json!({
            "active": true,
            "token_type": "access_token",
            "client_id": at.client_id,
            "sub": at.sub,
            "iss": at.iss,
            "exp": at.exp,
            "iat": at.iat,
            "jti": at.jti,
        });
        if let Some(scope) = at.scope {
            out["scope"] = serde_json::json!(scope);
        }
        return Ok(out);
    }
    if token.len() <= 128
        && let Some(rt) = grants::live_refresh(&svc.store, tenant.id, &refresh_hash(token), now_ms)
            .await
            .map_err(OAuthError::server_error)?
    {
        if !still_served(svc, tenant, &rt.client_id, &rt.user_id).await? {
            return Ok(inactive);
        }
        return Ok(serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": rt.client_id,
            "sub": rt.user_id,
            "iss": issuer,
            "exp": rt.expires_at.div_euclid(1000),
            "scope": rt.scope,
        }));
    }
    Ok(inactive)
}

/// Whether a live token is still one to honour: its client still exists and, for a user's
/// token, the user still exists and is active (not disabled, restricted or erased). A client's
/// own token (client credentials) has the client as its subject.
async fn still_served(
    svc: &Services,
    tenant: &Tenant,
    client_id: &str,
    sub: &str,
) -> Result<bool, OAuthError> {
    let client = clients::find_cached(svc, tenant, client_id)
        .await
        .map_err(OAuthError::server_error)?;
    if client.is_none() {
        return Ok(false);
    }
    let Ok(user) = sub.parse::<crate::ids::UserId>() else {
        return Ok(sub == client_id);
    };
    let user = crate::store::users::find(&svc.store, tenant.id, user)
        .await
        .map_err(OAuthError::server_error)?;
    Ok(user.is_some_and(|u| u.status == crate::directory::UserStatus::Active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_attribute_claim_can_take_the_name_of_an_id_token_claim() {
        let all = IdClaims {
            iss: "i",
            sub: "s",
            aud: "a",
            azp: "a",
            exp: 1,
            iat: 1,
            auth_time: 1,
            nonce: Some("n"),
            at_hash: "h".into(),
            acr: "c",
            amr: vec!["pwd"],
            name: Some("n"),
            preferred_username: Some("p"),
            email: Some("e"),
            email_verified: Some(false),
            groups: Some(vec![]),
            attributes: serde_json::Map::new(),
        };
        let json = serde_json::to_value(&all).unwrap();
        for key in json.as_object().unwrap().keys() {
            assert!(clients::is_reserved_claim(key), "{key} is not reserved");
        }
    }

    #[test]
    fn attribute_claims_in_an_id_token_stay_within_the_budget() {
        let big = |i: usize| (format!("c{i}"), serde_json::json!("x".repeat(1000)));
        let kept = clients::within_id_token_budget((0..32).map(big).collect());
        assert_eq!(kept.len(), 3, "three of about 1 KB each");
        assert!(kept.contains_key("c0") && kept.contains_key("c2"));
        assert!(serde_json::to_string(&kept).unwrap().len() <= clients::ID_TOKEN_ATTRIBUTE_BUDGET);
        let small = vec![("a".to_owned(), serde_json::json!(1))];
        assert_eq!(clients::within_id_token_budget(small).len(), 1);
    }

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
