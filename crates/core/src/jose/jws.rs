//! JWS compact serialization (RFC 7515 §7.1) with a strict parser: an algorithm allow-list,
//! `none` always refused (RFC 8725 §3.2), any `crit` refused (we understand no extension,
//! RFC 7515 §4.1.11), size limits, duplicate header members refused, and no panics on any input.

use serde_json::{Map, Value};

use gatehouse_protocol::jose::{check_header, Compact, HeaderFacts, JwsRefusal};

use super::jwk::Jwk;
use super::{json, Algorithm};
use crate::b64;
use crate::ports::{Crypto, PortError};

/// The largest compact JWS the parser looks at (bytes): the protocol crate's limit.
pub use gatehouse_protocol::jose::MAX_COMPACT_LEN;

/// Why a JWS was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JwsError {
    TooLarge,
    /// Not three base64url parts, a header that is not a JSON object, ...
    Malformed(&'static str),
    /// `alg: none` (any case).
    AlgNone,
    /// An algorithm not on the caller's allow-list.
    AlgorithmNotAllowed(String),
    /// A `crit` header (or `b64`, which needs one): no extension is understood.
    UnsupportedCritical,
    /// No key of the set fits the header's `kid` and `alg`.
    NoMatchingKey,
    BadSignature,
    Port(PortError),
}

impl From<JwsRefusal> for JwsError {
    fn from(refusal: JwsRefusal) -> Self {
        match refusal {
            JwsRefusal::TooLarge => Self::TooLarge,
            JwsRefusal::Malformed(why) => Self::Malformed(why),
            JwsRefusal::AlgNone => Self::AlgNone,
            JwsRefusal::AlgorithmNotAllowed => Self::AlgorithmNotAllowed(String::new()),
            JwsRefusal::UnsupportedCritical => Self::UnsupportedCritical,
        }
    }
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub struct Jws {
    pub alg: Algorithm,
    pub header: Map<String, Value>,
    pub payload: Vec<u8>,
    signature: Vec<u8>,
    signing_input_len: usize,
    compact: String,
}

impl Jws {
    /// Parses a compact JWS, accepting only algorithms in `allowed`.
    /// The outer and header rules are the protocol crate's (the browser applies them too).
    pub fn parse(compact: &str, allowed: &[Algorithm]) -> Result<Self, JwsError> {
        let parts = Compact::split(compact)?;
        let header = json::parse_object(&parts.header_bytes()?)
            .ok_or(JwsError::Malformed("header is not a JSON object"))?;
        let alg_name = header.get("alg").and_then(Value::as_str);
        let facts = HeaderFacts {
            alg: alg_name,
            has_extension: header.contains_key("crit") || header.contains_key("b64"),
            kid_not_string: header.get("kid").is_some_and(|kid| !kid.is_string()),
        };
        let alg = check_header(&facts, allowed).map_err(|refusal| match refusal {
            JwsRefusal::AlgorithmNotAllowed => JwsError::AlgorithmNotAllowed(
                alg_name.unwrap_or_default().chars().take(16).collect(),
            ),
            other => other.into(),
        })?;
        let payload = parts.payload_bytes()?;
        let signature = parts.signature_bytes()?;
        Ok(Self {
            alg,
            header,
            payload,
            signature,
            signing_input_len: parts.signing_input().len(),
            compact: compact.to_string(),
        })
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The header's `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.header.get("typ").and_then(Value::as_str)
    }

    /// Whether `typ` is absent or one of `names` (lowercase, without `application/`, which a
    /// recipient must treat alike, RFC 7515 §4.1.9; media types are case-insensitive).
    pub fn typ_is_absent_or(&self, names: &[&str]) -> bool {
        self.typ().is_none_or(|t| {
            let t = t.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            names.contains(&t)
        })
    }

    /// `ASCII(BASE64URL(header) || '.' || BASE64URL(payload))` (RFC 7515 §5.1).
    pub fn signing_input(&self) -> &[u8] {
        &self.compact.as_bytes()[..self.signing_input_len]
    }

    /// Verifies the signature with the first key of `keys` that fits the header's `kid` (when
    /// present) and `alg`. Returns the payload on success.
    pub async fn verify(self, crypto: &impl Crypto, keys: &[Jwk]) -> Result<Vec<u8>, JwsError> {
        let kid = self.kid();
        let candidates: Vec<&Jwk> = keys
            .iter()
            .filter(|k| k.fits(self.alg) && !k.is_private())
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .collect();
        if candidates.is_empty() {
            return Err(JwsError::NoMatchingKey);
        }
        for key in candidates {
            let ok = crypto
                .verify(key, self.alg, self.signing_input(), &self.signature)
                .await
                .map_err(JwsError::Port)?;
            if ok {
                return Ok(self.payload);
            }
        }
        Err(JwsError::BadSignature)
    }
}

/// Signs `payload` as a compact JWS with a private JWK. The protected header is
/// `{"alg", "kid" (from the key), "typ" (if given)}` plus `extra` members.
pub async fn sign(
    crypto: &impl Crypto,
    key: &Jwk,
    alg: Algorithm,
    typ: Option<&str>,
    payload: &[u8],
) -> Result<String, PortError> {
    let mut header = Map::new();
    header.insert("alg".into(), alg.as_str().into());
    if let Some(kid) = &key.kid {
        header.insert("kid".into(), kid.as_str().into());
    }
    if let Some(typ) = typ {
        header.insert("typ".into(), typ.into());
    }
    let header = serde_json::to_vec(&header).map_err(|e| PortError::new(e.to_string()))?;
    let mut compact = b64::encode(header);
    compact.push('.');
    compact.push_str(&b64::encode(payload));
    let signature = crypto.sign(key, alg, compact.as_bytes()).await?;
    compact.push('.');
    compact.push_str(&b64::encode(signature));
    Ok(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(header: &str, payload: &str, sig: &[u8]) -> String {
        format!("{}.{}.{}", b64::encode(header), b64::encode(payload), b64::encode(sig))
    }

    #[test]
    fn refuses_none_in_any_case() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let jws = compact(&format!(r#"{{"alg":"{alg}"}}"#), "{}", b"x");
            assert_eq!(Jws::parse(&jws, &Algorithm::ALL).unwrap_err(), JwsError::AlgNone);
        }
        // An unsigned JWS ("alg":"none" with an empty signature) is refused as well.
        let unsigned = format!("{}.{}.", b64::encode(r#"{"alg":"none"}"#), b64::encode("{}"));
        assert_eq!(Jws::parse(&unsigned, &Algorithm::ALL).unwrap_err(), JwsError::AlgNone);
    }

    #[test]
    fn enforces_the_allow_list() {
        let jws = compact(r#"{"alg":"ES256"}"#, "{}", b"x");
        assert!(matches!(
            Jws::parse(&jws, &[Algorithm::RS256]),
            Err(JwsError::AlgorithmNotAllowed(_))
        ));
        for alg in ["HS256", "PS256", "ES384", "RS512", "EdDSA", ""] {
            let jws = compact(&format!(r#"{{"alg":"{alg}"}}"#), "{}", b"x");
            assert!(matches!(
                Jws::parse(&jws, &Algorithm::ALL),
                Err(JwsError::AlgorithmNotAllowed(_))
            ));
        }
    }

    #[test]
    fn refuses_crit_b64_and_bad_shapes() {
        let crit = compact(r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, "{}", b"x");
        assert_eq!(Jws::parse(&crit, &Algorithm::ALL).unwrap_err(), JwsError::UnsupportedCritical);
        let b64 = compact(r#"{"alg":"ES256","b64":false}"#, "{}", b"x");
        assert_eq!(Jws::parse(&b64, &Algorithm::ALL).unwrap_err(), JwsError::UnsupportedCritical);
        let dup = compact(r#"{"alg":"ES256","alg":"none"}"#, "{}", b"x");
        assert!(matches!(Jws::parse(&dup, &Algorithm::ALL), Err(JwsError::Malformed(_))));
        let kid = compact(r#"{"alg":"ES256","kid":5}"#, "{}", b"x");
        assert!(matches!(Jws::parse(&kid, &Algorithm::ALL), Err(JwsError::Malformed(_))));
        for garbage in [
            "",
            ".",
            "..",
            "...",
            "a.b",
            "a.b.c.d",
            "a.b.c",
            "eyJ.eyJ.eyJ",
            "e30.e30.AA",                   // header {} has no alg
            "W10.e30.AA",                   // header [] is not an object
            "eyJhbGciOiJFUzI1NiJ9.e30.",    // empty signature
            "eyJhbGciOiJFUzI1NiJ9=.e30.AA", // padding
            "eyJhbGciOiJFUzI1NiJ9.e3+/.AA", // standard alphabet
            "\u{0}\u{1}.\u{202e}.\u{feff}",
        ] {
            assert!(Jws::parse(garbage, &Algorithm::ALL).is_err(), "{garbage:?}");
        }
        let huge = "a".repeat(MAX_COMPACT_LEN + 1);
        assert_eq!(Jws::parse(&huge, &Algorithm::ALL).unwrap_err(), JwsError::TooLarge);
    }

    #[test]
    fn parser_never_panics_on_mutations() {
        // Every single-byte mutation and truncation of a valid-shaped JWS parses or fails cleanly.
        let base = compact(r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#, r#"{"sub":"x"}"#, &[7; 256]);
        let bytes = base.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'.', b'A', b'=', b'-', 0xC3] {
                let mut mutated = bytes.to_vec();
                mutated[i] = replacement;
                let text = String::from_utf8_lossy(&mutated);
                let _ = Jws::parse(&text, &Algorithm::ALL);
            }
            let _ = Jws::parse(&base[..i], &Algorithm::ALL);
        }
    }
}
