//! Dynamic client registration (RFC 7591) and client configuration (RFC 7592), in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::{Request, Response};
use serde_json::{json, Value};
use support::*;

fn register(world: &World, token: Option<&str>, body: &str) -> Response {
    let mut r = Request::from_url("POST", &absolute("/oidc/register"))
        .unwrap()
        .with_header("content-type", "application/json")
        .with_body(body.to_string());
    if let Some(t) = token {
        r = r.with_header("authorization", &format!("Bearer {t}"));
    }
    world.call(r)
}

fn manage(world: &World, method: &str, uri: &str, token: &str, body: Option<Value>) -> Response {
    let mut r = Request::from_url(method, uri)
        .unwrap()
        .with_header("authorization", &format!("Bearer {token}"));
    if let Some(b) = body {
        r = r.with_header("content-type", "application/json").with_body(b.to_string());
    }
    world.call(r)
}

#[test]
fn registration_needs_the_initial_access_token() {
    let world = World::new();
    let body = json!({"redirect_uris": ["https://rp.example/cb"]}).to_string();
    let r = register(&world, None, &body);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"gatehouse\""));
    assert_eq!(register(&world, Some("wrong"), &body).status, 401);
    // Not configured: the endpoint does not exist, and discovery does not list it.
    let mut world = World::new();
    world.config.initial_access_token = None;
    assert_eq!(register(&world, Some(INITIAL), &body).status, 404);
    assert!(json(&world.get("/.well-known/openid-configuration"))
        .get("registration_endpoint")
        .is_none());
}

#[test]
fn invalid_metadata_is_refused_with_the_rfc_codes() {
    let world = World::new();
    for (body, expected) in [
        (json!({"redirect_uris": ["http://rp.example/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://rp.example/cb#frag"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["javascript:alert(1)"]}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "jwks": {"keys": []}, "jwks_uri": "https://rp.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": "https://rp.example/cb"}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
    ] {
        let r = register(&world, Some(INITIAL), &body.to_string());
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(json(&r)["error"], expected, "{body}");
    }
    for raw in ["[]", "not json", "{\"a\":1,\"a\":2}"] {
        assert_eq!(
            json(&register(&world, Some(INITIAL), raw))["error"],
            "invalid_client_metadata",
            "{raw}"
        );
    }
}

#[test]
fn a_registered_client_logs_in_and_can_be_read_updated_and_deleted() {
    let world = World::new();
    let r = register(&world, Some(INITIAL), &json!({
        "client_name": "Registered RP", "redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"], "post_logout_redirect_uris": ["https://rp.example/"],
        "contacts": ["ops@rp.example"]
    }).to_string());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let reg = json(&r);
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let token = reg["registration_access_token"].as_str().unwrap().to_string();
    let uri = reg["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(uri, format!("{ISSUER}oidc/register/{client_id}"));
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic", "RFC 7591 §2 default");
    assert_eq!(reg["contacts"], json!(["ops@rp.example"]));
    // Stored hashed.
    let stored = String::from_utf8(
        world
            .host
            .store
            .keys()
            .iter()
            .find(|k| k.ends_with(&client_id) && k.starts_with("client/"))
            .map(|k| {
                pollster::block_on(gatehouse_core::ports::Store::get(&world.host.store, k))
                    .unwrap()
                    .unwrap()
            })
            .unwrap(),
    )
    .unwrap();
    assert!(!stored.contains(&secret) && !stored.contains(&token));

    // It logs in (third-party: consent) and authenticates with its secret.
    let q = [
        ("client_id", client_id.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", "https://rp.example/cb"),
    ];
    let first = world.authorize(&q);
    let after = world.login_from(&first, EMAIL, PASSWORD);
    let consent = world.get(&location(&world.get(&location(&after))));
    let html = String::from_utf8(consent.body).unwrap();
    assert!(html.contains("Registered RP"));
    let done = world.post_form(
        "/consent",
        &[("req", &hidden(&html, "req")), ("csrf", &hidden(&html, "csrf")), ("decision", "allow")],
    );
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let t = world.call(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example/cb"),
            ],
        )
        .with_header("authorization", &basic(&client_id, &secret)),
    );
    assert_eq!(t.status, 200, "{}", String::from_utf8_lossy(&t.body));
    let access = json(&t)["access_token"].as_str().unwrap().to_string();
    let userinfo = |token: &str| {
        let r = Request::from_url("GET", &absolute("/userinfo")).unwrap();
        world.call(r.with_header("authorization", &format!("Bearer {token}"))).status
    };
    assert_eq!(userinfo(&access), 200);

    // RFC 7592 read.
    let read = manage(&world, "GET", &uri, &token, None);
    assert_eq!(read.status, 200);
    assert_eq!(json(&read)["client_name"], "Registered RP");
    assert!(json(&read).get("client_secret").is_none());
    assert_eq!(manage(&world, "GET", &uri, "wrong", None).status, 401);
    // Another client's token does not open this one.
    let other = json(&register(
        &world,
        Some(INITIAL),
        &json!({"redirect_uris": ["https://other.example/cb"]}).to_string(),
    ));
    assert_eq!(
        manage(&world, "GET", &uri, other["registration_access_token"].as_str().unwrap(), None)
            .status,
        401
    );
    // Update.
    let updated = manage(
        &world,
        "PUT",
        &uri,
        &token,
        Some(
            json!({"client_id": client_id, "client_name": "Renamed", "redirect_uris": ["https://rp.example/new"]}),
        ),
    );
    assert_eq!(updated.status, 200, "{}", String::from_utf8_lossy(&updated.body));
    assert_eq!(json(&updated)["redirect_uris"], json!(["https://rp.example/new"]));
    let mismatch = manage(
        &world,
        "PUT",
        &uri,
        &token,
        Some(json!({"client_id": "someone-else", "redirect_uris": ["https://rp.example/new"]})),
    );
    assert_eq!(mismatch.status, 400);
    // Credentials cannot be set through an update, nor the authentication kind switched
    // (RFC 7592 §2.2).
    let update = |extra: serde_json::Value| {
        let mut body = json!({"client_id": client_id, "redirect_uris": ["https://rp.example/new"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        manage(&world, "PUT", &uri, &token, Some(body))
    };
    let forged = update(json!({"registration_access_token": "mine"}));
    assert_eq!((forged.status, json(&forged)["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(
        json(&update(json!({"token_endpoint_auth_method": "none"})))["error"],
        "invalid_client_metadata"
    );
    assert_eq!(update(json!({"client_secret": "guess"})).status, 400);
    // Not a Bearer token at all.
    let r = world.call(
        Request::from_url("GET", &uri).unwrap().with_header("authorization", "Basic Zm9vOmJhcg=="),
    );
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    let bad = manage(
        &world,
        "PUT",
        &uri,
        &token,
        Some(json!({"client_id": client_id, "redirect_uris": ["http://rp.example/new"]})),
    );
    assert_eq!(json(&bad)["error"], "invalid_redirect_uri");
    // Delete: gone for every endpoint.
    assert_eq!(manage(&world, "DELETE", &uri, &token, None).status, 204);
    assert_eq!(manage(&world, "GET", &uri, &token, None).status, 401);
    assert_eq!(userinfo(&access), 401, "RFC 7592 §2.3: the deleted client's tokens are invalid");
    let t = world.call(
        form_request("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .with_header("authorization", &basic(&client_id, &secret)),
    );
    assert_eq!(t.status, 401);
    assert_eq!(world.authorize(&q).status, 400, "an unknown client gets a page");
}
