//! `POST /oauth/revoke` (RFC 7009). Revoking a refresh token ends its whole grant; revoking an
//! access token marks it revoked until it expires. Unknown, expired or malformed tokens get 200
//! (§2.2); a live token issued to another client is refused (§2.1).

use serde_json::Value;

use crate::client_auth;
use crate::config::Config;
use crate::error::Error;
use crate::grant;
use crate::grant::refresh_token::{refresh_grant_id, refresh_token_family};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::tokens;

pub async fn revoke<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let client = client_auth::authenticate(host, config, req, &params, &issuer).await?;
    let token = params.require("token")?;
    // §2.1: token_type_hint is only a hint (an unknown one is ignored too); the token's own
    // shape says what it is.
    let foreign = || Error::invalid_request("the token was issued to another client");
    if let Some(grant_id) = refresh_grant_id(token) {
        // The current refresh token, or one it replaced: presenting a replaced one is the
        // owner saying the grant must end too (RFC 9700 §4.14.2).
        if let Some(record) = refresh_token_family(host, token).await? {
            if record.authorization.client_id != client.client_id {
                return Err(foreign());
            }
            grant::revoke_grant(host, grant_id).await?;
        }
        return Ok(Response::new(200).with_header("cache-control", "no-store"));
    }
    // §2.2: an invalid token is a 200; a failure to tell (a port down) is not (§2.2.1).
    let claims = match tokens::verify_access_token(host, config, &issuer, token, None).await {
        Ok(claims) => Some(claims),
        Err(Error::Bearer { .. }) => None,
        Err(e) => return Err(e),
    };
    if let Some(claims) = claims {
        if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
            return Err(foreign());
        }
        // An access token is revoked alone (§2.1 would allow ending its grant too; clients
        // of node-oidc-provider and Auth0 expect the refresh token to survive), on the ledger.
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
            let grant_id = claims.get("gid").and_then(Value::as_str);
            grant::revoke_token(host, grant_id, jti, exp).await?;
        }
    }
    Ok(Response::new(200).with_header("cache-control", "no-store"))
}
