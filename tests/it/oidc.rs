//! The OpenID Provider so far: clients (CLI), discovery and JWKS judged by the `openidconnect`
//! crate as a relying party, caching with cross-node invalidation, tenant isolation.

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};

use crate::harness::TestApp;
use crate::key_custody::contains;
use crate::login::count;

fn issuer(app: &TestApp, slug: &str) -> String {
    app.url(slug, "")
}

#[tokio::test]
async fn discovery_is_accepted_by_an_independent_relying_party() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let http = crate::harness::client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer(&app, "acme")).unwrap(), &http)
            .await
            .expect("openidconnect discovers and validates our metadata and JWKS");
    let iss = issuer(&app, "acme");
    assert_eq!(metadata.issuer().as_str(), iss);
    assert_eq!(
        metadata.authorization_endpoint().as_str(),
        format!("{iss}/oauth2/authorize")
    );
    assert_eq!(
        metadata.token_endpoint().unwrap().as_str(),
        format!("{iss}/oauth2/token")
    );
    assert_eq!(
        metadata.jwks().keys().len(),
        1,
        "the active key is published"
    );
    let key = &metadata.jwks().keys()[0];
    assert!(key.key_id().is_some());

    // What the crate has no field for, read raw.
    let raw: serde_json::Value = http
        .get(format!("{iss}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        raw["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(raw["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(raw["end_session_endpoint"], format!("{iss}/oauth2/logout"));
    assert_eq!(raw["revocation_endpoint"], format!("{iss}/oauth2/revoke"));
    assert_eq!(
        raw["introspection_endpoint"],
        format!("{iss}/oauth2/introspect")
    );
    assert_eq!(raw["request_uri_parameter_supported"], false);
    assert_eq!(
        raw["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        raw["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    let grants = raw["grant_types_supported"].as_array().unwrap();
    assert!(!grants.iter().any(|g| g == "implicit" || g == "password"));
}

#[tokio::test]
async fn jwks_publishes_the_tenant_key_with_kid_alg_and_use() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let http = crate::harness::client();
    let res = http
        .get(app.url("acme", "/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    let raw: serde_json::Value = serde_json::from_str(&body).unwrap();
    let jwk = &raw["keys"][0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "RS256");
    let shown = app.cli(&["tenant", "show", "acme", "--json"]).json();
    let active_kid = shown["signing_keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwk["kid"], active_kid.as_str());
    // The modulus is the one of the certificate the tenant holds.
    let tenant = latchkey::directory::find_tenant(&app.svc, "acme")
        .await
        .unwrap();
    let keys = latchkey::keys::list(&app.svc.store, tenant.id)
        .await
        .unwrap();
    let cert = openssl::x509::X509::from_pem(keys[0].certificate_pem.as_bytes()).unwrap();
    let n = cert.public_key().unwrap().rsa().unwrap().n().to_vec();
    use base64::Engine;
    assert_eq!(
        jwk["n"].as_str().unwrap(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)
    );
    // An independent parser reads it too.
    let set: CoreJsonWebKeySet = serde_json::from_str(&body).unwrap();
    assert_eq!(set.keys().len(), 1);

    // Conditional GET.
    let res = http
        .get(app.url("acme", "/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn documents_come_from_memory_and_follow_changes_made_by_another_node() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let http = crate::harness::client();
    let jwks = || async {
        http.get(app.url("acme", "/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    // Let this node catch up with the tenant creation (another process) first.
    let db_epoch = latchkey::store::epoch::current(&app.svc.store)
        .await
        .unwrap();
    for _ in 0..40 {
        if app.svc.caches.epoch() == db_epoch {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.svc.caches.epoch(),
        db_epoch,
        "the poller follows the epoch"
    );
    assert_eq!(jwks().await["keys"].as_array().unwrap().len(), 1);
    // Change the keys behind the server's back (no epoch bump): the cached document stays.
    app.sql("UPDATE signing_keys SET state = 'retired'").await;
    assert_eq!(
        jwks().await["keys"].as_array().unwrap().len(),
        1,
        "served from memory, not from the database"
    );
    // A change made through the product by another process bumps the epoch; within about a
    // second every node has dropped its copy.
    let out = app.cli(&[
        "tenant",
        "policy",
        "acme",
        "--set",
        "password.min_length=13",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let mut seen = usize::MAX;
    for _ in 0..40 {
        seen = jwks().await["keys"].as_array().unwrap().len();
        if seen == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, 0,
        "the retired key left the JWKS after the epoch moved"
    );
}

#[tokio::test]
async fn each_tenant_is_its_own_issuer() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let http = crate::harness::client();
    let get = |slug: &'static str, path: &'static str| {
        let url = app.url(slug, path);
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let a: serde_json::Value = get("acme", "/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let g: serde_json::Value = get("globex", "/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["issuer"], issuer(&app, "acme"));
    assert_eq!(g["issuer"], issuer(&app, "globex"));
    let ak: serde_json::Value = get("acme", "/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let gk: serde_json::Value = get("globex", "/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(ak["keys"][0]["kid"], gk["keys"][0]["kid"]);
    assert_eq!(
        get("nosuch", "/.well-known/openid-configuration")
            .await
            .status(),
        404
    );
    let base = http
        .get(app.base_url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(base.status(), 404, "the bare domain is no issuer");
}

#[tokio::test]
async fn clients_are_managed_from_the_cli_with_secrets_shown_once() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let out = app.cli(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Wiki",
        "--redirect-uri",
        "https://wiki.acme.test/callback",
        "--post-logout-redirect-uri",
        "https://wiki.acme.test/",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let created = out.json();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(created["kind"], "confidential");
    assert_eq!(
        created["redirect_uris"],
        serde_json::json!(["https://wiki.acme.test/callback"])
    );

    // Shown once: neither `show` nor the database has it.
    let shown = app.cli(&["client", "show", "--tenant", "acme", &client_id, "--json"]);
    assert!(shown.ok());
    assert!(!shown.stdout.contains(&secret));
    let dump = crate::key_custody::raw_dump(&app).await;
    assert!(
        !contains(&dump, secret.as_bytes()),
        "client secret stored in plaintext"
    );

    // Authentication with the secret, and rotation with overlap.
    let tenant = latchkey::directory::find_tenant(&app.svc, "acme")
        .await
        .unwrap();
    let find = || async {
        latchkey::oidc::clients::find(&app.svc, &tenant, &client_id)
            .await
            .unwrap()
            .unwrap()
    };
    let now = latchkey::now_ms();
    assert!(find().await.secret_matches(&secret, now));
    assert!(!find().await.secret_matches("wrong", now));
    let rotated = app.cli(&[
        "client",
        "rotate-secret",
        "--tenant",
        "acme",
        &client_id,
        "--overlap-seconds",
        "60",
        "--json",
    ]);
    assert!(rotated.ok(), "{}", rotated.stderr);
    let new_secret = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    let c = find().await;
    assert!(c.secret_matches(&new_secret, now));
    assert!(
        c.secret_matches(&secret, now),
        "the old secret works during the overlap"
    );
    assert!(!c.secret_matches(&secret, now + 61_000), "and not after it");

    // A public client has no secret.
    let public = app.cli(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://localhost:5173/cb",
        "--json",
    ]);
    assert!(public.ok(), "{}", public.stderr);
    assert!(public.json().get("client_secret").is_none());
    let public_id = public.json()["client_id"].as_str().unwrap().to_owned();
    assert!(
        !app.cli(&["client", "rotate-secret", "--tenant", "acme", &public_id])
            .ok()
    );

    // Another tenant cannot see or touch acme's client.
    assert!(
        !app.cli(&["client", "show", "--tenant", "globex", &client_id])
            .ok()
    );
    assert!(
        !app.cli(&["client", "delete", "--tenant", "globex", &client_id])
            .ok()
    );
    let list = app
        .cli(&["client", "list", "--tenant", "globex", "--json"])
        .json();
    assert_eq!(list["clients"].as_array().unwrap().len(), 0);
    let list = app
        .cli(&["client", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(list["clients"].as_array().unwrap().len(), 2);

    assert!(
        app.cli(&["client", "delete", "--tenant", "acme", &client_id])
            .ok()
    );
    assert!(
        !app.cli(&["client", "show", "--tenant", "acme", &client_id])
            .ok()
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation LIKE 'client.%'"
        )
        .await,
        4,
        "create ×2, rotate, delete are audited"
    );
}

#[tokio::test]
async fn bad_client_registrations_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    for (extra, expect) in [
        (
            vec!["--redirect-uri", "http://wiki.acme.test/cb"],
            "loopback",
        ),
        (
            vec!["--redirect-uri", "https://wiki.acme.test/cb#x"],
            "fragment",
        ),
        (vec!["--redirect-uri", "https://*.acme.test/cb"], "wildcard"),
        (vec!["--redirect-uri", "javascript:alert(1)"], "not allowed"),
        (vec![], "at least one redirect URI"),
        (
            vec![
                "--redirect-uri",
                "https://a.test/cb",
                "--grant-types",
                "implicit",
            ],
            "not one of",
        ),
        (
            vec![
                "--redirect-uri",
                "https://a.test/cb",
                "--scopes",
                "openid,admin",
            ],
            "not one of",
        ),
        (
            vec![
                "--redirect-uri",
                "https://a.test/cb",
                "--id-token-alg",
                "none",
            ],
            "not one of",
        ),
        (
            vec![
                "--redirect-uri",
                "https://a.test/cb",
                "--public",
                "--grant-types",
                "client_credentials",
            ],
            "public client",
        ),
    ] {
        let mut args = vec!["client", "create", "--tenant", "acme", "--name", "X"];
        args.extend(extra.iter().copied());
        let out = app.cli(&args);
        assert!(!out.ok(), "{extra:?} accepted");
        assert!(out.stderr.contains(expect), "{extra:?}: {}", out.stderr);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 0);
}

async fn published_kids(app: &TestApp, want: &[&str]) -> Vec<String> {
    let http = crate::harness::client();
    let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    let mut kids = Vec::new();
    for _ in 0..40 {
        let jwks: serde_json::Value = http
            .get(app.url("acme", "/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        kids = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        if kids == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    kids
}

#[tokio::test]
async fn key_rotation_moves_through_next_active_previous_retired() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let rotate = || {
        let out = app.cli(&["keys", "rotate", "--tenant", "acme", "--json"]);
        assert!(out.ok(), "{}", out.stderr);
        out.json()
    };
    let states = || {
        let out = app
            .cli(&["keys", "list", "--tenant", "acme", "--json"])
            .json();
        out["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["kid"].as_str().unwrap().to_owned(),
                    k["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<std::collections::HashMap<_, _>>()
    };
    let signing_kid = || async {
        let t = latchkey::directory::find_tenant(&app.svc, "acme")
            .await
            .unwrap();
        latchkey::keys::active_private_key(
            &app.svc.store,
            &app.svc.keyring,
            t.id,
            latchkey::keys::Alg::Rs256,
        )
        .await
        .unwrap()
        .0
        .kid
    };
    let k0 = states().into_keys().next().unwrap();

    let k1 = rotate()["published"].as_str().unwrap().to_owned();
    assert_eq!(states()[&k1], "next");
    assert_eq!(
        published_kids(&app, &[&k0, &k1]).await,
        sorted(&[&k0, &k1]),
        "next is published early"
    );
    assert_eq!(signing_kid().await, k0, "but does not sign yet");

    let step = rotate();
    assert_eq!(step["active"], k1.as_str());
    assert_eq!(step["previous"], k0.as_str());
    assert_eq!(signing_kid().await, k1);
    assert_eq!(
        published_kids(&app, &[&k0, &k1]).await,
        sorted(&[&k0, &k1]),
        "previous stays published"
    );

    let k2 = rotate()["published"].as_str().unwrap().to_owned();
    let step = rotate();
    assert_eq!(step["active"], k2.as_str());
    assert_eq!(step["retired"], serde_json::json!([k0]));
    assert_eq!(
        published_kids(&app, &[&k1, &k2]).await,
        sorted(&[&k1, &k2]),
        "retired keys leave"
    );

    let out = app.cli(&["keys", "retire-previous", "--tenant", "acme", "--json"]);
    assert_eq!(out.json()["retired"], serde_json::json!([k1]));
    assert_eq!(published_kids(&app, &[&k2]).await, vec![k2.clone()]);
    let s = states();
    assert_eq!(
        (s[&k0].as_str(), s[&k1].as_str(), s[&k2].as_str()),
        ("retired", "retired", "active")
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation IN ('key.rotate', 'key.retire')"
        )
        .await,
        3
    );
    assert!(app.cli(&["audit", "verify", "--tenant", "acme"]).ok());
}

fn sorted(kids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = kids.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Verifies a compact RS256 JWS against the tenant's published JWKS with OpenSSL (not our
/// code); returns (header, claims).
async fn verify_jwt(
    app: &TestApp,
    slug: &str,
    jwt: &str,
) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let header: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let jwks: serde_json::Value = crate::harness::client()
        .get(app.url(slug, "/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} not in the JWKS of {slug}", header["kid"]))
        .clone();
    let n =
        openssl::bn::BigNum::from_slice(&b64.decode(jwk["n"].as_str().unwrap()).unwrap()).unwrap();
    let e =
        openssl::bn::BigNum::from_slice(&b64.decode(jwk["e"].as_str().unwrap()).unwrap()).unwrap();
    let key =
        openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::from_public_components(n, e).unwrap())
            .unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    v.update(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .unwrap();
    assert!(
        v.verify(&b64.decode(parts[2]).unwrap()).unwrap(),
        "signature verifies"
    );
    (header, claims)
}

fn cc_client(app: &TestApp, slug: &str) -> (String, String) {
    let out = app.cli(&[
        "client",
        "create",
        "--tenant",
        slug,
        "--name",
        "Batch job",
        "--grant-types",
        "client_credentials",
        "--scopes",
        "profile,groups",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let j = out.json();
    (
        j["client_id"].as_str().unwrap().to_owned(),
        j["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn client_credentials_tokens_are_rfc9068_jwts_an_independent_client_accepts() {
    use openidconnect::core::CoreClient;
    use openidconnect::{ClientId, ClientSecret, OAuth2TokenResponse, Scope};
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let (id, secret) = cc_client(&app, "acme");
    let http = crate::harness::client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer(&app, "acme")).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.clone()),
        Some(ClientSecret::new(secret.clone())),
    );
    let response = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("groups".into()))
        .request_async(&http)
        .await
        .expect("the openidconnect client gets a token (client_secret_basic)");
    assert_eq!(
        response.expires_in(),
        Some(std::time::Duration::from_secs(300))
    );
    let (header, claims) = verify_jwt(&app, "acme", response.access_token().secret()).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], issuer(&app, "acme"));
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["scope"], "groups");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert!(claims["jti"].as_str().is_some());

    // client_secret_post works too; the response is not cacheable.
    let res = http
        .post(app.url("acme", "/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("scope").is_none(), "no scope asked, none granted");

    // Tokens signed before a key rotation still verify after it.
    let before = body["access_token"].as_str().unwrap().to_owned();
    assert!(app.cli(&["keys", "rotate", "--tenant", "acme"]).ok());
    assert!(app.cli(&["keys", "rotate", "--tenant", "acme"]).ok());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after: serde_json::Value = http
        .post(app.url("acme", "/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (h_old, _) = verify_jwt(&app, "acme", &before).await;
    let (h_new, _) = verify_jwt(&app, "acme", after["access_token"].as_str().unwrap()).await;
    assert_ne!(h_old["kid"], h_new["kid"], "the new key signs now");
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc6749() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let (id, secret) = cc_client(&app, "acme");
    let http = crate::harness::client();
    let post =
        |slug: &'static str, form: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
            let mut req = http.post(app.url(slug, "/oauth2/token")).form(&form);
            if let Some((u, p)) = basic {
                req = req.basic_auth(u, Some(p));
            }
            async move {
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let www = res
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body: serde_json::Value = res.json().await.unwrap();
                (status, body["error"].as_str().unwrap_or("").to_owned(), www)
            }
        };
    let cc = || vec![("grant_type", "client_credentials".to_owned())];

    let (s, e, www) = post("acme", cc(), Some((id.clone(), "wrong".into()))).await;
    assert_eq!((s, e.as_str()), (401, "invalid_client"));
    assert!(www.unwrap().starts_with("Basic"));
    let (s, e, _) = post("acme", cc(), Some(("nosuch".into(), secret.clone()))).await;
    assert_eq!((s, e.as_str()), (401, "invalid_client"));
    // The client of another tenant does not exist here.
    let (s, e, _) = post("globex", cc(), Some((id.clone(), secret.clone()))).await;
    assert_eq!((s, e.as_str()), (401, "invalid_client"));
    // Two authentication methods at once.
    let mut both = cc();
    both.push(("client_secret", secret.clone()));
    let (s, e, _) = post("acme", both, Some((id.clone(), secret.clone()))).await;
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
    // Scope the client may not have, or that makes no sense here.
    for scope in ["admin", "openid", "email"] {
        let mut f = cc();
        f.push(("scope", scope.into()));
        let (s, e, _) = post("acme", f, Some((id.clone(), secret.clone()))).await;
        assert_eq!((s, e.as_str()), (400, "invalid_scope"), "{scope}");
    }
    // Grants: implicit and password do not exist; a client without the grant is refused.
    for g in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let (s, e, _) = post(
            "acme",
            vec![("grant_type", g.into())],
            Some((id.clone(), secret.clone())),
        )
        .await;
        assert_eq!((s, e.as_str()), (400, "unsupported_grant_type"), "{g}");
    }
    let web = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "Web",
            "--redirect-uri",
            "https://w.test/cb",
            "--json",
        ])
        .json();
    let (s, e, _) = post(
        "acme",
        cc(),
        Some((
            web["client_id"].as_str().unwrap().into(),
            web["client_secret"].as_str().unwrap().into(),
        )),
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
    // Missing grant_type, repeated parameters, wrong content type.
    let (s, e, _) = post("acme", vec![], Some((id.clone(), secret.clone()))).await;
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
    let res = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .json(&serde_json::json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
}
