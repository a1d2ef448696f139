//! The authorization-code flow end to end with the `openidconnect` crate as the relying party,
//! and its negative cases.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthenticationMethodReference, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};

use crate::browser::{Browser, Page};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};

pub(crate) const CALLBACK: &str = "https://app.acme.test/callback";

pub(crate) fn web_client(app: &TestApp, slug: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "--tenant",
        slug,
        "--name",
        "App",
        "--redirect-uri",
        CALLBACK,
        "--scopes",
        "openid,profile,email,offline_access",
    ];
    args.extend_from_slice(extra);
    cli_client(app, &args)
}

/// Whether acme's introspection endpoint, asked by client `id`, says `token` is active.
pub(crate) async fn introspected(app: &TestApp, (id, secret): (&str, &str), token: &str) -> bool {
    let res: serde_json::Value = crate::harness::client()
        .post(app.url("acme", "/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["active"] == true
}

/// Registers acme's public client "SPA" at `redirect`; its id.
pub(crate) fn public_client(app: &TestApp, redirect: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--tenant",
        "acme",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        redirect,
    ];
    args.extend_from_slice(extra);
    cli_client(app, &args).0
}

/// Registers a client with `client create <args> --json`: its id and secret (empty for a
/// public client).
pub(crate) fn cli_client(app: &TestApp, args: &[&str]) -> (String, String) {
    let mut all = vec!["client", "create"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = app.cli(&all);
    assert!(out.ok(), "{}", out.stderr);
    let j = out.json();
    (
        j["client_id"].as_str().unwrap().to_owned(),
        j["client_secret"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(crate) fn path_of(app: &TestApp, slug: &str, url: &str) -> String {
    url.strip_prefix(&app.url(slug, ""))
        .unwrap_or(url)
        .to_owned()
}

/// Follows the browser through authorize → login (if needed) → authorize → callback.
pub(crate) async fn sign_in_through(b: &Browser, app: &TestApp, auth_url: &str) -> Page {
    let mut page = b.get(&path_of(app, "acme", auth_url)).await;
    for _ in 0..6 {
        let Some(loc) = page.next() else {
            return page;
        };
        if loc.starts_with(CALLBACK) {
            return page;
        }
        if loc.starts_with("/login") {
            let form = b.get(&loc).await;
            let return_to = form.field("return_to").unwrap();
            page = b
                .post(
                    "/login",
                    &[
                        ("csrf", &form.csrf()),
                        ("login", "alice"),
                        ("password", PW),
                        ("return_to", &return_to),
                    ],
                )
                .await;
            continue;
        }
        page = b.get(&loc).await;
    }
    page
}

pub(crate) fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn code_flow_with_pkce_is_accepted_by_an_independent_relying_party() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &[]);
    let http = crate::harness::client();
    let issuer = app.url("acme", "");
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let b = Browser::new(&app, "acme");
    let done = sign_in_through(&b, &app, auth_url.as_str()).await;
    let loc = done.location.clone().unwrap_or_else(|| {
        panic!(
            "not redirected back: {} {}",
            done.status,
            done.alert()
                .unwrap_or_else(|| done.body.chars().skip(300).take(700).collect())
        )
    });
    assert!(loc.starts_with(CALLBACK), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], *state.secret());
    assert_eq!(q["iss"], issuer, "RFC 9207 iss");
    let code = q["code"].clone();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies: signature against our JWKS, iss, aud, exp, nonce");
    assert_eq!(claims.preferred_username().unwrap().as_str(), "alice");
    assert_eq!(claims.email().unwrap().as_str(), "alice@acme.test");
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.auth_method_refs().unwrap(),
        &vec![AuthenticationMethodReference::new("pwd".into())]
    );
    // at_hash matches the access token.
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&client.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    // Refresh rotates; reusing the old refresh token revokes the family.
    let first = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    let refreshed = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let second = refreshed.refresh_token().unwrap().clone();
    assert_ne!(first.secret(), second.secret());
    let reuse = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reuse.is_err(), "a rotated refresh token is refused");
    let after_reuse = client
        .exchange_refresh_token(&second)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(after_reuse.is_err(), "and its whole family is revoked");

    // The code works once; replaying it fails (and revokes what it issued).
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(openidconnect::PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(replay.is_err());
}

/// A token request with client_secret_basic: the status and the JSON answer.
pub(crate) async fn token_json(
    app: &TestApp,
    form: &[(&str, &str)],
    id: &str,
    secret: &str,
) -> (u16, serde_json::Value) {
    let res = crate::harness::client()
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// A token request's status and OAuth error code (empty on success).
pub(crate) async fn token_call(
    app: &TestApp,
    form: &[(&str, &str)],
    id: &str,
    secret: &str,
) -> (u16, String) {
    let (status, body) = token_json(app, form, id, secret).await;
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

pub(crate) fn auth_path(id: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("client_id", id)
        .append_pair("redirect_uri", redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st4te");
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", s.finish())
}

/// The authorization request for client `id` at [`CALLBACK`] with the test challenge, asking
/// for `scope` instead of `openid` alone.
pub(crate) fn scoped_auth_path(id: &str, scope: &str) -> String {
    auth_path(
        id,
        CALLBACK,
        &[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", scope),
        ],
    )
    .replace("scope=openid&", "")
}

pub(crate) const CHALLENGE: &str = "y8qyPmbiGTAv0RgPPCeySZqd992G-Xc0KAkJ4ZZQAdE"; // base64url(SHA-256(VERIFIER))
pub(crate) const VERIFIER: &str = "latchkey-test-verifier-0123456789-abcdefghijklmnop";

#[tokio::test]
async fn bad_redirect_uris_get_a_page_never_a_redirect() {
    let app = app_with_alice().await;
    let (id, _) = web_client(&app, "acme", &[]);
    app.create_tenant("globex");
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for redirect in [
        "https://app.acme.test/callback/",
        "https://app.acme.test/callbac",
        "https://app.acme.test/callback?x=1",
        "https://APP.acme.test/callback",
        "https://evil.test/callback",
        "",
    ] {
        let page = b.get(&auth_path(&id, redirect, &pkce)).await;
        assert_eq!(page.status, 400, "{redirect:?}");
        assert!(page.location.is_none(), "{redirect:?} redirected");
    }
    // Unknown client, and acme's client at globex.
    assert_eq!(
        b.get(&auth_path("nosuch", CALLBACK, &pkce)).await.status,
        400
    );
    let at_globex = Browser::new(&app, "globex")
        .get(&auth_path(&id, CALLBACK, &pkce))
        .await;
    assert_eq!(at_globex.status, 400);
    assert!(at_globex.location.is_none());
}

#[tokio::test]
async fn verified_requests_get_spec_errors_at_the_client() {
    let app = app_with_alice().await;
    let (id, _) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    let err = |page: &Page| {
        let q = query_of(page.location.as_deref().expect("a redirect"));
        assert_eq!(q["state"], "st4te");
        q["error"].clone()
    };
    // prompt=none without a session.
    let p = b
        .get(&auth_path(
            &id,
            CALLBACK,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("prompt", "none"),
            ],
        ))
        .await;
    assert_eq!(err(&p), "login_required");
    b.login("alice", PW).await;
    // Implicit and hybrid are refused.
    for rt in ["token", "id_token", "code id_token"] {
        let p = b
            .get(
                &auth_path(
                    &id,
                    CALLBACK,
                    &[
                        ("code_challenge", CHALLENGE),
                        ("code_challenge_method", "S256"),
                    ],
                )
                .replace(
                    "response_type=code",
                    &format!("response_type={}", rt.replace(' ', "+")),
                ),
            )
            .await;
        assert_eq!(err(&p), "unsupported_response_type", "{rt}");
    }
    // PKCE missing, plain, malformed.
    let p = b.get(&auth_path(&id, CALLBACK, &[])).await;
    assert_eq!(err(&p), "invalid_request");
    let p = b
        .get(&auth_path(
            &id,
            CALLBACK,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        ))
        .await;
    assert_eq!(err(&p), "invalid_request");
    let p = b
        .get(&auth_path(&id, CALLBACK, &[("code_challenge", CHALLENGE)]))
        .await;
    assert_eq!(err(&p), "invalid_request", "no method means plain");
    let p = b
        .get(&auth_path(
            &id,
            CALLBACK,
            &[
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert_eq!(err(&p), "invalid_request");
    // A scope the client may not have.
    let p = b.get(&scoped_auth_path(&id, "openid groups")).await;
    assert_eq!(err(&p), "invalid_scope");
}

/// A code for alice, with the test challenge.
pub(crate) async fn code_for(app: &TestApp, b: &Browser, id: &str) -> String {
    let p = b
        .get(&auth_path(
            id,
            CALLBACK,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    let loc = p
        .location
        .unwrap_or_else(|| panic!("no redirect: {}", p.body));
    let _ = app;
    query_of(&loc)["code"].clone()
}

#[tokio::test]
async fn code_exchange_checks_pkce_redirect_client_expiry_and_single_use() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &[]);
    let (other, other_secret) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let exchange = |code: String, verifier: Option<&'static str>, redirect: &'static str| {
        let mut f = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", redirect.to_owned()),
        ];
        if let Some(v) = verifier {
            f.push(("code_verifier", v.to_owned()));
        }
        f
    };
    let call = |f: Vec<(&'static str, String)>, id: String, secret: String| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_call(app, &pairs, &id, &secret).await
        }
    };
    // PKCE downgrade: challenge at authorize, no verifier at token.
    let code = code_for(&app, &b, &id).await;
    assert_eq!(
        call(exchange(code, None, CALLBACK), id.clone(), secret.clone()).await,
        (400, "invalid_grant".into())
    );
    // Wrong verifier.
    let code = code_for(&app, &b, &id).await;
    assert_eq!(
        call(
            exchange(
                code,
                Some("x123456789x123456789x123456789x123456789x123"),
                CALLBACK
            ),
            id.clone(),
            secret.clone()
        )
        .await,
        (400, "invalid_grant".into())
    );
    // Redirect URI differs from the request's.
    let code = code_for(&app, &b, &id).await;
    assert_eq!(
        call(
            exchange(code, Some(VERIFIER), "https://app.acme.test/other"),
            id.clone(),
            secret.clone()
        )
        .await,
        (400, "invalid_grant".into())
    );
    // Another client of the same tenant cannot redeem it.
    let code = code_for(&app, &b, &id).await;
    assert_eq!(
        call(
            exchange(code, Some(VERIFIER), CALLBACK),
            other.clone(),
            other_secret.clone()
        )
        .await,
        (400, "invalid_grant".into())
    );
    // Expired.
    let code = code_for(&app, &b, &id).await;
    app.sql("UPDATE oidc_codes SET expires_at = 1 WHERE used_at IS NULL")
        .await;
    assert_eq!(
        call(
            exchange(code, Some(VERIFIER), CALLBACK),
            id.clone(),
            secret.clone()
        )
        .await,
        (400, "invalid_grant".into())
    );
    // Good once, then never again; the replay revokes the refresh family it issued.
    let code = code_for(&app, &b, &id).await;
    let res = crate::harness::client()
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["id_token"].is_string());
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access asked"
    );
    assert_eq!(
        call(
            exchange(code, Some(VERIFIER), CALLBACK),
            id.clone(),
            secret.clone()
        )
        .await,
        (400, "invalid_grant".into())
    );
    // Wrong client secret on an otherwise good exchange.
    let code = code_for(&app, &b, &id).await;
    assert_eq!(
        call(
            exchange(code, Some(VERIFIER), CALLBACK),
            id.clone(),
            "wrong".into()
        )
        .await,
        (401, "invalid_client".into())
    );
}

#[tokio::test]
async fn replaying_a_code_revokes_the_refresh_tokens_it_issued() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let p = b.get(&scoped_auth_path(&id, "openid offline_access")).await;
    let code = query_of(&p.location.unwrap())["code"].clone();
    let http = crate::harness::client();
    let exchange = || {
        http.post(app.url("acme", "/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ])
            .send()
    };
    let first: serde_json::Value = exchange().await.unwrap().json().await.unwrap();
    let refresh = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert_eq!(exchange().await.unwrap().status(), 400, "replay refused");
    let (s, e) = token_call(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &id,
        &secret,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (400, "invalid_grant"),
        "the refresh token from the replayed code is revoked"
    );
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in() {
    let app = app_with_alice().await;
    let (id, _) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    // With a session, no prompt: straight back with a code.
    let p = b.get(&auth_path(&id, CALLBACK, &pkce)).await;
    assert!(p.location.unwrap().starts_with(CALLBACK));
    // prompt=login: to the login form even though signed in, then back with a code.
    let mut extra = pkce.to_vec();
    extra.push(("prompt", "login"));
    let mut hinted = extra.clone();
    hinted.push(("login_hint", "mallory"));
    let p = b.get(&auth_path(&id, CALLBACK, &hinted)).await;
    let loc = p.location.unwrap();
    assert!(
        loc.starts_with("/login?") && loc.contains("reauth=1"),
        "{loc}"
    );
    // Signing in again is as the session's own user, whatever the hint says.
    assert_eq!(b.get(&loc).await.field("login").as_deref(), Some("alice"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let done = sign_in_through(
        &b,
        &app,
        &format!(
            "{}{}",
            app.url("acme", ""),
            auth_path(&id, CALLBACK, &extra)
        ),
    )
    .await;
    assert!(done.location.unwrap().starts_with(CALLBACK));
    // max_age=0 likewise; prompt=none with a stale sign-in is login_required.
    let mut stale = pkce.to_vec();
    stale.push(("max_age", "0"));
    stale.push(("prompt", "none"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let p = b.get(&auth_path(&id, CALLBACK, &stale)).await;
    assert_eq!(query_of(&p.location.unwrap())["error"], "login_required");
}

/// Issue 16 item 2: "already re-authenticated" is a mark the server made for this person and
/// this request, never a parameter anyone can add: `lk_after=0` (or a forged or borrowed
/// mark) on a `prompt=login` request still asks for the password.
#[tokio::test]
async fn prompt_login_cannot_be_skipped_with_a_mark_the_server_did_not_make() {
    let app = app_with_alice().await;
    let (id, _) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let ask = |extra: Vec<(&'static str, String)>| {
        let mut all: Vec<(&str, &str)> = vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("prompt", "login"),
        ];
        all.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        auth_path(&id, CALLBACK, &all)
    };
    // A genuine mark, made for a request with nonce n1.
    let p = b.get(&ask(vec![("nonce", "n1".into())])).await;
    let login = p.location.unwrap();
    assert!(login.starts_with("/login?"), "{login}");
    let return_to = query_of(&format!("http://x{login}"))["return_to"].clone();
    let genuine = query_of(&format!("http://x{return_to}"))["lk_after"].clone();
    assert!(genuine.contains('.'), "{genuine}");
    let since = genuine.split('.').next().unwrap().to_owned();
    for mark in [
        "0".to_owned(),
        format!("0.{}", genuine.split('.').nth(1).unwrap()),
        format!("{since}.AAAA"),
        "9999999999".to_owned(),
    ] {
        let p = b
            .get(&ask(vec![
                ("nonce", "n1".into()),
                ("lk_after", mark.clone()),
            ]))
            .await;
        let loc = p.location.unwrap_or_default();
        assert!(loc.starts_with("/login?"), "{mark}: {loc}");
    }
    // Borrowed: the genuine mark on another request (another nonce) is no mark.
    let p = b
        .get(&ask(vec![
            ("nonce", "n2".into()),
            ("lk_after", genuine.clone()),
        ]))
        .await;
    assert!(p.location.unwrap().starts_with("/login?"));
    // No code was issued by any of these.
    assert_eq!(
        crate::login::count(&app, "SELECT COUNT(*) FROM oidc_codes").await,
        0
    );
}

#[tokio::test]
async fn public_clients_use_pkce_without_a_secret() {
    let app = app_with_alice().await;
    let id = public_client(&app, CALLBACK, &["--scopes", "openid"]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let code = code_for(&app, &b, &id).await;
    let res = crate::harness::client()
        .post(app.url("acme", "/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_eq!(status, 200, "{}", res.text().await.unwrap());
    // A public client presenting a secret is not a public client.
    let code = code_for(&app, &b, &id).await;
    let (s, e) = token_call(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
        &id,
        "anything",
    )
    .await;
    assert_eq!((s, e.as_str()), (401, "invalid_client"));
    let _ = RefreshToken::new(String::new());
}

#[tokio::test]
async fn userinfo_serves_claims_by_scope_and_refuses_anything_else() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = app_with_alice().await;
    app.create_tenant("globex");
    let (id, secret) = web_client(&app, "acme", &[]);
    let http = crate::harness::client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.url("acme", "")).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.clone()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let b = Browser::new(&app, "acme");
    let done = sign_in_through(&b, &app, auth_url.as_str()).await;
    let code = query_of(&done.location.unwrap())["code"].clone();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo accepted by the relying party (sub matches the ID token)");
    assert_eq!(info.email().unwrap().as_str(), "alice@acme.test");
    assert!(
        info.preferred_username().is_none(),
        "no profile scope, no profile claims"
    );

    let at = tokens.access_token().secret().clone();
    let call = |slug: &'static str, auth: Option<String>| {
        let mut req = http.get(app.url(slug, "/oauth2/userinfo"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let res = req.send().await.unwrap();
            let www = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), www.unwrap_or_default())
        }
    };
    let (s, www) = call("acme", None).await;
    assert_eq!(s, 401);
    assert!(www.starts_with("Bearer"));
    assert_eq!(call("acme", Some("Bearer garbage".into())).await.0, 401);
    // Another tenant does not accept acme's token.
    let (s, www) = call("globex", Some(format!("Bearer {at}"))).await;
    assert_eq!(s, 401);
    assert!(www.contains("invalid_token"));
    // Tampered payload; alg=none; an ID token instead of an access token.
    let parts: Vec<&str> = at.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = serde_json::json!("someone-else");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(call("acme", Some(format!("Bearer {forged}"))).await.0, 401);
    let none_header = b64.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    assert_eq!(
        call("acme", Some(format!("Bearer {none_header}.{}.", parts[1])))
            .await
            .0,
        401
    );
    let id_token = tokens.id_token().unwrap().to_string();
    assert_eq!(
        call("acme", Some(format!("Bearer {id_token}"))).await.0,
        401
    );
    // A client_credentials token has no user and no openid scope.
    let cc = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "Job",
            "--grant-types",
            "client_credentials",
            "--json",
        ])
        .json();
    let cc_token: serde_json::Value = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(
            cc["client_id"].as_str().unwrap(),
            cc["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (s, www) = call(
        "acme",
        Some(format!(
            "Bearer {}",
            cc_token["access_token"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(s, 403);
    assert!(www.contains("insufficient_scope"));
    // Still good…
    assert_eq!(call("acme", Some(format!("Bearer {at}"))).await.0, 200);
    // …until the code is replayed: the access token it issued is revoked.
    let replay = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "x".repeat(43).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(
        call("acme", Some(format!("Bearer {at}"))).await.0,
        401,
        "revoked by the replay"
    );
}

#[tokio::test]
async fn userinfo_refuses_a_disabled_user() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let code = code_for(&app, &b, &id).await;
    let http = crate::harness::client();
    let tokens: serde_json::Value = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let get = || {
        http.get(app.url("acme", "/oauth2/userinfo"))
            .bearer_auth(&at)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(
        app.cli(&[
            "user",
            "set-status",
            "--tenant",
            "acme",
            "alice",
            "disabled"
        ])
        .ok()
    );
    assert_eq!(get().await.unwrap().status(), 401);
}

#[tokio::test]
async fn revocation_ends_refresh_families_and_access_tokens_of_the_client_only() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &[]);
    let (other, other_secret) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let p = b.get(&scoped_auth_path(&id, "openid offline_access")).await;
    let code = query_of(&p.location.unwrap())["code"].clone();
    let http = crate::harness::client();
    let tokens: serde_json::Value = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let revoke = |token: String, who: (String, String)| {
        let req = http
            .post(app.url("acme", "/oauth2/revoke"))
            .basic_auth(who.0, Some(who.1))
            .form(&[("token", token)]);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            (status, body)
        }
    };
    let userinfo = || {
        http.get(app.url("acme", "/oauth2/userinfo"))
            .bearer_auth(&at)
            .send()
    };
    // Another client cannot revoke them.
    assert_eq!(
        revoke(at.clone(), (other.clone(), other_secret.clone()))
            .await
            .0,
        400
    );
    assert_eq!(
        revoke(rt.clone(), (other.clone(), other_secret.clone()))
            .await
            .0,
        400
    );
    assert_eq!(userinfo().await.unwrap().status(), 200);
    // Unknown tokens are answered like revoked ones; no client authentication is refused.
    assert_eq!(
        revoke("nonsense".into(), (id.clone(), secret.clone()))
            .await
            .0,
        200
    );
    assert_eq!(
        revoke(at.clone(), (id.clone(), "wrong".into())).await.0,
        401
    );
    // The owner revokes: the access token stops working at userinfo, the refresh token too.
    assert_eq!(
        revoke(at.clone(), (id.clone(), secret.clone())).await.0,
        200
    );
    assert_eq!(userinfo().await.unwrap().status(), 401);
    assert_eq!(
        revoke(rt.clone(), (id.clone(), secret.clone())).await.0,
        200
    );
    let (s, e) = token_call(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        &id,
        &secret,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn introspection_is_for_confidential_clients_of_the_same_tenant() {
    let app = app_with_alice().await;
    app.create_tenant("globex");
    let (id, secret) = web_client(&app, "acme", &[]);
    let (rs, rs_secret) = web_client(&app, "acme", &[]);
    let g = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "globex",
            "--name",
            "RS",
            "--redirect-uri",
            CALLBACK,
            "--json",
        ])
        .json();
    let public = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            CALLBACK,
            "--json",
        ])
        .json();
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let p = b.get(&scoped_auth_path(&id, "openid offline_access")).await;
    let code = query_of(&p.location.unwrap())["code"].clone();
    let http = crate::harness::client();
    let tokens: serde_json::Value = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let introspect = |slug: &'static str,
                      token: String,
                      who: Option<(String, String)>,
                      public_id: Option<String>| {
        let mut form = vec![("token".to_owned(), token)];
        if let Some(p) = public_id {
            form.push(("client_id".to_owned(), p));
        }
        let mut req = http.post(app.url(slug, "/oauth2/introspect")).form(&form);
        if let Some((u, p)) = who {
            req = req.basic_auth(u, Some(p));
        }
        async move {
            let res = req.send().await.unwrap();
            (
                res.status().as_u16(),
                res.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    // A resource server (another confidential client of acme) learns about the token.
    let (s, v) = introspect(
        "acme",
        at.clone(),
        Some((rs.clone(), rs_secret.clone())),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], id.as_str());
    assert_eq!(v["token_type"], "access_token");
    assert_eq!(v["scope"], "openid offline_access");
    let (_, v) = introspect(
        "acme",
        rt.clone(),
        Some((rs.clone(), rs_secret.clone())),
        None,
    )
    .await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    // Garbage is inactive; a public client may not introspect; no authentication is refused.
    let (_, v) = introspect(
        "acme",
        "garbage".into(),
        Some((rs.clone(), rs_secret.clone())),
        None,
    )
    .await;
    assert_eq!(v, serde_json::json!({ "active": false }));
    assert_eq!(
        introspect(
            "acme",
            at.clone(),
            None,
            Some(public["client_id"].as_str().unwrap().into())
        )
        .await
        .0,
        401
    );
    assert_eq!(introspect("acme", at.clone(), None, None).await.0, 401);
    // Another tenant's client: not a client here; and its own tenant does not know the token.
    let gid = g["client_id"].as_str().unwrap().to_owned();
    let gsecret = g["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(
            "acme",
            at.clone(),
            Some((gid.clone(), gsecret.clone())),
            None
        )
        .await
        .0,
        401
    );
    let (s, v) = introspect("globex", at.clone(), Some((gid, gsecret)), None).await;
    assert_eq!((s, v), (200, serde_json::json!({ "active": false })));
}

#[tokio::test]
async fn single_page_apps_get_cors_on_token_revoke_and_userinfo_and_nobody_else_does() {
    let app = app_with_alice().await;
    app.create_tenant("globex");
    let spa = "https://spa.acme.test";
    let spa_id = public_client(&app, &format!("{spa}/callback"), &[]);
    web_client(&app, "acme", &[]); // confidential, at https://app.acme.test
    let http = crate::harness::client();
    let preflight = |slug: &'static str, path: &'static str, origin: &'static str| {
        let http = http.clone();
        let url = app.url(slug, path);
        async move {
            http.request(reqwest::Method::OPTIONS, url)
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type")
                .send()
                .await
                .unwrap()
        }
    };
    for path in ["/oauth2/token", "/oauth2/revoke", "/oauth2/userinfo"] {
        let ok = preflight("acme", path, spa).await;
        assert_eq!(ok.status(), 204, "{path}");
        assert_eq!(ok.headers()["access-control-allow-origin"], spa);
        assert!(
            ok.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("Content-Type")
        );
        assert!(
            ok.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        for (slug, origin) in [
            ("acme", "https://app.acme.test"), // a confidential client's origin
            ("acme", "https://evil.test"),
            ("acme", "null"),
            ("globex", spa), // acme's SPA at another tenant
        ] {
            let no = preflight(slug, path, origin).await;
            assert_eq!(no.status(), 403, "{slug} {path} {origin}");
            assert!(no.headers().get("access-control-allow-origin").is_none());
        }
    }
    // Actual requests: the allowed origin is echoed on errors too; others get nothing.
    let token = |origin: &'static str| {
        http.post(app.url("acme", "/oauth2/token"))
            .header("Origin", origin)
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", spa_id.as_str()),
                ("code", "nope"),
                ("redirect_uri", "https://spa.acme.test/callback"),
                ("code_verifier", VERIFIER),
            ])
            .send()
    };
    let res = token(spa).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["access-control-allow-origin"], spa);
    assert_eq!(res.headers()["vary"], "Origin");
    let res = token("https://evil.test").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = http
        .get(app.url("acme", "/oauth2/userinfo"))
        .header("Origin", spa)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["access-control-allow-origin"], spa);
    assert_eq!(
        res.headers()["access-control-expose-headers"],
        "WWW-Authenticate"
    );
    // Introspection is for resource servers, never browsers.
    let res = http
        .request(
            reqwest::Method::OPTIONS,
            app.url("acme", "/oauth2/introspect"),
        )
        .header("Origin", spa)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
