//! The audit chain: every state change is recorded, and tampering, deletion and reordering are
//! each detected by `latchkey audit verify`.

use latchkey::audit::{self, Verdict};
use latchkey::directory::find_tenant;

use crate::harness::TestApp;

/// A tenant with a few entries: tenant.create, key.create, user.create (admin) and two users.
async fn app_with_history() -> (TestApp, latchkey::ids::TenantId) {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    app.create_user("acme", "alice", "correct-horse-battery");
    app.create_user("acme", "bob", "correct-horse-battery");
    let id = find_tenant(&app.svc, "acme").await.unwrap().id;
    (app, id)
}

async fn verdict(app: &TestApp, tenant: latchkey::ids::TenantId) -> Verdict {
    let key = app
        .svc
        .keyring
        .chain_key(&app.svc.store, tenant)
        .await
        .unwrap();
    audit::verify(&app.svc.store, &key, tenant).await.unwrap()
}

#[tokio::test]
async fn state_changes_are_recorded_and_the_chain_verifies() {
    let (app, id) = app_with_history().await;
    assert_eq!(verdict(&app, id).await, Verdict::Intact { entries: 5 });
    let out = app.cli(&["audit", "verify", "--tenant", "acme", "--json"]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.json()["ok"], true);
    assert_eq!(out.json()["entries"], 5);
}

#[tokio::test]
async fn an_edited_entry_is_detected() {
    let (app, id) = app_with_history().await;
    app.sql(&format!(
        "UPDATE audit_log SET outcome = 'failure' WHERE tenant_id = '{id}' AND seq = 4"
    ))
    .await;
    assert!(matches!(
        verdict(&app, id).await,
        Verdict::Broken { seq: 4, .. }
    ));
    let out = app.cli(&["audit", "verify", "--tenant", "acme", "--json"]);
    assert!(!out.ok(), "a broken chain exits non-zero");
    assert_eq!(out.json()["first_broken"], 4);
    // The other tenant's chain is untouched.
    let globex = find_tenant(&app.svc, "globex").await.unwrap().id;
    assert!(matches!(
        verdict(&app, globex).await,
        Verdict::Intact { .. }
    ));
}

#[tokio::test]
async fn an_edited_actor_or_time_is_detected() {
    let (app, id) = app_with_history().await;
    app.sql(&format!(
        "UPDATE audit_log SET at = at + 1 WHERE tenant_id = '{id}' AND seq = 2"
    ))
    .await;
    assert!(matches!(
        verdict(&app, id).await,
        Verdict::Broken { seq: 2, .. }
    ));
}

#[tokio::test]
async fn a_deleted_entry_is_detected() {
    let (app, id) = app_with_history().await;
    app.sql(&format!(
        "DELETE FROM audit_log WHERE tenant_id = '{id}' AND seq = 3"
    ))
    .await;
    assert!(matches!(
        verdict(&app, id).await,
        Verdict::Broken { seq: 3, .. }
    ));
}

#[tokio::test]
async fn a_deleted_last_entry_is_detected() {
    let (app, id) = app_with_history().await;
    app.sql(&format!(
        "DELETE FROM audit_log WHERE tenant_id = '{id}' AND seq = 5"
    ))
    .await;
    assert!(matches!(
        verdict(&app, id).await,
        Verdict::Broken { seq: 5, .. }
    ));
}

#[tokio::test]
async fn reordered_entries_are_detected() {
    let (app, id) = app_with_history().await;
    // Swap the sequence numbers of entries 4 and 5.
    for sql in [
        format!("UPDATE audit_log SET seq = 1000 WHERE tenant_id = '{id}' AND seq = 4"),
        format!("UPDATE audit_log SET seq = 4 WHERE tenant_id = '{id}' AND seq = 5"),
        format!("UPDATE audit_log SET seq = 5 WHERE tenant_id = '{id}' AND seq = 1000"),
    ] {
        app.sql(&sql).await;
    }
    assert!(matches!(
        verdict(&app, id).await,
        Verdict::Broken { seq: 4, .. }
    ));
}

#[tokio::test]
async fn a_reforged_entry_without_the_master_key_is_detected() {
    // An attacker who edits a row and recomputes a plain SHA-256 chain still fails: the MAC key
    // derives from the tenant data key, which needs the master key.
    let (app, id) = app_with_history().await;
    app.sql(&format!(
        "UPDATE audit_log SET mac = '{}' WHERE tenant_id = '{id}' AND seq = 5",
        "ab".repeat(32)
    ))
    .await;
    app.sql(&format!(
        "UPDATE audit_heads SET mac = '{}' WHERE tenant_id = '{id}'",
        "ab".repeat(32)
    ))
    .await;
    assert!(matches!(
        verdict(&app, id).await,
        Verdict::Broken { seq: 5, .. }
    ));
}

#[tokio::test]
async fn an_entry_origin_can_be_removed_but_not_changed() {
    let (app, id) = app_with_history().await;
    crate::browser::Browser::new(&app, "acme")
        .login("alice", "correct-horse-battery")
        .await;
    let seq = crate::login::count(
        &app,
        &format!(
            "SELECT MAX(seq) FROM audit_log WHERE tenant_id = '{id}' AND source_ip IS NOT NULL"
        ),
    )
    .await;
    let set = |what: &'static str| {
        let app = &app;
        async move {
            app.sql(&format!(
                "UPDATE audit_log SET {what} WHERE tenant_id = '{id}' AND seq = {seq}"
            ))
            .await;
        }
    };
    assert!(matches!(verdict(&app, id).await, Verdict::Intact { .. }));
    set("source_ip = '10.9.9.9'").await;
    assert!(
        matches!(verdict(&app, id).await, Verdict::Broken { seq: s, .. } if s == seq),
        "a changed address is detected"
    );
    set("source_ip = '127.0.0.1'").await;
    assert!(matches!(verdict(&app, id).await, Verdict::Intact { .. }));
    set("source_ip = NULL").await;
    assert!(
        matches!(verdict(&app, id).await, Verdict::Broken { .. }),
        "half an origin removed is an edit"
    );
    set("user_agent = 'Forged/1.0'").await;
    assert!(matches!(verdict(&app, id).await, Verdict::Broken { .. }));
    // Removed whole, but by no erasure: detected.
    set("source_ip = NULL, user_agent = NULL").await;
    assert!(
        matches!(verdict(&app, id).await, Verdict::Broken { seq: s, ref reason } if s == seq
            && reason.contains("no erasure")),
        "{:?}",
        verdict(&app, id).await
    );
    // Alice erased: her entries' origins are removed by the erasure, which says so.
    let tenant = find_tenant(&app.svc, "acme").await.unwrap();
    let alice = latchkey::store::users::find_by_username_key(&app.svc.store, id, "alice")
        .await
        .unwrap()
        .unwrap();
    let origin = latchkey::audit::Origin::cli("test");
    let by = latchkey::audit::By::operator(&origin);
    let erased = latchkey::directory::erase(&app.svc, tenant.id, &[alice], by, latchkey::now_ms())
        .await
        .unwrap();
    assert_eq!(erased, 1);
    assert!(matches!(verdict(&app, id).await, Verdict::Intact { .. }));
}
