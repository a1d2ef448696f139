//! The tenant admin console at `/admin`: server-rendered pages for the tenant's
//! administrators. Entry rules are in [`gate`]; each page module is thin: extract, check the
//! power, one call into the feature, render. Every form carries the CSRF token; every id in a
//! path is looked up within the tenant (another tenant's id is a 404).

pub mod activity;
mod apps;
mod attributes;
pub mod audit;
mod clients;
mod erase;
mod export;
mod gate;
pub mod groups;
mod import;
mod keys;
mod once;
mod overview;
mod policies;
mod sps;
pub mod users;
mod verify;

use axum::Router;
use axum::routing::{get, post};

pub use gate::Admin;

use super::AppState;
use crate::console::Power;
use crate::web::auth::KeptForm;

/// Lets an admin in (with `power`) or returns the response that says where to go instead.
macro_rules! admin {
    ($web:expr, $power:expr) => {
        match $crate::web::console::gate::enter($web, Some($power)).await {
            Ok(a) => a,
            Err(r) => return Ok(r),
        }
    };
}
pub(crate) use admin;

/// Claims a one-use form's token ([`once`]) or returns the page that says it was used already.
macro_rules! claim_once {
    ($admin:expr, $token:expr, $back:expr, $label:expr) => {
        match $admin.claim_form($token, $back, $label).await? {
            Ok(c) => c,
            Err(r) => return Ok(r),
        }
    };
}
pub(crate) use claim_once;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview::overview))
        .route("/admin/verify", get(verify::page).post(verify::submit))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/new", get(users::new_page))
        .route("/admin/users/export", get(export::directory))
        .route(
            "/admin/users/import",
            get(import::form).post(import::submit),
        )
        .route("/admin/users/delete", get(erase::form).post(erase::bulk))
        .route("/admin/users/bulk", post(users::bulk))
        .route("/admin/users/{id}/delete", post(erase::one))
        .route("/admin/users/{id}/export", get(export::person))
        .route("/admin/users/{id}", get(users::show))
        .route("/admin/users/{id}/profile", post(users::profile))
        .route("/admin/users/{id}/status", post(users::status))
        .route("/admin/users/{id}/unlock", post(users::unlock))
        .route("/admin/users/{id}/password", post(users::reset_password))
        .route("/admin/users/{id}/mfa", post(users::reset_mfa))
        .route("/admin/users/{id}/sessions", post(users::end_sessions))
        .route("/admin/users/{id}/groups", post(users::membership))
        .route("/admin/users/{id}/role", post(users::role))
        .route("/admin/users/{id}/invite", post(users::invite))
        .route(
            "/admin/policies",
            get(policies::show).post(policies::submit),
        )
        .route("/admin/audit", get(audit::list))
        .route("/admin/audit/export", get(audit::export))
        .route("/admin/audit/verify", post(audit::verify))
        .route("/admin/audit/{seq}", get(audit::entry))
        .route("/admin/groups", get(groups::list).post(groups::create))
        .route("/admin/groups/{id}", get(groups::show))
        .route("/admin/groups/{id}/rename", post(groups::rename))
        .route("/admin/groups/{id}/delete", post(groups::delete))
        .route("/admin/groups/{id}/members", post(groups::members))
        .route(
            "/admin/attributes",
            get(attributes::list).post(attributes::create),
        )
        .route("/admin/attributes/{id}", post(attributes::update))
        .route("/admin/attributes/{id}/delete", post(attributes::delete))
        .route("/admin/keys", get(keys::list).post(keys::step))
        .route("/admin/keys/{id}/certificate", get(keys::certificate))
        .route("/admin/apps", get(apps::list))
        .route("/admin/apps/oidc", post(clients::create))
        .route("/admin/apps/oidc/new", get(clients::new))
        .route(
            "/admin/apps/oidc/{id}",
            get(clients::show).post(clients::update),
        )
        .route("/admin/apps/oidc/{id}/secret", post(clients::rotate))
        .route("/admin/apps/oidc/{id}/delete", post(clients::delete))
        .route("/admin/apps/oidc/{id}/access", post(clients::access))
        .route("/admin/apps/saml", post(sps::create))
        .route("/admin/apps/saml/new", get(sps::new))
        .route("/admin/apps/saml/{id}", get(sps::show).post(sps::update))
        .route(
            "/admin/apps/saml/{id}/metadata",
            post(sps::replace_metadata),
        )
        .route("/admin/apps/saml/{id}/delete", post(sps::delete))
        .route("/admin/apps/saml/{id}/access", post(sps::access))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            keep_form,
        ))
}

/// The console's CSP: the default's, plus its own script file (nothing inline).
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                           img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
                           base-uri 'none'";

/// Keeps a URL-encoded form's body beside the request ([`KeptForm`]), so that an action that
/// must first be confirmed can be carried out afterwards as it was submitted; and gives console
/// pages their CSP. The body is read within the server's size limit; one over it is refused
/// here as it would be by the form's reader.
async fn keep_form(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let urlencoded = req.method() == axum::http::Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let req = if urlencoded {
        let (mut parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, state.config.max_body_bytes).await else {
            let page = crate::web::error::ErrorPage {
                title: "This form could not be accepted",
                message: "The form was too large to accept. Nothing was changed.".into(),
            };
            return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, page).into_response();
        };
        if let Ok(text) = std::str::from_utf8(&bytes) {
            parts.extensions.insert(KeptForm(text.into()));
        }
        axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        req
    };
    let mut res = next.run(req).await;
    res.headers_mut()
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONSOLE_CSP));
    res
}

/// The `?done=` of a redirect back to a page: which fixed notice to show.
#[derive(serde::Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: String,
}

/// A textarea's values, one per non-blank line: at most `max` lines of 2049 characters, so that
/// the checks behind (which allow fewer) see an over-long list and refuse it.
pub fn lines(text: &str, max: usize) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(max + 1)
        .map(|l| l.chars().take(2049).collect())
        .collect()
}

/// A form body as its pairs (checkboxes may repeat a name).
pub type Pairs = Vec<(String, String)>;

/// The first value of `key` in a form, or empty.
pub fn first<'a>(f: &'a Pairs, key: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// Most fields a multipart form may have.
const MAX_PARTS: usize = 32;

/// Reads a multipart form (one that may carry a file) into its pairs, each part at most
/// `max_bytes` of UTF-8 text; `Err` is what to tell the admin (`what` names the file's
/// content). Nothing is changed by a form that cannot be read.
pub async fn read_parts(
    form: Result<axum::extract::multipart::Multipart, axum::extract::multipart::MultipartRejection>,
    max_bytes: usize,
    what: &str,
) -> Result<Pairs, String> {
    let unreadable = || {
        "The form could not be read. Nothing was changed. Reload the page and try again.".to_owned()
    };
    let too_large = || format!("The {what} is larger than {} KiB.", max_bytes / 1024);
    let mut form = form.map_err(|_| unreadable())?;
    let mut out = Pairs::new();
    while let Some(field) = form.next_field().await.map_err(|_| too_large())? {
        if out.len() >= MAX_PARTS {
            return Err(unreadable());
        }
        let name = field.name().unwrap_or_default().chars().take(64).collect();
        let bytes = field.bytes().await.map_err(|_| too_large())?;
        if bytes.len() > max_bytes {
            return Err(too_large());
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("The {what} is not UTF-8 text."))?;
        out.push((name, text));
    }
    Ok(out)
}

/// An error message as a sentence: capitalised, with a full stop.
pub fn sentence(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut c = text.chars();
    c.next()
        .map(|f| format!("{}{}.", f.to_uppercase(), c.as_str()))
        .unwrap_or_default()
}

/// The alert above a refused form whose problems are each shown beside their field.
pub const CHECK_FIELDS: &str = "Check the fields marked below. Nothing was saved.";

/// What is wrong with a form, field by field (by the field's id), each said in words beside
/// its field. Every problem is found before any is shown.
#[derive(Default, Debug)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        if self.of(&field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The problem with field `id`, if it has one.
    pub fn of(&self, id: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == id)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For field `id`'s tag: the attributes that mark it invalid and point at its message
    /// (nothing when it has no problem). Ids are the templates' own literals.
    pub fn aria(&self, id: &str) -> String {
        match self.of(id) {
            Some(_) => format!(" aria-invalid=\"true\" aria-describedby=\"{id}-error\""),
            None => String::new(),
        }
    }
}

/// A form confirmed by typing something (a username, a group's name).
#[derive(serde::Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
}

/// One link of the console's navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every console page shows around its content.
pub struct Chrome {
    pub tenant_name: String,
    pub admin_name: String,
    pub role: &'static str,
    pub csrf: String,
    /// A fresh one-use token for the forms that must not be carried out twice ([`once`]).
    pub once: String,
    pub nav: Vec<NavLink>,
}

const SECTIONS: [(&str, &str, Power); 8] = [
    ("/admin", "Overview", Power::ViewDirectory),
    ("/admin/users", "Users", Power::ViewDirectory),
    ("/admin/groups", "Groups", Power::ViewDirectory),
    ("/admin/attributes", "Attributes", Power::ViewDirectory),
    ("/admin/apps", "Applications", Power::ViewSettings),
    ("/admin/policies", "Policies", Power::ViewSettings),
    ("/admin/keys", "Keys", Power::ViewSettings),
    ("/admin/audit", "Audit log", Power::ViewAudit),
];

impl Admin {
    /// The page frame, with `section` (a path of [`SECTIONS`]) marked current; and the CSRF
    /// token's cookie to attach when the browser has none yet.
    pub fn chrome(&self, section: &str) -> (Chrome, crate::web::auth::Csrf) {
        let csrf = self.web.csrf();
        let chrome = Chrome {
            tenant_name: self.web.tenant.name.clone(),
            admin_name: self.user.display_name.clone(),
            role: self.role_label(),
            csrf: csrf.token.clone(),
            once: once::mint(self.web.now),
            nav: SECTIONS
                .iter()
                .filter(|(_, _, p)| p.held_by(self.role))
                .map(|(href, label, _)| NavLink {
                    href,
                    label,
                    current: *href == section,
                })
                .collect(),
        };
        (chrome, csrf)
    }

    /// A form page: 422 when it shows an error (nothing was changed), 200 otherwise.
    pub fn render_form(
        &self,
        csrf: &crate::web::auth::Csrf,
        failed: bool,
        page: impl axum::response::IntoResponse,
    ) -> axum::response::Response {
        let status = if failed {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            axum::http::StatusCode::OK
        };
        self.render(csrf, (status, page))
    }

    /// A rendered page with both cookies it may need.
    pub fn render(
        &self,
        csrf: &crate::web::auth::Csrf,
        page: impl axum::response::IntoResponse,
    ) -> axum::response::Response {
        self.page(csrf.attach(page))
    }
}

/// A time (unix ms) as the console shows it: UTC, to the minute.
pub fn when(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return "—".into();
    };
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_else(|_| "—".into())
}

/// RFC 3339, UTC, to the millisecond.
pub fn when_iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A CSV field: quoted when needed, and defused when a spreadsheet would read it as a formula.
pub fn csv_field(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// The two export formats.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Format {
        if text == "json" {
            Format::Json
        } else {
            Format::Csv
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    /// Content type and file extension.
    pub fn media(self) -> (&'static str, &'static str) {
        match self {
            Format::Csv => ("text/csv; charset=utf-8", "csv"),
            Format::Json => ("application/json", "json"),
        }
    }
}

/// A response body written page by page, so memory stays bounded by a couple of pages however
/// much is exported: `head`, the text `write` makes of each page that `fetch` returns (`write`
/// is told whether anything was written before, for separators), then `tail`. The next page
/// is fetched while the current one is written out, so the database and the formatting work
/// side by side. A failed read ends the body early (the client sees a cut download; the error
/// is logged); a client that goes away stops the reading.
pub fn paged_body<C, T, F, Fut, W>(
    start: C,
    (head, tail): (String, &'static str),
    fetch: F,
    write: W,
) -> axum::body::Body
where
    C: Send + 'static,
    T: Send + 'static,
    F: Fn(C) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<C>), crate::store::StoreError>>
        + Send
        + 'static,
    W: Fn(&mut String, &[T], bool) + Send + 'static,
{
    type Chunk = Result<axum::body::Bytes, std::io::Error>;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    tokio::spawn(async move {
        let mut pending = Some(tokio::spawn(fetch(start)));
        let (mut first, mut written) = (true, false);
        while let Some(job) = pending.take() {
            let (rows, next) = match job.await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "export stopped");
                    let _ = tx.send(Err(std::io::Error::other("export stopped"))).await;
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "export stopped");
                    let _ = tx.send(Err(std::io::Error::other("export stopped"))).await;
                    return;
                }
            };
            pending = next.map(|c| tokio::spawn(fetch(c)));
            let mut text = String::with_capacity(rows.len() * 160 + head.len());
            if first {
                text.push_str(&head);
                first = false;
            }
            write(&mut text, &rows, written);
            written = written || !rows.is_empty();
            if pending.is_none() {
                text.push_str(tail);
            }
            if tx.send(Ok(axum::body::Bytes::from(text))).await.is_err() {
                if let Some(p) = pending {
                    p.abort();
                }
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    axum::body::Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut s = String::new();
        for v in [
            "plain",
            "a,b",
            "say \"hi\"",
            "=HYPERLINK(\"x\")",
            "-1",
            "line\nbreak",
        ] {
            csv_field(&mut s, v);
            s.push('|');
        }
        assert_eq!(
            s,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"|\"'-1\"|\"line\nbreak\"|"
        );
    }
}
