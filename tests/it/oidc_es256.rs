//! ES256 as a per-client ID-token algorithm: a P-256 tenant key comes into use with the first
//! client that asks for it, is published in the JWKS, rotates on its own cycle, and an
//! independent relying party verifies the ID tokens.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, TokenResponse,
};

use crate::browser::Browser;
use crate::harness::TestApp;
use crate::login::app_with_alice;
use crate::oidc_flow::{CALLBACK, query_of, sign_in_through, web_client};

fn header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn keys_of(app: &TestApp) -> Vec<(String, String, String)> {
    let out = app.cli(&["keys", "list", "--tenant", "acme", "--json"]);
    assert!(out.ok(), "{}", out.stderr);
    out.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["algorithm"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until the JWKS publishes exactly `want` kids (the server notices CLI changes within
/// about a second); returns the JWKS.
async fn jwks_with(app: &TestApp, want: &[&str]) -> serde_json::Value {
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    let mut jwks = serde_json::Value::Null;
    for _ in 0..40 {
        jwks = app
            .get("acme", "/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let mut kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        kids.sort_unstable();
        if kids == want {
            return jwks;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("JWKS never published {want:?}: {jwks}");
}

/// Signs alice in through the code flow with the `openidconnect` RP; returns the raw ID token,
/// and the access token.
async fn code_flow(app: &TestApp, b: &Browser, id: &str, secret: &str) -> (String, String) {
    let http = crate::harness::client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.url("acme", "")).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let done = sign_in_through(b, app, auth_url.as_str()).await;
    let code = query_of(done.location.as_deref().unwrap())["code"].clone();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    // An RP that allows only RS256 refuses it (the token really is ES256); one that allows
    // ES256 verifies it against our JWKS.
    let rs256_only = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    assert!(id_token.claims(&rs256_only, &nonce).is_err());
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ES256 ID token verifies");
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    (id_token.to_string(), tokens.access_token().secret().clone())
}

#[tokio::test]
async fn es256_clients_get_p256_id_tokens_that_verify_and_rotate_on_their_own_cycle() {
    let app = app_with_alice().await;
    let before = keys_of(&app);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].1, "RS256");
    let rsa_kid = before[0].0.clone();

    // Unknown algorithms are refused at registration and rotation.
    let bad = app.cli(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "X",
        "--redirect-uri",
        CALLBACK,
        "--id-token-alg",
        "HS256",
    ]);
    assert!(!bad.ok());
    assert!(bad.stderr.contains("RS256, ES256"), "{}", bad.stderr);
    assert!(
        !app.cli(&["keys", "rotate", "--tenant", "acme", "--alg", "none"])
            .ok()
    );
    assert_eq!(
        keys_of(&app).len(),
        1,
        "a refused registration creates no key"
    );

    let (id, secret) = web_client(&app, "acme", &["--id-token-alg", "ES256"]);
    let show = app.cli(&["client", "show", "--tenant", "acme", &id, "--json"]);
    assert_eq!(show.json()["id_token_alg"], "ES256");
    let ec: Vec<_> = keys_of(&app)
        .into_iter()
        .filter(|k| k.1 == "ES256")
        .collect();
    assert_eq!(ec.len(), 1);
    assert_eq!(ec[0].2, "active");
    let ec_kid = ec[0].0.clone();
    // A second ES256 client reuses the key.
    web_client(&app, "acme", &["--id-token-alg", "ES256"]);
    assert_eq!(keys_of(&app).len(), 2);

    let jwks = jwks_with(&app, &[&rsa_kid, &ec_kid]).await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == ec_kid.as_str())
        .unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
    assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
    assert!(jwk.get("n").is_none() && jwk.get("d").is_none());

    let b = Browser::new(&app, "acme");
    let (id_token, access_token) = code_flow(&app, &b, &id, &secret).await;
    assert_eq!(header(&id_token)["alg"], "ES256");
    assert_eq!(header(&id_token)["kid"], ec_kid.as_str());
    // Access tokens stay RS256 for resource servers, and userinfo accepts them.
    assert_eq!(header(&access_token)["alg"], "RS256");
    let userinfo = crate::harness::client()
        .get(app.url("acme", "/oauth2/userinfo"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);

    // The ES256 cycle rotates on its own; the RSA key is untouched, and the old ES256 key
    // stays published, so its ID tokens still work as logout hints.
    for _ in 0..2 {
        let out = app.cli(&["keys", "rotate", "--tenant", "acme", "--alg", "ES256"]);
        assert!(out.ok(), "{}", out.stderr);
    }
    let now = keys_of(&app);
    let active_ec = now
        .iter()
        .find(|k| k.1 == "ES256" && k.2 == "active")
        .unwrap()
        .0
        .clone();
    assert_ne!(active_ec, ec_kid);
    assert!(now.contains(&(ec_kid.clone(), "ES256".into(), "previous".into())));
    assert!(now.contains(&(rsa_kid.clone(), "RS256".into(), "active".into())));
    jwks_with(&app, &[&rsa_kid, &ec_kid, &active_ec]).await;
    // The JWKS may have been read straight from the database; the opened signer follows once
    // this node has seen the change (the epoch poll, about a second).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (new_id_token, _) = code_flow(&app, &b, &id, &secret).await;
    assert_eq!(header(&new_id_token)["kid"], active_ec.as_str());
    let logout = |hint: String| {
        let b = &b;
        async move {
            b.get(&format!(
                "/oauth2/logout?id_token_hint={}",
                url::form_urlencoded::byte_serialize(hint.as_bytes()).collect::<String>()
            ))
            .await
        }
    };
    // The ES256 token relabelled RS256 (same kid), or with a truncated or padded signature,
    // is not ours; the session stays.
    let (_, rest) = id_token.split_once('.').unwrap();
    let mut relabelled = header(&id_token);
    relabelled["alg"] = "RS256".into();
    let relabelled = format!("{}.{rest}", b64(&serde_json::to_vec(&relabelled).unwrap()));
    let (input, sig) = id_token.rsplit_once('.').unwrap();
    let raw = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap()
    };
    let short = format!("{input}.{}", b64(&raw[..63]));
    let long = format!("{input}.{}", b64(&[raw.as_slice(), &[0]].concat()));
    for bad in [relabelled, short, long] {
        let p = logout(bad).await;
        assert_eq!(p.status, 400, "{}", p.body);
    }
    assert_eq!(b.get("/account").await.status, 200);
    let out = logout(id_token.clone()).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.has("You are signed out"));

    // Retiring is per cycle too: the RSA default leaves the ES256 previous key published.
    let retire = |alg: &'static str| {
        let out = app.cli(&[
            "keys",
            "retire-previous",
            "--tenant",
            "acme",
            "--alg",
            alg,
            "--json",
        ]);
        assert!(out.ok(), "{}", out.stderr);
        out.json()
    };
    retire("RS256");
    assert!(keys_of(&app).contains(&(ec_kid.clone(), "ES256".into(), "previous".into())));
    retire("ES256");
    assert!(keys_of(&app).contains(&(ec_kid.clone(), "ES256".into(), "retired".into())));
}
