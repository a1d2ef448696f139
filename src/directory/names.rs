//! Usernames, e-mail addresses and display names: parsed once at the edge into checked types.
//! Usernames compare after Unicode NFKC and lowercasing, so `Alice`, `ALICE` and `Ａｌｉｃｅ`
//! (fullwidth) are one account.

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the username must be 1 to 64 characters")]
    UsernameLength,
    #[error("the username must not contain spaces, control characters, `@` or `:`")]
    UsernameCharacters,
    #[error("`{0}` is not a valid e-mail address")]
    Email(String),
    #[error("the display name must be 1 to 128 characters without control characters")]
    DisplayName,
}

/// A username as typed (for display) plus its comparison key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username {
    pub display: String,
    pub key: String,
}

/// The key usernames are compared by: NFKC, lowercase, NFKC again (lowercasing can denormalise).
pub fn username_key(text: &str) -> String {
    let lowered: String = text.nfkc().collect::<String>().to_lowercase();
    lowered.nfkc().collect()
}

impl Username {
    pub fn parse(text: &str) -> Result<Username, NameError> {
        let display: String = text.trim().nfkc().collect();
        let len = display.chars().count();
        if !(1..=64).contains(&len) {
            return Err(NameError::UsernameLength);
        }
        if display
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == ':')
        {
            return Err(NameError::UsernameCharacters);
        }
        let key = username_key(&display);
        Ok(Username { display, key })
    }
}

/// An e-mail address: kept as given, compared case-insensitively as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub display: String,
    pub key: String,
}

impl Email {
    pub fn parse(text: &str) -> Result<Email, NameError> {
        let text = text.trim();
        let bad = || NameError::Email(text.chars().take(80).collect());
        if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
        let domain_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains(['@', '"', '(', ')', ',', ';', '<', '>', '[', ']', '\\']);
        if !domain_ok || !local_ok {
            return Err(bad());
        }
        let display = text.to_owned();
        let key = display.nfkc().collect::<String>().to_lowercase();
        Ok(Email { display, key })
    }
}

pub fn parse_display_name(text: &str) -> Result<String, NameError> {
    let name: String = text.trim().nfc().collect();
    let len = name.chars().count();
    if !(1..=128).contains(&len) || name.chars().any(char::is_control) {
        return Err(NameError::DisplayName);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_compare_after_nfkc_and_lowercase() {
        let a = Username::parse("Alice").unwrap();
        let b = Username::parse("ＡＬＩＣＥ").unwrap(); // fullwidth
        let c = Username::parse("alice").unwrap();
        assert_eq!(a.key, "alice");
        assert_eq!(a.key, b.key);
        assert_eq!(a.key, c.key);
        assert_eq!(a.display, "Alice");
        // ligature ﬁ (U+FB01) normalises to "fi"
        assert_eq!(Username::parse("ﬁnn").unwrap().key, "finn");
    }

    #[test]
    fn usernames_refuse_odd_characters() {
        assert_eq!(Username::parse(""), Err(NameError::UsernameLength));
        assert_eq!(Username::parse("a b"), Err(NameError::UsernameCharacters));
        assert_eq!(
            Username::parse("a\u{0}"),
            Err(NameError::UsernameCharacters)
        );
        assert_eq!(Username::parse("a@b"), Err(NameError::UsernameCharacters));
        assert!(Username::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn emails() {
        let e = Email::parse(" Bob@Example.COM ").unwrap();
        assert_eq!(e.display, "Bob@Example.COM");
        assert_eq!(e.key, "bob@example.com");
        for bad in [
            "bob",
            "@x.com",
            "bob@",
            "bob@localhost",
            "a b@x.com",
            "bob@-x.com",
            "a<b@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
