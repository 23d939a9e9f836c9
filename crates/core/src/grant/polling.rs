//! What the grants whose user approves elsewhere share — the device code (RFC 8628) and CIBA
//! (OpenID CIBA Core): a client polls the token endpoint at an interval, is told to slow down
//! when it polls too fast, and gets tokens exactly once from a ledger record that then ends.

use serde::Serialize;

use super::{invalid_grant, refresh_token, resolve, Authorization, Resolved, TokenRequest};
use crate::error::{Error, ErrorCode};
use crate::ledger_record::LedgerRecord;
use crate::ports::{Clock, Host, UnixTime};
use crate::vocabulary::ClientId;

/// What `slow_down` adds to the interval (RFC 8628 §3.5; CIBA Core §11).
pub const SLOW_DOWN_SECONDS: i64 = 5;
/// How long an ended or expired record is kept, so that a late poll hears `expired_token` or
/// `access_denied` rather than "unknown".
pub const KEEP_AFTER_SECONDS: i64 = 600;

/// A pending record that is polled: who asked, whether a user approved, its interval, last
/// poll and expiry, and the same record with a poll recorded. [`polled_record!`] implements it
/// for a record with the fields `requested`, `approved`, `interval`, `last_poll`, `expires_at`.
pub trait Polled: Clone + Serialize {
    fn client_id(&self) -> &ClientId;
    fn approved(&self) -> Option<&Authorization>;
    fn interval(&self) -> i64;
    fn last_poll(&self) -> Option<UnixTime>;
    fn expires_at(&self) -> UnixTime;
    fn polled(&self, now: UnixTime, interval: i64) -> Self;
}

/// [`Polled`] for a record with the fields it reads (the device code's, the CIBA request's).
macro_rules! polled_record {
    ($record:ty) => {
        impl $crate::grant::polling::Polled for $record {
            fn client_id(&self) -> &$crate::vocabulary::ClientId {
                &self.requested.client_id
            }
            fn approved(&self) -> Option<&$crate::grant::Authorization> {
                self.approved.as_ref()
            }
            fn interval(&self) -> i64 {
                self.interval
            }
            fn last_poll(&self) -> Option<$crate::ports::UnixTime> {
                self.last_poll
            }
            fn expires_at(&self) -> $crate::ports::UnixTime {
                self.expires_at
            }
            fn polled(&self, now: $crate::ports::UnixTime, interval: i64) -> Self {
                Self { last_poll: Some(now), interval, ..self.clone() }
            }
        }
    };
}
pub(crate) use polled_record;

/// A live polled record at the token endpoint (RFC 8628 §3.4–§3.5, CIBA Core §10.1, §11): it
/// belongs to the client that asked (another client's is `unknown`), is `expired_token` once
/// expired (`expired` says what expired), gives tokens once when approved (the tokens to mint,
/// and the single use, whose end marker `issued` makes), and otherwise answers the poll.
pub async fn answer<H: Host, T: Polled, E: Serialize>(
    request: &TokenRequest<'_, H>,
    entry: LedgerRecord<T, E>,
    record: &T,
    unknown: fn() -> Error,
    expired: &str,
    issued: fn(String) -> E,
) -> Result<(Resolved, UseOnce<T, E>), Error> {
    let host = request.host;
    if record.client_id() != &request.client.client_id {
        return Err(unknown());
    }
    if record.expires_at() <= host.clock().now() {
        return Err(Error::oauth(ErrorCode::ExpiredToken, format!("{expired} has expired")));
    }
    if let Some(approved) = record.approved() {
        let resolved = resolve(host, approved.clone().start_grant(host.rng())).await?;
        return Ok((resolved, UseOnce::new(entry, issued)));
    }
    Err(record_poll(host, &entry, record).await?)
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
