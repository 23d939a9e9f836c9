//! The core's one error type and the one place it is mapped to the wire.

use serde_json::json;

use crate::http::Response;
use crate::ports::PortError;

/// Wire error codes: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OIDC Core §3.1.2.6, RFC 8628
/// §3.5, CIBA Core §11 and §13, plus Gatehouse's own for non-OAuth routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    InvalidToken,
    InsufficientScope,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidRequestUri,
    InvalidRequestObject,
    RequestUriNotSupported,
    /// RFC 9396 §5.
    InvalidAuthorizationDetails,
    /// RFC 9449 §5, §7.1.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: send the proof again with the nonce in `DPoP-Nonce`.
    UseDpopNonce,
    /// RFC 8707 §2: the requested resource is unknown or not allowed.
    InvalidTarget,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    InvalidClientMetadata,
    AuthorizationPending,
    SlowDown,
    /// CIBA Core §13: the hint names no user this server knows.
    UnknownUserId,
    /// CIBA Core §13: the binding message is too long or not plain text.
    InvalidBindingMessage,
    /// CIBA Core §13: the `login_hint_token` has expired.
    ExpiredLoginHintToken,
    ExpiredToken,
    /// Auth0's answer when brute-force protection stops a password grant.
    TooManyAttempts,
    /// Auth0's code for a request rate limit (429).
    TooManyRequests,
    ServerError,
    TemporarilyUnavailable,
    /// Not an OAuth code: unknown path.
    NotFound,
    /// Not an OAuth code: wrong method for a known path.
    MethodNotAllowed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::UnknownUserId => "unknown_user_id",
            Self::InvalidBindingMessage => "invalid_binding_message",
            Self::ExpiredLoginHintToken => "expired_login_hint_token",
            Self::ExpiredToken => "expired_token",
            Self::TooManyAttempts => "too_many_attempts",
            Self::TooManyRequests => "too_many_requests",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The HTTP status when the error is returned directly (not redirected). Exhaustive: a new
    /// code must say its status here.
    pub fn status(self) -> u16 {
        match self {
            // RFC 6749 §5.2: 400, except invalid_client with HTTP authentication → 401.
            Self::InvalidRequest
            | Self::InvalidGrant
            | Self::UnauthorizedClient
            | Self::UnsupportedGrantType
            | Self::InvalidScope
            | Self::UnsupportedResponseType => 400,
            Self::InvalidClient => 401,
            // RFC 6750 §3.1.
            Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            // Auth0 answers a refused grant with 403; at /authorize it is redirected.
            Self::AccessDenied => 403,
            // Sent back directly only by the cookie-session API (elsewhere it is redirected): the
            // caller is not logged in.
            Self::LoginRequired => 401,
            // OIDC Core §3.1.2.6: redirected in practice; 400 if ever returned directly.
            Self::ConsentRequired | Self::InteractionRequired => 400,
            // RFC 9101 §6.3, OIDC Core §3.1.2.6.
            Self::InvalidRequestUri | Self::InvalidRequestObject | Self::RequestUriNotSupported => {
                400
            }
            // RFC 9396 §5: like invalid_scope.
            Self::InvalidAuthorizationDetails => 400,
            // RFC 9449 §5, §8 (the token endpoint); a resource answers 401 (`Error::Dpop`,
            // `Error::UseDpopNonce { resource: true }`).
            Self::InvalidDpopProof | Self::UseDpopNonce => 400,
            // RFC 8707 §2, RFC 7009 §2.2.1, RFC 7591 §3.2.2.
            Self::InvalidTarget
            | Self::UnsupportedTokenType
            | Self::InvalidRedirectUri
            | Self::InvalidClientMetadata => 400,
            // RFC 8628 §3.5 and CIBA Core §11: token-endpoint errors, 400.
            Self::AuthorizationPending | Self::SlowDown | Self::ExpiredToken => 400,
            // CIBA Core §13.
            Self::UnknownUserId | Self::InvalidBindingMessage | Self::ExpiredLoginHintToken => 400,
            Self::TooManyAttempts | Self::TooManyRequests => 429,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
        }
    }
}

/// Every failure the core can produce.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// A protocol error with a description safe to show the client.
    OAuth { code: ErrorCode, description: String },
    /// Unknown path.
    NotFound,
    /// Known path, wrong method; `allow` lists the methods for the `Allow` header (RFC 9110 §15.5.6).
    MethodNotAllowed { allow: &'static str },
    /// An operator endpoint called without the right credentials.
    AdminUnauthorized,
    /// A protected resource (userinfo, registration management) called without a bearer token
    /// (RFC 6750 §3.1: no error code then).
    BearerMissing,
    /// A bearer token that is invalid, expired, revoked, or lacks scope (RFC 6750 §3.1).
    Bearer { code: ErrorCode, description: String },
    /// The same for a request that used the DPoP scheme (RFC 9449 §7.1): the challenge is
    /// `DPoP`, and a bad proof is a 401.
    Dpop { code: ErrorCode, description: String },
    /// RFC 9449 §8, §9: the proof lacks a current server nonce; `nonce` is one to use. At a
    /// resource (`resource`) a 401 with the DPoP challenge, elsewhere a 400.
    UseDpopNonce { nonce: String, resource: bool },
    /// An error shown to the user as a page, never redirected: an unknown client, an
    /// unregistered `redirect_uri` (RFC 6749 §4.1.2.1), a broken login form.
    Page { code: ErrorCode, description: String },
    /// The deployment lacks a required secret or setting (named, for the operator's log).
    Misconfigured(&'static str),
    /// A port failed; details go to the log only.
    Port(PortError),
    /// A bug-shaped condition; logged, never shown.
    Internal(String),
    /// A stored record that does not parse (perhaps written in an older shape); logged, never
    /// shown. Where an older record may simply be gone, [`absent_if_unreadable`] treats it so.
    Unreadable(String),
}

/// Reads of records an older version may have written in another shape: an unreadable record
/// counts as absent (the user logs in again, the code is invalid, …); port failures still fail.
pub fn absent_if_unreadable<T>(read: Result<Option<T>, Error>) -> Result<Option<T>, Error> {
    match read {
        Err(Error::Unreadable(_)) => Ok(None),
        other => other,
    }
}

impl Error {
    pub fn oauth(code: ErrorCode, description: impl Into<String>) -> Self {
        Self::OAuth { code, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(ErrorCode::InvalidRequest, description)
    }

    /// The same error shown as a page (hosted pages, before a redirect URI is trusted).
    pub fn into_page(self) -> Self {
        match self {
            Self::OAuth { code, description } => Self::Page { code, description },
            other => other,
        }
    }

    /// The same error answered directly, as OAuth JSON (an endpoint without pages).
    pub fn into_oauth(self) -> Self {
        match self {
            Self::Page { code, description } => Self::OAuth { code, description },
            other => other,
        }
    }

    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::OAuth { code, .. } => *code,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::AdminUnauthorized | Self::BearerMissing => ErrorCode::InvalidToken,
            Self::Bearer { code, .. } | Self::Dpop { code, .. } | Self::Page { code, .. } => *code,
            Self::UseDpopNonce { .. } => ErrorCode::UseDpopNonce,
            Self::Misconfigured(_) | Self::Port(_) | Self::Internal(_) | Self::Unreadable(_) => {
                ErrorCode::ServerError
            }
        }
    }

    /// What the operator's log should say (never secrets).
    pub fn log_line(&self) -> Option<String> {
        match self {
            Self::Misconfigured(what) => Some(format!("misconfigured: {what}")),
            Self::Port(e) => Some(format!("port failure: {e}")),
            Self::Internal(e) => Some(format!("internal error: {e}")),
            Self::Unreadable(e) => Some(format!("unreadable record: {e}")),
            _ => None,
        }
    }

    /// Logs what the operator must know (internal failures only, never secrets), then maps the
    /// error to its response: what every endpoint's errors go through.
    pub fn respond<H: crate::ports::Host>(
        &self,
        host: &H,
        request: &crate::http::Request,
    ) -> Response {
        if let Some(line) = self.log_line() {
            host.log(&format!("{} {}: {line}", request.method, request.path));
        }
        self.to_response()
    }

    /// The one mapping from errors to HTTP responses. Internal failures say `server_error` and
    /// nothing more.
    pub fn to_response(&self) -> Response {
        let code = self.code();
        if let Self::Page { code, description } = self {
            // A page is not an HTTP authentication challenge: an unknown client is a 400.
            let status = if *code == ErrorCode::InvalidClient { 400 } else { code.status() };
            return crate::pages::error_page(status, code.as_str(), description);
        }
        let description = match self {
            Self::OAuth { description, .. }
            | Self::Bearer { description, .. }
            | Self::Dpop { description, .. }
            | Self::Page { description, .. } => description.clone(),
            Self::BearerMissing => "a bearer access token is required".into(),
            Self::UseDpopNonce { .. } => USE_DPOP_NONCE.into(),
            Self::NotFound => "no such endpoint".into(),
            Self::MethodNotAllowed { .. } => "method not allowed for this endpoint".into(),
            Self::AdminUnauthorized => "a valid operator token is required".into(),
            Self::Misconfigured(_) | Self::Port(_) | Self::Internal(_) | Self::Unreadable(_) => {
                "the server could not complete the request".into()
            }
        };
        let status = match self {
            Self::Dpop { code: ErrorCode::InvalidDpopProof, .. } => 401,
            Self::UseDpopNonce { resource: true, .. } => 401,
            _ => code.status(),
        };
        let mut response = Response::json(
            status,
            &json!({ "error": code.as_str(), "error_description": description }),
        )
        .with_header("cache-control", "no-store");
        match self {
            Self::MethodNotAllowed { allow } => response = response.with_header("allow", allow),
            // RFC 6750 §3: a 401 for a bearer token names the scheme and the error.
            Self::AdminUnauthorized => {
                response = response.with_header(
                    "www-authenticate",
                    "Bearer realm=\"gatehouse-admin\", error=\"invalid_token\"",
                )
            }
            Self::BearerMissing => {
                response = response.with_header("www-authenticate", "Bearer realm=\"gatehouse\"")
            }
            Self::Bearer { code, description } => {
                response = response.with_header(
                    "www-authenticate",
                    &challenge("Bearer realm=\"gatehouse\"", *code, description),
                )
            }
            Self::UseDpopNonce { nonce, resource } => {
                response = response.with_header("dpop-nonce", nonce);
                if *resource {
                    let scheme = format!("DPoP algs=\"{}\"", crate::dpop::algs());
                    response = response.with_header(
                        "www-authenticate",
                        &challenge(&scheme, ErrorCode::UseDpopNonce, USE_DPOP_NONCE),
                    );
                }
            }
            Self::Dpop { code, description } => {
                let scheme = format!("DPoP algs=\"{}\"", crate::dpop::algs());
                response = response
                    .with_header("www-authenticate", &challenge(&scheme, *code, description))
            }
            // RFC 6749 §5.2: a 401 names the authentication scheme the client may use.
            Self::OAuth { code: ErrorCode::InvalidClient, .. } => {
                response = response.with_header("www-authenticate", "Basic realm=\"gatehouse\"")
            }
            _ => {}
        }
        response
    }
}

/// What a `use_dpop_nonce` answer says (RFC 9449 §8, §9).
const USE_DPOP_NONCE: &str = "send the DPoP proof again with the nonce in DPoP-Nonce";

/// A `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1): the scheme and its parameters,
/// then the error and its description (quotes and backslashes left out).
fn challenge(scheme: &str, code: ErrorCode, description: &str) -> String {
    let description: String = description.chars().filter(|c| *c != '"' && *c != '\\').collect();
    format!("{scheme}, error=\"{}\", error_description=\"{description}\"", code.as_str())
}

impl From<PortError> for Error {
    fn from(e: PortError) -> Self {
        Self::Port(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_failures_leak_nothing() {
        let r = Error::Port(PortError::new("KV binding exploded: secret=abc")).to_response();
        assert_eq!(r.status, 500);
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.contains("server_error"));
        assert!(!body.contains("secret"));
    }

    #[test]
    fn method_not_allowed_names_the_methods() {
        let r = Error::MethodNotAllowed { allow: "GET, HEAD, OPTIONS" }.to_response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    }

    #[test]
    fn oauth_statuses_follow_the_rfcs() {
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        assert_eq!(ErrorCode::InvalidGrant.status(), 400);
        assert_eq!(ErrorCode::InvalidToken.status(), 401);
        assert_eq!(ErrorCode::InsufficientScope.status(), 403);
        assert_eq!(ErrorCode::LoginRequired.status(), 401);
    }
}
