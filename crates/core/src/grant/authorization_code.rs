//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): codes are issued when an
//! interaction completes with a redirect, and exchanged once. A code presented again by its own
//! client revokes what its first exchange issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4).

use serde::{Deserialize, Serialize};

use super::{
    invalid_grant, refresh_token, Authorization, GrantGroup, Issued, Made, Revoked, TokenRequest,
};
use crate::authorization::details;
use crate::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
use crate::b64;
use crate::decision::{Decision, Judgment, Read, Rule, Write};
use crate::error::Error;
use crate::ledger_record::{self, State};
use crate::ports::{random_bytes, Clock, Host, PortError, Swap, UnixTime};
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

/// A code's ledger key: in its grant's group (codes are drawn to fall in it: [`draw`]), so
/// that its use and the grant's start are one decision ([`UseCode`], `Ledger::decide`), and
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

/// The grant: the code's use is one decision on the ledger ([`UseCode`], one round trip),
/// which checks everything before it uses the code — so that a code presented by the wrong
/// party (another client, a wrong verifier) is refused without being burned for its rightful
/// client — and in the same step starts the grant's refresh family. A failure after it (the
/// user or API gone, a signature refused) undoes it (`decision::undo`).
pub async fn exchange<H: Host>(request: &TokenRequest<'_, H>) -> Result<Issued, Error> {
    let TokenRequest { host, client, params, .. } = *request;
    let code = params.require("code")?;
    if code.len() > 128 {
        return Err(invalid_grant("the authorization code is invalid or expired"));
    }
    let refresh_secret = b64::encode(random_bytes::<32>(host.rng()));
    let rule = UseCode {
        group: GrantGroup::of(code),
        code_name: code_name(code),
        client_id: client.client_id.clone(),
        public: client.is_public(),
        redirect_uri: params.get("redirect_uri")?.map(str::to_string),
        code_verifier: params.get("code_verifier")?.map(str::to_string),
        authorization_details: params.get("authorization_details")?.map(str::to_string),
        proof_jkt: request.proof_jkt.map(str::to_string),
        refresh_secret: refresh_secret.clone(),
    };
    let used = request.decide(rule, Decision::UseCode).await?;
    let refresh_token = match (used.refresh, &used.authorization.grant_id) {
        (true, Some(grant_id)) => Some(refresh_token::token_of(grant_id, &refresh_secret)),
        _ => None,
    };
    Made::issue(host, used.authorization, refresh_token, used.undo).await
}

/// The ledger decision of a code's use (`decision::Decision::UseCode`): what the token request
/// says, and the fresh secret of the refresh token it starts, if the grant offers one.
#[derive(Clone, Serialize, Deserialize)]
pub struct UseCode {
    group: GrantGroup,
    code_name: String,
    client_id: ClientId,
    public: bool,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    /// RFC 9396 §6: the details the token request asks for (all granted ones if absent).
    authorization_details: Option<String>,
    /// RFC 9449: the thumbprint of the request's DPoP proof, if it has one.
    proof_jkt: Option<String>,
    /// The secret of the refresh token the grant starts with (the token is its grant's id and
    /// this, and the grant's id is in the code's record): it reaches the Durable Object, inside
    /// the Worker's own deployment, which keeps only the token's hash.
    refresh_secret: String,
}

impl std::fmt::Debug for UseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The verifier and the refresh secret are bearer secrets.
        f.debug_struct("UseCode").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// What a code's use answers: the authorization to mint tokens for (its details narrowed),
/// whether a refresh family started, and how to undo the use.
#[derive(Debug, Serialize, Deserialize)]
pub struct Used {
    authorization: Authorization,
    refresh: bool,
    undo: Vec<Swap>,
}

impl Rule for UseCode {
    type Output = Used;

    fn anchor(&self) -> String {
        self.group.key(&self.code_name)
    }

    fn client_id(&self) -> &str {
        self.client_id.as_str()
    }

    fn judge(&self, now: UnixTime, read: &mut Read<'_>) -> Result<Judgment<Used>, PortError> {
        let invalid =
            || Ok(Judgment::refuse(invalid_grant("the authorization code is invalid or expired")));
        // A record that does not parse (written by an older version) is as good as no code.
        let code_key = self.anchor();
        let Some(text) = read(&code_key)? else { return invalid() };
        let Ok(entry) = ledger_record::parse::<CodeRecord, UsedCode>(&code_key, text) else {
            return invalid();
        };
        let record = match &entry.state {
            State::Live(record) => record,
            State::Ended(used) => {
                // Only the code's own client can trigger the replay revocation: authenticated,
                // or for a public client proving it holds the PKCE verifier (anyone who merely
                // saw a used code must not be able to revoke the user's grant).
                let verifier = self.code_verifier.as_deref();
                let own = used.client_id == self.client_id
                    && (!self.public
                        || check_verifier(used.code_challenge.as_deref(), verifier).is_ok());
                if !own {
                    return invalid();
                }
                let writes = super::revoking(&used.grant_id, now, read)?.into_iter().collect();
                let note = format!("revoked grant {}: its code was replayed", used.grant_id);
                return Ok(Judgment::refuse_writing(writes, invalid_grant(REPLAYED), note));
            }
        };
        if record.expires_at <= now {
            return invalid();
        }
        let authorization = match self.check(record) {
            Ok(authorization) => authorization,
            Err(e) => return Ok(Judgment::refuse(e)),
        };
        let Some(grant_id) = authorization.grant_id.clone() else {
            return Err(PortError::new("a code without a grant"));
        };
        let grant = super::grant_key(&grant_id);
        // The grant may not have been revoked meanwhile (a replay racing the first exchange).
        if read(&grant)?.is_some() {
            return Ok(Judgment::refuse(invalid_grant(REPLAYED)));
        }
        let used = UsedCode {
            grant_id: grant_id.clone(),
            client_id: self.client_id.clone(),
            code_challenge: record.code_challenge.clone(),
        };
        let ended = port_text(ledger_record::ended_text::<CodeRecord, _>(&used))?;
        let (use_code, undo_use) = Write::over(
            &code_key,
            Some(entry.text()),
            record.expires_at,
            ended,
            now + USED_CODE_SECONDS,
        );
        let (mut writes, mut undo) = (vec![use_code], vec![undo_use]);
        let refresh = refresh_token::offered(&authorization);
        if refresh {
            let mut family = authorization.clone();
            family.jkt = refresh_token::family_jkt(self.public, None, self.proof_jkt.as_deref());
            let token = refresh_token::token_of(&grant_id, &self.refresh_secret);
            let record = refresh_token::first_record(family, &token, now);
            let live = port_text(ledger_record::live_text::<_, Revoked>(&record))?;
            let (start, undo_start) = Write::over(&grant, None, now, live, record.expires_at);
            writes.push(start);
            undo.push(undo_start);
        } else {
            // Undone, the code comes back only while its grant was not revoked meanwhile.
            undo.push(Swap { key: grant, expected: None, new: None, expires_at: None });
        }
        Ok(Judgment::grant(writes, Used { authorization, refresh, undo }))
    }
}

impl UseCode {
    /// The token request against the live code: its client, `redirect_uri`, PKCE verifier and
    /// DPoP proof; the authorization it gets (RAR details narrowed as asked).
    fn check(&self, record: &CodeRecord) -> Result<Authorization, Error> {
        if record.authorization.client_id != self.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        let redirect_uri = self.redirect_uri.as_deref();
        if record.redirect_uri_given && redirect_uri != Some(record.redirect_uri.as_str()) {
            return Err(invalid_grant("redirect_uri does not match the authorization request"));
        }
        check_verifier(record.code_challenge.as_deref(), self.code_verifier.as_deref())?;
        // RFC 9449 §10: a code asked for with `dpop_jkt` needs a proof by that key.
        crate::dpop::check_binding(record.authorization.jkt.as_deref(), self.proof_jkt.as_deref())?;
        let mut authorization = record.authorization.clone();
        // RFC 9396 §6: the first token request may narrow the details the grant carries on.
        authorization.details =
            details::narrow(&authorization.details, self.authorization_details.as_deref())?;
        Ok(authorization)
    }
}

/// A record's text inside a rule (a serialization failure is the host's).
pub(crate) fn port_text(text: Result<String, Error>) -> Result<String, PortError> {
    text.map_err(|e| PortError::new(format!("{e:?}")))
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
