//! DPoP (RFC 9449), in process: proofs at the token endpoint, bound access and refresh tokens,
//! `dpop_jkt` at `/authorize` and PAR, the DPoP scheme at `/userinfo`, introspection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::{Request, Response};
use gatehouse_core::jose::jwk::Jwk;
use gatehouse_core::jose::Algorithm;
use gatehouse_core::ports::Crypto;
use gatehouse_core::rust_crypto::RustCrypto;
use pollster::block_on;
use serde_json::{json, Value};
use support::*;

const TOKEN_URL: &str = "http://127.0.0.1:8787/oauth/token";
const USERINFO_URL: &str = "http://127.0.0.1:8787/userinfo";
const PAR_URL: &str = "http://127.0.0.1:8787/oauth/par";

fn key(seed: u8) -> Jwk {
    block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [seed; 32])).unwrap()
}

/// A proof by `key` for `htm` `htu`, with `change` applied to its header and claims.
fn proof_with(
    world: &World,
    key: &Jwk,
    htm: &str,
    htu: &str,
    jti: &str,
    change: impl FnOnce(&mut Value, &mut Value),
) -> String {
    let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.to_public()});
    let mut claims = json!({"htm": htm, "htu": htu, "iat": world.now(), "jti": jti});
    change(&mut header, &mut claims);
    let b = |v: &Value| gatehouse_core::b64::encode(v.to_string());
    let input = format!("{}.{}", b(&header), b(&claims));
    let signature = block_on(RustCrypto.sign(key, Algorithm::ES256, input.as_bytes())).unwrap();
    format!("{input}.{}", gatehouse_core::b64::encode(signature))
}

fn proof(world: &World, key: &Jwk, htm: &str, htu: &str, jti: &str) -> String {
    proof_with(world, key, htm, htu, jti, |_, _| {})
}

/// A token request bound to `key` (`send` makes it with the proof given): refused as
/// `invalid_grant` without a proof, and with `other`'s when given (nothing is spent), then
/// answered with a proof by `key`, which is returned.
fn only_with_key(
    world: &World,
    key: &Jwk,
    other: Option<&Jwk>,
    jti: &str,
    send: impl Fn(Option<&str>) -> Response,
) -> Response {
    assert_eq!(oauth_error(&send(None)), (400, "invalid_grant".into()));
    if let Some(other) = other {
        let by_other = proof(world, other, "POST", TOKEN_URL, &format!("{jti}-other"));
        assert_eq!(oauth_error(&send(Some(&by_other))), (400, "invalid_grant".into()));
    }
    send(Some(&proof(world, key, "POST", TOKEN_URL, jti)))
}

fn jkt(key: &Jwk) -> String {
    key.to_public().thumbprint().unwrap()
}

fn spa_code(world: &World, extra: &[(&str, &str)]) -> String {
    let mut query = vec![
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid offline_access read:messages"),
        ("audience", API),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    let done = world.code_flow(&query);
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    redirect_params(&done).get("code").unwrap().unwrap().to_string()
}

/// The SPA pushes a code request (with `extra` parameters) and a DPoP proof.
fn spa_push(world: &World, extra: &[(&str, &str)], dpop: &str) -> Response {
    let mut form = vec![
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    form.extend_from_slice(extra);
    world.call(form_request("/oauth/par", &form).with_header("dpop", dpop))
}

fn spa_exchange(world: &World, code: &str, dpop: Option<&str>) -> Response {
    let mut request = form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", code),
            ("redirect_uri", SPA_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    );
    if let Some(p) = dpop {
        request = request.with_header("dpop", p);
    }
    world.call(request)
}

/// The SPA's code exchanged with a proof by `key`: its tokens, bound to it.
fn bound_spa_tokens(world: &World, key: &Jwk, jti: &str) -> Value {
    let code = spa_code(world, &[]);
    let r = spa_exchange(world, &code, Some(&proof(world, key, "POST", TOKEN_URL, jti)));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)
}

fn spa_refresh(world: &World, refresh_token: &str, dpop: Option<&str>) -> Response {
    let mut request = form_request(
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", refresh_token)],
    );
    if let Some(p) = dpop {
        request = request.with_header("dpop", p);
    }
    world.call(request)
}

/// A code for the confidential web client (refresh tokens, the API).
fn web_code(world: &World) -> String {
    let done = world.code_flow(&[
        ("client_id", WEB),
        ("redirect_uri", WEB_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid offline_access read:messages"),
        ("audience", API),
    ]);
    redirect_params(&done).get("code").unwrap().unwrap().to_string()
}

/// A token request of the web client (`client_secret_basic`), with a DPoP proof if given.
fn web_token(world: &World, form: &[(&str, &str)], dpop: Option<String>) -> Response {
    let mut request =
        form_request("/oauth/token", form).with_header("authorization", &basic(WEB, WEB_SECRET));
    if let Some(p) = dpop {
        request = request.with_header("dpop", &p);
    }
    world.call(request)
}

fn web_exchange(world: &World, code: &str, dpop: Option<String>) -> Response {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", WEB_REDIRECT)];
    web_token(world, &form, dpop)
}

fn web_refresh(world: &World, refresh_token: &str, dpop: Option<String>) -> Response {
    web_token(world, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)], dpop)
}

fn userinfo(world: &World, authorization: &str, dpop: Option<&str>) -> Response {
    let mut request = Request::from_url("GET", &absolute("/userinfo"))
        .unwrap()
        .with_header("authorization", authorization);
    if let Some(p) = dpop {
        request = request.with_header("dpop", p);
    }
    world.call(request)
}

#[test]
fn a_proof_binds_the_tokens_and_a_public_clients_refresh_tokens_to_its_key() {
    let world = World::new();
    let (k, other) = (key(1), key(2));
    let code = spa_code(&world, &[]);
    let r = spa_exchange(&world, &code, Some(&proof(&world, &k, "POST", TOKEN_URL, "p-1")));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json(&r);
    // §5: token_type DPoP; §6.1: cnf.jkt, the key's RFC 7638 thumbprint.
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&access)["cnf"]["jkt"], jkt(&k));
    // §6.2: introspection shows the binding.
    let introspected = world.introspect(&access);
    assert_eq!(
        (introspected["token_type"].clone(), introspected["cnf"]["jkt"].clone()),
        (json!("DPoP"), json!(jkt(&k)))
    );
    // §5: a public client's refresh token is bound too: no proof, or another key, is refused
    // (the token stays usable).
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let r = only_with_key(&world, &k, Some(&other), "p-3", |p| spa_refresh(&world, &rt, p));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["token_type"], "DPoP");
    assert_eq!(claims(json(&r)["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt(&k));
    // Without a proof, tokens stay Bearer tokens.
    let code = spa_code(&world, &[]);
    let r = spa_exchange(&world, &code, None);
    assert_eq!(json(&r)["token_type"], "Bearer");
    assert!(claims(json(&r)["access_token"].as_str().unwrap()).get("cnf").is_none());
}

#[test]
fn every_bad_proof_is_invalid_dpop_proof_and_spends_nothing() {
    let world = World::new();
    let k = key(3);
    let code = spa_code(&world, &[]);
    let now = world.now();
    let mut private_header = json!({"typ": "dpop+jwt", "alg": "ES256"});
    private_header["jwk"] = serde_json::to_value(&k).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("typ", proof_with(&world, &k, "POST", TOKEN_URL, "b-1", |h, _| h["typ"] = json!("JWT"))),
        (
            "no typ",
            proof_with(&world, &k, "POST", TOKEN_URL, "b-2", |h, _| {
                h.as_object_mut().unwrap().remove("typ");
            }),
        ),
        (
            "no jwk",
            proof_with(&world, &k, "POST", TOKEN_URL, "b-3", |h, _| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
        ),
        (
            "private jwk",
            proof_with(&world, &k, "POST", TOKEN_URL, "b-4", |h, _| *h = private_header.clone()),
        ),
        (
            "another key's jwk",
            proof_with(&world, &k, "POST", TOKEN_URL, "b-5", |h, _| {
                h["jwk"] = serde_json::to_value(key(4).to_public()).unwrap()
            }),
        ),
        ("htm", proof(&world, &k, "GET", TOKEN_URL, "b-6")),
        ("htu", proof(&world, &k, "POST", "http://127.0.0.1:8787/oauth/par", "b-7")),
        (
            "htu of another host",
            proof(&world, &k, "POST", "https://evil.example/oauth/token", "b-8"),
        ),
        (
            "old",
            proof_with(&world, &k, "POST", TOKEN_URL, "b-9", |_, c| c["iat"] = json!(now - 600)),
        ),
        (
            "future",
            proof_with(&world, &k, "POST", TOKEN_URL, "b-10", |_, c| c["iat"] = json!(now + 600)),
        ),
        ("no jti", proof_with(&world, &k, "POST", TOKEN_URL, "", |_, _| {})),
        (
            "alg none",
            format!(
                "{}.{}.",
                gatehouse_core::b64::encode(r#"{"typ":"dpop+jwt","alg":"none"}"#),
                gatehouse_core::b64::encode("{}")
            ),
        ),
        ("not a JWT", "x".into()),
    ];
    for (why, p) in &cases {
        assert_eq!(
            oauth_error(&spa_exchange(&world, &code, Some(p))),
            (400, "invalid_dpop_proof".into()),
            "{why}"
        );
    }
    // Two proofs at once.
    let r = world.call(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", SPA),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .with_header("dpop", &proof(&world, &k, "POST", TOKEN_URL, "b-11"))
        .with_header("dpop", &proof(&world, &k, "POST", TOKEN_URL, "b-12")),
    );
    assert_eq!(oauth_error(&r), (400, "invalid_dpop_proof".into()));
    // The code was not spent by any of them; a proof is used once (§11.1).
    let good = proof(&world, &k, "POST", TOKEN_URL, "g-1");
    assert_eq!(spa_exchange(&world, &code, Some(&good)).status, 200);
    let code = spa_code(&world, &[]);
    assert_eq!(
        oauth_error(&spa_exchange(&world, &code, Some(&good))),
        (400, "invalid_dpop_proof".into())
    );
}

#[test]
fn dpop_jkt_binds_the_code_at_authorize_and_at_par() {
    let world = World::new();
    let (k, other) = (key(5), key(6));
    let code = spa_code(&world, &[("dpop_jkt", &jkt(&k))]);
    // §10: the code needs a proof by that key.
    let r = only_with_key(&world, &k, Some(&other), "j-2", |p| spa_exchange(&world, &code, p));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Malformed: refused.
    let stars = "*".repeat(43);
    for bad in ["short", stars.as_str()] {
        let q = [
            ("client_id", SPA),
            ("redirect_uri", SPA_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("dpop_jkt", bad),
        ];
        let r = world.authorize(&q);
        assert_eq!(redirect_params(&r).get("error").unwrap(), Some("invalid_request"), "{bad}");
    }
    // §10.1: a proof at PAR binds the code the same way.
    let par_proof = proof(&world, &k, "POST", PAR_URL, "j-3");
    let pushed = spa_push(&world, &[], &par_proof);
    assert_eq!(pushed.status, 201, "{}", String::from_utf8_lossy(&pushed.body));
    let request_uri = json(&pushed)["request_uri"].as_str().unwrap().to_string();
    let done = world.code_flow(&[("client_id", SPA), ("request_uri", &request_uri)]);
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    assert_eq!(
        only_with_key(&world, &k, None, "j-4", |p| spa_exchange(&world, &code, p)).status,
        200
    );
    // A dpop_jkt that is not the PAR proof's key is refused.
    let other_jkt = jkt(&other);
    let par_proof = proof(&world, &k, "POST", PAR_URL, "j-5");
    let mismatch = spa_push(&world, &[("dpop_jkt", &other_jkt)], &par_proof);
    assert_eq!(oauth_error(&mismatch), (400, "invalid_dpop_proof".into()));
}

#[test]
fn userinfo_takes_a_bound_token_only_with_the_dpop_scheme_and_a_proof_by_its_key() {
    let world = World::new();
    let (k, other) = (key(7), key(8));
    let access = bound_spa_tokens(&world, &k, "u-1")["access_token"].as_str().unwrap().to_string();
    let ath = gatehouse_core::b64::sha256(&access);
    let with_ath = |key: &Jwk, jti: &str, ath: &str| {
        let ath = ath.to_string();
        proof_with(&world, key, "GET", USERINFO_URL, jti, move |_, c| c["ath"] = json!(ath))
    };
    let r = userinfo(&world, &format!("DPoP {access}"), Some(&with_ath(&k, "u-2", &ath)));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["sub"], USER_ID);
    // §7.2: not as a bearer token; the challenge names the scheme it must use.
    let r = userinfo(&world, &format!("Bearer {access}"), None);
    assert_eq!(oauth_error(&r), (401, "invalid_token".into()));
    assert!(r.header("www-authenticate").unwrap_or("").starts_with("DPoP algs="));
    // §7.1: a proof is required, by the token's key, for this token (ath), once.
    for (why, p, code) in [
        ("no proof", None, "invalid_dpop_proof"),
        ("another key", Some(with_ath(&other, "u-3", &ath)), "invalid_token"),
        ("no ath", Some(proof(&world, &k, "GET", USERINFO_URL, "u-4")), "invalid_dpop_proof"),
        (
            "wrong ath",
            Some(with_ath(&k, "u-5", &gatehouse_core::b64::sha256("other"))),
            "invalid_dpop_proof",
        ),
        ("replayed", Some(with_ath(&k, "u-2", &ath)), "invalid_dpop_proof"),
    ] {
        let r = userinfo(&world, &format!("DPoP {access}"), p.as_deref());
        assert_eq!(r.status, 401, "{why}");
        let challenge = r.header("www-authenticate").unwrap_or("").to_string();
        assert!(challenge.starts_with("DPoP algs=\"RS256 ES256 PS256\""), "{why}: {challenge}");
        assert_eq!(json(&r)["error"], code, "{why}");
    }
    // A Bearer token is not sent with the DPoP scheme.
    let plain = json(&spa_exchange(&world, &spa_code(&world, &[]), None))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let p = proof_with(&world, &k, "GET", USERINFO_URL, "u-6", |_, c| {
        c["ath"] = json!(gatehouse_core::b64::sha256(&plain))
    });
    assert_eq!(
        oauth_error(&userinfo(&world, &format!("DPoP {plain}"), Some(&p))),
        (401, "invalid_token".into())
    );
    assert_eq!(userinfo(&world, &format!("Bearer {plain}"), None).status, 200);
}

#[test]
fn confidential_clients_refresh_unbound_and_an_api_may_require_dpop() {
    let world = World::new();
    let k = key(9);
    // A confidential client: the access token is bound, the refresh token is not (§5).
    let code = web_code(&world);
    let r = web_exchange(&world, &code, Some(proof(&world, &k, "POST", TOKEN_URL, "c-1")));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["token_type"], "DPoP");
    let rt = json(&r)["refresh_token"].as_str().unwrap().to_string();
    let r = web_refresh(&world, &rt, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["token_type"], "Bearer");
    // An API that requires DPoP: no unbound token, from the token endpoint or the front channel.
    world.import(&json!({"apis": [{"identifier": API2, "name": "Second API", "require_dpop": true,
        "scopes": [{"value": "read:messages", "description": "Read"}]}]}));
    let ask = |dpop: Option<String>| {
        let mut request = form_request(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", M2M),
                ("client_secret", M2M_SECRET),
                ("audience", API2),
            ],
        );
        if let Some(p) = dpop {
            request = request.with_header("dpop", &p);
        }
        world.call(request)
    };
    assert_eq!(oauth_error(&ask(None)), (400, "invalid_dpop_proof".into()));
    let r = ask(Some(proof(&world, &k, "POST", TOKEN_URL, "c-2")));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["token_type"], "DPoP");
    let doc = json(&world.get("/.well-known/openid-configuration"));
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["RS256", "ES256", "PS256"]));
}

#[test]
fn more_refusals_a_query_in_htu_and_cors() {
    let world = World::new();
    let k = key(10);
    let code = spa_code(&world, &[]);
    let now = world.now();
    for (why, p) in [
        (
            "HS256",
            proof_with(&world, &k, "POST", TOKEN_URL, "m-1", |h, _| h["alg"] = json!("HS256")),
        ),
        (
            "no iat",
            proof_with(&world, &k, "POST", TOKEN_URL, "m-2", |_, c| {
                c.as_object_mut().unwrap().remove("iat");
            }),
        ),
        (
            "iat not a number",
            proof_with(&world, &k, "POST", TOKEN_URL, "m-3", |_, c| {
                c["iat"] = json!(now.to_string())
            }),
        ),
        (
            "payload not an object",
            proof_with(&world, &k, "POST", TOKEN_URL, "m-4", |_, c| *c = json!([1])),
        ),
        ("jti too long", proof_with(&world, &k, "POST", TOKEN_URL, &"j".repeat(300), |_, _| {})),
    ] {
        assert_eq!(
            oauth_error(&spa_exchange(&world, &code, Some(&p))),
            (400, "invalid_dpop_proof".into()),
            "{why}"
        );
    }
    // §4.3: htu is compared without query and fragment.
    let with_query = proof(&world, &k, "POST", &format!("{TOKEN_URL}?x=1#f"), "m-5");
    assert_eq!(spa_exchange(&world, &code, Some(&with_query)).status, 200);
    // A proof made for another endpoint is refused at PAR.
    let wrong = proof(&world, &k, "POST", TOKEN_URL, "m-6");
    let r = spa_push(&world, &[], &wrong);
    assert_eq!(oauth_error(&r), (400, "invalid_dpop_proof".into()));
    // Browsers may send proofs: the preflight allows the DPoP header.
    let preflight = world.call(
        Request::from_url("OPTIONS", &absolute("/oauth/token"))
            .unwrap()
            .with_header("origin", "http://127.0.0.1:5173")
            .with_header("access-control-request-method", "POST")
            .with_header("access-control-request-headers", "dpop, content-type"),
    );
    assert!(preflight.header("access-control-allow-headers").unwrap_or("").contains("DPoP"));
}

#[test]
fn a_public_family_started_unbound_is_bound_by_a_refresh_with_a_proof() {
    let world = World::new();
    let k = key(11);
    let rt = json(&spa_exchange(&world, &spa_code(&world, &[]), None))["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = spa_refresh(&world, &rt, Some(&proof(&world, &k, "POST", TOKEN_URL, "f-1")));
    assert_eq!(json(&r)["token_type"], "DPoP");
    let next = json(&r)["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        only_with_key(&world, &k, None, "f-2", |p| spa_refresh(&world, &next, p)).status,
        200
    );
}

#[test]
fn no_dpop_jkt_or_require_dpop_api_with_front_channel_tokens() {
    let world = World::new();
    world.import(&json!({
        "clients": [{"client_id": "imp", "name": "Implicit", "app_type": "spa", "redirect_uris": [SPA_REDIRECT],
                     "grant_types": ["implicit"], "response_types": ["id_token token"]}],
        "apis": [{"identifier": API2, "name": "Second API", "require_dpop": true,
                  "scopes": [{"value": "read:messages", "description": "Read"}]}]}));
    let k = key(12);
    let base = [
        ("client_id", "imp"),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "id_token token"),
        ("scope", "openid"),
        ("nonce", "n"),
        ("state", "s"),
    ];
    let jkt = jkt(&k);
    let mut bound = base.to_vec();
    bound.push(("dpop_jkt", &jkt));
    let mut dpop_api = base.to_vec();
    dpop_api.push(("audience", API2));
    for (why, q) in [("dpop_jkt", bound), ("require_dpop", dpop_api)] {
        let r = world.authorize(&q);
        assert_eq!(r.status, 302, "{why}");
        let fragment = location(&r);
        assert!(fragment.contains("error=invalid_request"), "{why}: {fragment}");
    }
    // Without either, the implicit flow still answers.
    assert!(location(&world.code_flow(&base)).contains("access_token="));
}

#[test]
fn a_ps256_proof_whose_key_names_its_algorithm_is_accepted() {
    let world = World::new();
    let rsa = block_on(RustCrypto.generate_signing_key(Algorithm::PS256, [14; 32])).unwrap();
    let public = Jwk { alg: Some("PS256".into()), ..rsa.to_public() };
    let header = json!({"typ": "dpop+jwt", "alg": "PS256", "jwk": public});
    let claims = json!({"htm": "POST", "htu": TOKEN_URL, "iat": world.now(), "jti": "ps-1"});
    let b = |v: &Value| gatehouse_core::b64::encode(v.to_string());
    let input = format!("{}.{}", b(&header), b(&claims));
    let signature = block_on(RustCrypto.sign(&rsa, Algorithm::PS256, input.as_bytes())).unwrap();
    let p = format!("{input}.{}", gatehouse_core::b64::encode(signature));
    let code = spa_code(&world, &[]);
    let r = spa_exchange(&world, &code, Some(&p));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(claims_of(&r)["cnf"]["jkt"], public.thumbprint().unwrap());
}

fn claims_of(r: &Response) -> Value {
    claims(json(r)["access_token"].as_str().unwrap())
}

#[test]
fn with_server_nonces_a_proof_carries_a_current_one() {
    let mut world = World::new();
    world.config.dpop_nonces = true;
    let k = key(15);
    let code = spa_code(&world, &[]);
    let with_nonce = |jti: &str, nonce: &str| {
        let nonce = nonce.to_string();
        proof_with(&world, &k, "POST", TOKEN_URL, jti, move |_, c| c["nonce"] = json!(nonce))
    };
    // §8: no nonce → use_dpop_nonce (400), with one to use; the code is not spent.
    let r = spa_exchange(&world, &code, Some(&proof(&world, &k, "POST", TOKEN_URL, "n-1")));
    assert_eq!(oauth_error(&r), (400, "use_dpop_nonce".into()));
    let nonce = r.header("dpop-nonce").unwrap().to_string();
    // Nonces this deployment did not issue for this issuer: garbage, a real one tampered with,
    // one of another issuer under the same key.
    let mut tampered = nonce.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let foreign =
        block_on(gatehouse_core::dpop::nonce(&world.host, &world.config, "https://other.example/"))
            .unwrap();
    for (i, bad) in ["forged", tampered.as_str(), foreign.as_str()].into_iter().enumerate() {
        let r = spa_exchange(&world, &code, Some(&with_nonce(&format!("n-2-{i}"), bad)));
        assert_eq!(oauth_error(&r), (400, "use_dpop_nonce".into()), "{bad}");
    }
    // A refused proof's jti is not spent: the same jti with the right nonce is accepted below.
    // The issued one works, and the answer carries the next.
    let r = spa_exchange(&world, &code, Some(&with_nonce("n-2-0", &nonce)));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("dpop-nonce").is_some());
    let access = json(&r)["access_token"].as_str().unwrap().to_string();
    // §9: at /userinfo, a 401 with the DPoP challenge and a nonce.
    let ath = gatehouse_core::b64::sha256(&access);
    let at_userinfo = |jti: &str, nonce: Option<&str>| {
        let (ath, nonce) = (ath.clone(), nonce.map(str::to_string));
        proof_with(&world, &k, "GET", USERINFO_URL, jti, move |_, c| {
            c["ath"] = json!(ath);
            if let Some(n) = nonce {
                c["nonce"] = json!(n);
            }
        })
    };
    let r = userinfo(&world, &format!("DPoP {access}"), Some(&at_userinfo("n-4", None)));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"use_dpop_nonce\""));
    let nonce = r.header("dpop-nonce").unwrap().to_string();
    let r = userinfo(&world, &format!("DPoP {access}"), Some(&at_userinfo("n-5", Some(&nonce))));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A nonce stays current for a little while (the next 20-second window)...
    world.host.clock.advance(15);
    let r = userinfo(&world, &format!("DPoP {access}"), Some(&at_userinfo("n-5b", Some(&nonce))));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // ...then goes stale.
    world.host.clock.advance(45);
    let r = userinfo(&world, &format!("DPoP {access}"), Some(&at_userinfo("n-6", Some(&nonce))));
    assert_eq!(r.status, 401);
    assert_eq!(json(&r)["error"], "use_dpop_nonce");
    // PAR answers the same way.
    let r = spa_push(&world, &[], &proof(&world, &k, "POST", PAR_URL, "n-7"));
    assert_eq!(oauth_error(&r), (400, "use_dpop_nonce".into()));
    assert!(r.header("dpop-nonce").is_some());
}

#[test]
fn without_server_nonces_no_nonce_is_sent() {
    let world = World::new();
    let k = key(16);
    let code = spa_code(&world, &[]);
    let r = spa_exchange(&world, &code, Some(&proof(&world, &k, "POST", TOKEN_URL, "o-1")));
    assert_eq!(r.status, 200);
    assert!(r.header("dpop-nonce").is_none());
}

/// Issue 14: a code's use and a refresh token's rotation are decided on the ledger before the
/// tokens are minted (one round trip, `Ledger::decide`). A response refused after that decision
/// (here: the API has since come to require DPoP, and no proof came) undoes it: the code and
/// the refresh token stay usable, and the grant is not revoked (RFC 6749 §5.2: an error
/// response issues nothing). Two clients' grants, so that an undo cannot touch the wrong one.
#[test]
fn a_response_refused_after_the_ledger_decided_leaves_the_code_and_the_refresh_token_unspent() {
    let world = World::new();
    let k = key(13);
    let web_code = || web_code(&world);
    let web_exchange = |code: &str, dpop: Option<String>| web_exchange(&world, code, dpop);
    let web_refresh = |rt: &str, dpop: Option<String>| web_refresh(&world, rt, dpop);
    let first = json(&web_exchange(&web_code(), None));
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    // The SPA's grant, next to it.
    let spa = json(&spa_exchange(&world, &spa_code(&world, &[]), None));
    let spa_rt = spa["refresh_token"].as_str().unwrap().to_string();
    let code = web_code();
    world.import(&json!({"apis": [{"identifier": API, "name": "Test API", "signing_alg": "ES256",
        "token_lifetime_seconds": 3600, "allow_offline_access": true, "require_dpop": true,
        "scopes": [{"value": "read:messages", "description": "Read messages"}]}]}));
    // Refused after the decision: the decision is undone (one more round trip).
    let before = world.host.ledger.round_trips();
    assert_eq!(oauth_error(&web_exchange(&code, None)).1, "invalid_dpop_proof");
    assert_eq!(world.host.ledger.round_trips() - before, 2, "the use, then its undo");
    assert_eq!(oauth_error(&web_refresh(&rt, None)).1, "invalid_dpop_proof");
    // The same code and the same refresh token, now with a proof: answered — also where the
    // isolate's clock is a second behind the one that decided (the undone grant start must be
    // gone for it too).
    let now = world.now();
    world.host.clock.set(now - 1);
    let r = web_exchange(&code, Some(proof(&world, &k, "POST", TOKEN_URL, "u-1")));
    world.host.clock.set(now);
    assert_eq!(r.status, 200, "the code was not spent: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["token_type"], "DPoP");
    let r = web_refresh(&rt, Some(proof(&world, &k, "POST", TOKEN_URL, "u-2")));
    assert_eq!(
        r.status,
        200,
        "the refresh token was not spent: {}",
        String::from_utf8_lossy(&r.body)
    );
    let next = json(&r)["refresh_token"].as_str().unwrap().to_string();
    // The grant stands: the first access token is still good, the rotation went on.
    assert_eq!(world.introspect(first["access_token"].as_str().unwrap())["active"], true);
    let r = web_refresh(&next, Some(proof(&world, &k, "POST", TOKEN_URL, "u-3")));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // And the replaced token is still a reuse (the undo restored the record, not a copy).
    assert_eq!(
        oauth_error(&web_refresh(&rt, Some(proof(&world, &k, "POST", TOKEN_URL, "u-4")))).1,
        "invalid_grant"
    );
    // The SPA's grant was untouched by all of it.
    assert_eq!(world.introspect(spa["access_token"].as_str().unwrap())["active"], true);
    assert_eq!(
        spa_refresh(&world, &spa_rt, Some(&proof(&world, &k, "POST", TOKEN_URL, "u-5"))).status,
        200
    );
}

/// Attacker review: a replaced refresh token of a bound family, stolen, is no use without the
/// key — not even to revoke the family by presenting it as a reuse (RFC 9449 §5; before, the
/// reuse was judged first and revoked the grant of the user who holds the key).
#[test]
fn a_stolen_replaced_bound_refresh_token_cannot_revoke_its_family_without_the_key() {
    let world = World::new();
    let (k, thief) = (key(14), key(15));
    let first = bound_spa_tokens(&world, &k, "s-1")["refresh_token"].as_str().unwrap().to_string();
    let r = spa_refresh(&world, &first, Some(&proof(&world, &k, "POST", TOKEN_URL, "s-2")));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let current = json(&r)["refresh_token"].as_str().unwrap().to_string();
    let access = json(&r)["access_token"].as_str().unwrap().to_string();
    // The thief replays the replaced token, without a proof and with its own key.
    assert_eq!(oauth_error(&spa_refresh(&world, &first, None)).1, "invalid_grant");
    let by_thief = proof(&world, &thief, "POST", TOKEN_URL, "s-3");
    assert_eq!(oauth_error(&spa_refresh(&world, &first, Some(&by_thief))).1, "invalid_grant");
    // The family stands: its access token is active and its current token refreshes.
    assert_eq!(world.introspect(&access)["active"], true);
    let r = spa_refresh(&world, &current, Some(&proof(&world, &k, "POST", TOKEN_URL, "s-4")));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The holder of the key replaying the replaced token is a reuse: the family ends.
    let r = spa_refresh(&world, &first, Some(&proof(&world, &k, "POST", TOKEN_URL, "s-5")));
    assert_eq!(oauth_error(&r).1, "invalid_grant");
    assert_eq!(world.introspect(&access)["active"], false);
}
