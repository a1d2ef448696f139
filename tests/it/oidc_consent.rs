//! Consent (asked once, remembered per user and client, revocable from the account pages) and
//! confidential clients registered without PKCE.

use crate::browser::{Browser, Page};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};
use crate::oidc_flow::{CALLBACK, CHALLENGE, VERIFIER, auth_path, query_of, web_client};

fn pkce() -> [(&'static str, &'static str); 2] {
    [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

pub(crate) fn ask(id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = pkce().to_vec();
    params.extend_from_slice(extra);
    auth_path(id, CALLBACK, &params).replace(
        "scope=openid",
        &format!("scope={}", scope.replace(' ', "+")),
    )
}

pub(crate) async fn decide(b: &Browser, page: &Page, decision: &str) -> Page {
    b.post(
        "/oauth2/consent",
        &[
            ("csrf", &page.csrf()),
            ("request", &page.field("request").unwrap()),
            ("binding", &page.field("binding").unwrap()),
            ("decision", decision),
        ],
    )
    .await
}

/// Exchanges a code; returns the token response.
async fn exchange(
    app: &TestApp,
    id: &str,
    secret: &str,
    code: &str,
    verifier: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let res = crate::harness::client()
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn code_of(page: &Page) -> String {
    let loc = page
        .next()
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.body));
    assert!(loc.starts_with(CALLBACK), "{loc}");
    query_of(&loc)
        .get("code")
        .unwrap_or_else(|| panic!("no code: {loc}"))
        .clone()
}

#[tokio::test]
async fn consent_is_asked_once_remembered_and_revocable() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &["--consent"]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;

    // prompt=none cannot ask.
    let silent = b
        .get(&ask(&id, "openid profile", &[("prompt", "none")]))
        .await;
    let q = query_of(silent.location.as_deref().unwrap());
    assert_eq!(q["error"], "consent_required");
    assert_eq!(q["state"], "st4te");

    // The page names the app and what it asks for.
    let page = b.get(&ask(&id, "openid profile offline_access", &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has("Allow App?"));
    assert!(page.has("See your name and username"));
    assert!(page.has("Stay connected when you are not using it"));
    assert!(!page.has("See your e-mail address"));

    // A forged decision changes nothing; "don't allow" goes back as access_denied.
    let forged = b
        .post(
            "/oauth2/consent",
            &[
                ("csrf", "forged"),
                ("request", &page.field("request").unwrap()),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let denied = decide(&b, &page, "deny").await;
    let q = query_of(&denied.next().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st4te");
    assert_eq!(
        b.get(&ask(&id, "openid profile offline_access", &[]))
            .await
            .status,
        200,
        "still not allowed"
    );

    // Allow: the code comes back at once and works.
    let page = b.get(&ask(&id, "openid profile offline_access", &[])).await;
    let code = code_of(&decide(&b, &page, "allow").await);
    let (status, tokens) = exchange(&app, &id, &secret, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Remembered: the same or fewer scopes, even with prompt=none, go straight through; a
    // scope not yet allowed cannot be asked for silently.
    code_of(&b.get(&ask(&id, "openid profile offline_access", &[])).await);
    code_of(&b.get(&ask(&id, "openid", &[("prompt", "none")])).await);
    let silent_wider = b
        .get(&ask(&id, "openid email", &[("prompt", "none")]))
        .await;
    assert_eq!(
        query_of(silent_wider.location.as_deref().unwrap())["error"],
        "consent_required"
    );
    // More scopes ask again, for everything requested; prompt=consent always asks.
    let wider = b.get(&ask(&id, "openid email", &[])).await;
    assert_eq!(wider.status, 200);
    assert!(wider.has("See your e-mail address"));
    code_of(&decide(&b, &wider, "allow").await);
    code_of(&b.get(&ask(&id, "openid profile email", &[])).await);
    let again = b.get(&ask(&id, "openid", &[("prompt", "consent")])).await;
    assert_eq!(again.status, 200, "{:?}", again.location);
    assert!(again.has("Allow App?"));

    // The account page lists it; another user cannot remove alice's consent.
    let apps = b.get("/account/apps").await;
    assert_eq!(apps.status, 200);
    assert!(apps.has("<strong>App</strong>"));
    assert!(apps.has("See your e-mail address"));
    app.create_user("acme", "bob", PW);
    let bob = Browser::new(&app, "acme");
    bob.login("bob", PW).await;
    let bobs = bob.get("/account/apps").await;
    assert!(!bobs.has("<strong>App</strong>"));
    let tried = bob
        .post(
            "/account/apps/revoke",
            &[
                ("csrf", &bob.get("/account").await.csrf()),
                ("client_id", &id),
            ],
        )
        .await;
    assert!(tried.has("That application had no access to remove."));
    code_of(&b.get(&ask(&id, "openid", &[])).await);

    // Removing access forgets the consent and revokes the app's refresh tokens.
    let removed = b
        .post(
            "/account/apps/revoke",
            &[("csrf", &apps.csrf()), ("client_id", &id)],
        )
        .await;
    assert!(removed.has("Access removed."), "{}", removed.body);
    assert!(!removed.has("<strong>App</strong>"));
    let res = crate::harness::client()
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(b.get(&ask(&id, "openid", &[])).await.status, 200);
}

#[tokio::test]
async fn first_party_clients_skip_consent_unless_asked_and_deleting_a_client_forgets_it() {
    let app = app_with_alice().await;
    let (first, _) = web_client(&app, "acme", &[]);
    let (third, _) = web_client(&app, "acme", &["--consent"]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    code_of(&b.get(&ask(&first, "openid profile", &[])).await);
    assert_eq!(
        b.get(&ask(&first, "openid", &[("prompt", "consent")]))
            .await
            .status,
        200
    );
    let page = b.get(&ask(&third, "openid", &[])).await;
    code_of(&decide(&b, &page, "allow").await);
    assert!(b.get("/account/apps").await.has(&third));

    assert!(
        app.cli(&["client", "delete", "--tenant", "acme", &third])
            .ok()
    );
    let left = crate::login::count(
        &app,
        &format!("SELECT COUNT(*) FROM oidc_consents WHERE client_id = '{third}'"),
    )
    .await;
    assert_eq!(left, 0, "the deleted client's consents are gone");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!b.get("/account/apps").await.has(&third));
}

#[tokio::test]
async fn signing_in_keeps_prompt_consent_and_login_hint_fills_in_the_username() {
    let app = app_with_alice().await;
    let (id, _) = web_client(&app, "acme", &[]);
    let b = Browser::new(&app, "acme");
    // Not signed in: to the login page and back, and the consent page is still shown.
    let first = b
        .get(&ask(
            &id,
            "openid",
            &[("prompt", "consent"), ("login_hint", "alice")],
        ))
        .await;
    let to_login = first.location.clone().unwrap();
    assert!(to_login.starts_with("/login"), "{to_login}");
    let form = b.get(&to_login).await;
    assert_eq!(
        form.field("login").as_deref(),
        Some("alice"),
        "login_hint fills in the username"
    );
    let back = b
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("login", "alice"),
                ("password", PW),
                ("return_to", &form.field("return_to").unwrap()),
            ],
        )
        .await;
    let page = b.get(&back.next().unwrap()).await;
    assert_eq!(page.status, 200, "{:?}", page.location);
    assert!(page.has("Allow App?"));
}

#[tokio::test]
async fn confidential_clients_may_turn_pkce_off_and_then_a_verifier_is_refused() {
    let app = app_with_alice().await;
    let refused = app.cli(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "SPA",
        "--public",
        "--no-pkce",
        "--redirect-uri",
        CALLBACK,
    ]);
    assert!(!refused.ok());
    assert!(
        refused
            .stderr
            .contains("public client cannot turn PKCE off"),
        "{}",
        refused.stderr
    );

    let (id, secret) = web_client(&app, "acme", &["--no-pkce"]);
    let show = app.cli(&["client", "show", "--tenant", "acme", &id, "--json"]);
    assert_eq!(show.json()["require_pkce"], false);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;

    // Without a challenge, the nonce must bind the code (scope openid + nonce required).
    let no_nonce = b.get(&auth_path(&id, CALLBACK, &[])).await;
    assert_eq!(
        query_of(no_nonce.location.as_deref().unwrap())["error"],
        "invalid_request"
    );
    let nonce = [("nonce", "n-0123456789")];
    // Without a challenge: a code, exchanged without a verifier.
    let code = code_of(&b.get(&auth_path(&id, CALLBACK, &nonce)).await);
    let (status, body) = exchange(&app, &id, &secret, &code, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());

    // A verifier for a code issued without a challenge is a downgrade: refused.
    let code = code_of(&b.get(&auth_path(&id, CALLBACK, &nonce)).await);
    let (status, body) = exchange(&app, &id, &secret, &code, Some(VERIFIER)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // A challenge that is sent still binds the code; `plain` is still refused.
    let code = code_of(&b.get(&auth_path(&id, CALLBACK, &pkce())).await);
    let (status, body) = exchange(&app, &id, &secret, &code, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let plain = b
        .get(&auth_path(
            &id,
            CALLBACK,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        ))
        .await;
    assert_eq!(
        query_of(plain.location.as_deref().unwrap())["error"],
        "invalid_request"
    );

    // The default stays: PKCE required.
    let (strict, _) = web_client(&app, "acme", &[]);
    let p = b.get(&auth_path(&strict, CALLBACK, &[])).await;
    assert_eq!(
        query_of(p.location.as_deref().unwrap())["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn a_consent_decision_counts_only_for_the_request_and_session_it_was_shown_in() {
    let app = app_with_alice().await;
    app.create_user("acme", "bob", PW);
    let (id, _) = web_client(&app, "acme", &["--consent"]);
    let (other, _) = web_client(&app, "acme", &["--consent"]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let page = b.get(&ask(&id, "openid profile", &[])).await;
    let request = page.field("request").unwrap();
    assert!(request.contains("scope=openid+profile"), "{request}");
    let post = |request: String, csrf: String| {
        let b = &b;
        let binding = page.field("binding").unwrap();
        async move {
            b.post(
                "/oauth2/consent",
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("binding", &binding),
                    ("decision", "allow"),
                ],
            )
            .await
        }
    };
    // The request edited to another client, or to more scopes, is refused.
    for edited in [
        request.replace(&id, &other),
        request.replace("scope=openid+profile", "scope=openid+profile+email"),
    ] {
        let p = post(edited, page.csrf()).await;
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.location.is_none());
    }
    // Alice's page, left open while bob signs in on the same browser, acts for nobody.
    let account = b.get("/account").await;
    b.post("/logout", &[("csrf", &account.csrf())]).await;
    b.login("bob", PW).await;
    let stale = post(request.clone(), page.csrf()).await;
    assert_eq!(stale.status, 400);
    assert!(stale.has("out of date"));
    assert_eq!(
        crate::login::count(&app, "SELECT COUNT(*) FROM oidc_consents").await,
        0
    );
}
