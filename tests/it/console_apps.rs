//! The console's application pages: OIDC clients (secret shown once, settings, rotation,
//! deletion) and SAML SPs (metadata pasted, uploaded or entered by hand, options, metadata
//! replaced), who may use each app and how SSO refuses everyone else, roles, re-verification
//! and other tenants' ids.

use crate::browser::{Browser, Page};
use crate::console::{audit_actors, between, signed_in_admin, user_id};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice, count, text};
use crate::oidc_flow::{
    CALLBACK, CHALLENGE, VERIFIER, auth_path, code_for, query_of, token_call, token_json,
};
use crate::saml::{sp_certificate, sp_metadata};
use crate::saml_sp_init::{Req, binding_path};
use crate::saml_sso::{SP, register_sp};

const RS256_SIG: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The fields of a new confidential web client, with `changes` replacing or adding fields.
pub(crate) fn client_form<'a>(
    csrf: &'a str,
    changes: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut f: Vec<(&str, &str)> = vec![
        ("csrf", csrf),
        ("kind", "confidential"),
        ("name", "Wiki"),
        ("redirect_uris", CALLBACK),
        ("post_logout_redirect_uris", ""),
        ("grant", "authorization_code"),
        ("grant", "refresh_token"),
        ("scope", "openid"),
        ("scope", "profile"),
        ("scope", "offline_access"),
        ("access_token_seconds", "300"),
        ("refresh_token_seconds", "86400"),
        ("require_pkce", "true"),
        ("id_token_alg", "RS256"),
    ];
    for (k, v) in changes {
        f.retain(|(fk, _)| fk != k || *k == "grant" || *k == "scope");
        f.push((k, v));
    }
    f
}

/// Registers the Wiki client through the console; returns (client id, secret).
async fn console_client(b: &Browser) -> (String, String) {
    let form = b.get("/admin/apps/oidc/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let (csrf, once) = (form.csrf(), form.once());
    let made = b
        .post("/admin/apps/oidc", &client_form(&csrf, &[("once", &once)]))
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let id = between(&made.body, "<code id=\"client-id\">", "</code>");
    let secret = between(&made.body, "<code id=\"client-secret\">", "</code>");
    (id, secret)
}

/// A code for the browser's user from `client`, exchanged at the token endpoint.
async fn code_exchange(app: &TestApp, b: &Browser, client: &str, secret: &str) -> (u16, String) {
    let code = code_for(app, b, client).await;
    token_call(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
        client,
        secret,
    )
    .await
}

#[tokio::test]
async fn oidc_clients_are_registered_configured_rotated_and_deleted_in_the_console() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let list = b.get("/admin/apps").await;
    assert_eq!(list.status, 200);
    assert!(list.has("No applications are registered yet."));

    // Bad input: a clear error, the form kept, nothing stored.
    let new_form = b.get("/admin/apps/oidc/new").await;
    let (csrf, once) = (new_form.csrf(), new_form.once());
    for (mut changes, says) in [
        (
            vec![("redirect_uris", "http://wiki.example.com/cb")],
            "plain http is allowed only for loopback",
        ),
        (vec![("name", "")], "name"),
        (
            vec![("access_token_seconds", "soon")],
            "must be a whole number",
        ),
        (
            vec![("access_token_seconds", "5")],
            "between 1 minute and 1 day",
        ),
        (
            vec![("access_token_amount", "2"), ("access_token_unit", "days")],
            "between 1 minute and 1 day",
        ),
        (
            vec![("access_token_amount", "2"), ("access_token_unit", "weeks")],
            "must be a whole number",
        ),
        (
            vec![("kind", "public"), ("require_pkce", "")],
            "cannot turn PKCE off",
        ),
        (vec![("id_token_alg", "none")], "not one of"),
    ] {
        changes.push(("once", &once));
        let page = b
            .post("/admin/apps/oidc", &client_form(&csrf, &changes))
            .await;
        assert_eq!(page.status, 422, "{changes:?}: {}", page.body);
        // Said beside its field (the alert above points there).
        let beside = page
            .body
            .split("class=\"field-error\"")
            .skip(1)
            .any(|e| e.split("</p>").next().unwrap_or("").contains(says));
        assert!(beside, "{changes:?}: {}", page.body);
        assert!(
            page.alert()
                .unwrap_or_default()
                .contains("Check the fields marked below")
        );
        assert!(page.has("Register application"), "the form is shown again");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 0);
    // Without the CSRF token: refused, nothing stored.
    let page = b.post("/admin/apps/oidc", &client_form("", &[])).await;
    assert_eq!(page.status, 403);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 0);

    // Registered: the id and the secret (shown once, never cached), and the secret works.
    // The refused forms above did not use up their one-use token.
    let made = b
        .post("/admin/apps/oidc", &client_form(&csrf, &[("once", &once)]))
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store");
    let id = between(&made.body, "<code id=\"client-id\">", "</code>");
    let secret = between(&made.body, "<code id=\"client-secret\">", "</code>");
    assert!(secret.len() >= 40, "{secret}");
    assert!(made.has("/.well-known/openid-configuration"));
    // The same form sent again (a reload of that page) registers nothing more; nor does one
    // without its token, or with an expired one.
    let again = b
        .post("/admin/apps/oidc", &client_form(&csrf, &[("once", &once)]))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.has("This form was already sent"));
    assert!(!again.has("client-secret"));
    let old = format!(
        "{}.{}",
        crate::browser::now_unix() * 1000 - 25 * 3_600_000,
        "A".repeat(43)
    );
    for token in ["", "nonsense", old.as_str()] {
        let page = b
            .post("/admin/apps/oidc", &client_form(&csrf, &[("once", token)]))
            .await;
        assert_eq!(page.status, 400, "{token}: {}", page.body);
        assert!(page.has("This form is out of date"), "{token}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 1);
    assert_eq!(audit_actors(&app, "client.create").await, 1);
    let page = b.get(&format!("/admin/apps/oidc/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.has(&secret), "the secret is shown only once");
    let list = b.get("/admin/apps").await;
    assert!(list.has("Wiki") && list.has("Everyone"), "{}", list.body);
    let alice = Browser::new(&app, "acme");
    alice.login("alice", PW).await;
    assert_eq!(code_exchange(&app, &alice, &id, &secret).await.0, 200);

    // Settings: saved when valid; an invalid change keeps everything as it was.
    let base = format!("/admin/apps/oidc/{id}");
    let csrf = page.csrf();
    let two = format!("{CALLBACK}\nhttps://wiki.example.com/cb");
    let saved = b
        .post(
            &base,
            &client_form(
                &csrf,
                &[
                    ("name", "Team wiki"),
                    ("redirect_uris", &two),
                    ("access_token_seconds", "600"),
                ],
            ),
        )
        .await;
    assert_eq!(
        saved.location,
        Some(format!("{base}?done=saved")),
        "{}",
        saved.body
    );
    let page = b.get(&format!("{base}?done=saved")).await;
    assert!(page.has("Team wiki") && page.has("https://wiki.example.com/cb"));
    assert!(page.has("The settings are saved."));
    let refused = b
        .post(
            &base,
            &client_form(
                &csrf,
                &[("name", "Broken"), ("redirect_uris", "javascript:alert(1)")],
            ),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.has("id=\"redirect_uris-error\">Redirect URI"),
        "{}",
        refused.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM oidc_clients WHERE name = 'Team wiki' AND access_token_seconds = 600"
        )
        .await,
        1
    );

    // Narrowing the client's scopes narrows what its refresh tokens give; taking away
    // offline_access ends them.
    let p = alice
        .get(
            &auth_path(
                &id,
                CALLBACK,
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                ],
            )
            .replace("scope=openid", "scope=openid+profile+offline_access"),
        )
        .await;
    let code = query_of(p.location.as_deref().unwrap())["code"].clone();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let (_, tokens) = token_json(&app, &exchange, &id, &secret).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let without = |gone: &'static str| {
        let mut f = client_form(&csrf, &[("name", "Team wiki"), ("redirect_uris", &two)]);
        f.retain(|(k, v)| !(*k == "scope" && *v == gone));
        f
    };
    let saved = b.post(&base, &without("profile")).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    app.svc.caches.clear();
    let (status, tokens) = token_json(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &id,
        &secret,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid offline_access");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let saved = b.post(&base, &without("offline_access")).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    app.svc.caches.clear();
    let refused = token_call(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &id,
        &secret,
    )
    .await;
    assert_eq!(refused, (400, "invalid_grant".to_owned()));
    let saved = b
        .post(
            &base,
            &client_form(&csrf, &[("name", "Team wiki"), ("redirect_uris", &two)]),
        )
        .await;
    assert_eq!(saved.status, 303);

    // Rotation: a new secret shown once; the old one keeps working for the overlap chosen.
    let once = b.get(&base).await.once();
    let rotate = [
        ("csrf", csrf.as_str()),
        ("once", &once),
        ("overlap", "3600"),
    ];
    let rotated = b.post(&format!("{base}/secret"), &rotate).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let fresh = between(&rotated.body, "<code id=\"client-secret\">", "</code>");
    assert_ne!(fresh, secret);
    assert!(rotated.has("the previous secret still works until"));
    // Sent again, it rotates nothing: the secret just shown stays the current one.
    let again = b.post(&format!("{base}/secret"), &rotate).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(!again.has("client-secret"));
    assert_eq!(audit_actors(&app, "client.rotate_secret").await, 1);
    app.svc.caches.clear();
    assert_eq!(code_exchange(&app, &alice, &id, &fresh).await.0, 200);
    assert_eq!(code_exchange(&app, &alice, &id, &secret).await.0, 200);
    let page = b
        .post(
            &format!("{base}/secret"),
            &[
                ("csrf", &csrf),
                ("once", &b.get(&base).await.once()),
                ("overlap", "99"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);

    // Deletion: the name typed exactly, then gone (with its tokens).
    let page = b
        .post(
            &format!("{base}/delete"),
            &[("csrf", &csrf), ("confirm", "wiki")],
        )
        .await;
    assert_eq!(page.status, 422);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 1);
    let gone = b
        .post(
            &format!("{base}/delete"),
            &[("csrf", &csrf), ("confirm", "Team wiki")],
        )
        .await;
    assert_eq!(gone.location.as_deref(), Some("/admin/apps?done=deleted"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 0);
    assert_eq!(b.get(&base).await.status, 404);
    for (op, n) in [
        ("client.create", 1),
        ("client.update", 4),
        ("client.rotate_secret", 1),
        ("client.delete", 1),
    ] {
        assert_eq!(audit_actors(&app, op).await, n, "{op} names the admin");
    }
}

#[tokio::test]
async fn saml_apps_come_from_pasted_or_uploaded_metadata_or_by_hand_and_are_configured() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let form = b.get("/admin/apps/saml/new").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let (cert_pem, cert) = sp_certificate();

    // Bad metadata: the reason, nothing stored.
    for (xml, says) in [
        ("", "Paste the service provider"),
        ("<html>not metadata</html>", "metadata"),
        (
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            "metadata",
        ),
    ] {
        let page = b
            .post_multipart(
                "/admin/apps/saml",
                &[("csrf", &csrf), ("mode", "metadata"), ("metadata", xml)],
                &[],
            )
            .await;
        assert_eq!(page.status, 422, "{xml}: {}", page.body);
        let beside = page.beside("metadata").unwrap_or_default();
        assert!(beside.contains(says), "{beside:?}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM saml_sps").await, 0);
    // Without the token: refused.
    let page = b
        .post_multipart(
            "/admin/apps/saml",
            &[
                ("mode", "metadata"),
                ("metadata", &sp_metadata(SP, &cert, "")),
            ],
            &[],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM saml_sps").await, 0);

    // Uploaded as a file.
    let made = b
        .post_multipart(
            "/admin/apps/saml",
            &[("csrf", &csrf), ("mode", "metadata"), ("name", "Payroll")],
            &[("metadata_file", "sp.xml", &sp_metadata(SP, &cert, ""))],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let at = made.location.unwrap();
    let base = at.split('?').next().unwrap().to_owned();
    let page = b.get(&at).await;
    assert!(page.has("The service provider is registered."));
    assert!(page.has(SP) && page.has("https://sp.example.com/acs2"));
    assert!(page.has("/saml/metadata") && page.has("/saml/sso"));
    assert_eq!(page.field("name_id_format"), None, "a select, not an input");
    assert!(
        page.has("<option value=\"email\" selected>"),
        "the SP's preferred format"
    );
    // The same entity again: refused with the reason.
    let again = b
        .post_multipart(
            "/admin/apps/saml",
            &[
                ("csrf", &csrf),
                ("mode", "metadata"),
                ("metadata", &sp_metadata(SP, &cert, "")),
            ],
            &[],
        )
        .await;
    assert_eq!(again.status, 422);
    let beside = again.beside("metadata").unwrap_or_default();
    assert!(beside.contains("is already registered"), "{beside}");
    assert!(!beside.contains('`'), "{beside}");

    // Pasted.
    let pasted = b
        .post_multipart(
            "/admin/apps/saml",
            &[
                ("csrf", &csrf),
                ("mode", "metadata"),
                (
                    "metadata",
                    &sp_metadata("https://crm.example.com", &cert, ""),
                ),
            ],
            &[],
        )
        .await;
    assert_eq!(pasted.status, 303, "{}", pasted.body);

    // By hand, with a bad URL first.
    let manual = |acs: &'static str| {
        let csrf = csrf.clone();
        let cert_pem = cert_pem.clone();
        let b = b.clone();
        async move {
            b.post_multipart(
                "/admin/apps/saml",
                &[
                    ("csrf", &csrf),
                    ("mode", "manual"),
                    ("name", "Legacy"),
                    ("entity_id", "urn:legacy:sp"),
                    ("acs_urls", acs),
                    ("certificate", &cert_pem),
                ],
                &[],
            )
            .await
        }
    };
    let page = manual("http://legacy.example.com/acs").await;
    assert_eq!(page.status, 422);
    assert!(
        page.alert()
            .unwrap()
            .contains("Check the fields marked below")
    );
    let beside = page.beside("acs_urls").unwrap_or_default();
    assert!(beside.contains("ACS URL \"http://legacy"), "{beside}");
    assert!(page.has("urn:legacy:sp"), "the form is kept");
    // Every problem at once, each beside its field, in words.
    let page = b
        .post_multipart(
            "/admin/apps/saml",
            &[
                ("csrf", &csrf),
                ("mode", "manual"),
                ("name", &"n".repeat(201)),
                ("entity_id", "urn:has space"),
                ("acs_urls", "ftp://legacy.example.com/acs"),
                ("slo_urls", "https://legacy.example.com/slo#frag"),
                ("certificate", "not a certificate"),
            ],
            &[],
        )
        .await;
    assert_eq!(page.status, 422);
    for (field, says) in [
        ("name-manual", "1 to 200 characters"),
        ("entity_id", "without spaces"),
        ("acs_urls", "must be https"),
        ("slo_urls", "no fragment"),
        ("certificate", "neither PEM nor base64"),
    ] {
        let beside = page.beside(field).unwrap_or_default();
        assert!(beside.contains(says), "{field}: {beside:?}");
        assert!(!beside.contains('`'), "{beside}");
    }

    let page = manual("https://legacy.example.com/acs").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM saml_sps").await, 3);
    let list = b.get("/admin/apps").await;
    assert!(list.has("Payroll") && list.has("Legacy") && list.has("SAML 2.0"));

    // Options: saved when valid; a bad rule or lifetime changes nothing.
    let opts = |changes: &[(&'static str, &str)]| {
        let mut f: Vec<(&'static str, String)> = vec![
            ("csrf", csrf.clone()),
            ("name", "Payroll".into()),
            ("name_id_format", "persistent".into()),
            ("attributes", "email=mail\ngroups=memberOf|groups".into()),
            ("signing", "assertion".into()),
            ("require_signed_requests", "true".into()),
            ("assertion_seconds", "120".into()),
            ("idp_initiated", "true".into()),
            ("default_relay_state", "/home".into()),
        ];
        for (k, v) in changes {
            f.retain(|(fk, _)| fk != k);
            f.push((k, (*v).into()));
        }
        f
    };
    let send = |f: Vec<(&'static str, String)>| {
        let b = b.clone();
        let base = base.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post(&base, &pairs).await
        }
    };
    for (changes, field, says) in [
        (
            vec![("attributes", "email=mail\npassword=secret")],
            "attributes",
            "Line 2: attribute source \"password\"",
        ),
        (
            vec![("attributes", "attr.shoe_size=shoe")],
            "attributes",
            "Line 1: there is no custom attribute \"shoe_size\"",
        ),
        (
            vec![("attributes", &*format!("email={}", "m".repeat(600)))],
            "attributes",
            "Line 1 is longer than 600 characters",
        ),
        (
            vec![("assertion_seconds", "5")],
            "assertion_seconds",
            "60 to 3600",
        ),
        (
            vec![("assertion_seconds", "soon")],
            "assertion_seconds",
            "whole number",
        ),
        (
            vec![("name_id_format", "kerberos")],
            "name_id_format",
            "NameID",
        ),
        (vec![("signing", "")], "signing", "what to sign"),
        (vec![("name", "")], "name", "name"),
        (
            vec![("default_relay_state", &*"r".repeat(81))],
            "default_relay_state",
            "at most 80 bytes",
        ),
    ] {
        let page = send(opts(&changes)).await;
        assert_eq!(page.status, 422, "{changes:?}");
        let beside = page.beside(field).unwrap_or_default();
        assert!(beside.contains(says), "{changes:?}: {beside:?}");
        assert!(!beside.contains('`'), "{beside}");
        // A typed field comes back as typed (a menu can only offer its choices).
        let (_, typed) = changes[0];
        let menu = ["name_id_format", "signing"].contains(&field);
        assert!(menu || page.has(&typed.replace('"', "&#34;")), "{typed:?}");
    }
    // Several at once: each beside its own field.
    let page = send(opts(&[
        ("name", ""),
        ("attributes", "nonsense"),
        ("assertion_seconds", "9999"),
    ]))
    .await;
    assert_eq!(page.status, 422);
    for field in ["name", "attributes", "assertion_seconds"] {
        assert!(page.beside(field).is_some(), "{field}: {}", page.body);
    }
    let saved = send(opts(&[])).await;
    assert_eq!(
        saved.location,
        Some(format!("{base}?done=saved")),
        "{}",
        saved.body
    );
    let out = app.cli(&["sp", "show", "--tenant", "acme", SP, "--json"]);
    let sp = out.json();
    assert_eq!(sp["name_id_format"], "persistent");
    assert_eq!(sp["sign"], "assertion");
    assert_eq!(sp["assertion_seconds"], 120);
    assert_eq!(sp["idp_initiated"], true);
    assert_eq!(sp["attributes"].as_array().unwrap().len(), 2);
    let page = b.get(&base).await;
    assert!(
        page.has("/saml/start?sp="),
        "the IdP-initiated link is shown"
    );

    // Replacing the metadata: the same entity only; the options stay.
    let other = sp_metadata("https://elsewhere.example.com", &cert, "");
    let page = b
        .post_multipart(
            &format!("{base}/metadata"),
            &[("csrf", &csrf), ("metadata", &other)],
            &[],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.alert().unwrap().contains("does not describe"));
    let extra = r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs3" index="3"/>"#;
    let page = b
        .post_multipart(
            &format!("{base}/metadata"),
            &[("csrf", &csrf)],
            &[("metadata_file", "new.xml", &sp_metadata(SP, &cert, extra))],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("{base}?done=metadata")),
        "{}",
        page.body
    );
    let sp = app
        .cli(&["sp", "show", "--tenant", "acme", SP, "--json"])
        .json();
    assert_eq!(sp["acs"].as_array().unwrap().len(), 3);
    assert_eq!(sp["name_id_format"], "persistent", "options are kept");

    // Deletion: the name typed exactly.
    let page = b
        .post(
            &format!("{base}/delete"),
            &[("csrf", &csrf), ("confirm", "payroll!")],
        )
        .await;
    assert_eq!(page.status, 422);
    let gone = b
        .post(
            &format!("{base}/delete"),
            &[("csrf", &csrf), ("confirm", "Payroll")],
        )
        .await;
    assert_eq!(gone.location.as_deref(), Some("/admin/apps?done=deleted"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM saml_sps").await, 2);
    for (op, n) in [("sp.create", 3), ("sp.update", 2), ("sp.delete", 1)] {
        assert_eq!(audit_actors(&app, op).await, n, "{op}");
    }
}

/// Sets who may use the app at `base` through its access form.
async fn access(b: &Browser, base: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = b.get(base).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let page = b.post(&format!("{base}/access"), &all).await;
    assert_eq!(page.status, 303, "{fields:?}: {}", page.body);
    page
}

/// An SP-initiated sign-in of the browser's user to the test SP (unsigned Redirect request).
async fn saml_sign_in(b: &Browser, id: &str) -> Page {
    b.get(&binding_path(
        "/saml/sso",
        &Req::new(id).xml(),
        None,
        None,
        RS256_SIG,
    ))
    .await
}

#[tokio::test]
async fn only_assigned_users_sign_in_to_an_assigned_app_and_refusals_are_audited() {
    let app = app_with_alice().await;
    app.create_user("acme", "bob", PW);
    let (admin, _) = signed_in_admin(&app, "root", "owner").await;
    let (client, secret) = console_client(&admin).await;
    let oidc = format!("/admin/apps/oidc/{client}");
    register_sp(&app, "acme", SP, &["--idp-initiated"]);
    let sp_base = format!(
        "/admin/apps/saml/{}",
        text(&app, "SELECT id FROM saml_sps").await
    );

    // Everyone may use both apps at first.
    let alice = Browser::new(&app, "acme");
    alice.login("alice", PW).await;
    assert_eq!(code_exchange(&app, &alice, &client, &secret).await.0, 200);
    let first = saml_sign_in(&alice, "_r1").await;
    assert!(first.field("SAMLResponse").is_some(), "{}", first.body);

    // A refresh token alice holds from before the change.
    let p = alice
        .get(
            &auth_path(
                &client,
                CALLBACK,
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                ],
            )
            .replace("scope=openid", "scope=openid+offline_access"),
        )
        .await;
    let code = query_of(p.location.as_deref().unwrap())["code"].clone();
    let (_, tokens) = token_json(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
        &client,
        &secret,
    )
    .await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Assigned users only, with bob assigned directly and the Staff group. With nobody
    // assigned yet, the console asks first (warning that everyone is refused) and changes
    // nothing until the answer.
    let csrf = admin.get(&oidc).await.csrf();
    let question = admin
        .post(
            &format!("{oidc}/access"),
            &[
                ("csrf", &csrf),
                ("action", "mode"),
                ("assigned_only", "true"),
            ],
        )
        .await;
    assert_eq!(question.status, 200);
    assert!(
        question.has("Let nobody sign in to Wiki?") && question.has("Everyone who uses it now"),
        "{}",
        question.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM oidc_clients WHERE assigned_only"
        )
        .await,
        0
    );
    let page = admin.send(&question, &format!("{oidc}/access"), &[]).await;
    assert_eq!(
        page.location,
        Some(format!("{oidc}?done=restricted#access"))
    );
    access(
        &admin,
        &oidc,
        &[("action", "add_user"), ("username", "bob")],
    )
    .await;
    let out = app.cli(&[
        "group", "create", "--tenant", "acme", "--name", "Staff", "--json",
    ]);
    let staff = out.json()["id"].as_str().unwrap().to_owned();
    access(&admin, &oidc, &[("action", "add_group"), ("group", &staff)]).await;
    access(
        &admin,
        &sp_base,
        &[
            ("action", "mode"),
            ("assigned_only", "true"),
            ("confirmed", "yes"),
        ],
    )
    .await;
    app.svc.caches.clear();
    let list = admin.get("/admin/apps").await;
    assert!(
        list.has("1 user, 1 group") && list.has("Nobody yet"),
        "{}",
        list.body
    );
    let page = admin.get(&oidc).await;
    assert!(page.has(">bob</a>") && page.has(">Staff</a>"));
    // An unknown username: said so; nothing changes.
    let csrf = page.csrf();
    let unknown = admin
        .post(
            &format!("{oidc}/access"),
            &[
                ("csrf", &csrf),
                ("action", "add_user"),
                ("username", "nobody"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.alert().unwrap().contains("no user"));

    // Alice is not assigned: a clear page at authorize, access_denied for prompt=none, her
    // refresh token stops, and SAML sends no assertion. Each refusal is audited.
    let first_refusal = std::time::Instant::now();
    let page = alice
        .get(&auth_path(
            &client,
            CALLBACK,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.has("You cannot use Wiki"), "{}", page.body);
    assert!(page.has("error=access_denied"), "a way back to the app");
    let silent = alice
        .get(&auth_path(
            &client,
            CALLBACK,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("prompt", "none"),
            ],
        ))
        .await;
    assert_eq!(
        query_of(silent.location.as_deref().unwrap())["error"],
        "access_denied"
    );
    let (status, error) = token_call(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &client,
        &secret,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    let page = saml_sign_in(&alice, "_r2").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.has("You cannot use"));
    assert!(page.field("SAMLResponse").is_none());
    let start = format!(
        "/saml/start?sp={}",
        url::form_urlencoded::byte_serialize(SP.as_bytes()).collect::<String>()
    );
    let page = alice.get(&start).await;
    assert_eq!(page.status, 403);
    assert!(page.field("SAMLResponse").is_none());
    // A passive request gets no page: the SP hears RequestDenied.
    let passive = alice
        .get(&binding_path(
            "/saml/sso",
            &Req::new("_r2p").to(" IsPassive=\"true\"").xml(),
            None,
            None,
            RS256_SIG,
        ))
        .await;
    let xml = crate::saml_sso::posted_response(&passive);
    assert!(
        crate::saml_sp_init::status_of(&xml)
            .iter()
            .any(|s| s.ends_with("RequestDenied")),
        "{xml}"
    );
    assert!(!xml.contains(":Assertion "), "no assertion: {xml}");
    // Audited once a minute per user and app (two apps here), however often it is tried: two
    // entries, or a few more on a machine so slow that the attempts spanned minutes.
    let alice_id = user_id(&app, "alice");
    let denied = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'app.denied' \
             AND outcome = 'denied' AND actor = 'user:{alice_id}'"
        ),
    )
    .await;
    let minutes = i64::try_from(first_refusal.elapsed().as_secs() / 60).unwrap();
    assert!(
        (2..=2 * (1 + minutes)).contains(&denied),
        "{denied} entries in {minutes} whole minutes"
    );

    // Bob (assigned directly) signs in; so does alice once she joins Staff.
    let bob = Browser::new(&app, "acme");
    bob.login("bob", PW).await;
    assert_eq!(code_exchange(&app, &bob, &client, &secret).await.0, 200);
    let out = app.cli(&[
        "group",
        "add-member",
        "--tenant",
        "acme",
        "--group",
        "Staff",
        "--username",
        "alice",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(code_exchange(&app, &alice, &client, &secret).await.0, 200);
    // The SP has nobody assigned: alice is still refused there until assigned.
    assert_eq!(saml_sign_in(&alice, "_r3").await.status, 403);
    access(
        &admin,
        &sp_base,
        &[("action", "add_group"), ("group", &staff)],
    )
    .await;
    let page = saml_sign_in(&alice, "_r4").await;
    assert!(page.field("SAMLResponse").is_some(), "{}", page.body);

    // The person export lists her assignments; erasing bob removes his.
    let doc = admin
        .client_get(&format!("/admin/users/{alice_id}/export"))
        .await;
    let doc: serde_json::Value = serde_json::from_str(&doc.2).unwrap();
    let held = doc["app_assignments"].as_array().unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().all(|a| a["via_group"] == "Staff"));
    let bob_id = user_id(&app, "bob");
    let page = admin
        .submit(
            &format!("/admin/users/{bob_id}"),
            &format!("/admin/users/{bob_id}/delete"),
            &[("confirm", "bob")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM app_users").await, 0);

    // Removing the group and opening the app again; all audited with the admin as actor.
    let csrf = admin.get(&oidc).await.csrf();
    let page = admin
        .post(
            &format!("{oidc}/access"),
            &[
                ("csrf", &csrf),
                ("action", "remove_group"),
                ("group", &staff),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    access(
        &admin,
        &oidc,
        &[("action", "mode"), ("assigned_only", "false")],
    )
    .await;
    for (op, n) in [
        ("app.access.mode", 3),
        ("app.access.user.add", 1),
        ("app.access.group.add", 2),
        ("app.access.group.remove", 1),
    ] {
        assert_eq!(audit_actors(&app, op).await, n, "{op}");
    }
    // Deleting the group takes its remaining assignment (the SP's) with it.
    let out = app.cli(&["group", "delete", "--tenant", "acme", "--group", "Staff"]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM app_groups").await, 0);
}

#[tokio::test]
async fn app_pages_by_role_reverification_and_other_tenants_apps() {
    let app = app_with_alice().await;
    let (owner, _) = signed_in_admin(&app, "root", "owner").await;
    let (auditor, _) = signed_in_admin(&app, "otto", "auditor").await;
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    let (admin, _) = signed_in_admin(&app, "adam", "admin").await;
    let (client, _) = console_client(&admin).await;
    let oidc = format!("/admin/apps/oidc/{client}");

    // The auditor reads the pages, with no forms to change them, and is refused changes.
    let page = auditor.get(&oidc).await;
    assert_eq!(page.status, 200);
    assert!(!page.has("Save settings") && !page.has("Delete application"));
    assert_eq!(auditor.get("/admin/apps").await.status, 200);
    assert_eq!(auditor.get("/admin/apps/oidc/new").await.status, 403);
    let csrf = page.csrf();
    let refused = auditor
        .post(
            &format!("{oidc}/access"),
            &[
                ("csrf", &csrf),
                ("action", "mode"),
                ("assigned_only", "true"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = auditor
        .post_multipart(
            "/admin/apps/saml",
            &[("csrf", &csrf), ("mode", "metadata"), ("metadata", "<x/>")],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
    // Helpdesk does not see applications at all.
    assert_eq!(help.get("/admin/apps").await.status, 403);
    assert!(!help.get("/admin").await.has("/admin/apps"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM oidc_clients WHERE assigned_only"
        )
        .await,
        0
    );

    // Settings, secret rotation and deletion need a fresh proof of presence; so does the form
    // for a new app.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    let csrf = admin.get(&oidc).await.csrf();
    for (path, fields) in [
        (format!("{oidc}/secret"), vec![("overlap", "0")]),
        (oidc.clone(), vec![("name", "Renamed")]),
        (format!("{oidc}/delete"), vec![("confirm", "Wiki")]),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields);
        let page = admin.post(&path, &all).await;
        assert!(page.has("Confirm it"), "{path}: {}", page.body);
        assert!(page.has("name=\"resume_body\""), "{path}: {}", page.body);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 1);
    assert_eq!(audit_actors(&app, "client.rotate_secret").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM oidc_clients WHERE name = 'Renamed'"
        )
        .await,
        0
    );
    for path in ["/admin/apps/oidc/new", "/admin/apps/saml/new"] {
        let to = admin.get(path).await.location.unwrap_or_default();
        assert!(to.starts_with("/admin/verify?return_to="), "{path}: {to}");
    }

    // Another tenant's apps and groups are not found from acme's console.
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
        "--json",
    ]);
    let beta_client = out.json()["client_id"].as_str().unwrap().to_owned();
    register_sp(&app, "beta", "https://beta-sp.example.com", &[]);
    let out = app.cli(&[
        "group", "create", "--tenant", "beta", "--name", "Beta", "--json",
    ]);
    let beta_group = out.json()["id"].as_str().unwrap().to_owned();
    let beta_sp = text(&app, "SELECT id FROM saml_sps").await;
    let beta_oidc = format!("/admin/apps/oidc/{beta_client}");
    let beta_saml = format!("/admin/apps/saml/{beta_sp}");
    assert_eq!(owner.get(&beta_oidc).await.status, 404);
    assert_eq!(owner.get(&beta_saml).await.status, 404);
    assert_eq!(owner.get("/admin/apps/saml/not-an-id").await.status, 404);
    assert!(!owner.get("/admin/apps").await.has("Beta app"));
    let csrf = owner.get("/admin/apps").await.csrf();
    for path in [
        beta_oidc.clone(),
        format!("{beta_oidc}/access"),
        format!("{beta_oidc}/secret"),
        format!("{beta_oidc}/delete"),
        format!("{beta_saml}/access"),
        format!("{beta_saml}/delete"),
    ] {
        let page = owner
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("action", "mode"),
                    ("assigned_only", "true"),
                    ("confirm", "Beta app"),
                    ("overlap", "0"),
                ],
            )
            .await;
        assert_eq!(page.status, 404, "{path}");
    }
    // Beta's group cannot be assigned to acme's app.
    let page = owner
        .post(
            &format!("{oidc}/access"),
            &[
                ("csrf", &csrf),
                ("action", "add_group"),
                ("group", &beta_group),
            ],
        )
        .await;
    assert_eq!(page.status, 404);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM app_groups").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM oidc_clients WHERE assigned_only"
        )
        .await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM saml_sps").await, 1);
}

#[tokio::test]
async fn every_problem_of_an_app_form_is_said_at_once_beside_its_field() {
    let app = crate::login::app_with_alice().await;
    let (b, _) = crate::console::signed_in_admin(&app, "root", "owner").await;
    let form = b.get("/admin/apps/oidc/new").await;
    let (csrf, once) = (form.csrf(), form.once());
    let page = b
        .post(
            "/admin/apps/oidc",
            &client_form(
                &csrf,
                &[
                    ("once", &once),
                    ("name", ""),
                    ("redirect_uris", "http://wiki.example.com/cb"),
                    ("access_token_seconds", ""),
                    ("access_token_amount", "3"),
                    ("access_token_unit", "days"),
                    ("claim_rules", "attr.cost_centre=sub"),
                ],
            ),
        )
        .await;
    assert_eq!(page.status, 422);
    for field in ["name", "redirect_uris", "access_token", "claim_rules"] {
        assert!(
            page.has(&format!("id=\"{field}-error\"")),
            "{field}: {}",
            page.body
        );
    }
    assert!(page.has("aria-describedby=\"redirect_uris-error\""));
    assert!(!page.has("`"), "no developer syntax: {}", page.body);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oidc_clients").await, 0);
}
