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

/// At most one argon2 computation per CPU at a time. More in parallel only thrash the caches
/// (each takes 19 MiB) and, under a flood of sign-ins, would let memory grow without bound;
/// the excess waits here, cheaply.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Runs CPU-heavy argon2 work on the blocking pool within the per-CPU limit.
async fn run_argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let _slot = argon2_slots().acquire().await;
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// [`hash`] on the blocking pool, so argon2 never stalls the async runtime.
pub async fn hash_blocking(password: Password) -> String {
    run_argon2(move || hash(&password)).await
}

/// Why a new password is refused by the tenant's policy (the messages are shown to the user).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("Use at least {0} characters.")]
    TooShort(u32),
    #[error("Use at most {0} characters.")]
    TooLong(u32),
    #[error("Mix at least {0} of: lowercase letters, uppercase letters, digits, other characters.")]
    Classes(u8),
    #[error("Do not use your username or e-mail address in your password.")]
    ContainsIdentity,
    #[error("This password is too common; choose one that is harder to guess.")]
    Common,
    #[error("You used this password recently; choose a new one.")]
    Reused,
}

static COMMON: &str = include_str!("common-passwords.txt");

fn common_set() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| COMMON.lines().filter(|l| !l.is_empty()).collect())
}

/// True when the password, lowercased, or its core without leading/trailing digits and symbols,
/// is on the bundled list of common passwords.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    let set = common_set();
    set.contains(lower.as_str()) || (core.chars().count() >= 6 && set.contains(core))
}

/// Checks a new password against everything in the policy except history (which needs the
/// stored hashes; see [`reused`]). Returns every rule it breaks.
pub fn check_policy(
    password: &Password,
    policy: &crate::login::policy::PasswordPolicy,
    username: &str,
    email: &str,
) -> Vec<PolicyViolation> {
    let text = password.expose();
    let mut out = Vec::new();
    let len = text.chars().count();
    let min = policy.min_length.max(8);
    if len < min as usize {
        out.push(PolicyViolation::TooShort(min));
    }
    if len > policy.max_length as usize {
        out.push(PolicyViolation::TooLong(policy.max_length));
    }
    if policy.required_classes > 0 {
        let classes = [
            text.chars().any(char::is_lowercase),
            text.chars().any(char::is_uppercase),
            text.chars().any(|c| c.is_ascii_digit()),
            text.chars().any(|c| !c.is_alphanumeric()),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if classes < usize::from(policy.required_classes) {
            out.push(PolicyViolation::Classes(policy.required_classes));
        }
    }
    let lower = text.to_lowercase();
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    let name = username.to_lowercase();
    if (name.chars().count() >= 3 && lower.contains(&name))
        || (local.chars().count() >= 3 && lower.contains(&local))
        || (!email.is_empty() && lower.contains(&email.to_lowercase()))
    {
        out.push(PolicyViolation::ContainsIdentity);
    }
    if is_common(text) {
        out.push(PolicyViolation::Common);
    }
    out
}

/// [`reused`] on the blocking pool within the argon2 limit.
pub async fn reused_blocking(password: Password, hashes: Vec<String>) -> bool {
    run_argon2(move || reused(&password, &hashes)).await
}

/// True when the password matches any of the given hashes. CPU-heavy (one argon2 per hash).
pub fn reused(password: &Password, hashes: &[String]) -> bool {
    hashes.iter().any(|h| verify(password, h))
}

/// A hash of a random password, verified against when the account is unknown or cannot log
/// in, so those paths cost the same argon2 work as a real check.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&Password::generate()))
}

/// [`verify`] on the blocking pool.
pub async fn verify_blocking(password: Password, phc: Option<String>) -> bool {
    let run = move || match phc {
        Some(phc) => verify(&password, &phc),
        None => {
            let _ = verify(&password, dummy_hash());
            false
        }
    };
    run_argon2(run).await
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

    #[test]
    fn policy_rules() {
        use crate::login::policy::PasswordPolicy;
        let policy = PasswordPolicy {
            required_classes: 3,
            ..PasswordPolicy::default()
        };
        let check = |p: &str| {
            check_policy(
                &Password::new(p.into()),
                &policy,
                "alice",
                "al.ice@example.com",
            )
        };
        assert_eq!(check("Tr0ub4dor&3-horse"), vec![]);
        assert_eq!(check("short1A"), vec![PolicyViolation::TooShort(12)]);
        assert_eq!(
            check("alllowercaseletters"),
            vec![PolicyViolation::Classes(3)]
        );
        assert!(check("Xx9-alice-password").contains(&PolicyViolation::ContainsIdentity));
        assert!(check("Xx9-al.ice-rocks").contains(&PolicyViolation::ContainsIdentity));
        assert!(check(&"aB3".repeat(50)).contains(&PolicyViolation::TooLong(128)));
        assert!(is_common("Password1234"));
        assert!(is_common("qwertyuiop!!"));
        assert!(is_common("BASEBALL2024!"));
        assert!(!is_common("Tr0ub4dor&3-horse"));
    }

    #[test]
    fn history_and_dummy() {
        let p = Password::new("first password here".into());
        let h = hash(&p);
        assert!(reused(&p, &[dummy_hash().to_owned(), h]));
        assert!(!reused(&p, &[dummy_hash().to_owned()]));
    }
}
