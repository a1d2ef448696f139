//! Custom user attributes: the tenant's schema (a machine name, a label, a type, whether it is
//! required) and each user's values, checked against it. Values are stored as canonical text
//! (`true`/`false`, a decimal number, an ISO date) and typed again on the way out (exports).
//! The console and the bulk import require the required attributes; users made before an
//! attribute became required, or on the command line, show it as missing until it is set.

use std::collections::HashMap;

use serde_json::json;

use super::Tenant;
use crate::audit::{self, By};
use crate::ids::UserId;
use crate::keys::KeyError;
use crate::services::Services;
use crate::store::attributes::{self as store_attrs, AttributeRow};
use crate::store::{Store, StoreError, Tx};

/// At most this many attributes per tenant.
pub const MAX_ATTRIBUTES: usize = 50;
/// Longest machine name, label and text value (characters).
pub const MAX_NAME: usize = 40;
pub const MAX_LABEL: usize = 128;
pub const MAX_VALUE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Boolean,
    Date,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Text, Kind::Number, Kind::Boolean, Kind::Date];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Date => "date",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Text => "Text",
            Kind::Number => "Number",
            Kind::Boolean => "Yes / no",
            Kind::Date => "Date",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One attribute of the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub id: String,
    pub name: String,
    pub label: String,
    pub kind: Kind,
    pub required: bool,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    #[error(
        "an attribute name is 1 to {MAX_NAME} characters: lower-case letters, digits and _, \
         starting with a letter"
    )]
    Name,
    #[error("`{0}` is a built-in field of every user; choose another name")]
    Reserved(String),
    #[error("a label is 1 to {MAX_LABEL} characters")]
    Label,
    #[error("choose a type: text, number, yes / no or date")]
    Kind,
    #[error("there is already an attribute named `{0}`")]
    Taken(String),
    #[error("a directory has at most {MAX_ATTRIBUTES} attributes")]
    TooMany,
    #[error("{0}")]
    Value(String),
    #[error("there is no such attribute")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Names every user already has (exports and imports use them as column names).
const RESERVED: [&str; 13] = [
    "id",
    "username",
    "email",
    "display_name",
    "name",
    "status",
    "console_role",
    "groups",
    "mfa_enrolled",
    "must_change_password",
    "created_at",
    "last_login_at",
    "password",
];

/// Whether `name` is an attribute's machine name: lower-case letters, digits and `_`, starting
/// with a letter, at most [`MAX_NAME`] long.
pub fn is_machine_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// How attribute rules, consents and forms name a custom attribute: `attr.<name>`.
pub const REFERENCE_PREFIX: &str = "attr.";

/// The attribute named by a reference `attr.<name>`, when it is one.
pub fn referenced(s: &str) -> Option<&str> {
    s.strip_prefix(REFERENCE_PREFIX)
        .filter(|name| is_machine_name(name))
}

/// The reference `attr.<name>` to an attribute.
pub fn reference(name: &str) -> String {
    format!("{REFERENCE_PREFIX}{name}")
}

fn parse_name(name: &str) -> Result<String, AttributeError> {
    let name = name.trim();
    if !is_machine_name(name) {
        return Err(AttributeError::Name);
    }
    if RESERVED.contains(&name) {
        return Err(AttributeError::Reserved(name.to_owned()));
    }
    Ok(name.to_owned())
}

fn parse_label(label: &str) -> Result<String, AttributeError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL || label.chars().any(char::is_control)
    {
        return Err(AttributeError::Label);
    }
    Ok(label.to_owned())
}

fn to_attribute(r: AttributeRow) -> Result<Attribute, StoreError> {
    let kind = Kind::parse(&r.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {}: bad kind", r.id)))?;
    Ok(Attribute {
        id: r.id,
        name: r.name,
        label: r.label,
        kind,
        required: r.required,
        created_at: r.created_at,
    })
}

impl Attribute {
    /// Checks a value as typed (a form field, a CSV cell) and gives its stored form; empty is
    /// `None` (no value).
    pub fn check(&self, raw: &str) -> Result<Option<String>, String> {
        let v = raw.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let bad = |what: &str| Err(format!("{}: {what}", self.label));
        match self.kind {
            Kind::Text => {
                if v.chars().count() > MAX_VALUE || v.chars().any(char::is_control) {
                    return bad(&format!("at most {MAX_VALUE} characters, on one line"));
                }
                Ok(Some(v.to_owned()))
            }
            Kind::Number => match canonical_number(v) {
                Some(n) => Ok(Some(n)),
                None => bad(&format!(
                    "`{}` is not a number (digits, with an optional sign and decimal point; \
                     at most 18 digits before it and 12 after)",
                    clip(v)
                )),
            },
            Kind::Boolean => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Ok(Some("true".into())),
                "false" | "no" | "0" | "off" => Ok(Some("false".into())),
                _ => bad("use yes or no (true or false)"),
            },
            Kind::Date => {
                let f = time::macros::format_description!("[year]-[month]-[day]");
                match time::Date::parse(v, &f) {
                    Ok(d) => Ok(Some(d.format(&f).unwrap_or_else(|_| v.to_owned()))),
                    Err(_) => bad(&format!("`{}` is not a date (YYYY-MM-DD)", clip(v))),
                }
            }
        }
    }

    /// A stored value as JSON of its type.
    pub fn json(&self, stored: &str) -> serde_json::Value {
        match self.kind {
            Kind::Text | Kind::Date => json!(stored),
            Kind::Boolean => json!(stored == "true"),
            Kind::Number => stored
                .parse::<i64>()
                .map(|n| json!(n))
                .or_else(|_| stored.parse::<f64>().map(|n| json!(n)))
                .unwrap_or_else(|_| json!(stored)),
        }
    }
}

fn clip(v: &str) -> String {
    v.chars().take(40).collect()
}

/// A decimal number in its canonical form (`+007.50` → `7.5`, `-0` → `0`), or `None` when
/// it is not one: no exponents, at most 18 digits before the point and 12 after, so that it
/// always fits an i64 or, with a fraction, reads back the same.
fn canonical_number(text: &str) -> Option<String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 18 || frac.len() > 12 || !all_digits(int) || !all_digits(frac)
    {
        return None;
    }
    if digits.ends_with('.') {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    let zero = int == "0" && frac.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

pub async fn list(store: &Store, tenant: &Tenant) -> Result<Vec<Attribute>, StoreError> {
    store_attrs::list(store, tenant.id)
        .await?
        .into_iter()
        .map(to_attribute)
        .collect()
}

pub async fn find(store: &Store, tenant: &Tenant, id: &str) -> Result<Attribute, AttributeError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AttributeError::NotFound);
    }
    store_attrs::find(store, tenant.id, id)
        .await?
        .map(to_attribute)
        .transpose()?
        .ok_or(AttributeError::NotFound)
}

async fn record(
    svc: &Services,
    tx: &Tx,
    (tenant, by, now): (&Tenant, By<'_>, i64),
    operation: &'static str,
    id: &str,
    detail: serde_json::Value,
) -> Result<(), AttributeError> {
    let key = svc.keyring.chain_key(tx, tenant.id).await?;
    let event = by.event(operation, Some(format!("attribute:{id}")), Some(detail));
    audit::record(tx, &key, tenant.id, event, now).await?;
    Ok(())
}

/// Every problem with a new attribute's name, label and type, each with the form field it
/// belongs to (`name`, `label`, `kind`), in the form's order.
pub fn problems(name: &str, label: &str, kind: &str) -> Vec<(&'static str, AttributeError)> {
    let kind = Kind::parse(kind).is_none().then_some(AttributeError::Kind);
    [
        ("name", parse_name(name).err()),
        ("label", parse_label(label).err()),
        ("kind", kind),
    ]
    .into_iter()
    .filter_map(|(field, e)| e.map(|e| (field, e)))
    .collect()
}

/// Adds an attribute to the schema.
pub async fn define(
    svc: &Services,
    tenant: &Tenant,
    (name, label, kind, required): (&str, &str, &str, bool),
    by: By<'_>,
    now: i64,
) -> Result<Attribute, AttributeError> {
    let name = parse_name(name)?;
    let label = parse_label(label)?;
    let kind = Kind::parse(kind).ok_or(AttributeError::Kind)?;
    let tx = svc.store.begin().await?;
    if store_attrs::list(&tx, tenant.id).await?.len() >= MAX_ATTRIBUTES {
        return Err(AttributeError::TooMany);
    }
    let row = AttributeRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.clone(),
        label,
        kind: kind.as_str().to_owned(),
        required,
        created_at: now,
        updated_at: now,
    };
    match store_attrs::insert(&tx, tenant.id, &row).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(AttributeError::Taken(name)),
        Err(e) => return Err(e.into()),
    }
    let detail = json!({ "name": name, "kind": kind.as_str(), "required": required });
    record(
        svc,
        &tx,
        (tenant, by, now),
        "attribute.create",
        &row.id,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(to_attribute(row)?)
}

/// Changes an attribute's label and whether it is required (its name and type stay: values
/// and the applications reading them depend on both).
pub async fn update(
    svc: &Services,
    tenant: &Tenant,
    attribute: &Attribute,
    (label, required): (&str, bool),
    by: By<'_>,
    now: i64,
) -> Result<(), AttributeError> {
    let label = parse_label(label)?;
    let tx = svc.store.begin().await?;
    if !store_attrs::update(&tx, tenant.id, &attribute.id, (&label, required), now).await? {
        return Err(AttributeError::NotFound);
    }
    let detail = json!({ "name": attribute.name, "required": required });
    record(
        svc,
        &tx,
        (tenant, by, now),
        "attribute.update",
        &attribute.id,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes an attribute from the schema with every user's value of it.
pub async fn delete(
    svc: &Services,
    tenant: &Tenant,
    attribute: &Attribute,
    by: By<'_>,
    now: i64,
) -> Result<i64, AttributeError> {
    let tx = svc.store.begin().await?;
    let values = store_attrs::values_count(&tx, tenant.id, &attribute.id).await?;
    if !store_attrs::delete(&tx, tenant.id, &attribute.id).await? {
        return Err(AttributeError::NotFound);
    }
    let detail = json!({ "name": attribute.name, "values": values });
    record(
        svc,
        &tx,
        (tenant, by, now),
        "attribute.delete",
        &attribute.id,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(values)
}

/// Values checked against the schema, ready to store: attribute id → value (`None` clears).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Values(pub Vec<(String, Option<String>)>);

/// Checks `given` (attribute name → raw text) against `schema`. With `complete`, every
/// attribute is set from `given` (missing ones are cleared) and required ones must have a
/// value; otherwise only the attributes named are touched. `Err` lists every problem.
pub fn check(
    schema: &[Attribute],
    given: &HashMap<String, String>,
    complete: bool,
) -> Result<Values, Vec<String>> {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for name in given.keys() {
        if !schema.iter().any(|a| &a.name == name) {
            problems.push(format!("there is no attribute `{}`", clip(name)));
        }
    }
    for a in schema {
        let raw = given.get(&a.name);
        if raw.is_none() && !complete {
            continue;
        }
        match a.check(raw.map_or("", String::as_str)) {
            Ok(None) if a.required => problems.push(format!("{} is required", a.label)),
            Ok(v) => values.push((a.id.clone(), v)),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(Values(values))
    } else {
        Err(problems)
    }
}

/// Stores `values` for `user` inside the caller's transaction; the names of the attributes
/// whose value changed (for the audit entry).
pub async fn store_values(
    tx: &Tx,
    tenant: &Tenant,
    user: UserId,
    schema: &[Attribute],
    values: &Values,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let before = store_attrs::values_of(tx, tenant.id, user).await?;
    let mut changed = Vec::new();
    for (id, v) in &values.0 {
        if before.get(id) == v.as_ref() {
            continue;
        }
        store_attrs::set_value(tx, tenant.id, user, id, v.as_deref(), now).await?;
        if let Some(a) = schema.iter().find(|a| &a.id == id) {
            changed.push(a.name.clone());
        }
    }
    Ok(changed)
}

/// A user's values by attribute id.
pub async fn values_of(
    store: &Store,
    tenant: &Tenant,
    user: UserId,
) -> Result<HashMap<String, String>, StoreError> {
    store_attrs::values_of(store, tenant.id, user).await
}

/// The values of many users (for exports).
pub async fn values_of_users(
    store: &Store,
    tenant: &Tenant,
    users: &[UserId],
) -> Result<HashMap<UserId, HashMap<String, String>>, StoreError> {
    store_attrs::values_of_users(store, tenant.id, users).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: Kind) -> Attribute {
        Attribute {
            id: "a".into(),
            name: "x".into(),
            label: "X".into(),
            kind,
            required: false,
            created_at: 0,
        }
    }

    #[test]
    fn values_are_checked_and_made_canonical_by_type() {
        let n = attr(Kind::Number);
        assert_eq!(n.check(" 007 ").unwrap().as_deref(), Some("7"));
        assert_eq!(n.check("-2.50").unwrap().as_deref(), Some("-2.5"));
        assert_eq!(n.check("+0.0").unwrap().as_deref(), Some("0"));
        assert_eq!(n.check("-0").unwrap().as_deref(), Some("0"));
        assert_eq!(
            n.check("123456789012345678").unwrap().as_deref(),
            Some("123456789012345678")
        );
        for bad in [
            "12abc",
            "NaN",
            "inf",
            "1e40",
            "1.",
            ".5",
            "1234567890123456789",
            "--1",
        ] {
            assert!(n.check(bad).is_err(), "{bad}");
        }
        assert_eq!(n.json("7"), json!(7));
        assert_eq!(n.json("-2.5"), json!(-2.5));
        let b = attr(Kind::Boolean);
        assert_eq!(b.check("Yes").unwrap().as_deref(), Some("true"));
        assert_eq!(b.check("off").unwrap().as_deref(), Some("false"));
        assert!(b.check("maybe").is_err());
        assert_eq!(b.json("true"), json!(true));
        let d = attr(Kind::Date);
        assert_eq!(
            d.check("2026-02-28").unwrap().as_deref(),
            Some("2026-02-28")
        );
        assert!(d.check("2026-02-30").is_err() && d.check("28/02/2026").is_err());
        let t = attr(Kind::Text);
        assert_eq!(t.check("  ").unwrap(), None);
        assert!(t.check("a\nb").is_err());
        assert!(t.check(&"x".repeat(MAX_VALUE + 1)).is_err());
    }

    #[test]
    fn names_are_machine_names_and_not_built_in_fields() {
        assert_eq!(parse_name(" cost_centre ").unwrap(), "cost_centre");
        for bad in ["", "Cost", "1st", "a-b", "é", &"a".repeat(MAX_NAME + 1)] {
            assert!(
                matches!(parse_name(bad), Err(AttributeError::Name)),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_name("email"),
            Err(AttributeError::Reserved(_))
        ));
    }

    #[test]
    fn a_complete_check_needs_required_values_and_lists_every_problem() {
        let mut dept = attr(Kind::Text);
        dept.name = "department".into();
        dept.label = "Department".into();
        dept.required = true;
        let mut start = attr(Kind::Date);
        start.id = "b".into();
        start.name = "start".into();
        start.label = "Start".into();
        let schema = vec![dept, start];
        let given: HashMap<String, String> = [
            ("start".to_owned(), "nope".to_owned()),
            ("shoe".to_owned(), "9".to_owned()),
        ]
        .into_iter()
        .collect();
        let problems = check(&schema, &given, true).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        // Partial: only what is named is touched.
        let given: HashMap<String, String> = [("start".to_owned(), "2027-01-04".to_owned())]
            .into_iter()
            .collect();
        let values = check(&schema, &given, false).unwrap();
        assert_eq!(
            values.0,
            vec![("b".to_owned(), Some("2027-01-04".to_owned()))]
        );
    }
}
