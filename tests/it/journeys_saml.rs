//! SAML journeys in real Chromium and Firefox, against the real server and service providers
//! on 127.0.0.1 that verify every message with the `xmlsec1` CLI (`apps::Sp`). Each journey asserts what
//! the SP received and that the browser reported no CSP violation or script error.

use crate::apps::{SamlArrival, Sp};
use crate::chrome::{Browser, Tab, in_both_browsers, open_in};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};

async fn password_step(tab: &Tab) {
    assert_eq!(tab.url().await.path(), "/login", "{}", tab.source().await);
    tab.fill("#login", "alice").await;
    tab.fill("#password", PW).await;
    tab.follow("form[action='/login'] button[type=submit]")
        .await;
}

async fn at_sp_home(tab: &Tab, sp: &Sp) {
    assert_eq!(tab.url().await.as_str(), sp.home, "{}", tab.source().await);
    assert_eq!(tab.text("#app").await, "Payroll");
    tab.assert_clean().await;
}

/// The one assertion that arrived (and nothing else).
async fn assertion(sp: &Sp) -> (String, Option<String>, Option<String>) {
    let got = sp.arrivals().await;
    match got.as_slice() {
        [
            SamlArrival::Assertion {
                name_id,
                in_response_to,
                relay_state,
            },
        ] => (name_id.clone(), in_response_to.clone(), relay_state.clone()),
        other => panic!("the SP should have received exactly one valid assertion: {other:?}"),
    }
}

async fn signed_in_at_idp(tab: &Tab, app: &TestApp) -> bool {
    tab.goto(&app.url("acme", "/account")).await;
    tab.url().await.path() == "/account"
}

async fn sp_initiated_on_the_redirect_binding_signed_out_then_signed_in(browser: Browser) {
    let app = app_with_alice().await;
    let sp = Sp::start(&app, "acme", "Payroll").await;
    let tab = open_in(browser, &app).await;
    tab.goto(&sp.login_url("redirect")).await;
    tab.shot("journey-saml-login").await;
    password_step(&tab).await;
    at_sp_home(&tab, &sp).await;
    let (name_id, answered, relay) = assertion(&sp).await;
    assert_eq!(name_id, "alice@acme.test");
    assert!(answered.is_some());
    assert_eq!(relay.as_deref(), Some("redirect-relay"));

    // Signed in: straight through.
    tab.goto(&sp.login_url("redirect")).await;
    at_sp_home(&tab, &sp).await;
    assert_eq!(assertion(&sp).await.0, "alice@acme.test");
    tab.done().await;
}
in_both_browsers!(sp_initiated_on_the_redirect_binding_signed_out_then_signed_in);

async fn sp_initiated_on_the_post_binding(browser: Browser) {
    let app = app_with_alice().await;
    let sp = Sp::start(&app, "acme", "Payroll").await;
    let tab = open_in(browser, &app).await;
    tab.goto(&sp.login_url("post")).await;
    tab.follow("#go").await;
    password_step(&tab).await;
    at_sp_home(&tab, &sp).await;
    let (name_id, answered, relay) = assertion(&sp).await;
    assert_eq!(name_id, "alice@acme.test");
    assert!(answered.is_some());
    assert_eq!(relay.as_deref(), Some("post-relay"));

    // Signed in at the IdP: straight through. (Over plain HTTP the session cookie is
    // SameSite=Lax and does not ride on the SP's POST; the IdP parks the request and goes on
    // with a same-origin GET, which carries it.)
    assert!(signed_in_at_idp(&tab, &app).await);
    tab.goto(&sp.login_url("post")).await;
    tab.follow("#go").await;
    at_sp_home(&tab, &sp).await;
    assert_eq!(assertion(&sp).await.0, "alice@acme.test");
    tab.done().await;
}
in_both_browsers!(sp_initiated_on_the_post_binding);

async fn idp_initiated_sign_in_lands_at_the_sp_with_its_relay_state(browser: Browser) {
    let app = app_with_alice().await;
    let sp = Sp::start(&app, "acme", "Payroll").await;
    let tab = open_in(browser, &app).await;
    let start = format!(
        "/saml/start?sp={}",
        url::form_urlencoded::byte_serialize(sp.entity.as_bytes()).collect::<String>()
    );
    tab.goto(&app.url("acme", &start)).await;
    password_step(&tab).await;
    at_sp_home(&tab, &sp).await;
    let (name_id, answered, relay) = assertion(&sp).await;
    assert_eq!(name_id, "alice@acme.test");
    assert_eq!(answered, None, "unsolicited");
    assert_eq!(relay.as_deref(), Some("/start-page"));
    tab.done().await;
}
in_both_browsers!(idp_initiated_sign_in_lands_at_the_sp_with_its_relay_state);

async fn sp_initiated_logout_ends_the_idp_session_and_is_answered(browser: Browser) {
    let app = app_with_alice().await;
    let sp = Sp::start(&app, "acme", "Payroll").await;
    let tab = open_in(browser, &app).await;
    tab.goto(&sp.login_url("redirect")).await;
    password_step(&tab).await;
    at_sp_home(&tab, &sp).await;
    assertion(&sp).await;

    tab.goto(&sp.logout_url()).await;
    let got = sp.arrivals().await;
    assert!(
        matches!(got.as_slice(), [SamlArrival::LoggedOut { .. }]),
        "{got:?}"
    );
    assert_eq!(tab.text("#app").await, "Signed out of Payroll");
    tab.assert_clean().await;
    assert!(!signed_in_at_idp(&tab, &app).await);
    tab.done().await;
}
in_both_browsers!(sp_initiated_logout_ends_the_idp_session_and_is_answered);

async fn signing_out_at_the_idp_signs_out_of_both_sps(browser: Browser) {
    let app = app_with_alice().await;
    let one = Sp::start(&app, "acme", "Payroll").await;
    let two = Sp::start(&app, "acme", "Travel").await;
    let tab = open_in(browser, &app).await;
    tab.goto(&one.login_url("redirect")).await;
    password_step(&tab).await;
    at_sp_home(&tab, &one).await;
    assertion(&one).await;
    tab.goto(&two.login_url("redirect")).await;
    at_sp_home(&tab, &two).await;
    assertion(&two).await;

    tab.goto(&app.url("acme", "/account")).await;
    tab.follow("form[action='/logout'] button").await;
    for sp in [&one, &two] {
        assert_eq!(
            sp.arrivals().await,
            vec![SamlArrival::LogoutRequest {
                name_id: "alice@acme.test".into()
            }]
        );
    }
    // Back at the IdP, which says so.
    assert!(
        tab.url().await.as_str().starts_with(&app.url("acme", "/")),
        "{}",
        tab.url().await
    );
    assert!(
        tab.source().await.contains("signed out"),
        "{}",
        tab.source().await
    );
    tab.shot("journey-saml-signed-out").await;
    tab.assert_clean().await;
    assert!(!signed_in_at_idp(&tab, &app).await);
    tab.done().await;
}
in_both_browsers!(signing_out_at_the_idp_signs_out_of_both_sps);
