//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
//! OIDC Core §9, RFC 7523 §2.2 / §3): `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` and `none`. The method the client registered is the only one it may use.
//! Every failure is `invalid_client` (401, with `WWW-Authenticate`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::config::{endpoint_url, Config};
use crate::error::{Error, ErrorCode};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::jose::jwk::JwkSet;
use crate::jose::jws::Jws;
use crate::jose::Algorithm;
use crate::ports::{Clock, Host, HttpClient, Ledger, Store};
use crate::records::{self, client_secret_digest, ClientRecord};
use crate::secret::constant_time_eq;
use crate::vocabulary::{AuthMethod, GrantType};

/// RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A JWT a client signs (an assertion, a request object) may not claim to live longer than
/// this (FAPI 2.0 Message Signing: at most 60 minutes).
const MAX_CLIENT_JWT_SECONDS: i64 = 3_600;
/// How far in the future `nbf` and `iat` may lie (clock skew).
const SKEW_SECONDS: i64 = 60;
/// How long a fetched `jwks_uri` is cached.
const JWKS_CACHE_SECONDS: u64 = 300;
/// A client's `jwks_uri` is fetched at most once per window of this many seconds.
const JWKS_FETCH_WINDOW_SECONDS: i64 = 60;

fn invalid_client(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidClient, description)
}

/// Splits `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub(crate) fn basic_credentials(request: &Request) -> Result<Option<(String, String)>, Error> {
    let Some(header) = request.header("authorization") else { return Ok(None) };
    let Some((scheme, value)) = header.split_once(' ') else {
        return Err(invalid_client("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded =
        STANDARD.decode(value.trim()).map_err(|_| invalid_client("malformed Basic credentials"))?;
    let text =
        String::from_utf8(decoded).map_err(|_| invalid_client("malformed Basic credentials"))?;
    let (id, secret) =
        text.split_once(':').ok_or_else(|| invalid_client("malformed Basic credentials"))?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// A client that proved who it is, before the ledger was asked whether it was deleted (RFC
/// 7592 §2.3: a deleted client is refused everywhere at once, even where KV still has it). Its
/// record is reached only through [`Unconfirmed::confirm`] (one ledger read), or
/// [`Unconfirmed::confirmed`] when the endpoint asked in a read it makes anyway
/// (`grant::standing`'s `caller`), saving the round trip.
#[derive(Debug)]
pub struct Unconfirmed(ClientRecord);

impl Unconfirmed {
    pub fn client_id(&self) -> &str {
        self.0.client_id.as_str()
    }

    /// Asks the ledger.
    pub async fn confirm<H: Host>(self, host: &H) -> Result<ClientRecord, Error> {
        let deleted = crate::grant::is_client_revoked(host, self.client_id()).await?;
        self.confirmed(deleted)
    }

    /// Whether it is a public client (refused by some endpoints before anything is asked).
    pub fn is_public(&self) -> bool {
        self.0.is_public()
    }

    /// The record, with the question handed to a [`crate::grant::ClientCheck`] that the
    /// caller must settle before issuing anything (the token endpoint).
    pub fn pending(self) -> (ClientRecord, crate::grant::ClientCheck) {
        let check = crate::grant::ClientCheck::new(self.0.client_id.clone());
        (self.0, check)
    }

    /// With the answer the ledger gave for [`Unconfirmed::client_id`] (read along with
    /// something else: `grant::standing`'s `caller`).
    pub(crate) fn confirmed(self, deleted: bool) -> Result<ClientRecord, Error> {
        if deleted {
            return Err(invalid_client("client authentication failed"));
        }
        Ok(self.0)
    }
}

/// Authenticates the client of a token, revocation or introspection request.
pub async fn authenticate<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
    params: &Params,
    issuer: &str,
) -> Result<ClientRecord, Error> {
    authenticate_unconfirmed(host, config, request, params, issuer).await?.confirm(host).await
}

/// [`authenticate`], but the ledger is not asked yet whether the client was deleted: the
/// caller must (see [`Unconfirmed`]).
pub async fn authenticate_unconfirmed<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
    params: &Params,
    issuer: &str,
) -> Result<Unconfirmed, Error> {
    let basic = basic_credentials(request)?;
    let assertion_type = params.get("client_assertion_type")?;
    let assertion = params.get("client_assertion")?;
    let post_secret = params.get("client_secret")?;
    let body_id = params.get("client_id")?;
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    let methods = usize::from(basic.is_some())
        + usize::from(assertion.is_some())
        + usize::from(post_secret.is_some());
    if methods > 1 {
        return Err(invalid_client("use exactly one client authentication method"));
    }
    if let Some((id, secret)) = basic {
        if body_id.is_some_and(|b| b != id) {
            return Err(invalid_client("client_id does not match the credentials"));
        }
        let client = load(host, &id).await?;
        return check_secret(client, AuthMethod::ClientSecretBasic, &secret).map(Unconfirmed);
    }
    if let Some(secret) = post_secret {
        let id = body_id.ok_or_else(|| invalid_client("client_id is required"))?;
        let client = load(host, id).await?;
        return check_secret(client, AuthMethod::ClientSecretPost, secret).map(Unconfirmed);
    }
    if let Some(assertion) = assertion {
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(invalid_client("unsupported client_assertion_type"));
        }
        return private_key_jwt(host, config, assertion, body_id, issuer).await.map(Unconfirmed);
    }
    let id = body_id.ok_or_else(|| invalid_client("client authentication is required"))?;
    let client = load(host, id).await?;
    if client.token_endpoint_auth_method != AuthMethod::None {
        return Err(invalid_client("this client must authenticate"));
    }
    Ok(Unconfirmed(client))
}

/// RFC 6749 §5.2: `unauthorized_client` for a grant type the client's `grant_types` lacks.
pub fn check_grant(client: &ClientRecord, grant_type: GrantType) -> Result<(), Error> {
    if !client.allows_grant(grant_type) {
        return Err(Error::oauth(
            ErrorCode::UnauthorizedClient,
            "the client may not use this grant type",
        ));
    }
    Ok(())
}

/// [`authenticate`], then [`check_grant`]: for the endpoints that start a grant (the device
/// authorization endpoint; next, backchannel authentication and PAR).
pub async fn authenticate_for<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
    params: &Params,
    issuer: &str,
    grant_type: GrantType,
) -> Result<ClientRecord, Error> {
    let client = authenticate(host, config, request, params, issuer).await?;
    check_grant(&client, grant_type)?;
    Ok(client)
}

/// The client's record (an isolate's copy may answer: `records::TENANT_ISOLATE_CACHE_SECONDS`;
/// its deletion is [`Unconfirmed`]'s to check).
async fn load<H: Host>(host: &H, client_id: &str) -> Result<ClientRecord, Error> {
    records::client_cached(host.store(), client_id)
        .await?
        .ok_or_else(|| invalid_client("client authentication failed"))
}

fn check_secret(
    client: ClientRecord,
    method: AuthMethod,
    secret: &str,
) -> Result<ClientRecord, Error> {
    let expected = client.client_secret_sha256.as_deref().unwrap_or("");
    let matches = constant_time_eq(client_secret_digest(secret).as_bytes(), expected.as_bytes());
    if !matches || client.token_endpoint_auth_method != method {
        return Err(invalid_client("client authentication failed"));
    }
    Ok(client)
}

/// RFC 7523 §3 / OIDC Core §9: a JWT signed with one of the client's registered keys.
async fn private_key_jwt<H: Host>(
    host: &H,
    _config: &Config,
    assertion: &str,
    body_id: Option<&str>,
    issuer: &str,
) -> Result<ClientRecord, Error> {
    let jws = Jws::parse(assertion, &Algorithm::CLIENT_SIGNED)
        .map_err(|_| invalid_client("the client assertion is malformed"))?;
    // These are the claims the signature covers: `verify` checks it over this same payload.
    let claims = crate::jose::json::parse_object(&jws.payload)
        .ok_or_else(|| invalid_client("the client assertion is malformed"))?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    // RFC 7523 §3: iss and sub are both the client_id.
    if iss.is_empty() || iss != sub || body_id.is_some_and(|b| b != iss) {
        return Err(invalid_client("the client assertion's iss and sub must be the client_id"));
    }
    // Not another JWT the client signs for us: a request object (RFC 9101 §10.8 types it;
    // one that is untyped still carries response_type) travels through browsers, and must
    // never authenticate the client.
    let typ_ok = jws.typ_is_absent_or(&["jwt", "client-authentication+jwt"]);
    if !typ_ok || claims.contains_key("response_type") {
        return Err(invalid_client("the client assertion is not a client authentication JWT"));
    }
    let client = load(host, iss).await?;
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(invalid_client("client authentication failed"));
    }
    // aud: the issuer identifier as a single string (draft-ietf-oauth-rfc7523bis §4, against
    // audience injection); the token endpoint still, for clients written to OIDC Core §9, and
    // the PAR endpoint (RFC 9126 §2) and the backchannel authentication endpoint (CIBA Core
    // §7.1).
    let audiences = [
        issuer.to_string(),
        endpoint_url(issuer, "oauth/token"),
        endpoint_url(issuer, "oauth/par"),
        endpoint_url(issuer, "bc-authorize"),
    ];
    verify_client_jwt(host, &client, jws, &claims, &audiences, invalid_client).await?;
    Ok(client)
}

/// The checks every JWT a client signs for us shares (client assertions, RFC 7523 §3; request
/// objects, RFC 9101 §4, §10): `aud` one of `audiences` (a single string), `exp` ahead and at
/// most an hour away, `nbf` / `iat` numbers not in the future, a `jti`, a signature by one of
/// the client's keys, and then the `jti` used once on the ledger, in one namespace for every
/// kind (one signed JWT is accepted once, anywhere). Every claim is checked before the
/// signature, so a JWT that would fail anyway never makes us fetch the client's `jwks_uri`.
/// The caller has checked `iss` and `typ`; failures are `error(description)`.
pub(crate) async fn verify_client_jwt<H: Host>(
    host: &H,
    client: &ClientRecord,
    jws: Jws,
    claims: &Map<String, Value>,
    audiences: &[String],
    error: fn(&str) -> Error,
) -> Result<(), Error> {
    let aud_ok =
        claims.get("aud").and_then(Value::as_str).is_some_and(|a| audiences.iter().any(|x| x == a));
    if !aud_ok {
        return Err(error("the JWT's aud does not name this server"));
    }
    let now = host.clock().now();
    let exp =
        claims.get("exp").and_then(Value::as_i64).ok_or_else(|| error("the JWT needs exp"))?;
    if exp <= now {
        return Err(error("the JWT has expired"));
    }
    if exp > now + MAX_CLIENT_JWT_SECONDS {
        return Err(error("the JWT lives too long (exp at most an hour ahead)"));
    }
    for claim in ["nbf", "iat"] {
        match claims.get(claim).map(Value::as_i64) {
            None => {}
            Some(Some(t)) if t <= now + SKEW_SECONDS => {}
            Some(Some(_)) => return Err(error("the JWT is not valid yet")),
            Some(None) => return Err(error("the JWT's nbf and iat must be numbers")),
        }
    }
    let jti = claims.get("jti").and_then(Value::as_str).filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or_else(|| error("the JWT needs a jti"))?;
    let keys = client_keys(host, client, jws.kid()).await.map_err(|e| match e {
        Error::OAuth { description, .. } => error(&description),
        other => other,
    })?;
    jws.verify(host.crypto(), &keys.keys).await.map_err(|e| match e {
        crate::jose::jws::JwsError::Port(p) => Error::Port(p),
        _ => error("the JWT's signature does not verify"),
    })?;
    // RFC 7523 §3 item 7, RFC 9101 §10.2: used once, until it would expire anyway.
    let key = format!("jti:{}:{}", client.client_id, crate::b64::sha256(jti));
    if !host.ledger().consume_once(&key, now, exp).await? {
        return Err(error("the JWT was already used"));
    }
    Ok(())
}

/// Where a client's fetched `jwks_uri` is cached.
pub fn jwks_cache_key(client_id: &str) -> String {
    format!("jwks-cache/{client_id}")
}

/// The client's verification keys: inline `jwks`, or `jwks_uri` (cached for a few minutes,
/// and fetched again when `kid` is not among the cached keys). Failures are `invalid_client`.
pub(crate) async fn client_keys<H: Host>(
    host: &H,
    client: &ClientRecord,
    kid: Option<&str>,
) -> Result<JwkSet, Error> {
    if let Some(jwks) = &client.jwks {
        return Ok(jwks.clone());
    }
    let uri = client.jwks_uri.as_deref().ok_or_else(|| invalid_client("the client has no keys"))?;
    let cache_key = jwks_cache_key(client.client_id.as_str());
    let cached = host.store().get(&cache_key).await?.and_then(|bytes| JwkSet::parse(&bytes));
    let has_kid =
        |set: &JwkSet| kid.is_none_or(|kid| set.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
    if let Some(set) = cached.as_ref().filter(|set| has_kid(set)) {
        return Ok(set.clone());
    }
    // A cold cache, or an unknown kid: the client may have rotated its keys (OIDC Core
    // §10.1.1). Made-up kids must not make us flood its jwks_uri: one fetch per window.
    let now = host.clock().now();
    let window = now / JWKS_FETCH_WINDOW_SECONDS;
    let window_key = format!("rate:jwks-fetch:{}:{window}", client.client_id);
    let window_end = (window + 1) * JWKS_FETCH_WINDOW_SECONDS;
    if host.ledger().increment(&window_key, now, window_end).await? > 1 {
        return cached.ok_or_else(|| invalid_client("the client's keys are not available yet"));
    }
    let request = Request::from_url("GET", uri)
        .ok_or_else(|| invalid_client("the client's jwks_uri is invalid"))?
        .with_header("accept", "application/json");
    let response: Response = host.http().fetch(request).await.map_err(|e| {
        host.log(&format!("jwks_uri of {}: {e}", client.client_id));
        invalid_client("the client's jwks_uri could not be fetched")
    })?;
    if response.status != 200 || response.body.len() > 64 * 1024 {
        return Err(invalid_client("the client's jwks_uri could not be fetched"));
    }
    let set = JwkSet::parse(&response.body)
        .ok_or_else(|| invalid_client("the client's jwks_uri is not a JWK Set"))?;
    host.store().put(&cache_key, &response.body, Some(JWKS_CACHE_SECONDS)).await?;
    Ok(set)
}
