//! Single sign-on answers: who the user is to this SP (NameID by the SP's format, mapped
//! attributes), signed with the tenant's RSA key. The signing key is opened once per change
//! epoch and kept in memory.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::response::{self, Assertion, OutAttribute, SigningKey, Status};
use super::sps::{AttributeSource, NameIdFormat, ServiceProvider};
use crate::directory::{Tenant, User};
use crate::keys::{self, Alg, KeyError};
use crate::login::session::Session;
use crate::services::Services;

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Sign(#[from] response::SignError),
    #[error("cannot encode the signing key: {0}")]
    Encode(#[from] openssl::error::ErrorStack),
}

/// The tenant's SAML signing key (its active RSA key), from memory or opened on a miss.
pub async fn signing_key(svc: &Services, tenant: &Tenant) -> Result<Arc<SigningKey>, SsoError> {
    if let Some(k) = svc.caches.saml_keys.get(&tenant.id) {
        return Ok(k);
    }
    let epoch = svc.caches.epoch();
    let (meta, pkey) =
        keys::active_private_key(&svc.store, &svc.keyring, tenant.id, Alg::Rs256).await?;
    let key = Arc::new(SigningKey {
        private_der: zeroize::Zeroizing::new(pkey.private_key_to_der()?),
        certificate_b64: super::metadata::pem_body(&meta.certificate_pem),
    });
    svc.caches
        .remember(&svc.caches.saml_keys, tenant.id, key.clone(), epoch);
    Ok(key)
}

/// The persistent NameID of `user` at `sp`: an HMAC under a key derived from the tenant's data
/// key, so it is stable for the pair, different for every SP, and reveals nothing.
pub fn pairwise_id(
    svc: &Services,
    tenant: &Tenant,
    sp_entity_id: &str,
    user: &User,
) -> Result<String, KeyError> {
    let key = svc
        .keyring
        .data_key_of(tenant)?
        .derive_mac_key("saml-persistent-nameid");
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(sp_entity_id.as_bytes());
    mac.update(b"\n");
    mac.update(user.id.to_string().as_bytes());
    Ok(crate::login::totp::hex(&mac.finalize().into_bytes()))
}

fn name_id(
    svc: &Services,
    tenant: &Tenant,
    sp: &ServiceProvider,
    user: &User,
) -> Result<String, KeyError> {
    Ok(match sp.config.name_id_format {
        NameIdFormat::Email => user.email.clone(),
        NameIdFormat::Persistent => pairwise_id(svc, tenant, &sp.entity_id, user)?,
        NameIdFormat::Transient => response::new_id(),
        NameIdFormat::Unspecified => user.username.clone(),
    })
}

fn attributes(sp: &ServiceProvider, user: &User) -> Vec<OutAttribute> {
    sp.config
        .attributes
        .iter()
        .map(|rule| OutAttribute {
            name: rule.name.clone(),
            friendly_name: rule.friendly_name.clone(),
            values: match rule.source {
                AttributeSource::Username => vec![user.username.clone()],
                AttributeSource::Email => vec![user.email.clone()],
                AttributeSource::DisplayName => vec![user.display_name.clone()],
                AttributeSource::UserId => vec![user.id.to_string()],
                // Directory groups arrive with the admin console; none yet.
                AttributeSource::Groups => Vec::new(),
            },
        })
        .collect()
}

/// Whom a Response goes to: the SP, its registered ACS, and the request answered (none for
/// IdP-initiated SSO).
pub struct Reply<'a> {
    pub sp: &'a ServiceProvider,
    pub acs_url: &'a str,
    pub in_response_to: Option<&'a str>,
}

/// A signed successful Response for `user`, signed in with `session`.
pub async fn success(
    svc: &Services,
    tenant: &Tenant,
    reply: &Reply<'_>,
    session: &Session,
    user: &User,
    now: i64,
) -> Result<String, SsoError> {
    let key = signing_key(svc, tenant).await?;
    let idp = super::metadata::entity_id(svc, tenant);
    let name_id = name_id(svc, tenant, reply.sp, user)?;
    let attributes = attributes(reply.sp, user);
    let sp = reply.sp.clone();
    let acs_url = reply.acs_url.to_owned();
    let in_response_to = reply.in_response_to.map(str::to_owned);
    let session_index = session.id.clone();
    let authn_instant_ms = session.auth_time;
    let mfa = session.amr.split(' ').any(|m| m == "otp" || m == "mfa");
    run_blocking(move || {
        response::signed_success(
            &Assertion {
                idp_entity_id: &idp,
                sp: &sp,
                acs_url: &acs_url,
                in_response_to: in_response_to.as_deref(),
                name_id: &name_id,
                name_id_format: sp.config.name_id_format.urn(),
                session_index: &session_index,
                authn_instant_ms,
                mfa,
                attributes: &attributes,
                now_ms: now,
            },
            &key,
        )
    })
    .await
}

/// A signed error Response to a trusted SP's registered ACS.
pub async fn error(
    svc: &Services,
    tenant: &Tenant,
    acs_url: &str,
    in_response_to: Option<&str>,
    status: Status,
    message: &str,
    now: i64,
) -> Result<String, SsoError> {
    let key = signing_key(svc, tenant).await?;
    let idp = super::metadata::entity_id(svc, tenant);
    let acs_url = acs_url.to_owned();
    let in_response_to = in_response_to.map(str::to_owned);
    let message = message.to_owned();
    run_blocking(move || {
        response::signed_error(
            &idp,
            &acs_url,
            in_response_to.as_deref(),
            status,
            Some(&message),
            &key,
            now,
        )
    })
    .await
}

async fn run_blocking(
    f: impl FnOnce() -> Result<String, response::SignError> + Send + 'static,
) -> Result<String, SsoError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Records that `user` was signed in to `sp` (an audit entry).
pub async fn audit_sign_in(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
    sp_entity_id: &str,
    idp_initiated: bool,
    origin: &crate::audit::Origin,
    now: i64,
) -> Result<(), SsoError> {
    use crate::audit::{Actor, Event, Outcome};
    let key = svc.keyring.chain_key_of(tenant)?;
    let tx = svc.store.begin().await.map_err(KeyError::from)?;
    crate::audit::record(
        &tx,
        &key,
        tenant.id,
        Event {
            actor: Actor::User(user.id),
            subject: Some(format!("user:{}", user.id)),
            operation: "sso.saml",
            outcome: Outcome::Success,
            origin,
            detail: Some(serde_json::json!({
                "sp": sp_entity_id, "idp_initiated": idp_initiated,
            })),
        },
        now,
    )
    .await
    .map_err(KeyError::from)?;
    tx.commit().await.map_err(KeyError::from)?;
    Ok(())
}
