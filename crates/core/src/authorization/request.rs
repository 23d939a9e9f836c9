//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), checked one rule at a time
//! and kept in the store while the user logs in and consents.

use serde::{Deserialize, Serialize};

use crate::authorization::pkce::PkceCodeChallenge;
use crate::error::{Error, ErrorCode};
use crate::http::params::{encode, Params};
use crate::http::Response;
use crate::ports::{Host, Store, UnixTime};
use crate::records::{self, ApiRecord, ClientRecord};

/// How long a pending authorization request waits for the user.
pub const PENDING_SECONDS: u64 = 600;

/// The OpenID Connect scopes Gatehouse understands (OIDC Core §5.4, §11).
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// RFC 6749 §4.1.2 / OAuth 2.0 Multiple Response Type Encoding Practices §2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    Fragment,
}

/// A validated, pending authorization request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub v: u32,
    pub id: String,
    /// Anti-CSRF token for the login and consent forms.
    pub csrf: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// RFC 6749 §4.1.3: if `redirect_uri` was in the request, the token request must repeat it.
    pub redirect_uri_given: bool,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scope: Vec<String>,
    /// The API (audience / RFC 8707 resource) the access token is for.
    pub audience: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub created_at: UnixTime,
    /// Who entered their password during this request (satisfies `prompt=login` and `max_age`,
    /// but only for that same user's session).
    pub login_user: Option<String>,
    /// Who allowed the consent page during this request (satisfies `prompt=consent`, again only
    /// for that user).
    pub consent_user: Option<String>,
    /// Whether this request was read from the store (and so must be deleted when done).
    #[serde(skip)]
    pub stored: bool,
}

pub fn store_key(id: &str) -> String {
    format!("authreq/{id}")
}

impl AuthRequest {
    pub async fn save(&self, store: &impl Store) -> Result<(), Error> {
        store.put(&store_key(&self.id), &records::to_json(self)?, Some(PENDING_SECONDS)).await?;
        Ok(())
    }

    pub async fn load(store: &impl Store, id: &str, now: UnixTime) -> Result<Option<Self>, Error> {
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let found: Option<AuthRequest> = records::read(store, &store_key(id)).await.unwrap_or(None);
        Ok(found
            .filter(|r| r.created_at + PENDING_SECONDS as i64 > now)
            .map(|r| AuthRequest { stored: true, ..r }))
    }
}

// ---- the checks, in the order /authorize applies them ----------------------------------------

/// The client must be registered; otherwise there is no one to redirect to (a page).
pub async fn check_client<H: Host>(host: &H, params: &Params) -> Result<ClientRecord, Error> {
    let page = |d: &str| Error::Page { code: ErrorCode::InvalidRequest, description: d.into() };
    let id = params.get("client_id").map_err(|_| page("client_id is repeated"))?;
    let id = id.ok_or_else(|| page("client_id is missing"))?;
    records::client(host.store(), id).await?.ok_or_else(|| Error::Page {
        code: ErrorCode::InvalidClient,
        description: "unknown client".into(),
    })
}

/// `redirect_uri` must exactly equal a registered one (RFC 6749 §3.1.2.3, RFC 9700 §2.1); it may
/// be left out only when exactly one is registered. Failures are pages, never redirects.
pub fn check_redirect_uri(client: &ClientRecord, params: &Params) -> Result<(String, bool), Error> {
    let page = |d: &str| Error::Page { code: ErrorCode::InvalidRequest, description: d.into() };
    match params.get("redirect_uri").map_err(|_| page("redirect_uri is repeated"))? {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => Ok((uri.to_string(), true)),
        Some(_) => Err(page("redirect_uri is not registered for this client")),
        None if client.redirect_uris.len() == 1 => Ok((client.redirect_uris[0].clone(), false)),
        None => Err(page("redirect_uri is missing")),
    }
}

/// `response_mode`: `query` (the default for `code`) or `fragment`.
pub fn check_response_mode(params: &Params) -> Result<ResponseMode, Error> {
    match params.get("response_mode")? {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("fragment") => Ok(ResponseMode::Fragment),
        Some(_) => Err(Error::invalid_request("unsupported response_mode")),
    }
}

/// Only the authorization code flow is served (RFC 6749 §4.1.1).
pub fn check_response_type(params: &Params) -> Result<(), Error> {
    match params.get("response_type")? {
        Some("code") => Ok(()),
        Some(_) => Err(Error::oauth(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
        None => Err(Error::invalid_request("response_type is required")),
    }
}

/// Request objects are not supported yet (OIDC Core §6: request_not_supported).
pub fn check_request_objects(params: &Params) -> Result<(), Error> {
    if params.contains("request") {
        return Err(Error::oauth(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.contains("request_uri") {
        return Err(Error::oauth(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    Ok(())
}

/// RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E, separated by spaces.
pub fn parse_scope(scope: Option<&str>) -> Result<Vec<String>, Error> {
    let mut scopes: Vec<String> = Vec::new();
    for token in scope.unwrap_or("").split(' ').filter(|t| !t.is_empty()) {
        if !token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(Error::oauth(
                ErrorCode::InvalidScope,
                "scope contains characters RFC 6749 §3.3 forbids",
            ));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_string());
        }
    }
    Ok(scopes)
}

/// The API the access token is for: Auth0's `audience`, or RFC 8707 `resource` (one only).
pub async fn check_audience<H: Host>(
    host: &H,
    params: &Params,
) -> Result<Option<ApiRecord>, Error> {
    let audience = params.get("audience")?;
    let resources = params.all("resource");
    let target = match (audience, resources.as_slice()) {
        (None, []) => return Ok(None),
        (Some(a), []) => a,
        (None, [r]) => r,
        (Some(a), [r]) if a == *r => a,
        _ => {
            return Err(Error::oauth(ErrorCode::InvalidTarget, "request one audience or resource"))
        }
    };
    // RFC 8707 §2: an absolute URI without a fragment.
    if target.contains('#') || !target.contains(':') {
        return Err(Error::oauth(
            ErrorCode::InvalidTarget,
            "the resource must be an absolute URI without fragment",
        ));
    }
    records::api(host.store(), target)
        .await?
        .map(Some)
        .ok_or_else(|| Error::oauth(ErrorCode::InvalidTarget, "unknown audience"))
}

/// Keeps the scopes Gatehouse can grant: OIDC scopes, and the API's own. Unknown scopes are
/// dropped (as Auth0 does); `offline_access` needs a client allowed refresh tokens and an API
/// that allows them.
pub fn grantable_scopes(
    requested: &[String],
    client: &ClientRecord,
    api: Option<&ApiRecord>,
) -> Vec<String> {
    requested
        .iter()
        .filter(|s| match s.as_str() {
            "offline_access" => {
                client.allows_grant("refresh_token") && api.is_none_or(|a| a.allow_offline_access)
            }
            s if OIDC_SCOPES.contains(&s) => true,
            s => api.is_some_and(|a| a.scopes.iter().any(|d| d.value == s)),
        })
        .cloned()
        .collect()
}

/// PKCE (RFC 7636): S256 REQUIRED for public clients, accepted from confidential ones.
pub fn check_pkce(params: &Params, client: &ClientRecord) -> Result<Option<String>, Error> {
    match params.get("code_challenge")? {
        Some(challenge) => {
            PkceCodeChallenge::parse(challenge, params.get("code_challenge_method")?)
                .map(|c| Some(c.as_str().to_string()))
                .map_err(Error::invalid_request)
        }
        None if client.is_public() => {
            Err(Error::invalid_request("public clients must use PKCE (code_challenge, S256)"))
        }
        None if params.contains("code_challenge_method") => {
            Err(Error::invalid_request("code_challenge is missing"))
        }
        None => Ok(None),
    }
}

/// `prompt` (OIDC Core §3.1.2.1): `none` must stand alone.
pub fn check_prompt(params: &Params) -> Result<Vec<String>, Error> {
    let prompt: Vec<String> = params
        .get("prompt")?
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    for p in &prompt {
        if !matches!(p.as_str(), "none" | "login" | "consent" | "select_account") {
            return Err(Error::invalid_request("unsupported prompt value"));
        }
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(Error::invalid_request("prompt=none cannot be combined with other values"));
    }
    Ok(prompt)
}

/// `max_age`: a non-negative number of seconds.
pub fn check_max_age(params: &Params) -> Result<Option<i64>, Error> {
    match params.get("max_age")? {
        None => Ok(None),
        Some(text) => text
            .parse::<u32>()
            .map(|n| Some(i64::from(n)))
            .map_err(|_| Error::invalid_request("max_age must be a non-negative integer")),
    }
}

/// A short text parameter echoed back or stored (`state`, `nonce`, `login_hint`).
pub fn check_text(params: &Params, name: &str, max: usize) -> Result<Option<String>, Error> {
    match params.get(name)? {
        Some(v) if v.len() > max => Err(Error::invalid_request(format!("{name} is too long"))),
        v => Ok(v.map(str::to_string)),
    }
}

/// The authorization response, sent to the registered redirect URI, always with `iss`
/// (RFC 9207 §2).
pub fn respond(
    redirect_uri: &str,
    mode: ResponseMode,
    issuer: &str,
    state: Option<&str>,
    pairs: &[(&str, &str)],
) -> Response {
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    all.push(("iss", issuer));
    let encoded = encode(all);
    let location = match mode {
        ResponseMode::Query if redirect_uri.contains('?') => format!("{redirect_uri}&{encoded}"),
        ResponseMode::Query => format!("{redirect_uri}?{encoded}"),
        ResponseMode::Fragment => format!("{redirect_uri}#{encoded}"),
    };
    Response::redirect(302, &location)
}

/// An error sent back to the client (RFC 6749 §4.1.2.1).
pub fn respond_error(
    redirect_uri: &str,
    mode: ResponseMode,
    issuer: &str,
    state: Option<&str>,
    error: &Error,
) -> Response {
    let description = match error {
        Error::OAuth { description, .. } => description.as_str(),
        _ => "the request could not be completed",
    };
    respond(
        redirect_uri,
        mode,
        issuer,
        state,
        &[("error", error.code().as_str()), ("error_description", description)],
    )
}
