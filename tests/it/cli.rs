//! The command line: tenant and user creation, listing, bad input with clear errors that change
//! nothing.

use crate::harness::TestApp;

#[tokio::test]
async fn tenant_create_prints_url_admin_and_one_time_password_as_json() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("acme");
    assert_eq!(t["slug"], "acme");
    assert_eq!(t["url"], format!("http://acme.localhost:{}", app.port));
    assert_eq!(t["admin"]["username"], "admin");
    assert_eq!(t["admin"]["email"], "it@acme.test");
    assert_eq!(t["admin"]["admin_role"], "owner");
    assert_eq!(t["admin"]["must_change_password"], true);
    assert!(t["admin"]["one_time_password"].as_str().unwrap().len() >= 20);

    let show = app.cli(&["tenant", "show", "acme", "--json"]);
    assert!(show.ok());
    let keys = show.json()["signing_keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["state"], "active");
    assert_eq!(keys[0]["algorithm"], "RS256");

    let list = app.cli(&["tenant", "list", "--json"]);
    assert_eq!(list.json()["tenants"].as_array().unwrap().len(), 1);
    let text = app.cli(&["tenant", "list"]);
    assert!(text.stdout.contains("acme"));
}

#[tokio::test]
async fn bad_and_reserved_slugs_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    for (slug, message) in [
        ("a", "2 to 63"),
        ("Acme", "lowercase"),
        ("ac_me", "lowercase"),
        ("1acme", "start with a letter"),
        ("acme-", "must not end with a hyphen"),
        ("www", "reserved"),
        ("admin", "reserved"),
        ("xn--acme", "IDNA"),
    ] {
        let out = app.cli(&[
            "tenant",
            "create",
            slug,
            "--name",
            "X",
            "--admin-email",
            "it@x.test",
        ]);
        assert!(!out.ok(), "{slug} accepted");
        assert!(out.stderr.contains(message), "{slug}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let bad_email = app.cli(&[
        "tenant",
        "create",
        "acme",
        "--name",
        "X",
        "--admin-email",
        "nope",
    ]);
    assert!(!bad_email.ok());
    assert!(bad_email.stderr.contains("e-mail"), "{}", bad_email.stderr);
    let list = app.cli(&["tenant", "list", "--json"]);
    assert_eq!(list.json()["tenants"], serde_json::json!([]));
}

#[tokio::test]
async fn duplicate_slug_is_refused_and_keeps_the_first() {
    let app = TestApp::spawn().await;
    let first = app.create_tenant("acme");
    let out = app.cli(&[
        "tenant",
        "create",
        "acme",
        "--name",
        "Other",
        "--admin-email",
        "x@y.test",
    ]);
    assert!(!out.ok());
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    let show = app.cli(&["tenant", "show", "acme", "--json"]).json();
    assert_eq!(show["id"], first["id"]);
    assert_eq!(show["name"], "acme Inc");
}

#[tokio::test]
async fn user_create_with_password_from_stdin_or_generated() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let alice = app.create_user("acme", "Alice", "a-long-enough-password");
    assert_eq!(alice["username"], "Alice");
    assert_eq!(alice["must_change_password"], false);
    assert!(alice.get("one_time_password").is_none());

    let out = app.cli(&[
        "user",
        "create",
        "--tenant",
        "acme",
        "--username",
        "bob",
        "--email",
        "bob@acme.test",
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.json()["must_change_password"], true);
    assert!(out.json()["one_time_password"].as_str().unwrap().len() >= 20);

    let show = app.cli(&["user", "show", "--tenant", "acme", "ALICE", "--json"]);
    assert!(show.ok(), "{}", show.stderr);
    assert_eq!(show.json()["id"], alice["id"]);
    let list = app
        .cli(&["user", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(list["users"].as_array().unwrap().len(), 3); // admin, alice, bob
}

#[tokio::test]
async fn duplicate_usernames_including_case_and_unicode_variants_are_refused() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_user("acme", "alice", "a-long-enough-password");
    for variant in ["alice", "ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
        let out = app.cli_with(
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                variant,
                "--email",
                "other@acme.test",
                "--password-stdin",
            ],
            &[],
            Some("a-long-enough-password"),
        );
        assert!(!out.ok(), "{variant} accepted");
        assert!(
            out.stderr.contains("already taken"),
            "{variant}: {}",
            out.stderr
        );
    }
    let dup_email = app.cli_with(
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "alice2",
            "--email",
            "ALICE@acme.test",
            "--password-stdin",
        ],
        &[],
        Some("a-long-enough-password"),
    );
    assert!(!dup_email.ok());
    assert!(
        dup_email.stderr.contains("already used"),
        "{}",
        dup_email.stderr
    );
    let list = app
        .cli(&["user", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(
        list["users"].as_array().unwrap().len(),
        2,
        "nothing was added"
    );
    // The same username is free in another tenant.
    app.create_tenant("globex");
    app.create_user("globex", "alice", "a-long-enough-password");
}

#[tokio::test]
async fn bad_user_input_gives_clear_errors() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let cases: [(&[&str], Option<&str>, &str); 4] = [
        (
            &["--username", "a b", "--email", "ab@acme.test"],
            None,
            "spaces",
        ),
        (
            &["--username", "carol", "--email", "not-an-email"],
            None,
            "e-mail",
        ),
        (
            &[
                "--username",
                "carol",
                "--email",
                "c@acme.test",
                "--password-stdin",
            ],
            Some("short"),
            "at least 12",
        ),
        (
            &["--username", &"x".repeat(65), "--email", "c@acme.test"],
            None,
            "1 to 64",
        ),
    ];
    for (args, stdin, message) in cases {
        let mut full = vec!["user", "create", "--tenant", "acme"];
        full.extend_from_slice(args);
        let out = app.cli_with(&full, &[], stdin);
        assert!(!out.ok(), "{args:?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
    let unknown = app.cli(&[
        "user",
        "create",
        "--tenant",
        "nope",
        "--username",
        "c",
        "--email",
        "c@x.test",
    ]);
    assert!(!unknown.ok());
    assert!(
        unknown.stderr.contains("no tenant `nope`"),
        "{}",
        unknown.stderr
    );
    let list = app
        .cli(&["user", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_configuration_names_the_key() {
    let app = TestApp::spawn().await;
    let out = app.cli_with(
        &["tenant", "list"],
        &[("LATCHKEY_PUBLIC_URL", "ftp://x")],
        None,
    );
    assert!(!out.ok());
    assert!(out.stderr.contains("public_url"), "{}", out.stderr);
    let out = app.cli_with(&["tenant", "list"], &[("LATCHKEY_LOG_FORMAT", "xml")], None);
    assert!(out.stderr.contains("log_format"), "{}", out.stderr);
}
