//! Single logout, SP-initiated (SAML Profiles §4.4): a LogoutRequest from a registered SP —
//! signed with its registered certificate whenever it has one — ends the browser's IdP session
//! when that session signed in to the SP under the NameID the request names, and is answered
//! with a signed LogoutResponse at the SP's registered SLO endpoint (Redirect: signed query;
//! POST: enveloped signature).

use super::request::{self, RequestError};
use super::response::{self, Status};
use super::sps::{BINDING_POST, ServiceProvider};
use super::sso::{Inbound, Message, SsoError, signing_key};
use crate::directory::Tenant;
use crate::login::session::Session;
use crate::services::Services;

/// How the browser leaves.
pub enum Outcome {
    /// The SP cannot be answered: a page says why.
    Page(String),
    /// Redirect binding: to this URL (LogoutResponse in the signed query).
    Redirect(String),
    /// POST binding: this signed LogoutResponse, posted to `url`.
    Post {
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
    let (inbound, relay_state) = (message.binding, message.relay_state);
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
    let certs = &sp.config.signing_certificates;
    if !certs.is_empty() {
        let verified = match inbound {
            Inbound::Redirect { raw_query } => request::verify_redirect_signature(raw_query, certs),
            Inbound::Post if req.signed => {
                let (xml, id, certs) = (xml.clone(), req.id.clone(), certs.clone());
                tokio::task::spawn_blocking(move || {
                    request::verify_post_signature(&xml, &id, &certs)
                })
                .await
                .unwrap_or(Err(RequestError::Signature("verification failed")))
            }
            Inbound::Post => Err(RequestError::Signature("it is not signed")),
        };
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
    let (status, end_session) = if req.version != "2.0"
        || req.destination.as_deref().is_some_and(|d| d != slo_url)
        || !fresh
    {
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
                let index_ok =
                    req.session_indexes.is_empty() || req.session_indexes.contains(&s.id);
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
        let xml = tokio::task::spawn_blocking(move || {
            response::signed_logout_response(&idp, &dest, &irt, status, &key, now)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        Outcome::Post {
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
