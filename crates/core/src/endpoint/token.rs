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
    let request = TokenRequest {
        host,
        config,
        issuer: &issuer,
        req,
        client: &client,
        grant_type,
        params: &params,
    };
    let mut issued = grant::exchange(grant_type, &request).await?;
    // RFC 9396 §6: the client may ask for some of the authorization details the user approved
    // (the code's, the device code's, the refresh token's), never more; a grant without any
    // (client credentials, password) has nothing to ask for. At a code or device code
    // exchange this narrows the grant the refresh token carries on; a refresh narrows its own
    // access token only (the rotation keeps the grant, `refresh_token::Rotate`).
    let approved = &mut issued.resolved.authorization.details;
    *approved = details::narrow(approved, params.get("authorization_details")?)?;
    Ok(tokens::mint(host, config, &issuer, &client, issued).await?.into_response())
}
