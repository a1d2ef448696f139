//! Audit entries as lines a person reads: when (to the second), who, what happened in words,
//! on whom or what (by name, linked to its page), outcome.

use std::collections::HashMap;

use crate::ids::{TenantId, UserId};
use crate::services::Services;
use crate::store::StoreError;
use crate::store::audit::AuditRow;

/// The events the log records: operation code, what it says, and the family it belongs to (for
/// the event menu). A code not listed is shown as it is.
pub const EVENTS: &[(&str, &str, &str)] = &[
    ("login.password", "Password sign-in", "Sign-in"),
    ("login.mfa", "Two-step code at sign-in", "Sign-in"),
    (
        "login.lockout",
        "Account locked after failed sign-ins",
        "Sign-in",
    ),
    (
        "login.reauthenticate",
        "Signed in again for an application",
        "Sign-in",
    ),
    (
        "login.step_up",
        "Confirmed it's them in the console",
        "Sign-in",
    ),
    ("session.end", "Signed out", "Sign-in"),
    (
        "session.admin_end",
        "Signed out everywhere by an admin",
        "Sign-in",
    ),
    ("sso.saml", "Signed in to a SAML application", "Sign-in"),
    (
        "app.denied",
        "Refused: not assigned to the application",
        "Sign-in",
    ),
    (
        "password.change",
        "Changed their password",
        "Passwords and two-step",
    ),
    (
        "password.reset.request",
        "Asked for a password reset",
        "Passwords and two-step",
    ),
    (
        "password.reset",
        "Reset their password from the e-mail",
        "Passwords and two-step",
    ),
    (
        "password.admin_reset",
        "Password reset by an admin",
        "Passwords and two-step",
    ),
    (
        "mfa.enrol",
        "Set up two-step verification",
        "Passwords and two-step",
    ),
    (
        "mfa.remove",
        "Removed two-step verification",
        "Passwords and two-step",
    ),
    (
        "mfa.admin_reset",
        "Two-step verification reset by an admin",
        "Passwords and two-step",
    ),
    (
        "mfa.recovery_codes.regenerate",
        "Made new recovery codes",
        "Passwords and two-step",
    ),
    ("user.create", "User added", "Users"),
    ("user.invite", "Invitation sent", "Users"),
    ("user.profile.update", "Profile changed", "Users"),
    ("user.status", "Status changed", "Users"),
    ("user.unlock", "Account unlocked", "Users"),
    ("user.admin_role", "Console role changed", "Users"),
    ("user.groups.import", "Groups set by an import", "Users"),
    (
        "user.export",
        "Everything about a person downloaded",
        "Users",
    ),
    ("user.delete", "User deleted", "Users"),
    ("directory.import", "Users imported from CSV", "Users"),
    ("directory.export", "Directory exported", "Users"),
    ("group.create", "Group created", "Groups"),
    ("group.update", "Group renamed", "Groups"),
    ("group.member.add", "Added to a group", "Groups"),
    ("group.member.remove", "Removed from a group", "Groups"),
    ("group.delete", "Group deleted", "Groups"),
    ("attribute.create", "Custom attribute added", "Users"),
    ("attribute.update", "Custom attribute changed", "Users"),
    ("attribute.delete", "Custom attribute deleted", "Users"),
    (
        "client.create",
        "OpenID Connect application registered",
        "Applications",
    ),
    (
        "client.update",
        "OpenID Connect application changed",
        "Applications",
    ),
    ("client.rotate_secret", "New client secret", "Applications"),
    (
        "client.delete",
        "OpenID Connect application deleted",
        "Applications",
    ),
    ("sp.create", "SAML application registered", "Applications"),
    ("sp.update", "SAML application changed", "Applications"),
    ("sp.delete", "SAML application deleted", "Applications"),
    ("app.access.mode", "Who may sign in changed", "Applications"),
    (
        "app.access.user.add",
        "User assigned to an application",
        "Applications",
    ),
    (
        "app.access.user.remove",
        "User's assignment removed",
        "Applications",
    ),
    (
        "app.access.group.add",
        "Group assigned to an application",
        "Applications",
    ),
    (
        "app.access.group.remove",
        "Group's assignment removed",
        "Applications",
    ),
    ("consent.grant", "Allowed an application", "Applications"),
    ("consent.deny", "Refused an application", "Applications"),
    (
        "consent.revoke",
        "Withdrew an application's access",
        "Applications",
    ),
    (
        "tenant.create",
        "Organisation created",
        "Settings and console",
    ),
    (
        "tenant.policy.update",
        "Sign-in policies changed",
        "Settings and console",
    ),
    ("key.create", "Signing key created", "Settings and console"),
    ("key.rotate", "Signing key rotated", "Settings and console"),
    ("key.retire", "Signing key retired", "Settings and console"),
    (
        "master_key.rotate",
        "Master key rotated",
        "Settings and console",
    ),
    (
        "console.denied",
        "Console action refused",
        "Settings and console",
    ),
    ("audit.export", "Audit log exported", "Settings and console"),
    (
        "audit.verify",
        "Audit log integrity checked",
        "Settings and console",
    ),
];

/// What an operation code says, or the code itself when it is not a known one.
pub fn event_text(code: &str) -> String {
    EVENTS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, text, _)| (*text).to_owned())
}

/// A time (unix ms) as the log shows it: UTC, to the second.
pub fn when_exact(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return "—".into();
    };
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).unwrap_or_else(|_| "—".into())
}

pub struct Line {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// Link to the actor's console page, if it has one.
    pub actor_href: Option<String>,
    /// What happened, in words.
    pub event: String,
    /// The operation code (`group.member.add`).
    pub operation: String,
    pub subject: String,
    /// Link to the subject's console page, if it has one.
    pub subject_href: Option<String>,
    pub outcome: String,
    pub failed: bool,
    pub source_ip: String,
}

fn user_of(reference: &str) -> Option<UserId> {
    reference.strip_prefix("user:")?.parse().ok()
}

/// The names of the things entries refer to that are not users: groups, and applications
/// (`client:{client_id}`, `sp:{entity_id}`), each with its console page. A tenant has tens or
/// hundreds of each: one read of each kind, only when the rows name one.
async fn named_things(
    svc: &Services,
    tenant: TenantId,
    rows: &[AuditRow],
) -> Result<HashMap<String, (String, String)>, StoreError> {
    let refs = || {
        rows.iter()
            .flat_map(|r| [Some(r.actor.as_str()), r.subject.as_deref()])
            .flatten()
    };
    let mut named = HashMap::new();
    if refs().any(|s| s.starts_with("group:")) {
        for g in crate::store::groups::list(&svc.store, tenant).await? {
            let page = format!("/admin/groups/{}", g.id);
            named.insert(
                format!("group:{}", g.id),
                (format!("group {}", g.name), page),
            );
        }
    }
    if refs().any(|s| s.starts_with("client:")) {
        for c in crate::store::clients::list(&svc.store, tenant).await? {
            let page = format!("/admin/apps/oidc/{}", c.client_id);
            named.insert(format!("client:{}", c.client_id), (c.name, page));
        }
    }
    if refs().any(|s| s.starts_with("sp:")) {
        for sp in crate::store::saml_sps::list(&svc.store, tenant).await? {
            let page = format!("/admin/apps/saml/{}", sp.id);
            named.insert(format!("sp:{}", sp.entity_id), (sp.name, page));
        }
    }
    Ok(named)
}

/// Lines for `rows`, with references shown by name (and linked) where the thing still exists.
pub async fn lines(
    svc: &Services,
    tenant: TenantId,
    rows: Vec<AuditRow>,
) -> Result<Vec<Line>, StoreError> {
    let mut ids: Vec<UserId> = rows
        .iter()
        .flat_map(|r| [user_of(&r.actor), r.subject.as_deref().and_then(user_of)])
        .flatten()
        .collect();
    ids.sort_by_key(|id| id.to_string());
    ids.dedup();
    let names = crate::store::users::usernames(&svc.store, tenant, &ids).await?;
    let things = named_things(svc, tenant, &rows).await?;
    let href = |reference: &str| match user_of(reference) {
        Some(id) => names
            .contains_key(&id)
            .then(|| format!("/admin/users/{id}")),
        None => things.get(reference).map(|(_, page)| page.clone()),
    };
    let show = |reference: &str| match user_of(reference) {
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("deleted user {}", &reference[5..13.min(reference.len())])),
        None => match reference {
            "operator" => "Operator (command line)".into(),
            "system" => "System".into(),
            other => things
                .get(other)
                .map_or_else(|| other.to_owned(), |(name, _)| name.clone()),
        },
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let subject = r.subject.as_deref().unwrap_or("");
            Line {
                seq: r.seq,
                at: when_exact(r.at),
                actor: show(&r.actor),
                actor_href: href(&r.actor),
                subject_href: href(subject),
                subject: if subject.is_empty() {
                    String::new()
                } else {
                    show(subject)
                },
                failed: r.outcome != "success",
                outcome: r.outcome,
                event: event_text(&r.operation),
                operation: r.operation,
                source_ip: r.source_ip.unwrap_or_default(),
            }
        })
        .collect())
}
