//! SAML 2.0 identity provider. Each tenant is its own IdP; its entityID is
//! `{tenant origin}/saml/metadata`. samael is used only for XML-DSig through libxmlsec1 and for
//! its schema structs (SECURITY-NOTES.md); messages and metadata are built here.
//!
//! May use: `store`, `keys`, `audit`, `directory`, `cache`, `login` (sessions).

pub mod answers;
pub mod inbound;
pub mod metadata;
pub mod request;
pub mod response;
pub mod slo;
pub mod sps;
pub mod sso;
pub mod xmlsec_log;

/// Where the endpoints live on a tenant host.
pub mod paths {
    pub const METADATA: &str = "/saml/metadata";
    pub const CERTIFICATE: &str = "/saml/certificate.pem";
    pub const SSO: &str = "/saml/sso";
    pub const SLO: &str = "/saml/slo";
    /// IdP-initiated SSO: `?sp=<entityID>`.
    pub const START: &str = "/saml/start";
    /// Back from the sign-in pages to a waiting AuthnRequest: `?h=<public part of the handle>`
    /// (the secret part is in a cookie).
    pub const CONTINUE: &str = "/saml/continue";
    /// The sign-in page's cancel button for a waiting AuthnRequest (POST `h`, `csrf`).
    pub const CANCEL: &str = "/saml/cancel";
}
