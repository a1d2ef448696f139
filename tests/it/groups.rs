//! Directory groups from the CLI, and where they flow: the OIDC `groups` claim (ID token and
//! userinfo, with the `groups` scope only) and SAML attributes mapped from `groups`.

use crate::browser::Browser;
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};
use crate::oidc_flow::{CALLBACK, CHALLENGE, VERIFIER, query_of};
use crate::saml_sso::{SP, attribute_values, posted_response, register_sp};

fn cli_json(app: &TestApp, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = app.cli(&args);
    assert!(out.ok(), "{args:?}: {}", out.stderr);
    out.json()
}

fn cli_fails(app: &TestApp, args: &[&str], says: &str) {
    let out = app.cli(args);
    assert!(!out.ok(), "{args:?} should fail");
    assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
}

fn group_names(app: &TestApp, slug: &str) -> Vec<(String, i64)> {
    cli_json(app, &["group", "list", "--tenant", slug])["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_owned(),
                g["members"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn groups_are_managed_from_the_cli_audited_and_kept_to_their_tenant() {
    let app = app_with_alice().await;
    app.create_user("acme", "bob", PW);
    app.create_tenant("globex");
    app.create_user("globex", "carol", PW);
    let t = ["--tenant", "acme"];
    let g = cli_json(
        &app,
        &[&["group", "create"][..], &t, &["--name", " Dev & <Ops> "]].concat(),
    );
    assert_eq!(g["name"], "Dev & <Ops>");
    cli_json(
        &app,
        &[&["group", "create"][..], &t, &["--name", "Engineering"]].concat(),
    );
    // Names are compared folded; bad names say why; nothing is stored for them.
    cli_fails(
        &app,
        &[&["group", "create"][..], &t, &["--name", "ENGINEERING"]].concat(),
        "already a group",
    );
    cli_fails(
        &app,
        &[&["group", "create"][..], &t, &["--name", "a,b"]].concat(),
        "commas",
    );
    let long = "x".repeat(65);
    cli_fails(
        &app,
        &[&["group", "create"][..], &t, &["--name", &long]].concat(),
        "1 to 64",
    );

    for user in ["alice", "bob"] {
        let added = cli_json(
            &app,
            &[
                &["group", "add-member"][..],
                &t,
                &["--group", "engineering", "--username", user],
            ]
            .concat(),
        );
        assert_eq!(added["added"], true);
    }
    let again = cli_json(
        &app,
        &[
            &["group", "add-member"][..],
            &t,
            &["--group", "Engineering", "--username", "alice"],
        ]
        .concat(),
    );
    assert_eq!(again["added"], false, "a member once");
    cli_json(
        &app,
        &[
            &["group", "add-member"][..],
            &t,
            &["--group", "Dev & <Ops>", "--username", "alice"],
        ]
        .concat(),
    );
    assert_eq!(
        group_names(&app, "acme"),
        vec![("Dev & <Ops>".to_owned(), 1), ("Engineering".to_owned(), 2)]
    );
    let members = cli_json(
        &app,
        &[&["group", "members"][..], &t, &["--group", "Engineering"]].concat(),
    );
    assert_eq!(members["members"], serde_json::json!(["alice", "bob"]));

    // Another tenant's users and groups are unknown here, and this tenant's are unknown there.
    cli_fails(
        &app,
        &[
            &["group", "add-member"][..],
            &t,
            &["--group", "Engineering", "--username", "carol"],
        ]
        .concat(),
        "no user",
    );
    cli_fails(
        &app,
        &[
            "group",
            "members",
            "--tenant",
            "globex",
            "--group",
            "Engineering",
        ],
        "no group",
    );
    assert!(group_names(&app, "globex").is_empty());

    let renamed = cli_json(
        &app,
        &[
            &["group", "rename"][..],
            &t,
            &[
                "--group",
                "engineering",
                "--to",
                "Platform",
                "--description",
                "builds things",
            ],
        ]
        .concat(),
    );
    assert_eq!(renamed["name"], "Platform");
    assert_eq!(renamed["description"], "builds things");
    cli_fails(
        &app,
        &[
            &["group", "rename"][..],
            &t,
            &["--group", "Platform", "--to", "dev & <ops>"],
        ]
        .concat(),
        "already a group",
    );
    let removed = cli_json(
        &app,
        &[
            &["group", "remove-member"][..],
            &t,
            &["--group", "Platform", "--username", "bob"],
        ]
        .concat(),
    );
    assert_eq!(removed["removed"], true);
    cli_json(
        &app,
        &[&["group", "delete"][..], &t, &["--group", "Dev & <Ops>"]].concat(),
    );
    assert_eq!(group_names(&app, "acme"), vec![("Platform".to_owned(), 1)]);

    // Every change is in the chain, by opaque id, and the chain verifies.
    let verified = cli_json(&app, &["audit", "verify", "--tenant", "acme"]);
    assert_eq!(verified["ok"], true, "{verified}");
    let tenant = latchkey::directory::find_tenant(&app.svc, "acme")
        .await
        .unwrap();
    let log = latchkey::store::audit::page(&app.svc.store, tenant.id, 0, 1000)
        .await
        .unwrap();
    for op in [
        "group.create",
        "group.member.add",
        "group.update",
        "group.member.remove",
        "group.delete",
    ] {
        assert!(log.iter().any(|e| e.operation == op), "{op} audited");
    }
    let text = format!("{log:?}");
    assert!(
        !text.contains("Dev & <Ops>") && !text.contains("Platform"),
        "names stay out of the log"
    );
}

#[tokio::test]
async fn groups_reach_oidc_with_the_groups_scope_and_saml_where_mapped() {
    let app = app_with_alice().await;
    let t = ["--tenant", "acme"];
    for name in ["Engineering", "dev & <ops>"] {
        cli_json(
            &app,
            &[&["group", "create"][..], &t, &["--name", name]].concat(),
        );
        cli_json(
            &app,
            &[
                &["group", "add-member"][..],
                &t,
                &["--group", name, "--username", "alice"],
            ]
            .concat(),
        );
    }
    let client = cli_json(
        &app,
        &[
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "App",
            "--redirect-uri",
            CALLBACK,
            "--scopes",
            "openid,groups",
        ],
    );
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;

    let tokens = |scope: &'static str| {
        let (b, app) = (&b, &app);
        async move {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("client_id", id)
                .append_pair("redirect_uri", CALLBACK)
                .append_pair("response_type", "code")
                .append_pair("scope", scope)
                .append_pair("state", "s")
                .append_pair("code_challenge", CHALLENGE)
                .append_pair("code_challenge_method", "S256");
            let p = b.get(&format!("/oauth2/authorize?{}", q.finish())).await;
            let code = query_of(p.location.as_deref().unwrap())["code"].clone();
            let res: serde_json::Value = crate::harness::client()
                .post(app.url("acme", "/oauth2/token"))
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", VERIFIER),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            res
        }
    };
    let claims_of = |jwt: &str| -> serde_json::Value {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let userinfo = |token: String| {
        let app = &app;
        async move {
            let res = crate::harness::client()
                .get(app.url("acme", "/oauth2/userinfo"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let want = serde_json::json!(["dev & <ops>", "Engineering"]);
    let with = tokens("openid groups").await;
    assert_eq!(
        claims_of(with["id_token"].as_str().unwrap())["groups"],
        want,
        "{with}"
    );
    let info = userinfo(with["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(info["groups"], want);
    let without = tokens("openid").await;
    assert!(
        claims_of(without["id_token"].as_str().unwrap())
            .get("groups")
            .is_none()
    );
    let info = userinfo(without["access_token"].as_str().unwrap().to_owned()).await;
    assert!(info.get("groups").is_none(), "no groups without the scope");

    // SAML: only where the SP maps `groups`; markup in a name arrives as text.
    const IS_MEMBER_OF: &str = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1";
    register_sp(
        &app,
        "acme",
        SP,
        &[
            "--idp-initiated",
            "--attribute",
            &format!("groups={IS_MEMBER_OF}|isMemberOf"),
        ],
    );
    register_sp(&app, "acme", "urn:sp:plain", &["--idp-initiated"]);
    let start = |sp: &str| {
        format!(
            "/saml/start?sp={}",
            url::form_urlencoded::byte_serialize(sp.as_bytes()).collect::<String>()
        )
    };
    let xml = posted_response(&b.get(&start(SP)).await);
    assert_eq!(
        attribute_values(&xml, IS_MEMBER_OF),
        vec!["dev & <ops>".to_owned(), "Engineering".to_owned()]
    );
    assert!(xml.contains("dev &amp; &lt;ops&gt;"), "escaped");
    let plain = posted_response(&b.get(&start("urn:sp:plain")).await);
    assert!(attribute_values(&plain, IS_MEMBER_OF).is_empty());
    assert!(!plain.contains("Engineering"));

    // Leaving a group takes it out of the next sign-in.
    cli_json(
        &app,
        &[
            &["group", "remove-member"][..],
            &t,
            &["--group", "Engineering", "--username", "alice"],
        ]
        .concat(),
    );
    let xml = posted_response(&b.get(&start(SP)).await);
    assert_eq!(
        attribute_values(&xml, IS_MEMBER_OF),
        vec!["dev & <ops>".to_owned()]
    );
}
