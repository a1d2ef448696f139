//! RP-Initiated Logout 1.0: the checks on an end-session request. The browser session itself is
//! ended by the web layer through `login::flow::logout`.
//!
//! - `id_token_hint`, when given, must be an ID token this tenant signed (current or previous
//!   key; expired is fine). A hint that does not verify makes the request a page, never a
//!   redirect.
//! - `post_logout_redirect_uri` is followed only when it exactly matches one the client
//!   registered; the client is known from the hint's `aud` or from `client_id` (which must then
//!   be among the hint's audiences).
//! - Without a valid hint for the signed-in user, the user is asked to confirm (the request may
//!   come from anyone's page).

use std::collections::HashMap;

use super::clients::{self, Client};
use crate::directory::Tenant;
use crate::services::Services;

/// An end-session request that checked out.
#[derive(Debug)]
pub struct EndSession {
    /// `sub` of a valid `id_token_hint`: the person the relying party says is leaving.
    pub hint_sub: Option<String>,
    /// The relying party, when it could be identified.
    pub client: Option<Client>,
    /// Where to send the browser afterwards (the registered URI plus `state`).
    pub redirect_to: Option<String>,
}

impl EndSession {
    /// What the audit entry of the logout records about the request.
    pub fn audit_detail(&self) -> serde_json::Value {
        serde_json::json!({
            "rp_initiated": true,
            "client_id": self.client.as_ref().map(|c| c.client_id.as_str()),
            "id_token_hint": self.hint_sub.is_some(),
        })
    }

    /// Whether this request may end `user`'s session without asking.
    pub fn speaks_for(&self, user: &str) -> bool {
        self.hint_sub.as_deref() == Some(user)
    }
}

/// Checks the request; `Err` is a message for the error page.
pub async fn check(
    svc: &Services,
    tenant: &Tenant,
    params: &HashMap<String, String>,
) -> Result<EndSession, String> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("state").is_some_and(|s| s.len() > 1024) {
        return Err("The request's state is too long.".into());
    }
    let hint = match get("id_token_hint") {
        None => None,
        Some(t) => Some(
            super::verify::id_token_hint(svc, tenant, t)
                .await
                .ok_or_else(|| {
                    "The application sent a sign-out request this service did not issue or \
                     cannot check (invalid id_token_hint)."
                        .to_owned()
                })?,
        ),
    };
    let client_id = match (get("client_id"), &hint) {
        (Some(id), Some(h)) if !h.audience.iter().any(|a| a == id) => {
            return Err(
                "The sign-out request names an application the ID token was not issued to.".into(),
            );
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(h)) if h.audience.len() == 1 => h.audience.first().cloned(),
        (None, _) => None,
    };
    let client = match client_id {
        None => None,
        Some(id) => clients::find_cached(svc, tenant, &id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "logout: client lookup");
                "The sign-in service could not check the application.".to_owned()
            })?
            .map(|c| (*c).clone()),
    };
    let redirect_to = match get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(c) = client.as_ref() else {
                return Err(
                    "The sign-out request asks to go back to an application but does \
                            not say which one (send id_token_hint or client_id)."
                        .into(),
                );
            };
            if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(
                    "The application asked to send you after sign-out to an address \
                            it has not registered. For your safety you were not sent there."
                        .into(),
                );
            }
            let mut url = url::Url::parse(uri)
                .map_err(|_| "The registered sign-out address is not a valid URL.".to_owned())?;
            if let Some(state) = get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
    };
    Ok(EndSession {
        hint_sub: hint.map(|h| h.sub),
        client,
        redirect_to,
    })
}
