//! Rich authorization requests (RFC 9396), in process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod support;

use gatehouse_core::http::Response;
use serde_json::{json, Value};
use support::*;

const PAY: &str = "https://pay.example/";
const PAY_CLIENT: &str = "pay-web";
const PAY_SECRET: &str = "pay-secret-0123456789abcdef0123456789ab";
const PAY_REDIRECT: &str = "https://pay.example/cb";
/// May ask for account information only.
const READER: &str = "reader";
const READER_SECRET: &str = "reader-secret-0123456789abcdef01234567";
/// A third-party client: consent is remembered for it, except for details.
const FINTECH: &str = "fintech";

fn world() -> World {
    let world = World::new();
    world.import(&json!({
        "apis": [{"identifier": PAY, "name": "Payments", "signing_alg": "ES256", "allow_offline_access": true,
                  "scopes": [{"value": "payments", "description": "Make payments"}],
                  "authorization_details": [
                    {"type": "payment_initiation",
                     "required": ["instructedAmount.amount", "instructedAmount.currency", "creditorName"],
                     "description": "Pay {instructedAmount.amount} {instructedAmount.currency} to {creditorName}"},
                    {"type": "account_information"}]}],
        "clients": [
            {"client_id": PAY_CLIENT, "name": "Pay Web", "app_type": "regular_web", "client_secret": PAY_SECRET,
             "redirect_uris": [PAY_REDIRECT]},
            {"client_id": READER, "name": "Reader", "app_type": "regular_web", "client_secret": READER_SECRET,
             "redirect_uris": [PAY_REDIRECT], "authorization_details_types": ["account_information"]},
            {"client_id": FINTECH, "name": "Fintech", "app_type": "spa", "redirect_uris": [PAY_REDIRECT],
             "is_first_party": false}],
    }));
    world
}

fn payment(amount: &str, creditor: &str) -> Value {
    json!({"type": "payment_initiation", "locations": [PAY],
           "instructedAmount": {"currency": "EUR", "amount": amount}, "creditorName": creditor})
}

fn accounts() -> Value {
    json!({"type": "account_information", "actions": ["list_accounts", "read_balances"]})
}

fn query<'a>(client: &'a str, details: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client),
        ("response_type", "code"),
        ("redirect_uri", PAY_REDIRECT),
        ("scope", scope),
        ("audience", PAY),
        ("state", "s-rar"),
        ("authorization_details", details),
    ]
}

/// The consent page's text and its form fields.
fn consent_page(world: &World, r: &Response) -> (String, String, String) {
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let at = location(r);
    assert!(at.starts_with("/consent?req="), "{at}");
    let page = world.get(&at);
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    let (req, csrf) = (hidden(&html, "req"), hidden(&html, "csrf"));
    (html, req, csrf)
}

fn allow(world: &World, req: &str, csrf: &str) -> Response {
    let r = world.post_form("/consent", &[("req", req), ("csrf", csrf), ("decision", "allow")]);
    assert_eq!(r.status, 303, "{:?} {}", r.header("location"), String::from_utf8_lossy(&r.body));
    r
}

fn token(world: &World, client: (&str, &str), form: &[(&str, &str)]) -> Response {
    world.call(
        form_request("/oauth/token", form).with_header("authorization", &basic(client.0, client.1)),
    )
}

/// A refresh as `pay-web`, asking for `details` if given.
fn refresh(world: &World, refresh_token: &str, details: Option<&str>) -> Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    form.extend(details.map(|d| ("authorization_details", d)));
    token(world, (PAY_CLIENT, PAY_SECRET), &form)
}

/// Logs in, allows the consent page, and returns the code.
fn approved_code(world: &World, query: &[(&str, &str)]) -> String {
    let first = world.code_flow(query);
    let (_, req, csrf) = consent_page(world, &first);
    code_of(&allow(world, &req, &csrf))
}

fn code_of(r: &Response) -> String {
    assert!(location(r).starts_with(PAY_REDIRECT), "{}", location(r));
    redirect_params(r).get("code").unwrap().unwrap().to_string()
}

#[test]
fn approved_details_reach_the_tokens_and_introspection_and_refresh_only_narrows() {
    let world = world();
    let details = json!([payment("123.50", "Merchant A"), accounts()]).to_string();
    let first = world.code_flow(&query(PAY_CLIENT, &details, "openid payments offline_access"));
    // RFC 9396 §8: shown to the user, for a first-party client too, in words.
    let (html, req, csrf) = consent_page(&world, &first);
    assert!(html.contains("Pay 123.50 EUR to Merchant A"), "{html}");
    assert!(html.contains("account_information (actions: list_accounts, read_balances)"), "{html}");
    let done = allow(&world, &req, &csrf);
    let code = code_of(&done);
    let r = token(
        &world,
        (PAY_CLIENT, PAY_SECRET),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", PAY_REDIRECT)],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json(&r);
    let granted: Value = serde_json::from_str(&details).unwrap();
    // §7: in the token response; §9.1: in the access token; §9.2: in introspection.
    assert_eq!(body["authorization_details"], granted);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["authorization_details"], granted);
    assert_eq!(world.introspect(access)["authorization_details"], granted);
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // §6.2: a refresh may ask for a subset.
    let only_payment = json!([payment("123.50", "Merchant A")]).to_string();
    let r = refresh(&world, &rt, Some(&only_payment));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json(&r);
    assert_eq!(body["authorization_details"], json!([payment("123.50", "Merchant A")]));
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["authorization_details"],
        json!([payment("123.50", "Merchant A")])
    );
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // Never more: a different amount is a widening, refused without spending the token.
    let wider = json!([payment("999.00", "Merchant A")]).to_string();
    let r = refresh(&world, &rt, Some(&wider));
    assert_eq!(oauth_error(&r), (400, "invalid_authorization_details".into()));
    // The refresh token kept the whole grant: without the parameter, both details again.
    let r = refresh(&world, &rt, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["authorization_details"], granted);
    // A refresh token is described to its own client only (RFC 7662 §4).
    let own = world.call(
        form_request(
            "/oauth/introspect",
            &[("token", json(&r)["refresh_token"].as_str().unwrap())],
        )
        .with_header("authorization", &basic(PAY_CLIENT, PAY_SECRET)),
    );
    assert_eq!(json(&own)["authorization_details"], granted);
}

#[test]
fn consent_to_one_set_of_details_is_not_reused_for_another() {
    let world = world();
    let a = json!([payment("10.00", "Merchant A")]).to_string();
    approved_code(&world, &query(PAY_CLIENT, &a, "openid payments"));
    // The same user, logged in, the same client: another payment asks again.
    let b = json!([payment("5000.00", "Merchant B")]).to_string();
    let second = world.authorize(&query(PAY_CLIENT, &b, "openid payments"));
    let (html, _, _) = consent_page(&world, &second);
    assert!(html.contains("Pay 5000.00 EUR to Merchant B"));
    assert!(!html.contains("Merchant A"));
    // Even the same payment is asked again: details are a transaction, not a standing grant.
    let again = world.authorize(&query(PAY_CLIENT, &a, "openid payments"));
    consent_page(&world, &again);
    // prompt=none cannot skip it.
    let mut silent = query(PAY_CLIENT, &a, "openid payments");
    silent.push(("prompt", "none"));
    let r = world.authorize(&silent);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("consent_required"));
    // Without details, the first-party client needs no consent page.
    let plain: Vec<_> = query(PAY_CLIENT, &a, "openid payments")
        .into_iter()
        .filter(|(k, _)| *k != "authorization_details")
        .collect();
    code_of(&world.authorize(&plain));
    // A denial sends access_denied back.
    let third = world.authorize(&query(PAY_CLIENT, &b, "openid payments"));
    let (_, req, csrf) = consent_page(&world, &third);
    let denied =
        world.post_form("/consent", &[("req", &req), ("csrf", &csrf), ("decision", "deny")]);
    assert_eq!(redirect_params(&denied).get("error").unwrap(), Some("access_denied"));
}

#[test]
fn malformed_and_unknown_details_are_refused() {
    let world = world();
    let missing_amount = json!([{"type": "payment_initiation", "instructedAmount": {"currency": "EUR"}, "creditorName": "A"}]).to_string();
    let bad_locations =
        json!([{"type": "account_information", "locations": "https://pay.example/"}]).to_string();
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "[{".into()),
        ("an object", accounts().to_string()),
        ("empty", "[]".into()),
        ("no type", json!([{"actions": ["x"]}]).to_string()),
        ("unknown type", json!([{"type": "crypto_transfer"}]).to_string()),
        ("a required field missing", missing_amount),
        ("locations not an array", bad_locations),
        ("an entry not an object", json!(["payment_initiation"]).to_string()),
    ];
    for (why, details) in &cases {
        // Back to the client (trusted redirect URI), with state.
        let r = world.authorize(&query(PAY_CLIENT, details, "openid payments"));
        assert_eq!(r.status, 302, "{why}");
        let p = redirect_params(&r);
        assert_eq!(p.get("error").unwrap(), Some("invalid_authorization_details"), "{why}");
        assert_eq!(p.get("state").unwrap(), Some("s-rar"));
        // And as JSON at push time.
        let pushed = world.call(
            form_request("/oauth/par", &query(PAY_CLIENT, details, "openid payments")[1..])
                .with_header("authorization", &basic(PAY_CLIENT, PAY_SECRET)),
        );
        assert_eq!(oauth_error(&pushed), (400, "invalid_authorization_details".into()), "{why}");
    }
    // A type of another API, or no API at all.
    let details = accounts().to_string();
    let mut other_api = query(PAY_CLIENT, &details, "openid");
    other_api.retain(|(k, _)| *k != "audience");
    let r = world.authorize(&other_api);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("invalid_authorization_details"));
    other_api.push(("audience", API));
    let r = world.authorize(&other_api);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("invalid_authorization_details"));
    // A client limited to account_information (§10.2) cannot ask for a payment.
    let pay = json!([payment("1.00", "A")]).to_string();
    let r = world.authorize(&query(READER, &pay, "openid"));
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("invalid_authorization_details"));
    let ok = json!([accounts()]).to_string();
    assert!(location(&world.authorize(&query(READER, &ok, "openid"))).starts_with("/login"));
    // The password grant has no consent page to show them on.
    let r = token(
        &world,
        (ROPC, ROPC_SECRET),
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", PASSWORD),
            ("audience", PAY),
            ("authorization_details", &ok),
        ],
    );
    assert_eq!(oauth_error(&r), (400, "invalid_authorization_details".into()));
    // Grants without a user's approval have no details to narrow.
    let r = world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", M2M),
            ("client_secret", M2M_SECRET),
            ("audience", API),
            ("authorization_details", &ok),
        ],
    ));
    assert_eq!(oauth_error(&r), (400, "invalid_authorization_details".into()));
}

#[test]
fn a_code_exchange_may_narrow_and_never_widen() {
    let world = world();
    let details = json!([payment("1.00", "A"), accounts()]).to_string();
    let run = || approved_code(&world, &query(PAY_CLIENT, &details, "openid payments"));
    let code = run();
    let wider = json!([payment("1.00", "A"), accounts(), payment("2.00", "B")]).to_string();
    let r = token(
        &world,
        (PAY_CLIENT, PAY_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PAY_REDIRECT),
            ("authorization_details", &wider),
        ],
    );
    assert_eq!(oauth_error(&r), (400, "invalid_authorization_details".into()));
    // The refusal spent nothing: the code still works, narrowed.
    let narrow = json!([accounts()]).to_string();
    let r = token(
        &world,
        (PAY_CLIENT, PAY_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PAY_REDIRECT),
            ("authorization_details", &narrow),
        ],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["authorization_details"], json!([accounts()]));
}

#[test]
fn discovery_lists_the_declared_types_and_import_checks_them() {
    let world = world();
    let doc = json(&world.get("/.well-known/openid-configuration"));
    assert_eq!(
        doc["authorization_details_types_supported"],
        json!(["account_information", "payment_initiation"])
    );
    // Importing the API again with one type: discovery follows.
    world.import(&json!({"apis": [{"identifier": PAY, "name": "Payments", "authorization_details": [{"type": "payment_initiation"}]}]}));
    let doc = json(&world.get("/.well-known/oauth-authorization-server"));
    assert_eq!(doc["authorization_details_types_supported"], json!(["payment_initiation"]));
    for bad in [
        json!([{"type": "a"}, {"type": "a"}]),
        json!([{"type": ""}]),
        json!([{"type": "a", "required": ["x..y"]}]),
        json!([{"type": "a", "fields": []}]),
    ] {
        let r = world.call(
            gatehouse_core::http::Request::from_url("PUT", &absolute("/admin/tenant"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {ADMIN}"))
                .with_header("content-type", "application/json")
                .with_body(json!({"apis": [{"identifier": "https://x.example/", "name": "X", "authorization_details": bad}]}).to_string()),
        );
        assert_eq!(r.status, 400, "{bad}");
    }
    // Registration takes the client's types (RFC 9396 §10.2).
    let registered = world
        .register(&json!({"redirect_uris": [PAY_REDIRECT], "token_endpoint_auth_method": "none",
        "authorization_details_types": ["payment_initiation"]}));
    assert_eq!(registered["authorization_details_types"], json!(["payment_initiation"]));
}

#[test]
fn repeated_or_empty_details_cannot_be_asked_for_and_a_narrowed_exchange_narrows_the_grant() {
    let world = world();
    let details = json!([payment("1.00", "A"), accounts()]).to_string();
    let code =
        approved_code(&world, &query(PAY_CLIENT, &details, "openid payments offline_access"));
    let exchange = |d: &str| {
        token(
            &world,
            (PAY_CLIENT, PAY_SECRET),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", PAY_REDIRECT),
                ("authorization_details", d),
            ],
        )
    };
    // One approved payment asked for twice would be two payments.
    let twice = json!([payment("1.00", "A"), payment("1.00", "A")]).to_string();
    assert_eq!(oauth_error(&exchange(&twice)), (400, "invalid_authorization_details".into()));
    assert_eq!(oauth_error(&exchange("[]")), (400, "invalid_authorization_details".into()));
    // Past the form's value limit (8 KiB) a parameter is refused before it is read.
    assert_eq!(oauth_error(&exchange(&"[".repeat(9000))), (400, "invalid_request".into()));
    // Narrowed at the exchange: the refresh token carries the narrowed grant on.
    let r = exchange(&json!([accounts()]).to_string());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rt = json(&r)["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(&world, &rt, None);
    assert_eq!(json(&r)["authorization_details"], json!([accounts()]));
    let next = json(&r)["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(&world, &next, Some(&json!([payment("1.00", "A")]).to_string()));
    assert_eq!(oauth_error(&r), (400, "invalid_authorization_details".into()));
}

#[test]
fn the_consent_page_shows_every_field_escaped_and_refuses_deceptive_text() {
    let world = world();
    let mut entry = payment("1.00", "<script>alert(1)</script>");
    entry["creditorAccount"] = json!({"iban": "DE00 ATTACKER 0000"});
    entry["remittance"] = json!([{"ref": 7}]);
    let details = json!([entry]).to_string();
    let first = world.code_flow(&query(PAY_CLIENT, &details, "openid payments"));
    let (html, _, _) = consent_page(&world, &first);
    // The description, then what it does not say: the account the money would go to.
    assert!(html.contains("Pay 1.00 EUR to &lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("creditorAccount.iban: DE00 ATTACKER 0000"), "{html}");
    assert!(html.contains("remittance: [{&quot;ref&quot;:7}]"), "{html}");
    assert!(html.contains("locations: https://pay.example/"), "{html}");
    // Bidirectional overrides and control characters could make the words lie.
    for trick in [
        "Merchant \u{202E}A",
        "Merchant\nB",
        "Merchant \u{2066}C",
        "Merchant \u{200F}D",
        "M\u{200B}E",
    ] {
        let details = json!([payment("1.00", trick)]).to_string();
        let r = world.authorize(&query(PAY_CLIENT, &details, "openid payments"));
        assert_eq!(
            redirect_params(&r).get("error").unwrap(),
            Some("invalid_authorization_details"),
            "{trick}"
        );
    }
    // A field named like a description path would be shown as that path is, and hidden.
    for (name, value) in [
        ("instructedAmount.amount", json!("9999")),
        ("{creditorName}", json!("X")),
        ("", json!("Y")),
    ] {
        let mut entry = payment("1.00", "A");
        entry[name] = value;
        let r = world.authorize(&query(PAY_CLIENT, &json!([entry]).to_string(), "openid payments"));
        assert_eq!(
            redirect_params(&r).get("error").unwrap(),
            Some("invalid_authorization_details"),
            "{name}"
        );
    }
}

#[test]
fn a_consent_to_details_is_not_remembered_for_the_scope() {
    let world = world();
    let details = json!([accounts()]).to_string();
    let mut q = query(FINTECH, &details, "openid payments");
    q.push(("code_challenge", CHALLENGE));
    q.push(("code_challenge_method", "S256"));
    approved_code(&world, &q);
    // The same scope without details, silently: the one-off consent does not cover it.
    let mut silent: Vec<_> =
        q.iter().copied().filter(|(k, _)| *k != "authorization_details").collect();
    silent.push(("prompt", "none"));
    let r = world.authorize(&silent);
    assert_eq!(redirect_params(&r).get("error").unwrap(), Some("consent_required"));
    // A consent without details is remembered, as before.
    let plain: Vec<_> = q.iter().copied().filter(|(k, _)| *k != "authorization_details").collect();
    let (_, req, csrf) = consent_page(&world, &world.authorize(&plain));
    code_of(&allow(&world, &req, &csrf));
    assert!(redirect_params(&world.authorize(&silent)).get("code").unwrap().is_some());
}
