//! JSON Web Keys (RFC 7517, RFC 7518 §6) and their thumbprints (RFC 7638).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

use super::{Algorithm, KeyFacts};
use crate::b64;

/// A JWK for RSA or EC P-256 keys, public or private. `Debug` prints only `kty` and `kid`.
/// Unknown members are ignored on input (RFC 7517 §4).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    // EC (RFC 7518 §6.2)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    // RSA (RFC 7518 §6.3)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    // Private members (EC `d`; RSA `d`, `p`, `q`, `dp`, `dq`, `qi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
    /// Multi-prime RSA (RFC 7518 §6.3.2.7) is not supported; its presence makes a key unusable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oth: Option<serde_json::Value>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Whether any private member is present.
    pub fn is_private(&self) -> bool {
        self.d.is_some()
            || self.p.is_some()
            || self.q.is_some()
            || self.dp.is_some()
            || self.dq.is_some()
            || self.qi.is_some()
            || self.oth.is_some()
    }

    /// The public part only: every private member removed (RFC 7517 §4, §9.2).
    pub fn to_public(&self) -> Jwk {
        Jwk {
            kty: self.kty.clone(),
            kid: self.kid.clone(),
            use_: self.use_.clone(),
            alg: self.alg.clone(),
            crv: self.crv.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            n: self.n.clone(),
            e: self.e.clone(),
            ..Jwk::default()
        }
    }

    /// Whether this key can be used with `alg` (type, curve and, if present, `alg`/`use` agree).
    pub fn fits(&self, alg: Algorithm) -> bool {
        alg.fits(&KeyFacts {
            kty: &self.kty,
            crv: self.crv.as_deref(),
            alg: self.alg.as_deref(),
            use_: self.use_.as_deref(),
            multi_prime: self.oth.is_some(),
        })
    }

    /// Whether this is a well-formed public key for a supported signature algorithm: EC P-256
    /// with `x` and `y` of 32 bytes each (RFC 7518 §6.2.1.2, §6.2.1.3), or RSA with a modulus of
    /// at least 2048 bits (§3.3) and an exponent (§6.3.1); no private members (RFC 7517 §9.2).
    /// It does not check that an EC point is on the curve; verification does.
    pub fn is_usable_public_key(&self) -> bool {
        let decoded = |v: &Option<String>| v.as_deref().and_then(b64::decode);
        let well_formed = match self.kty.as_str() {
            "EC" => [&self.x, &self.y].iter().all(|c| decoded(c).is_some_and(|b| b.len() == 32)),
            "RSA" => {
                let n = decoded(&self.n).unwrap_or_default();
                let n = n.iter().position(|&b| b != 0).map_or(&[][..], |i| &n[i..]);
                let n_bits = n
                    .first()
                    .map_or(0, |&top| (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize));
                let e = decoded(&self.e).unwrap_or_default();
                n_bits >= 2048 && !e.is_empty() && e.len() <= 8 && e.iter().any(|&b| b != 0)
            }
            _ => false,
        };
        well_formed && !self.is_private() && Algorithm::CLIENT_SIGNED.iter().any(|a| self.fits(*a))
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url) of the key's required public members, in
    /// lexicographic order with no whitespace (§3.2, §3.3).
    pub fn thumbprint(&self) -> Option<String> {
        let member = |v: &Option<String>| v.as_ref().map(|s| serde_json::Value::from(s.as_str()));
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                member(&self.crv)?,
                member(&self.x)?,
                member(&self.y)?
            ),
            "RSA" => {
                format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, member(&self.e)?, member(&self.n)?)
            }
            _ => return None,
        };
        Some(b64::encode(Sha256::digest(canonical.as_bytes())))
    }
}

/// A JWK Set (RFC 7517 §5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWK Set, keeping only the keys Gatehouse can use (RFC 7517 §5: implementations
    /// SHOULD ignore keys they do not understand).
    pub fn parse(bytes: &[u8]) -> Option<JwkSet> {
        let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let keys = value.get("keys")?.as_array()?;
        Some(JwkSet {
            keys: keys
                .iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter(|k| k.kty == "RSA" || k.kty == "EC")
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_export_drops_every_private_member() {
        let k = Jwk {
            kty: "RSA".into(),
            n: Some("n".into()),
            e: Some("AQAB".into()),
            d: Some("d".into()),
            p: Some("p".into()),
            q: Some("q".into()),
            dp: Some("dp".into()),
            dq: Some("dq".into()),
            qi: Some("qi".into()),
            ..Jwk::default()
        };
        assert!(k.is_private());
        let public = k.to_public();
        assert!(!public.is_private());
        let json = serde_json::to_value(&public).unwrap();
        assert_eq!(json, serde_json::json!({"kty":"RSA","n":"n","e":"AQAB"}));
        assert!(!format!("{k:?}").contains("\"d\""));
    }

    #[test]
    fn fits_checks_type_curve_alg_and_use() {
        let ec = Jwk { kty: "EC".into(), crv: Some("P-256".into()), ..Jwk::default() };
        assert!(ec.fits(Algorithm::ES256));
        assert!(!ec.fits(Algorithm::RS256));
        let p384 = Jwk { crv: Some("P-384".into()), ..ec.clone() };
        assert!(!p384.fits(Algorithm::ES256));
        let enc = Jwk { use_: Some("enc".into()), ..ec.clone() };
        assert!(!enc.fits(Algorithm::ES256));
        let wrong_alg = Jwk { alg: Some("ES384".into()), ..ec };
        assert!(!wrong_alg.fits(Algorithm::ES256));
    }

    #[test]
    fn jwk_set_ignores_keys_it_does_not_understand() {
        let set = JwkSet::parse(
            br#"{"keys":[{"kty":"oct","k":"AAAA"},{"kty":"EC","crv":"P-256","x":"a","y":"b"},7]}"#,
        )
        .unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(JwkSet::parse(b"{}").is_none());
        assert!(JwkSet::parse(b"not json").is_none());
    }
}
