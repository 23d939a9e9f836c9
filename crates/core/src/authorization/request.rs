//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), checked one rule at a time
//! and kept in the store while the user logs in and consents.

use serde::{Deserialize, Serialize};

use crate::authorization::details;
use crate::authorization::interaction::Completion;
use crate::authorization::pkce::PkceCodeChallenge;
use crate::error::{absent_if_unreadable, Error, ErrorCode};
use crate::grant::Authorization;
use crate::http::params::Params;
use crate::ports::{random_bytes, Clock, Host, Store, UnixTime};
use crate::records::{self, ApiRecord, ClientRecord};
use crate::vocabulary::{ClientId, GrantType, Prompt, ResponseMode, ResponseType, Scopes};

/// How long a pending authorization request waits for the user.
pub const PENDING_SECONDS: u64 = 600;

/// The OpenID Connect scopes Gatehouse understands (OIDC Core §5.4, §11).
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A validated authorization request, pending while the user logs in and consents: what is
/// asked (which [`AuthRequest::authorization`] turns into the one [`Authorization`] value once
/// a user approves), how the interaction goes (`prompt`, `max_age`, `login_hint`), and how it
/// completes ([`Completion`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub v: u32,
    pub id: String,
    /// Anti-CSRF token for the login and consent forms.
    pub csrf: String,
    /// What is asked: the one authorization value, with no user until one approves it.
    pub requested: Authorization,
    pub prompt: Vec<Prompt>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub created_at: UnixTime,
    /// Who entered their password during this request (satisfies `prompt=login` and `max_age`,
    /// but only for that same user's session).
    pub login_user: Option<String>,
    /// Who allowed the consent page during this request (satisfies `prompt=consent`, again only
    /// for that user).
    pub consent_user: Option<String>,
    /// How the request completes once the user has approved (or refused) it.
    pub completion: Completion,
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

    /// A pending request by id; `None` when unknown, expired, or written by an older version.
    pub async fn load(store: &impl Store, id: &str, now: UnixTime) -> Result<Option<Self>, Error> {
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let found: Option<AuthRequest> =
            absent_if_unreadable(records::read(store, &store_key(id)).await)?;
        Ok(found
            .filter(|r| r.created_at + PENDING_SECONDS as i64 > now)
            .map(|r| AuthRequest { stored: true, ..r }))
    }

    /// A new pending request (fresh id and CSRF token), with no prompt, `max_age` or hint.
    pub fn new<H: Host>(host: &H, requested: Authorization, completion: Completion) -> Self {
        Self {
            v: 3,
            id: crate::b64::encode(random_bytes::<18>(host.rng())),
            csrf: crate::b64::encode(random_bytes::<18>(host.rng())),
            requested,
            prompt: Vec::new(),
            max_age: None,
            login_hint: None,
            created_at: host.clock().now(),
            login_user: None,
            consent_user: None,
            completion,
            stored: false,
        }
    }

    pub fn client_id(&self) -> &ClientId {
        &self.requested.client_id
    }

    pub fn has_prompt(&self, prompt: Prompt) -> bool {
        self.prompt.contains(&prompt)
    }

    /// What `user_id` authorized by approving this request.
    pub fn authorization(&self, user_id: &str, auth_time: UnixTime) -> Authorization {
        self.requested.clone().approved_by(user_id, auth_time)
    }
}

// ---- the checks, in the order /authorize applies them ----------------------------------------

/// The client must be registered; otherwise there is no one to redirect to (a page).
pub async fn check_client<H: Host>(host: &H, params: &Params) -> Result<ClientRecord, Error> {
    let page = |d: &str| Error::Page { code: ErrorCode::InvalidRequest, description: d.into() };
    let id = params.get("client_id").map_err(|_| page("client_id is repeated"))?;
    let id = id.ok_or_else(|| page("client_id is missing"))?;
    let unknown =
        || Error::Page { code: ErrorCode::InvalidClient, description: "unknown client".into() };
    let client = records::client(host.store(), id).await?.ok_or_else(unknown)?;
    // A deleted client is refused at once (the ledger), even where KV still has it.
    if crate::grant::is_client_revoked(host, id).await? {
        return Err(unknown());
    }
    Ok(client)
}

/// `redirect_uri` must exactly equal a registered one (RFC 6749 §3.1.2.3, RFC 9700 §2.1),
/// except that a loopback IP redirect URI may use any port (RFC 8252 §7.3). It may be left out
/// only when exactly one is registered and the request is not an OpenID request (OIDC Core
/// §3.1.2.1 makes it REQUIRED there). Failures are pages, never redirects.
pub fn check_redirect_uri(client: &ClientRecord, params: &Params) -> Result<(String, bool), Error> {
    let page = |d: &str| Error::Page { code: ErrorCode::InvalidRequest, description: d.into() };
    match params.get("redirect_uri").map_err(|_| page("redirect_uri is repeated"))? {
        Some(uri) if client.redirect_uris.iter().any(|r| redirect_uri_matches(r, uri)) => {
            Ok((uri.to_string(), true))
        }
        Some(_) => Err(page("redirect_uri is not registered for this client")),
        None if openid_requested(params) => {
            Err(page("redirect_uri is required in OpenID Connect requests"))
        }
        None if client.redirect_uris.len() == 1 => Ok((client.redirect_uris[0].clone(), false)),
        None => Err(page("redirect_uri is missing")),
    }
}

pub(crate) fn openid_requested(params: &Params) -> bool {
    params.get("scope").ok().flatten().is_some_and(|s| s.split(' ').any(|t| t == "openid"))
}

/// Exact match, or (RFC 8252 §7.3) the same loopback IP redirect URI on another port.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let loopback_ip = |u: &url::Url| match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    let (Ok(mut registered), Ok(mut presented_url)) =
        (url::Url::parse(registered), url::Url::parse(presented))
    else {
        return false;
    };
    // Only http loopback IP literals, and only a presented URI already in the exact form it is
    // echoed in (so normalization cannot smuggle anything past the comparison).
    if registered.scheme() != "http"
        || !loopback_ip(&registered)
        || presented_url.as_str() != presented
    {
        return false;
    }
    if registered.set_port(None).is_err() || presented_url.set_port(None).is_err() {
        return false;
    }
    registered == presented_url
}

/// `response_mode`, or the response type's default.
pub fn check_response_mode(params: &Params, default: ResponseMode) -> Result<ResponseMode, Error> {
    match params.get("response_mode")? {
        None => Ok(default),
        Some(mode) => ResponseMode::parse(mode)
            .ok_or_else(|| Error::invalid_request("unsupported response_mode")),
    }
}

/// `response_type` (RFC 6749 §3.1.1): one of [`ResponseType::SUPPORTED`].
pub fn check_response_type(params: &Params) -> Result<ResponseType, Error> {
    match params.get("response_type")? {
        Some(text) => ResponseType::parse_set(text).ok_or_else(|| {
            Error::oauth(ErrorCode::UnsupportedResponseType, "unsupported response_type")
        }),
        None => Err(Error::invalid_request("response_type is required")),
    }
}

/// What is left once `authorization::intake` has taken a pushed request and unpacked a
/// request object: a `request_uri` that is a URL, which is not fetched
/// (RFC 9101 §5.2, OIDC Core §6.2: request_uri_not_supported).
pub fn check_request_objects(params: &Params) -> Result<(), Error> {
    if params.contains("request_uri") {
        return Err(Error::oauth(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported (push the request to /oauth/par instead)",
        ));
    }
    Ok(())
}

/// `scope` (RFC 6749 §3.3).
pub fn parse_scope(scope: Option<&str>) -> Result<Scopes, Error> {
    Scopes::parse(scope).map_err(|_| {
        Error::oauth(ErrorCode::InvalidScope, "scope contains characters RFC 6749 §3.3 forbids")
    })
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
    // RFC 8707 §2: a `resource` is an absolute URI without a fragment (Auth0's `audience` may
    // be any identifier the operator chose).
    if !resources.is_empty() && (target.contains('#') || !target.contains(':')) {
        return Err(Error::oauth(
            ErrorCode::InvalidTarget,
            "the resource must be an absolute URI without fragment",
        ));
    }
    records::api_cached(host.store(), target)
        .await?
        .map(Some)
        .ok_or_else(|| Error::oauth(ErrorCode::InvalidTarget, "unknown audience"))
}

/// What a client asks for with these parameters (`scope`, `audience` / `resource`): the one
/// [`Authorization`] value, with no user yet, `grant_type` saying how it is being asked. Shared
/// by `/authorize`, the device authorization endpoint and the password grant.
pub async fn requested_authorization<H: Host>(
    host: &H,
    params: &Params,
    client: &ClientRecord,
    grant_type: GrantType,
) -> Result<Authorization, Error> {
    Ok(requested_with_api(host, params, client, grant_type).await?.0)
}

/// [`requested_authorization`], and the API it names (loaded once, for the caller's rules).
pub async fn requested_with_api<H: Host>(
    host: &H,
    params: &Params,
    client: &ClientRecord,
    grant_type: GrantType,
) -> Result<(Authorization, Option<ApiRecord>), Error> {
    let scope = parse_scope(params.get("scope")?)?;
    let api = check_audience(host, params).await?;
    let mut requested = Authorization::requested(
        client.client_id.clone(),
        grantable_scopes(&scope, client, api.as_ref()),
    );
    // RFC 9396 §2: checked against the API's declared types; only where the user sees them on
    // a consent page before approving (RFC 9396 §12), never with the password grant.
    let shown_to_the_user = matches!(
        grant_type,
        GrantType::AuthorizationCode
            | GrantType::Implicit
            | GrantType::DeviceCode
            | GrantType::Ciba
    );
    let text = params.get("authorization_details")?;
    if text.is_some() && !shown_to_the_user {
        return Err(details::invalid("authorization_details needs the user's consent page"));
    }
    requested.details = details::parse(text, api.as_ref(), client)?;
    requested.audience = api.as_ref().map(|a| a.identifier.clone());
    requested.grant_type = Some(grant_type);
    Ok((requested, api))
}

/// RFC 9449 §10: `dpop_jkt` binds the code to the client's DPoP key (the token request must
/// prove it); an access token from the authorization endpoint could not be bound, so it is
/// refused with response types that return one, as are such response types for an API that
/// requires DPoP.
pub fn check_dpop_jkt(
    params: &Params,
    response_type: ResponseType,
    api: Option<&ApiRecord>,
) -> Result<Option<String>, Error> {
    let jkt = params.get("dpop_jkt")?;
    if jkt.is_some() && !response_type.has_code() {
        return Err(Error::invalid_request("dpop_jkt binds a code: ask for one"));
    }
    if response_type.has_token() {
        if jkt.is_some() {
            return Err(Error::invalid_request("dpop_jkt binds a code, not an access token"));
        }
        if api.is_some_and(|a| a.require_dpop) {
            return Err(Error::invalid_request("this API accepts DPoP-bound tokens only"));
        }
    }
    match jkt {
        None => Ok(None),
        // A SHA-256 JWK thumbprint (RFC 7638), base64url.
        Some(j) if j.len() == 43 && crate::b64::decode(j).is_some_and(|b| b.len() == 32) => {
            Ok(Some(j.to_string()))
        }
        Some(_) => Err(Error::invalid_request("dpop_jkt is not a JWK SHA-256 thumbprint")),
    }
}

/// Keeps the scopes Gatehouse can grant: OIDC scopes, and the API's own. Unknown scopes are
/// dropped (as Auth0 does); `offline_access` needs a client allowed refresh tokens and an API
/// that allows them.
pub fn grantable_scopes(
    requested: &Scopes,
    client: &ClientRecord,
    api: Option<&ApiRecord>,
) -> Scopes {
    requested.filter(|s| match s {
        "offline_access" => {
            client.allows_grant(GrantType::RefreshToken)
                && api.is_none_or(|a| a.allow_offline_access)
        }
        s if OIDC_SCOPES.contains(&s) => true,
        s => api.is_some_and(|a| a.scopes.iter().any(|d| d.value == s)),
    })
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
pub fn check_prompt(params: &Params) -> Result<Vec<Prompt>, Error> {
    let mut prompts = Vec::new();
    for p in params.get("prompt")?.unwrap_or("").split(' ').filter(|p| !p.is_empty()) {
        let prompt =
            Prompt::parse(p).ok_or_else(|| Error::invalid_request("unsupported prompt value"))?;
        if !prompts.contains(&prompt) {
            prompts.push(prompt);
        }
    }
    if prompts.contains(&Prompt::None) && prompts.len() > 1 {
        return Err(Error::invalid_request("prompt=none cannot be combined with other values"));
    }
    Ok(prompts)
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
        // Control characters would not survive every response mode unchanged (a form post
        // turns a newline into CR LF), so the client would not get back what it sent.
        Some(v) if v.chars().any(char::is_control) => {
            Err(Error::invalid_request(format!("{name} contains control characters")))
        }
        v => Ok(v.map(str::to_string)),
    }
}
