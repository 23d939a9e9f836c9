//! `POST /oauth/token` (RFC 6749 §3.2): the steps every grant shares — parse, authenticate the
//! client, check that it may use the grant, hand over to the grant's handler
//! ([`crate::grant::exchange`]), mint the token response. Responses are never cached (§5.1).

use crate::authorization::details;
use crate::client_auth;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::grant::{self, TokenRequest};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::tokens;
use crate::vocabulary::GrantType;

pub async fn token<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    // Auth0's SDKs may send JSON; RFC 6749 clients send a form.
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let grant_type = params.require("grant_type")?;
    let client = client_auth::authenticate(host, config, req, &params, &issuer).await?;
    // RFC 6749 §5.2: a grant type this server does not implement.
    let grant_type = GrantType::parse(grant_type)
        .ok_or_else(|| Error::oauth(ErrorCode::UnsupportedGrantType, "unsupported grant_type"))?;
    client_auth::check_grant(&client, grant_type)?;
    // RFC 9396 §6: authorization details are narrowed from what the user approved (the code's,
    // the refresh token's); other grants have none to narrow.
    if params.contains("authorization_details")
        && !matches!(grant_type, GrantType::AuthorizationCode | GrantType::RefreshToken)
    {
        return Err(details::invalid("authorization_details is not supported with this grant"));
    }
    let request = TokenRequest {
        host,
        config,
        issuer: &issuer,
        req,
        client: &client,
        grant_type,
        params: &params,
    };
    let issued = grant::exchange(grant_type, &request).await?;
    Ok(tokens::mint(host, config, &issuer, &client, issued).await?.into_response())
}
