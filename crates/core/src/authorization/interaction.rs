//! How an interaction completes. Login and consent decide *whether* a user approved a request;
//! a [`Completion`] decides what approval (or refusal) does: a redirect back to the client with
//! a code ([`RedirectBack`], whose `respond` is where response modes are decided), or a device
//! code approved where the device polls ([`DeviceWaiting`]), or a back-channel (CIBA) request
//! answered where its client polls or is notified ([`BackchannelWaiting`]); in those two the user
//! sees a page instead of being redirected. A new way of finishing a login is a new variant.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::Error;
use crate::error::ErrorCode;
use crate::grant::ciba;
use crate::grant::device_code::{self, DeviceEnded};
use crate::grant::Subject;
use crate::grant::{authorization_code, Authorization};
use crate::http::params::encode;
use crate::http::Response;
use crate::pages;
use crate::ports::Host;
use crate::records::ClientRecord;
use crate::tokens;
use crate::vocabulary::{ResponseMode, ResponseType, TokenType};

/// What happens when the user has approved or refused the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Completion {
    /// Back to the client's registered redirect URI (RFC 6749 §4.1.2).
    Redirect(RedirectBack),
    /// A device polls for the outcome (RFC 8628): the user stays here and is told to return
    /// to the device.
    Device(DeviceWaiting),
    /// A CIBA client waits for the outcome (OpenID CIBA Core): the user answers on this, their
    /// authentication device.
    Backchannel(BackchannelWaiting),
}

/// The CIBA request an `/approve` interaction decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackchannelWaiting {
    /// The request's id (`grant::ciba::request_id`).
    pub request_id: String,
    /// The user the client's hint named: nobody else may answer.
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<String>,
}

/// The device code an `/activate` interaction decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceWaiting {
    /// The device code's ledger key.
    pub device_key: String,
    /// The normalized user code, shown on the confirmation page.
    pub user_code: String,
}

/// The authorization response's destination and what the code carries for the token request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectBack {
    pub redirect_uri: String,
    /// RFC 6749 §4.1.3: if `redirect_uri` was in the request, the token request must repeat it.
    pub redirect_uri_given: bool,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    /// PKCE (RFC 7636 §4.4): bound to the code.
    pub code_challenge: Option<String>,
    /// What the response carries: a code, tokens, or both (hybrid).
    #[serde(default = "code_only")]
    pub response_type: ResponseType,
}

fn code_only() -> ResponseType {
    ResponseType::Code
}

impl Completion {
    /// The origin the interaction's pages may send the browser to (CSP `form-action`).
    pub fn destination_origin(&self) -> Option<String> {
        match self {
            Self::Redirect(back) => Some(crate::http::origin_of(&back.redirect_uri)),
            Self::Device(_) | Self::Backchannel(_) => None,
        }
    }

    /// Whether `user_id` may answer this interaction at all (approve *or* deny): a back-channel
    /// request only by the user its client named; anyone who logs in, otherwise.
    pub fn may_answer(&self, user_id: &str) -> bool {
        match self {
            Self::Backchannel(waiting) => waiting.user_id == user_id,
            Self::Redirect(_) | Self::Device(_) => true,
        }
    }

    /// Whether allowing the consent page here remembers the consent for later requests of the
    /// client (a back-channel request's confirmation is for that request only).
    pub fn remembers_consent(&self) -> bool {
        !matches!(self, Self::Backchannel(_))
    }

    /// What the consent page adds for this way of finishing, so the user can tell it is theirs:
    /// the device's code (RFC 8628 §5.4), the back-channel request's binding message (CIBA Core
    /// §7.1).
    pub fn consent_notice(&self, client_name: &str) -> Option<String> {
        match self {
            Self::Device(device) => Some(format!(
                "Continue only if you started this on your device and it shows the code {}.",
                device_code::display_user_code(&device.user_code)
            )),
            Self::Backchannel(waiting) => Some(match &waiting.binding_message {
                Some(message) => format!(
                    "Approve only if you started this with {client_name} and it shows: {message}"
                ),
                None => format!("Approve only if you started this with {client_name} just now."),
            }),
            Self::Redirect(_) => None,
        }
    }

    /// The user approved: issue what the flow hands out and tell the client. (`config` and
    /// `client` are for completions that mint tokens here: implicit and hybrid responses.)
    pub async fn approve<H: Host>(
        &self,
        host: &H,
        config: &Config,
        issuer: &str,
        client: &ClientRecord,
        authorization: Authorization,
    ) -> Result<Response, Error> {
        match self {
            Self::Redirect(back) => {
                let pairs = back.issue(host, config, issuer, client, authorization).await?;
                let pairs: Vec<(&str, &str)> =
                    pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
                Ok(back.respond(issuer, &pairs))
            }
            Self::Device(device) => {
                if !device_code::approve(host, &device.device_key, authorization).await? {
                    return Err(Error::Page {
                        code: ErrorCode::ExpiredToken,
                        description:
                            "This code has expired or was already used. Start again on your device."
                                .into(),
                    });
                }
                Ok(pages::device_done_page(true))
            }
            Self::Backchannel(waiting) => {
                if !self.may_answer(authorization.user_id().unwrap_or_default()) {
                    return Err(other_account());
                }
                let deliveries =
                    ciba::approve(host, config, issuer, client, &waiting.request_id, authorization)
                        .await?;
                let mut page = pages::backchannel_done_page(&client.name, true);
                page.deliveries = deliveries;
                Ok(page)
            }
        }
    }

    /// The request failed or the user refused: tell the client (RFC 6749 §4.1.2.1). Errors
    /// that are not OAuth errors become `server_error` with no detail, and are logged.
    /// (Asynchronous, with the host: a device or back-channel refusal is recorded where the
    /// client polls.)
    pub async fn refuse<H: Host>(&self, host: &H, issuer: &str, error: &Error) -> Response {
        if let Some(line) = error.log_line() {
            host.log(&format!("interaction refused: {line}"));
        }
        let description = match error {
            Error::OAuth { description, .. } => description.as_str(),
            _ => "the request could not be completed",
        };
        match self {
            Self::Redirect(back) => back.respond(
                issuer,
                &[("error", error.code().as_str()), ("error_description", description)],
            ),
            // The user said no: the device hears access_denied on its next poll.
            Self::Device(device) if error.code() == ErrorCode::AccessDenied => {
                if let Err(e) =
                    device_code::end(host, &device.device_key, DeviceEnded::Denied).await
                {
                    if let Some(line) = e.log_line() {
                        host.log(&format!("device code not ended: {line}"));
                    }
                }
                pages::device_done_page(false)
            }
            // The user said no: the client hears access_denied (polled, pinged or pushed).
            Self::Backchannel(waiting) if error.code() == ErrorCode::AccessDenied => {
                let deliveries = match ciba::deny(host, &waiting.request_id).await {
                    Ok(deliveries) => deliveries,
                    Err(e) => {
                        if let Some(line) = e.log_line() {
                            host.log(&format!("CIBA request not ended: {line}"));
                        }
                        Vec::new()
                    }
                };
                let mut page = pages::backchannel_done_page("", false);
                page.deliveries = deliveries;
                page
            }
            // Anything else (a failure here, a prompt that cannot be met) leaves the code or
            // request pending: the user may try again while it lives.
            Self::Device(_) | Self::Backchannel(_) => {
                let description = match error {
                    Error::OAuth { description, .. } => description.clone(),
                    _ => "Something went wrong. Try again.".into(),
                };
                Error::Page { code: error.code(), description }.to_response()
            }
        }
    }
}

/// The page for a user who may not answer an interaction ([`Completion::may_answer`]).
pub fn other_account() -> Error {
    Error::Page {
        code: ErrorCode::AccessDenied,
        description: "This request is for another account. Log out, then open the request again and log in as the account it names.".into(),
    }
}

impl RedirectBack {
    /// What the response type hands out (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.2.2.5,
    /// §3.3.2.5): a code, an access token, an ID token, or a hybrid of them, all of one new
    /// grant. A front-channel ID token binds what travels with it: `c_hash` for the code,
    /// `at_hash` for the access token (OIDC Core §3.3.2.11), and `s_hash` for `state` (FAPI 1.0
    /// Advanced §5.2.2.4).
    async fn issue<H: Host>(
        &self,
        host: &H,
        config: &Config,
        issuer: &str,
        client: &ClientRecord,
        authorization: Authorization,
    ) -> Result<Vec<(&'static str, String)>, Error> {
        let rt = self.response_type;
        let authorization = authorization.start_grant(host.rng());
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        let code = match rt.has_code() {
            true => Some(
                authorization_code::issue(
                    host,
                    authorization.clone(),
                    &self.redirect_uri,
                    self.redirect_uri_given,
                    self.code_challenge.clone(),
                )
                .await?,
            ),
            false => None,
        };
        if let Some(code) = &code {
            pairs.push(("code", code.clone()));
        }
        if !(rt.has_token() || rt.has_id_token()) {
            return Ok(pairs);
        }
        let resolved = crate::grant::resolve(host, authorization).await?;
        let access = match rt.has_token() {
            true => Some(tokens::access_token(host, config, issuer, &resolved).await?),
            false => None,
        };
        if let Some((token, expires_in)) = &access {
            pairs.push(("access_token", token.clone()));
            pairs.push(("token_type", TokenType::Bearer.as_str().into()));
            pairs.push(("expires_in", expires_in.to_string()));
            pairs.push(("scope", resolved.authorization.scope.to_string()));
        }
        if rt.has_id_token() {
            let Subject::User(user) = &resolved.subject else {
                return Err(Error::Internal("an ID token for no user".into()));
            };
            let mut hashes = Vec::new();
            if let Some((token, _)) = &access {
                hashes.push(("at_hash", tokens::half_hash(token)));
            }
            if let Some(code) = &code {
                hashes.push(("c_hash", tokens::half_hash(code)));
            }
            if let Some(state) = &self.state {
                hashes.push(("s_hash", tokens::half_hash(state)));
            }
            let id_token = tokens::id_token(
                host,
                config,
                issuer,
                client,
                &resolved.authorization,
                user,
                &hashes,
            )
            .await?;
            pairs.push(("id_token", id_token));
        }
        Ok(pairs)
    }

    /// The authorization response, sent to the registered redirect URI, always with `iss`
    /// (RFC 9207 §2) and `state` when the request had one.
    pub fn respond(&self, issuer: &str, pairs: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", issuer));
        let uri = &self.redirect_uri;
        let location = match self.response_mode {
            ResponseMode::FormPost => return form_post(uri, &all),
            ResponseMode::WebMessage => return web_message(uri, &all),
            ResponseMode::Query if uri.contains('?') => format!("{uri}&{}", encode(all)),
            ResponseMode::Query => format!("{uri}?{}", encode(all)),
            ResponseMode::Fragment => format!("{uri}#{}", encode(all)),
        };
        Response::redirect(302, &location)
    }
}

/// OAuth 2.0 Form Post Response Mode §2: a page whose form posts the parameters to the redirect
/// URI, submitted by its one script (allowed by hash), or by a button when scripts are off.
fn form_post(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let fields: String = pairs
        .iter()
        .map(|(n, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                pages::escape(n),
                pages::escape(v)
            )
        })
        .collect();
    let body = format!(
        r#"<form method="post" action="{action}">{fields}<noscript><p>Scripts are off: continue to the application.</p><button type="submit">Continue</button></noscript></form>"#,
        action = pages::escape(redirect_uri),
    );
    let origin = crate::http::origin_of(redirect_uri);
    pages::script_page("Continue", &body, "document.forms[0].submit();", Some(&origin), None)
}

/// Auth0's `response_mode=web_message`: a page, framed only by the client's own origin (which
/// `/authorize` checked is one of its web origins), that hands the response to the window that
/// opened or framed it, for that origin alone: `{type: "authorization_response", response}`.
fn web_message(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let origin = crate::http::origin_of(redirect_uri);
    let response: serde_json::Map<String, serde_json::Value> =
        pairs.iter().map(|(n, v)| (n.to_string(), (*v).into())).collect();
    // JSON inside a script: `<` escaped, so nothing in it can close the script element.
    let json = |v: serde_json::Value| v.to_string().replace('<', "\\u003c");
    let script = format!(
        "(function(){{var t=window.opener||window.parent;t.postMessage({{type:\"authorization_response\",response:{}}},{});}})();",
        json(serde_json::Value::Object(response)),
        json(origin.clone().into()),
    );
    pages::script_page("Signing in", "", &script, None, Some(&origin))
}
