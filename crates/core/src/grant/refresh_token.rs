//! The refresh token grant (RFC 6749 §6). Refresh tokens are opaque (`{grant_id}.{secret}`),
//! stored hashed on the grant's ledger record, rotated on every use by one decision on the
//! ledger (two concurrent refreshes cannot both win), and a rotated token presented again revokes the whole
//! grant (RFC 9700 §4.14.2).

use serde::{Deserialize, Serialize};

use super::authorization_code::port_text;
use super::{
    grant_entry, grant_key, invalid_grant, Authorization, GrantEntry, GrantGroup, GrantRecord,
    Issued, Made, Revoked, TokenRequest, REFRESH_SECONDS,
};
use crate::b64;
use crate::decision::{Decision, Judgment, Read, Rule, Write};
use crate::error::Error;
use crate::ledger_record;
use crate::ports::{random_bytes, Clock, Host, PortError, Swap, UnixTime};
use crate::secret::constant_time_eq;
use crate::vocabulary::{ClientId, Scopes};

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
    let token = token_of(grant_id, &secret);
    let hash = digest(&token);
    (token, hash)
}

/// A refresh token: its grant's id and a secret (see [`refresh_grant_id`]).
pub(crate) fn token_of(grant_id: &str, secret: &str) -> String {
    format!("{grant_id}.{secret}")
}

/// RFC 9449 §5: the key a refresh family is bound to after a token request with a proof by
/// `proof`: a public client's family is bound (a family that started unbound becomes bound);
/// a confidential client's is not (it authenticates to use it); a binding stays.
pub(crate) fn family_jkt(public: bool, bound: Option<&str>, proof: Option<&str>) -> Option<String> {
    match bound {
        Some(bound) => Some(bound.to_string()),
        None if public => proof.map(str::to_string),
        None => None,
    }
}

/// A new grant's record and its first refresh token, not yet written (see [`start`]).
pub(crate) fn first<H: Host>(
    host: &H,
    authorization: &Authorization,
) -> Result<(String, GrantRecord), Error> {
    let grant_id =
        authorization.grant_id.as_deref().ok_or_else(|| Error::Internal("no grant id".into()))?;
    let (token, _) = new_token(host, grant_id);
    let record = first_record(authorization.clone(), &token, host.clock().now());
    Ok((token, record))
}

/// A new grant's record, whose current refresh token is `token` (the code grant writes it
/// together with the code's use: `authorization_code::UseCode`).
pub(crate) fn first_record(
    authorization: Authorization,
    token: &str,
    now: UnixTime,
) -> GrantRecord {
    GrantRecord {
        v: 2,
        authorization,
        refresh_sha256: digest(token),
        rotated_sha256: Vec::new(),
        rotated_at: now,
        revoked: false,
        expires_at: now + REFRESH_SECONDS,
    }
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
    Ok(generation_of(entry, &digest(token), host.clock().now()))
}

/// Which of its grant's tokens the one hashed `presented` is, given the grant's entry as read.
fn generation_of(
    entry: Option<GrantEntry>,
    presented: &str,
    now: UnixTime,
) -> Option<(GrantEntry, GrantRecord, Generation)> {
    let entry = entry?;
    let record = entry.live().cloned()?;
    if record.revoked || record.expires_at <= now {
        return None;
    }
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
    let current = generation_of(entry?, &digest(token), host.clock().now())
        .and_then(|(_, record, generation)| (generation == Generation::Current).then_some(record));
    Ok((current, caller_deleted))
}

/// The grant: rotates the presented refresh token; a narrower `scope` may be asked for
/// (RFC 6749 §6). A `redirect_uri` is ignored (Auth0's SDKs send one). The rotation is one
/// decision on the ledger ([`Rotation`], one round trip) that answers with the grant the new
/// tokens are for; a failure after it (the user or API gone, a signature refused) undoes it
/// (`decision::undo`), so the presented token stays current (RFC 6749 §5.2: an error response
/// issues nothing).
///
/// The client's reuse interval (`refresh_token_reuse_interval_seconds`, Auth0's per-application
/// "reuse interval"): the token just replaced, presented again within that many seconds of its
/// rotation, is refused without revoking the grant, because browser tabs sharing a token cache
/// can both send it before either sees the other's result. 0 (the default): any reuse revokes,
/// a concurrent one included (RFC 9700 §4.14.2).
pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, client, params, .. } = *request;
    let token = params.require("refresh_token")?;
    let scope = crate::authorization::request::parse_scope(params.get("scope")?)?;
    let grant_id = refresh_grant_id(token).ok_or_else(invalid)?;
    let (next, next_sha256) = new_token(host, grant_id);
    let rule = Rotation {
        grant_id: grant_id.to_string(),
        client_id: client.client_id.clone(),
        public: client.is_public(),
        presented_sha256: digest(token),
        next_sha256,
        scope,
        reuse_interval: client.refresh_token_reuse_interval_seconds,
        proof_jkt: request.proof_jkt.map(str::to_string),
    };
    let rotated = request.decide(rule, Decision::Rotation).await?;
    Made::issue(host, rotated.authorization, Some(next), rotated.undo).await
}

const REUSED: &str = "the refresh token was already used; the grant is revoked";

/// The ledger decision of a rotation (`decision::Decision::Rotation`): the presented token's
/// hash, the next one's, and what the token request says.
#[derive(Clone, Serialize, Deserialize)]
pub struct Rotation {
    grant_id: String,
    client_id: ClientId,
    public: bool,
    presented_sha256: String,
    next_sha256: String,
    /// A narrower scope asked for (empty: the grant's).
    scope: Scopes,
    reuse_interval: i64,
    /// RFC 9449: the thumbprint of the request's DPoP proof, if it has one.
    proof_jkt: Option<String>,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation").field("grant_id", &self.grant_id).finish_non_exhaustive()
    }
}

/// What a rotation answers: the authorization for the new tokens (the grant's, its scope
/// narrowed if asked, without a nonce), and how to undo the rotation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Rotated {
    authorization: Authorization,
    undo: Vec<Swap>,
}

impl Rule for Rotation {
    type Output = Rotated;

    fn anchor(&self) -> String {
        grant_key(&self.grant_id)
    }

    fn client_id(&self) -> &str {
        self.client_id.as_str()
    }

    fn judge(&self, now: UnixTime, read: &mut Read<'_>) -> Result<Judgment<Rotated>, PortError> {
        let key = self.anchor();
        // A record that does not parse (written by an older version) is as good as none.
        let entry = read(&key)?.and_then(|text| ledger_record::parse(&key, text).ok());
        let Some((entry, record, generation)) = generation_of(entry, &self.presented_sha256, now)
        else {
            return Ok(Judgment::refuse(invalid()));
        };
        // RFC 6749 §6: the refresh token is bound to the client it was issued to.
        if record.authorization.client_id != self.client_id {
            return Ok(Judgment::refuse(invalid()));
        }
        // RFC 9449 §5: a bound family needs a proof by its key, before anything is rotated —
        // or revoked: a stolen replaced token is no use without the key, not even to end the
        // family.
        let bound = record.authorization.jkt.as_deref();
        if let Err(e) = crate::dpop::check_binding(bound, self.proof_jkt.as_deref()) {
            return Ok(Judgment::refuse(e));
        }
        match generation {
            Generation::Current => {}
            Generation::JustReplaced if now - record.rotated_at < self.reuse_interval => {
                return Ok(Judgment::refuse(invalid_grant(
                    "the refresh token was just rotated by a concurrent request",
                )));
            }
            Generation::JustReplaced | Generation::Replaced => {
                let writes = super::revoking(&self.grant_id, now, read)?.into_iter().collect();
                let note =
                    format!("revoked grant {}: a rotated refresh token was reused", self.grant_id);
                return Ok(Judgment::refuse_writing(writes, invalid_grant(REUSED), note));
            }
        }
        if !self.scope.is_subset_of(&record.authorization.scope) {
            return Ok(Judgment::refuse(Error::oauth(
                crate::error::ErrorCode::InvalidScope,
                "the requested scope exceeds the grant",
            )));
        }
        let mut rotated = record.rotated_sha256.clone();
        rotated.push(record.refresh_sha256.clone());
        if rotated.len() > REMEMBERED_ROTATIONS {
            rotated.remove(0);
        }
        let mut updated = GrantRecord {
            refresh_sha256: self.next_sha256.clone(),
            rotated_sha256: rotated,
            rotated_at: now,
            ..record.clone()
        };
        updated.authorization.jkt = family_jkt(self.public, bound, self.proof_jkt.as_deref());
        let text = port_text(ledger_record::live_text::<_, Revoked>(&updated))?;
        let (write, undo) =
            Write::over(&key, Some(entry.text()), record.expires_at, text, updated.expires_at);
        let mut authorization = record.authorization;
        // OIDC Core §12.2: a refreshed ID token SHOULD NOT have a nonce.
        authorization.nonce = None;
        if !self.scope.is_empty() {
            authorization.scope = self.scope.clone();
        }
        Ok(Judgment::grant(vec![write], Rotated { authorization, undo: vec![undo] }))
    }
}
