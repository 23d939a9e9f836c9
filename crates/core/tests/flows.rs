//! In-process tests of the login flows against the real endpoints: authorization code with PKCE
//! and client authentication, tokens, userinfo, refresh rotation, revocation, introspection,
//! logout. A memory host with a fixed clock; the browser is a cookie jar.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::Request;
use gatehouse_core::jose::jwk::{Jwk, JwkSet};
use gatehouse_core::jose::jws::{self, Jws};
use gatehouse_core::jose::Algorithm;
use gatehouse_core::ports::{Crypto, Store};
use gatehouse_core::rust_crypto::RustCrypto;
use gatehouse_core::tokens::half_hash;
use pollster::block_on;
use serde_json::Value;
use support::*;

const SPA_QUERY: &[(&str, &str)] = &[
    ("client_id", SPA),
    ("redirect_uri", SPA_REDIRECT),
    ("response_type", "code"),
    ("scope", "openid profile email offline_access read:messages unknown:scope"),
    ("audience", API),
    ("state", "st-1"),
    ("nonce", "n-1"),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
    ("auth0Client", "eyJuYW1lIjoiYXV0aDAtc3BhLWpzIn0="),
];

fn spa_code(world: &World) -> String {
    let done = world.code_flow(SPA_QUERY);
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    assert!(location(&done).starts_with(SPA_REDIRECT));
    let params = redirect_params(&done);
    assert_eq!(params.get("state").unwrap(), Some("st-1"));
    assert_eq!(params.get("iss").unwrap(), Some(ISSUER), "RFC 9207 iss on the response");
    params.get("code").unwrap().expect("a code").to_string()
}

fn jwks(world: &World) -> Vec<Jwk> {
    let set: JwkSet = serde_json::from_value(json(&world.get("/.well-known/jwks.json"))).unwrap();
    set.keys
}

fn verify(world: &World, jwt: &str) -> Value {
    let payload =
        block_on(Jws::parse(jwt, &Algorithm::ALL).unwrap().verify(&RustCrypto, &jwks(world)))
            .expect("signature verifies");
    serde_json::from_slice(&payload).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn userinfo(world: &World, token: &str) -> gatehouse_core::http::Response {
    world.call(
        Request::from_url("GET", &absolute("/userinfo"))
            .unwrap()
            .with_header("authorization", &bearer(token)),
    )
}

#[test]
fn spa_logs_in_with_pkce_and_gets_verified_tokens() {
    let world = World::new();
    let code = spa_code(&world);
    let r = spa_exchange(&world, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = json(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"], "openid profile email offline_access read:messages",
        "unknown scopes are dropped"
    );
    assert_eq!(body["expires_in"], 3600);

    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(header(id_token)["alg"], "RS256", "ID tokens default to RS256");
    let id = verify(&world, id_token);
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["sub"], USER_ID);
    assert_eq!(id["aud"], SPA);
    assert_eq!(id["azp"], SPA);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["auth_time"], NOW);
    assert_eq!(id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(), 36_000);
    assert_eq!(id["email"], EMAIL);
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Ada Lovelace");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(id["at_hash"], half_hash(access), "OIDC Core §3.1.3.6 at_hash");

    let at_header = header(access);
    assert_eq!(at_header["typ"], "at+jwt", "RFC 9068 §2.1");
    assert_eq!(at_header["alg"], "ES256", "the API's algorithm");
    let at = verify(&world, access);
    assert_eq!(at["aud"], serde_json::json!([API, format!("{ISSUER}userinfo")]));
    assert_eq!(at["client_id"], SPA);
    assert_eq!(at["scope"], "openid profile email offline_access read:messages");
    assert!(at["jti"].as_str().unwrap().len() >= 16);

    let info = userinfo(&world, access);
    assert_eq!(info.status, 200);
    let info = json(&info);
    assert_eq!(info["sub"], USER_ID);
    assert_eq!(info["email"], EMAIL);
    assert!(
        body["refresh_token"].as_str().is_some(),
        "offline_access from an SPA allowed refresh tokens"
    );
}

#[test]
fn a_code_is_single_use_and_a_replay_revokes_what_it_issued() {
    let world = World::new();
    let code = spa_code(&world);
    let first = json(&spa_exchange(&world, &code, VERIFIER));
    let replay = spa_exchange(&world, &code, VERIFIER);
    assert_eq!(replay.status, 400);
    assert_eq!(json(&replay)["error"], "invalid_grant");
    // What the first exchange issued is revoked.
    let r = userinfo(&world, first["access_token"].as_str().unwrap());
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    let refresh = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", SPA),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    ));
    assert_eq!(json(&refresh)["error"], "invalid_grant");
}

#[test]
fn codes_expire_after_60_seconds() {
    let world = World::new();
    let code = spa_code(&world);
    world.host.clock.advance(61);
    assert_eq!(json(&spa_exchange(&world, &code, VERIFIER))["error"], "invalid_grant");
}

#[test]
fn pkce_is_enforced() {
    let world = World::new();
    let code = spa_code(&world);
    let wrong = "x".repeat(43);
    assert_eq!(json(&spa_exchange(&world, &code, &wrong))["error"], "invalid_grant");
    // Presented by another client: refused, and not burned for its rightful client.
    let other = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", THIRD),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    ));
    assert_eq!(json(&other)["error"], "invalid_grant");
    // A wrong verifier did not use the code up either: the right one still works, once.
    assert_eq!(spa_exchange(&world, &code, VERIFIER).status, 200);
    assert_eq!(json(&spa_exchange(&world, &code, VERIFIER))["error"], "invalid_grant");
    let code = spa_code(&world);
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &code),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ));
    assert_eq!(json(&r)["error"], "invalid_grant", "verifier required");

    // Public clients must send a challenge; plain is refused; both go back to the client.
    for (extra, expected) in [
        (vec![], "invalid_request"),
        (
            vec![("code_challenge", CHALLENGE), ("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (vec![("code_challenge", CHALLENGE)], "invalid_request"),
        (vec![("code_challenge", "short"), ("code_challenge_method", "S256")], "invalid_request"),
    ] {
        let mut q = vec![
            ("client_id", SPA),
            ("redirect_uri", SPA_REDIRECT),
            ("response_type", "code"),
            ("state", "s"),
        ];
        q.extend(extra);
        let r = world.authorize(&q);
        assert_eq!(r.status, 302);
        let p = redirect_params(&r);
        assert_eq!(p.get("error").unwrap(), Some(expected), "{q:?}");
        assert_eq!(p.get("state").unwrap(), Some("s"));
        assert_eq!(p.get("iss").unwrap(), Some(ISSUER));
    }
}

#[test]
fn confidential_client_with_basic_auth_and_a_verifier_downgrade_refused() {
    let world = World::new();
    let q = [
        ("client_id", WEB),
        ("redirect_uri", WEB_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("nonce", "nn"),
    ];
    let done = world.code_flow(&q);
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let exchange = |code: &str, auth: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_REDIRECT),
        ];
        pairs.extend_from_slice(extra);
        world.call(form_request("/oauth/token", &pairs).with_header("authorization", auth))
    };
    let bad = exchange(&code, &basic(WEB, "wrong-secret"), &[]);
    assert_eq!(bad.status, 401);
    assert_eq!(json(&bad)["error"], "invalid_client");
    assert!(bad.header("www-authenticate").unwrap().starts_with("Basic"));
    // The failed client authentication did not use the code up.
    let ok = exchange(&code, &basic(WEB, WEB_SECRET), &[]);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let body = json(&ok);
    assert_eq!(
        header(body["id_token"].as_str().unwrap())["alg"],
        "ES256",
        "the client's id_token_signed_response_alg"
    );
    let at = verify(&world, body["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], format!("{ISSUER}userinfo"));
    assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token");

    let done = world.code_flow(&q);
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let r = exchange(&code, &basic(WEB, WEB_SECRET), &[("code_verifier", VERIFIER)]);
    assert_eq!(json(&r)["error"], "invalid_grant", "RFC 9700 §4.8.2: verifier without challenge");

    let done = world.code_flow(&q);
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://web.example/other"),
    ];
    let r = world.call(
        form_request("/oauth/token", &pairs).with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!(json(&r)["error"], "invalid_grant", "redirect_uri must match");
    pairs.clear();
}

#[test]
fn client_authentication_methods_are_enforced() {
    let world = World::new();
    let token = |req: Request| {
        let r = world.call(req);
        (
            r.status,
            json(&r)["error"].as_str().unwrap_or("").to_string(),
            r.header("www-authenticate").map(str::to_string),
        )
    };
    // client_secret_post client using Basic: refused (registered method enforced).
    let (status, error, www) = token(
        form_request("/oauth/token", &[("grant_type", "authorization_code"), ("code", "x")])
            .with_header("authorization", &basic(POST_CLIENT, POST_SECRET)),
    );
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(www.is_some());
    // Two methods at once.
    let (status, error, _) = token(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", WEB),
                ("client_secret", WEB_SECRET),
            ],
        )
        .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    // A confidential client cannot pretend to be public.
    let (status, error, _) = token(form_request(
        "/oauth/token",
        &[("grant_type", "authorization_code"), ("code", "x"), ("client_id", WEB)],
    ));
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    // Unknown client, garbage Basic header.
    let (status, _, _) = token(form_request(
        "/oauth/token",
        &[("grant_type", "authorization_code"), ("code", "x"), ("client_id", "nobody")],
    ));
    assert_eq!(status, 401);
    let (status, _, _) = token(
        form_request("/oauth/token", &[("grant_type", "authorization_code")])
            .with_header("authorization", "Basic !!!"),
    );
    assert_eq!(status, 401);
    // client_secret_post works for its client (and reaches the grant checks).
    let (status, error, _) = token(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", POST_CLIENT),
            ("client_secret", POST_SECRET),
        ],
    ));
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    // Unsupported grant types.
    let (status, error, _) = token(form_request(
        "/oauth/token",
        &[("grant_type", "urn:example:nope"), ("client_id", SPA)],
    ));
    assert_eq!((status, error.as_str()), (400, "unsupported_grant_type"));
    // Supported, but not listed by this client: unauthorized_client.
    let (status, error, _) =
        token(form_request("/oauth/token", &[("grant_type", "password"), ("client_id", SPA)]));
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));
    let (_, error, _) = token(form_request("/oauth/token", &[("client_id", SPA)]));
    assert_eq!(error, "invalid_request");
}

fn private_key_client(world: &World, key: &Jwk, via_uri: bool) {
    let public = Jwk { kid: Some("k1".into()), ..key.to_public() };
    let mut client = serde_json::json!({"client_id": "pkj", "name": "PKJ", "app_type": "regular_web",
        "token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["https://pkj.example/cb"]});
    if via_uri {
        client["jwks_uri"] = "https://pkj.example/jwks.json".into();
        world.host.http.responses.borrow_mut().insert(
            "https://pkj.example/jwks.json".into(),
            gatehouse_core::http::Response::json(200, &serde_json::json!({"keys": [public]})),
        );
    } else {
        client["jwks"] = serde_json::json!({"keys": [public]});
    }
    world.import(&serde_json::json!({"clients": [client]}));
}

fn assertion(key: &Jwk, claims: Value) -> String {
    let key = Jwk { kid: Some("k1".into()), ..key.clone() };
    block_on(jws::sign(&RustCrypto, &key, Algorithm::ES256, None, claims.to_string().as_bytes()))
        .unwrap()
}

#[test]
fn private_key_jwt_rfc7523() {
    for via_uri in [false, true] {
        let world = World::new();
        let key = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [8; 32])).unwrap();
        private_key_client(&world, &key, via_uri);
        let done = world.code_flow(&[
            ("client_id", "pkj"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://pkj.example/cb"),
        ]);
        let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
        let now = world.now();
        let good = serde_json::json!({"iss": "pkj", "sub": "pkj", "aud": format!("{ISSUER}oauth/token"), "exp": now + 60, "jti": "j-1"});
        let send = |a: &str, code: &str| {
            world.call(form_request(
                "/oauth/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", "https://pkj.example/cb"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", a),
                ],
            ))
        };
        for (bad, why) in [
            (
                serde_json::json!({"iss": "pkj", "sub": "pkj", "aud": "https://elsewhere/", "exp": now + 60, "jti": "a"}),
                "aud",
            ),
            (
                serde_json::json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": now - 1, "jti": "b"}),
                "expired",
            ),
            (serde_json::json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "jti": "c"}), "no exp"),
            (
                serde_json::json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": now + 60}),
                "no jti",
            ),
            (
                serde_json::json!({"iss": "pkj", "sub": "other", "aud": ISSUER, "exp": now + 60, "jti": "d"}),
                "sub",
            ),
            (
                serde_json::json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": now + 86_400, "jti": "e"}),
                "too long",
            ),
        ] {
            let r = send(&assertion(&key, bad), &code);
            assert_eq!(
                (r.status, json(&r)["error"].as_str()),
                (401, Some("invalid_client")),
                "{why}"
            );
        }
        // Signed by another key.
        let other = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [9; 32])).unwrap();
        assert_eq!(send(&assertion(&other, good.clone()), &code).status, 401);
        // alg none is refused.
        let none = format!(
            "{}.{}.",
            gatehouse_core::b64::encode(r#"{"alg":"none"}"#),
            gatehouse_core::b64::encode(good.to_string())
        );
        assert_eq!(send(&none, &code).status, 401);
        let a = assertion(&key, good.clone());
        let r = send(&a, &code);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        // RFC 7523 §3: the jti is single-use.
        let again = send(&a, &code);
        assert_eq!(json(&again)["error"], "invalid_client");
    }
}

#[test]
fn refresh_tokens_rotate_and_reuse_revokes_the_grant() {
    let world = World::new();
    let code = spa_code(&world);
    let first = json(&spa_exchange(&world, &code, VERIFIER));
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: &str, extra: &[(&str, &str)]| {
        let mut pairs =
            vec![("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", rt)];
        pairs.extend_from_slice(extra);
        world.call(form_request("/oauth/token", &pairs))
    };
    // A redirect_uri is ignored (Auth0's SDKs send one); a narrower scope is allowed.
    let r = refresh(
        &rt1,
        &[("redirect_uri", "https://ignored.example/"), ("scope", "openid read:messages")],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let second = json(&r);
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(second["scope"], "openid read:messages");
    let id = verify(&world, second["id_token"].as_str().unwrap());
    assert!(id.get("nonce").is_none());
    // A wider scope than granted is refused, and the refusal leaves the token current.
    assert_eq!(
        json(&refresh(&rt2, &[("scope", "openid write:everything")]))["error"],
        "invalid_scope"
    );
    let r = refresh(&rt2, &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (rt1, rt2) = (rt2, json(&r)["refresh_token"].as_str().unwrap().to_string());
    let second = json(&r);
    // Another client cannot use it.
    let r = world.call(
        form_request("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
            .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!(json(&r)["error"], "invalid_grant");
    // Reusing the rotated token revokes the whole grant: rt2 stops working too.
    assert_eq!(json(&refresh(&rt1, &[]))["error"], "invalid_grant");
    assert_eq!(json(&refresh(&rt2, &[]))["error"], "invalid_grant");
    assert_eq!(userinfo(&world, second["access_token"].as_str().unwrap()).status, 401);
    // Garbage refresh tokens.
    for junk in ["", "x", "a.b", &"a".repeat(5000), "eyJhbGciOiJub25lIn0.e30."] {
        let r = refresh(junk, &[]);
        assert!(r.status == 400, "{junk:?}: {}", r.status);
    }
}

#[test]
fn revocation_and_introspection() {
    let world = World::new();
    let code = spa_code(&world);
    let tokens = json(&spa_exchange(&world, &code, VERIFIER));
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let introspect = |token: &str| {
        json(
            &world.call(
                form_request("/oauth/introspect", &[("token", token)])
                    .with_header("authorization", &basic(WEB, WEB_SECRET)),
            ),
        )
    };
    let active = introspect(access);
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], SPA);
    assert_eq!(active["sub"], USER_ID);
    assert_eq!(active["scope"], "openid profile email offline_access read:messages");
    let empty = world.call(
        form_request("/oauth/introspect", &[("token", "")])
            .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!(json(&empty)["error"], "invalid_request", "token is REQUIRED (RFC 7662 §2.1)");
    for junk in
        ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", &access[..access.len() - 2]]
    {
        assert_eq!(introspect(junk)["active"], false, "{junk:?}");
    }
    assert_eq!(
        introspect(refresh)["active"],
        false,
        "refresh tokens are described only to their client"
    );
    // Public clients may not introspect.
    let r = world.call(form_request("/oauth/introspect", &[("token", access), ("client_id", SPA)]));
    assert_eq!(r.status, 401);

    // Revoke the access token: userinfo and introspection refuse it.
    let r = world.call(form_request("/oauth/revoke", &[("token", access), ("client_id", SPA)]));
    assert_eq!(r.status, 200);
    assert_eq!(introspect(access)["active"], false);
    assert_eq!(userinfo(&world, access).status, 401);
    // Revoke the refresh token: the grant ends.
    assert_eq!(
        world
            .call(form_request(
                "/oauth/revoke",
                &[("token", refresh), ("client_id", SPA), ("token_type_hint", "refresh_token")]
            ))
            .status,
        200
    );
    let r = world.call(form_request(
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", refresh)],
    ));
    assert_eq!(json(&r)["error"], "invalid_grant");
    // Another client's live token is refused (RFC 7009 §2.1) and stays live.
    let code = spa_code(&world);
    let other = json(&spa_exchange(&world, &code, VERIFIER));
    let other_access = other["access_token"].as_str().unwrap();
    let r = world.call(
        form_request("/oauth/revoke", &[("token", other_access)])
            .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!((r.status, json(&r)["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(introspect(other_access)["active"], true);
    // Unknown tokens: still 200 (RFC 7009 §2.2); unknown hints are ignored (§2.1).
    assert_eq!(
        world.call(form_request("/oauth/revoke", &[("token", "nope"), ("client_id", SPA)])).status,
        200
    );
    let r = world.call(form_request(
        "/oauth/revoke",
        &[("token", "nope"), ("client_id", SPA), ("token_type_hint", "banana")],
    ));
    assert_eq!(r.status, 200);
}

#[test]
fn userinfo_bearer_rules() {
    let world = World::new();
    let code = spa_code(&world);
    let access =
        json(&spa_exchange(&world, &code, VERIFIER))["access_token"].as_str().unwrap().to_string();
    let r = world.call(Request::from_url("GET", &absolute("/userinfo")).unwrap());
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"gatehouse\""),
        "RFC 6750 §3.1: no error code without a token"
    );
    for header in ["Bearer", "Bearer ", "Basic abc", "Token xyz"] {
        let r = world.call(
            Request::from_url("GET", &absolute("/userinfo"))
                .unwrap()
                .with_header("authorization", header),
        );
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (400, Some("invalid_request")),
            "{header:?}"
        );
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    let r = userinfo(&world, "garbage");
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    // POST with the token in the form body (RFC 6750 §2.2).
    let r = world.call(form_request("/userinfo", &[("access_token", &access)]));
    assert_eq!(r.status, 200);
    // Both ways at once.
    let r = world.call(
        form_request("/userinfo", &[("access_token", &access)])
            .with_header("authorization", &bearer(&access)),
    );
    assert_eq!(r.status, 400);
    // An ID token is not an access token.
    let code = spa_code(&world);
    let id_token =
        json(&spa_exchange(&world, &code, VERIFIER))["id_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(&world, &id_token).status, 401);
    // Expired.
    world.host.clock.advance(3601);
    assert_eq!(userinfo(&world, &access).status, 401);
}

#[test]
fn authorize_errors_that_must_not_redirect() {
    let world = World::new();
    for query in [
        vec![("response_type", "code")],
        vec![("client_id", "nobody"), ("response_type", "code"), ("redirect_uri", SPA_REDIRECT)],
        vec![
            ("client_id", SPA),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        vec![
            ("client_id", SPA),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:5173/callback/"),
        ],
        vec![("client_id", WEB), ("response_type", "code")], // two registered: redirect_uri required
        vec![("client_id", SPA), ("client_id", SPA), ("response_type", "code")],
    ] {
        let r = world.authorize(&query);
        assert_eq!(r.status / 100, 4, "{query:?}");
        assert!(r.header("location").is_none(), "never redirected: {query:?}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    }
}

#[test]
fn authorize_errors_go_back_with_state_and_iss() {
    let world = World::new();
    let base = [
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (extra, expected) in [
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![], "invalid_request"),
        (
            vec![("response_type", "code"), ("audience", "https://unknown.example/")],
            "invalid_target",
        ),
        (vec![("response_type", "code"), ("resource", "not-absolute")], "invalid_target"),
        (vec![("response_type", "code"), ("request_uri", "urn:x")], "request_uri_not_supported"),
        (vec![("response_type", "code"), ("scope", "openid bad\"scope")], "invalid_scope"),
        (vec![("response_type", "code"), ("prompt", "none login")], "invalid_request"),
        (vec![("response_type", "code"), ("max_age", "-1")], "invalid_request"),
        (vec![("response_type", "code"), ("response_mode", "form_data")], "invalid_request"),
        (vec![("response_type", "id_token"), ("nonce", "n")], "unauthorized_client"),
        (vec![("response_type", "code"), ("prompt", "none")], "login_required"),
    ] {
        let mut q = base.to_vec();
        q.extend(extra.clone());
        let r = world.authorize(&q);
        assert_eq!(r.status, 302, "{extra:?}");
        assert!(location(&r).starts_with(SPA_REDIRECT), "{extra:?}");
        let p = redirect_params(&r);
        assert_eq!(p.get("error").unwrap(), Some(expected), "{extra:?}");
        assert_eq!(p.get("state").unwrap(), Some("xyz"));
        assert_eq!(p.get("iss").unwrap(), Some(ISSUER));
    }
    // response_mode=fragment puts the answer in the fragment.
    let mut q = base.to_vec();
    q.extend([("response_type", "code"), ("response_mode", "fragment"), ("prompt", "none")]);
    assert!(
        location(&world.authorize(&q)).starts_with(&format!("{SPA_REDIRECT}#error=login_required"))
    );
}

#[test]
fn sessions_prompts_and_max_age() {
    let world = World::new();
    spa_code(&world);
    // Logged in: prompt=none succeeds silently.
    let mut q = SPA_QUERY.to_vec();
    q.push(("prompt", "none"));
    let r = world.authorize(&q);
    assert!(redirect_params(&r).get("code").unwrap().is_some(), "{}", location(&r));
    // prompt=login shows the login page again.
    let mut q = SPA_QUERY.to_vec();
    q.push(("prompt", "login"));
    assert!(location(&world.authorize(&q)).starts_with("/login?"));
    // max_age=0 is prompt=login (OIDC Core §3.1.2.1), even right after a login.
    let mut q = SPA_QUERY.to_vec();
    q.push(("max_age", "0"));
    assert!(location(&world.authorize(&q)).starts_with("/login?"));
    // max_age: an old login is not good enough.
    world.host.clock.advance(120);
    let mut q = SPA_QUERY.to_vec();
    q.push(("max_age", "60"));
    assert!(location(&world.authorize(&q)).starts_with("/login?"));
    q.push(("prompt", "none"));
    assert_eq!(redirect_params(&world.authorize(&q)).get("error").unwrap(), Some("login_required"));
    // After logging in again auth_time is fresh.
    let r =
        world.code_flow(&SPA_QUERY.iter().copied().chain([("max_age", "60")]).collect::<Vec<_>>());
    let code = redirect_params(&r).get("code").unwrap().unwrap().to_string();
    let id = claims(json(&spa_exchange(&world, &code, VERIFIER))["id_token"].as_str().unwrap());
    assert_eq!(id["auth_time"], world.now());
    // Logout ends the session.
    let r =
        world.get(&format!("/v2/logout?client_id={SPA}&returnTo=http%3A%2F%2F127.0.0.1%3A5173%2F"));
    assert_eq!((r.status, location(&r).as_str()), (302, "http://127.0.0.1:5173/"));
    let mut q = SPA_QUERY.to_vec();
    q.push(("prompt", "none"));
    assert_eq!(redirect_params(&world.authorize(&q)).get("error").unwrap(), Some("login_required"));
}

#[test]
fn login_page_rules() {
    let world = World::new();
    let start = world.authorize(SPA_QUERY);
    let login = location(&start);
    let html = String::from_utf8(world.get(&login).body).unwrap();
    let (req, csrf) = (hidden(&html, "req"), hidden(&html, "csrf"));
    let attempt = |user: &str, pw: &str| {
        world.post_form(
            "/login",
            &[("req", &req), ("csrf", &csrf), ("username", user), ("password", pw)],
        )
    };
    let wrong = attempt(EMAIL, "wrong password");
    let unknown = attempt("nobody@example.com", PASSWORD);
    assert_eq!((wrong.status, unknown.status), (400, 400));
    let (a, b) = (String::from_utf8(wrong.body).unwrap(), String::from_utf8(unknown.body).unwrap());
    assert!(
        a.contains("Wrong email or password.") && b.contains("Wrong email or password."),
        "one generic message"
    );
    // Without the form's CSRF token, or from another browser (no flow cookie): refused.
    let r =
        world.post_form("/login", &[("req", &req), ("username", EMAIL), ("password", PASSWORD)]);
    assert_eq!(r.status, 403);
    let stranger = world.call(form_request(
        "/login",
        &[("req", &req), ("csrf", &csrf), ("username", EMAIL), ("password", PASSWORD)],
    ));
    assert_eq!(stranger.status, 403);
    // Hosted pages without their request id, or with a nonsense one, are 4xx pages.
    for path in ["/authorize/resume", "/authorize/resume?req=%00", "/consent", "/consent?req=x"] {
        let r = world.get(path);
        assert!(r.status == 400 && r.header("location").is_none(), "{path}: {}", r.status);
    }
    assert_eq!(world.post_form("/consent", &[("req", "x")]).status, 400);
    // A pending request cannot be resumed from another browser (no flow cookie).
    let resume =
        Request::from_url("GET", &absolute(&format!("/authorize/resume?req={req}"))).unwrap();
    assert_eq!(world.call(resume).status, 403);
    // Failures count (one so far for this account), successes do not: 10 per account per window.
    for _ in 0..9 {
        assert_eq!(attempt(EMAIL, "wrong").status, 400);
    }
    assert_eq!(attempt(EMAIL, PASSWORD).status, 429, "even the right password waits");
    assert_eq!(attempt("other@example.com", "wrong").status, 400, "other accounts are not blocked");
    // The next window still counts the previous one's failures; the one after that is clear.
    world.host.clock.advance(300);
    assert_eq!(attempt(EMAIL, PASSWORD).status, 429);
    world.host.clock.advance(300);
    // (The pending request has expired by now: start another.)
    assert_eq!(world.login_from(&world.authorize(SPA_QUERY), EMAIL, PASSWORD).status, 303);
    // Unknown or expired request ids.
    assert_eq!(world.get("/login?req=nope").status, 400);
    assert_eq!(world.get("/login").status, 400);
}

fn third_query<'a>(
    audience: &'a str,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut q = vec![
        ("client_id", THIRD),
        ("response_type", "code"),
        ("redirect_uri", "https://third.example/cb"),
        ("audience", audience),
        ("scope", scope),
        ("state", "s3"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    q
}

/// Allows the consent page that `authorize` leads to; returns the final redirect.
fn allow_consent(
    world: &World,
    authorize: &gatehouse_core::http::Response,
) -> gatehouse_core::http::Response {
    let page = world.get(&location(authorize));
    let html = String::from_utf8(page.body).unwrap();
    world.post_form(
        "/consent",
        &[("req", &hidden(&html, "req")), ("csrf", &hidden(&html, "csrf")), ("decision", "allow")],
    )
}

#[test]
fn third_party_clients_ask_for_consent_once_per_api_and_scope() {
    let world = World::new();
    let q = third_query(API, "openid email read:messages", &[]);
    let none = third_query(API, "openid email read:messages", &[("prompt", "none")]);
    let first = world.authorize(&q);
    let after_login = world.login_from(&first, EMAIL, PASSWORD);
    let consent = world.get(&location(&after_login));
    assert_eq!(consent.status, 302);
    assert!(location(&consent).starts_with("/consent?req="));
    let page = world.get(&location(&consent));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("Third &lt;b&gt;Party&lt;/b&gt;"), "the client name is escaped");
    assert!(html.contains("See your email address"));
    assert!(html.contains("Read messages") && html.contains("Test API"), "the API's scope: {html}");
    // prompt=none while consent is pending: consent_required.
    assert_eq!(
        redirect_params(&world.authorize(&none)).get("error").unwrap(),
        Some("consent_required")
    );
    let (req, csrf) = (hidden(&html, "req"), hidden(&html, "csrf"));
    let denied =
        world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", "deny")]);
    assert_eq!(redirect_params(&denied).get("error").unwrap(), Some("access_denied"));
    // Again, and allow: a code; then the consent is remembered, for this API.
    let allowed = allow_consent(&world, &world.authorize(&q));
    assert_eq!(allowed.status, 303);
    assert!(redirect_params(&allowed).get("code").unwrap().is_some());
    assert!(redirect_params(&world.authorize(&none)).get("code").unwrap().is_some(), "remembered");
    // S1: consent to `openid` on the second API, added to `read:messages` on the first, does
    // not cover `read:messages` on the second.
    let openid_on_2 = allow_consent(&world, &world.authorize(&third_query(API2, "openid", &[])));
    assert!(redirect_params(&openid_on_2).get("code").unwrap().is_some());
    let read_on_2 = third_query(API2, "openid read:messages", &[("prompt", "none")]);
    assert_eq!(
        redirect_params(&world.authorize(&read_on_2)).get("error").unwrap(),
        Some("consent_required"),
        "consent to a scope on one API is not consent on another"
    );
    // Nor does anything cover a scope never allowed, on the same API.
    let wider =
        third_query(API, "openid email read:messages write:messages", &[("prompt", "none")]);
    assert_eq!(
        redirect_params(&world.authorize(&wider)).get("error").unwrap(),
        Some("consent_required")
    );
    // prompt=consent asks again.
    let forced = third_query(API, "openid email read:messages", &[("prompt", "consent")]);
    assert!(location(&world.authorize(&forced)).starts_with("/consent"));
}

#[test]
fn oidc_rp_initiated_logout() {
    let world = World::new();
    let code = spa_code(&world);
    let id_token =
        json(&spa_exchange(&world, &code, VERIFIER))["id_token"].as_str().unwrap().to_string();
    let bad = world.get(&format!("/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"));
    assert_eq!(bad.status, 400);
    assert!(bad.header("location").is_none());
    let r = world.get(&format!("/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5173%2F&state=bye"));
    assert_eq!((r.status, location(&r).as_str()), (302, "http://127.0.0.1:5173/?state=bye"));
    // The session cookie is cleared, and the session itself is gone at the server.
    assert!(
        r.headers.iter().any(|(n, v)| n == "set-cookie"
            && v.starts_with("gatehouse_session=;")
            && v.contains("Max-Age=0")),
        "{:?}",
        r.headers
    );
    let mut silent = SPA_QUERY.to_vec();
    silent.push(("prompt", "none"));
    assert_eq!(
        redirect_params(&world.authorize(&silent)).get("error").unwrap(),
        Some("login_required"),
        "logged out at the server"
    );
    // A forged hint is refused.
    let forged = format!("{}x", &id_token[..id_token.len() - 1]);
    assert_eq!(world.get(&format!("/oidc/logout?id_token_hint={forged}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5173%2F")).status, 400);
    // No redirect: a page.
    assert_eq!(world.get("/oidc/logout").status, 200);
    let r = world.get("/v2/logout?client_id=spa&returnTo=https%3A%2F%2Fevil.example%2F");
    assert_eq!(r.status, 400);

    // Without an ID token hint, a live session is ended only after the user confirms (§2):
    // a cross-site link or form cannot log the user out.
    spa_code(&world);
    let ask = world.get("/oidc/logout?client_id=spa&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5173%2F&state=s2");
    assert_eq!(ask.status, 200);
    let html = String::from_utf8(ask.body).unwrap();
    assert!(html.contains("Log out?"));
    let forged = world.post_form(
        "/oidc/logout",
        &[
            ("client_id", SPA),
            ("post_logout_redirect_uri", "http://127.0.0.1:5173/"),
            ("confirm", "guess"),
        ],
    );
    assert_eq!(forged.status, 200, "asked again");
    let mut q = SPA_QUERY.to_vec();
    q.push(("prompt", "none"));
    assert!(
        redirect_params(&world.authorize(&q)).get("code").unwrap().is_some(),
        "still logged in"
    );
    let confirmed = world.post_form(
        "/oidc/logout",
        &[
            ("confirm", &hidden(&html, "confirm")),
            ("client_id", SPA),
            ("post_logout_redirect_uri", "http://127.0.0.1:5173/"),
            ("state", "s2"),
        ],
    );
    assert_eq!(
        (confirmed.status, location(&confirmed).as_str()),
        (302, "http://127.0.0.1:5173/?state=s2")
    );
    assert_eq!(redirect_params(&world.authorize(&q)).get("error").unwrap(), Some("login_required"));
}

#[test]
fn review_fixes_unauthorized_client_and_introspection_scope() {
    let world = World::new();
    // A client without the code grant cannot use /authorize (RFC 6749 §4.1.2.1).
    let body = serde_json::json!({"clients": [{"client_id": "m2m", "name": "M2M", "app_type": "non_interactive",
        "client_secret": "m2m-secret-0123456789abcdef0123456789", "grant_types": ["refresh_token"],
        "redirect_uris": ["https://m2m.example/cb"]}]});
    world.import(&body);
    let r = world.authorize(&[("client_id", "m2m"), ("response_type", "code"), ("state", "s")]);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("unauthorized_client"));
    // A third-party confidential client learns nothing about another client's tokens.
    let reg = world.call(
        Request::from_url("POST", &absolute("/oidc/register"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {INITIAL}"))
            .with_header("content-type", "application/json")
            .with_body(r#"{"redirect_uris":["https://rp.example/cb"]}"#),
    );
    let reg = json(&reg);
    let code = spa_code(&world);
    let access =
        json(&spa_exchange(&world, &code, VERIFIER))["access_token"].as_str().unwrap().to_string();
    let by = |id: &str, secret: &str| {
        json(
            &world.call(
                form_request("/oauth/introspect", &[("token", &access)])
                    .with_header("authorization", &basic(id, secret)),
            ),
        )["active"]
            .clone()
    };
    assert_eq!(
        by(reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap()),
        false
    );
    assert_eq!(
        by(WEB, WEB_SECRET),
        true,
        "first-party confidential clients (resource servers) may"
    );
}

#[test]
fn cors_for_registered_web_origins() {
    let world = World::new();
    let preflight = |origin: &str| {
        world.call(
            Request::from_url("OPTIONS", &absolute("/oauth/token"))
                .unwrap()
                .with_header("origin", origin)
                .with_header("access-control-request-method", "POST")
                .with_header("access-control-request-headers", "auth0-client, content-type"),
        )
    };
    let ok = preflight("http://127.0.0.1:5173");
    assert_eq!(ok.status, 204);
    assert_eq!(ok.header("access-control-allow-origin"), Some("http://127.0.0.1:5173"));
    assert!(ok.header("access-control-allow-headers").unwrap().contains("Auth0-Client"));
    let other = preflight("https://evil.example");
    assert!(other.header("access-control-allow-origin").is_none());
    let r = world.call(
        form_request(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", "x")],
        )
        .with_header("origin", "http://127.0.0.1:5173"),
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("http://127.0.0.1:5173"));
    // The SPA's origin is not an origin of the web client: no CORS for a request naming it.
    let r = world.call(
        form_request("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .with_header("authorization", &basic(WEB, WEB_SECRET))
            .with_header("origin", "http://127.0.0.1:5173"),
    );
    assert!(r.header("access-control-allow-origin").is_none());
    // JSON bodies (Auth0 SDKs) are accepted at the token endpoint.
    let r = world.call(
        Request::from_url("POST", &absolute("/oauth/token"))
            .unwrap()
            .with_header("content-type", "application/json")
            .with_body(r#"{"grant_type":"refresh_token","client_id":"spa","refresh_token":"x"}"#),
    );
    assert_eq!(json(&r)["error"], "invalid_grant");
}

#[test]
fn hostile_token_requests_get_4xx() {
    let world = World::new();
    let cases: Vec<Request> = vec![
        Request::from_url("POST", &absolute("/oauth/token"))
            .unwrap()
            .with_header("content-type", "text/plain")
            .with_body("grant_type=authorization_code"),
        Request::from_url("POST", &absolute("/oauth/token")).unwrap(),
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("grant_type", "refresh_token"),
                ("client_id", SPA),
            ],
        ),
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", SPA),
                ("code", &"c".repeat(9000)),
            ],
        ),
        form_request(
            "/oauth/token",
            &[("grant_type", "authorization_code"), ("client_id", "\u{0}\u{202e}"), ("code", "x")],
        ),
        form_request(
            "/oauth/token",
            &[("grant_type", "authorization_code"), ("client_id", SPA), ("code", "\u{feff}")],
        ),
        Request::from_url("POST", &absolute("/oauth/token"))
            .unwrap()
            .with_header("content-type", "application/json")
            .with_body("{\"grant_type\": [1]}"),
        Request::from_url("POST", &absolute("/oauth/token"))
            .unwrap()
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(vec![0xff, 0xfe, b'=', 0x00]),
    ];
    for (i, request) in cases.into_iter().enumerate() {
        let r = world.call(request);
        assert!(r.status >= 400 && r.status < 500, "case {i}: {}", r.status);
        assert!(json(&r)["error"].is_string(), "case {i}");
    }
}

#[test]
fn a_hint_for_another_user_does_not_log_this_user_out_unasked() {
    let world = World::new();
    world.import(&serde_json::json!({"users": [{"user_id": "u|bob", "email": "bob@example.com", "password": "bob-password-1"}]}));
    // Bob logs in (his browser) and gets an ID token.
    let first = world.authorize(SPA_QUERY);
    let after = world.login_from(&first, "bob@example.com", "bob-password-1");
    let code =
        redirect_params(&world.get(&location(&after))).get("code").unwrap().unwrap().to_string();
    let bobs =
        json(&spa_exchange(&world, &code, VERIFIER))["id_token"].as_str().unwrap().to_string();
    // Ada logs in in another browser.
    world.cookies.borrow_mut().clear();
    spa_code(&world);
    // A link carrying Bob's (valid) hint: Ada is asked, not logged out (RP-Initiated Logout §6).
    let r = world.get(&format!("/oidc/logout?id_token_hint={bobs}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5173%2F"));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8(r.body).unwrap().contains("Log out?"));
    let mut q = SPA_QUERY.to_vec();
    q.push(("prompt", "none"));
    assert!(
        redirect_params(&world.authorize(&q)).get("code").unwrap().is_some(),
        "Ada is still logged in"
    );
}

#[test]
fn a_reuse_interval_is_a_client_setting_that_tolerates_a_concurrent_tab_but_not_a_late_replay() {
    let world = World::new();
    let refresh = |rt: &str| {
        world.call(form_request(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", rt)],
        ))
    };
    let first_refresh_token = |world: &World| {
        let code = spa_code(world);
        json(&spa_exchange(world, &code, VERIFIER))["refresh_token"].as_str().unwrap().to_string()
    };
    // Without the setting (the default, 0), an immediate replay revokes the family.
    let rt1 = first_refresh_token(&world);
    let rt2 = json(&refresh(&rt1))["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(json(&refresh(&rt1))["error"], "invalid_grant");
    assert_eq!(json(&refresh(&rt2))["error"], "invalid_grant", "the grant is revoked");
    // The SPA client is given a 10 s reuse interval (Auth0's per-application setting).
    let mut spa: Value = serde_json::from_str::<Value>(&tenant()).unwrap()["clients"][0].clone();
    assert_eq!(spa["client_id"], SPA);
    spa["refresh_token_reuse_interval_seconds"] = 10.into();
    world.import(&serde_json::json!({ "clients": [spa] }));
    let rt1 = first_refresh_token(&world);
    let rt2 = json(&refresh(&rt1))["refresh_token"].as_str().unwrap().to_string();
    // Another tab sends rt1 a moment later: refused, and the grant lives on.
    assert_eq!(json(&refresh(&rt1))["error"], "invalid_grant");
    let r = refresh(&rt2);
    assert_eq!(r.status, 200, "rt2 still works");
    let rt3 = json(&r)["refresh_token"].as_str().unwrap().to_string();
    // Replaying a rotated token after the interval still revokes the whole grant.
    world.host.clock.advance(11);
    assert_eq!(json(&refresh(&rt2))["error"], "invalid_grant");
    assert_eq!(json(&refresh(&rt3))["error"], "invalid_grant");
    // The deployment-wide setting is gone; the client setting is bounded.
    spa["refresh_token_reuse_interval_seconds"] = 600.into();
    let r = world.call(
        gatehouse_core::http::Request::from_url("PUT", &absolute("/admin/tenant"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {ADMIN}"))
            .with_header("content-type", "application/json")
            .with_body(serde_json::json!({ "clients": [spa] }).to_string()),
    );
    assert_eq!(r.status, 400);
}

fn spa_refresh(world: &World, rt: &str) -> gatehouse_core::http::Response {
    world.call(form_request(
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", rt)],
    ))
}

/// S3: revocations that must be exact do not depend on KV. Here KV at "this location" never
/// sees the writes made while it lags; the decisions are read from the ledger anyway.
#[test]
fn revocation_is_exact_even_where_kv_lags() {
    let world = World::new();
    let code = spa_code(&world);
    let tokens = json(&spa_exchange(&world, &code, VERIFIER));
    let (access, rt) =
        (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    assert_eq!(userinfo(&world, access).status, 200);
    world.host.store.set_lagging(true);
    // Revoking the refresh token ends the grant: its access token is refused at once.
    let r = world.call(form_request("/oauth/revoke", &[("token", rt), ("client_id", SPA)]));
    assert_eq!(r.status, 200);
    assert_eq!(userinfo(&world, access).status, 401, "a revoked grant's access token");
    assert_eq!(world.introspect(access)["active"], false);
    assert_eq!(json(&spa_refresh(&world, rt))["error"], "invalid_grant");
    // A replayed code's first exchange is revoked at once too.
    world.host.store.set_lagging(false);
    let code = spa_code(&world);
    let first = json(&spa_exchange(&world, &code, VERIFIER));
    world.host.store.set_lagging(true);
    assert_eq!(json(&spa_exchange(&world, &code, VERIFIER))["error"], "invalid_grant");
    assert_eq!(userinfo(&world, first["access_token"].as_str().unwrap()).status, 401);
    assert_eq!(
        json(&spa_refresh(&world, first["refresh_token"].as_str().unwrap()))["error"],
        "invalid_grant"
    );
}

/// S3: a deleted client's tokens are refused at once, although the client record may still be
/// readable in KV for a while; and its refresh tokens too.
#[test]
fn a_deleted_client_is_refused_at_once_even_where_kv_lags() {
    let world = World::new();
    let reg = world.register(&serde_json::json!({"redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_post"}));
    let (id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
    let q = [
        ("client_id", id),
        ("response_type", "code"),
        ("redirect_uri", "https://rp.example/cb"),
        ("scope", "openid offline_access"),
    ];
    let first = world.authorize(&q);
    let after_login = world.login_from(&first, EMAIL, PASSWORD);
    let consent = world.get(&location(&after_login));
    let page = String::from_utf8(world.get(&location(&consent)).body).unwrap();
    let done = world.post_form(
        "/consent",
        &[("req", &hidden(&page, "req")), ("csrf", &hidden(&page, "csrf")), ("decision", "allow")],
    );
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let exchange = |code: &str| {
        world.call(form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://rp.example/cb"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        ))
    };
    let tokens = json(&exchange(&code));
    // A second code, issued before the deletion and exchanged after it.
    let again = world.authorize(&q);
    let second_code = redirect_params(&again).get("code").unwrap().unwrap().to_string();
    let access = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(userinfo(&world, access).status, 200);
    world.host.store.set_lagging(true);
    let deleted = world.delete_registered(&reg);
    assert_eq!(deleted.status, 204);
    assert_eq!(userinfo(&world, access).status, 401, "the deleted client's access token");
    let refresh = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", id),
            ("client_secret", secret),
        ],
    ));
    assert_eq!((refresh.status, json(&refresh)["error"].as_str()), (401, Some("invalid_client")));
    // Whatever else it asks the token endpoint: a live code, a used one, a made-up refresh
    // token, an unknown grant type (the grant's own read, or the endpoint, asks the ledger).
    let bogus_refresh = format!("{}.{}", "A".repeat(22), "B".repeat(43));
    for r in [
        exchange(&second_code),
        exchange(&code),
        world.call(form_request(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &bogus_refresh),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )),
        world.call(form_request(
            "/oauth/token",
            &[("grant_type", "urn:example:unknown"), ("client_id", id), ("client_secret", secret)],
        )),
    ] {
        assert_eq!(oauth_error(&r), (401, "invalid_client".into()));
    }
    // Nor can it use introspection or revocation (every client authentication checks).
    let introspected = world.call(form_request(
        "/oauth/introspect",
        &[("token", rt), ("client_id", id), ("client_secret", secret)],
    ));
    assert_eq!(introspected.status, 401);
}

/// S9: a used code presented by another client (which cannot have it legitimately) does not
/// revoke the grant; presented again by its own client, it does.
#[test]
fn only_the_codes_own_client_triggers_the_replay_revocation() {
    let world = World::new();
    let code = spa_code(&world);
    let tokens = json(&spa_exchange(&world, &code, VERIFIER));
    let access = tokens["access_token"].as_str().unwrap();
    let by_web = world.call(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
            ],
        )
        .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!(json(&by_web)["error"], "invalid_grant");
    assert_eq!(userinfo(&world, access).status, 200, "the legitimate grant lives on");
    let rt = tokens["refresh_token"].as_str().unwrap();
    let refreshed = spa_refresh(&world, rt);
    assert_eq!(refreshed.status, 200);
    // The code's own client replays it: everything issued for it is revoked.
    assert_eq!(json(&spa_exchange(&world, &code, VERIFIER))["error"], "invalid_grant");
    assert_eq!(userinfo(&world, access).status, 401);
    let rt2 = json(&refreshed)["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(json(&spa_refresh(&world, &rt2))["error"], "invalid_grant");
}

/// S11: RFC 8252 §7.3 loopback redirect URIs may use any port; nothing else may vary.
#[test]
fn loopback_redirect_uris_match_any_port() {
    let world = World::new();
    let with_redirect = |uri: &'static str| -> Vec<(&'static str, &'static str)> {
        SPA_QUERY
            .iter()
            .map(|&(k, v)| if k == "redirect_uri" { (k, uri) } else { (k, v) })
            .collect()
    };
    let other_port = "http://127.0.0.1:49152/callback";
    let done = world.code_flow(&with_redirect(other_port));
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    assert!(location(&done).starts_with(&format!("{other_port}?")), "{}", location(&done));
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let exchange = |redirect: &str| {
        world.call(form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", SPA),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("redirect_uri", redirect),
            ],
        ))
    };
    // RFC 6749 §4.1.3: the token request repeats the very URI used.
    assert_eq!(json(&exchange(SPA_REDIRECT))["error"], "invalid_grant");
    assert_eq!(exchange(other_port).status, 200);
    for refused in [
        "http://127.0.0.1:49152/other",
        "http://localhost:5173/callback",
        "http://127.0.0.2:5173/callback",
        "https://127.0.0.1:5173/callback",
        "http://127.0.0.1:49152/callback?x=1",
    ] {
        let r = world.authorize(&with_redirect(refused));
        assert_eq!(r.status, 400, "{refused}");
        assert!(r.header("location").is_none(), "{refused}");
    }
    // Not for other hosts: web.example's port is part of the exact match.
    let r = world.authorize(&[
        ("client_id", WEB),
        ("response_type", "code"),
        ("redirect_uri", "https://web.example:8443/callback"),
    ]);
    assert_eq!(r.status, 400);
}

/// S11: OIDC Core §3.1.2.1 makes redirect_uri REQUIRED in OpenID requests, even when only one
/// is registered; RFC 9101 §5: request and request_uri together are invalid_request.
#[test]
fn openid_requests_need_a_redirect_uri_and_request_objects_are_refused_correctly() {
    let world = World::new();
    let without: Vec<_> = SPA_QUERY.iter().copied().filter(|(k, _)| *k != "redirect_uri").collect();
    let r = world.authorize(&without);
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    // Without openid, the one registered URI may be implied (RFC 6749 §3.1.2.3).
    let plain: Vec<_> = without
        .iter()
        .map(|&(k, v)| if k == "scope" { (k, "read:messages") } else { (k, v) })
        .collect();
    assert!(location(&world.authorize(&plain)).starts_with("/login"));
    // Request objects are unpacked before anything in them is trusted: their failures are pages
    // (tests/request_objects.rs has each refusal).
    let mut both = SPA_QUERY.to_vec();
    both.push(("request", "eyJhbGciOiJub25lIn0.e30."));
    both.push(("request_uri", "urn:ietf:params:oauth:request_uri:abc"));
    let r = world.authorize(&both);
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    assert!(String::from_utf8_lossy(&r.body).contains("<strong>invalid_request</strong>"));
    let mut one = SPA_QUERY.to_vec();
    one.push(("request", "eyJhbGciOiJub25lIn0.e30."));
    let r = world.authorize(&one);
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    assert!(String::from_utf8_lossy(&r.body).contains("<strong>invalid_request_object</strong>"));
}

/// Item 6: after the client and redirect URI are trusted, an internal failure during
/// /authorize is redirected as server_error (RFC 6749 §4.1.2.1), logged, with no detail.
#[test]
fn internal_failures_at_authorize_go_back_as_server_error() {
    let world = World::new();
    // A stored API record that does not parse: a bug-shaped condition.
    block_on(world.host.store.put(&format!("api/{API}"), b"{garbage", None)).unwrap();
    let r = world.authorize(SPA_QUERY);
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    assert!(location(&r).starts_with(SPA_REDIRECT));
    let params = redirect_params(&r);
    assert_eq!(params.get("error").unwrap(), Some("server_error"));
    assert_eq!(params.get("state").unwrap(), Some("st-1"));
    assert_eq!(params.get("iss").unwrap(), Some(ISSUER));
    assert!(!params.get("error_description").unwrap().unwrap_or("").contains("garbage"));
    assert!(world.host.log.borrow().iter().any(|l| l.contains("unreadable record")));
}

/// S2: a client's web origins are the one source of truth for CORS; an origin it drops stops
/// working at once, for its requests and for preflights.
#[test]
fn cors_follows_the_clients_current_web_origins() {
    let world = World::new();
    let mut spa: Value = serde_json::from_str::<Value>(&tenant()).unwrap()["clients"][0].clone();
    spa["web_origins"] = serde_json::json!(["http://127.0.0.1:5173", "https://old.example"]);
    world.import(&serde_json::json!({ "clients": [spa.clone()] }));
    let token_call = |origin: &str| {
        world.call(
            form_request("/oauth/token", &[("grant_type", "refresh_token"), ("client_id", SPA)])
                .with_header("origin", origin),
        )
    };
    let preflight = |origin: &str| {
        world.call(
            Request::from_url("OPTIONS", &absolute("/oauth/token"))
                .unwrap()
                .with_header("origin", origin),
        )
    };
    assert_eq!(
        token_call("https://old.example").header("access-control-allow-origin"),
        Some("https://old.example")
    );
    assert_eq!(
        preflight("https://old.example").header("access-control-allow-origin"),
        Some("https://old.example")
    );
    spa["web_origins"] = serde_json::json!(["http://127.0.0.1:5173"]);
    world.import(&serde_json::json!({ "clients": [spa] }));
    assert_eq!(token_call("https://old.example").header("access-control-allow-origin"), None);
    assert_eq!(preflight("https://old.example").header("access-control-allow-origin"), None);
    assert_eq!(
        token_call("http://127.0.0.1:5173").header("access-control-allow-origin"),
        Some("http://127.0.0.1:5173")
    );
    // A bearer call is allowed for the origins of the token's own client only.
    let code = spa_code(&world);
    let access =
        json(&spa_exchange(&world, &code, VERIFIER))["access_token"].as_str().unwrap().to_string();
    let from = |origin: &str| {
        world.call(
            Request::from_url("GET", &absolute("/userinfo"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {access}"))
                .with_header("origin", origin),
        )
    };
    assert_eq!(
        from("http://127.0.0.1:5173").header("access-control-allow-origin"),
        Some("http://127.0.0.1:5173")
    );
    world.import(
        &serde_json::json!({"clients": [{"client_id": "other", "name": "Other", "app_type": "spa",
        "redirect_uris": ["https://other.example/cb"], "web_origins": ["https://other.example"]}]}),
    );
    assert_eq!(
        preflight("https://other.example").header("access-control-allow-origin"),
        Some("https://other.example")
    );
    assert_eq!(from("https://other.example").header("access-control-allow-origin"), None);
}

/// Replaces the signing key set with garbage (a failure after a grant has checked everything),
/// returning a closure that restores it.
fn break_the_key_set(world: &World) -> impl Fn() + '_ {
    use gatehouse_core::ports::Ledger;
    let now = world.now();
    let ledger_text = block_on(world.host.ledger.get("keys:signing", now)).unwrap().unwrap();
    let store_bytes = block_on(world.host.store.get("keys/signing")).unwrap();
    assert!(block_on(world.host.ledger.compare_and_set(
        "keys:signing",
        Some(&ledger_text),
        "garbage",
        now,
        None
    ))
    .unwrap());
    block_on(world.host.store.put("keys/signing", b"garbage", None)).unwrap();
    move || {
        let now = world.now();
        assert!(block_on(world.host.ledger.compare_and_set(
            "keys:signing",
            Some("garbage"),
            &ledger_text,
            now,
            None
        ))
        .unwrap());
        match &store_bytes {
            Some(b) => block_on(world.host.store.put("keys/signing", b, None)).unwrap(),
            None => block_on(world.host.store.delete("keys/signing")).unwrap(),
        }
    }
}

/// Review: a failure after the grant's checks but before its answer (here: signing) leaves the
/// code or refresh token unspent, so the client's retry is not mistaken for a replay.
#[test]
fn a_failure_while_minting_spends_nothing() {
    let world = World::new();
    let code = spa_code(&world);
    let tokens = json(&spa_exchange(&world, &code, VERIFIER));
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_string();
    let restore = break_the_key_set(&world);
    let failed = spa_refresh(&world, &rt1);
    assert_eq!(failed.status, 500);
    restore();
    let retried = spa_refresh(&world, &rt1);
    assert_eq!(
        retried.status,
        200,
        "rt1 is still current: {}",
        String::from_utf8_lossy(&retried.body)
    );
    // Likewise a code.
    let code = spa_code(&world);
    let restore = break_the_key_set(&world);
    assert_eq!(spa_exchange(&world, &code, VERIFIER).status, 500);
    restore();
    assert_eq!(spa_exchange(&world, &code, VERIFIER).status, 200, "the code was not burned");
}

/// Review: RFC 7009 §2.2 — a 200 means the token is invalid now; a failure to tell is a 5xx.
#[test]
fn revocation_does_not_answer_200_when_it_could_not_check() {
    let world = World::new();
    let code = spa_code(&world);
    let access =
        json(&spa_exchange(&world, &code, VERIFIER))["access_token"].as_str().unwrap().to_string();
    let restore = break_the_key_set(&world);
    let r = world.call(form_request("/oauth/revoke", &[("token", &access), ("client_id", SPA)]));
    assert_eq!(r.status, 500);
    restore();
    assert_eq!(userinfo(&world, &access).status, 200);
    let r = world.call(form_request("/oauth/revoke", &[("token", &access), ("client_id", SPA)]));
    assert_eq!(r.status, 200);
    assert_eq!(userinfo(&world, &access).status, 401);
}

/// Review: a replay that revokes the grant between the winning exchange's use of the code and
/// its answer leaves the winner with nothing, with or without offline_access.
#[test]
fn a_grant_revoked_during_the_exchange_issues_nothing() {
    use gatehouse_core::ports::Ledger;
    let world = World::new();
    let q: Vec<_> = SPA_QUERY
        .iter()
        .map(|&(k, v)| if k == "scope" { (k, "openid read:messages") } else { (k, v) })
        .collect();
    let done = world.code_flow(&q);
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let key = gatehouse_core::grant::authorization_code::code_key(&code);
    let record: Value =
        serde_json::from_str(&block_on(world.host.ledger.get(&key, world.now())).unwrap().unwrap())
            .unwrap();
    let gid = record["live"]["authorization"]["grant_id"].as_str().unwrap().to_string();
    // The replay's revocation lands first.
    let revoked = format!(r#"{{"ended":{{"at":{}}}}}"#, world.now());
    assert!(block_on(world.host.ledger.compare_and_set(
        &gatehouse_core::grant::grant_key(&gid),
        None,
        &revoked,
        world.now(),
        Some(world.now() + 3600)
    ))
    .unwrap());
    let r = spa_exchange(&world, &code, VERIFIER);
    assert_eq!(json(&r)["error"], "invalid_grant", "{}", String::from_utf8_lossy(&r.body));
}

/// Review: revoking a refresh token that rotation already replaced ends the grant (RFC 9700
/// §4.14.2: its owner presenting it means the family must end).
#[test]
fn revoking_a_replaced_refresh_token_ends_the_grant() {
    let world = World::new();
    let code = spa_code(&world);
    let rt1 =
        json(&spa_exchange(&world, &code, VERIFIER))["refresh_token"].as_str().unwrap().to_string();
    let rt2 = json(&spa_refresh(&world, &rt1))["refresh_token"].as_str().unwrap().to_string();
    let r = world.call(form_request("/oauth/revoke", &[("token", &rt1), ("client_id", SPA)]));
    assert_eq!(r.status, 200);
    assert_eq!(json(&spa_refresh(&world, &rt2))["error"], "invalid_grant");
}

/// Review: anyone who saw a used code (a log, a Referer) cannot revoke a public client's grant
/// by replaying it with just the client_id: the replay must prove the PKCE verifier.
#[test]
fn a_public_clients_replay_revokes_only_with_the_verifier() {
    let world = World::new();
    let code = spa_code(&world);
    let access =
        json(&spa_exchange(&world, &code, VERIFIER))["access_token"].as_str().unwrap().to_string();
    let bare = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &code),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ));
    assert_eq!(json(&bare)["error"], "invalid_grant");
    assert_eq!(userinfo(&world, &access).status, 200, "a bare replay revokes nothing");
    let wrong = spa_exchange(&world, &code, "wrong-verifier-0123456789012345678901234567890");
    assert_eq!(json(&wrong)["error"], "invalid_grant");
    assert_eq!(userinfo(&world, &access).status, 200);
    assert_eq!(json(&spa_exchange(&world, &code, VERIFIER))["error"], "invalid_grant");
    assert_eq!(userinfo(&world, &access).status, 401, "the client's own replay revokes");
}
