//! Custom user attributes: the schema page (add, relabel, require, delete with the values),
//! values checked by type on the add-user and profile forms, shown read-only to auditors,
//! carried typed in the directory and person exports; roles and other tenants' ids.

use crate::browser::Browser;
use crate::console::{audit_actors, parse_csv, signed_in_admin, user_id};
use crate::login::{PW, app_with_alice, count, text};

/// Adds an attribute through the schema page; returns the page answered.
async fn define(b: &Browser, fields: &[(&str, &str)]) -> crate::browser::Page {
    b.submit("/admin/attributes", "/admin/attributes", fields)
        .await
}

#[tokio::test]
async fn custom_attributes_are_defined_checked_edited_and_exported() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    app.create_user("acme", "dave", PW);
    let (auditor, _) = signed_in_admin(&app, "otto", "auditor").await;
    let page = b.get("/admin/attributes").await;
    assert_eq!(page.status, 200);
    assert!(page.has("No custom attributes yet."));

    // Bad definitions: the reason beside the field, nothing stored.
    let long_label = "L".repeat(latchkey::directory::attributes::MAX_LABEL + 1);
    for (fields, field, says) in [
        (
            vec![
                ("name", "Cost Centre"),
                ("label", "Cost centre"),
                ("kind", "text"),
            ],
            "name",
            "lower-case letters",
        ),
        (
            vec![("name", "email"), ("label", "E-mail"), ("kind", "text")],
            "name",
            "\"email\" is a built-in field",
        ),
        (
            vec![("name", "shoe"), ("label", ""), ("kind", "text")],
            "label",
            "label",
        ),
        (
            vec![("name", "shoe"), ("label", &long_label), ("kind", "text")],
            "label",
            "label",
        ),
        (
            vec![("name", "shoe"), ("label", "Shoe"), ("kind", "colour")],
            "kind",
            "type",
        ),
    ] {
        let page = define(&b, &fields).await;
        assert_eq!(page.status, 422, "{fields:?}");
        let beside = page.beside(field).unwrap_or_default();
        assert!(beside.contains(says), "{fields:?}: {beside:?}");
        assert!(
            page.alert()
                .unwrap()
                .contains("Check the fields marked below")
        );
    }
    // Every problem at once, what was typed kept.
    let page = define(
        &b,
        &[("name", "Bad Name"), ("label", ""), ("kind", "colour")],
    )
    .await;
    assert_eq!(page.status, 422);
    for field in ["name", "label", "kind"] {
        assert!(page.beside(field).is_some(), "{field}: {}", page.body);
    }
    assert!(page.has("value=\"Bad Name\""));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM attribute_defs").await, 0);
    for fields in [
        vec![
            ("name", "cost_centre"),
            ("label", "Cost centre"),
            ("kind", "text"),
            ("required", "true"),
        ],
        vec![
            ("name", "start_date"),
            ("label", "Start date"),
            ("kind", "date"),
        ],
        vec![
            ("name", "employee_no"),
            ("label", "Employee number"),
            ("kind", "number"),
        ],
        vec![
            ("name", "remote"),
            ("label", "Works remotely"),
            ("kind", "boolean"),
        ],
    ] {
        let page = define(&b, &fields).await;
        assert_eq!(
            page.location.as_deref(),
            Some("/admin/attributes?done=created")
        );
    }
    let again = define(
        &b,
        &[("name", "remote"), ("label", "Remote"), ("kind", "text")],
    )
    .await;
    assert_eq!(again.status, 422);
    let beside = again.beside("name").unwrap_or_default();
    assert!(
        beside.contains("already an attribute named \"remote\""),
        "{beside}"
    );

    // Adding a user: the required attribute and the types are checked; nothing half-made.
    let new = b.get("/admin/users/new").await;
    assert!(new.has("name=\"attr.cost_centre\"") && new.has("type=\"date\""));
    let add = |extra: Vec<(&'static str, &'static str)>| {
        let b = b.clone();
        let (csrf, once) = (new.csrf(), new.once());
        async move {
            let mut f = vec![
                ("csrf", csrf.as_str()),
                ("once", once.as_str()),
                ("username", "carol"),
                ("email", "carol@example.com"),
                ("delivery", "password"),
            ];
            f.extend(extra);
            b.post("/admin/users", &f).await
        }
    };
    let page = add(vec![("attr.start_date", "2027-02-30")]).await;
    assert_eq!(page.status, 422);
    assert!(
        page.has("id=\"attr-cost_centre-error\">Enter a value: this attribute is required."),
        "{}",
        page.body
    );
    assert!(page.has("id=\"attr-start_date-error\">Enter a date, such as 2026-12-31."));
    assert!(page.has("aria-describedby=\"attr-start_date-error\""));
    assert!(
        page.has("value=\"2027-02-30\""),
        "the form keeps what was typed"
    );
    let page = add(vec![("attr.cost_centre", "CC-1"), ("attr.shoe", "9")]).await;
    assert_eq!(page.status, 422);
    assert!(page.alert().unwrap().contains("no attribute `shoe`"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE username = 'carol'").await,
        0
    );
    let page = add(vec![
        ("attr.cost_centre", "CC-1"),
        ("attr.start_date", "2027-01-04"),
        ("attr.employee_no", "0042"),
        ("attr.remote", "true"),
    ])
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let carol = user_id(&app, "carol");
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM user_attributes WHERE user_id = '{carol}'")
        )
        .await,
        4
    );
    assert_eq!(
        text(&app, "SELECT value FROM user_attributes WHERE value = '42'").await,
        "42",
        "numbers are stored canonically"
    );

    // Editing alice's profile: a bad value changes nothing; a good one is saved and audited.
    let alice = user_id(&app, "alice");
    let page_of_alice = format!("/admin/users/{alice}");
    let csrf = b.get(&page_of_alice).await.csrf();
    let save = |extra: Vec<(&'static str, &'static str)>| {
        let b = b.clone();
        let (csrf, path) = (csrf.clone(), format!("{page_of_alice}/profile"));
        async move {
            let mut f = vec![
                ("csrf", csrf.as_str()),
                ("display_name", "Alice"),
                ("email", "alice@example.com"),
            ];
            f.extend(extra);
            b.post(&path, &f).await
        }
    };
    let page = save(vec![
        ("attr.cost_centre", "CC-2"),
        ("attr.employee_no", "12x"),
    ])
    .await;
    assert_eq!(page.status, 422);
    assert!(page.has("id=\"attr-employee_no-error\">Enter a number"));
    assert!(page.has("value=\"12x\""), "what was typed is kept");
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM user_attributes WHERE user_id = '{alice}'")
        )
        .await,
        0
    );
    let page = save(vec![("attr.cost_centre", "CC-2"), ("attr.remote", "false")]).await;
    assert_eq!(
        page.location,
        Some(format!("{page_of_alice}?done=profile")),
        "{}",
        page.body
    );
    let detail = text(
        &app,
        "SELECT detail FROM audit_log WHERE operation = 'user.profile.update' ORDER BY seq DESC",
    )
    .await;
    assert!(
        detail.contains("cost_centre") && detail.contains("remote"),
        "{detail}"
    );
    assert_eq!(audit_actors(&app, "attribute.create").await, 4);

    // An auditor sees the values read-only, and the missing required one flagged (dave was
    // added before it was required).
    let dave = user_id(&app, "dave");
    let page = auditor.get(&format!("/admin/users/{dave}")).await;
    assert!(
        page.has("Cost centre") && page.has("missing"),
        "{}",
        page.body
    );
    assert!(!page.has("name=\"attr.cost_centre\""));
    assert_eq!(auditor.get("/admin/attributes").await.status, 200);
    let refused = auditor
        .submit(
            "/admin/attributes",
            "/admin/attributes",
            &[("name", "x"), ("label", "X"), ("kind", "text")],
        )
        .await;
    assert_eq!(refused.status, 403);

    // Exports: one CSV column per attribute, typed JSON values, and the person export.
    let (status, _, csv) = b.client_get("/admin/users/export?format=csv").await;
    assert_eq!(status, 200);
    let rows = parse_csv(&csv);
    let head = &rows[0];
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    assert_eq!(
        &head[head.len() - 4..],
        ["cost_centre", "employee_no", "remote", "start_date"]
    );
    let carol_row = rows.iter().find(|r| r[1] == "carol").unwrap();
    assert_eq!(carol_row[col("cost_centre")], "CC-1");
    assert_eq!(carol_row[col("start_date")], "2027-01-04");
    assert_eq!(carol_row[col("employee_no")], "42");
    assert_eq!(carol_row[col("remote")], "true");
    let (_, _, json) = b.client_get("/admin/users/export?format=json").await;
    let all: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let carol_json = all.iter().find(|u| u["username"] == "carol").unwrap();
    assert_eq!(
        carol_json["attributes"],
        serde_json::json!({
            "cost_centre": "CC-1", "start_date": "2027-01-04", "employee_no": 42, "remote": true,
        })
    );
    let dave_json = all.iter().find(|u| u["username"] == "dave").unwrap();
    assert!(dave_json["attributes"]["cost_centre"].is_null());
    let (_, _, doc) = b.client_get(&format!("/admin/users/{alice}/export")).await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["attributes"]["cost_centre"], "CC-2");
    assert_eq!(doc["attributes"]["remote"], false);

    // SAML attributes can carry custom attributes; one without a value is left out.
    crate::saml_sso::register_sp(
        &app,
        "acme",
        crate::saml_sso::SP,
        &[
            "--idp-initiated",
            "--attribute",
            "attr.cost_centre=costCentre",
            "--attribute",
            "attr.start_date=startDate",
            "--attribute",
            "attr.remote=remote",
        ],
    );
    let alice_browser = Browser::new(&app, "acme");
    alice_browser.login("alice", PW).await;
    let start = format!(
        "/saml/start?sp={}",
        url::form_urlencoded::byte_serialize(crate::saml_sso::SP.as_bytes()).collect::<String>()
    );
    let xml = crate::saml_sso::posted_response(&alice_browser.get(&start).await);
    assert_eq!(
        crate::saml_sso::attribute_values(&xml, "costCentre"),
        vec!["CC-2".to_owned()]
    );
    assert_eq!(
        crate::saml_sso::attribute_values(&xml, "remote"),
        vec!["false".to_owned()]
    );
    assert!(!xml.contains("startDate"), "no value, no attribute");
    let bad = app.cli(&[
        "sp",
        "create",
        "--tenant",
        "acme",
        "--entity-id",
        "urn:x",
        "--acs",
        "https://x.example.com/acs",
        "--attribute",
        "attr.Bad=x",
    ]);
    assert!(!bad.ok());

    // Relabel and make optional; then delete with its values (the name typed exactly).
    let id = text(
        &app,
        "SELECT id FROM attribute_defs WHERE name = 'cost_centre'",
    )
    .await;
    let csrf = b.get("/admin/attributes").await.csrf();
    // An empty label: said beside that row's label, nothing changed.
    let page = b
        .post(
            &format!("/admin/attributes/{id}"),
            &[("csrf", &csrf), ("label", " ")],
        )
        .await;
    assert_eq!(page.status, 422);
    let beside = page.beside(&format!("label-{id}")).unwrap_or_default();
    assert!(
        beside.contains("A label is 1 to"),
        "{beside}: {}",
        page.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM attribute_defs WHERE label = 'Cost centre'"
        )
        .await,
        1
    );
    let page = b
        .post(
            &format!("/admin/attributes/{id}"),
            &[("csrf", &csrf), ("label", "Cost center")],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/admin/attributes?done=saved")
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM attribute_defs WHERE label = 'Cost center' AND NOT required"
        )
        .await,
        1
    );
    let page = b
        .post(
            &format!("/admin/attributes/{id}/delete"),
            &[("csrf", &csrf), ("confirm", "cost")],
        )
        .await;
    assert_eq!(page.status, 422);
    let beside = page.beside(&format!("confirm-{id}")).unwrap_or_default();
    assert!(beside.contains("(cost_centre) exactly"), "{beside}");
    assert!(page.has("value=\"cost\""), "what was typed is kept");
    // Not while the SAML app still sends it (a later attribute of that name would be sent in
    // its place).
    let delete = [("csrf", csrf.as_str()), ("confirm", "cost_centre")];
    let path = format!("/admin/attributes/{id}/delete");
    let page = b.post(&path, &delete).await;
    assert_eq!(page.status, 422);
    let beside = page.beside(&format!("confirm-{id}")).unwrap_or_default();
    assert!(beside.contains("is sent to the application"), "{beside}");
    let sp = crate::saml_sso::SP;
    assert!(app.cli(&["sp", "delete", "--tenant", "acme", sp]).ok());
    let page = b.post(&path, &delete).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/admin/attributes?done=deleted")
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM user_attributes WHERE attribute_id = '{id}'")
        )
        .await,
        0
    );
    let detail = text(
        &app,
        "SELECT detail FROM audit_log WHERE operation = 'attribute.delete'",
    )
    .await;
    assert!(detail.contains("\"values\":2"), "{detail}");

    // Another tenant's attribute is not found.
    app.create_tenant("beta");
    let beta = text(&app, "SELECT id FROM tenants WHERE slug = 'beta'").await;
    let foreign = "01900000-0000-7000-8000-0000000000ff";
    app.sql(&format!(
        "INSERT INTO attribute_defs (id, tenant_id, name, label, kind, required, created_at, \
         updated_at) VALUES ('{foreign}', '{beta}', 'secret', 'Secret', 'text', false, 0, 0)"
    ))
    .await;
    assert!(!b.get("/admin/attributes").await.has("secret"));
    for path in [
        format!("/admin/attributes/{foreign}"),
        format!("/admin/attributes/{foreign}/delete"),
        "/admin/attributes/not-an-id".to_owned(),
    ] {
        let page = b
            .post(
                &path,
                &[("csrf", &csrf), ("label", "Mine"), ("confirm", "secret")],
            )
            .await;
        assert_eq!(page.status, 404, "{path}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM attribute_defs WHERE name = 'secret' AND label = 'Secret'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_cli_sets_custom_attributes_by_the_same_rules() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    for fields in [
        vec![
            ("name", "cost_centre"),
            ("label", "Cost centre"),
            ("kind", "text"),
            ("required", "true"),
        ],
        vec![
            ("name", "employee_no"),
            ("label", "Employee number"),
            ("kind", "number"),
        ],
        vec![
            ("name", "remote"),
            ("label", "Works remotely"),
            ("kind", "boolean"),
        ],
    ] {
        assert_eq!(define(&b, &fields).await.status, 303);
    }
    let create = |extra: &[&str]| {
        let mut args = vec![
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
            "--json",
        ];
        args.extend_from_slice(extra);
        app.cli(&args)
    };
    // Every problem is said, and nobody is created.
    for (extra, says) in [
        (vec![], "Cost centre is required"),
        (
            vec!["--attr", "cost_centre=CC-1", "--attr", "shoe=9"],
            "no attribute `shoe`",
        ),
        (
            vec!["--attr", "cost_centre=CC-1", "--attr", "employee_no=x"],
            "not a number",
        ),
        (vec!["--attr", "cost_centre"], "name=value"),
    ] {
        let out = create(&extra);
        assert!(!out.ok(), "{extra:?}");
        assert!(out.stderr.contains(says), "{extra:?}: {}", out.stderr);
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE username = 'bob'").await,
        0
    );
    let out = create(&["--attr", "cost_centre=CC-1", "--attr", "employee_no=+007"]);
    assert!(out.ok(), "{}", out.stderr);
    let show = |app: &crate::harness::TestApp| {
        let out = app.cli(&["user", "show", "--tenant", "acme", "bob", "--json"]);
        assert!(out.ok(), "{}", out.stderr);
        out.json()["attributes"].clone()
    };
    assert_eq!(
        show(&app),
        serde_json::json!({ "cost_centre": "CC-1", "employee_no": 7 })
    );

    // set-attr changes only what it names; a required one cannot be emptied.
    let set = |values: &[&str]| {
        let mut args = vec!["user", "set-attr", "--tenant", "acme", "bob"];
        args.extend_from_slice(values);
        app.cli(&args)
    };
    let out = set(&["remote=maybe", "employee_no="]);
    assert!(!out.ok(), "{}", out.stdout);
    assert!(out.stderr.contains("yes or no"), "{}", out.stderr);
    let out = set(&["cost_centre="]);
    assert!(!out.ok());
    assert!(
        out.stderr.contains("Cost centre is required"),
        "{}",
        out.stderr
    );
    let out = set(&["remote=true", "employee_no="]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(
        show(&app),
        serde_json::json!({ "cost_centre": "CC-1", "remote": true })
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'user.profile.update' \
             AND actor = 'operator'"
        )
        .await,
        1
    );

    // Another tenant's schema is its own.
    app.create_tenant("beta");
    let out = app.cli(&[
        "user",
        "create",
        "--tenant",
        "beta",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--attr",
        "cost_centre=CC-1",
    ]);
    assert!(!out.ok());
    assert!(
        out.stderr.contains("no attribute `cost_centre`"),
        "{}",
        out.stderr
    );
}
