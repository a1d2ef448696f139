//! OpenID Connect provider. Each tenant is its own OP, issuer = the tenant's origin.
//!
//! Clients (registration, secrets, authentication), the public documents (discovery and JWKS,
//! from the in-memory cache), authorize with consent, the token endpoint and its grants,
//! verification of our own tokens (userinfo, revocation, introspection) and RP-initiated
//! logout. The HTTP side is `web::oidc`.
//!
//! May use: `store`, `keys`, `audit`, `directory`, `cache`. Metadata types come from the
//! `openidconnect` crate.

pub mod authorize;
pub mod clients;
pub mod consent;
pub mod documents;
pub mod jwt;
pub mod logout;
pub mod token;
pub mod verify;

/// Where the endpoints live on a tenant host.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/.well-known/jwks.json";
    pub const AUTHORIZE: &str = "/oauth2/authorize";
    pub const CONSENT: &str = "/oauth2/consent";
    pub const TOKEN: &str = "/oauth2/token";
    pub const USERINFO: &str = "/oauth2/userinfo";
    pub const REVOKE: &str = "/oauth2/revoke";
    pub const INTROSPECT: &str = "/oauth2/introspect";
    pub const END_SESSION: &str = "/oauth2/logout";
    pub const END_SESSION_CONFIRM: &str = "/oauth2/logout/confirm";
}
