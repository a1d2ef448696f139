//! Directory groups: named sets of a tenant's users. Their names flow into OIDC `groups`
//! claims (with the `groups` scope) and into SAML attributes mapped from `groups`. Names are
//! kept as typed (NFKC, trimmed) and compared by a folded key, like usernames. Every change is
//! one transaction with its audit entry, which names the group and user by opaque id only.

use serde_json::json;

use super::names::username_key;
use super::{Tenant, User};
use crate::audit::{self, By};
use crate::ids::GroupId;
use crate::keys::KeyError;
use crate::services::Services;
use crate::store::groups::{self, GroupRow};
use crate::store::{StoreError, Tx};

/// Longest group name, in characters, and description.
pub const MAX_NAME: usize = 64;
pub const MAX_DESCRIPTION: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(
        "a group name must be 1 to {MAX_NAME} characters, without control characters or commas"
    )]
    Name,
    #[error(
        "a group description must be at most {MAX_DESCRIPTION} characters, without control characters"
    )]
    Description,
    #[error("there is already a group named `{0}`")]
    Taken(String),
    #[error("there is no group `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> GroupError {
        GroupError::Store(e)
    }
}

/// A group name as typed, and its comparison key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupName {
    pub display: String,
    pub key: String,
}

impl GroupName {
    /// Commas are refused: SPs and apps often receive groups joined by commas.
    pub fn parse(text: &str) -> Result<GroupName, GroupError> {
        use unicode_normalization::UnicodeNormalization;
        let display: String = text.trim().nfkc().collect();
        let len = display.chars().count();
        if !(1..=MAX_NAME).contains(&len) || display.chars().any(|c| c.is_control() || c == ',') {
            return Err(GroupError::Name);
        }
        Ok(GroupName {
            key: username_key(&display),
            display,
        })
    }
}

pub fn parse_description(text: &str) -> Result<String, GroupError> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION || text.chars().any(char::is_control) {
        return Err(GroupError::Description);
    }
    Ok(text.to_owned())
}

/// A group as the rest of the system sees it.
pub type Group = GroupRow;

/// The audit entry of a change to `group` (its id, and a member's, in `detail`).
async fn record(
    svc: &Services,
    tx: &Tx,
    (tenant, by, now): (&Tenant, By<'_>, i64),
    operation: &'static str,
    group: GroupId,
    detail: serde_json::Value,
) -> Result<(), GroupError> {
    let key = svc.keyring.chain_key(tx, tenant.id).await?;
    let event = by.event(operation, Some(format!("group:{group}")), Some(detail));
    audit::record(tx, &key, tenant.id, event, now).await?;
    Ok(())
}

pub async fn create(
    svc: &Services,
    tenant: &Tenant,
    name: &str,
    description: &str,
    by: By<'_>,
    now: i64,
) -> Result<Group, GroupError> {
    let name = GroupName::parse(name)?;
    let description = parse_description(description)?;
    let id = GroupId::new();
    let tx = svc.store.begin().await?;
    match groups::insert(
        &tx,
        tenant.id,
        id,
        &name.display,
        &name.key,
        &description,
        now,
    )
    .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(GroupError::Taken(name.display)),
        Err(e) => return Err(e.into()),
    }
    record(
        svc,
        &tx,
        (tenant, by, now),
        "group.create",
        id,
        json!({ "group": id.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(GroupRow {
        id,
        name: name.display,
        description,
        members: 0,
        created_at: now,
        updated_at: now,
    })
}

/// The group named `name` (compared by key).
pub async fn find(svc: &Services, tenant: &Tenant, name: &str) -> Result<Group, GroupError> {
    let key = GroupName::parse(name)
        .map_err(|_| GroupError::NotFound(name.chars().take(MAX_NAME).collect()))?
        .key;
    groups::find_by_name_key(&svc.store, tenant.id, &key)
        .await?
        .ok_or_else(|| GroupError::NotFound(name.chars().take(MAX_NAME).collect()))
}

pub async fn list(svc: &Services, tenant: &Tenant) -> Result<Vec<Group>, GroupError> {
    Ok(groups::list(&svc.store, tenant.id).await?)
}

/// Renames `group` (and replaces its description when one is given).
pub async fn rename(
    svc: &Services,
    tenant: &Tenant,
    group: &Group,
    new_name: &str,
    description: Option<&str>,
    by: By<'_>,
    now: i64,
) -> Result<Group, GroupError> {
    let name = GroupName::parse(new_name)?;
    let description = match description {
        Some(d) => parse_description(d)?,
        None => group.description.clone(),
    };
    let tx = svc.store.begin().await?;
    let updated = groups::update(
        &tx,
        tenant.id,
        group.id,
        &name.display,
        &name.key,
        &description,
        now,
    )
    .await;
    match updated {
        Ok(1) => {}
        Ok(_) => return Err(GroupError::NotFound(group.name.clone())),
        Err(StoreError::Conflict(_)) => return Err(GroupError::Taken(name.display)),
        Err(e) => return Err(e.into()),
    }
    let detail = json!({ "group": group.id.to_string() });
    record(
        svc,
        &tx,
        (tenant, by, now),
        "group.update",
        group.id,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(GroupRow {
        name: name.display,
        description,
        updated_at: now,
        ..group.clone()
    })
}

pub async fn delete(
    svc: &Services,
    tenant: &Tenant,
    group: &Group,
    by: By<'_>,
    now: i64,
) -> Result<(), GroupError> {
    let tx = svc.store.begin().await?;
    if groups::delete(&tx, tenant.id, group.id).await? == 0 {
        return Err(GroupError::NotFound(group.name.clone()));
    }
    let detail = json!({ "group": group.id.to_string(), "members": group.members });
    record(
        svc,
        &tx,
        (tenant, by, now),
        "group.delete",
        group.id,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds `user` to `group` (`member`) or removes them; false (and no audit entry) when there
/// was nothing to change.
pub async fn set_member(
    svc: &Services,
    tenant: &Tenant,
    group: &Group,
    user: &User,
    member: bool,
    by: By<'_>,
    now: i64,
) -> Result<bool, GroupError> {
    let tx = svc.store.begin().await?;
    let (changed, operation) = if member {
        let added = groups::add_member(&tx, tenant.id, group.id, user.id, now).await?;
        (added, "group.member.add")
    } else {
        let removed = groups::remove_member(&tx, tenant.id, group.id, user.id).await?;
        (removed, "group.member.remove")
    };
    if changed {
        let detail = json!({ "group": group.id.to_string(), "user": user.id.to_string() });
        record(svc, &tx, (tenant, by, now), operation, group.id, detail).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// The usernames of `group`'s members.
pub async fn members(
    svc: &Services,
    tenant: &Tenant,
    group: &Group,
) -> Result<Vec<String>, GroupError> {
    Ok(groups::members(&svc.store, tenant.id, group.id, u64::MAX)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect())
}

/// The names of the groups `user` is in (for claims and attributes).
pub async fn names_of(
    store: &crate::store::Store,
    tenant: &Tenant,
    user: crate::ids::UserId,
) -> Result<Vec<String>, StoreError> {
    groups::names_of_user(store, tenant.id, user).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_folded_and_bounded() {
        let a = GroupName::parse("  Dev & Ops ").unwrap();
        assert_eq!(a.display, "Dev & Ops");
        assert_eq!(a.key, GroupName::parse("ＤＥＶ & ops").unwrap().key);
        assert!(GroupName::parse("").is_err());
        assert!(GroupName::parse("a,b").is_err());
        assert!(GroupName::parse("tab\there").is_err());
        assert!(GroupName::parse(&"x".repeat(MAX_NAME + 1)).is_err());
        assert!(GroupName::parse(&"x".repeat(MAX_NAME)).is_ok());
    }
}
