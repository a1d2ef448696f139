//! The master key (KEK): 32 bytes, given as base64 in `LATCHKEY_MASTER_KEY` or in a key file.
//! The embedded default creates `{data_dir}/master.key` (mode 0600) on the first start of a
//! fresh database only; a missing key for an existing database is an error, never a new key.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::random_bytes;

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    Malformed,
    #[error("cannot read master key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create master key file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("master key file {path} is readable by other users (mode {mode:o}); chmod 600 it")]
    Permissions { path: String, mode: u32 },
    #[error("the master key does not match the one this database was sealed with")]
    Mismatch,
}

const WRAP_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_CHECK_AAD: &[u8] = b"latchkey/v1/kek-check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"latchkey master key check";

impl MasterKey {
    pub fn generate() -> MasterKey {
        MasterKey(random_bytes::<32>())
    }

    /// A MAC key for one node-wide use (e.g. CSRF tokens), independent of the wrapping key.
    pub fn derive_mac_key(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(b"latchkey/v1/master-derive/");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn from_base64(text: &str) -> Result<MasterKey, MasterKeyError> {
        let mut bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| MasterKeyError::Malformed)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::Malformed)?;
        bytes.zeroize();
        Ok(MasterKey(key))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads a key file (base64 text). Refuses files that group or others can read.
    pub fn read_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| MasterKeyError::Read {
            path: shown.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(MasterKeyError::Permissions { path: shown, mode });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let mut text = std::fs::read_to_string(path).map_err(|source| MasterKeyError::Read {
            path: shown,
            source,
        })?;
        let key = MasterKey::from_base64(&text);
        text.zeroize();
        key
    }

    /// Writes a new key file with mode 0600; fails if the file already exists.
    pub fn write_new_file(&self, path: &Path) -> Result<(), MasterKeyError> {
        let shown = path.display().to_string();
        let create = |source| MasterKeyError::Create {
            path: shown.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(create)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(create)?;
        let mut text = self.to_base64();
        text.push('\n');
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        text.zeroize();
        written.map_err(create)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Wraps 32 bytes of key material under this key with the given AAD.
    pub(crate) fn wrap(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher(), plaintext, aad)
    }

    pub(crate) fn unwrap(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        open_with(&self.cipher(), sealed, aad)
    }

    /// A value stored in the database so a wrong master key is detected at start-up.
    pub fn key_check(&self) -> Vec<u8> {
        self.wrap(KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD)
    }

    pub fn verify_key_check(&self, stored: &[u8]) -> Result<(), MasterKeyError> {
        match self.unwrap(stored, KEY_CHECK_AAD) {
            Some(p) if p == KEY_CHECK_PLAINTEXT => Ok(()),
            _ => Err(MasterKeyError::Mismatch),
        }
    }
}

/// `version || nonce || ciphertext+tag`, with a fresh random 96-bit nonce.
pub(super) fn seal_with(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce_bytes = random_bytes::<NONCE_LEN>();
    let nonce = Nonce::from(nonce_bytes);
    #[allow(clippy::expect_used)]
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    out
}

pub(super) fn open_with(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let (&version, rest) = sealed.split_first()?;
    if version != WRAP_VERSION || rest.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce_bytes: [u8; NONCE_LEN] = nonce_bytes.try_into().ok()?;
    cipher
        .decrypt(
            &Nonce::from(nonce_bytes),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_check_detects_the_wrong_key() {
        let right = MasterKey::generate();
        let check = right.key_check();
        assert!(right.verify_key_check(&check).is_ok());
        assert!(MasterKey::generate().verify_key_check(&check).is_err());
    }

    #[test]
    fn base64_round_trip_and_malformed() {
        let k = MasterKey::generate();
        let back = MasterKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(k.0, back.0);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert_eq!(format!("{k:?}"), "MasterKey([redacted])");
    }

    #[test]
    fn key_file_is_created_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let k = MasterKey::generate();
        k.write_new_file(&path).unwrap();
        assert_eq!(MasterKey::read_file(&path).unwrap().0, k.0);
        assert!(MasterKey::generate().write_new_file(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                MasterKey::read_file(&path),
                Err(MasterKeyError::Permissions { .. })
            ));
        }
    }
}
