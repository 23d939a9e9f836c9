//! "SPAs with cookies" (Auth0's pattern for same-site SPAs): the Worker runs the authorization
//! code flow itself (PKCE, as a registered client), keeps the tokens in its storage, and gives
//! the browser only an `HttpOnly`, `SameSite=Lax` session cookie (`Secure` and `__Host-` on
//! https). Endpoints:
//!
//! - `GET /bff/login?returnTo=…` starts the flow; `GET /bff/callback` finishes it;
//! - `GET /bff/session` says who is logged in (never a token);
//! - `POST /bff/logout` ends the cookie session and the login at this server, revokes the
//!   refresh token, and answers where to go next (an allowed `returnTo`) — never a token;
//! - `/bff/api/*` forwards to the configured API with the access token, refreshed as needed.
//!
//! CSRF: every call except the two navigations must carry the `Gatehouse-CSRF: 1` header; a
//! cross-site page can only add it through a CORS preflight, which answers for the client's
//! registered web origins alone (with credentials).
//!
//! Sessions live on the ledger (strongly consistent) as [`LedgerRecord`]s: a refresh is done by
//! one request at a time (a lock on the refresh token, released when it fails), the others wait
//! for its result with backoff, and the session is replaced by compare-and-set, so concurrent
//! API calls never present a rotated refresh token (which would revoke the grant).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use gatehouse_protocol::authorize::AuthorizationRequest;

use crate::authorization::pkce::PkceCodeVerifier;
use crate::authorization::session::set_cookie;
use crate::b64;
use crate::config::{endpoint_url, BffConfig, Config};
use crate::endpoint::token;
use crate::error::{absent_if_unreadable, Error, ErrorCode};
use crate::grant::{self, refresh_token::refresh_grant_id};
use crate::http::params::{encode, Params};
use crate::http::{Request, Response};
use crate::ledger_record::{self, LedgerRecord, State, Step};
use crate::ports::{random_bytes, Clock, Host, HttpClient, Ledger, Store};
use crate::records::{self, ClientRecord};
use crate::tokens::user_claims_keys;

/// The header that state-changing and data calls must carry.
pub const CSRF_HEADER: &str = "gatehouse-csrf";
/// How long a cookie session lasts (the refresh token's lifetime bounds it anyway).
const SESSION_SECONDS: i64 = grant::REFRESH_SECONDS;
const TX_SECONDS: u64 = 600;
/// How long one request may hold a session's refresh (a crashed holder blocks no longer).
const REFRESH_LOCK_SECONDS: i64 = 30;
/// A waiter's backoff while another request refreshes: these delays, then it gives up.
const REFRESH_WAIT_MILLIS: [u64; 7] = [25, 50, 100, 200, 400, 800, 1600];

#[derive(Clone, Serialize, Deserialize)]
struct Transaction {
    verifier: String,
    nonce: String,
    return_to: String,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("verifier", &"[redacted]")
            .field("return_to", &self.return_to)
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Session {
    v: u32,
    user: Map<String, Value>,
    access_token: String,
    expires_at: i64,
    refresh_token: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A session on the ledger: its sealed text while live; ended by logout or a lost grant.
type SessionEntry = LedgerRecord<String, ()>;

fn session_cookie(req: &Request) -> &'static str {
    if req.is_https() {
        "__Host-gatehouse_bff"
    } else {
        "gatehouse_bff"
    }
}

fn tx_cookie(req: &Request) -> &'static str {
    if req.is_https() {
        "__Host-gatehouse_bff_tx"
    } else {
        "gatehouse_bff_tx"
    }
}

fn digest(text: &str) -> String {
    b64::sha256(text)
}

fn session_key(id: &str) -> String {
    format!("bffsess:{}", digest(id))
}

fn unauthorized() -> Error {
    Error::oauth(ErrorCode::LoginRequired, "no cookie session")
}

/// The origin a browser call comes from, if the BFF client lists it.
fn allowed_origin(req: &Request, client: &ClientRecord) -> Option<String> {
    let origin = req.header("origin")?;
    client.web_origins.iter().any(|o| o == origin).then(|| origin.to_string())
}

/// Credentialed CORS for the client's web origins.
fn with_cors(mut response: Response, origin: Option<&str>) -> Response {
    if let Some(origin) = origin {
        response.set_header("access-control-allow-origin", origin);
        response.set_header("access-control-allow-credentials", "true");
        response.headers.push(("vary".into(), "Origin".into()));
    }
    response
}

/// A `returnTo` the client allows: an absolute http(s) URL on one of its web origins, returned
/// normalized (so nothing unencodable reaches a `Location` header).
fn check_return_to(client: &ClientRecord, return_to: &str) -> Result<String, Error> {
    let refuse = || Error::Page {
        code: ErrorCode::InvalidRequest,
        description: "returnTo is not on an allowed web origin".into(),
    };
    let url = url::Url::parse(return_to).map_err(|_| refuse())?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || !client.web_origins.contains(&origin) {
        return Err(refuse());
    }
    Ok(url.as_str().to_string())
}

/// Runs the core's own token endpoint for the BFF client (a public client: the Worker holds
/// the PKCE verifier and the tokens). A refusal keeps its OAuth error code.
async fn token_call<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    pairs: &[(&str, &str)],
) -> Result<Value, Error> {
    let mut internal = Request::from_url("POST", &format!("{}/oauth/token", req.origin))
        .ok_or_else(|| Error::Internal("bad origin".into()))?
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(encode(pairs.iter().copied()));
    internal.headers.push(("cf-connecting-ip".into(), req.client_ip().to_string()));
    let refused = |code: ErrorCode| {
        host.log(&format!("bff token call failed: {}", code.as_str()));
        // A lost grant ends the session; any other refusal is the server's problem, not the
        // browser's: it may try again.
        let code = match code {
            ErrorCode::InvalidGrant => ErrorCode::InvalidGrant,
            _ => ErrorCode::TemporarilyUnavailable,
        };
        Err(Error::oauth(code, "the token request failed"))
    };
    match token::token(host, config, &internal).await {
        Ok(response) if response.status == 200 => {
            response.json_body().ok_or_else(|| Error::Internal("token response".into()))
        }
        // The token endpoint returns its refusals as errors; a non-200 answer is not expected.
        Ok(response) => {
            Err(Error::Internal(format!("token endpoint answered {}", response.status)))
        }
        Err(Error::OAuth { code, .. }) => refused(code),
        Err(e) => Err(e),
    }
}

/// The claims of the ID token in a token response (it comes straight from our own token
/// endpoint, so its signature needs no check here).
fn id_token_claims(body: &Value) -> Map<String, Value> {
    body["id_token"]
        .as_str()
        .and_then(|t| t.split('.').nth(1))
        .and_then(b64::decode)
        .and_then(|p| crate::jose::json::parse_object(&p))
        .unwrap_or_default()
}

fn session_from(body: &Value, previous: Option<&Session>, now: i64) -> Result<Session, Error> {
    let access_token = body["access_token"]
        .as_str()
        .ok_or_else(|| Error::Internal("no access token".into()))?
        .to_string();
    let user = match body["id_token"].as_str() {
        Some(_) => {
            let mut claims = id_token_claims(body);
            claims.retain(|k, _| user_claims_keys().contains(&k.as_str()));
            claims
        }
        None => previous.map(|p| p.user.clone()).unwrap_or_default(),
    };
    Ok(Session {
        v: 1,
        user,
        access_token,
        expires_at: now + body["expires_in"].as_i64().unwrap_or(0),
        refresh_token: body["refresh_token"]
            .as_str()
            .map(str::to_string)
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
    })
}

/// A session as stored on the ledger: sealed (tokens at rest are encrypted), bound to its key.
async fn seal<H: Host>(
    host: &H,
    config: &Config,
    key: &str,
    session: &Session,
) -> Result<String, Error> {
    let plain = serde_json::to_vec(session).map_err(|e| Error::Internal(e.to_string()))?;
    crate::seal::seal(host, config, key, &plain).await
}

async fn open<H: Host>(
    host: &H,
    config: &Config,
    key: &str,
    text: &str,
) -> Result<Option<Session>, Error> {
    let plain = crate::seal::open(host, config, key, text).await?;
    Ok(plain.and_then(|p| serde_json::from_slice(p.expose()).ok()))
}

/// The request's live session: its ledger record (for compare-and-set) and what it holds.
async fn load_session<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Option<(SessionEntry, Session)>, Error> {
    let Some(id) = req.cookie(session_cookie(req)).filter(|id| id.len() == 43) else {
        return Ok(None);
    };
    let key = session_key(id);
    // A record written by an older version does not parse: the browser logs in again.
    let entry: Option<SessionEntry> = absent_if_unreadable(ledger_record::load(host, &key).await)?;
    let Some(entry) = entry else { return Ok(None) };
    let Some(sealed) = entry.live() else { return Ok(None) };
    Ok(open(host, config, &key, sealed).await?.map(|s| (entry, s)))
}

/// Ends a session: its grant is revoked and its record ended.
async fn end_session<H: Host>(
    host: &H,
    entry: &SessionEntry,
    session: &Session,
) -> Result<(), Error> {
    if let Some(grant_id) = session.refresh_token.as_deref().and_then(refresh_grant_id) {
        grant::revoke_grant(host, grant_id).await?;
    }
    // A refresh may have replaced the record since it was read: end whatever is live now.
    let keep = host.clock().now() + 3600;
    ledger_record::update::<_, String, (), ()>(host, entry.key(), |state| match state {
        Some(State::Live(_)) => (Step::End((), keep), ()),
        _ => (Step::Keep, ()),
    })
    .await
}

/// `/bff/*`.
pub async fn handle<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let bff = config.bff.as_ref().ok_or(Error::NotFound)?;
    let client = records::client(host.store(), &bff.client_id)
        .await?
        .ok_or(Error::Misconfigured("BFF_CLIENT_ID names no registered client"))?;
    let origin = allowed_origin(req, &client);
    let sub = req.path.strip_prefix("/bff/").unwrap_or("");
    if req.method == "OPTIONS" {
        let response = Response::new(204)
            .with_header("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE")
            .with_header("access-control-allow-headers", "Content-Type, Gatehouse-CSRF")
            .with_header("access-control-max-age", "600");
        return Ok(with_cors(response, origin.as_deref()));
    }
    let result = match (req.method.as_str(), sub) {
        ("GET", "login") => return login(host, config, bff, &client, req).await,
        ("GET", "callback") => return callback(host, config, &client, req).await,
        (_, "login" | "callback") => Err(Error::MethodNotAllowed { allow: "GET" }),
        // Everything else is a browser API call: CSRF header required.
        _ if req.header(CSRF_HEADER) != Some("1") => {
            Err(Error::oauth(ErrorCode::AccessDenied, "the Gatehouse-CSRF: 1 header is required"))
        }
        ("GET", "session") => session(host, config, req).await,
        ("POST", "logout") => logout(host, config, &client, req).await,
        (_, path) if path.starts_with("api/") || path == "api" => {
            proxy(host, config, bff, req, &path[3..]).await
        }
        _ => Err(Error::NotFound),
    };
    let response = result.unwrap_or_else(|e| e.respond(host, req));
    Ok(with_cors(response, origin.as_deref()))
}

async fn login<H: Host>(
    host: &H,
    config: &Config,
    bff: &BffConfig,
    client: &ClientRecord,
    req: &Request,
) -> Result<Response, Error> {
    let params = Params::from_query(req)?;
    let return_to = params
        .get("returnTo")?
        .map(str::to_string)
        .or_else(|| client.web_origins.first().map(|o| format!("{o}/")));
    let return_to = return_to.ok_or_else(|| Error::invalid_request("returnTo is required"))?;
    let return_to = check_return_to(client, &return_to)?;
    let verifier = PkceCodeVerifier::new_random(host.rng());
    let state = b64::encode(random_bytes::<24>(host.rng()));
    let nonce = b64::encode(random_bytes::<24>(host.rng()));
    let tx =
        Transaction { verifier: verifier.secret().to_string(), nonce: nonce.clone(), return_to };
    host.store()
        .put(&format!("bff-tx/{}", digest(&state)), &records::to_json(&tx)?, Some(TX_SECONDS))
        .await?;
    let issuer = config.issuer_for(req);
    let challenge = verifier.challenge();
    let request = AuthorizationRequest {
        endpoint: "/authorize",
        client_id: &bff.client_id,
        redirect_uri: &endpoint_url(&issuer, "bff/callback"),
        scope: &bff.scope,
        state: &state,
        nonce: &nonce,
        code_challenge: challenge.as_str(),
    };
    let audience = bff.audience.as_deref().map(|a| ("audience", a));
    let location = request.url(audience.as_slice());
    Ok(Response::redirect(302, &location)
        .with_header("set-cookie", &set_cookie(req, tx_cookie(req), &state, TX_SECONDS as i64)))
}

async fn callback<H: Host>(
    host: &H,
    config: &Config,
    client: &ClientRecord,
    req: &Request,
) -> Result<Response, Error> {
    let page = |d: &str| Error::Page { code: ErrorCode::InvalidRequest, description: d.into() };
    let params = Params::from_query(req).map_err(|_| page("malformed callback"))?;
    let state = params.get("state").ok().flatten().ok_or_else(|| page("state is missing"))?;
    // The flow belongs to this browser: its transaction cookie names the same state.
    if req.cookie(tx_cookie(req)) != Some(state) {
        return Err(page("this login was not started in this browser"));
    }
    let tx_key = format!("bff-tx/{}", digest(state));
    let tx: Transaction = records::read(host.store(), &tx_key)
        .await?
        .ok_or_else(|| page("this login has expired"))?;
    host.store().delete(&tx_key).await?;
    // RFC 9207 §2.4: this server advertises iss on responses, so it must be there and match.
    let issuer = config.issuer_for(req);
    if params.get("iss").ok().flatten() != Some(issuer.as_str()) {
        return Err(page("the response does not come from this issuer"));
    }
    let clear_tx = set_cookie(req, tx_cookie(req), "", 0);
    if let Some(error) = params.get("error").ok().flatten() {
        let sep = if tx.return_to.contains('?') { '&' } else { '?' };
        let to = format!("{}{sep}{}", tx.return_to, encode([("error", error)]));
        return Ok(Response::redirect(303, &to).with_header("set-cookie", &clear_tx));
    }
    let code = params.get("code").ok().flatten().ok_or_else(|| page("code is missing"))?;
    let redirect_uri = endpoint_url(&issuer, "bff/callback");
    let body = token_call(
        host,
        config,
        req,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client.client_id.as_str()),
            ("code", code),
            ("code_verifier", &tx.verifier),
            ("redirect_uri", &redirect_uri),
        ],
    )
    .await?;
    // Our own token endpoint answered, but the nonce still ties the ID token to this flow.
    if id_token_claims(&body).get("nonce").and_then(Value::as_str) != Some(tx.nonce.as_str()) {
        return Err(page("the ID token's nonce does not match"));
    }
    // A new login replaces the browser's previous session (and ends its grant).
    if let Some((entry, old)) = load_session(host, config, req).await? {
        end_session(host, &entry, &old).await?;
    }
    let now = host.clock().now();
    let session = session_from(&body, None, now)?;
    let id = b64::encode(random_bytes::<32>(host.rng()));
    let key = session_key(&id);
    let sealed = seal(host, config, &key, &session).await?;
    if !ledger_record::create::<_, _, ()>(host, &key, &sealed, now + SESSION_SECONDS).await? {
        return Err(Error::Internal("session id collision".into()));
    }
    Ok(Response::redirect(303, &tx.return_to)
        .with_header("set-cookie", &clear_tx)
        .with_header("set-cookie", &set_cookie(req, session_cookie(req), &id, SESSION_SECONDS)))
}

async fn session<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let body = match load_session(host, config, req).await? {
        Some((_, s)) => json!({ "authenticated": true, "user": s.user }),
        None => json!({ "authenticated": false }),
    };
    Ok(Response::json(200, &body).with_header("cache-control", "no-store"))
}

/// Ends the cookie session and, since this Worker is also the authorization server, the login
/// here too (the same-site call carries its session cookie): no ID token hint has to travel
/// through the page. Answers where the page may go next.
async fn logout<H: Host>(
    host: &H,
    config: &Config,
    client: &ClientRecord,
    req: &Request,
) -> Result<Response, Error> {
    if let Some((entry, s)) = load_session(host, config, req).await? {
        end_session(host, &entry, &s).await?;
    }
    let login_cookie = crate::authorization::session::end(host, req).await?;
    let params = Params::from_body(req, true).unwrap_or_default();
    let return_to = params
        .get("returnTo")
        .ok()
        .flatten()
        .filter(|to| client.allowed_logout_urls.iter().any(|u| u == to))
        .map(str::to_string);
    Ok(Response::json(200, &json!({ "return_to": return_to }))
        .with_header("cache-control", "no-store")
        .with_header("set-cookie", &set_cookie(req, session_cookie(req), "", 0))
        .with_header("set-cookie", &login_cookie))
}

/// The lock that lets one request at a time refresh a session: taken by compare-and-set on
/// the refresh token, held at most [`REFRESH_LOCK_SECONDS`], and released when the refresh
/// fails, so a failure does not leave the session stuck.
struct RefreshLock {
    key: String,
    holder: String,
}

/// A released lock's value (the ledger has no delete).
const LOCK_FREE: &str = "free";

async fn take_refresh_lock<H: Host>(host: &H, rt: &str) -> Result<Option<RefreshLock>, Error> {
    let key = format!("bffrefresh:{}", digest(rt));
    let now = host.clock().now();
    let current = host.ledger().get(&key, now).await?;
    if current.as_deref().is_some_and(|v| v != LOCK_FREE) {
        return Ok(None);
    }
    let holder = b64::encode(random_bytes::<16>(host.rng()));
    let until = Some(now + REFRESH_LOCK_SECONDS);
    let taken =
        host.ledger().compare_and_set(&key, current.as_deref(), &holder, now, until).await?;
    Ok(taken.then_some(RefreshLock { key, holder }))
}

async fn release_refresh_lock<H: Host>(host: &H, lock: &RefreshLock) -> Result<(), Error> {
    let now = host.clock().now();
    let until = Some(now + REFRESH_LOCK_SECONDS);
    host.ledger().compare_and_set(&lock.key, Some(&lock.holder), LOCK_FREE, now, until).await?;
    Ok(())
}

/// The session with fresh tokens. One request refreshes; the others wait for its result with
/// backoff (and stop waiting when it gave up). The new session replaces the one read by
/// compare-and-set; if the session ended meanwhile (a logout), its new tokens are revoked.
async fn refreshed<H: Host>(
    host: &H,
    config: &Config,
    bff: &BffConfig,
    req: &Request,
    entry: &SessionEntry,
    s: Session,
) -> Result<Session, Error> {
    let rt = s.refresh_token.clone().ok_or_else(unauthorized)?;
    let Some(lock) = take_refresh_lock(host, &rt).await? else {
        return wait_for_refresh(host, config, req, &rt).await;
    };
    let pairs = [
        ("grant_type", "refresh_token"),
        ("client_id", bff.client_id.as_str()),
        ("refresh_token", rt.as_str()),
    ];
    let body = match token_call(host, config, req, &pairs).await {
        Ok(body) => body,
        Err(e) if e.code() == ErrorCode::InvalidGrant => {
            // The grant is gone (revoked, expired): so is the session.
            entry.end(host, &(), host.clock().now() + 3600).await?;
            return Err(unauthorized());
        }
        Err(e) => {
            release_refresh_lock(host, &lock).await?;
            return Err(e);
        }
    };
    let now = host.clock().now();
    let next = session_from(&body, Some(&s), now)?;
    let sealed = seal(host, config, entry.key(), &next).await?;
    if !entry.replace(host, &sealed, now + SESSION_SECONDS).await? {
        // Only the lock holder replaces a live session: it ended meanwhile (logout).
        if let Some(grant_id) = next.refresh_token.as_deref().and_then(refresh_grant_id) {
            grant::revoke_grant(host, grant_id).await?;
        }
        return Err(unauthorized());
    }
    Ok(next)
}

/// Waits, with backoff, for the request holding the refresh lock to store its result.
async fn wait_for_refresh<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    rt: &str,
) -> Result<Session, Error> {
    let busy = || {
        Error::oauth(ErrorCode::TemporarilyUnavailable, "the session is being refreshed; try again")
    };
    let lock_key = format!("bffrefresh:{}", digest(rt));
    for millis in REFRESH_WAIT_MILLIS {
        host.clock().sleep(millis).await;
        match load_session(host, config, req).await? {
            Some((_, fresh)) if fresh.refresh_token.as_deref() != Some(rt) => return Ok(fresh),
            Some(_) => {}
            None => return Err(unauthorized()),
        }
        // The holder gave up (and said why to its own caller): so does this request.
        let state = host.ledger().get(&lock_key, host.clock().now()).await?;
        if state.as_deref().is_none_or(|v| v == LOCK_FREE) {
            return Err(busy());
        }
    }
    Err(busy())
}

/// `/bff/api` paths are forwarded under `BFF_API_URL` only: no dot segments, and no encoded
/// slashes, backslashes or dots that an API might decode before routing.
fn check_api_path(path: &str) -> Result<(), Error> {
    let lower = path.to_ascii_lowercase();
    // A segment is a dot segment also with path parameters (`..;x`, which servlet containers
    // read as `..`).
    let dots = path.split('/').any(|segment| {
        let name = segment.split(';').next().unwrap_or("");
        name == "." || name == ".."
    });
    if dots
        || path.contains('\\')
        || ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
        || !(path.is_empty() || path.starts_with('/'))
    {
        return Err(Error::invalid_request("the API path is not allowed"));
    }
    Ok(())
}

/// Forwards to the API with the session's access token, refreshed first when it is about to
/// expire.
async fn proxy<H: Host>(
    host: &H,
    config: &Config,
    bff: &BffConfig,
    req: &Request,
    path: &str,
) -> Result<Response, Error> {
    check_api_path(path)?;
    let (entry, mut s) = load_session(host, config, req).await?.ok_or_else(unauthorized)?;
    if s.expires_at - 30 <= host.clock().now() {
        s = refreshed(host, config, bff, req, &entry, s).await?;
    }
    let url = match &req.query {
        Some(q) => format!("{}{path}?{q}", bff.api_url),
        None => format!("{}{path}", bff.api_url),
    };
    let mut upstream =
        Request::from_url(&req.method, &url).ok_or(Error::Misconfigured("BFF_API_URL"))?;
    upstream.headers.push(("authorization".into(), format!("Bearer {}", s.access_token)));
    if let Some(ct) = req.header("content-type") {
        upstream.headers.push(("content-type".into(), ct.to_string()));
    }
    upstream.body = req.body.clone();
    let answer = host.http().fetch(upstream).await.map_err(|e| {
        host.log(&format!("bff proxy: {e}"));
        Error::oauth(ErrorCode::TemporarilyUnavailable, "the API could not be reached")
    })?;
    let content_type = answer.header("content-type").map(str::to_string);
    let mut response = Response::new(answer.status)
        .with_body(answer.body)
        .with_header("cache-control", "no-store");
    if let Some(ct) = content_type {
        response = response.with_header("content-type", &ct);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_verifiers_never_print() {
        let session = Session {
            v: 1,
            user: Map::new(),
            access_token: "eyJ-access-sekrit".into(),
            expires_at: 1,
            refresh_token: Some("refresh-sekrit".into()),
        };
        let tx = Transaction {
            verifier: "verifier-sekrit".into(),
            nonce: "n".into(),
            return_to: "https://app.example/".into(),
        };
        let printed = format!("{session:?} {tx:?}");
        assert!(!printed.contains("sekrit"), "{printed}");
        assert!(printed.contains("https://app.example/"));
    }
}
