//! Grant generations: a counter per user that ends, at once, every grant an application holds
//! for them. A password change or reset, a second-factor reset, disabling or restricting the
//! account, erasure and "end all sessions" raise it. Each authorization code and refresh token
//! carries the generation it was issued under, and each access token the same as a claim; any
//! of them is honoured only while it equals the user's. A grant caught mid-issue by the change
//! (a code redeemed or a refresh token rotated in the same instant) carries the old number, so
//! no ordering of the two can leave a live token behind.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000016_grant_generations"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcCodes {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcRefreshTokens {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Column {
    GrantGeneration,
}

/// The tables that get a `grant_generation` column.
fn tables() -> [DynIden; 3] {
    [
        Users::Table.into_iden(),
        OidcCodes::Table.into_iden(),
        OidcRefreshTokens::Table.into_iden(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One change per statement: SQLite alters a table one column at a time.
        for table in tables() {
            m.alter_table(
                Table::alter()
                    .table(table)
                    .add_column(
                        ColumnDef::new(Column::GrantGeneration)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            m.alter_table(
                Table::alter()
                    .table(table)
                    .drop_column(Column::GrantGeneration)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
