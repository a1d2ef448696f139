//! Bulk import from CSV: every row checked first with a per-row report, then all or nothing
//! (or only the valid rows, when chosen), existing users updated only when asked, groups and
//! custom attributes set, invitations sent; file-level errors, roles and re-verification.

use crate::browser::{Browser, Page};
use crate::console::{audit_actors, signed_in_admin, user_id};
use crate::harness::TestApp;
use crate::login::{app_with_alice, count, text};

/// Posts the import form: `step` is `review` or `commit`.
pub(crate) async fn import(b: &Browser, step: &str, csv: &str, options: &[(&str, &str)]) -> Page {
    let csrf = b.get("/admin/users/import").await.csrf();
    let mut fields = vec![("csrf", csrf.as_str()), ("step", step), ("csv", csv)];
    fields.extend_from_slice(options);
    b.post_multipart("/admin/users/import", &fields, &[]).await
}

async fn setup(app: &TestApp, b: &Browser) {
    let out = app.cli(&[
        "group",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Engineering",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let page = b
        .submit(
            "/admin/attributes",
            "/admin/attributes",
            &[
                ("name", "cost_centre"),
                ("label", "Cost centre"),
                ("kind", "text"),
                ("required", "true"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
}

const MIXED: &str = "username,email,display_name,groups,cost_centre\r\n\
ann,ann@example.com,Ann Lee,Engineering,CC-1\r\n\
bob,bob@example.com,,Nope,CC-2\r\n\
alice,alice2@example.com,,,CC-3\r\n\
bad name,not-an-email,,,CC-4\r\n\
ANN,ann2@example.com,,,CC-5\r\n\
cara,cara@example.com,,,\r\n";

#[tokio::test]
async fn imports_are_checked_in_full_then_committed_all_or_nothing_or_valid_rows_only() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    setup(&app, &b).await;
    let users_before = count(&app, "SELECT COUNT(*) FROM users").await;

    // The check: every problem, by line, and nothing changes.
    let page = import(&b, "review", MIXED, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let summary = crate::console::between(&page.body, "<p id=\"import-summary\">", "</p>");
    assert!(
        summary.contains("<strong>1</strong> to create")
            && summary.contains("<strong>5</strong> with problems"),
        "{summary}"
    );
    let problems = crate::console::between(&page.body, "id=\"import-problems\"", "</table>");
    for (line, says) in [
        ("3", "There is no group `Nope`"),
        ("4", "A user with this username exists"),
        ("5", "e-mail"),
        ("6", "The username is also on line 2"),
        ("7", "Cost centre is required"),
    ] {
        assert!(
            problems.contains(&format!("<td class=\"num\">{line}</td>")) && problems.contains(says),
            "line {line}: {says} in {problems}"
        );
    }
    assert!(
        !page.has("id=\"import-commit\""),
        "all or nothing: no commit offered"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        users_before
    );

    // Committing anyway (all or nothing) imports nothing.
    let page = import(&b, "commit", MIXED, &[]).await;
    assert_eq!(page.status, 422);
    assert!(page.alert().unwrap().contains("Nothing was imported"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        users_before
    );

    // Only the valid rows, when chosen: ann, with her group, attribute and invitation.
    let options = [("mode", "valid_only"), ("invite", "true")];
    let page = import(&b, "review", MIXED, &options).await;
    assert!(page.has("id=\"import-commit\""));
    assert_eq!(page.field("step").as_deref(), Some("commit"));
    let page = import(&b, "commit", MIXED, &options).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = crate::console::between(&page.body, "id=\"import-done\">", "</p>");
    assert!(
        done.contains("1 created, 0 updated; 5 rows with problems were left out")
            && done.contains("invitation"),
        "{done}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        users_before + 1
    );
    let ann = user_id(&app, "ann");
    assert_eq!(
        text(
            &app,
            &format!("SELECT display_name FROM users WHERE id = '{ann}'")
        )
        .await,
        "Ann Lee"
    );
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM users WHERE id = '{ann}' AND password_hash IS NULL AND must_change_password")).await,
        1,
        "no password until she chooses one"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM group_members WHERE user_id = '{ann}'")
        )
        .await,
        1
    );
    assert_eq!(
        text(
            &app,
            &format!("SELECT value FROM user_attributes WHERE user_id = '{ann}'")
        )
        .await,
        "CC-1"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM reset_tokens WHERE user_id = '{ann}'")
        )
        .await,
        1
    );
    assert_eq!(audit_actors(&app, "directory.import").await, 1);
    assert_eq!(audit_actors(&app, "user.create").await, 1);

    // Existing users change only when asked.
    let update = "username,email,display_name,groups,cost_centre\nalice,alice@new.example.com,Alice Liddell,Engineering,CC-9\n";
    let page = import(&b, "commit", update, &[]).await;
    assert_eq!(page.status, 422);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users WHERE email = 'alice@new.example.com'"
        )
        .await,
        0
    );
    let page = import(&b, "review", update, &[("update_existing", "true")]).await;
    assert!(page.has("<strong>1</strong> to update"), "{}", page.body);
    let page = import(&b, "commit", update, &[("update_existing", "true")]).await;
    assert!(page.has("0 created, 1 updated"), "{}", page.body);
    let alice = user_id(&app, "alice");
    assert_eq!(
        text(
            &app,
            &format!("SELECT email FROM users WHERE id = '{alice}'")
        )
        .await,
        "alice@new.example.com"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM group_members WHERE user_id = '{alice}'")
        )
        .await,
        1
    );
    assert_eq!(
        text(
            &app,
            &format!("SELECT value FROM user_attributes WHERE user_id = '{alice}'")
        )
        .await,
        "CC-9"
    );
    // A directory export imports back: its extra columns are read past.
    let (status, _, export) = b.client_get("/admin/users/export?format=csv").await;
    assert_eq!(status, 200);
    let page = import(&b, "review", &export, &[("update_existing", "true")]).await;
    assert!(page.has("id=\"import-ignored\""), "{}", page.body);
    assert!(
        page.has("You cannot do this to your own account"),
        "{}",
        page.body
    );
    let expected = count(&app, "SELECT COUNT(*) FROM users").await - 1;
    assert!(
        page.has(&format!("<strong>{expected}</strong> to update")),
        "every other user: {}",
        page.body
    );
    // An update leaves empty cells alone (the required attribute need not be repeated).
    let partial = "username,email,cost_centre\nalice,alice@new.example.com,\n";
    let page = import(&b, "commit", partial, &[("update_existing", "true")]).await;
    assert!(page.has("0 created, 1 updated"), "{}", page.body);
    assert_eq!(
        text(
            &app,
            &format!("SELECT value FROM user_attributes WHERE user_id = '{alice}'")
        )
        .await,
        "CC-9"
    );
}

#[tokio::test]
async fn unusable_files_are_refused_whole_and_a_thousand_rows_import_in_one_go() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    setup(&app, &b).await;
    let before = count(&app, "SELECT COUNT(*) FROM users").await;
    let many_rows = {
        let mut s = String::from("username,email\n");
        for i in 0..10_001 {
            s.push_str(&format!("u{i},u{i}@example.com\n"));
        }
        s
    };
    for (csv, says) in [
        ("username,display_name\nann,Ann\n", "no `email` column"),
        (
            "username,email,shoe_size\nann,a@example.com,9\n",
            "`shoe_size` is not one of",
        ),
        (
            "username,email,email\nann,a@example.com,b@example.com\n",
            "appears twice",
        ),
        ("username,email\nann,\"open\n", "not closed"),
        ("", "Choose a CSV file"),
        (many_rows.as_str(), "at most 10000"),
    ] {
        let page = import(&b, "review", csv, &[]).await;
        assert_eq!(page.status, 422, "{says}");
        assert!(
            page.alert().unwrap_or_default().contains(says),
            "{says}: {:?}",
            page.alert()
        );
    }
    // Uploaded as a file, a thousand rows (with groups and attributes) check and commit.
    let mut csv = String::from("\u{feff}username,email,display_name,groups,cost_centre\r\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "p{i:04},p{i:04}@example.com,\"Person, {i}\",Engineering,CC-{i}\r\n"
        ));
    }
    let csrf = b.get("/admin/users/import").await.csrf();
    let page = b
        .post_multipart(
            "/admin/users/import",
            &[("csrf", &csrf), ("step", "review")],
            &[("csv_file", "people.csv", &csv)],
        )
        .await;
    assert!(
        page.has("<strong>1000</strong> to create"),
        "{}",
        page.alert().unwrap_or_default()
    );
    assert!(page.has("…and 980 more."));
    let page = import(&b, "commit", &csv, &[]).await;
    assert!(page.has("1000 created, 0 updated"), "{:?}", page.alert());
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        before + 1000
    );
    assert_eq!(
        text(
            &app,
            "SELECT display_name FROM users WHERE username = 'p0007'"
        )
        .await,
        "Person, 7"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM group_members").await,
        1000
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM user_attributes").await,
        1000
    );
    let out = app.cli(&["audit", "verify", "--tenant", "acme"]);
    assert!(
        out.ok(),
        "the chain verifies after the import: {}",
        out.stdout
    );
}

#[tokio::test]
async fn an_import_sees_only_its_own_tenant() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    app.create_tenant("beta");
    app.create_user("beta", "ann", crate::login::PW);
    let out = app.cli(&["group", "create", "--tenant", "beta", "--name", "Beta only"]);
    assert!(out.ok(), "{}", out.stderr);
    // Beta's group is unknown here, and beta's ann is no reason to refuse or update anyone.
    let page = import(
        &b,
        "review",
        "username,email,groups\nann,ann@example.com,Beta only\n",
        &[],
    )
    .await;
    assert!(page.has("There is no group `Beta only`"), "{}", page.body);
    let page = import(&b, "commit", "username,email\nann,ann@example.com\n", &[]).await;
    assert!(page.has("1 created, 0 updated"), "{}", page.body);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE username = 'ann'").await,
        2
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM group_members").await, 0);
}

#[tokio::test]
async fn importing_needs_the_power_the_token_and_a_fresh_proof() {
    let app = app_with_alice().await;
    let (help, _) = signed_in_admin(&app, "helen", "helpdesk").await;
    assert_eq!(help.get("/admin/users/import").await.status, 403);
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let csv = "username,email\nzed,zed@example.com\n";
    let page = b
        .post_multipart(
            "/admin/users/import",
            &[("step", "commit"), ("csv", csv)],
            &[],
        )
        .await;
    assert_eq!(page.status, 403, "no CSRF token");
    app.sql("UPDATE sessions SET auth_time = auth_time - 600000")
        .await;
    // The form asks for a fresh proof first; a commit without one is sent there too.
    let form = b.get("/admin/users/import").await;
    assert!(
        form.location
            .as_deref()
            .unwrap_or_default()
            .starts_with("/admin/verify?return_to="),
        "{:?}",
        form.location
    );
    let csrf = b.get("/admin/users").await.csrf();
    let page = b
        .post_multipart(
            "/admin/users/import",
            &[("csrf", &csrf), ("step", "commit"), ("csv", csv)],
            &[],
        )
        .await;
    assert!(
        page.location
            .as_deref()
            .unwrap_or_default()
            .starts_with("/admin/verify?return_to="),
        "{:?}",
        page.location
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE username = 'zed'").await,
        0
    );
}

#[tokio::test]
async fn a_large_import_sends_its_invitations_after_answering() {
    let app = app_with_alice().await;
    let (b, _) = signed_in_admin(&app, "root", "owner").await;
    let mut csv = String::from("username,email\n");
    for i in 0..25 {
        csv.push_str(&format!("new{i},new{i}@example.com\n"));
    }
    let page = import(&b, "commit", &csv, &[("invite", "true")]).await;
    assert!(page.has("25 created"), "{}", page.body);
    assert!(page.has("are being sent now"), "{}", page.body);
    let outbox = app.data_dir().join("outbox");
    let mut mails = 0;
    for _ in 0..200 {
        mails = std::fs::read_dir(&outbox).map_or(0, |d| d.count());
        if mails == 25 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(mails, 25, "one invitation each");
    assert_eq!(audit_actors(&app, "user.invite").await, 25);
}
