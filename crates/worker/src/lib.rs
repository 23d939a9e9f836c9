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

/// The deployment's settings as this isolate read them: vars and secrets are fixed for an
/// isolate's life (a new value means a new deployment, and new isolates), so they are read
/// once, not on every request (about a dozen lookups through JavaScript each time).
struct Settings {
    config: Config,
    /// `DEBUG_COUNTS=true` (benchmarks only): each response says what it cost.
    debug_counts: bool,
}

/// Responses the core says may be reused (`reusable_for_seconds`: discovery, the JWKS), by
/// method and URL, with when they were made (ms). A few entries at most.
type Reusable = std::collections::HashMap<String, (http::Response, f64)>;
const MAX_REUSABLE: usize = 16;

thread_local! {
    static REUSABLE: std::cell::RefCell<Reusable> = std::cell::RefCell::new(Reusable::new());
    /// Bumped whenever the copies are dropped: a response begun before that is not kept.
    static REUSE_GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static SETTINGS: std::cell::OnceCell<std::rc::Rc<Settings>> = const { std::cell::OnceCell::new() };
}

fn settings(env: &Env) -> std::result::Result<std::rc::Rc<Settings>, String> {
    if let Some(s) = SETTINGS.with(|c| c.get().cloned()) {
        return Ok(s);
    }
    let config = Config::from_vars(|name| setting(env, name)).map_err(|e| e.0)?;
    let debug_counts = setting(env, "DEBUG_COUNTS").as_deref() == Some("true");
    let read = std::rc::Rc::new(Settings { config, debug_counts });
    SETTINGS.with(|c| c.get_or_init(|| read.clone()).clone());
    Ok(read)
}

/// `DEBUG_COUNTS` answers only on a loopback origin (`url`: the request's): elsewhere the counts
/// would tell a caller which paths ran (a known client, a recently read key).
fn debug_counts(settings: &Settings, url: &str) -> bool {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| {
        url.strip_prefix(p).is_some_and(|rest| rest.starts_with(':') || rest.starts_with('/'))
    });
    settings.debug_counts && loopback
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let settings = match settings(&env) {
        Ok(settings) => settings,
        Err(e) => {
            console_error!("gatehouse configuration: {e}");
            return wire(Error::Misconfigured("configuration").to_response());
        }
    };
    let config = &settings.config;
    // The copies are looked up before the request is read (its URL parsed, its headers copied
    // into the core's request): by the method and the URL as the runtime gives them. A URL
    // with a query (which these documents ignore) is never kept, so nobody can fill the copies
    // with variants.
    let url = req.inner().url();
    let method = req.inner().method();
    let reuse_key = format!("{method} {url}");
    let keepable = !url.contains('?') && matches!(method.as_str(), "GET" | "HEAD");
    let generation = REUSE_GENERATION.with(std::cell::Cell::get);
    let now_ms = js_sys::Date::now();
    let reusable = REUSABLE.with(|c| {
        let cache = c.borrow();
        keepable
            .then(|| cache.get(&reuse_key))
            .flatten()
            .filter(|(r, at)| now_ms - at < r.reusable_for_seconds as f64 * 1000.0)
            .map(|(r, _)| r.clone())
    });
    if let Some(mut response) = reusable {
        if debug_counts(&settings, &url) {
            response.set_header("gatehouse-counts", "kv=0 ledger=0 sign=0 (reused)");
        }
        return wire(response);
    }
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
    let mut response = gatehouse_core::handle(&host, config, &request).await;
    REUSABLE.with(|c| {
        let mut cache = c.borrow_mut();
        // An operator's change (a key rotation, a tenant import) is seen at once in this
        // isolate, as before there were copies; a document built before it is not kept.
        if response.invalidates_reusable {
            cache.clear();
            REUSE_GENERATION.with(|g| g.set(g.get() + 1));
        }
        let unchanged = REUSE_GENERATION.with(std::cell::Cell::get) == generation;
        if response.reusable_for_seconds > 0 && keepable && unchanged {
            if cache.len() >= MAX_REUSABLE {
                cache.clear();
            }
            cache.insert(reuse_key, (response.clone(), now_ms));
        }
    });
    if debug_counts(&settings, &url) {
        response.set_header("gatehouse-counts", &host.counts());
    }
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
