//! Tenant isolation, one test per surface; grows with every surface the project adds.

use latchkey::directory::find_tenant;
use latchkey::store::users;

use crate::harness::TestApp;

#[tokio::test]
async fn users_are_scoped_to_their_tenant() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let alice = app.create_user("acme", "alice", "a-long-enough-password");
    let acme = find_tenant(&app.svc, "acme").await.unwrap();
    let globex = find_tenant(&app.svc, "globex").await.unwrap();
    let id = alice["id"].as_str().unwrap().parse().unwrap();
    assert!(
        users::find(&app.svc.store, acme.id, id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        users::find(&app.svc.store, globex.id, id)
            .await
            .unwrap()
            .is_none(),
        "found through another tenant"
    );
    let out = app.cli(&["user", "show", "--tenant", "globex", "alice"]);
    assert!(!out.ok());
    let list = app
        .cli(&["user", "list", "--tenant", "globex", "--json"])
        .json();
    assert_eq!(
        list["users"].as_array().unwrap().len(),
        1,
        "only globex's own admin"
    );
}

#[tokio::test]
async fn signing_keys_and_data_keys_are_per_tenant() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let acme = find_tenant(&app.svc, "acme").await.unwrap();
    let globex = find_tenant(&app.svc, "globex").await.unwrap();
    let a = latchkey::keys::list(&app.svc.store, acme.id).await.unwrap();
    let g = latchkey::keys::list(&app.svc.store, globex.id)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(g.len(), 1);
    assert_ne!(a[0].kid, g[0].kid);
    assert!(a.iter().all(|k| k.tenant_id == acme.id));
    let da = app
        .svc
        .keyring
        .data_key(&app.svc.store, acme.id)
        .await
        .unwrap();
    let dg = app
        .svc
        .keyring
        .data_key(&app.svc.store, globex.id)
        .await
        .unwrap();
    assert_ne!(da.expose_for_tests(), dg.expose_for_tests());
}

#[tokio::test]
async fn each_host_serves_only_its_own_tenant() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let a = app.get("acme", "/").await.text().await.unwrap();
    let g = app.get("globex", "/").await.text().await.unwrap();
    assert!(a.contains("acme Inc") && !a.contains("globex"));
    assert!(g.contains("globex Inc") && !g.contains("acme"));
}
