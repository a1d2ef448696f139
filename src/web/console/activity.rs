//! Audit entries as lines a person reads: when, who, what, on whom, outcome.

use crate::ids::{TenantId, UserId};
use crate::services::Services;
use crate::store::StoreError;
use crate::store::audit::AuditRow;
use crate::web::console::when;

pub struct Line {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub operation: String,
    pub subject: String,
    /// Link to the subject's console page, if it has one.
    pub subject_href: Option<String>,
    pub outcome: String,
    pub failed: bool,
    pub source_ip: String,
}

fn user_of(reference: &str) -> Option<UserId> {
    reference.strip_prefix("user:")?.parse().ok()
}

/// Lines for `rows`, with user references shown by username where the user still exists.
pub async fn lines(
    svc: &Services,
    tenant: TenantId,
    rows: Vec<AuditRow>,
) -> Result<Vec<Line>, StoreError> {
    let mut ids: Vec<UserId> = rows
        .iter()
        .flat_map(|r| [user_of(&r.actor), r.subject.as_deref().and_then(user_of)])
        .flatten()
        .collect();
    ids.sort_by_key(|id| id.to_string());
    ids.dedup();
    let names = crate::store::users::usernames(&svc.store, tenant, &ids).await?;
    // A tenant has tens or hundreds of groups: one read of them all.
    let wants_groups = rows.iter().any(|r| {
        r.subject
            .as_deref()
            .is_some_and(|s| s.starts_with("group:"))
    });
    let groups: std::collections::HashMap<String, String> = if wants_groups {
        crate::store::groups::list(&svc.store, tenant)
            .await?
            .into_iter()
            .map(|g| (format!("group:{}", g.id), g.name))
            .collect()
    } else {
        Default::default()
    };
    let href = |reference: &str| {
        if let Some(id) = user_of(reference) {
            Some(format!("/admin/users/{id}"))
        } else {
            groups
                .contains_key(reference)
                .then(|| format!("/admin/groups/{}", &reference[6..]))
        }
    };
    let show = |reference: &str| match user_of(reference) {
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("deleted user {}", &reference[5..13.min(reference.len())])),
        None => match reference {
            "operator" => "Operator (command line)".into(),
            "system" => "System".into(),
            other => groups
                .get(other)
                .map_or_else(|| other.to_owned(), |name| format!("group {name}")),
        },
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let subject = r.subject.as_deref().unwrap_or("");
            Line {
                seq: r.seq,
                at: when(r.at),
                actor: show(&r.actor),
                subject_href: href(subject),
                subject: if subject.is_empty() {
                    String::new()
                } else {
                    show(subject)
                },
                failed: r.outcome != "success",
                outcome: r.outcome,
                operation: r.operation,
                source_ip: r.source_ip.unwrap_or_default(),
            }
        })
        .collect())
}
