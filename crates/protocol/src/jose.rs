//! JOSE rules both sides apply: the signature algorithms and which keys and signatures fit them
//! (RFC 7518 §3, RFC 7517), the WebCrypto parameters of each algorithm, and the compact JWS
//! serialization's outer rules (RFC 7515 §7.1; header members are parsed by the caller).

use crate::b64;
use alloc::vec::Vec;

/// A JWS algorithm on Gatehouse's allow-list. `none` is not representable: it is always refused
/// (RFC 8725 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). Mandatory for OpenID providers
    /// (OIDC Core §15.1) and required by auth0-spa-js for ID tokens.
    RS256,
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4); signatures are the 64-byte `r‖s`.
    ES256,
    /// RSASSA-PSS with SHA-256 and a 32-byte salt (RFC 7518 §3.5). Verified only: clients sign
    /// request objects and assertions with it (FAPI); Gatehouse signs nothing with it.
    PS256,
}

/// The members that make a JWK private (RFC 7518 §6.2.2, §6.3.2): a key with any of them is
/// never used to verify (RFC 7517 §9.2), and never published.
pub const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// The public members WebCrypto imports a verification key from (RFC 7518 §6.2.1, §6.3.1).
pub const PUBLIC_KEY_MEMBERS: [&str; 6] = ["kty", "crv", "x", "y", "n", "e"];

/// The members of a JWK that decide whether it fits an algorithm.
#[derive(Debug, Default)]
pub struct KeyFacts<'a> {
    pub kty: &'a str,
    pub crv: Option<&'a str>,
    /// The key's own `alg`, if it names one.
    pub alg: Option<&'a str>,
    pub use_: Option<&'a str>,
    /// An RSA key with `oth` (more than two primes), which WebCrypto does not import.
    pub multi_prime: bool,
}

/// A WebCrypto algorithm dictionary (the members that are set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebCryptoParams {
    pub name: &'static str,
    pub hash: Option<&'static str>,
    pub named_curve: Option<&'static str>,
    pub salt_length: Option<u32>,
}

const fn params(name: &'static str) -> WebCryptoParams {
    WebCryptoParams { name, hash: None, named_curve: None, salt_length: None }
}

impl Algorithm {
    /// What Gatehouse signs with (a key of each is kept and published).
    pub const ALL: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
    /// What a client of Gatehouse accepts for ID tokens (the browser package): what it signs
    /// with, named apart so that widening one is a choice about the other.
    pub const ID_TOKEN: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
    /// What Gatehouse verifies from clients: request objects (RFC 9101) and client assertions.
    pub const CLIENT_SIGNED: [Algorithm; 3] =
        [Algorithm::RS256, Algorithm::ES256, Algorithm::PS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::PS256 => "PS256",
        }
    }

    /// Whether Gatehouse signs with this algorithm (see [`Self::ALL`]).
    pub fn is_signing(self) -> bool {
        Self::ALL.contains(&self)
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "PS256" => Some(Self::PS256),
            _ => None,
        }
    }

    /// The JWK `kty` a key for this algorithm has.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::RS256 | Self::PS256 => "RSA",
            Self::ES256 => "EC",
        }
    }

    /// Whether a key can be used with this algorithm: its type (and curve), its `alg` if it
    /// names one, `use` absent or `sig` (RFC 7517 §4.2, §4.4), and no multi-prime RSA.
    pub fn fits(self, key: &KeyFacts<'_>) -> bool {
        let type_ok = match self {
            Self::ES256 => key.kty == "EC" && key.crv == Some("P-256"),
            Self::RS256 | Self::PS256 => key.kty == "RSA",
        };
        type_ok
            && key.alg.is_none_or(|a| a == self.as_str())
            && key.use_.is_none_or(|u| u == "sig")
            && !key.multi_prime
    }

    /// Whether a signature can be this algorithm's by its length, before any crypto: ES256 is
    /// the 64-byte `r‖s` (RFC 7518 §3.4); RSA needs a modulus of 2048 bits or more (§3.3) and a
    /// signature exactly as long as it. `modulus` is the key's `n`, decoded.
    pub fn signature_fits(self, signature: &[u8], modulus: Option<&[u8]>) -> bool {
        match self {
            Self::ES256 => signature.len() == 64,
            Self::RS256 | Self::PS256 => {
                let significant = modulus.map_or(0, |n| n.iter().skip_while(|b| **b == 0).count());
                significant >= 256 && signature.len() == significant
            }
        }
    }

    /// `importKey`'s algorithm for a key of this algorithm.
    pub fn webcrypto_key(self) -> WebCryptoParams {
        match self {
            Self::RS256 => WebCryptoParams { hash: Some("SHA-256"), ..params("RSASSA-PKCS1-v1_5") },
            Self::ES256 => WebCryptoParams { named_curve: Some("P-256"), ..params("ECDSA") },
            Self::PS256 => WebCryptoParams { hash: Some("SHA-256"), ..params("RSA-PSS") },
        }
    }

    /// `sign` / `verify`'s algorithm. WebCrypto's ECDSA signatures are already IEEE P1363 `r‖s`,
    /// as JWS wants; RFC 7518 §3.5: the PSS salt is as long as the SHA-256 output.
    pub fn webcrypto_signature(self) -> WebCryptoParams {
        match self {
            Self::RS256 => params("RSASSA-PKCS1-v1_5"),
            Self::ES256 => WebCryptoParams { hash: Some("SHA-256"), ..params("ECDSA") },
            Self::PS256 => WebCryptoParams { salt_length: Some(32), ..params("RSA-PSS") },
        }
    }
}

impl core::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest compact JWS looked at (bytes). Request objects, client assertions and ID tokens
/// are far smaller; anything bigger is refused before decoding.
pub const MAX_COMPACT_LEN: usize = 32 * 1024;

/// Why a compact JWS was refused by the rules here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsRefusal {
    TooLarge,
    /// Not three parts, not base64url, an empty signature, no `alg`, a `kid` not a string.
    Malformed(&'static str),
    /// `alg: none`, in any case.
    AlgNone,
    /// An algorithm not on the caller's allow-list.
    AlgorithmNotAllowed,
    /// A `crit` header (or `b64`, which needs one): no extension is understood (RFC 7515
    /// §4.1.11, RFC 7797 §6).
    UnsupportedCritical,
}

/// The three base64url parts of a compact JWS (RFC 7515 §7.1), not yet decoded.
#[derive(Debug, Clone, Copy)]
pub struct Compact<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    compact: &'a str,
}

impl<'a> Compact<'a> {
    /// Splits a compact JWS into exactly three parts; larger than [`MAX_COMPACT_LEN`] is refused.
    pub fn split(compact: &'a str) -> Result<Self, JwsRefusal> {
        if compact.len() > MAX_COMPACT_LEN {
            return Err(JwsRefusal::TooLarge);
        }
        let malformed = JwsRefusal::Malformed("a JWS has exactly three parts");
        let (header, rest) = compact.split_once('.').ok_or(malformed.clone())?;
        let (payload, signature) = rest.split_once('.').ok_or(malformed.clone())?;
        if signature.contains('.') {
            return Err(malformed);
        }
        Ok(Self { header, payload, signature, compact })
    }

    pub fn header_bytes(&self) -> Result<Vec<u8>, JwsRefusal> {
        b64::decode(self.header).ok_or(JwsRefusal::Malformed("header is not base64url"))
    }

    pub fn payload_bytes(&self) -> Result<Vec<u8>, JwsRefusal> {
        b64::decode(self.payload).ok_or(JwsRefusal::Malformed("payload is not base64url"))
    }

    pub fn signature_bytes(&self) -> Result<Vec<u8>, JwsRefusal> {
        let signature = b64::decode(self.signature)
            .ok_or(JwsRefusal::Malformed("signature is not base64url"))?;
        if signature.is_empty() {
            return Err(JwsRefusal::Malformed("empty signature"));
        }
        Ok(signature)
    }

    /// `ASCII(BASE64URL(header) || '.' || BASE64URL(payload))` (RFC 7515 §5.1).
    pub fn signing_input(&self) -> &'a str {
        // The header, a '.', the payload: a prefix of the ASCII `compact`, never out of range.
        self.compact.get(..self.header.len() + 1 + self.payload.len()).unwrap_or_default()
    }
}

/// The header members the rules look at, as the caller's JSON parser found them.
#[derive(Debug, Default)]
pub struct HeaderFacts<'a> {
    /// `alg` when it is a string.
    pub alg: Option<&'a str>,
    /// `crit` or `b64` is present.
    pub has_extension: bool,
    /// `kid` is present but not a string.
    pub kid_not_string: bool,
}

/// The header's rules, in order: an `alg` (RFC 7515 §4.1.1), never `none` (RFC 8725 §3.2), on
/// the allow-list (§3.1), no extension (§4.1.11), a string `kid` (§4.1.4).
pub fn check_header(
    header: &HeaderFacts<'_>,
    allowed: &[Algorithm],
) -> Result<Algorithm, JwsRefusal> {
    let name = header.alg.ok_or(JwsRefusal::Malformed("header has no alg"))?;
    if name.eq_ignore_ascii_case("none") {
        return Err(JwsRefusal::AlgNone);
    }
    let alg = Algorithm::parse(name)
        .filter(|a| allowed.contains(a))
        .ok_or(JwsRefusal::AlgorithmNotAllowed)?;
    if header.has_extension {
        return Err(JwsRefusal::UnsupportedCritical);
    }
    if header.kid_not_string {
        return Err(JwsRefusal::Malformed("kid is not a string"));
    }
    Ok(alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_by_type_curve_alg_and_use() {
        let ec = KeyFacts { kty: "EC", crv: Some("P-256"), ..KeyFacts::default() };
        assert!(Algorithm::ES256.fits(&ec));
        assert!(!Algorithm::RS256.fits(&ec));
        assert!(!Algorithm::ES256.fits(&KeyFacts { crv: Some("P-384"), ..ec }));
        let rsa = KeyFacts { kty: "RSA", ..KeyFacts::default() };
        assert!(Algorithm::RS256.fits(&rsa) && Algorithm::PS256.fits(&rsa));
        assert!(!Algorithm::PS256.fits(&KeyFacts {
            alg: Some("RS256"),
            ..KeyFacts { kty: "RSA", ..KeyFacts::default() }
        }));
        assert!(!Algorithm::RS256.fits(&KeyFacts {
            use_: Some("enc"),
            kty: "RSA",
            ..KeyFacts::default()
        }));
        assert!(!Algorithm::RS256.fits(&KeyFacts {
            multi_prime: true,
            kty: "RSA",
            ..KeyFacts::default()
        }));
    }

    #[test]
    fn signatures_fit_by_length() {
        assert!(Algorithm::ES256.signature_fits(&[0; 64], None));
        assert!(!Algorithm::ES256.signature_fits(&[0; 65], None));
        let mut n = [0xffu8; 257];
        n[0] = 0;
        assert!(Algorithm::RS256.signature_fits(&[0; 256], Some(&n)));
        assert!(!Algorithm::RS256.signature_fits(&[0; 257], Some(&n)));
        assert!(
            !Algorithm::RS256.signature_fits(&[0; 128], Some(&n[..129])),
            "1024-bit keys are refused"
        );
        assert!(!Algorithm::RS256.signature_fits(&[0; 256], None));
    }

    #[test]
    fn compact_parts_and_header_rules() {
        assert_eq!(
            Compact::split("a.b").unwrap_err(),
            JwsRefusal::Malformed("a JWS has exactly three parts")
        );
        assert_eq!(
            Compact::split("a.b.c.d").unwrap_err(),
            JwsRefusal::Malformed("a JWS has exactly three parts")
        );
        assert_eq!(
            Compact::split(&"a".repeat(MAX_COMPACT_LEN + 1)).unwrap_err(),
            JwsRefusal::TooLarge
        );
        let c = Compact::split("eyJhbGciOiJFUzI1NiJ9.e30.").unwrap();
        assert_eq!(c.signing_input(), "eyJhbGciOiJFUzI1NiJ9.e30");
        assert_eq!(c.header_bytes().unwrap(), br#"{"alg":"ES256"}"#);
        assert_eq!(c.signature_bytes().unwrap_err(), JwsRefusal::Malformed("empty signature"));
        let all = &Algorithm::ALL;
        let facts = |alg| HeaderFacts { alg, ..HeaderFacts::default() };
        assert_eq!(check_header(&facts(Some("ES256")), all), Ok(Algorithm::ES256));
        assert_eq!(
            check_header(&facts(None), all),
            Err(JwsRefusal::Malformed("header has no alg"))
        );
        assert_eq!(check_header(&facts(Some("nOnE")), all), Err(JwsRefusal::AlgNone));
        assert_eq!(check_header(&facts(Some("PS256")), all), Err(JwsRefusal::AlgorithmNotAllowed));
        assert_eq!(check_header(&facts(Some("HS256")), all), Err(JwsRefusal::AlgorithmNotAllowed));
        let crit =
            HeaderFacts { alg: Some("RS256"), has_extension: true, ..HeaderFacts::default() };
        assert_eq!(check_header(&crit, all), Err(JwsRefusal::UnsupportedCritical));
        let kid =
            HeaderFacts { alg: Some("RS256"), kid_not_string: true, ..HeaderFacts::default() };
        assert_eq!(check_header(&kid, all), Err(JwsRefusal::Malformed("kid is not a string")));
    }
}
