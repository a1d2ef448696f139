//! OpenID Connect journeys in real Chromium (and all but the console one in Firefox too),
//! against the real server and a relying party on 127.0.0.1 that exchanges the code and
//! verifies the ID token (`apps::Rp`). Every journey asserts what the app received (exactly
//! one valid result, or the error it should get) and that the browser reported no CSP
//! violation or script error on the way.

use std::time::Duration;

use crate::apps::{Arrival, Rp};
use crate::browser::{now_unix, totp};
use crate::chrome::{Browser, Tab, in_both_browsers, open, open_in};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice, policy};

/// The password step on the sign-in page the browser is on.
async fn password_step(tab: &Tab, login: &str, password: &str) {
    assert_eq!(tab.url().await.path(), "/login", "{}", tab.source().await);
    tab.fill("#login", login).await;
    tab.fill("#password", password).await;
    tab.follow("form[action='/login'] button[type=submit]")
        .await;
}

async fn code_step(tab: &Tab, code: &str) {
    assert_eq!(tab.url().await.path(), "/login/mfa");
    tab.fill("#code", code).await;
    tab.follow("form[action='/login/mfa'] button[type=submit]")
        .await;
}

/// The browser is on the app's own home page (after its callback).
async fn at_app_home(tab: &Tab, rp: &Rp) {
    let url = tab.url().await;
    assert_eq!(url.as_str(), rp.home, "{}", tab.source().await);
    assert_eq!(tab.text("#app").await, "Team wiki");
    tab.assert_clean().await;
}

/// Starts a sign-in at the app, signs in with alice's password, and returns what the app got.
async fn sign_in_with_password(tab: &Tab, rp: &Rp, extra: &[(&str, &str)]) -> Arrival {
    tab.goto(&rp.authorize_url(extra)).await;
    password_step(tab, "alice", PW).await;
    at_app_home(tab, rp).await;
    rp.signed_in().await
}

fn username_of(a: &Arrival) -> &str {
    match a {
        Arrival::SignedIn { username, .. } => username,
        other => panic!("not a sign-in: {other:?}"),
    }
}

fn auth_time_of(a: &Arrival) -> i64 {
    match a {
        Arrival::SignedIn { auth_time, .. } => *auth_time,
        other => panic!("not a sign-in: {other:?}"),
    }
}

fn amr_of(a: &Arrival) -> Vec<String> {
    match a {
        Arrival::SignedIn { amr, .. } => amr.clone(),
        other => panic!("not a sign-in: {other:?}"),
    }
}

/// Sets up TOTP for `alice` on the account page, in the browser; returns the key and the
/// recovery codes shown once. Leaves the browser signed out.
async fn enrol_totp(tab: &Tab, app: &TestApp) -> (String, Vec<String>) {
    tab.goto(&app.url("acme", "/login")).await;
    password_step(tab, "alice", PW).await;
    assert_eq!(tab.path().await, "/account");
    tab.goto(&app.url("acme", "/account/mfa")).await;
    tab.follow("form[action='/account/mfa/enrol'] button").await;
    tab.shot("journey-account-mfa-enrol").await;
    let key = tab.text("#manual-key").await;
    tab.fill("#code", &totp(&key, now_unix() - 30)).await;
    tab.follow("form[action='/account/mfa/confirm'] button")
        .await;
    let codes: Vec<String> = tab
        .text("ul.codes")
        .await
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    tab.shot("journey-account-recovery-codes").await;
    tab.goto(&app.url("acme", "/account")).await;
    tab.follow("form[action='/logout'] button").await;
    tab.assert_clean().await;
    (key, codes)
}

async fn signed_out_with_a_password_then_silent_sso_and_prompt_none(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;

    tab.goto(&rp.authorize_url(&[])).await;
    tab.shot("journey-oidc-login").await;
    password_step(&tab, "alice", PW).await;
    at_app_home(&tab, &rp).await;
    let first = rp.signed_in().await;
    assert_eq!(username_of(&first), "alice");
    assert_eq!(amr_of(&first), vec!["pwd"]);

    // Signed in: the next request goes straight back, without a page, as the same sign-in.
    tab.goto(&rp.authorize_url(&[])).await;
    at_app_home(&tab, &rp).await;
    let silent = rp.signed_in().await;
    assert_eq!(auth_time_of(&silent), auth_time_of(&first));
    tab.goto(&rp.authorize_url(&[("prompt", "none")])).await;
    at_app_home(&tab, &rp).await;
    assert_eq!(username_of(&rp.signed_in().await), "alice");
    tab.done().await;
}
in_both_browsers!(signed_out_with_a_password_then_silent_sso_and_prompt_none);

async fn prompt_none_without_a_session_answers_login_required(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    tab.goto(&rp.authorize_url(&[("prompt", "none")])).await;
    assert_eq!(
        rp.arrivals().await,
        vec![Arrival::Refused {
            error: "login_required".into()
        }]
    );
    assert!(tab.url().await.as_str().starts_with(&rp.origin));
    tab.done().await;
}
in_both_browsers!(prompt_none_without_a_session_answers_login_required);

async fn a_wrong_password_is_said_on_the_page_and_the_right_one_signs_in(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    tab.goto(&rp.authorize_url(&[])).await;
    password_step(&tab, "alice", "not-the-password").await;
    assert_eq!(tab.url().await.path(), "/login");
    assert!(
        tab.text("#form-error")
            .await
            .contains("The username or password is not right")
    );
    // The username is kept, and the password field, empty, has the focus for another try.
    let focused = tab
        .c
        .execute("return document.activeElement.id;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, serde_json::json!("password"));
    tab.shot("journey-login-failed").await;
    tab.assert_clean().await;
    password_step(&tab, "alice", PW).await;
    at_app_home(&tab, &rp).await;
    assert_eq!(username_of(&rp.signed_in().await), "alice");
    tab.done().await;
}
in_both_browsers!(a_wrong_password_is_said_on_the_page_and_the_right_one_signs_in);

async fn totp_then_a_recovery_code_and_logout_with_a_valid_hint(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    let (key, codes) = enrol_totp(&tab, &app).await;

    // Password and the current code.
    tab.goto(&rp.authorize_url(&[])).await;
    password_step(&tab, "alice", PW).await;
    tab.shot("journey-oidc-mfa").await;
    code_step(&tab, &totp(&key, now_unix())).await;
    at_app_home(&tab, &rp).await;
    let signed_in = rp.signed_in().await;
    assert_eq!(username_of(&signed_in), "alice");
    assert!(
        amr_of(&signed_in).contains(&"otp".to_owned()),
        "{signed_in:?}"
    );

    // The app signs the person out with its ID token as the hint: no page, straight back.
    let hint = rp.last_id_token().expect("the app kept the ID token");
    tab.goto(&rp.logout_url(Some(&hint), "after-hint")).await;
    assert_eq!(
        rp.arrivals().await,
        vec![Arrival::SignedOut {
            state: "after-hint".into()
        }]
    );
    tab.goto(&app.url("acme", "/account")).await;
    assert_eq!(tab.url().await.path(), "/login", "the session is over");

    // A recovery code instead of the authenticator.
    tab.goto(&rp.authorize_url(&[])).await;
    password_step(&tab, "alice", PW).await;
    code_step(&tab, &codes[3]).await;
    at_app_home(&tab, &rp).await;
    assert_eq!(username_of(&rp.signed_in().await), "alice");
    tab.done().await;
}
in_both_browsers!(totp_then_a_recovery_code_and_logout_with_a_valid_hint);

async fn a_forced_password_change_continues_to_the_app(browser: Browser) {
    let app = app_with_alice().await;
    let out = app.cli(&[
        "user",
        "reset-password",
        "--tenant",
        "acme",
        "alice",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let otp = out.json()["one_time_password"].as_str().unwrap().to_owned();
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    tab.goto(&rp.authorize_url(&[])).await;
    password_step(&tab, "alice", &otp).await;
    assert_eq!(tab.url().await.path(), "/login/password");
    tab.shot("journey-forced-password").await;
    tab.fill("#new", "Quiet-Meadow-Lantern-58").await;
    tab.fill("#confirm", "Quiet-Meadow-Lantern-58").await;
    tab.follow("form button[type=submit]").await;
    at_app_home(&tab, &rp).await;
    assert_eq!(username_of(&rp.signed_in().await), "alice");
    tab.done().await;
}
in_both_browsers!(a_forced_password_change_continues_to_the_app);

async fn a_forced_mfa_enrolment_continues_to_the_app(browser: Browser) {
    let app = app_with_alice().await;
    policy(&app, "acme", &["mfa=required"]);
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    tab.goto(&rp.authorize_url(&[])).await;
    password_step(&tab, "alice", PW).await;
    assert_eq!(tab.url().await.path(), "/login/enrol");
    tab.shot("journey-forced-enrol").await;
    let key = tab.text("#manual-key").await;
    tab.fill("#code", &totp(&key, now_unix())).await;
    tab.follow("form button[type=submit]").await;
    assert!(tab.source().await.contains("Your recovery codes"));
    tab.assert_clean().await;
    tab.follow("a.button").await;
    at_app_home(&tab, &rp).await;
    let signed_in = rp.signed_in().await;
    assert!(amr_of(&signed_in).contains(&"otp".to_owned()));
    tab.done().await;
}
in_both_browsers!(a_forced_mfa_enrolment_continues_to_the_app);

async fn consent_denied_then_allowed(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &["--consent"]).await;
    let tab = open_in(browser, &app).await;
    tab.goto(&rp.authorize_url(&[])).await;
    password_step(&tab, "alice", PW).await;
    assert_eq!(tab.url().await.path(), "/oauth2/authorize");
    assert!(tab.source().await.contains("Allow Team wiki"));
    tab.shot("journey-consent").await;
    tab.follow("button[value=deny]").await;
    assert_eq!(
        rp.arrivals().await,
        vec![Arrival::Refused {
            error: "access_denied".into()
        }]
    );
    tab.assert_clean().await;

    tab.goto(&rp.authorize_url(&[])).await;
    tab.follow("button[value=allow]").await;
    at_app_home(&tab, &rp).await;
    assert_eq!(username_of(&rp.signed_in().await), "alice");
    // Remembered: the next request goes straight back.
    tab.goto(&rp.authorize_url(&[])).await;
    at_app_home(&tab, &rp).await;
    rp.signed_in().await;
    tab.done().await;
}
in_both_browsers!(consent_denied_then_allowed);

async fn prompt_login_and_max_age_ask_for_the_password_again(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    let first = auth_time_of(&sign_in_with_password(&tab, &rp, &[]).await);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    tab.goto(&rp.authorize_url(&[("prompt", "login")])).await;
    assert_eq!(tab.url().await.path(), "/login");
    let login = tab.element("#login").await;
    assert_eq!(login.prop("value").await.unwrap().as_deref(), Some("alice"));
    password_step(&tab, "alice", PW).await;
    at_app_home(&tab, &rp).await;
    let second = auth_time_of(&rp.signed_in().await);
    assert!(second > first, "a fresh sign-in: {first} → {second}");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    tab.goto(&rp.authorize_url(&[("max_age", "1")])).await;
    assert_eq!(tab.url().await.path(), "/login");
    password_step(&tab, "alice", PW).await;
    at_app_home(&tab, &rp).await;
    let third = auth_time_of(&rp.signed_in().await);
    assert!(third > second, "a fresh sign-in: {second} → {third}");
    tab.done().await;
}
in_both_browsers!(prompt_login_and_max_age_ask_for_the_password_again);

async fn logout_with_the_confirmation_page_returns_to_the_app_with_its_state(browser: Browser) {
    let app = app_with_alice().await;
    let rp = Rp::start(&app, "acme", &[]).await;
    let tab = open_in(browser, &app).await;
    sign_in_with_password(&tab, &rp, &[]).await;

    // Without a hint the person is asked.
    tab.goto(&rp.logout_url(None, "s-42")).await;
    assert_eq!(tab.url().await.path(), "/oauth2/logout");
    tab.shot("journey-logout-confirm").await;
    tab.follow("form[action='/oauth2/logout/confirm'] button")
        .await;
    assert_eq!(
        rp.arrivals().await,
        vec![Arrival::SignedOut {
            state: "s-42".into()
        }]
    );
    assert!(
        tab.url()
            .await
            .as_str()
            .starts_with(&format!("{}/bye", rp.origin))
    );
    tab.assert_clean().await;
    tab.goto(&app.url("acme", "/account")).await;
    assert_eq!(tab.url().await.path(), "/login", "the session is over");
    tab.done().await;
}
in_both_browsers!(logout_with_the_confirmation_page_returns_to_the_app_with_its_state);

/// The whole of an admin's first task: an owner registers an app in the console (in Chromium),
/// copies its client id and secret into the app, and a person signs in to that app.
#[tokio::test]
async fn an_app_registered_in_the_console_signs_people_in() {
    let app = app_with_alice().await;
    let (_, key) = crate::console::signed_in_admin(&app, "root", "owner").await;
    let admin = open().await;
    let rp = Rp::start_with(&app, "acme", async |redirect: String, bye: String| {
        admin.goto(&app.url("acme", "/login")).await;
        password_step(&admin, "root", PW).await;
        code_step(&admin, &totp(&key, now_unix() + 30)).await;
        admin.goto(&app.url("acme", "/admin/apps/oidc/new")).await;
        admin.fill("#name", "Team wiki").await;
        admin.fill("#redirect_uris", &redirect).await;
        admin.fill("#post_logout_redirect_uris", &bye).await;
        admin.click("#scope-offline_access").await;
        admin
            .follow("form[action='/admin/apps/oidc'] button[type=submit]")
            .await;
        let client_id = admin.text("#client-id").await;
        let secret = admin.text("#client-secret").await;
        admin.shot("journey-console-app-registered").await;
        (client_id, secret)
    })
    .await;
    admin.done().await;

    // Alice, in a browser of her own, signs in to it.
    let tab = open().await;
    let arrival = sign_in_with_password(&tab, &rp, &[]).await;
    assert_eq!(username_of(&arrival), "alice");
    tab.done().await;
}
