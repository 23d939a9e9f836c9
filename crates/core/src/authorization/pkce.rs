//! Proof Key for Code Exchange (RFC 7636). Only `S256` is supported: `plain` is refused, as
//! OAuth 2.0 Security BCP (RFC 9700 §2.1.1) recommends.

use std::fmt;

use gatehouse_protocol::pkce::{self, is_verifier as is_verifier_text};
use sha2::{Digest, Sha256};

use crate::ports::{random_bytes, Rng};
use crate::secret::constant_time_eq;

/// A PKCE code verifier. It is a secret: `Debug` prints `[redacted]`, and it cannot be cloned, so
/// it is used once and dropped.
pub struct PkceCodeVerifier(String);

impl PkceCodeVerifier {
    /// A new verifier from 32 random octets, base64url-encoded to 43 characters, as RFC 7636 §4.1
    /// recommends.
    pub fn new_random(rng: &impl Rng) -> Self {
        Self(pkce::verifier_from(&random_bytes::<32>(rng)))
    }

    /// Accepts a verifier received from a client (RFC 7636 §4.1 syntax).
    pub fn parse(text: &str) -> Option<Self> {
        is_verifier_text(text).then(|| Self(text.to_string()))
    }

    /// The verifier itself, to send to the token endpoint.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2, S256).
    pub fn challenge(&self) -> PkceCodeChallenge {
        PkceCodeChallenge(pkce::challenge_from_digest(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for PkceCodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceCodeVerifier([redacted])")
    }
}

/// An S256 code challenge: always 43 base64url characters (a SHA-256 digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkceCodeChallenge(String);

impl PkceCodeChallenge {
    /// Accepts a challenge sent with an authorization request. RFC 7636 §4.3: the method
    /// defaults to `plain` when absent, and `plain` is refused, so the method is REQUIRED here.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, &'static str> {
        match method {
            Some("S256") => {}
            Some("plain") | None => return Err("code_challenge_method must be S256"),
            Some(_) => return Err("unsupported code_challenge_method"),
        }
        if !pkce::is_challenge(challenge) {
            return Err("code_challenge must be the base64url SHA-256 of the verifier");
        }
        Ok(Self(challenge.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn method(&self) -> &'static str {
        pkce::METHOD
    }

    /// RFC 7636 §4.6: recompute the challenge from the verifier and compare.
    pub fn verify(&self, verifier: &PkceCodeVerifier) -> bool {
        constant_time_eq(verifier.challenge().0.as_bytes(), self.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SeededRng;

    #[test]
    fn rfc7636_appendix_b() {
        // RFC 7636 Appendix B: the example verifier and its S256 challenge.
        let verifier =
            PkceCodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let challenge = verifier.challenge();
        assert_eq!(challenge.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let parsed = PkceCodeChallenge::parse(challenge.as_str(), Some("S256")).unwrap();
        assert!(parsed.verify(&verifier));
    }

    #[test]
    fn random_verifiers_are_43_unreserved_chars_and_distinct() {
        let rng = SeededRng::new(1);
        let a = PkceCodeVerifier::new_random(&rng);
        let b = PkceCodeVerifier::new_random(&rng);
        assert_eq!(a.secret().len(), 43);
        assert!(is_verifier_text(a.secret()));
        assert_ne!(a.secret(), b.secret());
        assert!(!a.challenge().verify(&b));
        assert_eq!(format!("{a:?}"), "PkceCodeVerifier([redacted])");
    }

    #[test]
    fn refuses_plain_bad_methods_and_bad_syntax() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(PkceCodeChallenge::parse(c, Some("plain")).is_err());
        assert!(PkceCodeChallenge::parse(c, None).is_err());
        assert!(PkceCodeChallenge::parse(c, Some("s256")).is_err());
        assert!(PkceCodeChallenge::parse(&c[..42], Some("S256")).is_err());
        assert!(PkceCodeChallenge::parse(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            Some("S256")
        )
        .is_err());
        assert!(PkceCodeVerifier::parse(&"a".repeat(42)).is_none());
        assert!(PkceCodeVerifier::parse(&"a".repeat(129)).is_none());
        assert!(PkceCodeVerifier::parse(&format!("{}+", "a".repeat(43))).is_none());
        assert!(PkceCodeVerifier::parse(&"é".repeat(30)).is_none());
        assert!(PkceCodeVerifier::parse(&"a".repeat(128)).is_some());
    }
}
