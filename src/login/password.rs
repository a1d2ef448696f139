//! Password hashing: argon2id, m=19456 KiB, t=2, p=1 (OWASP's baseline), 16-byte random salt,
//! PHC string format. Hashing costs ~50 ms of CPU: async callers use [`hash_blocking`].

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::random_bytes;

pub const M_COST_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// A password in memory: never printed, wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub fn new(text: String) -> Password {
        Password(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A random one-time password: 20 characters from an alphabet without look-alikes (~115 bits).
    pub fn generate() -> Password {
        const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let bytes = random_bytes::<40>();
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        let mut out = String::with_capacity(23);
        for b in bytes.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if out.len() == 23 {
                break;
            }
            if out.len() % 6 == 5 {
                out.push('-');
            }
            out.push(char::from(ALPHABET[b % ALPHABET.len()]));
        }
        if out.len() < 23 {
            return Password::generate();
        }
        Password(out)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {min} characters")]
    TooShort { min: usize },
    #[error("the password must be at most {max} characters")]
    TooLong { max: usize },
}

/// The baseline every password meets until per-tenant policy (login issue) refines it.
pub fn check_baseline(password: &Password) -> Result<(), PasswordError> {
    let len = password.0.chars().count();
    if len < 12 {
        return Err(PasswordError::TooShort { min: 12 });
    }
    if len > 128 {
        return Err(PasswordError::TooLong { max: 128 });
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    #[allow(clippy::expect_used)]
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, Some(32)).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). CPU-heavy.
pub fn hash(password: &Password) -> String {
    let salt = random_bytes::<16>();
    #[allow(clippy::expect_used)]
    hasher()
        .hash_password_with_salt(password.0.as_bytes(), &salt)
        .expect("argon2 with valid parameters and a 16-byte salt cannot fail")
        .to_string()
}

/// Checks a password against a stored PHC string. A malformed hash never verifies. CPU-heavy.
pub fn verify(password: &Password, phc: &str) -> bool {
    hasher().verify_password(password.0.as_bytes(), phc).is_ok()
}

/// [`hash`] on the blocking pool, so argon2 never stalls the async runtime.
pub async fn hash_blocking(password: Password) -> String {
    match tokio::task::spawn_blocking(move || hash(&password)).await {
        Ok(h) => h,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let p = Password::new("correct horse battery".into());
        let a = hash(&p);
        let b = hash(&p);
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(verify(&p, &a));
        assert!(!verify(&Password::new("wrong horse battery".into()), &a));
        assert!(!verify(&p, "not a hash"));
    }

    #[test]
    fn generated_passwords_are_long_and_grouped() {
        let p = Password::generate();
        assert_eq!(p.expose().len(), 23);
        assert_eq!(p.expose().matches('-').count(), 3);
        assert!(check_baseline(&p).is_ok());
        assert_ne!(p.expose(), Password::generate().expose());
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }
}
