//! Tenants. The tenants table is the root of tenancy, so it is the one table read by its own id.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::tenant;
use super::{Handle, StoreError, Tx};
use crate::directory::{Slug, Tenant, TenantStatus};
use crate::ids::TenantId;

pub struct NewTenant<'a> {
    pub id: TenantId,
    pub slug: &'a Slug,
    pub name: &'a str,
    pub wrapped_dek: Vec<u8>,
    pub now: i64,
}

fn to_record(m: tenant::Model) -> Result<Tenant, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("tenant {}: bad {what}", m.id));
    Ok(Tenant {
        id: m.id.parse().map_err(|_| corrupt("id"))?,
        slug: Slug::parse(&m.slug).map_err(|_| corrupt("slug"))?,
        status: TenantStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
        name: m.name,
        created_at: m.created_at,
        wrapped_dek: m.wrapped_dek,
    })
}

pub async fn insert(tx: &Tx, t: NewTenant<'_>) -> Result<(), StoreError> {
    let model = tenant::ActiveModel {
        id: Set(t.id.to_string()),
        slug: Set(t.slug.as_str().to_owned()),
        name: Set(t.name.to_owned()),
        status: Set(TenantStatus::Active.as_str().to_owned()),
        wrapped_dek: Set(t.wrapped_dek),
        created_at: Set(t.now),
        updated_at: Set(t.now),
    };
    tenant::Entity::insert(model)
        .exec_without_returning(tx.conn())
        .await
        .map_err(|e| StoreError::unique(e, "tenants.slug"))?;
    Ok(())
}

pub async fn find_by_slug(h: &impl Handle, slug: &str) -> Result<Option<Tenant>, StoreError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(h.conn())
        .await?
        .map(to_record)
        .transpose()
}

pub async fn find(h: &impl Handle, id: TenantId) -> Result<Option<Tenant>, StoreError> {
    tenant::Entity::find_by_id(id.to_string())
        .one(h.conn())
        .await?
        .map(to_record)
        .transpose()
}

pub async fn list(h: &impl Handle) -> Result<Vec<Tenant>, StoreError> {
    tenant::Entity::find()
        .order_by_asc(tenant::Column::Slug)
        .all(h.conn())
        .await?
        .into_iter()
        .map(to_record)
        .collect()
}

pub async fn wrapped_dek(h: &impl Handle, id: TenantId) -> Result<Vec<u8>, StoreError> {
    tenant::Entity::find_by_id(id.to_string())
        .one(h.conn())
        .await?
        .map(|m| m.wrapped_dek)
        .ok_or(StoreError::NotFound)
}

/// Every tenant's wrapped data key, for master-key rotation.
pub async fn all_wrapped_deks(h: &impl Handle) -> Result<Vec<(TenantId, Vec<u8>)>, StoreError> {
    tenant::Entity::find()
        .all(h.conn())
        .await?
        .into_iter()
        .map(|m| {
            let id =
                m.id.parse()
                    .map_err(|_| StoreError::Corrupt(format!("tenant {}: bad id", m.id)))?;
            Ok((id, m.wrapped_dek))
        })
        .collect()
}

pub async fn set_wrapped_dek(
    tx: &Tx,
    id: TenantId,
    wrapped: Vec<u8>,
    now: i64,
) -> Result<(), StoreError> {
    let model = tenant::ActiveModel {
        id: Set(id.to_string()),
        wrapped_dek: Set(wrapped),
        updated_at: Set(now),
        ..Default::default()
    };
    tenant::Entity::update(model).exec(tx.conn()).await?;
    Ok(())
}
