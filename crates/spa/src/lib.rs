//! gatehouse-spa: the browser side of Gatehouse. For now, PKCE (RFC 7636) with the core's code and
//! the browser's CSPRNG; the login client (redirect, callback, token cache) builds on it.
#![forbid(unsafe_code)]

use gatehouse_core::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
use gatehouse_core::ports::Rng;
use wasm_bindgen::prelude::*;

/// `crypto.getRandomValues`, through getrandom.
struct BrowserRng;

impl Rng for BrowserRng {
    fn fill(&self, dest: &mut [u8]) {
        if getrandom::fill(dest).is_err() {
            // No CSPRNG means no secure verifier: stop rather than return a guessable one.
            wasm_bindgen::throw_str("gatehouse-spa: crypto.getRandomValues is unavailable");
        }
    }
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
#[wasm_bindgen]
#[derive(Debug)]
pub struct PkcePair {
    verifier: PkceCodeVerifier,
    challenge: PkceCodeChallenge,
}

#[wasm_bindgen]
impl PkcePair {
    /// `code_verifier`: keep it in the transaction state; send it to the token endpoint.
    #[wasm_bindgen(getter, js_name = codeVerifier)]
    pub fn code_verifier(&self) -> String {
        self.verifier.secret().to_string()
    }

    /// `code_challenge`: send it with the authorization request.
    #[wasm_bindgen(getter, js_name = codeChallenge)]
    pub fn code_challenge(&self) -> String {
        self.challenge.as_str().to_string()
    }

    /// Always `S256` (`plain` is not offered).
    #[wasm_bindgen(getter, js_name = codeChallengeMethod)]
    pub fn code_challenge_method(&self) -> String {
        self.challenge.method().to_string()
    }
}

/// A fresh PKCE pair: 32 random octets from the browser's CSPRNG as a 43-character verifier.
#[wasm_bindgen(js_name = createPkcePair)]
pub fn create_pkce_pair() -> PkcePair {
    let verifier = PkceCodeVerifier::new_random(&BrowserRng);
    let challenge = verifier.challenge();
    PkcePair { verifier, challenge }
}

/// The S256 challenge of a verifier; throws on a verifier that RFC 7636 §4.1 does not allow.
#[wasm_bindgen(js_name = pkceChallenge)]
pub fn pkce_challenge(code_verifier: &str) -> Result<String, JsError> {
    let verifier = PkceCodeVerifier::parse(code_verifier).ok_or_else(|| {
        JsError::new("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
    })?;
    Ok(verifier.challenge().as_str().to_string())
}
