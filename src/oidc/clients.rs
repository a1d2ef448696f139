//! OpenID Connect clients: registration checks, secrets (shown once, stored as SHA-256, rotated
//! with an overlap), lookup within the tenant and client authentication.

use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::{self, By};
use crate::crypto::{random_bytes, random_token};
use crate::directory::Tenant;
use crate::directory::access::{App, AppKind};
use crate::keys::{self, Alg, KeyError};
use crate::login::totp::hex;
use crate::services::Services;
use crate::store::clients::{self, ClientRow};
use crate::store::{StoreError, epoch};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// Holds a secret (server-side apps): client_secret_basic or client_secret_post.
    Confidential,
    /// Cannot hold a secret (SPAs, native apps): `none`, PKCE required.
    Public,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
        }
    }

    fn parse(s: &str) -> Option<ClientKind> {
        match s {
            "confidential" => Some(ClientKind::Confidential),
            "public" => Some(ClientKind::Public),
            _ => None,
        }
    }
}

pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "groups"];
pub const MAX_URIS: usize = 20;
const MAX_URI_LEN: usize = 2048;
/// At most this many claims from custom attributes per client.
pub const MAX_CLAIM_RULES: usize = 32;

/// Claims a rule may not name: those of JWT, OpenID Connect Core (ID token and standard
/// claims), RFC 9068 access tokens and our `groups`, whose meaning a custom value must never take.
const RESERVED_CLAIMS: [&str; 46] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    "groups",
    "scope",
    "client_id",
    "cnf",
    "act",
    "may_act",
    "typ",
    "roles",
    "entitlements",
    "events",
    "txn",
];

/// One claim from a custom attribute: `attr.<attribute name>=<claim name>`. It is issued with
/// the `profile` scope, in the ID token and from userinfo, typed as the attribute is (a number,
/// true/false, a `YYYY-MM-DD` date or a string), and left out when the user has no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRule {
    pub attribute: String,
    pub claim: String,
}

/// Whether a claim name is reserved (see [`RESERVED_CLAIMS`]): never issued from an attribute.
pub fn is_reserved_claim(name: &str) -> bool {
    RESERVED_CLAIMS.contains(&name)
}

/// How many bytes of claims from attributes an ID token carries at most (as JSON). Beyond it,
/// the rest are served from userinfo only, so the ID token stays small enough for cookies and
/// for `id_token_hint` at logout.
pub const ID_TOKEN_ATTRIBUTE_BUDGET: usize = 3072;

impl ClaimRule {
    /// A rule as an admin writes it: well-formed and naming no registered claim.
    pub fn parse(line: &str) -> Result<ClaimRule, String> {
        let rule = ClaimRule::parse_stored(line)?;
        if is_reserved_claim(&rule.claim) {
            return Err(format!(
                "claim `{}` is a registered claim with its own meaning; choose another name",
                rule.claim
            ));
        }
        Ok(rule)
    }

    /// A stored rule: well-formed. (A claim reserved since it was stored is skipped when
    /// claims are issued, rather than making the client unreadable.)
    fn parse_stored(line: &str) -> Result<ClaimRule, String> {
        let shown = || line.chars().take(80).collect::<String>();
        let Some((source, claim)) = line.split_once('=') else {
            return Err(format!(
                "claim rule `{}` should read attr.<attribute name>=<claim name>",
                shown()
            ));
        };
        let attribute =
            crate::directory::attributes::referenced(source.trim()).ok_or_else(|| {
                format!(
                    "claim rule `{}`: the source must be attr.<custom attribute name>",
                    shown()
                )
            })?;
        let claim = claim.trim();
        let well_formed = (1..=64).contains(&claim.len())
            && claim.starts_with(|c: char| c.is_ascii_alphabetic())
            && claim
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
        if !well_formed {
            return Err(format!(
                "claim rule `{}`: a claim name is 1 to 64 letters, digits and _ - . : /, \
                 starting with a letter",
                shown()
            ));
        }
        Ok(ClaimRule {
            attribute: attribute.to_owned(),
            claim: claim.to_owned(),
        })
    }

    /// The rule as [`ClaimRule::parse`] reads it.
    pub fn to_text(&self) -> String {
        let source = crate::directory::attributes::reference(&self.attribute);
        format!("{source}={}", self.claim)
    }
}

/// Checks rule lines (blank ones skipped): well-formed, at most [`MAX_CLAIM_RULES`], each claim
/// once.
fn check_claim_rules(lines: &[String]) -> Result<Vec<String>, ClientError> {
    let mut out: Vec<ClaimRule> = Vec::new();
    for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let rule = ClaimRule::parse(line).map_err(invalid)?;
        if out.iter().any(|r| r.claim == rule.claim) {
            return Err(invalid(format!("claim `{}` is mapped twice", rule.claim)));
        }
        out.push(rule);
    }
    if out.len() > MAX_CLAIM_RULES {
        return Err(invalid(format!(
            "at most {MAX_CLAIM_RULES} claims from attributes"
        )));
    }
    Ok(out.iter().map(ClaimRule::to_text).collect())
}

/// A registered client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// Claims from custom attributes.
    pub claim_rules: Vec<ClaimRule>,
    pub access_token_seconds: u32,
    pub refresh_token_seconds: u32,
    pub require_consent: bool,
    /// PKCE (S256) on the code flow. Always on for public clients; a confidential client may
    /// turn it off for a legacy app that cannot send it.
    pub require_pkce: bool,
    pub id_token_alg: Alg,
    /// Only users assigned to the client (directly or by group) may sign in to it.
    pub assigned_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
    secret_hash: Option<String>,
    previous_secret_hash: Option<String>,
    previous_secret_until: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("there is no client `{0}` in this tenant")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn invalid(msg: impl Into<String>) -> ClientError {
    ClientError::Invalid(msg.into())
}

/// What `client create` asks for, unchecked.
#[derive(Clone)]
pub struct NewClient {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// Claims from custom attributes, one rule (`attr.<name>=<claim>`) per entry.
    pub claim_rules: Vec<String>,
    pub access_token_seconds: u32,
    pub refresh_token_seconds: u32,
    pub require_consent: bool,
    pub require_pkce: bool,
    pub id_token_alg: String,
}

/// A redirect URI we accept at registration (RFC 9700 §2.1, RFC 8252 §7): `https` anywhere;
/// `http` only on a loopback host; a private-use scheme (reverse domain, with a dot) for native
/// apps. Never a fragment, never userinfo, never a wildcard.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "redirect URI `{}`: {why}",
            uri.chars().take(100).collect::<String>()
        ))
    };
    if uri.len() > MAX_URI_LEN || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("too long or contains spaces or control characters");
    }
    if uri.contains('#') {
        return bad("must not contain a fragment");
    }
    if uri.contains('*') {
        return bad("wildcards are not allowed; register each URI exactly");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return bad("must be an absolute URI");
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => {
            let Some(rest) = rest.strip_prefix("//") else {
                return bad("must be an absolute URI");
            };
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if authority.is_empty() || authority.contains('@') {
                return bad("needs a host and no user information");
            }
            let host = if authority.starts_with('[') {
                authority
                    .split(']')
                    .next()
                    .map(|h| format!("{h}]"))
                    .unwrap_or_default()
            } else {
                authority
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            };
            if scheme == "http" && !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
                return bad(
                    "plain http is allowed only for loopback (localhost, 127.0.0.1, [::1])",
                );
            }
            Ok(())
        }
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" => bad("scheme not allowed"),
        s if s.contains('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')) =>
        {
            Ok(())
        }
        _ => bad("use https, loopback http, or a reverse-domain private-use scheme"),
    }
}

fn check_list(what: &str, values: &[String], allowed: &[&str]) -> Result<Vec<String>, ClientError> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if !allowed.contains(&v) {
            return Err(invalid(format!(
                "{what} `{v}` is not one of: {}",
                allowed.join(", ")
            )));
        }
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    Ok(out)
}

fn check_uris(what: &str, uris: &[String]) -> Result<Vec<String>, ClientError> {
    if uris.len() > MAX_URIS {
        return Err(invalid(format!("at most {MAX_URIS} {what}s")));
    }
    let mut out: Vec<String> = Vec::new();
    for u in uris.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        check_redirect_uri(u).map_err(|e| invalid(e.replacen("redirect URI", what, 1)))?;
        if !out.iter().any(|o| o == u) {
            out.push(u.to_owned());
        }
    }
    Ok(out)
}

impl NewClient {
    /// Every problem with these settings, each with the form field it belongs to (`name`,
    /// `redirect_uris`, `post_logout_redirect_uris`, `grant`, `scope`, `claim_rules`,
    /// `require_pkce`, `id_token_alg`, `access_token`, `refresh_token`), in the form's order.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = vec![];
        let mut add = |field, e: ClientError| {
            let m = match e {
                ClientError::Invalid(m) => m,
                other => other.to_string(),
            };
            out.push((field, m));
        };
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            add(
                "name",
                invalid("the client name must be 1 to 200 characters"),
            );
        }
        let redirect_uris = check_uris("redirect URI", &self.redirect_uris)
            .map_err(|e| add("redirect_uris", e))
            .ok();
        if let Err(e) = check_uris("post-logout redirect URI", &self.post_logout_redirect_uris) {
            add("post_logout_redirect_uris", e);
        }
        match check_list("grant type", &self.grant_types, &GRANT_TYPES) {
            Err(e) => add("grant", e),
            Ok(grants) => {
                let has = |g: &str| grants.iter().any(|x| x == g);
                if grants.is_empty() {
                    add("grant", invalid("at least one grant type is needed"));
                }
                if self.kind == ClientKind::Public && has("client_credentials") {
                    add(
                        "grant",
                        invalid("a public client cannot use client_credentials"),
                    );
                }
                if has("refresh_token") && !has("authorization_code") {
                    add(
                        "grant",
                        invalid("refresh_token comes with authorization_code"),
                    );
                }
                if has("authorization_code") && redirect_uris.as_ref().is_some_and(Vec::is_empty) {
                    add(
                        "redirect_uris",
                        invalid("authorization_code needs at least one redirect URI"),
                    );
                }
            }
        }
        if self.kind == ClientKind::Public && !self.require_pkce {
            add(
                "require_pkce",
                invalid("a public client cannot turn PKCE off"),
            );
        }
        if let Err(e) = check_list("scope", &self.scopes, &SCOPES) {
            add("scope", e);
        }
        if let Err(e) = check_claim_rules(&self.claim_rules) {
            add("claim_rules", e);
        }
        if Alg::parse(&self.id_token_alg).is_none() {
            add(
                "id_token_alg",
                invalid(format!(
                    "ID-token algorithm `{}` is not one of: {}",
                    self.id_token_alg.chars().take(16).collect::<String>(),
                    Alg::ALL.map(Alg::as_str).join(", ")
                )),
            );
        }
        if !(60..=86_400).contains(&self.access_token_seconds) {
            add(
                "access_token",
                invalid(
                    "access-token lifetime must be between 1 minute and 1 day (60 to 86400 \
                     seconds)",
                ),
            );
        }
        if !(300..=31_536_000).contains(&self.refresh_token_seconds) {
            add(
                "refresh_token",
                invalid(
                    "refresh-token lifetime must be between 5 minutes and 365 days (300 to \
                     31536000 seconds)",
                ),
            );
        }
        out
    }

    fn validate(self) -> Result<NewClient, ClientError> {
        if let Some((_, first)) = self.problems().into_iter().next() {
            return Err(invalid(first));
        }
        let name = self.name.trim().to_owned();
        let redirect_uris = check_uris("redirect URI", &self.redirect_uris)?;
        let post_logout_redirect_uris =
            check_uris("post-logout redirect URI", &self.post_logout_redirect_uris)?;
        let grant_types = check_list("grant type", &self.grant_types, &GRANT_TYPES)?;
        let scopes = check_list("scope", &self.scopes, &SCOPES)?;
        let claim_rules = check_claim_rules(&self.claim_rules)?;
        Ok(NewClient {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            claim_rules,
            ..self
        })
    }
}

/// A client secret: 256 random bits, shown once.
pub struct ClientSecret(pub String);

fn secret_hash(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"latchkey/v1/client-secret/");
    h.update(secret.as_bytes());
    hex(&h.finalize())
}

/// 128 random bits, base64url, starting with a letter or digit: an id that begins with `-`
/// would read as an option on the command line (`client show -x…`).
fn new_client_id() -> String {
    use base64::Engine;
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<16>());
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

fn to_client(row: ClientRow) -> Result<Client, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: bad {what}", row.id));
    let list = |text: &str, what: &str| {
        serde_json::from_str::<Vec<String>>(text).map_err(|_| corrupt(what))
    };
    let id_token_alg = Alg::parse(&row.id_token_alg).ok_or_else(|| corrupt("id token alg"))?;
    Ok(Client {
        kind: ClientKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
        redirect_uris: list(&row.redirect_uris, "redirect uris")?,
        post_logout_redirect_uris: list(&row.post_logout_redirect_uris, "logout uris")?,
        grant_types: list(&row.grant_types, "grant types")?,
        scopes: list(&row.scopes, "scopes")?,
        claim_rules: list(&row.claim_rules, "claim rules")?
            .iter()
            .map(|r| ClaimRule::parse_stored(r))
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt("claim rules"))?,
        access_token_seconds: u32::try_from(row.access_token_seconds)
            .map_err(|_| corrupt("access token lifetime"))?,
        refresh_token_seconds: u32::try_from(row.refresh_token_seconds)
            .map_err(|_| corrupt("refresh token lifetime"))?,
        id: row.id,
        client_id: row.client_id,
        name: row.name,
        require_consent: row.require_consent,
        require_pkce: row.require_pkce,
        id_token_alg,
        assigned_only: row.assigned_only,
        created_at: row.created_at,
        updated_at: row.updated_at,
        secret_hash: row.secret_hash,
        previous_secret_hash: row.previous_secret_hash,
        previous_secret_until: row.previous_secret_until,
    })
}

impl Client {
    /// Whether `secret` is this client's current secret, or its previous one within the
    /// overlap. Constant-time comparison of hashes.
    pub fn secret_matches(&self, secret: &str, now: i64) -> bool {
        if self.kind != ClientKind::Confidential || secret.is_empty() || secret.len() > 256 {
            return false;
        }
        let given = secret_hash(secret);
        let eq = |h: &Option<String>| {
            h.as_ref()
                .is_some_and(|h| bool::from(h.as_bytes().ct_eq(given.as_bytes())))
        };
        let current = eq(&self.secret_hash);
        let previous = eq(&self.previous_secret_hash)
            && self.previous_secret_until.is_some_and(|until| now < until);
        current | previous
    }

    /// When the previous secret stops working, if one is still in its overlap.
    pub fn previous_secret_until(&self, now: i64) -> Option<i64> {
        self.previous_secret_until.filter(|until| *until > now)
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// The client as an application users are assigned to.
    pub fn app(&self) -> App {
        App {
            kind: AppKind::OidcClients,
            id: self.id.clone(),
            subject: format!("client:{}", self.client_id),
            assigned_only: self.assigned_only,
        }
    }

    /// The client's settings as a [`NewClient`], to edit and pass to [`update`].
    pub fn settings(&self) -> NewClient {
        NewClient {
            name: self.name.clone(),
            kind: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            scopes: self.scopes.clone(),
            claim_rules: self.claim_rules.iter().map(ClaimRule::to_text).collect(),
            access_token_seconds: self.access_token_seconds,
            refresh_token_seconds: self.refresh_token_seconds,
            require_consent: self.require_consent,
            require_pkce: self.require_pkce,
            id_token_alg: self.id_token_alg.as_str().to_owned(),
        }
    }
}

async fn audit_client(
    svc: &Services,
    tx: &crate::store::Tx,
    (tenant, by, now): (&Tenant, By<'_>, i64),
    operation: &'static str,
    client_id: &str,
) -> Result<(), ClientError> {
    let key = svc.keyring.chain_key_of(tenant)?;
    let subject = Some(format!("client:{client_id}"));
    let detail = Some(json!({ "client_id": client_id }));
    let event = by.event(operation, subject, detail);
    audit::record(tx, &key, tenant.id, event, now).await?;
    Ok(())
}

/// Registers a client. Confidential clients get a secret, returned here and never again.
pub async fn create(
    svc: &Services,
    tenant: &Tenant,
    new: NewClient,
    by: By<'_>,
    now: i64,
) -> Result<(Client, Option<ClientSecret>), ClientError> {
    let new = new.validate()?;
    check_attributes_exist(svc, tenant, &new.claim_rules).await?;
    ensure_key(svc, tenant, &new.id_token_alg, by, now).await?;
    let secret = (new.kind == ClientKind::Confidential).then(|| ClientSecret(random_token()));
    let row = ClientRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.id.to_string(),
        client_id: new_client_id(),
        name: new.name,
        kind: new.kind.as_str().to_owned(),
        secret_hash: secret.as_ref().map(|s| secret_hash(&s.0)),
        previous_secret_hash: None,
        previous_secret_until: None,
        redirect_uris: json!(new.redirect_uris).to_string(),
        post_logout_redirect_uris: json!(new.post_logout_redirect_uris).to_string(),
        grant_types: json!(new.grant_types).to_string(),
        scopes: json!(new.scopes).to_string(),
        claim_rules: json!(new.claim_rules).to_string(),
        access_token_seconds: i32::try_from(new.access_token_seconds).unwrap_or(300),
        refresh_token_seconds: i32::try_from(new.refresh_token_seconds).unwrap_or(2_592_000),
        require_consent: new.require_consent,
        require_pkce: new.require_pkce,
        id_token_alg: new.id_token_alg,
        assigned_only: false,
        created_at: now,
        updated_at: now,
    };
    let tx = svc.store.begin().await?;
    clients::insert(&tx, &row).await?;
    audit_client(svc, &tx, (tenant, by, now), "client.create", &row.client_id).await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok((to_client(row)?, secret))
}

/// The claims from attributes that fit in an ID token: the first ones, up to
/// [`ID_TOKEN_ATTRIBUTE_BUDGET`] bytes of JSON.
pub fn within_id_token_budget(
    claims: Vec<(String, serde_json::Value)>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut used = 0;
    claims
        .into_iter()
        .filter(|(k, v)| {
            // "key":value, as serde_json writes it.
            let size = json!(k).to_string().len() + 2 + v.to_string().len();
            if used + size > ID_TOKEN_ATTRIBUTE_BUDGET {
                return false;
            }
            used += size;
            true
        })
        .collect()
}

/// Claim rules may name only the tenant's own custom attributes.
async fn check_attributes_exist(
    svc: &Services,
    tenant: &Tenant,
    rules: &[String],
) -> Result<(), ClientError> {
    if rules.is_empty() {
        return Ok(());
    }
    let schema = crate::directory::attributes::list(&svc.store, tenant).await?;
    for rule in rules.iter().filter_map(|r| ClaimRule::parse(r).ok()) {
        if !schema.iter().any(|a| a.name == rule.attribute) {
            return Err(invalid(format!(
                "claim rule `{}`: there is no custom attribute `{}`",
                rule.to_text(),
                rule.attribute
            )));
        }
    }
    Ok(())
}

/// The claims `client` gets from the user's custom attributes (with the `profile` scope), in
/// rule order: typed values by claim name, leaving out attributes the user has no value for or
/// that no longer exist.
pub async fn attribute_claims(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    user: crate::ids::UserId,
) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
    let mut out = Vec::new();
    if client.claim_rules.is_empty() {
        return Ok(out);
    }
    let schema = crate::directory::attributes::list(&svc.store, tenant).await?;
    let values = crate::directory::attributes::values_of(&svc.store, tenant, user).await?;
    // A client that asks for consent gets only the attributes the person allowed it (a
    // consent lists them as `attr.<name>` beside its scopes; no scope has a dot).
    let allowed = if client.require_consent {
        let consent = crate::store::consents::find(&svc.store, tenant.id, user, &client.client_id)
            .await?
            .map(|c| c.scope)
            .unwrap_or_default();
        Some(consent)
    } else {
        None
    };
    let consented = |name: &str| {
        allowed.as_deref().is_none_or(|scope| {
            scope
                .split(' ')
                .any(|s| crate::directory::attributes::referenced(s) == Some(name))
        })
    };
    for rule in client
        .claim_rules
        .iter()
        .filter(|r| !is_reserved_claim(&r.claim) && consented(&r.attribute))
    {
        let Some(attribute) = schema.iter().find(|a| a.name == rule.attribute) else {
            continue;
        };
        if let Some(v) = values.get(&attribute.id) {
            out.push((rule.claim.clone(), attribute.json(v)));
        }
    }
    Ok(out)
}

/// The custom attributes `client` gets as claims with `profile` (those that exist), each once,
/// in rule order: what the consent page names and a consent must cover.
pub async fn shared_attributes(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
) -> Result<Vec<crate::directory::attributes::Attribute>, StoreError> {
    if client.claim_rules.is_empty() {
        return Ok(vec![]);
    }
    let schema = crate::directory::attributes::list(&svc.store, tenant).await?;
    let mut out: Vec<crate::directory::attributes::Attribute> = Vec::new();
    for rule in &client.claim_rules {
        if let Some(a) = schema.iter().find(|a| a.name == rule.attribute)
            && !out.iter().any(|o| o.id == a.id)
        {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// The first client to choose an algorithm the tenant has no key for brings one into use.
async fn ensure_key(
    svc: &Services,
    tenant: &Tenant,
    alg: &str,
    by: By<'_>,
    now: i64,
) -> Result<(), ClientError> {
    if let Some(alg) = Alg::parse(alg) {
        keys::ensure_active(
            &svc.store,
            &svc.keyring,
            tenant,
            alg,
            svc.public_url.tenant_origin(tenant.slug.as_str()),
            by,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Replaces a client's settings with `new` (checked as at registration; the kind stays).
pub async fn update(
    svc: &Services,
    tenant: &Tenant,
    client: &Client,
    new: NewClient,
    by: By<'_>,
    now: i64,
) -> Result<Client, ClientError> {
    let new = NewClient {
        kind: client.kind,
        ..new
    }
    .validate()?;
    check_attributes_exist(svc, tenant, &new.claim_rules).await?;
    ensure_key(svc, tenant, &new.id_token_alg, by, now).await?;
    let row = ClientRow {
        id: client.id.clone(),
        tenant_id: tenant.id.to_string(),
        client_id: client.client_id.clone(),
        name: new.name,
        kind: client.kind.as_str().to_owned(),
        secret_hash: client.secret_hash.clone(),
        previous_secret_hash: client.previous_secret_hash.clone(),
        previous_secret_until: client.previous_secret_until,
        redirect_uris: json!(new.redirect_uris).to_string(),
        post_logout_redirect_uris: json!(new.post_logout_redirect_uris).to_string(),
        grant_types: json!(new.grant_types).to_string(),
        scopes: json!(new.scopes).to_string(),
        claim_rules: json!(new.claim_rules).to_string(),
        access_token_seconds: i32::try_from(new.access_token_seconds).unwrap_or(300),
        refresh_token_seconds: i32::try_from(new.refresh_token_seconds).unwrap_or(2_592_000),
        require_consent: new.require_consent,
        require_pkce: new.require_pkce,
        id_token_alg: new.id_token_alg,
        assigned_only: client.assigned_only,
        created_at: client.created_at,
        updated_at: now,
    };
    let tx = svc.store.begin().await?;
    if !clients::update(&tx, &row).await? {
        return Err(ClientError::NotFound(client.client_id.clone()));
    }
    audit_client(svc, &tx, (tenant, by, now), "client.update", &row.client_id).await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(to_client(row)?)
}

pub async fn find(
    svc: &Services,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<Client>, ClientError> {
    if client_id.is_empty() || client_id.len() > 64 {
        return Ok(None);
    }
    Ok(clients::find(&svc.store, tenant.id, client_id)
        .await?
        .map(to_client)
        .transpose()?)
}

/// [`find`] through the node's cache (client changes move the change epoch).
pub async fn find_cached(
    svc: &Services,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<std::sync::Arc<Client>>, ClientError> {
    svc.caches
        .find_or_load(
            &svc.caches.clients,
            (tenant.id, client_id.to_owned()),
            async || find(svc, tenant, client_id).await,
        )
        .await
}

pub async fn list(svc: &Services, tenant: &Tenant) -> Result<Vec<Client>, ClientError> {
    Ok(clients::list(&svc.store, tenant.id)
        .await?
        .into_iter()
        .map(to_client)
        .collect::<Result<_, _>>()?)
}

/// The web origins that may call the token, revocation and userinfo endpoints from a browser
/// (CORS): those of the public clients' http(s) redirect URIs. Confidential clients hold a
/// secret and so never run in a browser. Cached until the change epoch moves.
pub async fn browser_origins(
    svc: &Services,
    tenant: &Tenant,
) -> Result<std::sync::Arc<std::collections::HashSet<String>>, ClientError> {
    svc.caches
        .get_or_load(&svc.caches.browser_origins, tenant.id, async || {
            Ok(list(svc, tenant)
                .await?
                .iter()
                .filter(|c| c.kind == ClientKind::Public)
                .flat_map(|c| c.redirect_uris.iter())
                .filter_map(|u| url::Url::parse(u).ok())
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .map(|u| u.origin().ascii_serialization())
                .collect())
        })
        .await
}

/// A new secret; the old one keeps working for `overlap_seconds` so apps can be redeployed.
pub async fn rotate_secret(
    svc: &Services,
    tenant: &Tenant,
    client_id: &str,
    overlap_seconds: u32,
    by: By<'_>,
    now: i64,
) -> Result<(ClientSecret, i64), ClientError> {
    let client = find(svc, tenant, client_id)
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.chars().take(64).collect()))?;
    if client.kind != ClientKind::Confidential {
        return Err(invalid("a public client has no secret"));
    }
    if overlap_seconds > 30 * 86_400 {
        return Err(invalid("the overlap may be at most 30 days"));
    }
    let secret = ClientSecret(random_token());
    let until = now + i64::from(overlap_seconds) * 1000;
    let tx = svc.store.begin().await?;
    clients::rotate_secret(
        &tx,
        tenant.id,
        client_id,
        &secret_hash(&secret.0),
        until,
        now,
    )
    .await?;
    audit_client(
        svc,
        &tx,
        (tenant, by, now),
        "client.rotate_secret",
        client_id,
    )
    .await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok((secret, until))
}

pub async fn delete(
    svc: &Services,
    tenant: &Tenant,
    client_id: &str,
    by: By<'_>,
    now: i64,
) -> Result<(), ClientError> {
    let client = find(svc, tenant, client_id)
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.chars().take(64).collect()))?;
    let tx = svc.store.begin().await?;
    if !clients::delete(&tx, tenant.id, client_id).await? {
        return Err(ClientError::NotFound(client_id.chars().take(64).collect()));
    }
    crate::directory::access::forget_app(&tx, tenant, &client.id).await?;
    // Nothing the client was given outlives it: consents go, refresh tokens are revoked.
    crate::store::consents::delete_for_client(&tx, tenant.id, client_id).await?;
    crate::store::grants::revoke_for_client(&tx, tenant.id, client_id, None, now).await?;
    audit_client(svc, &tx, (tenant, by, now), "client.delete", client_id).await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_never_look_like_options() {
        for _ in 0..2000 {
            let id = new_client_id();
            assert_eq!(id.len(), 22);
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://user@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "myapp:/cb",
            "/relative",
            "https:///nohost",
            "https://app.example.com/a b",
            "http://localhost.evil.com/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claim_rules_name_a_custom_attribute_and_an_unregistered_claim() {
        let r = ClaimRule::parse(" attr.cost_centre = https://acme.example/cc ").unwrap();
        assert_eq!(r.attribute, "cost_centre");
        assert_eq!(r.claim, "https://acme.example/cc");
        assert_eq!(ClaimRule::parse(&r.to_text()).unwrap(), r);
        for bad in [
            "cost_centre=cc",
            "attr.Cost=cc",
            "attr.=cc",
            "attr.cost_centre",
            "attr.cost_centre=",
            "attr.cost_centre=1cc",
            "attr.cost_centre=c c",
            "attr.cost_centre=sub",
            "attr.cost_centre=email_verified",
            "attr.cost_centre=groups",
        ] {
            assert!(ClaimRule::parse(bad).is_err(), "{bad}");
        }
        let twice = vec!["attr.a=x".to_owned(), "attr.b=x".to_owned()];
        assert!(check_claim_rules(&twice).is_err());
        let many: Vec<String> = (0..=MAX_CLAIM_RULES)
            .map(|i| format!("attr.a=c{i}"))
            .collect();
        assert!(check_claim_rules(&many).is_err());
        let ok = vec!["".to_owned(), "attr.a = x".to_owned()];
        assert_eq!(check_claim_rules(&ok).unwrap(), vec!["attr.a=x".to_owned()]);
    }

    #[test]
    fn secrets_match_current_and_previous_within_overlap() {
        let mut c = Client {
            id: "x".into(),
            client_id: "c".into(),
            name: "n".into(),
            kind: ClientKind::Confidential,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            claim_rules: vec![],
            access_token_seconds: 300,
            refresh_token_seconds: 3600,
            require_consent: false,
            require_pkce: true,
            id_token_alg: Alg::Rs256,
            assigned_only: false,
            created_at: 0,
            updated_at: 0,
            secret_hash: Some(secret_hash("new")),
            previous_secret_hash: Some(secret_hash("old")),
            previous_secret_until: Some(1000),
        };
        assert!(c.secret_matches("new", 5000));
        assert!(c.secret_matches("old", 999));
        assert!(!c.secret_matches("old", 1000));
        assert!(!c.secret_matches("other", 0));
        assert!(!c.secret_matches("", 0));
        c.kind = ClientKind::Public;
        assert!(!c.secret_matches("new", 0));
    }
}
