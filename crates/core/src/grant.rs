//! Authorization codes and grants on the ledger: codes are single-use (a replay revokes what the
//! first exchange issued, RFC 6749 §4.1.2), refresh tokens rotate on every use by
//! compare-and-set (two concurrent refreshes cannot both win), and a rotated token presented
//! again revokes the whole grant (RFC 9700 §4.14.2).

use serde::{Deserialize, Serialize};

use crate::authorization::request::AuthRequest;
use crate::b64;
use crate::error::{Error, ErrorCode};
use crate::ports::{random_bytes, Clock, Host, Ledger, Store, UnixTime};
use crate::records;

/// RFC 6749 §4.1.2: a maximum authorization code lifetime of 10 minutes is RECOMMENDED;
/// Gatehouse's codes live 60 s.
pub const CODE_SECONDS: i64 = 60;
/// How long a used code's marker is kept, to catch late replays.
pub const USED_CODE_SECONDS: i64 = 600;
/// Refresh tokens' absolute lifetime (Auth0's default: 30 days).
pub const REFRESH_SECONDS: i64 = 30 * 86_400;
/// A revocation marker outlives every access token (24 h at most) plus leeway.
pub const REVOCATION_MARKER_SECONDS: u64 = 86_400 + 300;
/// Rotated refresh-token hashes remembered per grant, for reuse detection.
const REMEMBERED_ROTATIONS: usize = 16;

fn digest(text: &str) -> String {
    b64::sha256(text)
}

fn invalid_grant(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidGrant, description)
}

/// What an authorization code stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub v: u32,
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub user_id: String,
    pub scope: Vec<String>,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    pub code_challenge: Option<String>,
    pub expires_at: UnixTime,
}

fn code_key(code: &str) -> String {
    format!("code:{}", digest(code))
}

/// Issues a code for a completed authorization request.
pub async fn issue_code<H: Host>(
    host: &H,
    request: &AuthRequest,
    user_id: &str,
    auth_time: UnixTime,
) -> Result<String, Error> {
    let code = b64::encode(random_bytes::<32>(host.rng()));
    let now = host.clock().now();
    let record = CodeRecord {
        v: 1,
        grant_id: b64::encode(random_bytes::<16>(host.rng())),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_given: request.redirect_uri_given,
        user_id: user_id.to_string(),
        scope: request.scope.clone(),
        audience: request.audience.clone(),
        nonce: request.nonce.clone(),
        auth_time,
        code_challenge: request.code_challenge.clone(),
        expires_at: now + CODE_SECONDS,
    };
    let text = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
    if !host
        .ledger()
        .compare_and_set(&code_key(&code), None, &text, now, Some(record.expires_at))
        .await?
    {
        return Err(Error::Internal("authorization code collision".into()));
    }
    Ok(code)
}

/// A code looked up but not yet used: the token endpoint checks client, redirect URI and PKCE
/// first, so a code presented by the wrong party is refused without being burned.
#[derive(Debug)]
pub struct PresentedCode {
    key: String,
    text: String,
    pub record: CodeRecord,
}

const REPLAYED: &str =
    "the authorization code was already used; the tokens issued for it are revoked";

/// Looks a code up. A code that was already used revokes the grant its first exchange started
/// (RFC 6749 §4.1.2).
pub async fn peek_code<H: Host>(host: &H, code: &str) -> Result<PresentedCode, Error> {
    if code.len() > 128 {
        return Err(invalid_grant("the authorization code is invalid"));
    }
    let key = code_key(code);
    let now = host.clock().now();
    let text = host
        .ledger()
        .get(&key, now)
        .await?
        .ok_or_else(|| invalid_grant("the authorization code is invalid or expired"))?;
    if let Some(grant_id) = text.strip_prefix("used:") {
        revoke_grant(host, grant_id).await?;
        return Err(invalid_grant(REPLAYED));
    }
    let record: CodeRecord =
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("code record: {e}")))?;
    if record.expires_at <= now {
        return Err(invalid_grant("the authorization code is invalid or expired"));
    }
    Ok(PresentedCode { key, text, record })
}

/// Uses a code, exactly once: of two concurrent exchanges one wins, and the other is a replay.
pub async fn consume_code<H: Host>(host: &H, code: &PresentedCode) -> Result<(), Error> {
    let now = host.clock().now();
    let used = format!("used:{}", code.record.grant_id);
    let ledger = host.ledger();
    if !ledger
        .compare_and_set(&code.key, Some(&code.text), &used, now, Some(now + USED_CODE_SECONDS))
        .await?
    {
        revoke_grant(host, &code.record.grant_id).await?;
        return Err(invalid_grant(REPLAYED));
    }
    Ok(())
}

/// A grant with a refresh token: the family every rotation belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub v: u32,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: Vec<String>,
    pub audience: Option<String>,
    pub auth_time: UnixTime,
    pub refresh_sha256: String,
    pub rotated_sha256: Vec<String>,
    /// When the current refresh token replaced the previous one.
    #[serde(default)]
    pub rotated_at: UnixTime,
    pub revoked: bool,
    pub expires_at: UnixTime,
}

fn grant_key(grant_id: &str) -> String {
    format!("grant:{grant_id}")
}

fn revoked_key(grant_id: &str) -> String {
    format!("revoked-grant/{grant_id}")
}

fn new_refresh_token<H: Host>(host: &H, grant_id: &str) -> (String, String) {
    let secret = b64::encode(random_bytes::<32>(host.rng()));
    let token = format!("{grant_id}.{secret}");
    let hash = digest(&token);
    (token, hash)
}

/// Starts a grant's refresh-token family; returns the first refresh token.
pub async fn start_refresh<H: Host>(host: &H, code: &CodeRecord) -> Result<String, Error> {
    let now = host.clock().now();
    let (token, hash) = new_refresh_token(host, &code.grant_id);
    let record = GrantRecord {
        v: 1,
        grant_id: code.grant_id.clone(),
        client_id: code.client_id.clone(),
        user_id: code.user_id.clone(),
        scope: code.scope.clone(),
        audience: code.audience.clone(),
        auth_time: code.auth_time,
        refresh_sha256: hash,
        rotated_sha256: Vec::new(),
        rotated_at: now,
        revoked: false,
        expires_at: now + REFRESH_SECONDS,
    };
    let text = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
    if !host
        .ledger()
        .compare_and_set(&grant_key(&code.grant_id), None, &text, now, Some(record.expires_at))
        .await?
    {
        return Err(Error::Internal("grant collision".into()));
    }
    Ok(token)
}

/// The grant id inside a refresh token (`{grant_id}.{secret}`), if it has that shape.
pub fn refresh_grant_id(token: &str) -> Option<&str> {
    let (grant_id, secret) = token.split_once('.')?;
    (grant_id.len() == 22 && secret.len() == 43 && !secret.contains('.')).then_some(grant_id)
}

/// Reads a live grant.
pub async fn grant<H: Host>(
    host: &H,
    grant_id: &str,
) -> Result<Option<(String, GrantRecord)>, Error> {
    let now = host.clock().now();
    let Some(text) = host.ledger().get(&grant_key(grant_id), now).await? else { return Ok(None) };
    let record: GrantRecord =
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("grant record: {e}")))?;
    Ok((record.expires_at > now).then_some((text, record)))
}

/// Rotates a refresh token presented by `client_id`: returns the grant and the next token.
/// `check` runs on the grant before anything changes: a refused request (say, a wider scope)
/// leaves the presented token current (RFC 6749 §5.2: an error response issues nothing).
///
/// `reuse_interval`: the token just replaced, presented again within this many seconds of its
/// rotation, is refused without revoking the grant (Auth0's "reuse interval"): two browser tabs
/// sharing a cache can both send it before either sees the other's result. 0: any reuse revokes.
pub async fn rotate_refresh<H: Host>(
    host: &H,
    client_id: &str,
    token: &str,
    reuse_interval: i64,
    check: impl FnOnce(&GrantRecord) -> Result<(), Error>,
) -> Result<(GrantRecord, String), Error> {
    let invalid = || invalid_grant("the refresh token is invalid, expired or revoked");
    let grant_id = refresh_grant_id(token).ok_or_else(invalid)?;
    let (text, record) = grant(host, grant_id).await?.ok_or_else(invalid)?;
    // RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if record.revoked || record.client_id != client_id {
        return Err(invalid());
    }
    let presented = digest(token);
    let now = host.clock().now();
    let just_rotated = record
        .rotated_sha256
        .last()
        .is_some_and(|h| crate::secret::constant_time_eq(h.as_bytes(), presented.as_bytes()));
    if just_rotated && now - record.rotated_at < reuse_interval {
        return Err(invalid_grant("the refresh token was just rotated by a concurrent request"));
    }
    if record
        .rotated_sha256
        .iter()
        .any(|h| crate::secret::constant_time_eq(h.as_bytes(), presented.as_bytes()))
    {
        revoke_grant(host, grant_id).await?;
        return Err(invalid_grant("the refresh token was already used; the grant is revoked"));
    }
    if !crate::secret::constant_time_eq(record.refresh_sha256.as_bytes(), presented.as_bytes()) {
        return Err(invalid());
    }
    check(&record)?;
    let (next, next_hash) = new_refresh_token(host, grant_id);
    let mut rotated = record.rotated_sha256.clone();
    rotated.push(record.refresh_sha256.clone());
    if rotated.len() > REMEMBERED_ROTATIONS {
        rotated.remove(0);
    }
    let updated = GrantRecord {
        refresh_sha256: next_hash,
        rotated_sha256: rotated,
        rotated_at: now,
        ..record
    };
    let new_text = serde_json::to_string(&updated).map_err(|e| Error::Internal(e.to_string()))?;
    if !host
        .ledger()
        .compare_and_set(
            &grant_key(grant_id),
            Some(&text),
            &new_text,
            now,
            Some(updated.expires_at),
        )
        .await?
    {
        // Another refresh with the same token won the race.
        return Err(invalid_grant("the refresh token was used concurrently"));
    }
    Ok((updated, next))
}

/// Revokes a grant: its refresh tokens stop working at once, and its access tokens are refused
/// by userinfo and introspection.
pub async fn revoke_grant<H: Host>(host: &H, grant_id: &str) -> Result<(), Error> {
    host.store().put(&revoked_key(grant_id), b"1", Some(REVOCATION_MARKER_SECONDS)).await?;
    for _ in 0..5 {
        let Some((text, record)) = grant(host, grant_id).await? else { return Ok(()) };
        if record.revoked {
            return Ok(());
        }
        let revoked = GrantRecord { revoked: true, ..record };
        let new_text =
            serde_json::to_string(&revoked).map_err(|e| Error::Internal(e.to_string()))?;
        let now = host.clock().now();
        if host
            .ledger()
            .compare_and_set(
                &grant_key(grant_id),
                Some(&text),
                &new_text,
                now,
                Some(revoked.expires_at),
            )
            .await?
        {
            host.log(&format!("revoked grant {grant_id}"));
            return Ok(());
        }
    }
    Err(Error::Internal("could not revoke a grant under contention".into()))
}

/// Whether a grant was revoked (checked for access tokens).
pub async fn is_revoked(store: &impl Store, grant_id: &str) -> Result<bool, Error> {
    Ok(store.get(&revoked_key(grant_id)).await?.is_some())
}

/// Marks every token of a deleted client revoked (RFC 7592 §2.3: the server SHOULD invalidate
/// them): refresh tokens already fail because the client cannot authenticate; access tokens
/// are checked against this marker.
pub async fn revoke_client(store: &impl Store, client_id: &str) -> Result<(), Error> {
    store
        .put(&format!("revoked-client/{client_id}"), b"1", Some(REVOCATION_MARKER_SECONDS))
        .await?;
    Ok(())
}

pub async fn is_client_revoked(store: &impl Store, client_id: &str) -> Result<bool, Error> {
    Ok(store.get(&format!("revoked-client/{client_id}")).await?.is_some())
}

/// Marks one access token revoked until it expires (RFC 7009).
pub async fn revoke_access_token(
    store: &impl Store,
    jti: &str,
    seconds_left: i64,
) -> Result<(), Error> {
    store.put(&format!("revoked-token/{jti}"), b"1", Some(seconds_left.max(1) as u64)).await?;
    Ok(())
}

pub async fn is_access_token_revoked(store: &impl Store, jti: &str) -> Result<bool, Error> {
    Ok(store.get(&format!("revoked-token/{jti}")).await?.is_some())
}

/// Looks a record up by client for a grant (for introspection of refresh tokens).
pub async fn refresh_token_state<H: Host>(
    host: &H,
    token: &str,
) -> Result<Option<GrantRecord>, Error> {
    let Some(grant_id) = refresh_grant_id(token) else { return Ok(None) };
    let Some((_, record)) = grant(host, grant_id).await? else { return Ok(None) };
    let current =
        crate::secret::constant_time_eq(record.refresh_sha256.as_bytes(), digest(token).as_bytes());
    Ok((current && !record.revoked).then_some(record))
}

/// Loads the user of a code or grant, or refuses the grant.
pub async fn user_of<H: Host>(host: &H, user_id: &str) -> Result<records::UserRecord, Error> {
    records::user(host.store(), user_id)
        .await?
        .ok_or_else(|| invalid_grant("the user no longer exists"))
}
