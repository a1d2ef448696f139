//! Consent: which scopes a person allowed a client, asked once and remembered per user and
//! client, listed and revocable by the person. Revoking it also revokes the client's refresh
//! tokens for that person, so "remove access" means what it says.

use serde_json::json;

use super::clients;
use crate::audit::{self, Actor, Event, Origin, Outcome};
use crate::directory::Tenant;
use crate::ids::UserId;
use crate::keys::KeyError;
use crate::services::Services;
use crate::store::{StoreError, consents, grants};

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Client(#[from] clients::ClientError),
}

/// What a scope means, in the words the consent page uses.
pub fn scope_label(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are when you sign in",
        "profile" => "See your name and username",
        "email" => "See your e-mail address",
        "offline_access" => "Stay connected when you are not using it",
        "groups" => "See which groups you are in",
        _ => "Other access",
    }
}

/// [`scope_label`], with what `profile` also shares: the `shared` custom attributes' labels.
pub fn scope_text(scope: &str, shared: &[String]) -> String {
    if scope == "profile" && !shared.is_empty() {
        format!("See your name, username and {}", shared.join(", "))
    } else {
        scope_label(scope).to_owned()
    }
}

/// A consent's scope list in the consent page's words: a line per scope, `profile` naming the
/// custom attributes allowed with it (`schema` gives their labels; deleted ones are left out).
pub fn describe(
    scopes: &[String],
    schema: &[crate::directory::attributes::Attribute],
) -> Vec<String> {
    use crate::directory::attributes::referenced;
    let shared: Vec<String> = scopes
        .iter()
        .filter_map(|s| referenced(s))
        .filter_map(|name| schema.iter().find(|a| a.name == name))
        .map(|a| a.label.clone())
        .collect();
    scopes
        .iter()
        .filter(|s| referenced(s).is_none())
        .map(|s| scope_text(s, &shared))
        .collect()
}

fn split(scope: &str) -> impl Iterator<Item = &str> {
    scope.split(' ').filter(|s| !s.is_empty())
}

/// Whether the user already allowed `client_id` every scope in `scopes`.
pub async fn covers(
    svc: &Services,
    tenant: &Tenant,
    user: UserId,
    client_id: &str,
    scopes: &[&str],
) -> Result<bool, StoreError> {
    let Some(row) = consents::find(&svc.store, tenant.id, user, client_id).await? else {
        return Ok(false);
    };
    Ok(scopes.iter().all(|s| split(&row.scope).any(|g| g == *s)))
}

/// A person deciding about their consents, with where the request came from (for the audit).
pub struct Decider<'a> {
    pub svc: &'a Services,
    pub tenant: &'a Tenant,
    pub user: UserId,
    pub origin: &'a Origin,
    pub now: i64,
}

impl Decider<'_> {
    /// Runs `change` in a transaction and audits `operation` (with `detail`) in the same one.
    async fn audited<F, T>(&self, operation: &'static str, change: F) -> Result<T, ConsentError>
    where
        F: AsyncFnOnce(&crate::store::Tx) -> Result<(T, serde_json::Value), StoreError>,
    {
        let key = self.svc.keyring.chain_key_of(self.tenant)?;
        let tx = self.svc.store.begin().await?;
        let (out, detail) = change(&tx).await?;
        audit::record(
            &tx,
            &key,
            self.tenant.id,
            Event {
                actor: Actor::User(self.user),
                subject: Some(format!("user:{}", self.user)),
                operation,
                outcome: Outcome::Success,
                origin: self.origin,
                detail: Some(detail),
            },
            self.now,
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The user allowed `scopes`: added to what they allowed the client before.
    pub async fn grant(&self, client_id: &str, scopes: &[&str]) -> Result<(), ConsentError> {
        let (tenant, user, now) = (self.tenant.id, self.user, self.now);
        self.audited("consent.grant", async |tx| {
            let mut all: Vec<String> = consents::find(tx, tenant, user, client_id)
                .await?
                .map(|row| split(&row.scope).map(str::to_owned).collect())
                .unwrap_or_default();
            for s in scopes {
                if !all.iter().any(|a| a == s) {
                    all.push((*s).to_owned());
                }
            }
            let scope = all.join(" ");
            consents::put(tx, tenant, user, client_id, &scope, now).await?;
            Ok(((), json!({ "client_id": client_id, "scope": scope })))
        })
        .await
    }

    /// The user said no (recorded; nothing else changes).
    pub async fn refuse(&self, client_id: &str) -> Result<(), ConsentError> {
        self.audited("consent.deny", async |_| {
            Ok(((), json!({ "client_id": client_id })))
        })
        .await
    }

    /// Withdraws the consent for a client, revokes the client's refresh tokens for the user
    /// and voids its unredeemed codes. Access tokens already issued run out on their own (their
    /// lifetime is the client's, at most a day; five minutes by default). False if there was no
    /// consent to withdraw.
    pub async fn revoke(&self, client_id: &str) -> Result<bool, ConsentError> {
        let (tenant, user, now) = (self.tenant.id, self.user, self.now);
        let removed = consents::find(&self.svc.store, tenant, user, client_id)
            .await?
            .is_some();
        if !removed {
            return Ok(false);
        }
        self.audited("consent.revoke", async |tx| {
            let deleted = consents::delete(tx, tenant, user, client_id).await?;
            let revoked = grants::revoke_for_client(tx, tenant, client_id, Some(user), now).await?;
            grants::expire_codes(tx, tenant, client_id, user, now).await?;
            Ok((
                deleted,
                json!({ "client_id": client_id, "refresh_tokens_revoked": revoked }),
            ))
        })
        .await
    }
}

/// One application the user has allowed, for the account page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub client_id: String,
    /// The client's name, or `None` if it no longer exists.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub updated_at: i64,
}

pub async fn list(
    svc: &Services,
    tenant: &Tenant,
    user: UserId,
) -> Result<Vec<Granted>, ConsentError> {
    let mut out = Vec::new();
    for row in consents::list_for_user(&svc.store, tenant.id, user).await? {
        let client = clients::find_cached(svc, tenant, &row.client_id).await?;
        out.push(Granted {
            client_name: client.map(|c| c.name.clone()),
            scopes: split(&row.scope).map(str::to_owned).collect(),
            client_id: row.client_id,
            updated_at: row.updated_at,
        });
    }
    Ok(out)
}
