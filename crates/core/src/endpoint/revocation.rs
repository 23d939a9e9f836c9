//! `POST /oauth/revoke` (RFC 7009). Revoking a refresh token ends its whole grant; revoking an
//! access token marks it revoked until it expires. Unknown or foreign tokens still get 200
//! (§2.2), so nothing is learned from the answer.

use serde_json::Value;

use crate::client_auth;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::grant;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::{Clock, Host};
use crate::tokens;

pub async fn revoke<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let client =
        client_auth::authenticate(host, config, req, &params, &issuer, "oauth/revoke").await?;
    let token = params.require("token")?;
    match params.get("token_type_hint")? {
        None | Some("refresh_token") | Some("access_token") => {}
        Some(_) => {
            return Err(Error::oauth(
                ErrorCode::UnsupportedTokenType,
                "unsupported token_type_hint",
            ))
        }
    }
    if let Some(grant_id) = grant::refresh_grant_id(token) {
        if let Some(record) = grant::refresh_token_state(host, token).await? {
            if record.client_id == client.client_id {
                grant::revoke_grant(host, grant_id).await?;
            }
        }
    } else if let Ok(claims) = tokens::verify_access_token(host, config, &issuer, token, None).await
    {
        let own =
            claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str());
        if let (true, Some(jti), Some(exp)) = (
            own,
            claims.get("jti").and_then(Value::as_str),
            claims.get("exp").and_then(Value::as_i64),
        ) {
            grant::revoke_access_token(host.store(), jti, exp - host.clock().now()).await?;
        }
    }
    Ok(Response::new(200).with_header("cache-control", "no-store"))
}
