//! The resource owner password grant (RFC 6749 §4.3), and Auth0's
//! `http://auth0.com/oauth/grant-type/password-realm`, which names the user store (`realm`).
//! Off unless the client's `grant_types` lists it. The password is checked exactly as at the
//! hosted login page (`authentication`): the same rate limits per account and per IP, the same
//! work for unknown accounts, one refusal that never says which part was wrong.

use super::{resolve, Commit, Issued, TokenRequest};
use crate::authentication::{check_password, PasswordCheck, TOO_MANY_ATTEMPTS, WRONG_CREDENTIALS};
use crate::authorization::request;
use crate::error::{Error, ErrorCode};
use crate::ports::{Clock, Host};
use crate::vocabulary::GrantType;

/// Auth0's header naming the end user's IP, for the rate limits, when a backend sends the
/// password on the user's behalf.
pub const FORWARDED_FOR: &str = "auth0-forwarded-for";

pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, config, req, client, params, grant_type, .. } = *request;
    let username = params.require("username")?;
    let password = params.require("password")?;
    let realm = match grant_type {
        GrantType::PasswordRealm => Some(params.require("realm")?),
        _ => None,
    };
    let requested = request::requested_authorization(host, params, client, grant_type).await?;
    // The limits count the end user's IP: the one a confidential (authenticated) backend the
    // operator trusts forwards (Auth0's "Trust Token Endpoint IP Header"), or else the caller's
    // own.
    let forwarded = req
        .header(FORWARDED_FOR)
        .filter(|_| !client.is_public() && client.token_endpoint_ip_header_trusted)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    let ip = forwarded.unwrap_or_else(|| req.client_ip());
    let user = match check_password(host, config, username.trim(), password, ip).await? {
        PasswordCheck::Verified(user) if realm.is_none_or(|r| r == user.connection) => user,
        PasswordCheck::Verified(_) | PasswordCheck::Wrong => {
            return Err(Error::oauth(ErrorCode::InvalidGrant, WRONG_CREDENTIALS))
        }
        PasswordCheck::TooManyAttempts => {
            return Err(Error::oauth(ErrorCode::TooManyAttempts, TOO_MANY_ATTEMPTS))
        }
    };
    let authorization =
        requested.approved_by(&user.user_id, host.clock().now()).start_grant(host.rng());
    let resolved = resolve(host, authorization).await?;
    Ok(Issued { resolved, commit: Commit::Start })
}
