//! `POST /oauth/device/code` (RFC 8628 §3.1, §3.2; Auth0's path): a device asks for a device
//! code and a user code. Public clients name themselves; confidential ones authenticate as at
//! the token endpoint. The client must list the device code grant. Every request creates a
//! device code on the ledger, so each client IP may ask for [`MAX_CODES_PER_IP`] codes over two
//! 5-minute windows (then 429 `too_many_requests`, Auth0's code), counted before anything else.

use serde_json::json;

use crate::authorization::request;
use crate::client_auth;
use crate::config::{endpoint_url, Config};
use crate::error::{Error, ErrorCode};
use crate::grant::device_code;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::rate_limit;
use crate::vocabulary::GrantType;

/// How many device codes one client IP (an IPv6 /64) may ask for over the current and the
/// previous 5-minute window: a household's devices many times over, not a flood.
pub const MAX_CODES_PER_IP: u64 = 30;

pub async fn device_authorization<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let subject = rate_limit::ip_subject(req.client_ip());
    if !rate_limit::within(host, "device-code", &subject, MAX_CODES_PER_IP).await? {
        return Err(Error::oauth(
            ErrorCode::TooManyRequests,
            "too many device codes from this network; try again in a few minutes",
        ));
    }
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let client =
        client_auth::authenticate_for(host, config, req, &params, &issuer, GrantType::DeviceCode)
            .await?;
    let requested =
        request::requested_authorization(host, &params, &client, GrantType::DeviceCode).await?;
    let codes = device_code::issue(host, requested, config.device_code_interval_seconds).await?;
    let shown = device_code::display_user_code(&codes.user_code);
    let verification_uri = endpoint_url(&issuer, "activate");
    let complete = format!(
        "{verification_uri}?{}",
        crate::http::params::encode([("user_code", shown.as_str())])
    );
    Ok(Response::json_no_store(
        200,
        &json!({
            "device_code": codes.device_code,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": complete,
            "expires_in": codes.expires_in,
            "interval": codes.interval,
        }),
    ))
}
