//! Walks a tenant's chain from the first entry to the head and reports the first break.

use super::{ChainKey, mac, origin_intact, origin_removed};
use crate::ids::TenantId;
use crate::store::audit::{self as store_audit, GENESIS_MAC};
use crate::store::{Handle, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        entries: i64,
    },
    /// The first entry (by sequence number) at which the chain stops verifying, and why.
    Broken {
        seq: i64,
        reason: String,
    },
}

const PAGE: u64 = 1000;

pub async fn verify(
    h: &impl Handle,
    key: &ChainKey,
    tenant: TenantId,
) -> Result<Verdict, StoreError> {
    let (head_seq, head_mac) = store_audit::head(h, tenant)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut expected_seq = 1;
    let mut prev = GENESIS_MAC.to_owned();
    // Entries whose origin was removed (seq, actor, subject), and the people an erasure says
    // it redacted: every removal must be one of theirs.
    let mut removed: Vec<(i64, String, Option<String>)> = Vec::new();
    let mut redacted: std::collections::HashSet<String> = Default::default();
    loop {
        let rows = store_audit::page(h, tenant, expected_seq - 1, PAGE).await?;
        let done = (rows.len() as u64) < PAGE;
        for row in rows {
            if row.seq != expected_seq {
                return Ok(Verdict::Broken {
                    seq: expected_seq,
                    reason: format!("entry {expected_seq} is missing (deleted)"),
                });
            }
            if row.prev_mac != prev {
                return Ok(Verdict::Broken {
                    seq: row.seq,
                    reason: "does not link to the entry before it (reordered or replaced)".into(),
                });
            }
            if mac(key, tenant, &row) != row.mac {
                return Ok(Verdict::Broken {
                    seq: row.seq,
                    reason: "content does not match its MAC (edited)".into(),
                });
            }
            if !origin_intact(key, tenant, &row) {
                return Ok(Verdict::Broken {
                    seq: row.seq,
                    reason: "source address or browser does not match its MAC (edited)".into(),
                });
            }
            if origin_removed(key, tenant, &row) {
                removed.push((row.seq, row.actor.clone(), row.subject.clone()));
            }
            if row.operation == "user.delete"
                && let (Some(subject), Some(detail)) = (&row.subject, &row.detail)
                && serde_json::from_str::<serde_json::Value>(detail)
                    .is_ok_and(|d| d.get("origin_redacted").is_some())
            {
                redacted.insert(subject.clone());
            }
            prev = row.mac;
            expected_seq += 1;
        }
        if done {
            break;
        }
    }
    let last = expected_seq - 1;
    if last != head_seq {
        return Ok(Verdict::Broken {
            seq: last + 1,
            reason: format!(
                "the chain ends at entry {last} but the head says {head_seq} (entries deleted)"
            ),
        });
    }
    if prev != head_mac {
        return Ok(Verdict::Broken {
            seq: last,
            reason: "the last entry does not match the chain head (edited or replaced)".into(),
        });
    }
    for (seq, actor, subject) in removed {
        let erased = redacted.contains(&actor)
            || (!actor.starts_with("user:") && subject.is_some_and(|s| redacted.contains(&s)));
        if !erased {
            return Ok(Verdict::Broken {
                seq,
                reason: "its source address and browser were removed, and no erasure of the \
                         person says so"
                    .into(),
            });
        }
    }
    Ok(Verdict::Intact { entries: last })
}
