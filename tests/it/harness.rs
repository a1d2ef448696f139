//! Test harness: `TestApp::spawn()` starts the real server with a fresh database, a browser-like
//! HTTP client that sends `{slug}.localhost` to it, and helpers to run the real CLI binary.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;

use latchkey::config::Config;
use latchkey::crypto::MasterKey;
use latchkey::server::Running;
use latchkey::services::Services;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

/// A database of one test: a SQLite file in the test's directory, or a PostgreSQL database
/// created for the test and dropped when it ends.
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
}

impl TestDb {
    pub async fn create(dir: &Path) -> TestDb {
        match std::env::var("LATCHKEY_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("lk_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .execute_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("CREATE DATABASE {name}"),
                    ))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                TestDb {
                    url: format!("{base}/{name}"),
                    admin_url: Some(admin_url.clone()),
                    name: Some(name),
                }
            }
            _ => TestDb {
                url: format!("sqlite://{}", dir.join("latchkey.db").display()),
                admin_url: None,
                name: None,
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.name.is_some()
    }

    pub fn pg_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Runs SQL as the PostgreSQL superuser (outside the test database).
    pub async fn admin_sql(&self, sql: &str) {
        let admin_url = self.admin_url.as_deref().expect("PostgreSQL only");
        let admin = Database::connect(admin_url).await.expect("connect");
        admin
            .execute_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
            .await
            .expect(sql);
        admin.close().await.ok();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(admin_url), Some(name)) = (self.admin_url.clone(), self.name.clone()) else {
            return;
        };
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                admin
                    .execute_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
    pub env: HashMap<String, String>,
    pub config: Arc<Config>,
    pub svc: Arc<Services>,
    pub addr: SocketAddr,
    pub port: u16,
    server: Option<Running>,
    pub client: reqwest::Client,
}

/// Resolves every `*.localhost` name to the loopback address, like browsers do.
pub struct LocalhostResolver;

impl reqwest::dns::Resolve for LocalhostResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            if name == "localhost" || name.ends_with(".localhost") {
                let addrs: reqwest::dns::Addrs =
                    Box::new(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter());
                Ok(addrs)
            } else {
                Err(format!("test resolver: {name} is not under localhost").into())
            }
        })
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(LocalhostResolver))
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

pub struct Spawn {
    pub extra_env: Vec<(String, String)>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Spawn { extra_env: vec![] }).await
    }

    pub async fn spawn_with(opts: Spawn) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::create(&dir.path().join("data")).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut env: HashMap<String, String> = [
            (
                "LATCHKEY_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            ("LATCHKEY_DATABASE_URL", db.url.clone()),
            ("LATCHKEY_MASTER_KEY", MasterKey::generate().to_base64()),
            (
                "LATCHKEY_PUBLIC_URL",
                format!("http://localhost:{}", addr.port()),
            ),
            ("LATCHKEY_LISTEN", addr.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(opts.extra_env);
        let config = Arc::new(Config::load(None, &env).expect("config"));
        let svc = Arc::new(Services::open(&config).await.expect("services"));
        let router = latchkey::app::router(svc.clone(), config.clone());
        let server = latchkey::server::spawn(listener, router, &config)
            .await
            .expect("serve");
        TestApp {
            dir,
            db,
            env,
            config,
            svc,
            addr,
            port: addr.port(),
            server: Some(server),
            client: client(),
        }
    }

    /// `http://{slug}.localhost:{port}{path}`
    pub fn url(&self, slug: &str, path: &str) -> String {
        format!("http://{slug}.localhost:{}{path}", self.port)
    }

    pub fn base_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.base_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, slug: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(slug, path))
            .send()
            .await
            .expect("request")
    }

    /// Runs the real `latchkey` binary against this app's database and key.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with(args, &[], None)
    }

    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> CliOutput {
        run_cli(&self.env, args, env, stdin)
    }

    /// Creates a tenant through the CLI and returns its JSON.
    pub fn create_tenant(&self, slug: &str) -> serde_json::Value {
        let out = self.cli(&[
            "tenant",
            "create",
            slug,
            "--name",
            &format!("{slug} Inc"),
            "--admin-email",
            &format!("it@{slug}.test"),
            "--json",
        ]);
        assert!(out.ok(), "tenant create failed: {}", out.stderr);
        out.json()
    }

    /// Creates a user with a known password through the CLI and returns its JSON.
    pub fn create_user(&self, slug: &str, username: &str, password: &str) -> serde_json::Value {
        let out = self.cli_with(
            &[
                "user",
                "create",
                "--tenant",
                slug,
                "--username",
                username,
                "--email",
                &format!("{username}@{slug}.test"),
                "--password-stdin",
                "--no-change-required",
                "--json",
            ],
            &[],
            Some(password),
        );
        assert!(out.ok(), "user create failed: {}", out.stderr);
        out.json()
    }

    /// Runs raw SQL on this app's database.
    pub async fn sql(&self, sql: &str) {
        let db = Database::connect(&self.db.url).await.expect("connect");
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect(sql);
        db.close().await.ok();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean shutdown");
        }
    }
}

pub struct CliOutput {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", self.stdout))
    }
}

pub fn run_cli(
    base_env: &HashMap<String, String>,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> CliOutput {
    use std::io::Write;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(base_env)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run latchkey");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    CliOutput {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Sends a raw HTTP/1.1 request (for Host values no client library would send).
pub async fn raw_request(addr: SocketAddr, head: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}
