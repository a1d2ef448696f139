//! Tenant slugs: the DNS label in front of the base domain (`acme` in `acme.id.example.com`).

use std::fmt;

/// Names that would collide with infrastructure, look official, or confuse users.
const RESERVED: &[&str] = &[
    "www",
    "admin",
    "administrator",
    "api",
    "static",
    "assets",
    "cdn",
    "login",
    "logout",
    "auth",
    "oauth",
    "oidc",
    "saml",
    "sso",
    "id",
    "idp",
    "account",
    "accounts",
    "console",
    "portal",
    "dashboard",
    "status",
    "health",
    "healthz",
    "readyz",
    "metrics",
    "mail",
    "email",
    "smtp",
    "imap",
    "pop",
    "mx",
    "ns",
    "ns1",
    "ns2",
    "dns",
    "ftp",
    "vpn",
    "support",
    "help",
    "docs",
    "blog",
    "root",
    "system",
    "operator",
    "latchkey",
    "localhost",
    "wildcard",
    "test",
    "demo-admin",
    "security",
    "abuse",
    "postmaster",
    "hostmaster",
    "webmaster",
    "autodiscover",
    "autoconfig",
    "well-known",
];

/// A validated tenant slug: 2–63 of `a-z 0-9 -`, starting with a letter, not ending with a
/// hyphen, no IDNA-style `xx--` prefix, and not reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("a tenant slug must be 2 to 63 characters long")]
    Length,
    #[error("a tenant slug may contain only lowercase letters a-z, digits and hyphens")]
    Characters,
    #[error("a tenant slug must start with a letter and must not end with a hyphen")]
    Edges,
    #[error(
        "a tenant slug must not have hyphens in the third and fourth position (reserved for IDNA)"
    )]
    Idna,
    #[error("`{0}` is a reserved name and cannot be a tenant slug")]
    Reserved(String),
}

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, SlugError> {
        if !(2..=63).contains(&text.len()) {
            return Err(SlugError::Length);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SlugError::Characters);
        }
        if !text.starts_with(|c: char| c.is_ascii_lowercase()) || text.ends_with('-') {
            return Err(SlugError::Edges);
        }
        if text.get(2..4) == Some("--") {
            return Err(SlugError::Idna);
        }
        if RESERVED.contains(&text) {
            return Err(SlugError::Reserved(text.to_owned()));
        }
        Ok(Slug(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["acme", "a1", "acme-corp", "x9-y", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(Slug::parse("a"), Err(SlugError::Length));
        assert_eq!(Slug::parse(&"a".repeat(64)), Err(SlugError::Length));
        assert_eq!(Slug::parse("Acme"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("ac_me"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("acmé"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("a.b"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("-acme"), Err(SlugError::Edges));
        assert_eq!(Slug::parse("1acme"), Err(SlugError::Edges));
        assert_eq!(Slug::parse("acme-"), Err(SlugError::Edges));
        assert_eq!(Slug::parse("xn--bcher"), Err(SlugError::Idna));
        assert!(matches!(Slug::parse("www"), Err(SlugError::Reserved(_))));
        assert!(matches!(Slug::parse("admin"), Err(SlugError::Reserved(_))));
    }
}
