//! Web plumbing for signing in: the client address, cookies, CSRF tokens, the per-request login
//! context (tenant, policy, session) and the IP-rule gate in front of every login and account
//! page.
//!
//! Cookies are host-only (no `Domain`). Over HTTPS they carry `Secure` and the `__Host-` prefix,
//! and the session cookie is `SameSite=None` so it reaches us on the cross-site SAML POST
//! binding (every state-changing form still needs a CSRF token). Over plain HTTP (development)
//! browsers refuse `SameSite=None` without `Secure`, so the cookie is `SameSite=Lax` there.
//!
//! CSRF: a random cookie plus a form token that is an HMAC of it under a key derived from the
//! master key and bound to the tenant (signed double submit). A cookie set by a sibling host
//! cannot help an attacker: without the key they cannot mint the matching token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{AppError, ErrorPage};
use super::tenant::Site;
use crate::audit::Origin;
use crate::directory::{Tenant, User, UserStatus};
use crate::login::flow::{self, Ctx};
use crate::login::policy::{self, Policy};
use crate::login::session::{self, Lookup, Session, Stage, Token};

/// The client's address: the socket peer, or with `trust_proxy` the last `X-Forwarded-For`
/// entry (the one our proxy added).
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty());
        if let Some(ip) = forwarded.and_then(|v| v.parse::<IpAddr>().ok()) {
            return Some(ip);
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip())
}

pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
    /// The admin console's same-site proof (see `web::console`).
    pub console: &'static str,
    secure: bool,
}

impl CookieNames {
    pub fn for_state(state: &AppState) -> CookieNames {
        if state.config.public_url.is_https() {
            CookieNames {
                session: "__Host-lk_session",
                csrf: "__Host-lk_csrf",
                console: "__Host-lk_console",
                secure: true,
            }
        } else {
            CookieNames {
                session: "lk_session",
                csrf: "lk_csrf",
                console: "lk_console",
                secure: false,
            }
        }
    }

    pub fn session_cookie(&self, value: &str) -> HeaderValue {
        let attrs = if self.secure {
            "Path=/; HttpOnly; Secure; SameSite=None"
        } else {
            "Path=/; HttpOnly; SameSite=Lax"
        };
        cookie_header(&format!("{}={value}; {attrs}", self.session))
    }

    pub fn clear_session(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        cookie_header(&format!(
            "{}=; Path=/; Max-Age=0; HttpOnly{secure}; SameSite=Lax",
            self.session
        ))
    }

    /// The cookie holding the secret half of a waiting SAML request's handle (named after the
    /// public half, so several requests can wait in one browser).
    pub fn saml_request(&self, public: &str) -> String {
        let prefix = if self.secure { "__Host-" } else { "" };
        format!("{prefix}lk_saml_{public}")
    }

    /// Sets it for as long as the request waits.
    pub fn saml_request_cookie(&self, public: &str, secret: &str, max_age_s: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        cookie_header(&format!(
            "{}={secret}; Path=/; Max-Age={max_age_s}; HttpOnly{secure}; SameSite=Lax",
            self.saml_request(public)
        ))
    }

    pub fn clear_saml_request(&self, public: &str) -> HeaderValue {
        self.saml_request_cookie(public, "", 0)
    }

    /// The console cookie: `SameSite=Strict`, so a request started by another site never
    /// carries it, and it lasts as long as the browser session.
    pub fn console_cookie(&self, value: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        cookie_header(&format!(
            "{}={value}; Path=/; HttpOnly{secure}; SameSite=Strict",
            self.console
        ))
    }

    fn csrf_cookie(&self, value: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        cookie_header(&format!(
            "{}={value}; Path=/; HttpOnly{secure}; SameSite=Lax",
            self.csrf
        ))
    }
}

fn cookie_header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The value of a cookie from the request (the first one with the name).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Everything a login or account handler needs, extracted once.
pub struct Web {
    pub state: AppState,
    pub tenant: Arc<Tenant>,
    pub policy: Arc<Policy>,
    pub origin: Origin,
    pub ip: Option<IpAddr>,
    pub now: i64,
    pub names: CookieNames,
    csrf_cookie: Option<String>,
    session_token: Option<String>,
    pub console_cookie: Option<String>,
    /// GET or HEAD: the request changes nothing.
    pub safe_method: bool,
    /// The path and query asked for (to come back to after signing in).
    pub here: String,
    /// A console form's URL-encoded body, kept to carry out the action after a confirmation.
    pub form: Option<KeptForm>,
}

/// The URL-encoded body of a console form post, kept beside the request (see
/// `web::console::keep_form`) so that an action interrupted by "Confirm it's you" or by a
/// confirmation question can be carried out as it was submitted.
#[derive(Clone)]
pub struct KeptForm(pub Arc<str>);

impl FromRequestParts<AppState> for Web {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(Site::Tenant(tenant)) = parts.extensions.get::<Site>().cloned() else {
            return Err(super::error::not_found_page());
        };
        let Some(policy) = parts.extensions.get::<Arc<Policy>>().cloned() else {
            return Err(AppError::Internal("login policy not loaded".into()).into_response());
        };
        let ip = client_ip(parts, state.config.trust_proxy);
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        let names = CookieNames::for_state(state);
        Ok(Web {
            state: state.clone(),
            tenant,
            policy,
            origin: Origin {
                source_ip: ip.map(|i| i.to_string()),
                user_agent,
                route,
            },
            ip,
            now: crate::now_ms(),
            csrf_cookie: cookie(&parts.headers, names.csrf).map(str::to_owned),
            session_token: cookie(&parts.headers, names.session).map(str::to_owned),
            console_cookie: cookie(&parts.headers, names.console).map(str::to_owned),
            safe_method: parts.method == axum::http::Method::GET
                || parts.method == axum::http::Method::HEAD,
            names,
            here: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            form: parts.extensions.get::<KeptForm>().cloned(),
        })
    }
}

impl Web {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            svc: &self.state.svc,
            tenant: &self.tenant,
            policy: &self.policy,
            origin: &self.origin,
            client_ip: self.ip,
            now: self.now,
        }
    }

    /// HMAC, under a key derived from the master key for `purpose`, of this tenant and `parts`.
    fn mac(&self, purpose: &str, parts: &[&str]) -> String {
        let key = self.state.svc.keyring.master().derive_mac_key(purpose);
        #[allow(clippy::expect_used)]
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC accepts any key length");
        mac.update(self.tenant.id.to_string().as_bytes());
        // Only the last part may contain `/` (callers pass fixed-format ids first).
        for p in parts {
            mac.update(b"/");
            mac.update(p.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn csrf_mac(&self, cookie: &str) -> String {
        self.mac("csrf", &[cookie])
    }

    /// The MAC of a console cookie's fields (see `web::console`).
    pub fn console_tag(&self, session_id: &str, verified_at: &str) -> String {
        self.mac("console", &[session_id, verified_at])
    }

    /// A tag binding `value` to one session (e.g. a consent form to the session it was shown
    /// in), so a page left open cannot act for whoever is signed in later.
    pub fn session_binding(&self, session_id: &str, value: &str) -> String {
        self.mac("session-binding", &[session_id, value])
    }

    pub fn session_binding_ok(&self, session_id: &str, value: &str, tag: &str) -> bool {
        let expected = self.session_binding(session_id, value);
        tag.len() == expected.len() && bool::from(tag.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// A CSRF token for a form on this page, and the cookie to set when the browser has none.
    pub fn csrf(&self) -> Csrf {
        match &self.csrf_cookie {
            Some(c) => Csrf {
                token: self.csrf_mac(c),
                set_cookie: None,
            },
            None => {
                let value = crate::crypto::random_token();
                Csrf {
                    token: self.csrf_mac(&value),
                    set_cookie: Some(self.names.csrf_cookie(&value)),
                }
            }
        }
    }

    /// Whether a submitted form's token matches this browser's CSRF cookie.
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        let Some(c) = &self.csrf_cookie else {
            return false;
        };
        let expected = self.csrf_mac(c);
        submitted.len() == expected.len()
            && bool::from(submitted.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// The browser's session on this tenant, if it has a live one (any stage).
    pub async fn session(&self) -> Result<Option<Session>, AppError> {
        Ok(self.session_and_user().await?.map(|(s, _)| s))
    }

    /// The browser's live session (any stage) and its user, whatever the user's status.
    pub async fn session_and_user(&self) -> Result<Option<(Session, User)>, AppError> {
        let Some(token) = &self.session_token else {
            return Ok(None);
        };
        match session::lookup(
            &self.state.svc.store,
            self.tenant.id,
            token,
            &self.policy,
            self.now,
        )
        .await?
        {
            Lookup::Found(s, u) => Ok(Some((s, u))),
            Lookup::Unknown | Lookup::Expired => Ok(None),
        }
    }

    /// The signed-in user, or the response that sends the browser where it must go first
    /// (sign-in, or the unfinished step of its login).
    pub async fn viewer(&self) -> Result<(Session, User), Response> {
        let found = self
            .session_and_user()
            .await
            .map_err(IntoResponse::into_response)?;
        let Some((s, user)) = found else {
            return Err(self.to_login());
        };
        if s.stage != Stage::Active {
            return Err(see_other(s.stage.path()));
        }
        match user {
            u if u.status == UserStatus::Active => Ok((s, u)),
            _ => {
                // Disabled or restricted since the login: the session is over.
                let _ = session::end(&self.state.svc.store, &s).await;
                Err(self.to_login())
            }
        }
    }

    /// A session in the given pending stage, or where to go instead.
    pub async fn pending(&self, stage: Stage) -> Result<Session, Response> {
        match self.session().await.map_err(IntoResponse::into_response)? {
            Some(s) if s.stage == stage => Ok(s),
            Some(s) => Err(see_other(s.stage.path())),
            None => Err(see_other("/login")),
        }
    }

    fn to_login(&self) -> Response {
        see_other(&format!("/login?return_to={}", encode_query(&self.here)))
    }

    /// Where a finished login goes: its `return_to`, else the account page. A protocol
    /// continuation (which redirects on to an application) is reached through
    /// [`Web::navigate_on`], never by the login form's redirect chain.
    pub fn after_login(&self, s: &Session, token: &Token) -> Response {
        let res = match s.stage {
            Stage::Active => {
                let target = s.return_to.clone().unwrap_or_else(|| "/account".into());
                if may_leave_origin(&target) {
                    self.navigate_on(&target, "Signing you in", "Taking you to the application.")
                } else {
                    see_other(&target)
                }
            }
            other => see_other(other.path()),
        };
        self.with_session(res, token)
    }

    /// The page that ends a form's redirect chain on this origin and sends the browser on to
    /// `target` (a path here, or an application's validated URL).
    ///
    /// Chromium and Firefox check the submitting page's CSP `form-action` against every
    /// redirect that follows a form submission, not only the form's own action, and on every
    /// hop: `POST /login` → `303 /oauth2/authorize` → `303 https://app/cb` is refused at the
    /// last hop under `form-action 'self'`, and listing the app's origin would still break an
    /// app whose callback redirects to another host of its own. So the form's answer is this
    /// page (200, `no-store`, our strict CSP kept): its `<meta http-equiv="refresh">` starts a
    /// new navigation that no `form-action` governs, and its link serves a browser that
    /// ignores the refresh. See docs/browsers.md.
    pub fn navigate_on(&self, target: &str, heading: &str, message: &str) -> Response {
        let page = ContinuePage {
            tenant_name: self.tenant.name.clone(),
            heading: heading.to_owned(),
            message: message.to_owned(),
            target: target.to_owned(),
        };
        let mut res = page.into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }

    pub fn with_session(&self, mut res: Response, token: &Token) -> Response {
        res.headers_mut()
            .append(header::SET_COOKIE, self.names.session_cookie(&token.0));
        res
    }

    pub fn clearing_session(&self, mut res: Response) -> Response {
        res.headers_mut()
            .append(header::SET_COOKIE, self.names.clear_session());
        res
    }

    /// The page for a refused CSRF check: nothing was changed.
    pub fn csrf_failed(&self) -> Response {
        (
            StatusCode::FORBIDDEN,
            ErrorPage {
                title: "This form has expired",
                message: "For your security the form could not be accepted (it may be old, or \
                          was sent from another site). Nothing was changed. Go back, reload \
                          the page and try again."
                    .into(),
            },
        )
            .into_response()
    }
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "continue.html")]
struct ContinuePage {
    tenant_name: String,
    heading: String,
    message: String,
    target: String,
}

/// Whether a sign-in's `return_to` (always a path here, see [`safe_return_to`]) may redirect
/// the browser on to another origin: the OpenID Provider's front-channel endpoints answer
/// applications. SAML continuations end on our own POST page; account and console pages stay.
fn may_leave_origin(return_to: &str) -> bool {
    return_to.starts_with("/oauth2/")
}

pub struct Csrf {
    pub token: String,
    set_cookie: Option<HeaderValue>,
}

impl Csrf {
    /// Adds the CSRF cookie (if new) to a page response.
    pub fn attach(&self, res: impl IntoResponse) -> Response {
        let mut res = res.into_response();
        if let Some(c) = &self.set_cookie {
            res.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        res
    }
}

/// A form body, refused with a page (not plain text) when it cannot be read: wrong content
/// type, bad encoding or over the size limit. Nothing is changed then.
pub struct WebForm<T>(pub T);

impl<T, S> FromRequest<S> for WebForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(WebForm(value)),
            Err(rejection) => {
                let status = rejection.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "The form was too large to accept. Nothing was changed.".to_owned()
                } else {
                    "The form could not be read (it must be sent by the page it came from). \
                     Nothing was changed. Go back, reload the page and try again."
                        .to_owned()
                };
                Err((
                    status,
                    ErrorPage {
                        title: "This form could not be accepted",
                        message,
                    },
                )
                    .into_response())
            }
        }
    }
}

/// The parameters of a front-channel request (a link's query, or a form an application
/// posted), each at most once; `Err` is a message for the error page.
pub fn front_channel_params(
    web: &Web,
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    (max_params, max_value): (usize, usize),
) -> Result<std::collections::HashMap<String, String>, String> {
    let raw: &[u8] = if method == axum::http::Method::POST {
        let form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err("The request must be a form or a link.".into());
        }
        body
    } else {
        web.here
            .split_once('?')
            .map_or(&[][..], |(_, q)| q.as_bytes())
    };
    parse_params(raw, (max_params, max_value))
}

/// Form-encoded parameters, each at most once, within the limits (count, bytes per value).
pub fn parse_params(
    raw: &[u8],
    (max_params, max_value): (usize, usize),
) -> Result<std::collections::HashMap<String, String>, String> {
    let mut params = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if params.len() >= max_params || v.len() > max_value {
            return Err("The request has too many or too long parameters.".into());
        }
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("A parameter was sent more than once.".into());
        }
    }
    Ok(params)
}

pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

pub fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `return_to` we may redirect to: a path on this host. Anything that could leave the host
/// (`//evil`, `/\evil`, a scheme, control characters) is dropped.
pub fn safe_return_to(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 || !raw.starts_with('/') {
        return None;
    }
    if raw.starts_with("//")
        || raw.contains('\\')
        || raw.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return None;
    }
    // Pages of the login flow itself make no sense as a destination.
    if raw.starts_with("/login") || raw.starts_with("/logout") {
        return None;
    }
    Some(raw.to_owned())
}

/// Middleware for login and account routes: loads the tenant's policy into the request and
/// refuses clients that the tenant's IP rules do not allow. Responses are never cached.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(Site::Tenant(tenant)) = req.extensions().get::<Site>().cloned() else {
        return super::error::not_found_page();
    };
    let policy = match policy::cached(&state.svc, tenant.id).await {
        Ok(p) => p,
        Err(e) => return AppError::from(e).into_response(),
    };
    let (mut parts, body) = req.into_parts();
    let ip = client_ip(&parts, state.config.trust_proxy);
    if !flow::ip_allowed(&policy, ip) {
        return (
            StatusCode::FORBIDDEN,
            ErrorPage {
                title: "Sign-in is not available from your network",
                message: format!(
                    "{} does not allow signing in from the network you are on. Connect from \
                     an allowed network (for example your company's VPN), or ask your IT team.",
                    tenant.name
                ),
            },
        )
            .into_response();
    }
    parts.extensions.insert(policy);
    let mut res = next.run(Request::from_parts(parts, body)).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_the_host() {
        assert_eq!(safe_return_to("/account"), Some("/account".into()));
        assert_eq!(
            safe_return_to("/authorize?client_id=a&x=%2F%2Fevil"),
            Some("/authorize?client_id=a&x=%2F%2Fevil".into())
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            "/a\nb",
            "evil",
            "",
            "/login",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lk_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, "lk_session"), Some("tok"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
