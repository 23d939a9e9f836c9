//! `POST /oauth/device/code` (RFC 8628 §3.1, §3.2; Auth0's path): a device asks for a device
//! code and a user code. Public clients name themselves; confidential ones authenticate as at
//! the token endpoint. The client must list the device code grant.

use serde_json::json;

use crate::authorization::request;
use crate::client_auth;
use crate::config::{endpoint_url, Config};
use crate::error::Error;
use crate::grant::device_code;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::vocabulary::GrantType;

pub async fn device_authorization<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
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
