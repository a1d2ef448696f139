//! The SAML IdP: metadata (read back with samael's independent metadata parser) and the
//! signing certificate.

use std::str::FromStr;

use samael::metadata::EntityDescriptor;

use crate::harness::TestApp;

const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

async fn metadata_text(app: &TestApp, slug: &str) -> String {
    let res = app.get(slug, "/saml/metadata").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    assert!(res.headers().contains_key("etag"));
    res.text().await.unwrap()
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// The child element names of the IDPSSODescriptor, in document order.
fn descriptor_children(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0;
    let mut names = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) => {
                depth += 1;
                if depth == 3 {
                    names.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                }
            }
            quick_xml::events::Event::Empty(e) if depth == 2 => {
                names.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            quick_xml::events::Event::End(_) => depth -= 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    names
}

#[tokio::test]
async fn idp_metadata_lists_endpoints_formats_and_every_live_signing_certificate() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let xml = metadata_text(&app, "acme").await;
    let origin = app.url("acme", "");
    let md = EntityDescriptor::from_str(&xml).expect("samael parses our metadata");
    assert_eq!(
        md.entity_id.as_deref(),
        Some(&*format!("{origin}/saml/metadata"))
    );
    let idp = &md.idp_sso_descriptors.as_ref().unwrap()[0];
    assert_eq!(idp.want_authn_requests_signed, Some(false));
    assert_eq!(
        idp.protocol_support_enumeration.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:protocol")
    );
    for (services, path) in [
        (&idp.single_sign_on_services, "/saml/sso"),
        (&idp.single_logout_services, "/saml/slo"),
    ] {
        let mut bindings: Vec<&str> = services.iter().map(|s| s.binding.as_str()).collect();
        bindings.sort_unstable();
        assert_eq!(bindings, vec![POST, REDIRECT]);
        assert!(
            services
                .iter()
                .all(|s| s.location == format!("{origin}{path}"))
        );
    }
    assert!(
        idp.name_id_formats
            .iter()
            .any(|f| f.ends_with("nameid-format:persistent"))
    );
    assert_eq!(idp.name_id_formats.len(), 4);
    // XSD order: KeyDescriptor*, SingleLogoutService*, NameIDFormat*, SingleSignOnService+.
    let order = descriptor_children(&xml);
    let rank = |n: &str| {
        [
            "KeyDescriptor",
            "SingleLogoutService",
            "NameIDFormat",
            "SingleSignOnService",
        ]
        .iter()
        .position(|x| *x == n)
        .unwrap_or_else(|| panic!("unexpected element {n}"))
    };
    let ranks: Vec<usize> = order.iter().map(|n| rank(n)).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{order:?}");

    // The one certificate is the active key's, the same as the download.
    let certs: Vec<&String> = idp
        .key_descriptors
        .iter()
        .filter(|k| k.key_use.as_deref() == Some("signing"))
        .flat_map(|k| k.key_info.x509_data.as_ref().unwrap().certificates.iter())
        .collect();
    assert_eq!(certs.len(), 1);
    let pem = app
        .get("acme", "/saml/certificate.pem")
        .await
        .text()
        .await
        .unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(certs[0].as_str(), pem_body(&pem));
    openssl::x509::X509::from_pem(pem.as_bytes()).expect("a valid certificate");

    // Another tenant: its own entityID and certificate.
    let globex = EntityDescriptor::from_str(&metadata_text(&app, "globex").await).unwrap();
    assert_ne!(globex.entity_id, md.entity_id);
    let gcert = globex.idp_sso_descriptors.unwrap()[0].key_descriptors[0]
        .key_info
        .x509_data
        .as_ref()
        .unwrap()
        .certificates[0]
        .clone();
    assert_ne!(&gcert, certs[0]);

    // A published next key is listed before it signs (SP rollover); ES256 keys never are; the
    // tenant policy decides WantAuthnRequestsSigned.
    assert!(app.cli(&["keys", "rotate", "--tenant", "acme"]).ok());
    assert!(
        app.cli(&["keys", "rotate", "--tenant", "acme", "--alg", "ES256"])
            .ok()
    );
    assert!(
        app.cli(&[
            "tenant",
            "policy",
            "acme",
            "--set",
            "saml.want_authn_requests_signed=true"
        ])
        .ok()
    );
    let mut seen = None;
    for _ in 0..40 {
        let md = EntityDescriptor::from_str(&metadata_text(&app, "acme").await).unwrap();
        let idp = md.idp_sso_descriptors.unwrap().remove(0);
        if idp.key_descriptors.len() == 2 && idp.want_authn_requests_signed == Some(true) {
            seen = Some(idp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let idp = seen.expect("metadata follows the rotation and the policy");
    for k in &idp.key_descriptors {
        let b64 = &k.key_info.x509_data.as_ref().unwrap().certificates[0];
        let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        let cert = openssl::x509::X509::from_pem(pem.as_bytes()).unwrap();
        assert!(cert.public_key().unwrap().rsa().is_ok(), "RSA keys only");
    }
}
