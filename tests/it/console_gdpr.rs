//! GDPR duties in the console: erasure (one user, a pasted list, a selection) leaves no
//! personal data in any table while the audit chain verifies; restriction stops sign-in,
//! tokens and assertions, and lifting it lets the person sign in again (what applications
//! held before stays ended).

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::browser::{Browser, now_unix, totp};
use crate::console::{between, enrol, signed_in_admin, user_id};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice, count, text};
use crate::oidc_flow::{CALLBACK, VERIFIER, query_of, scoped_auth_path, web_client};

/// Every `table.column` of the database whose text holds `needle`.
async fn columns_holding(app: &TestApp, needle: &str) -> Vec<String> {
    let db = Database::connect(&app.db.url).await.unwrap();
    let backend = db.get_database_backend();
    let listing = if app.db.is_postgres() {
        "SELECT table_name AS t, column_name AS c FROM information_schema.columns \
         WHERE table_schema = 'public'"
    } else {
        "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table'"
    };
    let columns = db
        .query_all_raw(Statement::from_string(backend, listing.to_owned()))
        .await
        .unwrap();
    let mut found = vec![];
    for row in columns {
        let (t, c): (String, String) =
            (row.try_get("", "t").unwrap(), row.try_get("", "c").unwrap());
        let sql = format!(
            "SELECT COUNT(*) AS n FROM \"{t}\" WHERE LOWER(CAST(\"{c}\" AS TEXT)) LIKE '%{}%'",
            needle.to_lowercase()
        );
        let n = db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = n
            .try_get("", "n")
            .unwrap_or_else(|_| i64::from(n.try_get::<i32>("", "n").unwrap()));
        if n > 0 {
            found.push(format!("{t}.{c}"));
        }
    }
    db.close().await.ok();
    found
}

/// Exchanges a code at the token endpoint.
async fn exchange(app: &TestApp, (id, secret): (&str, &str), code: &str) -> serde_json::Value {
    crate::harness::client()
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Alice with a trail everywhere: a session, MFA, a group, a reset token, an OIDC consent and
/// refresh token. Returns her id.
const ALICE_AGENT: &str = "AlicesOwnBrowser/7.7";

async fn alice_everywhere(app: &TestApp) -> String {
    let alice = user_id(app, "alice");
    // Her own browser, so that what the log records of it can be looked for.
    let b = Browser::with_agent(app, "acme", ALICE_AGENT);
    b.login("alice", PW).await;
    enrol(&b).await;
    assert!(
        app.cli(&["group", "create", "--tenant", "acme", "--name", "Staff"])
            .ok()
    );
    assert!(
        app.cli(&[
            "group",
            "add-member",
            "--tenant",
            "acme",
            "--group",
            "Staff",
            "--username",
            "alice"
        ])
        .ok()
    );
    let (id, secret) = web_client(app, "acme", &["--consent"]);
    let path = scoped_auth_path(&id, "openid email offline_access");
    let consent = b.get(&path).await;
    assert_eq!(consent.status, 200, "consent page: {}", consent.body);
    let allowed = b
        .post(
            "/oauth2/consent",
            &[
                ("csrf", &consent.csrf()),
                ("request", &consent.field("request").unwrap()),
                ("binding", &consent.field("binding").unwrap()),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = query_of(&allowed.next().unwrap())["code"].clone();
    let tokens = exchange(app, (&id, &secret), &code).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let forgot = Browser::new(app, "acme");
    forgot
        .submit("/forgot", "/forgot", &[("login", "alice")])
        .await;
    // A custom attribute value naming her, and an assignment to the app.
    let tenant = text(
        app,
        &format!("SELECT tenant_id FROM users WHERE id = '{alice}'"),
    )
    .await;
    let client_row = text(
        app,
        &format!("SELECT id FROM oidc_clients WHERE client_id = '{id}'"),
    )
    .await;
    let attribute = "01900000-0000-7000-8000-000000000001";
    app.sql(&format!(
        "INSERT INTO attribute_defs (id, tenant_id, name, label, kind, required, created_at, \
         updated_at) VALUES ('{attribute}', '{tenant}', 'nickname', 'Nickname', 'text', false, 0, 0)"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO user_attributes (tenant_id, user_id, attribute_id, value, updated_at) \
         VALUES ('{tenant}', '{alice}', '{attribute}', 'alice the great', 0)"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO app_users (tenant_id, app_id, user_id, created_at) \
         VALUES ('{tenant}', '{client_row}', '{alice}', 0)"
    ))
    .await;
    for table in [
        "user_attributes",
        "app_users",
        "sessions",
        "totp_credentials",
        "group_members",
        "oidc_consents",
        "oidc_refresh_tokens",
    ] {
        assert!(
            count(
                app,
                &format!("SELECT COUNT(*) FROM {table} WHERE user_id = '{alice}'")
            )
            .await
                > 0,
            "alice has {table}"
        );
    }
    alice
}

#[tokio::test]
async fn erasing_a_user_leaves_no_personal_data_and_the_chain_verifies() {
    let app = app_with_alice().await;
    let alice = alice_everywhere(&app).await;
    let email = {
        let out = app.cli(&["user", "show", "--tenant", "acme", "alice", "--json"]);
        out.json()["email"].as_str().unwrap().to_owned()
    };
    let (b, key) = signed_in_admin(&app, "root", "admin").await;
    let page_of_alice = format!("/admin/users/{alice}");
    let held = columns_holding(&app, ALICE_AGENT).await;
    assert!(
        held.contains(&"audit_log.user_agent".to_owned()),
        "{held:?}"
    );

    // A wrong confirmation deletes nothing.
    let page = b
        .submit(
            &page_of_alice,
            &format!("{page_of_alice}/delete"),
            &[("confirm", "alic")],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.has("Type the username exactly"));
    // Stale proof: asked again first.
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    let page = b
        .submit(
            &page_of_alice,
            &format!("{page_of_alice}/delete"),
            &[("confirm", "alice")],
        )
        .await;
    assert!(page.has("delete a user</strong>"), "{}", page.body);
    let form = page;
    let ok = b
        .post(
            "/admin/verify",
            &[
                ("csrf", &form.csrf()),
                ("password", PW),
                ("code", &totp(&key, now_unix() + 30)),
                ("return_to", &page_of_alice),
            ],
        )
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM users WHERE id = '{alice}'")
        )
        .await,
        1
    );
    let page = b
        .submit(
            &page_of_alice,
            &format!("{page_of_alice}/delete"),
            &[("confirm", "Alice")],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/admin/users?done=deleted"));
    assert!(b.follow(page).await.has("The users are deleted."));

    // Nothing about her is left but her opaque id in the audit log.
    assert_eq!(columns_holding(&app, "alice").await, Vec::<String>::new());
    assert_eq!(columns_holding(&app, &email).await, Vec::<String>::new());
    assert_eq!(
        columns_holding(&app, ALICE_AGENT).await,
        Vec::<String>::new(),
        "the browser of her own actions is gone from the log"
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE actor = 'user:{alice}' \
                 AND source_ip IS NOT NULL"
            )
        )
        .await,
        0,
        "and so is the address"
    );
    // What the admins did keeps where they did it from.
    assert!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'user.delete' \
             AND source_ip IS NOT NULL"
        )
        .await
            == 1
    );
    let mut with_id = columns_holding(&app, &alice).await;
    with_id.sort();
    assert!(
        with_id.iter().all(|c| c.starts_with("audit_log.")),
        "only the audit log names her id: {with_id:?}"
    );
    assert_eq!(b.get(&page_of_alice).await.status, 404);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'user.delete' AND actor LIKE 'user:%'"
        )
        .await,
        1
    );
    let out = app.cli(&["audit", "verify", "--tenant", "acme"]);
    assert!(out.ok(), "{}", out.stderr);
    // She cannot sign in, and her refresh token is gone with her.
    assert_eq!(
        Browser::new(&app, "acme").login("alice", PW).await.status,
        401
    );
}

#[tokio::test]
async fn bulk_deletion_reviews_first_and_is_all_or_nothing() {
    let app = app_with_alice().await;
    for u in ["u1", "u2", "u3"] {
        app.create_user("acme", u, PW);
    }
    let (b, _) = signed_in_admin(&app, "root", "admin").await;
    let review = b
        .submit(
            "/admin/users/delete",
            "/admin/users/delete",
            &[
                ("step", "review"),
                ("names", "username,email\nu1,x\nU2\nnobody\nroot\n"),
            ],
        )
        .await;
    assert_eq!(review.status, 200, "{}", review.body);
    let listed = between(
        &review.body,
        "<ul class=\"list\" id=\"candidates\">",
        "</ul>",
    );
    assert!(listed.contains(">u1<") && listed.contains(">u2<") && !listed.contains("u3"));
    let skipped = between(&review.body, "<ul class=\"list\" id=\"skipped\">", "</ul>");
    assert!(skipped.contains("nobody") && skipped.contains("no such user"));
    assert!(skipped.contains("root") && skipped.contains("your own account"));
    // The review's form carries the ids; a wrong confirmation deletes none.
    let ids: Vec<String> = review
        .body
        .split("name=\"user\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let mut fields = vec![
        ("csrf", review.csrf()),
        ("step", "delete".into()),
        ("confirm", "delete 3".into()),
    ];
    fields.extend(ids.iter().map(|i| ("user", i.clone())));
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = b.post("/admin/users/delete", &refs).await;
    assert_eq!(page.status, 422);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE username IN ('u1', 'u2')"
        )
        .await,
        2
    );
    let mut fields = vec![
        ("csrf", review.csrf()),
        ("step", "delete".into()),
        ("confirm", "Delete 2".into()),
    ];
    fields.extend(ids.iter().map(|i| ("user", i.clone())));
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = b.post("/admin/users/delete", &refs).await;
    assert_eq!(page.location.as_deref(), Some("/admin/users?done=deleted"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE username IN ('u1', 'u2', 'u3')"
        )
        .await,
        1
    );

    // By selection from the list; an id of another tenant is not found and nothing goes.
    app.create_tenant("beta");
    app.create_user("beta", "mallory", PW);
    let out = app.cli(&["user", "show", "--tenant", "beta", "mallory", "--json"]);
    let mallory = out.json()["id"].as_str().unwrap().to_owned();
    let u3 = user_id(&app, "u3");
    let list = b.get("/admin/users").await;
    assert!(list.has("<option value=\"delete\">Delete…</option>") && list.has("id=\"bulk-go\""));
    let page = b
        .post(
            "/admin/users/delete",
            &[
                ("csrf", &list.csrf()),
                ("step", "review"),
                ("user", &u3),
                ("user", &mallory),
            ],
        )
        .await;
    assert_eq!(page.status, 404);
    let page = b
        .post(
            "/admin/users/delete",
            &[
                ("csrf", &list.csrf()),
                ("step", "delete"),
                ("user", &u3),
                ("confirm", "delete 1"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE username = 'u3'").await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE username = 'mallory'"
        )
        .await,
        1
    );

    // Helpdesk deletes nothing.
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    let alice = user_id(&app, "alice");
    let page = help
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/delete"),
            &[("confirm", "alice")],
        )
        .await;
    assert_eq!(page.status, 403);
    let out = app.cli(&["audit", "verify", "--tenant", "acme"]);
    assert!(out.ok(), "{}", out.stderr);
}

#[tokio::test]
async fn restriction_stops_sign_in_tokens_and_assertions_until_lifted() {
    let app = app_with_alice().await;
    let (id, secret) = web_client(&app, "acme", &[]);
    let alice_b = Browser::new(&app, "acme");
    alice_b.login("alice", PW).await;
    let p = alice_b
        .get(&scoped_auth_path(&id, "openid offline_access"))
        .await;
    let code = query_of(&p.location.unwrap())["code"].clone();
    let http = crate::harness::client();
    let tokens = exchange(&app, (&id, &secret), &code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A second code, issued before the restriction and exchanged after it.
    let p = alice_b
        .get(&scoped_auth_path(&id, "openid offline_access"))
        .await;
    let unused_code = query_of(&p.location.unwrap())["code"].clone();
    // What a resource server asking the introspection endpoint is told about her tokens.
    let (rs_id, rs_secret) = web_client(&app, "acme", &[]);
    let active = |token: String| {
        let (app, rs) = (&app, (rs_id.clone(), rs_secret.clone()));
        async move { crate::oidc_flow::introspected(app, (&rs.0, &rs.1), &token).await }
    };
    assert!(active(access.clone()).await && active(refresh.clone()).await);
    crate::saml_sso::register_sp(&app, "acme", crate::saml_sso::SP, &["--idp-initiated"]);
    let start = format!(
        "/saml/start?sp={}",
        url::form_urlencoded::byte_serialize(crate::saml_sso::SP.as_bytes()).collect::<String>()
    );
    // Before: an assertion about her.
    let xml = crate::saml_sso::posted_response(&alice_b.get(&start).await);
    assert!(xml.contains("Assertion"));

    let (b, _) = signed_in_admin(&app, "root", "admin").await;
    let alice = user_id(&app, "alice");
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/status"),
            &[("status", "restricted"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(page.status, 303);
    let page = b.follow(page).await;
    assert!(page.has("Processing is restricted"));

    // No sign-in, no session, no token, no userinfo, no assertion.
    assert_eq!(
        alice_b.get("/account").await.status,
        303,
        "her session ended"
    );
    let again = Browser::new(&app, "acme");
    assert_eq!(
        again.login("alice", PW).await.status,
        401,
        "sign-in refused"
    );
    let refreshed = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400);
    let info = http
        .get(app.url("acme", "/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
    assert!(!active(access.clone()).await, "introspection: access token");
    assert!(
        !active(refresh.clone()).await,
        "introspection: refresh token"
    );
    let late = http
        .post(app.url("acme", "/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", unused_code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 400, "a code issued before is not exchanged");
    let start_page = start.clone();
    let start = alice_b.get(&start).await;
    assert!(
        start
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login")),
        "IdP-initiated SSO sends her to a sign-in that refuses her: {:?} {}",
        start.location,
        start.status
    );
    // Restricted users are not in the list of active users, but are still held.
    assert!(b.get("/admin/users?status=restricted").await.has(">alice<"));

    // Lifting it lets her sign in again.
    let page = b
        .submit(
            &format!("/admin/users/{alice}"),
            &format!("/admin/users/{alice}/status"),
            &[("status", "active")],
        )
        .await;
    assert_eq!(page.status, 303);
    let restored = Browser::new(&app, "acme");
    assert_eq!(restored.login("alice", PW).await.status, 303);
    // What applications held before the restriction stays ended (issue 16 item 1): she
    // signs in to them anew.
    assert!(
        !active(access).await,
        "an access token from before the restriction is not honoured again"
    );

    // Restricted while signed in (say, on another node a moment before her session is
    // ended): SAML sends her to sign in, OIDC answers access_denied; neither issues anything.
    app.sql("UPDATE users SET status = 'restricted' WHERE username = 'alice'")
        .await;
    let sso = restored.get(&start_page).await;
    assert!(
        sso.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login")),
        "{:?} {}",
        sso.location,
        sso.body
    );
    assert!(!sso.body.contains("SAMLResponse"));
    let restored = Browser::new(&app, "acme");
    app.sql("UPDATE users SET status = 'active' WHERE username = 'alice'")
        .await;
    restored.login("alice", PW).await;
    app.sql("UPDATE users SET status = 'restricted' WHERE username = 'alice'")
        .await;
    let p = restored
        .get(&scoped_auth_path(&id, "openid offline_access"))
        .await;
    let to = p.location.unwrap_or_default();
    let answer = query_of(&to);
    assert_eq!(answer["error"], "access_denied", "{to}");
    assert!(!answer.contains_key("code"), "{to}");
}
