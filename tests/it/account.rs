//! Password policy and changes, forced change, TOTP enrolment and login, recovery codes,
//! password reset by e-mail, self-service sessions and profile, and secrets at rest.

use crate::browser::{Browser, Page, now_unix, totp};
use crate::harness::TestApp;
use crate::key_custody::{contains, hex, raw_dump};
use crate::login::{PW, app_with_alice, count, policy};

fn problems(page: &Page) -> String {
    page.alert().unwrap_or_default()
}

async fn change(b: &Browser, current: &str, new: &str) -> Page {
    b.submit(
        "/account/password",
        "/account/password",
        &[("current", current), ("new", new), ("confirm", new)],
    )
    .await
}

#[tokio::test]
async fn password_policy_rules_are_enforced_and_nothing_changes_on_refusal() {
    let app = app_with_alice().await;
    policy(
        &app,
        "acme",
        &["password.required_classes=3", "password.min_length=14"],
    );
    let b = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    for (new, expect) in [
        ("Short-1a", "at least 14 characters"),
        ("onlylowercaseletters", "Mix at least 3"),
        ("Alice-Is-Great-2024", "username or e-mail"),
        ("Password12345!", "too common"),
        (&"Ab1-".repeat(40) as &str, "at most 128"),
    ] {
        let res = change(&b, PW, new).await;
        assert_eq!(res.status, 422, "{new}");
        assert!(problems(&res).contains(expect), "{new}: {}", problems(&res));
    }
    let mismatch = b
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current", PW),
                ("new", "Granite-Orbit-4471"),
                ("confirm", "Granite-Orbit-4472"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(problems(&mismatch).contains("not the same"));
    let wrong_current = change(&b, "Not-My-Password-1", "Granite-Orbit-4471").await;
    assert_eq!(wrong_current.status, 422);
    assert!(problems(&wrong_current).contains("current password is not right"));
    // The old password still works: nothing was changed.
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        303
    );
    // A policy rule the tenant sets also binds the operator's `user create`.
    let out = app.cli_with(
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "bob",
            "--email",
            "bob@acme.test",
            "--password-stdin",
        ],
        &[],
        Some("password1234"),
    );
    assert!(!out.ok());
    assert!(out.stderr.contains("policy"), "{}", out.stderr);
}

#[tokio::test]
async fn password_change_ends_other_sessions_and_history_blocks_reuse() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    let other = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    assert_eq!(other.login("alice", PW).await.status, 303);
    let before = b.session_cookie().unwrap();

    let res = change(&b, PW, "Granite-Orbit-4471").await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some("/account?changed=1"));
    assert_ne!(
        b.session_cookie().unwrap(),
        before,
        "new token after the change"
    );
    assert_eq!(b.get("/account").await.status, 200, "this session goes on");
    assert_eq!(
        other.get("/account").await.status,
        303,
        "the other one is ended"
    );

    // History: the last five passwords (including the current one) are refused.
    let mut current = "Granite-Orbit-4471".to_owned();
    let res = change(&b, &current, PW).await;
    assert_eq!(res.status, 422);
    assert!(problems(&res).contains("used this password recently"));
    let res = change(&b, &current, &current.clone()).await;
    assert!(problems(&res).contains("used this password recently"));
    for next in [
        "Copper-Meadow-1182",
        "Silent-Lantern-5520",
        "Brisk-Canyon-7731",
        "Amber-Falcon-2209",
    ] {
        let res = change(&b, &current, next).await;
        assert_eq!(res.status, 303, "{next}: {}", problems(&res));
        current = next.to_owned();
    }
    // Five changes later the first password has left the history.
    let res = change(&b, &current, PW).await;
    assert_eq!(res.status, 303, "{}", problems(&res));
    assert!(count(&app, "SELECT COUNT(*) FROM password_history").await <= 5);
}

#[tokio::test]
async fn forced_password_change_comes_before_anything_else() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme");
    let otp = tenant["admin"]["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = Browser::new(&app, "acme");
    let res = b.login("admin", &otp).await;
    assert_eq!(res.location.as_deref(), Some("/login/password"));
    // Nothing else is reachable in this state.
    for path in ["/account", "/account/mfa", "/account/sessions"] {
        let p = b.get(path).await;
        assert_eq!(p.location.as_deref(), Some("/login/password"), "{path}");
    }
    let page = b.get("/login/password").await;
    assert!(page.has("choose a new password"));
    let res = b
        .post(
            "/login/password",
            &[("csrf", &page.csrf()), ("new", &otp), ("confirm", &otp)],
        )
        .await;
    assert!(
        problems(&res).contains("used this password recently"),
        "the one-time password cannot stay"
    );
    let res = b
        .submit(
            "/login/password",
            "/login/password",
            &[
                ("new", "Granite-Orbit-4471"),
                ("confirm", "Granite-Orbit-4471"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some("/account"));
    assert_eq!(b.get("/account").await.status, 200);
    // An operator reset puts the user back into that state.
    let out = app.cli(&[
        "user",
        "reset-password",
        "--tenant",
        "acme",
        "admin",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(
        b.get("/account").await.status,
        303,
        "sessions ended by the reset"
    );
    let otp2 = out.json()["one_time_password"].as_str().unwrap().to_owned();
    assert_eq!(
        b.login("admin", &otp2).await.location.as_deref(),
        Some("/login/password")
    );
    // So does an initial password the operator typed in (unless it is the person's own).
    let out = app.cli_with(
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "bob",
            "--email",
            "bob@acme.test",
            "--password-stdin",
            "--json",
        ],
        &[],
        Some(PW),
    );
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.json()["must_change_password"], true);
    let c = Browser::new(&app, "acme");
    assert_eq!(
        c.login("bob", PW).await.location.as_deref(),
        Some("/login/password")
    );
}

#[tokio::test]
async fn expired_passwords_must_be_changed() {
    let app = app_with_alice().await;
    policy(&app, "acme", &["password.max_age_days=90"]);
    let b = Browser::new(&app, "acme");
    assert_eq!(
        b.login("alice", PW).await.location.as_deref(),
        Some("/account")
    );
    let old = latchkey::now_ms() - 91 * 86_400_000;
    app.sql(&format!("UPDATE users SET password_changed_at = {old}"))
        .await;
    assert_eq!(
        b.login("alice", PW).await.location.as_deref(),
        Some("/login/password")
    );
}

/// Enrols TOTP for a signed-in browser; returns the key and the recovery codes.
async fn enrol(b: &Browser) -> (String, Vec<String>) {
    let page = b.submit("/account/mfa", "/account/mfa/enrol", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has("<svg"), "QR code rendered server-side");
    let key = between(&page.body, "<code id=\"manual-key\">", "</code>");
    // A wrong code does not confirm.
    let wrong = b
        .post(
            "/account/mfa/confirm",
            &[("csrf", &page.csrf()), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    let code = totp(&key, now_unix());
    let done = b
        .post(
            "/account/mfa/confirm",
            &[("csrf", &page.csrf()), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let codes = recovery_codes(&done);
    assert_eq!(codes.len(), 10);
    (key, codes)
}

fn recovery_codes(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_owned())
        .collect()
}

fn between(body: &str, start: &str, end: &str) -> String {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {body}"))
        + start.len();
    let j = body[i..].find(end).unwrap() + i;
    body[i..j].to_owned()
}

#[tokio::test]
async fn totp_login_refuses_replay_and_recovery_codes_work_once() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    let (key, codes) = enrol(&b).await;
    assert!(b.get("/account/mfa").await.has("10 recovery codes left"));

    // Next login asks for a code; the pending session reaches nothing else.
    let c = Browser::new(&app, "acme");
    let res = c.login("alice", PW).await;
    assert_eq!(res.location.as_deref(), Some("/login/mfa"));
    let pending = c.session_cookie().unwrap();
    assert_eq!(
        c.get("/account").await.location.as_deref(),
        Some("/login/mfa")
    );
    // The code of the next step (within the allowed skew) signs in…
    let code = totp(&key, now_unix() + 30);
    let res = c
        .submit("/login/mfa", "/login/mfa", &[("code", &code)])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some("/account"));
    assert_ne!(
        c.session_cookie().unwrap(),
        pending,
        "rotated after the second factor"
    );
    assert_eq!(c.get("/account").await.status, 200);

    // …and the same code never works again, nor any earlier one.
    let d = Browser::new(&app, "acme");
    assert_eq!(
        d.login("alice", PW).await.location.as_deref(),
        Some("/login/mfa")
    );
    let res = d
        .submit("/login/mfa", "/login/mfa", &[("code", &code)])
        .await;
    assert_eq!(res.status, 401, "replayed step refused");
    let res = d
        .submit(
            "/login/mfa",
            "/login/mfa",
            &[("code", &totp(&key, now_unix()))],
        )
        .await;
    assert_eq!(res.status, 401, "an earlier step is refused too");
    // A recovery code works once…
    let res = d
        .submit(
            "/login/mfa",
            "/login/mfa",
            &[("code", &codes[0].to_uppercase())],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    // …and only once.
    let e = Browser::new(&app, "acme");
    assert_eq!(
        e.login("alice", PW).await.location.as_deref(),
        Some("/login/mfa")
    );
    let res = e
        .submit("/login/mfa", "/login/mfa", &[("code", &codes[0])])
        .await;
    assert_eq!(res.status, 401);
    assert!(b.get("/account/mfa").await.has("9 recovery codes left"));
    // Code failures count toward lockout (d's success reset the counter): e has 1, 4 more lock.
    for _ in 0..4 {
        e.submit("/login/mfa", "/login/mfa", &[("code", "123456")])
            .await;
    }
    let res = e
        .submit("/login/mfa", "/login/mfa", &[("code", &codes[1])])
        .await;
    assert_eq!(
        res.status, 401,
        "locked: even a good recovery code is refused"
    );
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        401
    );
    assert!(e.get("/login").await.status == 200);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.mfa' AND outcome = 'failure'"
        )
        .await,
        2 + 5 + 1,
        "every code failure is audited, the one refused while locked too"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.lockout'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn regenerating_and_removing_mfa_need_the_password() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    assert_eq!(b.login("alice", PW).await.status, 303);
    let (_, old_codes) = enrol(&b).await;
    let res = b
        .submit(
            "/account/mfa",
            "/account/mfa/recovery-codes",
            &[("password", "wrong-password-1")],
        )
        .await;
    assert_eq!(res.status, 401);
    let res = b
        .submit(
            "/account/mfa",
            "/account/mfa/recovery-codes",
            &[("password", PW)],
        )
        .await;
    assert_eq!(res.status, 200);
    let new_codes = recovery_codes(&res);
    assert_eq!(new_codes.len(), 10);
    // Old codes no longer work.
    let c = Browser::new(&app, "acme");
    c.login("alice", PW).await;
    assert_eq!(
        c.submit("/login/mfa", "/login/mfa", &[("code", &old_codes[0])])
            .await
            .status,
        401
    );
    assert_eq!(
        c.submit("/login/mfa", "/login/mfa", &[("code", &new_codes[0])])
            .await
            .status,
        303
    );

    let res = b
        .submit(
            "/account/mfa",
            "/account/mfa/remove",
            &[("password", "wrong-password-1")],
        )
        .await;
    assert_eq!(res.status, 401);
    let res = b
        .submit("/account/mfa", "/account/mfa/remove", &[("password", PW)])
        .await;
    assert_eq!(res.status, 200);
    assert!(res.has("Two-step verification is off"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM recovery_codes").await, 0);
    assert_eq!(
        Browser::new(&app, "acme")
            .login("alice", PW)
            .await
            .location
            .as_deref(),
        Some("/account")
    );
}

#[tokio::test]
async fn required_mfa_forces_enrolment_right_after_the_password() {
    let app = app_with_alice().await;
    policy(&app, "acme", &["mfa=required"]);
    let b = Browser::new(&app, "acme");
    let res = b.login("alice", PW).await;
    assert_eq!(res.location.as_deref(), Some("/login/enrol"));
    assert_eq!(
        b.get("/account").await.location.as_deref(),
        Some("/login/enrol")
    );
    let page = b.get("/login/enrol").await;
    assert!(page.has("requires a second step"));
    assert!(page.has("<svg"));
    let key = between(&page.body, "<code id=\"manual-key\">", "</code>");
    // Reloading shows the same pending key (it is stored, sealed).
    assert!(b.get("/login/enrol").await.has(&key));
    let res = b
        .post(
            "/login/enrol",
            &[("csrf", &page.csrf()), ("code", &totp(&key, now_unix()))],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(recovery_codes(&res).len(), 10);
    assert_eq!(b.get("/account").await.status, 200);
    // Next time: password, then code.
    let c = Browser::new(&app, "acme");
    assert_eq!(
        c.login("alice", PW).await.location.as_deref(),
        Some("/login/mfa")
    );
}

/// The newest `.eml` in the outbox, and the reset link in it.
pub fn newest_mail(app: &TestApp) -> Option<(String, String)> {
    let dir = app.data_dir().join("outbox");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort_by_key(|e| e.metadata().unwrap().modified().unwrap());
    let text = std::fs::read_to_string(files.last()?.path()).ok()?;
    // Quoted-printable soft line breaks may split the link.
    let flat = text
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = flat.find("http://")?;
    let link: String = flat[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    Some((text, link))
}

async fn wait_for_mail(app: &TestApp, n: usize) -> (String, String) {
    for _ in 0..100 {
        let count = std::fs::read_dir(app.data_dir().join("outbox"))
            .map(|d| d.count())
            .unwrap_or(0);
        if count >= n
            && let Some(m) = newest_mail(app)
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail arrived in the outbox");
}

fn outbox_len(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn password_reset_link_is_single_use_and_expires() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    // Lock the account first: a reset also unlocks it.
    for _ in 0..5 {
        b.login("alice", "wrong-password-123").await;
    }
    let sent = b
        .submit("/forgot", "/forgot", &[("login", "alice@acme.test")])
        .await;
    assert_eq!(sent.status, 200);
    assert!(sent.has("If that account exists"));
    let (mail, link) = wait_for_mail(&app, 1).await;
    assert!(
        mail.contains("To: alice <alice@acme.test>") || mail.contains("alice@acme.test"),
        "{mail}"
    );
    let origin = app.url("acme", "");
    assert!(
        link.starts_with(&format!("{origin}/reset?token=")),
        "link from configuration: {link}"
    );
    let path = link.strip_prefix(&origin).unwrap().to_owned();

    let page = b.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.has("For the account alice"));
    let token = page.field("token").unwrap();
    // Policy applies on reset too.
    let weak = b
        .post(
            "/reset",
            &[
                ("csrf", &page.csrf()),
                ("token", &token),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 422);
    let res = b
        .post(
            "/reset",
            &[
                ("csrf", &page.csrf()),
                ("token", &token),
                ("new", "Granite-Orbit-4471"),
                ("confirm", "Granite-Orbit-4471"),
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.has("Your password is changed"));
    assert_eq!(
        Browser::new(&app, "acme")
            .login("alice", "Granite-Orbit-4471")
            .await
            .status,
        303
    );
    // Single use.
    assert_eq!(b.get(&path).await.status, 410);
    let again = b
        .post(
            "/reset",
            &[
                ("csrf", &page.csrf()),
                ("token", &token),
                ("new", "Copper-Meadow-1182"),
                ("confirm", "Copper-Meadow-1182"),
            ],
        )
        .await;
    assert_eq!(again.status, 410);
    assert_eq!(
        Browser::new(&app, "acme")
            .login("alice", "Copper-Meadow-1182")
            .await
            .status,
        401
    );

    // Expiry: a new link, aged past its lifetime.
    b.submit("/forgot", "/forgot", &[("login", "alice")]).await;
    let (_, link2) = wait_for_mail(&app, 2).await;
    assert_ne!(link2, link);
    app.sql("UPDATE reset_tokens SET expires_at = 1 WHERE used_at IS NULL")
        .await;
    let path2 = link2.strip_prefix(&origin).unwrap();
    assert_eq!(b.get(path2).await.status, 410);
    // A link for acme means nothing at another tenant.
    app.create_tenant("globex");
    b.submit("/forgot", "/forgot", &[("login", "alice")]).await;
    let (_, link3) = wait_for_mail(&app, 3).await;
    let path3 = link3.strip_prefix(&origin).unwrap();
    assert_eq!(Browser::new(&app, "globex").get(path3).await.status, 410);
    assert_eq!(b.get(path3).await.status, 200);
    // Asking again at once sends nothing (one mail a minute per account), and says the same.
    let again = b.submit("/forgot", "/forgot", &[("login", "alice")]).await;
    assert!(again.has("If that account exists"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(outbox_len(&app), 3);
    assert_eq!(
        b.get(path3).await.status,
        200,
        "the earlier link still works"
    );
}

#[tokio::test]
async fn reset_for_an_unknown_account_is_indistinguishable() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    let known = b
        .submit("/forgot", "/forgot", &[("login", "alice@acme.test")])
        .await;
    let unknown = b
        .submit("/forgot", "/forgot", &[("login", "nobody@acme.test")])
        .await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.without_csrf(), unknown.without_csrf());
    wait_for_mail(&app, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(outbox_len(&app), 1, "no mail for the unknown address");
}

#[tokio::test]
async fn sessions_page_lists_and_ends_other_sessions() {
    let app = app_with_alice().await;
    let laptop = Browser::with_agent(
        &app,
        "acme",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36",
    );
    let phone = Browser::with_agent(
        &app,
        "acme",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Safari/604.1",
    );
    assert_eq!(laptop.login("alice", PW).await.status, 303);
    assert_eq!(phone.login("alice", PW).await.status, 303);
    let page = laptop.get("/account/sessions").await;
    assert!(page.has("Chrome on Linux") && page.has("Safari on iPhone"));
    assert!(page.has("(this browser)"));
    // The phone's id is the one with a sign-out form.
    let id = page
        .field("id")
        .expect("an end button for the other session");
    let res = laptop
        .post(
            "/account/sessions/end",
            &[("csrf", &page.csrf()), ("id", &id)],
        )
        .await;
    assert!(res.has("That session is signed out"));
    assert_eq!(phone.get("/account").await.status, 303);
    assert_eq!(laptop.get("/account").await.status, 200);
    // Someone else's session id cannot be ended from here.
    app.create_user("acme", "bob", PW);
    let bob = Browser::new(&app, "acme");
    bob.login("bob", PW).await;
    let bob_id = bob.get("/account/sessions").await.body;
    let bob_id = bob_id
        .split("data-session=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let res = laptop
        .post(
            "/account/sessions/end",
            &[
                ("csrf", &laptop.get("/account").await.csrf()),
                ("id", bob_id),
            ],
        )
        .await;
    assert!(res.has("already ended"));
    assert_eq!(bob.get("/account").await.status, 200);
}

#[tokio::test]
async fn profile_can_be_edited_with_checks() {
    let app = app_with_alice().await;
    app.create_user("acme", "bob", PW);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let res = b
        .submit(
            "/account",
            "/account/profile",
            &[("display_name", "Alice Liddell"), ("email", "al@acme.test")],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/account?saved=1"));
    let page = b.get("/account?saved=1").await;
    assert!(page.has("value=\"Alice Liddell\"") && page.has("value=\"al@acme.test\""));
    assert!(page.has("Your profile is saved"));
    let taken = b
        .submit(
            "/account",
            "/account/profile",
            &[("display_name", "A"), ("email", "bob@acme.test")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.alert().unwrap().contains("used by another account"));
    let bad = b
        .submit(
            "/account",
            "/account/profile",
            &[("display_name", "A"), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        b.get("/account").await.has("value=\"al@acme.test\""),
        "unchanged by refusals"
    );
    // The new address is a login name now.
    assert_eq!(
        Browser::new(&app, "acme")
            .login("al@acme.test", PW)
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn no_seed_recovery_code_reset_token_or_session_token_is_stored_in_plaintext() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let session = b.session_cookie().unwrap();
    let (key, codes) = enrol(&b).await;
    let session_after = b.session_cookie().unwrap();
    b.submit("/forgot", "/forgot", &[("login", "alice")]).await;
    let (_, link) = wait_for_mail(&app, 1).await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let seed = data_encoding::BASE32_NOPAD
        .decode(key.replace(' ', "").as_bytes())
        .unwrap();

    let dump = raw_dump(&app).await;
    assert!(contains(&dump, b"alice"), "sanity: the dump holds data");
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("seed (base32)".into(), key.replace(' ', "").into_bytes()),
        ("seed (raw)".into(), seed.clone()),
        ("seed (hex)".into(), hex(&seed).into_bytes()),
        ("reset token".into(), token.into_bytes()),
        ("session token".into(), session.into_bytes()),
        (
            "session token after enrolment".into(),
            session_after.into_bytes(),
        ),
        ("password".into(), PW.as_bytes().to_vec()),
    ];
    for c in &codes {
        needles.push((format!("recovery code {c}"), c.as_bytes().to_vec()));
        needles.push((
            format!("recovery code {c} compact"),
            c.replace('-', "").into_bytes(),
        ));
    }
    for (what, needle) in needles {
        assert!(!contains(&dump, &needle), "{what} found in the database");
    }
}

/// A real SMTP server: Python's standard-library `smtpd` DebuggingServer, which prints every
/// message it receives.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        use std::io::BufRead;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        // Owned by the guard at once: dropped (killed and reaped) on every path.
        let mut server = SmtpServer {
            child: std::process::Command::new("python3")
                .args([
                    "-u",
                    "-W",
                    "ignore",
                    "-m",
                    "smtpd",
                    "-n",
                    "-c",
                    "DebuggingServer",
                ])
                .arg(format!("127.0.0.1:{port}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("python3 (installed by scripts/install-deps) runs the test SMTP server"),
            port,
            output: output.clone(),
        };
        let stdout = server.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut o = output.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the SMTP server did not start");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn reset_mail_goes_through_smtp_when_configured() {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(crate::harness::Spawn {
        extra_env: vec![
            (
                "LATCHKEY_SMTP_URL".into(),
                format!("smtp://127.0.0.1:{}", smtp.port),
            ),
            ("LATCHKEY_MAIL_FROM".into(), "Acme IT <it@acme.test>".into()),
        ],
    })
    .await;
    app.create_tenant("acme");
    app.create_user("acme", "alice", PW);
    let b = Browser::new(&app, "acme");
    b.submit("/forgot", "/forgot", &[("login", "alice")]).await;
    let mut text = String::new();
    for _ in 0..100 {
        text = smtp.output.lock().unwrap().clone();
        if text.contains("reset?token=") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("reset?token="),
        "no mail reached the SMTP server: {text}"
    );
    assert!(
        text.contains("From: \"Acme IT\" <it@acme.test>")
            || text.contains("From: Acme IT <it@acme.test>"),
        "{text}"
    );
    assert!(text.contains("alice@acme.test"));
    assert_eq!(
        outbox_len(&app),
        0,
        "nothing in the outbox when SMTP is configured"
    );
    // The link works.
    // The server prints each line as a Python bytes literal; the body is quoted-printable.
    let body: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("b'").and_then(|l| l.strip_suffix('\'')))
        .collect();
    let flat = body.join("\n").replace("=\n", "").replace("=3D", "=");
    let start = flat.find("http://").unwrap();
    let link: String = flat[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let path = link.strip_prefix(&app.url("acme", "")).unwrap();
    assert_eq!(b.get(path).await.status, 200, "{text}");
}

#[tokio::test]
async fn mail_settings_are_checked_at_start() {
    let app = TestApp::spawn().await;
    for (key, value) in [
        ("LATCHKEY_SMTP_URL", "http://mail.example"),
        ("LATCHKEY_MAIL_FROM", "not an address"),
    ] {
        let mut env = app.env.clone();
        env.insert(key.into(), value.into());
        let err = latchkey::config::Config::load(None, &env).unwrap_err();
        let name = key.trim_start_matches("LATCHKEY_").to_ascii_lowercase();
        assert!(err.to_string().contains(&name), "{err}");
    }
}

#[tokio::test]
async fn with_mfa_off_no_code_is_asked_even_from_enrolled_users() {
    let app = app_with_alice().await;
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    enrol(&b).await;
    policy(&app, "acme", &["mfa=off"]);
    let c = Browser::new(&app, "acme");
    assert_eq!(
        c.login("alice", PW).await.location.as_deref(),
        Some("/account")
    );
    policy(&app, "acme", &["mfa=optional"]);
    let d = Browser::new(&app, "acme");
    assert_eq!(
        d.login("alice", PW).await.location.as_deref(),
        Some("/login/mfa")
    );
}

/// Issue 16 item 18: a reset link sent before the password was set another way (on the account
/// page, or by an admin) no longer works: whoever has the mailbox cannot undo the change.
#[tokio::test]
async fn a_reset_link_dies_when_the_password_is_set_another_way() {
    for how in ["account page", "admin reset"] {
        let app = app_with_alice().await;
        let b = Browser::new(&app, "acme");
        b.submit("/forgot", "/forgot", &[("login", "alice")]).await;
        let (_, link) = wait_for_mail(&app, 1).await;
        let path = link.strip_prefix(&app.url("acme", "")).unwrap().to_owned();
        assert_eq!(
            b.get(&path).await.status,
            200,
            "{how}: the link works at first"
        );
        if how == "account page" {
            assert_eq!(b.login("alice", PW).await.status, 303);
            let changed = change(&b, PW, "Granite-Orbit-4471").await;
            assert!(changed.status < 400, "{}", changed.body);
        } else {
            let out = app.cli(&["user", "reset-password", "--tenant", "acme", "alice"]);
            assert!(out.ok(), "{}", out.stderr);
        }
        assert_eq!(b.get(&path).await.status, 410, "{how}: the link is dead");
    }
}
