//! `POST /oauth/introspect` (RFC 7662). Callers authenticate as confidential clients. Anything
//! unknown, expired, revoked or malformed is `{"active": false}` (§2.2); a refresh token is
//! described only to the client it was issued to, and third-party clients learn only about
//! their own access tokens (§4).

use serde_json::{json, Map, Value};

use crate::client_auth;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::grant::refresh_token::{current_refresh_grant, refresh_grant_id};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::tokens;

pub async fn introspect<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let params = Params::from_body(req, false)?;
    let issuer = config.issuer_for(req);
    // The caller's deletion is asked in the same ledger read as the token's revocations
    // (`tokens::check_standing`) or its refresh grant (`current_refresh_grant`), or on its
    // own for a token that is neither.
    let caller = client_auth::authenticate_unconfirmed(host, config, req, &params, &issuer).await?;
    if caller.is_public() {
        return Err(Error::oauth(
            ErrorCode::InvalidClient,
            "introspection requires a confidential client",
        ));
    }
    let token = match params.require("token") {
        Ok(token) => token,
        // A deleted caller hears that first (RFC 7592 §2.3), whatever else is wrong.
        Err(e) => {
            caller.confirm(host).await?;
            return Err(e);
        }
    };
    let inactive = || Ok(Response::json_no_store(200, &json!({ "active": false })));
    if refresh_grant_id(token).is_some() {
        let (record, caller_deleted) =
            current_refresh_grant(host, token, caller.client_id()).await?;
        let client = caller.confirmed(caller_deleted)?;
        let Some(record) = record else { return inactive() };
        let authorization = &record.authorization;
        if authorization.client_id != client.client_id {
            return inactive();
        }
        let mut body = json!({
            "active": true,
            "client_id": authorization.client_id,
            "sub": authorization.user_id(),
            "scope": authorization.scope.to_string(),
            "exp": record.expires_at,
            "iss": issuer,
        });
        if !authorization.details.is_empty() {
            body["authorization_details"] = json!(authorization.details);
        }
        // RFC 9449 §6.2: a refresh token bound to a DPoP key says so.
        if let Some(jkt) = &authorization.jkt {
            body["cnf"] = json!({ "jkt": jkt });
        }
        return Ok(Response::json_no_store(200, &body));
    }
    let Ok(claims) = tokens::verify_access_jwt(host, config, &issuer, token, None).await else {
        caller.confirm(host).await?;
        return inactive();
    };
    let standing = tokens::check_standing(host, &claims, Some(caller.client_id())).await?;
    let client = caller.confirmed(standing.caller_deleted)?;
    if standing.revoked() {
        return inactive();
    }
    // RFC 7662 §4: a third-party client learns about its own tokens only; first-party
    // confidential clients (the operator's resource servers) about any.
    let own = claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str());
    if !own && !client.is_first_party {
        return inactive();
    }
    let mut body = Map::new();
    body.insert("active".into(), true.into());
    // §2.2: token_type is the RFC 6749 §7.1 access token type (a refresh token has none):
    // DPoP for a token bound to a key, whose `cnf` is shown too (RFC 9449 §6.2).
    let token_type = match claims.get("cnf") {
        Some(cnf) => {
            body.insert("cnf".into(), cnf.clone());
            crate::vocabulary::TokenType::DPoP
        }
        None => crate::vocabulary::TokenType::Bearer,
    };
    body.insert("token_type".into(), token_type.as_str().into());
    // RFC 9396 §9.2: authorization_details too.
    for name in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
        "auth_time",
        "authorization_details",
    ] {
        if let Some(v) = claims.get(name) {
            body.insert(name.into(), v.clone());
        }
    }
    Ok(Response::json_no_store(200, &Value::Object(body)))
}
