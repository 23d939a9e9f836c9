//! In-process tests of the core's HTTP entry point with the in-memory host and a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use gatehouse_core::http::{Request, Response};
use gatehouse_core::jose::jwk::JwkSet;
use gatehouse_core::jose::jws::Jws;
use gatehouse_core::jose::Algorithm;
use gatehouse_core::keys;
use gatehouse_core::memory::{
    FixedClock, MemoryHost, MemoryHttp, MemoryLedger, MemoryStore, SeededRng,
};
use gatehouse_core::ports::{Host, Ledger, PortError, UnixTime};
use gatehouse_core::rust_crypto::RustCrypto;
use gatehouse_core::secret::{SecretBytes, SecretString};
use gatehouse_core::{handle, Config};
use pollster::block_on;
use serde_json::Value;
use std::cell::Cell;

const NOW: i64 = 1_760_000_000;
const ORIGIN: &str = "http://127.0.0.1:8787";

fn config() -> Config {
    Config {
        key_encryption_key: Some(SecretBytes::new(vec![42; 32])),
        admin_token: Some(SecretString::new("operator-token")),
        password_iterations: 1_000,
        ..Config::default()
    }
}

fn get(path: &str) -> Request {
    Request::from_url("GET", &format!("{ORIGIN}{path}")).unwrap()
}

fn call(host: &MemoryHost<RustCrypto>, request: Request) -> Response {
    block_on(handle(host, &config(), &request))
}

fn json(r: &Response) -> Value {
    r.json_body().expect("JSON body")
}

fn host() -> MemoryHost<RustCrypto> {
    MemoryHost::new(RustCrypto, NOW, 7)
}

#[test]
fn discovery_names_the_issuer_and_jwks() {
    let host = host();
    let r = call(&host, get("/.well-known/openid-configuration"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let doc = json(&r);
    assert_eq!(doc["issuer"], "http://127.0.0.1:8787/");
    assert_eq!(doc["jwks_uri"], "http://127.0.0.1:8787/.well-known/jwks.json");
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256"]));
    for (name, path) in [
        ("authorization_endpoint", "authorize"),
        ("token_endpoint", "oauth/token"),
        ("userinfo_endpoint", "userinfo"),
        ("revocation_endpoint", "oauth/revoke"),
        ("introspection_endpoint", "oauth/introspect"),
        ("end_session_endpoint", "oidc/logout"),
        ("device_authorization_endpoint", "oauth/device/code"),
        ("pushed_authorization_request_endpoint", "oauth/par"),
        ("backchannel_authentication_endpoint", "bc-authorize"),
    ] {
        assert_eq!(doc[name], format!("http://127.0.0.1:8787/{path}"), "{name}");
    }
    assert_eq!(
        doc["response_types_supported"],
        serde_json::json!([
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ])
    );
    // Exactly the grants the token endpoint serves.
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "http://auth0.com/oauth/grant-type/password-realm",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:openid:params:grant-type:ciba",
            "implicit"
        ])
    );
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    // Nothing unimplemented is advertised.
    for absent in
        ["registration_endpoint", "backchannel_authentication_request_signing_alg_values_supported"]
    {
        assert!(doc.get(absent).is_none(), "{absent}");
    }
    // A configured issuer wins over the request origin.
    let configured = Config { issuer: Some("https://auth.example.com/".into()), ..config() };
    let r = block_on(handle(&host, &configured, &get("/.well-known/openid-configuration")));
    assert_eq!(json(&r)["issuer"], "https://auth.example.com/");
    assert_eq!(json(&r)["jwks_uri"], "https://auth.example.com/.well-known/jwks.json");
}

#[test]
fn jwks_publishes_rsa_and_p256_public_keys_with_thumbprint_kids() {
    let host = host();
    let r = call(&host, get("/.well-known/jwks.json"));
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").unwrap().starts_with("public, max-age="));
    let raw = json(&r);
    for key in raw["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "private member {private} published");
        }
    }
    let set: JwkSet = serde_json::from_value(raw).unwrap();
    assert_eq!(set.keys.iter().filter(|k| k.kty == "RSA").count(), 2, "current and next RSA keys");
    assert_eq!(
        set.keys.iter().filter(|k| k.kty == "EC" && k.crv.as_deref() == Some("P-256")).count(),
        2
    );
    for key in &set.keys {
        assert_eq!(key.kid, key.thumbprint());
    }
    // The same keys on every later request.
    assert_eq!(json(&call(&host, get("/.well-known/jwks.json"))), json(&r));
}

#[test]
fn signed_metadata_verifies_against_the_jwks() {
    let host = host();
    let doc = json(&call(&host, get("/.well-known/oauth-authorization-server")));
    assert_eq!(doc["issuer"], "http://127.0.0.1:8787/");
    let jwks: JwkSet =
        serde_json::from_value(json(&call(&host, get("/.well-known/jwks.json")))).unwrap();
    let jws = Jws::parse(doc["signed_metadata"].as_str().unwrap(), &[Algorithm::RS256]).unwrap();
    assert_eq!(jws.typ(), Some("JWT"));
    let claims: Value =
        serde_json::from_slice(&block_on(jws.verify(&RustCrypto, &jwks.keys)).unwrap()).unwrap();
    assert_eq!(claims["iss"], "http://127.0.0.1:8787/");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["jwks_uri"], doc["jwks_uri"]);
}

#[test]
fn unknown_paths_and_wrong_methods() {
    let host = host();
    for path in [
        "/",
        "/nope",
        "/.well-known/jwks.json/",
        "/.well-known/JWKS.json",
        "/%2e%2e/admin/keys",
        "/\u{202e}",
    ] {
        let r = call(&host, get(path));
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(json(&r)["error"], "not_found");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "BREW"] {
        let r = call(
            &host,
            Request::from_url(method, &format!("{ORIGIN}/.well-known/jwks.json")).unwrap(),
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(json(&r)["error"], "method_not_allowed");
    }
    let head = call(
        &host,
        Request::from_url("HEAD", &format!("{ORIGIN}/.well-known/openid-configuration")).unwrap(),
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let preflight = call(
        &host,
        Request::from_url("OPTIONS", &format!("{ORIGIN}/.well-known/jwks.json"))
            .unwrap()
            .with_header("origin", "https://app.example")
            .with_header("access-control-request-method", "GET"),
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    // Admin routes answer no preflight.
    let r = call(&host, Request::from_url("OPTIONS", &format!("{ORIGIN}/admin/keys")).unwrap());
    assert_eq!(r.status, 405);
}

fn admin(method: &str, path: &str, token: Option<&str>) -> Request {
    let r = Request::from_url(method, &format!("{ORIGIN}{path}")).unwrap();
    match token {
        Some(t) => r.with_header("Authorization", &format!("Bearer {t}")),
        None => r,
    }
}

#[test]
fn admin_endpoints_need_the_operator_token() {
    let host = host();
    for token in [None, Some("wrong"), Some("operator-token2"), Some("")] {
        let r = call(&host, admin("POST", "/admin/keys/rotate", token));
        assert_eq!(r.status, 401, "{token:?}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    let basic = admin("GET", "/admin/keys", None)
        .with_header("authorization", "Basic b3BlcmF0b3ItdG9rZW4=");
    assert_eq!(call(&host, basic).status, 401);
    // Without an ADMIN_TOKEN configured the endpoints do not exist.
    let open = Config { admin_token: None, ..config() };
    let r = block_on(handle(&host, &open, &admin("POST", "/admin/keys/rotate", Some("anything"))));
    assert_eq!(r.status, 404);
    assert!(host.store.keys().is_empty(), "refused calls wrote nothing");
}

#[test]
fn rotation_through_the_admin_endpoint() {
    let host = host();
    let before: JwkSet =
        serde_json::from_value(json(&call(&host, get("/.well-known/jwks.json")))).unwrap();
    let r = call(&host, admin("POST", "/admin/keys/rotate", Some("operator-token")));
    assert_eq!(r.status, 200);
    assert_eq!(json(&r)["generation"], 2);
    // The public documents may be reused by a host briefly; a rotation tells it to drop them.
    assert!(call(&host, get("/.well-known/jwks.json")).reusable_for_seconds > 0);
    assert!(call(&host, get("/.well-known/openid-configuration")).reusable_for_seconds > 0);
    assert!(r.invalidates_reusable);
    let refused = call(&host, admin("POST", "/admin/keys/rotate", Some("wrong")));
    assert!(!refused.invalidates_reusable && refused.reusable_for_seconds == 0);
    // The store's copy was refreshed, so readers see the rotation at once.
    let after: JwkSet =
        serde_json::from_value(json(&call(&host, get("/.well-known/jwks.json")))).unwrap();
    assert_eq!(after.keys.len(), 6);
    for key in &before.keys {
        assert!(after.keys.contains(key), "every earlier key is still published");
    }
    let listed = json(&call(&host, admin("GET", "/admin/keys", Some("operator-token"))));
    let retired =
        listed["keys"].as_array().unwrap().iter().filter(|k| k["status"] == "retired").count();
    assert_eq!(retired, 2);
    assert!(!listed.to_string().contains("sealed"), "no key material in the listing");
}

#[test]
fn tenant_import() {
    let host = host();
    let body = br#"{"clients":[{"client_id":"spa","name":"SPA","app_type":"spa","redirect_uris":["http://127.0.0.1:5173/"]}],
                    "users":[{"user_id":"u1","email":"a@example.com","password":"longenough"}]}"#;
    let put = |ct: &str, body: &[u8]| {
        admin("PUT", "/admin/tenant", Some("operator-token"))
            .with_header("content-type", ct)
            .with_body(body.to_vec())
    };
    let r = call(&host, put("application/json", body));
    assert_eq!(r.status, 200);
    assert_eq!(
        json(&r)["imported"],
        serde_json::json!({"clients":1,"apis":0,"users":1,"client_grants":0})
    );
    assert_eq!(call(&host, put("text/plain", body)).status, 400);
    let r = call(&host, put("application/json", b"{\"clients\":[{}]}"));
    assert_eq!((r.status, json(&r)["error"].as_str()), (400, Some("invalid_request")));
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(call(&host, put("application/json", &huge)).status, 400);
}

#[test]
fn port_failures_become_server_error_without_detail() {
    let host = host();
    let no_kek = Config { key_encryption_key: None, ..config() };
    let r = block_on(handle(&host, &no_kek, &get("/.well-known/jwks.json")));
    assert_eq!(r.status, 500);
    assert_eq!(json(&r)["error"], "server_error");
    assert!(!String::from_utf8_lossy(&r.body).contains("KEY_ENCRYPTION_KEY"));
    assert!(
        host.log.borrow().iter().any(|l| l.contains("KEY_ENCRYPTION_KEY")),
        "the operator's log says why"
    );
}

/// A ledger on which another isolate wins the first compare-and-set race.
struct RacingLedger {
    inner: MemoryLedger,
    competitor: Cell<Option<String>>,
}

impl Ledger for RacingLedger {
    async fn consume_once(
        &self,
        key: &str,
        now: UnixTime,
        exp: UnixTime,
    ) -> Result<bool, PortError> {
        self.inner.consume_once(key, now, exp).await
    }
    async fn get(&self, key: &str, now: UnixTime) -> Result<Option<String>, PortError> {
        self.inner.get(key, now).await
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: UnixTime,
        exp: Option<UnixTime>,
    ) -> Result<bool, PortError> {
        if let Some(theirs) = self.competitor.take() {
            assert!(self.inner.compare_and_set(key, None, &theirs, now, None).await?);
        }
        self.inner.compare_and_set(key, expected, new, now, exp).await
    }
    async fn compare_and_set_all(
        &self,
        swaps: &[gatehouse_core::ports::Swap],
        now: UnixTime,
    ) -> Result<bool, PortError> {
        self.inner.compare_and_set_all(swaps, now).await
    }
    async fn count(&self, key: &str, now: UnixTime) -> Result<u64, PortError> {
        self.inner.count(key, now).await
    }
    async fn increment(&self, key: &str, now: UnixTime, exp: UnixTime) -> Result<u64, PortError> {
        self.inner.increment(key, now, exp).await
    }
}

struct RacingHost {
    base: MemoryHost<RustCrypto>,
    ledger: RacingLedger,
}

impl Host for RacingHost {
    type Store = MemoryStore;
    type Ledger = RacingLedger;
    type Crypto = RustCrypto;
    type Http = MemoryHttp;
    type Clock = FixedClock;
    type Rng = SeededRng;
    fn store(&self) -> &MemoryStore {
        &self.base.store
    }
    fn ledger(&self) -> &RacingLedger {
        &self.ledger
    }
    fn crypto(&self) -> &RustCrypto {
        &self.base.crypto
    }
    fn http(&self) -> &MemoryHttp {
        &self.base.http
    }
    fn clock(&self) -> &FixedClock {
        &self.base.clock
    }
    fn rng(&self) -> &SeededRng {
        &self.base.rng
    }
}

#[test]
fn a_lost_creation_race_adopts_the_winners_keys() {
    // The competitor's set, made by another "isolate" with other randomness.
    let other = MemoryHost::new(RustCrypto, NOW, 99);
    let theirs = block_on(keys::load(&other, &config())).unwrap();
    let theirs_text = block_on(other.ledger.get(keys::LEDGER_KEY, NOW)).unwrap().unwrap();
    let racing = RacingHost {
        base: host(),
        ledger: RacingLedger {
            inner: MemoryLedger::default(),
            competitor: Cell::new(Some(theirs_text)),
        },
    };
    let ours = block_on(keys::load(&racing, &config())).unwrap();
    assert_eq!(ours, theirs, "the loser uses the winner's keys");
    let jwks: JwkSet = serde_json::from_value(json(&block_on(handle(
        &racing,
        &config(),
        &get("/.well-known/jwks.json"),
    ))))
    .unwrap();
    assert_eq!(jwks, theirs.jwks(NOW));
    // And it can sign with them (the winner sealed them under the same key-encryption key).
    let token = block_on(keys::sign(&racing, &config(), Algorithm::ES256, None, b"{}")).unwrap();
    let kid = Jws::parse(&token, &[Algorithm::ES256]).unwrap().kid().map(str::to_string);
    assert_eq!(kid.as_deref(), theirs.current(Algorithm::ES256).map(|k| k.kid.as_str()));
}
