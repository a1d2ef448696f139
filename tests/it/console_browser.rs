//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver),
//! against the real server. An owner signs in with password and TOTP, adds a user, puts them
//! in a group, exports the directory, and deletes the user. Screenshots of the main pages go
//! to `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::browser::{now_unix, totp};
use crate::console::set_role;
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};

/// chromedriver on a free port, ended with the test.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; scripts/test installs it)");
    let d = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn chromium(d: &Driver, downloads: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,900"],
            "prefs": {
                "download.default_directory": downloads.to_str().unwrap(),
                "download.prompt_for_download": false,
            },
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a Chromium session")
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// The element, waiting for it to appear (a page may still be loading on a busy machine).
async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// Clicks something that does not leave the page.
async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

/// Clicks a link or submit button and waits until the next page has loaded: the old page is
/// marked, and the wait ends when a document without the mark is complete.
async fn follow(c: &Client, css: &str) {
    c.execute("window.__lkOld = true;", vec![]).await.unwrap();
    click(c, css).await;
    for _ in 0..200 {
        let settled = c
            .execute(
                "return window.__lkOld === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(settled, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("clicking {css} did not load a page");
}

async fn text_of(c: &Client, css: &str) -> String {
    element(c, css).await.text().await.unwrap()
}

async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn sign_in(c: &Client, app: &TestApp, code: Option<String>) {
    c.goto(&app.url("acme", "/login")).await.unwrap();
    fill(c, "#login", "root").await;
    fill(c, "#password", PW).await;
    follow(c, "form button[type=submit]").await;
    if let Some(code) = code {
        assert_eq!(path_of(c).await, "/login/mfa");
        fill(c, "#code", &code).await;
        follow(c, "form button[type=submit]").await;
    }
}

#[tokio::test]
async fn an_owner_runs_the_directory_in_chromium() {
    let app = app_with_alice().await;
    app.create_user("acme", "root", PW);
    set_role(&app, "root", "owner");
    let d = driver().await;
    let downloads = tempfile::tempdir().unwrap();
    let c = chromium(&d, downloads.path()).await;

    // Sign in with the password, set up TOTP on the account page, sign in again with a code.
    sign_in(&c, &app, None).await;
    assert_eq!(path_of(&c).await, "/account");
    c.goto(&app.url("acme", "/account/mfa")).await.unwrap();
    follow(&c, "form[action='/account/mfa/enrol'] button").await;
    let key = text_of(&c, "#manual-key").await;
    fill(&c, "#code", &totp(&key, now_unix() - 30)).await;
    follow(&c, "form[action='/account/mfa/confirm'] button").await;
    c.goto(&app.url("acme", "/account")).await.unwrap();
    follow(&c, "form[action='/logout'] button").await;
    sign_in(&c, &app, Some(totp(&key, now_unix()))).await;

    c.goto(&app.url("acme", "/admin")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "Overview");
    shot(&c, "console-overview").await;

    // Add a user with a one-time password.
    follow(&c, ".sidebar a[href='/admin/users']").await;
    follow(&c, "a.button[href='/admin/users/new']").await;
    fill(&c, "#username", "bob").await;
    fill(&c, "#email", "bob@example.com").await;
    fill(&c, "#display_name", "Bob Builder").await;
    click(&c, "#d-password").await;
    shot(&c, "console-user-new").await;
    follow(&c, "form[action='/admin/users'] button[type=submit]").await;
    let otp = text_of(&c, "#one-time-password").await;
    assert!(otp.len() >= 12, "a one-time password is shown: {otp}");
    shot(&c, "console-user-created").await;

    // A group, with bob in it from his page.
    c.goto(&app.url("acme", "/admin/groups")).await.unwrap();
    fill(&c, "#name", "Engineering").await;
    fill(&c, "#description", "Everyone who ships code").await;
    follow(&c, "form[action='/admin/groups'] button").await;
    assert!(path_of(&c).await.ends_with("?done=created"));
    c.goto(&app.url("acme", "/admin/users?q=bob"))
        .await
        .unwrap();
    follow(&c, "a.user-link").await;
    let bob_page = path_of(&c).await;
    follow(&c, "form[action$='/groups'] button").await;
    assert!(text_of(&c, "#groups").await.contains("Engineering"));
    shot(&c, "console-user").await;
    c.goto(&app.url("acme", "/admin/users")).await.unwrap();
    shot(&c, "console-users").await;
    c.goto(&app.url("acme", "/admin/groups")).await.unwrap();
    shot(&c, "console-groups").await;

    // Register an OpenID Connect app (its secret shown once) and open it to Engineering only.
    follow(&c, ".sidebar a[href='/admin/apps']").await;
    follow(&c, "a.button[href='/admin/apps/oidc/new']").await;
    shot(&c, "console-oidc-new").await;
    fill(&c, "#name", "Team wiki").await;
    fill(&c, "#redirect_uris", "https://wiki.example.com/callback").await;
    follow(&c, "form[action='/admin/apps/oidc'] button[type=submit]").await;
    let secret = text_of(&c, "#client-secret").await;
    assert!(secret.len() >= 40, "{secret}");
    let client_id = text_of(&c, "#client-id").await;
    click(&c, "#access-assigned").await;
    follow(&c, "#save-access").await;
    follow(&c, "#assign-group-button").await;
    assert!(
        text_of(&c, "#assigned-groups")
            .await
            .contains("Engineering")
    );
    shot(&c, "console-oidc-app").await;
    c.goto(&app.url("acme", "/admin/apps")).await.unwrap();
    let apps = text_of(&c, "#apps").await;
    assert!(
        apps.contains("Team wiki") && apps.contains(&client_id),
        "{apps}"
    );
    assert!(apps.contains("1 group"), "{apps}");
    shot(&c, "console-apps").await;
    c.goto(&app.url("acme", "/admin/apps/saml/new"))
        .await
        .unwrap();
    shot(&c, "console-saml-new").await;
    crate::saml_sso::register_sp(
        &app,
        "acme",
        crate::saml_sso::SP,
        &["--name", "Payroll", "--idp-initiated"],
    );
    c.goto(&app.url("acme", "/admin/apps")).await.unwrap();
    follow(&c, "#apps a[href^='/admin/apps/saml/']").await;
    assert_eq!(text_of(&c, "#entity-id").await, crate::saml_sso::SP);
    shot(&c, "console-saml-app").await;

    // Export the directory as CSV: the browser downloads it.
    c.goto(&app.url("acme", "/admin/users")).await.unwrap();
    click(&c, "#export-csv").await;
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csv = csv.expect("the export downloaded");
    assert!(csv.starts_with("id,username,"));
    assert!(
        csv.contains(",bob,bob@example.com,Bob Builder,active,,Engineering,"),
        "{csv}"
    );

    // Delete bob by typing his username.
    c.goto(&app.url("acme", &bob_page)).await.unwrap();
    fill(&c, "#confirm-delete", "bob").await;
    follow(&c, "form[action$='/delete'] button").await;
    assert_eq!(path_of(&c).await, "/admin/users?done=deleted");
    let list = c.source().await.unwrap();
    assert!(list.contains("The users are deleted.") && !list.contains(">bob<"));

    c.goto(&app.url("acme", "/admin/audit")).await.unwrap();
    shot(&c, "console-audit").await;
    c.goto(&app.url("acme", "/admin/policies")).await.unwrap();
    shot(&c, "console-policies").await;
    c.goto(&app.url("acme", "/admin/keys")).await.unwrap();
    assert!(text_of(&c, "#keys-RS256").await.contains("active"));
    shot(&c, "console-keys").await;
    // Staging a key: the page offers activation, with the wait explained.
    follow(&c, "#stage-RS256").await;
    assert_eq!(path_of(&c).await, "/admin/keys?done=staged");
    let page = c.source().await.unwrap();
    assert!(page.contains("It was staged") && page.contains("Activate now anyway"));
    c.execute(
        "document.getElementById('activate-RS256').scrollIntoView({block: 'center'});",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "console-keys-staged").await;
    c.close().await.unwrap();
}
