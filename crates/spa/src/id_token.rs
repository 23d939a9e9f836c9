//! ID token validation (OIDC Core §3.1.3.7): the JWS's outer and header rules, which keys can
//! have signed it, and the claim checks are `gatehouse-protocol`'s (the Worker applies the same
//! JWS rules). JSON is the browser's `JSON.parse`; `js/index.js` has WebCrypto verify the
//! signature (RS256 or ES256) with the keys and parameters `prepareIdToken` gives it.

use alloc::string::String;
use alloc::vec::Vec;
use gatehouse_protocol::b64;
pub use gatehouse_protocol::id_token::Expected;
use gatehouse_protocol::id_token::{self, whole_number, Claims};
use gatehouse_protocol::jose::{
    check_header, Algorithm, Compact, HeaderFacts, JwsRefusal, KeyFacts, WebCryptoParams,
    PRIVATE_MEMBERS, PUBLIC_KEY_MEMBERS,
};
use js_sys::{Array, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;

use crate::{error, get, set, string};

/// Why an ID token was refused: `(error code, description)`.
pub type Refusal = (&'static str, &'static str);

/// The claims of a parsed ID token: a plain JS object.
#[derive(Debug)]
pub struct JsClaims<'a>(pub &'a JsValue);

impl Claims for JsClaims<'_> {
    fn text(&self, name: &str) -> Option<String> {
        string(self.0, name)
    }

    /// A JS number with a whole value (the protocol's NumericDate rule).
    fn integer(&self, name: &str) -> Option<i64> {
        get(self.0, name).as_f64().and_then(whole_number)
    }

    fn audiences(&self) -> Vec<String> {
        let aud = get(self.0, "aud");
        if let Some(one) = aud.as_string() {
            return Vec::from([one]);
        }
        match aud.dyn_ref::<Array>() {
            Some(list) => list.iter().filter_map(|a| a.as_string()).collect(),
            None => Vec::new(),
        }
    }
}

/// A parsed ID token whose signature is not yet checked.
#[derive(Debug)]
pub struct Parsed {
    alg: Algorithm,
    kid: Option<String>,
    claims: JsValue,
    signature: Vec<u8>,
    signing_input: String,
}

fn malformed(refusal: JwsRefusal) -> Refusal {
    match refusal {
        JwsRefusal::AlgNone | JwsRefusal::AlgorithmNotAllowed => {
            ("unsupported_alg", "the ID token's alg is not RS256 or ES256")
        }
        JwsRefusal::TooLarge => ("invalid_id_token", "the ID token is too large"),
        JwsRefusal::UnsupportedCritical => {
            ("invalid_id_token", "the ID token has a critical header extension")
        }
        JwsRefusal::Malformed(why) => ("invalid_id_token", why),
    }
}

/// Parses JSON text into a plain object; anything else (an array, `null`, a number) is `None`.
fn json_object(text: &str) -> Option<JsValue> {
    let value = JSON::parse(text).ok()?;
    (value.is_object() && !Array::is_array(&value)).then_some(value)
}

fn object_of(bytes: &[u8], what: &'static str) -> Result<JsValue, Refusal> {
    core::str::from_utf8(bytes).ok().and_then(json_object).ok_or(("invalid_id_token", what))
}

fn has(object: &JsValue, name: &str) -> bool {
    !get(object, name).is_undefined()
}

/// Parses the compact JWS: three base64url parts, a JSON header whose `alg` is RS256 or ES256
/// (`none` and everything else refused) without extensions, and a JSON object as payload.
pub fn parse(id_token: &str) -> Result<Parsed, Refusal> {
    let compact = Compact::split(id_token).map_err(malformed)?;
    let header =
        object_of(&compact.header_bytes().map_err(malformed)?, "the header is not a JSON object")?;
    let kid = get(&header, "kid");
    let alg = string(&header, "alg");
    let facts = HeaderFacts {
        alg: alg.as_deref(),
        has_extension: has(&header, "crit") || has(&header, "b64"),
        kid_not_string: !kid.is_undefined() && kid.as_string().is_none(),
    };
    let alg = check_header(&facts, &Algorithm::ID_TOKEN).map_err(malformed)?;
    let claims = object_of(
        &compact.payload_bytes().map_err(malformed)?,
        "the claims are not a JSON object",
    )?;
    Ok(Parsed {
        alg,
        kid: kid.as_string(),
        claims,
        signature: compact.signature_bytes().map_err(malformed)?,
        signing_input: compact.signing_input().into(),
    })
}

/// A WebCrypto algorithm dictionary from the shared table.
pub fn algorithm(p: WebCryptoParams) -> JsValue {
    let o: JsValue = Object::new().into();
    set(&o, "name", p.name);
    if let Some(hash) = p.hash {
        set(&o, "hash", hash);
    }
    if let Some(curve) = p.named_curve {
        set(&o, "namedCurve", curve);
    }
    if let Some(salt) = p.salt_length {
        set(&o, "saltLength", salt);
    }
    o
}

/// The JWKS keys that can have signed this token: its `kid` (when it names one), a public key
/// that fits the algorithm (the protocol's rule).
fn candidates(token: &Parsed, keys: &JsValue) -> Vec<JsValue> {
    let Some(keys) = keys.dyn_ref::<Array>() else { return Vec::new() };
    keys.iter()
        .filter(|k| k.is_object())
        .filter(|k| token.kid.is_none() || string(k, "kid") == token.kid)
        .filter(|k| {
            let (kty, crv, alg, use_) =
                (string(k, "kty"), string(k, "crv"), string(k, "alg"), string(k, "use"));
            let facts = KeyFacts {
                kty: kty.as_deref().unwrap_or_default(),
                crv: crv.as_deref(),
                alg: alg.as_deref(),
                use_: use_.as_deref(),
                multi_prime: has(k, "oth"),
            };
            token.alg.fits(&facts) && !PRIVATE_MEMBERS.iter().any(|m| has(k, m))
        })
        .collect()
}

/// The key members of a public JWK, as WebCrypto imports it (no `use`, `alg` or `kid` for it to
/// disagree with).
fn bare(key: &JsValue) -> Object {
    let bare = Object::new();
    for member in PUBLIC_KEY_MEMBERS {
        let value = get(key, member);
        if !value.is_undefined() {
            let _ = Reflect::set(&bare, &member.into(), &value);
        }
    }
    bare
}

/// What WebCrypto needs to check an ID token's signature, after the protocol's rules: the
/// claims (not yet trusted), `signingInput` and `signature` (bytes), `keyAlgorithm` (for
/// `importKey`), `verifyAlgorithm` (for `verify`) and `keys`: the issuer's keys that can have
/// signed it, bare. The token is accepted when one of them verifies.
pub fn prepare(id_token: &str, jwks_keys: &JsValue) -> Result<JsValue, Refusal> {
    let token = parse(id_token)?;
    let candidates = candidates(&token, jwks_keys);
    if candidates.is_empty() {
        // No key names this kid with this algorithm: a rotation the cached JWKS has not seen.
        return Err(("unknown_kid", "no key of the issuer's JWKS matches the ID token"));
    }
    // A key that cannot have made a signature of this length is left out (none left: the
    // signature does not verify).
    let keys: Array = candidates
        .iter()
        .filter(|k| {
            let modulus = string(k, "n").and_then(|n| b64::decode(&n));
            token.alg.signature_fits(&token.signature, modulus.as_deref())
        })
        .map(|k| JsValue::from(bare(k)))
        .collect();
    let prepared: JsValue = Object::new().into();
    set(&prepared, "claims", token.claims);
    set(&prepared, "signingInput", Uint8Array::from(token.signing_input.as_bytes()));
    set(&prepared, "signature", Uint8Array::from(token.signature.as_slice()));
    set(&prepared, "keyAlgorithm", algorithm(token.alg.webcrypto_key()));
    set(&prepared, "verifyAlgorithm", algorithm(token.alg.webcrypto_signature()));
    set(&prepared, "keys", keys);
    Ok(prepared)
}

fn thrown((code, description): Refusal) -> JsValue {
    error(code, description)
}

/// `prepare`, for `js/index.js`: throws a `GatehouseError` on a refusal.
#[wasm_bindgen(js_name = prepareIdToken)]
pub fn prepare_id_token(id_token: &str, jwks_keys: JsValue) -> Result<JsValue, JsValue> {
    prepare(id_token, &jwks_keys).map_err(thrown)
}

/// The claim checks, for `js/index.js`: `expected` has `issuer`, `client_id`, `nonce` (absent
/// for a refreshed ID token), `now`, `leeway` (seconds) and `max_age` (when the login asked).
#[wasm_bindgen(js_name = checkIdTokenClaims)]
pub fn check_id_token_claims(claims: JsValue, expected: JsValue) -> Result<(), JsValue> {
    let number = |name: &str| get(&expected, name).as_f64().and_then(whole_number);
    let (issuer, client_id, nonce) =
        (string(&expected, "issuer"), string(&expected, "client_id"), string(&expected, "nonce"));
    let expected = Expected {
        issuer: issuer.as_deref().unwrap_or_default(),
        client_id: client_id.as_deref().unwrap_or_default(),
        nonce: nonce.as_deref(),
        now: number("now").unwrap_or_default(),
        leeway: number("leeway").unwrap_or_default(),
        max_age: number("max_age"),
    };
    check_claims(&claims, &expected).map_err(thrown)
}

/// OIDC Core §12.2, for `js/index.js`.
#[wasm_bindgen(js_name = checkRefreshedIdToken)]
pub fn check_refreshed_id_token(previous: JsValue, refreshed: JsValue) -> Result<(), JsValue> {
    check_refreshed(&previous, &refreshed).map_err(thrown)
}

/// The claim checks of OIDC Core §3.1.3.7 (the protocol's rule).
pub fn check_claims(claims: &JsValue, expected: &Expected<'_>) -> Result<(), Refusal> {
    id_token::check_claims(&JsClaims(claims), expected).map_err(|r| (r.code, r.description))
}

/// OIDC Core §12.2 for a refreshed ID token (the protocol's rule).
pub fn check_refreshed(previous: &JsValue, refreshed: &JsValue) -> Result<(), Refusal> {
    id_token::check_refreshed(&JsClaims(previous), &JsClaims(refreshed))
        .map_err(|r| (r.code, r.description))
}
