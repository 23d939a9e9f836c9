//! `POST /bc-authorize` (OpenID CIBA Core §7; Auth0's path): a confidential client asks to
//! authenticate a user it names with exactly one hint. The user answers at `/approve`
//! (`endpoint::approve`); the client polls, is pinged or is pushed (`grant::ciba`). When the
//! tenant file names a webhook (`ciba.notify_url`), it hears of each new request, signed with
//! the server's keys, so an existing push service can reach the user's phone.

use serde_json::{json, Value};

use crate::authorization::request;
use crate::client_auth;
use crate::config::{endpoint_url, Config};
use crate::error::{Error, ErrorCode};
use crate::grant::ciba::{self, NewRequest};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::jose::jws::Jws;
use crate::jose::Algorithm;
use crate::keys;
use crate::ports::{Clock, Host};
use crate::rate_limit;
use crate::records::{self, ClientRecord, UserRecord};
use crate::tokens;
use crate::vocabulary::{DeliveryMode, GrantType};

/// The `typ` of the webhook's signature: not an ID or access token.
pub const WEBHOOK_TYP: &str = "gatehouse-ciba+jwt";

/// How many requests one client may make for one user over the current and the previous
/// 5-minute window (`rate_limit::within`), then 429 `too_many_requests` (Auth0's code).
pub const MAX_REQUESTS_PER_USER: u64 = 10;

/// §7.1: `client_notification_token` is a bearer token; bounded like one.
const MAX_NOTIFICATION_TOKEN: usize = 1024;

fn unknown_user() -> Error {
    Error::oauth(ErrorCode::UnknownUserId, "the hint does not name a known user")
}

pub async fn backchannel_authentication<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let client =
        client_auth::authenticate_for(host, config, req, &params, &issuer, GrantType::Ciba).await?;
    // §4: registered at the tenant file or registration, checked there (`check_backchannel`).
    let mode = match (client.is_public(), client.backchannel_token_delivery_mode) {
        (false, Some(mode)) => mode,
        _ => {
            return Err(Error::oauth(
                ErrorCode::UnauthorizedClient,
                "this client is not registered for CIBA",
            ))
        }
    };
    // §7.1.1: signed authentication requests are not offered (discovery lists no algorithm).
    if params.get("request")?.is_some() {
        return Err(Error::invalid_request("signed authentication requests are not supported"));
    }
    let scope_text = params.require("scope")?;
    if !scope_text.split(' ').any(|s| s == "openid") {
        return Err(Error::invalid_request("scope must include openid (CIBA Core §7.1)"));
    }
    let (requested, api) =
        request::requested_with_api(host, &params, &client, GrantType::Ciba).await?;
    // A push is minted at approval with no proof of possession to bind it to (RFC 9449): an API
    // that accepts DPoP-bound tokens only is for poll and ping clients, which ask at the token
    // endpoint with a proof.
    if mode == DeliveryMode::Push && api.is_some_and(|a| a.require_dpop) {
        return Err(Error::invalid_request(
            "this API accepts DPoP-bound tokens only, which push mode cannot deliver",
        ));
    }
    let binding_message = binding_message(params.get("binding_message")?)?;
    let expires_in = match params.get("requested_expiry")? {
        None => ciba::DEFAULT_EXPIRY_SECONDS,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|s| (1..=ciba::MAX_EXPIRY_SECONDS).contains(s))
            .ok_or_else(|| {
                Error::invalid_request(format!(
                    "requested_expiry must be 1..={} seconds",
                    ciba::MAX_EXPIRY_SECONDS
                ))
            })?,
    };
    let notify = match mode {
        DeliveryMode::Poll => None,
        DeliveryMode::Ping | DeliveryMode::Push => {
            let token = params.get("client_notification_token")?.ok_or_else(|| {
                Error::invalid_request(
                    "client_notification_token is required in ping and push modes",
                )
            })?;
            if token.len() > MAX_NOTIFICATION_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(Error::invalid_request(
                    "client_notification_token must be up to 1024 visible ASCII characters",
                ));
            }
            let endpoint =
                client.backchannel_client_notification_endpoint.clone().ok_or_else(|| {
                    Error::oauth(ErrorCode::UnauthorizedClient, "no notification endpoint")
                })?;
            Some((endpoint, token.to_string()))
        }
    };
    let user = hinted_user(host, config, &issuer, &params, &client).await?;
    // Each request reaches the user (the webhook, the approval list): one client may not flood
    // one user, nor push others' requests off the list.
    let subject = format!("{}:{}", client.client_id, crate::b64::sha256(&user.user_id));
    if !rate_limit::within(host, "ciba", &subject, MAX_REQUESTS_PER_USER).await? {
        return Err(Error::oauth(
            ErrorCode::TooManyRequests,
            "too many requests for this user; try again in a few minutes",
        ));
    }
    let created = ciba::create(
        host,
        NewRequest {
            requested,
            user_id: user.user_id.clone(),
            binding_message,
            mode,
            notify,
            expires_in,
            interval: config.ciba_interval_seconds,
        },
    )
    .await?;
    let mut body = json!({
        "auth_req_id": created.auth_req_id,
        "expires_in": expires_in,
    });
    if mode != DeliveryMode::Push {
        body["interval"] = created.record.interval.into();
    }
    let mut response = Response::json_no_store(200, &body);
    // The request exists now: a webhook that cannot be made is logged, not an error (the user
    // still finds the request on /approve).
    match webhook(host, config, &issuer, &client, &created).await {
        Ok(webhook) => response.deliveries.extend(webhook),
        Err(e) => {
            if let Some(line) = e.log_line() {
                host.log(&format!("CIBA webhook not sent: {line}"));
            }
        }
    }
    Ok(response)
}

/// Characters that change how text around them reads without being seen, or show as blank:
/// Unicode format characters (bidirectional marks, overrides and isolates, zero-width ones,
/// tags), variation selectors, fillers and blank look-alikes, and line separators.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
        | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// §7.1: a short plain-text message shown on both devices, which the user compares: nothing in
/// it may be invisible or reorder what is shown.
fn binding_message(text: Option<&str>) -> Result<Option<String>, Error> {
    let Some(text) = text else { return Ok(None) };
    let plain = !text.trim().is_empty() && !text.chars().any(|c| c.is_control() || invisible(c));
    if text.chars().count() > ciba::MAX_BINDING_MESSAGE_CHARS || !plain {
        return Err(Error::oauth(
            ErrorCode::InvalidBindingMessage,
            format!(
                "binding_message must be plain text of at most {} characters",
                ciba::MAX_BINDING_MESSAGE_CHARS
            ),
        ));
    }
    Ok(Some(text.to_string()))
}

/// §7.1: exactly one of `login_hint` (an email, or Auth0's
/// `{"format":"iss_sub","iss":…,"sub":…}`), `id_token_hint` (an ID token this server issued to
/// this client) and `login_hint_token` (a JWT the client signs: [`login_hint_token`]).
async fn hinted_user<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    params: &Params,
    client: &ClientRecord,
) -> Result<UserRecord, Error> {
    let hints =
        (params.get("login_hint")?, params.get("id_token_hint")?, params.get("login_hint_token")?);
    let user_id = match hints {
        (Some(hint), None, None) => match hint.trim_start().starts_with('{') {
            true => {
                let value: Value = serde_json::from_str(hint)
                    .map_err(|_| Error::invalid_request("login_hint is not valid JSON"))?;
                if value["format"] != "iss_sub" {
                    return Err(Error::invalid_request("login_hint: the JSON format is iss_sub"));
                }
                subject(host, issuer, &value, "login_hint").await?
            }
            false => {
                subject(host, issuer, &json!({"format": "email", "email": hint}), "login_hint")
                    .await?
            }
        },
        (None, Some(token), None) => {
            // ID tokens are `typ: JWT`; an access token (`at+jwt`) is no hint.
            let claims = tokens::verify_own_jwt(host, config, issuer, token, Some("JWT"), false)
                .await
                .map_err(|_| {
                    Error::invalid_request("id_token_hint is not an ID token from this server")
                })?;
            let for_client = match claims.get("aud") {
                Some(Value::String(a)) => a == client.client_id.as_str(),
                Some(Value::Array(list)) => {
                    list.iter().any(|a| a.as_str() == Some(client.client_id.as_str()))
                }
                _ => false,
            };
            if !for_client {
                return Err(Error::invalid_request(
                    "id_token_hint is not an ID token issued to this client",
                ));
            }
            claims.get("sub").and_then(Value::as_str).ok_or_else(unknown_user)?.to_string()
        }
        (None, None, Some(token)) => login_hint_token(host, issuer, client, token).await?,
        (None, None, None) => {
            return Err(Error::invalid_request(
                "one hint is required: login_hint, id_token_hint or login_hint_token",
            ))
        }
        _ => return Err(Error::invalid_request("send exactly one hint (CIBA Core §7.1)")),
    };
    records::user(host.store(), &user_id).await?.ok_or_else(unknown_user)
}

/// A subject identifier (RFC 9493 §3): `email`, or `iss_sub` with this issuer; the user's id.
async fn subject<H: Host>(host: &H, issuer: &str, id: &Value, hint: &str) -> Result<String, Error> {
    match id["format"].as_str() {
        Some("email") => {
            let email = id["email"].as_str().unwrap_or("");
            Ok(records::user_by_email(host.store(), email)
                .await?
                .map(|u| u.user_id)
                .ok_or_else(unknown_user)?)
        }
        Some("iss_sub") => {
            let (Some(iss), Some(sub)) = (id["iss"].as_str(), id["sub"].as_str()) else {
                return Err(Error::invalid_request(format!("{hint}: iss_sub needs iss and sub")));
            };
            if iss.trim_end_matches('/') != issuer.trim_end_matches('/') {
                return Err(unknown_user());
            }
            Ok(sub.to_string())
        }
        _ => Err(Error::invalid_request(format!(
            "{hint}: the subject identifier's format must be email or iss_sub (RFC 9493)"
        ))),
    }
}

/// CIBA Core §7.1 leaves the `login_hint_token`'s format to the deployment. Here it is a JWT
/// the client signs with one of its registered keys (RS256, ES256 or PS256; `typ` absent or
/// `JWT`), checked as its other signed JWTs are (`client_auth::verify_client_jwt`: `aud` this
/// issuer or this endpoint, `exp` at most an hour ahead, a `jti` used once), with `iss` the
/// client and the user in `sub_id`, an RFC 9493 subject identifier (`email` or `iss_sub`). An
/// expired one is `expired_login_hint_token` (§13).
async fn login_hint_token<H: Host>(
    host: &H,
    issuer: &str,
    client: &ClientRecord,
    token: &str,
) -> Result<String, Error> {
    let invalid = |d: &str| Error::invalid_request(format!("login_hint_token: {d}"));
    let jws = Jws::parse(token, &Algorithm::CLIENT_SIGNED)
        .map_err(|_| invalid("not a JWT signed with RS256, ES256 or PS256"))?;
    if !jws.typ_is_absent_or(&["jwt"]) {
        return Err(invalid("typ must be absent or JWT"));
    }
    let claims = crate::jose::json::parse_object(&jws.payload)
        .ok_or_else(|| invalid("the payload is not a JSON object"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(invalid("iss must be the client_id"));
    }
    if claims.get("exp").and_then(Value::as_i64).is_some_and(|exp| exp <= host.clock().now()) {
        return Err(Error::oauth(
            ErrorCode::ExpiredLoginHintToken,
            "the login_hint_token has expired",
        ));
    }
    let sub_id = claims.get("sub_id").cloned().ok_or_else(|| invalid("sub_id is required"))?;
    let audiences = [issuer.to_string(), endpoint_url(issuer, "bc-authorize")];
    client_auth::verify_client_jwt(host, client, jws, &claims, &audiences, |d| {
        Error::invalid_request(format!("login_hint_token: {d}"))
    })
    .await?;
    subject(host, issuer, &sub_id, "login_hint_token").await
}

/// The operator's webhook for a new request: the request as JSON, and the same JSON as the
/// payload of a JWS signed with the server's current ES256 key (`Gatehouse-Signature`), which
/// the receiver checks against the JWKS and the `iss`.
async fn webhook<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    created: &ciba::Created,
) -> Result<Option<Request>, Error> {
    let Some(settings) = records::ciba_settings(host.store()).await? else { return Ok(None) };
    let record = &created.record;
    let body = json!({
        "iss": issuer,
        "iat": host.clock().now(),
        "exp": record.expires_at,
        "auth_req_id": created.auth_req_id,
        "user_id": record.user_id,
        "client_id": client.client_id.as_str(),
        "client_name": client.name,
        "binding_message": record.binding_message,
        "scope": record.requested.scope.to_string(),
        "approve_url": format!("{}?request={}", endpoint_url(issuer, "approve"), created.request_id),
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?;
    let signature = keys::sign(host, config, Algorithm::ES256, Some(WEBHOOK_TYP), &bytes).await?;
    Ok(crate::notify::json_post(&settings.notify_url, None, bytes)
        .map(|r| r.with_header("gatehouse-signature", &signature)))
}
