//! The directory core: tenants and their users. Creating a tenant sets up, in one transaction,
//! its data key, its first signing key, its audit chain and its first (owner) admin.
//!
//! May use: `store`, `keys`, `audit`, `login::password`.

pub mod access;
pub mod attributes;
pub mod groups;
pub mod import;
mod names;
mod slug;

pub use names::{Email, NameError, Username, parse_display_name, username_key};
pub use slug::{Slug, SlugError};

use crate::audit::{self, Actor, By, ChainKey, Event, Origin, Outcome};
use crate::crypto::DataKey;
use crate::ids::{TenantId, UserId};
use crate::keys::{self, KeyError, KeyState};
use crate::login::password::{self, Password, PasswordError};
use crate::services::Services;
use crate::store::{StoreError, tenants, users};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<TenantStatus> {
        match s {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: Slug,
    pub name: String,
    pub status: TenantStatus,
    pub created_at: i64,
    /// The tenant's data key, wrapped by the master key (opened by `Keyring::data_key_of`).
    pub wrapped_dek: Vec<u8>,
}

/// Active users can log in; disabled users cannot; restricted users (GDPR Art. 18) are kept but
/// neither log in nor appear in anything sent to applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Disabled,
    Restricted,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
            UserStatus::Restricted => "restricted",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        match s {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            "restricted" => Some(UserStatus::Restricted),
            _ => None,
        }
    }
}

/// Console roles (the console issue gives them their powers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminRole {
    Owner,
    Admin,
    Helpdesk,
    Auditor,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Owner => "owner",
            AdminRole::Admin => "admin",
            AdminRole::Helpdesk => "helpdesk",
            AdminRole::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<AdminRole> {
        Some(match s {
            "owner" => AdminRole::Owner,
            "admin" => AdminRole::Admin,
            "helpdesk" => AdminRole::Helpdesk,
            "auditor" => AdminRole::Auditor,
            _ => return None,
        })
    }
}

/// A user as the rest of the system sees it (no password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub status: UserStatus,
    pub has_password: bool,
    pub must_change_password: bool,
    pub admin_role: Option<AdminRole>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Slug(#[from] SlugError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("the password does not meet the tenant's policy: {0}")]
    PasswordPolicy(String),
    #[error("the tenant name must be 1 to 200 characters without control characters")]
    TenantName,
    #[error("a tenant with the slug `{0}` already exists")]
    TenantExists(String),
    #[error("there is no tenant `{0}`")]
    NoSuchTenant(String),
    #[error("the username `{0}` is already taken in this tenant")]
    UsernameTaken(String),
    #[error("the e-mail address `{0}` is already used by another user of this tenant")]
    EmailTaken(String),
    #[error("the tenant must keep at least one active owner")]
    LastOwner,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        DirectoryError::Store(e)
    }
}

/// What `tenant create` asks for, unchecked.
pub struct NewTenantInput {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_username: String,
}

pub struct CreatedTenant {
    pub tenant: Tenant,
    pub url: String,
    pub admin: User,
    /// Shown once; the admin must change it at first login.
    pub admin_password: Password,
}

fn parse_tenant_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    let len = name.chars().count();
    if !(1..=200).contains(&len) || name.chars().any(char::is_control) {
        return Err(DirectoryError::TenantName);
    }
    Ok(name.to_owned())
}

/// Creates a tenant with its data key, first signing key, audit chain and owner account.
pub async fn create_tenant(
    svc: &Services,
    input: NewTenantInput,
    origin: &Origin,
    now_ms: i64,
) -> Result<CreatedTenant, DirectoryError> {
    let slug = Slug::parse(input.slug.trim())?;
    let name = parse_tenant_name(&input.name)?;
    let email = Email::parse(&input.admin_email)?;
    let username = Username::parse(&input.admin_username)?;
    let url = svc.public_url.tenant_origin(slug.as_str());
    if tenants::find_by_slug(&svc.store, slug.as_str())
        .await?
        .is_some()
    {
        return Err(DirectoryError::TenantExists(slug.to_string()));
    }

    // CPU-heavy work before the transaction, so the write lock is held only for the writes.
    let admin_password = Password::generate();
    let (generated, hash) = tokio::join!(
        keys::generate(url.clone(), keys::Alg::Rs256, now_ms),
        password::hash_blocking(admin_password.clone())
    );
    let generated = generated?;

    let tenant_id = TenantId::new();
    let dek = DataKey::generate(tenant_id);
    let chain = ChainKey::for_tenant(&dek);
    let tx = svc.store.begin().await?;
    tenants::insert(
        &tx,
        tenants::NewTenant {
            id: tenant_id,
            slug: &slug,
            name: &name,
            wrapped_dek: dek.wrap(svc.keyring.master()),
            now: now_ms,
        },
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => DirectoryError::TenantExists(slug.to_string()),
        e => e.into(),
    })?;
    crate::store::audit::create_head(&tx, tenant_id).await?;
    audit::record(
        &tx,
        &chain,
        tenant_id,
        Event {
            actor: Actor::Operator,
            subject: Some(format!("tenant:{tenant_id}")),
            operation: "tenant.create",
            outcome: Outcome::Success,
            origin,
            detail: Some(serde_json::json!({ "slug": slug.as_str() })),
        },
        now_ms,
    )
    .await?;
    keys::store_new(
        &tx,
        &dek,
        &chain,
        &generated,
        KeyState::Active,
        By::operator(origin),
        now_ms,
    )
    .await?;
    let admin_id = insert_user(
        &tx,
        &chain,
        tenant_id,
        UserFields {
            username: &username,
            email: &email,
            display_name: &username.display,
            password_hash: Some(hash),
            must_change_password: true,
            admin_role: Some(AdminRole::Owner),
        },
        By::operator(origin),
        now_ms,
    )
    .await?;
    crate::store::epoch::bump(&tx).await?;
    tx.commit().await?;

    let tenant = tenants::find(&svc.store, tenant_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let admin = users::find(&svc.store, tenant_id, admin_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(CreatedTenant {
        tenant,
        url,
        admin,
        admin_password,
    })
}

struct UserFields<'a> {
    username: &'a Username,
    email: &'a Email,
    display_name: &'a str,
    password_hash: Option<String>,
    must_change_password: bool,
    admin_role: Option<AdminRole>,
}

async fn insert_user(
    tx: &crate::store::Tx,
    chain: &ChainKey,
    tenant: TenantId,
    f: UserFields<'_>,
    by: By<'_>,
    now_ms: i64,
) -> Result<UserId, DirectoryError> {
    let id = UserId::new();
    users::insert(
        tx,
        tenant,
        users::NewUser {
            id,
            username: &f.username.display,
            username_key: &f.username.key,
            email: &f.email.display,
            email_key: &f.email.key,
            display_name: f.display_name,
            name_key: &username_key(f.display_name),
            password_hash: f.password_hash,
            must_change_password: f.must_change_password,
            admin_role: f.admin_role,
            now: now_ms,
        },
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict("users.username") => {
            DirectoryError::UsernameTaken(f.username.display.clone())
        }
        StoreError::Conflict(_) => DirectoryError::EmailTaken(f.email.display.clone()),
        e => e.into(),
    })?;
    let detail = f
        .admin_role
        .map(|r| serde_json::json!({ "admin_role": r.as_str() }));
    let event = by.event("user.create", Some(format!("user:{id}")), detail);
    audit::record(tx, chain, tenant, event, now_ms).await?;
    Ok(id)
}

/// What `user create` asks for, unchecked.
pub struct NewUserInput {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `None`: generate a one-time password that must be changed at first login.
    pub password: Option<Password>,
    /// Ask for a new password at first sign-in (always so for a generated one).
    pub must_change_password: bool,
    /// Custom attribute values, checked against the schema by the caller.
    pub attributes: attributes::Values,
}

pub struct CreatedUser {
    pub user: User,
    /// Set when the password was generated; shown once.
    pub one_time_password: Option<Password>,
}

pub async fn find_tenant(svc: &Services, slug: &str) -> Result<Tenant, DirectoryError> {
    tenants::find_by_slug(&svc.store, slug)
        .await?
        .ok_or_else(|| DirectoryError::NoSuchTenant(slug.chars().take(63).collect()))
}

/// Creates a user in a tenant's directory.
pub async fn create_user(
    svc: &Services,
    tenant: &Tenant,
    input: NewUserInput,
    by: By<'_>,
    now_ms: i64,
) -> Result<CreatedUser, DirectoryError> {
    let username = Username::parse(&input.username)?;
    let email = Email::parse(&input.email)?;
    let display_name = match input.display_name.as_deref() {
        Some(d) => parse_display_name(d)?,
        None => username.display.clone(),
    };
    let (password, generated) = match input.password {
        Some(p) => {
            let policy = crate::login::policy::load(&svc.store, tenant.id).await?;
            let problems =
                password::check_policy(&p, &policy.password, &username.display, &email.display);
            if let Some(first) = problems.first() {
                return Err(DirectoryError::PasswordPolicy(first.to_string()));
            }
            (p, false)
        }
        None => (Password::generate(), true),
    };
    if users::find_by_username_key(&svc.store, tenant.id, &username.key)
        .await?
        .is_some()
    {
        return Err(DirectoryError::UsernameTaken(username.display));
    }
    let hash = password::hash_blocking(password.clone()).await;
    let chain = svc.keyring.chain_key(&svc.store, tenant.id).await?;
    let tx = svc.store.begin().await?;
    let id = insert_user(
        &tx,
        &chain,
        tenant.id,
        UserFields {
            username: &username,
            email: &email,
            display_name: &display_name,
            password_hash: Some(hash),
            must_change_password: generated || input.must_change_password,
            admin_role: None,
        },
        by,
        now_ms,
    )
    .await?;
    for (attribute, value) in &input.attributes.0 {
        if let Some(v) = value {
            crate::store::attributes::set_value(&tx, tenant.id, id, attribute, Some(v), now_ms)
                .await?;
        }
    }
    tx.commit().await?;
    let user = users::find(&svc.store, tenant.id, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(CreatedUser {
        user,
        one_time_password: generated.then_some(password),
    })
}

/// A user's custom attribute values to save, with the schema they were checked against.
pub type AttributeChange<'a> = (&'a [attributes::Attribute], &'a attributes::Values);

/// Changes a user's display name and e-mail address (when `profile` is given) and custom
/// attributes (when given), in one transaction with its audit entry.
pub async fn update_profile(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    profile: Option<(&str, &str)>,
    attributes: Option<AttributeChange<'_>>,
    by: By<'_>,
    now_ms: i64,
) -> Result<(), DirectoryError> {
    let profile = match profile {
        Some((display_name, email)) => {
            Some((parse_display_name(display_name)?, Email::parse(email)?))
        }
        None => None,
    };
    let chain = svc.keyring.chain_key(&svc.store, tenant.id).await?;
    let tx = svc.store.begin().await?;
    let mut email_changed = false;
    if let Some((name, email)) = &profile {
        users::update_profile(
            &tx,
            tenant.id,
            user.id,
            (name, &username_key(name)),
            &email.display,
            &email.key,
            now_ms,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => DirectoryError::EmailTaken(email.display.clone()),
            e => e.into(),
        })?;
        let was = Email::parse(&user.email).map(|e| e.key).unwrap_or_default();
        email_changed = email.key != was;
    }
    let changed = match attributes {
        Some((schema, values)) => {
            attributes::store_values(&tx, tenant, user.id, schema, values, now_ms).await?
        }
        None => Vec::new(),
    };
    let detail = serde_json::json!({
        "email_changed": email_changed,
        "attributes_changed": changed,
    });
    let event = by.event(
        "user.profile.update",
        Some(format!("user:{}", user.id)),
        Some(detail),
    );
    audit::record(&tx, &chain, tenant.id, event, now_ms).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives `user` a console role, or takes it away (`None`). The last active owner keeps theirs.
pub async fn set_role(
    svc: &Services,
    tenant: TenantId,
    user: &User,
    role: Option<AdminRole>,
    by: By<'_>,
    now_ms: i64,
) -> Result<(), DirectoryError> {
    let chain = svc.keyring.chain_key(&svc.store, tenant).await?;
    let tx = svc.store.begin().await?;
    users::set_admin_role(&tx, tenant, user.id, role, now_ms).await?;
    if user.admin_role == Some(AdminRole::Owner)
        && role != Some(AdminRole::Owner)
        && users::active_owners(&tx, tenant).await? == 0
    {
        return Err(DirectoryError::LastOwner);
    }
    let detail = serde_json::json!({
        "from": user.admin_role.map(AdminRole::as_str),
        "to": role.map(AdminRole::as_str),
    });
    let event = by.event(
        "user.admin_role",
        Some(format!("user:{}", user.id)),
        Some(detail),
    );
    audit::record(&tx, &chain, tenant, event, now_ms).await?;
    tx.commit().await?;
    Ok(())
}

/// Erases users (GDPR Art. 17), all in one transaction: their profile, credentials, MFA,
/// sessions, tokens, consents and memberships go; the audit log keeps only their opaque ids
/// (one `user.delete` entry each) and loses the addresses and browsers of their own actions,
/// and the chain still verifies. Refused, with nothing
/// deleted, when it would leave the tenant without an active owner.
pub async fn erase(
    svc: &Services,
    tenant: TenantId,
    people: &[User],
    by: By<'_>,
    now_ms: i64,
) -> Result<usize, DirectoryError> {
    let chain = svc.keyring.chain_key(&svc.store, tenant).await?;
    let tx = svc.store.begin().await?;
    let mut events = Vec::with_capacity(people.len());
    for user in people {
        if users::erase(&tx, tenant, user.id).await? {
            let reference = format!("user:{}", user.id);
            // The chained record of the redaction: `audit verify` accepts an entry without
            // its origin only for a person a later `user.delete` says was redacted.
            let redacted = crate::store::audit::redact_origins(&tx, tenant, &reference).await?;
            let kept = crate::store::audit::unredactable_origins(&tx, tenant, &reference).await?;
            if kept > 0 {
                tracing::warn!(
                    entries = kept,
                    "erasure: audit entries from before migration 14 keep the person's origin"
                );
            }
            let detail = serde_json::json!({
                "admin_role": user.admin_role.map(AdminRole::as_str),
                "origin_redacted": redacted,
                "origin_kept_in_old_entries": kept,
            });
            events.push(by.event("user.delete", Some(reference), Some(detail)));
        }
    }
    if people
        .iter()
        .any(|u| u.admin_role == Some(AdminRole::Owner))
        && users::active_owners(&tx, tenant).await? == 0
    {
        return Err(DirectoryError::LastOwner);
    }
    let erased = events.len();
    audit::record_many(&tx, &chain, tenant, events, now_ms).await?;
    tx.commit().await?;
    Ok(erased)
}
