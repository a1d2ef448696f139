//! RP-Initiated Logout 1.0 at `/oauth2/logout`: the `openidconnect` crate builds the request;
//! hints are verified against the tenant's current and previous keys only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::CoreIdToken;
use openidconnect::{
    ClientId, CsrfToken, IssuerUrl, LogoutRequest, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout,
};

use crate::browser::Browser;
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};
use crate::oidc_flow::{CALLBACK, VERIFIER, code_for, query_of, web_client};

const BYE: &str = "https://app.acme.test/signed-out";

/// A client with a registered post-logout URI, and alice signed in with an ID token for it.
async fn signed_in(app: &TestApp) -> (String, Browser, String) {
    let (id, secret) = web_client(app, "acme", &["--post-logout-redirect-uri", BYE]);
    let b = Browser::new(app, "acme");
    b.login("alice", PW).await;
    let id_token = id_token_for(app, "acme", &b, &id, &secret).await;
    (id, b, id_token)
}

/// An ID token for whoever is signed in to `b` (a browser on `slug`).
async fn id_token_for(app: &TestApp, slug: &str, b: &Browser, id: &str, secret: &str) -> String {
    let code = code_for(app, b, id).await;
    let res = crate::harness::client()
        .post(app.url(slug, "/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    body["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token: {body}"))
        .to_owned()
}

fn logout_path(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    format!("/oauth2/logout?{}", s.finish())
}

async fn signed_in_still(b: &Browser) -> bool {
    b.get("/account").await.status == 200
}

fn decode_part(token: &str, i: usize) -> serde_json::Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn encode_part(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn a_valid_hint_ends_the_session_and_returns_to_the_registered_uri_with_state() {
    let app = app_with_alice().await;
    let (id, b, id_token) = signed_in(&app).await;
    // The request as an independent relying party library builds it from our discovery.
    let metadata = ProviderMetadataWithLogout::discover_async(
        IssuerUrl::new(app.url("acme", "")).unwrap(),
        &crate::harness::client(),
    )
    .await
    .unwrap();
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint is published");
    assert_eq!(end_session.as_str(), app.url("acme", "/oauth2/logout"));
    let hint: CoreIdToken = serde_json::from_value(serde_json::json!(id_token)).unwrap();
    let url = LogoutRequest::from(end_session)
        .set_id_token_hint(&hint)
        .set_client_id(ClientId::new(id.clone()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(BYE.into()).unwrap())
        .set_state(CsrfToken::new("after-logout".into()))
        .http_get_url();
    let path = url.as_str().strip_prefix(&app.url("acme", "")).unwrap();
    let page = b.get(path).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let loc = page.location.clone().unwrap();
    assert!(loc.starts_with(BYE), "{loc}");
    assert_eq!(query_of(&loc)["state"], "after-logout");
    assert!(
        page.set_cookies.iter().any(|c| c.contains("Max-Age=0")),
        "{:?}",
        page.set_cookies
    );
    assert!(!signed_in_still(&b).await, "the IdP session is over");

    // The same hint with no session any more: straight back, nothing to ask.
    let again = b
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(again.status, 303);
    assert_eq!(again.location.as_deref(), Some(BYE));

    // A form POST works the same way; without a redirect URI it ends on a page.
    b.login("alice", PW).await;
    let posted = b
        .post("/oauth2/logout", &[("id_token_hint", &id_token)])
        .await;
    assert_eq!(posted.status, 200);
    assert!(posted.has("You are signed out"));
    assert!(!signed_in_still(&b).await);
}

#[tokio::test]
async fn bad_hints_and_unregistered_uris_get_a_page_and_end_nothing() {
    let app = app_with_alice().await;
    app.create_tenant("globex");
    app.create_user("globex", "gail", PW);
    let (id, b, id_token) = signed_in(&app).await;
    let (other_id, _) = web_client(&app, "acme", &["--post-logout-redirect-uri", BYE]);

    let header = decode_part(&id_token, 0);
    let claims = decode_part(&id_token, 1);
    let signature = id_token.split('.').nth(2).unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();

    // alg=none, with and without a signature part.
    let none_header = encode_part(&serde_json::json!({ "alg": "none", "kid": kid }));
    let alg_none = format!("{none_header}.{}.", encode_part(&claims));
    let alg_none_sig = format!("{none_header}.{}.{signature}", encode_part(&claims));
    // HS256 keyed with our public key, as published (PEM from the JWKS, and the raw modulus).
    let jwks: serde_json::Value = app
        .get("acme", "/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let rsa = openssl::rsa::Rsa::from_public_components(
        openssl::bn::BigNum::from_slice(&n).unwrap(),
        openssl::bn::BigNum::from_slice(&e).unwrap(),
    )
    .unwrap();
    let pkey = openssl::pkey::PKey::from_rsa(rsa.clone()).unwrap();
    let hs256 = |secret: &[u8]| {
        let h = encode_part(&serde_json::json!({ "alg": "HS256", "typ": "JWT", "kid": kid }));
        let input = format!("{h}.{}", encode_part(&claims));
        let key = openssl::pkey::PKey::hmac(secret).unwrap();
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        signer.update(input.as_bytes()).unwrap();
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap())
        )
    };
    let hs_pem = hs256(&pkey.public_key_to_pem().unwrap());
    let hs_pkcs1 = hs256(&rsa.public_key_to_pem_pkcs1().unwrap());
    let hs_der = hs256(&pkey.public_key_to_der().unwrap());
    // Claims changed under the original signature.
    let mut other_sub = claims.clone();
    other_sub["sub"] = serde_json::json!("00000000-0000-0000-0000-000000000000");
    let tampered = format!(
        "{}.{}.{signature}",
        id_token.split('.').next().unwrap(),
        encode_part(&other_sub)
    );
    // An ID token of another tenant.
    let gb = Browser::new(&app, "globex");
    gb.login("gail", PW).await;
    let (gid, gsecret) = web_client(&app, "globex", &[]);
    let globex_token = id_token_for(&app, "globex", &gb, &gid, &gsecret).await;

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("alg none", vec![("id_token_hint", &alg_none)]),
        (
            "alg none, signature kept",
            vec![("id_token_hint", &alg_none_sig)],
        ),
        ("HS256 keyed with the PEM", vec![("id_token_hint", &hs_pem)]),
        (
            "HS256 keyed with PKCS#1",
            vec![("id_token_hint", &hs_pkcs1)],
        ),
        ("HS256 keyed with the DER", vec![("id_token_hint", &hs_der)]),
        ("tampered claims", vec![("id_token_hint", &tampered)]),
        (
            "another tenant's token",
            vec![("id_token_hint", &globex_token)],
        ),
        ("garbage", vec![("id_token_hint", "a.b.c")]),
        (
            "unregistered redirect",
            vec![
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://evil.test/"),
            ],
        ),
        (
            "registered URI with an extra slash",
            vec![
                ("id_token_hint", &id_token),
                (
                    "post_logout_redirect_uri",
                    "https://app.acme.test/signed-out/",
                ),
            ],
        ),
        (
            "redirect without saying which client",
            vec![("post_logout_redirect_uri", BYE)],
        ),
        (
            "client_id the token was not for",
            vec![
                ("id_token_hint", &id_token),
                ("client_id", &other_id),
                ("post_logout_redirect_uri", BYE),
            ],
        ),
    ];
    for (what, params) in cases {
        let page = b.get(&logout_path(&params)).await;
        assert_eq!(page.status, 400, "{what}: {}", page.body);
        assert!(page.location.is_none(), "{what}: redirected");
        assert!(
            page.set_cookies.iter().all(|c| !c.contains("Max-Age=0")),
            "{what}: cookie cleared"
        );
        assert!(signed_in_still(&b).await, "{what}: the session ended");
    }
    // acme's valid hint at globex is refused there too, and gail stays signed in.
    let at_globex = gb
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("client_id", &id),
        ]))
        .await;
    assert_eq!(at_globex.status, 400);
    assert_eq!(gb.get("/account").await.status, 200);
}

#[tokio::test]
async fn without_a_hint_for_the_signed_in_user_the_user_is_asked_first() {
    let app = app_with_alice().await;
    app.create_user("acme", "bob", PW);
    let (id, secret) = web_client(&app, "acme", &["--post-logout-redirect-uri", BYE]);
    let bob = Browser::new(&app, "acme");
    bob.login("bob", PW).await;
    let bobs_token = id_token_for(&app, "acme", &bob, &id, &secret).await;
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;

    // A link anyone could plant (client_id, no hint), and a hint for someone else.
    for params in [
        vec![
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "s1"),
        ],
        vec![
            ("id_token_hint", bobs_token.as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "s1"),
        ],
    ] {
        let page = b.get(&logout_path(&params)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.has("Sign out?"));
        assert!(page.has("App asks to sign you out"));
        assert!(signed_in_still(&b).await, "asking ends nothing");
    }
    let page = b
        .get(&logout_path(&[
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "s1"),
        ]))
        .await;
    let fields = |csrf: &str, uri: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("client_id".to_owned(), page.field("client_id").unwrap()),
            ("post_logout_redirect_uri".to_owned(), uri.to_owned()),
            ("state".to_owned(), page.field("state").unwrap()),
        ]
    };
    let post = |f: Vec<(String, String)>| {
        let b = &b;
        async move {
            let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            b.post("/oauth2/logout/confirm", &refs).await
        }
    };
    // A forged confirmation (no valid CSRF token) and a swapped redirect change nothing.
    assert_eq!(post(fields("forged", BYE)).await.status, 403);
    assert!(signed_in_still(&b).await);
    let swapped = post(fields(&page.csrf(), "https://evil.test/")).await;
    assert_eq!(swapped.status, 400);
    assert!(swapped.location.is_none());
    assert!(signed_in_still(&b).await);
    // Yes.
    let done = post(fields(&page.csrf(), BYE)).await;
    // The answer to our own form is a page that navigates on (a redirect chain after a form
    // would be held to the page's form-action): no redirect, the way back in its refresh.
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.location.is_none());
    assert_eq!(done.next().as_deref(), Some(&*format!("{BYE}?state=s1")));
    assert!(!signed_in_still(&b).await);
    assert!(signed_in_still(&bob).await, "bob's session is his own");
}

#[tokio::test]
async fn hints_verify_after_rotation_and_when_expired_but_not_once_the_key_is_retired() {
    let app = app_with_alice().await;
    let (_, b, id_token) = signed_in(&app).await;
    // An ID token that expired an hour ago, signed with the tenant's active key.
    let tenant = app
        .svc
        .caches
        .tenant(&app.svc.store, "acme")
        .await
        .unwrap()
        .unwrap();
    let signer = latchkey::oidc::jwt::signer(&app.svc, &tenant, latchkey::keys::Alg::Rs256)
        .await
        .unwrap();
    let mut claims = decode_part(&id_token, 1);
    let now = crate::browser::now_unix();
    claims["iat"] = serde_json::json!(now - 7200);
    claims["exp"] = serde_json::json!(now - 3600);
    let expired = signer.sign("JWT", &claims).unwrap();

    // Rotate: publish next, then promote it. The old key is `previous`, still published.
    for _ in 0..2 {
        assert!(app.cli(&["keys", "rotate", "--tenant", "acme"]).ok());
    }
    let page = b
        .get(&logout_path(&[
            ("id_token_hint", &expired),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(!signed_in_still(&b).await);

    // Once the previous key is retired, its tokens are no longer ours to honour.
    b.login("alice", PW).await;
    assert!(
        app.cli(&["keys", "retire-previous", "--tenant", "acme"])
            .ok()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let page = b.get(&logout_path(&[("id_token_hint", &id_token)])).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(signed_in_still(&b).await);
}
