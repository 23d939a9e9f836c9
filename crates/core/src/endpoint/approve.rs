//! `/approve`: the user's authentication device for backchannel requests (OpenID CIBA Core §5,
//! "Authentication Device"). `GET /approve` lists the signed-in user's pending requests;
//! `GET /approve?request=…` (the link the operator's webhook carries) opens one, through the
//! shared login and consent pages as its hinted user, finished by `Completion::Backchannel`.
//! `POST /approve` is the list's own login form. No JavaScript anywhere.

use crate::authentication::{check_password, PasswordCheck, TOO_MANY_ATTEMPTS, WRONG_CREDENTIALS};
use crate::authorization::interaction::{BackchannelWaiting, Completion};
use crate::authorization::request::AuthRequest;
use crate::authorization::session;
use crate::b64;
use crate::config::Config;
use crate::endpoint::authorize;
use crate::error::{Error, ErrorCode};
use crate::grant::ciba;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::pages::{self, PendingApproval};
use crate::ports::{random_bytes, Clock, Host};
use crate::records;
use crate::secret::constant_time_eq;
use crate::vocabulary::Prompt;

fn csrf_cookie(req: &Request) -> String {
    let prefix = if req.is_https() { "__Host-" } else { "" };
    format!("{prefix}gatehouse_approve")
}

fn gone() -> Error {
    Error::Page { code: ErrorCode::ExpiredToken, description: ciba::GONE.into() }
}

/// The login form, with a fresh double-submit CSRF token (cookie and field).
fn login_form<H: Host>(host: &H, req: &Request, error: Option<&str>, status: u16) -> Response {
    let csrf = b64::encode(random_bytes::<18>(host.rng()));
    let cookie = session::set_cookie(req, &csrf_cookie(req), &csrf, 600);
    pages::approve_login_page(&csrf, error, status).with_header("set-cookie", &cookie)
}

/// `GET /approve[?request=…]`.
pub async fn show<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_query(req).map_err(Error::into_page)?;
    if let Some(id) = params.get("request").map_err(Error::into_page)? {
        return open(host, config, req, id).await;
    }
    let Some(session) = session::current(host, req).await? else {
        return Ok(login_form(host, req, None, 200));
    };
    let Some(user) = records::user(host.store(), &session.user_id).await? else {
        return Ok(login_form(host, req, None, 200));
    };
    let now = host.clock().now();
    let mut listed = Vec::new();
    for (request_id, record) in ciba::pending_for_user(host, &user.user_id).await? {
        let client_name = records::client(host.store(), record.requested.client_id.as_str())
            .await?
            .map(|c| c.name)
            .unwrap_or_else(|| record.requested.client_id.to_string());
        listed.push(PendingApproval {
            request_id,
            client_name,
            binding_message: record.binding_message.clone(),
            scope: record.requested.scope.to_string(),
            seconds_left: record.expires_at - now,
        });
    }
    Ok(pages::approvals_page(&user.email, &listed))
}

/// One request: logged in as its hinted user (the login page is shown when the browser's
/// session is someone else's or none; the email is not filled in, since whoever holds the link
/// — the client, too — would read it there), the user confirms it explicitly on the consent
/// page, which shows the binding message.
async fn open<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let record = ciba::pending(host, id).await?.ok_or_else(gone)?;
    let client = records::client(host.store(), record.requested.client_id.as_str())
        .await?
        .ok_or_else(gone)?;
    let user = records::user(host.store(), &record.user_id).await?.ok_or_else(gone)?;
    let completion = Completion::Backchannel(BackchannelWaiting {
        request_id: id.to_string(),
        user_id: record.user_id.clone(),
        binding_message: record.binding_message.clone(),
    });
    let mut pending = AuthRequest::new(host, record.requested, completion);
    // Every request is confirmed by the user, first-party client or not.
    pending.prompt = vec![Prompt::Consent];
    let signed_in_as = session::current(host, req).await?.map(|s| s.user_id);
    if signed_in_as.as_deref() != Some(user.user_id.as_str()) {
        pending.prompt.push(Prompt::Login);
    }
    authorize::proceed(host, config, req, pending, &client).await
}

/// `POST /approve`: the list's login form (double-submit CSRF, same-origin only).
pub async fn login<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_body(req, false).map_err(Error::into_page)?;
    let foreign_origin = req.header("origin").is_some_and(|o| o != "null" && o != req.origin);
    let cross_site =
        req.header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site");
    let presented = params.get("csrf").map_err(Error::into_page)?.unwrap_or("");
    let expected = req.cookie(&csrf_cookie(req)).unwrap_or("");
    if foreign_origin
        || cross_site
        || expected.is_empty()
        || !constant_time_eq(presented.as_bytes(), expected.as_bytes())
    {
        return Err(Error::Page {
            code: ErrorCode::AccessDenied,
            description: "Log in on this page.".into(),
        });
    }
    let username = params.get("username").map_err(Error::into_page)?.unwrap_or("").trim();
    let password = params.get("password").map_err(Error::into_page)?.unwrap_or("");
    let user = match check_password(host, config, username, password, req.client_ip()).await? {
        PasswordCheck::Verified(user) => user,
        PasswordCheck::Wrong => return Ok(login_form(host, req, Some(WRONG_CREDENTIALS), 400)),
        PasswordCheck::TooManyAttempts => {
            return Ok(login_form(host, req, Some(TOO_MANY_ATTEMPTS), 429))
        }
    };
    let cookie = session::start(host, req, &user.user_id).await?;
    Ok(Response::redirect(303, "/approve").with_header("set-cookie", &cookie))
}
