//! The login's rules, exported to `js/index.js`: the authorization request (RFC 6749 §4.1.1,
//! OIDC Core §3.1.2.1, PKCE S256), its scope, and PKCE's encodings (RFC 7636 §4.1–4.2). The
//! randomness and the SHA-256 digest come from the browser's `crypto`.

use alloc::string::String;
use alloc::vec::Vec;
use gatehouse_protocol::authorize::{normalize_scope as normalize, AuthorizationRequest};
use gatehouse_protocol::{b64, pkce};
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use crate::{error, string};

/// The parameters a login sets itself; `authorizationParams` cannot override them. The last three
/// would change where or how the response comes (the client reads `query`) or replace the whole
/// request (RFC 9101, RFC 9126).
const OWN: [&str; 12] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "audience",
    "response_mode",
    "request",
    "request_uri",
];

/// `authorizationParams` sent as they are (as auth0-spa-js does): every string or number member
/// but those the login sets itself.
fn pass_through(params: &JsValue, into: &mut Vec<(String, String)>) {
    let Some(object) = params.dyn_ref::<Object>() else { return };
    for pair in Object::entries(object).iter() {
        let pair: Array = pair.unchecked_into();
        let (Some(name), value) = (pair.get(0).as_string(), pair.get(1)) else { continue };
        let value = match value.as_f64() {
            Some(n) => js_sys::Number::from(n).to_string_with_radix(10).map(String::from).ok(),
            None => value.as_string(),
        };
        if let (Some(value), false) = (value, OWN.contains(&name.as_str())) {
            into.push((name, value));
        }
    }
}

/// The authorization request's query as `[name, value]` pairs, for `URLSearchParams` (the same
/// URL Standard serializer the Worker's `AuthorizationRequest::url` uses). `request` has
/// `client_id`, `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge` and optionally
/// `audience`; `defaults` and `params` are the client's and the call's `authorizationParams`,
/// appended in that order.
#[wasm_bindgen(js_name = authorizeParams)]
pub fn authorize_params(
    request: JsValue,
    defaults: JsValue,
    params: JsValue,
) -> Result<Array, JsValue> {
    let field = |name: &str| {
        string(&request, name)
            .ok_or_else(|| error("invalid_request", "an authorization request field is missing"))
    };
    let (client_id, redirect_uri) = (field("client_id")?, field("redirect_uri")?);
    let (scope, state, nonce, code_challenge) =
        (field("scope")?, field("state")?, field("nonce")?, field("code_challenge")?);
    let mut extras: Vec<(String, String)> = Vec::new();
    if let Some(audience) = string(&request, "audience") {
        extras.push(("audience".into(), audience));
    }
    pass_through(&defaults, &mut extras);
    pass_through(&params, &mut extras);
    let extras: Vec<(&str, &str)> = extras.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let request = AuthorizationRequest {
        endpoint: "",
        client_id: &client_id,
        redirect_uri: &redirect_uri,
        scope: &scope,
        state: &state,
        nonce: &nonce,
        code_challenge: &code_challenge,
    };
    Ok(request.pairs(&extras).map(|(k, v)| Array::of2(&k.into(), &v.into())).collect())
}

/// A login's scope: `openid` first and always, each scope once, `offline_access` with refresh
/// tokens (the protocol's rule).
#[wasm_bindgen(js_name = normalizeScope)]
pub fn normalize_scope(scope: Option<String>, offline_access: bool) -> String {
    normalize(scope.as_deref(), offline_access)
}

/// base64url without padding (RFC 7515 §2), for `state` and `nonce` from random octets.
#[wasm_bindgen(js_name = base64url)]
pub fn base64url(bytes: &[u8]) -> String {
    b64::encode(bytes)
}

/// A PKCE verifier from 32 random octets (RFC 7636 §4.1).
#[wasm_bindgen(js_name = pkceVerifier)]
pub fn pkce_verifier(random: &[u8]) -> Result<String, JsValue> {
    let random: &[u8; 32] = random
        .try_into()
        .map_err(|_| error("invalid_request", "a verifier needs 32 random octets"))?;
    Ok(pkce::verifier_from(random))
}

/// Whether a verifier has RFC 7636 §4.1's syntax.
#[wasm_bindgen(js_name = isPkceVerifier)]
pub fn is_pkce_verifier(verifier: &str) -> bool {
    pkce::is_verifier(verifier)
}

/// The S256 challenge from the SHA-256 digest of the verifier (RFC 7636 §4.2).
#[wasm_bindgen(js_name = pkceChallengeFromDigest)]
pub fn pkce_challenge_from_digest(digest: &[u8]) -> String {
    pkce::challenge_from_digest(digest)
}
