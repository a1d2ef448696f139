//! `/admin/users`: the user list (prefix search, filters, keyset pages), creating a user, and
//! one user's page with its actions. Each action checks the admin's power over that user
//! (`console::may_act_on`), changes one thing through the feature, and comes back to the
//! user's page saying what happened.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::activity::{self, Line};
use super::gate::Question;
use super::verify::Confirming;
use super::{Admin, Chrome, FieldErrors, admin, claim_once, sentence, when};
use crate::console::{PAGE_SIZE, Power, may_act_on, role_label};
use crate::directory::attributes::{self, Attribute};
use crate::directory::{
    self, AdminRole, DirectoryError, NewUserInput, User, UserStatus, username_key,
};
use crate::ids::{GroupId, UserId};
use crate::login::{admin as actions, flow, session};
use crate::store::users::{self, Cursor, Order, Position, SortBy, UserFilter, UserSummary};
use crate::store::{audit as store_audit, credentials, groups as store_groups};
use crate::web::auth::{Web, WebForm, see_other};
use crate::web::error::AppError;
use crate::web::login::CsrfForm;

// ---- custom attributes in forms ----

/// A custom attribute as a form field (or, read-only, a fact).
pub struct AttrField {
    /// The form field's name: `attr.<attribute name>`.
    pub key: String,
    /// The input's id.
    pub id: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    /// The stored value, or what was submitted.
    pub value: String,
    /// What is wrong with the submitted value.
    pub error: Option<String>,
}

/// The attribute fields of a form (name → raw value), from its other fields.
pub(super) fn submitted_attributes(
    rest: &std::collections::HashMap<String, String>,
) -> std::collections::HashMap<String, String> {
    rest.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(attributes::REFERENCE_PREFIX)?;
            let v: String = v.chars().take(attributes::MAX_VALUE + 1).collect();
            Some((name.chars().take(attributes::MAX_NAME + 1).collect(), v))
        })
        .take(attributes::MAX_ATTRIBUTES + 1)
        .collect()
}

/// The schema's fields, filled with `stored` values (by attribute id) or, after a refused
/// submission, with what was `submitted` (by name).
pub(super) fn attribute_fields(
    schema: &[Attribute],
    stored: &std::collections::HashMap<String, String>,
    submitted: Option<&std::collections::HashMap<String, String>>,
) -> Vec<AttrField> {
    schema
        .iter()
        .map(|a| AttrField {
            key: attributes::reference(&a.name),
            id: format!("attr-{}", a.name),
            label: a.label.clone(),
            kind: a.kind.as_str(),
            required: a.required,
            value: match submitted {
                Some(s) => s.get(&a.name).cloned().unwrap_or_default(),
                None => stored.get(&a.id).cloned().unwrap_or_default(),
            },
            error: None,
        })
        .collect()
}

/// [`attribute_fields`] with each field's problem from `errors`.
fn with_errors(mut fields: Vec<AttrField>, errors: &FieldErrors) -> Vec<AttrField> {
    for f in &mut fields {
        f.error = errors.of(&f.id).map(str::to_owned);
    }
    fields
}

/// What is wrong with a name field, in words.
fn name_problem(e: &directory::NameError) -> &'static str {
    match e {
        directory::NameError::UsernameLength => "Enter a username of 1 to 64 characters.",
        directory::NameError::UsernameCharacters => {
            "A username cannot have spaces, @ or colons. Try a dot or a dash instead."
        }
        directory::NameError::Email(_) => "Enter an e-mail address such as name@example.com.",
        directory::NameError::DisplayName => "Enter a name of 1 to 128 characters, on one line.",
    }
}

/// The person fields of a form, as submitted.
struct Person<'a> {
    /// Only when creating: the username cannot change.
    username: Option<&'a str>,
    email: &'a str,
    display_name: &'a str,
    /// Custom attributes by name.
    attributes: &'a std::collections::HashMap<String, String>,
}

/// Every problem with a person's fields, each beside its field: the form of each value, and
/// whether another user of the tenant (not `editing`) already has the username or address.
/// With none, the attribute values to store.
async fn check_person(
    admin: &Admin,
    p: &Person<'_>,
    editing: Option<UserId>,
    schema: &[Attribute],
) -> Result<(FieldErrors, Option<attributes::Values>), AppError> {
    let store = &admin.web.state.svc.store;
    let tenant = admin.web.tenant.id;
    let mut errors = FieldErrors::default();
    let other = |u: Option<User>| u.is_some_and(|u| Some(u.id) != editing);
    if let Some(name) = p.username {
        match directory::Username::parse(name) {
            Err(e) => errors.add("username", name_problem(&e)),
            Ok(u) => {
                if other(users::find_by_username_key(store, tenant, &u.key).await?) {
                    errors.add("username", "Another user already has this username.");
                }
            }
        }
    }
    match directory::Email::parse(p.email) {
        Err(e) => errors.add("email", name_problem(&e)),
        Ok(e) => {
            if other(users::find_by_email_key(store, tenant, &e.key).await?) {
                errors.add("email", "Another user already has this e-mail address.");
            }
        }
    }
    let name_optional = p.username.is_some() && p.display_name.trim().is_empty();
    if !name_optional && let Err(e) = directory::parse_display_name(p.display_name) {
        errors.add("display_name", name_problem(&e));
    }
    for a in schema {
        let raw = p.attributes.get(&a.name).map_or("", String::as_str);
        let problem = match a.check(raw) {
            Ok(None) if a.required => Some("Enter a value: this attribute is required."),
            Ok(_) => None,
            Err(_) => Some(match a.kind {
                attributes::Kind::Number => "Enter a number, such as 42 or -3.5.",
                attributes::Kind::Date => "Enter a date, such as 2026-12-31.",
                attributes::Kind::Boolean => "Choose Yes or No.",
                attributes::Kind::Text => "Enter at most 1024 characters, on one line.",
            }),
        };
        if let Some(problem) = problem {
            errors.add(format!("attr-{}", a.name), problem);
        }
    }
    if !errors.is_empty() {
        return Ok((errors, None));
    }
    match attributes::check(schema, p.attributes, true) {
        Ok(values) => Ok((errors, Some(values))),
        Err(problems) => {
            let all: Vec<String> = problems.iter().map(|p| sentence(p)).collect();
            errors.add("form", all.join(" "));
            Ok((errors, None))
        }
    }
}

// ---- the list ----

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    locked: String,
    #[serde(default)]
    mfa: String,
    #[serde(default)]
    admins: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    done: String,
    /// A selection of users (ids, comma-separated): the export of ticked rows.
    #[serde(default)]
    ids: String,
    /// The column the list is ordered by (`username`, `name`, `email`), and `desc`.
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    /// The sort value of the row a page starts after or ends before (with its username key
    /// in `after`/`before`).
    #[serde(default)]
    at: String,
}

/// The columns the list sorts by: query value, store order, heading.
const SORTS: [(&str, SortBy); 3] = [
    ("username", SortBy::Username),
    ("name", SortBy::Name),
    ("email", SortBy::Email),
];

/// Most users a selection names (a page of the list, and then some).
const MAX_SELECTED: usize = 200;

fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

impl ListQuery {
    pub(super) fn filter(&self) -> UserFilter {
        let q: String = self.q.trim().chars().take(128).collect();
        UserFilter {
            prefix: (!q.is_empty()).then(|| username_key(&q)),
            status: UserStatus::parse(&self.status),
            group: self.group.parse().ok(),
            locked: yes_no(&self.locked),
            mfa: yes_no(&self.mfa),
            admins_only: self.admins == "yes",
            ids: (!self.ids.is_empty()).then(|| {
                self.ids
                    .split(',')
                    .take(MAX_SELECTED)
                    .filter_map(|id| id.trim().parse().ok())
                    .collect()
            }),
            order: self.order(),
        }
    }

    fn order(&self) -> Order {
        Order {
            by: SORTS
                .iter()
                .find(|(v, _)| *v == self.sort)
                .map_or(SortBy::Username, |(_, by)| *by),
            descending: self.dir == "desc",
        }
    }

    fn cursor(&self) -> Cursor {
        let clip = |v: &str| v.chars().take(512).collect::<String>();
        let at = |key: &str| Position {
            value: if self.order().by == SortBy::Username {
                clip(key)
            } else {
                clip(&self.at)
            },
            key: clip(key),
        };
        if !self.after.is_empty() {
            Cursor::After(at(&self.after))
        } else if !self.before.is_empty() {
            Cursor::Before(at(&self.before))
        } else {
            Cursor::First
        }
    }

    /// This list's address at another position: (`after` or `before`, the row there).
    fn link(&self, cursor: (&str, &UserSummary)) -> String {
        let (side, row) = cursor;
        let p = row.position(self.order().by);
        let at = if self.order().by == SortBy::Username {
            ""
        } else {
            p.value.as_str()
        };
        self.link_with(&[(side, &p.key), ("at", at)])
    }

    /// The first page in the order of `sort` (descending when `desc`), with the same filters.
    fn sorted(&self, sort: &str, desc: bool) -> String {
        let first_page = ListQuery {
            sort: if sort == "username" { "" } else { sort }.into(),
            dir: if desc { "desc" } else { "" }.into(),
            after: String::new(),
            before: String::new(),
            at: String::new(),
            done: String::new(),
            ids: String::new(),
            ..self.clone()
        };
        first_page.link_with(&[])
    }

    /// This list's address (its filters and order) with `extra` pairs.
    fn link_with(&self, extra: &[(&str, &str)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", self.q.trim()),
            ("status", &self.status),
            ("group", &self.group),
            ("locked", &self.locked),
            ("mfa", &self.mfa),
            ("admins", &self.admins),
            ("ids", &self.ids),
            ("sort", &self.sort),
            ("dir", &self.dir),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        format!("/admin/users?{}", q.finish())
    }

    pub(super) fn filtered(&self) -> bool {
        [
            &self.q,
            &self.status,
            &self.group,
            &self.locked,
            &self.mfa,
            &self.admins,
            &self.ids,
        ]
        .iter()
        .any(|v| !v.trim().is_empty())
    }
}

/// A column heading that sorts the list: by it (or, when it is the order already, the other
/// way round).
struct Heading {
    label: &'static str,
    href: String,
    /// `ascending` or `descending` when the list is in this column's order.
    sort: Option<&'static str>,
}

/// A count with thousands separated: `61,204`.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Where a page of `shown` rows stands in a list of `count` with `before` rows ahead of it
/// ("51–100 of 61,204"); counts are capped ([`users::COUNT_CAP`]), so past the cap the list
/// says "more than", and a page whose position is past it says only how many it shows.
fn position(count: i64, before: i64, shown: usize) -> String {
    let cap = users::COUNT_CAP;
    let of = if count > cap {
        format!("more than {}", grouped(cap))
    } else {
        grouped(count)
    };
    let shown = shown as i64;
    if shown == 0 {
        format!("0 of {of}")
    } else if before > cap {
        format!("{} of {of}", grouped(shown))
    } else {
        let (from, to) = (grouped(before + 1), grouped(before + shown));
        format!("{from}–{to} of {of}")
    }
}

/// What can be done to the ticked users of the list, and the power each needs.
const BULK_ACTIONS: [(&str, &str, Power); 5] = [
    ("disable", "Disable", Power::ManageDirectory),
    ("group", "Add to group", Power::ManageDirectory),
    ("reset-mfa", "Reset two-step verification", Power::HelpUsers),
    ("export", "Export (CSV)", Power::ExportDirectory),
    ("delete", "Delete…", Power::ManageDirectory),
];

struct UserRow {
    id: String,
    href: String,
    username: String,
    display_name: String,
    email: String,
    status: &'static str,
    role: &'static str,
    locked: bool,
    mfa: bool,
    last_login: String,
}

impl UserRow {
    fn of(s: &UserSummary) -> UserRow {
        UserRow {
            id: s.user.id.to_string(),
            href: format!("/admin/users/{}", s.user.id),
            username: s.user.username.clone(),
            display_name: s.user.display_name.clone(),
            email: s.user.email.clone(),
            status: s.user.status.as_str(),
            role: s.user.admin_role.map_or("", role_label),
            locked: s.locked,
            mfa: s.mfa,
            last_login: s.last_login_at.map_or_else(|| "Never".into(), when),
        }
    }
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(current: &str, options: &[(&str, &str)]) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).into(),
            label: (*label).into(),
            selected: *value == current,
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "console/users.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    statuses: Vec<Choice>,
    groups: Vec<Choice>,
    locked: Vec<Choice>,
    mfa: Vec<Choice>,
    admins: bool,
    filtered: bool,
    rows: Vec<UserRow>,
    prev: Option<String>,
    next: Option<String>,
    can_create: bool,
    /// The actions on ticked rows this admin may take (value, label); rows get checkboxes
    /// when there is any.
    bulk_actions: Vec<(&'static str, &'static str)>,
    /// Groups to add the ticked users to (id, name).
    bulk_groups: Vec<(String, String)>,
    /// "1–50 of 61,204".
    total: String,
    /// The sortable column headings.
    headings: Vec<Heading>,
    notice: Option<&'static str>,
    /// Export links for this filter, when the admin may export.
    exports: Option<(String, String)>,
}

pub async fn list(web: Web, Query(q): Query<ListQuery>) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let cursor = q.cursor();
    let mut rows = users::search(
        &svc.store,
        tenant,
        &q.filter(),
        &cursor,
        PAGE_SIZE + 1,
        admin.web.now,
    )
    .await?;
    let more = rows.len() as u64 > PAGE_SIZE;
    let (prev, next) = match &cursor {
        Cursor::Before(_) => {
            if more {
                rows.remove(0);
            }
            (more, true)
        }
        Cursor::After(_) => {
            rows.truncate(PAGE_SIZE as usize);
            (true, more)
        }
        Cursor::First => {
            rows.truncate(PAGE_SIZE as usize);
            (false, more)
        }
    };
    let prev = prev
        .then(|| rows.first().map(|r| q.link(("before", r))))
        .flatten();
    let next = next
        .then(|| rows.last().map(|r| q.link(("after", r))))
        .flatten();
    let first = match &cursor {
        Cursor::First => None,
        _ => rows.first().map(|r| r.position(q.order().by)),
    };
    let (count, before) = users::count(
        &svc.store,
        tenant,
        &q.filter(),
        admin.web.now,
        first.as_ref(),
    )
    .await?;
    let total = position(count, before, rows.len());
    let all_groups = store_groups::list(&svc.store, tenant).await?;
    let mut group_choices = vec![Choice {
        value: String::new(),
        label: "Any group".into(),
        selected: q.group.is_empty(),
    }];
    group_choices.extend(all_groups.iter().map(|g| Choice {
        value: g.id.to_string(),
        label: g.name.clone(),
        selected: g.id.to_string() == q.group,
    }));
    let (chrome, csrf) = admin.chrome("/admin/users");
    let page = ListPage {
        chrome,
        q: q.q.trim().chars().take(128).collect(),
        statuses: choices(
            &q.status,
            &[
                ("", "Any status"),
                ("active", "Active"),
                ("disabled", "Disabled"),
                ("restricted", "Restricted"),
            ],
        ),
        groups: group_choices,
        locked: choices(
            &q.locked,
            &[
                ("", "Locked or not"),
                ("yes", "Locked"),
                ("no", "Not locked"),
            ],
        ),
        mfa: choices(
            &q.mfa,
            &[
                ("", "MFA or not"),
                ("yes", "MFA enrolled"),
                ("no", "No MFA"),
            ],
        ),
        admins: q.admins == "yes",
        filtered: q.filtered(),
        rows: rows.iter().map(UserRow::of).collect(),
        prev,
        next,
        can_create: Power::ManageDirectory.held_by(admin.role),
        bulk_actions: BULK_ACTIONS
            .iter()
            .filter(|(_, _, p)| p.held_by(admin.role))
            .map(|(v, l, _)| (*v, *l))
            .collect(),
        bulk_groups: all_groups
            .iter()
            .map(|g| (g.id.to_string(), g.name.clone()))
            .collect(),
        total,
        headings: SORTS
            .iter()
            .zip(["User", "Name", "E-mail"])
            .map(|((value, by), label)| {
                let order = q.order();
                let current = order.by == *by;
                Heading {
                    label,
                    href: q.sorted(value, current && !order.descending),
                    sort: current.then_some(if order.descending {
                        "descending"
                    } else {
                        "ascending"
                    }),
                }
            })
            .collect(),
        notice: match q.done.as_str() {
            "deleted" => Some("The users are deleted."),
            "none-selected" => Some(
                "No user was ticked. Tick the users in the list first, then choose what to do.",
            ),
            "none-allowed" => Some("Your role may not change any of the ticked users."),
            "bulk-disabled" => Some("The ticked users are disabled and signed out."),
            "bulk-mfa" => Some(
                "Two-step verification of the ticked users is reset; each sets it up again at \
                 their next sign-in.",
            ),
            _ => None,
        },
        exports: Power::ExportDirectory.held_by(admin.role).then(|| {
            let link = |format: &str| {
                q.link_with(&[("format", format)]).replacen(
                    "/admin/users?",
                    "/admin/users/export?",
                    1,
                )
            };
            (link("csv"), link("json"))
        }),
    };
    Ok(admin.render(&csrf, page))
}

// ---- creating ----

#[derive(Template, WebTemplate)]
#[template(path = "console/user_new.html")]
struct NewPage {
    chrome: Chrome,
    username: String,
    email: String,
    display_name: String,
    invite: bool,
    attributes: Vec<AttrField>,
    errors: FieldErrors,
}

fn new_form(admin: &Admin, f: &CreateForm, schema: &[Attribute], errors: FieldErrors) -> Response {
    let (chrome, csrf) = admin.chrome("/admin/users");
    let status = if !errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = NewPage {
        chrome,
        username: f.username.clone(),
        email: f.email.clone(),
        display_name: f.display_name.clone(),
        invite: f.delivery != "password",
        attributes: with_errors(
            attribute_fields(
                schema,
                &Default::default(),
                Some(&submitted_attributes(&f.rest)),
            ),
            &errors,
        ),
        errors,
    };
    admin.render(&csrf, (status, page))
}

pub async fn new_page(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ManageDirectory);
    let schema = attributes::list(&admin.web.state.svc.store, &admin.web.tenant).await?;
    Ok(new_form(
        &admin,
        &CreateForm::default(),
        &schema,
        FieldErrors::default(),
    ))
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    /// The one-use token: a reload of the result page adds nobody.
    #[serde(default)]
    once: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    /// `invite` (mail a link) or `password` (show a one-time password).
    #[serde(default)]
    delivery: String,
    /// Custom attributes (`attr.<name>`).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/user_created.html")]
struct CreatedPage {
    chrome: Chrome,
    href: String,
    username: String,
    email: String,
    one_time_password: Option<String>,
    mail_error: Option<String>,
}

pub async fn create(web: Web, WebForm(f): WebForm<CreateForm>) -> Result<Response, AppError> {
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let admin = admin!(web, Power::ManageDirectory);
    // One past each limit is kept, so that a longer value is refused beside its field (and
    // shown as typed that far), never cut to fit.
    let clip = |v: &str, n: usize| v.trim().chars().take(n + 1).collect::<String>();
    let f = CreateForm {
        username: clip(&f.username, 64),
        email: clip(&f.email, 320),
        display_name: clip(&f.display_name, 256),
        ..f
    };
    let invite = f.delivery != "password";
    let svc = &admin.web.state.svc;
    let schema = attributes::list(&svc.store, &admin.web.tenant).await?;
    let submitted = submitted_attributes(&f.rest);
    let person = Person {
        username: Some(&f.username),
        email: &f.email,
        display_name: &f.display_name,
        attributes: &submitted,
    };
    // Claimed first: the same form sent again (a reload of the result) adds nobody and says
    // so, rather than that the user now exists.
    let claimed = claim_once!(admin, &f.once, "/admin/users", "Back to users");
    let values = match check_person(&admin, &person, None, &schema).await? {
        (_, Some(v)) => v,
        (errors, None) => {
            claimed.release(&admin).await?;
            return Ok(new_form(&admin, &f, &schema, errors));
        }
    };
    let input = NewUserInput {
        username: f.username.clone(),
        email: f.email.clone(),
        display_name: (!f.display_name.is_empty()).then(|| f.display_name.clone()),
        password: None,
        must_change_password: true,
        attributes: values,
    };
    let created = match directory::create_user(
        svc,
        &admin.web.tenant,
        input,
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(c) => c,
        // Taken between the check and the write (another admin, another node).
        Err(e @ (DirectoryError::UsernameTaken(_) | DirectoryError::EmailTaken(_))) => {
            claimed.release(&admin).await?;
            let mut errors = FieldErrors::default();
            if matches!(e, DirectoryError::UsernameTaken(_)) {
                errors.add("username", "Another user already has this username.");
            } else {
                errors.add("email", "Another user already has this e-mail address.");
            }
            return Ok(new_form(&admin, &f, &schema, errors));
        }
        Err(DirectoryError::Name(e)) => {
            claimed.release(&admin).await?;
            let mut errors = FieldErrors::default();
            errors.add("form", name_problem(&e));
            return Ok(new_form(&admin, &f, &schema, errors));
        }
        Err(e) => {
            claimed.release(&admin).await?;
            return Err(e.into());
        }
    };
    let mut mail_error = None;
    if invite && let Err(e) = flow::send_invite(&admin.web.ctx(), &created.user, admin.by()).await {
        match e {
            flow::InviteError::Mail(m) => {
                tracing::warn!(error = %m, "invitation mail not sent");
                mail_error = Some(
                    "The invitation mail could not be sent. Check the server's mail settings, \
                     then send the invitation again from the user's page, or reset their \
                     password to give them a one-time password."
                        .into(),
                );
            }
            flow::InviteError::Login(e) => return Err(e.into()),
        }
    }
    let (chrome, csrf) = admin.chrome("/admin/users");
    let page = CreatedPage {
        chrome,
        href: format!("/admin/users/{}", created.user.id),
        username: created.user.username.clone(),
        email: created.user.email.clone(),
        one_time_password: (!invite)
            .then(|| created.one_time_password.map(|p| p.expose().to_owned()))
            .flatten(),
        mail_error,
    };
    Ok(admin.render(&csrf, page))
}

// ---- one user ----

struct SessionRow {
    started: String,
    last_seen: String,
    source: String,
    agent: String,
}

struct GroupChip {
    id: String,
    name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/user.html")]
struct UserPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    error: Option<String>,
    one_time_password: Option<String>,
    base: String,
    username: String,
    display_name: String,
    email: String,
    status: &'static str,
    role: &'static str,
    role_value: &'static str,
    created: String,
    last_login: String,
    locked: bool,
    failed_logins: i32,
    mfa: bool,
    must_change_password: bool,
    attributes: Vec<AttrField>,
    sessions: Vec<SessionRow>,
    groups: Vec<GroupChip>,
    other_groups: Vec<GroupChip>,
    activity: Vec<Line>,
    can_help: bool,
    can_manage: bool,
    can_roles: bool,
    can_export: bool,
    is_self: bool,
    /// The profile form's name and address: stored, or as submitted when refused.
    form_name: String,
    form_email: String,
    errors: FieldErrors,
}

async fn target(admin: &Admin, id: &str) -> Result<Option<User>, AppError> {
    let Ok(id) = id.parse::<UserId>() else {
        return Ok(None);
    };
    Ok(users::find(&admin.web.state.svc.store, admin.web.tenant.id, id).await?)
}

/// What the `done` code of a redirect says (fixed texts: nothing from the query is shown).
fn notice_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "profile" => "The profile is saved.",
        "active" => "The account is active again.",
        "disabled" => "The account is disabled and its sessions are ended.",
        "restricted" => "Processing is restricted and the person's sessions are ended.",
        "unchanged" => "The account already had that status.",
        "unlocked" => "The account is unlocked.",
        "not-locked" => "The account was not locked.",
        "mfa" => "Two-step verification is removed. The person sets it up again at sign-in.",
        "no-mfa" => "The account had no two-step verification.",
        "sessions" => "All of the person's sessions are ended.",
        "joined" => "Added to the group.",
        "left" => "Removed from the group.",
        "role" => "The console role is changed.",
        "invited" => "The invitation is sent.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

pub async fn show(
    web: Web,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let Some(user) = target(&admin, &id).await? else {
        return Err(AppError::NotFound);
    };
    user_page(&admin, &user, notice_for(&q.done), None, None).await
}

pub(super) async fn user_page(
    admin: &Admin,
    user: &User,
    notice: Option<&'static str>,
    error: Option<String>,
    one_time_password: Option<String>,
) -> Result<Response, AppError> {
    let shown = (notice, error, one_time_password);
    user_page_with(admin, user, shown, None).await
}

/// A profile form that was refused: what was submitted, and what is wrong with it.
struct Refused<'a> {
    person: Person<'a>,
    errors: FieldErrors,
}

/// [`user_page`], with the profile form as it was submitted when it was `refused`.
async fn user_page_with(
    admin: &Admin,
    user: &User,
    (notice, error, one_time_password): (Option<&'static str>, Option<String>, Option<String>),
    refused: Option<Refused<'_>>,
) -> Result<Response, AppError> {
    let submitted = refused.as_ref().map(|r| r.person.attributes);
    let svc = &admin.web.state.svc;
    let schema = attributes::list(&svc.store, &admin.web.tenant).await?;
    let stored = attributes::values_of(&svc.store, &admin.web.tenant, user.id).await?;
    let tenant = admin.web.tenant.id;
    let lock = credentials::lock_state(&svc.store, tenant, user.id).await?;
    let record = credentials::login_record(&svc.store, tenant, user.id).await?;
    let sessions = session::list(&svc.store, tenant, user.id).await?;
    let member_of = store_groups::of_user(&svc.store, tenant, user.id).await?;
    let all = store_groups::list(&svc.store, tenant).await?;
    let audit = if Power::ViewAudit.held_by(admin.role) {
        let rows =
            store_audit::recent_for_subject(&svc.store, tenant, &format!("user:{}", user.id), 20)
                .await?;
        activity::lines(svc, tenant, rows).await?
    } else {
        vec![]
    };
    let now = admin.web.now;
    let (chrome, csrf) = admin.chrome("/admin/users");
    let page = UserPage {
        chrome,
        notice,
        error,
        one_time_password,
        base: format!("/admin/users/{}", user.id),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        status: user.status.as_str(),
        role: user.admin_role.map_or("None", role_label),
        role_value: user.admin_role.map_or("none", AdminRole::as_str),
        created: when(user.created_at),
        last_login: lock
            .as_ref()
            .and_then(|l| l.last_login_at)
            .map_or_else(|| "Never".into(), when),
        locked: lock
            .as_ref()
            .is_some_and(|l| l.locked_until.is_some_and(|t| t > now)),
        failed_logins: lock.as_ref().map_or(0, |l| l.failed_logins),
        mfa: record.as_ref().is_some_and(|r| r.has_totp),
        must_change_password: user.must_change_password,
        attributes: match &refused {
            Some(r) => with_errors(attribute_fields(&schema, &stored, submitted), &r.errors),
            None => attribute_fields(&schema, &stored, None),
        },
        form_name: refused.as_ref().map_or_else(
            || user.display_name.clone(),
            |r| r.person.display_name.to_owned(),
        ),
        form_email: refused
            .as_ref()
            .map_or_else(|| user.email.clone(), |r| r.person.email.to_owned()),
        sessions: sessions
            .iter()
            .filter(|s| s.stage == session::Stage::Active)
            .map(|s| SessionRow {
                started: when(s.created_at),
                last_seen: when(s.last_seen_at),
                source: s.source_ip.clone().unwrap_or_else(|| "unknown".into()),
                agent: crate::web::agent::describe(s.user_agent.as_deref()),
            })
            .collect(),
        other_groups: all
            .iter()
            .filter(|g| !member_of.iter().any(|(id, _)| *id == g.id))
            .map(|g| GroupChip {
                id: g.id.to_string(),
                name: g.name.clone(),
            })
            .collect(),
        groups: member_of
            .into_iter()
            .map(|(id, name)| GroupChip {
                id: id.to_string(),
                name,
            })
            .collect(),
        activity: audit,
        can_help: may_act_on(&admin.user, admin.role, Power::HelpUsers, user, false).is_ok(),
        can_manage: may_act_on(&admin.user, admin.role, Power::ManageDirectory, user, false)
            .is_ok(),
        can_roles: may_act_on(&admin.user, admin.role, Power::ManageAdmins, user, false).is_ok(),
        can_export: Power::ExportDirectory.held_by(admin.role),
        is_self: admin.user.id == user.id,
        errors: refused.map(|r| r.errors).unwrap_or_default(),
    };
    let status = if page.error.is_some() || !page.errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(admin.render(&csrf, (status, page)))
}

/// The common start of every action on one user: CSRF, the admin's power, the user (404 if
/// not of this tenant), the admin's right over that user, and for `sensitive` actions a recent
/// proof of presence.
pub(super) async fn act(
    web: Web,
    csrf: &str,
    id: &str,
    power: Power,
    sensitive: Option<Confirming>,
) -> Result<Result<(Admin, User), Response>, AppError> {
    if !web.csrf_ok(csrf) {
        return Ok(Err(web.csrf_failed()));
    }
    let admin = match super::gate::enter(web, Some(power)).await {
        Ok(a) => a,
        Err(r) => return Ok(Err(r)),
    };
    let Some(user) = target(&admin, id).await? else {
        return Err(AppError::NotFound);
    };
    if let Err(why) = may_act_on(&admin.user, admin.role, power, &user, false) {
        return Ok(Err(admin
            .refused(why, Some(format!("user:{}", user.id)))
            .await));
    }
    if let Some(why) = sensitive
        && !admin.recently_verified()
    {
        return Ok(Err(
            admin.reverify(&format!("/admin/users/{}", user.id), why)
        ));
    }
    Ok(Ok((admin, user)))
}

macro_rules! acting {
    ($web:expr, $csrf:expr, $id:expr, $power:expr, $sensitive:expr) => {
        match act($web, $csrf, &$id, $power, $sensitive).await? {
            Ok(v) => v,
            Err(r) => return Ok(r),
        }
    };
}

fn back(user: &User, done: &str) -> Response {
    see_other(&format!("/admin/users/{}?done={done}", user.id))
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    /// Custom attributes (`attr.<name>`).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

pub async fn profile(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<ProfileForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(web, &f.csrf, id, Power::ManageDirectory, None);
    // One past each limit: a longer value is refused beside its field, never cut to fit.
    let name: String = f.display_name.chars().take(257).collect();
    let email: String = f.email.chars().take(321).collect();
    let svc = &admin.web.state.svc;
    let fields = (name.as_str(), email.as_str());
    let submitted = submitted_attributes(&f.rest);
    let schema = attributes::list(&svc.store, &admin.web.tenant).await?;
    let person = Person {
        username: None,
        email: &email,
        display_name: &name,
        attributes: &submitted,
    };
    let refused = |errors| Refused {
        person: Person {
            username: None,
            email: &email,
            display_name: &name,
            attributes: &submitted,
        },
        errors,
    };
    let values = match check_person(&admin, &person, Some(user.id), &schema).await? {
        (_, Some(v)) => v,
        (errors, None) => {
            return user_page_with(&admin, &user, (None, None, None), Some(refused(errors))).await;
        }
    };
    match directory::update_profile(
        svc,
        &admin.web.tenant,
        &user,
        Some(fields),
        Some((&schema, &values)),
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(()) => Ok(back(&user, "profile")),
        // Taken between the check and the write (another admin, another node).
        Err(DirectoryError::EmailTaken(_)) => {
            let mut errors = FieldErrors::default();
            errors.add("email", "Another user already has this e-mail address.");
            user_page_with(&admin, &user, (None, None, None), Some(refused(errors))).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

pub async fn status(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<StatusForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(web, &f.csrf, id, Power::ManageDirectory, None);
    let Some(status) = UserStatus::parse(&f.status) else {
        return Err(AppError::BadRequest("That status does not exist.".into()));
    };
    if status == user.status {
        return Ok(back(&user, "unchanged"));
    }
    if status != UserStatus::Active && !admin.confirmed() {
        let name = &user.display_name;
        let (title, what, button) = if status == UserStatus::Disabled {
            (
                format!("Disable {name}?"),
                "They cannot sign in until an admin makes the account active again.",
                "Disable account",
            )
        } else {
            (
                format!("Restrict processing of {name}'s data?"),
                "Their data is kept but not processed (GDPR Art. 18): they cannot sign in and \
                 no application receives anything about them until an admin lifts it.",
                "Restrict processing",
            )
        };
        return Ok(admin.ask(Question {
            title,
            lines: vec![
                what.into(),
                format!("{name} is signed out of every browser at once."),
            ],
            warning: None,
            button,
            danger: true,
            back: format!("/admin/users/{}", user.id),
        }));
    }
    let svc = &admin.web.state.svc;
    actions::set_status(
        svc,
        &admin.web.tenant,
        &user,
        status,
        admin.by(),
        admin.web.now,
    )
    .await?;
    Ok(back(&user, status.as_str()))
}

pub async fn unlock(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(web, &f.csrf, id, Power::HelpUsers, None);
    let svc = &admin.web.state.svc;
    let was = actions::unlock(svc, &admin.web.tenant, &user, admin.by(), admin.web.now).await?;
    Ok(back(&user, if was { "unlocked" } else { "not-locked" }))
}

/// A form that must be carried out once only: its CSRF and one-use tokens.
#[derive(Deserialize)]
pub struct OnceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    once: String,
}

pub async fn reset_password(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<OnceForm>,
) -> Result<Response, AppError> {
    // The one-time password hands the account over: a fresh proof first.
    let fresh = Some(Confirming::PasswordReset);
    let (admin, user) = acting!(web, &f.csrf, id, Power::HelpUsers, fresh);
    let back = format!("/admin/users/{}", user.id);
    if !admin.confirmed() {
        let name = &user.display_name;
        return Ok(admin.ask(Question {
            title: format!("Reset {name}'s password?"),
            lines: vec![
                "Their password is replaced by a one-time password, shown to you once on the \
                 next page. Give it to them in person or by phone; they choose a new one at \
                 their next sign-in."
                    .into(),
                format!("{name} is signed out everywhere at once."),
            ],
            warning: None,
            button: "Reset password",
            danger: true,
            back,
        }));
    }
    let claimed = claim_once!(admin, &f.once, &back, "Back to the user");
    let svc = &admin.web.state.svc;
    let one_time =
        match actions::reset_password(svc, &admin.web.tenant, &user, admin.by(), admin.web.now)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                claimed.release(&admin).await?;
                return Err(e.into());
            }
        };
    let fresh = users::find(&svc.store, admin.web.tenant.id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    user_page(
        &admin,
        &fresh,
        Some("The password is reset and the person's sessions are ended."),
        None,
        Some(one_time.expose().to_owned()),
    )
    .await
}

pub async fn reset_mfa(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Result<Response, AppError> {
    // The next sign-in enrols a new authenticator with the password alone: a fresh proof first.
    let fresh = Some(Confirming::MfaReset);
    let (admin, user) = acting!(web, &f.csrf, id, Power::HelpUsers, fresh);
    if !admin.confirmed() {
        let name = &user.display_name;
        return Ok(admin.ask(Question {
            title: format!("Reset {name}'s two-step verification?"),
            lines: vec![
                "Their authenticator app and recovery codes stop working. They set up a new \
                 authenticator at their next sign-in (with their password only, so make sure \
                 it is really them asking)."
                    .into(),
            ],
            warning: None,
            button: "Reset two-step",
            danger: true,
            back: format!("/admin/users/{}", user.id),
        }));
    }
    let svc = &admin.web.state.svc;
    let had = actions::reset_mfa(svc, &admin.web.tenant, &user, admin.by(), admin.web.now).await?;
    Ok(back(&user, if had { "mfa" } else { "no-mfa" }))
}

pub async fn end_sessions(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(web, &f.csrf, id, Power::HelpUsers, None);
    if !admin.confirmed() {
        let name = &user.display_name;
        return Ok(admin.ask(Question {
            title: format!("Sign {name} out everywhere?"),
            lines: vec!["Every session ends: they must sign in again in every browser.".into()],
            warning: None,
            button: "End all sessions",
            danger: true,
            back: format!("/admin/users/{}", user.id),
        }));
    }
    let svc = &admin.web.state.svc;
    actions::end_sessions(svc, &admin.web.tenant, &user, admin.by(), admin.web.now).await?;
    Ok(back(&user, "sessions"))
}

#[derive(Deserialize)]
pub struct MembershipForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    group: String,
    /// `add` or `remove`.
    #[serde(default)]
    action: String,
}

pub async fn membership(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<MembershipForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(web, &f.csrf, id, Power::ManageDirectory, None);
    let svc = &admin.web.state.svc;
    let Some(group) = f.group.parse::<GroupId>().ok() else {
        return Err(AppError::NotFound);
    };
    let Some(group) = store_groups::find(&svc.store, admin.web.tenant.id, group).await? else {
        return Err(AppError::NotFound);
    };
    let member = f.action != "remove";
    directory::groups::set_member(
        svc,
        &admin.web.tenant,
        &group,
        &user,
        member,
        admin.by(),
        admin.web.now,
    )
    .await?;
    Ok(back(&user, if member { "joined" } else { "left" }))
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

pub async fn role(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<RoleForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(
        web,
        &f.csrf,
        id,
        Power::ManageAdmins,
        Some(Confirming::Role)
    );
    let role = match f.role.as_str() {
        "none" => None,
        r => match AdminRole::parse(r) {
            Some(r) => Some(r),
            None => return Err(AppError::BadRequest("That role does not exist.".into())),
        },
    };
    let svc = &admin.web.state.svc;
    match directory::set_role(
        svc,
        admin.web.tenant.id,
        &user,
        role,
        admin.by(),
        admin.web.now,
    )
    .await
    {
        Ok(()) => Ok(back(&user, "role")),
        Err(e @ DirectoryError::LastOwner) => {
            user_page(&admin, &user, None, Some(sentence(&e.to_string())), None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn invite(
    web: Web,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Result<Response, AppError> {
    let (admin, user) = acting!(web, &f.csrf, id, Power::ManageDirectory, None);
    match flow::send_invite(&admin.web.ctx(), &user, admin.by()).await {
        Ok(()) => Ok(back(&user, "invited")),
        Err(flow::InviteError::Mail(m)) => {
            tracing::warn!(error = %m, "invitation mail not sent");
            let message = "The invitation mail could not be sent. Check the server's mail \
                           settings and try again."
                .to_owned();
            user_page(&admin, &user, None, Some(message), None).await
        }
        Err(flow::InviteError::Login(e)) => Err(e.into()),
    }
}

// ---- actions on ticked users ----

/// Names for a question about many users: the first few, then how many more.
fn some_names(users: &[User]) -> String {
    let shown: Vec<&str> = users
        .iter()
        .take(8)
        .map(|u| u.display_name.as_str())
        .collect();
    match users.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// `POST /admin/users/bulk`: one action on the users ticked in the list (`user=<id>`
/// repeated). Each user is looked up in this tenant (another tenant's id is a 404 and nothing
/// is done) and checked against the admin's rights; those the admin may not act on are left
/// out and said so. Disabling and resetting two-step verification ask first; deleting goes to
/// the deletion review; exporting downloads the selection.
pub async fn bulk(web: Web, body: axum::body::Bytes) -> Result<Response, AppError> {
    let (mut ids, mut action, mut group, mut csrf) =
        (vec![], String::new(), String::new(), String::new());
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "user" if ids.len() <= MAX_SELECTED => ids.push(v.into_owned()),
            "action" => action = v.chars().take(16).collect(),
            "group" => group = v.chars().take(64).collect(),
            "csrf" => csrf = v.into_owned(),
            _ => {}
        }
    }
    if !web.csrf_ok(&csrf) {
        return Ok(web.csrf_failed());
    }
    if action == "delete" {
        return super::erase::bulk(web, body).await;
    }
    let Some((_, _, power)) = BULK_ACTIONS.iter().find(|(v, _, _)| *v == action) else {
        return Err(AppError::BadRequest(
            "Choose an action from the list.".into(),
        ));
    };
    let admin = admin!(web, *power);
    if ids.is_empty() {
        return Ok(see_other("/admin/users?done=none-selected"));
    }
    if ids.len() > MAX_SELECTED {
        return Err(AppError::BadRequest(format!(
            "At most {MAX_SELECTED} users can be ticked at once."
        )));
    }
    let svc = &admin.web.state.svc;
    let tenant = &admin.web.tenant;
    let mut found: Vec<User> = vec![];
    for id in &ids {
        let user = match id.parse::<UserId>() {
            Ok(id) => users::find(&svc.store, tenant.id, id).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            return Err(AppError::NotFound);
        };
        if !found.iter().any(|u| u.id == user.id) {
            found.push(user);
        }
    }
    if action == "export" {
        let list: Vec<String> = found.iter().map(|u| u.id.to_string()).collect();
        return Ok(see_other(&format!(
            "/admin/users/export?format=csv&ids={}",
            list.join(",")
        )));
    }
    let (allowed, left_out): (Vec<User>, Vec<User>) = found
        .into_iter()
        .partition(|u| may_act_on(&admin.user, admin.role, *power, u, false).is_ok());
    let skipped = (!left_out.is_empty()).then(|| {
        format!(
            "Left out, as your role may not change them: {}.",
            some_names(&left_out)
        )
    });
    if allowed.is_empty() {
        return Ok(see_other("/admin/users?done=none-allowed"));
    }
    if action == "reset-mfa" && !admin.recently_verified() {
        return Ok(admin.reverify("/admin/users", Confirming::MfaReset));
    }
    let (by, now) = (admin.by(), admin.web.now);
    let n = allowed.len();
    let done = match action.as_str() {
        "disable" => {
            if !admin.confirmed() {
                return Ok(admin.ask(Question {
                    title: format!("Disable {n} user{}?", if n == 1 { "" } else { "s" }),
                    lines: vec![
                        some_names(&allowed),
                        "They cannot sign in until an admin makes them active again, and they \
                         are signed out of every browser at once."
                            .into(),
                    ],
                    warning: skipped,
                    button: "Disable",
                    danger: true,
                    back: "/admin/users".into(),
                }));
            }
            for u in allowed.iter().filter(|u| u.status != UserStatus::Disabled) {
                actions::set_status(svc, tenant, u, UserStatus::Disabled, admin.by(), now).await?;
            }
            "bulk-disabled"
        }
        "reset-mfa" => {
            if !admin.confirmed() {
                return Ok(admin.ask(Question {
                    title: format!(
                        "Reset two-step verification of {n} user{}?",
                        if n == 1 { "" } else { "s" }
                    ),
                    lines: vec![
                        some_names(&allowed),
                        "Their authenticator apps and recovery codes stop working; each sets up \
                         a new one at their next sign-in."
                            .into(),
                    ],
                    warning: skipped,
                    button: "Reset two-step",
                    danger: true,
                    back: "/admin/users".into(),
                }));
            }
            for u in &allowed {
                actions::reset_mfa(svc, tenant, u, admin.by(), now).await?;
            }
            "bulk-mfa"
        }
        _ => {
            let group = match group.parse::<GroupId>() {
                Ok(id) => store_groups::find(&svc.store, tenant.id, id).await?,
                Err(_) => None,
            };
            let Some(group) = group else {
                return Err(AppError::NotFound);
            };
            for u in &allowed {
                directory::groups::set_member(svc, tenant, &group, u, true, by, now).await?;
            }
            return Ok(see_other(&format!(
                "/admin/groups/{}?done=bulk-added",
                group.id
            )));
        }
    };
    Ok(see_other(&format!("/admin/users?done={done}")))
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn the_list_says_where_a_page_stands_and_past_the_count_cap_says_more_than() {
        assert_eq!(position(0, 0, 0), "0 of 0");
        assert_eq!(position(61_204, 50, 50), "51–100 of 61,204");
        assert_eq!(position(100_000, 99_990, 10), "99,991–100,000 of 100,000");
        // Past the cap: the total is "more than", the position still known while before it.
        assert_eq!(position(100_001, 50, 50), "51–100 of more than 100,000");
        assert_eq!(position(100_001, 100_001, 50), "50 of more than 100,000");
    }
}
