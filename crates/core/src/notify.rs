//! Outbound notifications — CIBA pings and pushes (CIBA Core §10.2, §10.3, §12) and the
//! operator's approval webhook — sent after the response that caused them, through the HTTP
//! port, each retried with backoff and then given up. Giving up loses nothing a client could
//! still ask for: a ping-mode request stays on the ledger for the token endpoint. A push that
//! never arrives leaves its tokens with nobody: the access token expires, and the refresh
//! token's grant lives on unused (until its 30 days end) — the operator's log says which origin
//! was given up.

use crate::http::Request;
use crate::ports::{Clock, Host, HttpClient};

/// Waits before the 2nd, 3rd and 4th attempts (milliseconds): about 7 s in all, inside the
/// time a Worker may keep running after its response (`waitUntil`, 30 s).
pub const BACKOFF_MILLIS: [u64; 3] = [500, 1_500, 5_000];

/// Sends each notification until one attempt gets a 2xx answer, or gives up. Returns how many
/// were delivered. Redirects are not followed (the endpoint is the registered one).
pub async fn deliver<H: Host>(host: &H, notifications: Vec<Request>) -> usize {
    // At once: a slow or silent endpoint holds up only its own notification.
    let sent = notifications.into_iter().map(|n| deliver_one(host, n));
    futures_util::future::join_all(sent).await.into_iter().filter(|delivered| *delivered).count()
}

async fn deliver_one<H: Host>(host: &H, notification: Request) -> bool {
    let url = notification.url();
    let mut attempt = 0;
    loop {
        let outcome = host.http().fetch(notification.clone()).await;
        let status = outcome.as_ref().map(|r| r.status).ok();
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return true;
        }
        let Some(wait) = BACKOFF_MILLIS.get(attempt) else {
            let why = match (&outcome, status) {
                (Err(e), _) => e.0.clone(),
                (_, Some(s)) => format!("status {s}"),
                _ => String::new(),
            };
            host.log(&format!("notification to {} given up: {why}", origin(&url)));
            return false;
        };
        host.clock().sleep(*wait).await;
        attempt += 1;
    }
}

/// A POST of JSON to `url`, with a bearer token if given. `None`: `url` is not absolute.
pub fn json_post(url: &str, bearer: Option<&str>, body: Vec<u8>) -> Option<Request> {
    let mut request =
        Request::from_url("POST", url)?.with_header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.with_header("authorization", &format!("Bearer {token}"));
    }
    Some(request.with_body(body))
}

/// The URL's origin only, for the log (a path might carry something the operator should not
/// see in logs).
fn origin(url: &str) -> String {
    crate::http::origin_of(url)
}
