//! `GET /.well-known/jwks.json`: the issuer's public signing keys (RFC 7517 §5), each with its
//! RFC 7638 thumbprint as `kid`.

use crate::config::Config;
use crate::error::Error;
use crate::http::Response;
use crate::keys;
use crate::ports::{Clock, Host};

use super::public_json;

pub async fn jwks<H: Host>(host: &H, config: &Config) -> Result<Response, Error> {
    let set = keys::load(host, config).await?;
    let jwks = set.jwks(host.clock().now());
    let value = serde_json::to_value(&jwks).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(public_json(&value))
}
