//! How an authorization request's parameters arrive, in one place: plainly in the query or
//! form, pushed beforehand (RFC 9126, PAR), in a signed request object (RFC 9101, JAR), or a
//! request object pushed (FAPI 2.0's shape); and what a client or the deployment requires of
//! that. `/authorize` and `/oauth/par` both call [`receive`], then check the parameters it
//! gives exactly alike (`endpoint::authorize::check_request`).
//!
//! A new way in (a request object by reference, an encrypted one, CIBA's signed request) is a
//! branch here; a new fact about how the request came that a rule must check again when the
//! request is used is a field of [`Provenance`], which a pushed request keeps until
//! `/authorize` takes it. (A DPoP proof at PAR is not one: it becomes the request's own
//! `dpop_jkt`, `endpoint::pushed_authorization::push`.)

use serde::{Deserialize, Serialize};

use crate::authorization::request_object;
use crate::config::Config;
use crate::endpoint::pushed_authorization::{self, REQUEST_URI_PREFIX};
use crate::error::{Error, ErrorCode};
use crate::http::params::Params;
use crate::ports::Host;
use crate::records::ClientRecord;

/// The authorization request parameters the checks read. A pushed request keeps only these
/// (client authentication and anything unknown are not part of the request).
pub const PARAMETERS: [&str; 17] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "audience",
    "resource",
    "ui_locales",
    "authorization_details",
    "dpop_jkt",
];

/// Where the request arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// `/authorize`, through the browser: failures are pages (nothing can be sent back to a
    /// redirect URI that is not yet known to be good).
    Authorize,
    /// `/oauth/par`, from the authenticated client: failures are JSON.
    Par,
}

/// How the parameters came, as far as the rules care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// From a verified request object (RFC 9101), for `require_signed_request_object`.
    #[serde(default)]
    pub signed: bool,
}

/// The request's parameters, and how they came.
#[derive(Debug)]
pub struct Intake {
    pub params: Params,
    pub provenance: Provenance,
}

/// The parameters of the authorization request `client` sent on `channel`, after every rule
/// about how they may come.
pub async fn receive<H: Host>(
    host: &H,
    config: &Config,
    client: &ClientRecord,
    params: Params,
    issuer: &str,
    channel: Channel,
) -> Result<Intake, Error> {
    match channel {
        Channel::Authorize => {
            // RFC 9126 §4: a request pushed by this client stands in for all the parameters
            // (it was unpacked and checked at push time).
            let request_uri = params.get("request_uri").map_err(Error::into_page)?;
            if let Some(uri) = request_uri.filter(|u| u.starts_with(REQUEST_URI_PREFIX)) {
                if !params.contains("request") {
                    let pushed = pushed_authorization::take(host, client, uri).await?;
                    // The client's requirement as it is now (it may have changed since the push).
                    return required(client, pushed).map_err(Error::into_page);
                }
            }
            // §6 and §5: this client, or every client of the deployment, must push (except the
            // Worker's own cookie-session client, whose logins it starts itself).
            let own = config.bff.as_ref().is_some_and(|b| client.client_id == b.client_id.as_str());
            if client.require_pushed_authorization_requests
                || (config.require_pushed_authorization_requests && !own)
            {
                return Err(page(
                    ErrorCode::InvalidRequest,
                    "this client must push its authorization requests (PAR)",
                ));
            }
            unpacked(host, client, params, issuer).await.map_err(Error::into_page)
        }
        Channel::Par => {
            // RFC 9126 §2.1: request_uri cannot be pushed.
            if params.contains("request_uri") {
                return Err(Error::invalid_request("request_uri cannot be pushed"));
            }
            unpacked(host, client, params, issuer).await
        }
    }
}

/// A request object's parameters in place of the request's (§6.3), and the client's
/// `require_signed_request_object` (RFC 9101 §10.5).
async fn unpacked<H: Host>(
    host: &H,
    client: &ClientRecord,
    params: Params,
    issuer: &str,
) -> Result<Intake, Error> {
    let (params, signed) = match request_object::unpack(host, client, &params, issuer).await? {
        Some(inner) => (inner, true),
        None => (params, false),
    };
    required(client, Intake { params, provenance: Provenance { signed } })
}

/// What the client requires of how its requests come, checked against their provenance.
fn required(client: &ClientRecord, intake: Intake) -> Result<Intake, Error> {
    if client.require_signed_request_object && !intake.provenance.signed {
        return Err(Error::invalid_request("this client must send a signed request object"));
    }
    Ok(intake)
}

fn page(code: ErrorCode, description: &str) -> Error {
    Error::Page { code, description: description.into() }
}
