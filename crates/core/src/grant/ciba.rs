//! Client-Initiated Backchannel Authentication (OpenID CIBA Core 1.0): a confidential client
//! asks at `/bc-authorize` (`endpoint::backchannel_authentication`) for a user it names with a
//! hint; the user approves on their authentication device at `/approve`
//! (`endpoint::approve`, then the shared login and consent pages, finished by
//! `Completion::Backchannel`); the client hears the outcome by polling the token endpoint, by a
//! ping to its notification endpoint and then the token endpoint, or by the tokens pushed to
//! that endpoint.
//!
//! One record on the ledger per request holds the whole state, as for device codes
//! (`grant::polling` has what the two share): pending (with the polling interval and the last
//! poll, for `slow_down`), approved (poll and ping: the user's authorization, waiting for the
//! token request), and ended exactly once — tokens issued (or pushed), or denied. Its key is
//! the SHA-256 of the `auth_req_id`; that digest is also the request's id in `/approve` links,
//! so a link does not reveal the `auth_req_id`.

use serde::{Deserialize, Serialize};

use super::polling::{self, UseOnce, KEEP_AFTER_SECONDS};
use super::{invalid_grant, resolve, Authorization, Commit, Issued, TokenRequest};
use crate::b64;
use crate::error::{absent_if_unreadable, Error, ErrorCode};
use crate::http::Request;
use crate::ledger_record::{self, LedgerRecord, State, Step};
use crate::ports::{random_bytes, Clock, Host, Ledger, UnixTime};
use crate::vocabulary::DeliveryMode;

/// How long a request lives unless the client asks for less (`requested_expiry`, §7.1).
pub const DEFAULT_EXPIRY_SECONDS: i64 = 300;
/// The longest `requested_expiry` accepted.
pub const MAX_EXPIRY_SECONDS: i64 = 600;
/// §7.3: the default polling interval (poll and ping modes; `CIBA_INTERVAL_SECONDS`).
pub const INTERVAL_SECONDS: i64 = 5;
/// §7.1: the binding message is short plain text.
pub const MAX_BINDING_MESSAGE_CHARS: usize = 64;
/// How many of a user's requests the approval page lists (the newest).
pub const MAX_LISTED: usize = 20;

/// Where a ping or push goes (§10.2, §10.3): the client's registered endpoint and the bearer
/// token it gave with this request. Ping and push send the `auth_req_id` back (§10.2), so for
/// them it is kept here; a poll-mode record holds only its digest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTarget {
    pub endpoint: String,
    pub token: String,
    pub auth_req_id: String,
}

/// Leaves out the bearer token and the `auth_req_id`.
impl std::fmt::Debug for NotificationTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationTarget")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// A CIBA request's state while live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CibaRecord {
    pub v: u32,
    /// What the client asked for (no user yet).
    pub requested: Authorization,
    /// The user the hint named: only they may approve.
    pub user_id: String,
    /// §7.1: shown to the user on the client's device and here, so they can tell them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<String>,
    pub mode: DeliveryMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotificationTarget>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub interval: i64,
    #[serde(default)]
    pub last_poll: Option<UnixTime>,
    /// Set once the user approved (poll and ping; a push approval ends the record at once).
    #[serde(default)]
    pub approved: Option<Authorization>,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ended", rename_all = "snake_case")]
pub enum CibaEnded {
    Issued {
        grant_id: String,
    },
    Denied,
    /// A push-mode request that expired unanswered, which the client was told (§12).
    Expired,
}

pub type CibaEntry = LedgerRecord<CibaRecord, CibaEnded>;

/// A request's id: the SHA-256 of its `auth_req_id` (its ledger key, and its `/approve` link).
pub fn request_id(auth_req_id: &str) -> String {
    b64::sha256(auth_req_id)
}

pub fn ledger_key(request_id: &str) -> String {
    format!("ciba:{request_id}")
}

fn user_index_key(user_id: &str) -> String {
    format!("ciba-user:{}", b64::sha256(user_id))
}

/// A new request, before it is stored. `Debug` leaves out the notification token.
pub struct NewRequest {
    pub requested: Authorization,
    pub user_id: String,
    pub binding_message: Option<String>,
    pub mode: DeliveryMode,
    /// The client's notification endpoint and token (ping and push).
    pub notify: Option<(String, String)>,
    pub expires_in: i64,
    /// The polling interval (poll and ping modes).
    pub interval: i64,
}

impl std::fmt::Debug for NewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRequest")
            .field("requested", &self.requested)
            .field("user_id", &self.user_id)
            .field("mode", &self.mode)
            .field("notify", &self.notify.as_ref().map(|(endpoint, _)| endpoint))
            .finish_non_exhaustive()
    }
}

/// A request just stored (§7.3). `Debug` leaves out the `auth_req_id`.
pub struct Created {
    pub auth_req_id: String,
    pub request_id: String,
    pub record: CibaRecord,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created").field("request_id", &self.request_id).finish_non_exhaustive()
    }
}

/// Stores a request on the ledger and lists it for its user.
pub async fn create<H: Host>(host: &H, new: NewRequest) -> Result<Created, Error> {
    let now = host.clock().now();
    // §7.3: at least 128 bits of entropy; here 256.
    let auth_req_id = b64::encode(random_bytes::<32>(host.rng()));
    let id = request_id(&auth_req_id);
    let interval = match new.mode {
        DeliveryMode::Push => 0,
        DeliveryMode::Poll | DeliveryMode::Ping => new.interval,
    };
    let record = CibaRecord {
        v: 1,
        requested: new.requested,
        user_id: new.user_id,
        binding_message: new.binding_message,
        mode: new.mode,
        notify: new.notify.map(|(endpoint, token)| NotificationTarget {
            endpoint,
            token,
            auth_req_id: auth_req_id.clone(),
        }),
        created_at: now,
        expires_at: now + new.expires_in,
        interval,
        last_poll: None,
        approved: None,
    };
    let keep = record.expires_at + KEEP_AFTER_SECONDS;
    if !ledger_record::create::<_, _, CibaEnded>(host, &ledger_key(&id), &record, keep).await? {
        return Err(Error::Internal("auth_req_id collision".into()));
    }
    // §12: a push-mode client hears of expiry too. Nobody asks at that moment, so the ledger
    // keeps the deadline: the record, still exactly as created (unanswered), is ended and the
    // error pushed.
    if let Some(notify) = &record.notify {
        if record.mode == DeliveryMode::Push {
            let scheduled = match expiry_deadline(&ledger_key(&id), &record, notify, keep) {
                Ok(deadline) => host.ledger().at_deadline(deadline).await.map_err(Error::Port),
                Err(e) => Err(e),
            };
            if let Err(e) = scheduled {
                host.log(&format!(
                    "CIBA expiry not scheduled: {}",
                    e.log_line().unwrap_or_default()
                ));
            }
        }
    }
    // The request exists now: if the index cannot take it (contention), the webhook's link
    // still opens it.
    if let Err(e) = list_for_user(host, &record.user_id, &id, record.expires_at).await {
        if let Some(line) = e.log_line() {
            host.log(&format!("CIBA request not listed: {line}"));
        }
    }
    Ok(Created { auth_req_id, request_id: id, record })
}

fn expiry_deadline(
    key: &str,
    record: &CibaRecord,
    notify: &NotificationTarget,
    keep: UnixTime,
) -> Result<crate::ports::Deadline, Error> {
    let notification = push_error(
        notify,
        ErrorCode::ExpiredToken.as_str(),
        "the request expired before the user answered",
    )
    .ok_or_else(|| Error::Internal("unusable notification endpoint".into()))?;
    Ok(crate::ports::Deadline {
        key: key.to_string(),
        expected: ledger_record::live_text::<_, CibaEnded>(record)?,
        replacement: ledger_record::ended_text::<CibaRecord, _>(&CibaEnded::Expired)?,
        at: record.expires_at,
        keep_until: keep,
        notification,
    })
}

/// The user's index of request ids (newest last), on the ledger and changed by compare-and-set
/// so that two requests created at once are both listed. Expired ids leave it as it is written.
async fn list_for_user<H: Host>(
    host: &H,
    user_id: &str,
    id: &str,
    expires_at: UnixTime,
) -> Result<(), Error> {
    let key = user_index_key(user_id);
    for _ in 0..8 {
        let now = host.clock().now();
        let text = host.ledger().get(&key, now).await?;
        let mut ids: Vec<(String, UnixTime)> =
            text.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
        ids.retain(|(_, exp)| *exp > now);
        ids.push((id.to_string(), expires_at));
        let excess = ids.len().saturating_sub(MAX_LISTED);
        ids.drain(..excess);
        let until = ids.iter().map(|(_, exp)| *exp).max().unwrap_or(expires_at);
        let next = serde_json::to_string(&ids).map_err(|e| Error::Internal(e.to_string()))?;
        if host.ledger().compare_and_set(&key, text.as_deref(), &next, now, Some(until)).await? {
            return Ok(());
        }
    }
    Err(Error::Internal("the user's CIBA index is under contention".into()))
}

/// A live request the user can still answer: not expired, not approved yet.
fn answerable(record: &CibaRecord, now: UnixTime) -> bool {
    record.expires_at > now && record.approved.is_none()
}

/// The length of a request id: a SHA-256 in unpadded base64url.
const REQUEST_ID_LENGTH: usize = 43;

/// One request by its id, if the user can still answer it.
pub async fn pending<H: Host>(host: &H, id: &str) -> Result<Option<CibaRecord>, Error> {
    if id.len() != REQUEST_ID_LENGTH
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    let now = host.clock().now();
    let entry: Option<CibaEntry> =
        absent_if_unreadable(ledger_record::load(host, &ledger_key(id)).await)?;
    Ok(entry.and_then(|e| match e.state {
        State::Live(r) if answerable(&r, now) => Some(r),
        _ => None,
    }))
}

/// The requests a user can still answer, newest first, with their ids.
pub async fn pending_for_user<H: Host>(
    host: &H,
    user_id: &str,
) -> Result<Vec<(String, CibaRecord)>, Error> {
    let now = host.clock().now();
    let text = host.ledger().get(&user_index_key(user_id), now).await?;
    let ids: Vec<(String, UnixTime)> =
        text.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    // Read at once, not one ledger round trip after another.
    let live = ids.iter().rev().filter(|(_, exp)| *exp > now);
    let read = futures_util::future::try_join_all(live.map(|(id, _)| async move {
        Ok::<_, Error>(pending(host, id).await?.map(|record| (id.clone(), record)))
    }))
    .await?;
    Ok(read.into_iter().flatten().filter(|(_, record)| record.user_id == user_id).collect())
}

/// Records the user's approval: poll and ping keep the authorization for the token request;
/// a push-mode record is left live, to be ended by the push's own single use ([`approve`]).
/// Returns the record as read, or `None` when it was no longer answerable.
async fn record_approval<H: Host>(
    host: &H,
    id: &str,
    authorization: &Authorization,
) -> Result<Option<CibaEntry>, Error> {
    let now = host.clock().now();
    let key = ledger_key(id);
    let entry: Option<CibaEntry> = absent_if_unreadable(ledger_record::load(host, &key).await)?;
    let Some(entry) = entry else { return Ok(None) };
    let record = match entry.live() {
        Some(r) if answerable(r, now) => r.clone(),
        _ => return Ok(None),
    };
    if record.mode == DeliveryMode::Push {
        return Ok(Some(entry));
    }
    let next = CibaRecord { approved: Some(authorization.clone()), ..record.clone() };
    let recorded =
        ledger_record::update::<_, CibaRecord, CibaEnded, _>(host, &key, |state| match state {
            Some(State::Live(r)) if answerable(r, now) => {
                (Step::Replace(next.clone(), r.expires_at + KEEP_AFTER_SECONDS), true)
            }
            _ => (Step::Keep, false),
        })
        .await?;
    Ok(recorded.then_some(entry))
}

/// Ends a request the user denied while they could still answer it; returns it, or `None`.
async fn record_denial<H: Host>(host: &H, id: &str) -> Result<Option<CibaRecord>, Error> {
    let now = host.clock().now();
    let keep = now + KEEP_AFTER_SECONDS;
    ledger_record::update::<_, CibaRecord, CibaEnded, _>(host, &ledger_key(id), |state| match state
    {
        Some(State::Live(record)) if answerable(record, now) => {
            (Step::End(CibaEnded::Denied, keep), Some(record.clone()))
        }
        _ => (Step::Keep, None),
    })
    .await
}

/// The token grant (§10.1, §11): polling answers `authorization_pending`, `slow_down` (a poll
/// sooner than the interval adds 5 s to it), `access_denied` and `expired_token`; an approved
/// request issues tokens exactly once. A push-mode client receives its tokens at its endpoint
/// and may not ask here (§11 `unauthorized_client`).
pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, client, params, .. } = *request;
    if client.backchannel_token_delivery_mode == Some(DeliveryMode::Push) {
        return Err(Error::oauth(
            ErrorCode::UnauthorizedClient,
            "this client is registered for push mode: its tokens are delivered to it",
        ));
    }
    let auth_req_id = params.require("auth_req_id")?;
    fn unknown() -> Error {
        invalid_grant("the auth_req_id is invalid")
    }
    if auth_req_id.len() > 128 {
        return Err(unknown());
    }
    let entry: CibaEntry = absent_if_unreadable(
        ledger_record::load(host, &ledger_key(&request_id(auth_req_id))).await,
    )?
    .ok_or_else(unknown)?;
    let record = match &entry.state {
        State::Live(record) => record.clone(),
        State::Ended(CibaEnded::Issued { .. }) => {
            return Err(invalid_grant("the auth_req_id was already used"))
        }
        State::Ended(CibaEnded::Denied) => {
            return Err(Error::oauth(ErrorCode::AccessDenied, "the user denied the request"))
        }
        State::Ended(CibaEnded::Expired) => {
            return Err(Error::oauth(ErrorCode::ExpiredToken, "the auth_req_id has expired"))
        }
    };
    // A push-mode request's tokens are pushed, never polled for.
    if record.mode == DeliveryMode::Push {
        return Err(unknown());
    }
    // §10.1: the request belongs to the client that made it.
    let (resolved, once) =
        polling::answer(request, entry, &record, unknown, "the auth_req_id", |grant_id| {
            CibaEnded::Issued { grant_id }
        })
        .await?;
    Ok(Issued { resolved, commit: Commit::Backchannel(Box::new(once)) })
}

polling::polled_record!(CibaRecord);

/// The request's single use (see [`Commit`]): at the token endpoint (poll, ping), or when the
/// user approves a push-mode request.
fn use_once(entry: CibaEntry) -> UseOnce<CibaRecord, CibaEnded> {
    UseOnce::new(entry, |grant_id| CibaEnded::Issued { grant_id })
}

/// A POST of JSON to a client's notification endpoint with its bearer token (§10.2, §10.3).
fn notification(notify: &NotificationTarget, body: &serde_json::Value) -> Option<Request> {
    crate::notify::json_post(&notify.endpoint, Some(&notify.token), body.to_string().into_bytes())
}

/// §10.2: the ping, which carries only the `auth_req_id`.
fn ping(notify: &NotificationTarget) -> Option<Request> {
    notification(notify, &serde_json::json!({ "auth_req_id": notify.auth_req_id }))
}

/// §12: a push-mode request that ended without tokens is pushed as an error.
fn push_error(notify: &NotificationTarget, code: &str, description: &str) -> Option<Request> {
    notification(
        notify,
        &serde_json::json!({
            "auth_req_id": notify.auth_req_id,
            "error": code,
            "error_description": description,
        }),
    )
}

/// The user approved request `id` (`Completion::Backchannel`): recorded for a poll-mode client;
/// for ping, recorded and the client pinged (§10.2); for push, the tokens minted, the request
/// used, and the token response pushed (§10.3.1). Returns the notifications to send.
pub async fn approve<H: Host>(
    host: &H,
    config: &crate::config::Config,
    issuer: &str,
    client: &crate::records::ClientRecord,
    id: &str,
    authorization: Authorization,
) -> Result<Vec<Request>, Error> {
    let gone = || Error::Page { code: ErrorCode::ExpiredToken, description: GONE.into() };
    let entry = record_approval(host, id, &authorization).await?.ok_or_else(gone)?;
    let record = entry.live().cloned().ok_or_else(gone)?;
    match (record.mode, record.notify) {
        (DeliveryMode::Ping, Some(notify)) => Ok(ping(&notify).into_iter().collect()),
        (DeliveryMode::Push, Some(notify)) => {
            push(host, config, issuer, client, entry, &notify, authorization).await
        }
        _ => Ok(Vec::new()),
    }
}

/// What the user is told when a request can no longer be answered.
pub const GONE: &str = "This request has expired or was already answered.";

/// §10.3.1: mints the tokens, uses the request, and pushes the token response. A failure after
/// the request was used (the ID token, signed last because it binds the refresh token, could
/// not be signed) revokes what was issued and pushes `transaction_failed` (§12), so the client
/// is not left waiting.
async fn push<H: Host>(
    host: &H,
    config: &crate::config::Config,
    issuer: &str,
    client: &crate::records::ClientRecord,
    entry: CibaEntry,
    notify: &NotificationTarget,
    authorization: Authorization,
) -> Result<Vec<Request>, Error> {
    let key = entry.key().to_string();
    let gone = || Error::Page { code: ErrorCode::ExpiredToken, description: GONE.into() };
    let authorization = authorization.start_grant(host.rng());
    let grant_id = authorization.grant_id.clone().unwrap_or_default();
    let resolved = resolve(host, authorization).await?;
    // The client and the API as they are now: a client deleted (on the ledger, exact) or no
    // longer in push mode, or an API that now requires DPoP, gets nothing, and the request ends
    // (no expiry notice follows).
    let current = crate::records::client(host.store(), client.client_id.as_str()).await?;
    let still_push = current.is_some_and(|c| {
        c.allows_grant(crate::vocabulary::GrantType::Ciba)
            && c.backchannel_token_delivery_mode == Some(DeliveryMode::Push)
    });
    let unbound_refused = resolved.api.as_ref().is_some_and(|a| a.require_dpop);
    if !still_push
        || unbound_refused
        || super::is_client_revoked(host, client.client_id.as_str()).await?
    {
        let keep = host.clock().now() + KEEP_AFTER_SECONDS;
        entry.end(host, &CibaEnded::Denied, keep).await?;
        return Err(Error::Page {
            code: ErrorCode::AccessDenied,
            description: "This application can no longer receive an answer.".into(),
        });
    }
    let issued = Issued { resolved, commit: Commit::Backchannel(Box::new(use_once(entry))) };
    let minted =
        crate::tokens::mint_pushed(host, config, issuer, client, issued, &notify.auth_req_id).await;
    let e = match minted {
        Ok(tokens) => {
            let mut body = tokens.to_json();
            body["auth_req_id"] = notify.auth_req_id.clone().into();
            return Ok(notification(notify, &body).into_iter().collect());
        }
        Err(e) => e,
    };
    // Whose single use is it now? Another answer's (a second tab, the deadline): this one is
    // simply too late. This one's: the tokens were issued but cannot be sent — revoke them and
    // tell the client (even if the revocation fails: it must not wait in vain).
    let ended = ledger_record::load::<_, CibaRecord, CibaEnded>(host, &key).await;
    let mine = match ended {
        Ok(Some(entry)) => match entry.state {
            State::Ended(CibaEnded::Issued { grant_id: used_by }) if used_by == grant_id => true,
            State::Ended(_) => return Err(gone()),
            State::Live(_) => return Err(e),
        },
        Ok(None) => return Err(gone()),
        // Unknown: assume the worst for the client (a failure notice it can act on).
        Err(_) => true,
    };
    if mine {
        if let Err(revoke) = super::revoke_grant(host, &grant_id).await {
            host.log(&format!(
                "CIBA push: grant not revoked: {}",
                revoke.log_line().unwrap_or_default()
            ));
        }
        if let Some(line) = e.log_line() {
            host.log(&format!("CIBA push failed after use: {line}"));
        }
    }
    Ok(push_error(notify, "transaction_failed", "the tokens could not be issued")
        .into_iter()
        .collect())
}

/// The user denied request `id`: ended, and a ping (§10.2) or a pushed error (§12) sent.
pub async fn deny<H: Host>(host: &H, id: &str) -> Result<Vec<Request>, Error> {
    let Some(record) = record_denial(host, id).await? else { return Ok(Vec::new()) };
    Ok(match (record.mode, &record.notify) {
        (DeliveryMode::Ping, Some(notify)) => ping(notify).into_iter().collect(),
        (DeliveryMode::Push, Some(notify)) => {
            push_error(notify, ErrorCode::AccessDenied.as_str(), "the user denied the request")
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    })
}
