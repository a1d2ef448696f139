//! Directory groups of a tenant and their members. A group's name is unique per tenant by its
//! folded key (as usernames are); deleting a group, a user or the tenant removes memberships.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000007_groups"
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
enum Groups {
    Table,
    Id,
    TenantId,
    Name,
    NameKey,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum GroupMembers {
    Table,
    TenantId,
    GroupId,
    UserId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Groups::Table)
                .col(
                    ColumnDef::new(Groups::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Groups::TenantId).string_len(36).not_null())
                .col(ColumnDef::new(Groups::Name).string_len(256).not_null())
                .col(ColumnDef::new(Groups::NameKey).string_len(256).not_null())
                .col(
                    ColumnDef::new(Groups::Description)
                        .string_len(1024)
                        .not_null(),
                )
                .col(ColumnDef::new(Groups::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Groups::UpdatedAt).big_integer().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .from(Groups::Table, Groups::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_groups_tenant_name")
                .table(Groups::Table)
                .col(Groups::TenantId)
                .col(Groups::NameKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(GroupMembers::Table)
                .col(
                    ColumnDef::new(GroupMembers::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(GroupMembers::GroupId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(GroupMembers::UserId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(GroupMembers::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(GroupMembers::GroupId)
                        .col(GroupMembers::UserId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(GroupMembers::Table, GroupMembers::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(GroupMembers::Table, GroupMembers::GroupId)
                        .to(Groups::Table, Groups::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(GroupMembers::Table, GroupMembers::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // A user's groups (claims and attributes at every sign-in).
        m.create_index(
            Index::create()
                .name("ix_group_members_user")
                .table(GroupMembers::Table)
                .col(GroupMembers::TenantId)
                .col(GroupMembers::UserId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(GroupMembers::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Groups::Table).to_owned())
            .await?;
        Ok(())
    }
}
