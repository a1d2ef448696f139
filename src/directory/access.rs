//! Who may use each application. An app (OIDC client or SAML SP) is open to every active user
//! of the directory until it is set to "assigned users only"; from then on only the users
//! assigned to it, directly or through one of their groups, may sign in to it. The sign-in
//! paths (`oidc::authorize`, `oidc::token`, `saml`) ask [`may_use`]; a refusal is audited with
//! [`record_denied`]. Every change is one transaction with its audit entry, which names the app
//! (`client:…`, `sp:…`), and the user or group by opaque id.

use serde_json::json;

use super::groups::Group;
use super::{Tenant, User};
use crate::audit::{self, Actor, By, Event, Origin, Outcome};
use crate::ids::{GroupId, UserId};
use crate::keys::KeyError;
use crate::services::Services;
use crate::store::app_access::{self, Assignment};
use crate::store::{Store, StoreError, Tx, epoch};

pub use crate::store::app_access::AppTable as AppKind;

/// Most direct user assignments shown or exported per app.
pub const MAX_LISTED_USERS: u64 = 1000;

/// An application, as far as access is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub kind: AppKind,
    /// The row id (`oidc_clients.id` / `saml_sps.id`).
    pub id: String,
    /// How audit entries name it: `client:{client_id}` or `sp:{entity_id}`.
    pub subject: String,
    pub assigned_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the application no longer exists")]
    NoApp,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Whether `user` may sign in to `app`.
pub async fn may_use(
    store: &Store,
    tenant: &Tenant,
    app: &App,
    user: UserId,
) -> Result<bool, StoreError> {
    if !app.assigned_only {
        return Ok(true);
    }
    app_access::is_assigned(store, tenant.id, &app.id, user).await
}

/// Audits a refused sign-in of `user` to `app` (in its own transaction), at most once a minute
/// per user and app.
pub async fn record_denied(
    svc: &Services,
    tenant: &Tenant,
    app: &App,
    user: UserId,
    origin: &Origin,
    now: i64,
) -> Result<(), AccessError> {
    if !svc
        .caches
        .denial_to_record((tenant.id, app.id.clone(), user), now)
    {
        return Ok(());
    }
    let key = svc.keyring.chain_key(&svc.store, tenant.id).await?;
    let event = Event {
        actor: Actor::User(user),
        subject: Some(app.subject.clone()),
        operation: "app.denied",
        outcome: Outcome::Denied,
        origin,
        detail: Some(json!({ "reason": "not_assigned", "app": app.id })),
    };
    let tx = svc.store.begin().await?;
    audit::record(&tx, &key, tenant.id, event, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    svc: &Services,
    tx: &Tx,
    (tenant, by, now): (&Tenant, By<'_>, i64),
    operation: &'static str,
    app: &App,
    detail: serde_json::Value,
) -> Result<(), AccessError> {
    let key = svc.keyring.chain_key(tx, tenant.id).await?;
    let event = by.event(operation, Some(app.subject.clone()), Some(detail));
    audit::record(tx, &key, tenant.id, event, now).await?;
    Ok(())
}

/// Opens `app` to everyone (`false`) or to assigned users only (`true`). False (and no audit
/// entry) when it was so already.
pub async fn set_assigned_only(
    svc: &Services,
    tenant: &Tenant,
    app: &App,
    assigned_only: bool,
    by: By<'_>,
    now: i64,
) -> Result<bool, AccessError> {
    if app.assigned_only == assigned_only {
        return Ok(false);
    }
    let tx = svc.store.begin().await?;
    if !app_access::set_assigned_only(&tx, tenant.id, app.kind, &app.id, assigned_only, now).await?
    {
        return Err(AccessError::NoApp);
    }
    let detail = json!({ "app": app.id, "assigned_only": assigned_only });
    record(svc, &tx, (tenant, by, now), "app.access.mode", app, detail).await?;
    // Clients and SPs are cached per node until the change epoch moves.
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// Who an assignment is for.
#[derive(Clone, Copy, Debug)]
pub enum Assignee<'a> {
    User(&'a User),
    Group(&'a Group),
}

/// Assigns a user or a group to `app` (`assigned`) or takes the assignment away; false (and no
/// audit entry) when there was nothing to do.
pub async fn set_assigned(
    svc: &Services,
    tenant: &Tenant,
    app: &App,
    who: Assignee<'_>,
    assigned: bool,
    by: By<'_>,
    now: i64,
) -> Result<bool, AccessError> {
    let tx = svc.store.begin().await?;
    let (t, a) = (tenant.id, app.id.as_str());
    let (changed, operation, detail) = match (who, assigned) {
        (Assignee::User(u), true) => (
            app_access::add_user(&tx, t, a, u.id, now).await?,
            "app.access.user.add",
            json!({ "app": a, "user": u.id.to_string() }),
        ),
        (Assignee::User(u), false) => (
            app_access::remove_user(&tx, t, a, u.id).await?,
            "app.access.user.remove",
            json!({ "app": a, "user": u.id.to_string() }),
        ),
        (Assignee::Group(g), true) => (
            app_access::add_group(&tx, t, a, g.id, now).await?,
            "app.access.group.add",
            json!({ "app": a, "group": g.id.to_string() }),
        ),
        (Assignee::Group(g), false) => (
            app_access::remove_group(&tx, t, a, g.id).await?,
            "app.access.group.remove",
            json!({ "app": a, "group": g.id.to_string() }),
        ),
    };
    if changed {
        record(svc, &tx, (tenant, by, now), operation, app, detail).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Who is assigned to `app`: users directly (by username, [`MAX_LISTED_USERS`] at most) and
/// groups (by name).
pub async fn assignees(
    store: &Store,
    tenant: &Tenant,
    app: &App,
) -> Result<(Vec<(UserId, String)>, Vec<(GroupId, String)>), StoreError> {
    let users = app_access::users(store, tenant.id, &app.id, MAX_LISTED_USERS).await?;
    let groups = app_access::groups(store, tenant.id, &app.id).await?;
    Ok((users, groups))
}

/// How many users and groups are assigned to each app that has any, by app id.
pub async fn counts(
    store: &Store,
    tenant: &Tenant,
) -> Result<std::collections::HashMap<String, (u64, u64)>, StoreError> {
    app_access::counts(store, tenant.id).await
}

/// Every assignment reaching `user` (for the person export).
pub async fn of_user(
    store: &Store,
    tenant: &Tenant,
    user: UserId,
) -> Result<Vec<Assignment>, StoreError> {
    app_access::of_user(store, tenant.id, user).await
}

/// Removes every assignment to `app` inside the transaction that deletes it.
pub async fn forget_app(tx: &Tx, tenant: &Tenant, id: &str) -> Result<(), StoreError> {
    app_access::delete_for_app(tx, tenant.id, id).await
}
