//! JWT-secured authorization requests (RFC 9101), alone and pushed (RFC 9126 §3), in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::Response;
use gatehouse_core::jose::jwk::Jwk;
use gatehouse_core::jose::{jws, Algorithm};
use gatehouse_core::ports::Crypto;
use gatehouse_core::rust_crypto::RustCrypto;
use pollster::block_on;
use serde_json::{json, Value};
use support::*;

const JAR: &str = "jar";
const JAR_SECRET: &str = "jar-secret-0123456789abcdef0123456789ab";
const JAR_REDIRECT: &str = "https://jar.example/cb";
const PSS: &str = "jar-pss";
/// Authenticates with private_key_jwt, with the same keys it signs request objects with.
const PKJ: &str = "jar-pkj";

struct Keys {
    ec: Jwk,
    rsa: Jwk,
}

fn keys() -> Keys {
    let ec = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [21; 32])).unwrap();
    let rsa = block_on(RustCrypto.generate_signing_key(Algorithm::PS256, [22; 32])).unwrap();
    Keys {
        ec: Jwk { kid: Some("ec-1".into()), ..ec },
        rsa: Jwk { kid: Some("rsa-1".into()), ..rsa },
    }
}

/// `jar`: a confidential client that must sign its requests (ES256 key inline). `jar-pss`: a
/// public client whose requests may be signed with PS256 only (key behind a jwks_uri).
fn world(keys: &Keys) -> World {
    let world = World::new();
    world.host.http.responses.borrow_mut().insert(
        "https://jar.example/jwks.json".into(),
        Response::json(200, &json!({"keys": [keys.rsa.to_public()]})),
    );
    world.import(&json!({"clients": [
        {"client_id": JAR, "name": "JAR Web", "app_type": "regular_web", "client_secret": JAR_SECRET,
         "redirect_uris": [JAR_REDIRECT], "jwks": {"keys": [keys.ec.to_public()]},
         "require_signed_request_object": true},
        {"client_id": PSS, "name": "JAR SPA", "app_type": "spa", "redirect_uris": [JAR_REDIRECT],
         "jwks_uri": "https://jar.example/jwks.json", "request_object_signing_alg": "PS256"},
        {"client_id": PKJ, "name": "JAR Key Client", "app_type": "regular_web",
         "token_endpoint_auth_method": "private_key_jwt", "redirect_uris": [JAR_REDIRECT],
         "grant_types": ["authorization_code", "client_credentials"],
         "jwks": {"keys": [keys.ec.to_public(), keys.rsa.to_public()]}},
    ]}));
    world
}

fn sign(key: &Jwk, alg: Algorithm, typ: Option<&str>, claims: &Value) -> String {
    block_on(jws::sign(&RustCrypto, key, alg, typ, claims.to_string().as_bytes())).unwrap()
}

/// A good request object for `client`, to be altered by `change`.
fn object(world: &World, client: &str, jti: &str, change: impl FnOnce(&mut Value)) -> Value {
    let now = world.now();
    let mut claims = json!({
        "iss": client, "aud": ISSUER, "exp": now + 60, "iat": now, "nbf": now, "jti": jti,
        "client_id": client, "response_type": "code", "redirect_uri": JAR_REDIRECT,
        "scope": "openid profile read:messages", "audience": API, "state": "s-jar", "nonce": "n-jar",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256", "max_age": 3600,
    });
    change(&mut claims);
    claims
}

/// A refusal shown as a page (400, the error code), never a redirect.
fn refused_with_page(r: &Response, code: &str) {
    assert_eq!(page_error(r), (400, code.to_string()));
    assert!(r.header("location").is_none());
}

fn exchange(world: &World, done: &Response, auth: (&str, &str)) -> Value {
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    assert!(location(done).starts_with(JAR_REDIRECT), "{}", location(done));
    let p = redirect_params(done);
    let code = p.get("code").unwrap().unwrap().to_string();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", JAR_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let request = if auth.1.is_empty() {
        form.push(("client_id", auth.0));
        form_request("/oauth/token", &form)
    } else {
        form_request("/oauth/token", &form).with_header("authorization", &basic(auth.0, auth.1))
    };
    let r = world.call(request);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)
}

#[test]
fn only_the_request_objects_parameters_count() {
    let keys = keys();
    let world = world(&keys);
    let request = sign(
        &keys.ec,
        Algorithm::ES256,
        Some("oauth-authz-req+jwt"),
        &object(&world, JAR, "j-1", |_| {}),
    );
    // §6.3: the parameters outside the object are ignored, whatever they say.
    let done = world.code_flow(&[
        ("client_id", JAR),
        ("request", &request),
        ("scope", "openid email"),
        ("state", "outside"),
        ("redirect_uri", "https://evil.example/cb"),
        ("response_type", "token"),
    ]);
    assert_eq!(redirect_params(&done).get("state").unwrap(), Some("s-jar"));
    let tokens = exchange(&world, &done, (JAR, JAR_SECRET));
    assert_eq!(tokens["scope"], "openid profile read:messages");
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["nonce"], "n-jar");
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["aud"][0], API);
    // The jti is used once (RFC 9101 §10.2), decided on the ledger.
    let again = world.authorize(&[("client_id", JAR), ("request", &request)]);
    refused_with_page(&again, "invalid_request_object");
}

#[test]
fn every_bad_request_object_is_a_page_never_a_redirect() {
    let keys = keys();
    let world = world(&keys);
    let other = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [23; 32])).unwrap();
    let other = Jwk { kid: Some("ec-1".into()), ..other };
    let now = world.now();
    let es = |claims: &Value| sign(&keys.ec, Algorithm::ES256, None, claims);
    let unsigned = |claims: &Value| {
        format!(
            "{}.{}.",
            gatehouse_core::b64::encode(r#"{"alg":"none"}"#),
            gatehouse_core::b64::encode(claims.to_string())
        )
    };
    let hs256 = |claims: &Value| {
        format!(
            "{}.{}.{}",
            gatehouse_core::b64::encode(r#"{"alg":"HS256"}"#),
            gatehouse_core::b64::encode(claims.to_string()),
            gatehouse_core::b64::encode("mac")
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&object(&world, JAR, "b1", |_| {}))),
        ("HS256", hs256(&object(&world, JAR, "b2", |_| {}))),
        ("another key", sign(&other, Algorithm::ES256, None, &object(&world, JAR, "b3", |_| {}))),
        ("expired", es(&object(&world, JAR, "b4", |c| c["exp"] = json!(now - 1)))),
        (
            "no exp",
            es(&object(&world, JAR, "b5", |c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
        ),
        ("lives a day", es(&object(&world, JAR, "b6", |c| c["exp"] = json!(now + 86_400)))),
        (
            "no jti",
            es(&object(&world, JAR, "b7", |c| {
                c.as_object_mut().unwrap().remove("jti");
            })),
        ),
        ("iss", es(&object(&world, JAR, "b8", |c| c["iss"] = json!(WEB)))),
        ("aud", es(&object(&world, JAR, "b9", |c| c["aud"] = json!("https://elsewhere.example/")))),
        (
            "aud token endpoint",
            es(&object(&world, JAR, "b10", |c| c["aud"] = json!(format!("{ISSUER}oauth/token")))),
        ),
        ("nbf ahead", es(&object(&world, JAR, "b11", |c| c["nbf"] = json!(now + 600)))),
        ("client_id inside", es(&object(&world, JAR, "b12", |c| c["client_id"] = json!(WEB)))),
        (
            "nested request_uri",
            es(&object(&world, JAR, "b13", |c| c["request_uri"] = json!("https://jar.example/r"))),
        ),
        (
            "typ of an access token",
            sign(&keys.ec, Algorithm::ES256, Some("at+jwt"), &object(&world, JAR, "b14", |_| {})),
        ),
        ("not a JWT", "not-a-jwt".into()),
        ("encrypted (five parts)", "a.b.c.d.e".into()),
    ];
    for (why, request) in cases {
        let r = world.authorize(&[("client_id", JAR), ("request", &request)]);
        assert_eq!(page_error(&r), (400, "invalid_request_object".into()), "{why}");
        assert!(r.header("location").is_none(), "{why}");
    }
    // An object of one client presented for another: its iss is not that client.
    let good = es(&object(&world, JAR, "b15", |_| {}));
    let r = world.authorize(&[("client_id", WEB), ("request", &good)]);
    assert_eq!(page_error(&r), (400, "invalid_request_object".into()));
    // The refusals spent nothing: the good object still works once.
    let done = world.code_flow(&[("client_id", JAR), ("request", &good)]);
    exchange(&world, &done, (JAR, JAR_SECRET));
}

#[test]
fn a_client_that_must_sign_cannot_send_plain_parameters() {
    let keys = keys();
    let world = world(&keys);
    let plain = [
        ("client_id", JAR),
        ("response_type", "code"),
        ("redirect_uri", JAR_REDIRECT),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let r = world.authorize(&plain);
    refused_with_page(&r, "invalid_request");
    // Nor push them.
    let r = world.call(
        form_request("/oauth/par", &plain[1..])
            .with_header("authorization", &basic(JAR, JAR_SECRET)),
    );
    assert_eq!(oauth_error(&r), (400, "invalid_request".into()));
    // A by-reference request_uri is not fetched.
    let r =
        world.authorize(&[("client_id", PSS), ("request_uri", "https://jar.example/request.jwt")]);
    assert_eq!(r.status, 302);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("request_uri_not_supported"));
    // A request pushed plainly before the client had to sign is refused once it must.
    let pushed = world.call(form_request(
        "/oauth/par",
        &[
            ("client_id", PSS),
            ("response_type", "code"),
            ("redirect_uri", JAR_REDIRECT),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    ));
    assert_eq!(pushed.status, 201, "{}", String::from_utf8_lossy(&pushed.body));
    let request_uri = json(&pushed)["request_uri"].as_str().unwrap().to_string();
    world.import(&json!({"clients": [{"client_id": PSS, "name": "JAR SPA", "app_type": "spa", "redirect_uris": [JAR_REDIRECT],
        "jwks_uri": "https://jar.example/jwks.json", "request_object_signing_alg": "PS256", "require_signed_request_object": true}]}));
    let r = world.authorize(&[("client_id", PSS), ("request_uri", &request_uri)]);
    refused_with_page(&r, "invalid_request");
}

#[test]
fn a_pushed_request_object_is_verified_at_push_time() {
    let keys = keys();
    let world = world(&keys);
    let push = |request: &str, auth: (&str, &str)| {
        world.call(
            form_request("/oauth/par", &[("request", request)])
                .with_header("authorization", &basic(auth.0, auth.1)),
        )
    };
    // FAPI 2.0's shape: the signed object pushed, then client_id and request_uri.
    let request = sign(
        &keys.ec,
        Algorithm::ES256,
        Some("oauth-authz-req+jwt"),
        &object(&world, JAR, "p-1", |_| {}),
    );
    let r = push(&request, (JAR, JAR_SECRET));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let request_uri = json(&r)["request_uri"].as_str().unwrap().to_string();
    let done = world.code_flow(&[("client_id", JAR), ("request_uri", &request_uri)]);
    assert_eq!(redirect_params(&done).get("state").unwrap(), Some("s-jar"));
    let tokens = exchange(&world, &done, (JAR, JAR_SECRET));
    assert_eq!(tokens["scope"], "openid profile read:messages");
    // The same object again: its jti was spent at push time.
    assert_eq!(
        oauth_error(&push(&request, (JAR, JAR_SECRET))),
        (400, "invalid_request_object".into())
    );
    // Refused at push time, as JSON: a bad signature, another client's object, an unchecked
    // parameter inside a good signature.
    let other = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [24; 32])).unwrap();
    let forged = sign(
        &Jwk { kid: Some("ec-1".into()), ..other },
        Algorithm::ES256,
        None,
        &object(&world, JAR, "p-2", |_| {}),
    );
    assert_eq!(
        oauth_error(&push(&forged, (JAR, JAR_SECRET))),
        (400, "invalid_request_object".into())
    );
    let jars = sign(&keys.ec, Algorithm::ES256, None, &object(&world, JAR, "p-3", |_| {}));
    assert_eq!(
        oauth_error(&push(&jars, (WEB, WEB_SECRET))),
        (400, "invalid_request_object".into())
    );
    let evil = sign(
        &keys.ec,
        Algorithm::ES256,
        None,
        &object(&world, JAR, "p-4", |c| c["redirect_uri"] = json!("https://evil.example/cb")),
    );
    let r = push(&evil, (JAR, JAR_SECRET));
    assert_eq!(oauth_error(&r), (400, "invalid_request".into()));
    assert!(r.header("location").is_none());
}

#[test]
fn a_client_may_pin_its_algorithm_to_ps256_with_keys_behind_a_jwks_uri() {
    let keys = keys();
    let world = world(&keys);
    let claims = |jti: &str| object(&world, PSS, jti, |_| {});
    let ps = sign(&keys.rsa, Algorithm::PS256, Some("oauth-authz-req+jwt"), &claims("s-1"));
    let done = world.code_flow(&[("client_id", PSS), ("request", &ps)]);
    let tokens = exchange(&world, &done, (PSS, ""));
    assert_eq!(claims_of(&tokens)["sub"], USER_ID);
    // RS256 with the same key is not the registered algorithm.
    let rs = sign(&keys.rsa, Algorithm::RS256, None, &claims("s-2"));
    let r = world.authorize(&[("client_id", PSS), ("request", &rs)]);
    assert_eq!(page_error(&r), (400, "invalid_request_object".into()));
    // A PS256 signature made over other bytes does not verify.
    let (head, _) = ps.rsplit_once('.').unwrap();
    let other_sig = sign(&keys.rsa, Algorithm::PS256, None, &claims("s-3"));
    let spliced = format!("{head}.{}", other_sig.rsplit_once('.').unwrap().1);
    let r = world.authorize(&[("client_id", PSS), ("request", &spliced)]);
    assert_eq!(page_error(&r), (400, "invalid_request_object".into()));
    // This client may still send plain parameters: only `jar` must sign.
    let plain = world.code_flow(&[
        ("client_id", PSS),
        ("response_type", "code"),
        ("redirect_uri", JAR_REDIRECT),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    exchange(&world, &plain, (PSS, ""));
}

fn claims_of(tokens: &Value) -> Value {
    claims(tokens["id_token"].as_str().unwrap())
}

#[test]
fn discovery_and_registration_describe_request_objects() {
    let keys = keys();
    let world = World::new();
    let doc = json(&world.get("/.well-known/openid-configuration"));
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(
        doc["request_object_signing_alg_values_supported"],
        json!(["RS256", "ES256", "PS256"])
    );
    assert_eq!(doc["require_signed_request_object"], false);
    let base = json!({"redirect_uris": [JAR_REDIRECT], "token_endpoint_auth_method": "none"});
    let with = |extra: Value| {
        let mut m = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let registered = world.register(&with(json!({
        "jwks": {"keys": [keys.ec.to_public()]},
        "require_signed_request_object": true, "request_object_signing_alg": "ES256"})));
    assert_eq!(registered["require_signed_request_object"], true);
    assert_eq!(registered["request_object_signing_alg"], "ES256");
    for bad in [
        json!({"require_signed_request_object": true}),
        json!({"jwks": {"keys": [keys.ec.to_public()]}, "request_object_signing_alg": "HS256"}),
        json!({"jwks": {"keys": [keys.ec.to_public()]}, "request_object_signing_alg": "none"}),
        json!({"jwks": {"keys": [keys.ec.to_public()]}, "require_signed_request_object": "yes"}),
        json!({"id_token_signed_response_alg": "PS256"}),
    ] {
        let r = world.call(
            gatehouse_core::http::Request::from_url("POST", &absolute("/oidc/register"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {INITIAL}"))
                .with_header("content-type", "application/json")
                .with_body(with(bad.clone()).to_string()),
        );
        assert_eq!(oauth_error(&r), (400, "invalid_client_metadata".into()), "{bad}");
    }
    // The registered client signs its request and logs in.
    let id = registered["client_id"].as_str().unwrap();
    let now = world.now();
    let request = sign(
        &keys.ec,
        Algorithm::ES256,
        None,
        &json!({
        "iss": id, "aud": ISSUER, "exp": now + 60, "jti": "r-1", "response_type": "code",
        "redirect_uri": JAR_REDIRECT, "scope": "openid", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256"}),
    );
    let first = world.code_flow(&[("client_id", id), ("request", &request)]);
    // A third-party client: the consent page comes next, so the object was accepted.
    assert_eq!(first.status, 302, "{}", String::from_utf8_lossy(&first.body));
    assert!(location(&first).starts_with("/consent?req="), "{}", location(&first));
}

fn assertion_for_token(world: &World, assertion: &str) -> Response {
    world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ],
    ))
}

#[test]
fn a_request_object_never_authenticates_its_client_and_one_jwt_is_used_once_anywhere() {
    let keys = keys();
    let world = world(&keys);
    world.import(&json!({"client_grants": [{"client_id": PKJ, "audience": API, "scope": ["read:messages"]}]}));
    let now = world.now();
    let assertion = |jti: &str, typ: Option<&str>, extra: &[(&str, Value)]| {
        let mut claims =
            json!({"iss": PKJ, "sub": PKJ, "aud": ISSUER, "exp": now + 60, "jti": jti});
        for (k, v) in extra {
            claims[*k] = v.clone();
        }
        sign(&keys.ec, Algorithm::ES256, typ, &claims)
    };
    // A real assertion works (ES256, and PS256 with the RSA key; typ JWT in either form).
    assert_eq!(assertion_for_token(&world, &assertion("a-1", None, &[])).status, 200);
    assert_eq!(
        assertion_for_token(&world, &assertion("a-1b", Some("application/JWT"), &[])).status,
        200
    );
    // At /oauth/par its aud may be the PAR endpoint (RFC 9126 §2).
    let par_aud = assertion("a-1c", None, &[("aud", json!(format!("{ISSUER}oauth/par")))]);
    let r = world.call(form_request(
        "/oauth/par",
        &[
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &par_aud),
            ("response_type", "code"),
            ("redirect_uri", JAR_REDIRECT),
            ("scope", "openid"),
        ],
    ));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let ps = sign(
        &keys.rsa,
        Algorithm::PS256,
        Some("JWT"),
        &json!({"iss": PKJ, "sub": PKJ, "aud": ISSUER, "exp": now + 60, "jti": "a-2"}),
    );
    let r = assertion_for_token(&world, &ps);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A request object that happens to carry sub (seen in a browser's address bar) is not one:
    // typed, or untyped but with response_type.
    let typed = assertion("a-3", Some("oauth-authz-req+jwt"), &[]);
    assert_eq!(oauth_error(&assertion_for_token(&world, &typed)), (401, "invalid_client".into()));
    let untyped = assertion(
        "a-4",
        None,
        &[("response_type", json!("code")), ("redirect_uri", json!(JAR_REDIRECT))],
    );
    assert_eq!(oauth_error(&assertion_for_token(&world, &untyped)), (401, "invalid_client".into()));
    // One jti namespace: a request object's jti, once used at /authorize, cannot authenticate.
    let request = sign(
        &keys.ec,
        Algorithm::ES256,
        None,
        &object(&world, PKJ, "shared-1", |c| {
            c["code_challenge"] = json!(CHALLENGE);
        }),
    );
    let r = world.authorize(&[("client_id", PKJ), ("request", &request)]);
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
    assert_eq!(
        oauth_error(&assertion_for_token(&world, &assertion("shared-1", None, &[]))),
        (401, "invalid_client".into())
    );
}

#[test]
fn forged_objects_spend_nothing_and_typ_and_aud_are_strict() {
    let keys = keys();
    let world = world(&keys);
    let other = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [25; 32])).unwrap();
    // A forgery that reuses a good object's jti is refused without spending it.
    let forged = sign(
        &Jwk { kid: Some("ec-1".into()), ..other },
        Algorithm::ES256,
        None,
        &object(&world, JAR, "f-1", |_| {}),
    );
    let r = world.authorize(&[("client_id", JAR), ("request", &forged)]);
    assert_eq!(page_error(&r), (400, "invalid_request_object".into()));
    let good = sign(&keys.ec, Algorithm::ES256, None, &object(&world, JAR, "f-1", |_| {}));
    let r = world.authorize(&[("client_id", JAR), ("request", &good)]);
    assert!(location(&r).starts_with("/login"), "{}", String::from_utf8_lossy(&r.body));
    // typ: JWT and the media type form are request objects too.
    for (jti, typ) in
        [("t-1", "JWT"), ("t-2", "application/oauth-authz-req+jwt"), ("t-3", "OAUTH-AUTHZ-REQ+JWT")]
    {
        let request =
            sign(&keys.ec, Algorithm::ES256, Some(typ), &object(&world, JAR, jti, |_| {}));
        let r = world.authorize(&[("client_id", JAR), ("request", &request)]);
        assert!(location(&r).starts_with("/login"), "{typ}: {}", String::from_utf8_lossy(&r.body));
    }
    // aud is one string (FAPI 2.0): an array, even one that lists the issuer, is refused.
    let listed = sign(
        &keys.ec,
        Algorithm::ES256,
        None,
        &object(&world, JAR, "u-1", |c| c["aud"] = json!([ISSUER, "https://other.example/"])),
    );
    let r = world.authorize(&[("client_id", JAR), ("request", &listed)]);
    assert_eq!(page_error(&r), (400, "invalid_request_object".into()));
    // iat ahead, and nbf that is not a number.
    let now = world.now();
    for (jti, claim, value) in [("v-1", "iat", json!(now + 600)), ("v-2", "nbf", json!("soon"))] {
        let request =
            sign(&keys.ec, Algorithm::ES256, None, &object(&world, JAR, jti, |c| c[claim] = value));
        let r = world.authorize(&[("client_id", JAR), ("request", &request)]);
        assert_eq!(page_error(&r), (400, "invalid_request_object".into()), "{claim}");
    }
}
