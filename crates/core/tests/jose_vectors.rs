//! Spec vectors for JOSE and PKCE, run against the pure-Rust crypto port.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use gatehouse_core::b64;
use gatehouse_core::jose::jwk::Jwk;
use gatehouse_core::jose::jws::{self, Jws, JwsError};
use gatehouse_core::jose::Algorithm;
use gatehouse_core::ports::Crypto;
use gatehouse_core::rust_crypto::RustCrypto;
use pollster::block_on;
use serde_json::Value;

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn jwk(v: &Value) -> Jwk {
    serde_json::from_value(v["jwk"].clone()).unwrap()
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap()
}

fn signing_input(v: &Value) -> String {
    format!("{}.{}", text(v, "protected_b64"), text(v, "payload_b64"))
}

// RFC 7515 Appendix A.2: RS256 (PKCS#1 v1.5 is deterministic, so the signature matches exactly).
#[test]
fn rfc7515_a2_rs256() {
    let v = vector("rfc7515_a2.json");
    let key = jwk(&v);
    block_on(async {
        let sig =
            RustCrypto.sign(&key, Algorithm::RS256, signing_input(&v).as_bytes()).await.unwrap();
        assert_eq!(b64::encode(&sig), text(&v, "signature_b64"));
        let parsed = Jws::parse(text(&v, "compact"), &[Algorithm::RS256]).unwrap();
        let payload = parsed.verify(&RustCrypto, &[key.to_public()]).await.unwrap();
        assert!(String::from_utf8(payload)
            .unwrap()
            .contains("\"http://example.com/is_root\":true"));
    });
}

// RFC 7515 Appendix A.3: ES256. ECDSA there used a random k, so the example signature is verified,
// and our own (RFC 6979 deterministic) signature is checked for shape and validity.
#[test]
fn rfc7515_a3_es256() {
    let v = vector("rfc7515_a3.json");
    let key = jwk(&v);
    block_on(async {
        let parsed = Jws::parse(text(&v, "compact"), &[Algorithm::ES256]).unwrap();
        parsed.verify(&RustCrypto, &[key.to_public()]).await.unwrap();
        let ours =
            RustCrypto.sign(&key, Algorithm::ES256, signing_input(&v).as_bytes()).await.unwrap();
        assert_eq!(ours.len(), 64, "JWS ES256 signatures are r‖s, 64 octets (RFC 7518 §3.4)");
        assert!(RustCrypto
            .verify(&key.to_public(), Algorithm::ES256, signing_input(&v).as_bytes(), &ours)
            .await
            .unwrap());
        // A flipped bit in the signature or the input fails.
        let mut bad = ours.clone();
        bad[10] ^= 1;
        assert!(!RustCrypto
            .verify(&key.to_public(), Algorithm::ES256, signing_input(&v).as_bytes(), &bad)
            .await
            .unwrap());
        assert!(!RustCrypto
            .verify(&key.to_public(), Algorithm::ES256, b"other input", &ours)
            .await
            .unwrap());
        // DER-encoded or truncated signatures are refused.
        assert!(!RustCrypto
            .verify(&key.to_public(), Algorithm::ES256, signing_input(&v).as_bytes(), &ours[..63])
            .await
            .unwrap());
    });
}

// RFC 7520 §4.1: RSA v1.5 signature with a kid; the whole compact serialization matches.
#[test]
fn rfc7520_4_1_rs256_compact() {
    let v = vector("rfc7520_4_1.json");
    let key = jwk(&v);
    assert_eq!(b64::encode(text(&v, "payload")), text(&v, "payload_b64"));
    block_on(async {
        let compact =
            jws::sign(&RustCrypto, &key, Algorithm::RS256, None, text(&v, "payload").as_bytes())
                .await
                .unwrap();
        assert_eq!(compact, text(&v, "compact"));
        let parsed = Jws::parse(&compact, &[Algorithm::RS256]).unwrap();
        assert_eq!(parsed.kid(), Some("bilbo.baggins@hobbiton.example"));
        let payload = parsed.verify(&RustCrypto, &[key.to_public()]).await.unwrap();
        assert_eq!(payload, text(&v, "payload").as_bytes());
    });
}

// RFC 7638 §3.1: the thumbprint of the example RSA key.
#[test]
fn rfc7638_3_1_thumbprint() {
    let v = vector("rfc7638_3_1.json");
    assert_eq!(jwk(&v).thumbprint().unwrap(), text(&v, "thumbprint_sha256_b64"));
}

// RFC 6979 Appendix A.2.5: deterministic ECDSA P-256 with SHA-256 ("sample", "test").
#[test]
fn rfc6979_a2_5_deterministic_es256() {
    let v = vector("rfc6979_a2_5.json");
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    };
    let key = Jwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: Some(b64::encode(hex(text(&v, "public_ux")))),
        y: Some(b64::encode(hex(text(&v, "public_uy")))),
        d: Some(b64::encode(hex(text(&v, "private_key_x")))),
        ..Jwk::default()
    };
    block_on(async {
        for case in v["signatures"].as_array().unwrap() {
            let message = text(case, "message").as_bytes();
            let sig = RustCrypto.sign(&key, Algorithm::ES256, message).await.unwrap();
            let mut expected = hex(text(case, "r"));
            expected.extend(hex(text(case, "s")));
            assert_eq!(sig, expected, "message {:?}", text(case, "message"));
            assert!(RustCrypto
                .verify(&key.to_public(), Algorithm::ES256, message, &sig)
                .await
                .unwrap());
        }
    });
}

#[test]
fn verification_picks_keys_by_kid_and_refuses_wrong_ones() {
    let a2 = jwk(&vector("rfc7515_a2.json"));
    let a3 = jwk(&vector("rfc7515_a3.json"));
    block_on(async {
        // A JWS signed by the RSA key does not verify with an EC key, nor with the key's private form.
        let compact =
            jws::sign(&RustCrypto, &a2, Algorithm::RS256, Some("JWT"), b"{}").await.unwrap();
        let err = Jws::parse(&compact, &Algorithm::ALL)
            .unwrap()
            .verify(&RustCrypto, &[a3.to_public()])
            .await
            .unwrap_err();
        assert_eq!(err, JwsError::NoMatchingKey);
        let err = Jws::parse(&compact, &Algorithm::ALL)
            .unwrap()
            .verify(&RustCrypto, std::slice::from_ref(&a2))
            .await
            .unwrap_err();
        assert_eq!(err, JwsError::NoMatchingKey);
        // The right key type but another key: a bad signature.
        let other = RustCrypto.generate_signing_key(Algorithm::RS256, [3; 32]).await.unwrap();
        let err = Jws::parse(&compact, &Algorithm::ALL)
            .unwrap()
            .verify(&RustCrypto, &[other.to_public()])
            .await
            .unwrap_err();
        assert_eq!(err, JwsError::BadSignature);
        // A kid that names no key of the set.
        let with_kid = Jwk { kid: Some("k1".into()), ..a3.clone() };
        let compact =
            jws::sign(&RustCrypto, &with_kid, Algorithm::ES256, None, b"{}").await.unwrap();
        let wrong_kid = Jwk { kid: Some("k2".into()), ..a3.to_public() };
        let err = Jws::parse(&compact, &Algorithm::ALL)
            .unwrap()
            .verify(&RustCrypto, &[wrong_kid])
            .await
            .unwrap_err();
        assert_eq!(err, JwsError::NoMatchingKey);
        // Swapping in an alg the key does not fit (RS256 header over an ES256 signature) fails.
        let parts: Vec<&str> = compact.split('.').collect();
        let forged =
            format!("{}.{}.{}", b64::encode(r#"{"alg":"RS256","kid":"k1"}"#), parts[1], parts[2]);
        let err = Jws::parse(&forged, &Algorithm::ALL)
            .unwrap()
            .verify(&RustCrypto, &[with_kid.to_public()])
            .await
            .unwrap_err();
        assert_eq!(err, JwsError::NoMatchingKey);
    });
}

#[test]
fn rsa_keys_below_2048_bits_are_refused_for_verification() {
    // RFC 7518 §3.3: RSA keys of 2048 bits or larger MUST be used. The RFC 7638 key is 2048 bits;
    // a truncated modulus makes a smaller key.
    let v = vector("rfc7515_a2.json");
    let key = jwk(&v);
    let n = b64::decode(key.n.as_deref().unwrap()).unwrap();
    let small = Jwk { n: Some(b64::encode(&n[..128])), ..key.to_public() };
    block_on(async {
        let sig = b64::decode(text(&v, "signature_b64")).unwrap();
        assert!(!RustCrypto
            .verify(&small, Algorithm::RS256, signing_input(&v).as_bytes(), &sig)
            .await
            .unwrap());
    });
}
