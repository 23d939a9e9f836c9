//! Gatehouse as a Cloudflare Worker: a thin layer that turns a `worker::Request` into the core's
//! request, lends the core its ports (Workers KV, the ledger Durable Object, WebCrypto,
//! `crypto.getRandomValues`, `Date.now`, `fetch`) and turns the core's response back.
#![forbid(unsafe_code)]

mod host;
mod ledger;

use gatehouse_core::error::{Error, ErrorCode};
use gatehouse_core::http;
use gatehouse_core::Config;
use worker::{console_error, event, Context, Env, Headers, Request, Response, Result};

pub use ledger::LedgerObject;

/// Request bodies larger than this are refused before the core sees them.
const MAX_BODY_BYTES: usize = 1024 * 1024 + 1024;

/// Reads a var or secret (wrangler.toml `[vars]`, `wrangler secret put`, or `.dev.vars`).
fn setting(env: &Env, name: &str) -> Option<String> {
    env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()
}

fn wire(response: http::Response) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let out = if response.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(response.body)?
    };
    Ok(out.with_status(response.status).with_headers(headers))
}

async fn to_core(mut req: Request) -> std::result::Result<http::Request, Error> {
    let url = req.url().map_err(|_| Error::invalid_request("unreadable URL"))?;
    let mut request = http::Request::from_url(req.method().as_ref(), url.as_str())
        .ok_or_else(|| Error::invalid_request("unsupported URL"))?;
    for (name, value) in req.headers().entries() {
        request.headers.push((name.to_ascii_lowercase(), value));
    }
    let declared =
        req.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(Error::oauth(ErrorCode::InvalidRequest, "request body too large"));
    }
    if !matches!(request.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        let body =
            req.bytes().await.map_err(|_| Error::invalid_request("unreadable request body"))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::oauth(ErrorCode::InvalidRequest, "request body too large"));
        }
        request.body = body;
    }
    Ok(request)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = match Config::from_vars(|name| setting(&env, name)) {
        Ok(config) => config,
        Err(e) => {
            console_error!("gatehouse configuration: {}", e.0);
            return wire(Error::Misconfigured("configuration").to_response());
        }
    };
    let request = match to_core(req).await {
        Ok(request) => request,
        Err(e) => return wire(e.to_response()),
    };
    let host = match host::WorkerHost::new(&env) {
        Ok(host) => host,
        Err(e) => {
            console_error!("gatehouse bindings: {e}");
            return wire(Error::Misconfigured("bindings").to_response());
        }
    };
    let mut response = gatehouse_core::handle(&host, &config, &request).await;
    // `DEBUG_COUNTS=true` (benchmarks only): what the request cost, in a response header.
    if setting(&env, "DEBUG_COUNTS").as_deref() == Some("true") {
        response.set_header("gatehouse-counts", &host.counts());
    }
    // CIBA pings and pushes and the operator's webhook go out after the response, retried
    // with backoff while the runtime lets the request's work go on (`waitUntil`).
    let deliveries = std::mem::take(&mut response.deliveries);
    if !deliveries.is_empty() {
        let env = env.clone();
        ctx.wait_until(async move {
            match host::WorkerHost::new(&env) {
                Ok(host) => {
                    gatehouse_core::notify::deliver(&host, deliveries).await;
                }
                Err(e) => console_error!("gatehouse bindings: {e}"),
            }
        });
    }
    wire(response)
}
