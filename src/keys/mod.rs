//! Key custody in use: the [`Keyring`] that opens tenant data keys with the master key, tenant
//! signing keys (created sealed, opened for signing), and master-key rotation.
//!
//! May use: `crypto` for the primitives, `store` for rows, `audit` for the record of changes.

mod master;

use openssl::pkey::{PKey, Private};

use crate::audit::{self, By, ChainKey, Event, Outcome};
pub use crate::crypto::signing::Alg;
use crate::crypto::{DataKey, MasterKey, Purpose, SealContext, signing};
use crate::ids::{SigningKeyId, TenantId};
use crate::store::signing_keys::{self as store_keys, NewSigningKey};
use crate::store::{Handle, StoreError, Tx, tenants};

pub use master::{
    LoadedMasterKey, MasterKeySetupError, load_master_key, read_or_create_new_key, rotate_master,
};

/// Phases of a signing key (DESIGN.md): published as next → signing as active → still
/// published as previous while its tokens may live → retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Previous,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<KeyState> {
        Some(match s {
            "next" => KeyState::Next,
            "active" => KeyState::Active,
            "previous" => KeyState::Previous,
            "retired" => KeyState::Retired,
            _ => return None,
        })
    }
}

/// The public side of a signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    pub id: SigningKeyId,
    pub tenant_id: TenantId,
    pub kid: String,
    pub algorithm: Alg,
    pub state: KeyState,
    pub public_key_pem: String,
    pub certificate_pem: String,
    pub not_after: i64,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("key generation failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    #[error("the tenant has no active {0} signing key")]
    NoActiveKey(Alg),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Holds the master key; opens tenant data keys on demand.
#[derive(Debug)]
pub struct Keyring {
    master: MasterKey,
}

impl Keyring {
    pub fn new(master: MasterKey) -> Keyring {
        Keyring { master }
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    pub async fn data_key(&self, h: &impl Handle, tenant: TenantId) -> Result<DataKey, KeyError> {
        let wrapped = tenants::wrapped_dek(h, tenant).await?;
        Ok(DataKey::unwrap(&self.master, tenant, &wrapped)?)
    }

    /// The data key of a tenant record already loaded (no query).
    pub fn data_key_of(&self, tenant: &crate::directory::Tenant) -> Result<DataKey, KeyError> {
        Ok(DataKey::unwrap(
            &self.master,
            tenant.id,
            &tenant.wrapped_dek,
        )?)
    }

    pub fn chain_key_of(&self, tenant: &crate::directory::Tenant) -> Result<ChainKey, KeyError> {
        Ok(ChainKey::for_tenant(&self.data_key_of(tenant)?))
    }

    pub async fn chain_key(&self, h: &impl Handle, tenant: TenantId) -> Result<ChainKey, KeyError> {
        Ok(ChainKey::for_tenant(&self.data_key(h, tenant).await?))
    }
}

fn seal_context(tenant: TenantId, record: &str) -> SealContext<'_> {
    SealContext {
        tenant,
        purpose: Purpose::SigningKey,
        record,
    }
}

/// Generates a key pair (on the blocking pool) for a tenant origin.
pub async fn generate(
    origin: String,
    alg: Alg,
    now_ms: i64,
) -> Result<signing::GeneratedKey, KeyError> {
    let handle =
        tokio::task::spawn_blocking(move || signing::generate(alg, &origin, now_ms / 1000));
    match handle.await {
        Ok(result) => Ok(result?),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Stores a generated key for the tenant, private part sealed under its DEK, and audits it.
pub async fn store_new(
    tx: &Tx,
    dek: &DataKey,
    chain: &ChainKey,
    generated: &signing::GeneratedKey,
    state: KeyState,
    by: By<'_>,
    now_ms: i64,
) -> Result<SigningKeyId, KeyError> {
    let tenant = dek.tenant();
    let id = SigningKeyId::new();
    let record = id.to_string();
    let sealed = dek.seal(seal_context(tenant, &record), &generated.private_pem);
    store_keys::insert(
        tx,
        tenant,
        NewSigningKey {
            id,
            kid: &generated.kid,
            algorithm: generated.alg,
            state,
            public_key_pem: &generated.public_pem,
            certificate_pem: &generated.certificate_pem,
            private_key_sealed: sealed,
            not_after: generated.not_after_unix * 1000,
            now: now_ms,
        },
    )
    .await?;
    audit::record(
        tx,
        chain,
        tenant,
        Event {
            actor: by.actor,
            subject: Some(format!("key:{id}")),
            operation: "key.create",
            outcome: Outcome::Success,
            origin: by.origin,
            detail: Some(serde_json::json!({
                "kid": generated.kid, "alg": generated.alg.as_str(), "state": state.as_str(),
            })),
        },
        now_ms,
    )
    .await?;
    Ok(id)
}

/// The tenant's keys (public parts), newest first.
pub async fn list(h: &impl Handle, tenant: TenantId) -> Result<Vec<SigningKey>, KeyError> {
    Ok(store_keys::list(h, tenant)
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

/// Opens the tenant's active private key for `alg`.
pub async fn active_private_key(
    h: &impl Handle,
    keyring: &Keyring,
    tenant: TenantId,
    alg: Alg,
) -> Result<(SigningKey, PKey<Private>), KeyError> {
    let (key, sealed) = store_keys::list(h, tenant)
        .await?
        .into_iter()
        .find(|(k, _)| k.state == KeyState::Active && k.algorithm == alg)
        .ok_or(KeyError::NoActiveKey(alg))?;
    let dek = keyring.data_key(h, tenant).await?;
    let record = key.id.to_string();
    let pem = zeroize::Zeroizing::new(dek.open(seal_context(tenant, &record), &sealed)?);
    let pkey = signing::parse_private_pem(&pem)?;
    Ok((key, pkey))
}

/// Moves every `previous` key of `keys` to `retired` in `tx`; returns their kids.
async fn retire_previous_in(
    tx: &Tx,
    tenant: TenantId,
    keys: &[SigningKey],
    now_ms: i64,
) -> Result<Vec<String>, KeyError> {
    let mut retired = Vec::new();
    for k in keys.iter().filter(|k| k.state == KeyState::Previous) {
        if store_keys::set_state(
            tx,
            tenant,
            k.id,
            KeyState::Previous,
            KeyState::Retired,
            now_ms,
        )
        .await?
        {
            retired.push(k.kid.clone());
        }
    }
    Ok(retired)
}

/// What one `keys rotate` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// A new key is published as `next` (in the JWKS, not yet signing).
    Published { next: String },
    /// `next` now signs; the old active key is `previous` (still published); older previous
    /// keys are retired (gone from the JWKS).
    Promoted {
        active: String,
        previous: Option<String>,
        retired: Vec<String>,
    },
}

/// One phase of the key cycle (DESIGN.md) of the tenant's `alg` keys: without a `next` key,
/// publish one; with one, promote it. Run it twice, some time apart (longer than clients cache
/// the JWKS), to rotate.
pub async fn rotate(
    store: &crate::store::Store,
    keyring: &Keyring,
    tenant: &crate::directory::Tenant,
    alg: Alg,
    origin_url: String,
    by: By<'_>,
    now_ms: i64,
) -> Result<Rotation, KeyError> {
    let keys: Vec<SigningKey> = list(store, tenant.id)
        .await?
        .into_iter()
        .filter(|k| k.algorithm == alg)
        .collect();
    let dek = keyring.data_key_of(tenant)?;
    let chain = ChainKey::for_tenant(&dek);
    let Some(next) = keys.iter().find(|k| k.state == KeyState::Next) else {
        let generated = generate(origin_url, alg, now_ms).await?;
        let published = add_key(store, &dek, &generated, KeyState::Next, by, now_ms, |ks| {
            ks.iter()
                .any(|k| k.algorithm == alg && k.state == KeyState::Next)
        })
        .await?;
        if !published {
            // Someone else published one concurrently: nothing of ours is committed.
            return Err(KeyError::Store(crate::store::StoreError::Conflict(
                "signing_keys.state",
            )));
        }
        return Ok(Rotation::Published {
            next: generated.kid,
        });
    };
    // Read again inside the transaction: the promotion works from what is current.
    let tx = store.begin().await?;
    let keys: Vec<SigningKey> = list(&tx, tenant.id)
        .await?
        .into_iter()
        .filter(|k| k.algorithm == alg)
        .collect();
    let next = keys
        .iter()
        .find(|k| k.state == KeyState::Next && k.id == next.id)
        .ok_or(KeyError::Store(crate::store::StoreError::Conflict(
            "signing_keys.state",
        )))?;
    let retired = retire_previous_in(&tx, tenant.id, &keys, now_ms).await?;
    let mut previous = None;
    for k in keys.iter().filter(|k| k.state == KeyState::Active) {
        if store_keys::set_state(
            &tx,
            tenant.id,
            k.id,
            KeyState::Active,
            KeyState::Previous,
            now_ms,
        )
        .await?
        {
            previous = Some(k.kid.clone());
        }
    }
    if !store_keys::set_state(
        &tx,
        tenant.id,
        next.id,
        KeyState::Next,
        KeyState::Active,
        now_ms,
    )
    .await?
    {
        // Someone else rotated concurrently: nothing of ours is committed.
        return Err(KeyError::Store(crate::store::StoreError::Conflict(
            "signing_keys.state",
        )));
    }
    audit::record(
        &tx,
        &chain,
        tenant.id,
        Event {
            actor: by.actor,
            subject: Some(format!("key:{}", next.id)),
            operation: "key.rotate",
            outcome: Outcome::Success,
            origin: by.origin,
            detail: Some(serde_json::json!({
                "alg": alg.as_str(), "active": next.kid, "previous": previous, "retired": retired,
            })),
        },
        now_ms,
    )
    .await?;
    crate::store::epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(Rotation::Promoted {
        active: next.kid.clone(),
        previous,
        retired,
    })
}

/// Makes sure the tenant has an active `alg` key, creating one (active at once) if not. Used
/// when a client first chooses an algorithm the tenant has no key for yet. True if created.
pub async fn ensure_active(
    store: &crate::store::Store,
    keyring: &Keyring,
    tenant: &crate::directory::Tenant,
    alg: Alg,
    origin_url: String,
    by: By<'_>,
    now_ms: i64,
) -> Result<bool, KeyError> {
    let has = |keys: &[SigningKey]| {
        keys.iter()
            .any(|k| k.algorithm == alg && k.state == KeyState::Active)
    };
    if has(&list(store, tenant.id).await?) {
        return Ok(false);
    }
    let generated = generate(origin_url, alg, now_ms).await?;
    let dek = keyring.data_key_of(tenant)?;
    add_key(store, &dek, &generated, KeyState::Active, by, now_ms, has).await
}

/// Stores a generated key in `state` in its own transaction, unless `taken` says the tenant's
/// keys (read inside the transaction) already have what it was for. True if stored.
async fn add_key(
    store: &crate::store::Store,
    dek: &DataKey,
    generated: &signing::GeneratedKey,
    state: KeyState,
    by: By<'_>,
    now_ms: i64,
    taken: impl Fn(&[SigningKey]) -> bool,
) -> Result<bool, KeyError> {
    let tx = store.begin().await?;
    if taken(&list(&tx, dek.tenant()).await?) {
        return Ok(false);
    }
    let chain = ChainKey::for_tenant(dek);
    match store_new(&tx, dek, &chain, generated, state, by, now_ms).await {
        // One active and one next key per algorithm (unique indexes): a concurrent caller won.
        Err(KeyError::Store(crate::store::StoreError::Conflict(_))) => return Ok(false),
        other => other?,
    };
    crate::store::epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// Retires every `previous` key of `alg` at once (when no token it signed can still be live).
pub async fn retire_previous(
    store: &crate::store::Store,
    keyring: &Keyring,
    tenant: &crate::directory::Tenant,
    alg: Alg,
    by: By<'_>,
    now_ms: i64,
) -> Result<Vec<String>, KeyError> {
    let chain = keyring.chain_key_of(tenant)?;
    let tx = store.begin().await?;
    let keys: Vec<SigningKey> = list(&tx, tenant.id)
        .await?
        .into_iter()
        .filter(|k| k.algorithm == alg)
        .collect();
    let retired = retire_previous_in(&tx, tenant.id, &keys, now_ms).await?;
    if !retired.is_empty() {
        audit::record(
            &tx,
            &chain,
            tenant.id,
            Event {
                actor: by.actor,
                subject: None,
                operation: "key.retire",
                outcome: Outcome::Success,
                origin: by.origin,
                detail: Some(serde_json::json!({ "retired": retired })),
            },
            now_ms,
        )
        .await?;
        crate::store::epoch::bump(&tx).await?;
    }
    tx.commit().await?;
    Ok(retired)
}
