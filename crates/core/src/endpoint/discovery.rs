//! OpenID Provider metadata (OIDC Discovery 1.0 §3, §4) and OAuth 2.0 Authorization Server
//! metadata (RFC 8414 §2, §3). Both advertise exactly what is implemented, and grow with it.

use serde_json::{json, Map, Value};

use crate::config::{endpoint_url, Config};
use crate::error::Error;
use crate::http::{Request, Response};
use crate::jose::Algorithm;
use crate::keys;
use crate::ports::{Clock, Host};

use super::public_json;

/// The metadata both documents share.
pub fn metadata(issuer: &str) -> Map<String, Value> {
    let algs: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
    let value = json!({
        "issuer": issuer,
        "jwks_uri": endpoint_url(issuer, ".well-known/jwks.json"),
        // No authorization or token endpoint is served yet, so no response type either.
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `GET /.well-known/openid-configuration`.
pub fn openid_configuration(config: &Config, request: &Request) -> Response {
    public_json(&Value::Object(metadata(&config.issuer_for(request))))
}

/// `GET /.well-known/oauth-authorization-server`, with `signed_metadata` (RFC 8414 §2.1): the
/// same values as claims of a JWT signed by the issuer (RS256), with `iss`.
pub async fn authorization_server<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
) -> Result<Response, Error> {
    let issuer = config.issuer_for(request);
    let mut document = metadata(&issuer);
    let mut claims = document.clone();
    claims.insert("iss".into(), issuer.clone().into());
    claims.insert("iat".into(), host.clock().now().into());
    let payload = serde_json::to_vec(&claims).map_err(|e| Error::Internal(e.to_string()))?;
    let signed = keys::sign(host, config, Algorithm::RS256, Some("JWT"), &payload).await?;
    document.insert("signed_metadata".into(), signed.into());
    Ok(public_json(&Value::Object(document)))
}
