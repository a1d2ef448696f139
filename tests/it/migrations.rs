//! Migrations are idempotent, a newer database is refused, and `/readyz` follows the database.

use std::time::Duration;

use latchkey::services::{Services, StartupError};
use latchkey::store::{MigrateError, MigrationState};

use latchkey_migrations::sea_orm_migration::MigratorTrait;

use crate::harness::TestApp;

#[tokio::test]
async fn migrations_are_idempotent() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    assert_eq!(
        app.svc.store.migration_state().await.unwrap(),
        MigrationState::Current
    );
    let applied = app.svc.store.migrate(&app.config.database).await.unwrap();
    assert!(applied.is_empty());
    let out = app.cli(&["migrate", "--json"]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.json()["applied"], serde_json::json!([]));
    // Data survives.
    assert_eq!(app.get("acme", "/").await.status(), 200);
}

#[tokio::test]
async fn concurrent_migrations_on_a_fresh_database_do_not_race() {
    let app = TestApp::spawn().await;
    // A second, fresh database migrated by four "nodes" at once.
    let dir = tempfile::tempdir().unwrap();
    let db = crate::harness::TestDb::create(dir.path()).await;
    let mut env = app.env.clone();
    env.insert("LATCHKEY_DATABASE_URL".into(), db.url.clone());
    let config = latchkey::config::Config::load(None, &env).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            let store = latchkey::store::Store::connect(&config.database)
                .await
                .unwrap();
            store.migrate(&config.database).await.map(|v| v.len())
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().expect("every node starts");
    }
    let known = latchkey_migrations::Migrator::migrations().len();
    assert_eq!(
        total, known,
        "each migration was applied by exactly one node"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_binary_is_refused() {
    let app = TestApp::spawn().await;
    app.sql("INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_from_the_future', 0)").await;
    assert!(matches!(
        app.svc.store.migration_state().await.unwrap(),
        MigrationState::Newer(_)
    ));
    let err = Services::open(&app.config).await.err().expect("refused");
    assert!(
        matches!(err, StartupError::Migrate(MigrateError::NewerDatabase(_))),
        "{err}"
    );
    let out = app.cli(&["migrate"]);
    assert!(!out.ok());
    assert!(out.stderr.contains("newer Latchkey"), "{}", out.stderr);
    // Readiness reports it too.
    let res = app
        .client
        .get(app.base_url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

async fn ready_status(app: &TestApp) -> u16 {
    app.client
        .get(app.base_url("/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait_for(app: &TestApp, want: u16) {
    for _ in 0..100 {
        if ready_status(app).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never became {want}");
}

#[tokio::test]
async fn readyz_follows_the_database_away_and_back() {
    let app = TestApp::spawn().await;
    assert_eq!(ready_status(&app).await, 200);
    if let Some(name) = app.db.pg_name().map(str::to_owned) {
        app.db
            .admin_sql(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
            ))
            .await;
        app.db
            .admin_sql(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await;
        wait_for(&app, 503).await;
        app.db
            .admin_sql(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
            ))
            .await;
        wait_for(&app, 200).await;
    } else {
        let db = app.data_dir().join("latchkey.db");
        let moved = app.data_dir().join("latchkey.db.away");
        std::fs::rename(&db, &moved).unwrap();
        wait_for(&app, 503).await;
        std::fs::rename(&moved, &db).unwrap();
        wait_for(&app, 200).await;
    }
    assert_eq!(app.get("nobody", "/").await.status(), 404);
}

#[tokio::test]
async fn later_migrations_roll_back_and_forward_keeping_the_directory() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_user("acme", "alice", crate::login::PW);
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    // Back to the foundation schema: the login tables go, users and tenants stay.
    latchkey_migrations::Migrator::down(&db, Some(1))
        .await
        .unwrap();
    latchkey_migrations::Migrator::up(&db, None).await.unwrap();
    db.close().await.ok();
    let b = crate::browser::Browser::new(&app, "acme");
    assert_eq!(b.login("alice", crate::login::PW).await.status, 303);
}
