//! TOTP (RFC 6238 over RFC 4226): HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew
//! either way. The caller stores the last accepted step and refuses any step not later than it,
//! so a code is never accepted twice. Recovery codes are 80-bit random strings stored as hashes.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use qrcode::QrCode;
use qrcode::render::svg;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::random_bytes;
use crate::ids::UserId;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
pub const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODES: usize = 10;

/// A TOTP shared secret (160 bits, as RFC 4226 recommends). Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed(Vec<u8>);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

impl Seed {
    pub fn generate() -> Seed {
        Seed(random_bytes::<20>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Seed {
        Seed(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key as authenticator apps take it typed in: base32 without padding.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The base32 key in groups of four, easier to type.
    pub fn to_grouped_base32(&self) -> String {
        let b32 = self.to_base32();
        b32.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The HOTP value for one counter (RFC 4226 §5.3, dynamic truncation).
pub fn code_at(seed: &Seed, step: i64) -> u32 {
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(&seed.0).expect("HMAC accepts keys of any length");
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    bin % 10u32.pow(DIGITS)
}

pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// Normalises what a person typed: digits only, spaces and dashes ignored.
fn parse_code(typed: &str) -> Option<u32> {
    let digits: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The time step the code belongs to, if it is valid within ±1 step of `unix_seconds`.
/// Checks every candidate step (constant work) and compares in constant time.
pub fn verify(seed: &Seed, typed: &str, unix_seconds: i64) -> Option<i64> {
    let code = parse_code(typed)?;
    let now = step_of(unix_seconds);
    let mut found = None;
    for step in (now - SKEW_STEPS)..=(now + SKEW_STEPS) {
        let expected = code_at(seed, step);
        if bool::from(expected.to_be_bytes().ct_eq(&code.to_be_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI authenticator apps read from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, seed: &Seed) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(issuer),
        percent_encode(account),
        seed.to_base32(),
        percent_encode(issuer),
    )
}

/// The URI as an SVG QR code, rendered here so the seed never leaves the server.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// Ten fresh recovery codes, `xxxx-xxxx-xxxx-xxxx` (80 random bits each).
pub fn generate_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789"; // 31: no 0/o, 1/l/i
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut out = String::with_capacity(19);
            let mut n = 0;
            while n < 16 {
                for b in random_bytes::<32>() {
                    // Rejection sampling: 248 = 8 × 31.
                    if b < 248 && n < 16 {
                        if n > 0 && n % 4 == 0 {
                            out.push('-');
                        }
                        out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
                        n += 1;
                    }
                }
            }
            out
        })
        .collect()
}

/// How a recovery code is stored: SHA-256 over the user id and the normalised code. The codes
/// carry 80 random bits, so a fast hash is enough; the user id keeps equal codes apart.
pub fn recovery_code_hash(user: UserId, typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    if code.len() != 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let mut h = Sha256::new();
    h.update(b"latchkey/v1/recovery-code/");
    h.update(user.to_string().as_bytes());
    h.update(b"/");
    h.update(code.as_bytes());
    Some(hex(&h.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", 8 digits there; the last 6
    // digits are what a 6-digit TOTP yields.
    #[test]
    fn rfc6238_vectors() {
        let seed = Seed::from_bytes(b"12345678901234567890".to_vec());
        for (t, eight) in [
            (59_i64, 94287082_u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(code_at(&seed, step_of(t)), eight % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_skew_only() {
        let seed = Seed::generate();
        let now = 1_700_000_000;
        let code = |step: i64| format!("{:06}", code_at(&seed, step));
        let s = step_of(now);
        assert_eq!(verify(&seed, &code(s), now), Some(s));
        assert_eq!(verify(&seed, &code(s - 1), now), Some(s - 1));
        assert_eq!(verify(&seed, &code(s + 1), now), Some(s + 1));
        assert_eq!(verify(&seed, &code(s - 2), now), None);
        assert_eq!(verify(&seed, &code(s + 2), now), None);
        assert_eq!(verify(&seed, "12345", now), None);
        assert_eq!(verify(&seed, "abcdef", now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_normalised() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let user = UserId::new();
        let c = &codes[0];
        assert_eq!(c.len(), 19);
        let a = recovery_code_hash(user, c).unwrap();
        assert_eq!(
            Some(a.clone()),
            recovery_code_hash(user, &c.to_uppercase().replace('-', " "))
        );
        assert_ne!(Some(a), recovery_code_hash(UserId::new(), c));
        assert_eq!(recovery_code_hash(user, "short"), None);
    }

    #[test]
    fn otpauth_uri_and_qr() {
        let seed = Seed::from_bytes(vec![0; 20]);
        let uri = otpauth_uri("Acme Corp", "bob@acme.test", &seed);
        assert!(uri.starts_with("otpauth://totp/Acme%20Corp:bob%40acme.test?secret=AAAA"));
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg"));
    }
}
