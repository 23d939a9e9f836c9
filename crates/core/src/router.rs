//! The routing table: one row per endpoint, its methods and who may call it from a browser.
//! `handle` is the core's HTTP entry point.

use crate::config::Config;
use crate::endpoint::{
    activate, admin, approve, authorize, backchannel_authentication, bff, device_authorization,
    discovery, introspection, jwks, logout, pushed_authorization, registration, revocation, token,
    userinfo,
};
use crate::error::Error;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::pages;
use crate::ports::Host;
use crate::records;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    OpenIdConfiguration,
    AuthorizationServerMetadata,
    Jwks,
    Authorize,
    AuthorizeResume,
    Login,
    Consent,
    Token,
    PushedAuthorization,
    DeviceAuthorization,
    Activate,
    BackchannelAuthentication,
    Approve,
    Userinfo,
    Revocation,
    Introspection,
    OidcLogout,
    Auth0Logout,
    Stylesheet,
    Registration,
    RegistrationManagement,
    Bff,
    AdminKeys,
    AdminRotateKeys,
    AdminTenant,
    AdminClientGrants,
}

/// Who may read a response cross-origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cors {
    /// Same-origin only (pages, operator endpoints).
    No,
    /// Public metadata: any origin.
    Public,
    /// The web origins registered by clients (Auth0's "Allowed Web Origins"): SPAs call the
    /// token, revocation and userinfo endpoints from the browser.
    Clients,
}

struct Route {
    path: &'static str,
    endpoint: Endpoint,
    /// Methods served (`HEAD` is served wherever `GET` is).
    methods: &'static [&'static str],
    /// The `Allow` header for a 405.
    allow: &'static str,
    cors: Cors,
}

const fn route(
    path: &'static str,
    endpoint: Endpoint,
    methods: &'static [&'static str],
    allow: &'static str,
    cors: Cors,
) -> Route {
    Route { path, endpoint, methods, allow, cors }
}

const GET: &[&str] = &["GET", "HEAD"];
const REGISTRATION_PREFIX: &str = "/oidc/register/";
const BFF_PREFIX: &str = "/bff/";
const POST: &[&str] = &["POST"];
const GET_POST: &[&str] = &["GET", "HEAD", "POST"];

const ROUTES: &[Route] = &[
    route(
        "/.well-known/openid-configuration",
        Endpoint::OpenIdConfiguration,
        GET,
        "GET, HEAD, OPTIONS",
        Cors::Public,
    ),
    route(
        "/.well-known/oauth-authorization-server",
        Endpoint::AuthorizationServerMetadata,
        GET,
        "GET, HEAD, OPTIONS",
        Cors::Public,
    ),
    route("/.well-known/jwks.json", Endpoint::Jwks, GET, "GET, HEAD, OPTIONS", Cors::Public),
    route("/authorize", Endpoint::Authorize, GET_POST, "GET, HEAD, POST", Cors::No),
    route("/authorize/resume", Endpoint::AuthorizeResume, GET, "GET, HEAD", Cors::No),
    route("/login", Endpoint::Login, GET_POST, "GET, HEAD, POST", Cors::No),
    route("/consent", Endpoint::Consent, GET_POST, "GET, HEAD, POST", Cors::No),
    route("/oauth/token", Endpoint::Token, POST, "POST, OPTIONS", Cors::Clients),
    route("/oauth/par", Endpoint::PushedAuthorization, POST, "POST, OPTIONS", Cors::Clients),
    route(
        "/oauth/device/code",
        Endpoint::DeviceAuthorization,
        POST,
        "POST, OPTIONS",
        Cors::Clients,
    ),
    route("/activate", Endpoint::Activate, GET_POST, "GET, HEAD, POST", Cors::No),
    // CIBA: confidential clients call it from their servers, never from a browser.
    route("/bc-authorize", Endpoint::BackchannelAuthentication, POST, "POST", Cors::No),
    route("/approve", Endpoint::Approve, GET_POST, "GET, HEAD, POST", Cors::No),
    route("/userinfo", Endpoint::Userinfo, GET_POST, "GET, HEAD, POST, OPTIONS", Cors::Clients),
    route("/oauth/revoke", Endpoint::Revocation, POST, "POST, OPTIONS", Cors::Clients),
    route("/oauth/introspect", Endpoint::Introspection, POST, "POST", Cors::No),
    route("/oidc/logout", Endpoint::OidcLogout, GET_POST, "GET, HEAD, POST", Cors::No),
    route("/v2/logout", Endpoint::Auth0Logout, GET, "GET, HEAD", Cors::No),
    route(pages::STYLESHEET_PATH, Endpoint::Stylesheet, GET, "GET, HEAD", Cors::No),
    route("/oidc/register", Endpoint::Registration, POST, "POST", Cors::No),
    // Matched by prefix: the cookie-session endpoints answer their own preflights.
    route(
        BFF_PREFIX,
        Endpoint::Bff,
        &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        Cors::No,
    ),
    // Matched by prefix: /oidc/register/{client_id} (RFC 7592).
    route(
        REGISTRATION_PREFIX,
        Endpoint::RegistrationManagement,
        &["GET", "HEAD", "PUT", "DELETE"],
        "GET, HEAD, PUT, DELETE",
        Cors::No,
    ),
    route("/admin/keys", Endpoint::AdminKeys, &["GET"], "GET", Cors::No),
    route("/admin/keys/rotate", Endpoint::AdminRotateKeys, POST, "POST", Cors::No),
    route("/admin/tenant", Endpoint::AdminTenant, &["PUT"], "PUT", Cors::No),
    route("/admin/client-grants", Endpoint::AdminClientGrants, &["DELETE"], "DELETE", Cors::No),
];

/// Headers that let `origin` read the response (Fetch standard, CORS protocol).
fn allow_origin(mut response: Response, origin: &str) -> Response {
    response.set_header("access-control-allow-origin", origin);
    // A DPoP client reads the challenge of a refused proof (RFC 9449 §7.1).
    response.set_header("access-control-expose-headers", "WWW-Authenticate, DPoP-Nonce");
    response.headers.push(("vary".into(), "Origin".into()));
    response
}

/// The client a browser request names: `client_id` in the body, the id in Basic credentials,
/// or the `client_id` claim of its bearer access token (userinfo). The claim is read unverified:
/// it only picks whose web origins apply, and a forged token gets a 401 anyway.
fn named_client(request: &Request) -> Option<String> {
    let params = Params::from_body(request, true).ok();
    if let Some(id) = params.as_ref().and_then(|p| p.get("client_id").ok().flatten()) {
        return Some(id.to_string());
    }
    if let Some((id, _)) = crate::client_auth::basic_credentials(request).ok().flatten() {
        return Some(id);
    }
    let token = match (request.bearer(), request.dpop_token()) {
        (Ok(Some(token)), _) | (_, Some(token)) => token.to_string(),
        _ => params?.get("access_token").ok().flatten()?.to_string(),
    };
    let payload = crate::b64::decode(token.split('.').nth(1)?)?;
    let claims = crate::jose::json::parse_object(&payload)?;
    claims.get("client_id")?.as_str().map(str::to_string)
}

/// The origin to allow, if the request's `Origin` may read the response. A request that names
/// a client: an origin that client's record lists (Auth0's "Allowed Web Origins"; the record is
/// the one source of truth). A preflight, which carries no body: an origin some client lists
/// (the index kept in step with the records on the ledger).
async fn client_origin_allowed<H: Host>(host: &H, request: &Request) -> Option<String> {
    let origin = request.header("origin")?;
    let allowed = if request.method == "OPTIONS" {
        records::origin_listed(host, origin).await.ok()?
    } else {
        let client = records::client(host.store(), &named_client(request)?).await.ok()??;
        client.web_origins.iter().any(|o| o == origin)
    };
    allowed.then(|| origin.to_string())
}

/// Answers a CORS preflight.
async fn preflight<H: Host>(host: &H, route: &Route, request: &Request) -> Response {
    let response = Response::new(204)
        .with_header("access-control-allow-methods", route.allow)
        .with_header("access-control-max-age", "86400");
    match route.cors {
        Cors::Public => response.with_header("access-control-allow-origin", "*"),
        Cors::Clients => match client_origin_allowed(host, request).await {
            // auth0-spa-js sends an `Auth0-Client` header with every call; a DPoP client its
            // proofs (RFC 9449 §4.1).
            Some(origin) => allow_origin(response, &origin).with_header(
                "access-control-allow-headers",
                "Authorization, Content-Type, Auth0-Client, DPoP",
            ),
            None => response,
        },
        Cors::No => Error::MethodNotAllowed { allow: route.allow }.to_response(),
    }
}

async fn dispatch<H: Host>(
    host: &H,
    config: &Config,
    route: &Route,
    request: &Request,
) -> Result<Response, Error> {
    let post = request.method == "POST";
    match route.endpoint {
        Endpoint::OpenIdConfiguration => {
            discovery::openid_configuration(host, config, request).await
        }
        Endpoint::AuthorizationServerMetadata => {
            discovery::authorization_server(host, config, request).await
        }
        Endpoint::Jwks => jwks::jwks(host, config).await,
        Endpoint::Authorize => authorize::authorize(host, config, request).await,
        Endpoint::AuthorizeResume => authorize::resume(host, config, request).await,
        Endpoint::Login if post => authorize::login_submit(host, config, request).await,
        Endpoint::Login => authorize::login_form(host, request).await,
        Endpoint::Consent if post => authorize::consent_submit(host, config, request).await,
        Endpoint::Consent => authorize::consent_form(host, request).await,
        Endpoint::Token => token::token(host, config, request).await,
        Endpoint::PushedAuthorization => pushed_authorization::push(host, config, request).await,
        Endpoint::DeviceAuthorization => {
            device_authorization::device_authorization(host, config, request).await
        }
        Endpoint::Activate if post => activate::submit(host, config, request).await,
        Endpoint::Activate => activate::form(request),
        Endpoint::BackchannelAuthentication => {
            backchannel_authentication::backchannel_authentication(host, config, request).await
        }
        Endpoint::Approve if post => approve::login(host, config, request).await,
        Endpoint::Approve => approve::show(host, config, request).await,
        Endpoint::Userinfo => userinfo::userinfo(host, config, request).await,
        Endpoint::Revocation => revocation::revoke(host, config, request).await,
        Endpoint::Introspection => introspection::introspect(host, config, request).await,
        Endpoint::OidcLogout => logout::oidc_logout(host, config, request).await,
        Endpoint::Auth0Logout => logout::auth0_logout(host, request).await,
        Endpoint::Stylesheet => Ok(pages::stylesheet()),
        Endpoint::Registration => registration::register(host, config, request).await,
        Endpoint::Bff => bff::handle(host, config, request).await,
        Endpoint::RegistrationManagement => {
            let client_id = request.path.strip_prefix(REGISTRATION_PREFIX).unwrap_or("");
            registration::manage(host, config, request, client_id).await
        }
        Endpoint::AdminKeys => {
            admin::authorize(config, request)?;
            admin::list_keys(host, config).await
        }
        Endpoint::AdminRotateKeys => {
            admin::authorize(config, request)?;
            admin::rotate_keys(host, config).await
        }
        Endpoint::AdminClientGrants => {
            admin::authorize(config, request)?;
            admin::delete_client_grant(host, request).await
        }
        Endpoint::AdminTenant => {
            admin::authorize(config, request)?;
            admin::import_tenant(host, config, request).await
        }
    }
}

/// The core's HTTP entry point: request in, response out. Never panics on input; every error is
/// mapped by [`Error::to_response`].
pub async fn handle<H: Host>(host: &H, config: &Config, request: &Request) -> Response {
    let bff_route = || {
        let rest = request.path.strip_prefix(BFF_PREFIX)?;
        (rest.len() <= 512).then(|| ROUTES.iter().find(|r| r.endpoint == Endpoint::Bff)).flatten()
    };
    let found = ROUTES.iter().find(|r| r.path == request.path).or_else(bff_route).or_else(|| {
        let id = request.path.strip_prefix(REGISTRATION_PREFIX)?;
        let plausible = !id.is_empty() && id.len() <= 128 && !id.contains('/');
        plausible
            .then(|| ROUTES.iter().find(|r| r.endpoint == Endpoint::RegistrationManagement))
            .flatten()
    });
    let Some(route) = found else {
        return Error::NotFound.to_response();
    };
    let method = request.method.as_str();
    if method == "OPTIONS" && route.cors != Cors::No {
        return preflight(host, route, request).await;
    }
    let served =
        route.methods.contains(&method) || (method == "HEAD" && route.methods.contains(&"GET"));
    if !served {
        return Error::MethodNotAllowed { allow: route.allow }.to_response();
    }
    let mut response = match dispatch(host, config, route, request).await {
        Ok(response) => response,
        Err(error) => error.respond(host, request),
    };
    if route.cors == Cors::Clients {
        if let Some(origin) = client_origin_allowed(host, request).await {
            response = allow_origin(response, &origin);
        }
    }
    if method == "HEAD" {
        response.body.clear();
    }
    response
}
