//! The client credentials grant (RFC 6749 §4.4) with Auth0's client grants, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::{Request, Response};
use serde_json::{json, Value};
use support::*;

fn cc(world: &World, id: &str, secret: &str, extra: &[(&str, &str)]) -> Response {
    let mut pairs =
        vec![("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)];
    pairs.extend_from_slice(extra);
    world.call(form_request("/oauth/token", &pairs))
}

/// Client credentials for M2M_2, which authenticates with HTTP Basic (client_secret_basic).
fn m2m_2(world: &World, extra: &[(&str, &str)]) -> Response {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(extra);
    world.call(
        form_request("/oauth/token", &pairs)
            .with_header("authorization", &basic(M2M_2, M2M_2_SECRET)),
    )
}

/// `cc` for M2M (client_secret_post).
fn m2m(world: &World, extra: &[(&str, &str)]) -> Response {
    cc(world, M2M, M2M_SECRET, extra)
}

#[test]
fn a_machine_client_gets_an_rfc9068_token_for_its_api_and_nothing_else() {
    let world = World::new();
    let r = m2m(&world, &[("audience", API)]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = json(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600, "the API's lifetime");
    assert_eq!(body["scope"], "read:messages write:messages", "none asked: all granted");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none(), "§4.4.3");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["alg"], "ES256", "the API's algorithm");
    assert_eq!(header(token)["typ"], "at+jwt");
    let c = claims(token);
    assert_eq!(c["sub"], format!("{M2M}@clients"));
    assert_eq!((c["client_id"].as_str(), c["azp"].as_str()), (Some(M2M), Some(M2M)));
    assert_eq!(c["gty"], "client-credentials");
    assert_eq!(c["aud"], API);
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
    assert!(c.get("auth_time").is_none(), "no user authenticated");
    // RFC 8707 `resource` names the second API: its own grant, algorithm and lifetime.
    let r = m2m(&world, &[("resource", API2)]);
    let body = json(&r);
    assert_eq!(body["scope"], "read:messages");
    assert_eq!(body["expires_in"], 600);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["alg"], "RS256");
    assert_eq!(claims(token)["aud"], API2);
    // A narrower scope is granted as asked.
    let r = m2m(&world, &[("audience", API), ("scope", "read:messages")]);
    assert_eq!(json(&r)["scope"], "read:messages");
    // The second machine client has its own grant (only on the second API, another scope).
    let r = m2m_2(&world, &[("audience", API2)]);
    assert_eq!(json(&r)["scope"], "write:messages");
}

#[test]
fn each_refusal_has_its_code() {
    let world = World::new();
    let cases: Vec<(Response, (u16, &str), &str)> = vec![
        (m2m(&world, &[]), (400, "invalid_request"), "no audience"),
        (
            m2m(&world, &[("audience", "https://unknown.example/")]),
            (400, "invalid_target"),
            "unknown API",
        ),
        (
            m2m(&world, &[("resource", "not a uri")]),
            (400, "invalid_target"),
            "resource not an absolute URI",
        ),
        (
            m2m(&world, &[("audience", API), ("resource", API2)]),
            (400, "invalid_target"),
            "two different APIs",
        ),
        (
            m2m(&world, &[("audience", API2), ("scope", "write:messages")]),
            (400, "invalid_scope"),
            "a scope outside the client grant (defined by the API)",
        ),
        (m2m(&world, &[("audience", API), ("scope", "openid")]), (400, "invalid_scope"), "openid"),
        (
            m2m(&world, &[("audience", API), ("scope", "a\"b")]),
            (400, "invalid_scope"),
            "bad syntax",
        ),
        (
            m2m_2(&world, &[("audience", API)]),
            (403, "access_denied"),
            "no client grant for this API (Auth0: 403)",
        ),
        (
            cc(&world, M2M, "wrong-secret", &[("audience", API)]),
            (401, "invalid_client"),
            "wrong secret",
        ),
        (
            world.call(form_request(
                "/oauth/token",
                &[("grant_type", "client_credentials"), ("client_id", SPA), ("audience", API)],
            )),
            (400, "unauthorized_client"),
            "a public client",
        ),
        (
            world.call(
                form_request(
                    "/oauth/token",
                    &[("grant_type", "client_credentials"), ("audience", API)],
                )
                .with_header("authorization", &basic(WEB, WEB_SECRET)),
            ),
            (400, "unauthorized_client"),
            "a client that does not list the grant",
        ),
        (
            world.call(form_request(
                "/oauth/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", M2M),
                    ("client_secret", M2M_SECRET),
                    ("code", "x"),
                ],
            )),
            (400, "unauthorized_client"),
            "a machine client may not use the code grant",
        ),
    ];
    for (r, expected, why) in cases {
        assert_eq!(
            oauth_error(&r),
            (expected.0, expected.1.to_string()),
            "{why}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.status < 500, "{why}");
    }
}

#[test]
fn introspection_revocation_and_deleting_the_client_grant() {
    let world = World::new();
    let token = |w: &World| {
        json(&m2m(w, &[("audience", API)]))["access_token"].as_str().unwrap().to_string()
    };
    let (first, second) = (token(&world), token(&world));
    let live = world.introspect(&first);
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], format!("{M2M}@clients"));
    assert_eq!(live["client_id"], M2M);
    assert_eq!(live["token_type"], "Bearer");
    // Revoking one token (RFC 7009) revokes that one only: the client grant is shared.
    let r = world.call(form_request(
        "/oauth/revoke",
        &[("token", &first), ("client_id", M2M), ("client_secret", M2M_SECRET)],
    ));
    assert_eq!(r.status, 200);
    assert_eq!(world.introspect(&first)["active"], false);
    assert_eq!(world.introspect(&second)["active"], true);
    // Another client cannot revoke it.
    let r = world.call(
        form_request("/oauth/revoke", &[("token", &second)])
            .with_header("authorization", &basic(M2M_2, M2M_2_SECRET)),
    );
    assert_eq!(oauth_error(&r).0, 400);
    assert_eq!(world.introspect(&second)["active"], true);
    // The operator deletes the client grant: its tokens go inactive at once, even where KV lags,
    // and no new ones are issued; the client's grant on the other API is untouched.
    let other_api =
        json(&m2m(&world, &[("audience", API2)]))["access_token"].as_str().unwrap().to_string();
    world.host.store.set_lagging(true);
    let deleted = world.call(
        Request::from_url(
            "DELETE",
            &absolute(&format!(
                "/admin/client-grants?client_id={M2M}&audience={}",
                "https%3A%2F%2Fapi.example%2F"
            )),
        )
        .unwrap()
        .with_header("authorization", &format!("Bearer {ADMIN}")),
    );
    assert_eq!(deleted.status, 204);
    assert_eq!(world.introspect(&second)["active"], false);
    assert_eq!(world.introspect(&other_api)["active"], true);
    world.host.store.set_lagging(false);
    assert_eq!(oauth_error(&m2m(&world, &[("audience", API)])), (403, "access_denied".into()));
    // Deleting it again: 404. Without the operator token: 401.
    let again = world.call(
        Request::from_url(
            "DELETE",
            &absolute(&format!("/admin/client-grants?client_id={M2M}&audience={API}")),
        )
        .unwrap()
        .with_header("authorization", &format!("Bearer {ADMIN}")),
    );
    assert_eq!(again.status, 404);
    let anon = world.call(
        Request::from_url("DELETE", &absolute("/admin/client-grants?client_id=m2m&audience=x"))
            .unwrap(),
    );
    assert_eq!(anon.status, 401);
    // Imported again, the grant starts afresh (the old tokens stay revoked).
    world.import(&json!({"client_grants": [{"client_id": M2M, "audience": API, "scope": ["read:messages"]}]}));
    assert_eq!(json(&m2m(&world, &[("audience", API)]))["scope"], "read:messages");
    assert_eq!(world.introspect(&second)["active"], false);
}

#[test]
fn a_registered_client_receives_its_registered_scope_on_the_apis_that_define_it() {
    let mut world = World::new();
    let reg = world.register(
        &json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post",
               "scope": "read:messages"}),
    );
    assert!(reg.get("response_types").is_none_or(|r| r == &json!([])), "{reg}");
    let (id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
    for api in [API, API2] {
        let r = cc(&world, id, secret, &[("audience", api)]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(json(&r)["scope"], "read:messages");
    }
    assert_eq!(
        oauth_error(&cc(&world, id, secret, &[("audience", API), ("scope", "write:messages")])),
        (400, "invalid_scope".into())
    );
    // A registered client whose scope no API defines gets nothing.
    let other =
        world.register(&json!({"grant_types": ["client_credentials"], "scope": "launch:rockets"}));
    let r = world.call(
        form_request("/oauth/token", &[("grant_type", "client_credentials"), ("audience", API)])
            .with_header(
                "authorization",
                &basic(
                    other["client_id"].as_str().unwrap(),
                    other["client_secret"].as_str().unwrap(),
                ),
            ),
    );
    assert_eq!(oauth_error(&r), (403, "access_denied".into()));
    // Public clients cannot register for it.
    let r = world.call(
        Request::from_url("POST", &absolute("/oidc/register"))
            .unwrap()
            .with_header("authorization", &format!("Bearer {INITIAL}"))
            .with_header("content-type", "application/json")
            .with_body(json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}).to_string()),
    );
    assert_eq!(oauth_error(&r), (400, "invalid_client_metadata".into()));
    // The operator turns registered scopes off (REGISTERED_CLIENT_CREDENTIALS=false).
    world.config.registered_client_credentials = false;
    assert_eq!(
        oauth_error(&cc(&world, id, secret, &[("audience", API)])),
        (403, "access_denied".into())
    );
    world.config.registered_client_credentials = true;
    // Deleting the registered client (RFC 7592) makes its tokens inactive at once.
    let token = json(&cc(&world, id, secret, &[("audience", API)]))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(world.introspect(&token)["active"], true);
    let deleted = world.delete_registered(&reg);
    assert_eq!(deleted.status, 204);
    assert_eq!(world.introspect(&token)["active"], false);
}

#[test]
fn the_tenant_file_checks_client_grants() {
    let world = World::new();
    let put = |body: Value| {
        world.call(
            Request::from_url("PUT", &absolute("/admin/tenant"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {ADMIN}"))
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
        )
    };
    for (body, why) in [
        (
            json!({"client_grants": [{"client_id": "nobody", "audience": API, "scope": []}]}),
            "unknown client",
        ),
        (
            json!({"client_grants": [{"client_id": M2M, "audience": "https://nowhere.example/", "scope": []}]}),
            "unknown API",
        ),
        (
            json!({"client_grants": [{"client_id": M2M, "audience": API, "scope": ["launch:rockets"]}]}),
            "scope the API lacks",
        ),
        (
            json!({"client_grants": [{"client_id": WEB, "audience": API, "scope": []}]}),
            "client without the grant",
        ),
        (
            json!({"clients": [{"client_id": "pub", "name": "P", "app_type": "spa", "grant_types": ["client_credentials"]}]}),
            "public client",
        ),
    ] {
        let r = put(body);
        assert_eq!(
            oauth_error(&r),
            (400, "invalid_request".into()),
            "{why}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A client and its grant may come in one file.
    let r = put(json!({
        "clients": [{"client_id": "m2m-3", "name": "M3", "app_type": "non_interactive",
                     "client_secret": "m2m-3-secret-0123456789abcdef0123456", "grant_types": ["client_credentials"]}],
        "client_grants": [{"client_id": "m2m-3", "audience": API, "scope": ["read:messages"]}]}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["imported"]["client_grants"], 1);
    // Discovery lists the grant.
    let d = json(&world.get("/.well-known/openid-configuration"));
    assert!(d["grant_types_supported"].as_array().unwrap().contains(&json!("client_credentials")));
}

#[test]
fn an_rfc7592_update_cannot_make_a_client_a_machine_or_widen_its_scope() {
    let world = World::new();
    let reg = world
        .register(&json!({"redirect_uris": ["https://rp.example/cb"], "scope": "read:messages"}));
    let put = |metadata: Value| {
        world.call(
            Request::from_url("PUT", reg["registration_client_uri"].as_str().unwrap())
                .unwrap()
                .with_header(
                    "authorization",
                    &format!("Bearer {}", reg["registration_access_token"].as_str().unwrap()),
                )
                .with_header("content-type", "application/json")
                .with_body(metadata.to_string()),
        )
    };
    let id = reg["client_id"].as_str().unwrap();
    let upgrade = put(json!({"client_id": id, "redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code", "client_credentials"], "response_types": ["code"], "scope": "read:messages"}));
    assert_eq!(oauth_error(&upgrade), (400, "invalid_client_metadata".into()));
    let machine =
        world.register(&json!({"grant_types": ["client_credentials"], "scope": "read:messages"}));
    let widen = world.call(
        Request::from_url("PUT", machine["registration_client_uri"].as_str().unwrap())
            .unwrap()
            .with_header(
                "authorization",
                &format!("Bearer {}", machine["registration_access_token"].as_str().unwrap()),
            )
            .with_header("content-type", "application/json")
            .with_body(
                json!({"client_id": machine["client_id"], "grant_types": ["client_credentials"],
                "scope": "read:messages write:messages"})
                .to_string(),
            ),
    );
    assert_eq!(oauth_error(&widen), (400, "invalid_client_metadata".into()));
}

#[test]
fn narrowing_a_client_grant_ends_the_wider_tokens() {
    let world = World::new();
    let wide =
        json(&m2m(&world, &[("audience", API)]))["access_token"].as_str().unwrap().to_string();
    assert_eq!(world.introspect(&wide)["active"], true);
    world.import(&json!({"client_grants": [{"client_id": M2M, "audience": API, "scope": ["read:messages"]}]}));
    assert_eq!(world.introspect(&wide)["active"], false, "issued under the wider grant");
    let narrow = json(&m2m(&world, &[("audience", API)]));
    assert_eq!(narrow["scope"], "read:messages");
    // Imported again unchanged: the grant and its tokens stay.
    let token = narrow["access_token"].as_str().unwrap().to_string();
    world.import(&json!({"client_grants": [{"client_id": M2M, "audience": API, "scope": ["read:messages"]}]}));
    assert_eq!(world.introspect(&token)["active"], true);
}

#[test]
fn an_api_may_have_a_plain_identifier_as_its_audience() {
    let world = World::new();
    world.import(
        &json!({"apis": [{"identifier": "orders", "name": "Orders", "signing_alg": "ES256",
        "scopes": [{"value": "read:orders"}]}],
        "client_grants": [{"client_id": M2M, "audience": "orders", "scope": ["read:orders"]}]}),
    );
    let r = m2m(&world, &[("audience", "orders")]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(claims(json(&r)["access_token"].as_str().unwrap())["aud"], "orders");
    // RFC 8707 §2: a `resource` must be an absolute URI.
    assert_eq!(
        oauth_error(&m2m(&world, &[("resource", "orders")])),
        (400, "invalid_target".into())
    );
}
