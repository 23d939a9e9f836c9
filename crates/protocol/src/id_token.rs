//! The claim checks a client applies to an ID token (OIDC Core §3.1.3.7 items 2–5 and 9–11, and
//! §12.2 for a refreshed one), over whatever JSON object the caller parsed the payload into.
//! The signature is checked first, by the caller's crypto.

use alloc::string::String;
use alloc::vec::Vec;

/// Read access to the claims of a parsed ID token.
pub trait Claims {
    /// A string claim.
    fn text(&self, name: &str) -> Option<String>;
    /// A claim that is a JSON number with a whole value (see [`whole_number`]).
    fn integer(&self, name: &str) -> Option<i64>;
    /// `aud`: one string, or the strings of an array; empty when absent or of another type.
    fn audiences(&self) -> Vec<String>;
}

/// What the token must say.
#[derive(Debug)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent with the authorization request (absent for refreshed ID tokens).
    pub nonce: Option<&'a str>,
    pub now: i64,
    /// Clock-skew leeway in seconds for `exp`, `iat` and `auth_time`.
    pub leeway: i64,
    /// The `max_age` the login asked for, if any (OIDC Core §3.1.2.1).
    pub max_age: Option<i64>,
}

/// A JSON number as a NumericDate (RFC 7519 §2): a whole value within ±2^53, however it was
/// written (`1760000600` or `1760000600.0`); JavaScript and serde adapters agree through this.
pub fn whole_number(n: f64) -> Option<i64> {
    let whole = n as i64;
    (whole as f64 == n && whole.unsigned_abs() < (1 << 53)).then_some(whole)
}

/// Why an ID token was refused: an error code (auth0-spa-js's names) and a description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub description: &'static str,
}

const fn refuse(code: &'static str, description: &'static str) -> Refusal {
    Refusal { code, description }
}

/// OIDC Core §3.1.3.7: `iss` (item 2), `sub`, `aud` (3), `azp` (4–5), `exp` (9), `iat` (10),
/// `nonce` (11), `auth_time` when `max_age` was asked for (13).
pub fn check_claims(claims: &impl Claims, expected: &Expected<'_>) -> Result<(), Refusal> {
    if claims.text("iss").as_deref() != Some(expected.issuer) {
        return Err(refuse("invalid_iss", "iss is not the expected issuer"));
    }
    if claims.text("sub").is_none_or(|s| s.is_empty()) {
        return Err(refuse("invalid_id_token", "sub is missing"));
    }
    let audiences = claims.audiences();
    if !audiences.iter().any(|a| a == expected.client_id) {
        return Err(refuse("invalid_aud", "aud does not contain this client"));
    }
    // Items 4–5: with several audiences, or whenever azp is there, azp must be this client.
    let azp = claims.text("azp");
    if (audiences.len() > 1 || azp.is_some()) && azp.as_deref() != Some(expected.client_id) {
        return Err(refuse("invalid_azp", "azp is not this client"));
    }
    let exp = claims.integer("exp").ok_or(refuse("invalid_id_token", "exp is missing"))?;
    if exp.saturating_add(expected.leeway) <= expected.now {
        return Err(refuse("expired", "the ID token has expired"));
    }
    let iat = claims.integer("iat").ok_or(refuse("invalid_id_token", "iat is missing"))?;
    if iat.saturating_sub(expected.leeway) > expected.now {
        return Err(refuse("invalid_iat", "the ID token was issued in the future"));
    }
    if let Some(nonce) = expected.nonce {
        if claims.text("nonce").as_deref() != Some(nonce) {
            return Err(refuse("invalid_nonce", "the nonce does not match the login request"));
        }
    }
    if let Some(max_age) = expected.max_age {
        // §3.1.3.7 item 13, §2: with max_age, auth_time is required and may not be too old.
        let auth_time = claims
            .integer("auth_time")
            .ok_or(refuse("invalid_auth_time", "auth_time is missing though max_age was asked"))?;
        if auth_time.saturating_add(max_age).saturating_add(expected.leeway) < expected.now {
            return Err(refuse("invalid_auth_time", "the login is older than max_age"));
        }
    }
    Ok(())
}

/// OIDC Core §12.2: an ID token from a refresh is about the same user from the same issuer as
/// the one it replaces.
pub fn check_refreshed(previous: &impl Claims, refreshed: &impl Claims) -> Result<(), Refusal> {
    if refreshed.text("sub") != previous.text("sub")
        || refreshed.text("iss") != previous.text("iss")
    {
        return Err(refuse("invalid_id_token", "the refreshed ID token is about another user"));
    }
    Ok(())
}

/// The shared vectors (`vectors/id_token_claims.json`): the same file runs here and in the
/// browser package's tests in Chromium and Firefox.
pub const VECTORS: &str = include_str!("../vectors/id_token_claims.json");

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;
    use serde_json::{Map, Value};

    struct Json<'a>(&'a Map<String, Value>);

    impl Claims for Json<'_> {
        fn text(&self, name: &str) -> Option<String> {
            self.0.get(name).and_then(Value::as_str).map(str::to_owned)
        }
        fn integer(&self, name: &str) -> Option<i64> {
            self.0.get(name).and_then(Value::as_f64).and_then(whole_number)
        }
        fn audiences(&self) -> Vec<String> {
            match self.0.get("aud") {
                Some(Value::String(a)) => Vec::from([a.clone()]),
                Some(Value::Array(list)) => {
                    list.iter().filter_map(Value::as_str).map(str::to_owned).collect()
                }
                _ => Vec::new(),
            }
        }
    }

    #[test]
    fn the_shared_vectors() {
        let vectors: Vec<Value> = serde_json::from_str(VECTORS).unwrap();
        assert!(vectors.len() >= 15);
        for v in &vectors {
            let name = v["name"].as_str().unwrap();
            let claims = v["claims"].as_object().unwrap();
            let e = &v["expected"];
            let expected = Expected {
                issuer: e["issuer"].as_str().unwrap(),
                client_id: e["client_id"].as_str().unwrap(),
                nonce: e["nonce"].as_str(),
                now: e["now"].as_i64().unwrap(),
                leeway: e["leeway"].as_i64().unwrap(),
                max_age: e["max_age"].as_i64(),
            };
            let got = check_claims(&Json(claims), &expected).err().map(|r| r.code);
            assert_eq!(got, v["error"].as_str(), "{name}");
            if let Some(previous) = v.get("previous").and_then(Value::as_object) {
                let got = check_refreshed(&Json(previous), &Json(claims)).err().map(|r| r.code);
                assert_eq!(got, v["refresh_error"].as_str(), "{name} (refresh)");
            }
        }
    }
}
