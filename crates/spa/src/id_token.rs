//! ID token validation (OIDC Core §3.1.3.7): the signature against the issuer's JWKS (RS256 or
//! ES256, verified by WebCrypto), then `iss`, `aud`, `azp`, `exp`/`iat` with leeway, `nonce`.

use gatehouse_core::jose::json::parse_object;
use gatehouse_core::jose::jwk::Jwk;
use gatehouse_core::jose::jws::{Jws, JwsError};
use gatehouse_core::jose::Algorithm;
use gatehouse_webcrypto::WebCrypto;
use serde_json::{Map, Value};

/// Why an ID token was refused: `(error code, description)`.
pub type Refusal = (&'static str, String);

/// What the token must say.
#[derive(Debug)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent with the authorization request (absent for refreshed ID tokens).
    pub nonce: Option<&'a str>,
    pub now: i64,
    pub leeway: i64,
}

/// Parses the compact JWS and checks its algorithm; `none` and anything but RS256/ES256 fail.
pub fn parse(id_token: &str) -> Result<Jws, Refusal> {
    Jws::parse(id_token, &Algorithm::ALL).map_err(|e| match e {
        JwsError::AlgNone | JwsError::AlgorithmNotAllowed(_) => {
            ("unsupported_alg", "the ID token's alg is not RS256 or ES256".to_string())
        }
        other => ("invalid_id_token", format!("the ID token is malformed: {other:?}")),
    })
}

/// Verifies the signature with the first key whose `kid` matches.
pub async fn verify_signature(jws: Jws, keys: &[Jwk]) -> Result<Map<String, Value>, Refusal> {
    let payload = jws.verify(&WebCrypto, keys).await.map_err(|e| match e {
        JwsError::NoMatchingKey => {
            ("unknown_kid", "no key of the issuer's JWKS matches the ID token".to_string())
        }
        JwsError::BadSignature => {
            ("invalid_signature", "the ID token's signature does not verify".to_string())
        }
        other => ("invalid_id_token", format!("{other:?}")),
    })?;
    parse_object(&payload).ok_or_else(|| {
        ("invalid_id_token", "the ID token's claims are not a JSON object".to_string())
    })
}

/// The claim checks of OIDC Core §3.1.3.7 (items 2–3, 9–11).
pub fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(), Refusal> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(expected.issuer) {
        return Err(("invalid_iss", format!("iss must be {}", expected.issuer)));
    }
    if text("sub").is_none_or(str::is_empty) {
        return Err(("invalid_id_token", "sub is missing".into()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(("invalid_aud", "aud does not contain this client".into()));
    }
    // §3.1.3.7 items 4–5: with several audiences, azp must be this client.
    if (audiences.len() > 1 || text("azp").is_some()) && text("azp") != Some(expected.client_id) {
        return Err(("invalid_azp", "azp is not this client".into()));
    }
    let exp = number("exp").ok_or_else(|| ("invalid_id_token", "exp is missing".to_string()))?;
    if exp + expected.leeway <= expected.now {
        return Err(("expired", "the ID token has expired".into()));
    }
    let iat = number("iat").ok_or_else(|| ("invalid_id_token", "iat is missing".to_string()))?;
    if iat - expected.leeway > expected.now {
        return Err(("invalid_iat", "the ID token was issued in the future".into()));
    }
    match (expected.nonce, text("nonce")) {
        (Some(n), Some(m)) if n == m => {}
        (None, _) => {}
        _ => {
            return Err((
                "invalid_nonce",
                "the nonce does not match the authorization request".into(),
            ))
        }
    }
    Ok(())
}
