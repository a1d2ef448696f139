//! SP-initiated single logout: a signed LogoutRequest ends the IdP session it names and is
//! answered with a signed LogoutResponse at the SP's registered endpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::browser::{Browser, Page};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};
use crate::saml_sp_init::{
    RSA_SHA256, Req, binding_path, now_instant, refused, status_of, xmlsec_sign_as,
};
use crate::saml_sso::{
    ACS, SP, idp_certificate, posted_response, register_sp, sp_key_files, text_of, xmlsec_verify,
};

fn logout_request(app: &TestApp, id: &str, name_id: &str, session_index: Option<&str>) -> String {
    let index = session_index
        .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}"><saml:Issuer>{SP}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        now_instant(0),
        app.url("acme", "/saml/slo")
    )
}

/// Signs alice in to the SP; returns the SessionIndex of the assertion.
async fn signed_in_at_sp(b: &Browser) -> String {
    b.login("alice", PW).await;
    let page = b
        .get(&binding_path(
            "/saml/sso",
            &Req::new(&latchkey::saml::response::new_id()).xml(),
            None,
            None,
            "",
        ))
        .await;
    let xml = posted_response(&page);
    let at = xml.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
    xml[at..at + xml[at..].find('"').unwrap()].to_owned()
}

async fn signed_in(b: &Browser) -> bool {
    b.get("/account").await.status == 200
}

/// The status codes of the LogoutResponse in a Redirect-binding location.
fn answered_status(location: &str) -> Vec<String> {
    let q: std::collections::HashMap<String, String> = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    status_of(&inflate(&q["SAMLResponse"]))
}

fn inflate(b64: &str) -> String {
    use std::io::Read;
    let bytes = STANDARD.decode(b64).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&bytes[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// The SP with a Redirect-binding SLO endpoint and e-mail NameIDs; returns its key file.
fn register_slo_sp(app: &TestApp) -> String {
    register_sp(
        app,
        "acme",
        SP,
        &[
            "--name-id-format",
            "email",
            "--slo",
            "https://sp.example.com/slo",
        ],
    )
}

#[tokio::test]
async fn redirect_binding_logout_ends_the_named_session_and_answers_signed() {
    let app = app_with_alice().await;
    let key = register_slo_sp(&app);
    let (_, intruder) = sp_key_files(&app, "intruder");
    let b = Browser::new(&app, "acme");
    let index = signed_in_at_sp(&b).await;

    // Unsigned, signed by another key, or for another person: nothing ends.
    let unsigned = logout_request(&app, "_lo0", "alice@acme.test", Some(&index));
    refused(
        &b.get(&binding_path("/saml/slo", &unsigned, None, None, ""))
            .await,
        "unsigned",
    );
    refused(
        &b.get(&binding_path(
            "/saml/slo",
            &unsigned,
            None,
            Some(&intruder),
            RSA_SHA256,
        ))
        .await,
        "signed by another key",
    );
    let someone_else = logout_request(&app, "_lo1", "bob@acme.test", None);
    let p = b
        .get(&binding_path(
            "/saml/slo",
            &someone_else,
            None,
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    let loc = p.location.clone().unwrap();
    assert_eq!(answered_status(&loc), vec!["Requester", "UnknownPrincipal"]);
    assert!(signed_in(&b).await, "another person's logout ends nothing");

    // CDATA is text to the signature, and so to us: this NameID is not alice's.
    let cdata = logout_request(&app, "_lo1c", "alice@acme.test<![CDATA[.evil]]>", None);
    let p = b
        .get(&binding_path(
            "/saml/slo",
            &cdata,
            None,
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(p.location.as_deref().unwrap())
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    assert_eq!(
        status_of(&inflate(&q["SAMLResponse"])),
        vec!["Requester", "UnknownPrincipal"]
    );
    assert!(signed_in(&b).await);

    // The same signed request at another tenant: that SP is unknown there.
    app.create_tenant("globex");
    let elsewhere = Browser::new(&app, "globex")
        .get(&binding_path(
            "/saml/slo",
            &someone_else,
            None,
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    refused(&elsewhere, "SP of another tenant");

    // The real thing.
    let request = logout_request(&app, "_lo2", "alice@acme.test", Some(&index));
    let p = b
        .get(&binding_path(
            "/saml/slo",
            &request,
            Some("back-to/home"),
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let loc = p.location.clone().unwrap();
    assert!(loc.starts_with("https://sp.example.com/slo?"), "{loc}");
    assert!(!signed_in(&b).await, "the IdP session is over");
    // Our query signature verifies with the certificate from our metadata.
    let cert = idp_certificate(&app, "acme").await;
    let q = verified_query(&loc, &cert);
    assert_eq!(q["RelayState"], "back-to/home");
    let response = inflate(&q["SAMLResponse"]);
    assert!(response.contains("InResponseTo=\"_lo2\""), "{response}");
    assert_eq!(status_of(&response), vec!["Success"]);
    assert_eq!(
        text_of(&response, "Issuer").unwrap(),
        app.url("acme", "/saml/metadata")
    );
    // The very same request again is a replay.
    refused(
        &b.get(&binding_path(
            "/saml/slo",
            &request,
            Some("back-to/home"),
            Some(&key),
            RSA_SHA256,
        ))
        .await,
        "replayed LogoutRequest",
    );
    // A new request (no session now): still a Success answer, nothing else to end.
    let again = logout_request(&app, "_lo3", "alice@acme.test", None);
    let p = b
        .get(&binding_path(
            "/saml/slo",
            &again,
            None,
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    assert_eq!(p.status, 303);
}

#[tokio::test]
async fn post_binding_logout_posts_a_signed_response_xmlsec1_verifies() {
    let app = app_with_alice().await;
    let (cert_file, key) = sp_key_files(&app, "post-sp");
    let cert = std::fs::read_to_string(&cert_file).unwrap();
    let body: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{SP}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/slo-post"/><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    );
    let out = app.cli_with(
        &["sp", "import", "--tenant", "acme", "--file", "-"],
        &[],
        Some(&metadata),
    );
    assert!(out.ok(), "{}", out.stderr);
    let b = Browser::new(&app, "acme");
    let index = signed_in_at_sp(&b).await;
    let request = logout_request(&app, "_plo1", "alice@acme.test", Some(&index));
    let signed = xmlsec_sign_as(&app, &request, "_plo1", &key, "LogoutRequest");
    let p: Page = b
        .post(
            "/saml/slo",
            &[
                ("SAMLRequest", &STANDARD.encode(&signed)),
                ("RelayState", "r1"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.has("action=\"https://sp.example.com/slo-post\""));
    assert_eq!(p.field("RelayState").as_deref(), Some("r1"));
    let response = posted_response(&p);
    assert!(response.contains("<samlp:LogoutResponse"));
    assert!(response.contains("InResponseTo=\"_plo1\""));
    assert_eq!(status_of(&response), vec!["Success"]);
    let idp_cert = idp_certificate(&app, "acme").await;
    xmlsec_verify(&app, &response, &idp_cert).expect("the LogoutResponse signature verifies");
    assert!(!signed_in(&b).await);
    // An unsigned POST request from an SP with a certificate is refused.
    let b2 = Browser::new(&app, "acme");
    let index = signed_in_at_sp(&b2).await;
    let unsigned = logout_request(&app, "_plo2", "alice@acme.test", Some(&index));
    refused(
        &b2.post("/saml/slo", &[("SAMLRequest", &STANDARD.encode(&unsigned))])
            .await,
        "unsigned POST logout",
    );
    assert!(signed_in(&b2).await);
}

/// Checks our Redirect-binding signature on `location` with the IdP certificate; returns the
/// query parameters.
fn verified_query(location: &str, cert_pem: &str) -> std::collections::HashMap<String, String> {
    let raw = location.split_once('?').unwrap().1;
    let (signed, signature) = raw.rsplit_once("&Signature=").unwrap();
    let signature = STANDARD
        .decode(
            url::form_urlencoded::parse(format!("s={signature}").as_bytes())
                .next()
                .unwrap()
                .1
                .as_bytes(),
        )
        .unwrap();
    let public = openssl::x509::X509::from_pem(cert_pem.as_bytes())
        .unwrap()
        .public_key()
        .unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
    verifier.update(signed.as_bytes()).unwrap();
    assert!(
        verifier.verify(&signature).unwrap(),
        "our query signature verifies"
    );
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn id_of(xml: &str) -> String {
    let at = xml.find(" ID=\"").unwrap() + 5;
    xml[at..at + xml[at..].find('"').unwrap()].to_owned()
}

fn logout_response(issuer: &str, in_response_to: &str, id: &str) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" InResponseTo="{in_response_to}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        now_instant(0)
    )
}

#[tokio::test]
async fn signing_out_at_the_idp_walks_every_sp_of_the_session_with_signed_requests() {
    let app = app_with_alice().await;
    let key1 = register_slo_sp(&app);
    let (cert2_file, key2) = sp_key_files(&app, "two");
    let cert2: String = std::fs::read_to_string(&cert2_file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let two = "urn:sp:two";
    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{two}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert2}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://two.example.com/slo"/><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    );
    assert!(
        app.cli_with(
            &["sp", "import", "--tenant", "acme", "--file", "-"],
            &[],
            Some(&metadata)
        )
        .ok()
    );
    register_sp(&app, "acme", "urn:sp:no-slo", &[]);
    let b = Browser::new(&app, "acme");
    let index = signed_in_at_sp(&b).await;
    for issuer in [two, "urn:sp:no-slo"] {
        let mut r = Req::new("_x");
        let id = latchkey::saml::response::new_id();
        r.id = &id;
        r.issuer = issuer;
        let p = b
            .get(&binding_path("/saml/sso", &r.xml(), None, None, ""))
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
    }
    let cert = idp_certificate(&app, "acme").await;

    // Sign out at the IdP: the session ends at once, and the first SP is told.
    let account = b.get("/account").await;
    let first = b.post("/logout", &[("csrf", &account.csrf())]).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(!signed_in(&b).await);
    let loc = first.location.clone().unwrap();
    assert!(loc.starts_with("https://sp.example.com/slo?"), "{loc}");
    let q = verified_query(&loc, &cert);
    let request = inflate(&q["SAMLRequest"]);
    assert!(request.contains("<samlp:LogoutRequest"), "{request}");
    assert_eq!(
        text_of(&request, "NameID").as_deref(),
        Some("alice@acme.test")
    );
    assert_eq!(
        text_of(&request, "SessionIndex").as_deref(),
        Some(index.as_str())
    );
    let handle = q["RelayState"].clone();

    // A forged answer (not signed by SP 1) moves nothing.
    let forged = logout_response(SP, &id_of(&request), "_f1");
    let p = b
        .get(&crate::saml_sp_init::message_path(
            "/saml/slo",
            "SAMLResponse",
            &forged,
            Some(&handle),
            None,
            "",
        ))
        .await;
    refused(&p, "unsigned LogoutResponse");

    // An answer from the wrong SP, or to another request, moves nothing either.
    let wrong_request = logout_response(SP, "_not-ours", "_a0");
    let p = b
        .get(&crate::saml_sp_init::message_path(
            "/saml/slo",
            "SAMLResponse",
            &wrong_request,
            Some(&handle),
            Some(&key1),
            RSA_SHA256,
        ))
        .await;
    refused(&p, "answer to another request");

    // SP 1 answers (Redirect, signed): on to SP 2, by POST.
    let answer = logout_response(SP, &id_of(&request), "_a1");
    let p = b
        .get(&crate::saml_sp_init::message_path(
            "/saml/slo",
            "SAMLResponse",
            &answer,
            Some(&handle),
            Some(&key1),
            RSA_SHA256,
        ))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.has("action=\"https://two.example.com/slo\""));
    let request2 = {
        let b64 = p.field("SAMLRequest").unwrap();
        String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
    };
    xmlsec_verify(&app, &request2, &cert).expect("the POST LogoutRequest is signed");
    assert!(
        text_of(&request2, "NameID").is_some_and(|n| n.len() == 64),
        "pairwise id"
    );
    let handle2 = p.field("RelayState").unwrap();

    // SP 2 answers (POST, signed): the walk is over (the SP without SLO is skipped).
    let answer2 = xmlsec_sign_as(
        &app,
        &logout_response(two, &id_of(&request2), "_a2"),
        "_a2",
        &key2,
        "LogoutResponse",
    );
    let done = b
        .post(
            "/saml/slo",
            &[
                ("SAMLResponse", &STANDARD.encode(&answer2)),
                ("RelayState", &handle2),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.has("You are signed out"));
    assert!(done.field("SAMLRequest").is_none());
}
