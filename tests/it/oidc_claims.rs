//! Claims from custom attributes: mapped per OIDC client in the console or on the command
//! line, issued typed with the `profile` scope in the ID token and from userinfo, named on the
//! consent page; rules naming an unknown attribute or a registered claim are refused, and
//! another tenant's attributes cannot be named.

use crate::browser::Browser;
use crate::console::between;
use crate::console::{signed_in_admin, user_id};
use crate::console_apps::client_form;
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice, count};
use crate::oidc_consent::{ask, decide};
use crate::oidc_flow::{CALLBACK, CHALLENGE, VERIFIER, auth_path, query_of, token_json};

const RULES: &str = "attr.cost_centre=cost_centre\nattr.employee_no=employee_number\n\
                     attr.remote=remote\nattr.start_date=https://acme.example/start";

/// The claims of a compact JWS (its signature is checked by the OIDC tests).
fn claims_of(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A code flow for the browser's user with `scope`; the token response.
async fn tokens(
    app: &TestApp,
    b: &Browser,
    (id, secret): (&str, &str),
    scope: &str,
) -> serde_json::Value {
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let path = auth_path(id, CALLBACK, &pkce).replace("scope=openid", &format!("scope={scope}"));
    let p = b.get(&path).await;
    let code = query_of(p.location.as_deref().unwrap())["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = token_json(app, &form, id, secret).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn userinfo(app: &TestApp, tokens: &serde_json::Value) -> serde_json::Value {
    let res = crate::harness::client()
        .get(app.url("acme", "/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn custom_attributes_become_typed_claims_with_the_profile_scope() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    for (name, label, kind) in [
        ("cost_centre", "Cost centre", "text"),
        ("employee_no", "Employee number", "number"),
        ("remote", "Works remotely", "boolean"),
        ("start_date", "Start date", "date"),
    ] {
        let fields = [("name", name), ("label", label), ("kind", kind)];
        let page = b
            .submit("/admin/attributes", "/admin/attributes", &fields)
            .await;
        assert_eq!(page.status, 303, "{name}: {}", page.body);
    }
    let alice = user_id(&app, "alice");
    let saved = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/profile"),
            &[
                ("display_name", "Alice"),
                ("email", "alice@acme.test"),
                ("attr.cost_centre", "CC-7"),
                ("attr.employee_no", "0042"),
                ("attr.remote", "true"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    // Rules naming no attribute of this tenant, or a registered claim: refused, nothing stored.
    let form = b.get("/admin/apps/oidc/new").await;
    let (csrf, once) = (form.csrf(), form.once());
    for (rules, says) in [
        (
            "attr.shoe=shoe",
            "there is no custom attribute &#34;shoe&#34;",
        ),
        ("attr.cost_centre=sub", "registered claim"),
        ("attr.cost_centre=email_verified", "registered claim"),
        ("cost_centre=cc", "the source must be attr."),
        ("attr.remote=a\nattr.employee_no=a", "mapped twice"),
    ] {
        let fields = client_form(&csrf, &[("once", &once), ("claim_rules", rules)]);
        let page = b.post("/admin/apps/oidc", &fields).await;
        assert_eq!(page.status, 422, "{rules}: {}", page.body);
        let beside = between(&page.body, "id=\"claim_rules-error\">", "</p>");
        assert!(beside.contains(says), "{rules}: {beside}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 0);

    let fields = client_form(&csrf, &[("once", &once), ("claim_rules", RULES)]);
    let made = b.post("/admin/apps/oidc", &fields).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let id = crate::console::between(&made.body, "<code id=\"client-id\">", "</code>");
    let secret = crate::console::between(&made.body, "<code id=\"client-secret\">", "</code>");
    let page = b.get(&format!("/admin/apps/oidc/{id}")).await;
    assert!(
        page.has("attr.employee_no=employee_number"),
        "{}",
        page.body
    );

    // With profile: typed claims (the number canonical, the boolean a boolean); a value the
    // user does not have is left out. The same from userinfo.
    let person = Browser::new(&app, "acme");
    person.login("alice", PW).await;
    let with = tokens(&app, &person, (&id, &secret), "openid+profile").await;
    let id_token = claims_of(with["id_token"].as_str().unwrap());
    let info = userinfo(&app, &with).await;
    for claims in [&id_token, &info] {
        assert_eq!(claims["cost_centre"], "CC-7", "{claims}");
        assert_eq!(claims["employee_number"], 42, "{claims}");
        assert_eq!(claims["remote"], true, "{claims}");
        assert!(
            claims.get("https://acme.example/start").is_none(),
            "{claims}"
        );
        assert_eq!(claims["preferred_username"], "alice");
    }
    // Without profile: none of them.
    let without = tokens(&app, &person, (&id, &secret), "openid").await;
    let id_token = claims_of(without["id_token"].as_str().unwrap());
    let info = userinfo(&app, &without).await;
    for claims in [&id_token, &info] {
        assert!(claims.get("cost_centre").is_none(), "{claims}");
        assert!(claims.get("remote").is_none(), "{claims}");
    }

    let refused = app.cli(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Shoes",
        "--redirect-uri",
        CALLBACK,
        "--claim",
        "attr.shoe=shoe",
    ]);
    assert!(!refused.ok());
    assert!(
        refused.stderr.contains("no custom attribute `shoe`"),
        "{}",
        refused.stderr
    );

    // Another tenant cannot name acme's attributes.
    app.create_tenant("beta");
    let out = app.cli(&[
        "client",
        "create",
        "--tenant",
        "beta",
        "--name",
        "Beta app",
        "--redirect-uri",
        CALLBACK,
        "--claim",
        "attr.cost_centre=cc",
    ]);
    assert!(!out.ok(), "beta has no attribute cost_centre");
    assert!(
        out.stderr.contains("no custom attribute `cost_centre`"),
        "{}",
        out.stderr
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 1);

    // A long value mapped five times: the ID token carries what fits in its budget and stays
    // small enough for id_token_hint; userinfo serves them all.
    let long = "x".repeat(1000);
    let attr = format!("cost_centre={long}");
    let out = app.cli(&["user", "set-attr", "--tenant", "acme", "alice", &attr]);
    assert!(out.ok(), "{}", out.stderr);
    let mut args = vec![
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Big",
        "--redirect-uri",
        CALLBACK,
        "--scopes",
        "openid,profile",
        "--json",
    ];
    let rules: Vec<String> = (1..=5).map(|i| format!("attr.cost_centre=cc{i}")).collect();
    for r in &rules {
        args.extend(["--claim", r.as_str()]);
    }
    let out = app.cli(&args);
    assert!(out.ok(), "{}", out.stderr);
    let big = out.json();
    let big = (
        big["client_id"].as_str().unwrap(),
        big["client_secret"].as_str().unwrap(),
    );
    let with = tokens(&app, &person, big, "openid+profile").await;
    let jwt = with["id_token"].as_str().unwrap();
    assert!(jwt.len() < 8192, "{} bytes", jwt.len());
    let in_token = claims_of(jwt);
    assert_eq!(in_token["cc1"], long.as_str());
    assert!(in_token.get("cc5").is_none(), "over the budget");
    let info = userinfo(&app, &with).await;
    for i in 1..=5 {
        assert_eq!(info[format!("cc{i}")], long.as_str());
    }
}

#[tokio::test]
async fn consent_covers_the_attributes_a_client_gets_and_a_deleted_client_gets_nothing() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    for (name, label, kind) in [
        ("cost_centre", "Cost centre", "text"),
        ("remote", "Works remotely", "boolean"),
    ] {
        let fields = [("name", name), ("label", label), ("kind", kind)];
        let page = b
            .submit("/admin/attributes", "/admin/attributes", &fields)
            .await;
        assert_eq!(page.status, 303, "{name}: {}", page.body);
    }
    let out = app.cli(&[
        "user",
        "set-attr",
        "--tenant",
        "acme",
        "alice",
        "cost_centre=CC-7",
        "remote=yes",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let out = app.cli(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Payroll",
        "--redirect-uri",
        CALLBACK,
        "--scopes",
        "openid,profile",
        "--consent",
        "--claim",
        "attr.cost_centre=cc",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let payroll = out.json();
    assert_eq!(
        payroll["claims"],
        serde_json::json!(["attr.cost_centre=cc"])
    );
    let (id, secret) = (
        payroll["client_id"].as_str().unwrap(),
        payroll["client_secret"].as_str().unwrap(),
    );

    // The consent page names what profile shares; once allowed, the claim flows.
    let person = Browser::new(&app, "acme");
    person.login("alice", PW).await;
    let page = person.get(&ask(id, "openid profile", &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.has("See your name, username and Cost centre"),
        "{}",
        page.body
    );
    let allowed = decide(&person, &page, "allow").await;
    let code = query_of(&allowed.next().unwrap())["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let (status, first) = token_json(&app, &form, id, secret).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(claims_of(first["id_token"].as_str().unwrap())["cc"], "CC-7");
    let apps = person.get("/account/apps").await;
    assert!(
        apps.has("See your name, username and Cost centre"),
        "{}",
        apps.body
    );

    // The app is given one more attribute: the person is asked again, and until they allow
    // it the app does not get it (not even with a token it already holds).
    let page_of_app = format!("/admin/apps/oidc/{id}");
    let saved = b
        .submit(
            &page_of_app,
            &page_of_app,
            &client_form_for_payroll("attr.cost_centre=cc\nattr.remote=remote"),
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    app.svc.caches.clear();
    let info = userinfo(&app, &first).await;
    assert_eq!(info["cc"], "CC-7");
    assert!(info.get("remote").is_none(), "{info}");
    let page = person.get(&ask(id, "openid profile", &[])).await;
    assert_eq!(page.status, 200, "asked again: {}", page.body);
    assert!(page.has("Cost centre, Works remotely"), "{}", page.body);
    let allowed = decide(&person, &page, "allow").await;
    assert!(allowed.next().unwrap().starts_with(CALLBACK));
    assert_eq!(userinfo(&app, &first).await["remote"], true);

    // A mapped attribute cannot be deleted from under the app.
    let attrs = b.get("/admin/attributes").await;
    let remote_id =
        crate::login::text(&app, "SELECT id FROM attribute_defs WHERE name = 'remote'").await;
    let refused = b
        .post(
            &format!("/admin/attributes/{remote_id}/delete"),
            &[("csrf", &attrs.csrf()), ("confirm", "remote")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let beside = refused.beside(&format!("confirm-{remote_id}"));
    assert!(
        beside
            .as_deref()
            .is_some_and(|b| b.contains("is sent to the application Payroll")),
        "{beside:?}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM attribute_defs").await, 2);

    // Deleted, the client's access tokens get nothing from userinfo.
    assert!(app.cli(&["client", "delete", "--tenant", "acme", id]).ok());
    app.svc.caches.clear();
    let res = crate::harness::client()
        .get(app.url("acme", "/oauth2/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// The Payroll client's settings form (consent on, openid and profile) with `rules`.
fn client_form_for_payroll(rules: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", "Payroll"),
        ("redirect_uris", CALLBACK),
        ("post_logout_redirect_uris", ""),
        ("grant", "authorization_code"),
        ("grant", "refresh_token"),
        ("scope", "openid"),
        ("scope", "profile"),
        ("claim_rules", rules),
        ("access_token_seconds", "300"),
        ("refresh_token_seconds", "2592000"),
        ("require_consent", "true"),
        ("require_pkce", "true"),
        ("id_token_alg", "RS256"),
    ]
}
