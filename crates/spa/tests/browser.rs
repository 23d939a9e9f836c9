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

// ---- ID token validation (OIDC Core §3.1.3.7), signatures verified by the browser's WebCrypto ----

mod id_tokens {
    use gatehouse_core::jose::jwk::Jwk;
    use gatehouse_core::jose::{jws, Algorithm};
    use gatehouse_core::ports::Crypto;
    use gatehouse_core::rust_crypto::RustCrypto;
    use gatehouse_spa::id_token::{check_claims, parse, verify_signature, Expected};
    use serde_json::{json, Value};
    use wasm_bindgen_test::*;

    const NOW: i64 = 1_760_000_000;
    const ISS: &str = "https://auth.example/";

    fn expected(nonce: Option<&'static str>) -> Expected<'static> {
        Expected { issuer: ISS, client_id: "spa", nonce, now: NOW, leeway: 60 }
    }

    fn claims() -> Value {
        json!({"iss": ISS, "sub": "u1", "aud": "spa", "azp": "spa", "exp": NOW + 600, "iat": NOW, "nonce": "n1"})
    }

    async fn key(alg: Algorithm, kid: &str) -> Jwk {
        let k = RustCrypto.generate_signing_key(alg, [7; 32]).await.unwrap();
        Jwk { kid: Some(kid.into()), ..k }
    }

    async fn sign(key: &Jwk, alg: Algorithm, claims: &Value) -> String {
        jws::sign(&RustCrypto, key, alg, Some("JWT"), claims.to_string().as_bytes()).await.unwrap()
    }

    fn code(refusal: Result<(), (&'static str, String)>) -> &'static str {
        refusal.err().map(|(c, _)| c).unwrap_or("ok")
    }

    #[wasm_bindgen_test]
    async fn a_good_token_passes_with_both_algorithms() {
        for alg in Algorithm::ALL {
            let k = key(alg, "k1").await;
            let token = sign(&k, alg, &claims()).await;
            let verified =
                verify_signature(parse(&token).unwrap(), &[k.to_public()]).await.unwrap();
            assert_eq!(code(check_claims(&verified, &expected(Some("n1")))), "ok", "{alg}");
        }
    }

    #[wasm_bindgen_test]
    fn claim_failures_have_their_codes() {
        let check = |patch: Value, nonce: Option<&'static str>| {
            let mut c = claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            code(check_claims(c.as_object().unwrap(), &expected(nonce)))
        };
        assert_eq!(check(json!({"nonce": "other"}), Some("n1")), "invalid_nonce");
        assert_eq!(check(json!({"nonce": null}), Some("n1")), "invalid_nonce");
        assert_eq!(check(json!({"aud": "someone-else"}), Some("n1")), "invalid_aud");
        assert_eq!(check(json!({"aud": ["spa", "api"], "azp": "api"}), Some("n1")), "invalid_azp");
        assert_eq!(check(json!({"aud": ["spa", "api"], "azp": null}), Some("n1")), "invalid_azp");
        assert_eq!(check(json!({"aud": ["spa", "api"]}), Some("n1")), "ok");
        assert_eq!(check(json!({"iss": "https://evil.example/"}), Some("n1")), "invalid_iss");
        assert_eq!(
            check(json!({"iss": "https://auth.example"}), Some("n1")),
            "invalid_iss",
            "the trailing slash matters"
        );
        assert_eq!(check(json!({"exp": NOW - 61}), Some("n1")), "expired");
        assert_eq!(check(json!({"exp": NOW - 30}), Some("n1")), "ok", "within the leeway");
        assert_eq!(check(json!({"iat": NOW + 120}), Some("n1")), "invalid_iat");
        assert_eq!(check(json!({"sub": null}), Some("n1")), "invalid_id_token");
        assert_eq!(check(json!({"exp": null}), Some("n1")), "invalid_id_token");
        assert_eq!(
            check(json!({"nonce": "anything"}), None),
            "ok",
            "refreshed ID tokens carry no nonce check"
        );
    }

    #[wasm_bindgen_test]
    async fn signature_failures_have_their_codes() {
        let k = key(Algorithm::ES256, "k1").await;
        let other = Jwk {
            kid: Some("k1".into()),
            ..RustCrypto.generate_signing_key(Algorithm::ES256, [9; 32]).await.unwrap()
        };
        let token = sign(&k, Algorithm::ES256, &claims()).await;
        let refused =
            |r: Result<_, (&'static str, String)>| r.err().map(|(c, _)| c).unwrap_or("ok");
        assert_eq!(
            refused(verify_signature(parse(&token).unwrap(), &[other.to_public()]).await),
            "invalid_signature"
        );
        let rotated = Jwk { kid: Some("k2".into()), ..k.to_public() };
        assert_eq!(
            refused(verify_signature(parse(&token).unwrap(), &[rotated]).await),
            "unknown_kid"
        );
        let b64 = |text: String| gatehouse_core::b64::encode(text);
        let body = b64(claims().to_string());
        assert_eq!(
            parse(&format!("{}.{body}.", b64(r#"{"alg":"none"}"#.into()))).unwrap_err().0,
            "unsupported_alg"
        );
        assert_eq!(
            parse(&format!("{}.{body}.c2ln", b64(r#"{"alg":"HS256"}"#.into()))).unwrap_err().0,
            "unsupported_alg"
        );
        assert_eq!(parse("not.a.jwt!").unwrap_err().0, "invalid_id_token");
        // A tampered payload under a good header and signature.
        let parts: Vec<&str> = token.split('.').collect();
        let evil = b64(json!({"iss": ISS, "sub": "admin", "aud": "spa", "exp": NOW + 600, "iat": NOW, "nonce": "n1"}).to_string());
        let forged = format!("{}.{evil}.{}", parts[0], parts[2]);
        assert_eq!(
            refused(verify_signature(parse(&forged).unwrap(), &[k.to_public()]).await),
            "invalid_signature"
        );
    }

    #[wasm_bindgen_test]
    fn scopes_always_include_openid_and_offline_access_with_refresh_tokens() {
        use gatehouse_spa::client::normalize_scope;
        assert_eq!(normalize_scope(None, true), "openid profile email offline_access");
        assert_eq!(normalize_scope(Some("read:x openid read:x".into()), false), "openid read:x");
        assert_eq!(normalize_scope(Some("".into()), false), "openid");
    }
}

// The authorization request URL: every parameter form-encoded, PKCE S256, extras appended.
#[wasm_bindgen_test]
fn authorization_urls() {
    use gatehouse_spa::client::AuthorizationRequest;
    let request = AuthorizationRequest {
        domain: "https://auth.example",
        client_id: "my spa",
        redirect_uri: "https://app.example/cb?x=1&y=2",
        scope: "openid profile read:messages",
        state: "st",
        nonce: "nn",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    };
    let url = request
        .url(&[("audience", "https://api.example/".to_string()), ("prompt", "login".to_string())]);
    assert_eq!(
        url,
        "https://auth.example/authorize?client_id=my+spa&response_type=code\
         &redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2&scope=openid+profile+read%3Amessages\
         &state=st&nonce=nn&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256&audience=https%3A%2F%2Fapi.example%2F&prompt=login"
    );
    // The browser's own URL parser reads back exactly what was meant.
    let parsed = web_sys::Url::new(&url).unwrap();
    let q = parsed.search_params();
    assert_eq!(q.get("redirect_uri").as_deref(), Some("https://app.example/cb?x=1&y=2"));
    assert_eq!(q.get("client_id").as_deref(), Some("my spa"));
    assert_eq!(q.get("code_challenge_method").as_deref(), Some("S256"));
}
