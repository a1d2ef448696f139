//! In-memory caches for the hot read paths (tenant by host, discovery and JWKS documents), kept
//! correct across nodes by the change epoch: every change they depend on bumps a counter in the
//! database, each node polls it every second and drops everything when it moves. Opened
//! signing keys are cached the same way. A change
//! therefore reaches every node within about a second, and the hot path never touches the
//! database. Only found tenants are cached, so a new tenant is served at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::directory::Tenant;
use crate::ids::TenantId;
use crate::services::Services;
use crate::store::{Store, StoreError, epoch, tenants};

/// How often each node looks at the change epoch.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds on cache sizes (a flood of distinct hosts cannot grow memory without limit).
const MAX_TENANTS: usize = 100_000;

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
}

#[derive(Default)]
pub struct Caches {
    epoch: AtomicI64,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    documents: RwLock<HashMap<(TenantId, DocumentKind), Arc<Document>>>,
    signers: RwLock<HashMap<TenantId, Arc<crate::oidc::jwt::Signer>>>,
    clients: RwLock<HashMap<(TenantId, String), Arc<crate::oidc::clients::Client>>>,
}

impl Caches {
    pub fn clear(&self) {
        if let Ok(mut t) = self.tenants.write() {
            t.clear();
        }
        if let Ok(mut d) = self.documents.write() {
            d.clear();
        }
        if let Ok(mut s) = self.signers.write() {
            s.clear();
        }
        if let Ok(mut c) = self.clients.write() {
            c.clear();
        }
    }

    pub fn client(
        &self,
        tenant: TenantId,
        client_id: &str,
    ) -> Option<Arc<crate::oidc::clients::Client>> {
        self.clients
            .read()
            .ok()
            .and_then(|m| m.get(&(tenant, client_id.to_owned())).cloned())
    }

    /// Remembers a registered client, read while the epoch was `epoch_before`.
    pub fn put_client(
        &self,
        tenant: TenantId,
        client: Arc<crate::oidc::clients::Client>,
        epoch_before: i64,
    ) {
        if self.epoch.load(Ordering::Acquire) == epoch_before
            && let Ok(mut m) = self.clients.write()
        {
            if m.len() >= MAX_TENANTS {
                m.clear();
            }
            m.insert((tenant, client.client_id.clone()), client);
        }
    }

    pub fn signer(&self, tenant: TenantId) -> Option<Arc<crate::oidc::jwt::Signer>> {
        self.signers
            .read()
            .ok()
            .and_then(|m| m.get(&tenant).cloned())
    }

    /// Remembers a tenant's opened signing key, built while the epoch was `epoch_before`.
    pub fn put_signer(
        &self,
        tenant: TenantId,
        signer: Arc<crate::oidc::jwt::Signer>,
        epoch_before: i64,
    ) {
        if self.epoch.load(Ordering::Acquire) == epoch_before
            && let Ok(mut m) = self.signers.write()
        {
            if m.len() >= MAX_TENANTS {
                m.clear();
            }
            m.insert(tenant, signer);
        }
    }

    /// The tenant with this slug: from memory, or loaded and remembered.
    pub async fn tenant(
        &self,
        store: &Store,
        slug: &str,
    ) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(t) = self.tenants.read().ok().and_then(|m| m.get(slug).cloned()) {
            return Ok(Some(t));
        }
        let epoch_before = self.epoch.load(Ordering::Acquire);
        let Some(t) = tenants::find_by_slug(store, slug).await? else {
            return Ok(None);
        };
        let t = Arc::new(t);
        // A clear that happened while we read must not be undone by a stale insert.
        if self.epoch.load(Ordering::Acquire) == epoch_before
            && let Ok(mut m) = self.tenants.write()
        {
            if m.len() >= MAX_TENANTS {
                m.clear();
            }
            m.insert(slug.to_owned(), t.clone());
        }
        Ok(Some(t))
    }

    pub fn document(&self, tenant: TenantId, kind: DocumentKind) -> Option<Arc<Document>> {
        self.documents
            .read()
            .ok()
            .and_then(|m| m.get(&(tenant, kind)).cloned())
    }

    /// Remembers a document built while the epoch was `epoch_before`.
    pub fn put_document(
        &self,
        tenant: TenantId,
        kind: DocumentKind,
        doc: Arc<Document>,
        epoch_before: i64,
    ) {
        if self.epoch.load(Ordering::Acquire) == epoch_before
            && let Ok(mut m) = self.documents.write()
        {
            if m.len() >= MAX_TENANTS {
                m.clear();
            }
            m.insert((tenant, kind), doc);
        }
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
