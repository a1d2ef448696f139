//! The SAML IdP: metadata (read back with samael's independent metadata parser), the signing
//! certificate, and the service-provider registry.

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

/// A certificate an SP could have (PEM), and the base64 body metadata carries.
pub(crate) fn sp_certificate() -> (String, String) {
    let key = latchkey::crypto::signing::generate(
        latchkey::keys::Alg::Rs256,
        "https://sp.example.com",
        crate::browser::now_unix(),
    )
    .unwrap();
    let body = pem_body(&key.certificate_pem);
    (key.certificate_pem, body)
}

pub(crate) fn sp_metadata(entity: &str, cert: &str, extra_acs: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.com/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example.com/artifact" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="1" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs2" index="2"/>
    {extra_acs}
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

fn write(app: &TestApp, name: &str, text: &str) -> String {
    let path = app.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn sp_list(app: &TestApp, slug: &str) -> Vec<String> {
    let out = app.cli(&["sp", "list", "--tenant", slug, "--json"]);
    assert!(out.ok(), "{}", out.stderr);
    out.json()["service_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["entity_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn service_providers_are_imported_from_metadata_with_every_endpoint_and_certificate() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let (_, cert) = sp_certificate();
    let entity = "https://sp.example.com/saml?x=1&y=2";
    let file = write(
        &app,
        "sp.xml",
        &sp_metadata(&entity.replace('&', "&amp;"), &cert, ""),
    );
    let out = app.cli(&[
        "sp", "import", "--tenant", "acme", "--file", &file, "--name", "Wiki", "--json",
    ]);
    assert!(out.ok(), "{}", out.stderr);
    let sp = out.json();
    assert_eq!(sp["entity_id"], entity, "entities are unescaped once");
    assert_eq!(sp["name"], "Wiki");
    let acs = sp["acs"].as_array().unwrap();
    assert_eq!(acs.len(), 2, "only HTTP-POST ACS endpoints: {acs:?}");
    assert_eq!(acs[0]["url"], "https://sp.example.com/acs");
    assert_eq!(acs[0]["index"], 1);
    assert_eq!(acs[0]["is_default"], true);
    assert_eq!(acs[1]["index"], 2);
    assert_eq!(sp["slo"][0]["url"], "https://sp.example.com/slo");
    assert_eq!(sp["signing_certificates"], 1);
    assert_eq!(sp["encryption_certificates"], 1);
    assert_eq!(sp["require_signed_requests"], true, "AuthnRequestsSigned");
    assert_eq!(sp["name_id_format"], "email", "the SP's preferred format");
    assert_eq!(sp["sign"], "both");
    assert_eq!(sp["idp_initiated"], false);
    assert_eq!(sp["attributes"].as_array().unwrap().len(), 3);

    // The same entity again is refused; another tenant has its own registry (and metadata can
    // come on standard input).
    let again = app.cli(&["sp", "import", "--tenant", "acme", "--file", &file]);
    assert!(!again.ok());
    assert!(
        again.stderr.contains("already registered"),
        "{}",
        again.stderr
    );
    let at_globex = app.cli_with(
        &[
            "sp", "import", "--tenant", "globex", "--file", "-", "--json",
        ],
        &[],
        Some(&std::fs::read_to_string(&file).unwrap()),
    );
    assert!(at_globex.ok(), "{}", at_globex.stderr);

    // Tenant isolation: show and delete of acme's SP at globex touch globex's only.
    assert!(
        app.cli(&["sp", "delete", "--tenant", "globex", entity])
            .ok()
    );
    assert_eq!(sp_list(&app, "globex"), Vec::<String>::new());
    assert_eq!(sp_list(&app, "acme"), vec![entity.to_owned()]);
    let gone = app.cli(&["sp", "show", "--tenant", "globex", entity]);
    assert!(!gone.ok());
    assert!(
        gone.stderr.contains("no service provider"),
        "{}",
        gone.stderr
    );
    let shown = app.cli(&["sp", "show", "--tenant", "acme", entity, "--json"]);
    assert_eq!(shown.json()["name"], "Wiki");
    let verify = app.cli(&["audit", "verify", "--tenant", "acme"]);
    assert!(verify.ok(), "{}", verify.stderr);
}

#[tokio::test]
async fn bad_metadata_and_bad_settings_are_refused_with_the_reason_and_store_nothing() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let (pem, cert) = sp_certificate();
    let good = sp_metadata("https://sp.example.com", &cert, "");
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "<!DOCTYPE x [<!ENTITY e \"boom\">]>{}",
                good.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
            ),
            "DOCTYPE",
        ),
        (
            good.replace("<md:SPSSODescriptor", "<?evil x?><md:SPSSODescriptor"),
            "processing instruction",
        ),
        (
            "<html><body>hello</body></html>".into(),
            "not SAML 2.0 metadata",
        ),
        (
            good.replace(
                "bindings:HTTP-POST\" Location",
                "bindings:HTTP-PAOS\" Location",
            ),
            "no AssertionConsumerService with the HTTP-POST binding",
        ),
        (
            good.replace("https://sp.example.com/acs2", "http://sp.example.com/acs2"),
            "must be https",
        ),
        (
            good.replace(&cert, "bm90IGEgY2VydA=="),
            "certificate cannot be parsed",
        ),
        (
            good.replace("index=\"2\"", "index=\"1\""),
            "two ACS endpoints have index 1",
        ),
    ];
    for (i, (xml, why)) in cases.iter().enumerate() {
        let file = write(&app, &format!("bad{i}.xml"), xml);
        let out = app.cli(&["sp", "import", "--tenant", "acme", "--file", &file]);
        assert!(!out.ok(), "{why}");
        assert!(out.stderr.contains(why), "{why}: {}", out.stderr);
    }
    let big = write(&app, "big.xml", &"x".repeat(600 * 1024));
    let out = app.cli(&["sp", "import", "--tenant", "acme", "--file", &big]);
    assert!(out.stderr.contains("larger than"), "{}", out.stderr);

    // By hand: options are checked too.
    let cert_file = write(&app, "sp.pem", &pem);
    let base = [
        "sp",
        "create",
        "--tenant",
        "acme",
        "--entity-id",
        "urn:example:sp",
        "--acs",
        "https://sp.example.com/acs",
        "--certificate",
        &cert_file,
    ];
    let long_relay = "r".repeat(81);
    for (extra, why) in [
        (
            vec!["--relay-state", long_relay.as_str()],
            "at most 80 bytes",
        ),
        (vec!["--sign", "nothing"], "--sign must be"),
        (vec!["--assertion-seconds", "5"], "60 to 3600"),
        (vec!["--attribute", "password=pw"], "is not one of"),
        (
            vec!["--name-id-format", "kerberos"],
            "--name-id-format must be",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let out = app.cli(&args);
        assert!(!out.ok(), "{why}");
        assert!(out.stderr.contains(why), "{why}: {}", out.stderr);
    }
    assert_eq!(
        sp_list(&app, "acme"),
        Vec::<String>::new(),
        "nothing was stored"
    );

    let mut args = base.to_vec();
    args.extend([
        "--sign",
        "assertion",
        "--idp-initiated",
        "--relay-state",
        "/home",
        "--name-id-format",
        "transient",
        "--attribute",
        "email=mail",
        "--attribute",
        "groups=urn:oid:1.3.6.1.4.1.5923.1.5.1.1|isMemberOf",
        "--json",
    ]);
    let out = app.cli(&args);
    assert!(out.ok(), "{}", out.stderr);
    let sp = out.json();
    assert_eq!(sp["sign"], "assertion");
    assert_eq!(sp["idp_initiated"], true);
    assert_eq!(sp["default_relay_state"], "/home");
    assert_eq!(sp["name_id_format"], "transient");
    assert_eq!(sp["acs"][0]["is_default"], true);
    assert_eq!(sp["attributes"][1]["friendly_name"], "isMemberOf");
    assert_eq!(sp["require_signed_requests"], false);
    assert!(
        app.cli(&["sp", "delete", "--tenant", "acme", "urn:example:sp"])
            .ok()
    );
    assert_eq!(sp_list(&app, "acme"), Vec::<String>::new());
}
