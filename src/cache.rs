//! In-memory caches for the hot read paths (tenant by host, discovery and JWKS documents), kept
//! correct across nodes by the change epoch: every change they depend on bumps a counter in the
//! database, each node polls it every second and drops everything when it moves. Clients,
//! opened signing keys, parsed public keys and CORS origins are cached the same way. A change
//! therefore reaches every node within about a second, and the hot path never touches the
//! database. Only found tenants are cached, so a new tenant is served at once.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::directory::Tenant;
use crate::ids::TenantId;
use crate::services::Services;
use crate::store::{Store, StoreError, epoch, tenants};

/// How often each node looks at the change epoch.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Bound on each cache's size (a flood of distinct hosts cannot grow memory without limit).
const MAX_ENTRIES: usize = 100_000;

/// A rendered public document with its validator.
#[derive(Debug)]
pub struct Document {
    pub body: String,
    pub etag: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    Discovery,
    Jwks,
    SamlMetadata,
}

impl DocumentKind {
    pub fn content_type(self) -> &'static str {
        match self {
            DocumentKind::Discovery | DocumentKind::Jwks => "application/json",
            DocumentKind::SamlMetadata => "application/samlmetadata+xml",
        }
    }
}

/// One cache: values by key, dropped all at once when the epoch moves.
pub struct EpochMap<K, V> {
    map: RwLock<HashMap<K, Arc<V>>>,
}

impl<K, V> Default for EpochMap<K, V> {
    fn default() -> Self {
        EpochMap {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> EpochMap<K, V> {
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.read().ok().and_then(|m| m.get(key).cloned())
    }

    fn insert(&self, key: K, value: Arc<V>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(key, value);
        }
    }

    fn clear(&self) {
        if let Ok(mut m) = self.map.write() {
            m.clear();
        }
    }
}

#[derive(Default)]
pub struct Caches {
    epoch: AtomicI64,
    /// Found tenants by slug.
    pub tenants: EpochMap<String, Tenant>,
    pub documents: EpochMap<(TenantId, DocumentKind), Document>,
    /// Each tenant's opened active signing key per algorithm.
    pub signers: EpochMap<(TenantId, crate::keys::Alg), crate::oidc::jwt::Signer>,
    pub clients: EpochMap<(TenantId, String), crate::oidc::clients::Client>,
    /// Each tenant's published public keys, parsed (to verify our own tokens).
    pub verifiers: EpochMap<TenantId, Vec<crate::oidc::verify::VerifyKey>>,
    /// Each tenant's CORS origins for the browser-callable OAuth endpoints.
    pub browser_origins: EpochMap<TenantId, std::collections::HashSet<String>>,
    /// Each tenant's opened SAML signing key.
    pub saml_keys: EpochMap<TenantId, crate::saml::response::SigningKey>,
    pub saml_sps: EpochMap<(TenantId, String), crate::saml::sps::ServiceProvider>,
    /// Each tenant's login policy.
    pub policies: EpochMap<TenantId, crate::login::policy::Policy>,
    /// When a refused sign-in (tenant, app, user) was last audited on this node.
    denials: std::sync::Mutex<HashMap<(TenantId, String, crate::ids::UserId), i64>>,
}

/// A refused sign-in is audited at most once a minute per user and app (per node).
const DENIAL_AUDIT_MS: i64 = 60_000;

impl Caches {
    pub fn clear(&self) {
        self.tenants.clear();
        self.documents.clear();
        self.signers.clear();
        self.clients.clear();
        self.verifiers.clear();
        self.browser_origins.clear();
        self.saml_keys.clear();
        self.saml_sps.clear();
        self.policies.clear();
        if let Ok(mut d) = self.denials.lock() {
            d.clear();
        }
    }

    /// Whether a refused sign-in of `user` to `app` should be audited now: not when the same
    /// refusal was audited in the last minute, so that a loop of refused requests cannot grow
    /// the audit log without bound.
    pub fn denial_to_record(&self, key: (TenantId, String, crate::ids::UserId), now: i64) -> bool {
        let Ok(mut map) = self.denials.lock() else {
            return true;
        };
        if map.len() > 10_000 {
            map.retain(|_, at| now - *at < DENIAL_AUDIT_MS);
        }
        match map.get(&key) {
            Some(at) if now - *at < DENIAL_AUDIT_MS => false,
            _ => {
                map.insert(key, now);
                true
            }
        }
    }

    /// Stores a value read while the epoch was `epoch_before`: a clear that happened during the
    /// read must not be undone by a stale insert.
    pub fn remember<K: Eq + Hash, V>(
        &self,
        map: &EpochMap<K, V>,
        key: K,
        value: Arc<V>,
        epoch_before: i64,
    ) {
        if self.epoch() == epoch_before {
            map.insert(key, value);
        }
    }

    /// `map[key]` from memory, or loaded by `load` and remembered. Read before the load, the
    /// epoch keeps a value loaded across a change from being remembered.
    pub async fn get_or_load<K: Eq + Hash, V, E>(
        &self,
        map: &EpochMap<K, V>,
        key: K,
        load: impl AsyncFnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(v) = map.get(&key) {
            return Ok(v);
        }
        let epoch = self.epoch();
        let v = Arc::new(load().await?);
        self.remember(map, key, v.clone(), epoch);
        Ok(v)
    }

    /// Like `get_or_load` for things that may not exist: only found values are remembered, so
    /// something created later is found at once.
    pub async fn find_or_load<K: Eq + Hash, V, E>(
        &self,
        map: &EpochMap<K, V>,
        key: K,
        load: impl AsyncFnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<Arc<V>>, E> {
        if let Some(v) = map.get(&key) {
            return Ok(Some(v));
        }
        let epoch = self.epoch();
        let Some(v) = load().await? else {
            return Ok(None);
        };
        let v = Arc::new(v);
        self.remember(map, key, v.clone(), epoch);
        Ok(Some(v))
    }

    /// A tenant's public document from memory, or built by `build` and remembered (with an
    /// ETag over its body).
    pub async fn document<E>(
        &self,
        tenant: TenantId,
        kind: DocumentKind,
        build: impl AsyncFnOnce() -> Result<String, E>,
    ) -> Result<Arc<Document>, E> {
        self.get_or_load(&self.documents, (tenant, kind), async || {
            let body = build().await?;
            let digest = <sha2::Sha256 as sha2::Digest>::digest(body.as_bytes());
            let etag = format!("\"{}\"", &crate::login::totp::hex(&digest)[..32]);
            Ok(Document { body, etag })
        })
        .await
    }

    /// The tenant with this slug: from memory, or loaded and remembered.
    pub async fn tenant(
        &self,
        store: &Store,
        slug: &str,
    ) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(t) = self.tenants.get(slug) {
            return Ok(Some(t));
        }
        self.find_or_load(&self.tenants, slug.to_owned(), async || {
            tenants::find_by_slug(store, slug).await
        })
        .await
    }

    pub fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Takes a newly read epoch; clears everything when it moved.
    pub fn observe(&self, epoch: i64) {
        if self.epoch.swap(epoch, Ordering::AcqRel) != epoch {
            self.clear();
        }
    }
}

/// Polls the change epoch until the services are dropped.
pub async fn poll(svc: Weak<Services>) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(svc) = svc.upgrade() else { return };
        match epoch::current(&svc.store).await {
            Ok(e) => svc.caches.observe(e),
            Err(e) => {
                // Unsure what changed: serve from the database until the epoch is readable.
                svc.caches.clear();
                tracing::warn!(error = %e, "cannot read the change epoch");
            }
        }
    }
}
