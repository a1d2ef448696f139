//! The admin console over HTTP: who gets in (role, second factor, same-site cookie), what each
//! role may do, the user and group pages' actions and their audit entries, re-verification
//! for sensitive actions, and other tenants' ids.

use crate::browser::{Browser, Page, now_unix, totp};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice, count};

/// Between two markers of a page.
pub(crate) fn between(body: &str, start: &str, end: &str) -> String {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {body}"))
        + start.len();
    let j = body[i..].find(end).unwrap() + i;
    body[i..j].to_owned()
}

pub(crate) fn set_role(app: &TestApp, username: &str, role: &str) {
    let out = app.cli(&["user", "set-role", "--tenant", "acme", username, role]);
    assert!(out.ok(), "set-role: {}", out.stderr);
}

pub(crate) fn user_id(app: &TestApp, username: &str) -> String {
    let out = app.cli(&["user", "show", "--tenant", "acme", username, "--json"]);
    assert!(out.ok(), "{}", out.stderr);
    out.json()["id"].as_str().unwrap().to_owned()
}

/// Enrols an authenticator for the signed-in browser, confirming with the code of the step
/// before now (so the steps of now and later stay unused). Returns the key.
pub(crate) async fn enrol(b: &Browser) -> String {
    let page = b.submit("/account/mfa", "/account/mfa/enrol", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let key = between(&page.body, "<code id=\"manual-key\">", "</code>");
    let done = b
        .post(
            "/account/mfa/confirm",
            &[
                ("csrf", &page.csrf()),
                ("code", &totp(&key, now_unix() - 30)),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    key
}

/// An admin of `acme` with `role` and an authenticator, signed in with password and TOTP
/// (the step of now). Returns the browser and the authenticator key.
pub(crate) async fn signed_in_admin(
    app: &TestApp,
    username: &str,
    role: &str,
) -> (Browser, String) {
    app.create_user("acme", username, PW);
    set_role(app, username, role);
    let b = Browser::new(app, "acme");
    assert_eq!(b.login(username, PW).await.status, 303);
    let key = enrol(&b).await;
    let logout = b.submit("/account", "/logout", &[]).await;
    assert!(logout.has("You are signed out."));
    let step = b.login(username, PW).await;
    assert_eq!(step.location.as_deref(), Some("/login/mfa"));
    let done = b
        .submit(
            "/login/mfa",
            "/login/mfa",
            &[("code", &totp(&key, now_unix()))],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let home = b.get("/admin").await;
    assert_eq!(home.status, 200, "{}", home.body);
    (b, key)
}

pub(crate) async fn audit_actors(app: &TestApp, operation: &str) -> i64 {
    count(
        app,
        &format!(
            "SELECT COUNT(*) FROM audit_log WHERE operation = '{operation}' AND actor LIKE 'user:%'"
        ),
    )
    .await
}

/// A POST carrying exactly the given Cookie header (no jar): what another site's form sends.
async fn post_with_cookie(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> u16 {
    crate::harness::client()
        .post(app.url("acme", path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_console_needs_a_role_a_second_factor_and_the_same_site_cookie() {
    let app = app_with_alice().await;
    // Signed out: to the login, and back.
    let anon = Browser::new(&app, "acme");
    let page = anon.get("/admin/users").await;
    assert_eq!(
        page.location.as_deref(),
        Some("/login?return_to=/admin/users")
    );

    // A user without a role.
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let page = b.get("/admin").await;
    assert_eq!(page.status, 403);
    assert!(page.has("no administrator role"));

    // An owner without an authenticator is told to set one up, whatever the tenant policy.
    app.create_user("acme", "root", PW);
    set_role(&app, "root", "owner");
    let b = Browser::new(&app, "acme");
    b.login("root", PW).await;
    let page = b.get("/admin").await;
    assert_eq!(page.status, 403);
    assert!(page.has("Set up two-step verification first"));

    // With one, but a tenant policy that asks for no second factor at login, the session is
    // password-only: the console asks for the code at /admin/verify.
    let key = enrol(&b).await;
    crate::login::policy(&app, "acme", &["mfa=off"]);
    b.submit("/account", "/logout", &[]).await;
    assert_eq!(
        b.login("root", PW).await.location.as_deref(),
        Some("/account")
    );
    let page = b.get("/admin/users?q=al").await;
    assert_eq!(
        page.location.as_deref(),
        Some("/admin/verify?return_to=/admin/users%3Fq%3Dal")
    );
    let form = b.get("/admin/verify?return_to=/admin/users%3Fq%3Dal").await;
    assert_eq!(form.status, 200);
    let wrong = b
        .post(
            "/admin/verify",
            &[
                ("csrf", &form.csrf()),
                ("password", PW),
                ("code", "000000"),
                ("return_to", "/admin/users?q=al"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.has("The password or the code is not right"));
    // Off-console destinations are not followed.
    let ok = b
        .post(
            "/admin/verify",
            &[
                ("csrf", &form.csrf()),
                ("password", PW),
                ("code", &totp(&key, now_unix())),
                ("return_to", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/admin"));
    let list = b.get("/admin/users?q=al").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.has(">alice<"));
    assert!(!list.has(">root<"), "prefix search");

    // A POST that lacks the Strict console cookie (another site's form) changes nothing, even
    // with the session and a valid CSRF pair.
    let alice = user_id(&app, "alice");
    let session = b.session_cookie().unwrap();
    let jar_csrf = b.cookie("lk_csrf").unwrap();
    assert!(b.cookie("lk_console").is_some());
    let cookie = format!("lk_session={session}; lk_csrf={jar_csrf}");
    let status = post_with_cookie(
        &app,
        &format!("/admin/users/{alice}/status"),
        &cookie,
        &[("csrf", &list.csrf()), ("status", "disabled")],
    )
    .await;
    assert_eq!(status, 403);
    // Without the CSRF token, even from the console itself.
    let page = b
        .post(
            &format!("/admin/users/{alice}/status"),
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE status = 'disabled'").await,
        0
    );
    // The same form from the console works.
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/status"),
            &[("status", "disabled"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE status = 'disabled'").await,
        1
    );
}

#[tokio::test]
async fn an_admin_creates_finds_helps_and_groups_a_user() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "admin").await;

    // Create with a one-time password; it is shown once and works.
    let created = b
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[
                ("username", "bob"),
                ("email", "Bob.Builder@example.com"),
                ("display_name", "Bob Builder"),
                ("delivery", "password"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let otp = between(&created.body, "<code id=\"one-time-password\">", "</code>");
    // Reloading that page (the same form again) adds nobody and shows no password.
    let form = b.get("/admin/users/new").await;
    let resend = [
        ("csrf", form.csrf()),
        ("once", form.once()),
        ("username", "dan".into()),
        ("email", "dan@example.com".into()),
        ("delivery", "password".into()),
    ];
    let resend: Vec<(&str, &str)> = resend.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(b.post("/admin/users", &resend).await.status, 200);
    let again = b.post("/admin/users", &resend).await;
    assert_eq!(again.status, 409);
    assert!(!again.has("one-time-password"));
    assert_eq!(audit_actors(&app, "user.create").await, 2);
    let bob_browser = Browser::new(&app, "acme");
    let step = bob_browser.login("bob", &otp).await;
    assert_eq!(step.location.as_deref(), Some("/login/password"));
    // Issue 16 item 7: a username over the limit is refused beside its field, never cut to
    // fit and created.
    let long = "n".repeat(256);
    let refused = b
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[
                ("username", &long),
                ("email", "long@example.com"),
                ("delivery", "password"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    let beside = refused.beside("username").unwrap_or_default();
    assert!(beside.contains("64"), "{beside}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE email = 'long@example.com'"
        )
        .await,
        0
    );
    // A taken username is said so, and nothing is added.
    let again = b
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[
                ("username", "BOB"),
                ("email", "x@example.com"),
                ("delivery", "password"),
            ],
        )
        .await;
    assert_eq!(again.status, 422);
    assert!(again.has("id=\"username-error\">Another user already has this username."));
    assert!(
        again.has("aria-describedby=\"username-hint username-error\" aria-invalid=\"true\""),
        "{}",
        again.body
    );
    // Every problem at once, beside its field, in words.
    let bad = b
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[
                ("username", "new hire"),
                ("email", "BOB.builder@example.com"),
                ("display_name", "Tab\tName"),
                ("delivery", "password"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.has("id=\"username-error\">A username cannot have spaces"));
    assert!(bad.has("id=\"email-error\">Another user already has this e-mail address."));
    assert!(bad.has("id=\"display_name-error\">Enter a name of 1 to 128 characters"));
    assert!(bad.has("value=\"new hire\""), "what was typed is kept");
    assert!(!bad.has("`"), "no developer syntax");
    // (The tenant's first owner, alice, root, bob and dan.)
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 5);

    // Invite by e-mail: the link lets them choose a password.
    let invited = b
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[
                ("username", "carol"),
                ("email", "carol@example.com"),
                ("delivery", "invite"),
            ],
        )
        .await;
    assert_eq!(invited.status, 200);
    assert!(invited.has("An invitation is on its way"));
    let (mail, link) = crate::account::newest_mail(&app).expect("invitation mail");
    assert!(mail.contains("carol"));
    assert!(link.contains("/reset?token="), "{link}");

    // Search by prefix of username, e-mail and name; filters.
    for q in ["bo", "bob.b", "bob%20bui", "BOB"] {
        let page = b.get(&format!("/admin/users?q={q}")).await;
        assert!(page.has(">bob<"), "q={q}");
        assert!(!page.has(">alice<"), "q={q}");
    }
    let page = b.get("/admin/users?admins=yes").await;
    assert!(page.has(">root<") && !page.has(">bob<"));
    let page = b.get("/admin/users?mfa=yes").await;
    assert!(page.has(">root<") && !page.has(">alice<"));

    // Lock alice by failures, then unlock her from her page.
    let alice = user_id(&app, "alice");
    let intruder = Browser::new(&app, "acme");
    for _ in 0..5 {
        intruder.login("alice", "wrong-password-here").await;
    }
    let page = b.get("/admin/users?locked=yes").await;
    assert!(page.has(">alice<"), "{}", page.body);
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/unlock"),
            &[],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("/admin/users/{alice}?done=unlocked"))
    );
    let page = b.follow(page).await;
    assert!(page.has("The account is unlocked."));
    assert_eq!(audit_actors(&app, "user.unlock").await, 1);

    // Reset her password: shown once, her sessions end, it works once.
    let alice_browser = Browser::new(&app, "acme");
    alice_browser.login("alice", PW).await;
    let form = b.get(&format!("/admin/users/{alice}")).await;
    let reset = [
        ("csrf", form.csrf()),
        ("once", form.once()),
        ("confirmed", "yes".into()),
    ];
    let reset: Vec<(&str, &str)> = reset.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = b
        .post(&format!("/admin/users/{alice}/password"), &reset)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    let otp = between(&page.body, "<code id=\"one-time-password\">", "</code>");
    // Sent again (a reload), it resets nothing: the password just shown still works.
    let again = b
        .post(&format!("/admin/users/{alice}/password"), &reset)
        .await;
    assert_eq!(again.status, 409);
    assert!(!again.has("one-time-password"));
    assert_eq!(
        alice_browser.get("/account").await.status,
        303,
        "signed out"
    );
    assert_eq!(
        Browser::new(&app, "acme")
            .login("alice", &otp)
            .await
            .location
            .as_deref(),
        Some("/login/password")
    );

    // Profile: a taken address is refused and nothing changes; a good one is saved.
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/profile"),
            &[
                ("display_name", "Alice A."),
                ("email", "bob.builder@EXAMPLE.com"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/profile"),
            &[
                ("display_name", "Alice Liddell"),
                ("email", "alice@wonder.example"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(
        b.get("/admin/users?q=alice%20l").await.has(">alice<"),
        "name key follows"
    );

    // Groups: create, add from the user's page, filter by group, remove.
    let page = b
        .submit(
            "/admin/groups",
            "/admin/groups",
            &[("name", "Engineering"), ("description", "")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    // The same name again with a broken description: both said, each beside its field.
    let again = b
        .submit(
            "/admin/groups",
            "/admin/groups",
            &[("name", "engineering"), ("description", "two\nlines")],
        )
        .await;
    assert_eq!(again.status, 422);
    assert!(again.has("id=\"name-error\">There is already a group with this name."));
    assert!(again.has("id=\"description-error\">Keep the description"));
    assert!(again.has("aria-describedby=\"description-error\""));
    let group_path = page.location.clone().unwrap();
    let group = group_path
        .trim_start_matches("/admin/groups/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/groups"),
            &[("group", &group), ("action", "add")],
        )
        .await;
    assert_eq!(page.status, 303);
    let page = b.get(&format!("/admin/users?group={group}")).await;
    assert!(page.has(">alice<") && !page.has(">bob<"));
    let page = b
        .submit(
            &format!("/admin/groups/{group}"),
            &format!("/admin/groups/{group}/members"),
            &[("action", "add"), ("username", "bob")],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("/admin/groups/{group}?done=added"))
    );
    let page = b.get(&format!("/admin/groups/{group}")).await;
    assert!(page.has(">alice<") && page.has(">bob<"));
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/groups"),
            &[("group", &group), ("action", "remove")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM group_members").await, 1);
    // Deleting needs the name typed.
    let page = b
        .submit(
            &format!("/admin/groups/{group}"),
            &format!("/admin/groups/{group}/delete"),
            &[("confirm", "Eng")],
        )
        .await;
    assert_eq!(page.status, 422);
    let page = b
        .submit(
            &format!("/admin/groups/{group}"),
            &format!("/admin/groups/{group}/delete"),
            &[("confirm", "engineering")],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/admin/groups?done=deleted"));

    // Every change names the admin, and the user's page shows what happened to her.
    let page = b.get(&format!("/admin/users/{alice}")).await;
    assert!(page.has("password.admin_reset"), "{}", page.body);
    for op in [
        "user.create",
        "user.invite",
        "password.admin_reset",
        "user.profile.update",
        "group.create",
        "group.member.add",
        "group.member.remove",
        "group.delete",
    ] {
        assert!(audit_actors(&app, op).await >= 1, "{op} by an admin");
    }
    let out = app.cli(&["audit", "verify", "--tenant", "acme"]);
    assert!(out.ok(), "{}", out.stderr);
}

#[tokio::test]
async fn each_role_does_only_what_it_may() {
    let app = app_with_alice().await;
    let alice = user_id(&app, "alice");
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    let (audit, _) = signed_in_admin(&app, "otto", "auditor").await;
    let (admin, _) = signed_in_admin(&app, "adam", "admin").await;
    let adam = user_id(&app, "adam");

    let on_alice = |action: &str| format!("/admin/users/{alice}/{action}");
    let page_of_alice = format!("/admin/users/{alice}");

    // Helpdesk: sees users, helps them; no creating, no status changes, nothing on admins.
    assert_eq!(help.get("/admin/users").await.status, 200);
    assert_eq!(
        help.submit(&page_of_alice, &on_alice("unlock"), &[])
            .await
            .status,
        303
    );
    assert_eq!(
        help.submit(
            &page_of_alice,
            &on_alice("sessions"),
            &[("confirmed", "yes")]
        )
        .await
        .status,
        303
    );
    assert_eq!(help.get("/admin/users/new").await.status, 403);
    let page = help
        .submit(
            &page_of_alice,
            &on_alice("status"),
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(page.status, 403);
    let page = help
        .submit(
            &format!("/admin/users/{adam}"),
            &format!("/admin/users/{adam}/password"),
            &[],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(page.has("Only an owner"));

    // Auditor: reads, changes nothing; sees the activity that helpdesk does not.
    let page = audit.get(&page_of_alice).await;
    assert_eq!(page.status, 200);
    assert!(page.has("Recent activity"));
    assert!(!help.get(&page_of_alice).await.has("Recent activity"));
    assert_eq!(
        audit
            .submit(&page_of_alice, &on_alice("unlock"), &[])
            .await
            .status,
        403
    );
    assert_eq!(
        audit
            .submit("/admin/groups", "/admin/groups", &[("name", "x")])
            .await
            .status,
        403
    );

    // Admin: manages users and groups, but not roles.
    let page = admin
        .submit(
            &page_of_alice,
            &on_alice("status"),
            &[("status", "restricted"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(page.status, 303);
    let page = admin
        .submit(&page_of_alice, &on_alice("role"), &[("role", "admin")])
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE status = 'restricted'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE outcome = 'success' AND operation = 'user.admin_role' AND actor LIKE 'user:%'").await, 0);
    // Refusals are audited as denied, with who tried and on whom.
    assert!(
        count(&app, "SELECT COUNT(*) FROM audit_log WHERE operation = 'console.denied' AND outcome = 'denied' AND actor LIKE 'user:%'").await
            >= 5
    );
}

#[tokio::test]
async fn role_changes_need_a_recent_proof_and_keep_an_owner() {
    let app = app_with_alice().await;
    let alice = user_id(&app, "alice");
    let (owner, key) = signed_in_admin(&app, "root", "owner").await;
    let page_of_alice = format!("/admin/users/{alice}");

    // Fresh from a password + TOTP login: allowed.
    let page = owner
        .submit(
            &page_of_alice,
            &format!("{page_of_alice}/role"),
            &[("role", "helpdesk")],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("{page_of_alice}?done=role")),
        "{}",
        page.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE admin_role = 'helpdesk'"
        )
        .await,
        1
    );

    // Ten minutes later: the admin is asked to prove it again, and nothing changes until then.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    let page = owner
        .submit(
            &page_of_alice,
            &format!("{page_of_alice}/role"),
            &[("role", "none")],
        )
        .await;
    // The answer is "Confirm it's you" in place, saying what is confirmed, with Cancel back
    // to the page the form was on.
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has("console role</strong>"), "{}", page.body);
    assert!(
        page.has(&format!("href=\"{page_of_alice}\" id=\"cancel\"")),
        "{}",
        page.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE admin_role = 'helpdesk'"
        )
        .await,
        1
    );
    // A wrong code keeps what was submitted and changes nothing.
    let wrong = owner
        .send(
            &page,
            "/admin/verify",
            &[("password", PW), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.has("is not right") && wrong.has("console role"),
        "{} {}",
        wrong.status,
        wrong.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE admin_role = 'helpdesk'"
        )
        .await,
        1
    );
    // The proof carries the action out as it was submitted.
    let page = owner.confirm_it_is_me(&wrong, PW, &key).await;
    assert_eq!(page.location, Some(format!("{page_of_alice}?done=role")));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE admin_role = 'helpdesk'"
        )
        .await,
        0
    );
    // An owner cannot demote themselves here, and the CLI keeps the last owner.
    let root = user_id(&app, "root");
    let page = owner
        .submit(
            &format!("/admin/users/{root}"),
            &format!("/admin/users/{root}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(page.status, 403);
    app.sql("UPDATE users SET admin_role = NULL WHERE username <> 'root'")
        .await;
    let out = app.cli(&["user", "set-role", "--tenant", "acme", "root", "none"]);
    assert!(!out.ok());
    assert!(
        out.stderr.contains("at least one active owner"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn another_tenants_users_and_groups_are_not_found() {
    let app = app_with_alice().await;
    app.create_tenant("beta");
    app.create_user("beta", "mallory", PW);
    let out = app.cli(&[
        "group", "create", "--tenant", "beta", "--name", "Secret", "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let beta_group = out.json()["id"].as_str().unwrap().to_owned();
    let out = app.cli(&["user", "show", "--tenant", "beta", "mallory", "--json"]);
    let mallory = out.json()["id"].as_str().unwrap().to_owned();
    let alice = user_id(&app, "alice");

    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    assert_eq!(b.get(&format!("/admin/users/{mallory}")).await.status, 404);
    assert_eq!(
        b.get(&format!("/admin/groups/{beta_group}")).await.status,
        404
    );
    assert_eq!(b.get("/admin/users/not-an-id").await.status, 404);
    let page: Page = b
        .submit(
            "/admin",
            &format!("/admin/users/{mallory}/status"),
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(page.status, 404);
    let page = b
        .submit(
            "/admin",
            &format!("/admin/users/{alice}/groups"),
            &[("group", &beta_group), ("action", "add")],
        )
        .await;
    assert_eq!(page.status, 404);
    let page = b
        .submit(
            "/admin",
            &format!("/admin/groups/{beta_group}/members"),
            &[("action", "add"), ("username", "alice")],
        )
        .await;
    assert_eq!(page.status, 404);
    // Beta's users are not in acme's list either.
    assert!(!b.get("/admin/users?q=mal").await.has("mallory"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM group_members").await, 0);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE status <> 'active'").await,
        0
    );
}

/// Rows of a CSV document (RFC 4180 quoting).
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

async fn export(b: &Browser, query: &str) -> (u16, String, String) {
    b.client_get(&format!("/admin/audit/export?{query}")).await
}

/// Whether `html` shows a time to the second (`2026-12-07 21:12:30 UTC`).
fn regex_like_time(html: &str) -> bool {
    html.split(" UTC").any(|before| {
        let tail: Vec<char> = before.chars().rev().take(8).collect();
        tail.len() == 8
            && tail.iter().rev().enumerate().all(|(i, c)| {
                if i == 2 || i == 5 {
                    *c == ':'
                } else {
                    c.is_ascii_digit()
                }
            })
    })
}

#[tokio::test]
async fn the_audit_log_filters_verifies_and_exports() {
    let app = app_with_alice().await;
    app.create_tenant("beta");
    app.create_user("beta", "mallory", PW);
    let mallory = {
        let out = app.cli(&["user", "show", "--tenant", "beta", "mallory", "--json"]);
        out.json()["id"].as_str().unwrap().to_owned()
    };
    Browser::new(&app, "acme")
        .login("alice", "not-her-password")
        .await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let alice = user_id(&app, "alice");
    b.submit(
        &format!("/admin/users/{alice}"),
        &format!("/admin/users/{alice}/unlock"),
        &[],
    )
    .await;

    // The entries the page lists (not the event menu, which names every event).
    let listed = |page: &Page, code: &str| {
        let table = page.body.split("id=\"entries\"").nth(1).unwrap_or("");
        table
            .split("</table>")
            .next()
            .unwrap_or("")
            .contains(&format!("title=\"{code}\""))
    };
    let page = b.get("/admin/audit").await;
    assert_eq!(page.status, 200);
    assert!(listed(&page, "user.unlock") && listed(&page, "tenant.create"));
    // In words, to the second, with the people linked.
    assert!(page.has(">Account unlocked<") && page.has(">Organisation created<"));
    assert!(page.has(&format!("<a href=\"/admin/users/{alice}\">alice</a>")));
    let second = regex_like_time(&page.body);
    assert!(second, "times show seconds: {}", page.body);
    let page = b.get("/admin/audit?actor=root").await;
    assert!(listed(&page, "user.unlock") && !listed(&page, "tenant.create"));
    let page = b.get("/admin/audit?subject=alice&outcome=failure").await;
    assert!(
        listed(&page, "login.password") && !listed(&page, "user.unlock"),
        "{}",
        page.body
    );
    // The event menu: families and single events.
    let page = b.get("/admin/audit?operation=login.").await;
    assert!(listed(&page, "login.password") && !listed(&page, "user.unlock"));
    assert!(page.has("<option value=\"login.\" selected>"));
    let page = b.get("/admin/audit?operation=user.unlock").await;
    assert!(listed(&page, "user.unlock") && !listed(&page, "login.password"));
    assert!(page.has("<option value=\"user.unlock\" selected>Account unlocked</option>"));
    // Quick ranges keep the other filters.
    let week = between(&page.body, "<nav class=\"quick\"", "Last 7 days");
    let week = week.rsplit("href=\"").next().unwrap_or("");
    assert!(
        week.starts_with("/admin/audit?operation=user.unlock&") && week.contains("from="),
        "{week}"
    );
    // Every wrong filter is said at once, beside its field; nothing is listed.
    let page = b
        .get("/admin/audit?from=2026-02-30&subject=nobody-at-all&outcome=maybe")
        .await;
    assert_eq!(page.status, 422);
    assert!(page.has("Enter the start date as a date"));
    assert!(page.has("id=\"from\"") && page.has("aria-describedby=\"from-error\""));
    assert!(page.has("There is no user named nobody-at-all") && page.has("id=\"subject-error\""));
    assert!(page.has("id=\"outcome-error\""));
    assert!(!page.has("id=\"entries\""));
    // A range that ends before it starts is refused, not shown as empty.
    let page = b.get("/admin/audit?from=2026-03-02&to=2026-03-01").await;
    assert_eq!(page.status, 422);
    assert!(page.has("The end date is before the start date."));
    assert!(page.has("aria-describedby=\"to-error\""));
    // Another tenant's people are not found, by name or by id.
    assert!(
        b.get("/admin/audit?subject=mallory")
            .await
            .has("There is no user named mallory")
    );
    let page = b.get(&format!("/admin/audit?subject=user:{mallory}")).await;
    assert!(page.has("No entry matches these filters."));
    // One entry in full; numbers past the end are not found.
    let page = b.get("/admin/audit/1").await;
    assert!(
        page.has("Organisation created") && page.has("tenant.create") && page.has("Previous MAC")
    );
    assert_eq!(b.get("/admin/audit/99999").await.status, 404);
    assert_eq!(b.get("/admin/audit/x").await.status, 404);

    // Integrity: intact now (broken further down by rows written behind its back).
    let page = b.submit("/admin/audit", "/admin/audit/verify", &[]).await;
    assert!(page.has("The audit log is intact"), "{}", page.body);

    // Exports: every entry of this tenant, oldest first, parsed back.
    let total = count(
        &app,
        "SELECT COUNT(*) FROM audit_log a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = 'acme'",
    )
    .await;
    let (status, kind, body) = export(&b, "format=csv").await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/csv"));
    let rows = parse_csv(&body);
    assert_eq!(rows[0][0], "seq");
    assert_eq!(
        rows.len() as i64 - 1,
        total + 1,
        "every entry, and the export's own"
    );
    let seqs: Vec<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none missing"
    );
    assert!(rows.iter().all(|r| r.len() == 11));
    let (_, kind, body) = export(&b, "format=json&operation=login.").await;
    assert_eq!(kind, "application/json");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| e["operation"].as_str().unwrap().starts_with("login."))
    );
    assert_eq!(audit_actors(&app, "audit.export").await, 2);

    // Across many pages of the stream (rows written directly: the chain no longer verifies).
    app.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
         INSERT INTO audit_log (tenant_id, seq, at, actor, operation, outcome, prev_mac, mac) \
         SELECT t.id, 100000 + n.i, 0, 'system', 'test.bulk', 'success', 'x', 'y' \
         FROM n, tenants t WHERE t.slug = 'acme'",
    )
    .await;
    let (_, _, body) = export(&b, "format=json&operation=test.").await;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(entries.len(), 2500);
    let page = b.submit("/admin/audit", "/admin/audit/verify", &[]).await;
    assert!(page.has("does not verify from entry"), "{}", page.body);

    // A stale proof sends the admin to verify first; helpdesk has no audit log.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    let (status, _, _) = export(&b, "format=csv").await;
    assert_eq!(status, 303);
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    assert_eq!(help.get("/admin/audit").await.status, 403);
}

#[tokio::test]
async fn directory_and_person_exports_hold_the_data_and_no_secrets() {
    let app = app_with_alice().await;
    let out = app.cli(&["group", "create", "--tenant", "acme", "--name", "Ops, West"]);
    assert!(!out.ok(), "commas are refused in group names");
    assert!(
        app.cli(&["group", "create", "--tenant", "acme", "--name", "Ops"])
            .ok()
    );
    assert!(
        app.cli(&[
            "group",
            "add-member",
            "--tenant",
            "acme",
            "--group",
            "Ops",
            "--username",
            "alice"
        ])
        .ok()
    );
    app.sql("UPDATE users SET display_name = '=cmd|calc, \"x\"' WHERE username = 'alice'")
        .await;
    let (b, _) = signed_in_admin(&app, "root", "admin").await;

    let (status, kind, body) = b.client_get("/admin/users/export?format=csv").await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/csv"));
    let rows = parse_csv(&body);
    assert_eq!(rows[0][1], "username");
    let users = count(
        &app,
        "SELECT COUNT(*) FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug = 'acme'",
    )
    .await;
    assert_eq!(rows.len() as i64 - 1, users);
    let alice = rows.iter().find(|r| r[1] == "alice").unwrap();
    assert_eq!(
        alice[3], "'=cmd|calc, \"x\"",
        "formula defused, quotes kept"
    );
    assert_eq!(alice[6], "Ops");
    assert_eq!(alice[7], "false");
    let root = rows.iter().find(|r| r[1] == "root").unwrap();
    assert_eq!((root[5].as_str(), root[7].as_str()), ("admin", "true"));
    assert!(!body.contains("$argon2"), "no password hashes");

    let (_, kind, body) = b.client_get("/admin/users/export?format=json&group=").await;
    assert_eq!(kind, "application/json");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(list.len() as i64, users);
    let a = list.iter().find(|u| u["username"] == "alice").unwrap();
    assert_eq!(a["groups"], serde_json::json!(["Ops"]));
    // The list's filters apply.
    let (_, _, body) = b.client_get("/admin/users/export?format=json&q=ali").await;
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(list.len(), 1);

    // One person: profile, groups, MFA, sessions, audit; never a secret.
    let id = user_id(&app, "root");
    let (status, kind, body) = b.client_get(&format!("/admin/users/{id}/export")).await;
    assert_eq!(status, 200);
    assert_eq!(kind, "application/json");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["profile"]["username"], "root");
    assert_eq!(doc["mfa"]["totp_enrolled"], true);
    assert_eq!(doc["mfa"]["recovery_codes_left"], 10);
    assert!(!doc["sessions"].as_array().unwrap().is_empty());
    let ops: Vec<&str> = doc["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"mfa.enrol") && ops.contains(&"directory.export"),
        "{ops:?}"
    );
    for secret in [
        "$argon2",
        "sealed_seed",
        "password_hash",
        "code_hash",
        "token_hash",
    ] {
        assert!(!body.contains(secret), "{secret} in the export");
    }
    assert_eq!(audit_actors(&app, "user.export").await, 1);
    assert_eq!(audit_actors(&app, "directory.export").await, 3);

    // Helpdesk and auditors do not export; another tenant's person is not found.
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    assert_eq!(help.client_get("/admin/users/export").await.0, 403);
    assert_eq!(
        help.client_get(&format!("/admin/users/{id}/export"))
            .await
            .0,
        403
    );
    app.create_tenant("beta");
    app.create_user("beta", "mallory", PW);
    let out = app.cli(&["user", "show", "--tenant", "beta", "mallory", "--json"]);
    let mallory = out.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        b.client_get(&format!("/admin/users/{mallory}/export"))
            .await
            .0,
        404
    );
    let (_, _, body) = b.client_get("/admin/users/export?format=csv").await;
    assert!(!body.contains("mallory"));
    // A stale proof asks again before a bulk export.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    assert_eq!(b.client_get("/admin/users/export").await.0, 303);
}

#[tokio::test]
async fn a_hundred_thousand_users_export_as_a_stream() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let id = if app.db.is_postgres() {
        "'00000000-0000-7000-8000-' || lpad(n.i::text, 12, '0')"
    } else {
        "printf('00000000-0000-7000-8000-%012d', n.i)"
    };
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
         INSERT INTO users (id, tenant_id, username, username_key, email, email_key, display_name, \
         name_key, status, must_change_password, created_at, updated_at) \
         SELECT {id}, t.id, 'u' || n.i, 'u' || n.i, 'u' || n.i || '@bulk.test', \
         'u' || n.i || '@bulk.test', 'User ' || n.i, 'user ' || n.i, 'active', false, 0, 0 \
         FROM n, tenants t WHERE t.slug = 'acme'"
    ))
    .await;
    let res = crate::harness::client()
        .get(b.url("/admin/users/export?format=csv"))
        .header(
            "cookie",
            format!(
                "lk_session={}; lk_console={}",
                b.session_cookie().unwrap(),
                b.cookie("lk_console").unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let mut res = res;
    let (mut chunks, mut lines, mut bytes) = (0, 0usize, 0usize);
    while let Some(chunk) = res.chunk().await.unwrap() {
        chunks += 1;
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    assert_eq!(
        lines,
        1 + 100_000 + 3,
        "header, the bulk users, the tenant's owner, alice, root"
    );
    assert!(
        chunks > 50,
        "written page by page ({chunks} chunks, {bytes} bytes)"
    );

    // The list filtered by a large group (walked in username order) and by a small one (read
    // from its members): only members, in order, a page at a time.
    for (name, every) in [("Many", 10), ("Few", 40_000)] {
        let out = app.cli(&[
            "group", "create", "--tenant", "acme", "--name", name, "--json",
        ]);
        let group = out.json()["id"].as_str().unwrap().to_owned();
        app.sql(&format!(
            "INSERT INTO group_members (tenant_id, group_id, user_id, created_at) \
             SELECT tenant_id, '{group}', id, 0 FROM users WHERE username LIKE 'u%' \
             AND username <> 'u' AND CAST(substr(username, 2) AS INTEGER) % {every} = 0"
        ))
        .await;
        let page = b.get(&format!("/admin/users?group={group}")).await;
        assert_eq!(page.status, 200);
        let shown: Vec<u64> = page
            .body
            .match_indices("class=\"user-link\"><strong>u")
            .map(|(i, m)| {
                let rest = &page.body[i + m.len()..];
                rest[..rest.find('<').unwrap()].parse().unwrap()
            })
            .collect();
        let expected = if every == 10 { 50 } else { 2 };
        assert_eq!(shown.len(), expected, "{name}");
        assert!(shown.iter().all(|n| n % every == 0), "{name}: {shown:?}");
        let keys: Vec<String> = shown.iter().map(|n| format!("u{n}")).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{name}: username order");
    }
}

/// The policy form's fields as the page shows them (numbers; flags off, lists empty).
fn policy_fields(page: &Page) -> Vec<(String, String)> {
    let numbers = [
        "password.min_length",
        "password.max_length",
        "password.required_classes",
        "password.history",
        "password.max_age_days",
        "lockout.max_failures",
        "lockout.lock_minutes",
        "lockout.ip_max_failures",
        "lockout.ip_window_minutes",
        "session.idle_minutes",
        "session.absolute_hours",
        "reset_link_minutes",
    ];
    let mut out: Vec<(String, String)> = numbers
        .iter()
        .map(|n| {
            (
                n.to_string(),
                page.field(n).unwrap_or_else(|| panic!("{n} on the page")),
            )
        })
        .collect();
    out.push(("mfa".into(), "optional".into()));
    out.push(("ip.allow".into(), String::new()));
    out.push(("ip.deny".into(), String::new()));
    out
}

fn with(fields: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    out.extend(changes.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

async fn post_policy(b: &Browser, csrf: &str, step: &str, fields: &[(String, String)]) -> Page {
    let mut all = vec![("csrf", csrf.to_owned()), ("step", step.to_owned())];
    all.extend(fields.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post("/admin/policies", &refs).await
}

#[tokio::test]
async fn policies_are_reviewed_validated_and_saved_all_or_nothing() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "admin").await;
    let page = b.get("/admin/policies").await;
    assert_eq!(page.status, 200);
    let fields = policy_fields(&page);
    let csrf = page.csrf();
    let saved = |json: &'static str| {
        let app = &app;
        async move {
            count(
                app,
                &format!("SELECT COUNT(*) FROM tenant_policies WHERE policy LIKE '%{json}%'"),
            )
            .await
        }
    };

    // Review: the changes and what they mean; nothing saved yet.
    let review = post_policy(
        &b,
        &csrf,
        "review",
        &with(
            &fields,
            &[("password.min_length", "14"), ("mfa", "required")],
        ),
    )
    .await;
    assert_eq!(review.status, 200, "{}", review.body);
    let table = between(&review.body, "id=\"changes\"", "</table>");
    assert!(table.contains("Minimum length") && table.contains(">12<") && table.contains(">14<"));
    assert!(table.contains("Two-step verification") && table.contains("everyone must set one up"));
    assert_eq!(table.matches("<tr>").count(), 3, "a header and two changes");
    assert_eq!(saved("\"min_length\":14").await, 0);

    // Invalid values and self-lockout are refused with the field named; nothing is saved.
    let bad = post_policy(
        &b,
        &csrf,
        "save",
        &with(
            &fields,
            &[
                ("password.min_length", "7"),
                ("mfa", "required"),
                ("lockout.max_failures", "many"),
                ("ip.deny", "10.0.0.0/33"),
            ],
        ),
    )
    .await;
    assert_eq!(bad.status, 422);
    // Every wrong setting at once, each beside its field, in words.
    for (id, says) in [
        ("password-min_length", "Must be from 8 to 128, not 7."),
        ("lockout-max_failures", "Enter a whole number."),
        ("ip-deny", "Enter network ranges such as 10.0.0.0/8"),
    ] {
        assert!(
            bad.has(&format!("aria-describedby=\"{id}-error\"")),
            "{id}: {}",
            bad.body
        );
        let error = between(&bad.body, &format!("id=\"{id}-error\">"), "</p>");
        assert!(error.starts_with(says), "{id}: {error}");
    }
    assert!(!bad.has("..="), "no developer syntax");
    let bad = post_policy(&b, &csrf, "save", &with(&fields, &[("mfa", "sometimes")])).await;
    assert_eq!(bad.status, 422);
    assert!(bad.has("id=\"mfa-error\">Choose one of the options."));
    let locked_out = post_policy(
        &b,
        &csrf,
        "save",
        &with(&fields, &[("ip.allow", "10.0.0.0/8")]),
    )
    .await;
    assert_eq!(locked_out.status, 422);
    assert!(locked_out.has("would refuse your own address (127.0.0.1)"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM tenant_policies").await, 0);

    // Saved, audited, and in force.
    let done = post_policy(
        &b,
        &csrf,
        "save",
        &with(
            &fields,
            &[
                ("password.min_length", "14"),
                ("ip.allow", "127.0.0.0/8\n10.0.0.0/8"),
            ],
        ),
    )
    .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/admin/policies?done=saved"),
        "{}",
        done.body
    );
    assert_eq!(saved("\"min_length\":14").await, 1);
    assert_eq!(saved("\"allow\":[\"127.0.0.0/8\",\"10.0.0.0/8\"]").await, 1);
    assert_eq!(audit_actors(&app, "tenant.policy.update").await, 1);
    let page = b.get("/admin/policies").await;
    assert_eq!(page.field("password.min_length").as_deref(), Some("14"));

    // Stale proof: asked again. Auditors see the policy but cannot change it.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    let stale = post_policy(
        &b,
        &csrf,
        "save",
        &with(&fields, &[("password.min_length", "16")]),
    )
    .await;
    assert!(
        stale.has("change the sign-in policies</strong>"),
        "{}",
        stale.body
    );
    assert_eq!(audit_actors(&app, "tenant.policy.update").await, 1);
    let (auditor, _) = signed_in_admin(&app, "otto", "auditor").await;
    let page = auditor.get("/admin/policies").await;
    assert_eq!(page.status, 200);
    assert!(page.has("disabled") && !page.has("Review changes"));
    let refused = post_policy(
        &auditor,
        &page.csrf(),
        "save",
        &with(&fields, &[("password.min_length", "16")]),
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(saved("\"min_length\":16").await, 0);
}

#[tokio::test]
async fn each_user_and_group_action_does_what_it_says() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "admin").await;
    let alice = user_id(&app, "alice");
    let page_of_alice = format!("/admin/users/{alice}");
    let on_alice = |what: &str| format!("{page_of_alice}/{what}");

    // Reset two-step: her authenticator is gone; she sets one up again at sign-in.
    let alice_b = Browser::new(&app, "acme");
    alice_b.login("alice", PW).await;
    enrol(&alice_b).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        2
    );
    let page = b
        .submit(&page_of_alice, &on_alice("mfa"), &[("confirmed", "yes")])
        .await;
    assert_eq!(page.location, Some(format!("{page_of_alice}?done=mfa")));

    // Unlocking an account that is not locked says so and records nothing; the page offers
    // no Unlock for it.
    assert!(!b.get(&page_of_alice).await.has("id=\"unlock\""));
    let page = b.submit(&page_of_alice, &on_alice("unlock"), &[]).await;
    assert_eq!(
        page.location,
        Some(format!("{page_of_alice}?done=not-locked"))
    );
    assert_eq!(audit_actors(&app, "user.unlock").await, 0);

    // "Delete selected…" with nothing ticked goes back to the list, saying so.
    let page = b
        .submit("/admin/users", "/admin/users/delete", &[("step", "review")])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/admin/users?done=none-selected")
    );
    assert!(b.follow(page).await.has("No user was ticked"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        1
    );
    assert_eq!(audit_actors(&app, "mfa.admin_reset").await, 1);

    // End sessions: her browser is signed out.
    assert_eq!(alice_b.get("/account").await.status, 200);
    // It asks first, saying what will happen; nothing happens until the answer.
    let question = b.submit(&page_of_alice, &on_alice("sessions"), &[]).await;
    assert_eq!(question.status, 200);
    assert!(question.has("out everywhere?") && question.has("id=\"cancel\""));
    assert_eq!(alice_b.get("/account").await.status, 200, "still signed in");
    let page = b.send(&question, &on_alice("sessions"), &[]).await;
    assert_eq!(
        page.location,
        Some(format!("{page_of_alice}?done=sessions"))
    );
    assert_eq!(alice_b.get("/account").await.status, 303, "signed out");

    // Disable, then enable.
    let page = b
        .submit(
            &page_of_alice,
            &on_alice("status"),
            &[("status", "disabled"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("{page_of_alice}?done=disabled"))
    );
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        401
    );
    let page = b
        .submit(&page_of_alice, &on_alice("status"), &[("status", "active")])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        303
    );

    // A new invitation mail.
    let mails = std::fs::read_dir(app.data_dir().join("outbox")).map_or(0, |d| d.count());
    let page = b.submit(&page_of_alice, &on_alice("invite"), &[]).await;
    assert_eq!(page.location, Some(format!("{page_of_alice}?done=invited")));
    let (mail, _) = crate::account::newest_mail(&app).expect("a mail");
    assert!(mail.contains("alice"));
    assert_eq!(
        std::fs::read_dir(app.data_dir().join("outbox")).map_or(0, |d| d.count()),
        mails + 1
    );

    // Rename a group.
    let out = app.cli(&[
        "group", "create", "--tenant", "acme", "--name", "Sales", "--json",
    ]);
    let group = out.json()["id"].as_str().unwrap().to_owned();
    let page = b
        .submit(
            &format!("/admin/groups/{group}"),
            &format!("/admin/groups/{group}/rename"),
            &[("name", "Field sales")],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("/admin/groups/{group}?done=renamed"))
    );
    assert!(b.get("/admin/groups").await.has("Field sales"));

    // Pages of 50: forward and back, every user once.
    let mut csv = String::from("username,email\n");
    for i in 0..60 {
        csv.push_str(&format!("user{i:02},user{i:02}@example.com\n"));
    }
    let done = crate::console_import::import(&b, "commit", &csv, &[]).await;
    assert!(done.has("60 created"), "{}", done.body);
    let names = |p: &crate::browser::Page| -> Vec<String> {
        p.body
            .match_indices("class=\"user-link\"><strong>")
            .map(|(i, m)| {
                let rest = &p.body[i + m.len()..];
                rest[..rest.find('<').unwrap()].to_owned()
            })
            .collect()
    };
    let link = |p: &crate::browser::Page, rel: &str| -> String {
        let end = p.body.find(&format!("\" rel=\"{rel}\"")).expect(rel);
        let start = p.body[..end].rfind("href=\"").unwrap() + 6;
        p.body[start..end].replace("&amp;", "&")
    };
    let first = b.get("/admin/users").await;
    let next = link(&first, "next");
    let second = b.get(&next).await;
    let (one, two) = (names(&first), names(&second));
    assert_eq!(one.len(), 50, "{}", first.body);
    assert_eq!(
        one.len() + two.len(),
        63,
        "60, alice, root and the first owner"
    );
    assert!(one.iter().all(|n| !two.contains(n)));
    assert!(!second.has("rel=\"next\""));
    let back = link(&second, "prev");
    assert_eq!(names(&b.get(&back).await), one);

    // Roles: helpdesk resets a person's password; the auditor exports the audit log but not
    // the directory.
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    let page = help
        .submit(&page_of_alice, &on_alice("password"), &[])
        .await;
    assert!(page.has("Reset password") && !page.has("one-time-password"));
    let page = help.send(&page, &on_alice("password"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has("one-time-password"));
    let (auditor, _) = signed_in_admin(&app, "otto", "auditor").await;
    let (status, _, body) = auditor.client_get("/admin/audit/export?format=csv").await;
    assert_eq!(status, 200);
    assert!(body.contains("mfa.admin_reset"));
    assert_eq!(
        auditor.client_get("/admin/users/export?format=csv").await.0,
        403
    );

    // Another tenant's user cannot be deleted from here.
    app.create_tenant("beta");
    app.create_user("beta", "mallory", PW);
    let mallory = {
        let out = app.cli(&["user", "show", "--tenant", "beta", "mallory", "--json"]);
        out.json()["id"].as_str().unwrap().to_owned()
    };
    let csrf = b.get("/admin/users").await.csrf();
    let page = b
        .post(
            &format!("/admin/users/{mallory}/delete"),
            &[("csrf", &csrf), ("confirm", "mallory")],
        )
        .await;
    assert_eq!(page.status, 404);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE username = 'mallory'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_person_export_streams_every_audit_entry_about_and_by_them() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let alice = user_id(&app, "alice");
    // Many pages of entries about alice and by her about nobody or others (written directly).
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3500) \
         INSERT INTO audit_log (tenant_id, seq, at, actor, subject, operation, outcome, \
         prev_mac, mac) \
         SELECT t.id, 100000 + n.i, 0, \
         CASE WHEN n.i % 2 = 0 THEN 'system' ELSE 'user:{alice}' END, \
         CASE WHEN n.i % 2 = 0 THEN 'user:{alice}' WHEN n.i % 3 = 0 THEN NULL \
         ELSE 'group:x' END, 'test.bulk', 'success', 'x', 'y' \
         FROM n, tenants t WHERE t.slug = 'acme'"
    ))
    .await;
    let (status, _, body) = b.client_get(&format!("/admin/users/{alice}/export")).await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["profile"]["username"], "alice");
    let seqs: Vec<i64> = doc["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "test.bulk")
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3500);
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3500, "each entry once");
}

#[tokio::test]
async fn the_overview_shows_users_sign_ins_and_certificates_that_expire_soon() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    // Sign-ins: two wrong passwords, an unknown user, one right; alice has no two-step.
    let alice = Browser::new(&app, "acme");
    alice.login("alice", "not-her-password").await;
    alice.login("alice", "still-not-it").await;
    alice.login("nobody-here", PW).await;
    alice.login("alice", PW).await;
    // A service provider whose certificate expires in ten days, and an active signing key of
    // ours that expires in five.
    let soon =
        now_unix() - (i64::from(latchkey::crypto::signing::CERT_VALIDITY_DAYS) - 10) * 86_400;
    let key = latchkey::crypto::signing::generate(
        latchkey::keys::Alg::Rs256,
        "https://sp.example.com",
        soon,
    )
    .unwrap();
    let body: String = key
        .certificate_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let file = app.dir.path().join("soon.xml");
    std::fs::write(
        &file,
        crate::saml::sp_metadata("https://soon.example.com", &body, ""),
    )
    .unwrap();
    let out = app.cli(&[
        "sp",
        "import",
        "--tenant",
        "acme",
        "--file",
        file.to_str().unwrap(),
        "--name",
        "Expense tool",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    app.sql(&format!(
        "UPDATE signing_keys SET not_after = {} WHERE state = 'active'",
        (now_unix() + 5 * 86_400) * 1000
    ))
    .await;

    let page = b.get("/admin").await;
    assert_eq!(page.status, 200);
    let figure = |id: &str| between(&page.body, &format!("id=\"figure-{id}\""), "</a>");
    let users = count(&app, "SELECT COUNT(*) FROM users").await;
    assert!(figure("users").contains(&format!("<strong>{users}</strong>")));
    assert!(figure("locked").contains("<strong>0</strong>"));
    // root has two-step; alice and the other users do not.
    let active = count(&app, "SELECT COUNT(*) FROM users WHERE status = 'active'").await;
    let with_mfa = count(
        &app,
        "SELECT COUNT(*) FROM totp_credentials WHERE confirmed_at IS NOT NULL",
    )
    .await;
    assert_eq!(with_mfa, 1);
    assert!(
        figure("mfa").contains(&format!(
            "<strong>{}%</strong>",
            (with_mfa * 100 + active / 2) / active
        )) && figure("mfa").contains(&format!("{with_mfa} of {active} active users")),
        "{}",
        figure("mfa")
    );
    // The chart's totals are the audit log's.
    let ok = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE operation = 'login.password' AND outcome = 'success'",
    )
    .await;
    let failed = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE (operation = 'login.password' OR operation = \
         'login.mfa') AND outcome <> 'success'",
    )
    .await;
    assert_eq!(failed, 3);
    let totals = between(&page.body, "id=\"sign-in-totals\"", "</p>");
    assert!(
        totals.contains(&format!(
            "Last 7 days: <strong>{ok}</strong> succeeded, <strong>{failed}</strong> failed"
        )),
        "{totals}"
    );
    assert!(page.has("<svg class=\"chart\""));
    let expiring = between(&page.body, "id=\"expiring\"", "</section>");
    assert!(
        expiring.contains("Expense tool: its signing certificate")
            && expiring.contains("Signing key"),
        "{expiring}"
    );
    // Helpdesk sees the directory figures but not the settings' certificates.
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    let page = help.get("/admin").await;
    assert!(page.has("id=\"figure-users\"") && !page.has("id=\"expiring\""));
}

#[tokio::test]
async fn the_list_counts_and_acts_on_ticked_users() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "admin").await;
    for n in 0..60 {
        app.create_user("acme", &format!("user{n:02}"), PW);
    }
    app.create_user("acme", "bob", PW);
    set_role(&app, "bob", "owner");
    let total = count(&app, "SELECT COUNT(*) FROM users").await;
    // Where the page is in the whole list.
    let first = b.get("/admin/users").await;
    assert!(
        first.has(&format!("id=\"total\">1–50 of {total}<")),
        "{}",
        first.body
    );
    let next = between(&first.body, "<a href=\"", "\" rel=\"next\"");
    let next = next
        .rsplit("<a href=\"")
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let second = b.get(&next).await;
    assert!(second.has(&format!("id=\"total\">51–{total} of {total}<")));
    assert!(first.has("data-select-all=\"user\""));

    let alice = user_id(&app, "alice");
    let bob = user_id(&app, "bob");
    let u01 = user_id(&app, "user01");
    let csrf = first.csrf();
    let tick = |action: &'static str, users: Vec<String>, extra: Vec<(&'static str, String)>| {
        let mut f: Vec<(String, String)> = vec![
            ("csrf".into(), csrf.clone()),
            ("action".into(), action.into()),
        ];
        f.extend(users.into_iter().map(|u| ("user".to_owned(), u)));
        f.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        f
    };
    let send = async |f: Vec<(String, String)>| {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/admin/users/bulk", &pairs).await
    };

    // Nothing ticked: back to the list, saying so.
    let page = send(tick("disable", vec![], vec![])).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/admin/users?done=none-selected")
    );

    // Disable asks first, naming who and leaving out the owner an admin may not touch.
    let question = send(tick(
        "disable",
        vec![alice.clone(), u01.clone(), bob.clone()],
        vec![],
    ))
    .await;
    assert_eq!(question.status, 200);
    assert!(
        question.has("Disable 2 users?") && question.has("Left out"),
        "{}",
        question.body
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE status = 'disabled'").await,
        0
    );
    let done = b.send(&question, "/admin/users/bulk", &[]).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/admin/users?done=bulk-disabled")
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE status = 'disabled'").await,
        2
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM users WHERE id = '{bob}' AND status = 'active'")
        )
        .await,
        1
    );

    // Add to a group: no question; the group's page says so.
    let out = app.cli(&[
        "group", "create", "--tenant", "acme", "--name", "Staff", "--json",
    ]);
    let staff = out.json()["id"].as_str().unwrap().to_owned();
    let page = send(tick(
        "group",
        vec![alice.clone(), u01.clone()],
        vec![("group", staff.clone())],
    ))
    .await;
    assert_eq!(
        page.location,
        Some(format!("/admin/groups/{staff}?done=bulk-added"))
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM group_members").await, 2);

    // Export the selection: the download holds exactly the ticked users.
    let page = send(tick("export", vec![alice.clone(), u01.clone()], vec![])).await;
    let to = page.location.clone().unwrap();
    assert!(
        to.starts_with("/admin/users/export?format=csv&ids="),
        "{to}"
    );
    let (status, _, csv) = b.client_get(&to).await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains(",alice,") && csv.contains(",user01,"));

    // Another tenant's user in the selection: not found, nothing done.
    app.create_tenant("beta");
    app.create_user("beta", "mallory", PW);
    let out = app.cli(&["user", "show", "--tenant", "beta", "mallory", "--json"]);
    let mallory = out.json()["id"].as_str().unwrap().to_owned();
    let user02 = user_id(&app, "user02");
    let page = send(tick(
        "disable",
        vec![user02.clone(), mallory.clone()],
        vec![("confirmed", "yes".into())],
    ))
    .await;
    assert_eq!(page.status, 404);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE status = 'disabled'").await,
        2
    );
}

#[tokio::test]
async fn the_list_sorts_by_column_and_pages_through_every_user_once() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "admin").await;
    for n in 0..60 {
        app.create_user("acme", &format!("user{n:02}"), PW);
    }
    // Names in the opposite order to usernames, two of them the same (ties go by username).
    app.sql(
        "UPDATE users SET display_name = 'Name ' || (99 - CAST(SUBSTR(username, 5) AS INTEGER)), \
         name_key = 'name ' || (99 - CAST(SUBSTR(username, 5) AS INTEGER)) \
         WHERE username LIKE 'user%'",
    )
    .await;
    app.sql(
        "UPDATE users SET display_name = 'Name 90', name_key = 'name 90' WHERE username = 'user08'",
    )
    .await;
    let names = |page: &Page| -> Vec<String> {
        page.body
            .split("class=\"user-link\"><strong>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_owned())
            .collect()
    };
    let link = |page: &Page, rel: &str| -> Option<String> {
        let end = page.body.find(&format!("\" rel=\"{rel}\""))?;
        let start = page.body[..end].rfind("href=\"")? + 6;
        Some(
            page.body[start..end]
                .replace("&#38;", "&")
                .replace("&amp;", "&"),
        )
    };
    let walk = async |first: &str| -> (Vec<String>, Vec<String>) {
        let mut page = b.get(first).await;
        let first_page = names(&page);
        let mut all = first_page.clone();
        while let Some(next) = link(&page, "next") {
            page = b.get(&next).await;
            all.extend(names(&page));
        }
        (all, first_page)
    };
    let expected = async |order: &str| {
        crate::login::rows(
            &app,
            &format!(
                "SELECT username FROM users u JOIN tenants t ON t.id = u.tenant_id \
                 WHERE t.slug = 'acme' ORDER BY {order}"
            ),
        )
        .await
    };
    for (sort, order) in [
        ("/admin/users?sort=name", "u.name_key, u.username_key"),
        (
            "/admin/users?sort=name&dir=desc",
            "u.name_key DESC, u.username_key DESC",
        ),
        ("/admin/users?sort=email", "u.email_key, u.username_key"),
        ("/admin/users?dir=desc", "u.username_key DESC"),
    ] {
        let (all, first) = walk(sort).await;
        assert_eq!(all, expected(order).await, "{sort}");
        // Back from the second page is the first again.
        let page = b.get(sort).await;
        let second = b.get(&link(&page, "next").unwrap()).await;
        let back = b.get(&link(&second, "prev").unwrap()).await;
        assert_eq!(names(&back), first, "{sort}");
        assert!(
            second.has(&format!("id=\"total\">51–{} of {}<", all.len(), all.len())),
            "{sort}"
        );
    }
    // The heading of the current order says so, and sorts the other way.
    let page = b.get("/admin/users?sort=name").await;
    let heading = between(&page.body, "aria-sort=\"ascending\"><a href=\"", "\"");
    assert_eq!(
        heading.replace("&#38;", "&").replace("&amp;", "&"),
        "/admin/users?sort=name&dir=desc"
    );
}

/// Issue 16 item 17: resetting another person's password or two-step verification hands over
/// their account, so it needs a fresh proof, like exports and deletions; nothing happens until
/// it is given, and then the action is carried out as submitted.
#[tokio::test]
async fn resetting_a_password_or_two_step_needs_a_recent_proof() {
    let app = app_with_alice().await;
    let alice = user_id(&app, "alice");
    let (owner, key) = signed_in_admin(&app, "root", "owner").await;
    let page_of_alice = format!("/admin/users/{alice}");
    let hash = "SELECT password_hash FROM users WHERE username = 'alice'";
    let before = crate::login::text(&app, hash).await;
    let resets = "SELECT COUNT(*) FROM audit_log WHERE operation IN \
                  ('password.admin_reset', 'mfa.admin_reset')";
    for (action, confirming) in [
        ("password", "reset a person&#39;s password"),
        ("mfa", "reset a person&#39;s two-step verification"),
    ] {
        // Ten minutes after the last proof.
        app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
            .await;
        let path = format!("{page_of_alice}/{action}");
        let asked = owner
            .submit(&page_of_alice, &path, &[("confirmed", "yes")])
            .await;
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert!(asked.has("Confirm it"), "{action}: {}", asked.body);
        assert!(asked.has(confirming), "{action}: {}", asked.body);
        assert_eq!(crate::login::text(&app, hash).await, before);
        assert_eq!(count(&app, resets).await, 0, "{action}: nothing done yet");
    }
    // With the proof, the reset is carried out as it was submitted.
    let asked = owner
        .submit(
            &page_of_alice,
            &format!("{page_of_alice}/password"),
            &[("confirmed", "yes")],
        )
        .await;
    let done = owner.confirm_it_is_me(&asked, PW, &key).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.has("The password is reset"), "{}", done.body);
    assert_ne!(crate::login::text(&app, hash).await, before);
}
