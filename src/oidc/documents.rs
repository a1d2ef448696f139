//! The OP's public documents: discovery metadata (OpenID Connect Discovery 1.0, with RFC 8414 /
//! RFC 7636 / RFC 7009 / RFC 7662 / RP-Initiated Logout additions) and the JWKS (the tenant's
//! next, active and previous public keys, each with `kid`, `alg` and `use`).
//!
//! Both are built once per change epoch and served from memory with an ETag.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use super::paths;
use crate::cache::{Document, DocumentKind};
use crate::directory::Tenant;
use crate::keys::{self, Alg, KeyError, KeyState};
use crate::services::Services;

/// Metadata the `openidconnect` crate has no field for.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ExtraMetadata {
    pub end_session_endpoint: String,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot build the document: {0}")]
    Build(String),
}

fn build_err(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Build(e.to_string())
}

/// The discovery document of a tenant.
pub fn discovery(issuer: &str) -> Result<Metadata, DocumentError> {
    let url = |path: &str| format!("{issuer}{path}");
    let auth_methods = vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ];
    let metadata = Metadata::new(
        IssuerUrl::new(issuer.to_owned()).map_err(build_err)?,
        AuthUrl::new(url(paths::AUTHORIZE)).map_err(build_err)?,
        JsonWebKeySetUrl::new(url(paths::JWKS)).map_err(build_err)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ],
        ExtraMetadata {
            end_session_endpoint: url(paths::END_SESSION),
            revocation_endpoint: url(paths::REVOKE),
            revocation_endpoint_auth_methods_supported: vec![
                "client_secret_basic".into(),
                "client_secret_post".into(),
                "none".into(),
            ],
            introspection_endpoint: url(paths::INTROSPECT),
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic".into(),
                "client_secret_post".into(),
            ],
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(url(paths::TOKEN)).map_err(build_err)?))
    .set_userinfo_endpoint(Some(
        UserInfoUrl::new(url(paths::USERINFO)).map_err(build_err)?,
    ))
    .set_scopes_supported(Some(
        super::clients::SCOPES
            .iter()
            .map(|s| Scope::new((*s).to_owned()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(auth_methods))
    .set_claims_supported(Some(
        [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "at_hash",
            "name",
            "preferred_username",
            "email",
            "email_verified",
            "groups",
        ]
        .iter()
        .map(|c| CoreClaimName::new((*c).to_owned()))
        .collect(),
    ))
    .set_claim_types_supported(Some(vec![CoreClaimType::Normal]))
    .set_claims_parameter_supported(Some(false))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false))
    .set_require_request_uri_registration(Some(false));
    Ok(metadata)
}

/// One JWK as we publish it: unlike the `openidconnect` type it carries `alg`. RSA keys have
/// `n` and `e`; P-256 keys have `crv`, `x` and `y`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct PublishedJwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl PublishedJwk {
    fn of(key: &keys::SigningKey) -> Result<PublishedJwk, DocumentError> {
        let public = crate::crypto::signing::parse_public_pem(key.public_key_pem.as_bytes())
            .map_err(build_err)?;
        let b64 = |bytes: Vec<u8>| Some(URL_SAFE_NO_PAD.encode(bytes));
        let mut jwk = PublishedJwk {
            kty: String::new(),
            use_: "sig".into(),
            alg: key.algorithm.as_str().into(),
            kid: key.kid.clone(),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        };
        match key.algorithm {
            Alg::Rs256 => {
                let rsa = public.rsa().map_err(build_err)?;
                jwk.kty = "RSA".into();
                jwk.n = b64(rsa.n().to_vec());
                jwk.e = b64(rsa.e().to_vec());
            }
            Alg::Es256 => {
                let ec = public.ec_key().map_err(build_err)?;
                let mut x = openssl::bn::BigNum::new().map_err(build_err)?;
                let mut y = openssl::bn::BigNum::new().map_err(build_err)?;
                let mut ctx = openssl::bn::BigNumContext::new().map_err(build_err)?;
                ec.public_key()
                    .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                    .map_err(build_err)?;
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = b64(x.to_vec_padded(32).map_err(build_err)?);
                jwk.y = b64(y.to_vec_padded(32).map_err(build_err)?);
            }
        }
        Ok(jwk)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct PublishedJwks {
    pub keys: Vec<PublishedJwk>,
}

/// The keys whose signatures may be met: next (about to sign), active, previous (tokens it
/// signed may still be live). Retired keys are gone.
pub async fn jwks(svc: &Services, tenant: &Tenant) -> Result<PublishedJwks, DocumentError> {
    let mut keys = Vec::new();
    for k in keys::list(&svc.store, tenant.id).await? {
        if !matches!(
            k.state,
            KeyState::Next | KeyState::Active | KeyState::Previous
        ) {
            continue;
        }
        keys.push(PublishedJwk::of(&k)?);
    }
    Ok(PublishedJwks { keys })
}

/// The tenant's discovery document, from the cache or built on a miss.
pub async fn discovery_document(
    svc: &Services,
    tenant: &Tenant,
) -> Result<Arc<Document>, DocumentError> {
    svc.caches
        .document(tenant.id, DocumentKind::Discovery, async || {
            let issuer = svc.public_url.tenant_origin(tenant.slug.as_str());
            serde_json::to_string(&discovery(&issuer)?).map_err(build_err)
        })
        .await
}

/// The tenant's JWKS, from the cache or built on a miss.
pub async fn jwks_document(
    svc: &Services,
    tenant: &Tenant,
) -> Result<Arc<Document>, DocumentError> {
    svc.caches
        .document(tenant.id, DocumentKind::Jwks, async || {
            serde_json::to_string(&jwks(svc, tenant).await?).map_err(build_err)
        })
        .await
}
