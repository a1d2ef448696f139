//! The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207). Until the
//! client and its exact redirect URI are verified, every error is a page and never a redirect;
//! after that, errors go back to the client with `state` and `iss`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::clients::{self, Client};
use crate::audit::Origin;
use crate::crypto::random_token;
use crate::directory::{Tenant, UserStatus, access};
use crate::ids::UserId;
use crate::login::session::{Session, Stage};
use crate::login::totp::hex;
use crate::services::Services;
use crate::store::{grants, users};

/// How long a code lives.
pub const CODE_TTL_MS: i64 = 60_000;
/// The internal parameter that turns `prompt=login` / `max_age` into "signed in after T", on
/// the way back from the login page: the time and a MAC ([`reauth_mark`]), never a bare number
/// a client could add to skip the fresh sign-in.
pub const AFTER_PARAM: &str = "lk_after";

/// What the endpoint answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The request cannot be trusted to redirect anywhere: show this message.
    ErrorPage(String),
    /// Go back to the client (a code, or an error) at this URL.
    Redirect(String),
    /// Sign in first, then come back to `return_to`. `login_hint` is the username the client
    /// suggested, to fill in.
    Login {
        return_to: String,
        reauth: bool,
        login_hint: Option<String>,
    },
    /// Ask the signed-in user to allow `scopes` to the client. `request` is the authorization
    /// request (its query) to answer once they have decided.
    Consent {
        client_name: String,
        scopes: Vec<String>,
        /// With `profile`: the labels of the custom attributes the client gets as claims.
        shared: Vec<String>,
        request: String,
        /// The session the decision must come from.
        session_id: String,
    },
    /// The signed-in user is not assigned to the client (the refusal is audited): say so, with
    /// `back`, the client's redirect URI carrying `error=access_denied`.
    NotAllowed {
        app_name: String,
        back: Option<String>,
    },
}

/// Where the user stands on consent for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentStep {
    /// Not asked in this request (a fresh authorization request).
    NotAsked,
    /// The user just allowed it on the consent page (CSRF-checked by the caller).
    Allowed,
    /// The user just refused.
    Refused,
}

pub fn code_hash(code: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"latchkey/v1/authorization-code/");
    h.update(code.as_bytes());
    hex(&h.finalize())
}

fn pkce_challenge_ok(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `redirect_uri` with the response parameters added to its query.
fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.to_string())
}

/// The request's parameters as a query, without `drop`, with `add`.
fn query(params: &HashMap<String, String>, drop: &[&str], add: &[(&str, String)]) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for k in keys {
        if !drop.contains(&k.as_str()) {
            s.append_pair(k, &params[k]);
        }
    }
    for (k, v) in add {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The MAC of a re-authentication mark: under a key derived from the master key, over the
/// tenant, the person, the time, and what makes the request this request (client, redirect
/// URI, state, nonce). Each part is length-prefixed.
fn reauth_mac(
    svc: &Services,
    tenant: &Tenant,
    user: UserId,
    since: i64,
    params: &HashMap<String, String>,
) -> Hmac<Sha256> {
    let key = svc.keyring.master().derive_mac_key("oidc-reauth");
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC accepts any key length");
    let (tenant, user, since) = (tenant.id.to_string(), user.to_string(), since.to_string());
    let request = ["client_id", "redirect_uri", "state", "nonce"]
        .map(|k| params.get(k).map_or("", String::as_str));
    for part in [tenant.as_str(), &user, &since].into_iter().chain(request) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

/// `lk_after` for a re-authentication of `user` asked at `since` (unix seconds) for this
/// request: `since.MAC`.
fn reauth_mark(
    svc: &Services,
    tenant: &Tenant,
    user: UserId,
    since: i64,
    params: &HashMap<String, String>,
) -> String {
    let mac = reauth_mac(svc, tenant, user, since, params).finalize();
    format!("{since}.{}", URL_SAFE_NO_PAD.encode(mac.into_bytes()))
}

/// The time of a genuine mark for this person and request; `None` for a missing, malformed or
/// forged one, or one made for another person or request.
fn reauth_since(
    svc: &Services,
    tenant: &Tenant,
    user: UserId,
    params: &HashMap<String, String>,
    mark: &str,
) -> Option<i64> {
    let (since, mac) = mark.split_once('.')?;
    let since: i64 = since.parse().ok()?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    reauth_mac(svc, tenant, user, since, params)
        .verify_slice(&mac)
        .ok()?;
    Some(since)
}

/// The authorize URL to come back to after signing in.
fn return_path(params: &HashMap<String, String>, drop: &[&str], add: &[(&str, String)]) -> String {
    format!("{}?{}", super::paths::AUTHORIZE, query(params, drop, add))
}

/// One authorization request. `session` is the browser's live session on this tenant, if any.
pub async fn authorize(
    svc: &Services,
    tenant: &Tenant,
    params: &HashMap<String, String>,
    session: Option<&Session>,
    consent: ConsentStep,
    origin: &Origin,
    now: i64,
) -> Answer {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // 1. The client and its exact redirect URI; until both check out, a page.
    let Some(client_id) = get("client_id") else {
        return Answer::ErrorPage(
            "The request names no application (client_id is missing).".into(),
        );
    };
    let client: Client = match clients::find_cached(svc, tenant, client_id).await {
        Ok(Some(c)) => (*c).clone(),
        Ok(None) => {
            return Answer::ErrorPage(
                "The application that sent you here is not registered with this sign-in service."
                    .into(),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "authorize: client lookup");
            return Answer::ErrorPage(
                "The sign-in service could not check the application.".into(),
            );
        }
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return Answer::ErrorPage("The request has no redirect_uri.".into());
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Answer::ErrorPage(
            "The application asked to send you to an address it has not registered. For your \
             safety you were not sent there."
                .into(),
        );
    }
    let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
    let state = get("state");
    let error = |code: &str, description: &str| {
        let mut p = vec![("error", code), ("error_description", description)];
        if let Some(s) = state {
            p.push(("state", s));
        }
        p.push(("iss", issuer.as_str()));
        match back_to(redirect_uri, &p) {
            Some(url) => Answer::Redirect(url),
            None => Answer::ErrorPage("The registered redirect URI is not a valid URL.".into()),
        }
    };

    // 2. The request itself.
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return error(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        None => return error("invalid_request", "response_type is missing"),
    }
    if !client.allows_grant("authorization_code") {
        return error(
            "unauthorized_client",
            "this client may not use the code flow",
        );
    }
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return error("request_not_supported", "request objects are not supported");
    }
    if state.is_some_and(|s| s.len() > 1024) || get("nonce").is_some_and(|n| n.len() > 512) {
        return error("invalid_request", "state or nonce is too long");
    }
    let mut scopes: Vec<&str> = Vec::new();
    for s in get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !client.scopes.iter().any(|c| c == s) {
            return error(
                "invalid_scope",
                "a requested scope is not available to this client",
            );
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    // PKCE S256: public clients must, confidential ones do unless registered without it.
    // A challenge that is sent is always checked (and then the verifier is required).
    let challenge = match get("code_challenge") {
        None if client.require_pkce => {
            return error("invalid_request", "code_challenge (PKCE, S256) is required");
        }
        None => {
            if get("code_challenge_method").is_some() {
                return error(
                    "invalid_request",
                    "code_challenge_method without a challenge",
                );
            }
            // Without PKCE, the OIDC nonce is what binds the code to this browser's
            // transaction (RFC 9700 §2.1.1): it is required then.
            if get("nonce").is_none() || !scopes.contains(&"openid") {
                return error(
                    "invalid_request",
                    "without code_challenge, scope openid and a nonce are required",
                );
            }
            ""
        }
        Some(challenge) => {
            if get("code_challenge_method") != Some("S256") {
                return error("invalid_request", "code_challenge_method must be S256");
            }
            if !pkce_challenge_ok(challenge) {
                return error("invalid_request", "code_challenge is malformed");
            }
            challenge
        }
    };
    let prompts: Vec<&str> = get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return error("invalid_request", "prompt=none cannot be combined");
    }
    let max_age: Option<i64> = match get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return error("invalid_request", "max_age must be a number of seconds"),
        },
    };
    // 3. Who is signing in.
    let session = session.filter(|s| s.stage == Stage::Active);
    let login_hint = get("login_hint")
        .filter(|h| h.chars().count() <= 320 && !h.chars().any(char::is_control))
        .map(str::to_owned);
    // Coming back from the login page, `prompt=login` has been honoured; `consent` still holds.
    let mut after_login: Vec<(&str, String)> = Vec::new();
    if prompts.contains(&"consent") {
        after_login.push(("prompt", "consent".to_owned()));
    }
    let Some(session) = session else {
        if prompts.contains(&"none") {
            return error("login_required", "the user is not signed in");
        }
        return Answer::Login {
            return_to: return_path(params, &["prompt"], &after_login),
            reauth: false,
            login_hint,
        };
    };
    // A mark this server made for this request and this person; anything else is no mark.
    let after = get(AFTER_PARAM).and_then(|m| reauth_since(svc, tenant, session.user, params, m));
    let too_old = max_age.is_some_and(|m| now - session.auth_time > m * 1000);
    let reauth_asked = prompts.contains(&"login") && after.is_none();
    let before_after = after.is_some_and(|a| session.auth_time < a * 1000);
    if too_old || reauth_asked || before_after {
        if prompts.contains(&"none") {
            return error("login_required", "a fresh sign-in is needed");
        }
        let since = after.unwrap_or(now.div_euclid(1000));
        after_login.push((
            AFTER_PARAM,
            reauth_mark(svc, tenant, session.user, since, params),
        ));
        // Signing in again is for the session's own user: the login page fills that in.
        return Answer::Login {
            return_to: return_path(params, &["prompt", "max_age", AFTER_PARAM], &after_login),
            reauth: true,
            login_hint: None,
        };
    }
    match users::find(&svc.store, tenant.id, session.user).await {
        Ok(Some(u)) if u.status == UserStatus::Active => {}
        Ok(_) => return error("access_denied", "this account cannot sign in"),
        Err(e) => {
            tracing::error!(error = %e, "authorize: user lookup");
            return error("server_error", "the server could not complete the request");
        }
    }
    let app = client.app();
    match access::may_use(&svc.store, tenant, &app, session.user).await {
        Ok(true) => {}
        Ok(false) => {
            if let Err(e) =
                access::record_denied(svc, tenant, &app, session.user, origin, now).await
            {
                tracing::error!(error = %e, "authorize: auditing a refusal");
            }
            let refused = error("access_denied", "the user may not use this application");
            if prompts.contains(&"none") {
                return refused;
            }
            return Answer::NotAllowed {
                app_name: client.name.clone(),
                back: match refused {
                    Answer::Redirect(url) => Some(url),
                    _ => None,
                },
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "authorize: access lookup");
            return error("server_error", "the server could not complete the request");
        }
    }

    // 4. Consent, when the client requires it or the request asks for it. With `profile` it
    // covers the custom attributes the client gets as claims, too.
    let shared = if scopes.contains(&"profile") {
        match super::clients::shared_attributes(svc, tenant, &client).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "authorize: shared attributes");
                return error("server_error", "the server could not complete the request");
            }
        }
    } else {
        vec![]
    };
    let mut covered: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    covered.extend(
        shared
            .iter()
            .map(|a| crate::directory::attributes::reference(&a.name)),
    );
    let covered: Vec<&str> = covered.iter().map(String::as_str).collect();
    let decider = super::consent::Decider {
        svc,
        tenant,
        user: session.user,
        origin,
        now,
    };
    match consent {
        ConsentStep::Refused => {
            if let Err(e) = decider.refuse(&client.client_id).await {
                tracing::error!(error = %e, "authorize: recording a refusal");
            }
            return error("access_denied", "the user did not allow access");
        }
        ConsentStep::Allowed => {
            if let Err(e) = decider.grant(&client.client_id, &covered).await {
                tracing::error!(error = %e, "authorize: storing consent");
                return error("server_error", "the server could not complete the request");
            }
        }
        ConsentStep::NotAsked if client.require_consent || prompts.contains(&"consent") => {
            let remembered = !prompts.contains(&"consent")
                && match super::consent::covers(
                    svc,
                    tenant,
                    session.user,
                    &client.client_id,
                    &covered,
                )
                .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "authorize: consent lookup");
                        return error("server_error", "the server could not complete the request");
                    }
                };
            if !remembered {
                if prompts.contains(&"none") {
                    return error("consent_required", "the user has not allowed this client");
                }
                return Answer::Consent {
                    client_name: client.name.clone(),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    shared: shared.iter().map(|a| a.label.clone()).collect(),
                    request: query(params, &[], &[]),
                    session_id: session.id.clone(),
                };
            }
        }
        ConsentStep::NotAsked => {}
    }

    // 5. The code.
    let code = random_token();
    let row = grants::CodeRow {
        client_id: client.client_id.clone(),
        user_id: session.user.to_string(),
        session_id: session.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scopes.join(" "),
        nonce: get("nonce").map(str::to_owned),
        code_challenge: challenge.to_owned(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        expires_at: now + CODE_TTL_MS,
        // The store records the user's current generation with the code.
        generation: 0,
    };
    if let Err(e) = grants::insert_code(&svc.store, tenant.id, &code_hash(&code), &row, now).await {
        tracing::error!(error = %e, "authorize: storing the code");
        return error("server_error", "the server could not complete the request");
    }
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", issuer.as_str()));
    match back_to(redirect_uri, &p) {
        Some(url) => Answer::Redirect(url),
        None => Answer::ErrorPage("The registered redirect URI is not a valid URL.".into()),
    }
}
