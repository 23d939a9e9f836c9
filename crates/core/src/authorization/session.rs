//! The browser session with the authorization server: a random id in an `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` and `__Host-` prefixed on https, RFC 6265bis §4.1.3.2), and
//! its record in the store under the id's SHA-256.

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::Error;
use crate::http::Request;
use crate::ports::{random_bytes, Clock, Host, Store, UnixTime};
use crate::records::{read, to_json};

/// How long a login lasts (Auth0's default inactivity timeout is 3 days).
pub const SESSION_SECONDS: i64 = 3 * 86_400;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub v: u32,
    pub user_id: String,
    /// When the user last entered their password (OIDC `auth_time`).
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
}

pub fn cookie_name(request: &Request) -> &'static str {
    if request.is_https() {
        "__Host-gatehouse_session"
    } else {
        "gatehouse_session"
    }
}

/// A `Set-Cookie` value with Gatehouse's attributes.
pub fn set_cookie(request: &Request, name: &str, value: &str, max_age: i64) -> String {
    let secure = if request.is_https() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn store_key(session_id: &str) -> String {
    format!("session/{}", b64::sha256(session_id))
}

/// The request's live session, if any.
pub async fn current<H: Host>(host: &H, request: &Request) -> Result<Option<Session>, Error> {
    let Some(id) = request.cookie(cookie_name(request)) else { return Ok(None) };
    if id.len() != 43 {
        return Ok(None);
    }
    let session: Option<Session> = read(host.store(), &store_key(id)).await.unwrap_or(None);
    Ok(session.filter(|s| s.expires_at > host.clock().now()))
}

/// Starts a session for `user_id`; returns the `Set-Cookie` value.
pub async fn start<H: Host>(host: &H, request: &Request, user_id: &str) -> Result<String, Error> {
    // A fresh id on every login: no session fixation.
    end(host, request).await?;
    let id = b64::encode(random_bytes::<32>(host.rng()));
    let now = host.clock().now();
    let session = Session {
        v: 1,
        user_id: user_id.to_string(),
        auth_time: now,
        expires_at: now + SESSION_SECONDS,
    };
    host.store().put(&store_key(&id), &to_json(&session)?, Some(SESSION_SECONDS as u64)).await?;
    Ok(set_cookie(request, cookie_name(request), &id, SESSION_SECONDS))
}

/// Ends the request's session; returns the `Set-Cookie` value that clears the cookie.
pub async fn end<H: Host>(host: &H, request: &Request) -> Result<String, Error> {
    if let Some(id) = request.cookie(cookie_name(request)) {
        if id.len() == 43 {
            host.store().delete(&store_key(id)).await?;
        }
    }
    Ok(set_cookie(request, cookie_name(request), "", 0))
}
