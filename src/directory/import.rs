//! Bulk import of users from CSV: the whole file is read and every row checked against the
//! directory first ([`plan`]), with a report of each row's problems; then the valid rows are
//! committed in one transaction ([`apply`]), or nothing is, as the admin chooses. Existing
//! users are updated only when asked.
//!
//! The file has a header row. `username` and `email` are required columns; `display_name`,
//! `groups` (group names separated by `;`, which must exist) and one column per custom
//! attribute (by its name) are optional. Imported users have no password: they choose one
//! from an invitation, or with "forgot password".

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::attributes::{self, Attribute, Values};
use super::groups::GroupName;
use super::{DirectoryError, Email, Tenant, User, UserFields, Username, insert_user};
use super::{parse_display_name, username_key};
use crate::audit::{self, By};
use crate::ids::{GroupId, UserId};
use crate::services::Services;
use crate::store::{StoreError, groups, users};

/// Largest file and most rows one import takes.
pub const MAX_BYTES: usize = 1024 * 1024;
pub const MAX_ROWS: usize = 10_000;
/// Most groups named in one cell.
const MAX_GROUPS_PER_ROW: usize = 50;

const BUILT_IN: [&str; 4] = ["username", "email", "display_name", "groups"];
/// Columns of the directory export that an import reads past, so an export can be edited and
/// imported again: the directory keeps these itself.
const EXPORT_ONLY: [&str; 7] = [
    "id",
    "status",
    "console_role",
    "mfa_enrolled",
    "must_change_password",
    "created_at",
    "last_login_at",
];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole cannot be imported (header, size, encoding, quoting).
    #[error("{0}")]
    File(String),
    /// The directory changed between the check and the commit (nothing was saved).
    #[error("{0}")]
    Changed(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads CSV (RFC 4180: quoted fields with `""`, CRLF or LF line ends, a UTF-8 BOM) into
/// records with the line each starts on. Blank lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let (mut line, mut start_line) = (1usize, 1usize);
    let mut quoted = false;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                        return Err(format!(
                            "line {line}: a quoted field must end at a comma or the line's end"
                        ));
                    }
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start_line = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("line {start_line}: a quoted field is not closed"));
    }
    fields.push(field);
    if !(fields.len() == 1 && fields[0].is_empty()) {
        records.push((start_line, fields));
    }
    Ok(records)
}

/// One row that can be committed.
#[derive(Clone, Debug)]
pub struct Planned {
    pub line: usize,
    pub username: Username,
    pub email: Email,
    pub display_name: Option<String>,
    pub groups: Vec<(GroupId, String)>,
    pub attributes: Values,
    /// The user this row updates; `None` creates one.
    pub existing: Option<User>,
}

/// A row that cannot be committed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    pub line: usize,
    pub username: String,
    pub problems: Vec<String>,
}

/// What an import would do.
#[derive(Debug, Default)]
pub struct Plan {
    pub rows: Vec<Planned>,
    pub problems: Vec<RowProblem>,
    /// Columns of a directory export that were read past.
    pub ignored: Vec<String>,
}

impl Plan {
    pub fn creates(&self) -> usize {
        self.rows.iter().filter(|r| r.existing.is_none()).count()
    }

    pub fn updates(&self) -> usize {
        self.rows.len() - self.creates()
    }
}

/// Checks every row of `text` against the directory as it is now; `Err` only when the file
/// as a whole is unusable. `may_update` says why an existing user may not be updated by this
/// admin (`None`: they may).
pub async fn plan(
    svc: &Services,
    tenant: &Tenant,
    text: &str,
    update_existing: bool,
    may_update: &(dyn Fn(&User) -> Option<String> + Sync),
) -> Result<Plan, ImportError> {
    if text.len() > MAX_BYTES {
        return Err(ImportError::File(format!(
            "the file is larger than {} KiB",
            MAX_BYTES / 1024
        )));
    }
    let mut records = parse_csv(text).map_err(ImportError::File)?.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(ImportError::File("the file is empty".into()));
    };
    let schema = attributes::list(&svc.store, tenant).await?;
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let mut seen = HashSet::new();
    let mut plan = Plan::default();
    for h in &header {
        if EXPORT_ONLY.contains(&h.as_str()) {
            plan.ignored.push(h.clone());
        } else if !BUILT_IN.contains(&h.as_str()) && !schema.iter().any(|a| &a.name == h) {
            let known: Vec<&str> = BUILT_IN
                .iter()
                .copied()
                .chain(schema.iter().map(|a| a.name.as_str()))
                .collect();
            return Err(ImportError::File(format!(
                "the column `{}` is not one of: {}",
                h.chars().take(40).collect::<String>(),
                known.join(", ")
            )));
        }
        if !seen.insert(h.clone()) {
            return Err(ImportError::File(format!("the column `{h}` appears twice")));
        }
    }
    for needed in ["username", "email"] {
        if !header.iter().any(|h| h == needed) {
            return Err(ImportError::File(format!(
                "the header row has no `{needed}` column (the first row names the columns)"
            )));
        }
    }
    let records: Vec<(usize, Vec<String>)> = records.collect();
    if records.len() > MAX_ROWS {
        return Err(ImportError::File(format!(
            "the file has {} rows; at most {MAX_ROWS} are imported at once",
            records.len()
        )));
    }
    let all_groups: HashMap<String, (GroupId, String)> = groups::list(&svc.store, tenant.id)
        .await?
        .into_iter()
        .map(|g| (username_key(&g.name), (g.id, g.name)))
        .collect();
    let (mut usernames, mut emails) = (HashMap::new(), HashMap::new());
    for (line, cells) in records {
        let get = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| cells.get(i))
                .map_or("", |c| c.trim())
        };
        let mut problems = Vec::new();
        if cells.len() != header.len() {
            problems.push(format!(
                "{} fields where the header has {}",
                cells.len(),
                header.len()
            ));
        }
        let shown: String = get("username").chars().take(64).collect();
        let username = Username::parse(get("username")).map_err(|e| problems.push(e.to_string()));
        let email = Email::parse(get("email")).map_err(|e| problems.push(e.to_string()));
        let display_name = match get("display_name") {
            "" => None,
            d => parse_display_name(d)
                .map_err(|e| problems.push(e.to_string()))
                .ok(),
        };
        let mut groups = Vec::new();
        let names: Vec<&str> = get("groups")
            .split(';')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        if names.len() > MAX_GROUPS_PER_ROW {
            problems.push(format!("at most {MAX_GROUPS_PER_ROW} groups per user"));
        }
        for name in names.iter().take(MAX_GROUPS_PER_ROW) {
            let key = GroupName::parse(name).map(|g| g.key).unwrap_or_default();
            match all_groups.get(&key) {
                Some(g) if !groups.contains(g) => groups.push(g.clone()),
                Some(_) => {}
                None => problems.push(format!(
                    "there is no group `{}`",
                    name.chars().take(64).collect::<String>()
                )),
            }
        }
        let mut existing = None;
        if let Ok(u) = &username {
            if let Some(first) = usernames.insert(u.key.clone(), line) {
                problems.push(format!("the username is also on line {first}"));
            }
            existing = users::find_by_username_key(&svc.store, tenant.id, &u.key).await?;
            match &existing {
                Some(_) if !update_existing => problems.push(
                    "a user with this username exists (choose to update existing users)".into(),
                ),
                Some(user) => problems.extend(may_update(user)),
                None => {}
            }
        }
        if let Ok(e) = &email {
            if let Some(first) = emails.insert(e.key.clone(), line) {
                problems.push(format!("the e-mail address is also on line {first}"));
            }
            let holder = users::find_by_email_key(&svc.store, tenant.id, &e.key).await?;
            if let Some(h) = holder
                && existing.as_ref().is_none_or(|x| x.id != h.id)
            {
                problems.push("another user has this e-mail address".into());
            }
        }
        // New users need every required attribute; updates touch only the cells filled in.
        let given: HashMap<String, String> = schema
            .iter()
            .filter_map(|a| {
                let v = get(&a.name);
                (existing.is_none() || !v.is_empty()).then(|| (a.name.clone(), v.to_owned()))
            })
            .collect();
        let values = attributes::check(&schema, &given, existing.is_none())
            .map_err(|p| problems.extend(p))
            .ok();
        match (username, email, values) {
            (Ok(username), Ok(email), Some(attributes)) if problems.is_empty() => {
                plan.rows.push(Planned {
                    line,
                    username,
                    email,
                    display_name,
                    groups,
                    attributes,
                    existing,
                })
            }
            _ => plan.problems.push(RowProblem {
                line,
                username: shown,
                problems,
            }),
        }
    }
    Ok(plan)
}

/// Commits every row of `plan` in one transaction: new users (no password; audited as
/// `user.create`), updates of existing ones, group memberships and attribute values; then one
/// `directory.import` entry. A row that conflicts with a change made since the check undoes
/// everything. Returns the ids of the users created.
pub async fn apply(
    svc: &Services,
    tenant: &Tenant,
    plan: &Plan,
    by: By<'_>,
    now: i64,
) -> Result<Vec<UserId>, ImportError> {
    let schema: Vec<Attribute> = attributes::list(&svc.store, tenant).await?;
    let chain = svc
        .keyring
        .chain_key(&svc.store, tenant.id)
        .await
        .map_err(DirectoryError::from)?;
    let tx = svc.store.begin().await?;
    let mut created = Vec::new();
    let changed = |line: usize, what: &str| {
        ImportError::Changed(format!(
            "line {line}: {what} since the file was checked. Nothing was imported; check the \
             file again."
        ))
    };
    for row in &plan.rows {
        let id = match &row.existing {
            None => {
                let display = row
                    .display_name
                    .clone()
                    .unwrap_or_else(|| row.username.display.clone());
                let fields = UserFields {
                    username: &row.username,
                    email: &row.email,
                    display_name: &display,
                    password_hash: None,
                    must_change_password: true,
                    admin_role: None,
                };
                let id = match insert_user(&tx, &chain, tenant.id, fields, by, now).await {
                    Ok(id) => id,
                    Err(DirectoryError::UsernameTaken(_)) => {
                        return Err(changed(row.line, "a user with this username was added"));
                    }
                    Err(DirectoryError::EmailTaken(_)) => {
                        return Err(changed(row.line, "this e-mail address was taken"));
                    }
                    Err(e) => return Err(e.into()),
                };
                created.push(id);
                id
            }
            Some(user) => {
                let display = row.display_name.as_deref().unwrap_or(&user.display_name);
                let updated = users::update_profile(
                    &tx,
                    tenant.id,
                    user.id,
                    (display, &username_key(display)),
                    &row.email.display,
                    &row.email.key,
                    now,
                )
                .await;
                match updated {
                    Ok(()) => {}
                    Err(StoreError::NotFound) => {
                        return Err(changed(row.line, "the user was deleted"));
                    }
                    Err(StoreError::Conflict(_)) => {
                        return Err(changed(row.line, "this e-mail address was taken"));
                    }
                    Err(e) => return Err(e.into()),
                }
                user.id
            }
        };
        let names =
            attributes::store_values(&tx, tenant, id, &schema, &row.attributes, now).await?;
        let mut joined = Vec::new();
        for (group, _) in &row.groups {
            if groups::add_member(&tx, tenant.id, *group, id, now).await? {
                joined.push(group.to_string());
            }
        }
        if row.existing.is_some() {
            let detail =
                json!({ "import": true, "attributes_changed": names, "groups_added": joined });
            let event = by.event(
                "user.profile.update",
                Some(format!("user:{id}")),
                Some(detail),
            );
            audit::record(&tx, &chain, tenant.id, event, now).await?;
        } else if !joined.is_empty() {
            let detail = json!({ "import": true, "groups_added": joined });
            let event = by.event(
                "user.groups.import",
                Some(format!("user:{id}")),
                Some(detail),
            );
            audit::record(&tx, &chain, tenant.id, event, now).await?;
        }
    }
    let detail = json!({
        "created": created.len(),
        "updated": plan.updates(),
        "rows_with_problems": plan.problems.len(),
    });
    let event = by.event("directory.import", None, Some(detail));
    audit::record(&tx, &chain, tenant.id, event, now).await?;
    tx.commit().await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reads_quotes_line_ends_and_a_bom() {
        let text = "\u{feff}username,display_name\r\nann,\"Smith, Ann\"\n\nbob,\"say \"\"hi\"\"\"\r\n\"multi\nline\",x";
        let r = parse_csv(text).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], (1, vec!["username".into(), "display_name".into()]));
        assert_eq!(r[1].1, vec!["ann".to_owned(), "Smith, Ann".to_owned()]);
        assert_eq!(r[2], (4, vec!["bob".into(), "say \"hi\"".into()]));
        assert_eq!(r[3], (5, vec!["multi\nline".into(), "x".into()]));
        assert!(parse_csv("a,\"open\n").is_err());
        assert!(parse_csv("a,\"x\"y\n").is_err());
    }
}
