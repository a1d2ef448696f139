//! Single sign-on answers: who the user is to this SP (NameID by the SP's format, mapped
//! attributes), signed with the tenant's RSA key. The signing key is opened once per change
//! epoch and kept in memory.

use std::collections::HashMap;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::response::{self, Assertion, OutAttribute, SigningKey, Status};
use super::sps::{AttributeSource, NameIdFormat, ServiceProvider};
use crate::directory::{Tenant, User};
use crate::keys::{self, Alg, KeyError};
use crate::login::session::Session;
use crate::services::Services;
use crate::store::saml_requests::RequestRow;

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Sign(#[from] response::SignError),
    #[error("cannot encode the signing key: {0}")]
    Encode(#[from] openssl::error::ErrorStack),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The tenant's SAML signing key (its active RSA key), from memory or opened on a miss.
pub async fn signing_key(svc: &Services, tenant: &Tenant) -> Result<Arc<SigningKey>, SsoError> {
    svc.caches
        .get_or_load(&svc.caches.saml_keys, tenant.id, async || {
            let (meta, pkey) =
                keys::active_private_key(&svc.store, &svc.keyring, tenant.id, Alg::Rs256).await?;
            Ok(SigningKey {
                private_der: zeroize::Zeroizing::new(pkey.private_key_to_der()?),
                certificate_b64: super::metadata::pem_body(&meta.certificate_pem),
            })
        })
        .await
}

/// An HMAC, under a key derived (for `label`) from the tenant's data key, of an SP and an id:
/// stable for the pair, different for every SP, and revealing nothing.
fn per_sp(
    svc: &Services,
    tenant: &Tenant,
    label: &str,
    sp_entity_id: &str,
    id: &str,
) -> Result<String, KeyError> {
    let key = svc.keyring.data_key_of(tenant)?.derive_mac_key(label);
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(sp_entity_id.as_bytes());
    mac.update(b"\n");
    mac.update(id.as_bytes());
    Ok(crate::login::totp::hex(&mac.finalize().into_bytes()))
}

/// The persistent NameID of `user` at `sp` (pairwise).
pub fn pairwise_id(
    svc: &Services,
    tenant: &Tenant,
    sp_entity_id: &str,
    user: &User,
) -> Result<String, KeyError> {
    per_sp(
        svc,
        tenant,
        "saml-persistent-nameid",
        sp_entity_id,
        &user.id.to_string(),
    )
}

/// The SessionIndex an SP is given for a session: per SP, so SPs cannot link users through it.
pub fn session_index(
    svc: &Services,
    tenant: &Tenant,
    sp_entity_id: &str,
    session_id: &str,
) -> Result<String, KeyError> {
    Ok(format!(
        "_{}",
        &per_sp(svc, tenant, "saml-session-index", sp_entity_id, session_id)?[..40]
    ))
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

/// The names of `user`'s groups, read only when the SP maps the `groups` source.
async fn groups_for(
    svc: &Services,
    tenant: &Tenant,
    sp: &ServiceProvider,
    user: &User,
) -> Result<Vec<String>, crate::store::StoreError> {
    if sp
        .config
        .attributes
        .iter()
        .any(|r| r.source == AttributeSource::Groups)
    {
        crate::directory::groups::names_of(&svc.store, tenant, user.id).await
    } else {
        Ok(Vec::new())
    }
}

/// The user's custom attribute values by attribute name, read only when the SP maps one.
async fn custom_for(
    svc: &Services,
    tenant: &Tenant,
    sp: &ServiceProvider,
    user: &User,
) -> Result<HashMap<String, String>, crate::store::StoreError> {
    use crate::directory::attributes;
    let mapped = sp
        .config
        .attributes
        .iter()
        .any(|r| matches!(r.source, AttributeSource::Custom(_)));
    if !mapped {
        return Ok(HashMap::new());
    }
    let schema = attributes::list(&svc.store, tenant).await?;
    let mut values = attributes::values_of(&svc.store, tenant, user.id).await?;
    Ok(schema
        .into_iter()
        .filter_map(|a| Some((a.name, values.remove(&a.id)?)))
        .collect())
}

fn attributes(
    sp: &ServiceProvider,
    user: &User,
    groups: &[String],
    custom: &HashMap<String, String>,
) -> Vec<OutAttribute> {
    sp.config
        .attributes
        .iter()
        .filter_map(|rule| {
            let values = match &rule.source {
                AttributeSource::Username => vec![user.username.clone()],
                AttributeSource::Email => vec![user.email.clone()],
                AttributeSource::DisplayName => vec![user.display_name.clone()],
                AttributeSource::UserId => vec![user.id.to_string()],
                AttributeSource::Groups => groups.to_vec(),
                // A custom attribute the user has no value for is left out.
                AttributeSource::Custom(name) => vec![custom.get(name)?.clone()],
            };
            Some(OutAttribute {
                name: rule.name.clone(),
                friendly_name: rule.friendly_name.clone(),
                values,
            })
        })
        .collect()
}

/// Whom a Response goes to: the SP, its registered ACS, and the request answered (none for
/// IdP-initiated SSO).
pub struct Reply<'a> {
    pub sp: &'a ServiceProvider,
    pub acs_url: &'a str,
    pub request: Answering<'a>,
}

/// The request a Response answers, and whether it is stored yet.
#[derive(Clone, Copy)]
pub enum Answering<'a> {
    /// IdP-initiated: no request.
    Nothing,
    /// Received just now and not stored: stored answered with the Response (one write).
    Fresh(&'a RequestRow),
    /// Stored and waiting for the user to sign in: marked answered.
    Waiting(&'a RequestRow),
}

impl Answering<'_> {
    fn in_response_to(&self) -> Option<&str> {
        match self {
            Answering::Nothing => None,
            Answering::Fresh(r) | Answering::Waiting(r) => Some(&r.request_id),
        }
    }

    /// Stores the request as answered at `now`; false when it was answered (or received) before.
    async fn mark_answered(
        &self,
        h: &impl crate::store::Handle,
        tenant: &Tenant,
        now: i64,
    ) -> Result<bool, crate::store::StoreError> {
        use crate::store::{StoreError, saml_requests};
        match self {
            Answering::Nothing => Ok(true),
            Answering::Fresh(r) => match saml_requests::insert(h, tenant.id, r, Some(now)).await {
                Ok(()) => Ok(true),
                Err(StoreError::Conflict(_)) => Ok(false),
                Err(e) => Err(e),
            },
            Answering::Waiting(r) => saml_requests::answer(h, tenant.id, &r.handle_hash, now).await,
        }
    }
}

/// An answer, or why there is none.
pub enum Answered {
    /// The signed Response to deliver.
    Signed(String),
    /// The request was answered before (a replay, or another tab of the same browser).
    AlreadyAnswered,
}

/// A signed successful Response for `user`, signed in with `session`. In one transaction (see
/// [`super::answers`]) the request is marked answered, the session is remembered as signed in
/// to the SP (for single logout) and the sign-in is audited; nothing is answered before that
/// commits.
pub async fn success(
    svc: &Services,
    tenant: &Tenant,
    reply: &Reply<'_>,
    session: &Session,
    user: &User,
    origin: &crate::audit::Origin,
    now: i64,
) -> Result<Answered, SsoError> {
    let key = signing_key(svc, tenant).await?;
    let chain_key = svc.keyring.chain_key_of(tenant)?;
    let idp = super::metadata::entity_id(svc, tenant);
    let name_id = name_id(svc, tenant, reply.sp, user)?;
    let session_index = session_index(svc, tenant, &reply.sp.entity_id, &session.id)?;
    let request = match reply.request {
        Answering::Nothing => super::answers::Answered::Nothing,
        Answering::Fresh(r) => super::answers::Answered::Fresh(r.clone()),
        Answering::Waiting(r) => super::answers::Answered::Waiting(r.handle_hash.clone()),
    };
    let groups = groups_for(svc, tenant, reply.sp, user).await?;
    let custom = custom_for(svc, tenant, reply.sp, user).await?;
    let committing = svc
        .sso_answers
        .submit(super::answers::Record {
            tenant: tenant.id,
            chain_key,
            request,
            session_id: session.id.clone(),
            sp_entity_id: reply.sp.entity_id.clone(),
            name_id: name_id.clone(),
            user: user.id,
            origin: origin.clone(),
            now,
        })
        .await?;
    // Signed here, on the runtime thread, while the record commits: about a millisecond of CPU
    // for a response of bounded size, like a TLS handshake's signature. Handing it to another
    // thread and back, and signing only after the commit, cost over a third of the throughput
    // on two cores (see `bench/saml` and the README). It is delivered only once committed.
    let xml = response::signed_success(
        &Assertion {
            idp_entity_id: &idp,
            sp: reply.sp,
            acs_url: reply.acs_url,
            in_response_to: reply.request.in_response_to(),
            name_id: &name_id,
            name_id_format: reply.sp.config.name_id_format.urn(),
            session_index: &session_index,
            authn_instant_ms: session.auth_time,
            mfa: session.amr.split(' ').any(|m| m == "otp" || m == "mfa"),
            attributes: &attributes(reply.sp, user, &groups, &custom),
            now_ms: now,
        },
        &key,
    );
    if !committing.stored().await? {
        return Ok(Answered::AlreadyAnswered);
    }
    Ok(Answered::Signed(xml?))
}

/// A signed error Response answering a request: the request is marked answered first.
pub async fn refuse(
    svc: &Services,
    tenant: &Tenant,
    reply: &Reply<'_>,
    status: Status,
    message: &str,
    now: i64,
) -> Result<Answered, SsoError> {
    if !reply.request.mark_answered(&svc.store, tenant, now).await? {
        return Ok(Answered::AlreadyAnswered);
    }
    let in_response_to = reply.request.in_response_to();
    error(
        svc,
        tenant,
        reply.acs_url,
        in_response_to,
        status,
        message,
        now,
    )
    .await
    .map(Answered::Signed)
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
    Ok(response::signed_error(
        &idp,
        acs_url,
        in_response_to,
        status,
        Some(message),
        &key,
        now,
    )?)
}

/// How far an AuthnRequest's IssueInstant may lie in the past, and in the future (clock skew).
const REQUEST_MAX_AGE_MS: i64 = 5 * 60_000;
const REQUEST_MAX_FUTURE_MS: i64 = 60_000;
/// How long a received request waits for the user to sign in.
pub const PENDING_MS: i64 = 10 * 60_000;
/// Longest RelayState passed through (the binding says 80 bytes; real SPs send more).
pub const MAX_RELAY_STATE: usize = 256;

/// A protocol message as it arrived: its binding, the `SAMLRequest` parameter as sent, and the
/// RelayState.
pub struct Message<'a> {
    pub binding: Inbound<'a>,
    /// `SAMLRequest` or `SAMLResponse`: the parameter the message came in.
    pub param: &'a str,
    pub saml_request: &'a str,
    pub relay_state: Option<&'a str>,
}

impl Message<'_> {
    /// The XML, through the inbound gate (and the RelayState length checked); `Err` is a
    /// sentence for the page.
    pub fn xml(&self) -> Result<String, String> {
        if self.relay_state.is_some_and(|r| r.len() > MAX_RELAY_STATE) {
            return Err("The application sent a RelayState that is too long.".into());
        }
        match self.binding {
            Inbound::Redirect { .. } => super::inbound::decode_redirect(self.saml_request),
            Inbound::Post => super::inbound::decode_post(self.saml_request),
        }
        .map_err(|e| format!("The request cannot be read: {e}."))
    }

    /// The message's signature checked against `certs`: the query signature (Redirect), or the
    /// enveloped one of the document `xml` whose root has `root_id` (POST, when `enveloped`).
    /// `None` when the message carries no signature.
    pub async fn signature(
        &self,
        cpu: &crate::cpu::CpuPool,
        xml: &str,
        root_id: &str,
        enveloped: bool,
        certs: &[String],
    ) -> Option<Result<(), super::request::RequestError>> {
        use super::request::{self, RequestError};
        match self.binding {
            Inbound::Redirect { raw_query } => raw_query
                .contains("Signature=")
                .then(|| request::verify_redirect_signature(self.param, raw_query, certs)),
            Inbound::Post if enveloped => {
                let (xml, id, certs) = (xml.to_owned(), root_id.to_owned(), certs.to_vec());
                Some(
                    cpu.run(move || request::verify_post_signature(&xml, &id, &certs))
                        .await
                        .unwrap_or(Err(RequestError::Signature("verification failed"))),
                )
            }
            Inbound::Post => None,
        }
    }
}

/// Which binding a request came on, with what it needs for signature checks.
#[derive(Clone, Copy)]
pub enum Inbound<'a> {
    /// The raw query string, as the SP signed it.
    Redirect {
        raw_query: &'a str,
    },
    Post,
}

/// Why a request is not answered with an assertion.
pub enum Refusal {
    /// The SP or its ACS cannot be trusted: say so on a page, send nothing anywhere.
    Page(String),
    /// A trusted SP at a registered ACS: a signed error Response goes back.
    Respond {
        sp: Box<ServiceProvider>,
        acs_url: String,
        in_response_to: String,
        relay_state: Option<String>,
        status: Status,
        message: &'static str,
    },
}

/// A request that checked out; not stored yet (see [`Answering::Fresh`]).
pub struct Received {
    pub sp: ServiceProvider,
    pub pending: RequestRow,
    pub handle: RequestHandle,
}

/// What brings a browser back to its waiting request after signing in. The public part goes in
/// the URL and the secret in a short-lived cookie named after it, so the request is continued
/// only in the browser that brought it: a leaked URL continues nothing. The stored row holds a
/// hash of both.
pub struct RequestHandle {
    pub public: String,
    pub secret: String,
}

impl RequestHandle {
    const PUBLIC_LEN: usize = 16;

    fn new() -> RequestHandle {
        use base64::Engine;
        let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(crate::crypto::random_bytes::<12>());
        RequestHandle {
            public,
            secret: crate::crypto::random_token(),
        }
    }

    /// A handle from the URL's public part and the cookie's secret; `None` for a public part
    /// that is not one of ours (it names a cookie, so it is checked strictly).
    pub fn from_parts(public: &str, secret: &str) -> Option<RequestHandle> {
        RequestHandle::valid_public(public).then(|| RequestHandle {
            public: public.to_owned(),
            secret: secret.to_owned(),
        })
    }

    pub fn valid_public(public: &str) -> bool {
        public.len() == RequestHandle::PUBLIC_LEN
            && public
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    pub fn hash(&self) -> String {
        handle_hash(&format!("{}.{}", self.public, self.secret))
    }
}

pub fn handle_hash(handle: &str) -> String {
    let mut h = <Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, b"latchkey/v1/saml-request-handle/");
    sha2::Digest::update(&mut h, handle.as_bytes());
    crate::login::totp::hex(&sha2::Digest::finalize(h))
}

/// Whether a request's IssueInstant is recent (and not from the future beyond clock skew).
pub fn request_is_fresh(issue_instant: &str, now: i64) -> bool {
    parse_instant(issue_instant)
        .is_some_and(|t| t >= now - REQUEST_MAX_AGE_MS && t <= now + REQUEST_MAX_FUTURE_MS)
}

fn parse_instant(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Checks an AuthnRequest (SAML Profiles §4.1.4.1). `want_signed` is the tenant's policy.
/// Nothing is stored yet: the request is stored when it is answered, or when it waits for the
/// user to sign in, and a replayed ID is refused then.
pub async fn receive(
    svc: &Services,
    tenant: &Tenant,
    message: &Message<'_>,
    want_signed: bool,
    now: i64,
) -> Result<Received, Refusal> {
    use super::request;
    let page = |m: &str| Refusal::Page(m.to_owned());
    let relay_state = message.relay_state;
    let xml = message.xml().map_err(Refusal::Page)?;
    let req = request::parse(&xml)
        .map_err(|e| Refusal::Page(format!("The sign-in request cannot be used: {e}.")))?;
    let sp = super::sps::find(svc, tenant, &req.issuer)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "saml: SP lookup");
            page("The sign-in service could not check the application.")
        })?
        .ok_or_else(|| {
            page("The application that sent you here is not registered with this sign-in service.")
        })?;
    // The signature: checked whenever present, required when the SP or the tenant says so.
    let required = want_signed || sp.config.require_signed_requests;
    let certs = &sp.config.signing_certificates;
    let signature = message
        .signature(&svc.cpu, &xml, &req.id, req.signed, certs)
        .await;
    match signature {
        Some(Err(e)) => {
            tracing::warn!(tenant = %tenant.slug, sp = %sp.entity_id, error = %e, "saml: bad request signature");
            return Err(page(
                "The sign-in request's signature is not valid for this application.",
            ));
        }
        None if required => {
            return Err(page(
                "This application must sign its sign-in requests, and this one is not signed.",
            ));
        }
        _ => {}
    }
    // The ACS comes only from the registration.
    if req
        .protocol_binding
        .as_deref()
        .is_some_and(|b| b != super::sps::BINDING_POST)
    {
        return Err(page(
            "The application asked for a response binding this service does not use.",
        ));
    }
    let Some(acs) = sp.acs(req.acs_url.as_deref(), req.acs_index).cloned() else {
        return Err(page(
            "The application asked to send you to an address it has not registered. For your \
             safety you were not sent there.",
        ));
    };
    let respond = |status, message| Refusal::Respond {
        sp: Box::new(sp.clone()),
        acs_url: acs.url.clone(),
        in_response_to: req.id.clone(),
        relay_state: relay_state.map(str::to_owned),
        status,
        message,
    };
    if req.version != "2.0" {
        return Err(respond(Status::Requester, "only SAML 2.0 is supported"));
    }
    let sso_url = format!(
        "{}{}",
        svc.public_url.tenant_origin(tenant.slug.as_str()),
        super::paths::SSO
    );
    if req.destination.as_deref().is_some_and(|d| d != sso_url) {
        return Err(respond(
            Status::Requester,
            "the Destination is not this IdP",
        ));
    }
    // A signed message must say where it was sent (Bindings §3.4.5.2, §3.5.5.2).
    if signature.is_some() && req.destination.is_none() {
        return Err(respond(
            Status::Requester,
            "a signed request must carry its Destination",
        ));
    }
    if !request_is_fresh(&req.issue_instant, now) {
        return Err(respond(
            Status::Requester,
            "the request is stale or from the future",
        ));
    }

    if let Some(f) = req.name_id_format.as_deref() {
        let wanted = super::sps::NameIdFormat::parse(f);
        if wanted != Some(sp.config.name_id_format)
            && wanted != Some(super::sps::NameIdFormat::Unspecified)
        {
            return Err(respond(
                Status::InvalidNameIdPolicy,
                "this SP is configured for another NameID format",
            ));
        }
    }
    let handle = RequestHandle::new();
    let pending = RequestRow {
        sp_entity_id: sp.entity_id.clone(),
        request_id: req.id.clone(),
        handle_hash: handle.hash(),
        acs_url: acs.url.clone(),
        relay_state: relay_state.map(str::to_owned),
        force_authn: req.force_authn,
        is_passive: req.is_passive,
        received_at: now,
        expires_at: now + PENDING_MS,
    };
    Ok(Received {
        sp,
        pending,
        handle,
    })
}
