//! Pushed authorization requests (RFC 9126), in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::Response;
use serde_json::{json, Value};
use support::*;

const WEB_PARAMS: &[(&str, &str)] = &[
    ("response_type", "code"),
    ("redirect_uri", WEB_REDIRECT),
    ("scope", "openid profile read:messages"),
    ("audience", API),
    ("state", "s-par"),
    ("nonce", "n-par"),
];

fn push_as_web(world: &World, params: &[(&str, &str)]) -> Response {
    world.call(
        form_request("/oauth/par", params).with_header("authorization", &basic(WEB, WEB_SECRET)),
    )
}

#[test]
fn a_pushed_request_is_used_once_by_its_client_at_authorize() {
    let world = World::new();
    let r = push_as_web(&world, WEB_PARAMS);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = json(&r);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(request_uri.len() > "urn:ietf:params:oauth:request_uri:".len() + 40, "≥ 128 bits");
    assert_eq!(body["expires_in"], 60);
    // /authorize with client_id and request_uri only: the pushed parameters count.
    let done = world.code_flow(&[("client_id", WEB), ("request_uri", &request_uri)]);
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    assert!(location(&done).starts_with(WEB_REDIRECT));
    let p = redirect_params(&done);
    assert_eq!(p.get("state").unwrap(), Some("s-par"));
    let code = p.get("code").unwrap().unwrap().to_string();
    let tokens = world.call(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
            ],
        )
        .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!(tokens.status, 200);
    let body = json(&tokens);
    assert_eq!(claims(body["id_token"].as_str().unwrap())["nonce"], "n-par");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"][0], API);
    // Once only.
    let again = world.authorize(&[("client_id", WEB), ("request_uri", &request_uri)]);
    assert_eq!(again.status, 400);
    assert!(again.header("location").is_none());
}

#[test]
fn pushed_requests_are_checked_at_push_time_and_bound_to_their_client() {
    let world = World::new();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, &str)> = WEB_PARAMS.to_vec();
        for (k, v) in extra {
            p.retain(|(n, _)| n != k);
            p.push((k, v));
        }
        p
    };
    // The /authorize rules, answered as JSON (never a redirect).
    for (params, expected) in [
        (with(&[("redirect_uri", "https://evil.example/cb")]), "invalid_request"),
        (with(&[("response_type", "token")]), "unsupported_response_type"),
        (with(&[("audience", "https://nowhere.example/")]), "invalid_target"),
        (with(&[("prompt", "none login")]), "invalid_request"),
        (with(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]), "invalid_request"),
    ] {
        let r = push_as_web(&world, &params);
        assert_eq!(oauth_error(&r), (400, expected.to_string()), "{params:?}");
        assert!(r.header("location").is_none());
    }
    // Client authentication as at the token endpoint; a public client names itself (§2).
    let r = world.call(
        form_request("/oauth/par", WEB_PARAMS).with_header("authorization", &basic(WEB, "wrong")),
    );
    assert_eq!(oauth_error(&r).0, 401);
    let spa = world.call(form_request(
        "/oauth/par",
        &[
            ("client_id", SPA),
            ("response_type", "code"),
            ("redirect_uri", SPA_REDIRECT),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    ));
    assert_eq!(spa.status, 201);
    let spa_uri = json(&spa)["request_uri"].as_str().unwrap().to_string();
    // Another client cannot use it; nor an unknown or expired one.
    let stolen = world.authorize(&[("client_id", WEB), ("request_uri", &spa_uri)]);
    assert_eq!(stolen.status, 400);
    assert!(stolen.header("location").is_none());
    let r = push_as_web(&world, WEB_PARAMS);
    let web_uri = json(&r)["request_uri"].as_str().unwrap().to_string();
    world.host.clock.advance(61);
    assert_eq!(world.authorize(&[("client_id", WEB), ("request_uri", &web_uri)]).status, 400);
    assert_eq!(
        world
            .authorize(&[
                ("client_id", WEB),
                ("request_uri", "urn:ietf:params:oauth:request_uri:nope")
            ])
            .status,
        400
    );
    // A request_uri that is a URL: not supported (JAR by reference is not offered).
    let r = world.authorize(&[
        ("client_id", WEB),
        ("redirect_uri", WEB_REDIRECT),
        ("response_type", "code"),
        ("request_uri", "https://rp.example/request.jwt"),
    ]);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("request_uri_not_supported"));
}

#[test]
fn a_client_may_be_required_to_push() {
    let mut world = World::new();
    let mut web: Value = serde_json::from_str::<Value>(&tenant()).unwrap()["clients"][1].clone();
    assert_eq!(web["client_id"], WEB);
    web["require_pushed_authorization_requests"] = true.into();
    world.import(&json!({ "clients": [web] }));
    let plain = world.authorize(&[
        ("client_id", WEB),
        ("redirect_uri", WEB_REDIRECT),
        ("response_type", "code"),
    ]);
    assert_eq!(plain.status, 400, "RFC 9126 §6: refused without PAR");
    assert!(plain.header("location").is_none());
    let r = push_as_web(&world, WEB_PARAMS);
    let uri = json(&r)["request_uri"].as_str().unwrap().to_string();
    assert!(location(&world.authorize(&[("client_id", WEB), ("request_uri", &uri)]))
        .starts_with("/login"));
    // Other clients are not affected, unless the deployment requires it for everyone.
    let spa = world.authorize(&[
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(spa.status, 302);
    world.config.require_pushed_authorization_requests = true;
    let spa = world.authorize(&[
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(spa.status, 400);
    assert_eq!(
        json(&world.get("/.well-known/openid-configuration"))
            ["require_pushed_authorization_requests"],
        true
    );
}

#[test]
fn only_the_authorization_parameters_are_kept_and_size_is_bounded() {
    let world = World::new();
    let mut params: Vec<(&str, String)> =
        WEB_PARAMS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    for name in ["z1", "z2", "z3"] {
        params.push((name, "\u{1}".repeat(7000)));
    }
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        push_as_web(&world, &pairs).status,
        201,
        "unknown parameters are dropped, not stored"
    );
    let mut huge: Vec<(&str, String)> =
        WEB_PARAMS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    huge.push(("login_hint", "a".repeat(200)));
    huge.push(("ui_locales", "b".repeat(8000)));
    huge.push(("state", "c".repeat(2000)));
    huge.retain(|(k, v)| *k != "state" || v.len() > 100);
    huge.push(("code_challenge", "d".repeat(8000)));
    let pairs: Vec<(&str, &str)> = huge.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = push_as_web(&world, &pairs);
    assert!(r.status >= 400 && r.status < 500, "{}", r.status);
}

#[test]
fn the_deployments_switch_spares_its_own_cookie_session_client() {
    let mut world = World::new();
    world.config.bff = Some(gatehouse_core::config::BffConfig {
        client_id: "bff".into(),
        api_url: "https://api.example/v1".into(),
        audience: None,
        scope: "openid".into(),
    });
    world.import(&json!({"clients": [{"client_id": "bff", "name": "Cookie App", "app_type": "spa",
        "redirect_uris": [format!("{ORIGIN}/bff/callback")], "web_origins": ["http://127.0.0.1:5173"]}]}));
    world.config.require_pushed_authorization_requests = true;
    let start = world.get("/bff/login");
    let authorize = world.get(&location(&start));
    assert_eq!(authorize.status, 302, "{}", String::from_utf8_lossy(&authorize.body));
    assert!(location(&authorize).starts_with("/login"));
}
