//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver),
//! against the real server. An owner signs in with password and TOTP, adds a user, puts them
//! in a group, exports the directory, and deletes the user. Screenshots of the main pages go
//! to `target/screenshots/`.

use crate::browser::{now_unix, totp};
use crate::chrome::Tab;
use crate::console::set_role;
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};

async fn sign_in(c: &Tab, app: &TestApp, code: Option<String>) {
    c.goto(&app.url("acme", "/login")).await;
    c.fill("#login", "root").await;
    c.fill("#password", PW).await;
    c.follow("form button[type=submit]").await;
    if let Some(code) = code {
        assert_eq!(c.path().await, "/login/mfa");
        c.fill("#code", &code).await;
        c.follow("form button[type=submit]").await;
    }
}

#[tokio::test]
async fn an_owner_runs_the_directory_in_chromium() {
    let app = app_with_alice().await;
    app.create_user("acme", "root", PW);
    set_role(&app, "root", "owner");
    let downloads = tempfile::tempdir().unwrap();
    let c = crate::chrome::open().await;
    c.download_to(downloads.path()).await;

    // Sign in with the password, set up TOTP on the account page, sign in again with a code.
    sign_in(&c, &app, None).await;
    assert_eq!(c.path().await, "/account");
    c.goto(&app.url("acme", "/account/mfa")).await;
    c.follow("form[action='/account/mfa/enrol'] button").await;
    let key = c.text("#manual-key").await;
    c.fill("#code", &totp(&key, now_unix() - 30)).await;
    c.follow("form[action='/account/mfa/confirm'] button").await;
    c.goto(&app.url("acme", "/account")).await;
    c.follow("form[action='/logout'] button").await;
    sign_in(&c, &app, Some(totp(&key, now_unix()))).await;

    c.goto(&app.url("acme", "/admin")).await;
    assert_eq!(c.text("h1").await, "Overview");
    c.shot("console-overview").await;

    // Add a user with a one-time password.
    c.follow(".sidebar a[href='/admin/users']").await;
    c.follow("a.button[href='/admin/users/new']").await;
    // A username with a space: said beside the field, with what was typed kept.
    c.fill("#username", "bob builder").await;
    c.fill("#email", "bob@example.com").await;
    c.fill("#display_name", "Bob Builder").await;
    c.click("#d-password").await;
    c.follow("form[action='/admin/users'] button[type=submit]")
        .await;
    assert!(
        c.text("#username-error")
            .await
            .contains("cannot have spaces")
    );
    let invalid = c.element("#username").await;
    assert_eq!(
        invalid.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        c.element("#email")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("bob@example.com")
    );
    c.shot("console-user-new-errors").await;
    c.fill("#username", "bob").await;
    c.shot("console-user-new").await;
    c.follow("form[action='/admin/users'] button[type=submit]")
        .await;
    let otp = c.text("#one-time-password").await;
    assert!(otp.len() >= 12, "a one-time password is shown: {otp}");
    c.shot("console-user-created").await;

    // A group, with bob in it from his page.
    c.goto(&app.url("acme", "/admin/groups")).await;
    c.fill("#name", "Engineering").await;
    c.fill("#description", "Everyone who ships code").await;
    c.follow("form[action='/admin/groups'] button").await;
    assert!(c.path().await.ends_with("?done=created"));
    c.goto(&app.url("acme", "/admin/users?q=bob")).await;
    c.follow("a.user-link").await;
    let bob_page = c.path().await;
    c.follow("form[action$='/groups'] button").await;
    assert!(c.text("#groups").await.contains("Engineering"));
    assert_eq!(c.text("#display-name").await, "Bob Builder");
    c.shot("console-user").await;
    // Resetting his password asks first; Cancel goes back with nothing changed.
    c.follow("form[action$='/password'] button").await;
    assert!(c.text("h1").await.contains("Reset Bob Builder"));
    c.shot("console-confirm-reset").await;
    c.follow("#cancel").await;
    assert_eq!(c.path().await, bob_page);
    c.follow("form[action$='/password'] button").await;
    c.follow("#confirm-button").await;
    let otp = c.text("#one-time-password").await;
    assert!(otp.len() >= 12);
    assert!(
        c.element("button[data-copy='one-time-password']")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the copy button shows where the script runs"
    );
    c.goto(&app.url("acme", "/admin/users")).await;
    c.shot("console-users").await;
    // "Select all on this page" ticks every row (and unticks them); Go with nothing ticked
    // comes back saying so.
    c.click("#select-all").await;
    let ticked =
        c.c.execute(
            "return [...document.querySelectorAll('input[name=user]')].every(b => b.checked);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked, serde_json::Value::Bool(true));
    c.click("#select-all").await;
    c.follow("#bulk-go").await;
    assert!(c.text(".notice").await.contains("No user was ticked"));
    // On a phone, the sections are in the menu.
    c.phone(true).await;
    c.click("details.menu summary").await;
    assert!(
        c.element("details.menu a[href='/admin/audit']")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    c.shot_as_is("console-menu-phone").await;
    c.phone(false).await;
    c.goto(&app.url("acme", "/admin/groups")).await;
    c.shot("console-groups").await;

    // Register an OpenID Connect app (its secret shown once) and open it to Engineering only.
    c.follow(".sidebar a[href='/admin/apps']").await;
    c.follow("a.button[href='/admin/apps/oidc/new']").await;
    c.shot("console-oidc-new").await;
    c.fill("#name", "Team wiki").await;
    c.fill("#redirect_uris", "https://wiki.example.com/callback")
        .await;
    c.follow("form[action='/admin/apps/oidc'] button[type=submit]")
        .await;
    let secret = c.text("#client-secret").await;
    assert!(secret.len() >= 40, "{secret}");
    let client_id = c.text("#client-id").await;
    c.click("#access-assigned").await;
    c.follow("#save-access").await;
    // Nobody is assigned yet: the console asks first, warning that everyone is refused.
    assert!(c.text("#confirm").await.contains("nobody is assigned yet"));
    c.shot("console-confirm-access").await;
    c.follow("#confirm-button").await;
    c.follow("#assign-group-button").await;
    assert!(c.text("#assigned-groups").await.contains("Engineering"));
    c.shot("console-oidc-app").await;
    c.goto(&app.url("acme", "/admin/apps")).await;
    let apps = c.text("#apps").await;
    assert!(
        apps.contains("Team wiki") && apps.contains(&client_id),
        "{apps}"
    );
    assert!(apps.contains("1 group"), "{apps}");
    c.shot("console-apps").await;
    c.goto(&app.url("acme", "/admin/apps/saml/new")).await;
    c.shot("console-saml-new").await;
    // By hand with a plain-http ACS URL: said beside the field, what was typed kept.
    c.fill("#entity_id", "https://legacy.example.com/saml")
        .await;
    c.fill("#acs_urls", "http://legacy.example.com/acs").await;
    c.follow("form[action='/admin/apps/saml'] input[value=manual] ~ p button")
        .await;
    let acs = c.element("#acs_urls").await;
    assert_eq!(
        acs.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(c.text("#acs_urls-error").await.contains("must be https"));
    c.shot("console-saml-new-errors").await;
    crate::saml_sso::register_sp(
        &app,
        "acme",
        crate::saml_sso::SP,
        &["--name", "Payroll", "--idp-initiated"],
    );
    c.goto(&app.url("acme", "/admin/apps")).await;
    c.follow("#apps a[href^='/admin/apps/saml/']").await;
    assert_eq!(c.text("#entity-id").await, crate::saml_sso::SP);
    c.shot("console-saml-app").await;
    // Two bad options at once: each said beside its field.
    c.fill("#assertion_seconds", "5").await;
    c.fill("#attributes", "email=mail\nshoe=size").await;
    c.follow("form:has(#assertion_seconds) button[type=submit]")
        .await;
    assert!(
        c.text("#assertion_seconds-error")
            .await
            .contains("60 to 3600")
    );
    assert!(c.text("#attributes-error").await.contains("Line 2"));
    c.shot("console-saml-app-errors").await;

    // Custom attributes: a bad name and a taken label problem beside their fields.
    c.goto(&app.url("acme", "/admin/attributes")).await;
    c.fill("#name", "Cost Centre").await;
    c.fill("#label", "Cost centre").await;
    c.follow("form[action='/admin/attributes'] button").await;
    assert!(c.text("#name-error").await.contains("lower-case letters"));
    let name = c.element("#name").await;
    assert_eq!(
        name.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    c.shot("console-attributes-errors").await;

    // Export the directory as CSV: the browser downloads it.
    c.goto(&app.url("acme", "/admin/users")).await;
    c.click("#export-csv").await;
    let mut csv = None;
    for _ in 0..100 {
        let done = std::fs::read_dir(downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "csv"));
        if let Some(file) = done {
            csv = Some(std::fs::read_to_string(file.path()).unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let csv = csv.expect("the export downloaded");
    assert!(csv.starts_with("id,username,"));
    assert!(
        csv.contains(",bob,bob@example.com,Bob Builder,active,,Engineering,"),
        "{csv}"
    );

    // Delete bob by typing his username.
    c.goto(&app.url("acme", &bob_page)).await;
    c.fill("#confirm-delete", "bob").await;
    c.follow("form[action$='/delete'] button").await;
    assert_eq!(c.path().await, "/admin/users?done=deleted");
    let list = c.source().await;
    assert!(list.contains("The users are deleted.") && !list.contains(">bob<"));

    c.goto(&app.url("acme", "/admin/audit")).await;
    c.shot("console-audit").await;
    c.goto(&app.url("acme", "/admin/policies")).await;
    c.shot("console-policies").await;
    c.goto(&app.url("acme", "/admin/keys")).await;
    assert!(c.text("#keys-RS256").await.contains("active"));
    c.shot("console-keys").await;
    // Staging a key with a stale proof: "Confirm it's you" says what is confirmed, and once
    // answered the staging is carried out, without asking for it again.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    c.follow("#stage-RS256").await;
    assert!(
        c.text("#confirming")
            .await
            .contains("change the signing keys"),
        "{}",
        c.source().await
    );
    c.shot("console-verify").await;
    c.fill("#password", PW).await;
    c.fill("#code", &totp(&key, now_unix() + 30)).await;
    c.follow("form[action='/admin/verify'] button[type=submit]")
        .await;
    // Staged: the page offers activation, with the wait explained.
    assert_eq!(c.path().await, "/admin/keys?done=staged");
    let page = c.source().await;
    assert!(page.contains("It was staged") && page.contains("Activate now anyway"));
    c.c.execute(
        "document.getElementById('activate-RS256').scrollIntoView({block: 'center'});",
        vec![],
    )
    .await
    .unwrap();
    c.shot("console-keys-staged").await;
    c.done().await;
}
