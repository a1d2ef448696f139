//! Reading an AuthnRequest that passed the inbound gate, and checking its signature: the
//! HTTP-Redirect query signature (`SigAlg` + `Signature` over the raw query bytes), or an
//! HTTP-POST enveloped signature whose structure is checked here first (one `ds:Signature`, a
//! child of the root, one `Reference` to the root's ID, only enveloped-signature and exclusive
//! c14n transforms, allowed algorithms, no `Object` or `Manifest`) and then verified by
//! libxmlsec1 with the SP's registered certificate only (KeyInfo is never trusted).

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";

/// Signature algorithms we accept (SHA-256 or stronger; RSA or ECDSA).
pub const SIGNATURE_ALGORITHMS: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const DIGEST_ALGORITHMS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const TRANSFORMS: [&str; 2] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the message is not the SAML 2.0 request expected here")]
    NotAuthnRequest,
    #[error("the request lacks {0}")]
    Missing(&'static str),
    #[error("the request's {0} is invalid")]
    Bad(&'static str),
    #[error("the request's signature is not acceptable: {0}")]
    Signature(&'static str),
}

/// The parts of an AuthnRequest we act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub version: String,
    pub issue_instant: String,
    pub destination: Option<String>,
    pub issuer: String,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// Whether the document carries an enveloped signature.
    pub signed: bool,
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, RequestError> {
    for a in e.attributes() {
        let a = a.map_err(|_| RequestError::NotAuthnRequest)?;
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| RequestError::NotAuthnRequest)?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn boolean(v: Option<String>, what: &'static str) -> Result<bool, RequestError> {
    match v.as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(RequestError::Bad(what)),
    }
}

/// A protocol message's root attributes and the children we read: the generic part of reading
/// AuthnRequests and LogoutRequests.
#[derive(Default)]
struct Message {
    attributes: std::collections::HashMap<String, String>,
    issuer: String,
    name_id: String,
    session_indexes: Vec<String>,
    name_id_format: Option<String>,
    signed: bool,
}

/// Which child's text is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Collecting {
    Nothing,
    Issuer,
    NameId,
    SessionIndex,
}

fn read_message(xml: &str, root: &[u8]) -> Result<Message, RequestError> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut message: Option<Message> = None;
    let mut collecting = Collecting::Nothing;
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| RequestError::NotAuthnRequest)?;
        let ns_is = |want: &[u8]| matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                if depth == 0 {
                    if !(ns_is(PROTOCOL_NS) && local.as_ref() == root) {
                        return Err(RequestError::NotAuthnRequest);
                    }
                    let mut m = Message::default();
                    for a in e.attributes() {
                        let a = a.map_err(|_| RequestError::NotAuthnRequest)?;
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|_| RequestError::NotAuthnRequest)?;
                        m.attributes.insert(
                            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                            v.into_owned(),
                        );
                    }
                    message = Some(m);
                } else if depth == 1
                    && let Some(m) = message.as_mut()
                {
                    collecting = Collecting::Nothing;
                    if ns_is(ASSERTION_NS) && local.as_ref() == b"Issuer" {
                        collecting = Collecting::Issuer;
                    } else if ns_is(ASSERTION_NS) && local.as_ref() == b"NameID" {
                        collecting = Collecting::NameId;
                    } else if ns_is(PROTOCOL_NS) && local.as_ref() == b"SessionIndex" {
                        collecting = Collecting::SessionIndex;
                    } else if ns_is(PROTOCOL_NS) && local.as_ref() == b"NameIDPolicy" {
                        m.name_id_format = attr(e, b"Format")?;
                    } else if ns_is(DSIG_NS) && local.as_ref() == b"Signature" {
                        m.signed = true;
                    }
                    if empty {
                        collecting = Collecting::Nothing;
                    }
                    text.clear();
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::Text(t) if collecting != Collecting::Nothing => {
                text.push_str(&t.decode().map_err(|_| RequestError::Bad("text"))?);
            }
            // Canonicalization (and so the signature) treats CDATA as text: so do we.
            Event::CData(t) if collecting != Collecting::Nothing => {
                text.push_str(&t.decode().map_err(|_| RequestError::Bad("text"))?);
            }
            Event::GeneralRef(r) if collecting != Collecting::Nothing => {
                let name = r.decode().map_err(|_| RequestError::Bad("text"))?;
                text.push_str(match &*name {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => return Err(RequestError::Bad("text")),
                });
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some(m) = message.as_mut()
                {
                    // The Issuer is matched after trimming layout whitespace; NameID and
                    // SessionIndex exactly as signed.
                    let value = text.clone();
                    match collecting {
                        Collecting::Issuer => m.issuer = value.trim().to_owned(),
                        Collecting::NameId => m.name_id = value,
                        Collecting::SessionIndex if m.session_indexes.len() < 16 => {
                            m.session_indexes.push(value);
                        }
                        _ => {}
                    }
                    collecting = Collecting::Nothing;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let m = message.ok_or(RequestError::NotAuthnRequest)?;
    if m.issuer.is_empty() {
        return Err(RequestError::Missing("an Issuer"));
    }
    Ok(m)
}

fn id_of(m: &Message) -> Result<String, RequestError> {
    let id = m
        .attributes
        .get("ID")
        .cloned()
        .ok_or(RequestError::Missing("an ID"))?;
    if id.len() > 256 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RequestError::Bad("ID"));
    }
    Ok(id)
}

/// Parses an AuthnRequest (already through `inbound::precheck`).
pub fn parse(xml: &str) -> Result<AuthnRequest, RequestError> {
    let mut m = read_message(xml, b"AuthnRequest")?;
    let id = id_of(&m)?;
    let mut take = |k: &str| m.attributes.remove(k);
    let acs_index = take("AssertionConsumerServiceIndex")
        .map(|v| v.parse::<u16>().map_err(|_| RequestError::Bad("ACS index")))
        .transpose()?;
    Ok(AuthnRequest {
        id,
        version: take("Version").ok_or(RequestError::Missing("a Version"))?,
        issue_instant: take("IssueInstant").ok_or(RequestError::Missing("an IssueInstant"))?,
        destination: take("Destination"),
        acs_url: take("AssertionConsumerServiceURL"),
        acs_index,
        protocol_binding: take("ProtocolBinding"),
        force_authn: boolean(take("ForceAuthn"), "ForceAuthn")?,
        is_passive: boolean(take("IsPassive"), "IsPassive")?,
        issuer: m.issuer,
        name_id_format: m.name_id_format,
        signed: m.signed,
    })
}

/// The parts of a LogoutRequest we act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub version: String,
    pub issue_instant: String,
    pub destination: Option<String>,
    pub issuer: String,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    pub signed: bool,
}

/// A LogoutResponse from an SP, answering our LogoutRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutResponse {
    pub issuer: String,
    pub in_response_to: Option<String>,
    pub id: String,
    pub signed: bool,
}

/// Parses a LogoutResponse (already through `inbound::precheck`).
pub fn parse_logout_response(xml: &str) -> Result<LogoutResponse, RequestError> {
    let mut m = read_message(xml, b"LogoutResponse")?;
    Ok(LogoutResponse {
        id: id_of(&m)?,
        in_response_to: m.attributes.remove("InResponseTo"),
        issuer: m.issuer,
        signed: m.signed,
    })
}

/// Parses a LogoutRequest (already through `inbound::precheck`).
pub fn parse_logout(xml: &str) -> Result<LogoutRequest, RequestError> {
    let mut m = read_message(xml, b"LogoutRequest")?;
    let id = id_of(&m)?;
    if m.name_id.is_empty() {
        return Err(RequestError::Missing("a NameID"));
    }
    Ok(LogoutRequest {
        id,
        version: m
            .attributes
            .remove("Version")
            .ok_or(RequestError::Missing("a Version"))?,
        issue_instant: m
            .attributes
            .remove("IssueInstant")
            .ok_or(RequestError::Missing("an IssueInstant"))?,
        destination: m.attributes.remove("Destination"),
        issuer: m.issuer,
        name_id: m.name_id,
        session_indexes: m.session_indexes,
        signed: m.signed,
    })
}

/// Checks the shape of a POST-binding enveloped signature before libxmlsec1 sees it.
pub fn check_signature_structure(xml: &str, root_id: &str) -> Result<(), RequestError> {
    let bad = RequestError::Signature;
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut depth = 0usize;
    // Depth of the one ds:Signature (a child of the root), while inside it.
    let mut signature_depth: Option<usize> = None;
    let mut signatures = 0;
    let mut references = 0;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| bad("unreadable"))?;
        let in_dsig = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == DSIG_NS);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local = local.as_ref();
                if in_dsig && local == b"Signature" {
                    signatures += 1;
                    if signatures > 1 || depth != 1 {
                        return Err(bad("there must be exactly one, a child of the root"));
                    }
                    if !empty {
                        signature_depth = Some(depth);
                    }
                } else if signature_depth.is_some() && in_dsig {
                    let algorithm = || attr(e, b"Algorithm").ok().flatten().unwrap_or_default();
                    match local {
                        b"Reference" => {
                            references += 1;
                            let uri = attr(e, b"URI").ok().flatten().unwrap_or_default();
                            if references > 1 || uri != format!("#{root_id}") {
                                return Err(bad("it must have one Reference, to the root's ID"));
                            }
                        }
                        b"Transform" if !TRANSFORMS.contains(&algorithm().as_str()) => {
                            return Err(bad("only enveloped-signature and exclusive c14n"));
                        }
                        b"CanonicalizationMethod" if algorithm() != TRANSFORMS[1] => {
                            return Err(bad("canonicalization must be exclusive c14n"));
                        }
                        b"SignatureMethod"
                            if !SIGNATURE_ALGORITHMS.contains(&algorithm().as_str()) =>
                        {
                            return Err(bad("the signature algorithm is not allowed"));
                        }
                        b"DigestMethod" if !DIGEST_ALGORITHMS.contains(&algorithm().as_str()) => {
                            return Err(bad("the digest algorithm is not allowed"));
                        }
                        b"Object" | b"Manifest" | b"RetrievalMethod" => {
                            return Err(bad("Object, Manifest and RetrievalMethod are refused"));
                        }
                        _ => {}
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if signature_depth == Some(depth) {
                    signature_depth = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if signatures != 1 || references != 1 {
        return Err(bad(
            "there must be exactly one signature with one reference",
        ));
    }
    Ok(())
}

/// Verifies a POST-binding request's enveloped signature with one of the SP's certificates.
pub fn verify_post_signature(
    xml: &str,
    root_id: &str,
    certificates_pem: &[String],
) -> Result<(), RequestError> {
    use samael::crypto::CryptoProvider;
    super::xmlsec_log::install();
    check_signature_structure(xml, root_id)?;
    for pem in certificates_pem {
        let Ok(der) = openssl::x509::X509::from_pem(pem.as_bytes()).and_then(|c| c.to_der()) else {
            continue;
        };
        let cert = samael::crypto::CertificateDer::from(der);
        if samael::crypto::XmlSec::verify_signed_xml(xml, &cert, Some("ID")).is_ok() {
            return Ok(());
        }
    }
    Err(RequestError::Signature(
        "it does not verify with the SP's certificate",
    ))
}

/// Refuses a query whose binding parameters are spelled with escapes or without `=`
/// (`RelayStat%65=…`): the page reads decoded names, so such a parameter would be used without
/// being covered by the signature.
fn exact_binding_keys(query: &str) -> Result<(), RequestError> {
    const BINDING: [&str; 5] = [
        "SAMLRequest",
        "SAMLResponse",
        "RelayState",
        "SigAlg",
        "Signature",
    ];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, _) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = decode_param(raw_key).unwrap_or_default();
        if BINDING.contains(&decoded.as_str()) && (raw_key != decoded || !pair.contains('=')) {
            return Err(RequestError::Signature("a parameter name is escaped"));
        }
    }
    Ok(())
}

/// The raw (still percent-encoded) value of a query parameter, as the SP signed it.
fn raw_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn decode_param(raw: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Verifies an HTTP-Redirect query signature (SAML Bindings §3.4.4.1): `SigAlg` must be on the
/// allowlist, and the signature must verify over `SAMLRequest=…&RelayState=…&SigAlg=…` exactly
/// as the bytes arrived, with one of the SP's certificates.
/// The message is in parameter `param` (`SAMLRequest` or `SAMLResponse`).
pub fn verify_redirect_signature(
    param: &str,
    raw_query: &str,
    certificates_pem: &[String],
) -> Result<(), RequestError> {
    let bad = RequestError::Signature;
    exact_binding_keys(raw_query)?;
    let sig_alg_raw = raw_param(raw_query, "SigAlg").ok_or(bad("SigAlg is missing"))?;
    let sig_alg = decode_param(sig_alg_raw).ok_or(bad("SigAlg is unreadable"))?;
    let digest = match sig_alg.as_str() {
        a if a.ends_with("sha256") && SIGNATURE_ALGORITHMS.contains(&a) => {
            openssl::hash::MessageDigest::sha256()
        }
        a if a.ends_with("sha384") && SIGNATURE_ALGORITHMS.contains(&a) => {
            openssl::hash::MessageDigest::sha384()
        }
        a if a.ends_with("sha512") && SIGNATURE_ALGORITHMS.contains(&a) => {
            openssl::hash::MessageDigest::sha512()
        }
        _ => return Err(bad("the SigAlg is not allowed")),
    };
    let signature = raw_param(raw_query, "Signature")
        .and_then(decode_param)
        .ok_or(bad("Signature is missing"))?;
    let signature = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(signature.as_bytes())
            .map_err(|_| bad("Signature is not base64"))?
    };
    let mut signed = format!(
        "{param}={}",
        raw_param(raw_query, param).ok_or(bad("the message is missing"))?
    );
    if let Some(rs) = raw_param(raw_query, "RelayState") {
        signed.push_str(&format!("&RelayState={rs}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg_raw}"));
    let is_ec = sig_alg.contains("ecdsa");
    for pem in certificates_pem {
        let Ok(key) = openssl::x509::X509::from_pem(pem.as_bytes()).and_then(|c| c.public_key())
        else {
            continue;
        };
        if is_ec != (key.id() == openssl::pkey::Id::EC) {
            continue;
        }
        let Ok(mut verifier) = openssl::sign::Verifier::new(digest, &key) else {
            continue;
        };
        if verifier.update(signed.as_bytes()).is_ok()
            && verifier.verify(&signature).unwrap_or(false)
        {
            return Ok(());
        }
    }
    Err(bad("it does not verify with the SP's certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-11-23T10:00:00Z" Destination="https://idp/saml/sso" AssertionConsumerServiceURL="https://sp/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ForceAuthn="true"><saml:Issuer>https://sp/?a=1&amp;b=2</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"#;

    #[test]
    fn the_fields_we_act_on_are_read() {
        let r = parse(REQ).unwrap();
        assert_eq!(r.id, "_r1");
        assert_eq!(r.issuer, "https://sp/?a=1&b=2");
        assert_eq!(r.acs_url.as_deref(), Some("https://sp/acs"));
        assert!(r.force_authn && !r.is_passive && !r.signed);
        assert_eq!(
            r.name_id_format.as_deref(),
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
        );
    }

    #[test]
    fn other_documents_and_wrong_namespaces_are_refused() {
        assert_eq!(
            parse(&REQ.replace("samlp:AuthnRequest", "samlp:LogoutRequest")),
            Err(RequestError::NotAuthnRequest)
        );
        assert_eq!(
            parse(&REQ.replace(
                "SAML:2.0:protocol\" xmlns:saml",
                "SAML:9.9:protocol\" xmlns:saml"
            )),
            Err(RequestError::NotAuthnRequest)
        );
        assert!(parse(&REQ.replace(" ID=\"_r1\"", "")).is_err());
        assert!(parse(&REQ.replace("ForceAuthn=\"true\"", "ForceAuthn=\"yes\"")).is_err());
    }

    #[test]
    fn signature_structure_is_checked_before_verification() {
        let sig = |reference: &str, extra: &str| {
            format!(
                r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="{reference}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>x</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>x</ds:SignatureValue>{extra}</ds:Signature>"##
            )
        };
        let doc = |s: &str| REQ.replace("<samlp:NameIDPolicy", &format!("{s}<samlp:NameIDPolicy"));
        assert!(check_signature_structure(&doc(&sig("#_r1", "")), "_r1").is_ok());
        for (bad, why) in [
            (doc(&sig("#_other", "")), "reference to another element"),
            (doc(&sig("http://evil/x", "")), "remote reference"),
            (doc(&sig("#_r1", "<ds:Object/>")), "Object"),
            (
                doc(&sig("#_r1", "").replace("xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#rsa-sha1")),
                "SHA-1",
            ),
            (
                doc(&sig("#_r1", "").replace("xmldsig#enveloped-signature", "REC-xslt-19991116")),
                "XSLT transform",
            ),
            (
                doc(&format!("{}{}", sig("#_r1", ""), sig("#_r1", ""))),
                "two signatures",
            ),
            (
                REQ.replace("</saml:Issuer>", &format!("{}</saml:Issuer>", sig("#_r1", ""))),
                "nested signature",
            ),
            (REQ.to_owned(), "no signature"),
        ] {
            assert!(check_signature_structure(&bad, "_r1").is_err(), "{why}");
        }
    }
}
