//! Group commit of what a successful SSO writes: the request (stored answered, which is also the
//! replay check), the session's participation at the SP (for single logout) and the audit entry.
//!
//! Each sign-in hands its record to one writer task per node and waits for the commit. The
//! writer takes everything that queued while the previous batch was being written and stores
//! it in one transaction: one multi-row statement for the requests, one for the participants,
//! and one head update per tenant for the audit entries. Under load a batch holds several
//! sign-ins, so each costs a fraction of the statements (and of the commits) it would alone;
//! a lone sign-in is written at once, as before. A sign-in signs its Response while its batch
//! commits, and delivers it only once the record is committed (a replay's Response is dropped).

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};

use crate::audit::{Actor, ChainKey, Event, Origin, Outcome};
use crate::ids::{TenantId, UserId};
use crate::store::saml_requests::{self, RequestRow};
use crate::store::{Store, StoreError};

/// The most records written in one transaction.
const MAX_BATCH: usize = 64;
/// Records waiting for the writer; senders wait when it is full.
const QUEUE: usize = 1024;

/// One successful sign-in to record.
pub struct Record {
    pub tenant: TenantId,
    pub chain_key: ChainKey,
    pub request: Answered,
    pub session_id: String,
    pub sp_entity_id: String,
    pub name_id: String,
    pub user: UserId,
    pub origin: Origin,
    pub now: i64,
}

/// The request a sign-in answers.
pub enum Answered {
    /// IdP-initiated SSO: none.
    Nothing,
    /// Received just now: stored, answered.
    Fresh(RequestRow),
    /// Stored while the user signed in (by the hash of its handle): marked answered.
    Waiting(String),
}

type Reply = oneshot::Sender<Result<bool, String>>;

/// The handle requests use; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<(Record, Reply)>,
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Writer { queue }
    }

    /// Queues `record` and returns at once: the caller can do its own work (sign the answer)
    /// while the batch commits, and must wait for [`Committing::stored`] before using it.
    pub async fn submit(&self, record: Record) -> Result<Committing, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((record, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the SSO writer has stopped".into()))?;
        Ok(Committing(answer))
    }
}

/// A queued record, being committed.
pub struct Committing(oneshot::Receiver<Result<bool, String>>);

impl Committing {
    /// Whether the record was stored (false: a replay), once its batch has committed.
    pub async fn stored(self) -> Result<bool, StoreError> {
        self.0
            .await
            .map_err(|_| StoreError::Unavailable("the SSO writer has stopped".into()))?
            .map_err(StoreError::Unavailable)
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<(Record, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, replies): (Vec<Record>, Vec<Reply>) = batch.drain(..).unzip();
        match write(&store, &records).await {
            Ok(stored) => {
                for (reply, stored) in replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(stored));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "saml: recording sign-ins");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// Writes a batch in one transaction; says for each record whether it was stored (false: its
/// request ID was used before, or earlier in this batch).
async fn write(store: &Store, records: &[Record]) -> Result<Vec<bool>, StoreError> {
    let tx = store.begin().await?;
    let requests: Vec<(TenantId, &RequestRow)> = records
        .iter()
        .filter_map(|r| match &r.request {
            Answered::Fresh(q) => Some((r.tenant, q)),
            _ => None,
        })
        .collect();
    let mut inserted = saml_requests::insert_answered(&tx, &requests, records[0].now).await?;
    // Each inserted key goes to the first record that carries it; a second one is a replay.
    let mut stored = Vec::with_capacity(records.len());
    for r in records {
        stored.push(match &r.request {
            Answered::Nothing => true,
            Answered::Fresh(q) => inserted.remove(&(
                r.tenant.to_string(),
                q.sp_entity_id.clone(),
                q.request_id.clone(),
            )),
            Answered::Waiting(handle_hash) => {
                saml_requests::answer(&tx, r.tenant, handle_hash, r.now).await?
            }
        });
    }
    let kept = || {
        records
            .iter()
            .zip(&stored)
            .filter(|(_, s)| **s)
            .map(|(r, _)| r)
    };

    // One participant row per (tenant, session, SP): the last NameID given wins.
    let mut seen = HashSet::new();
    let mut participants: Vec<(TenantId, &str, &str, &str)> = Vec::new();
    for r in kept().collect::<Vec<_>>().into_iter().rev() {
        if seen.insert((r.tenant, r.session_id.as_str(), r.sp_entity_id.as_str())) {
            participants.push((r.tenant, &r.session_id, &r.sp_entity_id, &r.name_id));
        }
    }
    saml_requests::add_participants(&tx, &participants, records[0].now).await?;

    let mut by_tenant: HashMap<TenantId, Vec<&Record>> = HashMap::new();
    for r in kept() {
        by_tenant.entry(r.tenant).or_default().push(r);
    }
    for (tenant, records) in by_tenant {
        let events = records
            .iter()
            .map(|r| Event {
                actor: Actor::User(r.user),
                subject: Some(format!("user:{}", r.user)),
                operation: "sso.saml",
                outcome: Outcome::Success,
                origin: &r.origin,
                detail: Some(serde_json::json!({
                    "sp": r.sp_entity_id,
                    "idp_initiated": matches!(r.request, Answered::Nothing),
                })),
            })
            .collect();
        let now = records.iter().map(|r| r.now).max().unwrap_or_default();
        crate::audit::record_many(&tx, &records[0].chain_key, tenant, events, now).await?;
    }
    tx.commit().await?;
    Ok(stored)
}
