//! Logout: `/oidc/logout` (OpenID Connect RP-Initiated Logout 1.0) and `/v2/logout` (Auth0).
//! Both end the session; they send the user back only to a URL the client registered.

use serde_json::Value;

use crate::authorization::session;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::http::params::{encode, Params};
use crate::http::{Request, Response};
use crate::pages;
use crate::ports::Host;
use crate::records::{self, ClientRecord};
use crate::secret::constant_time_eq;
use crate::tokens;

fn refuse(description: &str) -> Error {
    Error::Page { code: ErrorCode::InvalidRequest, description: description.into() }
}

fn params_of(req: &Request) -> Result<Params, Error> {
    let query = Params::from_query(req).map_err(|_| refuse("malformed logout request"))?;
    if req.method == "POST" {
        let body = Params::from_body(req, false).map_err(|_| refuse("malformed logout request"))?;
        return Ok(body.merge(query));
    }
    Ok(query)
}

async fn client_of<H: Host>(host: &H, id: &str) -> Result<ClientRecord, Error> {
    records::client(host.store(), id).await?.ok_or_else(|| refuse("unknown client"))
}

/// The anti-CSRF value of the logout confirmation: a hash of the session cookie, which a
/// cross-site page cannot read.
fn confirmation(session_id: &str) -> String {
    crate::b64::sha256(format!("logout:{session_id}"))
}

fn allowed(client: &ClientRecord, url: &str) -> bool {
    client.allowed_logout_urls.iter().any(|u| u == url)
}

async fn finish<H: Host>(host: &H, req: &Request, to: Option<String>) -> Result<Response, Error> {
    let cookie = session::end(host, req).await?;
    let response = match to {
        Some(location) => Response::redirect(302, &location),
        None => pages::logged_out_page(),
    };
    Ok(response.with_header("set-cookie", &cookie))
}

/// The `sub` and client of an `id_token_hint`, or `None` if it is not an ID token this server
/// issued. §2: an expired one is still a good hint. Other JWTs this issuer signs (RFC 9068 access
/// tokens, RFC 8414 `signed_metadata`) are not: `typ` is `JWT`, and the claims are an ID token's
/// (OIDC Core §2; Gatehouse's carry `azp` = `aud` = the client_id).
async fn id_token_hint<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    hint: &str,
) -> Result<Option<(String, String)>, Error> {
    let claims = match tokens::verify_own_jwt(host, config, issuer, hint, Some("JWT"), false).await
    {
        Ok(claims) => claims,
        Err(Error::Bearer { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let sub = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty());
    let aud = claims.get("aud").and_then(Value::as_str).filter(|a| !a.is_empty());
    let azp = claims.get("azp").and_then(Value::as_str);
    let iat = claims.get("iat").is_some_and(Value::is_number);
    match (sub, aud) {
        (Some(sub), Some(aud)) if azp == Some(aud) && iat => {
            Ok(Some((sub.to_string(), aud.to_string())))
        }
        _ => Ok(None),
    }
}

/// `GET|POST /oidc/logout`: `id_token_hint`, `client_id`, `post_logout_redirect_uri`, `state`.
pub async fn oidc_logout<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let params = params_of(req)?;
    let issuer = config.issuer_for(req);
    let mut hint_sub: Option<String> = None;
    let mut client_id =
        params.get("client_id").map_err(|_| refuse("client_id is repeated"))?.map(str::to_string);
    if let Some(hint) =
        params.get("id_token_hint").map_err(|_| refuse("id_token_hint is repeated"))?
    {
        let (sub, aud) = id_token_hint(host, config, &issuer, hint)
            .await?
            .ok_or_else(|| refuse("id_token_hint is not an ID token this server issued"))?;
        if client_id.as_ref().is_some_and(|c| *c != aud) {
            return Err(refuse("client_id does not match id_token_hint"));
        }
        client_id = Some(aud);
        hint_sub = Some(sub);
    }
    let redirect = params
        .get("post_logout_redirect_uri")
        .map_err(|_| refuse("post_logout_redirect_uri is repeated"))?;
    if let Some(redirect) = redirect {
        let id = client_id
            .as_deref()
            .ok_or_else(|| refuse("post_logout_redirect_uri needs id_token_hint or client_id"))?;
        if !allowed(&client_of(host, id).await?, redirect) {
            return Err(refuse("post_logout_redirect_uri is not registered for this client"));
        }
    }
    // §2, §6: unless the ID token hint names the logged-in user, the request may not come from
    // the user's RP (anyone can send someone else's, or their own, hint): ask the user first
    // (a form bound to the session) before ending a live session.
    let current = session::current(host, req).await?;
    let hinted = current.as_ref().is_some_and(|s| hint_sub.as_deref() == Some(s.user_id.as_str()));
    let live = !hinted && current.is_some();
    let session_id = req.cookie(session::cookie_name(req)).filter(|_| live);
    if let Some(session_id) = session_id {
        let expected = confirmation(session_id);
        let confirmed = params
            .get("confirm")
            .ok()
            .flatten()
            .is_some_and(|c| constant_time_eq(c.as_bytes(), expected.as_bytes()));
        if !(req.method == "POST" && confirmed) {
            let mut fields: Vec<(&str, &str)> = vec![("confirm", expected.as_str())];
            // The hint goes along: it may be what names the client of post_logout_redirect_uri.
            for name in ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"] {
                if let Some(v) = params.get(name).ok().flatten() {
                    fields.push((name, v));
                }
            }
            return Ok(pages::logout_confirm_page(
                &fields,
                &redirect.map(crate::http::origin_of).unwrap_or_default(),
            ));
        }
    }
    let Some(redirect) = redirect else { return finish(host, req, None).await };
    let location = match params.get("state").map_err(|_| refuse("state is repeated"))? {
        Some(state) => format!(
            "{redirect}{}{}",
            if redirect.contains('?') { '&' } else { '?' },
            encode([("state", state)])
        ),
        None => redirect.to_string(),
    };
    finish(host, req, Some(location)).await
}

/// `GET /v2/logout?client_id=…&returnTo=…` (Auth0): `returnTo` must be one of the client's
/// allowed logout URLs.
pub async fn auth0_logout<H: Host>(host: &H, req: &Request) -> Result<Response, Error> {
    let params = params_of(req)?;
    let return_to = params.get("returnTo").map_err(|_| refuse("returnTo is repeated"))?;
    let Some(return_to) = return_to else { return finish(host, req, None).await };
    let client_id = params
        .get("client_id")
        .map_err(|_| refuse("client_id is repeated"))?
        .ok_or_else(|| refuse("returnTo needs client_id"))?;
    let client = client_of(host, client_id).await?;
    if !allowed(&client, return_to) {
        return Err(refuse("returnTo is not an allowed logout URL for this client"));
    }
    finish(host, req, Some(return_to.to_string())).await
}
