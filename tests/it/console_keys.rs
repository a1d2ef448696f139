//! The console's keys page: the rotation cycle (stage → activate → retire) run by an admin with
//! a fresh proof, refused when the page is stale, followed by the JWKS; certificate downloads;
//! roles and other tenants' keys.

use crate::console::{audit_actors, signed_in_admin};
use crate::login::{app_with_alice, count, text};

async fn jwks_kids(app: &crate::harness::TestApp) -> Vec<String> {
    app.svc.caches.clear();
    let jwks: serde_json::Value = app
        .get("acme", "/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_key_cycle_runs_from_the_console_and_the_jwks_follows() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let page = b.get("/admin/keys").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has("RS256 keys") && page.has("/.well-known/jwks.json"));
    assert!(page.has("Stage a new RS256 key") && !page.has("Activate"));
    let first = text(&app, "SELECT kid FROM signing_keys WHERE state = 'active'").await;
    assert_eq!(jwks_kids(&app).await, vec![first.clone()]);
    let csrf = page.csrf();
    let step = |fields: Vec<(&'static str, String)>| {
        let b = b.clone();
        let csrf = csrf.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
            all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            b.post("/admin/keys", &all).await
        }
    };
    let stage = || vec![("alg", "RS256".to_owned()), ("step", "stage".to_owned())];

    // 1. Stage: published, not signing.
    let page = step(stage()).await;
    assert_eq!(page.location.as_deref(), Some("/admin/keys?done=staged"));
    let next = text(&app, "SELECT kid FROM signing_keys WHERE state = 'next'").await;
    let kids = jwks_kids(&app).await;
    assert!(kids.contains(&first) && kids.contains(&next), "{kids:?}");
    // A second stage from the same (now stale) page, or activating another kid: refused.
    let page = step(stage()).await;
    assert_eq!(page.status, 422);
    assert!(
        page.alert()
            .unwrap()
            .contains("changed since this page was loaded")
    );
    let wrong = vec![
        ("alg", "RS256".to_owned()),
        ("step", "activate".to_owned()),
        ("kid", "not-the-staged-key".to_owned()),
    ];
    assert_eq!(step(wrong).await.status, 422);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM signing_keys").await, 2);
    let page = b.get("/admin/keys").await;
    assert!(page.has(&format!("Activate {next}")));

    // 2. Activate: not within a day of staging unless the admin says so (apps may not have
    // fetched the new key yet); then the staged key signs and the old one is previous.
    assert!(
        page.has("It was staged less than a minute ago"),
        "{}",
        page.body
    );
    let mut activate = vec![
        ("alg", "RS256".to_owned()),
        ("step", "activate".to_owned()),
        ("kid", page.field("kid").unwrap()),
    ];
    let early = step(activate.clone()).await;
    assert_eq!(early.status, 422);
    assert!(early.alert().unwrap().contains("may not have it yet"));
    assert_eq!(
        text(&app, "SELECT kid FROM signing_keys WHERE state = 'active'").await,
        first
    );
    app.sql("UPDATE signing_keys SET created_at = created_at - 86400000 WHERE state = 'next'")
        .await;
    assert!(!b.get("/admin/keys").await.has("It was staged"));
    activate.push(("early", "no".to_owned()));
    let page = step(activate).await;
    assert_eq!(page.location.as_deref(), Some("/admin/keys?done=activated"));
    assert_eq!(
        text(&app, "SELECT kid FROM signing_keys WHERE state = 'active'").await,
        next
    );
    assert_eq!(
        text(
            &app,
            "SELECT kid FROM signing_keys WHERE state = 'previous'"
        )
        .await,
        first
    );
    assert_eq!(jwks_kids(&app).await.len(), 2);

    // 3. Retire: the previous key leaves the JWKS (the one the page showed; another is stale).
    let retire = |kid: &str| {
        vec![
            ("alg", "RS256".to_owned()),
            ("step", "retire".to_owned()),
            ("kid", kid.to_owned()),
        ]
    };
    assert_eq!(step(retire(&next)).await.status, 422);
    assert_eq!(jwks_kids(&app).await.len(), 2);
    let page = step(retire(&first)).await;
    assert_eq!(page.location.as_deref(), Some("/admin/keys?done=retired"));
    assert_eq!(jwks_kids(&app).await, vec![next.clone()]);
    let page = b.get("/admin/keys?done=retired").await;
    assert!(page.has("Retired keys") && page.has(&first));
    // Bad input changes nothing.
    let page = step(vec![
        ("alg", "HS256".to_owned()),
        ("step", "stage".to_owned()),
    ])
    .await;
    assert_eq!(page.status, 422);
    let page = step(vec![
        ("alg", "RS256".to_owned()),
        ("step", "delete".to_owned()),
    ])
    .await;
    assert_eq!(page.status, 422);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM signing_keys").await, 2);

    for op in ["key.create", "key.rotate", "key.retire"] {
        assert_eq!(audit_actors(&app, op).await, 1, "{op} names the admin");
    }

    // In an emergency a key just staged can be activated at once, when the admin says so.
    assert_eq!(
        step(stage()).await.location.as_deref(),
        Some("/admin/keys?done=staged")
    );
    let staged = text(&app, "SELECT kid FROM signing_keys WHERE state = 'next'").await;
    let page = step(vec![
        ("alg", "RS256".to_owned()),
        ("step", "activate".to_owned()),
        ("kid", staged.clone()),
        ("early", "yes".to_owned()),
    ])
    .await;
    assert_eq!(page.location.as_deref(), Some("/admin/keys?done=activated"));
    assert_eq!(
        text(&app, "SELECT kid FROM signing_keys WHERE state = 'active'").await,
        staged
    );

    // Certificates download as PEM; another tenant's key and bad ids are not found.
    let id = text(&app, "SELECT id FROM signing_keys WHERE state = 'active'").await;
    let res = b
        .client
        .get(b.url(&format!("/admin/keys/{id}/certificate")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"acme-RS256-"),
        "{disposition}"
    );
    assert!(
        res.text()
            .await
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    app.create_tenant("beta");
    let beta_key = text(
        &app,
        &format!("SELECT id FROM signing_keys WHERE tenant_id <> (SELECT tenant_id FROM signing_keys WHERE id = '{id}')"),
    )
    .await;
    assert_eq!(
        b.get(&format!("/admin/keys/{beta_key}/certificate"))
            .await
            .status,
        404
    );
    assert_eq!(b.get("/admin/keys/nope/certificate").await.status, 404);

    // A step needs a fresh proof of presence; nothing changes until then.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    let page = step(stage()).await;
    assert!(
        page.has("change the signing keys</strong>"),
        "{}",
        page.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM signing_keys WHERE state = 'next'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn auditors_read_the_keys_helpdesk_does_not_and_neither_rotates() {
    let app = app_with_alice().await;
    let (auditor, _) = signed_in_admin(&app, "otto", "auditor").await;
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    let page = auditor.get("/admin/keys").await;
    assert_eq!(page.status, 200);
    assert!(page.has("RS256 keys") && !page.has("Stage a new"));
    let refused = auditor
        .post(
            "/admin/keys",
            &[("csrf", &page.csrf()), ("alg", "RS256"), ("step", "stage")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(help.get("/admin/keys").await.status, 403);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM signing_keys").await, 1);
}
