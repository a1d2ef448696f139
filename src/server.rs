//! Running the server: bind, serve plain HTTP or native HTTPS (rustls), shut down gracefully on
//! SIGTERM/SIGINT, and create the demo tenant on request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::audit::Origin;
use crate::config::Config;
use crate::directory::{self, DirectoryError, NewTenantInput};
use crate::services::Services;

/// A server started in the background (used by `serve` and by the test harness).
pub struct Running {
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to 10 s), and waits.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Serves `router` on an already-bound listener until `shutdown` resolves.
pub async fn spawn(
    listener: TcpListener,
    router: Router,
    config: &Config,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let make = router.into_make_service_with_connect_info::<SocketAddr>();
    let task = match &config.tls {
        None => tokio::spawn(async move {
            axum::serve(listener, make)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        }),
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls_config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "configuration: tls_cert/tls_key: cannot load {} / {}: {e}",
                            tls.cert.display(),
                            tls.key.display()
                        )
                    })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                let _ = rx.await;
                stopper.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            let std_listener = listener.into_std()?;
            tokio::spawn(async move {
                axum_server::from_tcp_rustls(std_listener, rustls_config)?
                    .handle(handle)
                    .serve(make)
                    .await
            })
        }
    };
    Ok(Running {
        addr,
        shutdown: tx,
        task,
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `latchkey serve`: open everything, optionally create the demo tenant, serve until a signal.
pub async fn serve(
    config: Config,
    demo: bool,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let svc = Arc::new(Services::open(&config).await?);
    if demo {
        ensure_demo_tenant(&svc).await?;
    }
    let config = Arc::new(config);
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow::anyhow!("configuration: listen: cannot bind {}: {e}", config.listen)
    })?;
    let sweeper = tokio::spawn(sweep_forever(svc.clone()));
    let router = crate::app::router(svc, config.clone());
    let running = spawn(listener, router, &config).await?;
    tracing::info!(
        listen = %running.addr,
        public_url = %config.public_url.base_origin(),
        tls = config.tls.is_some(),
        "latchkey is serving"
    );
    stop.await;
    tracing::info!("shutting down");
    sweeper.abort();
    running.stop().await?;
    Ok(())
}

/// Deletes expired sessions, reset tokens and throttle windows every few minutes.
async fn sweep_forever(svc: Arc<Services>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        match crate::login::sweep(&svc.store, crate::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "housekeeping"),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}

/// Creates the `demo` tenant (and prints its admin credentials) unless it exists.
async fn ensure_demo_tenant(svc: &Services) -> anyhow::Result<()> {
    let url = svc.public_url.tenant_origin("demo");
    let created = directory::create_tenant(
        svc,
        NewTenantInput {
            slug: "demo".into(),
            name: "Demo Company".into(),
            admin_email: "admin@demo.test".into(),
            admin_username: "admin".into(),
        },
        &Origin::cli("serve --demo"),
        crate::now_ms(),
    )
    .await;
    match created {
        Ok(t) => {
            println!();
            println!("  Demo tenant ready: {url}/login");
            println!("  Admin username:    {}", t.admin.username);
            println!(
                "  One-time password: {}  (must be changed at first sign-in)",
                t.admin_password.expose()
            );
            println!();
        }
        Err(DirectoryError::TenantExists(_)) => {
            println!();
            println!(
                "  Demo tenant: {url}/login  (admin: `admin`; its password was printed when it was created)"
            );
            println!();
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
