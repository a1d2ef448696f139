//! Tenant resolution: every request is resolved once from its Host header against the configured
//! base domain. `{slug}.{base}[:port]` is that tenant, the bare base domain is the operator's
//! landing page, and anything else (unknown slug, foreign domain, IP literal, missing or
//! malformed Host) is a 404 page. The Host is never reflected: public URLs come from config.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{AppError, not_found_page};
use crate::config::{PublicUrl, Scheme};
use crate::directory::{Slug, Tenant, TenantStatus};

/// What the Host header names.
#[derive(Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// The bare base domain: the operator's landing page.
    Base,
    /// A syntactically valid tenant slug under the base domain (may still be unknown).
    Tenant(Slug),
    /// Anything that is not ours.
    Foreign,
}

/// The site a request was resolved to, put in the request extensions by [`resolve`].
#[derive(Clone, Debug)]
pub enum Site {
    Base,
    Tenant(Arc<Tenant>),
}

/// Matches a Host value against the public URL: case-insensitive, trailing dot tolerated, the
/// port must be the public one (or absent when that is the scheme's default).
pub fn match_host(raw: &str, public: &PublicUrl) -> HostMatch {
    if raw.is_empty()
        || raw.len() > 300
        || !raw.bytes().all(|b| b.is_ascii_graphic())
        || raw.contains(['@', '/', '\\', '[', ']', ',', '?', '#'])
    {
        return HostMatch::Foreign;
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if !p.starts_with('+') => (h, Some(port)),
            _ => return HostMatch::Foreign,
        },
        None => (raw, None),
    };
    let default_port = match public.scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let port_ok = match (port, public.port) {
        (None, None) => true,
        (Some(p), None) => p == default_port,
        (Some(p), Some(expected)) => p == expected,
        (None, Some(_)) => false,
    };
    if !port_ok {
        return HostMatch::Foreign;
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host == public.base_domain {
        return HostMatch::Base;
    }
    let Some(label) = host
        .strip_suffix(public.base_domain.as_str())
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return HostMatch::Foreign;
    };
    match Slug::parse(label) {
        Ok(slug) => HostMatch::Tenant(slug),
        Err(_) => HostMatch::Foreign,
    }
}

/// The Host the client asked for: `X-Forwarded-Host` only when the proxy is trusted; the
/// `Host` header (exactly one); or the request-target authority (HTTP/2).
fn requested_host<'a>(
    headers: &'a HeaderMap,
    parts_authority: Option<&'a str>,
    trust_proxy: bool,
) -> Option<&'a str> {
    if let Some(v) = headers.get("x-forwarded-host").filter(|_| trust_proxy) {
        return v.to_str().ok();
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().ok(),
        (Some(_), Some(_)) => None,
        (None, _) => parts_authority,
    }
}

/// Middleware: resolves the site once and stores it in the request extensions.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    let host = requested_host(
        req.headers(),
        authority.as_deref(),
        state.config.trust_proxy,
    );
    let matched = host.map_or(HostMatch::Foreign, |h| {
        match_host(h, &state.config.public_url)
    });
    let site = match matched {
        HostMatch::Foreign => return not_found_page(),
        HostMatch::Base => Site::Base,
        HostMatch::Tenant(slug) => {
            match state
                .svc
                .caches
                .tenant(&state.svc.store, slug.as_str())
                .await
            {
                Ok(Some(t)) if t.status == TenantStatus::Active => Site::Tenant(t),
                Ok(_) => return not_found_page(),
                Err(e) => return AppError::Internal(e.to_string()).into_response(),
            }
        }
    };
    req.extensions_mut().insert(site);
    next.run(req).await
}

/// Extractor for handlers that exist only on a tenant's host; elsewhere they are a 404.
pub struct CurrentTenant(pub Arc<Tenant>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Site>() {
            Some(Site::Tenant(t)) => Ok(CurrentTenant(t.clone())),
            _ => Err(not_found_page()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(url: &str) -> PublicUrl {
        PublicUrl::parse(url).unwrap()
    }

    fn tenant(slug: &str) -> HostMatch {
        HostMatch::Tenant(Slug::parse(slug).unwrap())
    }

    #[test]
    fn matches_tenants_base_and_foreign_hosts() {
        let p = public("http://localhost:8080");
        assert_eq!(match_host("acme.localhost:8080", &p), tenant("acme"));
        assert_eq!(match_host("ACME.LocalHost:8080", &p), tenant("acme"));
        assert_eq!(match_host("acme.localhost.:8080", &p), tenant("acme"));
        assert_eq!(match_host("localhost:8080", &p), HostMatch::Base);
        for foreign in [
            "acme.localhost",      // wrong (default) port
            "acme.localhost:9090", // wrong port
            "a.b.localhost:8080",  // two labels
            "acme.evil.com:8080",  // foreign domain
            "acmelocalhost:8080",  // no dot
            "127.0.0.1:8080",      // IP literal
            "[::1]:8080",          // IPv6 literal
            "user@acme.localhost:8080",
            "acme.localhost:8080:1",
            "acme.localhost:+8080",
            "",
            "www.localhost:8080", // reserved slug
            "ac_me.localhost:8080",
            "acme .localhost:8080",
        ] {
            assert_eq!(match_host(foreign, &p), HostMatch::Foreign, "{foreign}");
        }
    }

    #[test]
    fn default_ports_may_be_omitted() {
        let p = public("https://id.example.com");
        assert_eq!(match_host("acme.id.example.com", &p), tenant("acme"));
        assert_eq!(match_host("acme.id.example.com:443", &p), tenant("acme"));
        assert_eq!(match_host("acme.id.example.com:80", &p), HostMatch::Foreign);
        assert_eq!(match_host("id.example.com", &p), HostMatch::Base);
        assert_eq!(match_host("acme.example.com", &p), HostMatch::Foreign);
    }
}
