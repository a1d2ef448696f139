//! Building and signing SAML Responses ourselves (SAML Core §3.3.3, Profiles §4.1.4.2): random
//! IDs, `Issuer`, `Destination`, `InResponseTo`, `Status`; an Assertion with a bearer
//! `SubjectConfirmation` (`Recipient`, `InResponseTo`, `NotOnOrAfter`), `Conditions` with
//! `NotBefore`/`NotOnOrAfter` and the SP as the only audience, an `AuthnStatement` and the mapped
//! attributes. Every value is escaped here. Signatures are RSA-SHA256 with SHA-256 digests and
//! exclusive c14n, made by libxmlsec1 through samael: the assertion first, then (with its own
//! template added) the response.

use base64::Engine;
use samael::crypto::CryptoProvider;

use super::sps::{ServiceProvider, Signing};
use crate::crypto::random_bytes;

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const PASSWORD_CLASS: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
/// REFEDS MFA profile: the common way to say "a second factor was used" in SAML.
const MFA_CLASS: &str = "https://refeds.org/profile/mfa";
/// Allowed clock difference with the SP, before `NotBefore`.
const SKEW_MS: i64 = 60_000;

/// A SAML status: top-level code and optional second-level code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Success,
    /// The request was wrong (SAML Core §3.2.2.2 `Requester`).
    Requester,
    /// We failed.
    Responder,
    AuthnFailed,
    NoPassive,
    RequestDenied,
    InvalidNameIdPolicy,
    RequestUnsupported,
    UnknownPrincipal,
}

impl Status {
    /// The top-level and second-level code names (after `urn:oasis:names:tc:SAML:2.0:status:`).
    fn codes(self) -> (&'static str, Option<&'static str>) {
        match self {
            Status::Success => ("Success", None),
            Status::Requester => ("Requester", None),
            Status::Responder => ("Responder", None),
            Status::AuthnFailed => ("Responder", Some("AuthnFailed")),
            Status::NoPassive => ("Responder", Some("NoPassive")),
            Status::RequestDenied => ("Responder", Some("RequestDenied")),
            Status::InvalidNameIdPolicy => ("Requester", Some("InvalidNameIDPolicy")),
            Status::RequestUnsupported => ("Requester", Some("RequestUnsupported")),
            Status::UnknownPrincipal => ("Requester", Some("UnknownPrincipal")),
        }
    }
}

fn status_xml(status: Status, message: Option<&str>) -> String {
    let (top, second) = status.codes();
    let p = "urn:oasis:names:tc:SAML:2.0:status:";
    let inner = second
        .map(|s| format!(r#"<samlp:StatusCode Value="{p}{s}"/>"#))
        .unwrap_or_default();
    let message = message
        .map(|m| format!("<samlp:StatusMessage>{}</samlp:StatusMessage>", escape(m)))
        .unwrap_or_default();
    format!(
        r#"<samlp:Status><samlp:StatusCode Value="{p}{top}">{inner}</samlp:StatusCode>{message}</samlp:Status>"#
    )
}

/// XML text and attribute escaping: `&`, `<`, `>`, `"`, `'`; control characters (other than
/// tab, newline and carriage return) cannot appear in XML 1.0 at all and are dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A fresh message ID (an NCName: `_` and 160 random bits in hex).
pub fn new_id() -> String {
    format!("_{}", crate::login::totp::hex(&random_bytes::<20>()))
}

/// `xs:dateTime` in UTC, to the second.
pub fn instant(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// One attribute going out: name, friendly name, values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutAttribute {
    pub name: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// Everything a successful Response says.
pub struct Assertion<'a> {
    pub idp_entity_id: &'a str,
    pub sp: &'a ServiceProvider,
    pub acs_url: &'a str,
    pub in_response_to: Option<&'a str>,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: &'a str,
    pub authn_instant_ms: i64,
    pub mfa: bool,
    pub attributes: &'a [OutAttribute],
    pub now_ms: i64,
}

const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// An enveloped-signature template for the element with `id`, carrying our certificate.
fn signature_template(id: &str, certificate_b64: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="{DSIG_NS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

/// An unsigned Response, with signature templates where `signing` wants them; returns it with
/// the response and assertion IDs.
fn success_xml(
    a: &Assertion<'_>,
    certificate_b64: &str,
    assertion_template: bool,
) -> (String, String, String) {
    let response_id = new_id();
    let assertion_id = new_id();
    let now = instant(a.now_ms);
    let not_before = instant(a.now_ms - SKEW_MS);
    let not_after = instant(a.now_ms + i64::from(a.sp.config.assertion_seconds) * 1000);
    let in_response_to = a
        .in_response_to
        .map(|r| format!(r#" InResponseTo="{}""#, escape(r)))
        .unwrap_or_default();
    let issuer = format!(
        r#"<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{}</saml:Issuer>"#,
        escape(a.idp_entity_id)
    );
    let mut attributes = String::new();
    for attr in a.attributes.iter().filter(|x| !x.values.is_empty()) {
        let friendly = attr
            .friendly_name
            .as_deref()
            .map(|f| format!(r#" FriendlyName="{}""#, escape(f)))
            .unwrap_or_default();
        attributes.push_str(&format!(
            r#"<saml:Attribute Name="{}" NameFormat="{}"{friendly}>"#,
            escape(&attr.name),
            if attr.name.starts_with("urn:") {
                "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
            } else {
                "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
            }
        ));
        for v in &attr.values {
            attributes.push_str(&format!(
                r#"<saml:AttributeValue xsi:type="xs:string">{}</saml:AttributeValue>"#,
                escape(v)
            ));
        }
        attributes.push_str("</saml:Attribute>");
    }
    let attribute_statement = if attributes.is_empty() {
        String::new()
    } else {
        format!("<saml:AttributeStatement>{attributes}</saml:AttributeStatement>")
    };
    let assertion_signature = if assertion_template {
        signature_template(&assertion_id, certificate_b64)
    } else {
        String::new()
    };
    let acs = escape(a.acs_url);
    let audience = escape(&a.sp.entity_id);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{now}" Destination="{acs}"{in_response_to}>{issuer}{status}<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{assertion_id}" Version="2.0" IssueInstant="{now}">{issuer}{assertion_signature}<saml:Subject><saml:NameID Format="{format}">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{not_after}" Recipient="{acs}"{in_response_to}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_after}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{authn}" SessionIndex="{session_index}"><saml:AuthnContext><saml:AuthnContextClassRef>{class}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>{attribute_statement}</saml:Assertion></samlp:Response>"#,
        status = status_xml(Status::Success, None),
        format = escape(a.name_id_format),
        name_id = escape(a.name_id),
        authn = instant(a.authn_instant_ms),
        session_index = escape(a.session_index),
        class = if a.mfa { MFA_CLASS } else { PASSWORD_CLASS },
    );
    (xml, response_id, assertion_id)
}

/// An unsigned error Response (no assertion).
fn error_xml(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: Option<&str>,
    status: Status,
    message: Option<&str>,
    now_ms: i64,
) -> (String, String) {
    let response_id = new_id();
    let in_response_to = in_response_to
        .map(|r| format!(r#" InResponseTo="{}""#, escape(r)))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{now}" Destination="{destination}"{in_response_to}><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{issuer}</saml:Issuer>{status}</samlp:Response>"#,
        now = instant(now_ms),
        destination = escape(destination),
        issuer = escape(idp_entity_id),
        status = status_xml(status, message),
    );
    (xml, response_id)
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("XML signing failed: {0}")]
    Sign(String),
    #[error("the signed document has no issuer to place a signature after")]
    NoIssuer,
}

/// The tenant's signing material for SAML: the RSA private key (DER) and the certificate
/// (base64 DER, as `ds:X509Certificate` holds it).
pub struct SigningKey {
    pub private_der: zeroize::Zeroizing<Vec<u8>>,
    pub certificate_b64: String,
}

fn sign_first_template(xml: &str, key: &SigningKey) -> Result<String, SignError> {
    super::xmlsec_log::install();
    samael::crypto::XmlSec::sign_xml(xml, &key.private_der)
        .map_err(|e| SignError::Sign(e.to_string()))
}

/// Adds a signature template for the response right after its `Issuer` (schema order).
fn with_response_template(
    xml: &str,
    response_id: &str,
    key: &SigningKey,
) -> Result<String, SignError> {
    let end = xml.find("</saml:Issuer>").ok_or(SignError::NoIssuer)? + "</saml:Issuer>".len();
    let mut out = String::with_capacity(xml.len() + 2048);
    out.push_str(&xml[..end]);
    out.push_str(&signature_template(response_id, &key.certificate_b64));
    out.push_str(&xml[end..]);
    Ok(out)
}

/// A signed successful Response, as the XML text to deliver. CPU-heavy: run it on the
/// blocking pool.
pub fn signed_success(a: &Assertion<'_>, key: &SigningKey) -> Result<String, SignError> {
    let signing = a.sp.config.signing;
    let sign_assertion = matches!(signing, Signing::Assertion | Signing::Both);
    let (xml, response_id, _) = success_xml(a, &key.certificate_b64, sign_assertion);
    let mut xml = if sign_assertion {
        sign_first_template(&xml, key)?
    } else {
        xml
    };
    if matches!(signing, Signing::Response | Signing::Both) {
        // libxmlsec signs the first template in document order: the response's, which sits
        // before the (already signed) assertion.
        xml = sign_first_template(&with_response_template(&xml, &response_id, key)?, key)?;
    }
    Ok(xml)
}

/// A signed error Response (the SP is trusted and its ACS known).
pub fn signed_error(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: Option<&str>,
    status: Status,
    message: Option<&str>,
    key: &SigningKey,
    now_ms: i64,
) -> Result<String, SignError> {
    let (xml, response_id) = error_xml(
        idp_entity_id,
        destination,
        in_response_to,
        status,
        message,
        now_ms,
    );
    sign_first_template(&with_response_template(&xml, &response_id, key)?, key)
}

/// An unsigned LogoutResponse (SAML Core §3.7.2).
fn logout_response_xml(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: &str,
    status: Status,
    now_ms: i64,
) -> (String, String) {
    let id = new_id();
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{destination}" InResponseTo="{irt}"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{issuer}</saml:Issuer>{status}</samlp:LogoutResponse>"#,
        now = instant(now_ms),
        destination = escape(destination),
        irt = escape(in_response_to),
        issuer = escape(idp_entity_id),
        status = status_xml(status, None),
    );
    (xml, id)
}

/// A LogoutResponse for the HTTP-POST binding: enveloped signature.
pub fn signed_logout_response(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: &str,
    status: Status,
    key: &SigningKey,
    now_ms: i64,
) -> Result<String, SignError> {
    let (xml, id) = logout_response_xml(idp_entity_id, destination, in_response_to, status, now_ms);
    sign_first_template(&with_response_template(&xml, &id, key)?, key)
}

/// A LogoutResponse for the HTTP-Redirect binding: the query to append to the SP's endpoint.
pub fn logout_response_query(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: &str,
    status: Status,
    relay_state: Option<&str>,
    key: &SigningKey,
    now_ms: i64,
) -> Result<String, SignError> {
    let (xml, _) = logout_response_xml(idp_entity_id, destination, in_response_to, status, now_ms);
    redirect_query("SAMLResponse", &xml, relay_state, key)
}

/// What an IdP-initiated LogoutRequest says (SAML Core §3.7.1).
pub struct LogoutRequestOut<'a> {
    /// The request's ID (from `new_id`): the SP's answer must carry it as InResponseTo.
    pub id: &'a str,
    pub idp_entity_id: &'a str,
    pub destination: &'a str,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: &'a str,
    pub now_ms: i64,
}

fn logout_request_xml(r: &LogoutRequestOut<'_>) -> (String, String) {
    let id = escape(r.id);
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{destination}" NotOnOrAfter="{until}"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{issuer}</saml:Issuer><saml:NameID Format="{format}">{name_id}</saml:NameID><samlp:SessionIndex>{index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        now = instant(r.now_ms),
        until = instant(r.now_ms + 5 * 60_000),
        destination = escape(r.destination),
        issuer = escape(r.idp_entity_id),
        format = escape(r.name_id_format),
        name_id = escape(r.name_id),
        index = escape(r.session_index),
    );
    (xml, id)
}

/// An IdP-initiated LogoutRequest for the HTTP-POST binding (enveloped signature).
pub fn signed_logout_request(
    r: &LogoutRequestOut<'_>,
    key: &SigningKey,
) -> Result<String, SignError> {
    let (xml, id) = logout_request_xml(r);
    sign_first_template(&with_response_template(&xml, &id, key)?, key)
}

/// An IdP-initiated LogoutRequest for the HTTP-Redirect binding: the signed query.
pub fn logout_request_query(
    r: &LogoutRequestOut<'_>,
    relay_state: Option<&str>,
    key: &SigningKey,
) -> Result<String, SignError> {
    let (xml, _) = logout_request_xml(r);
    redirect_query("SAMLRequest", &xml, relay_state, key)
}

/// The HTTP-Redirect binding (SAML Bindings §3.4.4): `param` (deflated, base64), `RelayState`,
/// `SigAlg`, and an RSA-SHA256 `Signature` over exactly those query bytes.
fn redirect_query(
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &SigningKey,
) -> Result<String, SignError> {
    use std::io::Write;
    let sign_err = |e: &dyn std::fmt::Display| SignError::Sign(e.to_string());
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater
        .write_all(xml.as_bytes())
        .map_err(|e| sign_err(&e))?;
    let deflated = deflater.finish().map_err(|e| sign_err(&e))?;
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut query = format!(
        "{param}={}",
        enc(&base64::engine::general_purpose::STANDARD.encode(deflated))
    );
    if let Some(rs) = relay_state {
        query.push_str(&format!("&RelayState={}", enc(rs)));
    }
    query.push_str(&format!(
        "&SigAlg={}",
        enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ));
    let pkey =
        openssl::pkey::PKey::private_key_from_der(&key.private_der).map_err(|e| sign_err(&e))?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)
        .map_err(|e| sign_err(&e))?;
    signer.update(query.as_bytes()).map_err(|e| sign_err(&e))?;
    let signature = signer.sign_to_vec().map_err(|e| sign_err(&e))?;
    query.push_str(&format!(
        "&Signature={}",
        enc(&base64::engine::general_purpose::STANDARD.encode(signature))
    ));
    Ok(query)
}

/// The base64 a POST form carries.
pub fn encode(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("dev & <ops> \"q\" 'a'\u{7}"),
            "dev &amp; &lt;ops&gt; &quot;q&quot; &apos;a&apos;"
        );
    }

    #[test]
    fn ids_are_ncnames_and_instants_are_utc_seconds() {
        let id = new_id();
        assert!(id.starts_with('_') && id.len() == 41);
        assert_ne!(id, new_id());
        assert_eq!(instant(1_800_000_000_123), "2027-01-15T08:00:00Z");
    }

    #[test]
    fn status_codes_nest_second_level_codes() {
        let x = status_xml(Status::NoPassive, Some("a & b"));
        assert!(x.contains(r#"Value="urn:oasis:names:tc:SAML:2.0:status:Responder""#));
        assert!(x.contains(r#"Value="urn:oasis:names:tc:SAML:2.0:status:NoPassive""#));
        assert!(x.contains("a &amp; b"));
    }
}
