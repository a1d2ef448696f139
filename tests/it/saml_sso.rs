//! SAML single sign-on, judged by independent verifiers: the `xmlsec1` command line checks our
//! signatures against the certificate from our metadata.

use std::process::Command;

use crate::browser::{Browser, Page};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};

pub const SP: &str = "https://sp.example.com/saml";
pub const ACS: &str = "https://sp.example.com/acs";

/// The IdP's signing certificate (PEM), as published.
pub async fn idp_certificate(app: &TestApp, slug: &str) -> String {
    app.get(slug, "/saml/certificate.pem")
        .await
        .text()
        .await
        .unwrap()
}

/// Verifies the first signature of `xml` with `xmlsec1`, trusting only `cert_pem`.
pub fn xmlsec_verify(app: &TestApp, xml: &str, cert_pem: &str) -> Result<(), String> {
    xmlsec_verify_in(app.dir.path(), xml, cert_pem)
}

/// The same, with its files in `dir`.
pub fn xmlsec_verify_in(dir: &std::path::Path, xml: &str, cert_pem: &str) -> Result<(), String> {
    let n = crate::browser::now_unix() as u64 ^ rand_suffix();
    let doc = dir.join(format!("doc-{n}.xml"));
    let cert = dir.join(format!("cert-{n}.pem"));
    std::fs::write(&doc, xml).unwrap();
    std::fs::write(&cert, cert_pem).unwrap();
    let out = Command::new("xmlsec1")
        .args([
            "--verify",
            "--pubkey-cert-pem",
            cert.to_str().unwrap(),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
            doc.to_str().unwrap(),
        ])
        .output()
        .expect("xmlsec1 is installed (scripts/install-deps)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) << 32
}

/// The Response a POST page carries, decoded.
pub fn posted_response(page: &Page) -> String {
    use base64::Engine;
    let b64 = page
        .field("SAMLResponse")
        .unwrap_or_else(|| panic!("no SAMLResponse: {} {}", page.status, page.body));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// The text of the first element with this local name.
pub fn text_of(xml: &str, local: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut out = String::new();
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.local_name().as_ref() == local.as_bytes() => {
                inside = true;
            }
            quick_xml::events::Event::Text(t) if inside => {
                out.push_str(&t.decode().unwrap());
            }
            quick_xml::events::Event::GeneralRef(r) if inside => {
                let name = r.decode().unwrap();
                out.push_str(match &*name {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                });
            }
            quick_xml::events::Event::End(e)
                if inside && e.local_name().as_ref() == local.as_bytes() =>
            {
                return Some(out);
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

/// Every value of the attribute with this Name.
pub fn attribute_values(xml: &str, name: &str) -> Vec<String> {
    let marker = format!("Name=\"{name}\"");
    let Some(at) = xml.find(&marker) else {
        return Vec::new();
    };
    let rest = &xml[at..];
    let end = rest.find("</saml:Attribute>").unwrap();
    let mut values = Vec::new();
    let mut chunk = &rest[..end];
    while let Some(start) = chunk.find("<saml:AttributeValue") {
        let after = &chunk[start..];
        let close = after.find("</saml:AttributeValue>").unwrap();
        let element = &after[..close + "</saml:AttributeValue>".len()];
        values.push(text_of(element, "AttributeValue").unwrap());
        chunk = &after[close..];
    }
    values
}

/// The document without its first `ds:Signature` (the response's, which precedes the
/// assertion): what remains must still verify through the assertion's own signature.
pub fn without_response_signature(xml: &str) -> String {
    let start = xml.find("<ds:Signature").unwrap();
    assert!(start < xml.find("<saml:Assertion").unwrap());
    let end = xml[start..].find("</ds:Signature>").unwrap() + start + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

/// An SP key pair on disk: (certificate PEM path, private key PEM path).
pub fn sp_key_files(app: &TestApp, name: &str) -> (String, String) {
    let key = latchkey::crypto::signing::generate(
        latchkey::keys::Alg::Rs256,
        "https://sp.example.com",
        crate::browser::now_unix(),
    )
    .unwrap();
    let cert = app.dir.path().join(format!("{name}-cert.pem"));
    let private = app.dir.path().join(format!("{name}-key.pem"));
    std::fs::write(&cert, &key.certificate_pem).unwrap();
    std::fs::write(&private, &*key.private_pem).unwrap();
    (cert.display().to_string(), private.display().to_string())
}

/// Registers an SP at ACS with a fresh certificate; returns its private key file.
pub fn register_sp(app: &TestApp, slug: &str, entity: &str, extra: &[&str]) -> String {
    let name = entity.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let (cert, key) = sp_key_files(app, &name);
    let mut args = vec![
        "sp",
        "create",
        "--tenant",
        slug,
        "--entity-id",
        entity,
        "--acs",
        ACS,
        "--certificate",
        &cert,
    ];
    args.extend_from_slice(extra);
    let out = app.cli(&args);
    assert!(out.ok(), "{}", out.stderr);
    key
}

#[tokio::test]
async fn idp_initiated_sso_posts_a_doubly_signed_response_that_xmlsec1_verifies() {
    let app = app_with_alice().await;
    register_sp(
        &app,
        "acme",
        SP,
        &["--idp-initiated", "--relay-state", "/welcome?a=1&b=2"],
    );
    let b = Browser::new(&app, "acme");
    let start = format!(
        "/saml/start?sp={}",
        url::form_urlencoded::byte_serialize(SP.as_bytes()).collect::<String>()
    );
    // Not signed in: to the login page, then back here.
    let first = b.get(&start).await;
    assert!(first.location.as_deref().unwrap().starts_with("/login"));
    b.login("alice", PW).await;
    let page = b.get(&start).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has(&format!("action=\"{ACS}\"")));
    assert_eq!(
        page.field("RelayState").as_deref(),
        Some("/welcome?a=1&b=2")
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    // No form-action: the SP's ACS may redirect anywhere after the POST (docs/browsers.md).
    assert!(!csp.contains("form-action"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert_eq!(page.headers["cache-control"], "no-store");

    let xml = posted_response(&page);
    let cert = idp_certificate(&app, "acme").await;
    xmlsec_verify(&app, &xml, &cert).expect("the response signature verifies");
    xmlsec_verify(&app, &without_response_signature(&xml), &cert)
        .expect("the assertion signature verifies on its own");
    // Any change to a signed byte breaks it.
    let tampered = xml.replacen("alice", "mallory", 1);
    assert_ne!(tampered, xml);
    assert!(xmlsec_verify(&app, &tampered, &cert).is_err());
    // Another tenant's certificate does not verify it.
    app.create_tenant("globex");
    let other = idp_certificate(&app, "globex").await;
    assert!(xmlsec_verify(&app, &xml, &other).is_err());

    assert!(xml.contains(&format!("Destination=\"{ACS}\"")));
    assert!(!xml.contains("InResponseTo"), "unsolicited");
    assert_eq!(
        text_of(&xml, "Audience").as_deref(),
        Some(SP),
        "the SP is the only audience"
    );
    assert_eq!(
        text_of(&xml, "Issuer").unwrap(),
        app.url("acme", "/saml/metadata")
    );
    assert_eq!(
        attribute_values(&xml, "urn:oid:0.9.2342.19200300.100.1.1"),
        vec!["alice".to_owned()]
    );
    assert!(xml.contains("PasswordProtectedTransport"));

    // SPs that do not allow IdP-initiated SSO, unknown SPs and other tenants' SPs: a page.
    register_sp(&app, "acme", "urn:sp:no-idp-init", &[]);
    for (browser, sp) in [
        (&b, "urn:sp:no-idp-init"),
        (&b, "urn:sp:unknown"),
        (&Browser::new(&app, "globex"), SP),
    ] {
        let p = browser
            .get(&format!(
                "/saml/start?sp={}",
                url::form_urlencoded::byte_serialize(sp.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(p.status, 404, "{sp}");
        assert!(p.field("SAMLResponse").is_none());
    }
}
