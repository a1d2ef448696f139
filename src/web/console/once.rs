//! One-use forms. Registering an app, rotating its secret, adding a user and resetting a
//! password each show a secret once and must not happen twice when the browser sends the form
//! again (a reload of the result page, a double click, the back button). Every console page is
//! given a fresh token (`chrome.once`), which those forms carry; the first request with a token
//! is carried out, and a later one with the same token changes nothing and says why.
//!
//! The token is the time it was made and 256 random bits. It expires after a day, so a use
//! need only be remembered that long (`form_uses` keeps a hash of each, per tenant).

use axum::http::StatusCode;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{Admin, Chrome};
use crate::login::totp::hex;
use crate::store::form_uses;
use crate::web::error::AppError;

/// How long a form stays good to send.
const LIFETIME_MS: i64 = 24 * 3_600_000;
/// How far ahead of this node's clock a token made by another node may be.
const SKEW_MS: i64 = 5 * 60_000;
/// A token is `{unix ms}.{43 base64url characters}`.
const MAX_LEN: usize = 20 + 1 + 43;

/// A new token for a page made at `now`.
pub fn mint(now: i64) -> String {
    format!("{now}.{}", crate::crypto::random_token())
}

/// A token's first use, claimed. [`Claimed::release`] gives it back when the form was refused
/// (nothing changed), so the corrected form can be sent with it.
pub struct Claimed {
    hash: String,
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "console/once.html")]
struct RefusedPage {
    chrome: Chrome,
    repeated: bool,
    back: String,
    back_label: &'static str,
}

impl Admin {
    /// Claims the form's token. When it was used already, has expired or is missing, the page to
    /// show instead (nothing is done): it links to `back`, labelled `back_label`.
    pub async fn claim_form(
        &self,
        token: &str,
        back: &str,
        back_label: &'static str,
    ) -> Result<Result<Claimed, Response>, AppError> {
        let now = self.web.now;
        let made = token
            .split_once('.')
            .filter(|(_, r)| token.len() <= MAX_LEN && r.len() == 43)
            .and_then(|(t, _)| t.parse::<i64>().ok())
            .filter(|t| *t > now - LIFETIME_MS && *t < now + SKEW_MS);
        let repeated = match made {
            None => false,
            Some(_) => {
                let mut h = Sha256::new();
                h.update(b"latchkey/v1/console-form/");
                h.update(token.as_bytes());
                let hash = hex(&h.finalize());
                let svc = &self.web.state.svc;
                let forget = now - LIFETIME_MS - SKEW_MS;
                if form_uses::claim(&svc.store, self.web.tenant.id, &hash, now, forget).await? {
                    return Ok(Ok(Claimed { hash }));
                }
                true
            }
        };
        let (chrome, csrf) = self.chrome("");
        let page = RefusedPage {
            chrome,
            repeated,
            back: back.to_owned(),
            back_label,
        };
        let status = if repeated {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        Ok(Err(self.render(&csrf, (status, page))))
    }
}

impl Claimed {
    pub async fn release(self, admin: &Admin) -> Result<(), AppError> {
        let store = &admin.web.state.svc.store;
        form_uses::release(store, admin.web.tenant.id, &self.hash).await?;
        Ok(())
    }
}
