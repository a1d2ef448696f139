//! `/admin/audit`: the tenant's audit log, filtered by time, actor, subject, operation and
//! outcome, newest first; one entry in full; "verify integrity" (the chain check); and the
//! export of the filtered log as CSV or JSON, streamed page by page (bounded memory however
//! long the log is).

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::activity::{self, Line};
use super::verify::Confirming;
use super::{Admin, Chrome, Format, admin, csv_field, when_iso};
use crate::audit::Verdict;
use crate::console::Power;
use crate::directory::username_key;
use crate::ids::TenantId;
use crate::services::Services;
use crate::store::audit::{self as store_audit, AuditFilter, AuditRow};
use crate::store::users;
use crate::web::auth::{Web, WebForm};
use crate::web::error::AppError;

const PAGE: u64 = 50;
/// Entries read per round trip while exporting.
const EXPORT_BATCH: u64 = 1000;

#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    format: String,
}

/// A day (`YYYY-MM-DD`, UTC) as unix ms at its start.
fn day_start(text: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(text.trim(), &f).ok()?;
    Some((d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

fn clip(v: &str, n: usize) -> String {
    v.trim().chars().take(n).collect()
}

/// A filter field and what is wrong with it.
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn wrong(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

impl AuditQuery {
    /// A person or thing as the log names it: `operator`, `system`, a reference (`user:…`,
    /// `group:…`) or a username of this tenant. `Err` when no such user exists.
    async fn reference(
        svc: &Services,
        tenant: TenantId,
        text: &str,
    ) -> Result<Result<Option<String>, String>, AppError> {
        let text = clip(text, 128);
        if text.is_empty() {
            return Ok(Ok(None));
        }
        if text == "operator" || text == "system" || text.contains(':') {
            return Ok(Ok(Some(text)));
        }
        Ok(
            match users::find_by_username_key(&svc.store, tenant, &username_key(&text)).await? {
                Some(u) => Ok(Some(format!("user:{}", u.id))),
                None => Err(format!("There is no user named {text}.")),
            },
        )
    }

    /// The filter, or what is wrong with each field that is wrong.
    async fn filter(
        &self,
        svc: &Services,
        tenant: TenantId,
    ) -> Result<Result<AuditFilter, Vec<FieldError>>, AppError> {
        let mut errors = vec![];
        let date = |text: &str, field, what| match text.trim() {
            "" => Ok(None),
            t => day_start(t).map(Some).ok_or_else(|| {
                wrong(
                    field,
                    format!("Enter the {what} date as a date, like 2026-12-31."),
                )
            }),
        };
        let from = date(&self.from, "from", "start").unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let until = date(&self.to, "to", "end").unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let until = until.map(|day| day + 86_400_000);
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            errors.push(wrong("to", "The end date is before the start date."));
        }
        let actor = match Self::reference(svc, tenant, &self.actor).await? {
            Ok(a) => a,
            Err(e) => {
                errors.push(wrong("actor", e));
                None
            }
        };
        let subject = match Self::reference(svc, tenant, &self.subject).await? {
            Ok(s) => s,
            Err(e) => {
                errors.push(wrong("subject", e));
                None
            }
        };
        let outcome = match self.outcome.as_str() {
            "" => None,
            o @ ("success" | "failure" | "denied") => Some(o.to_owned()),
            _ => {
                errors.push(wrong("outcome", "Choose a result from the list."));
                None
            }
        };
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let operation = clip(&self.operation, 64);
        Ok(Ok(AuditFilter {
            from,
            until,
            actor,
            subject,
            operation: (!operation.is_empty()).then_some(operation),
            outcome,
            ..AuditFilter::default()
        }))
    }

    /// The filters as a query string (for pages and exports), with `extra` pairs.
    fn query(&self, extra: &[(&str, &str)]) -> String {
        self.query_with(&[], extra)
    }

    /// [`AuditQuery::query`] with the fields named in `replaced` taken from `extra` instead.
    fn query_with(&self, replaced: &[&str], extra: &[(&str, &str)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("from", self.from.as_str()),
            ("to", &self.to),
            ("actor", &self.actor),
            ("subject", &self.subject),
            ("operation", &self.operation),
            ("outcome", &self.outcome),
        ]
        .into_iter()
        .filter(|(k, _)| !replaced.contains(k))
        .chain(extra.iter().copied())
        {
            let v = clip(v, 128);
            if !v.is_empty() {
                q.append_pair(k, &v);
            }
        }
        q.finish()
    }

    fn filtered(&self) -> bool {
        !self.query(&[]).is_empty()
    }
}

/// One choice of the event menu.
struct EventChoice {
    value: String,
    label: String,
    selected: bool,
}

/// The event menu, by family: "any event of the family" (an operation prefix), then each event.
/// A filter that is none of these (an older link's prefix) is kept as its own choice.
fn event_menu(current: &str) -> Vec<(&'static str, Vec<EventChoice>)> {
    let families: [(&str, &[&str]); 6] = [
        ("Sign-in", &["login.", "session."]),
        ("Passwords and two-step", &["password.", "mfa."]),
        ("Users", &["user.", "directory.", "attribute."]),
        ("Groups", &["group."]),
        (
            "Applications",
            &["client.", "sp.", "app.access.", "consent."],
        ),
        ("Settings and console", &["key.", "tenant.", "audit."]),
    ];
    let all = activity::EVENTS.iter();
    let mut known = false;
    let mut menu = vec![];
    for (family, prefixes) in families {
        let mut choices: Vec<EventChoice> = prefixes
            .iter()
            .map(|p| EventChoice {
                value: (*p).into(),
                label: format!("Every {p}* event"),
                selected: *p == current,
            })
            .collect();
        choices.extend(
            all.clone()
                .filter(|(_, _, f)| *f == family)
                .map(|(code, text, _)| EventChoice {
                    value: (*code).into(),
                    label: (*text).into(),
                    selected: *code == current,
                }),
        );
        known |= choices.iter().any(|c| c.selected);
        menu.push((family, choices));
    }
    if !current.is_empty() && !known {
        menu.insert(
            0,
            (
                "This search",
                vec![EventChoice {
                    value: current.into(),
                    label: format!("Starting with {current}"),
                    selected: true,
                }],
            ),
        );
    }
    menu
}

/// A link to a quick range: the last `days` days up to today (UTC), other filters kept.
struct Range {
    label: &'static str,
    href: String,
    current: bool,
}

fn quick_ranges(q: &AuditQuery, now: i64) -> Vec<Range> {
    let day = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .map(|t| t.date().to_string())
            .unwrap_or_default()
    };
    let today = day(now);
    [
        ("Today", 1),
        ("Last 7 days", 7),
        ("Last 30 days", 30),
        ("Last 90 days", 90),
    ]
    .into_iter()
    .map(|(label, days)| {
        let from = day(now - (days - 1) * 86_400_000);
        Range {
            label,
            current: q.from.trim() == from && q.to.trim() == today,
            href: format!(
                "/admin/audit?{}",
                q.query_with(&["from", "to"], &[("from", &from), ("to", &today)])
            ),
        }
    })
    .collect()
}

/// A text filter as the form shows it.
struct TextField {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    placeholder: &'static str,
    max: usize,
    value: String,
    error: Option<String>,
}

fn text_fields(q: &AuditQuery, errors: &[FieldError]) -> Vec<TextField> {
    [
        ("from", "From", "date", "", 10, &q.from),
        ("to", "To", "date", "", 10, &q.to),
        (
            "actor",
            "Who",
            "text",
            "username, operator, system",
            128,
            &q.actor,
        ),
        (
            "subject",
            "On",
            "text",
            "username or user:…, group:…",
            128,
            &q.subject,
        ),
    ]
    .into_iter()
    .map(|(name, label, kind, placeholder, max, value)| TextField {
        name,
        label,
        kind,
        placeholder,
        max,
        value: clip(value, max),
        error: errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.clone()),
    })
    .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "console/audit.html")]
struct LogPage {
    chrome: Chrome,
    q: AuditQuery,
    fields: Vec<TextField>,
    errors: Vec<FieldError>,
    events: Vec<(&'static str, Vec<EventChoice>)>,
    ranges: Vec<Range>,
    filtered: bool,
    lines: Vec<Line>,
    next: Option<String>,
    export_csv: String,
    export_json: String,
    verdict: Option<(bool, String)>,
}

impl LogPage {
    /// The error of filter `field`, if it has one.
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

async fn log_page(
    admin: &Admin,
    q: AuditQuery,
    verdict: Option<(bool, String)>,
) -> Result<Response, AppError> {
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let (lines, next, errors) = match q.filter(svc, tenant).await? {
        Err(e) => (vec![], None, e),
        Ok(filter) => {
            let before = q.before.trim().parse::<i64>().ok().unwrap_or(i64::MAX);
            let rows =
                store_audit::search(&svc.store, tenant, &filter, (Some(before), None), PAGE + 1)
                    .await?;
            let more = rows.len() as u64 > PAGE;
            let rows: Vec<AuditRow> = rows.into_iter().take(PAGE as usize).collect();
            let next = more
                .then(|| rows.last().map(|r| r.seq.to_string()))
                .flatten()
                .map(|seq| format!("/admin/audit?{}", q.query(&[("before", &seq)])));
            (activity::lines(svc, tenant, rows).await?, next, vec![])
        }
    };
    let (chrome, csrf) = admin.chrome("/admin/audit");
    let failed = !errors.is_empty();
    let page = LogPage {
        chrome,
        export_csv: format!("/admin/audit/export?{}", q.query(&[("format", "csv")])),
        export_json: format!("/admin/audit/export?{}", q.query(&[("format", "json")])),
        fields: text_fields(&q, &errors),
        events: event_menu(q.operation.trim()),
        ranges: quick_ranges(&q, admin.web.now),
        filtered: q.filtered(),
        q,
        errors,
        lines,
        next,
        verdict,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

pub async fn list(web: Web, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewAudit);
    log_page(&admin, q, None).await
}

#[derive(Template, WebTemplate)]
#[template(path = "console/audit_entry.html")]
struct EntryPage {
    chrome: Chrome,
    seq: i64,
    at: String,
    line: Line,
    actor_ref: String,
    subject_ref: String,
    route: String,
    user_agent: String,
    detail: String,
    prev_mac: String,
    mac: String,
}

pub async fn entry(web: Web, Path(seq): Path<String>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewAudit);
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let Ok(seq) = seq.parse::<i64>() else {
        return Err(AppError::NotFound);
    };
    let Some(row) = store_audit::entry(&svc.store, tenant, seq).await? else {
        return Err(AppError::NotFound);
    };
    let detail = row
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    let page_row = row.clone();
    let line = activity::lines(svc, tenant, vec![page_row])
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let (chrome, csrf) = admin.chrome("/admin/audit");
    let page = EntryPage {
        chrome,
        seq: row.seq,
        at: activity::when_exact(row.at),
        line,
        actor_ref: row.actor,
        subject_ref: row.subject.unwrap_or_default(),
        route: row.route.unwrap_or_default(),
        user_agent: row.user_agent.unwrap_or_default(),
        detail,
        prev_mac: row.prev_mac,
        mac: row.mac,
    };
    Ok(admin.render(&csrf, page))
}

/// Runs the chain check over the whole log and shows its verdict.
pub async fn verify(
    web: Web,
    WebForm(f): WebForm<crate::web::login::CsrfForm>,
) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ViewAudit);
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let key = svc.keyring.chain_key(&svc.store, tenant).await?;
    let verdict = crate::audit::verify(&svc.store, &key, tenant).await?;
    let (ok, text) = match &verdict {
        Verdict::Intact { entries } => (
            true,
            format!(
                "The audit log is intact: all {entries} entries verify, in order, up to the current head."
            ),
        ),
        Verdict::Broken { seq, reason } => (
            false,
            format!(
                "The audit log does not verify from entry {seq} on: {reason}. Entries may have been changed, removed or reordered outside Latchkey."
            ),
        ),
    };
    admin
        .record("audit.verify", None, serde_json::json!({ "intact": ok }))
        .await?;
    log_page(&admin, AuditQuery::default(), Some((ok, text))).await
}

const CSV_HEADER: &str =
    "seq,at,actor,subject,operation,outcome,source_ip,user_agent,route,detail,mac\r\n";

fn csv_line(out: &mut String, r: &AuditRow) {
    let at = when_iso(r.at);
    let seq = r.seq.to_string();
    let fields = [
        seq.as_str(),
        &at,
        &r.actor,
        r.subject.as_deref().unwrap_or(""),
        &r.operation,
        &r.outcome,
        r.source_ip.as_deref().unwrap_or(""),
        r.user_agent.as_deref().unwrap_or(""),
        r.route.as_deref().unwrap_or(""),
        r.detail.as_deref().unwrap_or(""),
        &r.mac,
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

/// An audit entry as JSON, as the audit export and the person export write it.
pub(super) fn json_value(r: &AuditRow) -> serde_json::Value {
    serde_json::json!({
        "seq": r.seq,
        "at": when_iso(r.at),
        "at_ms": r.at,
        "actor": r.actor,
        "subject": r.subject,
        "operation": r.operation,
        "outcome": r.outcome,
        "source_ip": r.source_ip,
        "user_agent": r.user_agent,
        "route": r.route,
        "detail": r.detail.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()),
        "prev_mac": r.prev_mac,
        "mac": r.mac,
    })
}

/// The export's body: pages of `EXPORT_BATCH` entries in sequence order.
fn export_body(svc: Arc<Services>, tenant: TenantId, filter: AuditFilter, format: Format) -> Body {
    let filter = Arc::new(filter);
    let (head, tail) = match format {
        Format::Csv => (CSV_HEADER, ""),
        Format::Json => ("[", "\n]\n"),
    };
    super::paged_body(
        0_i64,
        (head.to_owned(), tail),
        move |after| {
            let (svc, filter) = (svc.clone(), filter.clone());
            async move {
                let rows = store_audit::search(
                    &svc.store,
                    tenant,
                    &filter,
                    (None, Some(after)),
                    EXPORT_BATCH,
                )
                .await?;
                let next = (rows.len() as u64 == EXPORT_BATCH)
                    .then(|| rows.last().map(|r| r.seq))
                    .flatten();
                Ok((rows, next))
            }
        },
        move |out, rows: &[AuditRow], written| {
            for (i, r) in rows.iter().enumerate() {
                match format {
                    Format::Csv => csv_line(out, r),
                    Format::Json => {
                        if written || i > 0 {
                            out.push(',');
                        }
                        out.push('\n');
                        out.push_str(&json_value(r).to_string());
                    }
                }
            }
        },
    )
}

/// The filtered log as a file. A bulk export: it needs a recent proof of presence, and it is
/// itself audited.
pub async fn export(web: Web, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewAudit);
    let format = Format::parse(&q.format);
    if !admin.same_site() {
        let back = format!("/admin/audit?{}", q.query(&[]));
        return Ok(admin.page(crate::web::auth::see_other(&back)));
    }
    if !admin.recently_verified() {
        return Ok(admin.reverify(
            &format!("/admin/audit?{}", q.query(&[])),
            Confirming::AuditExport,
        ));
    }
    let svc = admin.web.state.svc.clone();
    let tenant = admin.web.tenant.id;
    let filter = match q.filter(&svc, tenant).await? {
        Ok(f) => f,
        Err(e) => {
            let all: Vec<String> = e.into_iter().map(|e| e.message).collect();
            return Err(AppError::BadRequest(all.join(" ")));
        }
    };
    let detail = serde_json::json!({
        "format": format.as_str(),
        "filtered": !q.query(&[]).is_empty(),
    });
    admin.record("audit.export", None, detail).await?;
    let headers = super::export::attachment(&admin, "audit", format);
    Ok(admin.page((headers, export_body(svc, tenant, filter, format)).into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights() {
        assert_eq!(day_start("1970-01-02"), Some(86_400_000));
        assert_eq!(day_start("2026-13-01"), None);
        assert_eq!(day_start("yesterday"), None);
    }
}
