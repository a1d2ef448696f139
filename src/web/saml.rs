//! HTTP side of the SAML IdP: metadata and the signing certificate (public), IdP-initiated SSO,
//! and the auto-submitting POST form that carries a Response to the SP.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use super::tenant::CurrentTenant;
use crate::cache::DocumentKind;
use crate::keys::KeyState;
use crate::saml::metadata;

/// `GET /saml/metadata`: the IdP metadata (also the entityID).
pub async fn metadata(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let doc = metadata::document(&state.svc, &tenant).await?;
    Ok(super::documents::serve(
        &doc,
        DocumentKind::SamlMetadata,
        &headers,
    ))
}

/// `GET /saml/certificate.pem`: the active signing certificate, for SPs configured by hand.
pub async fn certificate(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
) -> Result<Response, AppError> {
    let keys = metadata::signing_keys(&state.svc, &tenant).await?;
    let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) else {
        return Err(AppError::NotFound);
    };
    let disposition = format!("attachment; filename=\"{}-saml-signing.pem\"", tenant.slug);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .map_err(|e| AppError::Internal(e.to_string()))?,
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        active.certificate_pem.clone(),
    )
        .into_response())
}

/// The one script on the POST page; allowed by its hash in the page's CSP.
const AUTO_SUBMIT: &str = "document.getElementById('saml-post').submit();";

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "saml_post.html")]
struct PostPage<'a> {
    tenant_name: &'a str,
    heading: &'a str,
    acs_url: &'a str,
    param: &'a str,
    saml_response: &'a str,
    relay_state: Option<&'a str>,
    script: &'a str,
}

/// The HTTP-POST binding page: submits itself (or by the button without JavaScript). Its CSP
/// allows exactly this script; nothing is cached.
///
/// It sets no `form-action`: browsers check that directive against every redirect after the
/// submission, and what the SP's endpoint answers is the SP's own business (an ACS redirects to
/// its RelayState, often on another host; an SLO endpoint answers us with a Redirect-binding
/// LogoutResponse). The page's one form is ours, its action the SP's registered endpoint, every
/// value escaped: no markup on it comes from anyone else. See docs/browsers.md.
pub fn post_form(
    web: &super::auth::Web,
    heading: &str,
    acs_url: &str,
    saml_xml: &str,
    relay_state: Option<&str>,
) -> Response {
    post_message(web, heading, acs_url, "SAMLResponse", saml_xml, relay_state)
}

/// The POST form carrying `saml_xml` in parameter `param` (`SAMLRequest` or `SAMLResponse`).
pub fn post_message(
    web: &super::auth::Web,
    heading: &str,
    acs_url: &str,
    param: &str,
    saml_xml: &str,
    relay_state: Option<&str>,
) -> Response {
    use base64::Engine;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(AUTO_SUBMIT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; \
         script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'"
    );
    let encoded = crate::saml::response::encode(saml_xml);
    let page = PostPage {
        tenant_name: &web.tenant.name,
        heading,
        acs_url,
        param,
        saml_response: &encoded,
        relay_state,
        script: AUTO_SUBMIT,
    };
    let mut res = page.into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(serde::Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    sp: String,
}

/// `GET /saml/start?sp=<entityID>`: IdP-initiated SSO to a registered SP that allows it, with
/// its default RelayState, on its default ACS.
pub async fn idp_start(
    web: super::auth::Web,
    axum::extract::Query(q): axum::extract::Query<StartQuery>,
) -> Result<Response, AppError> {
    let sp = crate::saml::sps::find(&web.state.svc, &web.tenant, q.sp.trim()).await?;
    let Some(sp) = sp.filter(|sp| sp.config.idp_initiated) else {
        return Ok(page(
            axum::http::StatusCode::NOT_FOUND,
            "There is no such application, or it does not allow sign-in started from this page."
                .into(),
        ));
    };
    let (session, user) = match web.viewer().await {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    if !may_use(&web, &sp, user.id).await? {
        return Ok(super::login::not_allowed_page(
            &web.tenant.name,
            &sp.name,
            None,
        ));
    }
    let Some(acs) = sp.acs(None, None) else {
        return Err(AppError::Internal("registered SP without an ACS".into()));
    };
    let reply = crate::saml::sso::Reply {
        sp: &sp,
        acs_url: &acs.url,
        request: crate::saml::sso::Answering::Nothing,
    };
    let answered = crate::saml::sso::success(
        &web.state.svc,
        &web.tenant,
        &reply,
        &session,
        &user,
        &web.origin,
        web.now,
    )
    .await?;
    Ok(deliver(
        &web,
        &format!("Signing you in to {}", sp.name),
        &acs.url,
        answered,
        sp.config.default_relay_state.as_deref(),
    ))
}

/// Whether `user` may sign in to `sp`; a refusal is audited (`app.denied`). No assertion is
/// issued to a user who may not.
async fn may_use(
    web: &super::auth::Web,
    sp: &crate::saml::sps::ServiceProvider,
    user: crate::ids::UserId,
) -> Result<bool, AppError> {
    use crate::directory::access;
    let svc = &web.state.svc;
    let app = sp.app();
    if access::may_use(&svc.store, &web.tenant, &app, user).await? {
        return Ok(true);
    }
    access::record_denied(svc, &web.tenant, &app, user, &web.origin, web.now).await?;
    Ok(false)
}

/// The POST form carrying a Response, or the page saying the request was answered before.
fn deliver(
    web: &super::auth::Web,
    heading: &str,
    acs_url: &str,
    answered: crate::saml::sso::Answered,
    relay_state: Option<&str>,
) -> Response {
    match answered {
        crate::saml::sso::Answered::Signed(xml) => {
            post_form(web, heading, acs_url, &xml, relay_state)
        }
        crate::saml::sso::Answered::AlreadyAnswered => already_used(),
    }
}

fn already_used() -> Response {
    refusal_page(
        "This sign-in request was already used. Go back to the application and start again.".into(),
    )
}

fn page(status: axum::http::StatusCode, message: String) -> Response {
    (
        status,
        super::error::ErrorPage {
            title: "This sign-in request cannot be completed",
            message,
        },
    )
        .into_response()
}

fn refusal_page(message: String) -> Response {
    page(axum::http::StatusCode::BAD_REQUEST, message)
}

/// The parameters of an inbound SAML message (Redirect query or POST form), the raw query (for
/// Redirect signatures) and whether it was posted; `Err` is the message for the page.
fn inbound_params(
    web: &super::auth::Web,
    method: &axum::http::Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(std::collections::HashMap<String, String>, String, bool), String> {
    let raw_query = web.here.split_once('?').map_or("", |(_, q)| q).to_owned();
    let params = super::auth::front_channel_params(
        web,
        method,
        headers,
        body,
        (8, crate::saml::inbound::MAX_PARAM_BYTES),
    )?;
    Ok((params, raw_query, method == axum::http::Method::POST))
}

/// The message in parameter `name` (`SAMLRequest` or `SAMLResponse`), if there is one.
fn message<'a>(
    params: &'a std::collections::HashMap<String, String>,
    raw_query: &'a str,
    post: bool,
    name: &'a str,
) -> Option<crate::saml::sso::Message<'a>> {
    use crate::saml::sso::Inbound;
    Some(crate::saml::sso::Message {
        binding: if post {
            Inbound::Post
        } else {
            Inbound::Redirect { raw_query }
        },
        param: name,
        saml_request: params.get(name)?,
        relay_state: params.get("RelayState").map(String::as_str),
    })
}

/// `GET|POST /saml/sso`: an SP-initiated AuthnRequest on the Redirect or POST binding.
pub async fn sso(
    web: super::auth::Web,
    method: axum::http::Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    use crate::saml::sso::{self, Refusal};
    let (params, raw_query, post) = match inbound_params(&web, &method, &headers, &body) {
        Ok(v) => v,
        Err(message) => return Ok(refusal_page(message)),
    };
    let Some(message) = message(&params, &raw_query, post, "SAMLRequest") else {
        return Ok(refusal_page(
            "The request carries no SAMLRequest. Start again from the application.".into(),
        ));
    };
    let received = sso::receive(
        &web.state.svc,
        &web.tenant,
        &message,
        web.policy.saml.want_authn_requests_signed,
        web.now,
    )
    .await;
    match received {
        Ok(r) => {
            let session = active_session(&web).await?;
            let request = sso::Answering::Fresh(&r.pending);
            proceed(&web, session, &r.sp, request, &r.handle).await
        }
        Err(Refusal::Page(message)) => Ok(refusal_page(message)),
        Err(Refusal::Respond {
            sp,
            acs_url,
            in_response_to,
            relay_state,
            status,
            message,
        }) => {
            let xml = sso::error(
                &web.state.svc,
                &web.tenant,
                &acs_url,
                Some(&in_response_to),
                status,
                message,
                web.now,
            )
            .await?;
            Ok(post_form(
                &web,
                &format!("Returning to {}", sp.name),
                &acs_url,
                &xml,
                relay_state.as_deref(),
            ))
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ContinueQuery {
    #[serde(default)]
    h: String,
}

/// The request waiting under the handle whose public part is `public` and whose secret is in
/// this browser's cookie, with its SP; `Err` is the page to show.
async fn waiting(
    web: &super::auth::Web,
    headers: &HeaderMap,
    public: &str,
) -> Result<
    Result<
        (
            crate::saml::sso::RequestHandle,
            crate::store::saml_requests::RequestRow,
            crate::saml::sps::ServiceProvider,
        ),
        Response,
    >,
    AppError,
> {
    use crate::saml::sso::RequestHandle;
    let secret = if RequestHandle::valid_public(public) {
        super::auth::cookie(headers, &web.names.saml_request(public))
    } else {
        None
    };
    let handle = secret.and_then(|secret| RequestHandle::from_parts(public, secret));
    let pending = match &handle {
        Some(h) => {
            crate::store::saml_requests::pending(
                &web.state.svc.store,
                web.tenant.id,
                &h.hash(),
                web.now,
            )
            .await?
        }
        None => None,
    };
    let (Some(handle), Some(pending)) = (handle, pending) else {
        return Ok(Err(refusal_page(
            "This sign-in request has expired, was already answered, or was started in \
             another browser. Go back to the application and start again."
                .into(),
        )));
    };
    let Some(sp) =
        crate::saml::sps::find(&web.state.svc, &web.tenant, &pending.sp_entity_id).await?
    else {
        return Ok(Err(refusal_page(
            "The application is no longer registered with this sign-in service.".into(),
        )));
    };
    Ok(Ok((handle, pending, sp)))
}

/// `GET /saml/continue?h=…`: back from the sign-in pages to a waiting request.
pub async fn continue_sso(
    web: super::auth::Web,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<ContinueQuery>,
) -> Result<Response, AppError> {
    let (handle, pending, sp) = match waiting(&web, &headers, &q.h).await? {
        Ok(w) => w,
        Err(page) => return Ok(page),
    };
    let session = active_session(&web).await?;
    let request = crate::saml::sso::Answering::Waiting(&pending);
    proceed(&web, session, &sp, request, &handle).await
}

#[derive(serde::Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    h: String,
}

/// `POST /saml/cancel`: the user gave up signing in (the sign-in page's cancel button); the SP
/// gets a signed `AuthnFailed` Response to its request.
pub async fn cancel(
    web: super::auth::Web,
    headers: HeaderMap,
    super::auth::WebForm(f): super::auth::WebForm<CancelForm>,
) -> Result<Response, AppError> {
    use crate::saml::response::Status;
    use crate::saml::sso;
    if !web.csrf_ok(&f.csrf) {
        return Ok(web.csrf_failed());
    }
    let (handle, pending, sp) = match waiting(&web, &headers, &f.h).await? {
        Ok(w) => w,
        Err(page) => return Ok(page),
    };
    let reply = sso::Reply {
        sp: &sp,
        acs_url: &pending.acs_url,
        request: sso::Answering::Waiting(&pending),
    };
    let answered = sso::refuse(
        &web.state.svc,
        &web.tenant,
        &reply,
        Status::AuthnFailed,
        "the user cancelled signing in",
        web.now,
    )
    .await?;
    let mut res = deliver(
        &web,
        &format!("Returning to {}", sp.name),
        &pending.acs_url,
        answered,
        pending.relay_state.as_deref(),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        web.names.clear_saml_request(&handle.public),
    );
    Ok(res)
}

/// The browser's session on this tenant, if it is fully signed in.
async fn active_session(web: &super::auth::Web) -> Result<Option<SignedIn>, AppError> {
    Ok(web
        .session_and_user()
        .await?
        .filter(|(s, _)| s.stage == crate::login::session::Stage::Active))
}

/// A browser's active session and its user (whatever the user's status).
type SignedIn = (crate::login::session::Session, crate::directory::User);

/// Answers a request if the browser has a fresh enough session; otherwise signs the user in
/// first (or answers `NoPassive` when the SP said not to ask). A fresh request is stored only
/// now: answered with the Response, or waiting under `handle` while the user signs in.
async fn proceed(
    web: &super::auth::Web,
    signed_in: Option<SignedIn>,
    sp: &crate::saml::sps::ServiceProvider,
    request: crate::saml::sso::Answering<'_>,
    handle: &crate::saml::sso::RequestHandle,
) -> Result<Response, AppError> {
    use crate::saml::response::Status;
    use crate::saml::sso::{self, Answering};
    let svc = &web.state.svc;
    let (Answering::Fresh(pending) | Answering::Waiting(pending)) = request else {
        return Err(AppError::Internal(
            "SP-initiated SSO without a request".into(),
        ));
    };
    let stored = matches!(request, Answering::Waiting(_));
    // The ACS must still be registered (the SP may have changed while the user signed in).
    if sp.acs(Some(&pending.acs_url), None).is_none() {
        return Ok(refusal_page(
            "The application's address changed while you were signing in. Go back to the \
             application and start again."
                .into(),
        ));
    }
    let (mut session, user) = match signed_in {
        Some((s, u)) => {
            let active = u.status == crate::directory::UserStatus::Active;
            (Some(s), active.then_some(u))
        }
        None => (None, None),
    };
    // Disabled or restricted since signing in: that session is over.
    let mut ended = false;
    if let (Some(s), None) = (&session, &user) {
        crate::login::session::end(&svc.store, s).await?;
        session = None;
        ended = true;
    }
    let fresh = session
        .as_ref()
        .is_some_and(|s| !pending.force_authn || s.auth_time >= pending.received_at);
    let relay_state = pending.relay_state.as_deref();
    let reply = sso::Reply {
        sp,
        acs_url: &pending.acs_url,
        request,
    };
    let (mut res, answered) = match (session, user) {
        (Some(_), Some(user)) if fresh && !may_use(web, sp, user.id).await? => {
            if pending.is_passive {
                // No page may be shown: the SP hears RequestDenied (SAML Core §3.4.1.1).
                let answered = sso::refuse(
                    svc,
                    &web.tenant,
                    &reply,
                    Status::RequestDenied,
                    "the user may not use this application",
                    web.now,
                )
                .await?;
                let heading = format!("Returning to {}", sp.name);
                (
                    deliver(web, &heading, &pending.acs_url, answered, relay_state),
                    true,
                )
            } else {
                (
                    super::login::not_allowed_page(&web.tenant.name, &sp.name, None),
                    false,
                )
            }
        }
        (Some(session), Some(user)) if fresh => {
            let answered = sso::success(
                svc,
                &web.tenant,
                &reply,
                &session,
                &user,
                &web.origin,
                web.now,
            )
            .await?;
            let heading = format!("Signing you in to {}", sp.name);
            (
                deliver(web, &heading, &pending.acs_url, answered, relay_state),
                true,
            )
        }
        _ if pending.is_passive => {
            let answered = sso::refuse(
                svc,
                &web.tenant,
                &reply,
                Status::NoPassive,
                "the user is not signed in and the request was passive",
                web.now,
            )
            .await?;
            let heading = format!("Returning to {}", sp.name);
            (
                deliver(web, &heading, &pending.acs_url, answered, relay_state),
                true,
            )
        }
        (session, _) => {
            if !stored {
                let insert =
                    crate::store::saml_requests::insert(&svc.store, web.tenant.id, pending, None)
                        .await;
                match insert {
                    Ok(()) => {}
                    Err(crate::store::StoreError::Conflict(_)) => {
                        tracing::warn!(tenant = %web.tenant.slug, sp = %sp.entity_id, "saml: replayed request ID");
                        return Ok(already_used());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair(
                "return_to",
                &format!("{}?h={}", crate::saml::paths::CONTINUE, handle.public),
            );
            if session.is_some() && pending.force_authn {
                s.append_pair("reauth", "1");
            }
            let mut res = super::auth::see_other(&format!("/login?{}", s.finish()));
            let max_age_s = (pending.expires_at - web.now).max(0) / 1000;
            res.headers_mut().append(
                header::SET_COOKIE,
                web.names
                    .saml_request_cookie(&handle.public, &handle.secret, max_age_s),
            );
            (res, false)
        }
    };
    // Answered now: the waiting request's cookie has done its work.
    if stored && answered {
        res.headers_mut().append(
            header::SET_COOKIE,
            web.names.clear_saml_request(&handle.public),
        );
    }
    Ok(if ended {
        web.clearing_session(res)
    } else {
        res
    })
}

/// `GET|POST /saml/slo`: a LogoutRequest from an SP (Redirect or POST binding).
pub async fn slo(
    web: super::auth::Web,
    method: axum::http::Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    use crate::saml::slo;
    let (params, raw_query, post) = match inbound_params(&web, &method, &headers, &body) {
        Ok(v) => v,
        Err(message) => return Ok(refusal_page(message)),
    };
    // An SP answering our LogoutRequest (IdP-initiated logout): on to the next SP.
    if let Some(message) = message(&params, &raw_query, post, "SAMLResponse") {
        let next = slo::logout_response(&web.state.svc, &web.tenant, &message, web.now).await?;
        return Ok(match next {
            Some(outcome) => render_outcome(&web, outcome),
            None => signed_out_page(&web),
        });
    }
    let Some(message) = message(&params, &raw_query, post, "SAMLRequest") else {
        return Ok(refusal_page(
            "This address takes sign-out messages from applications.".into(),
        ));
    };
    let session = web.session().await?;
    let decision = slo::logout_request(
        &web.state.svc,
        &web.tenant,
        &message,
        session.as_ref(),
        web.now,
    )
    .await?;
    if decision.end_session
        && let Some(s) = &session
    {
        let detail = serde_json::json!({ "saml_slo": true, "sp": decision.sp_entity_id });
        crate::login::flow::logout(&web.ctx(), s, Some(detail)).await?;
        crate::store::saml_requests::delete_participants(
            &web.state.svc.store,
            web.tenant.id,
            &s.id,
        )
        .await?;
    }
    let res = render_outcome(&web, decision.outcome);
    Ok(if decision.end_session {
        web.clearing_session(res)
    } else {
        res
    })
}

/// Where a single-logout step sends the browser.
pub fn render_outcome(web: &super::auth::Web, outcome: crate::saml::slo::Outcome) -> Response {
    use crate::saml::slo::Outcome;
    match outcome {
        Outcome::Page(message) => refusal_page(message),
        Outcome::Redirect(url) => super::auth::see_other(&url),
        Outcome::Post {
            param,
            url,
            xml,
            relay_state,
            sp,
        } => post_message(
            web,
            &format!("Signing you out of {}", sp.name),
            &url,
            param,
            &xml,
            relay_state.as_deref(),
        ),
    }
}

/// The end of a logout walk.
pub fn signed_out_page(web: &super::auth::Web) -> Response {
    super::login::MessagePage {
        tenant_name: web.tenant.name.clone(),
        title: "You are signed out".into(),
        message: "You have been signed out of this sign-in service and its applications.".into(),
        link: "/login".into(),
        link_text: "Sign in again".into(),
    }
    .into_response()
}
