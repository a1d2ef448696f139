//! Single logout, SP-initiated (SAML Profiles §4.4): a LogoutRequest from a registered SP —
//! signed with its registered certificate whenever it has one — ends the browser's IdP session
//! when that session signed in to the SP under the NameID the request names, and is answered
//! with a signed LogoutResponse at the SP's registered SLO endpoint (Redirect: signed query;
//! POST: enveloped signature).

use super::request::{self, RequestError};
use super::response::{self, Status};
use super::sps::{BINDING_POST, ServiceProvider};
use super::sso::{Message, SsoError, signing_key};
use crate::directory::Tenant;
use crate::login::session::Session;
use crate::services::Services;

/// How the browser leaves.
pub enum Outcome {
    /// The SP cannot be answered: a page says why.
    Page(String),
    /// Redirect binding: to this URL (LogoutResponse in the signed query).
    Redirect(String),
    /// POST binding: this signed message, posted to `url` as `param` (`SAMLRequest` or
    /// `SAMLResponse`).
    Post {
        param: &'static str,
        url: String,
        xml: String,
        relay_state: Option<String>,
        sp: Box<ServiceProvider>,
    },
}

/// What a LogoutRequest decided: where the browser goes, and whether its session ends.
pub struct Decision {
    pub outcome: Outcome,
    pub end_session: bool,
    /// The SP that asked (for the audit entry).
    pub sp_entity_id: Option<String>,
}

fn page(message: &str) -> Decision {
    Decision {
        outcome: Outcome::Page(message.to_owned()),
        end_session: false,
        sp_entity_id: None,
    }
}

/// Handles one LogoutRequest. `session` is the browser's session on this tenant, if any.
pub async fn logout_request(
    svc: &Services,
    tenant: &Tenant,
    message: &Message<'_>,
    session: Option<&Session>,
    now: i64,
) -> Result<Decision, SsoError> {
    let relay_state = message.relay_state;
    let xml = match message.xml() {
        Ok(xml) => xml,
        Err(why) => return Ok(page(&why)),
    };
    let req = match request::parse_logout(&xml) {
        Ok(r) => r,
        Err(e) => return Ok(page(&format!("The sign-out request cannot be used: {e}."))),
    };
    let Some(sp) = super::sps::find(svc, tenant, &req.issuer)
        .await
        .ok()
        .flatten()
    else {
        return Ok(page(
            "The application that sent you here is not registered with this sign-in service.",
        ));
    };
    let Some(endpoint) = sp.config.slo.first().cloned() else {
        return Ok(page(
            "The application has no registered sign-out address to answer to.",
        ));
    };
    // A LogoutRequest must be authenticated (Profiles §4.4.4.1): by the SP's signature.
    let certs = &sp.config.signing_certificates;
    if certs.is_empty() {
        return Ok(page(
            "This application has no registered signing certificate, so its sign-out \
             requests cannot be checked. You are still signed in.",
        ));
    }
    {
        let verified = message
            .signature(&svc.cpu, &xml, &req.id, req.signed, certs)
            .await
            .unwrap_or(Err(RequestError::Signature("it is not signed")));
        if let Err(e) = verified {
            tracing::warn!(tenant = %tenant.slug, sp = %sp.entity_id, error = %e, "saml: bad logout signature");
            return Ok(page(
                "The sign-out request is not signed with this application's certificate. You \
                 are still signed in.",
            ));
        }
    }
    let slo_url = format!(
        "{}{}",
        svc.public_url.tenant_origin(tenant.slug.as_str()),
        super::paths::SLO
    );
    let fresh = super::sso::request_is_fresh(&req.issue_instant, now);
    // LogoutRequest IDs are remembered like AuthnRequest IDs: a replay is refused.
    let seen = crate::store::saml_requests::RequestRow {
        sp_entity_id: sp.entity_id.clone(),
        request_id: req.id.clone(),
        handle_hash: super::sso::handle_hash(&crate::crypto::random_token()),
        acs_url: String::new(),
        relay_state: None,
        force_authn: false,
        is_passive: false,
        received_at: now,
        expires_at: now + super::sso::PENDING_MS,
    };
    match crate::store::saml_requests::insert(&svc.store, tenant.id, &seen, Some(now)).await {
        Ok(()) => {}
        Err(crate::store::StoreError::Conflict(_)) => {
            return Ok(page(
                "This sign-out request was already used. You are still signed in.",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // Signed, so it must name where it was sent (Bindings §3.4.5.2, §3.5.5.2).
    let (status, end_session) =
        if req.version != "2.0" || req.destination.as_deref() != Some(slo_url.as_str()) || !fresh {
            (Status::Requester, false)
        } else {
            match session {
                // Nothing to end here: the user is already signed out of the IdP.
                None => (Status::Success, false),
                Some(s) => {
                    let given = crate::store::saml_requests::participant_name_id(
                        &svc.store,
                        tenant.id,
                        &s.id,
                        &sp.entity_id,
                    )
                    .await?;
                    let ours = super::sso::session_index(svc, tenant, &sp.entity_id, &s.id)?;
                    let index_ok =
                        req.session_indexes.is_empty() || req.session_indexes.contains(&ours);
                    if given.as_deref() == Some(req.name_id.as_str()) && index_ok {
                        (Status::Success, true)
                    } else {
                        // Another person's, or another browser's, session: left alone.
                        (Status::UnknownPrincipal, false)
                    }
                }
            }
        };
    let key = signing_key(svc, tenant).await?;
    let idp = super::metadata::entity_id(svc, tenant);
    let destination = endpoint
        .response_url
        .clone()
        .unwrap_or_else(|| endpoint.url.clone());
    let outcome = if endpoint.binding == BINDING_POST {
        let (dest, irt, rs) = (destination.clone(), req.id.clone(), relay_state);
        let xml = response::signed_logout_response(&idp, &dest, &irt, status, &key, now)?;
        Outcome::Post {
            param: "SAMLResponse",
            url: destination,
            xml,
            relay_state: rs.map(str::to_owned),
            sp: Box::new(sp.clone()),
        }
    } else {
        let query = response::logout_response_query(
            &idp,
            &destination,
            &req.id,
            status,
            relay_state,
            &key,
            now,
        )?;
        let sep = if destination.contains('?') { '&' } else { '?' };
        Outcome::Redirect(format!("{destination}{sep}{query}"))
    };
    Ok(Decision {
        outcome,
        end_session,
        sp_entity_id: Some(sp.entity_id.clone()),
    })
}

/// One SP still to be signed out of, in an IdP-initiated logout.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Hop {
    sp: String,
    name_id: String,
    session_id: String,
}

/// An IdP-initiated logout walk between two SPs: whose answer (to which request) is awaited,
/// and who is next.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Walk {
    awaiting_sp: String,
    awaiting_request: String,
    hops: Vec<Hop>,
}

/// How long an IdP-initiated logout walk waits for each SP's answer.
const WALK_MS: i64 = 10 * 60_000;

/// Starts the IdP-initiated logout of a session that just ended: a LogoutRequest to each SP it
/// signed in to that has an SLO endpoint, one after the other (front channel). `None` when
/// there is no SP to tell.
pub async fn begin_idp_logout(
    svc: &Services,
    tenant: &Tenant,
    session_id: &str,
    now: i64,
) -> Result<Option<Outcome>, SsoError> {
    use crate::store::saml_requests;
    let hops: Vec<Hop> = saml_requests::participants(&svc.store, tenant.id, session_id)
        .await?
        .into_iter()
        .map(|(sp, name_id)| Hop {
            sp,
            name_id,
            session_id: session_id.to_owned(),
        })
        .collect();
    saml_requests::delete_participants(&svc.store, tenant.id, session_id).await?;
    next_hop(svc, tenant, hops, now).await
}

/// Sends the browser to the next SP of the walk. Each hop gets a new random handle (its
/// RelayState), under which the walk remembers whose answer, to which request, it awaits.
async fn next_hop(
    svc: &Services,
    tenant: &Tenant,
    mut hops: Vec<Hop>,
    now: i64,
) -> Result<Option<Outcome>, SsoError> {
    while !hops.is_empty() {
        let hop = hops.remove(0);
        let Some(sp) = super::sps::find(svc, tenant, &hop.sp).await.ok().flatten() else {
            continue;
        };
        let Some(endpoint) = sp.config.slo.first().cloned() else {
            continue;
        };
        let request_id = response::new_id();
        let handle = crate::crypto::random_token();
        let walk = Walk {
            awaiting_sp: sp.entity_id.clone(),
            awaiting_request: request_id.clone(),
            hops,
        };
        crate::store::saml_requests::put_logout(
            &svc.store,
            tenant.id,
            &super::sso::handle_hash(&handle),
            &serde_json::to_string(&walk).unwrap_or_else(|_| "{}".into()),
            now + WALK_MS,
        )
        .await?;
        let key = signing_key(svc, tenant).await?;
        let idp = super::metadata::entity_id(svc, tenant);
        let session_index = super::sso::session_index(svc, tenant, &sp.entity_id, &hop.session_id)?;
        let request = response::LogoutRequestOut {
            id: &request_id,
            idp_entity_id: &idp,
            destination: &endpoint.url,
            name_id: &hop.name_id,
            name_id_format: sp.config.name_id_format.urn(),
            session_index: &session_index,
            now_ms: now,
        };
        return Ok(Some(if endpoint.binding == BINDING_POST {
            let xml = response::signed_logout_request(&request, &key)?;
            Outcome::Post {
                param: "SAMLRequest",
                url: endpoint.url.clone(),
                xml,
                relay_state: Some(handle),
                sp: Box::new(sp),
            }
        } else {
            let query = response::logout_request_query(&request, Some(&handle), &key)?;
            let sep = if endpoint.url.contains('?') { '&' } else { '?' };
            Outcome::Redirect(format!("{}{sep}{query}", endpoint.url))
        }));
    }
    Ok(None)
}

/// An SP's LogoutResponse to our LogoutRequest: it must come from the SP whose turn it is,
/// answer our request, and be signed when the SP has a certificate; then on to the next SP
/// (`None` when the walk is over).
pub async fn logout_response(
    svc: &Services,
    tenant: &Tenant,
    message: &Message<'_>,
    now: i64,
) -> Result<Option<Outcome>, SsoError> {
    let refused = |why: &str| Ok(Some(Outcome::Page(why.to_owned())));
    let xml = match message.xml() {
        Ok(xml) => xml,
        Err(why) => return refused(&why),
    };
    let Ok(resp) = request::parse_logout_response(&xml) else {
        return refused("The application's sign-out answer cannot be used.");
    };
    let Some(handle) = message.relay_state.filter(|h| h.len() <= 64) else {
        return Ok(None);
    };
    // Checked before it is consumed: a forged answer must not end the walk.
    let handle_hash = super::sso::handle_hash(handle);
    let Some(walk) =
        crate::store::saml_requests::peek_logout(&svc.store, tenant.id, &handle_hash, now).await?
    else {
        return Ok(None);
    };
    let walk: Walk = serde_json::from_str(&walk).unwrap_or_default();
    if resp.issuer != walk.awaiting_sp
        || resp.in_response_to.as_deref() != Some(walk.awaiting_request.as_str())
    {
        return refused("The sign-out answer does not answer this service's request.");
    }
    let Some(sp) = super::sps::find(svc, tenant, &resp.issuer)
        .await
        .ok()
        .flatten()
    else {
        return refused("The sign-out answer comes from an application that is not registered.");
    };
    let certs = &sp.config.signing_certificates;
    if !certs.is_empty() {
        let verified = message
            .signature(&svc.cpu, &xml, &resp.id, resp.signed, certs)
            .await
            .unwrap_or(Err(RequestError::Signature("it is not signed")));
        if verified.is_err() {
            return refused(
                "The application's sign-out answer is not signed with its certificate.",
            );
        }
    }
    if crate::store::saml_requests::take_logout(&svc.store, tenant.id, &handle_hash, now)
        .await?
        .is_none()
    {
        // Answered twice at once: the first answer moves the walk on.
        return Ok(None);
    }
    next_hop(svc, tenant, walk.hops, now).await
}
