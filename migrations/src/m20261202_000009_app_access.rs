//! Who may use each application. An app (OIDC client or SAML SP) is open to everyone in the
//! directory unless it is marked `assigned_only`; then only the users assigned to it, directly
//! or through a group, may sign in to it. Assignments go with the user, the group, the tenant
//! (foreign keys) and the app (deleted with it by the code, since an app is one of two tables).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000009_app_access"
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
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcClients {
    Table,
    AssignedOnly,
}

#[derive(DeriveIden, Clone, Copy)]
enum SamlSps {
    Table,
    AssignedOnly,
}

#[derive(DeriveIden, Clone, Copy)]
enum AppUsers {
    Table,
    TenantId,
    AppId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AppGroups {
    Table,
    TenantId,
    AppId,
    GroupId,
    CreatedAt,
}

fn tenant_fk<T: IntoIden + Copy + 'static>(table: T, col: T) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(OidcClients::Table)
                .add_column(
                    ColumnDef::new(OidcClients::AssignedOnly)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SamlSps::Table)
                .add_column(
                    ColumnDef::new(SamlSps::AssignedOnly)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AppUsers::Table)
                .col(ColumnDef::new(AppUsers::TenantId).string_len(36).not_null())
                .col(ColumnDef::new(AppUsers::AppId).string_len(36).not_null())
                .col(ColumnDef::new(AppUsers::UserId).string_len(36).not_null())
                .col(ColumnDef::new(AppUsers::CreatedAt).big_integer().not_null())
                .primary_key(Index::create().col(AppUsers::AppId).col(AppUsers::UserId))
                .foreign_key(&mut tenant_fk(AppUsers::Table, AppUsers::TenantId))
                .foreign_key(
                    ForeignKey::create()
                        .from(AppUsers::Table, AppUsers::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // A user's assignments (erasure, the person export, the sign-in check).
        m.create_index(
            Index::create()
                .name("ix_app_users_user")
                .table(AppUsers::Table)
                .col(AppUsers::TenantId)
                .col(AppUsers::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AppGroups::Table)
                .col(
                    ColumnDef::new(AppGroups::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(AppGroups::AppId).string_len(36).not_null())
                .col(ColumnDef::new(AppGroups::GroupId).string_len(36).not_null())
                .col(
                    ColumnDef::new(AppGroups::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(AppGroups::AppId)
                        .col(AppGroups::GroupId),
                )
                .foreign_key(&mut tenant_fk(AppGroups::Table, AppGroups::TenantId))
                .foreign_key(
                    ForeignKey::create()
                        .from(AppGroups::Table, AppGroups::GroupId)
                        .to(Groups::Table, Groups::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_app_groups_group")
                .table(AppGroups::Table)
                .col(AppGroups::TenantId)
                .col(AppGroups::GroupId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AppGroups::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(AppUsers::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(SamlSps::Table)
                .drop_column(SamlSps::AssignedOnly)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(OidcClients::Table)
                .drop_column(OidcClients::AssignedOnly)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
