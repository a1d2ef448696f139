//! A browser stand-in: one cookie jar per tenant host, forms parsed from the returned HTML
//! (CSRF token included), redirects inspected and followed by hand.

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::harness::{LocalhostResolver, TestApp};

#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub origin: String,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of a hidden (or any) input by name.
    pub fn field(&self, name: &str) -> Option<String> {
        field(&self.body, name)
    }

    pub fn csrf(&self) -> String {
        self.field("csrf").expect("the page has a CSRF token")
    }

    /// The page's one-use form token.
    pub fn once(&self) -> String {
        self.field("once")
            .expect("the page has a one-use form token")
    }

    /// Where a page that navigates on (`<meta http-equiv="refresh">`, the answer to a form
    /// whose next stop may leave the origin) sends the browser.
    pub fn refresh_target(&self) -> Option<String> {
        let at = self.body.find("http-equiv=\"refresh\"")?;
        let rest = &self.body[at..];
        let start = rest.find("content=\"")? + 9;
        let end = rest[start..].find('"')?;
        let content = unescape(&rest[start..start + end]);
        let (_, url) = content.split_once("url=")?;
        Some(url.to_owned())
    }

    /// The next stop: a redirect's `Location`, or the target of a page that navigates on.
    pub fn next(&self) -> Option<String> {
        match self.status {
            301 | 302 | 303 | 307 | 308 => self.location.clone(),
            200 => self.refresh_target(),
            _ => None,
        }
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// The error or notice message shown, without markup.
    pub fn alert(&self) -> Option<String> {
        let at = self.body.find("role=\"alert\"")?;
        let tag_start = self.body[..at].rfind('<')?;
        let name: String = self.body[tag_start + 1..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let rest = &self.body[at..];
        let open = rest.find('>')? + 1;
        let close = rest.find(&format!("</{name}>"))?;
        Some(strip_tags(&rest[open..close]).trim().to_owned())
    }

    /// The problem said beside field `id` (`<p class="field-error" id="{id}-error">`), without
    /// markup, when the field is also marked invalid and points at it.
    pub fn beside(&self, id: &str) -> Option<String> {
        let tag = format!("<p class=\"field-error\" id=\"{id}-error\">");
        let at = self.body.find(&tag)? + tag.len();
        let end = self.body[at..].find("</p>")?;
        let field = self.body.find(&format!(" id=\"{id}\""))?;
        let field_tag = &self.body[field..field + self.body[field..].find('>')?];
        let marked = field_tag.contains("aria-invalid=\"true\"")
            && field_tag.contains(&format!("{id}-error"));
        marked.then(|| unescape(&strip_tags(&self.body[at..at + end])))
    }

    /// The body with the per-browser CSRF token removed, for comparing two responses.
    pub fn without_csrf(&self) -> String {
        let mut body = self.body.clone();
        while let Some(token) = field(&body, "csrf") {
            body = body.replace(&token, "");
            if token.is_empty() {
                break;
            }
        }
        body
    }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first POST form whose action starts with `action`: its action and its inputs' names
/// and values, in order (repeated names kept), as a browser would send them unchanged.
pub fn form(html: &str, action: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut rest = html;
    while let Some(at) = rest.find("<form method=\"post\" action=\"") {
        rest = &rest[at + 28..];
        let end = rest.find('"')?;
        let found = unescape(&rest[..end]);
        let body_end = rest.find("</form>").unwrap_or(rest.len());
        if !found.starts_with(action) {
            continue;
        }
        let body = &rest[..body_end];
        let mut pairs = vec![];
        let mut inputs = body;
        while let Some(i) = inputs.find("<input ") {
            inputs = &inputs[i..];
            let tag_end = inputs.find('>').map_or(inputs.len(), |e| e + 1);
            let tag = &inputs[..tag_end];
            if let Some(n) = tag.find("name=\"") {
                let name = &tag[n + 6..];
                let name = &name[..name.find('"').unwrap_or(0)];
                if !tag.contains("type=\"checkbox\"") || tag.contains(" checked") {
                    pairs.push((unescape(name), field(tag, name).unwrap_or_default()));
                }
            }
            inputs = &inputs[tag_end..];
        }
        return Some((found, pairs));
    }
    None
}

pub fn field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    let end = tag[v..].find('"')?;
    Some(unescape(&tag[v..v + end]))
}

fn unescape(s: &str) -> String {
    // Named and numeric (decimal or hex) character references, as askama writes them.
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Browser {
    pub fn new(app: &TestApp, slug: &str) -> Browser {
        Browser::with_agent(app, slug, "TestBrowser/1.0")
    }

    pub fn with_agent(app: &TestApp, slug: &str, agent: &str) -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(LocalhostResolver))
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .user_agent(agent)
            .build()
            .expect("client");
        Browser {
            client,
            jar,
            origin: app.url(slug, ""),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    async fn page(res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let body = res.text().await.expect("body");
        Page {
            status,
            location,
            set_cookies,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Browser::page(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Browser::page(
            self.client
                .post(self.url(path))
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// A `multipart/form-data` POST: text fields, and files as (field, file name, content).
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &str)],
    ) -> Page {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for (k, name, content) in files {
            let part = reqwest::multipart::Part::bytes(content.as_bytes().to_vec())
                .file_name(name.to_string())
                .mime_str("application/xml")
                .expect("mime");
            form = form.part(k.to_string(), part);
        }
        Browser::page(
            self.client
                .post(self.url(path))
                .multipart(form)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// Loads `page_path`, then submits its form to `action` with the page's CSRF token (and
    /// its one-use form token, when it has one).
    pub async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, 200, "GET {page_path}: {}", page.body);
        let csrf = page.csrf();
        let once = page.field("once");
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        if let Some(once) = &once {
            all.push(("once", once));
        }
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Sends the page's form whose action starts with `action` as it is, with `extra` fields
    /// filled in (e.g. the answer to "Confirm it's you").
    pub async fn send(&self, page: &Page, action: &str, extra: &[(&str, &str)]) -> Page {
        let (to, pairs) = form(&page.body, action)
            .unwrap_or_else(|| panic!("no form to {action} on the page: {}", page.body));
        let mut all: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| *e == k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(extra);
        self.post(&to, &all).await
    }

    /// Answers "Confirm it's you" shown in place of an action (password and a TOTP code from
    /// `key`), then sends the kept form on as the console's script does: the answer to the
    /// action itself.
    pub async fn confirm_it_is_me(&self, page: &Page, password: &str, key: &str) -> Page {
        assert!(page.has("Confirm it"), "not the verify page: {}", page.body);
        let code = totp(key, now_unix() + 30);
        let confirmed = self
            .send(
                page,
                "/admin/verify",
                &[("password", password), ("code", &code)],
            )
            .await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        assert!(confirmed.has("data-resume"), "{}", confirmed.body);
        self.send(&confirmed, "/admin/", &[]).await
    }

    /// Follows redirects (and pages that navigate on) on this host, up to five.
    pub async fn follow(&self, mut page: Page) -> Page {
        for _ in 0..5 {
            match page.next() {
                Some(loc) => {
                    assert!(loc.starts_with('/'), "redirect off the host: {loc}");
                    page = self.get(&loc).await;
                }
                None => return page,
            }
        }
        page
    }

    /// Signs in with a password; returns the response to the password step (not followed).
    /// (A browser already signed in is sent on from `/login`; it signs in again with the
    /// token of the page it lands on, like a stale login tab would.)
    pub async fn login(&self, login: &str, password: &str) -> Page {
        let page = self.follow(self.get("/login").await).await;
        let csrf = page.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await
    }

    /// A GET's status, content type and body.
    pub async fn client_get(&self, path: &str) -> (u16, String, String) {
        let res = self.client.get(self.url(path)).send().await.expect("GET");
        let status = res.status().as_u16();
        let kind = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, kind, res.text().await.expect("body"))
    }

    /// The session cookie's value as the browser holds it.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("lk_session")
    }

    /// A cookie's value as the browser holds it (by the end of its name, without `__Host-`).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = self.url("/").parse().expect("url");
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.ends_with(name))
            .map(|(_, v)| v.to_owned())
    }

    /// A request carrying exactly the given Cookie header (no jar).
    pub async fn get_with_cookie(app: &TestApp, slug: &str, path: &str, cookie: &str) -> Page {
        let client = crate::harness::client();
        Browser::page(
            client
                .get(app.url(slug, path))
                .header("cookie", cookie)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }
}

/// An independent RFC 6238 implementation (HMAC-SHA1, 6 digits, 30 s) for the tests.
pub fn totp(base32_key: &str, unix: i64) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let key = data_encoding::BASE32_NOPAD
        .decode(base32_key.replace(' ', "").as_bytes())
        .expect("base32 key");
    let counter = (unix / 30) as u64;
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(&counter.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0xf) as usize;
    let n = ((u32::from(d[o]) & 0x7f) << 24)
        | (u32::from(d[o + 1]) << 16)
        | (u32::from(d[o + 2]) << 8)
        | u32::from(d[o + 3]);
    format!("{:06}", n % 1_000_000)
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
