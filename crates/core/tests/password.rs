//! The resource owner password grant (RFC 6749 §4.3) and Auth0's password-realm, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::{Request, Response};
use serde_json::json;
use support::*;

const REALM: &str = "http://auth0.com/oauth/grant-type/password-realm";

fn ropc(world: &World, pairs: &[(&str, &str)]) -> Response {
    world.call(
        form_request("/oauth/token", pairs).with_header("authorization", &basic(ROPC, ROPC_SECRET)),
    )
}

fn password(world: &World, username: &str, secret: &str, extra: &[(&str, &str)]) -> Response {
    let mut pairs = vec![("grant_type", "password"), ("username", username), ("password", secret)];
    pairs.extend_from_slice(extra);
    ropc(world, &pairs)
}

fn error(r: &Response) -> (u16, String, String) {
    let body = json(r);
    (
        r.status,
        body["error"].as_str().unwrap_or("").to_string(),
        body["error_description"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_trusted_client_exchanges_a_password_for_tokens() {
    let world = World::new();
    let r = password(
        &world,
        EMAIL,
        PASSWORD,
        &[("scope", "openid profile offline_access read:messages"), ("audience", API)],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = json(&r);
    assert_eq!(body["scope"], "openid profile offline_access read:messages");
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!((access["sub"].as_str(), access["gty"].as_str()), (Some(USER_ID), Some("password")));
    assert_eq!(access["aud"], json!([API, format!("{ISSUER}userinfo")]));
    assert_eq!(access["auth_time"], world.now(), "the user authenticated just now");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!((id["sub"].as_str(), id["aud"].as_str()), (Some(USER_ID), Some(ROPC)));
    assert_eq!(id["name"], "Ada Lovelace");
    assert!(id.get("nonce").is_none());
    // The refresh token works, once.
    let rt = body["refresh_token"].as_str().expect("offline_access").to_string();
    let refreshed = ropc(&world, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
    assert_eq!(refreshed.status, 200);
    assert_eq!(
        error(&ropc(&world, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])).1,
        "invalid_grant"
    );
    // A public client allowed the grant, without offline_access in its grant types: no refresh token.
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("client_id", ROPC_PUBLIC),
            ("username", EMAIL),
            ("password", PASSWORD),
            ("scope", "openid offline_access"),
        ],
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(json(&r).get("refresh_token").is_none());
    assert_eq!(json(&r)["scope"], "openid");
}

#[test]
fn the_realm_names_the_users_store() {
    let world = World::new();
    let realm = |user: &str, secret: &str, realm: &str| {
        ropc(
            &world,
            &[
                ("grant_type", REALM),
                ("username", user),
                ("password", secret),
                ("realm", realm),
                ("scope", "openid"),
            ],
        )
    };
    assert_eq!(realm(EMAIL, PASSWORD, "Username-Password-Authentication").status, 200);
    assert_eq!(realm(BOB_EMAIL, BOB_PASSWORD, "partners").status, 200);
    let wrong_store = realm(EMAIL, PASSWORD, "partners");
    assert_eq!(
        error(&wrong_store),
        (400, "invalid_grant".into(), "Wrong email or password.".into())
    );
    assert_eq!(
        error(&ropc(&world, &[("grant_type", REALM), ("username", EMAIL), ("password", PASSWORD)]))
            .1,
        "invalid_request",
        "realm is required"
    );
    // The plain password grant looks in every store.
    assert_eq!(password(&world, BOB_EMAIL, BOB_PASSWORD, &[]).status, 200);
}

#[test]
fn refusals_never_say_which_part_was_wrong() {
    let world = World::new();
    let wrong_password = error(&password(&world, EMAIL, "not the password", &[]));
    let unknown_user = error(&password(&world, "nobody@example.com", PASSWORD, &[]));
    assert_eq!(wrong_password, (400, "invalid_grant".into(), "Wrong email or password.".into()));
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(
        error(&ropc(&world, &[("grant_type", "password"), ("password", PASSWORD)])).1,
        "invalid_request"
    );
    assert_eq!(
        error(&ropc(&world, &[("grant_type", "password"), ("username", EMAIL)])).1,
        "invalid_request"
    );
    assert_eq!(
        error(&password(&world, EMAIL, PASSWORD, &[("audience", "https://nowhere.example/")])).1,
        "invalid_target"
    );
    // Clients that do not list the grant: unauthorized_client.
    let web = world.call(
        form_request(
            "/oauth/token",
            &[("grant_type", "password"), ("username", EMAIL), ("password", PASSWORD)],
        )
        .with_header("authorization", &basic(WEB, WEB_SECRET)),
    );
    assert_eq!(error(&web).1, "unauthorized_client");
    // Registered (third-party) clients cannot ask for it (RFC 9700 §2.4).
    let reg = world.call(
        Request::from_url("POST", &absolute("/oidc/register"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {INITIAL}"))
            .with_header("content-type", "application/json")
            .with_body(json!({"grant_types": ["password"]}).to_string()),
    );
    assert_eq!(error(&reg).1, "invalid_client_metadata");
}

#[test]
fn brute_force_is_stopped_per_account_and_ip_and_per_ip() {
    let world = World::new();
    let from = |ip: &str, user: &str, secret: &str| {
        world.call(
            form_request(
                "/oauth/token",
                &[("grant_type", "password"), ("username", user), ("password", secret)],
            )
            .with_header("authorization", &basic(ROPC, ROPC_SECRET))
            .with_header("cf-connecting-ip", ip),
        )
    };
    for _ in 0..10 {
        assert_eq!(error(&from("192.0.2.1", EMAIL, "guess")).1, "invalid_grant");
    }
    // The 11th failure for the account from that IP: refused before the password is checked.
    let blocked = from("192.0.2.1", EMAIL, PASSWORD);
    assert_eq!(
        error(&blocked),
        (
            429,
            "too_many_attempts".into(),
            "Too many attempts. Wait a few minutes, then try again.".into()
        )
    );
    // Ada herself, elsewhere, is not locked out by a stranger (Auth0's per identifier and IP);
    // another account from the same IP is not either; and the window passes.
    assert_eq!(from("192.0.2.2", EMAIL, PASSWORD).status, 200);
    assert_eq!(from("192.0.2.1", BOB_EMAIL, BOB_PASSWORD).status, 200);
    world.host.clock.advance(2 * 300);
    assert_eq!(from("192.0.2.1", EMAIL, PASSWORD).status, 200);
}

#[test]
fn only_a_trusted_confidential_client_may_name_the_end_users_ip() {
    let world = World::new();
    // A public client cannot spread guesses over made-up IPs: they all count against its own.
    let public = |user: String, ip: String| {
        world.call(
            form_request(
                "/oauth/token",
                &[
                    ("grant_type", "password"),
                    ("client_id", ROPC_PUBLIC),
                    ("username", &user),
                    ("password", "guess"),
                ],
            )
            .with_header("auth0-forwarded-for", &ip),
        )
    };
    for i in 0..100 {
        assert_eq!(
            error(&public(format!("user{i}@example.com"), format!("198.51.100.{i}"))).1,
            "invalid_grant"
        );
    }
    assert_eq!(
        error(&public("user-x@example.com".into(), "198.51.100.200".into())).1,
        "too_many_attempts"
    );
    // The trusted backend forwards its users' IPs: each has its own allowance.
    let forwarded = |ip: &str| {
        world.call(
            form_request(
                "/oauth/token",
                &[("grant_type", "password"), ("username", EMAIL), ("password", PASSWORD)],
            )
            .with_header("authorization", &basic(ROPC, ROPC_SECRET))
            .with_header("auth0-forwarded-for", ip),
        )
    };
    assert_eq!(forwarded("192.0.2.1").status, 200);
    assert_eq!(forwarded("192.0.2.2").status, 200);
    // A confidential client the operator does not trust with the header: it is ignored. Its
    // guesses all count against the caller's own IP, whatever it forwards.
    world.import(
        &json!({"clients": [{"client_id": "untrusted", "name": "U", "app_type": "regular_web",
        "client_secret": "untrusted-secret-0123456789abcdef0123", "grant_types": ["password"]}]}),
    );
    let untrusted = |user: String, ip: String| {
        world.call(
            form_request(
                "/oauth/token",
                &[("grant_type", "password"), ("username", &user), ("password", "guess")],
            )
            .with_header(
                "authorization",
                &basic("untrusted", "untrusted-secret-0123456789abcdef0123"),
            )
            .with_header("cf-connecting-ip", "203.0.113.50")
            .with_header("auth0-forwarded-for", &ip),
        )
    };
    for i in 0..100 {
        assert_eq!(
            error(&untrusted(format!("u{i}@example.com"), format!("198.51.100.{i}"))).1,
            "invalid_grant"
        );
    }
    assert_eq!(
        error(&untrusted("u-x@example.com".into(), "198.51.100.201".into())).1,
        "too_many_attempts"
    );
}

#[test]
fn third_party_clients_cannot_have_the_password_grant() {
    let world = World::new();
    let r = world.call(
        Request::from_url("PUT", &absolute("/admin/tenant"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {ADMIN}"))
            .with_header("content-type", "application/json")
            .with_body(json!({"clients": [{"client_id": "tp", "name": "TP", "app_type": "regular_web",
                "client_secret": "tp-secret-0123456789abcdef0123456789", "grant_types": ["password"],
                "is_first_party": false}]}).to_string()),
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
}
