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
