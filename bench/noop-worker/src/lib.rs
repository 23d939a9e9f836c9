//! The benchmark's second floor (`bench/run.mjs`): what a Worker written with workers-rs costs
//! per request before it does anything — the same answer as the no-op JavaScript Worker, through
//! the same `#[event(fetch)]` glue, request and response types as Gatehouse's Worker.

use worker::{event, Context, Env, Headers, Request, Response, Result};

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let headers = Headers::new();
    headers.append("content-type", "application/json")?;
    Ok(Response::from_bytes(br#"{"issuer":"x"}"#.to_vec())?.with_headers(headers))
}
