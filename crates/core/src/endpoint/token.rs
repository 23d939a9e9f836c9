//! `POST /oauth/token` (RFC 6749 §3.2): grants `authorization_code` (§4.1.3) and
//! `refresh_token` (§6). Responses are never cached (§5.1).

use serde_json::{Map, Value};

use crate::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
use crate::client_auth;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::grant;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::records::{self, ApiRecord, ClientRecord};
use crate::tokens::{self, GrantContext};

fn invalid_grant(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidGrant, description)
}

pub async fn token<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    // Auth0's SDKs may send JSON; RFC 6749 clients send a form.
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let grant_type = params.require("grant_type")?.to_string();
    let client =
        client_auth::authenticate(host, config, req, &params, &issuer, "oauth/token").await?;
    match grant_type.as_str() {
        "authorization_code" | "refresh_token" if !client.allows_grant(&grant_type) => Err(
            Error::oauth(ErrorCode::UnauthorizedClient, "the client may not use this grant type"),
        ),
        "authorization_code" => authorization_code(host, config, &issuer, &client, &params).await,
        "refresh_token" => refresh_token(host, config, &issuer, &client, &params).await,
        _ => Err(Error::oauth(ErrorCode::UnsupportedGrantType, "unsupported grant_type")),
    }
}

async fn api_of<H: Host>(host: &H, audience: Option<&str>) -> Result<Option<ApiRecord>, Error> {
    match audience {
        Some(a) => Ok(Some(
            records::api(host.store(), a)
                .await?
                .ok_or_else(|| invalid_grant("the API no longer exists"))?,
        )),
        None => Ok(None),
    }
}

async fn respond<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    ctx: &GrantContext<'_>,
    refresh_token: Option<String>,
) -> Result<Response, Error> {
    let (access_token, expires_in) = tokens::access_token(host, config, issuer, ctx).await?;
    let mut body = Map::new();
    if ctx.scope.iter().any(|s| s == "openid") {
        body.insert(
            "id_token".into(),
            tokens::id_token(host, config, issuer, ctx, &access_token).await?.into(),
        );
    }
    body.insert("access_token".into(), access_token.into());
    body.insert("token_type".into(), "Bearer".into());
    body.insert("expires_in".into(), expires_in.into());
    body.insert("scope".into(), ctx.scope.join(" ").into());
    if let Some(rt) = refresh_token {
        body.insert("refresh_token".into(), rt.into());
    }
    Ok(Response::json_no_store(200, &Value::Object(body)))
}

/// RFC 6749 §4.1.3, RFC 7636 §4.6.
async fn authorization_code<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    params: &Params,
) -> Result<Response, Error> {
    let code = params.require("code")?;
    let verifier = params.get("code_verifier")?;
    let redirect_uri = params.get("redirect_uri")?;
    // Check everything before the code is used: a code presented by the wrong party (another
    // client, a wrong verifier) is refused without being burned for its rightful client.
    let presented = grant::peek_code(host, code).await?;
    let record = &presented.record;
    if record.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if record.redirect_uri_given && redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (&record.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let verifier = PkceCodeVerifier::parse(verifier)
                .ok_or_else(|| invalid_grant("code_verifier is malformed"))?;
            let challenge = PkceCodeChallenge::parse(challenge, Some("S256"))
                .map_err(|_| Error::Internal("stored challenge".into()))?;
            if !challenge.verify(&verifier) {
                return Err(invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(invalid_grant("no code_challenge was sent with the authorization request"))
        }
        (None, None) => {}
    }
    let user = grant::user_of(host, &record.user_id).await?;
    let api = api_of(host, record.audience.as_deref()).await?;
    grant::consume_code(host, &presented).await?;
    let refresh = if record.scope.iter().any(|s| s == "offline_access") {
        Some(grant::start_refresh(host, record).await?)
    } else {
        None
    };
    let ctx = GrantContext {
        grant_id: &record.grant_id,
        client,
        user: &user,
        scope: &record.scope,
        api: api.as_ref(),
        nonce: record.nonce.as_deref(),
        auth_time: record.auth_time,
    };
    respond(host, config, issuer, &ctx, refresh).await
}

/// RFC 6749 §6: rotate the refresh token; a narrower `scope` may be asked for. A `redirect_uri`
/// is ignored (Auth0's SDKs send one).
async fn refresh_token<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    params: &Params,
) -> Result<Response, Error> {
    let presented = params.require("refresh_token")?;
    let requested = crate::authorization::request::parse_scope(params.get("scope")?)?;
    // Look up what the new tokens need before rotating, so a failure here leaves the presented
    // token current instead of rotating it into a response that never arrives.
    let (_, current) = grant::refresh_grant_id(presented)
        .map(|id| grant::grant(host, id))
        .ok_or_else(|| invalid_grant("the refresh token is invalid, expired or revoked"))?
        .await?
        .ok_or_else(|| invalid_grant("the refresh token is invalid, expired or revoked"))?;
    let user = grant::user_of(host, &current.user_id).await?;
    let api = api_of(host, current.audience.as_deref()).await?;
    let wider = || Error::oauth(ErrorCode::InvalidScope, "the requested scope exceeds the grant");
    let (record, next) = grant::rotate_refresh(
        host,
        &client.client_id,
        presented,
        config.refresh_reuse_interval_seconds,
        |g| {
            if requested.iter().all(|s| g.scope.contains(s)) {
                Ok(())
            } else {
                Err(wider())
            }
        },
    )
    .await?;
    let scope: Vec<String> = if requested.is_empty() { record.scope.clone() } else { requested };
    let ctx = GrantContext {
        grant_id: &record.grant_id,
        client,
        user: &user,
        scope: &scope,
        api: api.as_ref(),
        nonce: None,
        auth_time: record.auth_time,
    };
    respond(host, config, issuer, &ctx, Some(next)).await
}
