//! The applications the browser journeys sign in to, each a real HTTP server on 127.0.0.1: an
//! OpenID Connect relying party that exchanges the code and verifies the ID token with the
//! `openidconnect` crate (signature against our JWKS, issuer, audience, expiry, nonce, PKCE).
//! It records what arrived, so a journey can assert that the app received exactly one valid
//! result and nothing else.
//!
//! Like many real apps, its callback then redirects to another host of its own
//! (`rp.localhost`): a browser that held that redirect to the sign-in form's `form-action`
//! would stop there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, RedirectUrl, Scope, TokenResponse,
};

use crate::harness::TestApp;

/// What reached the relying party.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// A code that exchanged for tokens whose ID token verified.
    SignedIn {
        username: String,
        sub: String,
        auth_time: i64,
        amr: Vec<String>,
    },
    /// An error answer for a request the RP had made (`state` matched).
    Refused { error: String },
    /// Back from RP-initiated logout with the state the RP sent.
    SignedOut { state: String },
    /// Anything the RP could not accept.
    Invalid(String),
}

struct Inner {
    issuer: String,
    client_id: String,
    secret: String,
    redirect: String,
    metadata: CoreProviderMetadata,
    http: reqwest::Client,
    /// state → (PKCE verifier, nonce) of requests sent and not yet answered.
    pending: Mutex<HashMap<String, (String, String)>>,
    arrivals: Mutex<Vec<Arrival>>,
    last_id_token: Mutex<Option<String>>,
}

pub struct Rp {
    inner: Arc<Inner>,
    pub origin: String,
    /// The host a signed-in user lands on after the callback.
    pub home: String,
}

impl Rp {
    /// Registers a confidential client on `slug` (with `extra` client options) and serves it.
    pub async fn start(app: &TestApp, slug: &str, extra: &[&str]) -> Rp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://127.0.0.1:{port}");
        let redirect = format!("{origin}/cb");
        let bye = format!("{origin}/bye");
        let mut args = vec![
            "client",
            "create",
            "--tenant",
            slug,
            "--name",
            "Team wiki",
            "--redirect-uri",
            &redirect,
            "--post-logout-redirect-uri",
            &bye,
            "--scopes",
            "openid,profile,email,offline_access",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = app.cli(&args);
        assert!(out.ok(), "{}", out.stderr);
        let j = out.json();
        let issuer = app.url(slug, "");
        let http = crate::harness::client();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
                .await
                .expect("discovery");
        let inner = Arc::new(Inner {
            issuer,
            client_id: j["client_id"].as_str().unwrap().to_owned(),
            secret: j["client_secret"].as_str().unwrap().to_owned(),
            redirect,
            metadata,
            http,
            pending: Mutex::new(HashMap::new()),
            arrivals: Mutex::new(Vec::new()),
            last_id_token: Mutex::new(None),
        });
        let router = axum::Router::new()
            .route("/cb", axum::routing::get(callback))
            .route("/bye", axum::routing::get(bye_page))
            .route("/home", axum::routing::get(home))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Rp {
            inner,
            home: format!("http://rp.localhost:{port}/home"),
            origin,
        }
    }

    /// A fresh authorization request (PKCE, nonce, state) with `extra` parameters.
    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let inner = &self.inner;
        let client = oidc_client(inner);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = req.url();
        inner.pending.lock().unwrap().insert(
            state.secret().clone(),
            (verifier.secret().clone(), nonce.secret().clone()),
        );
        url.to_string()
    }

    /// An RP-initiated logout request, with `id_token_hint` when given.
    pub fn logout_url(&self, id_token_hint: Option<&str>, state: &str) -> String {
        let end = format!("{}/oauth2/logout", self.inner.issuer);
        let mut u = url::Url::parse(&end).unwrap();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("client_id", &self.inner.client_id);
            q.append_pair(
                "post_logout_redirect_uri",
                PostLogoutRedirectUrl::new(format!("{}/bye", self.origin))
                    .unwrap()
                    .as_str(),
            );
            q.append_pair("state", state);
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
        }
        u.to_string()
    }

    /// What arrived since the last call, waiting up to 20 s for the first arrival.
    pub async fn arrivals(&self) -> Vec<Arrival> {
        for _ in 0..200 {
            let got = std::mem::take(&mut *self.inner.arrivals.lock().unwrap());
            if !got.is_empty() {
                // Anything that follows at once belongs to the same journey.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut got = got;
                got.extend(std::mem::take(&mut *self.inner.arrivals.lock().unwrap()));
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        vec![]
    }

    /// The one sign-in that arrived (and nothing else).
    pub async fn signed_in(&self) -> Arrival {
        let got = self.arrivals().await;
        assert!(
            matches!(got.as_slice(), [Arrival::SignedIn { .. }]),
            "the app should have received exactly one valid sign-in: {got:?}"
        );
        got[0].clone()
    }

    /// The raw ID token of the most recent sign-in, for logout hints.
    pub fn last_id_token(&self) -> Option<String> {
        self.inner.last_id_token.lock().unwrap().clone()
    }
}

type Oidc = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn oidc_client(inner: &Inner) -> Oidc {
    CoreClient::from_provider_metadata(
        inner.metadata.clone(),
        ClientId::new(inner.client_id.clone()),
        Some(ClientSecret::new(inner.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(inner.redirect.clone()).unwrap())
}

fn page(title: &str) -> Response {
    Html(format!(
        "<!doctype html><html><head><title>{title}</title></head><body><h1 id=\"app\">{title}</h1></body></html>"
    ))
    .into_response()
}

async fn callback(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let arrival = receive(&inner, &q).await;
    let signed_in = matches!(arrival, Arrival::SignedIn { .. });
    inner.arrivals.lock().unwrap().push(arrival.clone());
    if signed_in {
        // On to the app's own home on another host, as many apps do.
        let home = inner.redirect.replace("127.0.0.1", "rp.localhost");
        Redirect::to(&home.replace("/cb", "/home")).into_response()
    } else {
        page(&format!("Not signed in: {arrival:?}"))
    }
}

async fn receive(inner: &Inner, q: &HashMap<String, String>) -> Arrival {
    let Some(state) = q.get("state") else {
        return Arrival::Invalid(format!("no state: {q:?}"));
    };
    let Some((verifier, nonce)) = inner.pending.lock().unwrap().remove(state) else {
        return Arrival::Invalid(format!("a state this app did not send: {q:?}"));
    };
    if q.get("iss") != Some(&inner.issuer) {
        return Arrival::Invalid(format!("iss (RFC 9207) is not the issuer: {q:?}"));
    }
    if let Some(error) = q.get("error") {
        return Arrival::Refused {
            error: error.clone(),
        };
    }
    let Some(code) = q.get("code") else {
        return Arrival::Invalid(format!("neither code nor error: {q:?}"));
    };
    let client = oidc_client(inner);
    let tokens = match client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&inner.http)
        .await
    {
        Ok(t) => t,
        Err(e) => return Arrival::Invalid(format!("code exchange: {e:?}")),
    };
    let Some(id_token) = tokens.id_token() else {
        return Arrival::Invalid("no ID token".into());
    };
    let claims = match id_token.claims(&client.id_token_verifier(), &Nonce::new(nonce)) {
        Ok(c) => c,
        Err(e) => return Arrival::Invalid(format!("the ID token does not verify: {e}")),
    };
    *inner.last_id_token.lock().unwrap() = Some(id_token.to_string());
    Arrival::SignedIn {
        username: claims
            .preferred_username()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default(),
        sub: claims.subject().as_str().to_owned(),
        auth_time: claims.auth_time().map_or(0, |t| t.timestamp()),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
            .unwrap_or_default(),
    }
}

async fn bye_page(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    inner.arrivals.lock().unwrap().push(Arrival::SignedOut {
        state: q.get("state").cloned().unwrap_or_default(),
    });
    page("Signed out of Team wiki")
}

async fn home() -> Response {
    page("Team wiki")
}
