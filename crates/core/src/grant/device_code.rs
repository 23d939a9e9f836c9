//! The device authorization grant (RFC 8628): a device without a browser asks for codes at
//! `/oauth/device/code` (`endpoint::device_authorization`), shows the user code, and polls the
//! token endpoint while the user approves at `/activate` in a browser (`endpoint::activate`,
//! then the shared login and consent pages, finished by `Completion::Device`).
//!
//! One record on the ledger per device code holds the whole state: pending (with the polling
//! interval and the last poll, for `slow_down`), approved (with the user's authorization),
//! and ended exactly once — tokens issued, denied, or locked. A pointer from the user code to
//! it lets `/activate` find it.

use serde::{Deserialize, Serialize};

use super::polling::{self, KEEP_AFTER_SECONDS};
use super::{invalid_grant, Authorization, Commit, Issued, TokenRequest};
use crate::b64;
use crate::error::{absent_if_unreadable, Error, ErrorCode};
use crate::ledger_record::{self, LedgerRecord, State, Step};
use crate::ports::{random_bytes, Clock, Host, Ledger, UnixTime};

/// RFC 8628 §6.1: 8 characters from 20 consonants (no vowels, so no words; no look-alikes):
/// 20^8 ≈ 2^34.6 codes, against the few guesses the rate limits allow.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LENGTH: usize = 8;
/// How long the codes live (§3.2 `expires_in`; Auth0: 900 s).
pub const DEVICE_CODE_SECONDS: i64 = 900;
/// The polling interval (§3.2; the default when absent is 5 s; `slow_down`: `polling`).
pub const DEFAULT_INTERVAL_SECONDS: i64 = 5;
/// Confirmations from another browser (a forged or replayed consent form) tolerated before the
/// code is locked.
pub const MAX_WRONG_CONFIRMATIONS: u32 = 3;

/// A device code's state while live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub v: u32,
    /// What the device asked for (no user yet).
    pub requested: Authorization,
    /// The normalized user code (shown again on the confirmation page).
    pub user_code: String,
    pub expires_at: UnixTime,
    pub interval: i64,
    pub last_poll: Option<UnixTime>,
    /// Set once a user approved at `/activate`.
    pub approved: Option<Authorization>,
    #[serde(default)]
    pub wrong_confirmations: u32,
}

/// How a device code ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ended", rename_all = "snake_case")]
pub enum DeviceEnded {
    Issued {
        grant_id: String,
    },
    Denied,
    /// Too many wrong confirmations.
    Locked,
}

pub type DeviceEntry = LedgerRecord<DeviceRecord, DeviceEnded>;

/// The ledger key of a device code (its SHA-256: the code itself is never stored).
pub fn device_key(device_code: &str) -> String {
    format!("device:{}", b64::sha256(device_code))
}

fn user_code_key(user_code: &str) -> String {
    format!("usercode:{user_code}")
}

/// Normalizes what a user typed: case- and hyphen-insensitive, spaces ignored (§6.1). `None`
/// when it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// The user code as shown: `XXXX-XXXX`.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(4));
    format!("{a}-{b}")
}

fn new_user_code<H: Host>(host: &H) -> String {
    // 20 divides 240 evenly, so bytes below 240 map to the alphabet without bias.
    let mut code = String::with_capacity(USER_CODE_LENGTH);
    while code.len() < USER_CODE_LENGTH {
        for b in random_bytes::<16>(host.rng()) {
            if b < 240 && code.len() < USER_CODE_LENGTH {
                code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    code
}

/// Codes just issued (§3.2). `Debug` leaves out the device code (a bearer secret).
pub struct DeviceCodes {
    pub device_code: String,
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for DeviceCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodes")
            .field("user_code", &self.user_code)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Issues a device code and a user code for a request (§3.1, §3.2).
pub async fn issue<H: Host>(
    host: &H,
    requested: Authorization,
    interval: i64,
) -> Result<DeviceCodes, Error> {
    let now = host.clock().now();
    let expires_at = now + DEVICE_CODE_SECONDS;
    let device_code = b64::encode(random_bytes::<32>(host.rng()));
    let key = device_key(&device_code);
    // A user code is unique among live ones: a collision draws again.
    let mut user_code = None;
    for _ in 0..5 {
        let candidate = new_user_code(host);
        if host
            .ledger()
            .compare_and_set(&user_code_key(&candidate), None, &key, now, Some(expires_at))
            .await?
        {
            user_code = Some(candidate);
            break;
        }
    }
    let user_code = user_code.ok_or_else(|| Error::Internal("no free user code".into()))?;
    let record = DeviceRecord {
        v: 1,
        requested,
        user_code: user_code.clone(),
        expires_at,
        interval,
        last_poll: None,
        approved: None,
        wrong_confirmations: 0,
    };
    let keep = expires_at + KEEP_AFTER_SECONDS;
    if !ledger_record::create::<_, _, DeviceEnded>(host, &key, &record, keep).await? {
        return Err(Error::Internal("device code collision".into()));
    }
    Ok(DeviceCodes { device_code, user_code, expires_in: DEVICE_CODE_SECONDS, interval })
}

/// The live, unexpired, not yet approved device code a user code names (for `/activate`).
pub async fn pending_for_user_code<H: Host>(
    host: &H,
    user_code: &str,
) -> Result<Option<(String, DeviceRecord)>, Error> {
    let now = host.clock().now();
    let Some(key) = host.ledger().get(&user_code_key(user_code), now).await? else {
        return Ok(None);
    };
    let entry: Option<DeviceEntry> = absent_if_unreadable(ledger_record::load(host, &key).await)?;
    Ok(entry.and_then(|e| match e.state {
        State::Live(r) if r.expires_at > now && r.approved.is_none() => Some((key, r)),
        _ => None,
    }))
}

/// Records the user's approval (`Completion::Device`). `false`: the code is no longer pending
/// (expired, denied, locked, approved already).
pub async fn approve<H: Host>(
    host: &H,
    key: &str,
    authorization: Authorization,
) -> Result<bool, Error> {
    let now = host.clock().now();
    ledger_record::update::<_, DeviceRecord, DeviceEnded, _>(host, key, |state| match state {
        Some(State::Live(record)) if record.expires_at > now && record.approved.is_none() => {
            let next = DeviceRecord { approved: Some(authorization.clone()), ..record.clone() };
            (Step::Replace(next, record.expires_at + KEEP_AFTER_SECONDS), true)
        }
        _ => (Step::Keep, false),
    })
    .await
}

/// Ends a pending device code: denied by the user, or locked.
pub async fn end<H: Host>(host: &H, key: &str, how: DeviceEnded) -> Result<(), Error> {
    let keep = host.clock().now() + KEEP_AFTER_SECONDS;
    ledger_record::update::<_, DeviceRecord, DeviceEnded, _>(host, key, |state| match state {
        // A code the user already approved stays approved (another tab's deny cannot undo it).
        Some(State::Live(record)) if record.approved.is_none() => {
            (Step::End(how.clone(), keep), ())
        }
        _ => (Step::Keep, ()),
    })
    .await
}

/// Counts a form of this device's interaction posted from another browser (a forged or replayed
/// login or confirmation); the code is locked after [`MAX_WRONG_CONFIRMATIONS`].
pub async fn wrong_confirmation<H: Host>(host: &H, key: &str) -> Result<(), Error> {
    let keep = host.clock().now() + KEEP_AFTER_SECONDS;
    ledger_record::update::<_, DeviceRecord, DeviceEnded, _>(host, key, |state| match state {
        Some(State::Live(record)) if record.approved.is_some() => (Step::Keep, ()),
        Some(State::Live(record)) if record.wrong_confirmations + 1 >= MAX_WRONG_CONFIRMATIONS => {
            (Step::End(DeviceEnded::Locked, keep), ())
        }
        Some(State::Live(record)) => {
            let next = DeviceRecord {
                wrong_confirmations: record.wrong_confirmations + 1,
                ..record.clone()
            };
            (Step::Replace(next, record.expires_at + KEEP_AFTER_SECONDS), ())
        }
        _ => (Step::Keep, ()),
    })
    .await
}

/// The grant (§3.4, §3.5): polling answers `authorization_pending`, `slow_down` (a poll sooner
/// than the interval adds 5 s to it), `access_denied` and `expired_token`; an approved code
/// issues tokens exactly once.
pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, params, .. } = *request;
    let device_code = params.require("device_code")?;
    fn unknown() -> Error {
        invalid_grant("the device code is invalid")
    }
    if device_code.len() > 128 {
        return Err(unknown());
    }
    let entry: DeviceEntry =
        absent_if_unreadable(ledger_record::load(host, &device_key(device_code)).await)?
            .ok_or_else(unknown)?;
    let record = match &entry.state {
        State::Live(record) => record.clone(),
        State::Ended(DeviceEnded::Issued { .. }) => {
            return Err(invalid_grant("the device code was already used"))
        }
        State::Ended(DeviceEnded::Denied) => {
            return Err(Error::oauth(ErrorCode::AccessDenied, "the user denied the request"))
        }
        State::Ended(DeviceEnded::Locked) => {
            return Err(Error::oauth(
                ErrorCode::AccessDenied,
                "the code was locked after confirmations from another browser",
            ))
        }
    };
    // §3.4: the device code is bound to the client that asked for it.
    let (resolved, once) =
        polling::answer(request, entry, &record, unknown, "the device code", |grant_id| {
            DeviceEnded::Issued { grant_id }
        })
        .await?;
    Ok(Issued { resolved, commit: Commit::Device(Box::new(once)) })
}

polling::polled_record!(DeviceRecord);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_normalized_and_shown_as_rfc8628_suggests() {
        assert_eq!(normalize_user_code("wdjb-mjht").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize_user_code(" WDJB MJHT ").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize_user_code("WDJBMJH"), None, "too short");
        assert_eq!(normalize_user_code("WDJBMJHA"), None, "a vowel is not in the alphabet");
        assert_eq!(normalize_user_code("WDJBMJH1"), None);
        assert_eq!(display_user_code("WDJBMJHT"), "WDJB-MJHT");
    }
}
