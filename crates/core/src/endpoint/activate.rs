//! `/activate` (RFC 8628 §3.3, Auth0's path): the user enters the code their device shows,
//! then logs in and confirms through the shared hosted pages; `Completion::Device` records the
//! outcome where the device polls.
//!
//! Brute force on user codes (§5.1) is stopped by the per-IP limit on failed entries
//! (`rate_limit`), and by locking a code whose interaction forms are posted from another browser
//! too often (`device_code::wrong_confirmation`). A per-browser limit (a cookie) stops a careless
//! guesser sooner; one who drops cookies meets the per-IP limit.

use crate::authorization::interaction::{Completion, DeviceWaiting};
use crate::authorization::request::AuthRequest;
use crate::authorization::session;
use crate::b64;
use crate::config::Config;
use crate::endpoint::authorize;
use crate::error::{Error, ErrorCode};
use crate::grant::device_code;
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::pages;
use crate::ports::{random_bytes, Host};
use crate::rate_limit::{self, Limit};
use crate::records;
use crate::vocabulary::Prompt;

/// Failed code entries allowed per client IP and per browser, in the current and previous
/// window.
pub const FAILED_ENTRIES_PER_IP: u64 = 20;
pub const FAILED_ENTRIES_PER_BROWSER: u64 = 5;

const WRONG_CODE: &str = "That code is not valid, or has expired. Check the code on your device.";
const TOO_MANY: &str = "Too many wrong codes. Wait a few minutes, then try again.";

fn browser_cookie(req: &Request) -> String {
    let prefix = if req.is_https() { "__Host-" } else { "" };
    format!("{prefix}gatehouse_activate")
}

/// `GET /activate[?user_code=…]`.
pub fn form(req: &Request) -> Result<Response, Error> {
    let params = Params::from_query(req).unwrap_or_default();
    let code = params.get("user_code").ok().flatten().unwrap_or("");
    let shown = device_code::normalize_user_code(code)
        .map(|c| device_code::display_user_code(&c))
        .unwrap_or_default();
    Ok(pages::activate_page(&shown, None, 200))
}

/// `POST /activate`: a user code, checked against the limits first.
pub async fn submit<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_body(req, false).map_err(Error::into_page)?;
    let typed = params.get("user_code").ok().flatten().unwrap_or("");
    // The browser's own counter: a random id in a cookie (set here when it has none).
    let (browser, new_cookie) = match req.cookie(&browser_cookie(req)).filter(|c| c.len() == 22) {
        Some(id) => (id.to_string(), None),
        None => {
            let id = b64::encode(random_bytes::<16>(host.rng()));
            let cookie = session::set_cookie(req, &browser_cookie(req), &id, 86_400);
            (id, Some(cookie))
        }
    };
    let with_cookie = |mut r: Response| {
        if let Some(c) = &new_cookie {
            r = r.with_header("set-cookie", c);
        }
        r
    };
    // A cross-site page cannot post here to burn its visitors' allowance: browsers say where a
    // request comes from (Fetch Metadata `Sec-Fetch-Site`; `Origin`, which is "null" from these
    // pages themselves, as they send no referrer).
    let foreign_origin = req.header("origin").is_some_and(|o| o != "null" && o != req.origin);
    let cross_site =
        req.header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site");
    if foreign_origin || cross_site {
        return Err(Error::Page {
            code: ErrorCode::AccessDenied,
            description: "Enter the code on this page.".into(),
        });
    }
    let limits = [
        Limit {
            subject: rate_limit::ip_subject(req.client_ip()),
            max_failures: FAILED_ENTRIES_PER_IP,
        },
        Limit {
            subject: format!("browser:{}", b64::sha256(&browser)),
            max_failures: FAILED_ENTRIES_PER_BROWSER,
        },
    ];
    // Counted before the code is looked up (parallel guesses cannot slip under the limit).
    if !rate_limit::attempt(host, "activate", &limits).await? {
        return Ok(with_cookie(pages::activate_page(typed, Some(TOO_MANY), 429)));
    }
    let found = match device_code::normalize_user_code(typed) {
        Some(code) => device_code::pending_for_user_code(host, &code).await?,
        None => None,
    };
    let Some((device_key, record)) = found else {
        return Ok(with_cookie(pages::activate_page(typed, Some(WRONG_CODE), 400)));
    };
    rate_limit::succeeded(host, "activate", &limits).await?;
    let client = records::client(host.store(), record.requested.client_id.as_str()).await?.ok_or(
        Error::Page { code: ErrorCode::InvalidClient, description: "unknown client".into() },
    )?;
    let completion =
        Completion::Device(DeviceWaiting { device_key, user_code: record.user_code.clone() });
    let mut pending = AuthRequest::new(host, record.requested, completion);
    // RFC 8628 §5.4: the user confirms every device explicitly, first-party or not.
    pending.prompt = vec![Prompt::Consent];
    let response = authorize::proceed(host, config, req, pending, &client).await?;
    Ok(with_cookie(response))
}
