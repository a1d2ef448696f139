//! Claims from custom attributes: each OIDC client may map the tenant's custom user attributes
//! to claims of its ID tokens and userinfo. A JSON array of rules (`attr.<name>=<claim>`).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000012_oidc_claims"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcClients {
    Table,
    ClaimRules,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(OidcClients::Table)
                .add_column(
                    ColumnDef::new(OidcClients::ClaimRules)
                        .text()
                        .not_null()
                        .default("[]"),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(OidcClients::Table)
                .drop_column(OidcClients::ClaimRules)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
