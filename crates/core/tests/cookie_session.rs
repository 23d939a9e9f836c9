//! "SPAs with cookies": the Worker's cookie-session endpoints (/bff/*), in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::config::BffConfig;
use gatehouse_core::http::params::encode;
use gatehouse_core::http::{Request, Response};
use serde_json::json;
use support::*;

const APP: &str = "http://127.0.0.1:5173";

fn world() -> World {
    let mut world = World::new();
    world.config.bff = Some(BffConfig {
        client_id: "bff".into(),
        api_url: "https://api.example/v1".into(),
        audience: Some(API.into()),
        scope: "openid profile email offline_access read:messages".into(),
    });
    let body = json!({"clients": [{"client_id": "bff", "name": "Cookie App", "app_type": "spa",
        "redirect_uris": [format!("{ORIGIN}/bff/callback")], "web_origins": [APP], "allowed_logout_urls": [format!("{APP}/")]}]});
    world.import(&body);
    world
}

fn api_call(world: &World, path: &str, csrf: bool) -> Response {
    let mut r = Request::from_url("GET", &absolute(path)).unwrap().with_header("origin", APP);
    if csrf {
        r = r.with_header("gatehouse-csrf", "1");
    }
    world.send(r)
}

#[test]
fn the_worker_logs_in_keeps_the_tokens_and_proxies_the_api() {
    let world = world();
    // Not logged in yet.
    assert_eq!(json(&api_call(&world, "/bff/session", true))["authenticated"], false);
    // Unknown or malformed return targets are refused.
    assert_eq!(world.get("/bff/login?returnTo=https%3A%2F%2Fevil.example%2F").status, 400);
    assert_eq!(
        world.get("/bff/login?returnTo=http%3A%2F%2F127.0.0.1%3A5173.evil.example%2F").status,
        400
    );
    let start =
        world.get(&format!("/bff/login?returnTo={}", "http%3A%2F%2F127.0.0.1%3A5173%2Fhome"));
    assert_eq!(start.status, 302);
    assert!(location(&start).starts_with("/authorize?client_id=bff&"));
    let authorize = world.get(&location(&start));
    let after_login = world.login_from(&authorize, EMAIL, PASSWORD);
    let to_callback = world.get(&location(&after_login));
    assert!(location(&to_callback).starts_with(&format!("{ORIGIN}/bff/callback?code=")));
    let done = world.get(&location(&to_callback));
    assert_eq!((done.status, location(&done).as_str()), (303, "http://127.0.0.1:5173/home"));
    let cookie = done
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("gatehouse_bff="))
        .unwrap()
        .1
        .clone();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!String::from_utf8_lossy(&done.body).contains("eyJ"), "no token reaches the browser");
    // At rest on the ledger the session is sealed (AES-256-GCM under the key-encryption key).
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let key = format!(
        "bffsess:{}",
        gatehouse_core::b64::encode(<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()))
    );
    let stored = pollster::block_on(gatehouse_core::ports::Ledger::get(
        &world.host.ledger,
        &key,
        world.now(),
    ))
    .unwrap()
    .unwrap();
    assert!(
        !stored.contains("eyJ") && !stored.contains("access_token"),
        "sealed: {}",
        &stored[..40]
    );

    let session = api_call(&world, "/bff/session", true);
    assert_eq!(session.header("access-control-allow-origin"), Some(APP));
    assert_eq!(session.header("access-control-allow-credentials"), Some("true"));
    let body = json(&session);
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["user"]["email"], EMAIL);
    assert!(!body.to_string().contains("eyJ"), "the session answer holds no token");

    // CSRF: without the header, refused.
    assert_eq!(api_call(&world, "/bff/session", false).status, 403);
    assert_eq!(api_call(&world, "/bff/api/messages", false).status, 403);

    // The proxy forwards with the access token.
    world.host.http.responses.borrow_mut().insert(
        "https://api.example/v1/messages?x=1".into(),
        Response::json(200, &json!({"ok": true})),
    );
    let proxied = api_call(&world, "/bff/api/messages?x=1", true);
    assert_eq!(proxied.status, 200);
    assert_eq!(json(&proxied)["ok"], true);
    let sent = world.host.http.requests.borrow().last().cloned().unwrap();
    let bearer = sent.header("authorization").unwrap().strip_prefix("Bearer ").unwrap().to_string();
    assert_eq!(claims(&bearer)["aud"], json!([API, format!("{ISSUER}userinfo")]));
    assert_eq!(claims(&bearer)["client_id"], "bff");
    // After the access token expires, the proxy refreshes it (rotating the refresh token).
    world.host.clock.advance(3600);
    let again = api_call(&world, "/bff/api/messages?x=1", true);
    assert_eq!(again.status, 200);
    let second = world.host.http.requests.borrow().last().cloned().unwrap();
    assert_ne!(second.header("authorization"), sent.header("authorization"));

    // A preflight from a foreign origin gets no permission.
    let pre = world.call(
        Request::from_url("OPTIONS", &absolute("/bff/api/messages"))
            .unwrap()
            .with_header("origin", "https://evil.example"),
    );
    assert!(pre.header("access-control-allow-origin").is_none());

    // Hostile API paths are refused before anything is forwarded.
    for path in [
        "/bff/api/../admin",
        "/bff/api/..%2fadmin",
        "/bff/api/%2E%2E/x",
        "/bff/api/a%5cb",
        "/bff/api/..;/admin",
        "/bff/api/x/.;jsessionid=1/y",
        "/bff/apix",
    ] {
        let r = api_call(&world, path, true);
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
    }

    // Logout ends the cookie session and the login here, revokes the grant, and never hands a
    // token to the page.
    let out = world.send(
        form_request("/bff/logout", &[("returnTo", "http://127.0.0.1:5173/")])
            .with_header("gatehouse-csrf", "1")
            .with_header("origin", APP),
    );
    assert_eq!(out.status, 200);
    let body = json(&out);
    assert_eq!(body["return_to"], "http://127.0.0.1:5173/");
    assert!(!body.to_string().contains("eyJ"), "no ID token in the answer");
    assert_eq!(json(&api_call(&world, "/bff/session", true))["authenticated"], false);
    assert_eq!(
        api_call(&world, "/bff/api/messages?x=1", true).status,
        401,
        "login_required is a 401 here"
    );
    // The login at the authorization server ended too.
    let mut q = vec![
        ("client_id", "bff"),
        ("response_type", "code"),
        ("prompt", "none"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    q.push(("state", "s"));
    assert_eq!(redirect_params(&world.authorize(&q)).get("error").unwrap(), Some("login_required"));
    // An unregistered returnTo is not echoed.
    let out = world.send(
        form_request("/bff/logout", &[("returnTo", "https://evil.example/")])
            .with_header("gatehouse-csrf", "1"),
    );
    assert_eq!(json(&out)["return_to"], serde_json::Value::Null);
}

#[test]
fn the_callback_is_bound_to_the_browser_that_started_it() {
    let world = world();
    let start = world.get("/bff/login");
    let state = redirect_params(&start).get("state").unwrap().unwrap().to_string();
    // Another browser (no transaction cookie) cannot finish it, even with a well-formed
    // response (state, code and the right iss): it is refused for the missing cookie.
    let callback = format!(
        "/bff/callback?{}",
        encode([("state", state.as_str()), ("code", "x"), ("iss", ISSUER)])
    );
    let stranger = world.call(Request::from_url("GET", &absolute(&callback)).unwrap());
    assert_eq!(stranger.status, 400);
    assert!(stranger.header("location").is_none());
    let page = String::from_utf8(stranger.body).unwrap();
    assert!(page.contains("not started in this browser"), "{page}");
    // The browser that started it gets past that check (to the code, which is bogus).
    let own = world.get(&callback);
    assert!(!String::from_utf8(own.body).unwrap().contains("not started in this browser"));
    // Disabled without configuration.
    let mut off = World::new();
    off.config.bff = None;
    assert_eq!(off.get("/bff/login").status, 404);
}

#[test]
fn unhappy_callbacks_are_pages_or_errors_back_to_the_app_never_5xx() {
    let world = world();
    let start = world.get("/bff/login?returnTo=http%3A%2F%2F127.0.0.1%3A5173%2F");
    let state = redirect_params(&start).get("state").unwrap().unwrap().to_string();
    // Without iss (RFC 9207 §2.4: this server always sends it): refused.
    let r = world.get(&format!("/bff/callback?state={state}&code=x"));
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    // The transaction was used up by that attempt: the same state again is an expired login.
    let r = world
        .get(&format!("/bff/callback?state={state}&code=x&iss=http%3A%2F%2F127.0.0.1%3A8787%2F"));
    assert_eq!(r.status, 400);
    // An error from the authorization server goes back to the app as ?error=.
    let start = world.get("/bff/login?returnTo=http%3A%2F%2F127.0.0.1%3A5173%2Fhome%3Fx%3D1");
    let state = redirect_params(&start).get("state").unwrap().unwrap().to_string();
    let r = world.get(&format!(
        "/bff/callback?state={state}&error=access_denied&iss=http%3A%2F%2F127.0.0.1%3A8787%2F"
    ));
    assert_eq!(
        (r.status, location(&r).as_str()),
        (303, "http://127.0.0.1:5173/home?x=1&error=access_denied")
    );
    // A bad code is a refused token exchange, not a server error.
    let start = world.get("/bff/login");
    let state = redirect_params(&start).get("state").unwrap().unwrap().to_string();
    let r = world.get(&format!(
        "/bff/callback?state={state}&code=nope&iss=http%3A%2F%2F127.0.0.1%3A8787%2F"
    ));
    assert_eq!((r.status, json(&r)["error"].as_str()), (400, Some("invalid_grant")));
    // Garbage everywhere else.
    for path in ["/bff/callback", "/bff/callback?state=%00", "/bff/nope", "/bff/login?returnTo=%00"]
    {
        let r = world.get(path);
        assert!(r.status / 100 == 4, "{path}: {}", r.status);
    }
    let r = world.send(Request::from_url("POST", &absolute("/bff/login")).unwrap());
    assert_eq!(r.status, 405);
}

/// Logs the browser in through `/bff/login`; returns nothing (the cookie jar holds the session).
fn bff_login(world: &World) {
    let start = world.get("/bff/login");
    let authorize = world.get(&location(&start));
    let after_login = world.login_from(&authorize, EMAIL, PASSWORD);
    let to_callback = world.get(&location(&after_login));
    let done = world.get(&location(&to_callback));
    assert_eq!(done.status, 303, "{}", String::from_utf8_lossy(&done.body));
}

/// S10: a refresh that fails for a reason other than a lost grant releases the session at once
/// (no 120 s lockout), and the next call refreshes.
#[test]
fn a_failed_refresh_does_not_leave_the_session_stuck() {
    let world = world();
    bff_login(&world);
    world.host.http.responses.borrow_mut().insert(
        "https://api.example/v1/messages".into(),
        Response::json(200, &json!({"ok": true})),
    );
    assert_eq!(api_call(&world, "/bff/api/messages", true).status, 200);
    // The operator briefly withdraws the refresh grant from the client: the refresh fails with
    // unauthorized_client, which is no reason to end the session.
    let client = |grants: serde_json::Value| {
        json!({"clients": [{"client_id": "bff", "name": "Cookie App", "app_type": "spa",
            "redirect_uris": [format!("{ORIGIN}/bff/callback")], "web_origins": [APP],
            "allowed_logout_urls": [format!("{APP}/")], "grant_types": grants}]})
    };
    world.import(&client(json!(["authorization_code"])));
    world.host.clock.advance(3600);
    let failed = api_call(&world, "/bff/api/messages", true);
    assert_ne!(failed.status, 200);
    world.import(&client(json!(["authorization_code", "refresh_token"])));
    // Moments later (well within the old 120 s lock), the next call refreshes.
    world.host.clock.advance(1);
    let next = api_call(&world, "/bff/api/messages", true);
    assert_eq!(next.status, 200, "{}", String::from_utf8_lossy(&next.body));
    assert_eq!(json(&api_call(&world, "/bff/session", true))["authenticated"], true);
    // The failure was the server's, so the browser was told it may retry.
    assert_eq!(
        (failed.status, json(&failed)["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
}

/// S10: when the session ends (a logout in another tab) while its refresh is in flight, the
/// refresh's compare-and-set fails: its new tokens are not used, and the call is refused.
#[test]
fn a_refresh_racing_a_logout_keeps_nothing() {
    let world = world();
    bff_login(&world);
    world.host.http.responses.borrow_mut().insert(
        "https://api.example/v1/messages".into(),
        Response::json(200, &json!({"ok": true})),
    );
    assert_eq!(api_call(&world, "/bff/api/messages", true).status, 200);
    let forwarded = world.host.http.requests.borrow().len();
    world.host.clock.advance(3600);
    // The logout lands between the refresh's read of the session and its compare-and-set.
    world.host.ledger.race_next_cas("bffsess:", r#"{"ended":null}"#);
    let raced = api_call(&world, "/bff/api/messages", true);
    assert_eq!(raced.status, 401, "{}", String::from_utf8_lossy(&raced.body));
    assert_eq!(world.host.http.requests.borrow().len(), forwarded, "nothing was forwarded");
    assert_eq!(json(&api_call(&world, "/bff/session", true))["authenticated"], false);
}

/// S10: a request that finds another refreshing waits with backoff (not a tight loop of
/// ledger reads), and gives up with a retryable error.
#[test]
fn a_waiter_backs_off_while_another_request_refreshes() {
    let world = world();
    bff_login(&world);
    world.host.clock.advance(3600);
    // Another request takes the refresh lock between this one's read and its compare-and-set.
    world.host.ledger.race_next_cas("bffrefresh:", "held-by-another-request");
    let before = world.host.clock.slept_millis();
    let waited = api_call(&world, "/bff/api/messages", true);
    assert_eq!(waited.status, 503, "{}", String::from_utf8_lossy(&waited.body));
    assert_eq!(json(&waited)["error"], "temporarily_unavailable");
    let slept = world.host.clock.slept_millis() - before;
    assert!((1_000..=10_000).contains(&slept), "backed off for {slept} ms");
    assert_eq!(json(&api_call(&world, "/bff/session", true))["authenticated"], true);
}

/// Review: a logout that races a refresh (the refresh replaced the session record after the
/// logout read it) still ends the session.
#[test]
fn a_logout_racing_a_refresh_still_ends_the_session() {
    use gatehouse_core::ports::Ledger;
    let world = world();
    bff_login(&world);
    let id = world.cookies.borrow().get("gatehouse_bff").cloned().unwrap();
    let key = format!("bffsess:{}", gatehouse_core::b64::sha256(&id));
    let text = pollster::block_on(world.host.ledger.get(&key, world.now())).unwrap().unwrap();
    // The refresh lands between the logout's read and its compare-and-set: the same session,
    // written again (other text).
    world.host.ledger.race_next_cas("bffsess:", &text.replacen("{\"live\":", "{\"live\": ", 1));
    let out = world.send(form_request("/bff/logout", &[]).with_header("gatehouse-csrf", "1"));
    assert_eq!(out.status, 200);
    // The cookie is cleared in this jar; a stolen copy of it must be dead too.
    let stolen = Request::from_url("GET", &absolute("/bff/session"))
        .unwrap()
        .with_header("cookie", &format!("gatehouse_bff={id}"))
        .with_header("gatehouse-csrf", "1");
    assert_eq!(json(&world.call(stolen))["authenticated"], false);
}
