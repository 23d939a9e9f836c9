//! `POST /oauth/revoke` (RFC 7009). Revoking a refresh token ends its whole grant; revoking an
//! access token marks it revoked until it expires. Unknown, expired or malformed tokens get 200
//! (§2.2); a live token issued to another client is refused (§2.1).

use serde_json::Value;

use crate::client_auth;
use crate::config::Config;
use crate::error::Error;
use crate::grant;
use crate::grant::refresh_token::{refresh_grant_id, refresh_token_state};
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
        if let Some(record) = refresh_token_state(host, token).await? {
            if record.authorization.client_id != client.client_id {
                return Err(foreign());
            }
            grant::revoke_grant(host, grant_id).await?;
        }
    } else if let Ok(claims) = tokens::verify_access_token(host, config, &issuer, token, None).await
    {
        if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
            return Err(foreign());
        }
        // An access token is revoked alone (§2.1 would allow ending its grant too; clients
        // of node-oidc-provider and Auth0 expect the refresh token to survive), on the ledger.
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
            grant::revoke_token(host, jti, exp).await?;
        }
    }
    Ok(Response::new(200).with_header("cache-control", "no-store"))
}
