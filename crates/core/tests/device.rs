//! The device authorization grant (RFC 8628) with `/activate`, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::Response;
use serde_json::{json, Value};
use support::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn device_code(world: &World, client: &str, extra: &[(&str, &str)]) -> Response {
    let mut pairs = vec![("client_id", client)];
    pairs.extend_from_slice(extra);
    world.call(form_request("/oauth/device/code", &pairs))
}

fn start(world: &World, scope: &str) -> Value {
    let r = device_code(world, TV, &[("scope", scope), ("audience", API)]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    json(&r)
}

fn poll(world: &World, device_code: &str) -> Response {
    world.call(form_request(
        "/oauth/token",
        &[("grant_type", DEVICE_GRANT), ("client_id", TV), ("device_code", device_code)],
    ))
}

fn error(r: &Response) -> String {
    json(r)["error"].as_str().unwrap_or("").to_string()
}

/// The user's part in the browser: enter the code, log in, and allow or deny.
fn activate(world: &World, typed: &str, decision: &str) -> Response {
    let entered = world.post_form("/activate", &[("user_code", typed)]);
    assert_eq!(entered.status, 302, "{}", String::from_utf8_lossy(&entered.body));
    let mut next = location(&entered);
    if next.starts_with("/login") {
        let after_login = world.login_from(&entered, EMAIL, PASSWORD);
        next = location(&world.get(&location(&after_login)));
    }
    assert!(next.starts_with("/consent?req="), "{next}: the user confirms every device");
    let page = String::from_utf8(world.get(&next).body).unwrap();
    assert!(page.contains("Living Room TV"), "{page}");
    let (req, csrf) = (hidden(&page, "req"), hidden(&page, "csrf"));
    world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", decision)])
}

#[test]
fn a_device_gets_tokens_once_the_user_approves_at_activate() {
    let world = World::new();
    let codes = start(&world, "openid profile offline_access read:messages");
    let device_code = codes["device_code"].as_str().unwrap().to_string();
    let user_code = codes["user_code"].as_str().unwrap().to_string();
    assert!(device_code.len() >= 43, "≥ 128 bits");
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code.replace('-', "").bytes().all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)));
    assert_eq!(codes["verification_uri"], format!("{ISSUER}activate"));
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{ISSUER}activate?user_code={user_code}")
    );
    assert_eq!((codes["expires_in"].as_i64(), codes["interval"].as_i64()), (Some(900), Some(5)));
    // Polling: pending; too soon: slow_down (the interval grows by 5 s); then pending again.
    assert_eq!(error(&poll(&world, &device_code)), "authorization_pending");
    assert_eq!(error(&poll(&world, &device_code)), "slow_down");
    world.host.clock.advance(6);
    assert_eq!(error(&poll(&world, &device_code)), "slow_down", "the interval is 10 s now");
    world.host.clock.advance(15);
    assert_eq!(error(&poll(&world, &device_code)), "authorization_pending");
    // The prefilled page, then the user types it in lower case without the hyphen.
    let form = world.get(&format!("/activate?user_code={user_code}"));
    assert!(String::from_utf8(form.body).unwrap().contains(&user_code));
    let done = activate(&world, &user_code.replace('-', "").to_lowercase(), "allow");
    assert_eq!(done.status, 200);
    assert!(String::from_utf8(done.body).unwrap().contains("Return to it"));
    world.host.clock.advance(20);
    let r = poll(&world, &device_code);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tokens = json(&r);
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], USER_ID);
    assert_eq!(access["client_id"], TV);
    assert_eq!(access["aud"], json!([API, format!("{ISSUER}userinfo")]));
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!((id["sub"].as_str(), id["aud"].as_str()), (Some(USER_ID), Some(TV)));
    let rt = tokens["refresh_token"].as_str().expect("offline_access").to_string();
    // Exactly once.
    world.host.clock.advance(20);
    assert_eq!(error(&poll(&world, &device_code)), "invalid_grant");
    let refreshed = world.call(form_request(
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("client_id", TV), ("refresh_token", &rt)],
    ));
    assert_eq!(refreshed.status, 200);
    // The used user code no longer opens anything.
    assert_eq!(world.post_form("/activate", &[("user_code", &user_code)]).status, 400);
}

#[test]
fn denied_expired_and_foreign_codes() {
    let world = World::new();
    let codes = start(&world, "openid");
    let device_code = codes["device_code"].as_str().unwrap().to_string();
    let denied = activate(&world, codes["user_code"].as_str().unwrap(), "deny");
    assert_eq!(denied.status, 200);
    assert!(String::from_utf8(denied.body).unwrap().contains("Request denied"));
    let r = poll(&world, &device_code);
    assert_eq!((r.status, error(&r).as_str()), (403, "access_denied"));
    // Expired: expired_token; its user code is refused at /activate.
    let codes = start(&world, "openid");
    let device_code = codes["device_code"].as_str().unwrap().to_string();
    world.host.clock.advance(900);
    assert_eq!(error(&poll(&world, &device_code)), "expired_token");
    assert_eq!(
        world.post_form("/activate", &[("user_code", codes["user_code"].as_str().unwrap())]).status,
        400
    );
    // Another client cannot poll it; nonsense codes are invalid_grant; a missing one invalid_request.
    let codes = start(&world, "openid");
    let other = world.call(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", codes["device_code"].as_str().unwrap()),
            ],
        )
        .with_header("authorization", &basic(TV_CONF, TV_CONF_SECRET)),
    );
    assert_eq!(error(&other), "invalid_grant");
    assert_eq!(error(&poll(&world, "no-such-code")), "invalid_grant");
    let missing = world
        .call(form_request("/oauth/token", &[("grant_type", DEVICE_GRANT), ("client_id", TV)]));
    assert_eq!(error(&missing), "invalid_request");
}

#[test]
fn who_may_ask_for_device_codes() {
    let world = World::new();
    // A client that does not list the grant; a confidential one must authenticate.
    assert_eq!(error(&device_code(&world, SPA, &[])), "unauthorized_client");
    let r = device_code(&world, TV_CONF, &[]);
    assert_eq!((r.status, error(&r).as_str()), (401, "invalid_client"));
    let r = world.call(
        form_request("/oauth/device/code", &[("scope", "openid")])
            .with_header("authorization", &basic(TV_CONF, TV_CONF_SECRET)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        error(&device_code(&world, TV, &[("audience", "https://nowhere.example/")])),
        "invalid_target"
    );
    assert_eq!(error(&device_code(&world, "nobody", &[])), "invalid_client");
    // Discovery lists the endpoint and the grant.
    let d = json(&world.get("/.well-known/openid-configuration"));
    assert_eq!(d["device_authorization_endpoint"], format!("{ISSUER}oauth/device/code"));
    assert!(d["grant_types_supported"].as_array().unwrap().contains(&json!(DEVICE_GRANT)));
}

#[test]
fn guessing_user_codes_is_stopped_per_browser_and_per_ip() {
    let world = World::new();
    let codes = start(&world, "openid");
    let guess = |w: &World| w.post_form("/activate", &[("user_code", "BBBB-BBBB")]);
    for _ in 0..5 {
        assert_eq!(guess(&world).status, 400);
    }
    assert_eq!(guess(&world).status, 429, "this browser is out of tries");
    // Even the right code now waits: nothing is looked up.
    assert_eq!(
        world.post_form("/activate", &[("user_code", codes["user_code"].as_str().unwrap())]).status,
        429
    );
    // Every entry from the IP counts (7 so far); a guesser who drops the cookie meets the IP's
    // limit of 20 failures.
    let mut answers = Vec::new();
    for _ in 0..20 {
        world.cookies.borrow_mut().clear();
        answers.push(guess(&world).status);
    }
    assert_eq!(answers.iter().filter(|s| **s == 400).count(), 13, "{answers:?}");
    assert!(answers.ends_with(&[429; 7]), "{answers:?}");
    // Another IP is not limited; IPv6 addresses count per /64.
    *world.ip.borrow_mut() = "198.51.100.9".into();
    world.cookies.borrow_mut().clear();
    assert_eq!(guess(&world).status, 400);
    let mut v6 = Vec::new();
    for i in 0..22 {
        world.cookies.borrow_mut().clear();
        *world.ip.borrow_mut() = format!("2001:db8:0:7::{:x}", i + 1);
        v6.push(guess(&world).status);
    }
    assert_eq!(v6.iter().filter(|s| **s == 400).count(), 20, "one /64, one allowance: {v6:?}");
    // The windows pass.
    world.host.clock.advance(600);
    *world.ip.borrow_mut() = "203.0.113.7".into();
    assert_eq!(guess(&world).status, 400);
}

#[test]
fn a_cross_site_post_to_activate_is_refused_and_not_counted() {
    let world = World::new();
    for _ in 0..5 {
        let r = world.send(
            form_request("/activate", &[("user_code", "BBBB-BBBB")])
                .with_header("origin", "https://evil.example"),
        );
        assert_eq!(r.status, 403);
        // A sandboxed frame's Origin is "null": Fetch Metadata still says cross-site.
        let r = world.send(
            form_request("/activate", &[("user_code", "BBBB-BBBB")])
                .with_header("origin", "null")
                .with_header("sec-fetch-site", "cross-site"),
        );
        assert_eq!(r.status, 403);
    }
    let codes = start(&world, "openid");
    // This page's own post: Origin "null" (it sends no referrer), same-origin by Fetch Metadata.
    let r = world.send(
        form_request("/activate", &[("user_code", codes["user_code"].as_str().unwrap())])
            .with_header("origin", "null")
            .with_header("sec-fetch-site", "same-origin"),
    );
    assert_eq!(r.status, 302, "the allowance is intact; a same-origin post goes on");
}

/// Enters the code, logs in as Ada: returns the consent page's `req` and `csrf`.
fn to_consent(world: &World, user_code: &str) -> (String, String) {
    let entered = world.post_form("/activate", &[("user_code", user_code)]);
    let mut next = location(&entered);
    if next.starts_with("/login") {
        let after_login = world.login_from(&entered, EMAIL, PASSWORD);
        next = location(&world.get(&location(&after_login)));
    }
    let page = String::from_utf8(world.get(&next).body).unwrap();
    assert!(page.contains(user_code), "the page names the code to compare");
    (hidden(&page, "req"), hidden(&page, "csrf"))
}

/// A confirmation posted by a logged-in browser that did not start the interaction (it has the
/// session, not the flow cookie).
fn forged(world: &World, req: &str) -> Response {
    let session = world.cookies.borrow().get("gatehouse_session").cloned().unwrap();
    world.call(
        form_request("/consent", &[("req", req), ("csrf", "guess"), ("decision", "allow")])
            .with_header("cookie", &format!("gatehouse_session={session}")),
    )
}

#[test]
fn a_code_confirmed_from_another_browser_is_locked() {
    let world = World::new();
    let codes = start(&world, "openid");
    let device_code = codes["device_code"].as_str().unwrap().to_string();
    let user_code = codes["user_code"].as_str().unwrap();
    let (req, csrf) = to_consent(&world, user_code);
    // Anonymous forgeries count for nothing: a stranger cannot lock someone's code.
    for _ in 0..5 {
        let r = world.call(form_request(
            "/consent",
            &[("req", &req), ("csrf", "guess"), ("decision", "allow")],
        ));
        assert_eq!(r.status, 403);
    }
    assert_eq!(error(&poll(&world, &device_code)), "authorization_pending");
    // Nor can anyone read the form's token without the flow cookie.
    let stranger = world.call(
        gatehouse_core::http::Request::from_url("GET", &absolute(&format!("/consent?req={req}")))
            .unwrap(),
    );
    assert!(!String::from_utf8(stranger.body).unwrap().contains(&csrf));
    // A logged-in browser posting it three times locks the code.
    for _ in 0..3 {
        assert_eq!(forged(&world, &req).status, 403);
    }
    world.host.clock.advance(10);
    let r = poll(&world, &device_code);
    assert_eq!(error(&r), "access_denied", "locked");
    assert!(json(&r)["error_description"].as_str().unwrap().contains("locked"));
    // The real browser can no longer approve it either.
    let late =
        world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", "allow")]);
    assert_ne!(late.status, 200);
}

#[test]
fn an_approved_code_stays_approved() {
    let world = World::new();
    let codes = start(&world, "openid");
    let device_code = codes["device_code"].as_str().unwrap().to_string();
    let user_code = codes["user_code"].as_str().unwrap();
    // Two tabs open the code; the first approves.
    let (req1, csrf1) = to_consent(&world, user_code);
    let (req2, csrf2) = to_consent(&world, user_code);
    let done =
        world.post_form("/consent", &[("req", &req1), ("csrf", &csrf1), ("decision", "allow")]);
    assert_eq!(done.status, 200);
    // The second tab's deny, and forged confirmations, do not undo it.
    for _ in 0..3 {
        forged(&world, &req2);
    }
    let denied =
        world.post_form("/consent", &[("req", &req2), ("csrf", &csrf2), ("decision", "deny")]);
    assert_eq!(denied.status, 200);
    world.host.clock.advance(10);
    assert_eq!(poll(&world, &device_code).status, 200, "tokens, as approved");
}

/// RFC 9396 with the device flow: the details asked for are shown on the device's confirmation
/// page, in words, and reach the tokens; a poll may narrow them.
#[test]
fn a_device_may_ask_for_authorization_details() {
    let world = World::new();
    world.import(
        &serde_json::json!({"apis": [{"identifier": API, "name": "Test API", "signing_alg": "ES256",
        "scopes": [{"value": "read:messages", "description": "Read messages"}],
        "authorization_details": [{"type": "tv_purchase", "required": ["title"],
                                   "description": "Buy {title}"}]}]}),
    );
    let details =
        serde_json::json!([{"type": "tv_purchase", "title": "Metropolis", "price": "3.99"}]);
    let r = device_code(
        &world,
        TV,
        &[("scope", "openid"), ("audience", API), ("authorization_details", &details.to_string())],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let codes = json(&r);
    let user_code = codes["user_code"].as_str().unwrap().to_string();
    let (req, csrf) = to_consent(&world, &user_code);
    let page = String::from_utf8(world.get(&format!("/consent?req={req}")).body).unwrap();
    assert!(page.contains("Buy Metropolis (price: 3.99)"), "{page}");
    let done =
        world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", "allow")]);
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    // A poll asking for more than was approved is refused and spends nothing.
    let code = codes["device_code"].as_str().unwrap();
    let more = serde_json::json!([details[0], details[0]]).to_string();
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", TV),
            ("device_code", code),
            ("authorization_details", &more),
        ],
    ));
    assert_eq!((r.status, error(&r)), (400, "invalid_authorization_details".to_string()));
    let tokens = json(&poll(&world, code));
    assert_eq!(tokens["authorization_details"], details);
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["authorization_details"], details);
    // Unknown types are refused at the device authorization endpoint.
    let r = device_code(
        &world,
        TV,
        &[("scope", "openid"), ("audience", API), ("authorization_details", r#"[{"type":"x"}]"#)],
    );
    assert_eq!((r.status, error(&r)), (400, "invalid_authorization_details".to_string()));
}

/// Every device authorization request creates a device code on the ledger: one network may ask
/// for `MAX_CODES_PER_IP` over two windows, then 429 `too_many_requests`; another network is
/// not affected, and the next windows allow it again.
#[test]
fn device_codes_are_limited_per_network() {
    use gatehouse_core::endpoint::device_authorization::MAX_CODES_PER_IP;
    let world = World::new();
    let ask = |ip: &str| {
        world.call(
            form_request("/oauth/device/code", &[("client_id", TV), ("scope", "openid")])
                .with_header("cf-connecting-ip", ip),
        )
    };
    for i in 0..MAX_CODES_PER_IP {
        assert_eq!(ask("198.51.100.9").status, 200, "request {i}");
    }
    let r = ask("198.51.100.9");
    assert_eq!((r.status, error(&r)), (429, "too_many_requests".to_string()));
    // The same /64 is the same network; another network is not.
    assert_eq!(ask("2001:db8:1:2::1").status, 200);
    assert_eq!(ask("198.51.100.10").status, 200);
    // Two windows later the allowance is back.
    world.host.clock.advance(2 * 300);
    assert_eq!(ask("198.51.100.9").status, 200);
}
