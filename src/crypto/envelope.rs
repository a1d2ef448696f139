//! Envelope encryption: a tenant's data key (DEK) is stored only wrapped by the master key, with
//! AAD binding the tenant; tenant secrets are sealed under the DEK with AAD binding tenant,
//! purpose and record, so a ciphertext copied to another row or tenant fails to open.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use hmac::{Hmac, Mac};

use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::master::{open_with, seal_with};
use super::{MasterKey, random_bytes};
use crate::ids::TenantId;

/// What a sealed secret is for. Part of the AAD, so a seed cannot be opened as a private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    SigningKey,
    TotpSeed,
    VaultCredential,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::SigningKey => "signing-key",
            Purpose::TotpSeed => "totp-seed",
            Purpose::VaultCredential => "vault-credential",
        }
    }
}

/// Binds a ciphertext to its place: the tenant, what it is, and the row that holds it.
#[derive(Clone, Copy, Debug)]
pub struct SealContext<'a> {
    pub tenant: TenantId,
    pub purpose: Purpose,
    pub record: &'a str,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let tenant = self.tenant.to_string();
        let mut aad = b"latchkey/v1/secret".to_vec();
        for part in [tenant.as_str(), self.purpose.label(), self.record] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the tenant data key could not be unwrapped with the master key")]
    DataKeyUnwrap,
    #[error("the secret could not be decrypted (wrong tenant, record or purpose, or tampered)")]
    Open,
}

/// A tenant's data key in memory. Never stored unwrapped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey {
    #[zeroize(skip)]
    tenant: TenantId,
    key: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({}, [redacted])", self.tenant)
    }
}

fn wrap_aad(tenant: TenantId) -> Vec<u8> {
    format!("latchkey/v1/dek/{tenant}").into_bytes()
}

impl DataKey {
    pub fn generate(tenant: TenantId) -> DataKey {
        DataKey {
            tenant,
            key: random_bytes::<32>(),
        }
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The form stored in the database.
    pub fn wrap(&self, master: &MasterKey) -> Vec<u8> {
        master.wrap(&self.key, &wrap_aad(self.tenant))
    }

    pub fn unwrap(
        master: &MasterKey,
        tenant: TenantId,
        wrapped: &[u8],
    ) -> Result<DataKey, CryptoError> {
        let mut plain = master
            .unwrap(wrapped, &wrap_aad(tenant))
            .ok_or(CryptoError::DataKeyUnwrap)?;
        let key: Result<[u8; 32], _> = plain.as_slice().try_into();
        plain.zeroize();
        Ok(DataKey {
            tenant,
            key: key.map_err(|_| CryptoError::DataKeyUnwrap)?,
        })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }

    /// Encrypts a secret of this tenant. Panics in debug builds if the context names another tenant.
    pub fn seal(&self, ctx: SealContext<'_>, plaintext: &[u8]) -> Vec<u8> {
        debug_assert_eq!(
            ctx.tenant, self.tenant,
            "sealing under another tenant's key"
        );
        seal_with(&self.cipher(), plaintext, &ctx.aad())
    }

    pub fn open(&self, ctx: SealContext<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ctx.tenant != self.tenant {
            return Err(CryptoError::Open);
        }
        open_with(&self.cipher(), sealed, &ctx.aad()).ok_or(CryptoError::Open)
    }

    /// A MAC key derived for one use (e.g. the audit chain), independent of the encryption key.
    pub fn derive_mac_key(&self, label: &str) -> [u8; 32] {
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(b"latchkey/v1/derive/");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Raw key bytes, for tests that scan a database dump for them.
    #[doc(hidden)]
    pub fn expose_for_tests(&self) -> [u8; 32] {
        self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_is_bound_to_tenant_record_and_purpose() {
        let tenant = TenantId::new();
        let dek = DataKey::generate(tenant);
        let ctx = SealContext {
            tenant,
            purpose: Purpose::SigningKey,
            record: "k1",
        };
        let sealed = dek.seal(ctx, b"secret");
        assert_eq!(dek.open(ctx, &sealed).unwrap(), b"secret");
        let other_record = SealContext {
            record: "k2",
            ..ctx
        };
        assert_eq!(dek.open(other_record, &sealed), Err(CryptoError::Open));
        let other_purpose = SealContext {
            purpose: Purpose::TotpSeed,
            ..ctx
        };
        assert_eq!(dek.open(other_purpose, &sealed), Err(CryptoError::Open));
        let other = DataKey::generate(TenantId::new());
        let foreign = SealContext {
            tenant: other.tenant(),
            ..ctx
        };
        assert_eq!(other.open(foreign, &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn wrapped_data_key_is_bound_to_its_tenant_and_master() {
        let master = MasterKey::generate();
        let tenant = TenantId::new();
        let dek = DataKey::generate(tenant);
        let wrapped = dek.wrap(&master);
        assert_eq!(
            DataKey::unwrap(&master, tenant, &wrapped).unwrap().key,
            dek.key
        );
        assert!(DataKey::unwrap(&master, TenantId::new(), &wrapped).is_err());
        assert!(DataKey::unwrap(&MasterKey::generate(), tenant, &wrapped).is_err());
    }
}
