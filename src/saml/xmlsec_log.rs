//! libxmlsec1 reports every failure (a signature that does not verify, a digest mismatch) by
//! printing to stderr from its default error callback. A forged request is expected input
//! here, so those lines would be noise in the service's output, outside its log format. This
//! installs a callback that passes them to `tracing` at debug level instead: the caller already
//! turns the failure into a refusal with its own message.

use std::ffi::{CStr, c_char, c_int};

type ErrorsCallback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

// libxmlsec1 is linked through samael; `xmlSecErrorsSetCallback` only stores the pointer in a
// global that every later error goes through (errors.c), whether before or after xmlSecInit.
unsafe extern "C" {
    fn xmlSecErrorsSetCallback(callback: ErrorsCallback);
}

/// A C string from libxmlsec1, or "" for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for the call.
unsafe fn text<'a>(p: *const c_char) -> std::borrow::Cow<'a, str> {
    if p.is_null() {
        return "".into();
    }
    // SAFETY: libxmlsec1 passes NUL-terminated strings valid for the callback's duration.
    unsafe { CStr::from_ptr(p) }.to_string_lossy()
}

unsafe extern "C" fn to_tracing(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    _error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    // Unwinding out of an `extern "C"` function aborts; nothing here panics, but make sure.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the arguments come from libxmlsec1's error reporting, as documented above.
        let (func, object, msg) = unsafe { (text(func), text(error_object), text(msg)) };
        tracing::debug!(target: "latchkey::saml::xmlsec", %func, %object, reason, %msg, "libxmlsec1");
    });
}

/// Sends libxmlsec1's error reports to `tracing` (debug) instead of stderr. Idempotent.
///
/// samael initialises libxmlsec1 lazily on first use, and that initialisation installs the
/// default (printing) callback again; so samael is made to initialise first, by signing a
/// document that has no signature template with a throwaway key (which fails quietly, before
/// any libxmlsec1 call that could report), and the callback is set after it.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(der) = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
            .and_then(|g| openssl::ec::EcKey::generate(&g))
            .and_then(|k| k.private_key_to_der())
        {
            use samael::crypto::CryptoProvider;
            let _ = samael::crypto::XmlSec::sign_xml("<a/>", &der);
        }
        // SAFETY: sets a function pointer with the exact C signature of xmlSecErrorsCallback;
        // the function lives for the whole program.
        unsafe { xmlSecErrorsSetCallback(to_tracing) }
    });
}

#[cfg(test)]
mod tests {
    use samael::crypto::CryptoProvider;

    const CHILD: &str = "LATCHKEY_XMLSEC_LOG_CHILD";

    /// Signs a document, tampers with it and verifies it: libxmlsec1 reports the mismatch.
    fn verify_a_tampered_document() -> bool {
        let pkey =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let xml = r##"<r xmlns="urn:x" ID="a"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#a"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature><v>1</v></r>"##;
        let der = pkey.private_key_to_der().unwrap();
        let signed = samael::crypto::XmlSec::sign_xml(xml, &der).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "t").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&pkey).unwrap();
        let day = |d| openssl::asn1::Asn1Time::days_from_now(d).unwrap();
        b.set_not_before(&day(0)).unwrap();
        b.set_not_after(&day(1)).unwrap();
        b.sign(&pkey, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let cert = samael::crypto::CertificateDer::from(b.build().to_der().unwrap());
        assert!(samael::crypto::XmlSec::verify_signed_xml(&signed, &cert, Some("ID")).is_ok());
        let tampered = signed.replace("<v>1</v>", "<v>2</v>");
        samael::crypto::XmlSec::verify_signed_xml(tampered, &cert, Some("ID")).is_ok()
    }

    /// Runs in a child process of the test binary, whose stderr the test reads (libxmlsec1 is
    /// process-global, and other tests share this process).
    #[test]
    fn verification_failures_are_not_printed_to_stderr() {
        if std::env::var_os(CHILD).is_some() {
            super::install();
            println!("tampered verifies: {}", verify_a_tampered_document());
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "saml::xmlsec_log::tests::verification_failures_are_not_printed_to_stderr",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("tampered verifies: false"), "{stdout}");
        assert!(!stderr.contains("xmlSec"), "printed: {stderr}");
        assert!(!stdout.contains("xmlSec"), "printed: {stdout}");
    }
}
