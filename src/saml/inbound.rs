//! The gate every inbound SAML message (and imported metadata) passes before any XML library
//! sees it (SECURITY-NOTES.md): byte limits on the parameter, the base64 output and the
//! inflated output (a bounded inflate, so a deflate bomb stops at the limit); then a streaming
//! scan that refuses DOCTYPE (and with it every entity declaration), processing instructions
//! other than the XML declaration, more than one root, deep nesting and floods of elements.
//! Every attribute of every element is checked too (well-formed, no duplicates — a repeated
//! `xmlns:ds` is read as its last value by one parser and its first by another —, no `xml:id`),
//! and only UTF-8 is accepted, so quick-xml (which reads our fields) and libxml2 (which checks
//! signatures) cannot see two different documents in the same bytes.
//! Signature structure is checked separately, where a signature is expected.

use std::io::Read;

use base64::Engine;
use quick_xml::events::Event;

/// Largest encoded parameter (`SAMLRequest`, `SAMLResponse`) accepted.
pub const MAX_PARAM_BYTES: usize = 96 * 1024;
/// Largest XML document accepted after base64 decoding and inflating.
pub const MAX_XML_BYTES: usize = 64 * 1024;
/// Largest SP metadata document accepted for import.
pub const MAX_METADATA_BYTES: usize = 512 * 1024;
const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 10_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("the message is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the message is not valid base64")]
    Base64,
    #[error("the message is not valid DEFLATE data")]
    Inflate,
    #[error("the message is not UTF-8 text")]
    NotUtf8,
    #[error("the message is not well-formed XML")]
    Malformed,
    #[error("the message contains {0}, which is not allowed")]
    Forbidden(&'static str),
}

fn base64_decode(param: &str, limit: usize) -> Result<Vec<u8>, InboundError> {
    if param.len() > MAX_PARAM_BYTES {
        return Err(InboundError::TooLarge(MAX_PARAM_BYTES));
    }
    // Line breaks are allowed in base64 sent by some SPs (MIME style).
    let compact: String = param.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| InboundError::Base64)?;
    if bytes.len() > limit {
        return Err(InboundError::TooLarge(limit));
    }
    Ok(bytes)
}

/// Raw DEFLATE (RFC 1951), stopping as soon as the output passes `limit`.
fn bounded_inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, InboundError> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    let reader = flate2::read::DeflateDecoder::new(compressed);
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| InboundError::Inflate)?;
    if out.len() > limit {
        return Err(InboundError::TooLarge(limit));
    }
    Ok(out)
}

fn utf8(bytes: Vec<u8>) -> Result<String, InboundError> {
    String::from_utf8(bytes).map_err(|_| InboundError::NotUtf8)
}

/// A message from the HTTP-Redirect binding: base64, then raw DEFLATE.
pub fn decode_redirect(param: &str) -> Result<String, InboundError> {
    let compressed = base64_decode(param, MAX_XML_BYTES)?;
    let xml = utf8(bounded_inflate(&compressed, MAX_XML_BYTES)?)?;
    precheck(&xml)?;
    Ok(xml)
}

/// A message from the HTTP-POST binding: base64 only.
pub fn decode_post(param: &str) -> Result<String, InboundError> {
    let xml = utf8(base64_decode(param, MAX_XML_BYTES)?)?;
    precheck(&xml)?;
    Ok(xml)
}

/// The structural scan: well-formed, one root, no DOCTYPE / entities / processing instructions,
/// bounded depth and element count.
pub fn precheck(xml: &str) -> Result<(), InboundError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut elements = 0usize;
    let mut seen_decl = false;
    let mut first = true;
    loop {
        let event = reader.read_event().map_err(|_| InboundError::Malformed)?;
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Eof => break,
            Event::DocType(_) => return Err(InboundError::Forbidden("a DOCTYPE")),
            Event::PI(_) => return Err(InboundError::Forbidden("a processing instruction")),
            Event::Decl(ref d) => {
                if !was_first || seen_decl {
                    return Err(InboundError::Forbidden("a misplaced XML declaration"));
                }
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|_| InboundError::Malformed)?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(InboundError::Forbidden("an encoding other than UTF-8"));
                    }
                }
                seen_decl = true;
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                check_attributes(e)?;
                if depth == 0 {
                    roots += 1;
                    if roots > 1 {
                        return Err(InboundError::Forbidden("more than one root element"));
                    }
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(InboundError::Forbidden("too many elements"));
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(InboundError::Forbidden("too deep nesting"));
                    }
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) => {
                if depth == 0 && !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(InboundError::Malformed);
                }
            }
            Event::CData(_) if depth == 0 => return Err(InboundError::Malformed),
            // Only the five predefined entities and character references can appear (there is
            // no DOCTYPE to declare others); the parser reports them, they are harmless.
            Event::GeneralRef(r) => {
                let name: &[u8] = &r;
                let predefined = [&b"amp"[..], b"lt", b"gt", b"quot", b"apos"].contains(&name)
                    || name.first() == Some(&b'#');
                if !predefined {
                    return Err(InboundError::Forbidden("an undeclared entity reference"));
                }
            }
            Event::CData(_) | Event::Comment(_) => {}
        }
    }
    if roots != 1 || depth != 0 {
        return Err(InboundError::Malformed);
    }
    Ok(())
}

/// Every attribute well-formed (quoted, escapes valid), none repeated, no `xml:id`.
fn check_attributes(e: &quick_xml::events::BytesStart<'_>) -> Result<(), InboundError> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|_| InboundError::Malformed)?;
        let key = a.key.as_ref();
        if key == b"xml:id" {
            return Err(InboundError::Forbidden("an xml:id attribute"));
        }
        if seen.iter().any(|k| k == key) {
            return Err(InboundError::Forbidden("a repeated attribute"));
        }
        seen.push(key.to_vec());
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| InboundError::Malformed)?;
    }
    Ok(())
}

/// Metadata pasted or uploaded by an operator: the same scan, with a larger limit.
pub fn precheck_metadata(xml: &str) -> Result<(), InboundError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(InboundError::TooLarge(MAX_METADATA_BYTES));
    }
    precheck(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> String {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap())
    }

    const REQUEST: &str = r#"<?xml version="1.0"?><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://sp.test &amp; co</saml:Issuer></samlp:AuthnRequest>"#;

    #[test]
    fn a_plain_request_passes_both_bindings() {
        assert_eq!(
            decode_redirect(&deflate(REQUEST.as_bytes())).unwrap(),
            REQUEST
        );
        let post = base64::engine::general_purpose::STANDARD.encode(REQUEST);
        assert_eq!(decode_post(&post).unwrap(), REQUEST);
    }

    #[test]
    fn dangerous_structures_are_refused() {
        for (xml, what) in [
            (
                r#"<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>"#,
                "DOCTYPE with entities",
            ),
            (
                r#"<!DOCTYPE r SYSTEM "http://evil/x.dtd"><r/>"#,
                "external DTD",
            ),
            (
                r#"<r/><?xml-stylesheet href="x"?>"#,
                "processing instruction",
            ),
            (r#"<?pi x?><r/>"#, "leading processing instruction"),
            (r#"<r/><s/>"#, "two roots"),
            (r#"<r>&x;</r>"#, "undeclared entity"),
            (r#"<r><a></r>"#, "mismatched tags"),
            (r#"text<r/>"#, "text outside the root"),
            ("", "empty"),
        ] {
            assert!(precheck(xml).is_err(), "{what}");
        }
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(
            precheck(&deep),
            Err(InboundError::Forbidden("too deep nesting"))
        );
        let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS + 1));
        assert_eq!(
            precheck(&wide),
            Err(InboundError::Forbidden("too many elements"))
        );
        assert!(precheck("<r>&amp;&lt;&#65;&#x42;</r>").is_ok());
        for (xml, what) in [
            (
                r#"<r><ds:S xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:ds="urn:x"/></r>"#,
                "a repeated namespace declaration",
            ),
            (r#"<r a="1" a="2"/>"#, "a repeated attribute"),
            (r#"<r a=1/>"#, "an unquoted attribute"),
            (r#"<r a="&x;"/>"#, "an unknown entity in an attribute"),
            (r#"<r xml:id="_a"/>"#, "xml:id"),
            (
                r#"<?xml version="1.0" encoding="UTF-7"?><r/>"#,
                "another encoding",
            ),
        ] {
            assert!(precheck(xml).is_err(), "{what}");
        }
        assert!(precheck(r#"<?xml version="1.0" encoding="utf-8"?><r a="1" b="2"/>"#).is_ok());
    }

    #[test]
    fn deflate_bombs_and_oversized_input_stop_at_the_limit() {
        // 50 MB of zeros compresses to ~50 KB; inflating stops after MAX_XML_BYTES + 1.
        let bomb = deflate(&vec![b' '; 50 * 1024 * 1024]);
        assert!(bomb.len() <= MAX_PARAM_BYTES, "{}", bomb.len());
        assert_eq!(
            decode_redirect(&bomb),
            Err(InboundError::TooLarge(MAX_XML_BYTES))
        );
        let huge = "A".repeat(MAX_PARAM_BYTES + 4);
        assert_eq!(
            decode_post(&huge),
            Err(InboundError::TooLarge(MAX_PARAM_BYTES))
        );
        assert_eq!(decode_post("!!!"), Err(InboundError::Base64));
        assert_eq!(
            decode_redirect(&base64::engine::general_purpose::STANDARD.encode("not deflate")),
            Err(InboundError::Inflate)
        );
    }
}
