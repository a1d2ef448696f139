//! Storage of the per-tenant audit hash chain. The head row (last seq and MAC) is advanced with
//! one `UPDATE … RETURNING`, which also takes the row's write lock for the rest of the
//! transaction, so concurrent appends queue instead of forking the chain.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::entities::{audit_entry, audit_head};
use super::{Handle, StoreError, Tx, param};
use crate::ids::TenantId;

/// One stored entry, as written and as read back for verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub subject: Option<String>,
    pub operation: String,
    pub outcome: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub route: Option<String>,
    pub detail: Option<String>,
    pub prev_mac: String,
    pub mac: String,
    /// A keyed MAC of the source IP and user agent, which the entry's MAC covers instead of
    /// them (so they can be removed); `None` for entries of the first version.
    pub origin_mac: Option<String>,
}

pub const GENESIS_MAC: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub async fn create_head(tx: &Tx, tenant: TenantId) -> Result<(), StoreError> {
    let model = audit_head::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        seq: Set(0),
        mac: Set(GENESIS_MAC.to_owned()),
    };
    audit_head::Entity::insert(model)
        .exec_without_returning(tx.conn())
        .await?;
    Ok(())
}

/// Reserves the next `n` sequence numbers; returns the last of them with the MAC of the entry
/// before the first.
pub async fn advance_head(tx: &Tx, tenant: TenantId, n: i64) -> Result<(i64, String), StoreError> {
    let c = tx.conn();
    let backend = c.get_database_backend();
    let sql = format!(
        "UPDATE audit_heads SET seq = seq + {} WHERE tenant_id = {} RETURNING seq, mac",
        param(backend, 1),
        param(backend, 2)
    );
    let row = c
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [n.into(), tenant.to_string().into()],
        ))
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((row.try_get("", "seq")?, row.try_get("", "mac")?))
}

/// Stores entries (in sequence order, after [`advance_head`]) and moves the head's MAC to the
/// last one.
pub async fn insert(tx: &Tx, tenant: TenantId, rows: Vec<AuditRow>) -> Result<(), StoreError> {
    let Some(last_mac) = rows.last().map(|r| r.mac.clone()) else {
        return Ok(());
    };
    let models = rows.into_iter().map(|row| audit_entry::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        seq: Set(row.seq),
        at: Set(row.at),
        actor: Set(row.actor),
        subject: Set(row.subject),
        operation: Set(row.operation),
        outcome: Set(row.outcome),
        source_ip: Set(row.source_ip),
        user_agent: Set(row.user_agent),
        route: Set(row.route),
        detail: Set(row.detail),
        prev_mac: Set(row.prev_mac),
        mac: Set(row.mac),
        origin_mac: Set(row.origin_mac),
    });
    audit_entry::Entity::insert_many(models)
        .exec_without_returning(tx.conn())
        .await?;
    let head = audit_head::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        mac: Set(last_mac),
        ..Default::default()
    };
    audit_head::Entity::update(head).exec(tx.conn()).await?;
    Ok(())
}

/// The head: the last sequence number and MAC, or `None` for an unknown tenant.
pub async fn head(h: &impl Handle, tenant: TenantId) -> Result<Option<(i64, String)>, StoreError> {
    Ok(audit_head::Entity::find_by_id(tenant.to_string())
        .one(h.conn())
        .await?
        .map(|m| (m.seq, m.mac)))
}

/// Entries with `seq > after`, in sequence order, at most `limit`.
pub async fn page(
    h: &impl Handle,
    tenant: TenantId,
    after: i64,
    limit: u64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_entry::Entity::find()
        .filter(audit_entry::Column::TenantId.eq(tenant.to_string()))
        .filter(audit_entry::Column::Seq.gt(after))
        .order_by_asc(audit_entry::Column::Seq)
        .limit(limit)
        .all(h.conn())
        .await?
        .into_iter()
        .map(row_of)
        .collect())
}

/// The newest entries about `subject` (`user:…`, `group:…`), newest first, at most `limit`.
pub async fn recent_for_subject(
    h: &impl Handle,
    tenant: TenantId,
    subject: &str,
    limit: u64,
) -> Result<Vec<AuditRow>, StoreError> {
    let filter = AuditFilter {
        subject: Some(subject.to_owned()),
        ..AuditFilter::default()
    };
    search(h, tenant, &filter, (Some(i64::MAX), None), limit).await
}

/// The newest entries of the tenant, newest first, at most `limit`.
pub async fn recent(
    h: &impl Handle,
    tenant: TenantId,
    limit: u64,
) -> Result<Vec<AuditRow>, StoreError> {
    search(
        h,
        tenant,
        &AuditFilter::default(),
        (Some(i64::MAX), None),
        limit,
    )
    .await
}

fn row_of(m: audit_entry::Model) -> AuditRow {
    AuditRow {
        seq: m.seq,
        at: m.at,
        actor: m.actor,
        subject: m.subject,
        operation: m.operation,
        outcome: m.outcome,
        source_ip: m.source_ip,
        user_agent: m.user_agent,
        route: m.route,
        detail: m.detail,
        prev_mac: m.prev_mac,
        mac: m.mac,
        origin_mac: m.origin_mac,
    }
}

/// The entries whose origin is the person's (`?`, `?`: their reference twice): their own
/// actions, and those about them with no user as actor (a sign-in attempt).
const PERSONS_ORIGIN: &str = "(actor = ? OR (subject = ? AND actor NOT LIKE 'user:%'))";

/// Removes the source IP and user agent of the entries of `user`'s own actions, and of those
/// about them with no user as actor (a sign-in attempt): what erasure leaves of the person in
/// the log is their opaque id. Only entries with an `origin_mac` can be redacted (the chain
/// still verifies); the number of entries changed.
pub async fn redact_origins(tx: &Tx, tenant: TenantId, user: &str) -> Result<u64, StoreError> {
    super::exec(
        tx,
        &format!(
            "UPDATE audit_log SET source_ip = NULL, user_agent = NULL WHERE tenant_id = ? \
             AND origin_mac IS NOT NULL AND (source_ip IS NOT NULL OR user_agent IS NOT NULL) \
             AND {PERSONS_ORIGIN}"
        ),
        vec![
            tenant.to_string().into(),
            user.to_owned().into(),
            user.to_owned().into(),
        ],
    )
    .await
}

/// How many entries [`redact_origins`] could not redact: written before origins had their own
/// MAC, they still hold the person's address or browser.
pub async fn unredactable_origins(
    h: &impl Handle,
    tenant: TenantId,
    user: &str,
) -> Result<i64, StoreError> {
    let row = super::query_one(
        h,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = ? AND origin_mac IS NULL \
             AND (source_ip IS NOT NULL OR user_agent IS NOT NULL) AND {PERSONS_ORIGIN}"
        ),
        vec![
            tenant.to_string().into(),
            user.to_owned().into(),
            user.to_owned().into(),
        ],
    )
    .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// What the console's audit views are narrowed by (all optional; `operation` is a prefix).
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    /// Entries whose subject is not this one (or none).
    pub not_subject: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
}

/// A page of entries matching `filter`: newest first below `before` (`descending`), or oldest
/// first above `after`. `limit` at most.
pub async fn search(
    h: &impl Handle,
    tenant: TenantId,
    filter: &AuditFilter,
    position: (Option<i64>, Option<i64>),
    limit: u64,
) -> Result<Vec<AuditRow>, StoreError> {
    let (before, after) = position;
    let mut q =
        audit_entry::Entity::find().filter(audit_entry::Column::TenantId.eq(tenant.to_string()));
    if let Some(from) = filter.from {
        q = q.filter(audit_entry::Column::At.gte(from));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_entry::Column::At.lt(until));
    }
    if let Some(actor) = &filter.actor {
        q = q.filter(audit_entry::Column::Actor.eq(actor.clone()));
    }
    if let Some(subject) = &filter.subject {
        q = q.filter(audit_entry::Column::Subject.eq(subject.clone()));
    }
    if let Some(other) = &filter.not_subject {
        q = q.filter(
            sea_orm::Condition::any()
                .add(audit_entry::Column::Subject.is_null())
                .add(audit_entry::Column::Subject.ne(other.clone())),
        );
    }
    if let Some(op) = filter.operation.as_deref().filter(|o| !o.is_empty()) {
        // A prefix: `login.` matches `login.password`, `login.mfa`, … (LIKE, with its
        // wildcards escaped, behaves the same under any collation).
        let mut pattern = String::with_capacity(op.len() + 2);
        for c in op.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        q = q.filter(
            audit_entry::Column::Operation
                .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
        );
    }
    if let Some(outcome) = &filter.outcome {
        q = q.filter(audit_entry::Column::Outcome.eq(outcome.clone()));
    }
    if let Some(before) = before {
        q = q
            .filter(audit_entry::Column::Seq.lt(before))
            .order_by_desc(audit_entry::Column::Seq);
    } else {
        q = q
            .filter(audit_entry::Column::Seq.gt(after.unwrap_or(0)))
            .order_by_asc(audit_entry::Column::Seq);
    }
    Ok(q.limit(limit)
        .all(h.conn())
        .await?
        .into_iter()
        .map(row_of)
        .collect())
}

/// One entry by its sequence number.
pub async fn entry(
    h: &impl Handle,
    tenant: TenantId,
    seq: i64,
) -> Result<Option<AuditRow>, StoreError> {
    Ok(audit_entry::Entity::find()
        .filter(audit_entry::Column::TenantId.eq(tenant.to_string()))
        .filter(audit_entry::Column::Seq.eq(seq))
        .one(h.conn())
        .await?
        .map(row_of))
}
