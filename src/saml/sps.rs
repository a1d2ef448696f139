//! The service-provider registry: SPs registered per tenant by importing their metadata or by
//! hand, each with its endpoints, certificates, NameID format, attribute mapping and signing
//! options. Only what is registered here is ever used: an ACS URL or certificate that appears
//! only in a request is never trusted.

use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::inbound;
use crate::audit::{self, By};
use crate::directory::Tenant;
use crate::directory::access::{App, AppKind};
use crate::keys::KeyError;
use crate::services::Services;
use crate::store::saml_sps::{self, SpRow};
use crate::store::{StoreError, epoch};

pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const MAX_ENDPOINTS: usize = 32;
const MAX_CERTIFICATES: usize = 4;
pub const MAX_ATTRIBUTES: usize = 32;
/// SAML Bindings §3.4.3: RelayState MUST NOT exceed 80 bytes.
pub const MAX_RELAY_STATE: usize = 80;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    Email,
    /// An opaque pairwise id, stable for the user and this SP, different for every SP.
    Persistent,
    /// A new random id for every assertion.
    Transient,
    Unspecified,
}

impl NameIdFormat {
    pub const ALL: [NameIdFormat; 4] = [
        NameIdFormat::Email,
        NameIdFormat::Persistent,
        NameIdFormat::Transient,
        NameIdFormat::Unspecified,
    ];

    pub fn urn(self) -> &'static str {
        match self {
            NameIdFormat::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            NameIdFormat::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            NameIdFormat::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            NameIdFormat::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            NameIdFormat::Email => "email",
            NameIdFormat::Persistent => "persistent",
            NameIdFormat::Transient => "transient",
            NameIdFormat::Unspecified => "unspecified",
        }
    }

    /// A short name (`email`, `persistent`, …) or the full URN.
    pub fn parse(s: &str) -> Option<NameIdFormat> {
        NameIdFormat::ALL
            .into_iter()
            .find(|f| f.short() == s || f.urn() == s)
    }
}

/// Which parts of the Response are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signing {
    Assertion,
    Response,
    Both,
}

impl Signing {
    pub fn parse(s: &str) -> Option<Signing> {
        match s {
            "assertion" => Some(Signing::Assertion),
            "response" => Some(Signing::Response),
            "both" => Some(Signing::Both),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Signing::Assertion => "assertion",
            Signing::Response => "response",
            Signing::Both => "both",
        }
    }
}

/// A user field an attribute carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeSource {
    Username,
    Email,
    DisplayName,
    UserId,
    /// The user's groups (one value each).
    Groups,
    /// A custom attribute of the directory, by its name (`attr.<name>` in a rule); sent only
    /// when the user has a value.
    Custom(String),
}

impl AttributeSource {
    pub fn parse(s: &str) -> Option<AttributeSource> {
        Some(match s {
            "username" => AttributeSource::Username,
            "email" => AttributeSource::Email,
            "display_name" => AttributeSource::DisplayName,
            "user_id" => AttributeSource::UserId,
            "groups" => AttributeSource::Groups,
            other => {
                AttributeSource::Custom(crate::directory::attributes::referenced(other)?.to_owned())
            }
        })
    }

    pub fn to_text(&self) -> String {
        match self {
            AttributeSource::Username => "username".into(),
            AttributeSource::Email => "email".into(),
            AttributeSource::DisplayName => "display_name".into(),
            AttributeSource::UserId => "user_id".into(),
            AttributeSource::Groups => "groups".into(),
            AttributeSource::Custom(name) => crate::directory::attributes::reference(name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    pub source: AttributeSource,
    pub name: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
}

impl AttributeRule {
    /// `source=Name` or `source=Name:FriendlyName`... with the name possibly a URN containing
    /// colons, the friendly name follows the last `|`: `email=urn:oid:0.9.2342.19200300.100.1.3|mail`.
    pub fn parse(text: &str) -> Result<AttributeRule, SpError> {
        let (source, rest) = text.split_once('=').ok_or_else(|| {
            invalid(format!(
                "attribute `{}`: use source=Name[|FriendlyName]",
                clip(text)
            ))
        })?;
        let source = AttributeSource::parse(source.trim()).ok_or_else(|| {
            invalid(format!(
                "attribute source `{}` is not one of: username, email, display_name, user_id, \
                 groups, attr.<custom attribute name>",
                clip(source)
            ))
        })?;
        let (name, friendly) = match rest.rsplit_once('|') {
            Some((n, f)) => (n.trim(), Some(f.trim().to_owned())),
            None => (rest.trim(), None),
        };
        Ok(AttributeRule {
            source,
            name: name.to_owned(),
            friendly_name: friendly.filter(|f| !f.is_empty()),
        })
    }

    /// The rule as [`AttributeRule::parse`] reads it.
    pub fn to_text(&self) -> String {
        match &self.friendly_name {
            Some(f) => format!("{}={}|{f}", self.source.to_text(), self.name),
            None => format!("{}={}", self.source.to_text(), self.name),
        }
    }

    /// The mapping new SPs get: the usual LDAP/eduPerson OIDs with friendly names.
    pub fn defaults() -> Vec<AttributeRule> {
        let rule = |source, name: &str, friendly: &str| AttributeRule {
            source,
            name: name.into(),
            friendly_name: Some(friendly.into()),
        };
        vec![
            rule(
                AttributeSource::Username,
                "urn:oid:0.9.2342.19200300.100.1.1",
                "uid",
            ),
            rule(
                AttributeSource::Email,
                "urn:oid:0.9.2342.19200300.100.1.3",
                "mail",
            ),
            rule(
                AttributeSource::DisplayName,
                "urn:oid:2.16.840.1.113730.3.1.241",
                "displayName",
            ),
        ]
    }
}

/// An AssertionConsumerService (HTTP-POST binding: the only one we deliver responses on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acs {
    pub url: String,
    pub index: u16,
    pub is_default: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub binding: String,
    pub url: String,
    #[serde(default)]
    pub response_url: Option<String>,
}

/// Everything an SP is configured with besides its entity id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpConfig {
    pub acs: Vec<Acs>,
    pub slo: Vec<Slo>,
    /// PEM certificates the SP signs requests with.
    pub signing_certificates: Vec<String>,
    /// PEM certificates the SP publishes for encryption (kept; assertions are not encrypted).
    pub encryption_certificates: Vec<String>,
    pub name_id_format: NameIdFormat,
    pub attributes: Vec<AttributeRule>,
    pub signing: Signing,
    pub require_signed_requests: bool,
    pub assertion_seconds: u32,
    pub idp_initiated: bool,
    pub default_relay_state: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceProvider {
    pub id: String,
    pub entity_id: String,
    pub name: String,
    pub config: SpConfig,
    /// Only users assigned to the SP (directly or by group) may sign in to it.
    pub assigned_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ServiceProvider {
    /// The SP as an application users are assigned to.
    pub fn app(&self) -> App {
        App {
            kind: AppKind::SamlSps,
            id: self.id.clone(),
            subject: format!("sp:{}", self.entity_id),
            assigned_only: self.assigned_only,
        }
    }

    /// The options this SP is configured with, to edit and pass to [`update`].
    pub fn options(&self) -> SpOptions {
        let c = &self.config;
        SpOptions {
            name: Some(self.name.clone()),
            name_id_format: Some(c.name_id_format),
            signing: Some(c.signing),
            require_signed_requests: Some(c.require_signed_requests),
            assertion_seconds: Some(c.assertion_seconds),
            idp_initiated: c.idp_initiated,
            default_relay_state: c.default_relay_state.clone(),
            attributes: Some(c.attributes.clone()),
        }
    }

    /// The ACS to answer on: by exact URL, by index, or the default (SAML Metadata §2.2.3: the
    /// one marked default, else the first). `None` when a URL or index is asked for that is not
    /// registered.
    pub fn acs(&self, url: Option<&str>, index: Option<u16>) -> Option<&Acs> {
        let all = &self.config.acs;
        match (url, index) {
            (Some(u), _) => all.iter().find(|a| a.url == u),
            (None, Some(i)) => all.iter().find(|a| a.index == i),
            (None, None) => all.iter().find(|a| a.is_default).or_else(|| all.first()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpError {
    #[error("{0}")]
    Invalid(String),
    #[error("the metadata cannot be read: {0}")]
    Metadata(String),
    #[error("a service provider `{0}` is already registered in this tenant")]
    Exists(String),
    #[error("there is no service provider `{0}` in this tenant")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn invalid(msg: impl Into<String>) -> SpError {
    SpError::Invalid(msg.into())
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

/// An endpoint URL we deliver to or accept from: `https`, or `http` on a loopback host; no
/// fragment, no userinfo.
fn check_url(what: &str, raw: &str) -> Result<String, SpError> {
    let bad = |why: &str| Err(invalid(format!("{what} `{}`: {why}", clip(raw))));
    let raw = raw.trim();
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("too long or contains spaces or control characters");
    }
    let Ok(url) = url::Url::parse(raw) else {
        return bad("not an absolute URL");
    };
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return bad("must have no fragment and no user information");
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(raw.to_owned()),
        "http" if loopback => Ok(raw.to_owned()),
        _ => bad("must be https (plain http only on a loopback host)"),
    }
}

/// A certificate as PEM: from PEM, or from the base64 DER of a `ds:X509Certificate`. RSA keys
/// must be 2048 bits or more; EC keys P-256 or stronger.
pub fn normalize_certificate(text: &str) -> Result<String, SpError> {
    let text = text.trim();
    if text.len() > 16 * 1024 {
        return Err(invalid("a certificate is too large"));
    }
    let cert = if text.starts_with("-----BEGIN") {
        X509::from_pem(text.as_bytes())
    } else {
        use base64::Engine;
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| invalid("a certificate is neither PEM nor base64 DER"))?;
        X509::from_der(&der)
    }
    .map_err(|_| invalid("a certificate cannot be parsed"))?;
    let key = cert
        .public_key()
        .map_err(|_| invalid("a certificate has no usable public key"))?;
    let strong = match key.id() {
        openssl::pkey::Id::RSA => key.bits() >= 2048,
        openssl::pkey::Id::EC => key.bits() >= 256,
        _ => false,
    };
    if !strong {
        return Err(invalid(
            "a certificate's key must be RSA (2048 bits or more) or EC (P-256 or stronger)",
        ));
    }
    let pem = cert
        .to_pem()
        .map_err(|_| invalid("a certificate cannot be encoded"))?;
    Ok(String::from_utf8_lossy(&pem).into_owned())
}

/// An entity id: 1 to 1024 characters, no spaces or control characters.
fn check_entity_id(raw: &str) -> Result<String, SpError> {
    let entity_id = raw.trim();
    if entity_id.is_empty()
        || entity_id.len() > 1024
        || entity_id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid(
            "the entity id must be 1 to 1024 characters without spaces",
        ));
    }
    Ok(entity_id.to_owned())
}

/// An SP's display name: 1 to 200 characters, no control characters.
fn check_name(name: &str) -> Result<(), SpError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid("the name must be 1 to 200 characters"));
    }
    Ok(())
}

/// The message of a refusal, without its kind.
fn message(e: SpError) -> String {
    match e {
        SpError::Invalid(m) => m,
        other => other.to_string(),
    }
}

/// What the operator chose, on top of what the metadata says.
#[derive(Clone, Debug, Default)]
pub struct SpOptions {
    pub name: Option<String>,
    pub name_id_format: Option<NameIdFormat>,
    pub signing: Option<Signing>,
    pub require_signed_requests: Option<bool>,
    pub assertion_seconds: Option<u32>,
    pub idp_initiated: bool,
    pub default_relay_state: Option<String>,
    pub attributes: Option<Vec<AttributeRule>>,
}

impl SpOptions {
    /// Every problem with these options, each with the form field it belongs to (`name`,
    /// `attributes`, `assertion_seconds`, `default_relay_state`), in the form's order. An
    /// option left unset takes its default, which is sound.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        if let Some(Err(e)) = self.name.as_deref().map(check_name) {
            out.push(("name", message(e)));
        }
        let attributes = self.attributes.as_deref().unwrap_or_default();
        let ok = |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control);
        if attributes.len() > MAX_ATTRIBUTES {
            out.push(("attributes", format!("at most {MAX_ATTRIBUTES} attributes")));
        } else if attributes
            .iter()
            .any(|a| !ok(&a.name) || a.friendly_name.as_deref().is_some_and(|f| !ok(f)))
        {
            out.push((
                "attributes",
                "attribute names must be 1 to 256 characters".into(),
            ));
        }
        if self
            .assertion_seconds
            .is_some_and(|s| !(60..=3600).contains(&s))
        {
            out.push((
                "assertion_seconds",
                "the assertion lifetime must be 60 to 3600 seconds".into(),
            ));
        }
        if self
            .default_relay_state
            .as_deref()
            .is_some_and(|rs| rs.len() > MAX_RELAY_STATE || rs.chars().any(char::is_control))
        {
            out.push((
                "default_relay_state",
                format!(
                    "the default RelayState must be at most {MAX_RELAY_STATE} bytes, without \
                     control characters"
                ),
            ));
        }
        out
    }
}

/// An SP described by hand.
#[derive(Clone, Debug, Default)]
pub struct ManualSp {
    pub entity_id: String,
    /// ACS URLs (HTTP-POST); the first is the default.
    pub acs_urls: Vec<String>,
    /// SLO endpoints (HTTP-Redirect).
    pub slo_urls: Vec<String>,
    pub certificates: Vec<String>,
}

impl ManualSp {
    /// Every problem with an SP described by hand, each with the form field it belongs to
    /// (`entity_id`, `acs_urls`, `slo_urls`, `certificate`), in the form's order.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        if let Err(e) = check_entity_id(&self.entity_id) {
            out.push(("entity_id", message(e)));
        }
        let urls = |what: &str, urls: &[String]| -> Option<String> {
            if urls.len() > MAX_ENDPOINTS {
                return Some(format!("at most {MAX_ENDPOINTS} {what}s"));
            }
            urls.iter()
                .find_map(|u| check_url(what, u).err())
                .map(message)
        };
        if self.acs_urls.is_empty() {
            out.push(("acs_urls", "at least one ACS URL is needed".into()));
        } else if let Some(p) = urls("ACS URL", &self.acs_urls) {
            out.push(("acs_urls", p));
        }
        if let Some(p) = urls("SLO URL", &self.slo_urls) {
            out.push(("slo_urls", p));
        }
        if let Some(e) = self
            .certificates
            .iter()
            .find_map(|c| normalize_certificate(c).err())
        {
            out.push(("certificate", message(e)));
        }
        out
    }
}

/// What a metadata document or a manual entry provides before options are applied.
struct Described {
    entity_id: String,
    acs: Vec<Acs>,
    slo: Vec<Slo>,
    signing_certificates: Vec<String>,
    encryption_certificates: Vec<String>,
    /// The SP's NameIDFormats, in its order of preference.
    name_id_formats: Vec<String>,
    authn_requests_signed: bool,
}

/// Reads SP metadata: one EntityDescriptor (or the one named `entity_id` in an
/// EntitiesDescriptor), every SPSSODescriptor in it.
fn read_metadata(xml: &str, entity_id: Option<&str>) -> Result<Described, SpError> {
    use std::str::FromStr;
    inbound::precheck_metadata(xml).map_err(|e| SpError::Metadata(e.to_string()))?;
    let doc = samael::metadata::EntityDescriptorType::from_str(xml)
        .map_err(|_| SpError::Metadata("it is not SAML 2.0 metadata".into()))?;
    let candidates: Vec<&samael::metadata::EntityDescriptor> = doc
        .iter()
        .filter(|e| e.sp_sso_descriptors.as_ref().is_some_and(|d| !d.is_empty()))
        .filter(|e| entity_id.is_none_or(|want| e.entity_id.as_deref() == Some(want)))
        .collect();
    let entity = match candidates.as_slice() {
        [one] => *one,
        [] => {
            return Err(SpError::Metadata(
                "it describes no service provider (SPSSODescriptor)".into(),
            ));
        }
        _ => {
            return Err(SpError::Metadata(
                "it describes several service providers: name the one to register by its entity id"
                    .into(),
            ));
        }
    };
    let entity_id = entity
        .entity_id
        .clone()
        .ok_or_else(|| SpError::Metadata("the EntityDescriptor has no entityID".into()))?;
    let mut out = Described {
        entity_id,
        acs: Vec::new(),
        slo: Vec::new(),
        signing_certificates: Vec::new(),
        encryption_certificates: Vec::new(),
        name_id_formats: Vec::new(),
        authn_requests_signed: false,
    };
    for sp in entity.sp_sso_descriptors.iter().flatten() {
        for acs in sp
            .assertion_consumer_services
            .iter()
            .filter(|a| a.binding == BINDING_POST)
        {
            let index = u16::try_from(acs.index)
                .map_err(|_| SpError::Metadata("an ACS index is out of range".into()))?;
            out.acs.push(Acs {
                url: acs.location.clone(),
                index,
                is_default: acs.is_default == Some(true),
            });
        }
        for slo in sp
            .single_logout_services
            .iter()
            .flatten()
            .filter(|s| s.binding == BINDING_POST || s.binding == BINDING_REDIRECT)
        {
            out.slo.push(Slo {
                binding: slo.binding.clone(),
                url: slo.location.clone(),
                response_url: slo.response_location.clone(),
            });
        }
        for kd in sp.key_descriptors.iter().flatten() {
            let certs = kd
                .key_info
                .x509_data
                .iter()
                .flat_map(|d| d.certificates.iter());
            for cert in certs {
                let pem = normalize_certificate(cert)?;
                let usage = kd.key_use.as_deref();
                if usage != Some("encryption") && !out.signing_certificates.contains(&pem) {
                    out.signing_certificates.push(pem.clone());
                }
                if usage != Some("signing") && !out.encryption_certificates.contains(&pem) {
                    out.encryption_certificates.push(pem);
                }
            }
        }
        out.name_id_formats
            .extend(sp.name_id_formats.iter().flatten().cloned());
        out.authn_requests_signed |= sp.authn_requests_signed == Some(true);
    }
    if out.acs.is_empty() {
        return Err(SpError::Metadata(
            "it has no AssertionConsumerService with the HTTP-POST binding".into(),
        ));
    }
    Ok(out)
}

fn described_by_hand(m: ManualSp) -> Result<Described, SpError> {
    let acs = m
        .acs_urls
        .iter()
        .enumerate()
        .map(|(i, url)| Acs {
            url: url.clone(),
            index: u16::try_from(i).unwrap_or(u16::MAX),
            is_default: i == 0,
        })
        .collect();
    let slo = m
        .slo_urls
        .iter()
        .map(|url| Slo {
            binding: BINDING_REDIRECT.into(),
            url: url.clone(),
            response_url: None,
        })
        .collect();
    let certs = m
        .certificates
        .iter()
        .map(|c| normalize_certificate(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Described {
        entity_id: m.entity_id,
        acs,
        slo,
        signing_certificates: certs.clone(),
        encryption_certificates: certs,
        name_id_formats: Vec::new(),
        authn_requests_signed: false,
    })
}

/// Applies the options, checks everything, and returns the SP to store.
fn build(d: Described, o: SpOptions, now: i64) -> Result<ServiceProvider, SpError> {
    let entity_id = check_entity_id(&d.entity_id)?;
    if let Some((_, problem)) = o.problems().into_iter().next() {
        return Err(invalid(problem));
    }
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| entity_id.clone())
        .trim()
        .to_owned();
    check_name(&name)?;
    if d.acs.is_empty() || d.acs.len() > MAX_ENDPOINTS || d.slo.len() > MAX_ENDPOINTS {
        return Err(invalid(format!(
            "1 to {MAX_ENDPOINTS} ACS URLs and at most {MAX_ENDPOINTS} SLO endpoints"
        )));
    }
    let mut acs = Vec::new();
    for a in d.acs {
        if acs.iter().any(|b: &Acs| b.index == a.index) {
            return Err(invalid(format!("two ACS endpoints have index {}", a.index)));
        }
        acs.push(Acs {
            url: check_url("ACS URL", &a.url)?,
            ..a
        });
    }
    if acs.iter().filter(|a| a.is_default).count() > 1 {
        return Err(invalid("more than one ACS endpoint is marked default"));
    }
    let slo = d
        .slo
        .into_iter()
        .map(|s| {
            Ok(Slo {
                url: check_url("SLO URL", &s.url)?,
                response_url: s
                    .response_url
                    .map(|r| check_url("SLO response URL", &r))
                    .transpose()?,
                binding: s.binding,
            })
        })
        .collect::<Result<Vec<_>, SpError>>()?;
    if d.signing_certificates.len() > MAX_CERTIFICATES
        || d.encryption_certificates.len() > MAX_CERTIFICATES
    {
        return Err(invalid(format!(
            "at most {MAX_CERTIFICATES} certificates per use"
        )));
    }
    let require_signed_requests = o.require_signed_requests.unwrap_or(d.authn_requests_signed);
    if require_signed_requests && d.signing_certificates.is_empty() {
        return Err(invalid(
            "signed requests are required but the SP has no signing certificate",
        ));
    }
    let name_id_format = o.name_id_format.unwrap_or_else(|| {
        d.name_id_formats
            .iter()
            .find_map(|f| NameIdFormat::parse(f).filter(|f| *f != NameIdFormat::Unspecified))
            .unwrap_or(NameIdFormat::Persistent)
    });
    let attributes = o.attributes.unwrap_or_else(AttributeRule::defaults);
    let assertion_seconds = o.assertion_seconds.unwrap_or(300);
    Ok(ServiceProvider {
        id: uuid::Uuid::now_v7().to_string(),
        entity_id,
        name,
        config: SpConfig {
            acs,
            slo,
            signing_certificates: d.signing_certificates,
            encryption_certificates: d.encryption_certificates,
            name_id_format,
            attributes,
            signing: o.signing.unwrap_or(Signing::Both),
            require_signed_requests,
            assertion_seconds,
            idp_initiated: o.idp_initiated,
            default_relay_state: o.default_relay_state.filter(|s| !s.is_empty()),
        },
        assigned_only: false,
        created_at: now,
        updated_at: now,
    })
}

fn to_sp(row: SpRow) -> Result<ServiceProvider, StoreError> {
    let config: SpConfig = serde_json::from_str(&row.config)
        .map_err(|e| StoreError::Corrupt(format!("saml sp {}: {e}", row.id)))?;
    Ok(ServiceProvider {
        id: row.id,
        entity_id: row.entity_id,
        name: row.name,
        config,
        assigned_only: row.assigned_only,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn audit_sp(
    svc: &Services,
    tx: &crate::store::Tx,
    (tenant, by, now): (&Tenant, By<'_>, i64),
    operation: &'static str,
    entity_id: &str,
) -> Result<(), SpError> {
    let key = svc.keyring.chain_key_of(tenant)?;
    let subject = Some(format!("sp:{entity_id}"));
    let detail = Some(json!({ "entity_id": entity_id }));
    let event = by.event(operation, subject, detail);
    audit::record(tx, &key, tenant.id, event, now).await?;
    Ok(())
}

fn to_row(sp: &ServiceProvider) -> Result<SpRow, StoreError> {
    Ok(SpRow {
        id: sp.id.clone(),
        entity_id: sp.entity_id.clone(),
        name: sp.name.clone(),
        config: serde_json::to_string(&sp.config)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        assigned_only: sp.assigned_only,
        created_at: sp.created_at,
        updated_at: sp.updated_at,
    })
}

async fn store(
    svc: &Services,
    tenant: &Tenant,
    sp: ServiceProvider,
    by: By<'_>,
    now: i64,
) -> Result<ServiceProvider, SpError> {
    let row = to_row(&sp)?;
    let tx = svc.store.begin().await?;
    saml_sps::insert(&tx, tenant.id, &row)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => SpError::Exists(clip(&sp.entity_id)),
            other => other.into(),
        })?;
    audit_sp(svc, &tx, (tenant, by, now), "sp.create", &sp.entity_id).await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(sp)
}

/// Registers an SP from its metadata document.
pub async fn import(
    svc: &Services,
    tenant: &Tenant,
    metadata_xml: &str,
    entity_id: Option<&str>,
    options: SpOptions,
    by: By<'_>,
    now: i64,
) -> Result<ServiceProvider, SpError> {
    let described = read_metadata(metadata_xml, entity_id)?;
    let sp = build(described, options, now)?;
    store(svc, tenant, sp, by, now).await
}

/// Registers an SP described by hand.
pub async fn create(
    svc: &Services,
    tenant: &Tenant,
    manual: ManualSp,
    options: SpOptions,
    by: By<'_>,
    now: i64,
) -> Result<ServiceProvider, SpError> {
    let sp = build(described_by_hand(manual)?, options, now)?;
    store(svc, tenant, sp, by, now).await
}

/// Reconfigures `sp` with `options`, and with the endpoints and certificates of
/// `metadata_xml` when given (which must describe the same entity id).
pub async fn update(
    svc: &Services,
    tenant: &Tenant,
    sp: &ServiceProvider,
    metadata_xml: Option<&str>,
    options: SpOptions,
    by: By<'_>,
    now: i64,
) -> Result<ServiceProvider, SpError> {
    let described = match metadata_xml {
        Some(xml) => read_metadata(xml, Some(&sp.entity_id)).map_err(|e| match e {
            SpError::Metadata(m) if m.contains("no service provider") => invalid(format!(
                "the metadata does not describe `{}`; register another entity id as a new \
                 application",
                clip(&sp.entity_id)
            )),
            other => other,
        })?,
        None => Described {
            entity_id: sp.entity_id.clone(),
            acs: sp.config.acs.clone(),
            slo: sp.config.slo.clone(),
            signing_certificates: sp.config.signing_certificates.clone(),
            encryption_certificates: sp.config.encryption_certificates.clone(),
            name_id_formats: Vec::new(),
            authn_requests_signed: sp.config.require_signed_requests,
        },
    };
    let built = build(described, options, now)?;
    let updated = ServiceProvider {
        id: sp.id.clone(),
        assigned_only: sp.assigned_only,
        created_at: sp.created_at,
        ..built
    };
    let row = to_row(&updated)?;
    let tx = svc.store.begin().await?;
    if !saml_sps::update(&tx, tenant.id, &row).await? {
        return Err(SpError::NotFound(clip(&sp.entity_id)));
    }
    audit_sp(svc, &tx, (tenant, by, now), "sp.update", &sp.entity_id).await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// The registered SP with this entity id: from memory (until the change epoch moves), or
/// loaded and remembered.
pub async fn find(
    svc: &Services,
    tenant: &Tenant,
    entity_id: &str,
) -> Result<Option<ServiceProvider>, SpError> {
    if entity_id.len() > 1024 {
        return Ok(None);
    }
    let sp = svc
        .caches
        .find_or_load(
            &svc.caches.saml_sps,
            (tenant.id, entity_id.to_owned()),
            async || {
                saml_sps::find(&svc.store, tenant.id, entity_id)
                    .await?
                    .map(to_sp)
                    .transpose()
            },
        )
        .await?;
    Ok(sp.map(|sp| (*sp).clone()))
}

/// The SP with this row id (the console's handle on it), uncached.
pub async fn find_by_id(
    svc: &Services,
    tenant: &Tenant,
    id: &str,
) -> Result<Option<ServiceProvider>, SpError> {
    if id.len() > 36 {
        return Ok(None);
    }
    Ok(saml_sps::find_by_id(&svc.store, tenant.id, id)
        .await?
        .map(to_sp)
        .transpose()?)
}

pub async fn list(svc: &Services, tenant: &Tenant) -> Result<Vec<ServiceProvider>, SpError> {
    Ok(saml_sps::list(&svc.store, tenant.id)
        .await?
        .into_iter()
        .map(to_sp)
        .collect::<Result<_, _>>()?)
}

pub async fn delete(
    svc: &Services,
    tenant: &Tenant,
    entity_id: &str,
    by: By<'_>,
    now: i64,
) -> Result<(), SpError> {
    let sp = find(svc, tenant, entity_id)
        .await?
        .ok_or_else(|| SpError::NotFound(clip(entity_id)))?;
    let tx = svc.store.begin().await?;
    if !saml_sps::delete(&tx, tenant.id, entity_id).await? {
        return Err(SpError::NotFound(clip(entity_id)));
    }
    crate::directory::access::forget_app(&tx, tenant, &sp.id).await?;
    audit_sp(svc, &tx, (tenant, by, now), "sp.delete", entity_id).await?;
    epoch::bump(&tx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_rules_parse_with_urn_names_and_friendly_names() {
        let r = AttributeRule::parse("email=urn:oid:0.9.2342.19200300.100.1.3|mail").unwrap();
        assert_eq!(r.source, AttributeSource::Email);
        assert_eq!(r.name, "urn:oid:0.9.2342.19200300.100.1.3");
        assert_eq!(r.friendly_name.as_deref(), Some("mail"));
        assert_eq!(AttributeRule::parse(&r.to_text()).unwrap(), r);
        let r = AttributeRule::parse("groups=memberOf").unwrap();
        assert_eq!(AttributeRule::parse(&r.to_text()).unwrap(), r);
        let r = AttributeRule::parse("attr.cost_centre=costCentre").unwrap();
        assert_eq!(r.source, AttributeSource::Custom("cost_centre".into()));
        assert_eq!(AttributeRule::parse(&r.to_text()).unwrap(), r);
        assert!(AttributeRule::parse("attr.Bad-Name=x").is_err());
        assert!(AttributeRule::parse("attr.=x").is_err());
        assert_eq!(r.friendly_name, None);
        assert!(AttributeRule::parse("password=x").is_err());
        assert!(AttributeRule::parse("nonsense").is_err());
    }

    #[test]
    fn endpoint_urls_must_be_https_or_loopback() {
        for ok in [
            "https://sp.example.com/acs",
            "http://localhost:8000/acs",
            "http://127.0.0.1/acs",
        ] {
            assert!(check_url("ACS URL", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://sp.example.com/acs",
            "https://user@sp.example.com/acs",
            "https://sp.example.com/acs#x",
            "javascript:alert(1)",
            "/relative",
            "https://sp.example.com/a cs",
        ] {
            assert!(check_url("ACS URL", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_id_formats_parse_short_and_urn() {
        for f in NameIdFormat::ALL {
            assert_eq!(NameIdFormat::parse(f.short()), Some(f));
            assert_eq!(NameIdFormat::parse(f.urn()), Some(f));
        }
        assert_eq!(NameIdFormat::parse("kerberos"), None);
    }
}
