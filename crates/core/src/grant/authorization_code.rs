//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): codes are issued when an
//! interaction completes with a redirect, and exchanged once. A code presented again by its own
//! client revokes what its first exchange issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4).

use serde::{Deserialize, Serialize};

use super::{
    invalid_grant, refresh_token, resolve, Authorization, Commit, GrantGroup, Issued, Revoked,
    TokenRequest,
};
use crate::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
use crate::b64;
use crate::error::{absent_if_unreadable, Error};
use crate::ledger_record::{self, LedgerRecord, State};
use crate::ports::{random_bytes, Clock, Host, Ledger, UnixTime};
use crate::vocabulary::ClientId;

/// RFC 6749 §4.1.2: a maximum authorization code lifetime of 10 minutes is RECOMMENDED;
/// Gatehouse's codes live 60 s.
pub const CODE_SECONDS: i64 = 60;
/// How long a used code's marker is kept, to catch late replays.
pub const USED_CODE_SECONDS: i64 = 600;

/// What an authorization code stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub v: u32,
    pub authorization: Authorization,
    pub redirect_uri: String,
    /// RFC 6749 §4.1.3: if `redirect_uri` was in the request, the token request must repeat it.
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub expires_at: UnixTime,
}

/// Who used a code: a replay by the same client revokes the grant; a replay by anyone else
/// (who cannot know the code legitimately) must not be able to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedCode {
    pub grant_id: String,
    pub client_id: ClientId,
    /// The code's PKCE challenge: a public client proves a replay is its own with the verifier.
    #[serde(default)]
    pub code_challenge: Option<String>,
}

type CodeEntry = LedgerRecord<CodeRecord, UsedCode>;

/// A code's ledger key: in its grant's group (codes are drawn to fall in it: [`draw`]), so
/// that its use and the grant's start are one decision (`Ledger::compare_and_set_all`), and
/// the client's deletion is read with the code.
pub fn code_key(code: &str) -> String {
    GrantGroup::of(code).key(&code_name(code))
}

/// A code's name in its group: the code itself is a bearer secret, so only its hash is kept.
fn code_name(code: &str) -> String {
    format!("code:{}", b64::sha256(code))
}

/// Draws a code in the grant's group: random codes until one's group is `group` (1 in
/// [`super::GRANT_GROUPS`], so 32 draws on average; the code keeps 256 random bits, of which
/// the group tells 5 to whoever learns the grant id).
fn draw<H: Host>(host: &H, group: GrantGroup) -> Result<String, Error> {
    for _ in 0..4096 {
        let code = b64::encode(random_bytes::<32>(host.rng()));
        if GrantGroup::of(&code) == group {
            return Ok(code);
        }
    }
    Err(Error::Internal("no code fell in its grant's group".into()))
}

/// Issues a code for an authorization: a new grant starts here.
pub async fn issue<H: Host>(
    host: &H,
    authorization: Authorization,
    redirect_uri: &str,
    redirect_uri_given: bool,
    code_challenge: Option<String>,
) -> Result<String, Error> {
    // A new grant starts here, unless the response it is part of started it (hybrid).
    let authorization = match authorization.grant_id {
        Some(_) => authorization,
        None => authorization.start_grant(host.rng()),
    };
    let grant_id =
        authorization.grant_id.as_deref().ok_or_else(|| Error::Internal("no grant".into()))?;
    let code = draw(host, GrantGroup::of(grant_id))?;
    let expires_at = host.clock().now() + CODE_SECONDS;
    let record = CodeRecord {
        v: 2,
        authorization,
        redirect_uri: redirect_uri.to_string(),
        redirect_uri_given,
        code_challenge,
        expires_at,
    };
    if !ledger_record::create::<_, _, UsedCode>(host, &code_key(&code), &record, expires_at).await?
    {
        return Err(Error::Internal("authorization code collision".into()));
    }
    Ok(code)
}

const REPLAYED: &str =
    "the authorization code was already used; the tokens issued for it are revoked";

/// The grant: checks everything before the code is used, so that a code presented by the
/// wrong party (another client, a wrong verifier) is refused without being burned for its
/// rightful client; then uses it, exactly once.
pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, client, params, .. } = *request;
    let code = params.require("code")?;
    let invalid = || invalid_grant("the authorization code is invalid or expired");
    if code.len() > 128 {
        return Err(invalid());
    }
    // One ledger read: the code, and whether the client was deleted. A record that does not
    // parse (written by an older version) is as good as no code.
    let read = request.read_record(GrantGroup::of(code), &code_name(code)).await;
    let entry: CodeEntry = absent_if_unreadable(read)?.ok_or_else(invalid)?;
    let record = match &entry.state {
        State::Live(record) => record,
        State::Ended(used) => {
            // Only the code's own client can trigger the replay revocation: authenticated, or
            // for a public client proving it holds the PKCE verifier (anyone who merely saw a
            // used code must not be able to revoke the user's grant).
            let own = used.client_id == client.client_id
                && (!client.is_public()
                    || check_verifier(
                        used.code_challenge.as_deref(),
                        params.get("code_verifier")?,
                    )
                    .is_ok());
            if own {
                super::revoke_grant(host, &used.grant_id).await?;
                return Err(invalid_grant(REPLAYED));
            }
            return Err(invalid());
        }
    };
    if record.expires_at <= host.clock().now() {
        return Err(invalid());
    }
    if record.authorization.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    let redirect_uri = params.get("redirect_uri")?;
    if record.redirect_uri_given && redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(invalid_grant("redirect_uri does not match the authorization request"));
    }
    check_verifier(record.code_challenge.as_deref(), params.get("code_verifier")?)?;
    let grant_id = record
        .authorization
        .grant_id
        .clone()
        .ok_or_else(|| Error::Internal("a code without a grant".into()))?;
    let resolved = resolve(host, record.authorization.clone()).await?;
    let used = UsedCode {
        grant_id,
        client_id: client.client_id.clone(),
        code_challenge: record.code_challenge.clone(),
    };
    Ok(Issued { resolved, commit: Commit::UseCode(Box::new(UseCode { entry, used })) })
}

/// The code's single-use decision, made after the tokens are minted (see [`Commit`]).
#[derive(Debug)]
pub struct UseCode {
    entry: CodeEntry,
    used: UsedCode,
}

impl UseCode {
    /// Uses the code, exactly once, and in the same step starts the refresh family if one is
    /// offered, or else checks that no replay revoked the grant (RFC 6749 §4.1.2): one ledger
    /// round trip (`Ledger::compare_and_set_all`). Returns the first refresh token.
    pub async fn apply<H: Host>(
        self,
        host: &H,
        authorization: &Authorization,
    ) -> Result<Option<String>, Error> {
        let now = host.clock().now();
        let grant_id = &self.used.grant_id;
        let grant = super::grant_key(grant_id);
        let use_code = self.entry.ending(&self.used, now + USED_CODE_SECONDS)?;
        let (refresh_token, start) = if refresh_token::offered(authorization) {
            let (token, record) = refresh_token::first(host, authorization)?;
            let start = ledger_record::creating::<_, Revoked>(&grant, &record, record.expires_at)?;
            (Some(token), start)
        } else {
            (None, ledger_record::absent(&grant))
        };
        if host.ledger().compare_and_set_all(&[use_code, start], now).await? {
            return Ok(refresh_token);
        }
        // Lost: another exchange used the code first (this one is the replay), or a replay
        // revoked the grant meanwhile — or the code has just expired.
        if ledger_record::load::<_, CodeRecord, UsedCode>(host, self.entry.key()).await?.is_none() {
            return Err(invalid_grant("the authorization code is invalid or expired"));
        }
        super::revoke_grant(host, grant_id).await?;
        Err(invalid_grant(REPLAYED))
    }
}

/// PKCE (RFC 7636 §4.6).
fn check_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), Error> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let verifier = PkceCodeVerifier::parse(verifier)
                .ok_or_else(|| invalid_grant("code_verifier is malformed"))?;
            let challenge = PkceCodeChallenge::parse(challenge, Some("S256"))
                .map_err(|_| Error::Internal("stored challenge".into()))?;
            if !challenge.verify(&verifier) {
                return Err(invalid_grant("code_verifier does not match the code_challenge"));
            }
            Ok(())
        }
        (Some(_), None) => Err(invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            Err(invalid_grant("no code_challenge was sent with the authorization request"))
        }
        (None, None) => Ok(()),
    }
}
