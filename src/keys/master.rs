//! Loading the master key at start-up (fail closed) and rotating it online.

use std::path::Path;

use crate::audit::{self, Actor, ChainKey, Event, Origin, Outcome};
use crate::config::MasterKeySource;
use crate::crypto::{DataKey, MasterKey, MasterKeyError};
use crate::store::{Store, StoreError, settings, tenants};

#[derive(Debug, thiserror::Error)]
pub enum MasterKeySetupError {
    #[error("LATCHKEY_MASTER_KEY: {0}")]
    Value(MasterKeyError),
    #[error("master key file: {0}")]
    File(MasterKeyError),
    #[error(
        "this database is sealed with a master key, but the key file {0} does not exist; \
         restore it (or set LATCHKEY_MASTER_KEY / LATCHKEY_MASTER_KEY_FILE). Refusing to start \
         rather than create a new key that cannot open the existing data"
    )]
    MissingForSealedDatabase(String),
    #[error(
        "the configured master key does not match the one this database was sealed with; \
         refusing to start (check LATCHKEY_MASTER_KEY / LATCHKEY_MASTER_KEY_FILE)"
    )]
    Mismatch,
    #[error("the new master key is the same as the current one")]
    SameKey,
    #[error("tenant {tenant}: data key cannot be opened with the current master key")]
    Unwrap { tenant: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether start-up created a new master key file (the operator should be told to back it up).
pub struct LoadedMasterKey {
    pub key: MasterKey,
    pub created_file: Option<String>,
}

/// Loads the configured master key and checks it against the database, failing closed.
/// The embedded default creates `{data_dir}/master.key` only for a database that has never been
/// sealed.
pub async fn load_master_key(
    source: &MasterKeySource,
    store: &Store,
) -> Result<LoadedMasterKey, MasterKeySetupError> {
    let check = settings::find(store, settings::KEY_CHECK).await?;
    let mut created_file = None;
    let key = match source {
        MasterKeySource::Value(v) => {
            MasterKey::from_base64(v).map_err(MasterKeySetupError::Value)?
        }
        MasterKeySource::File(path) => {
            MasterKey::read_file(path).map_err(MasterKeySetupError::File)?
        }
        MasterKeySource::DefaultFile(path) if path.exists() => {
            MasterKey::read_file(path).map_err(MasterKeySetupError::File)?
        }
        MasterKeySource::DefaultFile(path) => {
            if check.is_some() {
                return Err(MasterKeySetupError::MissingForSealedDatabase(
                    path.display().to_string(),
                ));
            }
            let key = MasterKey::generate();
            match key.write_new_file(path) {
                Ok(()) => {
                    created_file = Some(path.display().to_string());
                    key
                }
                // Another process created it a moment ago: use theirs.
                Err(_) if path.exists() => {
                    MasterKey::read_file(path).map_err(MasterKeySetupError::File)?
                }
                Err(e) => return Err(MasterKeySetupError::File(e)),
            }
        }
    };
    let stored = match check {
        Some(stored) => stored,
        None => {
            settings::put_if_absent(store, settings::KEY_CHECK, key.key_check()).await?;
            settings::find(store, settings::KEY_CHECK)
                .await?
                .ok_or_else(|| StoreError::Corrupt("key check vanished".into()))?
        }
    };
    key.verify_key_check(&stored)
        .map_err(|_| MasterKeySetupError::Mismatch)?;
    Ok(LoadedMasterKey { key, created_file })
}

/// Reads the new key from `path`, or creates it there (mode 0600) when the file does not exist.
pub fn read_or_create_new_key(path: &Path) -> Result<(MasterKey, bool), MasterKeySetupError> {
    if path.exists() {
        Ok((
            MasterKey::read_file(path).map_err(MasterKeySetupError::File)?,
            false,
        ))
    } else {
        let key = MasterKey::generate();
        key.write_new_file(path)
            .map_err(MasterKeySetupError::File)?;
        Ok((key, true))
    }
}

/// Re-wraps every tenant data key under `new` in one transaction, records it in every tenant's
/// audit chain and replaces the key check. Either all of it happens or none.
pub async fn rotate_master(
    store: &Store,
    current: &MasterKey,
    new: &MasterKey,
    origin: &Origin,
    now_ms: i64,
) -> Result<usize, MasterKeySetupError> {
    if current.to_base64() == new.to_base64() {
        return Err(MasterKeySetupError::SameKey);
    }
    let tx = store.begin().await?;
    let stored = settings::find(&tx, settings::KEY_CHECK).await?;
    if stored.is_none_or(|s| current.verify_key_check(&s).is_err()) {
        return Err(MasterKeySetupError::Mismatch);
    }
    let all = tenants::all_wrapped_deks(&tx).await?;
    let count = all.len();
    for (tenant, wrapped) in all {
        let dek = DataKey::unwrap(current, tenant, &wrapped).map_err(|_| {
            MasterKeySetupError::Unwrap {
                tenant: tenant.to_string(),
            }
        })?;
        tenants::set_wrapped_dek(&tx, tenant, dek.wrap(new), now_ms).await?;
        audit::record(
            &tx,
            &ChainKey::for_tenant(&dek),
            tenant,
            Event {
                actor: Actor::Operator,
                subject: Some(format!("tenant:{tenant}")),
                operation: "master_key.rotate",
                outcome: Outcome::Success,
                origin,
                detail: None,
            },
            now_ms,
        )
        .await?;
    }
    settings::put(&tx, settings::KEY_CHECK, new.key_check()).await?;
    crate::store::epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(count)
}
