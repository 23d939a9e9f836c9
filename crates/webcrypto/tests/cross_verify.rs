//! WebCrypto and the pure-Rust reference verify each other's signatures, open each other's
//! ciphertexts and derive the same PBKDF2 bits. Runs in headless Chromium (`wasm-pack test`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test
#![cfg(target_arch = "wasm32")]

use gatehouse_core::b64;
use gatehouse_core::config::Config;
use gatehouse_core::jose::jwk::Jwk;
use gatehouse_core::jose::jws::Jws;
use gatehouse_core::jose::Algorithm;
use gatehouse_core::keys;
use gatehouse_core::memory::MemoryHost;
use gatehouse_core::ports::Crypto;
use gatehouse_core::rust_crypto::RustCrypto;
use gatehouse_core::secret::SecretBytes;
use gatehouse_webcrypto::WebCrypto;
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn vector(text: &str) -> (Jwk, String, String) {
    let v: Value = serde_json::from_str(text).unwrap();
    let jwk: Jwk = serde_json::from_value(v["jwk"].clone()).unwrap();
    let input =
        format!("{}.{}", v["protected_b64"].as_str().unwrap(), v["payload_b64"].as_str().unwrap());
    (jwk, input, v["signature_b64"].as_str().unwrap().to_string())
}

const RFC7515_A2: &str = include_str!("../../core/tests/vectors/rfc7515_a2.json");
const RFC7515_A3: &str = include_str!("../../core/tests/vectors/rfc7515_a3.json");

// RFC 7515 Appendix A.2: WebCrypto's RS256 signature equals the RFC's, byte for byte.
#[wasm_bindgen_test]
async fn rs256_matches_rfc7515_a2_and_the_reference() {
    let (key, input, expected) = vector(RFC7515_A2);
    let ours = WebCrypto.sign(&key, Algorithm::RS256, input.as_bytes()).await.unwrap();
    assert_eq!(b64::encode(&ours), expected);
    let reference = RustCrypto.sign(&key, Algorithm::RS256, input.as_bytes()).await.unwrap();
    assert_eq!(ours, reference);
    assert!(WebCrypto
        .verify(&key.to_public(), Algorithm::RS256, input.as_bytes(), &ours)
        .await
        .unwrap());
    assert!(!WebCrypto
        .verify(&key.to_public(), Algorithm::RS256, b"tampered", &ours)
        .await
        .unwrap());
}

// RFC 7515 Appendix A.3: the RFC's ES256 signature verifies in WebCrypto; WebCrypto's (random-k)
// signatures verify in the reference and the reference's (RFC 6979) verify in WebCrypto.
#[wasm_bindgen_test]
async fn es256_cross_verifies() {
    let (key, input, rfc_signature) = vector(RFC7515_A3);
    let public = key.to_public();
    let rfc_signature = b64::decode(&rfc_signature).unwrap();
    assert!(WebCrypto
        .verify(&public, Algorithm::ES256, input.as_bytes(), &rfc_signature)
        .await
        .unwrap());
    let web = WebCrypto.sign(&key, Algorithm::ES256, input.as_bytes()).await.unwrap();
    assert_eq!(web.len(), 64);
    assert!(RustCrypto.verify(&public, Algorithm::ES256, input.as_bytes(), &web).await.unwrap());
    let reference = RustCrypto.sign(&key, Algorithm::ES256, input.as_bytes()).await.unwrap();
    assert!(WebCrypto
        .verify(&public, Algorithm::ES256, input.as_bytes(), &reference)
        .await
        .unwrap());
    let mut bad = web.clone();
    bad[0] ^= 0x80;
    assert!(!WebCrypto.verify(&public, Algorithm::ES256, input.as_bytes(), &bad).await.unwrap());
    assert!(!WebCrypto
        .verify(&public, Algorithm::ES256, input.as_bytes(), &web[..63])
        .await
        .unwrap());
}

// Keys WebCrypto generates are usable by the reference, and the other way round; PS256 (which
// clients sign request objects with) included.
#[wasm_bindgen_test]
async fn generated_keys_work_in_both() {
    for alg in Algorithm::CLIENT_SIGNED {
        let web_key = WebCrypto.generate_signing_key(alg, [0; 32]).await.unwrap();
        assert!(web_key.is_private() && web_key.fits(alg));
        assert!(web_key.thumbprint().is_some());
        let sig = WebCrypto.sign(&web_key, alg, b"payload").await.unwrap();
        assert!(
            RustCrypto.verify(&web_key.to_public(), alg, b"payload", &sig).await.unwrap(),
            "{alg}"
        );
        let sig = RustCrypto.sign(&web_key, alg, b"payload").await.unwrap();
        assert!(
            WebCrypto.verify(&web_key.to_public(), alg, b"payload", &sig).await.unwrap(),
            "{alg}"
        );
    }
    let rust_key = RustCrypto.generate_signing_key(Algorithm::ES256, [5; 32]).await.unwrap();
    let sig = WebCrypto.sign(&rust_key, Algorithm::ES256, b"x").await.unwrap();
    assert!(RustCrypto.verify(&rust_key.to_public(), Algorithm::ES256, b"x", &sig).await.unwrap());
}

#[wasm_bindgen_test]
async fn refuses_unusable_keys_without_failing() {
    let (key, input, sig) = vector(RFC7515_A2);
    let sig = b64::decode(&sig).unwrap();
    let garbage = Jwk { n: Some("AAAA".into()), ..key.to_public() };
    assert!(!WebCrypto.verify(&garbage, Algorithm::RS256, input.as_bytes(), &sig).await.unwrap());
    let ec_garbage = Jwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: Some("AA".into()),
        y: Some("AA".into()),
        ..Jwk::default()
    };
    assert!(!WebCrypto.verify(&ec_garbage, Algorithm::ES256, b"x", &[0; 64]).await.unwrap());
    // A private key is never used to verify, and a public key cannot sign.
    assert!(!WebCrypto.verify(&key, Algorithm::RS256, input.as_bytes(), &sig).await.unwrap());
    assert!(WebCrypto.sign(&key.to_public(), Algorithm::RS256, b"x").await.is_err());
}

#[wasm_bindgen_test]
async fn aes_gcm_interoperates() {
    let key = SecretBytes::new(vec![7; 32]);
    let nonce = [9u8; 12];
    let sealed = WebCrypto.aes_gcm_seal(&key, &nonce, b"kid", b"private jwk").await.unwrap();
    assert_eq!(
        sealed,
        RustCrypto.aes_gcm_seal(&key, &nonce, b"kid", b"private jwk").await.unwrap()
    );
    let opened = RustCrypto.aes_gcm_open(&key, &nonce, b"kid", &sealed).await.unwrap().unwrap();
    assert_eq!(opened.expose(), b"private jwk");
    assert!(WebCrypto.aes_gcm_open(&key, &nonce, b"other kid", &sealed).await.unwrap().is_none());
    let mut tampered = sealed.clone();
    tampered[0] ^= 1;
    assert!(WebCrypto.aes_gcm_open(&key, &nonce, b"kid", &tampered).await.unwrap().is_none());
}

#[wasm_bindgen_test]
async fn pbkdf2_matches_the_reference_and_the_cap() {
    let web = WebCrypto.pbkdf2_sha256(b"passwd", b"salt", 1).await.unwrap();
    // RFC 7914 §11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1), first 32 octets.
    assert_eq!(
        b64::encode(web),
        b64::encode([
            0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44,
            0xb6, 0x05, 0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57,
            0xc2, 0x0d, 0xac, 0xbc,
        ])
    );
    let a = WebCrypto.pbkdf2_sha256(b"correct horse", b"0123456789abcdef", 1000).await.unwrap();
    let b = RustCrypto.pbkdf2_sha256(b"correct horse", b"0123456789abcdef", 1000).await.unwrap();
    assert_eq!(a, b);
    assert!(WebCrypto.pbkdf2_sha256(b"x", b"salt", 100_001).await.is_err());
}

// The issuer's whole signing path (generate, seal, store, unseal, sign) on WebCrypto; the
// reference verifies the result against the published JWKS.
#[wasm_bindgen_test]
async fn the_key_set_signs_on_webcrypto() {
    let host = MemoryHost::new(WebCrypto, 1_760_000_000, 3);
    let config =
        Config { key_encryption_key: Some(SecretBytes::new(vec![1; 32])), ..Config::default() };
    let set = keys::load(&host, &config).await.unwrap();
    let jwks = set.jwks(1_760_000_000);
    assert_eq!(jwks.keys.len(), 4);
    for alg in Algorithm::ALL {
        let token = keys::sign(&host, &config, alg, Some("JWT"), br#"{"iss":"x"}"#).await.unwrap();
        let payload =
            Jws::parse(&token, &[alg]).unwrap().verify(&RustCrypto, &jwks.keys).await.unwrap();
        assert_eq!(payload, br#"{"iss":"x"}"#);
    }
}

// Imported keys are cached by their material, never by the client-chosen kid: a second key
// with the same kid is a different key.
#[wasm_bindgen_test]
async fn the_key_cache_is_not_fooled_by_a_shared_kid() {
    let a = Jwk {
        kid: Some("same".into()),
        ..RustCrypto.generate_signing_key(Algorithm::ES256, [1; 32]).await.unwrap()
    };
    let b = Jwk {
        kid: Some("same".into()),
        ..RustCrypto.generate_signing_key(Algorithm::ES256, [2; 32]).await.unwrap()
    };
    let by_a = RustCrypto.sign(&a, Algorithm::ES256, b"msg").await.unwrap();
    let by_b = RustCrypto.sign(&b, Algorithm::ES256, b"msg").await.unwrap();
    assert!(WebCrypto.verify(&a.to_public(), Algorithm::ES256, b"msg", &by_a).await.unwrap());
    assert!(
        !WebCrypto.verify(&b.to_public(), Algorithm::ES256, b"msg", &by_a).await.unwrap(),
        "A's signature is not B's"
    );
    assert!(WebCrypto.verify(&b.to_public(), Algorithm::ES256, b"msg", &by_b).await.unwrap());
    // And for signing: each private key signs as itself.
    let signed = WebCrypto.sign(&b, Algorithm::ES256, b"msg").await.unwrap();
    assert!(RustCrypto.verify(&b.to_public(), Algorithm::ES256, b"msg", &signed).await.unwrap());
    let signed = WebCrypto.sign(&a, Algorithm::ES256, b"msg").await.unwrap();
    assert!(RustCrypto.verify(&a.to_public(), Algorithm::ES256, b"msg", &signed).await.unwrap());
}
