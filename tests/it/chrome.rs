//! Real browsers for the journeys. Chromium: one chromedriver for the whole test binary and a
//! small pool of sessions reused from test to test (cookies cleared in between), so the suite
//! starts a browser once per parallel test thread, not once per test. Firefox: one geckodriver,
//! which drives one session at a time, so Firefox journeys take turns, each in a fresh
//! profile.
//!
//! Every page a journey visits is judged by the browser itself. [`Tab::assert_clean`] reads
//! Chromium's console log and fails on any Content-Security-Policy violation or script error;
//! Firefox has no log a driver can read, so in Firefox it fails on any violation the browser
//! reported to the server (`report-uri`, counted in `/metrics`).
//! Screenshots go to `target/screenshots/`: at 1366×900 and as a 390×844 phone in Chromium,
//! at 1366×900 in Firefox (`…-firefox.png`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};

/// The browser a journey runs in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Browser {
    Chromium,
    Firefox,
}

/// Starts `command --port={port}` under a watchdog that ends it, and every browser it
/// started, when this test process exits (however it exits); waits for its port.
fn start_driver(command: &str) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let parent = std::process::id();
    let script = format!(
        "{command} --port={port} >/dev/null 2>&1 & \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill -TERM -$$"
    );
    // Never waited for: the watchdog outlives every test and ends with the process.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{command} (scripts/test installs it): {e}"));
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{command} did not start");
}

/// The chromedriver's port.
fn driver_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| start_driver("chromedriver"))
}

/// The geckodriver's port (`cargo install geckodriver`; scripts/test installs it).
fn gecko_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| start_driver("geckodriver --marionette-port 0"))
}

/// Firefox journeys take turns: geckodriver drives one session at a time.
static FIREFOX_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The Firefox session of the journey whose turn it is, until it ends cleanly.
static FIREFOX_SESSION: Mutex<Option<String>> = Mutex::new(None);

/// Runs journey `async fn $journey(browser: Browser)` as two tests, `$journey::chromium` and
/// `$journey::firefox`.
macro_rules! in_both_browsers {
    ($journey:ident) => {
        mod $journey {
            #[tokio::test]
            async fn chromium() {
                super::$journey($crate::chrome::Browser::Chromium).await
            }

            #[tokio::test]
            async fn firefox() {
                super::$journey($crate::chrome::Browser::Firefox).await
            }
        }
    };
}
pub(crate) use in_both_browsers;

/// Session ids of idle Chromium sessions.
static IDLE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn webdriver_url() -> String {
    format!("http://127.0.0.1:{}", driver_port())
}

/// A Chromium tab for one test. Give it back with [`Tab::done`]; a test that panics leaves
/// its session out of the pool.
pub struct Tab {
    pub c: Client,
    id: String,
    pub browser: Browser,
    /// Firefox: the server's `/metrics`, where the violations it was sent are counted, and
    /// how many had been counted at the last look.
    reports: Option<(String, Mutex<BTreeMap<String, u64>>)>,
    /// Firefox: this journey's turn, held until the session ends.
    _turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

/// A WebDriver command the crate does not wrap: chromedriver's log and CDP endpoints.
#[derive(Debug)]
struct Raw {
    path: &'static str,
    body: serde_json::Value,
}

impl WebDriverCompatibleCommand for Raw {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.body.to_string()))
    }
}

pub async fn open() -> Tab {
    let url = webdriver_url();
    let idle = IDLE.lock().unwrap().pop();
    let (c, id) = match idle {
        Some(id) => {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let c = Client::with_existing_session(&url, &id, connector)
                .await
                .expect("the pooled Chromium session");
            // A client ends its session when dropped unless told to keep it: a pooled session
            // must outlive each test that borrows it.
            c.persist().await.unwrap();
            (c, id)
        }
        None => {
            let mut caps = serde_json::Map::new();
            caps.insert(
                "goog:chromeOptions".into(),
                serde_json::json!({
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1366,900",
                             "--no-first-run", "--disable-extensions"],
                }),
            );
            caps.insert(
                "goog:loggingPrefs".into(),
                serde_json::json!({ "browser": "ALL" }),
            );
            let c = ClientBuilder::native()
                .capabilities(caps)
                .connect(&url)
                .await
                .expect("a Chromium session");
            c.persist().await.unwrap();
            let id = c.session_id().await.unwrap().expect("a session id");
            (c, id)
        }
    };
    let tab = Tab {
        c,
        id,
        browser: Browser::Chromium,
        reports: None,
        _turn: None,
    };
    tab.cdp("Network.clearBrowserCookies", serde_json::json!({}))
        .await;
    tab.cdp(
        "Emulation.clearDeviceMetricsOverride",
        serde_json::json!({}),
    )
    .await;
    tab.c.goto("about:blank").await.unwrap();
    // What an earlier test left in the log is not this test's.
    let _ = tab.log().await;
    tab
}

/// A tab in `browser` for a journey against `app`.
pub async fn open_in(browser: Browser, app: &crate::harness::TestApp) -> Tab {
    match browser {
        Browser::Chromium => open().await,
        Browser::Firefox => open_firefox(app).await,
    }
}

/// CSP violations the server at `metrics` has been sent, by directive.
async fn violations_reported(metrics: &str) -> BTreeMap<String, u64> {
    let text = reqwest::get(metrics)
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("/metrics text");
    text.lines()
        .filter_map(|l| l.strip_prefix("latchkey_csp_violations_total{directive=\""))
        .filter_map(|l| {
            let (directive, n) = l.split_once("\"} ")?;
            Some((directive.to_owned(), n.parse().ok()?))
        })
        .collect()
}

/// A fresh Firefox (its own profile) that resolves `*.localhost` to this machine, and sends
/// its CSP reports to `app`.
pub async fn open_firefox(app: &crate::harness::TestApp) -> Tab {
    let turn = FIREFOX_TURN.lock().await;
    let url = format!("http://127.0.0.1:{}", gecko_port());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "moz:firefoxOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/firefox-esr",
            "args": ["-headless", "--width=1366", "--height=900"],
            "prefs": {
                "network.proxy.type": 0,
                "browser.shell.checkDefaultBrowser": false,
                "datareporting.policy.dataSubmissionEnabled": false,
                "app.update.disabledForTesting": true,
            },
        }),
    );
    // A journey that failed left its session open (its runtime ended before the client could
    // close it): end it, or geckodriver refuses a new one.
    let stale = FIREFOX_SESSION.lock().unwrap().take();
    if let Some(stale) = stale {
        let _ = reqwest::Client::new()
            .delete(format!("{url}/session/{stale}"))
            .send()
            .await;
    }
    let c = ClientBuilder::native()
        .capabilities(caps)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("a Firefox session: {e}"));
    let id = c.session_id().await.unwrap().expect("a session id");
    *FIREFOX_SESSION.lock().unwrap() = Some(id.clone());
    c.set_window_size(1366, 900).await.unwrap();
    let metrics = app.base_url("/metrics");
    let seen = violations_reported(&metrics).await;
    Tab {
        c,
        id,
        browser: Browser::Firefox,
        reports: Some((metrics, Mutex::new(seen))),
        _turn: Some(turn),
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Tab {
    /// A Chrome DevTools Protocol command.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        self.c
            .issue_cmd(Raw {
                path: "goog/cdp/execute",
                body: serde_json::json!({ "cmd": cmd, "params": params }),
            })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// The browser console's entries since the last call: (level, source, message).
    async fn log(&self) -> Vec<(String, String, String)> {
        let entries = self
            .c
            .issue_cmd(Raw {
                path: "se/log",
                body: serde_json::json!({ "type": "browser" }),
            })
            .await
            .expect("chromedriver's browser log");
        entries
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (s("level"), s("source"), s("message"))
            })
            .collect()
    }

    /// CSP violations and script errors the browser reported since the last look. Failed
    /// loads (an error page's 4xx status, a missing favicon) are the network's, not these.
    /// In Firefox: the violations it reported to the server.
    pub async fn problems(&self) -> Vec<String> {
        if let Some((metrics, seen)) = &self.reports {
            let now = violations_reported(metrics).await;
            let before = std::mem::replace(&mut *seen.lock().unwrap(), now.clone());
            return now
                .into_iter()
                .filter_map(|(directive, n)| {
                    let new = n - before.get(&directive).copied().unwrap_or(0);
                    (new > 0).then(|| {
                        format!("{new} Content Security Policy violation(s) of {directive}, reported to the server")
                    })
                })
                .collect();
        }
        self.log()
            .await
            .into_iter()
            .filter(|(level, source, message)| {
                message.contains("Content Security Policy")
                    || (level == "SEVERE" && source != "network")
            })
            .map(|(_, source, message)| format!("[{source}] {message}"))
            .collect()
    }

    /// Fails the test on any CSP violation or script error since the last look.
    pub async fn assert_clean(&self) {
        let problems = self.problems().await;
        assert!(
            problems.is_empty(),
            "the browser reported problems on {}:\n{}",
            self.here().await,
            problems.join("\n")
        );
    }

    /// Checks the log once more and puts the session back in the pool (Firefox: ends it,
    /// after giving a last report time to arrive).
    pub async fn done(self) {
        if self.browser == Browser::Firefox {
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.assert_clean().await;
            self.c.close().await.unwrap();
            FIREFOX_SESSION.lock().unwrap().take();
            return;
        }
        self.assert_clean().await;
        IDLE.lock().unwrap().push(self.id.clone());
    }

    pub async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap();
        self.settle().await;
    }

    /// The element, waiting for it to appear (a page may still be loading on a busy machine).
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks something that does not leave the page.
    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    /// Clicks a link or submit button and waits until the navigation it starts has settled
    /// (through any redirects and pages that navigate on).
    pub async fn follow(&self, css: &str) {
        self.c
            .execute("window.__lkOld = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        self.settle().await;
    }

    /// Waits until the page is a complete document without the old page's mark, and no
    /// `<meta http-equiv=refresh>` is about to move it on.
    pub async fn settle(&self) {
        for _ in 0..200 {
            let settled = self
                .c
                .execute(
                    "return window.__lkOld === undefined && document.readyState === 'complete' \
                     && document.URL !== 'about:blank' \
                     && !document.querySelector('meta[http-equiv=refresh]');",
                    vec![],
                )
                .await;
            if matches!(settled, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the page did not settle on {}; the browser reported: {:?}",
            self.here().await,
            self.problems().await
        );
    }

    pub async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.unwrap()
    }

    pub async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    /// The current URL for a failure message (empty when the browser cannot say).
    async fn here(&self) -> String {
        self.c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn url(&self) -> url::Url {
        self.c.current_url().await.unwrap()
    }

    /// The path and query of the current page.
    pub async fn path(&self) -> String {
        let url = self.url().await;
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Screenshots of the current page at 1366×900 and as a 390×844 phone:
    /// `{name}.png` and `{name}-phone.png`. On the phone the page must not be wider than the
    /// screen (wide tables scroll inside their own box).
    pub async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        if self.browser == Browser::Firefox {
            std::fs::write(screenshots().join(format!("{name}-firefox.png")), png).unwrap();
            return;
        }
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({ "width": 390, "height": 844, "deviceScaleFactor": 1,
                                "mobile": true }),
        )
        .await;
        let width = self
            .c
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await
            .unwrap();
        // The whole page (up to 3,000 px), not only its first screen.
        let height = self
            .c
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(844)
            .clamp(844, 3000);
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({ "width": 390, "height": height, "deviceScaleFactor": 1,
                                "mobile": true }),
        )
        .await;
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}-phone.png")), png).unwrap();
        assert!(
            width.as_u64().is_some_and(|w| w <= 390),
            "{name}: the page is {width} px wide on a 390 px phone ({})",
            self.here().await
        );
        self.cdp(
            "Emulation.clearDeviceMetricsOverride",
            serde_json::json!({}),
        )
        .await;
    }

    /// Makes the window a 390×844 phone (`true`) or the desktop again (`false`), for steps
    /// that only a phone shows (the console's menu).
    pub async fn phone(&self, on: bool) {
        if on {
            self.cdp(
                "Emulation.setDeviceMetricsOverride",
                serde_json::json!({ "width": 390, "height": 844, "deviceScaleFactor": 1,
                                    "mobile": true }),
            )
            .await;
        } else {
            self.cdp(
                "Emulation.clearDeviceMetricsOverride",
                serde_json::json!({}),
            )
            .await;
        }
    }

    /// A screenshot of the window as it is now: `{name}.png`.
    pub async fn shot_as_is(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    /// Lets the browser save downloads into `dir`.
    pub async fn download_to(&self, dir: &std::path::Path) {
        self.cdp(
            "Browser.setDownloadBehavior",
            serde_json::json!({ "behavior": "allow", "downloadPath": dir.to_str().unwrap() }),
        )
        .await;
    }
}

/// Adds an inline script to the page, which our CSP must refuse.
async fn inject_inline_script(tab: &Tab) {
    tab.c
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.x = 1;'; \
             document.body.appendChild(s);",
            vec![],
        )
        .await
        .unwrap();
}

/// The harness notices what it is there to notice: an inline script on one of our pages is
/// refused by the CSP, and the refusal is reported.
#[tokio::test]
async fn a_csp_violation_is_reported() {
    let app = crate::harness::TestApp::spawn().await;
    app.create_tenant("acme");
    let tab = open().await;
    tab.goto(&app.url("acme", "/login")).await;
    tab.assert_clean().await;
    inject_inline_script(&tab).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let problems = tab.problems().await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Content Security Policy")),
        "{problems:?}"
    );
    tab.done().await;
}

/// In Firefox the same: the refusal reaches the server as a report, and the harness sees it.
#[tokio::test]
async fn a_csp_violation_in_firefox_is_reported_to_the_server() {
    let app = crate::harness::TestApp::spawn().await;
    app.create_tenant("acme");
    let tab = open_firefox(&app).await;
    tab.goto(&app.url("acme", "/login")).await;
    inject_inline_script(&tab).await;
    let mut problems = vec![];
    for _ in 0..100 {
        problems = tab.problems().await;
        if !problems.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(problems.len(), 1, "{problems:?}");
    let x = tab
        .c
        .execute("return window.x === undefined;", vec![])
        .await;
    assert_eq!(
        x.unwrap(),
        serde_json::Value::Bool(true),
        "the script did not run"
    );
    tab.done().await;
}
