//! The refresh token grant (RFC 6749 §6). Refresh tokens are opaque (`{grant_id}.{secret}`),
//! stored hashed on the grant's ledger record, rotated on every use by compare-and-set (two
//! concurrent refreshes cannot both win), and a rotated token presented again revokes the whole
//! grant (RFC 9700 §4.14.2).

use super::{
    grant_entry, grant_key, invalid_grant, resolve, revoke_grant, Authorization, Commit,
    GrantEntry, GrantGroup, GrantRecord, Issued, Revoked, TokenRequest, REFRESH_SECONDS,
};
use crate::b64;
use crate::error::Error;
use crate::ledger_record;
use crate::ports::{random_bytes, Clock, Host};
use crate::secret::constant_time_eq;

/// Rotated refresh-token hashes remembered per grant, for reuse detection.
const REMEMBERED_ROTATIONS: usize = 16;

fn digest(text: &str) -> String {
    b64::sha256(text)
}

fn invalid() -> Error {
    invalid_grant("the refresh token is invalid, expired or revoked")
}

/// Whether an authorization gets a refresh token: it asked for `offline_access`, which the
/// authorization request kept only for clients allowed this grant and APIs that allow it.
pub fn offered(authorization: &Authorization) -> bool {
    authorization.scope.contains("offline_access")
}

fn new_token<H: Host>(host: &H, grant_id: &str) -> (String, String) {
    let secret = b64::encode(random_bytes::<32>(host.rng()));
    let token = format!("{grant_id}.{secret}");
    let hash = digest(&token);
    (token, hash)
}

/// A new grant's record and its first refresh token, not yet written (see [`start`]; the code
/// grant writes it together with the code's use).
pub(crate) fn first<H: Host>(
    host: &H,
    authorization: &Authorization,
) -> Result<(String, GrantRecord), Error> {
    let grant_id =
        authorization.grant_id.as_deref().ok_or_else(|| Error::Internal("no grant id".into()))?;
    let now = host.clock().now();
    let (token, hash) = new_token(host, grant_id);
    let record = GrantRecord {
        v: 2,
        authorization: authorization.clone(),
        refresh_sha256: hash,
        rotated_sha256: Vec::new(),
        rotated_at: now,
        revoked: false,
        expires_at: now + REFRESH_SECONDS,
    };
    Ok((token, record))
}

/// Starts a grant's refresh-token family; returns the first refresh token.
pub async fn start<H: Host>(host: &H, authorization: &Authorization) -> Result<String, Error> {
    let (token, record) = first(host, authorization)?;
    let grant_id = authorization.grant_id.as_deref().unwrap_or_default(); // `first` checked it
    let key = grant_key(grant_id);
    if !ledger_record::create::<_, _, Revoked>(host, &key, &record, record.expires_at).await? {
        // Revoked before it started (a replay of its code raced the first exchange).
        return Err(invalid_grant("the grant was revoked"));
    }
    Ok(token)
}

/// Which of its grant's refresh tokens a presented token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Generation {
    Current,
    /// The one the last rotation replaced (another tab may still hold it).
    JustReplaced,
    /// An older one.
    Replaced,
}

/// The live, unexpired grant a refresh token belongs to (its ledger entry and record), and which
/// of the grant's tokens it is.
async fn family<H: Host>(
    host: &H,
    token: &str,
) -> Result<Option<(GrantEntry, GrantRecord, Generation)>, Error> {
    let Some(grant_id) = refresh_grant_id(token) else { return Ok(None) };
    let entry = grant_entry(host, grant_id).await?;
    Ok(generation_of(entry, token, host.clock().now()))
}

/// Which of its grant's tokens `token` is, given the grant's entry as read.
fn generation_of(
    entry: Option<GrantEntry>,
    token: &str,
    now: crate::ports::UnixTime,
) -> Option<(GrantEntry, GrantRecord, Generation)> {
    let entry = entry?;
    let record = entry.live().cloned()?;
    if record.revoked || record.expires_at <= now {
        return None;
    }
    let presented = digest(token);
    let matches = |h: &String| constant_time_eq(h.as_bytes(), presented.as_bytes());
    let generation = if matches(&record.refresh_sha256) {
        Generation::Current
    } else if record.rotated_sha256.last().is_some_and(matches) {
        Generation::JustReplaced
    } else if record.rotated_sha256.iter().any(matches) {
        Generation::Replaced
    } else {
        return None;
    };
    Some((entry, record, generation))
}

/// The live grant this refresh token belongs to, current or already replaced by rotation.
pub async fn refresh_token_family<H: Host>(
    host: &H,
    token: &str,
) -> Result<Option<GrantRecord>, Error> {
    Ok(family(host, token).await?.map(|(_, record, _)| record))
}

/// The grant id inside a refresh token (`{grant_id}.{secret}`), if it has that shape.
pub fn refresh_grant_id(token: &str) -> Option<&str> {
    let (grant_id, secret) = token.split_once('.')?;
    // Both halves base64url, so a grant id never reads as another key of its group.
    let b64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (grant_id.len() == 22 && secret.len() == 43 && b64url(grant_id) && b64url(secret))
        .then_some(grant_id)
}

/// The live grant whose current refresh token this is (for introspection), and whether
/// `caller` was deleted: one ledger read, since the grant's group holds both.
pub async fn current_refresh_grant<H: Host>(
    host: &H,
    token: &str,
    caller: &str,
) -> Result<(Option<GrantRecord>, bool), Error> {
    let Some(grant_id) = refresh_grant_id(token) else {
        return Ok((None, super::is_client_revoked(host, caller).await?));
    };
    let (entry, caller_deleted) =
        super::record_and_deletion(host, GrantGroup::of(grant_id), grant_id, caller).await?;
    let current = generation_of(entry?, token, host.clock().now())
        .and_then(|(_, record, generation)| (generation == Generation::Current).then_some(record));
    Ok((current, caller_deleted))
}

/// The grant: rotates the presented refresh token; a narrower `scope` may be asked for
/// (RFC 6749 §6). A `redirect_uri` is ignored (Auth0's SDKs send one).
///
/// The client's reuse interval (`refresh_token_reuse_interval_seconds`, Auth0's per-application
/// "reuse interval"): the token just replaced, presented again within that many seconds of its
/// rotation, is refused without revoking the grant, because browser tabs sharing a token cache
/// can both send it before either sees the other's result. 0 (the default): any reuse revokes.
pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, client, params, .. } = *request;
    let token = params.require("refresh_token")?;
    let requested = crate::authorization::request::parse_scope(params.get("scope")?)?;
    let grant_id = refresh_grant_id(token).ok_or_else(invalid)?;
    // One ledger read: the grant, and whether the client was deleted.
    let entry = request.read_record(GrantGroup::of(grant_id), grant_id).await?;
    let now = host.clock().now();
    let (entry, record, generation) = generation_of(entry, token, now).ok_or_else(invalid)?;
    // RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if record.authorization.client_id != client.client_id {
        return Err(invalid());
    }
    match generation {
        Generation::Current => {}
        Generation::JustReplaced
            if now - record.rotated_at < client.refresh_token_reuse_interval_seconds =>
        {
            return Err(invalid_grant(
                "the refresh token was just rotated by a concurrent request",
            ));
        }
        Generation::JustReplaced | Generation::Replaced => {
            revoke_grant(host, grant_id).await?;
            return Err(invalid_grant("the refresh token was already used; the grant is revoked"));
        }
    }
    if !requested.is_subset_of(&record.authorization.scope) {
        return Err(Error::oauth(
            crate::error::ErrorCode::InvalidScope,
            "the requested scope exceeds the grant",
        ));
    }
    // Everything the new tokens need is loaded before rotating: a failure leaves the presented
    // token current (RFC 6749 §5.2: an error response issues nothing).
    let mut authorization = record.authorization.clone();
    // OIDC Core §12.2: a refreshed ID token SHOULD NOT have a nonce.
    authorization.nonce = None;
    if !requested.is_empty() {
        authorization.scope = requested;
    }
    let resolved = resolve(host, authorization).await?;
    let (next, next_hash) = new_token(host, grant_id);
    let mut rotated = record.rotated_sha256.clone();
    rotated.push(record.refresh_sha256.clone());
    if rotated.len() > REMEMBERED_ROTATIONS {
        rotated.remove(0);
    }
    let updated = GrantRecord {
        refresh_sha256: next_hash,
        rotated_sha256: rotated,
        rotated_at: now,
        ..record.clone()
    };
    Ok(Issued { resolved, commit: Commit::Rotate(Box::new(Rotate { entry, updated, next })) })
}

/// The rotation, made after the new tokens are minted (see [`Commit`]): a failure before it
/// leaves the presented refresh token current.
pub struct Rotate {
    entry: GrantEntry,
    updated: GrantRecord,
    next: String,
}

impl Rotate {
    /// RFC 9449 §5: a public client's refresh tokens issued in answer to a DPoP proof are bound
    /// to its key, from this rotation on (a family that started unbound becomes bound).
    pub(crate) fn bind_to(&mut self, jkt: &str) {
        if self.updated.authorization.jkt.is_none() {
            self.updated.authorization.jkt = Some(jkt.to_string());
        }
    }
}

impl std::fmt::Debug for Rotate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotate").field("updated", &self.updated).finish_non_exhaustive()
    }
}

impl Rotate {
    /// Compare-and-set of the grant: returns the next refresh token.
    pub async fn apply<H: Host>(self, host: &H) -> Result<Option<String>, Error> {
        if !self.entry.replace(host, &self.updated, self.updated.expires_at).await? {
            // Another refresh with the same token won the race, or the grant was just revoked.
            return Err(invalid_grant("the refresh token was used concurrently"));
        }
        Ok(Some(self.next))
    }
}
