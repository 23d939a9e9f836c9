//! Brute-force limits, counted on the ledger: logins (per account and per client IP) and
//! `/activate` code entries (per client IP and per browser); and plain request limits
//! ([`within`]) for endpoints that create state, such as `/oauth/device/code`.
//!
//! Every attempt is counted atomically *before* anything is checked, so parallel guesses cannot
//! all slip under a limit; successes are counted too, so only failures use up the allowance;
//! and the previous window's failures still count, so the allowance does not reset at a window
//! boundary.

use crate::error::Error;
use crate::ports::{Clock, Host, Ledger};

/// The counting window.
pub const WINDOW_SECONDS: i64 = 300;

/// Who is counted (`ip:…`, `account:…`) and how many failures they are allowed.
#[derive(Clone, Debug)]
pub struct Limit {
    pub subject: String,
    pub max_failures: u64,
}

/// The subject for a client IP: an IPv6 address counts as its /64 (one subscriber's whole
/// allocation, which an attacker could otherwise walk through address by address).
pub fn ip_subject(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V4(v4)) => format!("ip:{v4}"),
        Err(_) => format!("ip:{}", ip.chars().take(64).collect::<String>()),
    }
}

fn key(scope: &str, kind: &str, subject: &str, window: i64) -> String {
    format!("rate:{scope}-{kind}:{subject}:{window}")
}

/// The ledger object one scope's counters for these limits live on: the first subject's (the
/// client IP's, for logins and `/activate`), so that one attempt is one round trip. A limit whose
/// subject is not tied to the IP (a browser's cookie) is then counted per IP shard as well.
fn group(scope: &str, limits: &[Limit]) -> String {
    let first = limits.first().map(|l| l.subject.as_str()).unwrap_or("");
    format!("rate-{scope}:{first}")
}

fn short() -> Error {
    Error::Internal("the ledger returned too few counts".into())
}

/// Counts an attempt for every subject; `false` when any of them is over its limit (then
/// nothing should be checked). One ledger round trip.
pub async fn attempt<H: Host>(host: &H, scope: &str, limits: &[Limit]) -> Result<bool, Error> {
    let now = host.clock().now();
    let window = now / WINDOW_SECONDS;
    let keep_until = (window + 2) * WINDOW_SECONDS;
    let increment: Vec<String> =
        limits.iter().map(|l| key(scope, "attempts", &l.subject, window)).collect();
    let read: Vec<String> = limits
        .iter()
        .flat_map(|l| {
            [
                key(scope, "successes", &l.subject, window),
                key(scope, "attempts", &l.subject, window - 1),
                key(scope, "successes", &l.subject, window - 1),
            ]
        })
        .collect();
    let counts =
        host.ledger().tally(&group(scope, limits), &increment, &read, now, keep_until).await?;
    let mut allowed = true;
    for (i, limit) in limits.iter().enumerate() {
        let at = |j: usize| counts.get(j).copied().ok_or_else(short);
        let (attempts, base) = (at(i)?, limits.len() + 3 * i);
        let (successes, previous) = (at(base)?, at(base + 1)?.saturating_sub(at(base + 2)?));
        allowed &= attempts.saturating_sub(successes) + previous <= limit.max_failures;
    }
    Ok(allowed)
}

/// Counts a success for every subject (it does not use up their allowance). One round trip.
pub async fn succeeded<H: Host>(host: &H, scope: &str, limits: &[Limit]) -> Result<(), Error> {
    let now = host.clock().now();
    let window = now / WINDOW_SECONDS;
    let keep_until = (window + 2) * WINDOW_SECONDS;
    let increment: Vec<String> =
        limits.iter().map(|l| key(scope, "successes", &l.subject, window)).collect();
    host.ledger().tally(&group(scope, limits), &increment, &[], now, keep_until).await?;
    Ok(())
}

/// Counts a request of `subject` and says whether it is within `max` requests over the current
/// and the previous window (so the allowance does not reset at a window boundary). For
/// endpoints where every request, not only a failure, costs something. One round trip.
pub async fn within<H: Host>(
    host: &H,
    scope: &str,
    subject: &str,
    max: u64,
) -> Result<bool, Error> {
    let now = host.clock().now();
    let window = now / WINDOW_SECONDS;
    let keep_until = (window + 2) * WINDOW_SECONDS;
    let limits = [Limit { subject: subject.to_string(), max_failures: max }];
    let increment = [key(scope, "requests", subject, window)];
    let read = [key(scope, "requests", subject, window - 1)];
    let counts =
        host.ledger().tally(&group(scope, &limits), &increment, &read, now, keep_until).await?;
    let (current, previous) =
        (counts.first().copied().ok_or_else(short)?, counts.get(1).copied().ok_or_else(short)?);
    Ok(current + previous <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(ip_subject("2001:db8::1"), ip_subject("2001:db8::ffff:1"));
        assert_ne!(ip_subject("2001:db8::1"), ip_subject("2001:db8:0:1::1"));
        assert_eq!(ip_subject("203.0.113.7"), "ip:203.0.113.7");
    }
}
