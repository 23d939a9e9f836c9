//! Pushed authorization requests (RFC 9126): `POST /oauth/par` (Auth0's path) takes the
//! authorization request's parameters from the client directly, checks them exactly as
//! `/authorize` would (§2.1; errors as JSON, never a redirect), and answers a `request_uri`
//! that `/authorize` then takes in their place, once, for that client only (§4).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::authorization::request_object::{self, Unpacked};
use crate::b64;
use crate::client_auth;
use crate::config::Config;
use crate::endpoint::authorize;
use crate::error::{absent_if_unreadable, Error, ErrorCode};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ledger_record::{self, LedgerRecord, State, Step};
use crate::ports::{random_bytes, Clock, Host};
use crate::records::ClientRecord;
use crate::vocabulary::ClientId;

/// RFC 9126 §2.2: the URN prefix of the request URIs this server issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits to be used (§2.2: short-lived; Auth0: 60 s).
pub const PUSHED_REQUEST_SECONDS: i64 = 60;

/// The authorization request parameters `/authorize` reads: only these are kept (client
/// authentication and anything unknown are not part of the request).
const AUTHORIZATION_PARAMETERS: [&str; 16] = [
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
];
/// The most a pushed request may weigh, as stored.
const MAX_PUSHED_BYTES: usize = 16 * 1024;

/// A pushed request as stored on the ledger.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PushedRequest {
    v: u32,
    client_id: ClientId,
    params: Vec<(String, String)>,
    /// The parameters came from a verified request object (JAR), for
    /// `require_signed_request_object`.
    #[serde(default)]
    signed: bool,
    expires_at: i64,
}

fn key(request_uri: &str) -> String {
    format!("par:{}", b64::sha256(request_uri))
}

/// `POST /oauth/par`.
pub async fn push<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_body(req, false)?;
    let issuer = config.issuer_for(req);
    // §2: the client authenticates as at the token endpoint; a public client names itself.
    let client = client_auth::authenticate(host, config, req, &params, &issuer).await?;
    // §2.1: request_uri cannot be pushed.
    if params.contains("request_uri") {
        return Err(Error::invalid_request("request_uri cannot be pushed"));
    }
    // RFC 9126 §3: a pushed request object is verified now, and only its parameters kept.
    let Unpacked { params, signed } =
        request_object::unpack(host, &client, params, &issuer).await?;
    request_object::check_required(&client, signed)?;
    // The same checks as /authorize, answered here as JSON.
    let (_, checked) =
        authorize::check_request(host, &client, &params).await.map_err(Error::into_oauth)?;
    checked?;
    let request_uri =
        format!("{REQUEST_URI_PREFIX}{}", b64::encode(random_bytes::<32>(host.rng())));
    let expires_at = host.clock().now() + PUSHED_REQUEST_SECONDS;
    let pushed = PushedRequest {
        v: 1,
        client_id: client.client_id.clone(),
        params: params
            .pairs()
            .filter(|(name, _)| AUTHORIZATION_PARAMETERS.contains(name))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        signed,
        expires_at,
    };
    let size: usize = pushed.params.iter().map(|(n, v)| n.len() + v.len()).sum();
    if size > MAX_PUSHED_BYTES {
        return Err(Error::invalid_request("the pushed request is too large"));
    }
    if !ledger_record::create::<_, _, ()>(host, &key(&request_uri), &pushed, expires_at).await? {
        return Err(Error::Internal("request_uri collision".into()));
    }
    // §2.2: 201 Created.
    Ok(Response::json_no_store(
        201,
        &json!({ "request_uri": request_uri, "expires_in": PUSHED_REQUEST_SECONDS }),
    ))
}

fn invalid_request_uri(description: &str) -> Error {
    Error::Page { code: ErrorCode::InvalidRequestUri, description: description.into() }
}

/// The parameters `/authorize` uses: those pushed, for a `request_uri` this server issued
/// (used once, by the client it was pushed for); otherwise the request's own, unless PAR is
/// required for this client (§6) or by the deployment.
pub async fn pushed_parameters<H: Host>(
    host: &H,
    config: &Config,
    client: &ClientRecord,
    params: Params,
) -> Result<Unpacked, Error> {
    let Some(request_uri) = params.get("request_uri").map_err(Error::into_page)? else {
        // The deployment's switch spares its own cookie-session client, whose logins the Worker
        // starts itself.
        let own = config.bff.as_ref().is_some_and(|b| client.client_id == b.client_id.as_str());
        if client.require_pushed_authorization_requests
            || (config.require_pushed_authorization_requests && !own)
        {
            return Err(Error::Page {
                code: ErrorCode::InvalidRequest,
                description: "this client must push its authorization requests (PAR)".into(),
            });
        }
        return Ok(Unpacked { params, signed: false });
    };
    if !request_uri.starts_with(REQUEST_URI_PREFIX) || params.contains("request") {
        // Not ours: `check_request_objects` answers it (request_uri_not_supported, or both).
        return Ok(Unpacked { params, signed: false });
    }
    let now = host.clock().now();
    let entry: Option<LedgerRecord<PushedRequest, ()>> =
        absent_if_unreadable(ledger_record::load(host, &key(request_uri)).await)?;
    let pushed = match entry.as_ref().map(|e| &e.state) {
        Some(State::Live(p)) if p.expires_at > now => p.clone(),
        _ => return Err(invalid_request_uri("the request_uri is unknown, used or expired")),
    };
    // §4: pushed for this client only.
    if pushed.client_id != client.client_id {
        return Err(invalid_request_uri("the request_uri was pushed by another client"));
    }
    // Used once (§4: the request_uri is one-time use), decided on the ledger.
    let used =
        ledger_record::update::<_, PushedRequest, (), bool>(host, &key(request_uri), |state| {
            match state {
                Some(State::Live(_)) => (Step::End((), pushed.expires_at + 600), true),
                _ => (Step::Keep, false),
            }
        })
        .await?;
    if !used {
        return Err(invalid_request_uri("the request_uri is unknown, used or expired"));
    }
    let mut pairs = pushed.params;
    if !pairs.iter().any(|(n, _)| n == "client_id") {
        pairs.push(("client_id".into(), pushed.client_id.as_str().into()));
    }
    Ok(Unpacked { params: Params::from_pairs(pairs), signed: pushed.signed })
}
