//! Client-Initiated Backchannel Authentication (OpenID CIBA Core 1.0) in process: poll, ping and
//! push, the `/approve` pages, the operator's webhook, and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::{Request, Response};
use gatehouse_core::jose::jwk::JwkSet;
use gatehouse_core::jose::jws::Jws;
use gatehouse_core::jose::Algorithm;
use gatehouse_core::notify;
use pollster::block_on;
use serde_json::{json, Value};
use support::*;

const CIBA: &str = "urn:openid:params:grant-type:ciba";
const POLL: &str = "ciba-poll";
const POLL_SECRET: &str = "ciba-poll-secret-0123456789abcdef01234";
const POLL_2: &str = "ciba-poll-2";
const POLL_2_SECRET: &str = "ciba-poll-2-secret-0123456789abcdef012";
const PING: &str = "ciba-ping";
const PING_SECRET: &str = "ciba-ping-secret-0123456789abcdef01234";
const PING_URL: &str = "https://ping.example/cb";
const PUSH: &str = "ciba-push";
const PUSH_SECRET: &str = "ciba-push-secret-0123456789abcdef01234";
const PUSH_URL: &str = "https://push.example/cb";
const HOOK: &str = "https://ops.example/ciba";
const NOTIFICATION_TOKEN: &str = "8d67dc78-7faa-4d41-aabd-67707b374255";

fn world() -> World {
    let world = World::new();
    let client = |id: &str, name: &str, secret: &str, mode: &str| {
        let mut c = json!({"client_id": id, "name": name, "app_type": "regular_web",
            "client_secret": secret, "grant_types": [CIBA, "refresh_token"],
            "backchannel_token_delivery_mode": mode});
        match mode {
            "ping" => c["backchannel_client_notification_endpoint"] = PING_URL.into(),
            "push" => c["backchannel_client_notification_endpoint"] = PUSH_URL.into(),
            _ => {}
        }
        c
    };
    world.import(&json!({
        "clients": [client(POLL, "Call Centre", POLL_SECRET, "poll"),
                    client(POLL_2, "Point of Sale", POLL_2_SECRET, "poll"),
                    client(PING, "Ping Bank", PING_SECRET, "ping"),
                    client(PUSH, "Push Shop", PUSH_SECRET, "push")],
        "ciba": {"notify_url": HOOK}
    }));
    for url in [PING_URL, PUSH_URL, HOOK] {
        world.host.http.responses.borrow_mut().insert(url.into(), Response::new(204));
    }
    world
}

fn bc_authorize(world: &World, client: (&str, &str), pairs: &[(&str, &str)]) -> Response {
    world.call(
        form_request("/bc-authorize", pairs)
            .with_header("authorization", &basic(client.0, client.1)),
    )
}

/// A request for Ada, with a binding message; returns the `auth_req_id` and the response.
fn start(world: &World, client: (&str, &str), extra: &[(&str, &str)]) -> (String, Response) {
    let mut pairs = vec![
        ("scope", "openid profile offline_access read:messages"),
        ("audience", API),
        ("login_hint", EMAIL),
    ];
    if !extra.iter().any(|(name, _)| *name == "binding_message") {
        pairs.push(("binding_message", "W4SCT"));
    }
    pairs.extend_from_slice(extra);
    let r = bc_authorize(world, client, &pairs);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    (json(&r)["auth_req_id"].as_str().unwrap().to_string(), r)
}

fn poll(world: &World, client: (&str, &str), auth_req_id: &str) -> Response {
    world.call(
        form_request("/oauth/token", &[("grant_type", CIBA), ("auth_req_id", auth_req_id)])
            .with_header("authorization", &basic(client.0, client.1)),
    )
}

/// The webhook's JSON among a response's deliveries, its signature checked against the JWKS.
fn webhook(world: &World, r: &Response) -> Value {
    let hook = r.deliveries.iter().find(|d| d.url() == HOOK).expect("the webhook is sent");
    assert_eq!(hook.method, "POST");
    let signature = hook.header("gatehouse-signature").unwrap();
    assert_eq!(header(signature)["typ"], "gatehouse-ciba+jwt");
    let jwks: JwkSet = serde_json::from_slice(&world.get("/.well-known/jwks.json").body).unwrap();
    let jws = Jws::parse(signature, &[Algorithm::ES256]).unwrap();
    let payload =
        block_on(jws.verify(&world.host.crypto, &jwks.keys)).expect("signed by the server");
    assert_eq!(payload, hook.body, "the signature covers the body as sent");
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body["iss"], ISSUER);
    body
}

/// The approval link's path and query.
fn approve_path(world: &World, r: &Response) -> String {
    let url = webhook(world, r)["approve_url"].as_str().unwrap().to_string();
    url.strip_prefix(ORIGIN).unwrap().to_string()
}

/// The user's part: open the link, log in as `email` if asked, and allow or deny on the
/// confirmation page (which shows the binding message). Returns the final page.
fn answer(world: &World, path: &str, email: &str, password: &str, decision: &str) -> Response {
    let opened = world.get(path);
    assert_eq!(opened.status, 302, "{}", String::from_utf8_lossy(&opened.body));
    let mut next = location(&opened);
    if next.starts_with("/login") {
        let login = String::from_utf8(world.get(&next).body).unwrap();
        assert!(!login.contains(EMAIL), "the link does not reveal the user's email");
        let after_login = world.login_from(&opened, email, password);
        next = location(&world.get(&location(&after_login)));
    }
    assert!(next.starts_with("/consent?req="), "{next}: every request is confirmed");
    let page = String::from_utf8(world.get(&next).body).unwrap();
    assert!(page.contains("W4SCT"), "the binding message is shown: {page}");
    let (req, csrf) = (hidden(&page, "req"), hidden(&page, "csrf"));
    world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", decision)])
}

#[test]
fn poll_mode_issues_tokens_once_after_the_user_approves() {
    let world = world();
    let (id, r) = start(&world, (POLL, POLL_SECRET), &[]);
    let body = json(&r);
    assert!(id.len() >= 22, "≥ 128 bits (§7.3)");
    assert_eq!((body["expires_in"].as_i64(), body["interval"].as_i64()), (Some(300), Some(5)));
    // The operator hears of it, signed, with what the user will see.
    let hook = webhook(&world, &r);
    assert_eq!(hook["auth_req_id"], id.as_str());
    assert_eq!(hook["user_id"], USER_ID);
    assert_eq!(hook["client_id"], POLL);
    assert_eq!(hook["client_name"], "Call Centre");
    assert_eq!(hook["binding_message"], "W4SCT");
    assert_eq!(hook["scope"], "openid profile offline_access read:messages");
    assert!(!hook["approve_url"].as_str().unwrap().contains(&id), "the link hides auth_req_id");
    // Pending, too soon (slow_down adds 5 s), pending again.
    let client = (POLL, POLL_SECRET);
    assert_eq!(oauth_error(&poll(&world, client, &id)), (400, "authorization_pending".into()));
    assert_eq!(oauth_error(&poll(&world, client, &id)), (400, "slow_down".into()));
    world.host.clock.advance(6);
    assert_eq!(oauth_error(&poll(&world, client, &id)).1, "slow_down", "the interval is 10 s");
    world.host.clock.advance(15);
    assert_eq!(oauth_error(&poll(&world, client, &id)).1, "authorization_pending");
    // Another client cannot redeem it.
    assert_eq!(oauth_error(&poll(&world, (POLL_2, POLL_2_SECRET), &id)).1, "invalid_grant");
    let path = approve_path(&world, &r);
    let done = answer(&world, &path, EMAIL, PASSWORD, "allow");
    assert_eq!(done.status, 200);
    assert!(String::from_utf8_lossy(&done.body).contains("Call Centre"));
    assert_eq!(page_error(&world.get(&path)), (400, "expired_token".into()), "answered");
    assert!(done.deliveries.is_empty(), "a poll-mode client is not notified");
    world.host.clock.advance(20);
    let r = poll(&world, client, &id);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tokens = json(&r);
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!((access["sub"].as_str(), access["client_id"].as_str()), (Some(USER_ID), Some(POLL)));
    assert_eq!(access["aud"], json!([API, format!("{ISSUER}userinfo")]));
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!((id_token["sub"].as_str(), id_token["aud"].as_str()), (Some(USER_ID), Some(POLL)));
    assert!(id_token["auth_time"].is_i64());
    let rt = tokens["refresh_token"].as_str().expect("offline_access").to_string();
    // Exactly once; the refresh token works.
    world.host.clock.advance(20);
    assert_eq!(oauth_error(&poll(&world, client, &id)), (400, "invalid_grant".into()));
    let refreshed = world.call(
        form_request("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
            .with_header("authorization", &basic(POLL, POLL_SECRET)),
    );
    assert_eq!(refreshed.status, 200);
}

#[test]
fn denied_and_expired_requests() {
    let world = world();
    let client = (POLL, POLL_SECRET);
    let (id, r) = start(&world, client, &[]);
    let denied = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "deny");
    assert!(String::from_utf8_lossy(&denied.body).contains("Request denied"));
    assert_eq!(oauth_error(&poll(&world, client, &id)), (403, "access_denied".into()));
    // Its link opens nothing now.
    let again = world.get(&approve_path(&world, &r));
    assert_eq!(page_error(&again), (400, "expired_token".into()));
    // requested_expiry shortens the life of a request.
    let (id, r) = start(&world, client, &[("requested_expiry", "60")]);
    assert_eq!(json(&r)["expires_in"], 60);
    world.host.clock.advance(60);
    assert_eq!(oauth_error(&poll(&world, client, &id)), (400, "expired_token".into()));
    assert_eq!(page_error(&world.get(&approve_path(&world, &r))).1, "expired_token");
    // Unknown ids.
    assert_eq!(oauth_error(&poll(&world, client, "no-such-request")).1, "invalid_grant");
    assert_eq!(page_error(&world.get("/approve?request=nope")).1, "expired_token");
    let missing = world.call(
        form_request("/oauth/token", &[("grant_type", CIBA)])
            .with_header("authorization", &basic(POLL, POLL_SECRET)),
    );
    assert_eq!(oauth_error(&missing).1, "invalid_request");
}

#[test]
fn only_the_hinted_user_can_approve() {
    let world = world();
    let client = (POLL, POLL_SECRET);
    let (id, r) = start(&world, client, &[]);
    let path = approve_path(&world, &r);
    // The link asks for a login; Bob logs in instead: he sees no confirmation page, and can
    // neither allow nor deny (the form's token from the login page gets him nowhere).
    let opened = world.get(&path);
    let login_page = String::from_utf8(world.get(&location(&opened)).body).unwrap();
    let (req, csrf) = (hidden(&login_page, "req"), hidden(&login_page, "csrf"));
    let after = world.login_from(&opened, BOB_EMAIL, BOB_PASSWORD);
    let consent = location(&world.get(&location(&after)));
    assert!(consent.starts_with("/consent?req="), "{consent}");
    assert_eq!(page_error(&world.get(&consent)), (403, "access_denied".into()));
    for decision in ["deny", "allow"] {
        let refused =
            world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", decision)]);
        assert_eq!(page_error(&refused), (403, "access_denied".into()), "{decision}");
    }
    assert_eq!(oauth_error(&poll(&world, client, &id)).1, "authorization_pending");
    // With Bob's session in this browser the link asks for a login again (as Ada).
    let done = answer(&world, &path, EMAIL, PASSWORD, "allow");
    assert_eq!(done.status, 200);
    world.host.clock.advance(10);
    assert_eq!(poll(&world, client, &id).status, 200);
}

#[test]
fn the_approval_list_shows_each_users_own_requests() {
    let world = world();
    start(&world, (POLL, POLL_SECRET), &[]);
    start(&world, (POLL_2, POLL_2_SECRET), &[("binding_message", "ZX-19")]);
    let for_bob = bc_authorize(
        &world,
        (POLL, POLL_SECRET),
        &[("scope", "openid"), ("login_hint", BOB_EMAIL), ("binding_message", "BOBS")],
    );
    assert_eq!(for_bob.status, 200);
    // Not signed in: the list's own login form (double-submit CSRF).
    let form = world.get("/approve");
    assert_eq!(form.status, 200);
    let html = String::from_utf8(form.body).unwrap();
    let csrf = hidden(&html, "csrf");
    let forged = world.call(form_request(
        "/approve",
        &[("csrf", &csrf), ("username", EMAIL), ("password", PASSWORD)],
    ));
    assert_eq!(page_error(&forged), (403, "access_denied".into()), "no CSRF cookie");
    let wrong =
        world.post_form("/approve", &[("csrf", &csrf), ("username", EMAIL), ("password", "nope")]);
    assert_eq!(wrong.status, 400);
    let csrf = hidden(&String::from_utf8(wrong.body).unwrap(), "csrf");
    let signed_in = world
        .post_form("/approve", &[("csrf", &csrf), ("username", EMAIL), ("password", PASSWORD)]);
    assert_eq!((signed_in.status, location(&signed_in).as_str()), (303, "/approve"));
    let list = String::from_utf8(world.get("/approve").body).unwrap();
    assert!(list.contains("Call Centre") && list.contains("Point of Sale"), "{list}");
    assert!(list.contains("W4SCT") && list.contains("ZX-19"));
    assert!(!list.contains("BOBS"), "Bob's request is not Ada's");
    assert_eq!(list.matches("/approve?request=").count(), 2);
}

#[test]
fn ping_mode_pings_on_approval_and_on_denial_then_the_client_asks() {
    let world = world();
    let client = (PING, PING_SECRET);
    let notification = [("client_notification_token", NOTIFICATION_TOKEN)];
    let (id, r) = start(&world, client, &notification);
    assert_eq!(json(&r)["interval"], 5);
    let done = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "allow");
    assert_eq!(done.deliveries.len(), 1);
    let ping = &done.deliveries[0];
    assert_eq!((ping.method.as_str(), ping.url()), ("POST", PING_URL.to_string()));
    assert_eq!(ping.header("authorization"), Some(format!("Bearer {NOTIFICATION_TOKEN}").as_str()));
    assert_eq!(serde_json::from_slice::<Value>(&ping.body).unwrap(), json!({"auth_req_id": id}));
    assert_eq!(block_on(notify::deliver(&world.host, done.deliveries.clone())), 1);
    let r = poll(&world, client, &id);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Denied: pinged as well; the token endpoint says access_denied.
    let (id, r) = start(&world, client, &notification);
    let denied = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "deny");
    assert_eq!(denied.deliveries.len(), 1);
    assert_eq!(oauth_error(&poll(&world, client, &id)).1, "access_denied");
    // The token is required in ping mode.
    let r = bc_authorize(&world, client, &[("scope", "openid"), ("login_hint", EMAIL)]);
    assert_eq!(oauth_error(&r), (400, "invalid_request".into()));
}

#[test]
fn a_failed_ping_is_retried_then_given_up_and_the_client_can_still_ask() {
    let world = world();
    let client = (PING, PING_SECRET);
    let (id, r) = start(&world, client, &[("client_notification_token", NOTIFICATION_TOKEN)]);
    world.host.http.responses.borrow_mut().insert(PING_URL.into(), Response::new(503));
    let done = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "allow");
    let before = world.host.http.requests.borrow().len();
    assert_eq!(block_on(notify::deliver(&world.host, done.deliveries)), 0);
    let attempts = world.host.http.requests.borrow().len() - before;
    assert_eq!(attempts, 1 + notify::BACKOFF_MILLIS.len(), "retried with backoff");
    assert!(world.host.log.borrow().iter().any(|l| l.contains("given up")));
    assert_eq!(poll(&world, client, &id).status, 200, "the request was not lost");
}

#[test]
fn push_mode_delivers_the_token_response_and_refuses_the_token_endpoint() {
    let world = world();
    let client = (PUSH, PUSH_SECRET);
    let (id, r) = start(&world, client, &[("client_notification_token", NOTIFICATION_TOKEN)]);
    assert!(json(&r).get("interval").is_none(), "no polling in push mode (§7.3)");
    assert_eq!(oauth_error(&poll(&world, client, &id)), (400, "unauthorized_client".into()));
    let done = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "allow");
    assert_eq!(done.deliveries.len(), 1);
    let push = &done.deliveries[0];
    assert_eq!(push.url(), PUSH_URL);
    assert_eq!(push.header("authorization"), Some(format!("Bearer {NOTIFICATION_TOKEN}").as_str()));
    let body: Value = serde_json::from_slice(&push.body).unwrap();
    assert_eq!(body["auth_req_id"], id.as_str());
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();
    let rt = body["refresh_token"].as_str().unwrap();
    // §10.3.1: the ID token binds the request, the access token and the refresh token.
    let id_token = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["urn:openid:params:jwt:claim:auth_req_id"], id.as_str());
    assert_eq!(id_token["at_hash"], half_hash(access));
    assert_eq!(id_token["urn:openid:params:jwt:claim:rt_hash"], half_hash(rt));
    assert_eq!(id_token["aud"], PUSH);
    assert_eq!(world.introspect(access)["active"], true);
    // Pushed once: the link is spent.
    assert_eq!(page_error(&world.get(&approve_path(&world, &r))).1, "expired_token");
    // Denied: the error is pushed (§12).
    let (id, r) = start(&world, client, &[("client_notification_token", NOTIFICATION_TOKEN)]);
    let denied = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "deny");
    let body: Value = serde_json::from_slice(&denied.deliveries[0].body).unwrap();
    assert_eq!(
        body,
        json!({"auth_req_id": id, "error": "access_denied",
        "error_description": "the user denied the request"})
    );
}

fn half_hash(value: &str) -> String {
    use sha2::Digest;
    gatehouse_core::b64::encode(&sha2::Sha256::digest(value.as_bytes())[..16])
}

#[test]
fn hints_identify_exactly_one_known_user() {
    let world = world();
    let client = (POLL, POLL_SECRET);
    let ask = |pairs: &[(&str, &str)]| {
        let mut all = vec![("scope", "openid")];
        all.extend_from_slice(pairs);
        oauth_error(&bc_authorize(&world, client, &all))
    };
    // Auth0's iss_sub form names the user by id.
    let iss_sub = json!({"format": "iss_sub", "iss": ISSUER, "sub": BOB_ID}).to_string();
    let (_, r) = start(&world, client, &[]);
    assert_eq!(webhook(&world, &r)["user_id"], USER_ID);
    let r = bc_authorize(&world, client, &[("scope", "openid"), ("login_hint", &iss_sub)]);
    assert_eq!(webhook(&world, &r)["user_id"], BOB_ID);
    // An ID token this server issued to this client (here: from a poll-mode approval).
    let (id, r) = start(&world, client, &[]);
    answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "allow");
    let tokens = json(&poll(&world, client, &id));
    let id_token = tokens["id_token"].as_str().unwrap();
    let r = bc_authorize(&world, client, &[("scope", "openid"), ("id_token_hint", id_token)]);
    assert_eq!(webhook(&world, &r)["user_id"], USER_ID);
    // Another client's ID token, an access token, or garbage: invalid_request.
    assert_eq!(
        oauth_error(&bc_authorize(
            &world,
            (POLL_2, POLL_2_SECRET),
            &[("scope", "openid"), ("id_token_hint", id_token)]
        )),
        (400, "invalid_request".into())
    );
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(ask(&[("id_token_hint", access)]).1, "invalid_request");
    assert_eq!(ask(&[("id_token_hint", "a.b.c")]).1, "invalid_request");
    // None, two, an unsupported one.
    assert_eq!(ask(&[]), (400, "invalid_request".into()));
    assert_eq!(ask(&[("login_hint", EMAIL), ("id_token_hint", id_token)]).1, "invalid_request");
    assert_eq!(ask(&[("login_hint_token", "x")]).1, "invalid_request", "not a signed JWT");
    // Unknown users: by email, by id, or another issuer's.
    assert_eq!(ask(&[("login_hint", "nobody@example.com")]), (400, "unknown_user_id".into()));
    let stranger = json!({"format": "iss_sub", "iss": ISSUER, "sub": "u|nobody"}).to_string();
    assert_eq!(ask(&[("login_hint", &stranger)]).1, "unknown_user_id");
    let foreign = json!({"format": "iss_sub", "iss": "https://other.example/", "sub": USER_ID});
    assert_eq!(ask(&[("login_hint", &foreign.to_string())]).1, "unknown_user_id");
    assert_eq!(ask(&[("login_hint", "{\"format\":\"email\"}")]).1, "invalid_request");
}

#[test]
fn every_other_refusal_of_bc_authorize() {
    let world = world();
    let client = (POLL, POLL_SECRET);
    let ask = |pairs: &[(&str, &str)]| {
        let mut all = vec![("login_hint", EMAIL)];
        all.extend_from_slice(pairs);
        oauth_error(&bc_authorize(&world, client, &all))
    };
    assert_eq!(ask(&[("scope", "profile")]), (400, "invalid_request".into()), "openid is required");
    assert_eq!(ask(&[]).1, "invalid_request", "scope is required");
    let long = "x".repeat(65);
    assert_eq!(
        ask(&[("scope", "openid"), ("binding_message", &long)]),
        (400, "invalid_binding_message".into())
    );
    assert_eq!(
        ask(&[("scope", "openid"), ("binding_message", "two\nlines")]).1,
        "invalid_binding_message"
    );
    for expiry in ["0", "601", "soon", "-5"] {
        assert_eq!(ask(&[("scope", "openid"), ("requested_expiry", expiry)]).1, "invalid_request");
    }
    assert_eq!(ask(&[("scope", "openid"), ("request", "eyJ.eyJ.sig")]).1, "invalid_request");
    assert_eq!(
        ask(&[("scope", "openid"), ("audience", "https://nope.example/")]).1,
        "invalid_target"
    );
    // Client authentication (CIBA Core §13: invalid_client is 401).
    let wrong =
        bc_authorize(&world, (POLL, "wrong-secret"), &[("scope", "openid"), ("login_hint", EMAIL)]);
    assert_eq!(oauth_error(&wrong), (401, "invalid_client".into()));
    // A client without the grant, and a public one.
    let web =
        bc_authorize(&world, (WEB, WEB_SECRET), &[("scope", "openid"), ("login_hint", EMAIL)]);
    assert_eq!(oauth_error(&web), (400, "unauthorized_client".into()));
    let public = world.call(form_request(
        "/bc-authorize",
        &[("client_id", SPA), ("scope", "openid"), ("login_hint", EMAIL)],
    ));
    assert_eq!(oauth_error(&public).0 / 100, 4);
    assert_ne!(oauth_error(&public).1, "");
    // Nothing but POST.
    assert_eq!(world.get("/bc-authorize").status, 405);
}

#[test]
fn ciba_metadata_is_validated_at_import_and_registration() {
    let world = world();
    // Discovery lists the endpoint, the modes, and the grant.
    let d = json(&world.get("/.well-known/openid-configuration"));
    assert_eq!(d["backchannel_authentication_endpoint"], format!("{ISSUER}bc-authorize"));
    assert_eq!(d["backchannel_token_delivery_modes_supported"], json!(["poll", "ping", "push"]));
    assert_eq!(d["backchannel_user_code_parameter_supported"], false);
    assert!(d["grant_types_supported"].as_array().unwrap().contains(&json!(CIBA)));
    let registered = world.register(&json!({
        "grant_types": [CIBA], "token_endpoint_auth_method": "client_secret_basic",
        "backchannel_token_delivery_mode": "ping",
        "backchannel_client_notification_endpoint": "https://rp.example/ciba"}));
    assert_eq!(registered["backchannel_token_delivery_mode"], "ping");
    assert_eq!(registered["backchannel_client_notification_endpoint"], "https://rp.example/ciba");
    let refused = |metadata: Value| oauth_error(&world.try_register(&metadata));
    for bad in [
        json!({"grant_types": [CIBA]}),
        json!({"grant_types": [CIBA], "token_endpoint_auth_method": "none",
               "backchannel_token_delivery_mode": "poll"}),
        json!({"grant_types": [CIBA], "backchannel_token_delivery_mode": "push"}),
        json!({"grant_types": [CIBA], "backchannel_token_delivery_mode": "ping",
               "backchannel_client_notification_endpoint": "http://rp.example/ciba"}),
        json!({"grant_types": [CIBA], "backchannel_token_delivery_mode": "poll",
               "backchannel_client_notification_endpoint": "https://rp.example/ciba"}),
        json!({"grant_types": [CIBA], "backchannel_token_delivery_mode": "smoke"}),
        json!({"grant_types": [CIBA], "backchannel_token_delivery_mode": "ping",
               "backchannel_client_notification_endpoint": "HTTPS://rp.example/ciba"}),
        json!({"grant_types": [CIBA], "backchannel_token_delivery_mode": "poll",
               "backchannel_user_code_parameter": true}),
        json!({"redirect_uris": ["https://rp.example/cb"], "backchannel_token_delivery_mode": "poll"}),
    ] {
        assert_eq!(refused(bad.clone()), (400, "invalid_client_metadata".into()), "{bad}");
    }
    // The tenant file: the same rules, and the webhook's URL.
    let import = |tenant: Value| world.try_import(&tenant).status;
    assert_eq!(import(json!({"ciba": {"notify_url": "http://ops.example/"}})), 400);
    assert_eq!(
        import(json!({"clients": [{"client_id": "p", "name": "P", "app_type": "spa",
            "grant_types": [CIBA], "backchannel_token_delivery_mode": "poll"}]})),
        400
    );
    assert_eq!(import(json!({"ciba": {"notify_url": "http://127.0.0.1:9/hook"}})), 200);
}

#[test]
fn floods_invisible_text_and_oversized_tokens_are_refused() {
    let world = world();
    let client = (POLL, POLL_SECRET);
    let ask = |extra: &[(&str, &str)]| {
        let mut all = vec![("scope", "openid"), ("login_hint", EMAIL)];
        all.extend_from_slice(extra);
        oauth_error(&bc_authorize(&world, client, &all))
    };
    // A right-to-left override or a zero-width space could make the message read otherwise.
    for message in
        ["pay \u{202E}001", "W4\u{200B}SCT", "   ", "W4\u{E0041}SCT", "W4\u{FE0F}", "\u{3164}"]
    {
        assert_eq!(
            ask(&[("binding_message", message)]).1,
            "invalid_binding_message",
            "{message:?}"
        );
    }
    let ping = (PING, PING_SECRET);
    let long = "t".repeat(1025);
    for token in [long.as_str(), "has space"] {
        let r = bc_authorize(
            &world,
            ping,
            &[("scope", "openid"), ("login_hint", EMAIL), ("client_notification_token", token)],
        );
        assert_eq!(oauth_error(&r).1, "invalid_request");
    }
    // Ten requests per client and user over two 5-minute windows, then 429; other users and
    // other clients are not held back.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let r = bc_authorize(&world, client, &[("scope", "openid"), ("login_hint", BOB_EMAIL)]);
        statuses.push(r.status);
    }
    assert_eq!(statuses[..10], [200; 10]);
    let over = bc_authorize(&world, client, &[("scope", "openid"), ("login_hint", BOB_EMAIL)]);
    assert_eq!(oauth_error(&over), (429, "too_many_requests".into()));
    assert_eq!(
        bc_authorize(&world, client, &[("scope", "openid"), ("login_hint", EMAIL)]).status,
        200
    );
    let other = bc_authorize(
        &world,
        (POLL_2, POLL_2_SECRET),
        &[("scope", "openid"), ("login_hint", BOB_EMAIL)],
    );
    assert_eq!(other.status, 200);
}

#[test]
fn push_refuses_dpop_only_apis_and_deleted_clients() {
    let world = world();
    world.import(&json!({"apis": [{"identifier": "https://dpop.example/", "name": "DPoP only",
        "require_dpop": true, "scopes": [{"value": "pay"}]}]}));
    let to_dpop_api = |client: (&str, &str)| {
        bc_authorize(
            &world,
            client,
            &[
                ("scope", "openid pay"),
                ("audience", "https://dpop.example/"),
                ("login_hint", EMAIL),
                ("client_notification_token", NOTIFICATION_TOKEN),
            ],
        )
    };
    assert_eq!(oauth_error(&to_dpop_api((PUSH, PUSH_SECRET))), (400, "invalid_request".into()));
    assert_eq!(to_dpop_api((POLL, POLL_SECRET)).status, 200, "a poll client proves its key later");
    // A registered push client, deleted while its request waits: nothing is pushed.
    let registered = world.register(&json!({
        "grant_types": [CIBA], "backchannel_token_delivery_mode": "push",
        "backchannel_client_notification_endpoint": PUSH_URL}));
    let id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let (_, r) = start(&world, (id, secret), &[("client_notification_token", NOTIFICATION_TOKEN)]);
    let path = approve_path(&world, &r);
    // KV here still shows the client for a while: the ledger's deletion mark decides.
    world.host.store.set_lagging(true);
    let deleted = world.call(
        Request::from_url("DELETE", &absolute(&format!("/oidc/register/{id}")))
            .unwrap()
            .with_header(
                "authorization",
                &format!("Bearer {}", registered["registration_access_token"].as_str().unwrap()),
            ),
    );
    assert_eq!(deleted.status, 204);
    world.host.store.set_lagging(false);
    let opened = world.get(&path);
    let after = world.login_from(&opened, EMAIL, PASSWORD);
    let consent = location(&world.get(&location(&after)));
    let page = String::from_utf8(world.get(&consent).body).unwrap();
    let done = world.post_form(
        "/consent",
        &[("req", &hidden(&page, "req")), ("csrf", &hidden(&page, "csrf")), ("decision", "allow")],
    );
    assert_eq!(page_error(&done), (403, "access_denied".into()));
    assert!(done.deliveries.is_empty(), "no tokens for a deleted client");
    // The request ended there: its expiry tells the deleted client nothing either.
    world.host.clock.advance(300);
    assert!(world.host.ledger.run_deadlines(world.now()).is_empty());
}

#[test]
fn a_push_request_approved_in_two_tabs_is_pushed_once_and_nothing_contradicts_it() {
    use gatehouse_core::grant::ciba::{CibaEnded, CibaRecord};
    use gatehouse_core::ledger_record::ended_text;
    let world = world();
    let token = [("client_notification_token", NOTIFICATION_TOKEN)];
    let (_, r) = start(&world, (PUSH, PUSH_SECRET), &token);
    let path = approve_path(&world, &r);
    let opened = world.get(&path);
    let after = world.login_from(&opened, EMAIL, PASSWORD);
    let page = String::from_utf8(world.get(&location(&world.get(&location(&after)))).body).unwrap();
    // Another tab's approval wins between this one's read and its single use: its tokens were
    // pushed; this one is simply too late (no transaction_failed to contradict them).
    let theirs = CibaEnded::Issued { grant_id: "the-other-tab".into() };
    world.host.ledger.race_next_cas("ciba:", &ended_text::<CibaRecord, _>(&theirs).unwrap());
    let late = world.post_form(
        "/consent",
        &[("req", &hidden(&page, "req")), ("csrf", &hidden(&page, "csrf")), ("decision", "allow")],
    );
    assert_eq!(page_error(&late), (400, "expired_token".into()));
    assert!(late.deliveries.is_empty(), "nothing pushed by the tab that lost");
    // Sequentially, the second tab finds the request answered.
    let (_, r) = start(&world, (PUSH, PUSH_SECRET), &token);
    let path = approve_path(&world, &r);
    let tab_1 = String::from_utf8(world.get(&location(&world.get(&path))).body).unwrap();
    let tab_2 = String::from_utf8(world.get(&location(&world.get(&path))).body).unwrap();
    let allow = |page: &str| {
        world.post_form(
            "/consent",
            &[
                ("req", &hidden(page, "req")),
                ("csrf", &hidden(page, "csrf")),
                ("decision", "allow"),
            ],
        )
    };
    assert_eq!(allow(&tab_1).deliveries.len(), 1);
    let second = allow(&tab_2);
    assert_eq!((page_error(&second).1, second.deliveries.len()), ("expired_token".into(), 0));
}

#[test]
fn without_a_webhook_nothing_is_announced_and_the_list_still_shows_it() {
    let world = World::new();
    world.import(&json!({"clients": [{"client_id": POLL, "name": "Call Centre",
        "app_type": "regular_web", "client_secret": POLL_SECRET, "grant_types": [CIBA],
        "backchannel_token_delivery_mode": "poll"}]}));
    let (_, r) = start(&world, (POLL, POLL_SECRET), &[]);
    assert!(r.deliveries.is_empty());
    let form = String::from_utf8(world.get("/approve").body).unwrap();
    let csrf = hidden(&form, "csrf");
    world.post_form("/approve", &[("csrf", &csrf), ("username", EMAIL), ("password", PASSWORD)]);
    let list = String::from_utf8(world.get("/approve").body).unwrap();
    assert_eq!(list.matches("/approve?request=").count(), 1, "{list}");
}

#[test]
fn a_push_request_that_expires_unanswered_is_pushed_expired_token_once() {
    let world = world();
    let client = (PUSH, PUSH_SECRET);
    let token = [("client_notification_token", NOTIFICATION_TOKEN), ("requested_expiry", "60")];
    let (expiring, r) = start(&world, client, &token);
    let expiring_path = approve_path(&world, &r);
    let (answered, r) = start(&world, client, &token);
    let done = answer(&world, &approve_path(&world, &r), EMAIL, PASSWORD, "allow");
    assert_eq!(done.deliveries.len(), 1, "the tokens were pushed");
    start(&world, (POLL, POLL_SECRET), &[("requested_expiry", "60")]);
    // Before the deadline nothing is due; at it, only the unanswered push request is told.
    assert!(world.host.ledger.run_deadlines(world.now() + 59).is_empty());
    world.host.clock.advance(60);
    let due = world.host.ledger.run_deadlines(world.now());
    assert_eq!(due.len(), 1, "not the answered one, not the poll-mode one");
    assert_eq!(due[0].url(), PUSH_URL);
    assert_eq!(
        due[0].header("authorization"),
        Some(format!("Bearer {NOTIFICATION_TOKEN}").as_str())
    );
    let body: Value = serde_json::from_slice(&due[0].body).unwrap();
    assert_eq!(body["auth_req_id"], expiring.as_str());
    assert_eq!(body["error"], "expired_token");
    assert_ne!(body["auth_req_id"], answered.as_str());
    // Ended: the link is gone, and a second run sends nothing.
    assert_eq!(page_error(&world.get(&expiring_path)).1, "expired_token");
    assert!(world.host.ledger.run_deadlines(world.now() + 1).is_empty());
}

#[test]
fn login_hint_token_is_a_jwt_the_client_signs_naming_the_user_by_rfc9493_subject() {
    use gatehouse_core::jose::jwk::Jwk;
    use gatehouse_core::jose::jws;
    use gatehouse_core::ports::Crypto;
    use gatehouse_core::rust_crypto::RustCrypto;
    let world = world();
    let key = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [31; 32])).unwrap();
    let key = Jwk { kid: Some("lht-1".into()), ..key };
    let other = block_on(RustCrypto.generate_signing_key(Algorithm::ES256, [32; 32])).unwrap();
    // A key client: the call centre with its key registered (secret authentication still).
    world.import(&json!({"clients": [{"client_id": POLL, "name": "Call Centre",
        "app_type": "regular_web", "client_secret": POLL_SECRET, "grant_types": [CIBA],
        "backchannel_token_delivery_mode": "poll", "jwks": {"keys": [key.to_public()]}}]}));
    let now = world.now();
    let token = |key: &Jwk, jti: &str, change: &dyn Fn(&mut Value)| {
        let mut claims = json!({"iss": POLL, "aud": ISSUER, "exp": now + 60, "iat": now,
            "jti": jti, "sub_id": {"format": "email", "email": BOB_EMAIL}});
        change(&mut claims);
        block_on(jws::sign(&RustCrypto, key, Algorithm::ES256, None, claims.to_string().as_bytes()))
            .unwrap()
    };
    let ask = |t: &str| {
        bc_authorize(&world, (POLL, POLL_SECRET), &[("scope", "openid"), ("login_hint_token", t)])
    };
    let good = token(&key, "lht-a", &|_| {});
    let r = ask(&good);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(webhook(&world, &r)["user_id"], BOB_ID);
    assert_eq!(oauth_error(&ask(&good)).1, "invalid_request", "its jti is used once");
    let by_sub = token(&key, "lht-b", &|c| {
        c["sub_id"] = json!({"format": "iss_sub", "iss": ISSUER, "sub": USER_ID});
        c["aud"] = format!("{ISSUER}bc-authorize").into();
    });
    assert_eq!(webhook(&world, &ask(&by_sub))["user_id"], USER_ID);
    // Refusals: expired (its own §13 code), another key, another issuer, no sub_id, an unknown
    // user, an unknown format.
    let expired = token(&key, "lht-c", &|c| c["exp"] = (now - 1).into());
    assert_eq!(oauth_error(&ask(&expired)), (400, "expired_login_hint_token".into()));
    assert_eq!(oauth_error(&ask(&token(&other, "lht-d", &|_| {}))).1, "invalid_request");
    let foreign = token(&key, "lht-e", &|c| c["iss"] = "someone-else".into());
    assert_eq!(oauth_error(&ask(&foreign)).1, "invalid_request");
    let bare = token(&key, "lht-f", &|c| {
        c.as_object_mut().unwrap().remove("sub_id");
    });
    assert_eq!(oauth_error(&ask(&bare)).1, "invalid_request");
    let nobody = token(&key, "lht-g", &|c| c["sub_id"]["email"] = "nobody@example.com".into());
    assert_eq!(oauth_error(&ask(&nobody)), (400, "unknown_user_id".into()));
    let phone = token(&key, "lht-h", &|c| {
        c["sub_id"] = json!({"format": "phone_number", "phone_number": "+1"})
    });
    assert_eq!(oauth_error(&ask(&phone)).1, "invalid_request");
    // A client without keys cannot sign one.
    let r = bc_authorize(
        &world,
        (POLL_2, POLL_2_SECRET),
        &[
            ("scope", "openid"),
            ("login_hint_token", &token(&key, "lht-i", &|c| c["iss"] = POLL_2.into())),
        ],
    );
    assert_eq!(oauth_error(&r).1, "invalid_request");
}
