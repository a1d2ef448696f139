//! The person's own pages in real Chromium and Firefox: a forgotten password reset from the e-mailed link
//! (read from the outbox) to a signed-in session, and every account page, each checked for CSP
//! violations and script errors and photographed at both widths.

use crate::account::newest_mail;
use crate::chrome::{Browser, in_both_browsers, open_in};
use crate::login::{PW, app_with_alice};

async fn a_forgotten_password_is_reset_from_the_mailed_link_and_the_account_pages_work(
    browser: Browser,
) {
    let app = app_with_alice().await;
    let tab = open_in(browser, &app).await;
    tab.goto(&app.url("acme", "/login")).await;
    tab.follow("a[href='/forgot']").await;
    tab.fill("#login", "alice").await;
    tab.shot("journey-forgot").await;
    tab.follow("form[action='/forgot'] button[type=submit]")
        .await;
    assert!(tab.source().await.contains("we have sent it a link"));
    tab.assert_clean().await;

    let mut link = None;
    for _ in 0..100 {
        if let Some((_, l)) = newest_mail(&app) {
            link = Some(l);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let link = link.expect("a reset mail in the outbox");
    assert!(
        link.starts_with(&app.url("acme", "/reset?token=")),
        "{link}"
    );
    tab.goto(&link).await;
    tab.shot("journey-reset").await;
    let new = "Copper-Lantern-Orchard-71";
    tab.fill("#new", new).await;
    tab.fill("#confirm", new).await;
    tab.follow("form[action='/reset'] button[type=submit]")
        .await;
    assert_eq!(tab.url().await.path(), "/reset");
    assert!(tab.source().await.contains("Your password is changed"));
    tab.assert_clean().await;

    // The old password no longer works; the new one signs in.
    tab.fill("#login", "alice").await;
    tab.fill("#password", PW).await;
    tab.follow("form[action='/login'] button[type=submit]")
        .await;
    assert_eq!(tab.url().await.path(), "/login");
    tab.fill("#login", "alice").await;
    tab.fill("#password", new).await;
    tab.follow("form[action='/login'] button[type=submit]")
        .await;
    assert_eq!(tab.path().await, "/account");
    assert_eq!(tab.text("#username").await, "alice");

    // Every account page, and a profile change saved through the form.
    tab.fill("#display_name", "Alice Liddell").await;
    tab.follow("form[action='/account/profile'] button[type=submit]")
        .await;
    assert!(tab.source().await.contains("Alice Liddell"));
    tab.shot("journey-account").await;
    for (path, name) in [
        ("/account/password", "journey-account-password"),
        ("/account/mfa", "journey-account-mfa"),
        ("/account/sessions", "journey-account-sessions"),
        ("/account/apps", "journey-account-apps"),
    ] {
        tab.follow(&format!("nav.tabs a[href='{path}']")).await;
        assert_eq!(tab.path().await, path);
        tab.shot(name).await;
        tab.assert_clean().await;
    }
    tab.goto(&app.url("acme", "/account")).await;
    tab.follow("form[action='/logout'] button").await;
    assert!(tab.source().await.contains("You are signed out."));
    tab.goto(&app.url("acme", "/account")).await;
    assert_eq!(tab.url().await.path(), "/login");
    tab.done().await;
}
in_both_browsers!(a_forgotten_password_is_reset_from_the_mailed_link_and_the_account_pages_work);
