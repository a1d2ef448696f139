//! `/admin/policies`: the tenant's sign-in policy (passwords, lockout, MFA, sessions, reset
//! links, IP rules, SAML request signing) as one form. Saving is two steps: a review that
//! says what each change means, then the save, all or nothing, after a recent proof of
//! presence. A rule that would shut out the admin's own address is refused.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::response::Response;

use super::verify::Confirming;
use super::{Admin, Chrome, FieldErrors, admin};
use crate::console::Power;
use crate::login::admin::{self as actions, AdminError};
use crate::login::flow;
use crate::login::policy::{self, Policy};
use crate::web::auth::{Web, see_other};
use crate::web::error::AppError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Flag,
    Mfa,
    Networks,
}

/// One policy field: its path, how it is edited, its label and what it means.
struct Field {
    path: &'static str,
    kind: Kind,
    label: &'static str,
    meaning: &'static str,
}

const FIELDS: [(&str, &[Field]); 6] = [
    (
        "Passwords",
        &[
            Field {
                path: "password.min_length",
                kind: Kind::Number,
                label: "Minimum length",
                meaning: "New passwords must have at least this many characters (8–128). Existing passwords keep working until they are next changed.",
            },
            Field {
                path: "password.max_length",
                kind: Kind::Number,
                label: "Maximum length",
                meaning: "Longer passwords are refused (at least 128, so passphrases fit).",
            },
            Field {
                path: "password.required_classes",
                kind: Kind::Number,
                label: "Character classes to mix",
                meaning: "How many of lower case, upper case, digits and other characters a new password must mix (0–4; 0 is no rule, as NIST advises).",
            },
            Field {
                path: "password.history",
                kind: Kind::Number,
                label: "Previous passwords remembered",
                meaning: "A new password may not repeat any of this many previous ones (0–24).",
            },
            Field {
                path: "password.max_age_days",
                kind: Kind::Number,
                label: "Maximum age in days",
                meaning: "After this many days people must choose a new password at sign-in (0 is never, as NIST advises).",
            },
        ],
    ),
    (
        "Lockout",
        &[
            Field {
                path: "lockout.max_failures",
                kind: Kind::Number,
                label: "Failed attempts before lock",
                meaning: "Wrong passwords or codes in a row that lock an account (1–100).",
            },
            Field {
                path: "lockout.lock_minutes",
                kind: Kind::Number,
                label: "Lock duration in minutes",
                meaning: "How long a lock lasts; older failures are forgotten (1–10080).",
            },
            Field {
                path: "lockout.permanent",
                kind: Kind::Flag,
                label: "Locks last until an admin unlocks",
                meaning: "When on, a locked account stays locked until unlocked in the console or the CLI.",
            },
            Field {
                path: "lockout.ip_max_failures",
                kind: Kind::Number,
                label: "Failures per network before throttling",
                meaning: "Failed sign-ins from one address (an IPv6 /64) before it is refused for the window (1–100000).",
            },
            Field {
                path: "lockout.ip_window_minutes",
                kind: Kind::Number,
                label: "Throttling window in minutes",
                meaning: "How long a network's failures count (1–1440).",
            },
        ],
    ),
    (
        "Two-step verification",
        &[Field {
            path: "mfa",
            kind: Kind::Mfa,
            label: "Two-step verification",
            meaning: "Off: no code is asked for at sign-in. Optional: people may set up an authenticator, and are asked for a code once they have. Required: everyone must set one up right after their password. Administrators always need one for the console.",
        }],
    ),
    (
        "Sessions",
        &[
            Field {
                path: "session.idle_minutes",
                kind: Kind::Number,
                label: "Idle timeout in minutes",
                meaning: "A session unused for this long ends. Applies to existing sessions at once.",
            },
            Field {
                path: "session.absolute_hours",
                kind: Kind::Number,
                label: "Maximum session length in hours",
                meaning: "No session lasts longer than this, however active. Applies to existing sessions at once.",
            },
            Field {
                path: "reset_link_minutes",
                kind: Kind::Number,
                label: "Password-reset link lifetime in minutes",
                meaning: "How long a \"forgot password\" link works (5–1440).",
            },
        ],
    ),
    (
        "Networks",
        &[
            Field {
                path: "ip.allow",
                kind: Kind::Networks,
                label: "Allowed networks",
                meaning: "If any are listed, sign-in and the console work only from these ranges (CIDR, one per line).",
            },
            Field {
                path: "ip.deny",
                kind: Kind::Networks,
                label: "Denied networks",
                meaning: "Sign-in is refused from these ranges, even if allowed above.",
            },
        ],
    ),
    (
        "SAML",
        &[Field {
            path: "saml.want_authn_requests_signed",
            kind: Kind::Flag,
            label: "Require signed SAML requests",
            meaning: "Every service provider's AuthnRequest must be signed; the IdP metadata announces it.",
        }],
    ),
];

/// A field's value as text, from the policy's JSON form.
fn value_of(doc: &serde_json::Value, path: &str, kind: Kind) -> String {
    let mut v = doc;
    for part in path.split('.') {
        v = &v[part];
    }
    match (kind, v) {
        (Kind::Networks, serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        (_, serde_json::Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

struct FieldView {
    path: &'static str,
    id: String,
    label: &'static str,
    meaning: &'static str,
    value: String,
    number: bool,
    flag: bool,
    mfa: bool,
    networks: bool,
    /// What is wrong with the submitted value.
    error: Option<String>,
}

struct Section {
    title: &'static str,
    fields: Vec<FieldView>,
}

struct Change {
    label: &'static str,
    before: String,
    after: String,
    meaning: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/policies.html")]
struct PolicyPage {
    chrome: Chrome,
    sections: Vec<Section>,
    can_edit: bool,
    changes: Vec<Change>,
    review: bool,
    error: Option<String>,
    notice: Option<&'static str>,
}

fn sections(values: &dyn Fn(&Field) -> String, errors: &FieldErrors) -> Vec<Section> {
    FIELDS
        .iter()
        .map(|(title, fields)| Section {
            title,
            fields: fields
                .iter()
                .map(|f| FieldView {
                    path: f.path,
                    id: f.path.replace('.', "-"),
                    label: f.label,
                    meaning: f.meaning,
                    value: values(f),
                    number: f.kind == Kind::Number,
                    flag: f.kind == Kind::Flag,
                    mfa: f.kind == Kind::Mfa,
                    networks: f.kind == Kind::Networks,
                    error: errors.of(f.path).map(str::to_owned),
                })
                .collect(),
        })
        .collect()
}

fn render(admin: &Admin, page: impl FnOnce(Chrome) -> PolicyPage) -> Response {
    let (chrome, csrf) = admin.chrome("/admin/policies");
    let page = page(chrome);
    admin.render_form(&csrf, page.error.is_some(), page)
}

pub async fn show(
    web: Web,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewSettings);
    let current = policy::load(&admin.web.state.svc.store, admin.web.tenant.id).await?;
    let doc = serde_json::to_value(&current).map_err(|e| AppError::Internal(e.to_string()))?;
    let notice = (q.get("done").map(String::as_str) == Some("saved"))
        .then_some("The policy is saved. Every node applies it within a second.");
    Ok(render(&admin, |chrome| PolicyPage {
        chrome,
        sections: sections(&|f| value_of(&doc, f.path, f.kind), &FieldErrors::default()),
        can_edit: Power::ManagePolicies.held_by(admin.role),
        changes: vec![],
        review: false,
        error: None,
        notice,
    }))
}

/// `POST /admin/policies`: `step=review` shows the changes; `step=save` applies them.
pub async fn submit(web: Web, body: Bytes) -> Result<Response, AppError> {
    let Ok(params) = crate::web::auth::parse_params(&body, (64, 16 * 1024)) else {
        return Err(AppError::BadRequest(
            "The form has too many or too long fields.".into(),
        ));
    };
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    if !web.csrf_ok(&get("csrf")) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManagePolicies);
    if !admin.recently_verified() {
        return Ok(admin.reverify("/admin/policies", Confirming::Policies));
    }
    let svc = &admin.web.state.svc;
    let current = policy::load(&svc.store, admin.web.tenant.id).await?;
    let doc = serde_json::to_value(&current).map_err(|e| AppError::Internal(e.to_string()))?;
    // What was submitted, normalised like the stored form, and the settings that differ.
    let submitted = |f: &Field| -> String {
        let raw = get(f.path);
        match f.kind {
            Kind::Flag => (raw == "true").to_string(),
            Kind::Networks => raw
                .split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => raw.trim().to_owned(),
        }
    };
    let mut settings = vec![];
    let mut changes = vec![];
    for f in FIELDS.iter().flat_map(|(_, fields)| fields.iter()) {
        let (before, after) = (value_of(&doc, f.path, f.kind), submitted(f));
        if before != after {
            let value = if f.kind == Kind::Networks {
                after.replace('\n', ",")
            } else {
                after.clone()
            };
            settings.push((f.path.to_owned(), value));
            changes.push(Change {
                label: f.label,
                before: if before.is_empty() {
                    "(none)".into()
                } else {
                    before.replace('\n', ", ")
                },
                after: if after.is_empty() {
                    "(none)".into()
                } else {
                    after.replace('\n', ", ")
                },
                meaning: f.meaning,
            });
        }
    }
    let form_again = |chrome, changes, review, error, errors: &FieldErrors| PolicyPage {
        chrome,
        sections: sections(&submitted, errors),
        can_edit: true,
        changes,
        review,
        error,
        notice: None,
    };
    // Validate everything before showing the review: nothing half-checked is ever saved. Each
    // setting is tried in turn, so every wrong one is found and said beside its field.
    let mut candidate: Policy = current.clone();
    let mut errors = FieldErrors::default();
    for (path, value) in &settings {
        match candidate.with_setting(path, value) {
            Ok(p) => candidate = p,
            Err(e) => errors.add(path.clone(), problem_text(path, &e)),
        }
    }
    if !errors.is_empty() {
        let message = "Check the settings marked below. Nothing was saved.".to_owned();
        return Ok(render(&admin, |c| {
            form_again(c, vec![], false, Some(message), &errors)
        }));
    }
    if !flow::ip_allowed(&candidate, admin.web.ip) {
        let ip = admin
            .web
            .ip
            .map_or_else(|| "unknown".into(), |i| i.to_string());
        let message = format!(
            "These network rules would refuse your own address ({ip}) and sign you out. Allow \
             it first. Nothing was saved."
        );
        let mut errors = FieldErrors::default();
        errors.add("ip.allow", format!("Add a range that holds {ip}."));
        return Ok(render(&admin, |c| {
            form_again(c, vec![], false, Some(message), &errors)
        }));
    }
    if settings.is_empty() {
        let message = "Nothing was changed.".to_owned();
        return Ok(render(&admin, |c| {
            form_again(c, vec![], false, Some(message), &FieldErrors::default())
        }));
    }
    if get("step") != "save" {
        return Ok(render(&admin, |c| {
            form_again(c, changes, true, None, &FieldErrors::default())
        }));
    }
    match actions::set_policy(svc, &admin.web.tenant, &settings, admin.by(), admin.web.now).await {
        // Every node (this one too) picks it up from the change epoch within a second.
        Ok(_) => Ok(see_other("/admin/policies?done=saved")),
        Err(AdminError::Policy(e)) => {
            let mut errors = FieldErrors::default();
            let message = "Check the settings marked below. Nothing was saved.".to_owned();
            errors.add(e.field.clone(), problem_text(&e.field.clone(), &e));
            Ok(render(&admin, |c| {
                form_again(c, vec![], false, Some(message), &errors)
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// What is wrong with a setting, in words: a range the policy states, or what the field
/// takes (for a value that is not even of its kind).
fn problem_text(path: &str, e: &crate::login::policy::PolicyError) -> String {
    if e.problem.starts_with("must be") || e.problem.starts_with("at most") {
        return super::sentence(&e.problem);
    }
    let kind = FIELDS
        .iter()
        .flat_map(|(_, fields)| fields.iter())
        .find(|f| f.path == path)
        .map(|f| f.kind);
    match kind {
        Some(Kind::Number) => "Enter a whole number.".into(),
        Some(Kind::Mfa) => "Choose one of the options.".into(),
        Some(Kind::Networks) => {
            "Enter network ranges such as 10.0.0.0/8 or 2001:db8::/32, one per line.".into()
        }
        Some(Kind::Flag) | None => "This value is not accepted.".into(),
    }
}
