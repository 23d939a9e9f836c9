//! Whether a token still stands is one ledger read (issue 14): its grant, its own revocation
//! and its client's deletion live in one ledger group (`grant::standing`), and introspection
//! asks about its caller in the same read. The revocation guarantees the README states hold
//! between two users' grants and two tokens of one grant.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::{Request, Response};
use gatehouse_core::ports::Ledger;
use pollster::block_on;
use support::*;

fn password_tokens(world: &World, username: &str, secret: &str) -> serde_json::Value {
    let r = world.call(
        form_request(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", secret),
                ("scope", "openid profile offline_access read:messages"),
                ("audience", API),
            ],
        )
        .with_header("authorization", &basic(ROPC, ROPC_SECRET)),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)
}

fn refresh(world: &World, refresh_token: &str) -> serde_json::Value {
    let r = world.call(
        form_request(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .with_header("authorization", &basic(ROPC, ROPC_SECRET)),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)
}

fn userinfo(world: &World, token: &str) -> Response {
    world.call(
        Request::from_url("GET", &absolute("/userinfo"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {token}")),
    )
}

fn revoke(world: &World, token: &str) {
    let r = world.call(
        form_request("/oauth/revoke", &[("token", token)])
            .with_header("authorization", &basic(ROPC, ROPC_SECRET)),
    );
    assert_eq!(r.status, 200);
}

/// The SPA's authorization request for a refresh token, with PKCE.
const SPA_OFFLINE_QUERY: [(&str, &str); 6] = [
    ("client_id", SPA),
    ("redirect_uri", SPA_REDIRECT),
    ("response_type", "code"),
    ("scope", "openid offline_access"),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
];

fn text(v: &serde_json::Value, name: &str) -> String {
    v[name].as_str().unwrap().to_string()
}

/// The hot paths' storage budget: userinfo and introspection make one ledger round trip each
/// (before: three, four for an access token and two for a refresh token), the caller's
/// deletion included.
#[test]
fn userinfo_and_introspection_ask_the_ledger_once() {
    let world = World::new();
    let tokens = password_tokens(&world, EMAIL, PASSWORD);
    let access = text(&tokens, "access_token");
    let before = world.host.ledger.round_trips();
    assert_eq!(userinfo(&world, &access).status, 200);
    assert_eq!(world.host.ledger.round_trips() - before, 1, "userinfo");
    let before = world.host.ledger.round_trips();
    assert_eq!(world.introspect(&access)["active"], true);
    assert_eq!(world.host.ledger.round_trips() - before, 1, "introspection");
    // A refresh token, introspected by its own client: its grant and the caller, one read.
    let before = world.host.ledger.round_trips();
    let r = world.call(
        form_request("/oauth/introspect", &[("token", &text(&tokens, "refresh_token"))])
            .with_header("authorization", &basic(ROPC, ROPC_SECRET)),
    );
    assert_eq!(json(&r)["active"], true, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(world.host.ledger.round_trips() - before, 1, "introspecting a refresh token");
}

/// The token endpoint's: client credentials ask the ledger once (the client grant and the
/// client's deletion, one read); a code exchange and a refresh once too (the single-use
/// decision, made on the ledger: `Ledger::decide` — for a code, its use and its grant's start
/// in one step; it answers with what the tokens need). Before: two, four and three; then two
/// each (a read, then a compare-and-set).
#[test]
fn token_requests_ask_the_ledger_once() {
    let world = World::new();
    let trips = |f: &dyn Fn() -> Response| {
        let before = world.host.ledger.round_trips();
        let r = f();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        (world.host.ledger.round_trips() - before, json(&r))
    };
    let m2m = || {
        world.call(
            form_request(
                "/oauth/token",
                &[("grant_type", "client_credentials"), ("audience", API2)],
            )
            .with_header("authorization", &basic(M2M_2, M2M_2_SECRET)),
        )
    };
    // The first signature creates the key set (on the ledger, once).
    assert_eq!(m2m().status, 200);
    assert_eq!(trips(&m2m).0, 1, "client credentials");
    let q = SPA_OFFLINE_QUERY;
    let done = world.code_flow(&q);
    let code = redirect_params(&done).get("code").unwrap().unwrap().to_string();
    let exchange = || spa_exchange(&world, &code, VERIFIER);
    let (n, tokens) = trips(&exchange);
    assert_eq!(n, 1, "code exchange");
    let rt = text(&tokens, "refresh_token");
    let refresh = || {
        world.call(form_request(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", &rt)],
        ))
    };
    let (n, refreshed) = trips(&refresh);
    assert_eq!(n, 1, "refresh");
    assert_ne!(text(&refreshed, "refresh_token"), rt, "rotated");
}

/// Two users, two tokens of one grant: revoking one access token leaves its sibling and the
/// other user's; revoking the grant (its refresh token) ends its access tokens and nobody else's.
#[test]
fn revocations_stay_with_their_token_and_their_grant() {
    let world = World::new();
    let ada = password_tokens(&world, EMAIL, PASSWORD);
    let bob = password_tokens(&world, BOB_EMAIL, BOB_PASSWORD);
    let ada_first = text(&ada, "access_token");
    let ada_next = refresh(&world, &text(&ada, "refresh_token"));
    let ada_second = text(&ada_next, "access_token");
    let bob_access = text(&bob, "access_token");
    for token in [&ada_first, &ada_second, &bob_access] {
        assert_eq!(userinfo(&world, token).status, 200);
    }
    revoke(&world, &ada_first);
    assert_eq!(userinfo(&world, &ada_first).status, 401);
    assert_eq!(world.introspect(&ada_first)["active"], false);
    assert_eq!(userinfo(&world, &ada_second).status, 200, "the sibling stands");
    assert_eq!(world.introspect(&ada_second)["active"], true);
    assert_eq!(world.introspect(&bob_access)["active"], true);
    // The grant ends with its refresh token (RFC 7009 §2.1), and with it every access token.
    revoke(&world, &text(&ada_next, "refresh_token"));
    assert_eq!(userinfo(&world, &ada_second).status, 401);
    assert_eq!(world.introspect(&ada_second)["active"], false);
    assert_eq!(userinfo(&world, &bob_access).status, 200, "another user's grant stands");
    assert_eq!(world.introspect(&bob_access)["active"], true);
}

/// Introspection asks about its caller's deletion in the token's read: a deleted client is
/// refused (RFC 7592 §2.3) even where KV still has it, whichever token it asks about — its own
/// or another client's, live or not; a client that is not deleted is answered.
#[test]
fn a_deleted_caller_is_refused_at_introspection_even_where_kv_lags() {
    let world = World::new();
    let reg = world.register(&serde_json::json!({"redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "client_secret_basic"}));
    let (id, secret) = (text(&reg, "client_id"), text(&reg, "client_secret"));
    let other = text(&password_tokens(&world, EMAIL, PASSWORD), "access_token");
    let introspect = |token: &str| {
        world.call(
            form_request("/oauth/introspect", &[("token", token)])
                .with_header("authorization", &basic(&id, &secret)),
        )
    };
    // A third-party client learns nothing about another client's token (RFC 7662 §4).
    let r = introspect(&other);
    assert_eq!((r.status, json(&r)["active"].as_bool()), (200, Some(false)));
    world.host.store.set_lagging(true);
    let deleted = world.delete_registered(&reg);
    assert_eq!(deleted.status, 204);
    for token in [
        other.as_str(),
        "not-a-token",
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let r = introspect(token);
        assert_eq!(oauth_error(&r), (401, "invalid_client".into()), "{token}");
    }
    // A request without a token: the deleted caller hears that it is refused, first.
    let r = world.call(
        form_request("/oauth/introspect", &[]).with_header("authorization", &basic(&id, &secret)),
    );
    assert_eq!(oauth_error(&r), (401, "invalid_client".into()), "no token");
    // The other client's token itself is untouched.
    assert_eq!(world.introspect(&other)["active"], true);
}

/// The ledger's contract: one read covers one group only (a host keeps a group on one object).
#[test]
fn the_ledger_refuses_to_read_across_groups() {
    let world = World::new();
    let now = world.now();
    let mixed = vec!["grant:1#a".to_string(), "grant:2#b".to_string()];
    assert!(block_on(world.host.ledger.get_many(&mixed, now)).is_err());
    let one = vec!["grant:1#a".to_string(), "grant:1#b".to_string()];
    assert_eq!(block_on(world.host.ledger.get_many(&one, now)).unwrap(), vec![None, None]);
}

/// Review: a deletion writes the client's marker to every grant group; when some of those
/// writes fail, the client still exists and the same DELETE completes it (before: its records
/// were gone first, the retry was refused, and the tokens in the missed group stayed active).
#[test]
fn a_client_deletion_that_fails_part_way_can_be_repeated() {
    let world = World::new();
    let reg = world.register(&serde_json::json!({"grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post", "scope": "read:messages"}));
    let (id, secret) = (text(&reg, "client_id"), text(&reg, "client_secret"));
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("audience", API),
        ],
    ));
    let token = text(&json(&r), "access_token");
    // The token has no grant: its group is its jti's.
    let jti = claims(&token)["jti"].as_str().unwrap().to_string();
    let anchor = gatehouse_core::grant::grant_key(&jti);
    let group = anchor.split('#').next().unwrap();
    world.host.ledger.fail_next_write(&format!("{group}#client-deleted:"));
    assert!(world.delete_registered(&reg).status >= 500, "the ledger failed");
    assert_eq!(world.introspect(&token)["active"], true, "its group was missed");
    assert_eq!(world.delete_registered(&reg).status, 204, "the client can repeat the deletion");
    assert_eq!(world.introspect(&token)["active"], false);
}

/// Review: a refresh token's grant id is base64url, so it can never name another key of its
/// group (`client-deleted:…`, `code:…`, `revoked-token:…`).
#[test]
fn a_refresh_token_naming_another_kind_of_key_is_refused() {
    let world = World::new();
    for forged in [
        format!("client-deleted:abcdefg.{}", "A".repeat(43)),
        format!("code:{}.{}", "B".repeat(17), "A".repeat(43)),
        format!("{}#x.{}", "C".repeat(20), "A".repeat(43)),
    ] {
        assert_eq!(forged.split_once('.').unwrap().0.len(), 22);
        let r = world.call(
            form_request(
                "/oauth/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &forged)],
            )
            .with_header("authorization", &basic(ROPC, ROPC_SECRET)),
        );
        assert_eq!(oauth_error(&r), (400, "invalid_grant".into()), "{forged}");
    }
}

/// Second review: a client the ledger says was deleted cannot be read or updated through its
/// registration (RFC 7592 §2) where KV still has it — a PUT would write it back, to return
/// when the ledger's marker expires — but can finish its deletion.
#[test]
fn a_deleted_client_cannot_be_read_or_written_back_where_kv_lags() {
    let world = World::new();
    let reg = world.register(&serde_json::json!({"redirect_uris": ["https://rp.example/cb"],
        "token_endpoint_auth_method": "client_secret_basic"}));
    world.host.store.set_lagging(true);
    assert_eq!(world.delete_registered(&reg).status, 204);
    let managed = |method: &str, body: Option<serde_json::Value>| {
        let mut request =
            Request::from_url(method, reg["registration_client_uri"].as_str().unwrap())
                .unwrap()
                .with_header(
                    "authorization",
                    &format!("Bearer {}", text(&reg, "registration_access_token")),
                );
        if let Some(body) = body {
            request =
                request.with_header("content-type", "application/json").with_body(body.to_string());
        }
        world.call(request)
    };
    assert_eq!(managed("GET", None).status, 401, "read");
    let update = serde_json::json!({"client_id": text(&reg, "client_id"),
        "redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "client_secret_basic"});
    assert_eq!(managed("PUT", Some(update)).status, 401, "written back");
    assert_eq!(world.delete_registered(&reg).status, 204, "the deletion can be finished");
}

/// The default `Ledger::decide` (`ports::decide_optimistically`: reads, the rule, then a
/// compare-and-set against what was read) makes the same decisions as the one-step ledger, and
/// when another request writes between its reads and its write, decides again on what is
/// there now — here a revocation that lands mid-refresh: refused, not a 500, not rotated.
#[test]
fn the_optimistic_default_decides_the_same_and_again_when_raced() {
    use gatehouse_core::grant::{grant_key, refresh_token::refresh_grant_id, GrantRecord, Revoked};
    let world = World::new();
    world.host.ledger.set_optimistic(true);
    let q = SPA_OFFLINE_QUERY;
    let refresh = |rt: &str| {
        world.call(form_request(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", rt)],
        ))
    };
    let mut grants = Vec::new();
    for _ in 0..2 {
        let code = redirect_params(&world.code_flow(&q)).get("code").unwrap().unwrap().to_string();
        let r = spa_exchange(&world, &code, VERIFIER);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        grants.push(text(&json(&r), "refresh_token"));
    }
    // The first grant: rotated, then the replaced token is a reuse and ends the grant.
    let r = refresh(&grants[0]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let next = text(&json(&r), "refresh_token");
    assert_eq!(oauth_error(&refresh(&grants[0])).1, "invalid_grant");
    assert_eq!(oauth_error(&refresh(&next)).1, "invalid_grant", "the grant was revoked");
    // The second: revoked by another request between this refresh's read and its write.
    let grant_id = refresh_grant_id(&grants[1]).unwrap();
    let revoked =
        gatehouse_core::ledger_record::ended_text::<GrantRecord, _>(&Revoked { at: world.now() })
            .unwrap();
    world.host.ledger.race_next_cas(&grant_key(grant_id), &revoked);
    let before = world.host.ledger.round_trips();
    assert_eq!(oauth_error(&refresh(&grants[1])), (400, "invalid_grant".into()));
    assert!(world.host.ledger.round_trips() - before > 3, "it read again after losing");
    world.host.ledger.set_optimistic(false);
    assert_eq!(oauth_error(&refresh(&grants[1])).1, "invalid_grant", "still revoked");
}
