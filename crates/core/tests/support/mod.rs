//! A browser-like driver for in-process flow tests: a memory host, a cookie jar, form posts.
#![allow(dead_code)]

use gatehouse_core::b64;
use gatehouse_core::http::params::{encode, Params};
use gatehouse_core::http::{Request, Response};
use gatehouse_core::memory::MemoryHost;
use gatehouse_core::rust_crypto::RustCrypto;
use gatehouse_core::secret::{SecretBytes, SecretString};
use gatehouse_core::{handle, Config};
use pollster::block_on;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;

pub const NOW: i64 = 1_760_000_000;
pub const ORIGIN: &str = "http://127.0.0.1:8787";
pub const ISSUER: &str = "http://127.0.0.1:8787/";
pub const ADMIN: &str = "operator-token";
pub const INITIAL: &str = "initial-access-token";
pub const SPA: &str = "spa";
pub const SPA_REDIRECT: &str = "http://127.0.0.1:5173/callback";
pub const WEB: &str = "web";
pub const WEB_SECRET: &str = "web-secret-0123456789abcdef0123456789";
pub const WEB_REDIRECT: &str = "https://web.example/callback";
pub const POST_CLIENT: &str = "post";
pub const POST_SECRET: &str = "post-secret-0123456789abcdef0123456789";
pub const THIRD: &str = "third";
/// Machine clients (client credentials), with client grants on the two APIs.
pub const M2M: &str = "m2m";
pub const M2M_SECRET: &str = "m2m-secret-0123456789abcdef0123456789";
pub const M2M_2: &str = "m2m-2";
pub const M2M_2_SECRET: &str = "m2m-2-secret-0123456789abcdef01234567";
/// A confidential client and a public one allowed the password grant (RFC 6749 §4.3).
pub const ROPC: &str = "ropc";
pub const ROPC_SECRET: &str = "ropc-secret-0123456789abcdef012345678";
pub const ROPC_PUBLIC: &str = "ropc-native";
/// Device clients (RFC 8628): a public TV app and a confidential one.
pub const TV: &str = "tv";
pub const TV_CONF: &str = "tv-conf";
pub const TV_CONF_SECRET: &str = "tv-conf-secret-0123456789abcdef012345";
/// A second user (the defects so far hid between two of each thing).
pub const BOB_EMAIL: &str = "bob@example.com";
pub const BOB_PASSWORD: &str = "bob's long password";
pub const BOB_ID: &str = "u|bob";
pub const API: &str = "https://api.example/";
/// A second API that defines the same scope names (the defects so far hid between two APIs).
pub const API2: &str = "https://api2.example/";
pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const USER_ID: &str = "u|ada";

pub fn config() -> Config {
    Config {
        key_encryption_key: Some(SecretBytes::new(vec![42; 32])),
        admin_token: Some(SecretString::new(ADMIN)),
        initial_access_token: Some(SecretString::new(INITIAL)),
        password_iterations: 1_000,
        ..Config::default()
    }
}

pub fn tenant() -> String {
    serde_json::json!({
        "clients": [
            {"client_id": SPA, "name": "Test SPA", "app_type": "spa", "redirect_uris": [SPA_REDIRECT],
             "web_origins": ["http://127.0.0.1:5173"], "allowed_logout_urls": ["http://127.0.0.1:5173/"],
             "grant_types": ["authorization_code", "refresh_token"]},
            {"client_id": WEB, "name": "Test Web", "app_type": "regular_web", "client_secret": WEB_SECRET,
             "redirect_uris": [WEB_REDIRECT, "https://web.example/other"], "id_token_signed_response_alg": "ES256"},
            {"client_id": POST_CLIENT, "name": "Post Client", "app_type": "regular_web", "client_secret": POST_SECRET,
             "token_endpoint_auth_method": "client_secret_post", "redirect_uris": ["https://post.example/cb"]},
            {"client_id": THIRD, "name": "Third <b>Party</b>", "app_type": "spa", "redirect_uris": ["https://third.example/cb"],
             "is_first_party": false},
            {"client_id": M2M, "name": "Machine", "app_type": "non_interactive", "client_secret": M2M_SECRET,
             "token_endpoint_auth_method": "client_secret_post", "grant_types": ["client_credentials"]},
            {"client_id": M2M_2, "name": "Machine 2", "app_type": "non_interactive", "client_secret": M2M_2_SECRET,
             "grant_types": ["client_credentials"]},
            {"client_id": ROPC, "name": "Trusted Backend", "app_type": "regular_web", "client_secret": ROPC_SECRET,
             "grant_types": ["password", "http://auth0.com/oauth/grant-type/password-realm", "refresh_token"],
             "token_endpoint_ip_header_trusted": true},
            {"client_id": ROPC_PUBLIC, "name": "Trusted Native", "app_type": "native", "grant_types": ["password"]},
            {"client_id": TV, "name": "Living Room TV", "app_type": "native",
             "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]},
            {"client_id": TV_CONF, "name": "Kiosk", "app_type": "regular_web", "client_secret": TV_CONF_SECRET,
             "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}
        ],
        "client_grants": [
            {"client_id": M2M, "audience": API, "scope": ["read:messages", "write:messages"]},
            {"client_id": M2M, "audience": API2, "scope": ["read:messages"]},
            {"client_id": M2M_2, "audience": API2, "scope": ["write:messages"]}
        ],
        "apis": [{"identifier": API, "name": "Test API", "signing_alg": "ES256", "token_lifetime_seconds": 3600,
                  "allow_offline_access": true,
                  "scopes": [{"value": "read:messages", "description": "Read messages"},
                             {"value": "write:messages", "description": "Write messages"}]},
                 {"identifier": API2, "name": "Second API", "signing_alg": "RS256", "token_lifetime_seconds": 600,
                  "scopes": [{"value": "read:messages", "description": "Read the second API's messages"},
                             {"value": "write:messages", "description": "Write the second API's messages"}]}],
        "users": [{"user_id": USER_ID, "email": EMAIL, "password": PASSWORD, "name": "Ada Lovelace",
                   "given_name": "Ada", "email_verified": true},
                  {"user_id": BOB_ID, "email": BOB_EMAIL, "password": BOB_PASSWORD, "name": "Bob",
                   "connection": "partners"}]
    })
    .to_string()
}

/// A host with the tenant imported, and a browser.
pub struct World {
    pub host: MemoryHost<RustCrypto>,
    pub config: Config,
    pub cookies: RefCell<BTreeMap<String, String>>,
    pub ip: RefCell<String>,
}

impl World {
    pub fn new() -> Self {
        let world = World {
            host: MemoryHost::new(RustCrypto, NOW, 11),
            config: config(),
            cookies: RefCell::default(),
            ip: RefCell::new("203.0.113.7".into()),
        };
        let r = world.send(
            Request::from_url("PUT", &format!("{ORIGIN}/admin/tenant"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {ADMIN}"))
                .with_header("content-type", "application/json")
                .with_body(tenant()),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        world
    }

    /// Imports more of the tenant (`PUT /admin/tenant`) and expects success.
    pub fn import(&self, tenant: &Value) {
        let r = self.try_import(tenant);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// `PUT /admin/tenant`, whatever it answers.
    pub fn try_import(&self, tenant: &Value) -> Response {
        self.call(
            Request::from_url("PUT", &absolute("/admin/tenant"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {ADMIN}"))
                .with_header("content-type", "application/json")
                .with_body(tenant.to_string()),
        )
    }

    /// Registers a client (RFC 7591) with the initial access token; expects 201.
    pub fn register(&self, metadata: &Value) -> Value {
        let r = self.try_register(metadata);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).unwrap()
    }

    /// `POST /oidc/register` with the initial access token, whatever it answers.
    pub fn try_register(&self, metadata: &Value) -> Response {
        self.call(
            Request::from_url("POST", &absolute("/oidc/register"))
                .unwrap()
                .with_header("authorization", &format!("Bearer {INITIAL}"))
                .with_header("content-type", "application/json")
                .with_body(metadata.to_string()),
        )
    }

    /// Deletes a registered client (RFC 7592 §2.3) with its registration access token.
    pub fn delete_registered(&self, registration: &Value) -> Response {
        let uri = registration["registration_client_uri"].as_str().unwrap();
        let token = registration["registration_access_token"].as_str().unwrap();
        self.call(
            Request::from_url("DELETE", uri)
                .unwrap()
                .with_header("authorization", &format!("Bearer {token}")),
        )
    }

    /// Introspects a token as the first-party confidential client `web` (a resource server).
    pub fn introspect(&self, token: &str) -> Value {
        let r = self.call(
            form_request("/oauth/introspect", &[("token", token)])
                .with_header("authorization", &basic(WEB, WEB_SECRET)),
        );
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Sends a request as the browser (cookies in, cookies out).
    pub fn send(&self, mut request: Request) -> Response {
        let jar: Vec<String> =
            self.cookies.borrow().iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !jar.is_empty() {
            request = request.with_header("cookie", &jar.join("; "));
        }
        request = request.with_header("cf-connecting-ip", &self.ip.borrow());
        let response = block_on(handle(&self.host, &self.config, &request));
        for (name, value) in &response.headers {
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (k, v) = pair.split_once('=').unwrap();
                if v.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.borrow_mut().remove(k);
                } else {
                    self.cookies.borrow_mut().insert(k.to_string(), v.to_string());
                }
            }
        }
        response
    }

    /// Same request, but without the browser's cookies (a back-channel client).
    pub fn call(&self, request: Request) -> Response {
        block_on(handle(&self.host, &self.config, &request))
    }

    pub fn get(&self, path_and_query: &str) -> Response {
        self.send(Request::from_url("GET", &absolute(path_and_query)).unwrap())
    }

    pub fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Response {
        self.send(form_request(path, pairs))
    }

    /// Logs in through the hosted login page, starting from an /authorize response.
    pub fn login_from(
        &self,
        authorize_response: &Response,
        email: &str,
        password: &str,
    ) -> Response {
        assert_eq!(
            authorize_response.status,
            302,
            "{}",
            String::from_utf8_lossy(&authorize_response.body)
        );
        let login = location(authorize_response);
        assert!(login.starts_with("/login?req="), "{login}");
        let page = self.get(&login);
        assert_eq!(page.status, 200);
        let html = String::from_utf8(page.body).unwrap();
        let req = hidden(&html, "req");
        let csrf = hidden(&html, "csrf");
        self.post_form(
            "/login",
            &[("req", &req), ("csrf", &csrf), ("username", email), ("password", password)],
        )
    }

    /// Runs /authorize for `client`, logging in if asked; returns the final redirect's params.
    pub fn authorize(&self, query: &[(&str, &str)]) -> Response {
        self.get(&format!("/authorize?{}", encode(query.iter().copied())))
    }

    /// The whole front channel: authorize, log in, resume → the redirect to the client.
    pub fn code_flow(&self, query: &[(&str, &str)]) -> Response {
        let first = self.authorize(query);
        if location(&first).starts_with("/login") {
            let after_login = self.login_from(&first, EMAIL, PASSWORD);
            assert_eq!(after_login.status, 303, "{}", String::from_utf8_lossy(&after_login.body));
            return self.get(&location(&after_login));
        }
        first
    }

    pub fn now(&self) -> i64 {
        use gatehouse_core::ports::Clock;
        self.host.clock.now()
    }
}

pub fn absolute(path: &str) -> String {
    if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{ORIGIN}{path}")
    }
}

/// The public SPA client's code exchange with its PKCE verifier.
pub fn spa_exchange(world: &World, code: &str, verifier: &str) -> Response {
    world.call(form_request(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", SPA_REDIRECT),
        ],
    ))
}

pub fn form_request(path: &str, pairs: &[(&str, &str)]) -> Request {
    Request::from_url("POST", &absolute(path))
        .unwrap()
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(encode(pairs.iter().copied()))
}

pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

pub fn location(r: &Response) -> String {
    r.header("location").unwrap_or("").to_string()
}

/// The query (or fragment) parameters of a redirect to the client.
pub fn redirect_params(r: &Response) -> Params {
    let loc = location(r);
    let tail = loc.split_once(['?', '#']).map(|(_, t)| t).unwrap_or("");
    Params::parse(tail.as_bytes()).unwrap()
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no hidden {name}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn json(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&r.body)))
}

/// An OAuth JSON error answer: its status and `error` code.
pub fn oauth_error(r: &Response) -> (u16, String) {
    (r.status, json(r)["error"].as_str().unwrap_or("").to_string())
}

/// An error page: its status and the error code it shows.
pub fn page_error(r: &Response) -> (u16, String) {
    let body = String::from_utf8_lossy(&r.body);
    let code = body
        .split_once("<strong>")
        .and_then(|(_, rest)| rest.split_once("</strong>"))
        .map(|(code, _)| code.to_string())
        .unwrap_or_default();
    (r.status, code)
}

/// The claims of a JWT, unverified (tests verify separately).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&b64::decode(payload).unwrap()).unwrap()
}

pub fn header(jwt: &str) -> Value {
    serde_json::from_slice(&b64::decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
