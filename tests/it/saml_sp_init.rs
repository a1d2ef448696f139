//! SP-initiated SSO on the HTTP-Redirect and HTTP-POST bindings, with the attacks the SAML
//! profile invites: unsigned or wrongly signed requests, signature wrapping, unregistered ACS
//! URLs, replays, hostile XML. Signatures of requests are made and ours checked with `xmlsec1`.

use std::io::Write;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::browser::{Browser, Page};
use crate::harness::TestApp;
use crate::login::{PW, app_with_alice};
use crate::saml_sso::{
    ACS, SP, attribute_values, idp_certificate, posted_response, register_sp, sp_key_files,
    text_of, xmlsec_verify,
};

pub fn now_instant(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(crate::browser::now_unix() + offset_secs)
        .unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub struct Req<'a> {
    pub id: &'a str,
    pub issuer: &'a str,
    acs: Option<&'a str>,
    extra_attrs: &'a str,
    issue_instant: String,
}

impl<'a> Req<'a> {
    pub fn new(id: &'a str) -> Req<'a> {
        Req {
            id,
            issuer: SP,
            acs: Some(ACS),
            extra_attrs: "",
            issue_instant: now_instant(0),
        }
    }

    /// The same request naming `destination` (signed messages must).
    pub fn to(mut self, destination: &'a str) -> Req<'a> {
        self.extra_attrs = destination;
        self
    }

    pub fn xml(&self) -> String {
        let acs = self
            .acs
            .map(|a| format!(r#" AssertionConsumerServiceURL="{a}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST""#))
            .unwrap_or_default();
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{}"{acs}{}><saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>"#,
            self.id, self.issue_instant, self.extra_attrs, self.issuer
        )
    }
}

pub fn deflate_b64(xml: &str) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    STANDARD.encode(enc.finish().unwrap())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// A Redirect-binding URL path; signed with `key_file` (PEM) when given.
fn redirect_path(xml: &str, relay: Option<&str>, key_file: Option<&str>, sig_alg: &str) -> String {
    binding_path("/saml/sso", xml, relay, key_file, sig_alg)
}

/// A Redirect-binding request to `path`, signed with `key_file` (PEM) when given.
pub fn binding_path(
    path: &str,
    xml: &str,
    relay: Option<&str>,
    key_file: Option<&str>,
    sig_alg: &str,
) -> String {
    message_path(path, "SAMLRequest", xml, relay, key_file, sig_alg)
}

/// A Redirect-binding message in parameter `param`, signed with `key_file` when given.
pub fn message_path(
    path: &str,
    param: &str,
    xml: &str,
    relay: Option<&str>,
    key_file: Option<&str>,
    sig_alg: &str,
) -> String {
    let mut q = format!("{param}={}", enc(&deflate_b64(xml)));
    if let Some(r) = relay {
        q.push_str(&format!("&RelayState={}", enc(r)));
    }
    if let Some(key_file) = key_file {
        q.push_str(&format!("&SigAlg={}", enc(sig_alg)));
        let pem = std::fs::read(key_file).unwrap();
        let key = openssl::pkey::PKey::private_key_from_pem(&pem).unwrap();
        let digest = if sig_alg.ends_with("sha1") {
            openssl::hash::MessageDigest::sha1()
        } else {
            openssl::hash::MessageDigest::sha256()
        };
        let mut signer = openssl::sign::Signer::new(digest, &key).unwrap();
        signer.update(q.as_bytes()).unwrap();
        let sig = STANDARD.encode(signer.sign_to_vec().unwrap());
        q.push_str(&format!("&Signature={}", enc(&sig)));
    }
    format!("{path}?{q}")
}

/// Signs a request document with `xmlsec1` (enveloped, exc-c14n, RSA-SHA256).
fn xmlsec_sign(app: &TestApp, xml: &str, id: &str, key_file: &str) -> String {
    xmlsec_sign_as(app, xml, id, key_file, "AuthnRequest")
}

/// Signs a protocol message (root element `root`, in the protocol namespace) with `xmlsec1`.
pub fn xmlsec_sign_as(app: &TestApp, xml: &str, id: &str, key_file: &str, root: &str) -> String {
    let template = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>"##
    );
    let with_template = xml.replacen("</saml:Issuer>", &format!("</saml:Issuer>{template}"), 1);
    let input = app.dir.path().join(format!("req-{id}.xml"));
    let output = app.dir.path().join(format!("req-{id}-signed.xml"));
    std::fs::write(&input, with_template).unwrap();
    let out = Command::new("xmlsec1")
        .args([
            "--sign",
            "--privkey-pem",
            key_file,
            "--id-attr:ID",
            &format!("urn:oasis:names:tc:SAML:2.0:protocol:{root}"),
            "--output",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(output).unwrap()
}

async fn post_request(b: &Browser, xml: &str, relay: Option<&str>) -> Page {
    let b64 = STANDARD.encode(xml);
    let mut fields = vec![("SAMLRequest", b64.as_str())];
    if let Some(r) = relay {
        fields.push(("RelayState", r));
    }
    b.post("/saml/sso", &fields).await
}

/// Follows a redirect to the login page, signs alice in, and returns the final page.
pub async fn through_login(b: &Browser, page: Page) -> Page {
    let to_login = page
        .location
        .clone()
        .unwrap_or_else(|| panic!("expected a redirect: {} {}", page.status, page.body));
    assert!(to_login.starts_with("/login"), "{to_login}");
    let form = b.get(&to_login).await;
    let back = b
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("login", "alice"),
                ("password", PW),
                ("return_to", &form.field("return_to").unwrap()),
            ],
        )
        .await;
    b.get(back.location.as_deref().unwrap()).await
}

pub fn status_of(xml: &str) -> Vec<String> {
    xml.match_indices("<samlp:StatusCode Value=\"")
        .map(|(i, m)| {
            let rest = &xml[i + m.len()..];
            rest[..rest.find('"').unwrap()]
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

pub fn refused(page: &Page, what: &str) {
    assert_eq!(page.status, 400, "{what}: {}", page.body);
    assert!(
        page.field("SAMLResponse").is_none(),
        "{what}: a response was sent"
    );
    assert!(page.location.is_none(), "{what}: redirected");
}

#[tokio::test]
async fn redirect_binding_signs_in_and_answers_the_request_at_its_registered_acs() {
    let app = app_with_alice().await;
    register_sp(&app, "acme", SP, &["--name-id-format", "email"]);
    let b = Browser::new(&app, "acme");
    let relay = "https://sp.example.com/deep/link?x=1&y=<2>";
    let first = b
        .get(&redirect_path(
            &Req::new("_req-1").xml(),
            Some(relay),
            None,
            "",
        ))
        .await;
    let page = through_login(&b, first).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has(&format!("action=\"{ACS}\"")));
    assert_eq!(
        page.field("RelayState").as_deref(),
        Some(relay),
        "unchanged"
    );
    let xml = posted_response(&page);
    let cert = idp_certificate(&app, "acme").await;
    xmlsec_verify(&app, &xml, &cert).expect("signed by the tenant key");
    assert!(xml.contains("InResponseTo=\"_req-1\""));
    assert_eq!(status_of(&xml), vec!["Success"]);
    assert_eq!(text_of(&xml, "NameID").as_deref(), Some("alice@acme.test"));
    assert!(xml.contains("Recipient=\"https://sp.example.com/acs\""));

    // Signed in already: the next request is answered at once; the same ID again is a replay.
    let again = b
        .get(&redirect_path(&Req::new("_req-2").xml(), None, None, ""))
        .await;
    assert_eq!(again.status, 200);
    assert!(posted_response(&again).contains("InResponseTo=\"_req-2\""));
    let replay = b
        .get(&redirect_path(&Req::new("_req-2").xml(), None, None, ""))
        .await;
    refused(&replay, "replay");
    assert!(replay.has("already used"));

    // The POST binding, unsigned (this SP does not require signatures).
    let posted = post_request(&b, &Req::new("_req-post").xml(), Some("rp")).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert!(posted_response(&posted).contains("InResponseTo=\"_req-post\""));
    assert_eq!(posted.field("RelayState").as_deref(), Some("rp"));

    // Without an ACS URL in the request: the registered default.
    let mut no_acs = Req::new("_req-3");
    no_acs.acs = None;
    let p = b.get(&redirect_path(&no_acs.xml(), None, None, "")).await;
    assert!(p.has(&format!("action=\"{ACS}\"")));

    // Refused with a page, nothing sent: unregistered ACS, unknown SP, another tenant's SP.
    let mut evil = Req::new("_req-4");
    evil.acs = Some("https://evil.example.com/acs");
    refused(
        &b.get(&redirect_path(&evil.xml(), None, None, "")).await,
        "unregistered ACS",
    );
    let mut unknown = Req::new("_req-5");
    unknown.issuer = "https://unknown.example.com";
    refused(
        &b.get(&redirect_path(&unknown.xml(), None, None, "")).await,
        "unknown SP",
    );
    app.create_tenant("globex");
    let at_globex = Browser::new(&app, "globex")
        .get(&redirect_path(&Req::new("_req-6").xml(), None, None, ""))
        .await;
    refused(&at_globex, "SP of another tenant");

    // A trusted SP at its registered ACS gets signed error Responses.
    let mut stale = Req::new("_req-7");
    stale.issue_instant = now_instant(-3600);
    let p = b.get(&redirect_path(&stale.xml(), None, None, "")).await;
    let x = posted_response(&p);
    assert_eq!(status_of(&x), vec!["Requester"]);
    xmlsec_verify(&app, &x, &cert).unwrap();
    let mut elsewhere = Req::new("_req-8");
    elsewhere.extra_attrs = r#" Destination="https://other-idp.example.com/sso""#;
    let p = b
        .get(&redirect_path(&elsewhere.xml(), None, None, ""))
        .await;
    assert_eq!(status_of(&posted_response(&p)), vec!["Requester"]);
    let mut format = Req::new("_req-9");
    format.extra_attrs = "";
    let xml = format.xml().replace(
        "</saml:Issuer>",
        r#"</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>"#,
    );
    let p = b.get(&redirect_path(&xml, None, None, "")).await;
    assert_eq!(
        status_of(&posted_response(&p)),
        vec!["Requester", "InvalidNameIDPolicy"]
    );
}

#[tokio::test]
async fn signed_requests_are_verified_with_the_registered_certificate_only() {
    let app = app_with_alice().await;
    let key = register_sp(&app, "acme", SP, &["--require-signed-requests"]);
    let (_, other_key) = sp_key_files(&app, "intruder");
    let dest = format!(r#" Destination="{}""#, app.url("acme", "/saml/sso"));
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;

    // Redirect binding.
    let ok = b
        .get(&redirect_path(
            &Req::new("_s1").to(&dest).xml(),
            Some("rs"),
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(posted_response(&ok).contains("InResponseTo=\"_s1\""));
    refused(
        &b.get(&redirect_path(&Req::new("_s2").xml(), None, None, ""))
            .await,
        "unsigned",
    );
    refused(
        &b.get(&redirect_path(
            &Req::new("_s3").to(&dest).xml(),
            None,
            Some(&other_key),
            RSA_SHA256,
        ))
        .await,
        "signed by a key that is not the SP's",
    );
    refused(
        &b.get(&redirect_path(
            &Req::new("_s4").to(&dest).xml(),
            None,
            Some(&key),
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        ))
        .await,
        "SHA-1",
    );
    // The RelayState is covered by the signature: changing it breaks it.
    let signed = redirect_path(
        &Req::new("_s5").to(&dest).xml(),
        Some("good"),
        Some(&key),
        RSA_SHA256,
    );
    refused(
        &b.get(&signed.replace("RelayState=good", "RelayState=evil"))
            .await,
        "tampered RelayState",
    );

    // A signed request must say where it was sent.
    let undirected = b
        .get(&redirect_path(
            &Req::new("_s6").xml(),
            None,
            Some(&key),
            RSA_SHA256,
        ))
        .await;
    assert_eq!(status_of(&posted_response(&undirected)), vec!["Requester"]);

    // POST binding: an enveloped signature made by xmlsec1.
    let signed = xmlsec_sign(&app, &Req::new("_p1").to(&dest).xml(), "_p1", &key);
    let p = post_request(&b, &signed, None).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(posted_response(&p).contains("InResponseTo=\"_p1\""));
    let unsigned = post_request(&b, &Req::new("_p2").xml(), None).await;
    refused(&unsigned, "unsigned POST");
    let by_intruder = xmlsec_sign(&app, &Req::new("_p3").to(&dest).xml(), "_p3", &other_key);
    refused(
        &post_request(&b, &by_intruder, None).await,
        "POST signed by another key",
    );

    // Signature wrapping: the genuine signed request inside a forged one naming another ACS.
    let genuine = xmlsec_sign(&app, &Req::new("_p4").to(&dest).xml(), "_p4", &key);
    let genuine_body = genuine
        .trim_start_matches(|c| c != '<')
        .trim_start_matches("<?xml version=\"1.0\"?>")
        .trim();
    let mut forged = Req::new("_p5");
    forged.acs = Some("https://evil.example.com/acs");
    let wrapped = forged.xml().replace(
        "</saml:Issuer>",
        &format!("</saml:Issuer><samlp:Extensions>{genuine_body}</samlp:Extensions>"),
    );
    refused(
        &post_request(&b, &wrapped, None).await,
        "signature wrapping",
    );
    // And the other way round: the forged request's own fields inside a signed envelope.
    let tampered = genuine.replace(ACS, "https://sp.example.com/acs2");
    refused(
        &post_request(&b, &tampered, None).await,
        "tampered signed request",
    );
}

#[tokio::test]
async fn passive_and_forced_requests_are_honoured() {
    let app = app_with_alice().await;
    register_sp(&app, "acme", SP, &[]);
    let b = Browser::new(&app, "acme");
    let cert = idp_certificate(&app, "acme").await;
    // IsPassive without a session: NoPassive, signed, and nothing asked of the user.
    let mut passive = Req::new("_q1");
    passive.extra_attrs = r#" IsPassive="true""#;
    let p = b
        .get(&redirect_path(&passive.xml(), Some("r"), None, ""))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let x = posted_response(&p);
    assert_eq!(status_of(&x), vec!["Responder", "NoPassive"]);
    assert!(x.contains("InResponseTo=\"_q1\""));
    xmlsec_verify(&app, &x, &cert).unwrap();
    assert_eq!(p.field("RelayState").as_deref(), Some("r"));

    // ForceAuthn with a session: the password again, then the answer.
    b.login("alice", PW).await;
    let mut forced = Req::new("_q2");
    forced.extra_attrs = r#" ForceAuthn="true""#;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let first = b.get(&redirect_path(&forced.xml(), None, None, "")).await;
    let loc = first.location.clone().unwrap();
    assert!(loc.contains("reauth=1"), "{loc}");
    let page = through_login(&b, first).await;
    assert!(posted_response(&page).contains("InResponseTo=\"_q2\""));
    // The waiting request is answered once only.
    let handle = url::Url::parse(&format!("http://x{}", loc))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    refused(&b.get(&handle).await, "answered twice");
}

#[tokio::test]
async fn hostile_xml_is_refused_before_any_parser_and_quickly() {
    let app = app_with_alice().await;
    register_sp(&app, "acme", SP, &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let billion = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>{}"#,
        Req::new("_h1").xml().replace(SP, "&lol2;")
    );
    let external = format!(
        r#"<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd">{}"#,
        Req::new("_h2").xml()
    );
    let bomb = {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(Req::new("_h3").xml().as_bytes()).unwrap();
        enc.write_all(&vec![b' '; 40 * 1024 * 1024]).unwrap();
        STANDARD.encode(enc.finish().unwrap())
    };
    let started = std::time::Instant::now();
    for (path, what) in [
        (redirect_path(&billion, None, None, ""), "entity expansion"),
        (redirect_path(&external, None, None, ""), "external DTD"),
        (
            format!("/saml/sso?SAMLRequest={}", enc(&bomb)),
            "deflate bomb",
        ),
        ("/saml/sso?SAMLRequest=%%%".to_owned(), "garbage"),
        ("/saml/sso".to_owned(), "nothing"),
    ] {
        let p = b.get(&path).await;
        assert!(
            p.status == 400 || p.status == 414 || p.status == 431,
            "{what}: {}",
            p.status
        );
        assert!(p.field("SAMLResponse").is_none(), "{what}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let post_billion = post_request(&b, &billion, None).await;
    refused(&post_billion, "entity expansion (POST)");
    let oversized = b
        .post("/saml/sso", &[("SAMLRequest", &"A".repeat(200 * 1024))])
        .await;
    refused(&oversized, "oversized (POST)");
}

#[tokio::test]
async fn name_ids_follow_the_sp_format_and_attribute_values_arrive_as_text() {
    let app = app_with_alice().await;
    let hostile =
        "Dev & <b>Ops</b> \"quoted\" 'single' </saml:AttributeValue><saml:AttributeValue>x";
    assert!(
        app.cli_with(
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                "eve",
                "--email",
                "eve@acme.test",
                "--display-name",
                hostile,
                "--password-stdin",
                "--no-change-required"
            ],
            &[],
            Some(PW),
        )
        .ok()
    );
    register_sp(&app, "acme", SP, &[]);
    register_sp(&app, "acme", "urn:sp:two", &[]);
    register_sp(
        &app,
        "acme",
        "urn:sp:transient",
        &["--name-id-format", "transient"],
    );
    let sso = async |b: &Browser, issuer: &str, id: &str| {
        let mut r = Req::new(id);
        r.issuer = issuer;
        let p = b.get(&redirect_path(&r.xml(), None, None, "")).await;
        posted_response(&p)
    };
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let first = text_of(&sso(&b, SP, "_n1").await, "NameID").unwrap();
    let other_sp = text_of(&sso(&b, "urn:sp:two", "_n2").await, "NameID").unwrap();
    let t1 = text_of(&sso(&b, "urn:sp:transient", "_n3").await, "NameID").unwrap();
    let t2 = text_of(&sso(&b, "urn:sp:transient", "_n4").await, "NameID").unwrap();
    assert_ne!(first, other_sp, "pairwise: different per SP");
    assert_ne!(t1, t2, "transient: new every time");
    assert!(!first.contains("alice"));
    // A new session later: the same persistent id.
    let b2 = Browser::new(&app, "acme");
    b2.login("alice", PW).await;
    assert_eq!(
        text_of(&sso(&b2, SP, "_n5").await, "NameID").unwrap(),
        first
    );

    register_sp(
        &app,
        "acme",
        "urn:sp:unspecified",
        &["--name-id-format", "unspecified"],
    );
    let unspecified = text_of(&sso(&b, "urn:sp:unspecified", "_n7").await, "NameID").unwrap();
    assert_eq!(unspecified, "alice", "unspecified: the username");

    let e = Browser::new(&app, "acme");
    e.login("eve", PW).await;
    let xml = sso(&e, SP, "_n6").await;
    assert_eq!(
        attribute_values(&xml, "urn:oid:2.16.840.1.113730.3.1.241"),
        vec![hostile.to_owned()],
        "one value, the text exactly"
    );
    let cert = idp_certificate(&app, "acme").await;
    xmlsec_verify(&app, &xml, &cert).unwrap();
}

#[tokio::test]
async fn samaels_service_provider_accepts_our_response_with_an_algorithm_allowlist() {
    use std::str::FromStr;
    let app = app_with_alice().await;
    register_sp(&app, "acme", SP, &["--name-id-format", "email"]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    let page = b
        .get(&redirect_path(&Req::new("_sam1").xml(), None, None, ""))
        .await;
    let xml = posted_response(&page);
    let metadata = app
        .get("acme", "/saml/metadata")
        .await
        .text()
        .await
        .unwrap();
    let sp = samael::service_provider::ServiceProvider {
        entity_id: Some(SP.into()),
        acs_url: Some(ACS.into()),
        idp_metadata: samael::metadata::EntityDescriptor::from_str(&metadata).unwrap(),
        allowed_signature_algorithms: Some(vec![
            samael::crypto::AllowedSignatureAlgorithm::RsaSha256,
        ]),
        ..Default::default()
    };
    let assertion = sp
        .parse_xml_response(&xml, Some(&["_sam1"]))
        .expect("samael's SP accepts the response");
    let subject = assertion.subject.unwrap();
    assert_eq!(subject.name_id.unwrap().value, "alice@acme.test");
    // The wrong request id, or a response meant for another SP, is refused by it.
    assert!(sp.parse_xml_response(&xml, Some(&["_other"])).is_err());
    let other = samael::service_provider::ServiceProvider {
        entity_id: Some("urn:sp:other".into()),
        ..sp.clone()
    };
    assert!(other.parse_xml_response(&xml, Some(&["_sam1"])).is_err());
}

#[tokio::test]
async fn parser_differentials_are_closed_before_any_signature_check() {
    let app = app_with_alice().await;
    let key = register_sp(&app, "acme", SP, &["--require-signed-requests"]);
    let dest = format!(r#" Destination="{}""#, app.url("acme", "/saml/sso"));
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    // A repeated namespace declaration (one parser keeps the first, another the last).
    let hidden = Req::new("_d1").xml().replace(
        "</saml:Issuer>",
        r#"</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:ds="urn:x"><ds:SignedInfo/></ds:Signature>"#,
    );
    refused(&post_request(&b, &hidden, None).await, "repeated xmlns:ds");
    // Another encoding than UTF-8.
    let utf7 = format!(
        r#"<?xml version="1.0" encoding="UTF-7"?>{}"#,
        Req::new("_d2").xml()
    );
    refused(&post_request(&b, &utf7, None).await, "UTF-7");
    // A binding parameter spelled with an escape is not covered by the signature: refused.
    let signed = redirect_path(
        &Req::new("_d3").to(&dest).xml(),
        Some("good"),
        Some(&key),
        RSA_SHA256,
    );
    refused(
        &b.get(&format!("{signed}&RelayStat%65=evil")).await,
        "escaped RelayState name",
    );
    refused(
        &b.get(&format!("{signed}&RelayState")).await,
        "bare RelayState",
    );
    // The genuine signed request still works.
    let ok = b.get(&signed).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.field("RelayState").as_deref(), Some("good"));
}

/// The value of the `h` parameter of a sign-in redirect's `return_to`.
fn continue_path(to_login: &str) -> String {
    let url = url::Url::parse(&format!("http://x{to_login}")).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn a_waiting_request_continues_only_in_its_browser_and_can_be_cancelled() {
    let app = app_with_alice().await;
    register_sp(&app, "acme", SP, &[]);
    let cert = idp_certificate(&app, "acme").await;

    // Not signed in: the request waits; the URL names it, a cookie holds its secret.
    let b = Browser::new(&app, "acme");
    let first = b
        .get(&redirect_path(&Req::new("_w1").xml(), None, None, ""))
        .await;
    assert_eq!(first.status, 303);
    let to_login = first.location.clone().unwrap();
    let back = continue_path(&to_login);
    assert!(back.starts_with("/saml/continue?h="), "{back}");
    let cookie = first
        .set_cookies
        .iter()
        .find(|c| c.starts_with("lk_saml_"))
        .expect("the request's cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Max-Age=600"),
        "{cookie}"
    );
    let secret = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(secret.len() >= 43, "{cookie}");
    assert!(!to_login.contains(secret), "the secret is not in the URL");

    // Another browser, even signed in as the same user, cannot continue it by URL alone.
    let other = Browser::new(&app, "acme");
    other.login("alice", PW).await;
    let stolen = other.get(&back).await;
    refused(&stolen, "continued in another browser");
    assert!(stolen.has("another browser"), "{}", stolen.body);

    // Its own browser signs in and gets the answer; the cookie is cleared.
    let answered = through_login(&b, first).await;
    let xml = posted_response(&answered);
    assert!(xml.contains("InResponseTo=\"_w1\""));
    assert_eq!(status_of(&xml), vec!["Success"]);
    assert!(
        answered
            .set_cookies
            .iter()
            .any(|c| c.starts_with("lk_saml_") && c.contains("Max-Age=0")),
        "the request's cookie is cleared: {:?}",
        answered.set_cookies
    );
    let again = b.get(&back).await;
    refused(&again, "answered twice");
    // The same request ID is a replay, wherever it comes from.
    let replay = Browser::new(&app, "acme")
        .get(&redirect_path(&Req::new("_w1").xml(), None, None, ""))
        .await;
    refused(&replay, "replay of a waiting request's ID");
    assert!(replay.has("already used"));

    // Cancelling on the sign-in page: the SP gets a signed AuthnFailed, RelayState kept.
    let c = Browser::new(&app, "acme");
    let waiting = c
        .get(&redirect_path(&Req::new("_w2").xml(), Some("rc"), None, ""))
        .await;
    let form = c.get(waiting.location.as_deref().unwrap()).await;
    assert!(form.has("Cancel and return to the application"));
    let h = form.field("h").expect("the cancel form names the request");
    let forged = c.post("/saml/cancel", &[("csrf", "x"), ("h", &h)]).await;
    assert_eq!(forged.status, 403, "no CSRF token, nothing answered");
    let cancelled = c
        .post("/saml/cancel", &[("csrf", &form.csrf()), ("h", &h)])
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert!(cancelled.has(&format!("action=\"{ACS}\"")));
    assert_eq!(cancelled.field("RelayState").as_deref(), Some("rc"));
    let xml = posted_response(&cancelled);
    xmlsec_verify(&app, &xml, &cert).expect("signed");
    assert!(xml.contains("InResponseTo=\"_w2\""));
    assert_eq!(status_of(&xml), vec!["Responder", "AuthnFailed"]);
    assert!(!xml.contains("Assertion"), "no assertion in a failure");
    // Answered: neither signing in nor cancelling again does anything.
    refused(
        &c.post("/saml/cancel", &[("csrf", &form.csrf()), ("h", &h)])
            .await,
        "cancelled twice",
    );
    let late = through_login(&c, waiting).await;
    refused(&late, "signing in after cancelling");
    // Another browser cannot cancel someone else's waiting request either.
    let d = Browser::new(&app, "acme");
    let waiting = d
        .get(&redirect_path(&Req::new("_w3").xml(), None, None, ""))
        .await;
    let h3 = d
        .get(waiting.location.as_deref().unwrap())
        .await
        .field("h")
        .unwrap();
    let e = Browser::new(&app, "acme");
    let e_form = e.get("/login").await;
    refused(
        &e.post("/saml/cancel", &[("csrf", &e_form.csrf()), ("h", &h3)])
            .await,
        "cancel from another browser",
    );
    let still = through_login(&d, waiting).await;
    assert!(posted_response(&still).contains("InResponseTo=\"_w3\""));
}

#[tokio::test]
async fn concurrent_sign_ins_are_recorded_once_each_and_replays_in_the_same_batch_refused() {
    let app = app_with_alice().await;
    register_sp(&app, "acme", SP, &[]);
    let b = Browser::new(&app, "acme");
    b.login("alice", PW).await;
    // 24 requests, each sent twice at the same moment: the writer batches whatever arrives
    // together, so copies of one ID often land in one batch.
    let ids: Vec<String> = (0..24).map(|i| format!("_c{i}")).collect();
    let paths: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            let p = redirect_path(&Req::new(id).xml(), None, None, "");
            [p.clone(), p]
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for p in paths {
        let b = b.clone();
        tasks.spawn(async move { b.get(&p).await });
    }
    let pages = tasks.join_all().await;
    let mut answered = std::collections::HashMap::new();
    for page in &pages {
        if page.status == 200 {
            let xml = posted_response(page);
            let id = xml
                .split("InResponseTo=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
                .to_owned();
            *answered.entry(id).or_insert(0) += 1;
        } else {
            refused(page, "the second copy");
            assert!(page.has("already used"));
        }
    }
    for id in &ids {
        assert_eq!(answered.get(id), Some(&1), "{id} answered exactly once");
    }
    assert_eq!(answered.len(), ids.len());
    assert_eq!(
        crate::login::count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE operation = 'sso.saml'"
        )
        .await,
        24
    );
    assert_eq!(
        crate::login::count(&app, "SELECT COUNT(*) FROM saml_requests").await,
        24
    );
    assert_eq!(
        crate::login::count(&app, "SELECT COUNT(*) FROM saml_participants").await,
        1
    );
    assert!(app.cli(&["audit", "verify", "--tenant", "acme"]).ok());
}
