//! Grants: the token endpoint's grant types, one module each (named after the RFC's grant), and
//! what they share — the one [`Authorization`] value carried from the authorization request to
//! the tokens, the grant records on the ledger, and revocation.
//!
//! To add a grant type: add it to [`crate::vocabulary::GrantType`], write a module here with an
//! `exchange` function that turns a [`TokenRequest`] into an [`Issued`] (what to mint, and the
//! [`Commit`] — the single-use decision, made after minting, or already made on the ledger in
//! the grant's one round trip and undone if the response fails: [`Made`], `crate::decision`),
//! and add its row to [`exchange`].
//! Client authentication, "may this client use this grant", minting and the token response are
//! done for it by `endpoint::token` and `tokens::mint`. Whether the client was deleted is a
//! ledger question ([`ClientCheck`]): a grant that reads a record of a [`GrantGroup`] anyway
//! reads it through [`TokenRequest::read_record`], or decides on it (`crate::decision`), and
//! answers it in the same round trip; any other grant's row in [`exchange`] asks first
//! ([`ClientCheck::ask`], one round trip).
//! A grant whose user approves elsewhere
//! adds its own request endpoint (`endpoint::device_authorization`,
//! `endpoint::backchannel_authentication`), a [`crate::authorization::interaction::Completion`]
//! variant, and shares the polling rules (`polling`); Auth0's `gty` claim, if it has
//! one, is in `tokens`.

pub mod authorization_code;
pub mod ciba;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod polling;
pub mod refresh_token;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::http::params::Params;
use crate::ledger_record::{self, LedgerRecord, State, Step};
use crate::ports::{Clock, Host, Ledger, UnixTime};
use crate::records::{self, ApiRecord, ClientRecord, UserRecord};
use crate::vocabulary::{ClientId, GrantType, Scopes};

/// Refresh tokens' absolute lifetime (Auth0's default: 30 days).
pub const REFRESH_SECONDS: i64 = 30 * 86_400;
/// A revocation outlives every access token (24 h at most) plus leeway.
pub const REVOCATION_SECONDS: i64 = 86_400 + 300;

pub(crate) fn invalid_grant(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidGrant, description)
}

/// Who a token is about (its `sub`): a user, or — with no user, as in client credentials — the
/// client itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectId<'a> {
    User(&'a str),
    Client(&'a ClientId),
}

/// What was authorized, from the authorization request (or a grant without one) to the tokens:
/// one value carried through codes, grants and token minting. A new request feature (DPoP's
/// key binding, …) adds a field here for what it grants; its request-side rules live with the
/// request (`authorization::intake` for how the request arrives, `authorization::request` for
/// what it asks), as RAR's `details` do (`authorization::details`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The grant this belongs to: the family of codes, refresh tokens and access tokens that a
    /// revocation ends together. `None` for tokens that belong to no grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    pub client_id: ClientId,
    /// The user, or `None` when the subject is the client itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    pub scope: Scopes,
    /// The API (audience / RFC 8707 resource) the access token is for.
    #[serde(default)]
    pub audience: Option<String>,
    /// OIDC Core §3.1.2.1: echoed in the ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// When the user last authenticated (OIDC `auth_time`).
    #[serde(default)]
    pub auth_time: Option<UnixTime>,
    /// RFC 9396 `authorization_details`, as approved (narrowed, if the first token request
    /// asked for fewer: `endpoint::token`; `authorization::details`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<serde_json::Value>,
    /// RFC 9449: a DPoP key's thumbprint. On a pending request and its code: the key the client
    /// named (`dpop_jkt`), which the token request must prove. On a grant (refresh family): the
    /// key its refresh tokens are bound to (public clients only). On the tokens being minted:
    /// the proof's key, their `cnf.jkt`. `endpoint::token::bind` moves it from one to the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// How it was asked for (the access token's `gty`, Auth0's claim, says so for the grants
    /// Auth0 names: client credentials and the password grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<GrantType>,
}

impl Authorization {
    /// What a client asks for, before anyone has approved it: a request (`/authorize`, a
    /// device, a back channel) carries this until a user approves ([`Authorization::approved_by`]),
    /// and client credentials use it as it is (the client itself is the subject).
    pub fn requested(client_id: ClientId, scope: Scopes) -> Self {
        Self {
            grant_id: None,
            client_id,
            user_id: None,
            scope,
            audience: None,
            nonce: None,
            auth_time: None,
            details: Vec::new(),
            jkt: None,
            grant_type: None,
        }
    }

    /// The same authorization, approved by a user who authenticated at `auth_time`.
    pub fn approved_by(mut self, user_id: &str, auth_time: UnixTime) -> Self {
        self.user_id = Some(user_id.to_string());
        self.auth_time = Some(auth_time);
        self
    }

    /// Starts a grant for it: the family of tokens a revocation ends together. Every grant that
    /// issues tokens to a user starts one (codes, device codes, CIBA, password).
    pub fn start_grant<R: crate::ports::Rng>(mut self, rng: &R) -> Self {
        self.grant_id = Some(crate::b64::encode(crate::ports::random_bytes::<16>(rng)));
        self
    }

    pub fn subject(&self) -> SubjectId<'_> {
        match &self.user_id {
            Some(user) => SubjectId::User(user),
            None => SubjectId::Client(&self.client_id),
        }
    }

    /// The `sub` of its tokens: the user, or for a client on its own behalf `{client_id}@clients`
    /// (Auth0's form).
    pub fn sub_claim(&self) -> String {
        match self.subject() {
            SubjectId::User(user_id) => user_id.to_string(),
            SubjectId::Client(client_id) => format!("{client_id}@clients"),
        }
    }

    /// The user this was authorized by, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
}

/// The subject, loaded.
#[derive(Clone, Debug)]
pub enum Subject {
    User(Box<UserRecord>),
    Client,
}

/// An authorization with everything its tokens need, loaded and checked. A failure here
/// leaves the code or refresh token unspent: grants resolve before they consume anything, or
/// undo the decision they made on the ledger ([`Made`]).
#[derive(Clone, Debug)]
pub struct Resolved {
    pub authorization: Authorization,
    pub subject: Subject,
    pub api: Option<ApiRecord>,
}

/// Loads the subject and the API of an authorization, or refuses the grant.
pub async fn resolve<H: Host>(host: &H, authorization: Authorization) -> Result<Resolved, Error> {
    let subject = match authorization.subject() {
        SubjectId::User(id) => Subject::User(Box::new(
            records::user_cached(host.store(), id)
                .await?
                .ok_or_else(|| invalid_grant("the user no longer exists"))?,
        )),
        SubjectId::Client(_) => Subject::Client,
    };
    let api = match &authorization.audience {
        Some(a) => Some(
            records::api_cached(host.store(), a)
                .await?
                .ok_or_else(|| invalid_grant("the API no longer exists"))?,
        ),
        None => None,
    };
    Ok(Resolved { authorization, subject, api })
}

/// A token request after the shared steps: the client is authenticated and may use the grant.
#[derive(Debug)]
pub struct TokenRequest<'a, H: Host> {
    pub host: &'a H,
    pub config: &'a Config,
    pub issuer: &'a str,
    /// The HTTP request (headers a grant may need, such as the client IP; DPoP proofs are
    /// checked for every grant by `endpoint::token` before it: [`TokenRequest::proof_jkt`]).
    pub req: &'a crate::http::Request,
    pub client: &'a ClientRecord,
    /// The grant type asked for (a handler may serve more than one).
    pub grant_type: GrantType,
    pub params: &'a Params,
    /// Whether the client was deleted: asked along with the grant's own ledger read
    /// ([`TokenRequest::read_record`]), or before the grant ([`ClientCheck::ask`]).
    pub(crate) client_check: &'a ClientCheck,
    /// RFC 9449: the thumbprint of the request's DPoP proof, checked before the grant (a grant
    /// that decides on the ledger checks a binding in the same step).
    pub proof_jkt: Option<&'a str>,
}

impl<H: Host> TokenRequest<'_, H> {
    /// Makes a decision on the ledger for this request (`crate::decision`, one round trip),
    /// which answers whether the client was deleted in passing; its outcome.
    pub(crate) async fn decide<R: crate::decision::Rule>(
        &self,
        rule: R,
        wrap: impl FnOnce(R) -> crate::decision::Decision,
    ) -> Result<R::Output, Error> {
        let answer = crate::decision::ask(self.host, rule, wrap).await?;
        self.client_check.answer(answer.client_deleted);
        Ok(answer.outcome?)
    }

    /// Reads the record `name` of `group` in one ledger round trip, and with it whether the
    /// client was deleted (every group holds the deletion marker: [`revoke_client`]). A grant
    /// that reads a grant group reads through here, so the client costs no round trip of its
    /// own; a deleted client's request then ends in `invalid_client` ([`ClientCheck::settle`]).
    /// A record that does not parse is `Error::Unreadable` (the caller decides whether that
    /// is as good as absent: `error::absent_if_unreadable`).
    pub(crate) async fn read_record<T: DeserializeOwned, E: DeserializeOwned>(
        &self,
        group: GrantGroup,
        name: &str,
    ) -> Result<Option<LedgerRecord<T, E>>, Error> {
        let client_id = self.client_check.client_id.as_str();
        let (record, deleted) = record_and_deletion(self.host, group, name, client_id).await?;
        self.client_check.answer(deleted);
        record
    }
}

/// The record `name` of `group` and whether `client_id` was deleted, in one ledger read (every
/// group holds the deletion marker: [`revoke_client`]). The record's parse error, if any, is
/// returned as such; the deletion is answered regardless.
pub(crate) async fn record_and_deletion<H: Host, T: DeserializeOwned, E: DeserializeOwned>(
    host: &H,
    group: GrantGroup,
    name: &str,
    client_id: &str,
) -> Result<(Result<Option<LedgerRecord<T, E>>, Error>, bool), Error> {
    let key = group.key(name);
    let keys = [key.clone(), group.deleted_client(client_id)];
    let mut values = host.ledger().get_many(&keys, host.clock().now()).await?;
    let deleted = values.pop().flatten().is_some();
    let record = match values.pop().flatten() {
        Some(text) => ledger_record::parse(&key, text).map(Some),
        None => Ok(None),
    };
    Ok((record, deleted))
}

/// Whether a token request's client was deleted (RFC 7592 §2.3: refused everywhere at once,
/// even where KV still has it). Client authentication leaves the question open
/// (`client_auth::Unconfirmed::pending` makes this); a grant's [`TokenRequest::read_record`]
/// answers it in passing, or [`ClientCheck::ask`] before a grant that reads no grant group;
/// [`ClientCheck::settle`] asks whatever is still open before anything is issued.
#[derive(Debug)]
#[must_use = "settle it before issuing anything"]
pub struct ClientCheck {
    client_id: ClientId,
    deleted: std::cell::Cell<Option<bool>>,
}

impl ClientCheck {
    pub(crate) fn new(client_id: ClientId) -> Self {
        Self { client_id, deleted: std::cell::Cell::new(None) }
    }

    fn answer(&self, deleted: bool) {
        self.deleted.set(Some(deleted || self.deleted.get() == Some(true)));
    }

    fn refused() -> Error {
        Error::oauth(ErrorCode::InvalidClient, "client authentication failed")
    }

    /// Asks the ledger now (unless a read did): `invalid_client` for a deleted client. For a
    /// grant that reads no grant group, before it does any work for the client.
    pub async fn ask<H: Host>(&self, host: &H) -> Result<(), Error> {
        if self.deleted.get().is_none() {
            self.answer(is_client_revoked(host, self.client_id.as_str()).await?);
        }
        match self.deleted.get() {
            Some(true) => Err(Self::refused()),
            _ => Ok(()),
        }
    }

    /// The grant's outcome, unless the client was deleted: then `invalid_client`, whatever the
    /// grant decided (a refusal included, so that a deleted client always hears the same).
    /// Asks the ledger if nothing did yet.
    pub async fn settle<H: Host, T>(self, host: &H, outcome: Result<T, Error>) -> Result<T, Error> {
        self.ask(host).await?;
        outcome
    }
}

/// What a grant hands to the token response: the resolved authorization to mint tokens for,
/// and the single-use decision still to make (or made already, with its undo: [`Made`]).
#[derive(Debug)]
pub struct Issued {
    pub resolved: Resolved,
    pub commit: Commit,
}

/// A grant's single-use decision (use the code, rotate the refresh token, …). `tokens::mint`
/// makes it *after* the tokens are minted and *before* anyone is answered (at the token
/// endpoint, or for a CIBA push at `/approve`): a failure before
/// it (the key set unreadable, a signature refused) leaves the device code or CIBA request
/// unspent, and a lost race issues nothing (RFC 6749 §5.2). The code and refresh grants decide
/// first, on the ledger, in the one round trip that also reads what they need ([`Made`]); the
/// token endpoint undoes that decision if the response fails after it. Applying a commit gives
/// the refresh token, if any.
#[derive(Debug)]
pub enum Commit {
    /// Nothing is spent (client credentials).
    Nothing,
    /// A new grant starts (the user approved just now, as with the password grant): its refresh
    /// family, if one is offered.
    Start,
    Device(Box<polling::UseOnce<device_code::DeviceRecord, device_code::DeviceEnded>>),
    Backchannel(Box<polling::UseOnce<ciba::CibaRecord, ciba::CibaEnded>>),
    /// Already decided on the ledger, in the grant's one round trip (a code's use, a
    /// rotation: `crate::decision`); the token endpoint undoes it if the response fails.
    Made(Made),
}

/// A decision the grant made on the ledger before minting (`crate::decision`): the refresh
/// token it gives, and what undoes it should the response fail after all.
pub struct Made {
    refresh_token: Option<String>,
    undo: Vec<crate::ports::Swap>,
}

impl Made {
    /// What a grant that decided on the ledger hands on: `authorization` resolved (the decision
    /// undone if that fails), the refresh token the decision gives, and `undo`.
    pub(crate) async fn issue<H: Host>(
        host: &H,
        authorization: Authorization,
        refresh_token: Option<String>,
        undo: Vec<crate::ports::Swap>,
    ) -> Result<Issued, Error> {
        match resolve(host, authorization).await {
            Ok(resolved) => {
                Ok(Issued { resolved, commit: Commit::Made(Self { refresh_token, undo }) })
            }
            Err(e) => {
                crate::decision::undo(host, &undo).await;
                Err(e)
            }
        }
    }
}

impl std::fmt::Debug for Made {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The refresh token is a bearer secret.
        f.debug_struct("Made").field("undo", &self.undo.len()).finish_non_exhaustive()
    }
}

impl Commit {
    /// What undoes the decision if it was made already (`Commit::Made`), for the token
    /// endpoint to run should the response fail after all (`decision::undo`).
    pub fn undo_swaps(&self) -> Vec<crate::ports::Swap> {
        match self {
            Self::Made(made) => made.undo.clone(),
            _ => Vec::new(),
        }
    }

    pub async fn apply<H: Host>(
        self,
        host: &H,
        authorization: &Authorization,
    ) -> Result<Option<String>, Error> {
        match self {
            Self::Nothing => Ok(None),
            Self::Start if refresh_token::offered(authorization) => {
                Ok(Some(refresh_token::start(host, authorization).await?))
            }
            Self::Start => Ok(None),
            Self::Device(device) => device.apply(host, authorization).await,
            Self::Backchannel(request) => request.apply(host, authorization).await,
            Self::Made(made) => Ok(made.refresh_token),
        }
    }
}

/// The registry: one handler per grant type.
pub async fn exchange<H: Host>(
    grant_type: GrantType,
    request: &TokenRequest<'_, H>,
) -> Result<Issued, Error> {
    // The first three decide on or read their code or grant in a step that also answers
    // whether the client was deleted; the others ask before doing anything for it.
    let ask = || request.client_check.ask(request.host);
    match grant_type {
        GrantType::AuthorizationCode => authorization_code::exchange(request).await,
        GrantType::RefreshToken => refresh_token::exchange(request).await,
        GrantType::ClientCredentials => client_credentials::exchange(request).await,
        GrantType::Password | GrantType::PasswordRealm => {
            ask().await?;
            password::exchange(request).await
        }
        GrantType::DeviceCode => {
            ask().await?;
            device_code::exchange(request).await
        }
        GrantType::Ciba => {
            ask().await?;
            ciba::exchange(request).await
        }
        // RFC 6749 §4.2: the implicit grant has no token request.
        GrantType::Implicit => Err(Error::oauth(
            ErrorCode::UnsupportedGrantType,
            "the implicit grant is used at the authorization endpoint",
        )),
    }
}

// ---- grant records on the ledger -------------------------------------------------------------

/// A grant on the ledger. Live while its refresh tokens may be used (the family every rotation
/// belongs to); ended when revoked, and kept ended until every token it issued has expired, so
/// that access tokens carrying its id are refused exactly (not after KV's propagation delay).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub v: u32,
    #[serde(flatten)]
    pub authorization: Authorization,
    pub refresh_sha256: String,
    #[serde(default)]
    pub rotated_sha256: Vec<String>,
    /// When the current refresh token replaced the previous one.
    #[serde(default)]
    pub rotated_at: UnixTime,
    /// Records written before revocation ended them carried this flag.
    #[serde(default)]
    pub revoked: bool,
    pub expires_at: UnixTime,
}

/// Why a grant ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub at: UnixTime,
}

pub(crate) type GrantEntry = LedgerRecord<GrantRecord, Revoked>;

/// Grants are spread over this many ledger groups (`ports::Ledger`: the text of a key before
/// its `#`). Everything that decides whether a grant's tokens still stand lives in the grant's
/// group: its record, its access tokens' revocations, and — written to every group when a
/// client is deleted — its client's deletion. So one read (`standing`) answers for a token.
/// Workers caps a request's subrequests (50 on the free plan), which a client's deletion
/// (one write per group) must stay under.
pub const GRANT_GROUPS: u32 = 32;

/// One of the [`GRANT_GROUPS`] ledger groups: a grant's (or, for a token without one, its
/// `jti`'s), chosen by a stable hash (`ports::stable_hash`), so that a record's group never
/// changes between deployments. A group's keys (`grant:{n}#…`, a host keeps them on one object):
///
/// | key | what | written by |
/// |---|---|---|
/// | `grant:{n}#{grant_id}` | the grant's record (its refresh family; ended when revoked) | `authorization_code` (its start), `refresh_token`, [`revoke_grant`] |
/// | `grant:{n}#code:{sha256(code)}` | an authorization code of the grant (drawn to fall here) | `authorization_code` |
/// | `grant:{n}#revoked-token:{jti}` | one revoked access token | [`revoke_token`] |
/// | `grant:{n}#client-deleted:{client_id}` | a deleted client, in every group | [`revoke_client`] |
///
/// Grant ids, codes and `jti`s are base64url, so a grant's key never reads as one of the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantGroup(u32);

impl GrantGroup {
    pub fn of(anchor: &str) -> Self {
        Self(crate::ports::stable_hash(anchor) % GRANT_GROUPS)
    }

    /// The group of a key of a grant group (`grant:{n}#…`).
    pub fn of_key(key: &str) -> Option<Self> {
        let n: u32 = key.strip_prefix("grant:")?.split_once('#')?.0.parse().ok()?;
        (n < GRANT_GROUPS).then_some(Self(n))
    }

    /// A key in this group.
    pub(crate) fn key(self, name: &str) -> String {
        format!("grant:{}#{name}", self.0)
    }

    /// A client's deletion marker, as written to this group.
    pub(crate) fn deleted_client(self, client_id: &str) -> String {
        self.key(&format!("client-deleted:{client_id}"))
    }

    fn all() -> impl Iterator<Item = Self> {
        (0..GRANT_GROUPS).map(Self)
    }
}

/// A grant's ledger key.
pub fn grant_key(grant_id: &str) -> String {
    GrantGroup::of(grant_id).key(grant_id)
}

/// Reads a grant's ledger record (live or ended).
pub(crate) async fn grant_entry<H: Host>(
    host: &H,
    grant_id: &str,
) -> Result<Option<GrantEntry>, Error> {
    ledger_record::load(host, &grant_key(grant_id)).await
}

/// Revokes a grant: its refresh tokens stop working at once, and access tokens carrying its id
/// are refused by userinfo and introspection. A grant without a record yet (a code's grant
/// whose exchange has not finished, or one without refresh tokens) is recorded as revoked, so
/// it can never start.
pub async fn revoke_grant<H: Host>(host: &H, grant_id: &str) -> Result<(), Error> {
    let now = host.clock().now();
    let key = grant_key(grant_id);
    let revoked = ledger_record::update::<_, GrantRecord, Revoked, _>(host, &key, |state| {
        revocation(state, now)
    })
    .await?;
    if revoked {
        host.log(&format!("revoked grant {grant_id}"));
    }
    Ok(())
}

/// A grant's revocation, decided on its state: ended, kept until every token it issued has
/// expired; `true` if this ends it.
fn revocation(
    state: Option<&State<GrantRecord, Revoked>>,
    now: UnixTime,
) -> (Step<GrantRecord, Revoked>, bool) {
    match state {
        Some(State::Ended(_)) => (Step::Keep, false),
        Some(State::Live(record)) => {
            let keep = record.expires_at.max(now + REVOCATION_SECONDS);
            (Step::End(Revoked { at: now }, keep), true)
        }
        None => (Step::End(Revoked { at: now }, now + REVOCATION_SECONDS), true),
    }
}

/// [`revoke_grant`] inside a ledger decision (`crate::decision`): the write that revokes the
/// grant, if it is not revoked already.
pub(crate) fn revoking(
    grant_id: &str,
    now: UnixTime,
    read: &mut crate::decision::Read<'_>,
) -> Result<Option<crate::decision::Write>, crate::ports::PortError> {
    let key = grant_key(grant_id);
    // An unreadable record is revoked over, as `revoke_grant` does.
    let state = read(&key)?
        .and_then(|text| ledger_record::parse::<GrantRecord, Revoked>(&key, text).ok())
        .map(|entry| entry.state);
    match revocation(state.as_ref(), now).0 {
        Step::End(marker, keep) => {
            let value = ledger_record::ended_text::<GrantRecord, _>(&marker)
                .map_err(|e| crate::ports::PortError::new(format!("{e:?}")))?;
            Ok(Some(crate::decision::Write { key, value, expires_at: Some(keep) }))
        }
        _ => Ok(None),
    }
}

/// Whether a grant was revoked: read from the ledger, so it is exact everywhere at once.
pub async fn is_revoked<H: Host>(host: &H, grant_id: &str) -> Result<bool, Error> {
    Ok(grant_entry(host, grant_id).await?.is_some_and(|entry| grant_revoked(&entry)))
}

fn grant_revoked(entry: &GrantEntry) -> bool {
    match &entry.state {
        State::Ended(_) => true,
        State::Live(record) => record.revoked,
    }
}

/// Records that a client was deleted (RFC 7592 §2.3: the server SHOULD invalidate its tokens):
/// on the ledger, in every grant group, so that its access and refresh tokens are refused
/// everywhere at once, even where KV still has the client record for a while. Repeating it
/// after a partial failure completes it.
pub async fn revoke_client<H: Host>(host: &H, client_id: &str) -> Result<(), Error> {
    let now = host.clock().now();
    let until = now + REFRESH_SECONDS.max(REVOCATION_SECONDS);
    let keys: Vec<String> = GrantGroup::all().map(|g| g.deleted_client(client_id)).collect();
    futures_util::future::try_join_all(
        keys.iter().map(|key| host.ledger().compare_and_set(key, None, "1", now, Some(until))),
    )
    .await?;
    Ok(())
}

/// An access token's revocation marker, in its grant's group (or, without a grant, its own).
fn revoked_token_key(grant_id: Option<&str>, jti: &str) -> String {
    GrantGroup::of(grant_id.unwrap_or(jti)).key(&format!("revoked-token:{jti}"))
}

/// Revokes one access token (RFC 7009 §2.1), until it expires.
pub async fn revoke_token<H: Host>(
    host: &H,
    grant_id: Option<&str>,
    jti: &str,
    expires_at: UnixTime,
) -> Result<(), Error> {
    let now = host.clock().now();
    let until = expires_at.max(now + 1);
    let key = revoked_token_key(grant_id, jti);
    host.ledger().compare_and_set(&key, None, "1", now, Some(until)).await?;
    Ok(())
}

/// Whether a client was deleted.
pub async fn is_client_revoked<H: Host>(host: &H, client_id: &str) -> Result<bool, Error> {
    let now = host.clock().now();
    let key = GrantGroup::of(client_id).deleted_client(client_id);
    Ok(host.ledger().get(&key, now).await?.is_some())
}

/// Whether a token may still be honored, as the ledger says now (the README's revocation
/// guarantees): read in one round trip from its grant's group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The token's client was deleted (RFC 7592 §2.3).
    pub client_deleted: bool,
    /// Its grant was revoked (RFC 7009 §2.1: a refresh token, a client grant, a code replay).
    pub grant_revoked: bool,
    /// The token itself was revoked (RFC 7009).
    pub token_revoked: bool,
    /// The other client asked about in the same read (the caller at introspection) was deleted.
    pub caller_deleted: bool,
}

impl Standing {
    /// Whether the token is revoked, one way or another.
    pub fn revoked(&self) -> bool {
        self.client_deleted || self.grant_revoked || self.token_revoked
    }
}

/// Reads a token's [`Standing`]: its client, its grant (if any) and its `jti`, plus a
/// `caller` whose deletion is asked in the same read. One ledger round trip.
pub async fn standing<H: Host>(
    host: &H,
    client_id: &str,
    grant_id: Option<&str>,
    jti: &str,
    caller: Option<&str>,
) -> Result<Standing, Error> {
    let group = GrantGroup::of(grant_id.unwrap_or(jti));
    let mut keys = vec![group.deleted_client(client_id), revoked_token_key(grant_id, jti)];
    if let Some(grant_id) = grant_id {
        keys.push(grant_key(grant_id));
    }
    if let Some(caller) = caller {
        keys.push(group.deleted_client(caller));
    }
    let values = host.ledger().get_many(&keys, host.clock().now()).await?;
    let value = |key: &str| {
        keys.iter().position(|k| k == key).and_then(|i| values.get(i)).and_then(Option::as_deref)
    };
    let client_deleted = value(&group.deleted_client(client_id)).is_some();
    let token_revoked = value(&revoked_token_key(grant_id, jti)).is_some();
    let grant_revoked = match grant_id.map(grant_key) {
        Some(key) => match value(&key) {
            Some(text) => {
                let entry: GrantEntry = ledger_record::parse(&key, text.to_string())?;
                grant_revoked(&entry)
            }
            None => false,
        },
        None => false,
    };
    let caller_deleted = caller.is_some_and(|c| value(&group.deleted_client(c)).is_some());
    Ok(Standing { client_deleted, grant_revoked, token_revoked, caller_deleted })
}
