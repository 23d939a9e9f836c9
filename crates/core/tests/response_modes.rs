//! Response modes that deliver by page: OAuth 2.0 Form Post Response Mode and Auth0's
//! `web_message` (silent authentication in a hidden iframe), in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use base64::Engine;
use gatehouse_core::http::Response;
use sha2::{Digest, Sha256};
use support::*;

const SPA_ORIGIN: &str = "http://127.0.0.1:5173";

fn query(mode: &str, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = vec![
        ("client_id", SPA.into()),
        ("redirect_uri", SPA_REDIRECT.into()),
        ("response_type", "code".into()),
        ("scope", "openid profile".into()),
        ("state", "st</script><script>alert(1)</script>".into()),
        ("nonce", "n-1".into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
        ("response_mode", mode.into()),
    ];
    q.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    q
}

fn authorize(world: &World, q: &[(&'static str, String)]) -> Response {
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    world.authorize(&pairs)
}

/// The page's one inline script, checked against the CSP hash that allows it.
fn script_allowed_by_csp(r: &Response) -> String {
    let html = String::from_utf8(r.body.clone()).unwrap();
    let start = html.find("<script>").expect("a script") + "<script>".len();
    let end = start + html[start..].find("</script>").unwrap();
    let script = &html[start..end];
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains(&format!("script-src 'sha256-{hash}'")), "{csp}");
    assert_eq!(html.matches("<script>").count(), 1, "exactly one script: {html}");
    script.to_string()
}

fn log_in(world: &World) {
    let first = world.authorize(&[
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(world.login_from(&first, EMAIL, PASSWORD).status, 303);
}

#[test]
fn web_message_posts_the_code_to_the_spa_origin_only() {
    let world = World::new();
    log_in(&world);
    let r = authorize(&world, &query("web_message", &[("prompt", "none")]));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("location").is_none());
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("frame-ancestors {SPA_ORIGIN}")),
        "only the SPA may frame it: {csp}"
    );
    assert!(r.header("x-frame-options").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let script = script_allowed_by_csp(&r);
    assert!(script.contains("\"authorization_response\""));
    assert!(
        script.ends_with(&format!(",\"{SPA_ORIGIN}\");}})();")),
        "posted to the SPA origin only: {script}"
    );
    assert!(!script.contains("</script"), "the state cannot close the script: {script}");
    // The posted object, as the parent will see it.
    let json_start = script.find("response:").unwrap() + "response:".len();
    let json_end = script.rfind("},\"").unwrap();
    let response: serde_json::Value = serde_json::from_str(&script[json_start..json_end]).unwrap();
    assert_eq!(response["state"], "st</script><script>alert(1)</script>");
    assert_eq!(response["iss"], ISSUER);
    let code = response["code"].as_str().unwrap();
    let tokens = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ));
    assert_eq!(tokens.status, 200);
}

#[test]
fn web_message_delivers_errors_the_same_way() {
    let world = World::new();
    // Not logged in, prompt=none: login_required, posted to the parent.
    let r = authorize(&world, &query("web_message", &[("prompt", "none")]));
    assert_eq!(r.status, 200);
    let script = script_allowed_by_csp(&r);
    assert!(script.contains("\"error\":\"login_required\""), "{script}");
    // A redirect URI whose origin is not among the client's web origins: nothing is posted.
    let r = world.authorize(&[
        ("client_id", WEB),
        ("redirect_uri", WEB_REDIRECT),
        ("response_type", "code"),
        ("response_mode", "web_message"),
        ("prompt", "none"),
    ]);
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    assert!(!String::from_utf8(r.body).unwrap().contains("postMessage"));
}

#[test]
fn form_post_posts_the_response_to_the_redirect_uri() {
    let world = World::new();
    log_in(&world);
    let r = authorize(&world, &query("form_post", &[]));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("location").is_none());
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains(&format!("form-action {SPA_ORIGIN}")), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(script_allowed_by_csp(&r), "document.forms[0].submit();");
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains(&format!(r#"<form method="post" action="{SPA_REDIRECT}">"#)), "{html}");
    assert!(html.contains(r#"name="code""#));
    assert!(html.contains(&format!(r#"name="iss" value="{ISSUER}""#)));
    assert!(html.contains("st&lt;/script&gt;"), "escaped: {html}");
    assert!(html.contains("<noscript>"), "works without scripts too");
    let code = hidden(&html, "code");
    let tokens = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ));
    assert_eq!(tokens.status, 200);
    // Discovery lists both modes.
    let d = json(&world.get("/.well-known/openid-configuration"));
    assert_eq!(
        d["response_modes_supported"],
        serde_json::json!(["query", "fragment", "form_post", "web_message"])
    );
}

const RP: &str = "rp";
const RP_REDIRECT: &str = "https://rp.example/cb";

/// A client registered for every response type (implicit and hybrid too).
fn implicit_world() -> World {
    let world = World::new();
    world.import(&serde_json::json!({"clients": [{"client_id": RP, "name": "Front Channel RP", "app_type": "spa",
        "redirect_uris": [RP_REDIRECT], "web_origins": ["https://rp.example"],
        "grant_types": ["authorization_code", "implicit", "refresh_token"],
        "response_types": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"]}]}));
    let first = world.authorize(&[
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(world.login_from(&first, EMAIL, PASSWORD).status, 303);
    world
}

fn front(world: &World, response_type: &str, extra: &[(&str, &str)]) -> Response {
    let mut q = vec![
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", response_type),
        ("scope", "openid profile read:messages"),
        ("audience", API),
        ("state", "s-1"),
        ("nonce", "n-1"),
    ];
    q.extend_from_slice(extra);
    world.authorize(&q)
}

/// The fragment's parameters.
fn fragment(r: &Response) -> gatehouse_core::http::params::Params {
    let location = location(r);
    let (_, fragment) = location.split_once('#').expect("a fragment");
    gatehouse_core::http::params::Params::parse(fragment.as_bytes()).unwrap()
}

#[test]
fn oidc_core_hash_vectors() {
    // OIDC Core 1.0 Appendix A.4: the code and its c_hash.
    assert_eq!(
        gatehouse_core::tokens::half_hash(
            "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
        ),
        "LDktKdoQak3Pk0cnXxCltA"
    );
}

#[test]
fn implicit_returns_id_token_and_access_token_in_the_fragment() {
    let world = implicit_world();
    let r = front(&world, "token id_token", &[]);
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    assert!(location(&r).starts_with(&format!("{RP_REDIRECT}#")), "fragment by default");
    let p = fragment(&r);
    let access = p.get("access_token").unwrap().unwrap();
    assert_eq!(p.get("token_type").unwrap(), Some("Bearer"));
    assert_eq!(p.get("state").unwrap(), Some("s-1"));
    assert_eq!(p.get("iss").unwrap(), Some(ISSUER));
    assert!(p.get("code").unwrap().is_none());
    let id = claims(p.get("id_token").unwrap().unwrap());
    assert_eq!((id["aud"].as_str(), id["nonce"].as_str()), (Some(RP), Some("n-1")));
    assert_eq!(id["at_hash"], gatehouse_core::tokens::half_hash(access));
    assert_eq!(id["s_hash"], gatehouse_core::tokens::half_hash("s-1"));
    assert!(id.get("c_hash").is_none());
    assert_eq!(id["name"], "Ada Lovelace", "the profile claims, as no userinfo call may follow");
    let at = claims(access);
    assert_eq!((at["sub"].as_str(), at["client_id"].as_str()), (Some(USER_ID), Some(RP)));
    // id_token alone: no access token, no at_hash.
    let r = front(&world, "id_token", &[]);
    let p = fragment(&r);
    assert!(p.get("access_token").unwrap().is_none());
    assert!(claims(p.get("id_token").unwrap().unwrap()).get("at_hash").is_none());
}

#[test]
fn hybrid_binds_the_code_and_the_tokens_in_one_grant() {
    let world = implicit_world();
    let r = front(
        &world,
        "code id_token token",
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")],
    );
    let p = fragment(&r);
    let code = p.get("code").unwrap().unwrap();
    let access = p.get("access_token").unwrap().unwrap();
    let id = claims(p.get("id_token").unwrap().unwrap());
    assert_eq!(id["c_hash"], gatehouse_core::tokens::half_hash(code));
    assert_eq!(id["at_hash"], gatehouse_core::tokens::half_hash(access));
    // The code exchanges once, for tokens of the same grant.
    let exchanged = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", RP),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", RP_REDIRECT),
        ],
    ));
    assert_eq!(exchanged.status, 200, "{}", String::from_utf8_lossy(&exchanged.body));
    let back_channel = json(&exchanged)["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&back_channel)["gid"], claims(access)["gid"], "one grant");
    // Replaying the code revokes the grant: the front-channel token too.
    let again = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", RP),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", RP_REDIRECT),
        ],
    ));
    assert_eq!(json(&again)["error"], "invalid_grant");
    assert_eq!(world.introspect(access)["active"], false);
    // code id_token through form_post.
    let r = front(
        &world,
        "code id_token",
        &[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("response_mode", "form_post"),
        ],
    );
    let html = String::from_utf8(r.body).unwrap();
    let id = claims(&hidden(&html, "id_token"));
    assert_eq!(id["c_hash"], gatehouse_core::tokens::half_hash(&hidden(&html, "code")));
}

#[test]
fn front_channel_refusals() {
    let world = implicit_world();
    let error = |r: &Response| {
        let l = location(r);
        let query_or_fragment = l.split(['?', '#']).nth(1).unwrap_or("").to_string();
        let p = gatehouse_core::http::params::Params::parse(query_or_fragment.as_bytes()).unwrap();
        p.get("error").unwrap().unwrap_or("").to_string()
    };
    // No nonce with an ID token (OIDC Core §3.2.2.1).
    let r = world.authorize(&[
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "id_token"),
        ("scope", "openid"),
        ("state", "s"),
    ]);
    assert_eq!(error(&r), "invalid_request");
    assert!(location(&r).contains('#'), "the error goes back in the fragment");
    // An ID token is for OpenID requests (OIDC Core §3.2.2.1), and an empty nonce is no nonce.
    let r = world.authorize(&[
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "id_token"),
        ("scope", "profile"),
        ("nonce", "n"),
    ]);
    assert_eq!(error(&r), "invalid_request");
    let r = world.authorize(&[
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("response_type", "id_token"),
        ("scope", "openid"),
        ("nonce", ""),
    ]);
    assert_eq!(error(&r), "invalid_request");
    // A state that a form post could not return unchanged (control characters) is refused.
    let r = front(
        &world,
        "code id_token",
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256"), ("state", "a\tb")],
    );
    assert_eq!(error(&r), "invalid_request");
    // Tokens never in the query.
    assert_eq!(
        error(&front(&world, "id_token token", &[("response_mode", "query")])),
        "invalid_request"
    );
    // A client not registered for the response type (the SPA has only "code").
    let r = world.authorize(&[
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "id_token"),
        ("scope", "openid"),
        ("nonce", "n"),
    ]);
    assert_eq!(error(&r), "unauthorized_client");
    // Not logged in, prompt=none: login_required, in the fragment.
    world.cookies.borrow_mut().clear();
    let r = front(&world, "id_token", &[("prompt", "none")]);
    assert_eq!(error(&r), "login_required");
    assert!(location(&r).starts_with(&format!("{RP_REDIRECT}#")));
    // The implicit grant is never a token request.
    let r =
        world.call(form_request("/oauth/token", &[("grant_type", "implicit"), ("client_id", RP)]));
    assert_eq!(json(&r)["error"], "unsupported_grant_type");
}

#[test]
fn the_tenant_file_checks_response_types_against_grant_types() {
    let world = World::new();
    let put = |client: serde_json::Value| {
        world
            .call(
                gatehouse_core::http::Request::from_url("PUT", &absolute("/admin/tenant"))
                    .unwrap()
                    .with_header("authorization", &format!("Bearer {ADMIN}"))
                    .with_header("content-type", "application/json")
                    .with_body(serde_json::json!({ "clients": [client] }).to_string()),
            )
            .status
    };
    let base = |grants: serde_json::Value, types: serde_json::Value| {
        serde_json::json!({"client_id": "x", "name": "X", "app_type": "spa", "redirect_uris": [RP_REDIRECT],
            "grant_types": grants, "response_types": types})
    };
    // Any order, as at /authorize.
    assert_eq!(
        put(base(serde_json::json!(["implicit"]), serde_json::json!(["token id_token"]))),
        200
    );
    assert_eq!(
        put(base(serde_json::json!(["implicit"]), serde_json::json!(["code"]))),
        400,
        "implicit without a type that uses it"
    );
    assert_eq!(
        put(base(serde_json::json!(["authorization_code"]), serde_json::json!(["id_token"]))),
        400,
        "id_token without implicit"
    );
    assert_eq!(
        put(base(serde_json::json!(["implicit"]), serde_json::json!(["token"]))),
        400,
        "a bare token is not offered"
    );
}
