//! Tenant signing keys: public parts in clear, the private key only sealed under the tenant DEK.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::signing_key;
use super::{Handle, StoreError, Tx};
use crate::ids::{SigningKeyId, TenantId};
use crate::keys::{KeyState, SigningKey};

pub struct NewSigningKey<'a> {
    pub id: SigningKeyId,
    pub kid: &'a str,
    pub algorithm: crate::keys::Alg,
    pub state: KeyState,
    pub public_key_pem: &'a str,
    pub certificate_pem: &'a str,
    pub private_key_sealed: Vec<u8>,
    pub not_after: i64,
    pub now: i64,
}

fn to_record(m: signing_key::Model) -> Result<(SigningKey, Vec<u8>), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("signing key {}: bad {what}", m.id));
    let key = SigningKey {
        id: m.id.parse().map_err(|_| corrupt("id"))?,
        tenant_id: m.tenant_id.parse().map_err(|_| corrupt("tenant id"))?,
        state: KeyState::parse(&m.state).ok_or_else(|| corrupt("state"))?,
        algorithm: crate::keys::Alg::parse(&m.algorithm).ok_or_else(|| corrupt("algorithm"))?,
        kid: m.kid,
        public_key_pem: m.public_key_pem,
        certificate_pem: m.certificate_pem,
        not_after: m.not_after,
        created_at: m.created_at,
    };
    Ok((key, m.private_key_sealed))
}

pub async fn insert(tx: &Tx, tenant: TenantId, k: NewSigningKey<'_>) -> Result<(), StoreError> {
    let model = signing_key::ActiveModel {
        id: Set(k.id.to_string()),
        tenant_id: Set(tenant.to_string()),
        kid: Set(k.kid.to_owned()),
        algorithm: Set(k.algorithm.as_str().to_owned()),
        state: Set(k.state.as_str().to_owned()),
        public_key_pem: Set(k.public_key_pem.to_owned()),
        certificate_pem: Set(k.certificate_pem.to_owned()),
        private_key_sealed: Set(k.private_key_sealed),
        not_after: Set(k.not_after),
        created_at: Set(k.now),
        activated_at: Set((k.state == KeyState::Active).then_some(k.now)),
        retired_at: Set(None),
    };
    signing_key::Entity::insert(model)
        .exec_without_returning(tx.conn())
        .await
        .map_err(|e| {
            StoreError::unique(
                e,
                "signing_keys (kid, or one active/next key per algorithm)",
            )
        })?;
    Ok(())
}

/// The tenant's keys, newest first, each with its sealed private key.
pub async fn list(
    h: &impl Handle,
    tenant: TenantId,
) -> Result<Vec<(SigningKey, Vec<u8>)>, StoreError> {
    signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant.to_string()))
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_desc(signing_key::Column::Id)
        .all(h.conn())
        .await?
        .into_iter()
        .map(to_record)
        .collect()
}

/// Moves one key from `from` to `to` (a conditional update: true only if it was in `from`).
pub async fn set_state(
    tx: &Tx,
    tenant: TenantId,
    id: SigningKeyId,
    from: KeyState,
    to: KeyState,
    now: i64,
) -> Result<bool, StoreError> {
    let n = super::exec(
        tx,
        "UPDATE signing_keys SET state = ?, \
         activated_at = CASE WHEN ? = 'active' THEN ? ELSE activated_at END, \
         retired_at = CASE WHEN ? = 'retired' THEN ? ELSE retired_at END \
         WHERE tenant_id = ? AND id = ? AND state = ?",
        vec![
            to.as_str().to_owned().into(),
            to.as_str().to_owned().into(),
            now.into(),
            to.as_str().to_owned().into(),
            now.into(),
            tenant.to_string().into(),
            id.to_string().into(),
            from.as_str().to_owned().into(),
        ],
    )
    .await?;
    Ok(n == 1)
}
