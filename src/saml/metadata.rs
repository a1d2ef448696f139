//! The tenant's IdP metadata (SAML 2.0 Metadata §2.4.3): an EntityDescriptor with one
//! IDPSSODescriptor listing every RSA signing certificate that is next, active or previous (so
//! SPs can roll over), the SSO and SLO endpoints for the Redirect and POST bindings, the NameID
//! formats we issue and `WantAuthnRequestsSigned` from the tenant's policy. Elements are in
//! XSD order; every value is escaped by the template. Built once per change epoch.

use std::sync::Arc;

use askama::Template;

use super::paths;
use crate::cache::{Document, DocumentKind};
use crate::directory::Tenant;
use crate::keys::{self, Alg, KeyError, KeyState};
use crate::services::Services;

/// NameID formats we can issue.
pub const NAME_ID_FORMATS: [&str; 4] = [
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
];

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot render the metadata: {0}")]
    Render(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "saml_metadata.xml")]
struct MetadataXml<'a> {
    entity_id: &'a str,
    want_requests_signed: bool,
    certificates: Vec<String>,
    sso: String,
    slo: String,
    name_id_formats: &'a [&'a str],
}

/// The tenant's entityID.
pub fn entity_id(svc: &Services, tenant: &Tenant) -> String {
    format!(
        "{}{}",
        svc.public_url.tenant_origin(tenant.slug.as_str()),
        paths::METADATA
    )
}

/// The base64 body of a PEM certificate (what `ds:X509Certificate` holds).
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

/// The tenant's RSA signing keys whose signatures SPs may meet: next, active, previous.
pub async fn signing_keys(
    svc: &Services,
    tenant: &Tenant,
) -> Result<Vec<keys::SigningKey>, KeyError> {
    Ok(keys::list(&svc.store, tenant.id)
        .await?
        .into_iter()
        .filter(|k| {
            k.algorithm == Alg::Rs256
                && matches!(
                    k.state,
                    KeyState::Next | KeyState::Active | KeyState::Previous
                )
        })
        .collect())
}

pub async fn render(svc: &Services, tenant: &Tenant) -> Result<String, MetadataError> {
    let origin = svc.public_url.tenant_origin(tenant.slug.as_str());
    let policy = crate::login::policy::load(&svc.store, tenant.id).await?;
    let entity_id = entity_id(svc, tenant);
    let xml = MetadataXml {
        entity_id: &entity_id,
        want_requests_signed: policy.saml.want_authn_requests_signed,
        certificates: signing_keys(svc, tenant)
            .await?
            .iter()
            .map(|k| pem_body(&k.certificate_pem))
            .collect(),
        sso: format!("{origin}{}", paths::SSO),
        slo: format!("{origin}{}", paths::SLO),
        name_id_formats: &NAME_ID_FORMATS,
    };
    Ok(xml.render()?)
}

/// The metadata document from the cache, built on a miss.
pub async fn document(svc: &Services, tenant: &Tenant) -> Result<Arc<Document>, MetadataError> {
    svc.caches
        .document(tenant.id, DocumentKind::SamlMetadata, async || {
            render(svc, tenant).await
        })
        .await
}
