//! The tenant's custom user attributes: a schema of named, typed attributes (some required),
//! and each user's values. Values go with the user, the attribute and the tenant.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000010_attributes"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum AttributeDefs {
    Table,
    Id,
    TenantId,
    Name,
    Label,
    Kind,
    Required,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserAttributes {
    Table,
    TenantId,
    UserId,
    AttributeId,
    Value,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AttributeDefs::Table)
                .col(
                    ColumnDef::new(AttributeDefs::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AttributeDefs::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AttributeDefs::Name)
                        .string_len(40)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AttributeDefs::Label)
                        .string_len(128)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AttributeDefs::Kind)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(AttributeDefs::Required).boolean().not_null())
                .col(
                    ColumnDef::new(AttributeDefs::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AttributeDefs::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(AttributeDefs::Table, AttributeDefs::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_attribute_defs_name")
                .table(AttributeDefs::Table)
                .col(AttributeDefs::TenantId)
                .col(AttributeDefs::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(UserAttributes::Table)
                .col(
                    ColumnDef::new(UserAttributes::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserAttributes::UserId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserAttributes::AttributeId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(UserAttributes::Value).text().not_null())
                .col(
                    ColumnDef::new(UserAttributes::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(UserAttributes::UserId)
                        .col(UserAttributes::AttributeId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserAttributes::Table, UserAttributes::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserAttributes::Table, UserAttributes::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserAttributes::Table, UserAttributes::AttributeId)
                        .to(AttributeDefs::Table, AttributeDefs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // Deleting an attribute removes its values; erasure removes a user's (the primary key
        // leads with the user, but queries also name the tenant).
        m.create_index(
            Index::create()
                .name("ix_user_attributes_attribute")
                .table(UserAttributes::Table)
                .col(UserAttributes::AttributeId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_user_attributes_user")
                .table(UserAttributes::Table)
                .col(UserAttributes::TenantId)
                .col(UserAttributes::UserId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UserAttributes::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(AttributeDefs::Table).to_owned())
            .await?;
        Ok(())
    }
}
