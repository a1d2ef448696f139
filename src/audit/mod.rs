//! The tamper-evident audit log: an append-only, per-tenant chain in which every entry carries
//! the MAC of the one before it. The MAC is HMAC-SHA256 under a key derived from the tenant's
//! data key, so someone with write access to the database but not the master key can neither
//! edit, delete, reorder nor re-forge entries without `latchkey audit verify` noticing.
//!
//! Every state change calls [`record`] inside the same transaction as the change itself.
//! Entries refer to people by opaque id only.

mod verify;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::DataKey;
use crate::ids::{TenantId, UserId};
use crate::store::audit::{self as store_audit, AuditRow};
use crate::store::{StoreError, Tx};

pub use verify::{Verdict, verify};

/// Who did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The server itself (start-up jobs, expiry).
    System,
    /// The operator on the command line.
    Operator,
    User(UserId),
}

impl Actor {
    fn render(self) -> String {
        match self {
            Actor::System => "system".into(),
            Actor::Operator => "operator".into(),
            Actor::User(id) => format!("user:{id}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Where a change came from: the HTTP request, or the CLI command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The route template (`/admin/users/{id}`) or `cli:<command>`.
    pub route: Option<String>,
}

impl Origin {
    pub fn cli(command: &str) -> Origin {
        Origin {
            route: Some(format!("cli:{command}")),
            ..Origin::default()
        }
    }
}

/// Who acts, and from where: the operator on the command line, or an admin in the console.
#[derive(Clone, Copy, Debug)]
pub struct By<'a> {
    pub actor: Actor,
    pub origin: &'a Origin,
}

impl<'a> By<'a> {
    pub fn operator(origin: &'a Origin) -> By<'a> {
        By {
            actor: Actor::Operator,
            origin,
        }
    }

    /// A successful change made by this actor to `subject`.
    pub fn event(
        self,
        operation: &'static str,
        subject: Option<String>,
        detail: Option<serde_json::Value>,
    ) -> Event<'a> {
        Event {
            actor: self.actor,
            subject,
            operation,
            outcome: Outcome::Success,
            origin: self.origin,
            detail,
        }
    }
}

/// One thing that happened.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub actor: Actor,
    /// The object acted on, by opaque id (`user:…`, `key:…`, `tenant:…`).
    pub subject: Option<String>,
    /// Dotted name, e.g. `tenant.create`, `user.create`, `key.create`, `master_key.rotate`.
    pub operation: &'static str,
    pub outcome: Outcome,
    pub origin: &'a Origin,
    /// Extra facts as JSON; never personal data beyond opaque ids.
    pub detail: Option<serde_json::Value>,
}

impl<'a> Event<'a> {
    /// A successful change made by the operator (command line) to `subject`.
    pub fn operator(
        operation: &'static str,
        subject: Option<String>,
        origin: &'a Origin,
        detail: Option<serde_json::Value>,
    ) -> Event<'a> {
        Event {
            actor: Actor::Operator,
            subject,
            operation,
            outcome: Outcome::Success,
            origin,
            detail,
        }
    }
}

/// The per-tenant MAC key of the chain.
pub struct ChainKey([u8; 32]);

impl ChainKey {
    pub fn for_tenant(dek: &DataKey) -> ChainKey {
        ChainKey(dek.derive_mac_key("audit-chain"))
    }
}

fn bounded(value: Option<String>, max: usize) -> Option<String> {
    value.map(|v| {
        if v.len() <= max {
            v
        } else {
            let mut end = max;
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            v[..end].to_owned()
        }
    })
}

/// Appends an entry to the tenant's chain, inside the caller's transaction.
pub async fn record(
    tx: &Tx,
    key: &ChainKey,
    tenant: TenantId,
    event: Event<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    record_many(tx, key, tenant, vec![event], now_ms).await
}

/// Appends several entries of one tenant in one step (one head update for all of them): what a
/// batch of concurrent sign-ins costs instead of one round of statements each.
pub async fn record_many(
    tx: &Tx,
    key: &ChainKey,
    tenant: TenantId,
    events: Vec<Event<'_>>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let Ok(n) = i64::try_from(events.len()) else {
        return Err(StoreError::Conflict("too many audit entries at once"));
    };
    if n == 0 {
        return Ok(());
    }
    let (last, mut prev_mac) = store_audit::advance_head(tx, tenant, n).await?;
    let mut rows = Vec::with_capacity(events.len());
    for (seq, event) in (last - n + 1..).zip(events) {
        let mut row = AuditRow {
            seq,
            at: now_ms,
            actor: event.actor.render(),
            subject: bounded(event.subject, 128),
            operation: event.operation.to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            source_ip: bounded(event.origin.source_ip.clone(), 64),
            user_agent: bounded(event.origin.user_agent.clone(), 512),
            route: bounded(event.origin.route.clone(), 256),
            detail: event.detail.map(|d| d.to_string()),
            prev_mac,
            mac: String::new(),
            origin_mac: None,
        };
        row.origin_mac = Some(origin_mac(key, tenant, &row));
        row.mac = mac(key, tenant, &row);
        prev_mac = row.mac.clone();
        rows.push(row);
    }
    store_audit::insert(tx, tenant, rows).await
}

/// HMAC over an unambiguous, length-prefixed encoding of every field and the previous MAC.
/// From the second version on (an entry with an `origin_mac`), the source IP and user agent are
/// covered through their own MAC, so that removing them (erasure) leaves the entry verifiable.
fn mac(key: &ChainKey, tenant: TenantId, row: &AuditRow) -> String {
    let tenant = tenant.to_string();
    let seq = row.seq.to_string();
    let at = row.at.to_string();
    let head = [
        Some(tenant.as_str()),
        Some(&seq),
        Some(&at),
        Some(&row.actor),
        row.subject.as_deref(),
        Some(&row.operation),
        Some(&row.outcome),
    ];
    let tail = [
        row.route.as_deref(),
        row.detail.as_deref(),
        Some(row.prev_mac.as_str()),
    ];
    match &row.origin_mac {
        None => {
            let origin = [row.source_ip.as_deref(), row.user_agent.as_deref()];
            keyed(
                key,
                b"latchkey/v1/audit",
                head.iter().chain(&origin).chain(&tail),
            )
        }
        Some(o) => {
            let origin = [Some(o.as_str())];
            keyed(
                key,
                b"latchkey/v2/audit",
                head.iter().chain(&origin).chain(&tail),
            )
        }
    }
}

/// The MAC of an entry's source IP and user agent (bound to the tenant and the entry).
fn origin_mac(key: &ChainKey, tenant: TenantId, row: &AuditRow) -> String {
    let (tenant, seq) = (tenant.to_string(), row.seq.to_string());
    let fields = [
        Some(tenant.as_str()),
        Some(&seq),
        row.source_ip.as_deref(),
        row.user_agent.as_deref(),
    ];
    keyed(key, b"latchkey/v2/audit-origin", fields.iter())
}

/// Whether an entry had an origin that was removed (both fields emptied since it was written).
fn origin_removed(key: &ChainKey, tenant: TenantId, row: &AuditRow) -> bool {
    row.source_ip.is_none()
        && row.user_agent.is_none()
        && row
            .origin_mac
            .as_ref()
            .is_some_and(|o| *o != origin_mac(key, tenant, row))
}

/// Whether an entry's origin is as recorded: unchanged, or removed (both fields empty; that
/// must be an erasure's, which [`verify`] checks).
fn origin_intact(key: &ChainKey, tenant: TenantId, row: &AuditRow) -> bool {
    match &row.origin_mac {
        None => true,
        Some(_) if row.source_ip.is_none() && row.user_agent.is_none() => true,
        Some(o) => *o == origin_mac(key, tenant, row),
    }
}

/// HMAC-SHA-256 under the chain key of `domain` and the length-prefixed `fields` (`None` has
/// its own marker).
fn keyed<'a>(
    key: &ChainKey,
    domain: &[u8],
    fields: impl Iterator<Item = &'a Option<&'a str>>,
) -> String {
    #[allow(clippy::expect_used)]
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).expect("any key length");
    m.update(domain);
    for field in fields {
        match field {
            None => m.update(&u32::MAX.to_be_bytes()),
            Some(v) => {
                m.update(&(v.len() as u32).to_be_bytes());
                m.update(v.as_bytes());
            }
        }
    }
    hex(&m.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
