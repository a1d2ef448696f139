//! The per-tenant login policy: password rules, lockout and throttling, session lifetimes, MFA
//! requirement, reset-link lifetime, IP rules and the tenant-wide SAML settings. Stored as JSON; missing fields take the
//! defaults, unknown fields and out-of-range values are refused with the field's name.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::store::{Handle, StoreError, policies};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub password: PasswordPolicy,
    pub lockout: LockoutPolicy,
    pub session: SessionPolicy,
    pub mfa: MfaPolicy,
    /// Minutes a password-reset link stays valid.
    pub reset_link_minutes: u32,
    pub ip: IpRules,
    pub saml: SamlPolicy,
}

/// The tenant's SAML IdP settings that are not per service provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SamlPolicy {
    /// Every AuthnRequest must be signed (announced as `WantAuthnRequestsSigned`).
    pub want_authn_requests_signed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    pub min_length: u32,
    pub max_length: u32,
    /// How many of the four classes (lower, upper, digit, other) a password must mix; 0 = no rule.
    pub required_classes: u8,
    /// How many previous passwords may not be reused.
    pub history: u32,
    /// Days after which a password must be changed; 0 = never.
    pub max_age_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Failed attempts (passwords and codes) that lock the account.
    pub max_failures: u32,
    /// How long a lock lasts; failures older than this are forgotten.
    pub lock_minutes: u32,
    /// Locks last until an administrator unlocks the account.
    pub permanent: bool,
    /// Failures from one network (IPv4 address, IPv6 /64) before it is throttled.
    pub ip_max_failures: u32,
    pub ip_window_minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    pub idle_minutes: u32,
    pub absolute_hours: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// No second factor is asked for, even from users who enrolled one.
    Off,
    /// Users may enrol; those who did are asked for a code.
    #[default]
    Optional,
    /// Everyone must enrol right after the password step.
    Required,
}

/// CIDR allow and deny lists for sign-in. Deny wins; an empty allow list allows everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct IpRules {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            password: PasswordPolicy::default(),
            lockout: LockoutPolicy::default(),
            session: SessionPolicy::default(),
            mfa: MfaPolicy::Optional,
            reset_link_minutes: 30,
            ip: IpRules::default(),
            saml: SamlPolicy::default(),
        }
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 12,
            max_length: 128,
            required_classes: 0,
            history: 5,
            max_age_days: 0,
        }
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            lock_minutes: 15,
            permanent: false,
            ip_max_failures: 50,
            ip_window_minutes: 15,
        }
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_minutes: 30,
            absolute_hours: 10,
        }
    }
}

/// Bounds the housekeeping sweep relies on: no policy keeps a session longer than these.
pub const MAX_IDLE_MINUTES: u32 = 7 * 24 * 60;
pub const MAX_ABSOLUTE_HOURS: u32 = 90 * 24;
/// Hard cap on password length whatever the policy says (argon2 input, form size).
pub const HARD_MAX_PASSWORD: u32 = 1024;
pub const MAX_IP_RULES: usize = 256;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy field `{field}`: {problem}")]
pub struct PolicyError {
    pub field: String,
    pub problem: String,
}

fn range(field: &str, value: u32, min: u32, max: u32) -> Result<(), PolicyError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PolicyError {
            field: field.into(),
            problem: format!("must be from {min} to {max}, not {value}"),
        })
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        let p = &self.password;
        range("password.min_length", p.min_length, 8, 128)?;
        range(
            "password.max_length",
            p.max_length,
            128.max(p.min_length),
            HARD_MAX_PASSWORD,
        )?;
        range(
            "password.required_classes",
            u32::from(p.required_classes),
            0,
            4,
        )?;
        range("password.history", p.history, 0, 24)?;
        range("password.max_age_days", p.max_age_days, 0, 3650)?;
        let l = &self.lockout;
        range("lockout.max_failures", l.max_failures, 1, 100)?;
        range("lockout.lock_minutes", l.lock_minutes, 1, 7 * 24 * 60)?;
        range("lockout.ip_max_failures", l.ip_max_failures, 1, 100_000)?;
        range("lockout.ip_window_minutes", l.ip_window_minutes, 1, 24 * 60)?;
        let s = &self.session;
        range("session.idle_minutes", s.idle_minutes, 1, MAX_IDLE_MINUTES)?;
        range(
            "session.absolute_hours",
            s.absolute_hours,
            1,
            MAX_ABSOLUTE_HOURS,
        )?;
        range("reset_link_minutes", self.reset_link_minutes, 5, 24 * 60)?;
        if self.ip.allow.len() > MAX_IP_RULES || self.ip.deny.len() > MAX_IP_RULES {
            return Err(PolicyError {
                field: "ip".into(),
                problem: format!("at most {MAX_IP_RULES} ranges per list"),
            });
        }
        Ok(())
    }

    /// Parses and validates a stored or submitted JSON document.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = serde_json::from_str(text).map_err(|e| PolicyError {
            field: "(document)".into(),
            problem: e.to_string(),
        })?;
        policy.validate()?;
        Ok(policy)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Sets one dotted field (`password.min_length`, `mfa`, `ip.allow`) from text: JSON when it
    /// parses as JSON, a string otherwise. Comma-separated text sets a list field.
    pub fn with_setting(&self, path: &str, value: &str) -> Result<Policy, PolicyError> {
        let err = |problem: String| PolicyError {
            field: path.into(),
            problem,
        };
        let mut doc = serde_json::to_value(self).map_err(|e| err(e.to_string()))?;
        let mut slot = &mut doc;
        for part in path.split('.') {
            slot = slot
                .get_mut(part)
                .ok_or_else(|| err("there is no such policy field".into()))?;
        }
        let parsed = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(v) => v,
            Err(_) if slot.is_array() => serde_json::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| serde_json::Value::String(s.to_owned()))
                    .collect(),
            ),
            Err(_) => serde_json::Value::String(value.to_owned()),
        };
        *slot = parsed;
        let policy: Policy = serde_json::from_value(doc).map_err(|e| err(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    pub fn idle_ms(&self) -> i64 {
        i64::from(self.session.idle_minutes) * 60_000
    }

    pub fn absolute_ms(&self) -> i64 {
        i64::from(self.session.absolute_hours) * 3_600_000
    }

    pub fn lock_ms(&self) -> i64 {
        i64::from(self.lockout.lock_minutes) * 60_000
    }
}

/// The tenant's policy, or the defaults if none was set. A stored policy that no longer parses
/// is an error, never silently the defaults.
/// The tenant's policy from memory (until the change epoch moves: every policy change bumps
/// it), or loaded and remembered.
pub async fn cached(
    svc: &crate::services::Services,
    tenant: TenantId,
) -> Result<std::sync::Arc<Policy>, StoreError> {
    svc.caches
        .get_or_load(&svc.caches.policies, tenant, async || {
            load(&svc.store, tenant).await
        })
        .await
}

pub async fn load(h: &impl Handle, tenant: TenantId) -> Result<Policy, StoreError> {
    match policies::find(h, tenant).await? {
        None => Ok(Policy::default()),
        Some(json) => Policy::from_json(&json)
            .map_err(|e| StoreError::Corrupt(format!("tenant {tenant} login policy: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let p = Policy::default();
        p.validate().unwrap();
        assert_eq!(Policy::from_json(&p.to_json()).unwrap(), p);
        assert_eq!(Policy::from_json("{}").unwrap(), p);
    }

    #[test]
    fn settings_by_path() {
        let p = Policy::default()
            .with_setting("password.min_length", "14")
            .unwrap()
            .with_setting("mfa", "required")
            .unwrap()
            .with_setting("ip.allow", "10.0.0.0/8, 2001:db8::/32")
            .unwrap()
            .with_setting("lockout.permanent", "true")
            .unwrap();
        assert_eq!(p.password.min_length, 14);
        assert_eq!(p.mfa, MfaPolicy::Required);
        assert_eq!(p.ip.allow.len(), 2);
        assert!(p.lockout.permanent);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let p = Policy::default();
        let e = p.with_setting("password.min_length", "4").unwrap_err();
        assert_eq!(e.field, "password.min_length");
        assert!(p.with_setting("password.nope", "4").is_err());
        assert!(p.with_setting("mfa", "sometimes").is_err());
        assert!(p.with_setting("ip.deny", "10.0.0.0/33").is_err());
        assert!(p.with_setting("password.max_length", "64").is_err());
        assert!(Policy::from_json(r#"{"extra": 1}"#).is_err());
    }
}
