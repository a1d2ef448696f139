//! Instance-wide settings (not tenant data): the master-key check value.

use sea_orm::{ActiveValue::Set, EntityTrait};

use super::entities::setting;
use super::{Handle, StoreError};

pub const KEY_CHECK: &str = "kek_check";

pub async fn find(h: &impl Handle, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(setting::Entity::find_by_id(key.to_owned())
        .one(h.conn())
        .await?
        .map(|m| m.value))
}

/// Inserts or replaces a setting.
pub async fn put(h: &impl Handle, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
    let model = setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value),
    };
    setting::Entity::insert(model)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec(h.conn())
        .await?;
    Ok(())
}

/// Inserts a setting unless one exists (the first writer wins).
pub async fn put_if_absent(h: &impl Handle, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
    let model = setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value),
    };
    setting::Entity::insert(model)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(setting::Column::Key)
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec(h.conn())
        .await?;
    Ok(())
}
