//! HTTP plumbing: security headers, request ids, body limits, metrics, native HTTPS.

use crate::harness::TestApp;

fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.get("x-request-id").is_some());
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let ok = app.get("acme", "/").await;
    assert_eq!(ok.status(), 200);
    assert_security_headers(&ok);
    assert!(
        ok.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    let missing = app.get("nobody", "/").await;
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing);
    let page = app.get("acme", "/no/such/page").await;
    assert_eq!(page.status(), 404);
    assert_security_headers(&page);
    let a = ok.headers()["x-request-id"].clone();
    let b = page.headers()["x-request-id"].clone();
    assert_ne!(a, b);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn_with(crate::harness::Spawn {
        extra_env: vec![("LATCHKEY_MAX_BODY_BYTES".into(), "4096".into())],
    })
    .await;
    app.create_tenant("acme");
    let res = app
        .client
        .post(app.url("acme", "/"))
        .body(vec![b'x'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

/// Issue 16 item 7: request headers over 16 KiB in all (one 100 KB header, or many small
/// ones) are refused with 431; a browser's ordinary headers pass.
#[tokio::test]
async fn oversized_request_headers_are_refused_with_431() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let get = |headers: Vec<(String, String)>| {
        let mut req = app.client.get(app.url("acme", "/login"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let one_large = get(vec![("x-large".into(), "a".repeat(100_000))])
        .await
        .unwrap();
    assert_eq!(one_large.status(), 431);
    assert_security_headers(&one_large);
    let many: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-h{i}"), "b".repeat(500)))
        .collect();
    assert_eq!(get(many).await.unwrap().status(), 431);
    let ordinary = get(vec![("cookie".into(), format!("a={}", "c".repeat(4000)))])
        .await
        .unwrap();
    assert_eq!(ordinary.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_per_route_template_without_user_data() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    for _ in 0..3 {
        assert_eq!(app.get("acme", "/").await.status(), 200);
    }
    let text = app.metrics().await;
    assert!(
        text.contains("latchkey_http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(text.contains("latchkey_http_request_duration_seconds_bucket{"));
    assert!(
        !text.contains("acme"),
        "tenant names must not appear in labels"
    );
}

/// Every CSP asks browsers to report what it refuses; a report is counted by directive, kept
/// without the page's query, and a report too large or not one is refused.
#[tokio::test]
async fn csp_reports_are_asked_for_counted_and_bounded() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let page = app.get("acme", "/login").await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.ends_with("; report-uri /csp-report"), "{csp}");
    let report = |body: String, kind: &'static str| {
        app.client
            .post(app.url("acme", "/csp-report"))
            .header("content-type", kind)
            .body(body)
            .send()
    };
    let old = serde_json::json!({ "csp-report": {
        "document-uri": "http://acme.localhost/login?code=secret",
        "violated-directive": "form-action 'self'",
        "blocked-uri": "https://app.example/cb?code=secret",
    }});
    let res = report(old.to_string(), "application/csp-report")
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let new = serde_json::json!([{ "type": "csp-violation", "body": {
        "documentURL": "http://acme.localhost/admin",
        "effectiveDirective": "script-src-elem",
        "blockedURL": "inline",
    }}]);
    let res = report(new.to_string(), "application/reports+json")
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for (body, status) in [
        ("not json".to_owned(), 400),
        ("{\"hello\": 1}".to_owned(), 400),
        (
            format!("{{\"csp-report\": \"{}\"}}", "x".repeat(20_000)),
            413,
        ),
    ] {
        let res = report(body, "application/csp-report").await.unwrap();
        assert_eq!(res.status(), status);
    }
    let text = app.metrics().await;
    for directive in ["form-action", "script-src-elem"] {
        let line = format!("latchkey_csp_violations_total{{directive=\"{directive}\"}} 1");
        assert!(text.contains(&line), "{text}");
    }
    assert!(text.contains("latchkey_csp_violations_total{directive=\"img-src\"} 0"));
}

#[tokio::test]
async fn native_https_serves_tenants_with_hsts() {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509, X509NameBuilder};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .dns("acme.localhost")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();

    // The harness sets an http:// public URL; TLS needs https://, on the same port.
    let port_probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = port_probe.local_addr().unwrap().port();
    drop(port_probe);
    let app = TestApp::spawn_with(crate::harness::Spawn {
        extra_env: vec![
            ("LATCHKEY_TLS_CERT".into(), cert_path.display().to_string()),
            ("LATCHKEY_TLS_KEY".into(), key_path.display().to_string()),
            (
                "LATCHKEY_PUBLIC_URL".into(),
                format!("https://localhost:{port}"),
            ),
            ("LATCHKEY_LISTEN".into(), format!("127.0.0.1:{port}")),
        ],
    })
    .await;
    app.create_tenant("acme");
    // The harness bound its own port; serve TLS on the configured one with the real `serve`.
    let config = (*app.config).clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(latchkey::server::serve(config, false, async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(crate::harness::LocalhostResolver))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&cert.to_pem().unwrap()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://acme.localhost:{port}/");
    let mut res = None;
    for _ in 0..50 {
        match client.get(&url).send().await {
            Ok(r) => {
                res = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let res = res.expect("HTTPS server answered");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    assert!(res.text().await.unwrap().contains("acme Inc"));
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
