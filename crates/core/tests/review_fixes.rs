//! Regression tests for review findings: logout hints and confirmation, client assertion
//! audiences and `jwks_uri` refetches, introspection `token_type`, revocation hints and JSON
//! bodies, registered JWK Sets, and RFC 7592 downgrades.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::b64;
use gatehouse_core::http::{Request, Response};
use gatehouse_core::jose::jwk::Jwk;
use gatehouse_core::jose::jws;
use gatehouse_core::jose::Algorithm;
use gatehouse_core::ports::Crypto;
use gatehouse_core::rust_crypto::RustCrypto;
use pollster::block_on;
use serde_json::{json, Value};
use support::*;

const SPA_QUERY: &[(&str, &str)] = &[
    ("client_id", SPA),
    ("redirect_uri", SPA_REDIRECT),
    ("response_type", "code"),
    ("scope", "openid profile email offline_access read:messages"),
    ("audience", API),
    ("state", "st-1"),
    ("nonce", "n-1"),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
];
const SPA_LOGOUT_ENCODED: &str = "http%3A%2F%2F127.0.0.1%3A5173%2F";

fn spa_tokens(world: &World) -> Value {
    let done = world.code_flow(SPA_QUERY);
    let code = redirect_params(&done).get("code").unwrap().expect("a code").to_string();
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)
}

/// Tokens for the `post` client (client_secret_post), with a refresh token.
fn post_client_tokens(world: &World) -> Value {
    let done = world.code_flow(&[
        ("client_id", POST_CLIENT),
        ("redirect_uri", "https://post.example/cb"),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
    ]);
    let code = redirect_params(&done).get("code").unwrap().expect("a code").to_string();
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", POST_CLIENT),
            ("client_secret", POST_SECRET),
            ("code", &code),
            ("redirect_uri", "https://post.example/cb"),
        ],
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tokens = json(&r);
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    tokens
}

/// Whether Ada's browser session is still live (`prompt=none` gets a code).
fn logged_in(world: &World) -> bool {
    let mut q = SPA_QUERY.to_vec();
    q.push(("prompt", "none"));
    redirect_params(&world.authorize(&q)).get("code").unwrap().is_some()
}

/// Every hidden input of a page, unescaped: what a browser submits with the form.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|tail| {
            let name = tail.split("name=\"").nth(1).unwrap().split('"').next().unwrap();
            let value = tail.split("value=\"").nth(1).unwrap().split('"').next().unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

// S4: a confirmation asked because the hint names another user carries the hint, so the
// confirmed POST can still check post_logout_redirect_uri against the hint's client.
#[test]
fn logout_confirmation_for_another_users_hint_completes() {
    let world = World::new();
    world.import(&json!({"users": [{"user_id": "u|bob", "email": "bob@example.com", "password": "bob-password-1"}]}));
    let first = world.authorize(SPA_QUERY);
    let after = world.login_from(&first, "bob@example.com", "bob-password-1");
    let code =
        redirect_params(&world.get(&location(&after))).get("code").unwrap().unwrap().to_string();
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ));
    let bobs = json(&r)["id_token"].as_str().unwrap().to_string();
    // Ada, in another browser, follows a logout link carrying Bob's hint.
    world.cookies.borrow_mut().clear();
    spa_tokens(&world);
    let ask = world.get(&format!(
        "/oidc/logout?id_token_hint={bobs}&post_logout_redirect_uri={SPA_LOGOUT_ENCODED}&state=bye"
    ));
    assert_eq!(ask.status, 200);
    let html = String::from_utf8(ask.body).unwrap();
    assert!(html.contains("Log out?"));
    assert!(logged_in(&world), "asked, not logged out");
    let fields = hidden_fields(&html);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let confirmed = world.post_form("/oidc/logout", &pairs);
    assert_eq!(
        (confirmed.status, location(&confirmed).as_str()),
        (302, "http://127.0.0.1:5173/?state=bye"),
        "{}",
        String::from_utf8_lossy(&confirmed.body)
    );
    assert!(!logged_in(&world));
}

// S5: only an ID token is an id_token_hint; other JWTs this issuer signs are refused.
#[test]
fn logout_hint_must_be_an_id_token() {
    let world = World::new();
    let tokens = spa_tokens(&world);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let metadata = json(&world.get("/.well-known/oauth-authorization-server"));
    let signed_metadata = metadata["signed_metadata"].as_str().unwrap().to_string();
    for (hint, what) in
        [(&access, "an RFC 9068 access token"), (&signed_metadata, "signed_metadata")]
    {
        for query in [
            format!("id_token_hint={hint}"),
            format!("id_token_hint={hint}&post_logout_redirect_uri={SPA_LOGOUT_ENCODED}"),
        ] {
            let r = world.get(&format!("/oidc/logout?{query}"));
            assert_eq!(r.status, 400, "{what}: {}", String::from_utf8_lossy(&r.body));
            assert!(String::from_utf8_lossy(&r.body).contains("invalid_request"), "{what}");
            assert!(logged_in(&world), "{what}: the session survives");
        }
    }
    // §2: an expired ID token is still a good hint.
    world.host.clock.advance(7 * 86_400);
    let r = world.get(&format!(
        "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={SPA_LOGOUT_ENCODED}&state=s"
    ));
    assert_eq!(
        (r.status, location(&r).as_str()),
        (302, "http://127.0.0.1:5173/?state=s"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

fn private_key_client(world: &World, key: &Jwk, via_uri: bool) {
    let public = Jwk { kid: Some("k1".into()), ..key.to_public() };
    let mut client = json!({"client_id": "pkj", "name": "PKJ", "app_type": "regular_web",
        "token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["https://pkj.example/cb"]});
    if via_uri {
        client["jwks_uri"] = "https://pkj.example/jwks.json".into();
        world.host.http.responses.borrow_mut().insert(
            "https://pkj.example/jwks.json".into(),
            Response::json(200, &json!({"keys": [public]})),
        );
    } else {
        client["jwks"] = json!({"keys": [public]});
    }
    world.import(&json!({"clients": [client]}));
}

fn signing_key() -> Jwk {
    block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [8; 32])).unwrap()
}

fn assertion(key: &Jwk, kid: &str, claims: Value) -> String {
    let key = Jwk { kid: Some(kid.into()), ..key.clone() };
    block_on(jws::sign(&RustCrypto, &key, Algorithm::ES256, None, claims.to_string().as_bytes()))
        .unwrap()
}

fn claims_for(world: &World, aud: Value, jti: &str) -> Value {
    json!({"iss": "pkj", "sub": "pkj", "aud": aud, "exp": world.now() + 60, "jti": jti})
}

/// A revocation request (of an unknown token) authenticated by `assertion`: 200 iff the client
/// authenticated.
fn revoke_with(world: &World, path: &str, assertion: &str) -> Response {
    world.call(form_request(
        path,
        &[
            ("token", "nope"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ],
    ))
}

fn fetches(world: &World) -> usize {
    world.host.http.requests.borrow().len()
}

// S7: the assertion's aud is the issuer (or, for older clients, the token endpoint), as a
// single string; other endpoint URLs and arrays are refused.
#[test]
fn client_assertion_aud_is_the_issuer_or_the_token_endpoint() {
    let world = World::new();
    let key = signing_key();
    private_key_client(&world, &key, false);
    let token_endpoint = format!("{ISSUER}oauth/token");
    for (i, (path, aud, status)) in [
        ("/oauth/revoke", json!(ISSUER), 200),
        ("/oauth/introspect", json!(ISSUER), 200),
        ("/oauth/revoke", json!(token_endpoint), 200),
        ("/oauth/revoke", json!(format!("{ISSUER}oauth/revoke")), 401),
        ("/oauth/introspect", json!(format!("{ISSUER}oauth/introspect")), 401),
        ("/oauth/revoke", json!([ISSUER]), 401),
        ("/oauth/revoke", json!([token_endpoint]), 401),
        ("/oauth/revoke", json!([ISSUER, "https://elsewhere.example/"]), 401),
    ]
    .into_iter()
    .enumerate()
    {
        let a = assertion(&key, "k1", claims_for(&world, aud.clone(), &format!("j-{i}")));
        let r = revoke_with(&world, path, &a);
        assert_eq!(r.status, status, "{path} aud {aud}: {}", String::from_utf8_lossy(&r.body));
        if status == 401 {
            assert_eq!(json(&r)["error"], "invalid_client");
        }
    }
}

// S8: unknown kids refetch the jwks_uri at most once per client per window.
#[test]
fn unknown_kids_refetch_the_jwks_uri_at_most_once_per_window() {
    let world = World::new();
    let key = signing_key();
    private_key_client(&world, &key, true);
    for i in 0..10 {
        let a = assertion(
            &key,
            &format!("rotated-{i}"),
            claims_for(&world, json!(ISSUER), &format!("f-{i}")),
        );
        assert_eq!(revoke_with(&world, "/oauth/revoke", &a).status, 401);
    }
    assert_eq!(fetches(&world), 1, "one fetch for ten unknown kids");
    // The client's real key still works from the cache.
    let good = assertion(&key, "k1", claims_for(&world, json!(ISSUER), "good-1"));
    assert_eq!(revoke_with(&world, "/oauth/revoke", &good).status, 200);
    assert_eq!(fetches(&world), 1);
    // The next window allows one more.
    world.host.clock.advance(60);
    for i in 10..15 {
        let a = assertion(
            &key,
            &format!("rotated-{i}"),
            claims_for(&world, json!(ISSUER), &format!("f-{i}")),
        );
        assert_eq!(revoke_with(&world, "/oauth/revoke", &a).status, 401);
    }
    assert_eq!(fetches(&world), 2);
}

// S8: what can be checked without the signature is checked before any fetch.
#[test]
fn a_client_assertion_that_fails_unsigned_checks_fetches_nothing() {
    let world = World::new();
    let key = signing_key();
    private_key_client(&world, &key, true);
    let now = world.now();
    for (kid, claims, why) in [
        ("k1", claims_for(&world, json!("https://elsewhere.example/"), "a"), "bad aud, known kid"),
        ("new", claims_for(&world, json!("https://elsewhere.example/"), "b"), "bad aud"),
        (
            "new",
            json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": now - 1, "jti": "c"}),
            "expired",
        ),
        ("new", json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": now + 60}), "no jti"),
        (
            "new",
            json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": now + 60, "nbf": now + 600, "jti": "d"}),
            "not yet valid",
        ),
        (
            "new",
            json!({"iss": "web", "sub": "web", "aud": ISSUER, "exp": now + 60, "jti": "e"}),
            "not a private_key_jwt client",
        ),
    ] {
        let r = revoke_with(&world, "/oauth/revoke", &assertion(&key, kid, claims));
        assert_eq!(r.status, 401, "{why}");
        assert_eq!(fetches(&world), 0, "{why}: no jwks_uri fetch");
    }
}

// RFC 7662 §2.2: token_type is the RFC 6749 §7.1 type of an access token.
#[test]
fn introspection_says_bearer_for_access_tokens() {
    let world = World::new();
    let tokens = spa_tokens(&world);
    let r = world.call(
        form_request("/oauth/introspect", &[("token", tokens["access_token"].as_str().unwrap())])
            .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    let body = json(&r);
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    // A refresh token is not a §7.1 access token type: no token_type.
    let tokens = post_client_tokens(&world);
    let r = world.call(form_request(
        "/oauth/introspect",
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", POST_CLIENT),
            ("client_secret", POST_SECRET),
        ],
    ));
    let body = json(&r);
    assert_eq!(body["active"], true, "{body}");
    assert!(body.get("token_type").is_none(), "{body}");
}

// RFC 7009 §2.1: an unknown token_type_hint is ignored.
#[test]
fn revocation_ignores_an_unknown_token_type_hint() {
    let world = World::new();
    let tokens = spa_tokens(&world);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = world.call(form_request(
        "/oauth/revoke",
        &[("token", refresh), ("client_id", SPA), ("token_type_hint", "banana")],
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = world.call(form_request(
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", refresh)],
    ));
    assert_eq!(json(&r)["error"], "invalid_grant", "the grant was revoked");
}

// Auth0's Node SDK revokes with a JSON body and client_secret_post.
#[test]
fn revocation_accepts_a_json_body() {
    let world = World::new();
    let tokens = post_client_tokens(&world);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = world.call(
        Request::from_url("POST", &absolute("/oauth/revoke"))
            .unwrap()
            .with_header("content-type", "application/json")
            .with_body(
                json!({"client_id": POST_CLIENT, "client_secret": POST_SECRET, "token": refresh})
                    .to_string(),
            ),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", POST_CLIENT),
            ("client_secret", POST_SECRET),
            ("refresh_token", refresh),
        ],
    ));
    assert_eq!(json(&r)["error"], "invalid_grant");
}

fn register(world: &World, body: &Value) -> Response {
    world.call(
        Request::from_url("POST", &absolute("/oidc/register"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {INITIAL}"))
            .with_header("content-type", "application/json")
            .with_body(body.to_string()),
    )
}

// RFC 7518 §6.2.1, §6.3.1, §3.3: what Jwk::is_usable_public_key accepts.
#[test]
fn usable_public_keys() {
    let c32 = Some(b64::encode([7u8; 32]));
    let ec = Jwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: c32.clone(),
        y: c32.clone(),
        ..Jwk::default()
    };
    assert!(ec.is_usable_public_key());
    assert!(!Jwk { y: None, ..ec.clone() }.is_usable_public_key());
    assert!(!Jwk { x: Some("garbage".into()), ..ec.clone() }.is_usable_public_key());
    assert!(!Jwk { x: Some(b64::encode([7u8; 33])), ..ec.clone() }.is_usable_public_key());
    assert!(!Jwk { crv: Some("P-384".into()), ..ec.clone() }.is_usable_public_key());
    assert!(!Jwk { d: c32, ..ec }.is_usable_public_key());
    // A 2048-bit modulus, even with a leading zero octet; 2047 bits is too short.
    let rsa = Jwk {
        kty: "RSA".into(),
        n: Some(b64::encode([0x80u8; 256])),
        e: Some("AQAB".into()),
        ..Jwk::default()
    };
    assert!(rsa.is_usable_public_key());
    let mut padded = vec![0u8];
    padded.extend([0x80u8; 256]);
    assert!(Jwk { n: Some(b64::encode(&padded)), ..rsa.clone() }.is_usable_public_key());
    let mut short = vec![0x7fu8];
    short.extend([0xffu8; 255]);
    assert!(!Jwk { n: Some(b64::encode(&short)), ..rsa.clone() }.is_usable_public_key());
    assert!(!Jwk { e: None, ..rsa.clone() }.is_usable_public_key());
    assert!(!Jwk { e: Some("AA".into()), ..rsa.clone() }.is_usable_public_key());
    assert!(!Jwk { alg: Some("ES256".into()), ..rsa }.is_usable_public_key());
    assert!(!Jwk { kty: "oct".into(), ..Jwk::default() }.is_usable_public_key());
}

fn ec_public() -> Value {
    serde_json::to_value(signing_key().to_public()).unwrap()
}

// RFC 7591 §2: registered keys must be public keys Gatehouse can verify with.
#[test]
fn registration_refuses_unusable_jwks() {
    let world = World::new();
    let ec = ec_public();
    let x = ec["x"].as_str().unwrap().to_string();
    let y = ec["y"].as_str().unwrap().to_string();
    let n_2048 = b64::encode([0xc5u8; 256]);
    let n_2040 = b64::encode([0xc5u8; 255]);
    let private = serde_json::to_value(signing_key()).unwrap();
    for (key, why) in [
        (json!({"kty": "EC", "crv": "P-256", "x": "garbage"}), "garbage x, no y"),
        (json!({"kty": "EC", "crv": "P-256", "x": x, "y": "garbage"}), "garbage y"),
        (json!({"kty": "EC", "crv": "P-256", "x": b64::encode([1u8; 31]), "y": y}), "short x"),
        (json!({"kty": "EC", "crv": "P-384", "x": x, "y": y}), "P-384"),
        (json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "RS256"}), "alg mismatch"),
        (json!({"kty": "RSA", "n": n_2048}), "RSA without e"),
        (json!({"kty": "RSA", "n": n_2040, "e": "AQAB"}), "RSA under 2048 bits"),
        (json!({"kty": "RSA", "n": "!!", "e": "AQAB"}), "RSA n not base64url"),
        (json!({"kty": "RSA", "n": n_2048, "e": "AQAB", "d": "AQAB"}), "RSA private"),
        (private, "EC private key"),
        (json!({"kty": "oct", "k": "AAAA"}), "symmetric"),
        (json!("not a key"), "not an object"),
    ] {
        for method in ["private_key_jwt", "client_secret_basic"] {
            let r = register(
                &world,
                &json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": method,
                        "jwks": {"keys": [ec, key]}}),
            );
            assert_eq!(r.status, 400, "{why} ({method}): {}", String::from_utf8_lossy(&r.body));
            assert_eq!(json(&r)["error"], "invalid_client_metadata", "{why}");
        }
    }
    for (keys, why) in [
        (json!([ec]), "EC P-256"),
        (
            json!([{"kty": "RSA", "n": n_2048, "e": "AQAB", "alg": "RS256", "use": "sig"}]),
            "RSA 2048",
        ),
    ] {
        let r = register(
            &world,
            &json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": keys}}),
        );
        assert_eq!(r.status, 201, "{why}: {}", String::from_utf8_lossy(&r.body));
    }
}

// RFC 7592 §2.2 (S11): an update may not drop private_key_jwt for a weaker method.
#[test]
fn an_update_cannot_downgrade_private_key_jwt() {
    let world = World::new();
    let metadata = json!({"redirect_uris": ["https://rp.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [ec_public()]}});
    let r = register(&world, &metadata);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let reg = json(&r);
    let client_id = reg["client_id"].as_str().unwrap();
    let put = |body: &Value| {
        world.call(
            Request::from_url("PUT", reg["registration_client_uri"].as_str().unwrap())
                .unwrap()
                .with_header(
                    "authorization",
                    &format!("Bearer {}", reg["registration_access_token"].as_str().unwrap()),
                )
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
        )
    };
    let mut downgrade = metadata.clone();
    downgrade["client_id"] = client_id.into();
    downgrade["token_endpoint_auth_method"] = "none".into();
    let r = put(&downgrade);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["error"], "invalid_client_metadata");
    downgrade.as_object_mut().unwrap().remove("jwks");
    assert_eq!(json(&put(&downgrade))["error"], "invalid_client_metadata");
    // Keeping private_key_jwt is fine, and the client is still private_key_jwt afterwards.
    let mut same = metadata.clone();
    same["client_id"] = client_id.into();
    same["client_name"] = "Renamed".into();
    let r = put(&same);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["token_endpoint_auth_method"], "private_key_jwt");
}
