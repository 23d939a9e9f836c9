//! Operator endpoints under `/admin/`, behind the `ADMIN_TOKEN` secret (a bearer token,
//! compared in constant time). Without the secret they do not exist.

use serde_json::json;

use crate::config::Config;
use crate::error::Error;
use crate::http::{Request, Response};
use crate::keys::{self, KeySet};
use crate::ports::Host;
use crate::records;

/// The largest tenant file accepted.
pub const MAX_TENANT_BYTES: usize = 1024 * 1024;

/// Checks the operator's bearer token.
pub fn authorize(config: &Config, request: &Request) -> Result<(), Error> {
    let expected = config.admin_token.as_ref().ok_or(Error::NotFound)?;
    match request.bearer() {
        Ok(Some(token)) if expected.matches(token) => Ok(()),
        _ => Err(Error::AdminUnauthorized),
    }
}

fn describe(set: &KeySet) -> serde_json::Value {
    json!({
        "generation": set.generation,
        "keys": set.keys.iter().map(|k| json!({
            "kid": k.kid,
            "alg": k.alg,
            "status": k.status,
            "created_at": k.created_at,
            "retired_until": k.retired_until,
        })).collect::<Vec<_>>(),
    })
}

fn no_store(value: &serde_json::Value) -> Response {
    Response::json(200, value).with_header("cache-control", "no-store")
}

/// `GET /admin/keys`: the key set's public state.
pub async fn list_keys<H: Host>(host: &H, config: &Config) -> Result<Response, Error> {
    Ok(no_store(&describe(&keys::load(host, config).await?)))
}

/// `POST /admin/keys/rotate`.
pub async fn rotate_keys<H: Host>(host: &H, config: &Config) -> Result<Response, Error> {
    Ok(no_store(&describe(&keys::rotate(host, config).await?)).invalidating_reusable())
}

/// `PUT /admin/tenant`: imports a declarative tenant file (JSON).
pub async fn import_tenant<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
) -> Result<Response, Error> {
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(Error::invalid_request("the tenant file must be sent as application/json"));
    }
    if request.body.len() > MAX_TENANT_BYTES {
        return Err(Error::invalid_request("the tenant file is too large"));
    }
    let summary = records::import(host, config, &request.body).await?;
    Ok(no_store(&json!({ "imported": summary })).invalidating_reusable())
}

/// `DELETE /admin/client-grants?client_id=…&audience=…`: removes a client grant; the tokens
/// issued under it stop being active at once (Auth0's `DELETE /api/v2/client-grants/{id}`).
pub async fn delete_client_grant<H: Host>(host: &H, request: &Request) -> Result<Response, Error> {
    let params = crate::http::params::Params::from_query(request)?;
    let client_id = crate::vocabulary::ClientId::parse(params.require("client_id")?)
        .ok_or_else(|| Error::invalid_request("client_id is malformed"))?;
    let audience = params.require("audience")?;
    if !records::delete_client_grant(host, &client_id, audience).await? {
        return Err(Error::NotFound);
    }
    Ok(Response::new(204).with_header("cache-control", "no-store"))
}
