//! `GET|POST /userinfo` (OIDC Core §5.3), a protected resource (RFC 6750).

use serde_json::Value;

use crate::config::Config;
use crate::dpop;
use crate::error::{Error, ErrorCode};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::records;
use crate::tokens;

/// The bearer token: `Authorization: Bearer` (RFC 6750 §2.1) or a form body `access_token`
/// (§2.2), never both (§2).
pub fn bearer_token(req: &Request) -> Result<Option<String>, Error> {
    let header = req.bearer().map_err(|()| Error::Bearer {
        code: ErrorCode::InvalidRequest,
        description: "malformed Authorization header".into(),
    })?;
    let body = if req.method == "POST" && req.media_type() == "application/x-www-form-urlencoded" {
        Params::parse(&req.body)?.get("access_token")?.map(str::to_string)
    } else {
        None
    };
    match (header, body) {
        (Some(_), Some(_)) => Err(Error::Bearer {
            code: ErrorCode::InvalidRequest,
            description: "send the token one way only".into(),
        }),
        (h, b) => Ok(h.map(str::to_string).or(b)),
    }
}

pub async fn userinfo<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    // RFC 9449 §7.1: a DPoP-bound token comes with the DPoP scheme and a proof; its errors
    // challenge with DPoP.
    let dpop_scheme = req.dpop_token().map(str::to_string);
    let challenge = |e: Error| match (&dpop_scheme, e) {
        (Some(_), Error::Bearer { code, description } | Error::OAuth { code, description }) => {
            Error::Dpop { code, description }
        }
        (_, Error::UseDpopNonce { nonce, .. }) => Error::UseDpopNonce { nonce, resource: true },
        (_, e) => e,
    };
    let response = answer(host, config, req, dpop_scheme.as_deref()).await.map_err(challenge)?;
    Ok(dpop::with_next_nonce(host, config, req, response).await)
}

async fn answer<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    dpop_scheme: Option<&str>,
) -> Result<Response, Error> {
    let token = match dpop_scheme {
        Some(token) => token.to_string(),
        None => bearer_token(req)?.ok_or(Error::BearerMissing)?,
    };
    let issuer = config.issuer_for(req);
    let url = tokens::userinfo_url(&issuer);
    let claims = tokens::verify_access_token(host, config, &issuer, &token, Some(&url)).await?;
    let invalid_token =
        |d: &str| Error::Bearer { code: ErrorCode::InvalidToken, description: d.into() };
    let bound = claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str);
    match (bound, dpop_scheme) {
        (Some(jkt), Some(_)) => {
            let proof = dpop::proof(host, config, req, &url, Some(&token))
                .await?
                .ok_or_else(|| dpop::invalid("a DPoP proof is required"))?;
            if proof.jkt != jkt {
                return Err(invalid_token("the token is bound to another DPoP key"));
            }
        }
        // §7.2: challenged with DPoP, the scheme it must come with.
        (Some(_), None) => {
            return Err(Error::Dpop {
                code: ErrorCode::InvalidToken,
                description: "a DPoP-bound token must be sent with the DPoP scheme".into(),
            })
        }
        (None, Some(_)) => return Err(invalid_token("the token is not DPoP-bound")),
        (None, None) => {}
    }
    let scope = tokens::scopes_of(&claims);
    if !scope.iter().any(|s| s == "openid") {
        return Err(Error::Bearer {
            code: ErrorCode::InsufficientScope,
            description: "the token lacks the openid scope".into(),
        });
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let user = records::user_cached(host.store(), sub).await?.ok_or_else(|| Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: "the user no longer exists".into(),
    })?;
    Ok(Response::json(200, &Value::Object(tokens::user_claims(&user, &scope)))
        .with_header("cache-control", "no-store"))
}
