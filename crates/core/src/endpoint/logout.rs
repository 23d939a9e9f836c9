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
        // §2: the hint was issued by us; an expired one is still a good hint.
        let claims = tokens::verify_own_jwt(host, config, &issuer, hint, None, false)
            .await
            .map_err(|_| refuse("id_token_hint is not an ID token this server issued"))?;
        let aud = match claims.get("aud") {
            Some(Value::String(a)) => a.clone(),
            Some(Value::Array(list)) => {
                list.first().and_then(Value::as_str).unwrap_or("").to_string()
            }
            _ => String::new(),
        };
        if client_id.as_ref().is_some_and(|c| *c != aud) {
            return Err(refuse("client_id does not match id_token_hint"));
        }
        client_id = Some(aud);
        hint_sub = claims.get("sub").and_then(Value::as_str).map(str::to_string);
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
            for name in ["client_id", "post_logout_redirect_uri", "state"] {
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
