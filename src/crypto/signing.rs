//! Tenant signing keys, each with a self-signed X.509 certificate: RSA-2048 (RS256; OIDC by
//! default and SAML XML-DSig) and ECDSA P-256 (ES256; a per-client OIDC option). Generated with
//! OpenSSL (fast keygen, and the library samael links). The private key leaves this module only
//! as PEM bytes to be sealed under the tenant DEK.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509, X509NameBuilder};
use zeroize::Zeroizing;

/// A JWS algorithm a tenant key is made for. Each algorithm has its own key cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over an RSA-2048 key.
    Rs256,
    /// ECDSA with SHA-256 over a P-256 key (JOSE signature: R ‖ S).
    Es256,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::Rs256, Alg::Es256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validity of a generated certificate. SPs pin the certificate, so it outlives rotations.
pub const CERT_VALIDITY_DAYS: u32 = 5 * 365;

/// A freshly generated key pair, ready to store.
pub struct GeneratedKey {
    pub alg: Alg,
    /// PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`) or SEC 1 PEM (`BEGIN EC PRIVATE KEY`). Seal before
    /// storing.
    pub private_pem: Zeroizing<Vec<u8>>,
    pub public_pem: String,
    pub certificate_pem: String,
    /// JWK thumbprint-style id: base64url of the SHA-256 of the DER public key, truncated.
    pub kid: String,
    pub not_after_unix: i64,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("private_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Generates a key for `alg` and a self-signed certificate whose subject names the tenant
/// origin. RSA is CPU-heavy (tens of milliseconds): call it from `spawn_blocking`.
pub fn generate(alg: Alg, common_name: &str, now_unix: i64) -> Result<GeneratedKey, ErrorStack> {
    let (private_pem, pkey) = match alg {
        Alg::Rs256 => {
            let rsa = Rsa::generate(2048)?;
            (
                Zeroizing::new(rsa.private_key_to_pem()?),
                PKey::from_rsa(rsa)?,
            )
        }
        Alg::Es256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            let ec = EcKey::generate(&group)?;
            (
                Zeroizing::new(ec.private_key_to_pem()?),
                PKey::from_ec_key(ec)?,
            )
        }
    };
    let public_der = pkey.public_key_to_der()?;
    let public_pem = String::from_utf8_lossy(&pkey.public_key_to_pem()?).into_owned();
    let digest = openssl::sha::sha256(&public_der);
    use base64::Engine;
    let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);

    let not_before = now_unix - 300;
    let not_after = now_unix + i64::from(CERT_VALIDITY_DAYS) * 86_400;
    let certificate_pem = self_signed_certificate(&pkey, common_name, not_before, not_after)?;
    Ok(GeneratedKey {
        alg,
        private_pem,
        public_pem,
        certificate_pem,
        kid,
        not_after_unix: not_after,
    })
}

fn self_signed_certificate(
    pkey: &PKey<Private>,
    common_name: &str,
    not_before: i64,
    not_after: i64,
) -> Result<String, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    // X.509 caps CN at 64 characters; long tenant origins are shortened, the key id stays unique.
    let cn: String = common_name.chars().take(64).collect();
    name.append_entry_by_text("CN", &cn)?;
    name.append_entry_by_text("O", "Latchkey")?;
    let name = name.build();

    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;

    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(pkey)?;
    let (not_before, not_after) = (
        Asn1Time::from_unix(not_before)?,
        Asn1Time::from_unix(not_after)?,
    );
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(ski)?;
    builder.sign(pkey, MessageDigest::sha256())?;
    let pem = builder.build().to_pem()?;
    Ok(String::from_utf8_lossy(&pem).into_owned())
}

/// Parses a stored (decrypted) private key.
pub fn parse_private_pem(pem: &[u8]) -> Result<PKey<Private>, ErrorStack> {
    PKey::private_key_from_pem(pem)
}

/// A stored public key: SubjectPublicKeyInfo PEM, or PKCS#1 `RSA PUBLIC KEY`.
pub fn parse_public_pem(pem: &[u8]) -> Result<PKey<openssl::pkey::Public>, ErrorStack> {
    PKey::public_key_from_pem(pem)
        .or_else(|_| openssl::rsa::Rsa::public_key_from_pem_pkcs1(pem).and_then(PKey::from_rsa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_matches_key_and_is_self_signed() {
        for (alg, header) in [
            (Alg::Rs256, &b"-----BEGIN RSA PRIVATE KEY-----"[..]),
            (Alg::Es256, &b"-----BEGIN EC PRIVATE KEY-----"[..]),
        ] {
            let key = generate(alg, "http://acme.localhost:8080", 1_800_000_000).unwrap();
            assert!(key.private_pem.starts_with(header), "{alg}");
            let cert = X509::from_pem(key.certificate_pem.as_bytes()).unwrap();
            let pkey = parse_private_pem(&key.private_pem).unwrap();
            assert!(cert.public_key().unwrap().public_eq(&pkey));
            assert!(cert.verify(&pkey).unwrap());
            let public = parse_public_pem(key.public_pem.as_bytes()).unwrap();
            assert!(public.public_eq(&pkey));
            assert_eq!(key.kid.len(), 22);
            assert!(!format!("{key:?}").contains("PRIVATE"));
            assert_eq!(Alg::parse(alg.as_str()), Some(alg));
        }
    }
}
