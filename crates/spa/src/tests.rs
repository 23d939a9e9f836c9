//! The browser package in headless Chromium and Firefox: PKCE with WebCrypto's SHA-256, ID
//! tokens verified by WebCrypto, the shared protocol vectors run against JS objects.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use crate::rules;

wasm_bindgen_test_configure!(run_in_browser);

fn crypto() -> web_sys::Crypto {
    js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).unwrap().unchecked_into()
}

/// What `js/index.js` does: the browser's SHA-256, then the shared rule.
async fn challenge(verifier: &str) -> String {
    let digest =
        crypto().subtle().digest_with_str_and_u8_array("SHA-256", verifier.as_bytes()).unwrap();
    let digest = js_sys::Uint8Array::new(&JsFuture::from(digest).await.unwrap()).to_vec();
    rules::pkce_challenge_from_digest(&digest)
}

fn fresh_verifier() -> String {
    let mut random = [0u8; 32];
    crypto().get_random_values_with_u8_array(&mut random).unwrap();
    rules::pkce_verifier(&random).unwrap()
}

// RFC 7636 Appendix B.
#[wasm_bindgen_test]
async fn rfc7636_appendix_b() {
    assert_eq!(
        challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").await,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[wasm_bindgen_test]
fn verifier_syntax_and_length() {
    assert!(!rules::is_pkce_verifier("short"));
    assert!(!rules::is_pkce_verifier(&"a".repeat(129)));
    assert!(!rules::is_pkce_verifier(&format!("{}/", "a".repeat(43))));
    assert!(rules::is_pkce_verifier(&"a".repeat(128)));
    let e = rules::pkce_verifier(&[0; 31]).unwrap_err();
    assert_eq!(
        js_sys::Reflect::get(&e, &"error".into()).unwrap().as_string().as_deref(),
        Some("invalid_request")
    );
    assert_eq!(rules::pkce_verifier(&[0xff; 32]).unwrap(), "_".repeat(42) + "8");
}

/// The browser's verifier and challenge are what the server's own code (the core, with sha2)
/// accepts.
#[wasm_bindgen_test]
async fn the_server_accepts_the_browsers_pairs() {
    use gatehouse_core::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
    let (a, b) = (fresh_verifier(), fresh_verifier());
    assert_eq!(a.len(), 43);
    assert_ne!(a, b);
    for v in [a, b] {
        let c = challenge(&v).await;
        assert_eq!(gatehouse_core::b64::sha256(&v), c);
        let server = PkceCodeChallenge::parse(&c, Some("S256")).unwrap();
        assert!(server.verify(&PkceCodeVerifier::parse(&v).unwrap()));
    }
}

// ---- ID token validation (OIDC Core §3.1.3.7), signatures verified by the browser's WebCrypto ----

mod id_tokens {
    use crate::id_token::{check_claims, check_refreshed, parse, prepare, Expected};
    use gatehouse_core::jose::jwk::Jwk;
    use gatehouse_core::jose::{jws, Algorithm};
    use gatehouse_core::ports::Crypto;
    use gatehouse_core::rust_crypto::RustCrypto;
    use serde_json::{json, Value};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::*;

    const NOW: i64 = 1_760_000_000;
    const ISS: &str = "https://auth.example/";

    fn expected(nonce: Option<&'static str>) -> Expected<'static> {
        Expected { issuer: ISS, client_id: "spa", nonce, now: NOW, leeway: 60, max_age: None }
    }

    fn claims() -> Value {
        json!({"iss": ISS, "sub": "u1", "aud": "spa", "azp": "spa", "exp": NOW + 600, "iat": NOW, "nonce": "n1"})
    }

    fn js(value: &Value) -> JsValue {
        js_sys::JSON::parse(&value.to_string()).unwrap()
    }

    /// A JWKS `keys` array as the browser receives it.
    fn jwks(keys: &[Jwk]) -> JsValue {
        js(&serde_json::to_value(keys).unwrap())
    }

    async fn key(alg: Algorithm, kid: &str) -> Jwk {
        let k = RustCrypto.generate_signing_key(alg, [7; 32]).await.unwrap();
        Jwk { kid: Some(kid.into()), ..k }
    }

    async fn sign(key: &Jwk, alg: Algorithm, claims: &Value) -> String {
        jws::sign(&RustCrypto, key, alg, Some("JWT"), claims.to_string().as_bytes()).await.unwrap()
    }

    fn code<T>(refusal: Result<T, (&'static str, &'static str)>) -> &'static str {
        refusal.err().map(|(c, _)| c).unwrap_or("ok")
    }

    fn get(o: &JsValue, name: &str) -> JsValue {
        js_sys::Reflect::get(o, &name.into()).unwrap()
    }

    /// What `js/index.js` does with `prepareIdToken`'s answer: WebCrypto imports each key with
    /// `keyAlgorithm` and verifies with `verifyAlgorithm`; the claims when one verifies.
    async fn verify_signature(
        token: &str,
        keys: &JsValue,
    ) -> Result<JsValue, (&'static str, &'static str)> {
        let prepared = prepare(token, keys)?;
        let subtle = super::crypto().subtle();
        let signature = js_sys::Uint8Array::new(&get(&prepared, "signature")).to_vec();
        let input = js_sys::Uint8Array::new(&get(&prepared, "signingInput")).to_vec();
        for key in js_sys::Array::from(&get(&prepared, "keys")).iter() {
            let usages = js_sys::Array::of1(&"verify".into());
            let algorithm: js_sys::Object = get(&prepared, "keyAlgorithm").unchecked_into();
            let Ok(imported) = JsFuture::from(
                subtle
                    .import_key_with_object("jwk", key.unchecked_ref(), &algorithm, false, &usages)
                    .unwrap(),
            )
            .await
            else {
                continue;
            };
            let verify: js_sys::Object = get(&prepared, "verifyAlgorithm").unchecked_into();
            let ok = JsFuture::from(
                subtle
                    .verify_with_object_and_u8_array_and_u8_array(
                        &verify,
                        imported.unchecked_ref(),
                        &signature,
                        &input,
                    )
                    .unwrap(),
            )
            .await
            .unwrap();
            if ok.as_bool() == Some(true) {
                return Ok(get(&prepared, "claims"));
            }
        }
        Err(("invalid_signature", "none verifies"))
    }

    #[wasm_bindgen_test]
    async fn a_good_token_passes_with_both_algorithms() {
        for alg in Algorithm::ALL {
            let k = key(alg, "k1").await;
            let token = sign(&k, alg, &claims()).await;
            let verified = verify_signature(&token, &jwks(&[k.to_public()])).await.unwrap();
            assert_eq!(code(check_claims(&verified, &expected(Some("n1")))), "ok", "{alg}");
            assert_eq!(
                String::from(js_sys::JSON::stringify(&verified).unwrap()),
                String::from(js_sys::JSON::stringify(&js(&claims())).unwrap())
            );
        }
    }

    /// The protocol crate's vectors, the same file its native tests run, against the browser's
    /// own claims (objects from `JSON.parse`).
    #[wasm_bindgen_test]
    fn the_shared_claim_vectors() {
        let vectors: Vec<Value> =
            serde_json::from_str(gatehouse_protocol::id_token::VECTORS).unwrap();
        assert!(vectors.len() >= 15);
        for v in &vectors {
            let name = v["name"].as_str().unwrap();
            let e = &v["expected"];
            let expected = Expected {
                issuer: e["issuer"].as_str().unwrap(),
                client_id: e["client_id"].as_str().unwrap(),
                nonce: e["nonce"].as_str(),
                now: e["now"].as_i64().unwrap(),
                leeway: e["leeway"].as_i64().unwrap(),
                max_age: e["max_age"].as_i64(),
            };
            let claims = js(&v["claims"]);
            assert_eq!(
                code(check_claims(&claims, &expected)),
                v["error"].as_str().unwrap_or("ok"),
                "{name}"
            );
            // The same through the export js/index.js calls, with `expected` as a JS object.
            let exported = crate::id_token::check_id_token_claims(claims.clone(), js(e));
            let exported = exported.err().map(|e| get(&e, "error").as_string().unwrap());
            assert_eq!(exported.as_deref(), v["error"].as_str(), "{name} (export)");
            if let Some(previous) = v.get("previous") {
                assert_eq!(
                    code(check_refreshed(&js(previous), &claims)),
                    v["refresh_error"].as_str().unwrap_or("ok"),
                    "{name} (refresh)"
                );
            }
        }
    }

    #[wasm_bindgen_test]
    async fn signature_failures_have_their_codes() {
        let k = key(Algorithm::ES256, "k1").await;
        let other = Jwk {
            kid: Some("k1".into()),
            ..RustCrypto.generate_signing_key(Algorithm::ES256, [9; 32]).await.unwrap()
        };
        let token = sign(&k, Algorithm::ES256, &claims()).await;
        assert_eq!(
            code(verify_signature(&token, &jwks(&[other.to_public()])).await),
            "invalid_signature"
        );
        let rotated = Jwk { kid: Some("k2".into()), ..k.to_public() };
        assert_eq!(code(verify_signature(&token, &jwks(&[rotated])).await), "unknown_kid");
        // A private key in the JWKS is never used; a key for another algorithm neither.
        assert_eq!(
            code(verify_signature(&token, &jwks(std::slice::from_ref(&k))).await),
            "unknown_kid"
        );
        let rsa = key(Algorithm::RS256, "k1").await;
        assert_eq!(code(verify_signature(&token, &jwks(&[rsa.to_public()])).await), "unknown_kid");
        assert_eq!(code(verify_signature(&token, &JsValue::NULL).await), "unknown_kid");
        // Any private member makes a key unusable, not only `d` (RFC 7518 §6.3.2).
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            let mut leaked = serde_json::to_value(k.to_public()).unwrap();
            leaked[member] = "AQAB".into();
            assert_eq!(
                code(verify_signature(&token, &js(&json!([leaked]))).await),
                "unknown_kid",
                "{member}"
            );
        }
        // The export answers a GatehouseError with the code.
        let refused =
            crate::id_token::prepare_id_token(&token, jwks(&[rotated_key(&other)])).unwrap_err();
        assert_eq!(get(&refused, "error").as_string().as_deref(), Some("unknown_kid"));
        assert_eq!(get(&refused, "name").as_string().as_deref(), Some("GatehouseError"));
        // A key of the right kid whose modulus is too short for RS256 (1024 bits) is never
        // tried: prepared with no keys, so the signature does not verify.
        let rs = key(Algorithm::RS256, "r1").await;
        let rs_token = sign(&rs, Algorithm::RS256, &claims()).await;
        let mut short = serde_json::to_value(rs.to_public()).unwrap();
        short["n"] = gatehouse_core::b64::encode([0xc5u8; 128]).into();
        let prepared = prepare(&rs_token, &js(&json!([short]))).unwrap();
        assert_eq!(js_sys::Array::from(&get(&prepared, "keys")).length(), 0);
        assert_eq!(
            code(verify_signature(&rs_token, &js(&json!([short]))).await),
            "invalid_signature"
        );
        assert_eq!(code(verify_signature(&rs_token, &jwks(&[rs.to_public()])).await), "ok");
        let b64 = |text: String| gatehouse_core::b64::encode(text);
        let body = b64(claims().to_string());
        assert_eq!(
            code(parse(&format!("{}.{body}.", b64(r#"{"alg":"none"}"#.into())))),
            "unsupported_alg"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.c2ln", b64(r#"{"alg":"NONE"}"#.into())))),
            "unsupported_alg"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.c2ln", b64(r#"{"alg":"HS256"}"#.into())))),
            "unsupported_alg"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.c2ln", b64(r#"{"alg":"PS256"}"#.into())))),
            "unsupported_alg"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.c2ln", b64(r#"{"alg":"ES256","crit":["x"]}"#.into())))),
            "invalid_id_token"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.c2ln", b64(r#"{"alg":"ES256","kid":7}"#.into())))),
            "invalid_id_token"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.c2ln", b64(r#"["ES256"]"#.into())))),
            "invalid_id_token"
        );
        assert_eq!(
            code(parse(&format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"ES256"}"#.into()),
                b64("[1]".into())
            ))),
            "invalid_id_token"
        );
        assert_eq!(
            code(parse(&format!("{}.{body}.", b64(r#"{"alg":"ES256"}"#.into())))),
            "invalid_id_token"
        );
        assert_eq!(code(parse("not.a.jwt!")), "invalid_id_token");
        assert_eq!(code(parse("a.b")), "invalid_id_token");
        // A tampered payload under a good header and signature.
        let parts: Vec<&str> = token.split('.').collect();
        let evil = b64(json!({"iss": ISS, "sub": "admin", "aud": "spa", "exp": NOW + 600, "iat": NOW, "nonce": "n1"}).to_string());
        let forged = format!("{}.{evil}.{}", parts[0], parts[2]);
        assert_eq!(
            code(verify_signature(&forged, &jwks(&[k.to_public()])).await),
            "invalid_signature"
        );
        // The right key among others: the one whose kid matches verifies it.
        let keys = jwks(&[rotated_key(&other), k.to_public()]);
        assert_eq!(code(verify_signature(&token, &keys).await), "ok");
    }

    fn rotated_key(k: &Jwk) -> Jwk {
        Jwk { kid: Some("k0".into()), ..k.to_public() }
    }
}

// The authorization request URL as the client builds it (the protocol's builder, with the
// client's and the call's authorizationParams passed through): the browser's own URL parser reads
// back exactly what was meant, and the login's own parameters cannot be overridden.
#[wasm_bindgen_test]
fn authorization_urls_read_back_in_the_browser() {
    let js = |text: &str| js_sys::JSON::parse(text).unwrap();
    let request = js(r#"{"client_id": "my spa",
        "redirect_uri": "https://app.example/cb?x=1&y=2", "scope": "openid profile read:messages",
        "state": "st", "nonce": "nn", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "audience": "https://api.example/"}"#);
    let defaults = js(
        r#"{"redirect_uri": "https://elsewhere.example/", "ui_locales": "fr é", "max_age": 300}"#,
    );
    let params = js(
        r#"{"prompt": "login", "state": "forged", "code_challenge_method": "plain", "nested": {"a": 1},
        "response_mode": "fragment", "request_uri": "urn:ietf:params:oauth:request_uri:x", "request": "e30.e30.", "response_type": "token"}"#,
    );
    // What js/index.js does with the pairs: URLSearchParams serialises them.
    let pairs = rules::authorize_params(request, defaults, params).unwrap();
    let query = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&pairs).unwrap();
    let url = format!("https://auth.example/authorize?{}", String::from(query.to_string()));
    // The Worker's client (the BFF) serialises the same pairs with the protocol crate's
    // form encoder: byte for byte the same URL.
    let own: Vec<(String, String)> = js_sys::Array::from(&pairs)
        .iter()
        .map(|p| {
            let p = js_sys::Array::from(&p);
            (p.get(0).as_string().unwrap(), p.get(1).as_string().unwrap())
        })
        .collect();
    assert_eq!(
        url,
        format!(
            "https://auth.example/authorize?{}",
            gatehouse_protocol::form::encode(own.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        )
    );
    let parsed = web_sys::Url::new(&url).unwrap();
    let q = parsed.search_params();
    assert_eq!(parsed.origin() + &parsed.pathname(), "https://auth.example/authorize");
    assert_eq!(q.get_all("redirect_uri").length(), 1);
    assert_eq!(q.get("redirect_uri").as_deref(), Some("https://app.example/cb?x=1&y=2"));
    assert_eq!(q.get("client_id").as_deref(), Some("my spa"));
    assert_eq!(q.get("response_type").as_deref(), Some("code"));
    assert_eq!(q.get("scope").as_deref(), Some("openid profile read:messages"));
    assert_eq!(q.get_all("state").length(), 1);
    assert_eq!(q.get("state").as_deref(), Some("st"));
    assert_eq!(q.get_all("code_challenge_method").length(), 1);
    assert_eq!(q.get("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(q.get("audience").as_deref(), Some("https://api.example/"));
    assert_eq!(q.get("ui_locales").as_deref(), Some("fr é"));
    assert_eq!(q.get("max_age").as_deref(), Some("300"));
    assert_eq!(q.get("prompt").as_deref(), Some("login"));
    assert_eq!(q.get("nested"), None, "only strings and numbers pass");
    for own in ["response_mode", "request_uri", "request"] {
        assert_eq!(q.get(own), None, "{own} cannot be passed");
    }
    assert_eq!(q.get_all("response_type").length(), 1);
    let missing =
        rules::authorize_params(js("{}"), JsValue::UNDEFINED, JsValue::UNDEFINED).unwrap_err();
    assert_eq!(
        js_sys::Reflect::get(&missing, &"error".into()).unwrap().as_string().as_deref(),
        Some("invalid_request")
    );
}

#[wasm_bindgen_test]
fn scopes_always_include_openid_and_offline_access_with_refresh_tokens() {
    assert_eq!(rules::normalize_scope(None, true), "openid profile email offline_access");
    assert_eq!(rules::normalize_scope(Some("read:x openid read:x".into()), false), "openid read:x");
    assert_eq!(rules::normalize_scope(Some("".into()), false), "openid");
}
