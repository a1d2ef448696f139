//! `/admin/users/import`: bulk import of users (and their groups and custom attributes) from a
//! CSV file. The file is checked in full first and every row's problems reported; then the
//! admin commits all of it or only the valid rows, and chooses whether existing users are
//! updated and new ones invited. The commit needs a fresh proof of presence.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::response::Response;

use super::verify::Confirming;
use super::{Admin, Chrome, Pairs, admin, first, sentence};
use crate::console::{Power, may_act_on};
use crate::directory::attributes;
use crate::directory::import::{self, ImportError, MAX_BYTES, MAX_ROWS, Plan};
use crate::login::flow;
use crate::store::users;
use crate::web::auth::Web;
use crate::web::error::AppError;

/// Rows of a plan shown before committing (the rest are counted).
const PREVIEW_ROWS: usize = 20;
/// Problem rows listed (the rest are counted).
const PROBLEMS_SHOWN: usize = 500;

/// The options chosen on the form.
pub struct Options {
    pub update_existing: bool,
    /// Commit the valid rows even when others have problems.
    pub valid_only: bool,
    pub invite: bool,
}

impl Options {
    fn of(f: &Pairs) -> Options {
        Options {
            update_existing: first(f, "update_existing") == "true",
            valid_only: first(f, "mode") == "valid_only",
            invite: first(f, "invite") == "true",
        }
    }
}

pub struct PreviewRow {
    pub line: usize,
    pub username: String,
    pub email: String,
    pub action: &'static str,
    pub groups: String,
}

pub struct ProblemRow {
    pub line: usize,
    pub username: String,
    pub problems: String,
}

/// The outcome of a check, for the page.
pub struct Review {
    pub creates: usize,
    pub updates: usize,
    pub preview: Vec<PreviewRow>,
    pub more_rows: usize,
    pub problems: Vec<ProblemRow>,
    pub problem_count: usize,
    /// Whether the commit form is offered (something to import, and allowed by the mode).
    pub can_commit: bool,
    /// The checked file, carried to the commit form.
    pub csv: String,
    /// Export columns read past.
    pub ignored: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/import.html")]
struct ImportPage {
    chrome: Chrome,
    columns: String,
    options: Options,
    review: Option<Review>,
    /// What was imported, after a commit.
    done: Option<String>,
    error: Option<String>,
    max_kib: usize,
    max_rows: usize,
}

async fn page(
    admin: &Admin,
    options: Options,
    (review, done, error): (Option<Review>, Option<String>, Option<String>),
) -> Result<Response, AppError> {
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    let mut columns = vec!["username", "email", "display_name", "groups"];
    columns.extend(schema.iter().map(|a| a.name.as_str()));
    let (chrome, csrf) = admin.chrome("/admin/users");
    let failed = error.is_some();
    let page = ImportPage {
        chrome,
        columns: columns.join(","),
        options,
        review,
        done,
        error,
        max_kib: max_bytes(admin) / 1024,
        max_rows: MAX_ROWS,
    };
    Ok(admin.render_form(&csrf, failed, page))
}

/// The largest file this server takes: the import's own limit, or less when the request body
/// limit (`LATCHKEY_MAX_BODY_BYTES`, less room for the form around it) is smaller.
fn max_bytes(admin: &Admin) -> usize {
    let body = admin.web.state.config.max_body_bytes;
    MAX_BYTES.min(body.saturating_sub(64 * 1024).max(body / 2))
}

/// A bulk change: the page asks for a fresh proof of presence before the file is chosen, so
/// that the commit a few minutes later does not lose it to the verification page.
pub async fn form(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageDirectory);
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/users/import", Confirming::Import));
    }
    let options = Options {
        update_existing: false,
        valid_only: false,
        invite: true,
    };
    page(&admin, options, (None, None, None)).await
}

fn review_of(plan: &Plan, options: &Options, csv: &str) -> Review {
    let problem_count = plan.problems.len();
    Review {
        creates: plan.creates(),
        updates: plan.updates(),
        preview: plan
            .rows
            .iter()
            .take(PREVIEW_ROWS)
            .map(|r| PreviewRow {
                line: r.line,
                username: r.username.display.clone(),
                email: r.email.display.clone(),
                action: if r.existing.is_some() {
                    "update"
                } else {
                    "create"
                },
                groups: r
                    .groups
                    .iter()
                    .map(|(_, n)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        more_rows: plan.rows.len().saturating_sub(PREVIEW_ROWS),
        problems: plan
            .problems
            .iter()
            .take(PROBLEMS_SHOWN)
            .map(|p| ProblemRow {
                line: p.line,
                username: p.username.clone(),
                problems: p
                    .problems
                    .iter()
                    .map(|x| sentence(x))
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect(),
        problem_count,
        can_commit: !plan.rows.is_empty() && (problem_count == 0 || options.valid_only),
        csv: csv.to_owned(),
        ignored: plan.ignored.join(", "),
    }
}

/// `POST /admin/users/import`: `step=review` checks the file; `step=commit` imports it.
pub async fn submit(
    web: Web,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageDirectory);
    let f = match super::read_parts(form, max_bytes(&admin), "file").await {
        Ok(f) => f,
        Err(e) => {
            let options = Options {
                update_existing: false,
                valid_only: false,
                invite: true,
            };
            return page(&admin, options, (None, None, Some(e))).await;
        }
    };
    if !admin.web.csrf_ok(first(&f, "csrf")) {
        return Ok(admin.web.csrf_failed());
    }
    let options = Options::of(&f);
    let csv = [first(&f, "csv_file"), first(&f, "csv")]
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    if csv.is_empty() {
        let error = Some("Choose a CSV file, or paste its rows.".to_owned());
        return page(&admin, options, (None, None, error)).await;
    }
    let commit = first(&f, "step") == "commit";
    if commit && !admin.recently_verified() {
        return Ok(admin.reverify("/admin/users/import", Confirming::Import));
    }
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    // The console's rule for changing someone else's account holds here too.
    let may_update = |u: &crate::directory::User| {
        may_act_on(&admin.user, admin.role, Power::ManageDirectory, u, false)
            .err()
            .map(|why| why.message().trim_end_matches('.').to_owned())
    };
    let plan = match import::plan(svc, tenant, &csv, options.update_existing, &may_update).await {
        Ok(p) => p,
        Err(ImportError::File(e)) => {
            let error = Some(sentence(&format!("the file cannot be imported: {e}")));
            return page(&admin, options, (None, None, error)).await;
        }
        Err(e) => return Err(AppError::Internal(e.to_string())),
    };
    let review = review_of(&plan, &options, &csv);
    if !commit || !review.can_commit {
        let error = (commit && !review.can_commit).then(|| {
            "Nothing was imported: some rows have problems. Fix them and check the file again, \
             or choose to import only the valid rows."
                .to_owned()
        });
        return page(&admin, options, (Some(review), None, error)).await;
    }
    let created = match import::apply(svc, tenant, &plan, admin.by(), admin.web.now).await {
        Ok(c) => c,
        Err(ImportError::Changed(e)) => {
            return page(&admin, options, (Some(review), None, Some(sentence(&e)))).await;
        }
        Err(e) => return Err(AppError::Internal(e.to_string())),
    };
    let mut not_invited = 0;
    let in_background = options.invite && created.len() > INVITE_INLINE;
    if options.invite {
        let invites = Invites::of(&admin);
        if in_background {
            let created = created.clone();
            tokio::spawn(async move { invites.send(&created).await });
        } else {
            not_invited = invites.send(&created).await;
        }
    }
    let mut done = format!(
        "Imported: {} created, {} updated",
        created.len(),
        plan.updates()
    );
    if !plan.problems.is_empty() {
        done.push_str(&format!(
            "; {} rows with problems were left out",
            plan.problems.len()
        ));
    }
    done.push('.');
    if in_background {
        done.push_str(&format!(
            " Invitations to the {} new users are being sent now. Each one sent is in the \
             audit log; anyone who gets none can be invited again from their page.",
            created.len()
        ));
    } else if options.invite && !created.is_empty() {
        done.push_str(&match not_invited {
            0 => " Each new user has an invitation on its way.".to_owned(),
            n => format!(
                " {n} invitations could not be sent: check the mail settings, then invite \
                 them from their pages."
            ),
        });
    } else if !created.is_empty() {
        done.push_str(" New users choose a password with \"Forgot password\" or an invitation.");
    }
    page(&admin, options, (None, Some(done), None)).await
}

/// Up to this many new users are invited before the answer (saying how many failed); a larger
/// import's invitations go out after it, so the page does not wait on thousands of mails.
const INVITE_INLINE: usize = 20;

/// What sending an import's invitations needs, owned, so that it can also run after the
/// request has been answered.
struct Invites {
    svc: std::sync::Arc<crate::services::Services>,
    tenant: std::sync::Arc<crate::directory::Tenant>,
    policy: std::sync::Arc<crate::login::policy::Policy>,
    origin: crate::audit::Origin,
    ip: Option<std::net::IpAddr>,
    actor: crate::audit::Actor,
}

impl Invites {
    fn of(admin: &Admin) -> Invites {
        Invites {
            svc: admin.web.state.svc.clone(),
            tenant: admin.web.tenant.clone(),
            policy: admin.web.policy.clone(),
            origin: admin.web.origin.clone(),
            ip: admin.web.ip,
            actor: crate::audit::Actor::User(admin.user.id),
        }
    }

    /// Invites each new user, one at a time, each audited as from the user's page; the number
    /// that could not be invited (each logged with its cause).
    async fn send(&self, created: &[crate::ids::UserId]) -> usize {
        let by = crate::audit::By {
            actor: self.actor,
            origin: &self.origin,
        };
        let mut failed = 0;
        for id in created {
            // Each link's lifetime counts from when its mail goes out.
            let ctx = flow::Ctx {
                svc: &self.svc,
                tenant: &self.tenant,
                policy: &self.policy,
                origin: &self.origin,
                client_ip: self.ip,
                now: crate::now_ms(),
            };
            let outcome = match users::find(&self.svc.store, self.tenant.id, *id).await {
                Ok(Some(u)) => flow::send_invite(&ctx, &u, by)
                    .await
                    .map_err(|e| e.to_string()),
                Ok(None) => Err("the user was deleted meanwhile".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = outcome {
                tracing::warn!(user = %id, %error, "import: invitation not sent");
                failed += 1;
            }
        }
        failed
    }
}
