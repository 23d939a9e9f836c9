//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): codes are issued when an
//! interaction completes with a redirect, and exchanged once. A code presented again by its own
//! client revokes what its first exchange issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4).

use serde::{Deserialize, Serialize};

use super::{invalid_grant, refresh_token, resolve, Authorization, Commit, Issued, TokenRequest};
use crate::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
use crate::b64;
use crate::error::{absent_if_unreadable, Error};
use crate::ledger_record::{self, LedgerRecord, State};
use crate::ports::{random_bytes, Clock, Host, UnixTime};
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

fn code_key(code: &str) -> String {
    format!("code:{}", b64::sha256(code))
}

/// Issues a code for an authorization: a new grant starts here.
pub async fn issue<H: Host>(
    host: &H,
    authorization: Authorization,
    redirect_uri: &str,
    redirect_uri_given: bool,
    code_challenge: Option<String>,
) -> Result<String, Error> {
    let code = b64::encode(random_bytes::<32>(host.rng()));
    // A new grant starts here, unless the response it is part of started it (hybrid).
    let authorization = match authorization.grant_id {
        Some(_) => authorization,
        None => authorization.start_grant(host.rng()),
    };
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
    // A record that does not parse (written by an older version) is as good as no code.
    let entry: CodeEntry = absent_if_unreadable(ledger_record::load(host, &code_key(code)).await)?
        .ok_or_else(invalid)?;
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
    /// Uses the code, exactly once; starts the refresh family if one is offered. Returns the
    /// first refresh token.
    pub async fn apply<H: Host>(
        self,
        host: &H,
        authorization: &Authorization,
    ) -> Result<Option<String>, Error> {
        let now = host.clock().now();
        let grant_id = &self.used.grant_id;
        if !self.entry.end(host, &self.used, now + USED_CODE_SECONDS).await? {
            // Another exchange of the same code won: this one is the replay.
            super::revoke_grant(host, grant_id).await?;
            return Err(invalid_grant(REPLAYED));
        }
        if refresh_token::offered(authorization) {
            // Refused if a replay revoked the grant meanwhile.
            return Ok(Some(refresh_token::start(host, authorization).await?));
        }
        // A replay may have revoked the grant between the use and now (RFC 6749 §4.1.2).
        if super::is_revoked(host, grant_id).await? {
            return Err(invalid_grant(REPLAYED));
        }
        Ok(None)
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
