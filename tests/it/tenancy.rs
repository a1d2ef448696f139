//! Tenant resolution from the Host header: known, unknown, bare domain, spoofed and odd values.

use crate::harness::{TestApp, raw_request};

#[tokio::test]
async fn known_tenant_host_serves_that_tenant() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let res = app.get("acme", "/").await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("acme Inc"), "{body}");
}

#[tokio::test]
async fn host_matching_is_case_insensitive_and_tolerates_a_trailing_dot() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    for host in ["ACME.localhost", "Acme.LOCALHOST", "acme.localhost."] {
        let head = format!(
            "GET / HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
            app.port
        );
        let (status, body) = raw_request(app.addr, &head).await;
        assert_eq!(status, 200, "{host}");
        assert!(body.contains("acme Inc"), "{host}");
    }
}

#[tokio::test]
async fn unknown_tenant_is_a_404_page() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let res = app.get("globex", "/").await;
    assert_eq!(res.status(), 404);
    let body = res.text().await.unwrap();
    assert!(body.contains("Not found"));
    assert!(
        !body.contains("acme"),
        "a 404 must not hint at other tenants"
    );
}

#[tokio::test]
async fn bare_base_domain_is_a_landing_page_listing_no_tenants() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    app.create_tenant("globex");
    let res = app.client.get(app.base_url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Latchkey"));
    assert!(!body.contains("acme") && !body.contains("globex"), "{body}");
}

#[tokio::test]
async fn spoofed_and_odd_host_values_are_404() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let p = app.port;
    let cases = [
        format!("Host: acme.evil.test:{p}\r\n"), // foreign domain
        format!("Host: acme.localhost.evil.test:{p}\r\n"), // suffix trick
        format!("Host: 127.0.0.1:{p}\r\n"),      // IP literal
        format!("Host: [::1]:{p}\r\n"),          // IPv6 literal
        format!("Host: acme.localhost:{}\r\n", p.wrapping_add(1)), // another port
        "Host: acme.localhost\r\n".to_owned(),   // default port
        format!("Host: x.acme.localhost:{p}\r\n"), // nested label
        format!("Host: www.localhost:{p}\r\n"),  // reserved slug
        format!("Host: evil@acme.localhost:{p}\r\n"), // userinfo
        format!("Host: acme.localhost:{p}\r\nHost: evil.test\r\n"), // duplicate Host
        format!("Host: ACME_.localhost:{p}\r\n"), // invalid label
    ];
    for host_lines in &cases {
        let head = format!("GET / HTTP/1.1\r\n{host_lines}Connection: close\r\n\r\n");
        let (status, body) = raw_request(app.addr, &head).await;
        assert!(
            status == 404 || status == 400,
            "{host_lines:?} gave {status}: {body}"
        );
        assert!(
            !body.contains("acme Inc"),
            "{host_lines:?} reached the tenant"
        );
    }
    // HTTP/1.0 without any Host header.
    let (status, _) = raw_request(app.addr, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn forwarded_host_is_ignored_unless_the_proxy_is_trusted() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme");
    let res = app
        .client
        .get(app.url("unknown", "/"))
        .header("x-forwarded-host", format!("acme.localhost:{}", app.port))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let trusted = TestApp::spawn_with(crate::harness::Spawn {
        extra_env: vec![("LATCHKEY_TRUST_PROXY".into(), "true".into())],
    })
    .await;
    trusted.create_tenant("acme");
    let res = trusted
        .client
        .get(trusted.base_url("/"))
        .header(
            "x-forwarded-host",
            format!("acme.localhost:{}", trusted.port),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("acme Inc"));
}

#[tokio::test]
async fn health_endpoints_answer_on_any_host() {
    let app = TestApp::spawn().await;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:{}\r\nConnection: close\r\n\r\n",
        app.port
    );
    let (status, _) = raw_request(app.addr, &head).await;
    assert_eq!(status, 200);
    let res = app
        .client
        .get(app.base_url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
