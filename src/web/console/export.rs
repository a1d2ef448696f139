//! Directory exports (GDPR Art. 20, portability): all users (or those the list's filters
//! select) as CSV or JSON, streamed 1,000 users per read; and everything held about one
//! person as one JSON document (Art. 15). Neither ever contains password hashes, TOTP seeds,
//! recovery codes or any other credential.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::users::ListQuery;
use super::verify::Confirming;
use super::{Admin, Format, admin, csv_field, when_iso};
use crate::console::Power;
use crate::directory::attributes::{self, Attribute};
use crate::ids::{TenantId, UserId};
use crate::services::Services;
use crate::store::users::{self, Cursor, UserFilter, UserSummary};
use crate::store::{
    attributes as store_attributes, audit as store_audit, consents, credentials, grants, groups,
    sessions,
};
use crate::web::auth::Web;
use crate::web::error::AppError;

const BATCH: u64 = 1000;

const CSV_HEADER: &str = "id,username,email,display_name,status,console_role,groups,\
mfa_enrolled,must_change_password,created_at,last_login_at";

/// One exported user: the summary, group names and custom attribute values (by id).
type Exported = (UserSummary, Vec<String>, HashMap<String, String>);

/// The custom attributes as a JSON object of typed values (`null` when a user has none).
fn attributes_value(schema: &[Attribute], values: &HashMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = schema
        .iter()
        .map(|a| {
            let v = values.get(&a.id).map_or(Value::Null, |v| a.json(v));
            (a.name.clone(), v)
        })
        .collect();
    Value::Object(map)
}

fn user_value((s, groups, values): &Exported, schema: &[Attribute]) -> Value {
    let u = &s.user;
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "email": u.email,
        "display_name": u.display_name,
        "status": u.status.as_str(),
        "console_role": u.admin_role.map(|r| r.as_str()),
        "groups": groups,
        "mfa_enrolled": s.mfa,
        "must_change_password": u.must_change_password,
        "created_at": when_iso(u.created_at),
        "last_login_at": s.last_login_at.map(when_iso),
        "attributes": attributes_value(schema, values),
    })
}

fn csv_user(out: &mut String, (s, groups, values): &Exported, schema: &[Attribute]) {
    let u = &s.user;
    let fields = [
        u.id.to_string(),
        u.username.clone(),
        u.email.clone(),
        u.display_name.clone(),
        u.status.as_str().to_owned(),
        u.admin_role.map_or("", |r| r.as_str()).to_owned(),
        groups.join(";"),
        s.mfa.to_string(),
        u.must_change_password.to_string(),
        when_iso(u.created_at),
        s.last_login_at.map(when_iso).unwrap_or_default(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    for a in schema {
        out.push(',');
        csv_field(out, values.get(&a.id).map_or("", String::as_str));
    }
    out.push_str("\r\n");
}

/// The streamed body: pages of users in username order, each with its groups and custom
/// attributes (one column each in CSV, after the built-in ones).
fn directory_body(
    svc: Arc<Services>,
    (tenant, schema): (TenantId, Vec<Attribute>),
    filter: UserFilter,
    format: Format,
    now: i64,
) -> axum::body::Body {
    let filter = Arc::new(filter);
    let schema = Arc::new(schema);
    let (head, tail) = match format {
        Format::Csv => {
            let mut head = CSV_HEADER.to_owned();
            for a in schema.iter() {
                head.push(',');
                csv_field(&mut head, &a.name);
            }
            head.push_str("\r\n");
            (head, "")
        }
        Format::Json => ("[".to_owned(), "\n]\n"),
    };
    let with_attributes = !schema.is_empty();
    let columns = schema.clone();
    super::paged_body(
        Cursor::First,
        (head, tail),
        move |cursor| {
            let (svc, filter) = (svc.clone(), filter.clone());
            async move {
                let page = users::search(&svc.store, tenant, &filter, &cursor, BATCH, now).await?;
                let ids: Vec<UserId> = page.iter().map(|s| s.user.id).collect();
                let mut member_of = groups::names_of_users(&svc.store, tenant, &ids).await?;
                let mut values = if with_attributes {
                    store_attributes::values_of_users(&svc.store, tenant, &ids).await?
                } else {
                    HashMap::new()
                };
                let next = (page.len() as u64 == BATCH)
                    .then(|| {
                        page.last()
                            .map(|s| Cursor::After(s.position(filter.order.by)))
                    })
                    .flatten();
                let rows = page
                    .into_iter()
                    .map(|s| {
                        let groups = member_of.remove(&s.user.id).unwrap_or_default();
                        let held = values.remove(&s.user.id).unwrap_or_default();
                        (s, groups, held)
                    })
                    .collect();
                Ok((rows, next))
            }
        },
        move |out, rows: &[Exported], written| {
            for (i, row) in rows.iter().enumerate() {
                match format {
                    Format::Csv => csv_user(out, row, &columns),
                    Format::Json => {
                        if written || i > 0 {
                            out.push(',');
                        }
                        out.push('\n');
                        out.push_str(&user_value(row, &columns).to_string());
                    }
                }
            }
        },
    )
}

/// Headers for a download named after what it is, the tenant and the day.
pub(super) fn attachment(
    admin: &Admin,
    what: &str,
    format: Format,
) -> [(header::HeaderName, String); 2] {
    let (kind, ext) = format.media();
    let day = when_iso(admin.web.now);
    let name = format!(
        "attachment; filename=\"{what}-{}-{}.{ext}\"",
        admin.web.tenant.slug.as_str(),
        day.get(..10).unwrap_or("export")
    );
    [
        (header::CONTENT_TYPE, kind.to_owned()),
        (header::CONTENT_DISPOSITION, name),
    ]
}

#[derive(Deserialize, Default)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    list: ListQuery,
}

/// `/admin/users/export`: the directory (or the list's current filter) as a file. A bulk
/// export: it needs a recent proof of presence, and is audited.
pub async fn directory(web: Web, Query(q): Query<ExportQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ExportDirectory);
    if !admin.same_site() {
        // Started by another site: show the list (with the link) instead of downloading.
        return Ok(admin.page(crate::web::auth::see_other("/admin/users")));
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/users", Confirming::DirectoryExport));
    }
    let format = Format::parse(&q.format);
    let filter = q.list.filter();
    let filtered = q.list.filtered();
    let detail = json!({ "format": format.as_str(), "filtered": filtered });
    admin.record("directory.export", None, detail).await?;
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    let body = directory_body(
        admin.web.state.svc.clone(),
        (admin.web.tenant.id, schema),
        filter,
        format,
        admin.web.now,
    );
    Ok(admin.page((attachment(&admin, "users", format), body).into_response()))
}

/// `/admin/users/{id}/export`: everything held about one person, as one JSON document.
pub async fn person(web: Web, Path(id): Path<String>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ExportDirectory);
    let Ok(id) = id.parse::<UserId>() else {
        return Err(AppError::NotFound);
    };
    if !admin.same_site() {
        let back = format!("/admin/users/{id}");
        return Ok(admin.page(crate::web::auth::see_other(&back)));
    }
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let Some(user) = users::find(&svc.store, tenant, id).await? else {
        return Err(AppError::NotFound);
    };
    let now = admin.web.now;
    let lock = credentials::lock_state(&svc.store, tenant, id).await?;
    let totp = credentials::totp(&svc.store, tenant, id).await?;
    let codes_left = credentials::recovery_codes_left(&svc.store, tenant, id).await?;
    let sessions = sessions::list_for_user(&svc.store, tenant, id).await?;
    let consents = consents::list_for_user(&svc.store, tenant, id).await?;
    let tokens = grants::live_for_user(&svc.store, tenant, id, now).await?;
    let groups = groups::names_of_user(&svc.store, tenant, id).await?;
    let assignments = app_assignments(&admin, id).await?;
    let schema = attributes::list(&svc.store, &admin.web.tenant).await?;
    let held = attributes::values_of(&svc.store, &admin.web.tenant, id).await?;
    let reference = format!("user:{id}");
    let document = json!({
        "exported_at": when_iso(now),
        "tenant": admin.web.tenant.slug.as_str(),
        "profile": {
            "id": user.id.to_string(),
            "username": user.username,
            "email": user.email,
            "display_name": user.display_name,
            "status": user.status.as_str(),
            "console_role": user.admin_role.map(|r| r.as_str()),
            "must_change_password": user.must_change_password,
            "created_at": when_iso(user.created_at),
            "updated_at": when_iso(user.updated_at),
            "last_login_at": lock.and_then(|l| l.last_login_at).map(when_iso),
            "failed_logins": lock.map_or(0, |l| l.failed_logins),
            "locked_until": lock.and_then(|l| l.locked_until).filter(|t| *t > now).map(when_iso),
        },
        "attributes": attributes_value(&schema, &held),
        "groups": groups,
        "app_assignments": assignments,
        "mfa": {
            "totp_enrolled": totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()),
            "totp_enrolled_at": totp.as_ref().and_then(|t| t.confirmed_at).map(when_iso),
            "recovery_codes_left": codes_left,
        },
        "sessions": sessions.iter().map(|s| json!({
            "started_at": when_iso(s.created_at),
            "last_seen_at": when_iso(s.last_seen_at),
            "source_ip": s.source_ip,
            "user_agent": s.user_agent,
            "methods": s.amr,
            "stage": s.stage,
        })).collect::<Vec<_>>(),
        "oidc_consents": consents.iter().map(|c| json!({
            "client_id": c.client_id,
            "scope": c.scope,
            "given_at": when_iso(c.created_at),
            "updated_at": when_iso(c.updated_at),
        })).collect::<Vec<_>>(),
        "oidc_refresh_tokens": tokens.iter().map(|t| json!({
            "client_id": t.client_id,
            "scope": t.scope,
            "authenticated_at": when_iso(t.auth_time),
            "expires_at": when_iso(t.expires_at),
        })).collect::<Vec<_>>(),
    });
    admin
        .record(
            "user.export",
            Some(reference.clone()),
            json!({ "format": "json" }),
        )
        .await?;
    // The audit entries about the person, then those by them about others, each oldest
    // first, streamed page by page after the rest of the document (a busy account may have
    // many).
    let mut head =
        serde_json::to_string_pretty(&document).map_err(|e| AppError::Internal(e.to_string()))?;
    head.truncate(head.trim_end().trim_end_matches('}').trim_end().len());
    head.push_str(",\n  \"audit_events\": [");
    let body = person_events_body(admin.web.state.svc.clone(), tenant, reference, head);
    let headers = attachment(&admin, &format!("user-{}", user.id), Format::Json);
    Ok(admin.page((headers, body).into_response()))
}

/// The audit entries involving `reference` as a JSON array's items, after `head`.
fn person_events_body(
    svc: Arc<Services>,
    tenant: TenantId,
    reference: String,
    head: String,
) -> axum::body::Body {
    // The position: (by them rather than about them, after seq).
    super::paged_body(
        (false, 0_i64),
        (head, "\n  ]\n}\n"),
        move |(by, after): (bool, i64)| {
            let (svc, reference) = (svc.clone(), reference.clone());
            async move {
                let filter = if by {
                    store_audit::AuditFilter {
                        actor: Some(reference.clone()),
                        not_subject: Some(reference),
                        ..Default::default()
                    }
                } else {
                    store_audit::AuditFilter {
                        subject: Some(reference),
                        ..Default::default()
                    }
                };
                let rows =
                    store_audit::search(&svc.store, tenant, &filter, (None, Some(after)), BATCH)
                        .await?;
                let next = match rows.last() {
                    Some(r) if rows.len() as u64 == BATCH => Some((by, r.seq)),
                    _ if !by => Some((true, 0)),
                    _ => None,
                };
                Ok((rows, next))
            }
        },
        |out, rows: &[store_audit::AuditRow], written| {
            for (i, r) in rows.iter().enumerate() {
                if written || i > 0 {
                    out.push(',');
                }
                out.push_str("\n    ");
                let event = super::audit::json_value(r);
                out.push_str(&event.to_string());
            }
        },
    )
}

/// The applications `user` is assigned to, directly or through a group, by name.
async fn app_assignments(admin: &Admin, user: UserId) -> Result<Vec<Value>, AppError> {
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    let held = crate::directory::access::of_user(&svc.store, tenant, user).await?;
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let mut apps: std::collections::HashMap<String, (&str, String, String)> = Default::default();
    for c in crate::oidc::clients::list(svc, tenant).await? {
        apps.insert(c.id, ("oidc", c.client_id, c.name));
    }
    for sp in crate::saml::sps::list(svc, tenant).await? {
        apps.insert(sp.id, ("saml", sp.entity_id, sp.name));
    }
    Ok(held
        .iter()
        .filter_map(|a| {
            let (protocol, identifier, name) = apps.get(&a.app_id)?;
            Some(json!({
                "application": name,
                "protocol": protocol,
                "identifier": identifier,
                "via_group": a.via_group,
                "since": when_iso(a.created_at),
            }))
        })
        .collect())
}
