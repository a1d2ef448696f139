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
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
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
    /// The app's own home on another host, where its callback sends a signed-in user.
    home: String,
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
        Rp::start_with(app, slug, async |redirect: String, bye: String| {
            let mut args = vec![
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
            ];
            args.extend_from_slice(extra);
            crate::oidc_flow::cli_client(app, &args)
        })
        .await
    }

    /// Serves an app whose client `register` registers, given the app's redirect and
    /// post-logout URIs; it answers the client id and secret (from the CLI, or from the
    /// console's page in a browser).
    pub async fn start_with(
        app: &TestApp,
        slug: &str,
        register: impl AsyncFnOnce(String, String) -> (String, String),
    ) -> Rp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://127.0.0.1:{port}");
        let redirect = format!("{origin}/cb");
        let bye = format!("{origin}/bye");
        let (client_id, secret) = register(redirect.clone(), bye).await;
        let issuer = app.url(slug, "");
        let http = crate::harness::client();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
                .await
                .expect("discovery");
        let inner = Arc::new(Inner {
            issuer,
            client_id,
            secret,
            redirect,
            metadata,
            http,
            pending: Mutex::new(HashMap::new()),
            arrivals: Mutex::new(Vec::new()),
            last_id_token: Mutex::new(None),
            home: format!("http://rp.localhost:{port}/home"),
        });
        let router = axum::Router::new()
            .route("/cb", axum::routing::get(callback))
            .route("/bye", axum::routing::get(bye_page))
            .route("/home", axum::routing::get(home))
            .with_state(inner.clone());
        serve(listener, router);
        Rp {
            home: inner.home.clone(),
            inner,
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
            q.append_pair("post_logout_redirect_uri", &format!("{}/bye", self.origin));
            q.append_pair("state", state);
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
        }
        u.to_string()
    }

    /// What arrived since the last call, waiting up to 20 s for the first arrival.
    pub async fn arrivals(&self) -> Vec<Arrival> {
        drain(&self.inner.arrivals).await
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
        Redirect::to(&inner.home).into_response()
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

/// What reached the SAML service provider, each message verified with `xmlsec1` against the
/// IdP certificate the SP was given.
#[derive(Debug, Clone, PartialEq)]
pub enum SamlArrival {
    /// A signed Response with a signed assertion for this SP, answering `in_response_to`
    /// (one of its own requests) or unsolicited (IdP-initiated).
    Assertion {
        name_id: String,
        in_response_to: Option<String>,
        relay_state: Option<String>,
    },
    /// A signed LogoutRequest from the IdP for this NameID (IdP-initiated logout).
    LogoutRequest {
        name_id: String,
    },
    /// A signed, successful LogoutResponse to the SP's own LogoutRequest.
    LoggedOut {
        in_response_to: String,
    },
    Invalid(String),
}

struct SpInner {
    entity: String,
    origin: String,
    idp: String,
    idp_cert: String,
    key_file: String,
    dir: std::path::PathBuf,
    pending: Mutex<std::collections::HashSet<String>>,
    arrivals: Mutex<Vec<SamlArrival>>,
    /// The NameID and SessionIndex of the last assertion (for SP-initiated logout).
    session: Mutex<Option<(String, String)>>,
    /// The SP's own home on another host, where its ACS sends a signed-in user.
    home: String,
}

pub struct Sp {
    inner: Arc<SpInner>,
    pub origin: String,
    pub entity: String,
    /// Where the SP sends the browser after its ACS (another host of its own).
    pub home: String,
}

const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

impl Sp {
    /// Registers an SP (POST ACS and POST SLO on 127.0.0.1, e-mail NameIDs, IdP-initiated
    /// SSO allowed) from its metadata on `slug`, and serves it.
    pub async fn start(app: &TestApp, slug: &str, name: &str) -> Sp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://127.0.0.1:{port}");
        let entity = format!("{origin}/sp");
        let (cert_file, key_file) = crate::saml_sso::sp_key_files(app, &format!("sp-{port}"));
        let cert: String = std::fs::read_to_string(&cert_file)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let metadata = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="{POST_BINDING}" Location="{origin}/slo"/><md:AssertionConsumerService Binding="{POST_BINDING}" Location="{origin}/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
        );
        let out = app.cli_with(
            &[
                "sp",
                "import",
                "--tenant",
                slug,
                "--file",
                "-",
                "--name",
                name,
                "--name-id-format",
                "email",
                "--idp-initiated",
                "--relay-state",
                "/start-page",
            ],
            &[],
            Some(&metadata),
        );
        assert!(out.ok(), "{}", out.stderr);
        let idp = app.url(slug, "");
        let idp_cert = crate::saml_sso::idp_certificate(app, slug).await;
        let inner = Arc::new(SpInner {
            entity: entity.clone(),
            origin: origin.clone(),
            idp,
            idp_cert,
            key_file,
            dir: app.dir.path().to_owned(),
            pending: Mutex::new(Default::default()),
            arrivals: Mutex::new(Vec::new()),
            session: Mutex::new(None),
            home: format!("http://sp.localhost:{port}/home"),
        });
        let router = axum::Router::new()
            .route("/login", axum::routing::get(sp_login))
            .route("/acs", axum::routing::post(acs))
            .route("/logout", axum::routing::get(sp_logout))
            .route("/slo", axum::routing::post(slo))
            .route("/home", axum::routing::get(sp_home))
            .with_state(inner.clone());
        serve(listener, router);
        Sp {
            home: inner.home.clone(),
            inner,
            origin,
            entity,
        }
    }

    /// A link that starts SP-initiated sign-in on the Redirect or POST binding.
    pub fn login_url(&self, binding: &str) -> String {
        format!("{}/login?binding={binding}", self.origin)
    }

    pub fn logout_url(&self) -> String {
        format!("{}/logout", self.origin)
    }

    /// What arrived since the last call, waiting up to 20 s for the first arrival.
    pub async fn arrivals(&self) -> Vec<SamlArrival> {
        drain(&self.inner.arrivals).await
    }
}

/// Serves an app's `router` on `listener` until the test's runtime ends.
fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

/// What arrived in `inbox` since the last call, waiting up to 20 s for the first arrival
/// (anything that follows within 200 ms belongs to the same step of the journey).
async fn drain<T>(inbox: &Mutex<Vec<T>>) -> Vec<T> {
    for _ in 0..200 {
        let mut got = std::mem::take(&mut *inbox.lock().unwrap());
        if !got.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            got.extend(std::mem::take(&mut *inbox.lock().unwrap()));
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    vec![]
}

fn saml_id() -> String {
    latchkey::saml::response::new_id()
}

/// The value of `attr` on the first element with local name `local`.
fn attr_of(xml: &str, local: &str, attr: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.local_name().as_ref() == local.as_bytes() =>
            {
                return e
                    .attributes()
                    .filter_map(Result::ok)
                    .find(|a| a.key.as_ref() == attr.as_bytes())
                    .map(|a| String::from_utf8_lossy(&a.value).into_owned());
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

/// Verifies the signature of `xml` with `xmlsec1`, trusting only the IdP's certificate.
fn verified(sp: &SpInner, xml: &str) -> Result<(), String> {
    crate::saml_sso::xmlsec_verify_in(&sp.dir, xml, &sp.idp_cert)
}

fn status_ok(xml: &str) -> bool {
    attr_of(xml, "StatusCode", "Value").as_deref()
        == Some("urn:oasis:names:tc:SAML:2.0:status:Success")
}

fn decode_posted(form: &HashMap<String, String>, param: &str) -> Option<String> {
    use base64::Engine;
    let b64 = form.get(param)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

async fn sp_login(
    State(sp): State<Arc<SpInner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = saml_id();
    sp.pending.lock().unwrap().insert(id.clone());
    let sso = format!("{}/saml/sso", sp.idp);
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{sso}" AssertionConsumerServiceURL="{}/acs" ProtocolBinding="{POST_BINDING}"><saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>"#,
        crate::saml_sp_init::now_instant(0),
        sp.origin,
        sp.entity
    );
    if q.get("binding").map(String::as_str) == Some("post") {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&xml);
        Html(format!(
            "<!doctype html><html><head><title>Payroll</title></head><body><h1>Payroll</h1>\
             <form method=\"post\" action=\"{sso}\"><input type=\"hidden\" name=\"SAMLRequest\" \
             value=\"{b64}\"><input type=\"hidden\" name=\"RelayState\" value=\"post-relay\">\
             <button id=\"go\" type=\"submit\">Sign in with Acme</button></form></body></html>"
        ))
        .into_response()
    } else {
        let path = crate::saml_sp_init::binding_path(
            "/saml/sso",
            &xml,
            Some("redirect-relay"),
            Some(&sp.key_file),
            crate::saml_sp_init::RSA_SHA256,
        );
        Redirect::to(&format!("{}{path}", sp.idp)).into_response()
    }
}

async fn acs(
    State(sp): State<Arc<SpInner>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let arrival = match decode_posted(&form, "SAMLResponse") {
        None => SamlArrival::Invalid(format!("no SAMLResponse: {form:?}")),
        Some(xml) => check_response(&sp, &xml, form.get("RelayState").cloned()),
    };
    let ok = matches!(arrival, SamlArrival::Assertion { .. });
    sp.arrivals.lock().unwrap().push(arrival.clone());
    if ok {
        Redirect::to(&sp.home).into_response()
    } else {
        page(&format!("Not signed in: {arrival:?}"))
    }
}

fn check_response(sp: &SpInner, xml: &str, relay_state: Option<String>) -> SamlArrival {
    if let Err(e) = verified(sp, xml) {
        return SamlArrival::Invalid(format!("signature: {e}"));
    }
    if attr_of(xml, "Response", "Destination").as_deref() != Some(&format!("{}/acs", sp.origin)) {
        return SamlArrival::Invalid(format!("wrong Destination: {xml}"));
    }
    if !status_ok(xml) {
        return SamlArrival::Invalid(format!("not a success: {xml}"));
    }
    if crate::saml_sso::text_of(xml, "Audience").as_deref() != Some(&sp.entity) {
        return SamlArrival::Invalid(format!("wrong Audience: {xml}"));
    }
    if !xml.contains("<saml:Assertion") || xml.matches("<ds:Signature").count() < 1 {
        return SamlArrival::Invalid(format!("no signed assertion: {xml}"));
    }
    let in_response_to = attr_of(xml, "Response", "InResponseTo");
    if let Some(id) = &in_response_to
        && !sp.pending.lock().unwrap().remove(id)
    {
        return SamlArrival::Invalid(format!("answers a request this SP did not send: {id}"));
    }
    let Some(name_id) = crate::saml_sso::text_of(xml, "NameID") else {
        return SamlArrival::Invalid(format!("no NameID: {xml}"));
    };
    let index = attr_of(xml, "AuthnStatement", "SessionIndex").unwrap_or_default();
    *sp.session.lock().unwrap() = Some((name_id.clone(), index));
    SamlArrival::Assertion {
        name_id,
        in_response_to,
        relay_state,
    }
}

/// SP-initiated logout: a signed LogoutRequest on the Redirect binding.
async fn sp_logout(State(sp): State<Arc<SpInner>>) -> Response {
    let Some((name_id, index)) = sp.session.lock().unwrap().clone() else {
        return page("Not signed in here");
    };
    let id = saml_id();
    sp.pending.lock().unwrap().insert(id.clone());
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo"><saml:Issuer>{}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><samlp:SessionIndex>{index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        crate::saml_sp_init::now_instant(0),
        sp.idp,
        sp.entity
    );
    let path = crate::saml_sp_init::binding_path(
        "/saml/slo",
        &xml,
        None,
        Some(&sp.key_file),
        crate::saml_sp_init::RSA_SHA256,
    );
    Redirect::to(&format!("{}{path}", sp.idp)).into_response()
}

/// The SLO endpoint (POST binding): a LogoutResponse to our request, or the IdP's
/// LogoutRequest, answered with a signed LogoutResponse on the Redirect binding.
async fn slo(
    State(sp): State<Arc<SpInner>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    if let Some(xml) = decode_posted(&form, "SAMLResponse") {
        let arrival = match verified(&sp, &xml) {
            Err(e) => SamlArrival::Invalid(format!("signature: {e}")),
            Ok(()) if !status_ok(&xml) => SamlArrival::Invalid(format!("not a success: {xml}")),
            Ok(()) => match attr_of(&xml, "LogoutResponse", "InResponseTo") {
                Some(id) if sp.pending.lock().unwrap().remove(&id) => {
                    SamlArrival::LoggedOut { in_response_to: id }
                }
                other => SamlArrival::Invalid(format!("answers no request of ours: {other:?}")),
            },
        };
        sp.arrivals.lock().unwrap().push(arrival);
        return page("Signed out of Payroll");
    }
    let Some(xml) = decode_posted(&form, "SAMLRequest") else {
        sp.arrivals
            .lock()
            .unwrap()
            .push(SamlArrival::Invalid(format!("nothing to read: {form:?}")));
        return page("Nothing to do");
    };
    if let Err(e) = verified(&sp, &xml) {
        sp.arrivals
            .lock()
            .unwrap()
            .push(SamlArrival::Invalid(format!("signature: {e}")));
        return page("Refused");
    }
    let name_id = crate::saml_sso::text_of(&xml, "NameID").unwrap_or_default();
    let request_id = attr_of(&xml, "LogoutRequest", "ID").unwrap_or_default();
    sp.arrivals
        .lock()
        .unwrap()
        .push(SamlArrival::LogoutRequest { name_id });
    *sp.session.lock().unwrap() = None;
    let answer = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{}" InResponseTo="{request_id}" Destination="{}/saml/slo"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        saml_id(),
        crate::saml_sp_init::now_instant(0),
        sp.idp,
        sp.entity
    );
    let path = crate::saml_sp_init::message_path(
        "/saml/slo",
        "SAMLResponse",
        &answer,
        form.get("RelayState").map(String::as_str),
        Some(&sp.key_file),
        crate::saml_sp_init::RSA_SHA256,
    );
    Redirect::to(&format!("{}{path}", sp.idp)).into_response()
}

async fn sp_home() -> Response {
    page("Payroll")
}
