//! `POST /csp-report`: what browsers report our Content-Security-Policy refused on our pages
//! (every CSP we send names it in `report-uri`). A refusal means a page of ours is broken in
//! that browser, or someone is trying to run script on it: either way the operator should
//! know. Each report is counted by directive (`latchkey_csp_violations_total`) and logged at
//! `warn`, at most [`LOGGED_PER_MINUTE`] a minute so that reports cannot flood the log. Only
//! origins and paths are kept: a page's query carries authorization codes and state.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Where every CSP we send asks browsers to report (`report-uri`), on the page's own origin.
pub const PATH: &str = "/csp-report";

/// The largest report read; browsers send well under 2 KiB.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;

/// The most reports logged in one minute; the rest are only counted.
pub const LOGGED_PER_MINUTE: u64 = 60;

/// The directives our policies set, by which reports are counted; anything else is `other`.
pub const DIRECTIVES: [&str; 11] = [
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "form-action",
    "frame-ancestors",
    "base-uri",
];

/// Counts reports by directive and paces their logging.
#[derive(Default)]
pub struct CspReports {
    counts: [AtomicU64; DIRECTIVES.len() + 1],
    /// The minute (unix) of the current logging window, and how many were logged in it.
    window: std::sync::Mutex<(u64, u64)>,
}

impl CspReports {
    /// Counts a report for `directive`; says whether it may also be logged (this minute's
    /// quota not yet spent).
    fn count(&self, directive: &str) -> bool {
        let minute = crate::now_ms().max(0).unsigned_abs() / 60_000;
        self.count_at(directive, minute)
    }

    fn count_at(&self, directive: &str, minute: u64) -> bool {
        let i = DIRECTIVES
            .iter()
            .position(|d| *d == directive)
            .unwrap_or(DIRECTIVES.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let Ok(mut w) = self.window.lock() else {
            return false;
        };
        if w.0 != minute {
            *w = (minute, 0);
        }
        w.1 += 1;
        w.1 <= LOGGED_PER_MINUTE
    }

    /// The counter in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str(
            "# HELP latchkey_csp_violations_total Content-Security-Policy violations browsers \
             reported on our pages, by directive.\n\
             # TYPE latchkey_csp_violations_total counter\n",
        );
        for (i, d) in DIRECTIVES.iter().chain(["other"].iter()).enumerate() {
            let n = self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "latchkey_csp_violations_total{{directive=\"{d}\"}} {n}"
            );
        }
    }
}

/// One violation as browsers describe it, in either format: `report-uri`'s
/// `{"csp-report": {…}}` or the Reporting API's `[{"type": "csp-violation", "body": {…}}]`.
struct Violation {
    directive: String,
    page: String,
    blocked: String,
}

fn violations(json: &serde_json::Value) -> Vec<Violation> {
    let field = |v: &serde_json::Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
            .unwrap_or_default()
            .to_owned()
    };
    let one = |v: &serde_json::Value| {
        let effective = field(v, &["effective-directive", "effectiveDirective"]);
        let violated = field(v, &["violated-directive", "violatedDirective"]);
        let directive = if effective.is_empty() {
            violated
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            effective
        };
        Violation {
            directive,
            page: without_query(&field(v, &["document-uri", "documentURL"])),
            blocked: without_query(&field(v, &["blocked-uri", "blockedURL"])),
        }
    };
    if let Some(report) = json.get("csp-report") {
        return vec![one(report)];
    }
    json.as_array()
        .map(|reports| {
            reports
                .iter()
                .filter(|r| r.get("type").and_then(|t| t.as_str()) == Some("csp-violation"))
                .filter_map(|r| r.get("body"))
                .take(16)
                .map(one)
                .collect()
        })
        .unwrap_or_default()
}

/// A URL's origin and path (no query, no fragment, no user information); a keyword
/// (`inline`, `eval`) as it is; at most 200 characters.
fn without_query(raw: &str) -> String {
    let kept = match url::Url::parse(raw) {
        Ok(u) if u.has_host() => format!("{}{}", u.origin().ascii_serialization(), u.path()),
        Ok(u) => u.scheme().to_owned(),
        Err(_) => raw.split(['?', '#']).next().unwrap_or_default().to_owned(),
    };
    kept.chars().filter(|c| !c.is_control()).take(200).collect()
}

pub async fn report(State(state): State<AppState>, body: Body) -> Response {
    let Ok(bytes) = to_bytes(body, MAX_REPORT_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let found = violations(&json);
    if found.is_empty() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    for v in found {
        if state.metrics.csp.count(&v.directive) {
            tracing::warn!(
                directive = %v.directive.chars().take(40).collect::<String>(),
                page = %v.page,
                blocked = %v.blocked,
                "a browser refused something on our page under its Content-Security-Policy"
            );
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_report_formats_are_read_and_queries_are_dropped() {
        let old = serde_json::json!({ "csp-report": {
            "document-uri": "http://acme.localhost/login?code=secret&state=s",
            "violated-directive": "form-action 'self'",
            "blocked-uri": "https://app.example/cb?code=secret",
        }});
        let [v] = violations(&old).try_into().ok().unwrap();
        assert_eq!(v.directive, "form-action");
        assert_eq!(v.page, "http://acme.localhost/login");
        assert_eq!(v.blocked, "https://app.example/cb");
        let new = serde_json::json!([{ "type": "csp-violation", "body": {
            "documentURL": "http://acme.localhost/admin",
            "effectiveDirective": "script-src-elem",
            "blockedURL": "inline",
        }}]);
        let [v] = violations(&new).try_into().ok().unwrap();
        assert_eq!(v.directive, "script-src-elem");
        assert_eq!(v.blocked, "inline");
        assert!(violations(&serde_json::json!({"x": 1})).is_empty());
    }

    #[test]
    fn logging_stops_at_the_quota_but_counting_does_not() {
        let r = CspReports::default();
        let logged = (0..LOGGED_PER_MINUTE + 5)
            .filter(|_| r.count_at("form-action", 7))
            .count();
        assert_eq!(logged as u64, LOGGED_PER_MINUTE);
        assert!(r.count_at("form-action", 8), "a new minute logs again");
        let mut out = String::new();
        r.render(&mut out);
        let line = format!(
            "latchkey_csp_violations_total{{directive=\"form-action\"}} {}",
            LOGGED_PER_MINUTE + 6
        );
        assert!(out.contains(&line), "{out}");
    }
}
