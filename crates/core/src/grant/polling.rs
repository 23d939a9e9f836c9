//! What the grants whose user approves elsewhere share — the device code (RFC 8628) and CIBA
//! (OpenID CIBA Core): a client polls the token endpoint at an interval, is told to slow down
//! when it polls too fast, and gets tokens exactly once from a ledger record that then ends.

use serde::Serialize;

use super::{invalid_grant, refresh_token, Authorization};
use crate::error::{Error, ErrorCode};
use crate::ledger_record::LedgerRecord;
use crate::ports::{Clock, Host, UnixTime};

/// What `slow_down` adds to the interval (RFC 8628 §3.5; CIBA Core §11).
pub const SLOW_DOWN_SECONDS: i64 = 5;
/// How long an ended or expired record is kept, so that a late poll hears `expired_token` or
/// `access_denied` rather than "unknown".
pub const KEEP_AFTER_SECONDS: i64 = 600;

/// A pending record that is polled: its interval, last poll and expiry, and the same record
/// with a poll recorded.
pub trait Polled: Clone + Serialize {
    fn interval(&self) -> i64;
    fn last_poll(&self) -> Option<UnixTime>;
    fn expires_at(&self) -> UnixTime;
    fn polled(&self, now: UnixTime, interval: i64) -> Self;
}

/// A poll of a pending record at `now` (RFC 8628 §3.5, CIBA Core §11): too soon after the last
/// one, the interval grows by 5 s and the answer is `slow_down`, as it is when a concurrent
/// poll changed the record first; otherwise `authorization_pending`. Whole seconds: a poll one
/// second early is network jitter, not haste (but two polls in one second are always too soon).
pub async fn record_poll<H: Host, T: Polled, E: Serialize>(
    host: &H,
    entry: &LedgerRecord<T, E>,
    record: &T,
) -> Result<Error, Error> {
    let now = host.clock().now();
    let interval = record.interval();
    let too_soon = record.last_poll().is_some_and(|last| now - last < (interval - 1).max(1));
    let interval = if too_soon { interval + SLOW_DOWN_SECONDS } else { interval };
    let next = record.polled(now, interval);
    let recorded = entry.replace(host, &next, record.expires_at() + KEEP_AFTER_SECONDS).await?;
    if too_soon || !recorded {
        return Ok(Error::oauth(
            ErrorCode::SlowDown,
            "polling too fast: wait the interval, plus 5 s",
        ));
    }
    Ok(Error::oauth(ErrorCode::AuthorizationPending, "the user has not approved the request yet"))
}

/// The single use of an approved record, made after the tokens are minted (see
/// [`super::Commit`]): ends it with the grant's `Issued` marker (exactly one caller wins; the
/// specs leave repeats to the server), then starts the refresh family if one is offered.
#[derive(Debug)]
pub struct UseOnce<T, E> {
    entry: LedgerRecord<T, E>,
    issued: fn(String) -> E,
}

impl<T: Serialize, E: Serialize> UseOnce<T, E> {
    /// `issued` makes the end marker from the new grant's id.
    pub fn new(entry: LedgerRecord<T, E>, issued: fn(String) -> E) -> Self {
        Self { entry, issued }
    }

    pub async fn apply<H: Host>(
        self,
        host: &H,
        authorization: &Authorization,
    ) -> Result<Option<String>, Error> {
        let grant_id =
            authorization.grant_id.clone().ok_or_else(|| Error::Internal("no grant id".into()))?;
        let keep = host.clock().now() + KEEP_AFTER_SECONDS;
        if !self.entry.end(host, &(self.issued)(grant_id), keep).await? {
            return Err(invalid_grant("already used: tokens are issued once"));
        }
        if refresh_token::offered(authorization) {
            return Ok(Some(refresh_token::start(host, authorization).await?));
        }
        Ok(None)
    }
}
