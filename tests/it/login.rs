//! Signing in over HTTP as a browser would: password step, sessions and cookies, lockout,
//! throttling, uniform failures, CSRF, return_to, IP rules and tenant binding.

use crate::browser::{Browser, Page};
use crate::harness::{Spawn, TestApp};

pub const PW: &str = "Violet-Harbour-93";
pub const LOGIN_FAILED: &str = "The username or password is not right";

pub async fn app_with_alice() -> TestApp {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_user("acme", "alice", PW);
    app
}

pub fn policy(app: &TestApp, slug: &str, settings: &[&str]) {
    let mut args = vec!["tenant", "policy", slug];
    for s in settings {
        args.push("--set");
        args.push(s);
    }
    args.push("--json");
    let out = app.cli(&args);
    assert!(out.ok(), "policy {settings:?}: {}", out.stderr);
    // The server notices the change within a second (epoch poll); don't wait for it here.
    app.svc.caches.clear();
}

/// The first row of a query's result.
async fn first_row(app: &TestApp, sql: &str) -> sea_orm::QueryResult {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(&app.db.url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row: {sql}"));
    db.close().await.ok();
    row
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    let row = first_row(app, sql).await;
    row.try_get_by_index(0)
        .unwrap_or_else(|_| i64::from(row.try_get_by_index::<i32>(0).expect("an integer")))
}

/// The first column of every row, as text.
pub async fn rows(app: &TestApp, sql: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(&app.db.url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap();
    db.close().await.ok();
    rows.iter()
        .map(|r| r.try_get_by_index(0).expect("text"))
        .collect()
}

/// The first column of the first row, as text.
pub async fn text(app: &TestApp, sql: &str) -> String {
    first_row(app, sql).await.try_get_by_index(0).expect("text")
}

fn session_cookie_header(page: &Page) -> Option<&String> {
    page.set_cookies
        .iter()
        .find(|c| c.starts_with("lk_session="))
}

#[tokio::test]
async fn password_login_happy_path_sets_a_safe_cookie_and_reaches_the_account() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    let page = b.get("/login").await;
    assert_eq!(page.status, 200);
    assert!(page.has("acme Inc"), "tenant name on the page");
    assert!(page.has("<label for=\"login\">") && page.has("<label for=\"password\">"));
    assert_eq!(
        page.headers.get("cache-control").unwrap(),
        "no-store",
        "login pages are not cached"
    );

    let res = b.login("alice", PW).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some("/account"));
    let cookie = session_cookie_header(&res).expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.to_ascii_lowercase().contains("domain="),
        "host-only: {cookie}"
    );
    let token = b.session_cookie().unwrap();
    assert!(token.len() >= 43, "256-bit token");
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM sessions WHERE token_hash = '{token}'")
        )
        .await,
        0,
        "the token is stored only hashed"
    );

    let account = b.follow(res).await;
    assert_eq!(account.status, 200);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.password' AND outcome = \
             'success' AND source_ip = '127.0.0.1' AND user_agent = 'TestBrowser/1.0' \
             AND route = '/login'"
        )
        .await,
        1,
        "the sign-in is audited with where it came from"
    );
    assert!(account.has("id=\"username\">alice<"), "{}", account.body);

    // Login by e-mail works too.
    let b2 = Browser::new(&app, "acme");
    let res = b2.login("ALICE@acme.test", PW).await;
    assert_eq!(res.location.as_deref(), Some("/account"));
}

#[tokio::test]
async fn unauthenticated_account_pages_redirect_to_login_with_return_to() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    let page = b.get("/account/sessions").await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("/login?return_to=/account/sessions")
    );
    let login = b.get(page.location.as_deref().unwrap()).await;
    assert_eq!(
        login.field("return_to").as_deref(),
        Some("/account/sessions")
    );
    let csrf = login.csrf();
    let res = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("login", "alice"),
                ("password", PW),
                ("return_to", "/account/sessions"),
            ],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/account/sessions"));
}

#[tokio::test]
async fn return_to_another_host_is_ignored() {
    let app = app_with_alice().await;
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http://acme.localhost.evil.example/",
        "javascript:alert(1)",
    ] {
        let b = Browser::new(&app, "acme");
        let page = b
            .get(&format!("/login?return_to={}", urlencode(evil)))
            .await;
        assert_eq!(page.field("return_to").as_deref(), Some(""), "{evil}");
        let csrf = page.csrf();
        let res = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("login", "alice"),
                    ("password", PW),
                    ("return_to", evil),
                ],
            )
            .await;
        assert_eq!(res.status, 303);
        assert_eq!(res.location.as_deref(), Some("/account"), "{evil}");
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn csrf_token_missing_or_wrong_is_refused_and_changes_nothing() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    let page = b.get("/login").await;
    let good = page.csrf();
    let missing = b
        .post("/login", &[("login", "alice"), ("password", PW)])
        .await;
    assert_eq!(missing.status, 403);
    let wrong = b
        .post(
            "/login",
            &[
                ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("login", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    // A token minted for another browser (another CSRF cookie) does not work here either.
    let other = Browser::new(&app, "acme");
    let theirs = other.get("/login").await.csrf();
    assert_ne!(theirs, good);
    let foreign = b
        .post(
            "/login",
            &[("csrf", &theirs), ("login", "alice"), ("password", PW)],
        )
        .await;
    assert_eq!(foreign.status, 403);
    assert!(b.session_cookie().is_none(), "no session was created");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(
        count(&app, "SELECT COALESCE(MAX(failed_logins), 0) FROM users").await,
        0,
        "refused forms are not login attempts"
    );

    // Signed in, a forged profile change is refused too.
    let res = b.login("alice", PW).await;
    assert_eq!(res.status, 303);
    let forged = b
        .post(
            "/account/profile",
            &[
                ("csrf", "forged"),
                ("display_name", "Mallory"),
                ("email", "m@evil.test"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.has("Nothing was changed"));
    let profile = b.get("/account").await;
    assert!(profile.has("value=\"alice@acme.test\""), "e-mail unchanged");
}

#[tokio::test]
async fn unknown_wrong_locked_disabled_and_restricted_look_the_same() {
    let app = app_with_alice().await;
    app.create_user("acme", "bob", PW);
    app.create_user("acme", "carol", PW);
    app.create_user("acme", "dave", PW);
    assert!(
        app.cli(&[
            "user",
            "set-status",
            "--tenant",
            "acme",
            "carol",
            "disabled"
        ])
        .ok()
    );
    assert!(
        app.cli(&[
            "user",
            "set-status",
            "--tenant",
            "acme",
            "dave",
            "restricted"
        ])
        .ok()
    );
    // Lock bob.
    let b = Browser::new(&app, "acme");
    for _ in 0..5 {
        b.login("bob", "wrong-password-123").await;
    }

    let kinds = [
        ("nobody", PW),                  // unknown
        ("alice", "wrong-password-123"), // wrong password
        ("bob", PW),                     // locked (right password)
        ("carol", PW),                   // disabled (right password)
        ("dave", PW),                    // restricted (right password)
    ];
    let mut first: Option<(Option<String>, String)> = None;
    for (login, password) in kinds {
        let b = Browser::new(&app, "acme");
        let csrf = b.get("/login").await.csrf();
        let checks_before = password_checks(&app).await;
        let res = b
            .post(
                "/login",
                &[("csrf", &csrf), ("login", login), ("password", password)],
            )
            .await;
        // Every kind pays for exactly one argon2 verification (a stand-in one when there is
        // no usable account), so none answers conspicuously fast.
        assert_eq!(
            password_checks(&app).await,
            checks_before + 1,
            "{login}: one password check"
        );
        assert_eq!(res.status, 401, "{login}");
        assert!(b.session_cookie().is_none(), "{login}");
        let body = res
            .without_csrf()
            .replace(&format!("value=\"{login}\""), "");
        match &first {
            None => first = Some((res.alert(), body)),
            Some((alert, page)) => {
                assert_eq!(&res.alert(), alert, "{login}: same message");
                assert_eq!(&body, page, "{login}: same page");
            }
        }
    }
    assert!(first.unwrap().0.unwrap().starts_with(LOGIN_FAILED));
}

/// `latchkey_password_verifications_total` from `/metrics`.
pub async fn password_checks(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("latchkey_password_verifications_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no password check counter in {text}"))
}

#[tokio::test]
async fn lockout_after_five_failures_then_expiry_and_cli_unlock() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    for i in 1..=5 {
        let res = b.login("alice", "not-the-password-1").await;
        assert_eq!(res.status, 401, "attempt {i}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.lockout'"
        )
        .await,
        1,
        "the lockout is audited"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.password' AND outcome = 'failure'"
        )
        .await,
        5,
        "each failure is audited"
    );
    // Locked: the right password does not help, and the message is the generic one.
    let res = b.login("alice", PW).await;
    assert_eq!(res.status, 401);
    assert!(res.alert().unwrap().starts_with(LOGIN_FAILED));

    // The lock expires (moved into the past rather than waiting 15 minutes).
    app.sql("UPDATE users SET locked_until = 1 WHERE username = 'alice'")
        .await;
    let res = b.login("alice", PW).await;
    assert_eq!(res.status, 303, "the lock has expired");
    assert_eq!(
        count(
            &app,
            "SELECT failed_logins FROM users WHERE username = 'alice'"
        )
        .await,
        0,
        "a success resets the counter"
    );

    // Lock again; the operator unlocks.
    let b2 = Browser::new(&app, "acme");
    for _ in 0..5 {
        b2.login("alice", "not-the-password-1").await;
    }
    assert_eq!(b2.login("alice", PW).await.status, 401);
    let out = app.cli(&["user", "unlock", "--tenant", "acme", "alice", "--json"]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.json()["was_locked"], true);
    assert_eq!(b2.login("alice", PW).await.status, 303);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'user.unlock'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn permanent_lockout_waits_for_an_admin() {
    let app = app_with_alice().await;
    policy(
        &app,
        "acme",
        &["lockout.permanent=true", "lockout.max_failures=3"],
    );
    let b = Browser::new(&app, "acme");
    for _ in 0..3 {
        b.login("alice", "not-the-password-1").await;
    }
    // Even "a long time later" the lock holds.
    app.sql("UPDATE users SET last_failed_at = 1").await;
    assert_eq!(b.login("alice", PW).await.status, 401);
    assert!(
        app.cli(&["user", "unlock", "--tenant", "acme", "alice"])
            .ok()
    );
    assert_eq!(b.login("alice", PW).await.status, 303);
}

#[tokio::test]
async fn twenty_parallel_wrong_passwords_never_get_more_than_five_tries() {
    let app = app_with_alice().await;
    // Every browser fetches its form first, then all post at once.
    let mut forms = Vec::new();
    for _ in 0..20 {
        let b = Browser::new(&app, "acme");
        let csrf = b.get("/login").await.csrf();
        forms.push((b, csrf));
    }
    let mut tasks = Vec::new();
    for (i, (b, csrf)) in forms.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let pw = format!("wrong-password-{i:02}");
            b.post(
                "/login",
                &[("csrf", &csrf), ("login", "alice"), ("password", &pw)],
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.password' \
         AND detail LIKE '%wrong_secret%'",
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(
        checked, 5,
        "exactly five passwords were checked, the rest met the lock"
    );
    assert_eq!(
        count(
            &app,
            "SELECT failed_logins FROM users WHERE username = 'alice'"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.lockout'"
        )
        .await,
        1
    );
    // And the right password does not get in now.
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        401
    );
}

#[tokio::test]
async fn ip_throttle_slows_a_network_spraying_many_accounts() {
    let app = app_with_alice().await;
    policy(&app, "acme", &["lockout.ip_max_failures=3"]);
    let b = Browser::new(&app, "acme");
    for user in ["u1", "u2", "u3"] {
        assert_eq!(b.login(user, "whatever-password").await.status, 401);
    }
    let res = b.login("alice", PW).await;
    assert_eq!(res.status, 429);
    assert!(res.alert().unwrap().contains("too many failed attempts"));
    assert!(b.session_cookie().is_none());
}

#[tokio::test]
async fn session_is_rotated_at_login_and_logout_ends_it_server_side() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    let first = b.session_cookie().unwrap();
    // Signing in again in the same browser gives a new session and ends the old one.
    assert_eq!(b.login("alice", PW).await.status, 303);
    let second = b.session_cookie().unwrap();
    assert_ne!(first, second);
    let old =
        Browser::get_with_cookie(&app, "acme", "/account", &format!("lk_session={first}")).await;
    assert_eq!(old.status, 303, "the pre-login session is dead");
    assert!(old.location.unwrap().starts_with("/login"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 1);

    // Logout ends it on the server: the cookie value replayed later is useless.
    let csrf = b.get("/account").await.csrf();
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 200);
    assert!(out.has("You are signed out"));
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("lk_session=;") && c.contains("Max-Age=0"))
    );
    let replay =
        Browser::get_with_cookie(&app, "acme", "/account", &format!("lk_session={second}")).await;
    assert_eq!(replay.status, 303);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'logout'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_session_cookie_from_tenant_a_is_useless_at_tenant_b() {
    let app = app_with_alice().await;
    app.create_tenant("globex");
    app.create_user("globex", "alice", PW);
    let a = Browser::new(&app, "acme");
    assert_eq!(a.login("alice", PW).await.status, 303);
    let token = a.session_cookie().unwrap();
    let at_b =
        Browser::get_with_cookie(&app, "globex", "/account", &format!("lk_session={token}")).await;
    assert_eq!(at_b.status, 303, "no session at globex");
    assert!(at_b.location.unwrap().starts_with("/login"));
    // And the session at acme is untouched by the attempt.
    let at_a =
        Browser::get_with_cookie(&app, "acme", "/account", &format!("lk_session={token}")).await;
    assert_eq!(at_a.status, 200);
    // The same username and password at globex is a separate account with its own counter.
    let b = Browser::new(&app, "globex");
    for _ in 0..5 {
        b.login("alice", "wrong-password-xx").await;
    }
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        303,
        "acme unaffected"
    );
}

#[tokio::test]
async fn idle_and_absolute_timeouts_follow_the_tenant_policy() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    assert_eq!(b.get("/account").await.status, 200);
    // Idle past the default 30 minutes.
    let idle = latchkey::now_ms() - 31 * 60_000;
    app.sql(&format!("UPDATE sessions SET last_seen_at = {idle}"))
        .await;
    assert_eq!(b.get("/account").await.status, 303, "idle session expired");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sessions").await,
        0,
        "and deleted"
    );

    // Active, but older than the absolute limit (set to 1 hour).
    policy(&app, "acme", &["session.absolute_hours=1"]);
    assert_eq!(b.login("alice", PW).await.status, 303);
    let old = latchkey::now_ms() - 61 * 60_000;
    app.sql(&format!("UPDATE sessions SET created_at = {old}"))
        .await;
    assert_eq!(
        b.get("/account").await.status,
        303,
        "absolute limit reached"
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    assert_eq!(b.get("/account").await.status, 200);
    let out = app.cli(&[
        "user",
        "set-status",
        "--tenant",
        "acme",
        "alice",
        "disabled",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.json()["sessions_ended"], 1);
    assert_eq!(b.get("/account").await.status, 303);
    // Even a session that slipped through is refused when the user is not active.
    assert!(
        app.cli(&["user", "set-status", "--tenant", "acme", "alice", "active"])
            .ok()
    );
    assert_eq!(b.login("alice", PW).await.status, 303);
    app.sql("UPDATE users SET status = 'restricted'").await;
    assert_eq!(b.get("/account").await.status, 303);
}

#[tokio::test]
async fn ip_deny_and_allow_rules() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    policy(&app, "acme", &["ip.deny=127.0.0.0/8"]);
    let page = b.get("/login").await;
    assert_eq!(page.status, 403);
    assert!(page.has("not available from your network"));
    policy(
        &app,
        "acme",
        &["ip.deny=[]", "ip.allow=10.0.0.0/8,2001:db8::/32"],
    );
    assert_eq!(b.get("/login").await.status, 403, "not on the allow list");
    policy(&app, "acme", &["ip.allow=10.0.0.0/8,127.0.0.1/32"]);
    assert_eq!(b.get("/login").await.status, 200);
    assert_eq!(b.login("alice", PW).await.status, 303);
    // A session made from an allowed network stops working from a denied one.
    policy(&app, "acme", &["ip.deny=127.0.0.1/32"]);
    assert_eq!(b.get("/account").await.status, 403);
    // Bad rules are refused and change nothing.
    let out = app.cli(&["tenant", "policy", "acme", "--set", "ip.allow=10.0.0.0/33"]);
    assert!(!out.ok());
    assert!(out.stderr.contains("ip.allow"), "{}", out.stderr);
}

#[tokio::test]
async fn ip_rules_use_the_forwarded_address_only_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(Spawn {
        extra_env: vec![("LATCHKEY_TRUST_PROXY".into(), "true".into())],
    })
    .await;
    app.create_tenant("acme");
    policy(&app, "acme", &["ip.deny=203.0.113.0/24,2001:db8:bad::/48"]);
    let client = crate::harness::client();
    let get = |xff: &'static str| {
        let client = client.clone();
        let url = app.url("acme", "/login");
        async move {
            client
                .get(url)
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get("203.0.113.9").await, 403);
    assert_eq!(
        get("198.51.100.1, 203.0.113.9").await,
        403,
        "the proxy's entry is the last"
    );
    assert_eq!(
        get("203.0.113.9, 198.51.100.1").await,
        200,
        "a client-supplied entry is ignored"
    );
    assert_eq!(get("2001:db8:bad::1").await, 403);
    assert_eq!(get("2001:db8:900d::1").await, 200);

    // Without trust_proxy the header is ignored.
    let plain = TestApp::spawn().await;
    plain.create_tenant("acme");
    policy(&plain, "acme", &["ip.deny=203.0.113.0/24"]);
    let status = client
        .get(plain.url("acme", "/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn oversized_and_malformed_input_gets_a_clear_answer() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    let long = "x".repeat(5000);
    let res = b.login(&long, PW).await;
    assert_eq!(res.status, 401);
    let res = b.login("alice", &long).await;
    assert_eq!(res.status, 401);
    assert!(res.alert().unwrap().starts_with(LOGIN_FAILED));
    // A body over the server limit is refused before parsing.
    let huge = "a".repeat(2 * 1024 * 1024);
    let csrf = b.get("/login").await.csrf();
    let res = b
        .post(
            "/login",
            &[("csrf", &csrf), ("login", "alice"), ("password", &huge)],
        )
        .await;
    assert_eq!(res.status, 413);
    assert!(
        res.has("too large"),
        "a page that says what is wrong: {}",
        res.body
    );
    // Not a form at all.
    let res = b
        .client
        .post(b.url("/login"))
        .header("content-type", "text/plain")
        .body("login=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert!(res.text().await.unwrap().contains("could not be accepted"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn login_pages_exist_only_on_tenant_hosts() {
    let app = app_with_alice().await;
    let client = crate::harness::client();
    let res = client.get(app.base_url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = client
        .get(app.url("nosuch", "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn over_https_cookies_are_host_prefixed_secure_and_survive_cross_site_posts() {
    // TLS terminated at a proxy: the public URL is https, the node speaks plain HTTP.
    let app = TestApp::spawn_with(Spawn {
        extra_env: vec![("LATCHKEY_PUBLIC_URL".into(), "https://localhost".into())],
    })
    .await;
    app.create_tenant("acme");
    app.create_user("acme", "alice", PW);
    let client = crate::harness::client();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", app.port);
    let page = client
        .get(url("/login"))
        .header("host", "acme.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("strict-transport-security"));
    let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(csrf_cookie.starts_with("__Host-lk_csrf="), "{csrf_cookie}");
    assert!(
        csrf_cookie.contains("; Secure") && csrf_cookie.contains("Path=/"),
        "{csrf_cookie}"
    );
    assert!(!csrf_cookie.to_ascii_lowercase().contains("domain="));
    let pair = csrf_cookie.split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let token = crate::browser::field(&body, "csrf").unwrap();
    let res = client
        .post(url("/login"))
        .header("host", "acme.localhost")
        .header("cookie", &pair)
        .form(&[
            ("csrf", token.as_str()),
            ("login", "alice"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = res.headers()["set-cookie"].to_str().unwrap();
    assert!(session.starts_with("__Host-lk_session="), "{session}");
    for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=None"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    // The plain-HTTP cookie name means nothing on an https deployment.
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let res = client
        .get(url("/account"))
        .header("host", "acme.localhost")
        .header("cookie", format!("lk_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = client
        .get(url("/account"))
        .header("host", "acme.localhost")
        .header("cookie", format!("__Host-lk_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
