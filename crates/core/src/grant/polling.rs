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

/// A poll of a pending record at `now`: whether it came too soon after `last_poll`, and the
/// interval from now on (5 s longer when too soon). Whole seconds: a poll one second early is
/// network jitter, not haste (but two polls in one second are always too soon).
pub fn poll_at(interval: i64, last_poll: Option<UnixTime>, now: UnixTime) -> (bool, i64) {
    let floor = (interval - 1).max(1);
    let too_soon = last_poll.is_some_and(|last| now - last < floor);
    (too_soon, if too_soon { interval + SLOW_DOWN_SECONDS } else { interval })
}

/// The answer to a poll once `recorded` says whether this poll's time was written: too soon,
/// or a concurrent poll changed the record first (too soon as well), is `slow_down`; otherwise
/// `authorization_pending`.
pub fn pending_answer(too_soon: bool, recorded: bool) -> Error {
    if too_soon || !recorded {
        return Error::oauth(ErrorCode::SlowDown, "polling too fast: wait the interval, plus 5 s");
    }
    Error::oauth(ErrorCode::AuthorizationPending, "the user has not answered yet")
}

/// The single use of an approved record, made after the tokens are minted (`Commit`): ends it
/// with `issued` (exactly one caller wins), then starts the refresh family if one is offered.
pub async fn use_once<H: Host, T: Serialize, E: Serialize>(
    host: &H,
    entry: &LedgerRecord<T, E>,
    issued: &E,
    authorization: &Authorization,
) -> Result<Option<String>, Error> {
    let keep = host.clock().now() + KEEP_AFTER_SECONDS;
    if !entry.end(host, issued, keep).await? {
        return Err(invalid_grant("it was already used"));
    }
    if refresh_token::offered(authorization) {
        return Ok(Some(refresh_token::start(host, authorization).await?));
    }
    Ok(None)
}
