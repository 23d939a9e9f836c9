//! Proof Key for Code Exchange (RFC 7636), the rules both the server and a client apply. Only
//! `S256` exists here: `plain` is refused, as RFC 9700 §2.1.1 recommends. The SHA-256 digest
//! comes from the caller (the core's `sha2`, or `crypto.subtle.digest` in the browser).

use alloc::string::String;

use crate::b64;

/// The one `code_challenge_method` (RFC 7636 §4.2).
pub const METHOD: &str = "S256";

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." /
/// "_" / "~".
pub fn is_verifier(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A verifier from 32 random octets: base64url, 43 characters (RFC 7636 §4.1 recommends this).
pub fn verifier_from(random: &[u8; 32]) -> String {
    b64::encode(random)
}

/// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2) from the digest of the verifier.
pub fn challenge_from_digest(sha256: &[u8]) -> String {
    b64::encode(sha256)
}

/// Whether a received `code_challenge` can be an S256 challenge: 43 base64url characters that
/// decode to 32 octets (RFC 7636 §4.2).
pub fn is_challenge(text: &str) -> bool {
    text.len() == 43 && b64::decode(text).is_some_and(|d| d.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_syntax() {
        assert!(is_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!is_verifier(&"a".repeat(42)));
        assert!(is_verifier(&"a".repeat(128)));
        assert!(!is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&alloc::format!("{}+", "a".repeat(43))));
        assert!(!is_verifier(&"é".repeat(30)));
        assert_eq!(verifier_from(&[0; 32]).len(), 43);
    }

    #[test]
    fn rfc7636_appendix_b_challenge_from_its_digest() {
        // SHA-256 of "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" (RFC 7636 Appendix B).
        let digest = [
            19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8, 118, 168, 120,
            173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195,
        ];
        let challenge = challenge_from_digest(&digest);
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(is_challenge(&challenge));
        assert!(!is_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
        assert!(!is_challenge(&challenge[..42]));
    }
}
