//! `/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), and the hosted login and consent steps it
//! hands over to: `/login`, `/consent`, `/authorize/resume`.
//!
//! The checks run as a table, in order. Until the client and its `redirect_uri` are known to be
//! good, errors are pages; after that, they go back to the client with `state` and `iss`.

use crate::authentication::{check_password, PasswordCheck, TOO_MANY_ATTEMPTS, WRONG_CREDENTIALS};
use crate::authorization::consent;
use crate::authorization::details;
use crate::authorization::intake::{self, Channel};
use crate::authorization::interaction::{Completion, RedirectBack};
use crate::authorization::request::{self, AuthRequest};
use crate::authorization::session::{self, Session};
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::pages;
use crate::ports::{Clock, Host, Ledger, Store};
use crate::records::{self, ClientRecord};
use crate::secret::constant_time_eq;
use crate::vocabulary::{GrantType, Prompt, ResponseMode, ResponseType};

/// `GET|POST /authorize`.
pub async fn authorize<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let params = match req.method.as_str() {
        "POST" => Params::from_body(req, false).map_err(page)?,
        _ => Params::from_query(req).map_err(page)?,
    };
    let issuer = config.issuer_for(req);
    // Who asks, and where the answer goes: errors here are pages, never redirects.
    let client = request::check_client(host, &params).await?;
    // Pushed (RFC 9126), in a request object (RFC 9101), or plain: failures are pages, since
    // nothing in the request can be trusted yet, its redirect URI least of all.
    let intake =
        intake::receive(host, config, &client, params, &issuer, Channel::Authorize).await?;
    let (back, checked) = check_request(host, &client, &intake.params).await?;
    match checked {
        Ok(pending) => proceed(host, config, req, pending, &client).await,
        Err(e) => Ok(Completion::Redirect(back).refuse(host, &issuer, &e).await),
    }
}

/// The authorization request's checks, in order, for `/authorize` and for a pushed request
/// (`/oauth/par`, RFC 9126 §2.1: the same checks at push time). The outer error is one that
/// cannot go back to the client (an unregistered redirect URI: a page at `/authorize`); the
/// inner result is the pending request, or an error to send back through [`RedirectBack`].
pub(crate) async fn check_request<H: Host>(
    host: &H,
    client: &ClientRecord,
    params: &Params,
) -> Result<(RedirectBack, Result<AuthRequest, Error>), Error> {
    let (redirect_uri, redirect_uri_given) = request::check_redirect_uri(client, params)?;
    // From here on the client and its redirect URI are trusted: errors go back to it, in the
    // response mode asked for, or the response type's default.
    let response_type = request::check_response_type(params);
    let default_mode = response_type.as_ref().map_or(ResponseMode::Query, |t| t.default_mode());
    let mode = request::check_response_mode(params, default_mode);
    // web_message posts the response to the redirect URI's origin: it must be one of the
    // client's web origins, or the response is not delivered at all (a page, no redirect).
    if matches!(mode, Ok(ResponseMode::WebMessage))
        && !client.web_origins.contains(&crate::http::origin_of(&redirect_uri))
    {
        return Err(Error::Page {
            code: ErrorCode::InvalidRequest,
            description: "response_mode=web_message needs the redirect URI's origin among the client's web origins".into(),
        });
    }
    let mut back = RedirectBack {
        redirect_uri,
        redirect_uri_given,
        response_mode: *mode.as_ref().unwrap_or(&default_mode),
        // Echoed only when it passes its own length check below.
        state: params
            .get("state")
            .ok()
            .flatten()
            .filter(|s| s.len() <= 2048 && !s.chars().any(char::is_control))
            .map(str::to_string),
        code_challenge: None,
        response_type: *response_type.as_ref().unwrap_or(&ResponseType::Code),
    };
    let checked = async {
        // A request_uri we cannot use makes the rest of the parameters meaningless.
        request::check_request_objects(params)?;
        let mode = mode?;
        let response_type = response_type?;
        // RFC 6749 §4.1.2.1, §4.2.2.1: a response type the client is not registered for.
        let grants_ok =
            !response_type.has_code() || client.allows_grant(GrantType::AuthorizationCode);
        if !grants_ok || !client.allows_response_type(response_type) {
            return Err(Error::oauth(
                ErrorCode::UnauthorizedClient,
                "the client may not use this response type",
            ));
        }
        // Multiple Response Type Encoding Practices §5: tokens never travel in a query.
        if mode == ResponseMode::Query && response_type != ResponseType::Code {
            return Err(Error::invalid_request("response_mode=query cannot carry tokens"));
        }
        // OIDC Core §3.2.2.1, §3.3.2.11: an ID token from the authorization endpoint needs a
        // nonce (so that the client can recognize a replayed one; an empty value is absent,
        // RFC 6749 §3.1), and is for OpenID requests only.
        if response_type.has_id_token() && !params.contains("nonce") {
            return Err(Error::invalid_request("nonce is required when an ID token is returned"));
        }
        if response_type.has_id_token() && !request::openid_requested(params) {
            return Err(Error::invalid_request("an ID token needs the openid scope"));
        }
        request::check_text(params, "state", 2048)?;
        let nonce = request::check_text(params, "nonce", 512)?;
        let login_hint = request::check_text(params, "login_hint", 254)?;
        let asked_as = if response_type.has_code() {
            GrantType::AuthorizationCode
        } else {
            GrantType::Implicit
        };
        let (mut requested, api) =
            request::requested_with_api(host, params, client, asked_as).await?;
        requested.nonce = nonce;
        requested.jkt = request::check_dpop_jkt(params, response_type, api.as_ref())?;
        // PKCE binds a code; a response without one has nothing to bind.
        if response_type.has_code() {
            back.code_challenge = request::check_pkce(params, client)?;
        }
        let prompt = request::check_prompt(params)?;
        let max_age = request::check_max_age(params)?;
        let mut pending = AuthRequest::new(host, requested, Completion::Redirect(back.clone()));
        pending.prompt = prompt;
        pending.max_age = max_age;
        pending.login_hint = login_hint;
        Ok::<AuthRequest, Error>(pending)
    }
    .await;
    Ok((back, checked))
}

fn page(e: Error) -> Error {
    e.into_page()
}

fn expired() -> Error {
    Error::Page {
        code: ErrorCode::InvalidRequest,
        description: "This sign-in request has expired or is unknown. Go back to the application and try again.".into(),
    }
}

/// Where the hosted forms' submissions may end up (CSP `form-action` also governs the redirects
/// that follow a submission): the redirect URI's origin, and the client's web origins (a
/// cookie-session client's redirect URI is on the Worker, which then sends the user on).
fn form_targets(pending: &AuthRequest, client: &ClientRecord) -> Vec<String> {
    let mut targets: Vec<String> = pending.completion.destination_origin().into_iter().collect();
    targets.extend(client.web_origins.iter().cloned());
    targets
}

/// Per-flow cookie binding the forms and the resumption to the browser that started the
/// request (`__Host-` prefixed on https, like the session cookie).
fn flow_cookie(req: &Request, pending: &AuthRequest) -> String {
    let prefix = if req.is_https() { "__Host-" } else { "" };
    format!("{prefix}gatehouse_tx_{}", &pending.id[..8])
}

/// Where an interaction stands for the browser's session.
enum Step {
    /// The user must log in (again) or consent first: the hosted page at this path.
    Page(&'static str),
    /// The user approved the request.
    Approved { user_id: String, auth_time: i64 },
}

/// Decides the next step: whether the session's user has logged in recently enough and has
/// consented to everything asked, on the API it is asked for. `prompt=none` turns a needed page
/// into an error (OIDC Core §3.1.2.6).
async fn next_step<H: Host>(
    host: &H,
    req: &Request,
    pending: &AuthRequest,
    client: &ClientRecord,
) -> Result<Step, Error> {
    let now = host.clock().now();
    let prompt_none = pending.has_prompt(Prompt::None);
    let session: Option<Session> = session::current(host, req).await?;
    let user = match &session {
        Some(s) => records::user(host.store(), &s.user_id).await?,
        None => None,
    };
    // OIDC Core §3.1.2.1: re-authenticate when the login is older than max_age seconds;
    // max_age=0 is equivalent to prompt=login (whole seconds, so compare with >=).
    let too_old = |s: &Session| pending.max_age.is_some_and(|max| now - s.auth_time >= max);
    // What was done during this request counts only for the user who did it.
    let by_this_user =
        |who: &Option<String>| session.as_ref().is_some_and(|s| who.as_deref() == Some(&s.user_id));
    let needs_login = match (&session, &user) {
        (Some(s), Some(_)) => {
            !by_this_user(&pending.login_user) && (pending.has_prompt(Prompt::Login) || too_old(s))
        }
        _ => true,
    };
    if needs_login {
        if prompt_none {
            return Err(Error::oauth(ErrorCode::LoginRequired, "the user is not logged in"));
        }
        return Ok(Step::Page("/login"));
    }
    let consented_here = by_this_user(&pending.consent_user);
    let (Some(session), Some(user)) = (session, user) else { return Err(expired()) };
    // RFC 9396 §8 (and §12): the details of a transaction are shown to the user every time,
    // to first-party clients too; a consent given to one set is never reused for another.
    let needs_consent = !consented_here
        && (pending.has_prompt(Prompt::Consent)
            || !pending.requested.details.is_empty()
            || (!client.is_first_party
                && !consent::covers(
                    host.store(),
                    &user.user_id,
                    &client.client_id,
                    pending.requested.audience.as_deref(),
                    &pending.requested.scope,
                )
                .await?));
    if needs_consent {
        if prompt_none {
            return Err(Error::oauth(ErrorCode::ConsentRequired, "the user has not consented"));
        }
        return Ok(Step::Page("/consent"));
    }
    Ok(Step::Approved { user_id: user.user_id, auth_time: session.auth_time })
}

/// Moves a pending request on: to the login page, to the consent page, or to its completion.
pub(crate) async fn proceed<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    pending: AuthRequest,
    client: &ClientRecord,
) -> Result<Response, Error> {
    let outcome = match next_step(host, req, &pending, client).await {
        Ok(Step::Page(path)) => return redirect_to_step(host, req, &pending, path).await,
        Ok(Step::Approved { user_id, auth_time }) => Outcome::Approved { user_id, auth_time },
        Err(e @ Error::Page { .. }) => return Err(e),
        Err(e) => Outcome::Refused(e),
    };
    finish(host, config, req, &pending, client, outcome).await
}

/// How an interaction ended.
enum Outcome {
    Approved {
        user_id: String,
        auth_time: i64,
    },
    /// The user denied it, or it failed (`login_required`, an internal failure, …).
    Refused(Error),
}

/// The one way an interaction ends, approved or refused: the pending request is completed
/// exactly once, its [`Completion`] tells the client, and the browser's flow cookie goes. Once
/// the client and redirect URI are trusted, every error (internal ones as `server_error`) goes
/// back through the completion; only a request that cannot be found is a page.
async fn finish<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    pending: &AuthRequest,
    client: &ClientRecord,
    outcome: Outcome,
) -> Result<Response, Error> {
    let issuer = config.issuer_for(req);
    let approved = async {
        complete_once(host, pending).await?;
        match outcome {
            Outcome::Approved { user_id, auth_time } => {
                let authorization = pending.authorization(&user_id, auth_time);
                pending.completion.approve(host, config, &issuer, client, authorization).await
            }
            Outcome::Refused(e) => Err(e),
        }
    }
    .await;
    let mut response = match approved {
        Ok(response) => response,
        Err(e @ Error::Page { .. }) => return Err(e),
        Err(e) => pending.completion.refuse(host, &issuer, &e).await,
    };
    let cookie = flow_cookie(req, pending);
    if req.cookie(&cookie).is_some() {
        response = response.with_header("set-cookie", &session::set_cookie(req, &cookie, "", 0));
    }
    Ok(response)
}

/// A stored request completes once: the ledger decides, not the eventually consistent KV copy
/// (which may still be readable elsewhere for a while after the delete).
async fn complete_once<H: Host>(host: &H, pending: &AuthRequest) -> Result<(), Error> {
    if !pending.stored {
        return Ok(());
    }
    let now = host.clock().now();
    let expires = pending.created_at + request::PENDING_SECONDS as i64;
    if !host.ledger().consume_once(&format!("authreq:{}", pending.id), now, expires).await? {
        return Err(expired());
    }
    host.store().delete(&request::store_key(&pending.id)).await?;
    Ok(())
}

async fn redirect_to_step<H: Host>(
    host: &H,
    req: &Request,
    pending: &AuthRequest,
    path: &str,
) -> Result<Response, Error> {
    pending.save(host.store()).await?;
    let cookie = session::set_cookie(
        req,
        &flow_cookie(req, pending),
        &pending.csrf,
        request::PENDING_SECONDS as i64,
    );
    Ok(Response::redirect(302, &format!("{path}?req={}", pending.id))
        .with_header("set-cookie", &cookie))
}

async fn pending_and_client<H: Host>(
    host: &H,
    id: Option<&str>,
) -> Result<(AuthRequest, ClientRecord), Error> {
    let pending = AuthRequest::load(host.store(), id.unwrap_or(""), host.clock().now())
        .await?
        .ok_or_else(expired)?;
    let client =
        records::client(host.store(), pending.client_id().as_str()).await?.ok_or_else(expired)?;
    Ok((pending, client))
}

fn not_this_browser() -> Error {
    Error::Page {
        code: ErrorCode::AccessDenied,
        description: "This sign-in was not started in this browser, or has expired. Go back to the application and try again.".into(),
    }
}

/// The browser carries the flow cookie of the pending request.
fn check_flow_cookie(req: &Request, pending: &AuthRequest) -> Result<(), Error> {
    let cookie = req.cookie(&flow_cookie(req, pending)).unwrap_or("");
    if !constant_time_eq(cookie.as_bytes(), pending.csrf.as_bytes()) {
        return Err(not_this_browser());
    }
    Ok(())
}

/// Checks a form's CSRF token against the pending request and the browser's flow cookie.
fn check_csrf(req: &Request, pending: &AuthRequest, presented: Option<&str>) -> Result<(), Error> {
    check_flow_cookie(req, pending)?;
    if !constant_time_eq(presented.unwrap_or("").as_bytes(), pending.csrf.as_bytes()) {
        return Err(not_this_browser());
    }
    Ok(())
}

/// A submitted hosted form: its fields and the pending request it belongs to, CSRF checked.
async fn submitted<H: Host>(
    host: &H,
    req: &Request,
) -> Result<(Params, AuthRequest, ClientRecord), Error> {
    let params = Params::from_body(req, false).map_err(page)?;
    let (pending, client) = pending_and_client(host, params.get("req").map_err(page)?).await?;
    if let Err(e) = check_csrf(req, &pending, params.get("csrf").map_err(page)?) {
        // A logged-in user's browser posting a device interaction's form that is not its own
        // (a forged or replayed confirmation) counts against the code, which is locked after a
        // few: the forger cannot keep trying. Anonymous posts count for nothing (no one could
        // lock a stranger's code).
        if let Completion::Device(device) = &pending.completion {
            if session::current(host, req).await?.is_some() {
                crate::grant::device_code::wrong_confirmation(host, &device.device_key).await?;
            }
        }
        return Err(e);
    }
    Ok((params, pending, client))
}

/// `GET /authorize/resume?req=…`: continue after login or consent.
pub async fn resume<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_query(req).map_err(page)?;
    let (pending, client) = pending_and_client(host, params.get("req").map_err(page)?).await?;
    check_flow_cookie(req, &pending)?;
    proceed(host, config, req, pending, &client).await
}

/// `GET /login?req=…`: the login form.
pub async fn login_form<H: Host>(host: &H, req: &Request) -> Result<Response, Error> {
    let params = Params::from_query(req).map_err(page)?;
    let (pending, client) = pending_and_client(host, params.get("req").map_err(page)?).await?;
    // The form's CSRF token is shown only to the browser that started the flow.
    check_flow_cookie(req, &pending)?;
    let targets = form_targets(&pending, &client);
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    Ok(pages::login_page(
        &client.name,
        &pending.id,
        &pending.csrf,
        pending.login_hint.as_deref(),
        None,
        &targets,
    ))
}

/// `POST /login`: checks the password (rate-limited per account and per IP), starts a session.
pub async fn login_submit<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let (params, mut pending, client) = submitted(host, req).await?;
    let targets = form_targets(&pending, &client);
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let username = params.get("username").map_err(page)?.unwrap_or("").trim().to_string();
    let password = params.get("password").map_err(page)?.unwrap_or("");
    let retry = |message: &str, status: u16| {
        let mut r = pages::login_page(
            &client.name,
            &pending.id,
            &pending.csrf,
            Some(&username),
            Some(message),
            &targets,
        );
        r.status = status;
        r
    };
    let user = match check_password(host, config, &username, password, req.client_ip()).await? {
        PasswordCheck::Verified(user) => user,
        PasswordCheck::Wrong => return Ok(retry(WRONG_CREDENTIALS, 400)),
        PasswordCheck::TooManyAttempts => return Ok(retry(TOO_MANY_ATTEMPTS, 429)),
    };
    let cookie = session::start(host, req, &user.user_id).await?;
    pending.login_user = Some(user.user_id.clone());
    pending.save(host.store()).await?;
    Ok(Response::redirect(303, &format!("/authorize/resume?req={}", pending.id))
        .with_header("set-cookie", &cookie))
}

fn scope_descriptions(
    pending: &AuthRequest,
    api: Option<&records::ApiRecord>,
) -> Vec<(String, String)> {
    pending
        .requested
        .scope
        .iter()
        .map(|s| {
            let text = match s {
                "openid" => "Know who you are".to_string(),
                "profile" => "See your name and profile picture".to_string(),
                "email" => "See your email address".to_string(),
                "offline_access" => "Stay signed in (refresh tokens)".to_string(),
                other => api
                    .and_then(|a| a.scopes.iter().find(|d| d.value == other))
                    .map(|d| d.description.clone())
                    .unwrap_or_default(),
            };
            (s.to_string(), text)
        })
        .collect()
}

/// `GET /consent?req=…`: what the client asks for.
pub async fn consent_form<H: Host>(host: &H, req: &Request) -> Result<Response, Error> {
    let params = Params::from_query(req).map_err(page)?;
    let (pending, client) = pending_and_client(host, params.get("req").map_err(page)?).await?;
    check_flow_cookie(req, &pending)?;
    let Some(session) = session::current(host, req).await? else {
        return Ok(Response::redirect(302, &format!("/login?req={}", pending.id)));
    };
    let user = records::user(host.store(), &session.user_id).await?.ok_or_else(expired)?;
    let api = match &pending.requested.audience {
        Some(a) => records::api(host.store(), a).await?,
        None => None,
    };
    let targets = form_targets(&pending, &client);
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    if !pending.completion.may_answer(&user.user_id) {
        return Err(crate::authorization::interaction::other_account());
    }
    let notice = pending.completion.consent_notice(&client.name);
    let details: Vec<String> =
        pending.requested.details.iter().map(|d| details::describe(d, api.as_ref())).collect();
    Ok(pages::consent_page(
        &client.name,
        &user.email,
        api.as_ref().map(|a| a.name.as_str()),
        &scope_descriptions(&pending, api.as_ref()),
        &details,
        &pending.id,
        &pending.csrf,
        &targets,
        notice.as_deref(),
    ))
}

/// `POST /consent`: allow (remembered per user and client) or deny (`access_denied`).
pub async fn consent_submit<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let (params, mut pending, client) = submitted(host, req).await?;
    let Some(session) = session::current(host, req).await? else {
        return Ok(Response::redirect(303, &format!("/login?req={}", pending.id)));
    };
    // Someone else's back-channel request is neither approved nor denied here.
    if !pending.completion.may_answer(&session.user_id) {
        return Err(crate::authorization::interaction::other_account());
    }
    match params.get("decision").map_err(page)? {
        Some("allow") => {}
        Some("deny") => {
            let e = Error::oauth(ErrorCode::AccessDenied, "the user denied the request");
            return finish(host, config, req, &pending, &client, Outcome::Refused(e)).await;
        }
        _ => {
            return Err(Error::Page {
                code: ErrorCode::InvalidRequest,
                description: "choose Allow or Deny".into(),
            })
        }
    }
    // A consent given to authorization details is for that request only (RFC 9396 §12): it is
    // not remembered, not even for the scopes asked alongside them.
    // Nor is one given to a back-channel request (CIBA: each request is confirmed on its own).
    if pending.requested.details.is_empty() && pending.completion.remembers_consent() {
        let audience = pending.requested.audience.as_deref();
        consent::remember(
            host.store(),
            &session.user_id,
            &client.client_id,
            audience,
            &pending.requested.scope,
        )
        .await?;
    }
    pending.consent_user = Some(session.user_id.clone());
    let mut response = proceed(host, config, req, pending, &client).await?;
    if response.status == 302 {
        response.status = 303;
    }
    Ok(response)
}
