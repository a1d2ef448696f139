//! Start-up wiring shared by the server and the CLI: open the database, migrate, load and check
//! the master key (fail closed). The result is passed explicitly; there are no globals.

use crate::config::{Config, PublicUrl};
use crate::keys::{self, Keyring, MasterKeySetupError};
use crate::mail::{MailError, Mailer};
use crate::store::{MigrateError, Store, StoreError};

pub struct Services {
    pub store: Store,
    pub keyring: Keyring,
    pub public_url: PublicUrl,
    pub mailer: std::sync::Arc<Mailer>,
    pub caches: crate::cache::Caches,
    /// Group commit of successful SAML sign-ins.
    pub sso_answers: crate::saml::answers::Writer,
    /// One thread per core for checking inbound XML signatures.
    pub cpu: crate::cpu::CpuPool,
    /// Password verifications run (argon2), stand-ins for unusable accounts included.
    pub password_checks: std::sync::atomic::AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(StoreError),
    #[error("database migration failed: {0}")]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    MasterKey(#[from] MasterKeySetupError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("cannot start the signature-checking threads: {0}")]
    Threads(#[from] std::io::Error),
}

impl Services {
    /// Connects, migrates and checks the master key. A wrong or missing key stops here.
    pub async fn open(config: &Config) -> Result<Services, StartupError> {
        let store = Store::connect(&config.database)
            .await
            .map_err(StartupError::Database)?;
        let applied = store.migrate(&config.database).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
        let loaded = keys::load_master_key(&config.master_key, &store).await?;
        if let Some(path) = &loaded.created_file {
            tracing::warn!(
                path = %path,
                "created a new master key file; back it up: without it this database cannot be opened"
            );
        }
        // The dummy hash for unknown accounts is made now, not on the first failed login
        // (which would then answer conspicuously slower).
        tokio::task::spawn_blocking(|| {
            let _ = crate::login::password::dummy_hash();
        });
        let caches = crate::cache::Caches::default();
        caches.observe(
            crate::store::epoch::current(&store)
                .await
                .map_err(StartupError::Database)?,
        );
        Ok(Services {
            sso_answers: crate::saml::answers::Writer::start(store.clone()),
            store,
            keyring: Keyring::new(loaded.key),
            public_url: config.public_url.clone(),
            mailer: std::sync::Arc::new(Mailer::from_config(config)?),
            caches,
            cpu: crate::cpu::CpuPool::per_core("latchkey-verify")?,
            password_checks: std::sync::atomic::AtomicU64::new(0),
        })
    }
}
