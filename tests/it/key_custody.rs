//! Key custody: fail closed on a wrong or missing master key, online master-key rotation, no
//! plaintext secrets in a raw dump, ciphertexts bound to their tenant and row.

use latchkey::config::Config;
use latchkey::crypto::MasterKey;
use latchkey::directory::find_tenant;
use latchkey::keys::{self, KeyError, MasterKeySetupError};
use latchkey::services::{Services, StartupError};
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::harness::{TestApp, run_cli};

fn config_with(app: &TestApp, changes: &[(&str, Option<String>)]) -> Config {
    let mut env = app.env.clone();
    for (k, v) in changes {
        match v {
            Some(v) => env.insert((*k).to_owned(), v.clone()),
            None => env.remove(*k),
        };
    }
    Config::load(None, &env).unwrap()
}

#[tokio::test]
async fn start_with_the_wrong_master_key_fails_closed() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let wrong = config_with(
        &app,
        &[(
            "LATCHKEY_MASTER_KEY",
            Some(MasterKey::generate().to_base64()),
        )],
    );
    let err = Services::open(&wrong).await.err().expect("must refuse");
    assert!(
        matches!(err, StartupError::MasterKey(MasterKeySetupError::Mismatch)),
        "{err}"
    );

    // The real binary: non-zero exit and a message that says what is wrong, before serving.
    let mut env = app.env.clone();
    env.insert(
        "LATCHKEY_MASTER_KEY".into(),
        MasterKey::generate().to_base64(),
    );
    env.insert("LATCHKEY_LISTEN".into(), "127.0.0.1:0".into());
    let out = run_cli(&env, &["serve"], &[], None);
    assert!(!out.ok());
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);

    let malformed = run_cli(
        &app.env,
        &["tenant", "list"],
        &[("LATCHKEY_MASTER_KEY", "not-base64!")],
        None,
    );
    assert!(!malformed.ok());
    assert!(
        malformed.stderr.contains("LATCHKEY_MASTER_KEY"),
        "{}",
        malformed.stderr
    );
}

#[tokio::test]
async fn the_default_key_file_is_created_once_and_never_replaced() {
    let app = TestApp::spawn().await; // sealed with LATCHKEY_MASTER_KEY
    let default_file = app.data_dir().join("master.key");
    let no_key = config_with(&app, &[("LATCHKEY_MASTER_KEY", None)]);
    let err = Services::open(&no_key).await.err().expect("must refuse");
    assert!(
        matches!(
            err,
            StartupError::MasterKey(MasterKeySetupError::MissingForSealedDatabase(_))
        ),
        "{err}"
    );
    assert!(
        !default_file.exists(),
        "no new key may be invented for a sealed database"
    );

    // A fresh database with nothing configured: the key file is created, mode 0600.
    let fresh = tempfile::tempdir().unwrap();
    let mut env = std::collections::HashMap::new();
    env.insert(
        "LATCHKEY_DATA_DIR".to_owned(),
        fresh.path().display().to_string(),
    );
    let config = Config::load(None, &env).unwrap();
    // SQLite only: this checks the embedded default.
    let svc = Services::open(&config).await.unwrap();
    let file = fresh.path().join("master.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key = MasterKey::read_file(&file).unwrap();
    assert_eq!(key.to_base64(), svc.keyring.master().to_base64());
    svc.store.close().await.unwrap();
    // Second start reuses it.
    let again = Services::open(&config).await.unwrap();
    assert_eq!(again.keyring.master().to_base64(), key.to_base64());
}

#[tokio::test]
async fn rotate_master_rewraps_everything_for_the_new_key_only() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let new_file = app.dir.path().join("new-master.key");
    let out = app.cli(&[
        "keys",
        "rotate-master",
        "--new-key-file",
        new_file.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let j = out.json();
    assert_eq!(j["tenants"], 2);
    assert_eq!(j["created"], true);

    // The new key opens every tenant's signing key…
    let new_config = config_with(
        &app,
        &[
            ("LATCHKEY_MASTER_KEY", None),
            (
                "LATCHKEY_MASTER_KEY_FILE",
                Some(new_file.display().to_string()),
            ),
        ],
    );
    let svc = Services::open(&new_config)
        .await
        .expect("new key opens the database");
    for slug in ["acme", "globex"] {
        let t = find_tenant(&svc, slug).await.unwrap();
        let (key, pkey) =
            keys::active_private_key(&svc.store, &svc.keyring, t.id, latchkey::keys::Alg::Rs256)
                .await
                .unwrap();
        let cert = openssl::x509::X509::from_pem(key.certificate_pem.as_bytes()).unwrap();
        assert!(cert.public_key().unwrap().public_eq(&pkey));
    }
    // …the audit chains still verify and record the rotation…
    let verify = run_cli(
        &app.env,
        &["audit", "verify", "--tenant", "acme", "--json"],
        &[(
            "LATCHKEY_MASTER_KEY",
            &MasterKey::read_file(&new_file).unwrap().to_base64(),
        )],
        None,
    );
    assert!(verify.ok(), "{} {}", verify.stdout, verify.stderr);
    // …and the old key opens nothing.
    let old = Config::load(None, &app.env).unwrap();
    assert!(matches!(
        Services::open(&old).await.err(),
        Some(StartupError::MasterKey(MasterKeySetupError::Mismatch))
    ));
    let wrapped_with_old = app
        .svc
        .keyring
        .data_key(&svc.store, find_tenant(&svc, "acme").await.unwrap().id)
        .await;
    assert!(matches!(wrapped_with_old, Err(KeyError::Crypto(_))));
}

/// Every byte the database holds, as text: the SQLite files, or every row of every table.
pub(crate) async fn raw_dump(app: &TestApp) -> Vec<u8> {
    if app.db.is_postgres() {
        let db = Database::connect(&app.db.url).await.unwrap();
        let tables = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            ))
            .await
            .unwrap();
        let mut out = Vec::new();
        for t in tables {
            let name: String = t.try_get("", "tablename").unwrap();
            let rows = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT CAST(t AS TEXT) AS row FROM \"{name}\" t"),
                ))
                .await
                .unwrap();
            for r in rows {
                let row: String = r.try_get("", "row").unwrap();
                out.extend_from_slice(row.as_bytes());
                out.push(b'\n');
            }
        }
        db.close().await.ok();
        assert!(out.len() > 1000, "the dump is suspiciously small");
        out
    } else {
        let db_path = app.data_dir().join("latchkey.db");
        let mut out = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = std::path::PathBuf::from(format!("{}{suffix}", db_path.display()));
            if let Ok(bytes) = std::fs::read(&p) {
                out.extend(bytes);
            }
        }
        assert!(out.len() > 10_000, "the dump is suspiciously small");
        out
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_raw_dump_holds_no_private_key_data_key_or_password() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme");
    let admin_password = tenant["admin"]["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let password = "Tr0ub4dor&3-horse-staple";
    app.create_user("acme", "alice", password);

    let t = find_tenant(&app.svc, "acme").await.unwrap();
    let dek = app
        .svc
        .keyring
        .data_key(&app.svc.store, t.id)
        .await
        .unwrap()
        .expose_for_tests();
    let (_, pkey) = keys::active_private_key(
        &app.svc.store,
        &app.svc.keyring,
        t.id,
        latchkey::keys::Alg::Rs256,
    )
    .await
    .unwrap();
    let private_der = pkey.private_key_to_der().unwrap();

    let dump = raw_dump(&app).await;
    // Sanity: the dump does hold what it should (public certificate, username).
    assert!(contains(&dump, b"BEGIN CERTIFICATE"));
    assert!(contains(&dump, b"alice"));
    for (what, needle) in [
        ("PEM private key", b"PRIVATE KEY".to_vec()),
        ("user password", password.as_bytes().to_vec()),
        (
            "admin one-time password",
            admin_password.as_bytes().to_vec(),
        ),
        ("data key (raw)", dek.to_vec()),
        ("data key (hex)", hex(&dek).into_bytes()),
        ("private key (DER prefix)", private_der[..64].to_vec()),
        (
            "private key (DER hex)",
            hex(&private_der[..64]).into_bytes(),
        ),
        (
            "master key",
            app.env["LATCHKEY_MASTER_KEY"].as_bytes().to_vec(),
        ),
    ] {
        assert!(
            !contains(&dump, &needle),
            "{what} found in the database dump"
        );
    }
}

#[tokio::test]
async fn ciphertexts_swapped_between_tenants_fail_to_decrypt() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let acme = find_tenant(&app.svc, "acme").await.unwrap();
    let globex = find_tenant(&app.svc, "globex").await.unwrap();
    assert!(
        keys::active_private_key(
            &app.svc.store,
            &app.svc.keyring,
            acme.id,
            latchkey::keys::Alg::Rs256
        )
        .await
        .is_ok()
    );

    // Swap the sealed private keys of the two tenants' signing keys.
    app.sql(&format!(
        "UPDATE signing_keys SET private_key_sealed = (SELECT private_key_sealed FROM signing_keys WHERE tenant_id = '{g}') WHERE tenant_id = '{a}'",
        a = acme.id, g = globex.id
    ))
    .await;
    let err = keys::active_private_key(
        &app.svc.store,
        &app.svc.keyring,
        acme.id,
        latchkey::keys::Alg::Rs256,
    )
    .await
    .err();
    assert!(matches!(err, Some(KeyError::Crypto(_))), "{err:?}");

    // Swap the wrapped data keys too: neither tenant's key opens under the other's id.
    let db = Database::connect(&app.db.url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT wrapped_dek FROM tenants WHERE id = '{}'", globex.id),
        ))
        .await
        .unwrap()
        .unwrap();
    let globex_dek: Vec<u8> = row.try_get("", "wrapped_dek").unwrap();
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        if app.db.is_postgres() {
            "UPDATE tenants SET wrapped_dek = $1 WHERE id = $2"
        } else {
            "UPDATE tenants SET wrapped_dek = ? WHERE id = ?"
        },
        [globex_dek.into(), acme.id.to_string().into()],
    );
    db.execute_raw(stmt).await.unwrap();
    db.close().await.ok();
    let err = app
        .svc
        .keyring
        .data_key(&app.svc.store, acme.id)
        .await
        .err();
    assert!(matches!(err, Some(KeyError::Crypto(_))), "{err:?}");
    // The untouched tenant still works.
    assert!(
        app.svc
            .keyring
            .data_key(&app.svc.store, globex.id)
            .await
            .is_ok()
    );
}
