//! The browser package's PKCE in headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test
#![cfg(target_arch = "wasm32")]

use gatehouse_spa::{create_pkce_pair, pkce_challenge};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// RFC 7636 Appendix B.
#[wasm_bindgen_test]
fn rfc7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[wasm_bindgen_test]
fn refuses_verifiers_outside_rfc7636() {
    assert!(pkce_challenge("short").is_err());
    assert!(pkce_challenge(&"a".repeat(129)).is_err());
    assert!(pkce_challenge(&format!("{}/", "a".repeat(43))).is_err());
}

#[wasm_bindgen_test]
fn pairs_are_fresh_and_well_formed() {
    let a = create_pkce_pair();
    let b = create_pkce_pair();
    assert_eq!(a.code_verifier().len(), 43);
    assert_ne!(a.code_verifier(), b.code_verifier());
    assert_eq!(a.code_challenge_method(), "S256");
    assert_eq!(pkce_challenge(&a.code_verifier()).unwrap(), a.code_challenge());
}

/// The challenge equals the browser's own SHA-256 of the verifier, base64url-encoded.
#[wasm_bindgen_test]
async fn challenge_matches_webcrypto_sha256() {
    let pair = create_pkce_pair();
    let crypto: web_sys::Crypto =
        js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).unwrap().unchecked_into();
    let digest = crypto
        .subtle()
        .digest_with_str_and_u8_array("SHA-256", pair.code_verifier().as_bytes())
        .unwrap();
    let digest = js_sys::Uint8Array::new(&JsFuture::from(digest).await.unwrap()).to_vec();
    // An independent encoding: the browser's btoa, made URL-safe (RFC 4648 §5) without padding.
    let b64 = js_sys::eval(&format!(
        "btoa(String.fromCharCode(...{:?})).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,'')",
        digest
    ))
    .unwrap()
    .as_string()
    .unwrap();
    assert_eq!(b64, pair.code_challenge());
}
