//! The routing table: one row per endpoint, its methods and whether browsers may read it
//! cross-origin. `handle` is the core's HTTP entry point.

use crate::config::Config;
use crate::endpoint::{admin, discovery, jwks};
use crate::error::Error;
use crate::http::{Request, Response};
use crate::ports::Host;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    OpenIdConfiguration,
    AuthorizationServerMetadata,
    Jwks,
    AdminKeys,
    AdminRotateKeys,
    AdminTenant,
}

struct Route {
    path: &'static str,
    endpoint: Endpoint,
    /// Methods served (`HEAD` is served wherever `GET` is).
    methods: &'static [&'static str],
    /// The `Allow` header for a 405.
    allow: &'static str,
    /// Public metadata any origin may read (answers CORS preflights).
    cors: bool,
}

const ROUTES: &[Route] = &[
    Route {
        path: "/.well-known/openid-configuration",
        endpoint: Endpoint::OpenIdConfiguration,
        methods: &["GET", "HEAD"],
        allow: "GET, HEAD, OPTIONS",
        cors: true,
    },
    Route {
        path: "/.well-known/oauth-authorization-server",
        endpoint: Endpoint::AuthorizationServerMetadata,
        methods: &["GET", "HEAD"],
        allow: "GET, HEAD, OPTIONS",
        cors: true,
    },
    Route {
        path: "/.well-known/jwks.json",
        endpoint: Endpoint::Jwks,
        methods: &["GET", "HEAD"],
        allow: "GET, HEAD, OPTIONS",
        cors: true,
    },
    Route {
        path: "/admin/keys",
        endpoint: Endpoint::AdminKeys,
        methods: &["GET"],
        allow: "GET",
        cors: false,
    },
    Route {
        path: "/admin/keys/rotate",
        endpoint: Endpoint::AdminRotateKeys,
        methods: &["POST"],
        allow: "POST",
        cors: false,
    },
    Route {
        path: "/admin/tenant",
        endpoint: Endpoint::AdminTenant,
        methods: &["PUT"],
        allow: "PUT",
        cors: false,
    },
];

/// Answers a CORS preflight for public metadata (Fetch standard, CORS protocol).
fn preflight(route: &Route) -> Response {
    Response::new(204)
        .with_header("access-control-allow-origin", "*")
        .with_header("access-control-allow-methods", route.allow)
        .with_header("access-control-max-age", "86400")
}

async fn dispatch<H: Host>(
    host: &H,
    config: &Config,
    route: &Route,
    request: &Request,
) -> Result<Response, Error> {
    match route.endpoint {
        Endpoint::OpenIdConfiguration => Ok(discovery::openid_configuration(config, request)),
        Endpoint::AuthorizationServerMetadata => {
            discovery::authorization_server(host, config, request).await
        }
        Endpoint::Jwks => jwks::jwks(host, config).await,
        Endpoint::AdminKeys => {
            admin::authorize(config, request)?;
            admin::list_keys(host, config).await
        }
        Endpoint::AdminRotateKeys => {
            admin::authorize(config, request)?;
            admin::rotate_keys(host, config).await
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
    let Some(route) = ROUTES.iter().find(|r| r.path == request.path) else {
        return Error::NotFound.to_response();
    };
    let method = request.method.as_str();
    if method == "OPTIONS" && route.cors {
        return preflight(route);
    }
    let served =
        route.methods.contains(&method) || (method == "HEAD" && route.methods.contains(&"GET"));
    if !served {
        return Error::MethodNotAllowed { allow: route.allow }.to_response();
    }
    let mut response = match dispatch(host, config, route, request).await {
        Ok(response) => response,
        Err(error) => {
            if let Some(line) = error.log_line() {
                host.log(&format!("{} {}: {line}", request.method, request.path));
            }
            error.to_response()
        }
    };
    if method == "HEAD" {
        response.body.clear();
    }
    response
}
